/**
 * Seed 004 end to end: StackedToExternalMigration under the real Pulumi
 * engine, over real SSH, moves a kubeadm control-plane node from its stacked
 * etcd to an external TLS etcd cluster.
 *
 * - The node (one control-plane node: the plan handles N, one keeps the test
 *   fast on a busy 2-core machine) is a container with sshd and the kubelet
 *   stand-in of test/support/kubelet-standin.ts, which runs every static pod
 *   manifest in /etc/kubernetes/manifests whose binary it has: the stacked
 *   etcd from etcd.yaml and the real kube-apiserver from kube-apiserver.yaml,
 *   with the flags written there; it stops a pod when its manifest goes and
 *   restarts it when the manifest changes. kube-apiserver and kubectl are the
 *   scripts/tools.sh builds, bind-mounted read-only.
 * - The external cluster is the EtcdCluster plan (3 members, TLS), realized by
 *   the test harness (the docker provider plugin cannot be installed here),
 *   seeded from the snapshot that stage "snapshot" leaves on the node and
 *   reports the sha256 of — what a user copies to the deploying machine.
 * - Stage "switch" runs on the same stack, as a user changes the stage config.
 *
 * The presets' own commands run unchanged; nothing is overridden.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { ContainerSpec, DockerPlan } from "../../src/docker/plan";
import { etcdCertPaths } from "../../src/etcd/flags";
import { EtcdClusterPlan, memberCertificateFiles, planEtcdCluster } from "../../src/etcd/plan";
import { issueEtcdPki } from "../../src/pki/etcd-pki-issue";
import { planEtcdPki } from "../../src/pki/etcd-pki-plan";
import { STOPPED_MANIFESTS_DIR } from "../../src/restore/layouts";
import { call } from "../harness/api";
import { dockerAvailable, freeTestSubnet, hostIn, realizePlan, RealizedPlan, removeByLabel, withFreeSubnet } from "../harness/docker";
import { ETCD_35_IMAGE, NODE_IMAGE, requireImages } from "../support/images";
import {
    KUBELET_STANDIN,
    KUBELET_STANDIN_PATH,
    kubeApiserverFiles,
    kubectlOn,
    kubeToolMounts,
    SSHD_CONFIG,
    sshKeygen,
    staticPod,
    waitApiserverReady,
} from "../support/kubelet-standin";
import { OfflineStack, offlineStack, uniqueStackName } from "../support/pulumi";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(25 * 60_000);

const FIXTURE_DIR = path.resolve(__dirname, "../fixtures/e2e/migration");
/** The plan's default snapshot path on the first node. */
const SNAPSHOT = "/var/lib/etcd-recovery-migration/stacked-etcd.db";
const NAMESPACE = "migration-e2e";

const INIT = `#!/bin/sh
set -eu
mkdir -p /var/lib/etcd /var/log
chmod 0700 /var/lib/etcd
${KUBELET_STANDIN_PATH} &
exec /usr/sbin/sshd -D -e
`;

describe("stacked kubeadm etcd → external EtcdCluster (seed 004)", () => {
    const runId = `migration-${Date.now().toString(36)}-${crypto.randomBytes(2).toString("hex")}`;
    // Free test /24s of their own per run (outside Docker's default pools): the node's is set when it starts, the external
    // cluster's in beforeAll (the migration stack names its endpoints before the cluster exists).
    let nodeAddress = "";
    let externalSubnet = "";
    const externalMembers = [1, 2, 3].map((i) => ({ name: `ext-${i}`, ip: "" }));
    let externalEndpoints: string[] = [];
    const node = "node-1";
    const container = `${runId}-${node}`;

    let tmp: string;
    let nodes: RealizedPlan;
    let external: RealizedPlan | undefined;
    let externalCluster: EtcdClusterPlan<string>;
    let clientKey: { privateKey: string; publicKey: string };
    let hostKey: { privateKey: string; publicKey: string };
    let externalPki: ReturnType<typeof issueEtcdPki>;
    let stack: OfflineStack | undefined;
    const timings: Record<string, number> = {};

    async function sh(script: string, where = container): Promise<string> {
        const result = await nodes.exec(where, ["/bin/sh", "-euc", script]);
        if (result.exitCode !== 0) throw new Error(`${where}: ${script} exited ${result.exitCode}: ${result.stderr}${result.stdout}`);
        return result.stdout;
    }

    async function running(process: string): Promise<boolean> {
        return (await nodes.exec(container, ["pgrep", "-x", process])).exitCode === 0;
    }

    async function kubectl(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
        return kubectlOn(nodes, container, args);
    }

    async function startNode(): Promise<RealizedPlan> {
        return withFreeSubnet((subnet) => {
            nodeAddress = hostIn(subnet, 11);
            return startNodeOn(subnet);
        });
    }

    async function startNodeOn(subnet: string): Promise<RealizedPlan> {
        clientKey = sshKeygen(path.join(tmp, "client"));
        hostKey = sshKeygen(path.join(tmp, "host"));
        const stacked = issueEtcdPki(planEtcdPki({ clusterName: "stacked", members: [{ name: node, ip: nodeAddress }] }));
        // The flags kubeadm writes for a stacked member (seed 004's manifest); the apiserver's are the shared module's.
        const etcdYaml = staticPod("etcd", [
            "etcd",
            `--advertise-client-urls=https://${nodeAddress}:2379`,
            "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
            "--client-cert-auth=true",
            "--data-dir=/var/lib/etcd",
            `--initial-advertise-peer-urls=https://${nodeAddress}:2380`,
            `--initial-cluster=${node}=https://${nodeAddress}:2380`,
            "--key-file=/etc/kubernetes/pki/etcd/server.key",
            `--listen-client-urls=https://127.0.0.1:2379,https://${nodeAddress}:2379`,
            "--listen-metrics-urls=http://127.0.0.1:2381",
            `--listen-peer-urls=https://${nodeAddress}:2380`,
            `--name=${node}`,
            "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
            "--peer-client-cert-auth=true",
            "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
            "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
            "--snapshot-count=10000",
            "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
        ]);
        const member = stacked.members[node];
        const cert = (p: string, content: string) => ({ path: p, content, mode: 0o644 });
        const key = (p: string, content: string) => ({ path: p, content, mode: 0o600, secret: true });
        const spec: ContainerSpec = {
            name: container,
            image: NODE_IMAGE,
            command: ["/bin/sh", "/etc/node-init.sh"],
            hostname: node,
            network: { name: `${runId}-net`, ipv4Address: nodeAddress },
            mounts: kubeToolMounts(),
            files: [
                { path: "/etc/node-init.sh", content: INIT, mode: 0o755 },
                { path: KUBELET_STANDIN_PATH, content: KUBELET_STANDIN, mode: 0o755 },
                { path: "/usr/bin/systemctl", content: '#!/bin/sh\necho "systemctl $*" >> /var/log/systemctl.log\n', mode: 0o755 },
                { path: "/etc/ssh/sshd_config", content: SSHD_CONFIG, mode: 0o644 },
                key("/etc/ssh/ssh_host_ed25519_key", hostKey.privateKey),
                { path: "/root/.ssh/authorized_keys", content: `${clientKey.publicKey}\n`, mode: 0o600 },
                { path: "/etc/kubernetes/manifests/etcd.yaml", content: etcdYaml, mode: 0o600 },
                // No binaries for these two: the stand-in kubelet only moves them with the others.
                {
                    path: "/etc/kubernetes/manifests/kube-controller-manager.yaml",
                    content: staticPod("kube-controller-manager", ["kube-controller-manager"]),
                    mode: 0o600,
                },
                {
                    path: "/etc/kubernetes/manifests/kube-scheduler.yaml",
                    content: staticPod("kube-scheduler", ["kube-scheduler"]),
                    mode: 0o600,
                },
                ...kubeApiserverFiles({
                    address: nodeAddress,
                    etcdServers: ["https://127.0.0.1:2379"],
                    etcdClient: stacked.clients.apiserver,
                }),
                cert("/etc/kubernetes/pki/etcd/ca.crt", stacked.caCertPem),
                cert("/etc/kubernetes/pki/etcd/server.crt", member.server.certPem),
                key("/etc/kubernetes/pki/etcd/server.key", member.server.keyPem),
                cert("/etc/kubernetes/pki/etcd/peer.crt", member.peer.certPem),
                key("/etc/kubernetes/pki/etcd/peer.key", member.peer.keyPem),
                cert("/etc/kubernetes/pki/etcd/healthcheck-client.crt", stacked.clients.healthcheck.certPem),
                key("/etc/kubernetes/pki/etcd/healthcheck-client.key", stacked.clients.healthcheck.keyPem),
            ],
        };
        const plan: DockerPlan = { networks: [{ name: `${runId}-net`, subnet }], volumes: [], containers: [spec] };
        return realizePlan(plan, { runId, waitHealthy: false, timeoutMs: 180_000 });
    }

    /** The external cluster from the EtcdCluster plan, seeded from `snapshotFile`; the node joins its network. */
    async function startExternalCluster(snapshotFile: string): Promise<void> {
        externalPki = issueEtcdPki(planEtcdPki({ clusterName: "external", members: externalMembers }));
        externalCluster = planEtcdCluster<string>(
            {
                clusterName: `${runId}-ext`,
                members: externalMembers,
                network: { mode: "bridge", subnet: externalSubnet },
                image: ETCD_35_IMAGE,
                seedSnapshotPath: snapshotFile,
            },
            (m) => memberCertificateFiles(externalPki, m.name),
        );
        external = await realizePlan(externalCluster.plan, { runId, waitHealthy: true, timeoutMs: 240_000 });
        await call({ method: "POST", path: `/networks/${externalCluster.plan.networks[0].name}/connect`, body: { Container: container } });
    }

    /** etcdctl inside an external member (its own healthcheck client certificate), exec form: the image has no shell. */
    async function externalEtcdctl(args: string[]): Promise<string> {
        const member = externalCluster.topology.members[0];
        const result = await external!.exec(externalCluster.containerNames[member.name], [
            "/usr/local/bin/etcdctl",
            `--endpoints=${externalEndpoints.join(",")}`,
            `--cacert=${etcdCertPaths.ca}`,
            `--cert=${etcdCertPaths.healthcheckCert}`,
            `--key=${etcdCertPaths.healthcheckKey}`,
            "--command-timeout=10s",
            ...args,
        ]);
        if (result.exitCode !== 0) throw new Error(`etcdctl ${args.join(" ")} on the external cluster failed: ${result.stderr}`);
        return result.stdout;
    }

    beforeAll(async () => {
        await dockerAvailable();
        await requireImages(NODE_IMAGE, ETCD_35_IMAGE);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-migration-"));
        const started = Date.now();
        nodes = await startNode();
        externalSubnet = await freeTestSubnet();
        externalMembers.forEach((member, i) => (member.ip = hostIn(externalSubnet, 21 + i)));
        externalEndpoints = externalMembers.map((m) => `https://${m.ip}:2379`);
        await waitApiserverReady(nodes, container, 300_000);
        timings.nodeReady = Date.now() - started;
        for (const args of [
            ["create", "namespace", NAMESPACE],
            ["-n", NAMESPACE, "create", "configmap", "before", "--from-literal=answer=42"],
            ["-n", NAMESPACE, "create", "secret", "generic", "before", "--from-literal=token=kept-in-etcd"],
        ]) {
            const created = await kubectl(args);
            expect({ args, exitCode: created.exitCode, stderr: created.stderr }).toEqual({ args, exitCode: 0, stderr: "" });
        }
    });

    afterAll(async () => {
        if (stack) {
            await stack.stack.destroy().catch(() => undefined);
            await stack.cleanup().catch(() => undefined);
        }
        await removeByLabel(runId);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
        console.log(
            `migration e2e timings (s): ${Object.entries(timings)
                .map(([k, v]) => `${k}=${Math.round(v / 1000)}`)
                .join(" ")}`,
        );
    });

    test("snapshot, seed the external cluster, switch: kube-apiserver serves the same objects from it; the stacked etcd is stopped and kept", async () => {
        stack = await offlineStack({
            workDir: FIXTURE_DIR,
            stackName: uniqueStackName("e2e-migration"),
            config: {
                stage: { value: "snapshot" },
                privateKey: { value: clientKey.privateKey, secret: true },
                nodes: { value: JSON.stringify([{ name: node, address: nodeAddress, hostKey: hostKey.publicKey }]) },
                externalEndpoints: { value: JSON.stringify(externalEndpoints) },
            },
        });

        // ---- stage "snapshot": control plane stopped, snapshot taken and handed over.
        let started = Date.now();
        const first = await stack.stack.up();
        timings.stageSnapshot = Date.now() - started;
        expect(first.summary.result).toBe("succeeded");
        expect(first.outputs.stepIds!.value).toEqual(["preflight-node-1", "stop-control-plane-node-1", "snapshot", "hand-off"]);
        const sha256 = first.outputs.snapshotSha256!.value as string;
        expect(sha256).toMatch(/^[0-9a-f]{64}$/);
        expect(await running("kube-apiserver")).toBe(false);
        expect(await running("etcd")).toBe(true);
        const firstDryRun = first.outputs.dryRun!.value as string;

        // The hand-off: the file from the node to the deploying machine, checked against the reported sha256.
        const snapshot = await nodes.readFile(container, SNAPSHOT);
        expect(snapshot.mode).toBe(0o600);
        expect(crypto.createHash("sha256").update(snapshot.content).digest("hex")).toBe(sha256);
        const snapshotFile = path.join(tmp, "stacked-etcd.db");
        fs.writeFileSync(snapshotFile, snapshot.content, { mode: 0o600 });

        started = Date.now();
        await startExternalCluster(snapshotFile);
        timings.externalCluster = Date.now() - started;
        // Seeded: the objects are there before any apiserver talks to it.
        expect(await externalEtcdctl(["get", `/registry/configmaps/${NAMESPACE}/before`, "--keys-only"])).toContain(
            `/registry/configmaps/${NAMESPACE}/before`,
        );

        // ---- stage "switch" on the same stack.
        await stack.stack.setAllConfig({
            stage: { value: "switch" },
            seededSnapshotSha256: { value: sha256 },
            externalCaCertPem: { value: externalPki.caCertPem },
            externalCertPem: { value: externalPki.clients.apiserver.certPem },
            externalKeyPem: { value: externalPki.clients.apiserver.keyPem, secret: true },
        });
        started = Date.now();
        const second = await stack.stack.up();
        timings.stageSwitch = Date.now() - started;
        expect(second.summary.result).toBe("succeeded");
        const stepIds = second.outputs.stepIds!.value as string[];
        expect(stepIds).toEqual([
            "preflight-node-1",
            "install-client-files-node-1",
            "rewrite-apiserver-node-1",
            "stop-stacked-etcd-node-1",
            "start-control-plane-node-1",
            "wait-readyz-node-1",
            "verify",
        ]);
        expect(second.outputs.report!.value as string).toMatch(/all \d+ namespaces of the snapshot are served/);

        // The same objects, served from the external cluster.
        const answer = await kubectl(["-n", NAMESPACE, "get", "configmap", "before", "-o", "jsonpath={.data.answer}"]);
        expect({ exitCode: answer.exitCode, stdout: answer.stdout, stderr: answer.stderr }).toEqual({
            exitCode: 0,
            stdout: "42",
            stderr: "",
        });
        const token = await kubectl(["-n", NAMESPACE, "get", "secret", "before", "-o", "jsonpath={.data.token}"]);
        expect(Buffer.from(token.stdout, "base64").toString("utf8")).toBe("kept-in-etcd");
        const apiserverArgs = await sh("pgrep -a kube-apiserver");
        expect(apiserverArgs).toContain(`--etcd-servers=${externalEndpoints.join(",")}`);
        expect(apiserverArgs).toContain("--etcd-keyfile=/etc/kubernetes/pki/etcd-external/apiserver-etcd-client.key");

        // Proof that it is the external cluster: the stacked etcd no longer runs, and a new object lands outside.
        expect(await running("etcd")).toBe(false);
        const created = await kubectl(["-n", NAMESPACE, "create", "configmap", "after", "--from-literal=answer=43"]);
        expect({ exitCode: created.exitCode, stderr: created.stderr }).toEqual({ exitCode: 0, stderr: "" });
        expect(await externalEtcdctl(["get", `/registry/configmaps/${NAMESPACE}/after`, "--keys-only"])).toContain(
            `/registry/configmaps/${NAMESPACE}/after`,
        );

        // Kept, not deleted: etcd.yaml (stopped), its data dir, the old apiserver manifest.
        expect((await sh(`ls -1 ${STOPPED_MANIFESTS_DIR}`)).trim().split("\n")).toEqual(["etcd.yaml"]);
        expect((await sh("ls -1 /etc/kubernetes/manifests")).trim().split("\n")).toEqual([
            "kube-apiserver.yaml",
            "kube-controller-manager.yaml",
            "kube-scheduler.yaml",
        ]);
        expect(await sh("ls /var/lib/etcd/member/snap")).toContain("db");
        expect(await sh("ls /var/lib/etcd/member/wal")).toMatch(/\.wal/);
        const copies = (await sh("ls -1 /etc/kubernetes/etcd-recovery-migration")).trim().split("\n");
        expect(copies).toHaveLength(1);
        expect(copies[0]).toMatch(/^kube-apiserver\.yaml\.before-migration-\d{8}T\d{6}Z$/);
        expect(await sh(`cat /etc/kubernetes/etcd-recovery-migration/${copies[0]}`)).toContain("- --etcd-servers=https://127.0.0.1:2379\n");

        // The client key on the node: staged and installed 0600, root's.
        for (const file of [
            "/root/etcd-recovery-migration-staged/apiserver-etcd-client.key",
            "/etc/kubernetes/pki/etcd-external/apiserver-etcd-client.key",
        ]) {
            expect((await sh(`stat -c '%U %a' ${file}`)).trim()).toBe("root 600");
        }

        // Secrets: the SSH key and the etcd client key only encrypted in state, nowhere in the dry runs or step outputs.
        const secrets = [clientKey.privateKey.split("\n")[1], externalPki.clients.apiserver.keyPem.split("\n")[1]];
        const dryRun = second.outputs.dryRun!.value as string;
        expect(dryRun).toContain("node-1:/root/etcd-recovery-migration-staged/apiserver-etcd-client.key mode 0600");
        const state = await stack.readState();
        // The preflight waited for the staged files: the engine recorded them as its dependencies.
        const resources = (JSON.parse(state) as { deployment: { resources: { urn: string; dependencies?: string[] }[] } }).deployment
            .resources;
        const preflight = resources.find((r) => r.urn.endsWith("::migration-preflight-node-1"))!;
        expect((preflight.dependencies ?? []).map((urn) => urn.split("::").pop()).sort()).toEqual(
            ["apiserver-etcd-client.crt", "apiserver-etcd-client.key", "ca.crt"].map((f) => `migration-stage-node-1-${f}`),
        );
        expect(state).toContain(SECRET_SIG);
        expect(state).not.toMatch(/PRIVATE KEY/);
        for (const secret of secrets) {
            for (const text of [firstDryRun, dryRun, JSON.stringify(second.outputs.stepOutputs!.value), state])
                expect(text).not.toContain(secret);
            const grep = spawnSync("grep", ["-rlF", secret, stack.stateDir], { encoding: "utf8" });
            expect({ status: grep.status, files: grep.stdout }).toEqual({ status: 1, files: "" });
        }
    });
});

// Mode "replica" on the real Docker engine: a "production" 3-member TLS etcd
// (EtcdCluster's plan, our PKI) on subnet S holds data; a snapshot is taken;
// production's containers and network go away (Docker refuses two networks on
// one subnet); the replica comes up on S with the same member names, IPs and
// certificates — read from kubeadm-style pki directories — and the ORIGINAL
// client certificate reads the data from every member over mTLS, and a
// kube-apiserver serves it.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { issueEtcdPki } from "../../src/pki/etcd-pki-issue";
import { kubeadmLayout, planEtcdPki } from "../../src/pki/etcd-pki-plan";
import { memberCertificateFiles, planEtcdCluster } from "../../src/etcd/plan";
import {
    issueRecoveryPki,
    recoveryKubeconfig,
    validateOriginalCluster,
    verifySnapshotFileSync,
    waitForRecoveryApi,
} from "../../src/recovery";
import {
    ReplicaFiles,
    planReplicaEnvironment,
    replicaAddresses,
    replicaMembers,
    replicaSubnetConflicts,
    validateReplicaCertificates,
    ReplicaEnvironmentPlan,
} from "../../src/recovery/replica";
import { replicaCertificatesFromKubeadm } from "../../src/recovery/import/replica-certificates";
import {
    RealizedPlan,
    dockerAvailable,
    hostIn,
    realizePlan,
    removeByLabel,
    uniqueName,
    uniqueRunId,
    withFreeSubnet,
} from "../harness/docker";
import { run } from "../harness/exec";
import { writeUnopenableSnapshot } from "../support/fake-snapshot";
import { ETCD_35_IMAGE, KUBE_APISERVER_IMAGE, requireImages } from "../support/images";
import { KUBECTL, runKubectl } from "../support/kube-api";

jest.setTimeout(240_000);

/** This run's own label and names: cleanup removes only what this run created (another run may share the engine). */
const RUN_ID = uniqueRunId("it-recovery-replica");
const PROD = uniqueName("it-replica-prod");
const REPLICA = uniqueName("it-replica");
/** S: a free test subnet, chosen when production is realized. */
let SUBNET: string;
let MEMBERS: { name: string; ip: string }[];
const ETCDCTL = path.join(process.env.ETCD_RECOVERY_CACHE ?? path.join(os.homedir(), ".cache", "etcd-recovery"), "bin", "etcdctl");
const CONFIG_MAP = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
        name: "app-config",
        namespace: "shop",
        uid: "0b7a4c3e-1d2f-4e5a-9b8c-7d6e5f4a3b2c",
        creationTimestamp: "2024-05-02T06:00:00Z",
    },
    data: { FEATURE_X: "on", "settings.yaml": "currency: EUR\n" },
};

let workDir: string;
let production: RealizedPlan | undefined;
let replica: RealizedPlan | undefined;
let snapshotPath: string;
/** The original client certificate files (production's admin client). */
let clientTls: { ca: string; cert: string; key: string };
let pki: ReturnType<typeof issueEtcdPki>;
/** The replica's plan and how to plan it for another snapshot (the update test). */
let replicaPlans: { planFor: (snapshot: string) => ReplicaEnvironmentPlan<string>; env: ReplicaEnvironmentPlan<string> } | undefined;
const timings: Record<string, number> = {};

async function timed<T>(label: string, action: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
        return await action();
    } finally {
        timings[label] = Date.now() - start;
    }
}

function etcdctl(endpoints: string[], args: string[]) {
    return run(ETCDCTL, [
        `--endpoints=${endpoints.join(",")}`,
        "--command-timeout=10s",
        `--cacert=${clientTls.ca}`,
        `--cert=${clientTls.cert}`,
        `--key=${clientTls.key}`,
        ...args,
    ]);
}

/** What the Docker host has on its networks and routes, for replicaSubnetConflicts. */
async function hostNetworks() {
    const ids = (await run("docker", ["network", "ls", "-q"])).stdout.split("\n").filter((l) => l.trim() !== "");
    const inspected = JSON.parse((await run("docker", ["network", "inspect", ...ids])).stdout) as {
        Name: string;
        IPAM: { Config: { Subnet?: string }[] | null };
    }[];
    const dockerNetworks = inspected.map((n) => ({
        name: n.Name,
        subnets: (n.IPAM.Config ?? []).map((c) => c.Subnet ?? "").filter((s) => s !== ""),
    }));
    const routes = (await run("ip", ["-4", "route"])).stdout.split("\n").filter((l) => l.trim() !== "");
    return { dockerNetworks, routes };
}

/** A node's /etc/kubernetes/pki as the user copied it: files on disk, keys 0600, read back by path. */
function copyPkiDir(member: string): { member: string; dir: string; files: Record<string, string> } {
    const dir = path.join(workDir, member, "pki");
    const files: Record<string, string> = {};
    for (const [relative, content] of Object.entries(kubeadmLayout(pki, member))) {
        const file = path.join(dir, relative);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, content, { mode: /\.key$/.test(relative) ? 0o600 : 0o644 });
        files[relative] = fs.readFileSync(file, "utf8");
    }
    return { member, dir, files };
}

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE, KUBE_APISERVER_IMAGE);
    if (!fs.existsSync(ETCDCTL)) throw new Error(`${ETCDCTL} is missing: run bash scripts/tools.sh etcd`);
    if (!fs.existsSync(KUBECTL))
        throw new Error(`kubectl not found at ${KUBECTL}: run bash scripts/setup (it builds kubectl) or set KUBECTL`);
    await removeByLabel(RUN_ID);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "recovery-replica-it-"));
    const write = (name: string, content: string, mode: number) => {
        fs.writeFileSync(path.join(workDir, name), content, { mode });
        return path.join(workDir, name);
    };

    // Production: EtcdCluster's plan, 3 members on S, our PKI.
    const cluster = await withFreeSubnet(async (subnet) => {
        SUBNET = subnet;
        MEMBERS = ["etcd-a", "etcd-b", "etcd-c"].map((name, i) => ({ name, ip: hostIn(subnet, 11 + i) }));
        pki = issueEtcdPki(planEtcdPki({ clusterName: PROD, members: MEMBERS, keyAlgorithm: "ecdsa" }));
        const cluster = planEtcdCluster(
            { clusterName: PROD, members: MEMBERS, network: { mode: "bridge", subnet: SUBNET }, image: ETCD_35_IMAGE },
            (m) => memberCertificateFiles(pki, m.name),
        );
        production = await timed("production: 3 members healthy", () =>
            realizePlan(cluster.plan, { runId: RUN_ID, waitHealthy: true, timeoutMs: 90_000 }),
        );
        return cluster;
    });
    // The original client certificate files (production's admin client), of the PKI issued for S.
    clientTls = {
        ca: write("ca.pem", pki.caCertPem, 0o644),
        cert: write("admin.pem", pki.clients.admin.certPem, 0o644),
        key: write("admin-key.pem", pki.clients.admin.keyPem, 0o600),
    };
    const endpoints = cluster.topology.clientEndpoints;
    await etcdctl(endpoints, ["put", "/replica-test/greeting", "written before the incident"]);
    // kube-apiserver decodes JSON as well as protobuf from storage: a ConfigMap as a JSON object.
    await etcdctl(endpoints, ["put", "/registry/configmaps/shop/app-config", JSON.stringify(CONFIG_MAP)]);
    snapshotPath = path.join(workDir, "snapshot.db");
    await timed("etcdctl snapshot save", () => etcdctl([endpoints[0]], ["snapshot", "save", snapshotPath]));
}, 150_000);

afterAll(async () => {
    await replica?.destroy();
    await production?.destroy();
    await removeByLabel(RUN_ID);
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    console.log(`recovery-replica timings (ms): ${JSON.stringify(timings, null, 1)}`);
});

describe("RecoveryEnvironment plan, mode replica, on real etcd 3.5 + kube-apiserver 1.34 in Docker", () => {
    const originalCluster = () =>
        validateOriginalCluster(
            {
                etcd: {
                    version: "3.5.35",
                    members: MEMBERS.map((m) => ({
                        name: m.name,
                        peerUrls: [`https://${m.ip}:2380`],
                        clientUrls: [`https://${m.ip}:2379`],
                    })),
                },
                kubeApiserver: { version: "1.34.4", args: ["--etcd-prefix=/registry", `--advertise-address=${MEMBERS[0].ip}`] },
            },
            "production (hand-written description)",
        );

    test("while production's network holds S, the host check names it (Docker would refuse the replica's network)", async () => {
        const original = originalCluster();
        const members = replicaMembers(REPLICA, original);
        expect(replicaAddresses(members, original).subnet).toBe(SUBNET);
        const conflicts = replicaSubnetConflicts(SUBNET, await hostNetworks());
        const escaped = (text: string) => text.replace(/[.()/]/g, (c) => `\\${c}`);
        expect(conflicts).toEqual([
            expect.stringMatching(
                new RegExp(`^Docker network "${escaped(`${PROD}-net`)}" \\(${escaped(SUBNET)}\\) overlaps ${escaped(SUBNET)}`),
            ),
        ]);
        await timed("production removed", () => production!.destroy());
        production = undefined;
        expect(replicaSubnetConflicts(SUBNET, await hostNetworks())).toEqual([]);
    });

    test("the replica: same names, IPs and certificates; healthy over mTLS with the original client certificate; the data is there; the network is internal", async () => {
        const original = originalCluster();
        const certificates = replicaCertificatesFromKubeadm(MEMBERS.map((m) => copyPkiDir(m.name)));
        validateReplicaCertificates(original, certificates);
        const addresses = replicaAddresses(replicaMembers(REPLICA, original), original);
        const fresh = issueRecoveryPki(REPLICA, addresses, original);
        const files: ReplicaFiles<string> = {
            etcd: certificates,
            kubeCaCertPem: fresh.files.kubeCaCertPem,
            apiserverServing: fresh.files.apiserverServing,
            serviceAccount: fresh.files.serviceAccount,
        };
        const planFor = (snapshot: string) =>
            planReplicaEnvironment(
                {
                    name: REPLICA,
                    original,
                    snapshotPath: snapshot,
                    snapshotSha256: verifySnapshotFileSync(snapshot).sha256,
                    etcdImage: ETCD_35_IMAGE,
                    kubeApiserverImage: KUBE_APISERVER_IMAGE,
                    initialClusterToken: `${PROD}-token`,
                },
                files,
            );
        const env = planFor(snapshotPath);
        replicaPlans = { planFor, env };
        expect(env.plan.networks).toEqual([expect.objectContaining({ subnet: SUBNET, gateway: hostIn(SUBNET, 1), internal: true })]);
        replica = await timed("replica: check, 3 restores, 3 members healthy", () =>
            realizePlan(env.plan, { runId: RUN_ID, waitHealthy: true, timeoutMs: 120_000 }),
        );

        // Every original member, at its original address, answers the original client certificate.
        const endpoints = MEMBERS.map((m) => `https://${m.ip}:2379`);
        const health = JSON.parse((await etcdctl(endpoints, ["endpoint", "health", "-w", "json"])).stdout) as {
            endpoint: string;
            health: boolean;
        }[];
        expect(health.map((h) => [h.endpoint, h.health]).sort()).toEqual(endpoints.map((e) => [e, true]));
        const members = JSON.parse((await etcdctl(endpoints, ["member", "list", "-w", "json"])).stdout) as {
            members: { name: string; peerURLs: string[]; clientURLs: string[] }[];
        };
        expect(members.members.map((m) => `${m.name}=${m.peerURLs.join(",")} ${m.clientURLs.join(",")}`).sort()).toEqual(
            MEMBERS.map((m) => `${m.name}=https://${m.ip}:2380 https://${m.ip}:2379`),
        );
        // The data, read linearizably from each member alone.
        for (const endpoint of endpoints) {
            const value = await etcdctl([endpoint], ["get", "/replica-test/greeting", "--print-value-only"]);
            expect({ endpoint, value: value.stdout.trim() }).toEqual({ endpoint, value: "written before the incident" });
        }
        // The members really serve the original certificates.
        for (const member of MEMBERS) {
            const served = await replica.readFile(`${REPLICA}-${member.name}`, "/etc/kubernetes/pki/etcd/server.crt");
            expect(served.content.toString("utf8")).toBe(pki.members[member.name].server.certPem);
            for (const key of ["server.key", "peer.key", "healthcheck-client.key"]) {
                const file = await replica.readFile(`${REPLICA}-${member.name}`, `/etc/kubernetes/pki/etcd/${key}`);
                expect({ member: member.name, key, mode: file.mode & 0o777 }).toEqual({ member: member.name, key, mode: 0o600 });
            }
            const inspect = await replica.inspect(`${REPLICA}-${member.name}`);
            expect(JSON.stringify([inspect.Config.Cmd, inspect.Config.Entrypoint, inspect.Config.Env])).not.toMatch(/PRIVATE KEY/);
            expect(inspect.NetworkSettings.Networks[`${REPLICA}-net`].IPAddress).toBe(member.ip);
        }
        // Internal, on S, nothing published.
        const network = JSON.parse((await run("docker", ["network", "inspect", `${REPLICA}-net`])).stdout)[0];
        expect({ internal: network.Internal, subnet: network.IPAM.Config[0].Subnet }).toEqual({ internal: true, subnet: SUBNET });
        for (const container of env.plan.containers) expect(container.ports ?? []).toEqual([]);

        // kube-apiserver on a free address of S reads the restored data through the original client certificate.
        await timed("replica: kube-apiserver /readyz", () =>
            waitForRecoveryApi({
                apiUrl: env.addresses.apiUrl,
                tls: { caPem: fresh.kubeCaCertPem, certPem: fresh.admin.certPem, keyPem: fresh.admin.keyPem },
                readLog: () => replica!.logs(env.containerNames.kubeApiserver),
                timeoutMs: 90_000,
            }),
        );
        expect(env.addresses.apiserverIp).toBe(hostIn(SUBNET, 254));
        const kubeconfig = path.join(workDir, "replica.kubeconfig");
        fs.writeFileSync(
            kubeconfig,
            recoveryKubeconfig({
                name: REPLICA,
                url: env.addresses.apiUrl,
                caCertPem: fresh.kubeCaCertPem,
                certPem: fresh.admin.certPem,
                keyPem: fresh.admin.keyPem,
            }),
            { mode: 0o600 },
        );
        const configMap = JSON.parse(
            await timed("kubectl get configmap", () =>
                runKubectl(kubeconfig, ["get", "configmap", "app-config", "-n", "shop", "-o", "json"]),
            ),
        );
        expect({ uid: configMap.metadata.uid, data: configMap.data }).toEqual({ uid: CONFIG_MAP.metadata.uid, data: CONFIG_MAP.data });
    });
    test("an update to a snapshot that fails the check in the engine fails loudly, and the members keep serving; back to the snapshot removes its leftovers", async () => {
        const { planFor, env } = replicaPlans!;
        const memberIds = MEMBERS.map((m) => replica!.containers[`${REPLICA}-${m.name}`].id);
        // Both bbolt meta pages altered, the trailing SHA-256 recomputed: the file check passes, etcdutl cannot open it.
        const badPath = path.join(workDir, "snapshot-bad.db");
        writeUnopenableSnapshot(snapshotPath, badPath);
        const bad = planFor(badPath);
        await expect(timed("replica: update to a bad snapshot", () => replica!.update(bad.plan))).rejects.toThrow(
            new RegExp(`was not started: [^\\n]*${bad.containerNames.snapshotCheck} exited with code [1-9]`),
        );
        // The members were not touched: same containers, the data read from each.
        expect(MEMBERS.map((m) => replica!.containers[`${REPLICA}-${m.name}`].id)).toEqual(memberIds);
        for (const member of MEMBERS) {
            const value = await etcdctl([`https://${member.ip}:2379`], ["get", "/replica-test/greeting", "--print-value-only"]);
            expect(value.stdout.trim()).toBe("written before the incident");
        }
        // The bad snapshot's check, restores and volumes stay for inspection, beside the serving ones.
        const badOneShots = [bad.containerNames.snapshotCheck, ...bad.members.map((m) => m.restoreContainer)];
        for (const name of badOneShots) expect(replica!.exitCodes[name]).toBeDefined();
        const volumes = async () =>
            (await run("docker", ["volume", "ls", "--format", "{{.Name}}"])).stdout
                .split("\n")
                .filter((v) => v.startsWith(`${REPLICA}-`))
                .sort();
        expect(await volumes()).toEqual([...env.members, ...bad.members].map((m) => m.volume).sort());

        // Back to the good snapshot: nothing runs again; the bad snapshot's one-shots and volumes are deleted.
        const back = await timed("replica: back to the good snapshot", () => replica!.update(env.plan));
        expect(back.created).toEqual([]);
        expect(back.replaced).toEqual([]);
        expect(back.deleted.sort()).toEqual(badOneShots.sort());
        expect(MEMBERS.map((m) => replica!.containers[`${REPLICA}-${m.name}`].id)).toEqual(memberIds);
        expect(await volumes()).toEqual(env.members.map((m) => m.volume).sort());
    });
});

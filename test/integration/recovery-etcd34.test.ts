// An etcd 3.4 original (Debian's etcd 3.4 under kube-apiserver 1.34), its
// snapshot taken with Debian's etcdctl 3.4, restored into the recovery
// environment with the 3.5 image (etcdutl) and with the 3.4 image (etcdctl).
// On the 3.5 environment: the recovery CLI for real (export, diff against
// production, apply, diff again), and isolation — from inside the recovery
// network nothing but the network itself is reachable.
import { execFile } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import {
    OriginalCluster,
    exportObjects,
    hostGuardCommands,
    cleanForApply,
    issueRecoveryPki,
    planRecoveryEnvironment,
    recoveryAddresses,
    recoveryKubeconfig,
    validateOriginalCluster,
    verifySnapshotFile,
    verifySnapshotFileSync,
    waitForRecoveryApi,
} from "../../src/recovery";
import {
    RealizedPlan,
    dockerAvailable,
    hostIn,
    realizePlan,
    removeByLabel,
    RUN_LABEL,
    TEST_LABEL,
    uniqueName,
    uniqueRunId,
    withFreeSubnet,
} from "../harness/docker";
import { run } from "../harness/exec";
import { ETCD_34_IMAGE, ETCD_35_IMAGE, KUBE_APISERVER_IMAGE, UPLOADER_IMAGE, requireImages } from "../support/images";
import { KUBECTL, KubeApi, startKubeApi } from "../support/kube-api";

jest.setTimeout(240_000);

/** This run's own label and names: cleanup removes only what this run created (another run may share the engine). */
const RUN_ID = uniqueRunId("it-recovery-etcd34");
const ROOT = path.join(__dirname, "..", "..");
const DEBIAN_ETCD_DIR = "/usr/bin";
const NAMESPACE = "shop";
/** A network standing in for "anything off the recovery network": a bridge with a route out, as production's would be. */
const OUTSIDE_NETWORK = `${RUN_ID}-outside`;
const PROBE_IMAGE = UPLOADER_IMAGE; // busybox sh + nc
const ENV_35_BASE = "it-recovery-34to35";
const ENV_35 = uniqueName(ENV_35_BASE);

let workDir: string;
let production: KubeApi;
let snapshotPath: string;
const realized: RealizedPlan[] = [];
const timings: Record<string, number> = {};
const originals: Record<string, any> = {};

async function timed<T>(label: string, action: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
        return await action();
    } finally {
        timings[label] = Date.now() - start;
    }
}

function description(): OriginalCluster {
    return validateOriginalCluster(
        {
            etcd: {
                version: "3.4.23",
                members: [{ name: "default", peerUrls: ["https://127.0.0.1:2380"], clientUrls: production.etcd.endpoints }],
            },
            kubeApiserver: { version: "1.34.4", args: ["--etcd-prefix=/registry", "--service-cluster-ip-range=10.96.0.0/12"] },
            serviceClusterIpRange: "10.96.0.0/12",
        },
        "production on etcd 3.4 (hand-written description)",
    );
}

/** Plans and realizes on a free test subnet (another one if another run took it meanwhile). */
async function bringUp(name: string, etcdImage: string) {
    const original = description();
    const { pki, env, live } = await withFreeSubnet(async (subnet) => {
        const addresses = recoveryAddresses(subnet);
        const pki = issueRecoveryPki(name, addresses, original);
        const env = planRecoveryEnvironment(
            {
                name,
                original,
                snapshotPath,
                snapshotSha256: verifySnapshotFileSync(snapshotPath).sha256,
                subnet,
                etcdImage,
                kubeApiserverImage: KUBE_APISERVER_IMAGE,
            },
            pki.files,
        );
        const live = await timed(`${name}: realize (check, restore, etcd healthy)`, () =>
            realizePlan(env.plan, { runId: RUN_ID, waitHealthy: true, timeoutMs: 150_000 }),
        );
        return { pki, env, live };
    });
    realized.push(live);
    const kubeconfigPath = path.join(workDir, `${name}.kubeconfig`);
    fs.writeFileSync(
        kubeconfigPath,
        recoveryKubeconfig({
            name,
            url: env.addresses.apiUrl,
            caCertPem: pki.kubeCaCertPem,
            certPem: pki.admin.certPem,
            keyPem: pki.admin.keyPem,
        }),
        { mode: 0o600 },
    );
    await timed(`${name}: kube-apiserver /readyz`, () =>
        waitForRecoveryApi({
            apiUrl: env.addresses.apiUrl,
            tls: { caPem: pki.kubeCaCertPem, certPem: pki.admin.certPem, keyPem: pki.admin.keyPem },
            readLog: () => live.logs(env.containerNames.kubeApiserver),
            timeoutMs: 150_000,
        }),
    );
    return { env, live, kubeconfigPath };
}

/** The CLI as a user runs it (ts-node, transpile only: type-checking is tsc's job); resolves with its exit code and output. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const tsNode = path.join(ROOT, "node_modules", ".bin", "ts-node");
    return new Promise((resolve) => {
        execFile(
            tsNode,
            ["--transpile-only", "src/cli/recovery.ts", ...args, "--kubectl", KUBECTL],
            { cwd: ROOT, timeout: 90_000 },
            (error, stdout, stderr) => {
                const code = error ? (typeof (error as any).code === "number" ? (error as any).code : -1) : 0;
                resolve({ code, stdout: String(stdout), stderr: String(stderr) });
            },
        );
    });
}

/** A host command without stdin (the harness's run() writes stdin, which races with programs that exit at once). */
function host(file: string, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile(file, args, { timeout: 30_000 }, (error, stdout, stderr) =>
            error ? reject(new Error(`${file} ${args.join(" ")}: ${error.message} ${stderr}`)) : resolve(String(stdout)),
        );
        child.stdin?.destroy();
    });
}

const labels = ["--label", `${TEST_LABEL}=1`, "--label", `${RUN_LABEL}=${RUN_ID}`];

/** What a TCP connect met: an accept, a refusal (RST or ICMP port unreachable), or nothing (a drop, no route, no answer in 3 s). */
type Reach = "connected" | "refused" | "unreachable";

/** Why the probe gave no answer about the network: it broke. */
class ProbeBroke extends Error {}

/** busybox nc's messages, by what they say about the network. */
const REFUSED = /Connection refused/;
const UNREACHABLE = /timed out|timeout|Network is unreachable|No route to host|Host is unreachable/i;

/**
 * Whether busybox `nc` connects from a throw-away container on `network`, and if not, whether the
 * connection was refused or went unanswered. Only a probe that ran and met one of those gives an
 * answer; a probe that broke (docker run failed, `nc` missing, a bad argument, a name that does not resolve,
 * any failure nc reports that is not about the network) throws ProbeBroke, so "isolated" can never come
 * from a broken probe. `nc` and `image` are parameters only for the controls that break it on purpose.
 */
async function canConnect(
    network: string,
    address: string,
    port: number,
    probe: { nc?: string; image?: string } = {},
): Promise<{ connected: boolean; reach: Reach; output: string }> {
    const nc = probe.nc ?? "nc";
    const script = [
        "echo PROBE-RAN",
        "ip route",
        `command -v ${nc} >/dev/null 2>&1 || { echo VERDICT=NO-TOOL; exit 0; }`,
        `if ${nc} -w 3 ${address} ${port} </dev/null 2>&1; then echo VERDICT=CONNECTED; else echo VERDICT=FAILED; fi`,
    ].join("; ");
    const where = `the connection probe to ${address}:${port} on ${network}`;
    let output: string;
    try {
        const r = await run(
            "docker",
            ["run", "--rm", ...labels, "--network", network, "--entrypoint", "/bin/sh", probe.image ?? PROBE_IMAGE, "-c", script],
            { timeoutMs: 60_000 },
        );
        output = r.stdout + r.stderr;
    } catch (error) {
        throw new ProbeBroke(`${where} broke: ${(error as Error).message}`);
    }
    const verdict = /^VERDICT=(CONNECTED|FAILED|NO-TOOL)$/m.exec(output)?.[1];
    if (!output.includes("PROBE-RAN") || verdict === undefined) throw new ProbeBroke(`${where} gave no verdict:\n${output}`);
    if (verdict === "NO-TOOL") throw new ProbeBroke(`${where} broke: ${nc} is not in ${probe.image ?? PROBE_IMAGE}:\n${output}`);
    if (verdict === "CONNECTED") return { connected: true, reach: "connected", output };
    if (REFUSED.test(output)) return { connected: false, reach: "refused", output };
    if (UNREACHABLE.test(output)) return { connected: false, reach: "unreachable", output };
    throw new ProbeBroke(`${where} broke: nc failed for a reason that is neither a refusal nor no answer:\n${output}`);
}

/** The Docker network (and its subnet) the engine created for `name`, on a free test subnet. */
async function createOutsideNetwork(name: string): Promise<{ subnet: string; gateway: string; listenerIp: string }> {
    return withFreeSubnet(async (subnet) => {
        const gateway = hostIn(subnet, 1);
        await run("docker", ["network", "create", ...labels, "--subnet", subnet, "--gateway", gateway, name]);
        return { subnet, gateway, listenerIp: hostIn(subnet, 30) };
    });
}

/**
 * Host guard rules a killed run of this file left: this file's environment names, on a subnet no Docker
 * network has any more (a running run's rule is on its live environment's subnet, and stays).
 */
async function removeStaleGuards(): Promise<void> {
    const inUse = new Set(
        (
            await host("docker", [
                "network",
                "inspect",
                "--format",
                "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                ...(await host("docker", ["network", "ls", "-q"])).split("\n").filter((l) => l.trim() !== ""),
            ])
        )
            .split(/\s+/)
            .filter((s) => s !== ""),
    );
    const rules = (await host("iptables", ["-S", "INPUT"])).split("\n");
    for (const rule of rules) {
        const match = new RegExp(`-s (\\S+) .*--comment "?etcd-recovery:(${ENV_35_BASE}-[0-9a-f]+)"?`).exec(rule);
        if (match && !inUse.has(match[1]!)) await host("sh", ["-c", hostGuardCommands(match[2]!, match[1]!).delete]);
    }
}

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE, ETCD_34_IMAGE, KUBE_APISERVER_IMAGE, PROBE_IMAGE);
    for (const tool of ["etcd", "etcdctl"]) {
        if (!fs.existsSync(path.join(DEBIAN_ETCD_DIR, tool)))
            throw new Error(`${DEBIAN_ETCD_DIR}/${tool} is missing: apt-get install etcd-server etcd-client (Debian's etcd 3.4)`);
    }
    if (!fs.existsSync(KUBECTL))
        throw new Error(`kubectl not found at ${KUBECTL}: run bash scripts/setup (it builds kubectl) or set KUBECTL`);
    await removeByLabel(RUN_ID);
    // A run killed half-way may have left its guard rule; this run's environment has a name of its own.
    await removeStaleGuards();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "recovery-etcd34-it-"));

    production = await timed("production start (etcd 3.4 + kube-apiserver 1.34)", () =>
        startKubeApi({ etcdBinaryDir: DEBIAN_ETCD_DIR, readyTimeoutMs: 120_000 }),
    );
    await production.kubectl(["create", "namespace", NAMESPACE]);
    const configMap = (name: string, data: Record<string, string>) => ({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, namespace: NAMESPACE, labels: { app: "shop" } },
        data,
    });
    await production.kubectl(["apply", "-f", "-"], {
        input: JSON.stringify({
            apiVersion: "v1",
            kind: "List",
            items: [configMap("app-config", { currency: "EUR" }), configMap("limits", { maxOrders: "100" })],
        }),
    });
    for (const name of ["app-config", "limits"])
        originals[name] = JSON.parse(await production.kubectl(["get", "configmap", name, "-n", NAMESPACE, "-o", "json"]));

    const etcdctl = path.join(DEBIAN_ETCD_DIR, "etcdctl");
    const env = { ...process.env, ETCDCTL_API: "3" };
    const version = await run(etcdctl, ["version"], { env });
    expect(version.stdout).toMatch(/etcdctl version: 3\.4\./);
    const tls = production.etcd.etcdctlFlags;
    const status = await run(etcdctl, [...tls, "endpoint", "status", "--write-out=json"], { env });
    expect(JSON.parse(status.stdout)[0].Status.version).toMatch(/^3\.4\./);
    snapshotPath = path.join(workDir, "snapshot-etcd34.db");
    await timed("etcdctl 3.4 snapshot save", () => run(etcdctl, [...tls, "snapshot", "save", snapshotPath], { env }));

    // The incident: one ConfigMap deleted, another changed.
    await production.kubectl(["delete", "configmap", "app-config", "-n", NAMESPACE]);
    await production.kubectl(["patch", "configmap", "limits", "-n", NAMESPACE, "--type=merge", "-p", '{"data":{"maxOrders":"5"}}']);
});

afterAll(async () => {
    for (const live of realized) await live.destroy();
    await removeByLabel(RUN_ID);
    await production?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    console.log(`recovery-etcd34 timings (ms): ${JSON.stringify(timings, null, 1)}`);
});

describe("an etcd 3.4 snapshot in the recovery environment", () => {
    let recovery: Awaited<ReturnType<typeof bringUp>>;

    test("3.5 image (etcdutl restore): the CLI exports the lost ConfigMap, diffs against production, and the re-applied object equals the original", async () => {
        await expect(verifySnapshotFile(snapshotPath)).resolves.toMatchObject({ path: snapshotPath });
        recovery = await bringUp(ENV_35, ETCD_35_IMAGE);
        expect(await recovery.live.logs(recovery.env.containerNames.snapshotCheck)).toMatch(/"revision":\d+/);

        const before = await timed("cli diff (before)", () =>
            cli([
                "diff",
                "--kubeconfig",
                recovery.kubeconfigPath,
                "--live-kubeconfig",
                production.kubeconfigPath,
                "--kind",
                "configmaps",
                "-n",
                NAMESPACE,
                "-l",
                "app=shop",
            ]),
        );
        expect(before.code).toBe(1);
        expect(before.stdout).toContain(`ConfigMap ${NAMESPACE}/app-config: missing in live (in the snapshot only)`);
        expect(before.stdout).toContain(`ConfigMap ${NAMESPACE}/limits: changed in live`);
        expect(before.stdout).toContain("-   maxOrders: '100'\n    +   maxOrders: '5'");
        expect(before.stderr).toMatch(/snapshot \[1\/1\] configmaps -l app=shop in shop: 2 objects/);

        const outFile = path.join(workDir, "app-config.yaml");
        const exported = await timed("cli export", () =>
            cli([
                "export",
                "--kubeconfig",
                recovery.kubeconfigPath,
                "--kind",
                "configmaps",
                "-n",
                NAMESPACE,
                "--name",
                "app-config",
                "-o",
                outFile,
            ]),
        );
        expect(exported).toMatchObject({ code: 0 });
        expect(fs.statSync(outFile).mode & 0o777).toBe(0o600);
        expect(fs.readFileSync(outFile, "utf8")).not.toMatch(/resourceVersion|uid:|creationTimestamp|managedFields/);

        await production.kubectl(["apply", "-f", outFile]);
        const restored = JSON.parse(await production.kubectl(["get", "configmap", "app-config", "-n", NAMESPACE, "-o", "json"]));
        expect(cleanForApply(restored).object).toEqual(cleanForApply(originals["app-config"]).object);

        const after = await timed("cli diff (after)", () =>
            cli([
                "diff",
                "--kubeconfig",
                recovery.kubeconfigPath,
                "--live-kubeconfig",
                production.kubeconfigPath,
                "--kind",
                "configmaps",
                "-n",
                NAMESPACE,
                "-l",
                "app=shop",
            ]),
        );
        expect(after.code).toBe(1);
        expect(after.stdout).toContain(`ConfigMap ${NAMESPACE}/app-config: same`);
        expect(after.stdout).toContain("2 objects: 0 missing in live, 1 changed, 1 same, 0 only in live");
    });

    test("isolation: from inside the recovery network, other networks are unreachable, and with the host guard the host is too", async () => {
        expect(recovery).toBeDefined();
        const recoveryNetwork = recovery.env.plan.networks[0]!.name;
        let guardDelete: string | undefined;
        const hostListener = net.createServer((socket) => socket.end("host\n"));
        await new Promise<void>((resolve) => hostListener.listen(0, "0.0.0.0", resolve));
        const hostPort = (hostListener.address() as net.AddressInfo).port;
        try {
            const outside = await createOutsideNetwork(OUTSIDE_NETWORK);
            const [OUTSIDE_GATEWAY, OUTSIDE_LISTENER_IP] = [outside.gateway, outside.listenerIp];
            await run("docker", [
                "run",
                "-d",
                ...labels,
                "--name",
                `${RUN_ID}-listener`,
                "--network",
                OUTSIDE_NETWORK,
                "--ip",
                OUTSIDE_LISTENER_IP,
                "--entrypoint",
                "/bin/httpd",
                PROBE_IMAGE,
                "-f",
                "-p",
                "8080",
                "-h",
                "/tmp",
            ]);

            // Controls: the probes work, and the targets answer to whoever may reach them.
            const fromOutside = await canConnect(OUTSIDE_NETWORK, OUTSIDE_LISTENER_IP, 8080);
            expect(fromOutside).toMatchObject({ connected: true, reach: "connected" });
            // A closed port on a reachable host is a refusal, not a broken probe...
            expect((await canConnect(OUTSIDE_NETWORK, OUTSIDE_LISTENER_IP, 8081)).reach).toBe("refused");
            // ...and a probe that breaks says so instead of reporting "not connected": nc missing, a name that
            // refuses, an image the probe cannot run in (no shell).
            await expect(canConnect(OUTSIDE_NETWORK, OUTSIDE_LISTENER_IP, 8080, { nc: "no-such-nc" })).rejects.toThrow(
                /broke: no-such-nc is not in/,
            );
            // (an argument nc refuses stands for any failure that is not about the network, e.g. a name that does not resolve)
            const badArgument = canConnect(OUTSIDE_NETWORK, OUTSIDE_LISTENER_IP, 99999);
            await expect(badArgument).rejects.toThrow(ProbeBroke);
            await expect(badArgument).rejects.toThrow(/neither a refusal nor no answer[\s\S]*99999/);
            await expect(canConnect(OUTSIDE_NETWORK, OUTSIDE_LISTENER_IP, 8080, { image: ETCD_35_IMAGE })).rejects.toThrow(
                /probe to .* broke: /,
            );
            expect((await canConnect(OUTSIDE_NETWORK, OUTSIDE_GATEWAY, hostPort)).connected).toBe(true);
            const apiserverIp = recovery.env.addresses.apiserverIp;
            expect((await canConnect(recoveryNetwork, apiserverIp, 6443)).connected).toBe(true);

            // From the recovery network: another network's containers are unreachable (Docker drops the forward)...
            expect((await canConnect(recoveryNetwork, OUTSIDE_LISTENER_IP, 8080)).connected).toBe(false);
            // ...and the outside cannot reach the restored API.
            expect((await canConnect(OUTSIDE_NETWORK, apiserverIp, 6443)).connected).toBe(false);

            // But an internal network still reaches the host's own addresses: the reason for the host guard.
            const recoveryGateway = recovery.env.addresses.apiserverIp.replace(/\.\d+$/, ".1");
            expect((await canConnect(recoveryNetwork, OUTSIDE_GATEWAY, hostPort)).connected).toBe(true);
            expect((await canConnect(recoveryNetwork, recoveryGateway, hostPort)).connected).toBe(true);

            // With the guard the component installs (the same commands), the host is closed to the recovery network...
            const guard = hostGuardCommands(ENV_35, recovery.env.addresses.subnet);
            guardDelete = guard.delete;
            await host("sh", ["-c", guard.create]);
            await host("sh", ["-c", guard.create]); // idempotent: still one rule
            expect(
                (await host("iptables", ["-S", "INPUT"])).split("\n").filter((l) => l.includes(`"etcd-recovery:${ENV_35}"`)),
            ).toHaveLength(1);
            expect((await canConnect(recoveryNetwork, OUTSIDE_GATEWAY, hostPort)).connected).toBe(false);
            expect((await canConnect(recoveryNetwork, recoveryGateway, hostPort)).connected).toBe(false);
            // ...while the host still reaches the API, and the environment's own traffic flows.
            expect((await canConnect(recoveryNetwork, apiserverIp, 6443)).connected).toBe(true);
            const readyz = await exportObjects({
                kubeconfigPath: recovery.kubeconfigPath,
                kubectl: KUBECTL,
                selections: [{ kind: "configmaps", namespace: NAMESPACE, name: "limits" }],
            });
            expect(readyz.objects).toHaveLength(1);
            await host("sh", ["-c", guard.delete]);
            await expect(host("sh", ["-c", guard.check])).rejects.toThrow();
            guardDelete = undefined;
        } finally {
            if (guardDelete) await host("sh", ["-c", guardDelete]);
            await new Promise((resolve) => hostListener.close(resolve));
            await run("docker", ["rm", "-f", `${RUN_ID}-listener`]).catch(() => undefined);
            await run("docker", ["network", "rm", OUTSIDE_NETWORK]).catch(() => undefined);
        }
    });

    test("3.4 image (etcdctl snapshot restore): the same snapshot serves the changed ConfigMap as it was", async () => {
        const env34 = await bringUp(uniqueName("it-recovery-34to34"), ETCD_34_IMAGE);
        const [check, restore] = env34.env.plan.containers;
        expect(check!.entrypoint).toEqual(["/usr/local/bin/etcdctl"]);
        expect(restore!.entrypoint?.[0] ?? restore!.command[0]).toMatch(/etcdctl/);
        const exported = await exportObjects({
            kubeconfigPath: env34.kubeconfigPath,
            kubectl: KUBECTL,
            selections: [{ kind: "configmaps", namespace: NAMESPACE, name: "limits" }],
        });
        expect(exported.objects[0]).toEqual(cleanForApply(originals["limits"]).object);
        // Only this environment's containers go; the 3.5 one stays for nobody, and afterAll removes the rest.
        await env34.live.destroy();
    });
});

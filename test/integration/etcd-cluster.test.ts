// The EtcdCluster plan, realized in the real Docker engine with certificates
// from our PKI: a 3-member cluster over mTLS, access control by client
// certificate, and seeding a new cluster from a snapshot of the first.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { issueEtcdPki, memberCertificateFiles, planEtcdCluster, planEtcdPki, planTopology } from "../../src";
import { EtcdClusterPlanInput } from "../../src/etcd/plan";
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
import { ETCD_35_IMAGE, requireImages } from "../support/images";

/** This run's own label and names: cleanup removes only what this run created (another run may share the engine). */
const RUN_ID = uniqueRunId("it-etcd-cluster");
const FIRST = uniqueName("it-etcd");
const SEEDED = uniqueName("it-etcd-seeded");
const BADSEED = uniqueName("it-etcd-badseed");
const ETCDCTL = path.join(process.env.ETCD_RECOVERY_CACHE ?? path.join(os.homedir(), ".cache", "etcd-recovery"), "bin", "etcdctl");

let workDir: string;
const realized: RealizedPlan[] = [];

/** Plans a cluster with a fresh PKI, the way EtcdCluster does, on a bridge network with a free test subnet, and starts it. */
async function startCluster(planInput: Omit<EtcdClusterPlanInput, "network">) {
    const { input, pki, cluster, live } = await withFreeSubnet(async (subnet) => {
        const input: EtcdClusterPlanInput = { ...planInput, network: { mode: "bridge", subnet } };
        const members = planTopology(input).members;
        const pki = issueEtcdPki(planEtcdPki({ clusterName: input.clusterName, members }));
        const cluster = planEtcdCluster(input, (member) => memberCertificateFiles(pki, member.name));
        const live = await realizePlan(cluster.plan, { runId: RUN_ID, waitHealthy: true, timeoutMs: 150_000 });
        return { input, pki, cluster, live };
    });
    const subnet = (input.network as { subnet: string }).subnet;
    realized.push(live);
    const dir = fs.mkdtempSync(path.join(workDir, `${input.clusterName}-`));
    const write = (name: string, content: string, mode: number) => {
        fs.writeFileSync(path.join(dir, name), content, { mode });
        return path.join(dir, name);
    };
    const files = {
        ca: write("ca.pem", pki.caCertPem, 0o644),
        cert: write("admin.pem", pki.clients.admin.certPem, 0o644),
        key: write("admin-key.pem", pki.clients.admin.keyPem, 0o600),
    };
    const endpoints = cluster.topology.clientEndpoints;
    const etcdctl = (args: string[], tls = files) =>
        run(ETCDCTL, [
            `--endpoints=${endpoints.join(",")}`,
            "--command-timeout=10s",
            `--cacert=${tls.ca}`,
            ...(tls.cert ? [`--cert=${tls.cert}`, `--key=${tls.key}`] : []),
            ...args,
        ]);
    return { input, subnet, cluster, live, pki, files, etcdctl, endpoints, write };
}

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE);
    if (!fs.existsSync(ETCDCTL)) throw new Error(`${ETCDCTL} is missing: run bash scripts/tools.sh etcd`);
    await removeByLabel(RUN_ID);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-cluster-it-"));
});

afterAll(async () => {
    for (const live of realized) await live.destroy();
    await removeByLabel(RUN_ID);
    fs.rmSync(workDir, { recursive: true, force: true });
});

describe("EtcdCluster plan on real etcd 3.5 in Docker", () => {
    let first: Awaited<ReturnType<typeof startCluster>>;

    test("3 members become healthy over mTLS and replicate a write", async () => {
        first = await startCluster({ clusterName: FIRST, size: 3, image: ETCD_35_IMAGE });
        const health = await first.etcdctl(["endpoint", "health", "--cluster", "-w", "json"]);
        const reports = JSON.parse(health.stdout) as { endpoint: string; health: boolean }[];
        expect(reports.map((r) => r.endpoint).sort()).toEqual([11, 12, 13].map((n) => `https://${hostIn(first.subnet, n)}:2379`));
        expect(reports.every((r) => r.health)).toBe(true);

        const members = JSON.parse((await first.etcdctl(["member", "list", "-w", "json"])).stdout) as { members: { name: string }[] };
        expect(members.members.map((m) => m.name).sort()).toEqual(["etcd-0", "etcd-1", "etcd-2"]);

        await first.etcdctl(["put", "/registry/configmaps/default/seed004", "external-etcd"]);
        // Read from the third member alone, linearizably: the write was replicated.
        const read = await run(ETCDCTL, [
            `--endpoints=https://${hostIn(first.subnet, 13)}:2379`,
            `--cacert=${first.files.ca}`,
            `--cert=${first.files.cert}`,
            `--key=${first.files.key}`,
            "get",
            "/registry/configmaps/default/seed004",
            "--print-value-only",
        ]);
        expect(read.stdout.trim()).toBe("external-etcd");
    });

    test("private keys are 0600 files owned by root in every member", async () => {
        for (const container of first.cluster.plan.containers) {
            for (const key of ["server.key", "peer.key", "healthcheck-client.key"]) {
                const file = await first.live.readFile(container.name, `/etc/kubernetes/pki/etcd/${key}`);
                expect({ container: container.name, key, mode: file.mode & 0o777, uid: file.uid }).toEqual({
                    container: container.name,
                    key,
                    mode: 0o600,
                    uid: 0,
                });
                expect(file.content.toString("utf8")).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
            }
            const inspect = await first.live.inspect(container.name);
            expect(JSON.stringify([inspect.Config.Cmd, inspect.Config.Entrypoint, inspect.Config.Env])).not.toMatch(/PRIVATE KEY/);
        }
    });

    test("a client without a certificate is refused", async () => {
        // With TLS 1.3 the client learns of the refusal after its handshake: it
        // sees the alert or, racing it, a dropped connection. The member says why.
        await expect(
            first.etcdctl(["--command-timeout=3s", "get", "/registry", "--prefix", "--keys-only"], {
                ca: first.files.ca,
                cert: "",
                key: "",
            }),
        ).rejects.toThrow(/tls: certificate required|broken pipe|connection reset|context deadline exceeded/);
        const logs = (await Promise.all(first.cluster.plan.containers.map((c) => first.live.logs(c.name)))).join("\n");
        expect(logs).toMatch(/rejected connection on client endpoint.*(didn't provide a certificate|certificate required)/);
    });

    test("a client certificate from another CA is refused", async () => {
        const other = issueEtcdPki(planEtcdPki({ clusterName: "intruder", members: [{ name: "x", ip: "127.0.0.1" }] }));
        const tls = {
            ca: first.files.ca,
            cert: first.write("intruder.pem", other.clients.admin.certPem, 0o644),
            key: first.write("intruder-key.pem", other.clients.admin.keyPem, 0o600),
        };
        await expect(first.etcdctl(["--command-timeout=3s", "get", "/registry", "--prefix", "--keys-only"], tls)).rejects.toThrow(
            /context deadline exceeded/,
        );
        // The client only sees a dropped connection; the member says why.
        const logs = (await Promise.all(first.cluster.plan.containers.map((c) => first.live.logs(c.name)))).join("\n");
        expect(logs).toMatch(/rejected connection on client endpoint.*x509: certificate signed by unknown authority/);
    });

    test("a new cluster seeded from a snapshot of the first holds its data", async () => {
        const snapshot = path.join(workDir, "snapshot.db");
        await run(ETCDCTL, [
            `--endpoints=https://${hostIn(first.subnet, 11)}:2379`,
            `--cacert=${first.files.ca}`,
            `--cert=${first.files.cert}`,
            `--key=${first.files.key}`,
            "snapshot",
            "save",
            snapshot,
        ]);
        const seeded = await startCluster({
            clusterName: SEEDED,
            size: 3,
            image: ETCD_35_IMAGE,
            seedSnapshotPath: snapshot,
        });
        expect(seeded.cluster.plan.containers.filter((c) => c.runToCompletion).map((c) => c.name)).toEqual([
            `${SEEDED}-etcd-0-restore`,
            `${SEEDED}-etcd-1-restore`,
            `${SEEDED}-etcd-2-restore`,
        ]);
        const value = await seeded.etcdctl(["get", "/registry/configmaps/default/seed004", "--print-value-only"]);
        expect(value.stdout.trim()).toBe("external-etcd");
        const members = JSON.parse((await seeded.etcdctl(["member", "list", "-w", "json"])).stdout) as {
            members: { name: string; peerURLs: string[] }[];
        };
        expect(members.members.map((m) => `${m.name}=${m.peerURLs[0]}`).sort()).toEqual([
            `etcd-0=https://${hostIn(seeded.subnet, 11)}:2380`,
            `etcd-1=https://${hostIn(seeded.subnet, 12)}:2380`,
            `etcd-2=https://${hostIn(seeded.subnet, 13)}:2380`,
        ]);
    });

    test("a changed tunable replaces the members one at a time, as the engine does with the member chain, and no acknowledged write is lost", async () => {
        const input: EtcdClusterPlanInput = { ...first.input, tunables: { snapshotCount: 50_000 } };
        const next = planEtcdCluster(input, (member) => memberCertificateFiles(first.pki, member.name));
        // A client writes through the update; every write it saw acknowledged must be there afterwards.
        const acknowledged: string[] = [];
        let failed = 0;
        let updating = true;
        let acknowledgedDuringUpdate = 0;
        let stoppedAt = Infinity;
        // Until the update is done, then on until 20 more writes went through (at most 60 s): the
        // writer's own control that it really wrote.
        const writer = (async () => {
            const until = () => (updating ? Infinity : acknowledgedDuringUpdate + 20);
            const deadline = () => (updating ? Infinity : stoppedAt + 60_000);
            for (let i = 0; acknowledged.length < until() && Date.now() < deadline() && i < 10_000; i++) {
                const key = `/rolling/${String(i).padStart(5, "0")}`;
                try {
                    await first.etcdctl(["put", key, `v${i}`]);
                    acknowledged.push(key);
                } catch {
                    failed += 1;
                }
            }
        })();
        const report = await first.live.update(next.plan, { timeoutMs: 150_000 });
        acknowledgedDuringUpdate = acknowledged.length;
        stoppedAt = Date.now();
        updating = false;
        await writer;
        const names = [`${FIRST}-etcd-0`, `${FIRST}-etcd-1`, `${FIRST}-etcd-2`];
        expect(report.replaced.sort()).toEqual(names);
        // Never two members down at once: each is deleted only after the one before it was created and started.
        expect(report.steps).toEqual(names.flatMap((name) => [`delete ${name}`, `create ${name}`]));
        const health = JSON.parse((await first.etcdctl(["endpoint", "health", "--cluster", "-w", "json"])).stdout) as { health: boolean }[];
        expect(health.map((h) => h.health)).toEqual([true, true, true]);
        const stored = (await first.etcdctl(["get", "/rolling/", "--prefix", "--keys-only"])).stdout.split("\n").filter((l) => l !== "");
        expect(acknowledged.filter((key) => !stored.includes(key))).toEqual([]);
        expect(acknowledged.length).toBeGreaterThan(0);
        expect((await first.etcdctl(["get", "/registry/configmaps/default/seed004", "--print-value-only"])).stdout.trim()).toBe(
            "external-etcd",
        );
        console.log(
            `rolling replacement: ${acknowledgedDuringUpdate} writes acknowledged during the update, ${acknowledged.length} in all, ${failed} failed (no wait for a replaced member to catch up yet)`,
        );
    });

    test("a seed restore that fails (a file that is not a snapshot) starts no member: the gate stops them, as it would under the provider", async () => {
        const garbage = path.join(workDir, "garbage.db");
        fs.writeFileSync(garbage, Buffer.alloc(4096 * 4 + 32, 0x5a));
        const since = String(Math.floor(Date.now() / 1000) - 1);
        await expect(startCluster({ clusterName: BADSEED, size: 3, image: ETCD_35_IMAGE, seedSnapshotPath: garbage })).rejects.toThrow(
            new RegExp(`${BADSEED}-etcd-0 was not started: ${BADSEED}-etcd-0-restore exited with code 1`),
        );
        const started = await run("docker", [
            "events",
            ...["--since", since, "--until", String(Math.ceil(Date.now() / 1000) + 1)],
            ...["--filter", `label=etcd-recovery.cluster=${BADSEED}`, "--filter", "event=start", "--format", "{{.Actor.Attributes.name}}"],
        ]);
        // Only restores ran; no member ever started (on an empty data dir it would have made a new, empty cluster).
        const names = started.stdout
            .trim()
            .split("\n")
            .filter((l) => l !== "");
        expect(names.length).toBeGreaterThan(0);
        for (const name of names) expect(name).toMatch(/-restore$/);
    });
});

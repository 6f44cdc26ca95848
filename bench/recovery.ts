// `npm run bench` (RecoveryEnvironment): the RTO, from a ~100 MiB snapshot of ~50k objects to the
// exported YAML of one object, next to the floor measured in the same run, same images, same machine.
//   floor: `etcdutl snapshot restore` + etcd + kube-apiserver /readyz — the environment's own restore,
//          etcd and kube-apiserver containers (same flags), certificates made before the clock starts,
//          no snapshot check, no export
//   ours:  verifySnapshotFile → issueRecoveryPki → planRecoveryEnvironment realized by the harness
//          (snapshot check, restore, etcd, kube-apiserver) → waitForRecoveryApi → exportObjects (1 ConfigMap)
//          target ≤ 1.3× floor and < 60 s
//   store: fetchSnapshotFromStore of the same snapshot as an EtcdBackup-style .db.gz + .sha256 on MinIO
//          (reported next to the RTO: a restore that starts from the store adds it)
// The snapshot comes from a production-shaped API (local etcd + kube-apiserver, test/support/kube-api)
// filled with ConfigMaps POSTed through the apiserver in parallel; the fill time is printed.
// Knobs: BENCH_RECOVERY_OBJECTS (50000), BENCH_RECOVERY_VALUE_BYTES (1200: two objects per 4 KiB bbolt page, ~2 KiB each in the snapshot), BENCH_RECOVERY_ROUNDS (5).
// Each round measures the floor and ours back to back (alternating which goes first), and the ratio judged
// is the median of the rounds' ratios: a paired comparison that a load change between rounds cannot skew.
// Needs `bash scripts/setup` (Docker engine), `bash scripts/images.sh etcd kube-apiserver`, `bash scripts/tools.sh`, kubectl, rclone.
//   run alone: npx ts-node --transpile-only bench/recovery.ts
import { randomBytes, createHash } from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import {
    OriginalCluster,
    exportObjects,
    issueRecoveryPki,
    planRecoveryEnvironment,
    recoveryAddresses,
    recoveryKubeconfig,
    validateOriginalCluster,
    verifySnapshotFile,
    verifySnapshotFileSync,
    waitForRecoveryApi,
} from "../src/recovery";
import { fetchSnapshotFromStore } from "../src/recovery/store";
import { RealizedPlan, dockerAvailable, realizePlan, removeByLabel } from "../test/harness/docker";
import { run } from "../test/harness/exec";
import { ETCD_35_IMAGE, KUBE_APISERVER_IMAGE, requireImages } from "../test/support/images";
import { KUBECTL, KubeApi, startKubeApi } from "../test/support/kube-api";
import { requireTool } from "../test/support/processes";

const RUN_ID = "bench-recovery";
const FLOOR_SUBNET = "172.31.226.0/24";
const OURS_SUBNET = "172.31.227.0/24";
const NAMESPACE = "bench";
const OBJECTS = Number(process.env.BENCH_RECOVERY_OBJECTS ?? 50_000);
const VALUE_BYTES = Number(process.env.BENCH_RECOVERY_VALUE_BYTES ?? 1200);
const ROUNDS = Number(process.env.BENCH_RECOVERY_ROUNDS ?? 5);
const FILL_CONCURRENCY = 24;
const RATIO_TARGET = 1.3;
const TIME_TARGET_MS = 60_000;
const READY_POLL_MS = 100;
const MiB = 1024 * 1024;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const objectName = (i: number): string => `cm-${String(i).padStart(6, "0")}`;

interface Tls {
    caPem: string;
    certPem: string;
    keyPem: string;
}

/** The admin client certificate out of the throw-away API's kubeconfig. */
function adminTls(api: KubeApi): Tls {
    const field = (name: string) => Buffer.from(new RegExp(`${name}: (\\S+)`).exec(api.kubeconfig)![1]!, "base64").toString("utf8");
    return { caPem: api.caPem, certPem: field("client-certificate-data"), keyPem: field("client-key-data") };
}

function post(agent: https.Agent, url: string, body: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const req = https.request(
            url,
            {
                method: "POST",
                agent,
                headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
                timeout: 60_000,
            },
            (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (chunk: string) => (text += chunk));
                res.on("end", () =>
                    res.statusCode === 201 ? resolve(201) : reject(new Error(`POST ${url}: ${res.statusCode} ${text.slice(0, 300)}`)),
                );
            },
        );
        req.on("timeout", () => req.destroy(new Error(`timeout on POST ${url}`)));
        req.on("error", reject);
        req.end(body);
    });
}

/** OBJECTS ConfigMaps of ~VALUE_BYTES each, created through the apiserver by FILL_CONCURRENCY parallel clients. */
async function fill(api: KubeApi): Promise<number> {
    await api.kubectl(["create", "namespace", NAMESPACE]);
    const tls = adminTls(api);
    const agent = new https.Agent({ keepAlive: true, maxSockets: FILL_CONCURRENCY, ca: tls.caPem, cert: tls.certPem, key: tls.keyPem });
    const url = `${api.url}/api/v1/namespaces/${NAMESPACE}/configmaps`;
    const start = Date.now();
    let next = 0;
    let lastReport = start;
    const worker = async () => {
        for (let i = next++; i < OBJECTS; i = next++) {
            const body = JSON.stringify({
                apiVersion: "v1",
                kind: "ConfigMap",
                metadata: { name: objectName(i), namespace: NAMESPACE, labels: { app: "bench", shard: String(i % 16) } },
                // Random text: etcd stores what it is given, so the snapshot size follows VALUE_BYTES.
                data: {
                    payload: randomBytes(Math.ceil((VALUE_BYTES * 3) / 4))
                        .toString("base64")
                        .slice(0, VALUE_BYTES),
                    index: String(i),
                },
            });
            await post(agent, url, body);
            if (Date.now() - lastReport > 15_000) {
                lastReport = Date.now();
                console.log(`  fill: ${next}/${OBJECTS} after ${seconds(lastReport - start)}`);
            }
        }
    };
    try {
        await Promise.all(Array.from({ length: FILL_CONCURRENCY }, worker));
    } finally {
        agent.destroy();
    }
    return Date.now() - start;
}

/** The production API, as the description an importer would produce. */
function describeProduction(api: KubeApi): OriginalCluster {
    return validateOriginalCluster(
        {
            etcd: {
                version: "3.5.35",
                members: [{ name: "default", peerUrls: ["https://127.0.0.1:2380"], clientUrls: api.etcd.endpoints }],
            },
            kubeApiserver: { version: "1.34.4", args: ["--etcd-prefix=/registry", "--service-cluster-ip-range=10.96.0.0/12"] },
            etcdPrefix: "/registry",
            serviceClusterIpRange: "10.96.0.0/12",
        },
        "bench production (description)",
    );
}

interface Timed {
    totalMs: number;
    steps: [string, number][];
}

function stepper(): { step<T>(name: string, action: () => Promise<T> | T): Promise<T>; done(): Timed } {
    const start = Date.now();
    const steps: [string, number][] = [];
    return {
        async step(name, action) {
            const t = Date.now();
            const result = await action();
            steps.push([name, Date.now() - t]);
            return result;
        },
        done: () => ({ totalMs: Date.now() - start, steps }),
    };
}

/** Bare restore + etcd + kube-apiserver: the environment's containers minus the snapshot check, certificates made beforehand. */
async function measureFloor(original: OriginalCluster, snapshotPath: string, round: number, realized: RealizedPlan[]): Promise<Timed> {
    const name = `bench-floor-${round}`;
    const addresses = recoveryAddresses(FLOOR_SUBNET);
    const pki = issueRecoveryPki(name, addresses, original);
    const env = planRecoveryEnvironment(
        {
            name,
            original,
            snapshotPath,
            snapshotSha256: verifySnapshotFileSync(snapshotPath).sha256,
            subnet: FLOOR_SUBNET,
            etcdImage: ETCD_35_IMAGE,
            kubeApiserverImage: KUBE_APISERVER_IMAGE,
        },
        pki.files,
    );
    const plan = {
        ...env.plan,
        containers: env.plan.containers
            .filter((c) => c.name !== env.containerNames.snapshotCheck)
            .map((c) => ({ ...c, after: (c.after ?? []).filter((a) => a !== env.containerNames.snapshotCheck) })),
    };
    const clock = stepper();
    const live = await clock.step("restore + start etcd, kube-apiserver", () =>
        realizePlan(plan, { runId: RUN_ID, waitHealthy: false, timeoutMs: 300_000 }),
    );
    realized.push(live);
    await clock.step("kube-apiserver /readyz", () =>
        waitForRecoveryApi({
            apiUrl: env.addresses.apiUrl,
            tls: { caPem: pki.kubeCaCertPem, ...pki.admin },
            readLog: () => live.logs(env.containerNames.kubeApiserver),
            timeoutMs: 300_000,
            intervalMs: READY_POLL_MS,
        }),
    );
    const timed = clock.done();
    await live.destroy();
    return timed;
}

/** From the snapshot file to the exported YAML of one object, as a user of the library runs it. */
async function measureOurs(
    original: OriginalCluster,
    snapshotPath: string,
    round: number,
    workDir: string,
    realized: RealizedPlan[],
): Promise<Timed & { yaml: string }> {
    const name = `bench-ours-${round}`;
    const wanted = objectName(Math.floor(OBJECTS / 2));
    const clock = stepper();
    const { sha256: snapshotSha256 } = await clock.step("verifySnapshotFile", () => verifySnapshotFile(snapshotPath));
    const addresses = recoveryAddresses(OURS_SUBNET);
    const pki = await clock.step("issueRecoveryPki", () => issueRecoveryPki(name, addresses, original));
    const env = planRecoveryEnvironment(
        {
            name,
            original,
            snapshotPath,
            snapshotSha256,
            subnet: OURS_SUBNET,
            etcdImage: ETCD_35_IMAGE,
            kubeApiserverImage: KUBE_APISERVER_IMAGE,
        },
        pki.files,
    );
    // waitHealthy false: the component (mustRun, no health wait) does not wait for etcd either; kube-apiserver retries it.
    const live = await clock.step("realize: check, restore, start etcd, kube-apiserver", () =>
        realizePlan(env.plan, { runId: RUN_ID, waitHealthy: false, timeoutMs: 300_000 }),
    );
    realized.push(live);
    await clock.step("waitForRecoveryApi", () =>
        waitForRecoveryApi({
            apiUrl: env.addresses.apiUrl,
            tls: { caPem: pki.kubeCaCertPem, ...pki.admin },
            readLog: () => live.logs(env.containerNames.kubeApiserver),
            timeoutMs: 300_000,
            intervalMs: READY_POLL_MS,
        }),
    );
    const kubeconfigPath = path.join(workDir, `${name}.kubeconfig`);
    fs.writeFileSync(kubeconfigPath, recoveryKubeconfig({ name, url: env.addresses.apiUrl, caCertPem: pki.kubeCaCertPem, ...pki.admin }), {
        mode: 0o600,
    });
    const exported = await clock.step("exportObjects (1 ConfigMap)", () =>
        exportObjects({ kubeconfigPath, kubectl: KUBECTL, selections: [{ kind: "configmaps", namespace: NAMESPACE, name: wanted }] }),
    );
    const timed = clock.done();
    if (
        exported.objects.length !== 1 ||
        exported.objects[0]!.metadata.name !== wanted ||
        exported.objects[0]!.data?.index !== String(Math.floor(OBJECTS / 2))
    ) {
        throw new Error(`the export did not return ${wanted}:\n${exported.yaml.slice(0, 500)}`);
    }
    await live.destroy();
    return { ...timed, yaml: exported.yaml };
}

/** The snapshot as EtcdBackup leaves it on S3 (.db.gz, .sha256 sidecar, .json), then fetched back and checked. */
async function measureStore(
    snapshotPath: string,
    workDir: string,
): Promise<{ fetchMs: number; objectBytes: number; stopMinio: () => Promise<void> }> {
    const { BackupFixture } = await import("../test/support/backup-fixture");
    const fixture = new BackupFixture(`${RUN_ID}-store`, workDir);
    try {
        const s3 = await fixture.startMinio("etcd-bench");
        const raw = fs.readFileSync(snapshotPath);
        const gz = zlib.gzipSync(raw, { level: 6 });
        const revision = Number(
            JSON.parse((await run(requireTool("etcdutl"), ["snapshot", "status", snapshotPath, "-w", "json"])).stdout).revision,
        );
        const stamp = new Date()
            .toISOString()
            .replace(/[-:]/g, "")
            .replace(/\.\d+Z$/, "Z");
        const base = `etcd-snapshot-${stamp}-rev${revision}`;
        const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");
        const staging = fs.mkdtempSync(path.join(workDir, "staging-"));
        fs.writeFileSync(path.join(staging, `${base}.db.gz`), gz);
        fs.writeFileSync(
            path.join(staging, `${base}.json`),
            JSON.stringify({
                cluster: "bench",
                object: `${base}.db.gz`,
                revision,
                size: gz.length,
                sha256: sha(gz),
                snapshotSize: raw.length,
                snapshotSha256: sha(raw),
                compression: "gzip",
                encrypted: false,
            }),
        );
        fs.writeFileSync(path.join(staging, `${base}.db.gz.sha256`), `${sha(gz)}  ${base}.db.gz\n`);
        await s3.rclone(["copy", staging, `minio:${s3.bucket}/etcd-backup/bench`]);
        fs.rmSync(staging, { recursive: true, force: true });
        const start = Date.now();
        const fetched = await fetchSnapshotFromStore({
            store: {
                s3: {
                    endpoint: s3.endpoint,
                    bucket: s3.bucket,
                    accessKeyId: s3.accessKeyId,
                    secretAccessKey: s3.secretAccessKey,
                    provider: "Minio",
                },
            },
            cluster: "bench",
            dir: path.join(workDir, "fetched"),
        });
        const fetchMs = Date.now() - start;
        if (fetched.snapshotSha256 !== sha(raw)) throw new Error("the fetched snapshot differs from the original");
        fs.rmSync(fetched.path);
        return { fetchMs, objectBytes: gz.length, stopMinio: () => fixture.cleanup() };
    } catch (error) {
        await fixture.cleanup();
        throw error;
    }
}

export async function benchRecovery(): Promise<void> {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE, KUBE_APISERVER_IMAGE);
    if (!fs.existsSync(KUBECTL))
        throw new Error(`kubectl not found at ${KUBECTL}: run bash scripts/setup (it builds kubectl) or set KUBECTL`);
    const etcdctl = requireTool("etcdctl");
    await removeByLabel(RUN_ID);
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-recovery-"));
    const realized: RealizedPlan[] = [];
    let production: KubeApi | undefined;
    let stopMinio: (() => Promise<void>) | undefined;
    try {
        production = await startKubeApi();
        const fillMs = await fill(production);
        const snapshotPath = path.join(workDir, "snapshot.db");
        const e = production.etcd.files;
        const saveStart = Date.now();
        await run(
            etcdctl,
            [
                `--endpoints=${production.etcd.endpoints[0]}`,
                `--cacert=${e.caFile}`,
                `--cert=${e.certFile}`,
                `--key=${e.keyFile}`,
                "snapshot",
                "save",
                snapshotPath,
            ],
            { timeoutMs: 600_000 },
        );
        const saveMs = Date.now() - saveStart;
        const original = describeProduction(production);
        await production.stop(); // the measured runs get the machine to themselves
        production = undefined;
        const size = fs.statSync(snapshotPath).size;
        const status = JSON.parse((await run(requireTool("etcdutl"), ["snapshot", "status", snapshotPath, "-w", "json"])).stdout) as {
            totalKey: number;
            revision: number;
        };
        console.log(
            `recovery.snapshot        ${(size / MiB).toFixed(1)} MiB, ${status.totalKey} keys, ${OBJECTS} ConfigMaps of ${VALUE_BYTES} B  ` +
                `(fill through kube-apiserver, ${FILL_CONCURRENCY} parallel POSTs: ${seconds(fillMs)}, ${Math.round(OBJECTS / (fillMs / 1000))}/s; snapshot save ${seconds(saveMs)})`,
        );

        const floors: Timed[] = [];
        const ours: Timed[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
            if (round % 2 === 1) {
                floors.push(await measureFloor(original, snapshotPath, round, realized));
                ours.push(await measureOurs(original, snapshotPath, round, workDir, realized));
            } else {
                ours.push(await measureOurs(original, snapshotPath, round, workDir, realized));
                floors.push(await measureFloor(original, snapshotPath, round, realized));
            }
            const f = floors[round - 1]!;
            const o = ours[round - 1]!;
            const steps = (t: Timed) => t.steps.map(([n, ms]) => `${n} ${seconds(ms)}`).join(", ");
            console.log(`  round ${round}: floor ${seconds(f.totalMs)} (${steps(f)})`);
            console.log(`  round ${round}: ours  ${seconds(o.totalMs)} (${steps(o)})  ratio ${(o.totalMs / f.totalMs).toFixed(2)}×`);
        }
        const floorMs = median(floors.map((t) => t.totalMs));
        const oursMs = median(ours.map((t) => t.totalMs));
        const ratio = median(ours.map((o, i) => o.totalMs / floors[i]!.totalMs));
        const verdict = (ok: boolean) => (ok ? "ok" : "MISSED");
        console.log(
            `recovery.rto.floor       ${seconds(floorMs)}  (median of ${ROUNDS}: etcdutl snapshot restore + etcd + kube-apiserver /readyz)`,
        );
        console.log(
            `recovery.rto.ours        ${seconds(oursMs)}  (median of ${ROUNDS}: snapshot → exported YAML)  ratio ${ratio.toFixed(2)}× (median of the rounds' ratios; ` +
                `ratio of the medians ${(oursMs / floorMs).toFixed(2)}×) (target ≤ ${RATIO_TARGET}× ${verdict(ratio <= RATIO_TARGET)}; < ${seconds(TIME_TARGET_MS)} ${verdict(oursMs < TIME_TARGET_MS)})`,
        );

        const store = await measureStore(snapshotPath, workDir);
        stopMinio = store.stopMinio;
        console.log(
            `recovery.store.fetch     ${seconds(store.fetchMs)}  (${(store.objectBytes / MiB).toFixed(1)} MiB .db.gz from MinIO: list, sidecar, download + gunzip + sha256, verify; from the store the RTO is ≈ ${seconds(oursMs + store.fetchMs)})`,
        );
    } finally {
        for (const live of realized) await live.destroy().catch(() => undefined);
        await removeByLabel(RUN_ID);
        await stopMinio?.().catch(() => undefined);
        await production?.stop();
        fs.rmSync(workDir, { recursive: true, force: true });
    }
}

if (require.main === module) {
    benchRecovery().catch((error: unknown) => {
        console.error(error instanceof Error ? error.stack : error);
        process.exit(1);
    });
}

// Real runs of the rendered EtcdBackup pod: its init containers and container
// run in Docker (test/support/pod-to-docker.ts) with the same images, commands,
// env, mounts and Secret/ConfigMap contents, against a real 1-member TLS etcd
// holding data, storing to a host directory (hostPath) and a real S3 server
// (MinIO on 127.0.0.1). The pod runs with hostNetwork, as the CronJob does, and
// reaches etcd at https://127.0.0.1:<published client port>.
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { EtcdBackupPlan, EtcdBackupPlanInput, planEtcdBackup } from "../../src/backup/plan";
import { RealizedPlan, dockerAvailable, realizePlan, removeByLabel, uniqueRunId, withFreeSubnet } from "../harness/docker";
import { run } from "../harness/exec";
import { ETCD_35_IMAGE, UPLOADER_IMAGE, requireImages } from "../support/images";
import { K8sPodSpec, PodRun, expectPodFailed, runPod } from "../support/pod-to-docker";
import { ManagedProcess, freePorts, startProcess, waitFor } from "../support/processes";
import {
    BIN,
    expectSucceeded,
    planIssuedEtcdCluster,
    reportedObject,
    restoreAndRead,
    snapshotStatus,
    writeKubeadmClientCerts,
} from "../support/backup-fixture";
import { ProxyFault, startFaultProxy } from "../support/fault-proxy";

const RUN_PREFIX = "it-backup";
const ETCD_RUN_ID = uniqueRunId("it-backup-etcd");

let workDir: string;
let etcd: RealizedPlan;
let etcdPort: number;
let etcdctl: (args: string[]) => Promise<string>;
let certDir: string;
let minio: ManagedProcess;
let s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; bucket: string; hostRcloneConfig: string };
const runIds: string[] = [];
const liveRuns: RealizedPlan[] = [];
let runCounter = 0;

/** Host rclone; AWS_CA_BUNDLE (set on some machines) breaks rclone 1.60's S3 client, and MinIO here is plain HTTP. */
function rclone(args: string[]): Promise<string> {
    const env = { ...process.env };
    delete env.AWS_CA_BUNDLE;
    return run("rclone", ["--config", s3.hostRcloneConfig, ...args], { env }).then((r) => r.stdout);
}

function baseInput(storage: EtcdBackupPlanInput["storage"], overrides: Partial<EtcdBackupPlanInput> = {}): EtcdBackupPlanInput {
    return {
        name: "etcd-backup",
        clusterName: "it-prod",
        schedule: "0 */6 * * *",
        endpoints: [`https://127.0.0.1:${etcdPort}`],
        certificates: { preset: "kubeadm" },
        storage,
        etcdImage: ETCD_35_IMAGE,
        uploaderImage: UPLOADER_IMAGE,
        ...overrides,
    };
}

/** Runs the CronJob's pod once, as the Job controller would start it. */
async function runBackup(plan: EtcdBackupPlan, storeDir?: string): Promise<PodRun> {
    const runId = `${RUN_PREFIX}-${process.pid}-${++runCounter}`;
    runIds.push(runId);
    const pod = (plan.cronJob as any).spec.jobTemplate.spec.template.spec as K8sPodSpec;
    const secrets: Record<string, Record<string, string>> = { [plan.storeSecret.metadata.name]: plan.storeSecret.stringData };
    if (plan.etcdClientSecret) secrets[plan.etcdClientSecret.metadata.name] = plan.etcdClientSecret.stringData;
    const result = await runPod(
        pod,
        {
            secrets,
            configMaps: { [plan.scriptConfigMap.metadata.name]: plan.scriptConfigMap.data },
            hostPaths: { "/etc/kubernetes/pki/etcd": certDir, ...(storeDir ? { "/var/backups/etcd": storeDir } : {}) },
            fieldValues: { "spec.nodeName": "cp-1" },
        },
        `${runId}`,
        runId,
    );
    if (result.succeeded) liveRuns.push(result.live);
    return result;
}

/** Fault injection: an init container (uploader image) that cuts the saved snapshot to 8 KiB, once `afterFile` (in the work volume) exists. */
function truncateSnapshot(name: string, afterFile?: string): Record<string, unknown> {
    const wait = afterFile ? `until [ -e ${afterFile} ]; do sleep 0.2; done && ` : "";
    return {
        name,
        image: UPLOADER_IMAGE,
        command: ["/bin/sh", "-c", `cd /var/lib/etcd-backup && ${wait}head -c 8192 snapshot.db > t && mv t snapshot.db`],
        volumeMounts: [{ name: "work", mountPath: "/var/lib/etcd-backup" }],
    };
}

/** S3 store input for `prefix` in the bucket, at `endpoint` (default MinIO itself). */
function s3Input(
    prefix: string,
    overrides: Partial<EtcdBackupPlanInput> = {},
    endpoint = s3.endpoint,
    secretAccessKey = s3.secretAccessKey,
): EtcdBackupPlanInput {
    return baseInput(
        { s3: { endpoint, bucket: s3.bucket, accessKeyId: s3.accessKeyId, secretAccessKey } },
        { keep: 1, compression: "none", prefix, ...overrides },
    );
}

/**
 * A store of the test's own (`prefix` in the bucket, used by no other test) holding one sealed backup made
 * by a real run straight to MinIO. `expectUnchanged()` checks every file it held (the sealed
 * object, its sidecar and metadata, latest.json) is still there with the same bytes, and that
 * nothing new was sealed.
 */
async function storeWithSealedBackup(prefix: string): Promise<{ expectUnchanged(): Promise<void> }> {
    const dir = `minio:${s3.bucket}/${prefix}/it-prod`;
    const hashes = async () =>
        new Map(
            (await rclone(["hashsum", "sha256", "--download", dir]))
                .split("\n")
                .filter(Boolean)
                .map((line) => line.split(/\s+/, 2).reverse() as [string, string]),
        );
    expectSucceeded(await runBackup(planEtcdBackup(s3Input(prefix))));
    const before = await hashes();
    expect([...before.keys()].filter((f) => f.endsWith(".sha256") || f === "latest.json")).toHaveLength(2);
    expect(before.size).toBe(4);
    return {
        expectUnchanged: async () => {
            const after = await hashes();
            for (const [name, hash] of before) expect([name, after.get(name)]).toEqual([name, hash]);
            expect([...after.keys()].filter((f) => !before.has(f) && (f.endsWith(".sha256") || f === "latest.json"))).toEqual([]);
        },
    };
}

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE, UPLOADER_IMAGE);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-it-"));

    // A real 1-member TLS etcd, client port published on 127.0.0.1 only.
    [etcdPort] = await freePorts(1);
    // This run's own names and a free test subnet: a second run on the machine never collides with this one.
    const planFor = (subnet: string) =>
        planIssuedEtcdCluster({
            clusterName: ETCD_RUN_ID,
            size: 1,
            network: { mode: "bridge", subnet },
            image: ETCD_35_IMAGE,
            publishClientPorts: { ip: "127.0.0.1", firstHostPort: etcdPort! },
        });
    const { pki } = await withFreeSubnet(async (subnet) => {
        const planned = planFor(subnet);
        etcd = await realizePlan(planned.cluster.plan, { runId: ETCD_RUN_ID, waitHealthy: true, timeoutMs: 120_000 });
        return planned;
    });

    // The kubeadm layout on a control-plane node: /etc/kubernetes/pki/etcd.
    certDir = writeKubeadmClientCerts(workDir, pki);
    const tls = [
        `--cacert=${path.join(certDir, "ca.crt")}`,
        `--cert=${path.join(certDir, "healthcheck-client.crt")}`,
        `--key=${path.join(certDir, "healthcheck-client.key")}`,
    ];
    etcdctl = async (args) =>
        (await run(BIN.etcdctl, [`--endpoints=https://127.0.0.1:${etcdPort}`, "--command-timeout=10s", ...tls, ...args])).stdout;
    await etcdctl(["put", "/registry/configmaps/default/backup-probe", "seed-001"]);
    for (let i = 0; i < 40; i++) await etcdctl(["put", `/registry/secrets/default/s${i}`, randomBytes(200).toString("hex")]);

    // A real S3 server on 127.0.0.1 with random credentials.
    const [s3Port, consolePort] = await freePorts(2);
    const minioDir = fs.mkdtempSync(path.join(workDir, "minio-"));
    const accessKeyId = `ak${randomBytes(8).toString("hex")}`;
    const secretAccessKey = `sk${randomBytes(18).toString("hex")}`;
    minio = startProcess({
        name: "minio",
        command: BIN.minio,
        args: ["server", path.join(minioDir, "data"), "--address", `127.0.0.1:${s3Port}`, "--console-address", `127.0.0.1:${consolePort}`],
        logFile: path.join(minioDir, "minio.log"),
        env: { ...process.env, MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey, MINIO_BROWSER: "off" },
    });
    const hostRcloneConfig = path.join(minioDir, "rclone.conf");
    fs.writeFileSync(
        hostRcloneConfig,
        `[minio]\ntype = s3\nprovider = Minio\naccess_key_id = ${accessKeyId}\nsecret_access_key = ${secretAccessKey}\nendpoint = http://127.0.0.1:${s3Port}\nregion = us-east-1\nforce_path_style = true\n`,
        { mode: 0o600 },
    );
    s3 = { endpoint: `http://127.0.0.1:${s3Port}`, accessKeyId, secretAccessKey, bucket: "etcd-backups", hostRcloneConfig };
    await waitFor("minio serves S3", async () => (await rclone(["mkdir", `minio:${s3.bucket}`]), true), {
        deadlineMs: 60_000,
        aborted: () => (minio.isRunning() ? undefined : "minio exited"),
        describe: () => minio.logTail(),
    });
}, 240_000);

afterAll(async () => {
    for (const live of liveRuns) await live.destroy();
    for (const id of runIds) await removeByLabel(id);
    await etcd?.destroy();
    await removeByLabel(ETCD_RUN_ID);
    await minio?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
});

describe("EtcdBackup pod on real etcd 3.5, in Docker", () => {
    test("hostPath store, gzip: uploads a verified snapshot that restores and holds the data", async () => {
        const storeDir = fs.mkdtempSync(path.join(workDir, "store-"));
        const plan = planEtcdBackup(baseInput({ hostPath: { path: "/var/backups/etcd" } }, { keep: 3, compression: "gzip" }));
        const result = await runBackup(plan, storeDir);
        expectSucceeded(result);

        const object = reportedObject(result);
        expect(object).toMatch(/^etcd-snapshot-\d{8}T\d{6}Z-rev\d+\.db\.gz$/);
        const dir = path.join(storeDir, "etcd-backup", "it-prod");
        const base = object.replace(/\.db\.gz$/, "");
        expect(fs.readdirSync(dir).sort()).toEqual([`${base}.json`, object, `${object}.sha256`, "latest.json"].sort());

        // The sidecar is sha256sum -c format and matches the stored bytes.
        const stored = fs.readFileSync(path.join(dir, object));
        const sha = (await run("sha256sum", [path.join(dir, object)])).stdout.split(" ")[0];
        expect(fs.readFileSync(path.join(dir, `${object}.sha256`), "utf8")).toBe(`${sha}  ${object}\n`);

        // Decompress, then etcdutl agrees with the revision in the name and the metadata.
        const dbFile = path.join(workDir, `${base}.db`);
        fs.writeFileSync(dbFile, zlib.gunzipSync(stored));
        const status = await snapshotStatus(dbFile);
        expect(object).toContain(`-rev${status.revision}.db`);
        const metadata = JSON.parse(fs.readFileSync(path.join(dir, `${base}.json`), "utf8"));
        expect(metadata).toMatchObject({
            cluster: "it-prod",
            object,
            revision: status.revision,
            size: stored.length,
            sha256: sha,
            compression: "gzip",
            node: "cp-1",
            etcdImage: ETCD_35_IMAGE,
        });
        expect(metadata.snapshotSize).toBe(fs.statSync(dbFile).size);
        // The marker names the sealed backup, with the time in its name.
        const latest = JSON.parse(fs.readFileSync(path.join(dir, "latest.json"), "utf8"));
        expect(latest).toEqual({
            cluster: "it-prod",
            object,
            revision: status.revision,
            sha256: sha,
            createdAt: base.slice("etcd-snapshot-".length, -`-rev${status.revision}`.length),
            sealedAt: expect.stringMatching(/^\d{8}T\d{6}Z$/),
        });

        expect(await restoreAndRead(workDir, dbFile, "/registry/configmaps/default/backup-probe")).toBe("seed-001");

        // Every step logged; the verify init container's etcdutl JSON is in its log.
        // The transfer sidecar uploads and reads back; "upload" seals after verify and applies retention.
        for (const step of ["inspect", "prepare", "upload", "verify", "idle"])
            expect(result.logs.transfer).toMatch(new RegExp(`step=${step} `));
        for (const step of ["wait", "seal", "retention", "done"]) expect(result.logs.upload).toMatch(new RegExp(`step=${step} `));
        expect(JSON.parse(result.logs.verify!.trim().split("\n").pop()!).revision).toBe(status.revision);
    });

    test("S3 (MinIO): N+3 runs keep exactly the newest N, every one verified; no credential in env, command line, logs or ConfigMap", async () => {
        const keep = 2;
        const plan = planEtcdBackup(
            baseInput(
                {
                    s3: {
                        endpoint: s3.endpoint,
                        bucket: s3.bucket,
                        region: "us-east-1",
                        accessKeyId: s3.accessKeyId,
                        secretAccessKey: s3.secretAccessKey,
                        prefix: undefined,
                    } as any,
                },
                { keep, compression: "none", prefix: "nightly" },
            ),
        );
        const made: string[] = [];
        const timings: number[] = [];
        for (let i = 0; i < keep + 3; i++) {
            await etcdctl(["put", "/registry/configmaps/default/run", `run-${i}`]);
            const result = await runBackup(plan);
            expectSucceeded(result);
            timings.push(result.durationMs);
            made.push(reportedObject(result));
            // Names carry a one-second timestamp: keep runs in distinct seconds.
            await new Promise((r) => setTimeout(r, 1100));

            for (const spec of result.plan.containers) {
                const inspect = await result.live.inspect(spec.name);
                const visible = JSON.stringify([
                    inspect.Config.Env,
                    inspect.Config.Cmd,
                    inspect.Config.Entrypoint,
                    inspect.Args,
                    inspect.Path,
                ]);
                expect(visible).not.toContain(s3.secretAccessKey);
                expect(visible).not.toContain(s3.accessKeyId);
            }
            const allLogs = Object.values(result.logs).join("\n");
            expect(allLogs).not.toContain(s3.secretAccessKey);
            expect(allLogs).not.toContain(s3.accessKeyId);
        }
        console.log(`backup pod run times (ms): ${timings.join(", ")}`);
        expect(JSON.stringify(plan.scriptConfigMap)).not.toContain(s3.secretAccessKey);
        expect(JSON.stringify(plan.cronJob)).not.toContain(s3.secretAccessKey);

        const listing = (await rclone(["lsf", `minio:${s3.bucket}/nightly/it-prod`])).split("\n").filter(Boolean).sort();
        const newest = made.slice(-keep);
        expect(listing).toEqual([...newest.flatMap((o) => [o.replace(/\.db$/, ".json"), o, `${o}.sha256`]), "latest.json"].sort());
        expect(JSON.parse(await rclone(["cat", `minio:${s3.bucket}/nightly/it-prod/latest.json`])).object).toBe(newest[keep - 1]);

        // The newest one restores and holds the last write.
        const local = path.join(workDir, newest[keep - 1]!);
        await rclone(["copyto", `minio:${s3.bucket}/nightly/it-prod/${newest[keep - 1]}`, local]);
        expect(await restoreAndRead(workDir, local, "/registry/configmaps/default/run")).toBe(`run-${keep + 2}`);
    });

    test("wrong S3 credentials: the run fails at step=upload and deletes nothing", async () => {
        const store = await storeWithSealedBackup("wrong-credentials");
        const result = await runBackup(planEtcdBackup(s3Input("wrong-credentials", {}, s3.endpoint, "wrong-secret-0123456789")));
        expectPodFailed(result);
        expect(result.failedContainer).toBe("upload");
        expect(result.output).toMatch(
            /step=upload error="upload of etcd-snapshot-\S+ to s3:\/\/etcd-backups\/wrong-credentials\/it-prod failed"/,
        );
        expect(result.output).not.toContain("wrong-secret-0123456789");
        await store.expectUnchanged();
    });

    test("store unreachable: the run fails at step=upload and the store keeps its backups", async () => {
        // The same bucket and prefix as the store's, at a port where nothing listens.
        const store = await storeWithSealedBackup("unreachable");
        const [closedPort] = await freePorts(1);
        const started = Date.now();
        const result = await runBackup(planEtcdBackup(s3Input("unreachable", {}, `http://127.0.0.1:${closedPort}`)));
        expectPodFailed(result);
        expect(result.failedContainer).toBe("upload");
        expect(result.output).toMatch(
            /step=upload error="upload of etcd-snapshot-\S+ to s3:\/\/etcd-backups\/unreachable\/it-prod failed"/,
        );
        expect(result.output).toMatch(/connection refused/);
        expect(result.output).not.toMatch(/step=(seal|marker|retention) /);
        console.log(`unreachable store: failed after ${Date.now() - started} ms`);
        await store.expectUnchanged();
    });

    test.each<[ProxyFault]>([["hang"], ["die"]])(
        'store fault "%s" mid-upload: the run fails at step=upload in bounded time; nothing sealed, nothing deleted, latest.json unchanged',
        async (fault) => {
            // A store of its own, holding one sealed backup made straight to MinIO.
            const prefix = `fault-${fault}`;
            const store = await storeWithSealedBackup(prefix);
            // Big enough that the fault comes in the middle of the snapshot's upload.
            for (let i = 0; i < 8; i++)
                await etcdctl(["put", `/registry/configmaps/default/${prefix}-${i}`, randomBytes(50_000).toString("hex")]);

            const proxy = await startFaultProxy({ host: "127.0.0.1", port: Number(new URL(s3.endpoint).port) }, fault, 200_000);
            try {
                const started = Date.now();
                const result = await runBackup(
                    planEtcdBackup(
                        s3Input(
                            prefix,
                            { storeTimeouts: { connectSeconds: 2, ioSeconds: 4, retries: 1 } },
                            `http://127.0.0.1:${proxy.port}`,
                        ),
                    ),
                );
                const seconds = (Date.now() - started) / 1000;
                expect(proxy.tripped()).toBe(true);
                expectPodFailed(result);
                expect(result.failedContainer).toBe("upload");
                expect(result.output).toMatch(
                    /step=upload error="upload of etcd-snapshot-\S+ to s3:\/\/etcd-backups\/fault-\w+\/it-prod failed"/,
                );
                expect(result.output).not.toMatch(/step=(seal|marker|retention)/);
                console.log(`store that ${fault}s after ${proxy.forwarded()} bytes: the run failed after ${seconds.toFixed(1)} s`);
                expect(seconds).toBeLessThan(120);
            } finally {
                await proxy.close();
            }
            // The store as it was: the old backup sealed and intact, no new sidecar, the marker naming the old one.
            await store.expectUnchanged();
        },
    );

    test("etcd unreachable: the snapshot init container fails, nothing is uploaded", async () => {
        const storeDir = fs.mkdtempSync(path.join(workDir, "store-"));
        const [closedPort] = await freePorts(1);
        const plan = planEtcdBackup(
            baseInput(
                { hostPath: { path: "/var/backups/etcd" } },
                { endpoints: [`https://127.0.0.1:${closedPort}`], snapshotTimeoutSeconds: 10 },
            ),
        );
        const result = await runBackup(plan, storeDir);
        expectPodFailed(result);
        expect(result.failedContainer).toBe("snapshot");
        // etcdctl 3.5 does not fail on a refused dial: it gives up at --command-timeout.
        expect(result.output).toMatch(/connection refused[\s\S]*context deadline exceeded/);
        expect(fs.readdirSync(storeDir)).toEqual([]);
    });

    /** A host-directory store holding one sealed backup from earlier, and what it lists. */
    function storeWithOldBackup(): { storeDir: string; dir: string; before: string[] } {
        const storeDir = fs.mkdtempSync(path.join(workDir, "store-"));
        const dir = path.join(storeDir, "etcd-backup", "it-prod");
        fs.mkdirSync(dir, { recursive: true });
        const old = "etcd-snapshot-20240101T000000Z-rev7.db.gz";
        fs.writeFileSync(path.join(dir, old), "old backup");
        fs.writeFileSync(path.join(dir, `${old}.sha256`), `0  ${old}\n`);
        return { storeDir, dir, before: fs.readdirSync(dir).sort() };
    }

    test.each<[boolean]>([[true], [false]])(
        "truncated snapshot (sidecarUpload %s): etcdutl snapshot status fails the verify init container; nothing sealed, nothing deleted",
        async (sidecarUpload) => {
            const { storeDir, dir, before } = storeWithOldBackup();
            const plan = planEtcdBackup(baseInput({ hostPath: { path: "/var/backups/etcd" } }, { keep: 1, sidecarUpload }));
            // Fault injection: one extra init container (uploader image) cuts the saved snapshot short
            // right after the real snapshot, before the sidecar and the real verify container.
            const pod = (plan.cronJob as any).spec.jobTemplate.spec.template.spec;
            pod.initContainers.splice(1, 0, truncateSnapshot("truncate"));
            const result = await runBackup(plan, storeDir);
            expectPodFailed(result);
            expect(result.failedContainer).toBe("verify");
            if (!sidecarUpload) expect(fs.readdirSync(dir).sort()).toEqual(before); // nothing uploaded at all
            expect(fs.readdirSync(dir).filter((f) => f.endsWith(".sha256"))).toEqual(before.filter((f) => f.endsWith(".sha256")));
            expect(fs.readdirSync(dir).filter((f) => before.includes(f))).toEqual(before);
        },
    );

    test("sidecar uploaded and read back, then etcdutl snapshot status fails: the pod fails at verify, the upload stays unsealed, nothing deleted", async () => {
        const { storeDir, dir, before } = storeWithOldBackup();
        const plan = planEtcdBackup(baseInput({ hostPath: { path: "/var/backups/etcd" } }, { keep: 1 }));
        // Fault injection between the sidecar and verify: once the sidecar has uploaded and read
        // back the good snapshot, the local file is damaged, so the check that gates sealing fails.
        const pod = (plan.cronJob as any).spec.jobTemplate.spec.template.spec;
        expect(pod.initContainers.map((c: any) => c.name)).toEqual(["snapshot", "transfer", "verify"]);
        pod.initContainers.splice(2, 0, truncateSnapshot("damage-after-upload", "backup-state.env"));
        const result = await runBackup(plan, storeDir);
        expectPodFailed(result);
        expect(result.failedContainer).toBe("verify");
        const after = fs.readdirSync(dir).sort();
        const added = after.filter((f) => !before.includes(f));
        expect(added.some((f) => /\.db$/.test(f))).toBe(true); // the sidecar did upload
        expect(added.filter((f) => f.endsWith(".sha256"))).toEqual([]); // never sealed: it never counts as good
        expect(added).not.toContain("latest.json"); // and the marker never names it
        expect(after.filter((f) => before.includes(f))).toEqual(before); // the old good backup is still there
    });
});

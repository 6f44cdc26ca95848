// `npm run bench -- backups`: `etcd-recovery backups find` over N backups of the ~100 MiB / 50k-object
// bench snapshot (bench/snapshot.ts) on a real S3 server (MinIO as a local process), against raw
// `rclone cat` of the same objects to /dev/null (and `rclone cat | gzip -dc`, since find must also
// decompress what it downloads): find must be bounded by the download.
//   target: find / raw cat ratio reported (the issue asks for "bounded by download time"), peak RSS < 256 MiB
// Between backups one ConfigMap is rewritten, so find has a change to report. The backups are laid
// out as the uploader writes them (test/unit/backups-fixture.ts). find runs in a child process (its
// ts-node start-up excluded) so the peak RSS printed is its own.
// Knobs: BENCH_BACKUPS_COUNT (10), and bench/snapshot.ts's BENCH_SNAPSHOT_OBJECTS / _VALUE_BYTES.
//   run alone: npx ts-node --transpile-only bench/backups.ts
import { execFile, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MEMORY_TARGET_MIB, runInstalledCli } from "./installed-cli";
import { runBackups } from "../src/cli/backups";
import { BackupFixture } from "../test/support/backup-fixture";
import { writeBackup } from "../test/unit/backups-fixture";
import { makeSnapshotEtcd } from "./snapshot";

const COUNT = Number(process.env.BENCH_BACKUPS_COUNT ?? 10);
const ROOT = path.join(__dirname, "..");
const MiB = 1024 * 1024;
const TARGET = "/registry/configmaps/bench-0/cm-000000";

interface Measured {
    ms: number;
    code: number;
    rows: number;
    changed: number;
    maxRssMiB: number;
    startRssMiB: number;
}

/** In the child: one `backups find` as the CLI runs it. */
async function measure(storeFile: string): Promise<Measured> {
    const startRssMiB = process.memoryUsage().rss / MiB;
    let stdout = "";
    const start = process.hrtime.bigint();
    const code = await runBackups(
        ["find", "--store", storeFile, "--cluster", "bench", "--kind", "configmaps", "-n", "bench-0", "--name", "cm-000000", "-o", "json"],
        {
            stdout: (t) => (stdout += t),
            stderr: () => undefined,
        },
    );
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const report = JSON.parse(stdout) as { backups: { changed?: boolean }[] };
    return {
        ms,
        code,
        rows: report.backups.length,
        changed: report.backups.filter((b) => b.changed).length,
        maxRssMiB: process.resourceUsage().maxRSS / 1024,
        startRssMiB,
    };
}

function measureInChild(storeFile: string): Promise<Measured> {
    const tsNode = path.join(ROOT, "node_modules", ".bin", "ts-node");
    return new Promise((resolve, reject) => {
        execFile(
            tsNode,
            ["--transpile-only", "bench/backups.ts", "--measure", storeFile],
            { cwd: ROOT, timeout: 1_800_000 },
            (error, stdout, stderr) => {
                if (error) reject(new Error(`measuring child failed: ${error.message}\n${stderr}`));
                else resolve(JSON.parse(String(stdout).trim().split("\n").pop()!) as Measured);
            },
        );
    });
}

/** `rclone cat` of one object to /dev/null: the raw download. */
function rawCat(config: string, remote: string): Promise<void> {
    const env = { ...process.env };
    delete env.AWS_CA_BUNDLE;
    return new Promise((resolve, reject) => {
        const devNull = fs.openSync("/dev/null", "w");
        const child = spawn("rclone", ["--config", config, "cat", remote], { env, stdio: ["ignore", devNull, "pipe"] });
        let stderr = "";
        child.stderr!.on("data", (c) => (stderr += c));
        child.on("error", reject);
        child.on("close", (code) => {
            fs.closeSync(devNull);
            if (code === 0) resolve();
            else reject(new Error(`rclone cat ${remote}: exit ${code}: ${stderr}`));
        });
    });
}

/** `rclone cat | gzip -dc > /dev/null`: the download and the decompression with the standard tools. */
function rawCatGunzip(config: string, remote: string): Promise<void> {
    const env = { ...process.env };
    delete env.AWS_CA_BUNDLE;
    return new Promise((resolve, reject) => {
        const child = spawn(
            "bash",
            ["-o", "pipefail", "-c", 'rclone --config "$1" cat "$2" | gzip -dc > /dev/null', "raw", config, remote],
            { env, stdio: ["ignore", "ignore", "inherit"] },
        );
        child.on("error", reject);
        child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`rclone cat | gzip -dc ${remote}: exit ${code}`))));
    });
}

export async function benchBackups(): Promise<void> {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-backups-"));
    const fixture = new BackupFixture("bench-backups", workDir);
    const etcd = await makeSnapshotEtcd();
    try {
        const s3 = await fixture.startMinio("etcd-backups");
        const staging = path.join(workDir, "staging");
        const objects: string[] = [];
        const now = Date.now();
        let bytes = 0;
        for (let i = 0; i < COUNT; i++) {
            const revision = await etcd.etcd.put(
                TARGET,
                JSON.stringify({
                    apiVersion: "v1",
                    kind: "ConfigMap",
                    metadata: { name: "cm-000000", namespace: "bench-0" },
                    data: { round: String(i) },
                }),
            );
            const file = path.join(workDir, "snapshot.db");
            await etcd.etcd.snapshotSave(file);
            const made = writeBackup({
                dir: staging,
                snapshotFile: file,
                revision,
                at: new Date(now - (COUNT - i) * 3600_000),
                cluster: "bench",
            });
            objects.push(made.object);
            bytes += fs.statSync(made.file).size;
            fs.rmSync(file);
        }
        await s3.rclone(["copy", staging, `minio:${s3.bucket}/etcd-backup/bench`]);
        fs.rmSync(staging, { recursive: true, force: true });
        console.log(
            `backups.store            ${COUNT} backups of the bench snapshot (${etcd.objects} ConfigMaps), ${(bytes / MiB).toFixed(0)} MiB gzip on MinIO (fill ${(etcd.fillMs / 1000).toFixed(1)} s)`,
        );

        const rawStart = Date.now();
        for (const object of objects) await rawCat(s3.rcloneConfig, `minio:${s3.bucket}/etcd-backup/bench/${object}`);
        const rawMs = Date.now() - rawStart;
        const gunzipStart = Date.now();
        for (const object of objects) await rawCatGunzip(s3.rcloneConfig, `minio:${s3.bucket}/etcd-backup/bench/${object}`);
        const rawGunzipMs = Date.now() - gunzipStart;

        const storeFile = path.join(workDir, "store.json");
        fs.writeFileSync(
            storeFile,
            JSON.stringify({
                s3: {
                    endpoint: s3.endpoint,
                    bucket: s3.bucket,
                    accessKeyId: s3.accessKeyId,
                    secretAccessKey: s3.secretAccessKey,
                    provider: "Minio",
                },
            }),
            { mode: 0o600 },
        );
        const m = await measureInChild(storeFile);
        if (m.code !== 0 || m.rows !== COUNT || m.changed !== COUNT - 1)
            throw new Error(`backups find exited ${m.code} with ${m.rows} rows, ${m.changed} changed (expected 0, ${COUNT}, ${COUNT - 1})`);
        console.log(
            `backups.raw-rclone-cat   ${(rawMs / 1000).toFixed(2)} s for the ${COUNT} objects to /dev/null (${(bytes / MiB / (rawMs / 1000)).toFixed(0)} MiB/s)`,
        );
        console.log(
            `backups.raw-cat-gunzip   ${(rawGunzipMs / 1000).toFixed(2)} s for rclone cat | gzip -dc > /dev/null of the same objects`,
        );
        console.log(
            `backups.find             ${(m.ms / 1000).toFixed(2)} s (download + gunzip + hash + read each once): ${(m.ms / rawMs).toFixed(2)}x raw rclone cat, ` +
                `${(m.ms / rawGunzipMs).toFixed(2)}x rclone cat | gzip -dc; ` +
                `peak RSS ${m.maxRssMiB.toFixed(0)} MiB (${m.startRssMiB.toFixed(0)} MiB before: node + ts-node)`,
        );
        const cli = await runInstalledCli([
            "backups",
            "find",
            "--store",
            storeFile,
            "--cluster",
            "bench",
            "--kind",
            "configmaps",
            "-n",
            "bench-0",
            "--name",
            "cm-000000",
        ]);
        console.log(
            `backups.find-installed   ${(cli.wallMs / 1000).toFixed(2)} s, node start-up included (compiled bin/cli/recovery.js)  ` +
                `peak RSS ${cli.maxRssMiB.toFixed(0)} MiB (target < ${MEMORY_TARGET_MIB} MiB: ${cli.maxRssMiB < MEMORY_TARGET_MIB ? "met" : "MISSED"})`,
        );
    } finally {
        await etcd.stop();
        await fixture.cleanup();
        fs.rmSync(workDir, { recursive: true, force: true });
    }
}

if (require.main === module) {
    const [flag, file] = process.argv.slice(2);
    const job = flag === "--measure" ? measure(file!).then((m) => console.log(JSON.stringify(m))) : benchBackups();
    job.catch((error: unknown) => {
        console.error(error instanceof Error ? error.stack : error);
        process.exit(1);
    });
}

// `npm run bench -- snapshot`: `etcd-recovery snapshot ls` over a ~100 MiB / 50k-object snapshot,
// read straight from the file (no etcd, no containers).        target < 1 s
// The snapshot is written by the real etcd 3.5 of scripts/tools.sh as a plain local process (JSON
// ConfigMaps of random text, put through etcd's JSON gateway, 32 in flight) and saved with etcdctl.
// ls is timed in a child process (its ts-node start-up excluded) so the peak RSS printed is the
// reader's own: the whole command (hash check + walk + table), and its parts.
// Knobs: BENCH_SNAPSHOT_OBJECTS (50000), BENCH_SNAPSHOT_VALUE_BYTES (1800), BENCH_SNAPSHOT_ROUNDS (5).
//   run alone: npx ts-node --transpile-only bench/snapshot.ts
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { MEMORY_TARGET_MIB, runInstalledCli } from "./installed-cli";
import { runSnapshot } from "../src/cli/snapshot";
import { Snapshot, latestObjects } from "../src/snapshot";
import { run } from "../test/harness/exec";
import { PlainEtcd, startPlainEtcd } from "../test/fixtures/snapshot/live-etcd";
import { requireTool, toolsBinDir } from "../test/support/processes";

const OBJECTS = Number(process.env.BENCH_SNAPSHOT_OBJECTS ?? 50_000);
const VALUE_BYTES = Number(process.env.BENCH_SNAPSHOT_VALUE_BYTES ?? 1800);
const ROUNDS = Number(process.env.BENCH_SNAPSHOT_ROUNDS ?? 5);
const IN_FLIGHT = 32;
const TARGET_MS = 1000;
const ROOT = path.join(__dirname, "..");
const MiB = 1024 * 1024;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (n: number): string => `${n.toFixed(0)} ms`;

interface Measured {
    totalMs: number;
    hashMs: number;
    walkMs: number;
    objects: number;
    stdoutBytes: number;
    code: number;
    maxRssMiB: number;
    /** RSS before ls ran: Node and ts-node, which the peak includes. */
    startRssMiB: number;
}

/** In the child: one `snapshot ls -A` as the CLI runs it, then its hash check and walk alone. */
async function measure(file: string): Promise<Measured> {
    const startRssMiB = process.memoryUsage().rss / MiB;
    let stdoutBytes = 0;
    const start = process.hrtime.bigint();
    const code = await runSnapshot(["ls", file, "-A"], { stdout: (t) => (stdoutBytes += t.length), stderr: () => undefined });
    const totalMs = Number(process.hrtime.bigint() - start) / 1e6;
    const snapshot = Snapshot.open(file);
    const t0 = process.hrtime.bigint();
    snapshot.checkHash();
    const t1 = process.hrtime.bigint();
    const { objects } = latestObjects(snapshot, {});
    const t2 = process.hrtime.bigint();
    snapshot.close();
    return {
        totalMs,
        hashMs: Number(t1 - t0) / 1e6,
        walkMs: Number(t2 - t1) / 1e6,
        objects: objects.length,
        stdoutBytes,
        code,
        maxRssMiB: process.resourceUsage().maxRSS / 1024,
        startRssMiB,
    };
}

function measureInChild(file: string): Promise<Measured> {
    const tsNode = path.join(ROOT, "node_modules", ".bin", "ts-node");
    return new Promise((resolve, reject) => {
        execFile(
            tsNode,
            ["--transpile-only", "bench/snapshot.ts", "--measure", file],
            { cwd: ROOT, timeout: 120_000 },
            (error, stdout, stderr) => {
                if (error) reject(new Error(`measuring child failed: ${error.message}\n${stderr}`));
                else resolve(JSON.parse(String(stdout).trim().split("\n").pop()!) as Measured);
            },
        );
    });
}

/** An etcd 3.5 process filled with the bench's ConfigMaps of random text (through etcd's gateway). */
export async function makeSnapshotEtcd(): Promise<{ etcd: PlainEtcd; fillMs: number; objects: number; stop: () => Promise<void> }> {
    const etcd = await startPlainEtcd(toolsBinDir(), "bench");
    const start = Date.now();
    const names = Array.from({ length: OBJECTS }, (_, i) => `cm-${String(i).padStart(6, "0")}`);
    for (let i = 0; i < names.length; i += IN_FLIGHT) {
        await Promise.all(
            names.slice(i, i + IN_FLIGHT).map((name) =>
                etcd.put(
                    `/registry/configmaps/bench-${Number(name.slice(3)) % 10}/${name}`,
                    `${JSON.stringify({
                        apiVersion: "v1",
                        kind: "ConfigMap",
                        metadata: { name, namespace: `bench-${Number(name.slice(3)) % 10}` },
                        data: {
                            blob: crypto
                                .randomBytes(Math.ceil((VALUE_BYTES * 3) / 4))
                                .toString("base64")
                                .slice(0, VALUE_BYTES),
                        },
                    })}\n`,
                ),
            ),
        );
    }
    return { etcd, fillMs: Date.now() - start, objects: OBJECTS, stop: () => etcd.stop() };
}

/** The bench snapshot file (etcdctl snapshot save of makeSnapshotEtcd's etcd). */
export async function makeSnapshot(): Promise<{ file: string; fillMs: number; stop: () => Promise<void> }> {
    const { etcd, fillMs, stop } = await makeSnapshotEtcd();
    const file = path.join(etcd.dir, "bench.db");
    await etcd.snapshotSave(file);
    return { file, fillMs, stop };
}

export async function benchSnapshot(): Promise<void> {
    const etcdutl = requireTool("etcdutl");
    const { file, fillMs, stop } = await makeSnapshot();
    try {
        const size = fs.statSync(file).size;
        console.log(
            `snapshot.file            ${(size / MiB).toFixed(1)} MiB, ${OBJECTS} ConfigMaps of ${VALUE_BYTES} B (etcd 3.5 fill ${(fillMs / 1000).toFixed(1)} s)`,
        );
        const rounds: Measured[] = [];
        for (let i = 0; i < ROUNDS; i++) rounds.push(await measureInChild(file));
        const bad = rounds.find((r) => r.code !== 0 || r.objects !== OBJECTS);
        if (bad) throw new Error(`snapshot ls exited ${bad.code} with ${bad.objects} objects (expected 0 and ${OBJECTS})`);
        const total = median(rounds.map((r) => r.totalMs));
        console.log(
            `snapshot.ls              median ${ms(total)} (runs ${rounds.map((r) => ms(r.totalMs)).join(", ")}; hash check ${ms(median(rounds.map((r) => r.hashMs)))}, ` +
                `walk ${ms(median(rounds.map((r) => r.walkMs)))}; ${(rounds[0]!.stdoutBytes / MiB).toFixed(1)} MiB table)  peak RSS ${Math.max(...rounds.map((r) => r.maxRssMiB)).toFixed(0)} MiB (${median(rounds.map((r) => r.startRssMiB)).toFixed(0)} MiB before ls: node + ts-node)  ` +
                `(target < ${ms(TARGET_MS)}: ${total < TARGET_MS ? "met" : "MISSED"})`,
        );
        const cli = await runInstalledCli(["snapshot", "ls", file, "-A"]);
        console.log(
            `snapshot.ls-installed    ${ms(cli.wallMs)} wall, node start-up included (compiled bin/cli/recovery.js, ${(cli.stdout.length / MiB).toFixed(1)} MiB table)  ` +
                `peak RSS ${cli.maxRssMiB.toFixed(0)} MiB (target < ${MEMORY_TARGET_MIB} MiB: ${cli.maxRssMiB < MEMORY_TARGET_MIB ? "met" : "MISSED"})`,
        );
        const t0 = Date.now();
        await run(etcdutl, ["snapshot", "status", file, "-w", "json"]);
        console.log(
            `snapshot.etcdutl-status  ${ms(Date.now() - t0)} (for scale: etcd's own tool on the same file, hash + key count, process start included)`,
        );
    } finally {
        await stop();
    }
}

if (require.main === module) {
    const [flag, file] = process.argv.slice(2);
    const job = flag === "--measure" ? measure(file!).then((m) => console.log(JSON.stringify(m))) : benchSnapshot();
    job.catch((error: unknown) => {
        console.error(error instanceof Error ? error.stack : error);
        process.exit(1);
    });
}

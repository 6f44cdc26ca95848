// The rendered uploader script, run by busybox sh with busybox applets (what
// the uploader image has) and the real rclone on a real snapshot, against a
// local-directory store. rclone is reached through a recording wrapper that
// can also corrupt what the store returns on read-back, so the order of store
// operations and "nothing is deleted after a failed read-back" are checked on
// real runs, not on the script text.
import { ChildProcess, spawn, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync } from "zlib";
import { retainedBackups } from "../../src/backup/retention";
import { BackupScriptArgs, renderBackupScript } from "../../src/backup/script";
import { run } from "../harness/exec";
import { freePorts, requireTool, startProcess, waitFor } from "../support/processes";

const BUSYBOX = "/bin/busybox";
const RCLONE = "/usr/bin/rclone";
for (const [tool, fix] of [
    [BUSYBOX, "apt-get install busybox-static"],
    [RCLONE, "apt-get install rclone"],
]) {
    if (!fs.existsSync(tool!)) throw new Error(`${tool} is missing: run ${fix}`);
}
const BIN = { etcd: requireTool("etcd"), etcdctl: requireTool("etcdctl") };

let root: string;
let snapshotFile: string;
let appletDir: string;
let runCount = 0;

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "backup-script-"));
    // busybox applets only, like the uploader image's /bin.
    appletDir = path.join(root, "applets");
    fs.mkdirSync(appletDir);
    for (const applet of spawnSync(BUSYBOX, ["--list"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean)) {
        fs.symlinkSync(BUSYBOX, path.join(appletDir, applet));
    }
    // A real snapshot of a small etcd.
    const [client, peer] = await freePorts(2);
    const dataDir = path.join(root, "etcd");
    const etcd = startProcess({
        name: "etcd",
        command: BIN.etcd,
        args: [
            `--data-dir=${dataDir}`,
            `--listen-client-urls=http://127.0.0.1:${client}`,
            `--advertise-client-urls=http://127.0.0.1:${client}`,
            `--listen-peer-urls=http://127.0.0.1:${peer}`,
            `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
            `--initial-cluster=default=http://127.0.0.1:${peer}`,
        ],
        logFile: path.join(root, "etcd.log"),
    });
    try {
        const ctl = (args: string[]) => run(BIN.etcdctl, [`--endpoints=http://127.0.0.1:${client}`, "--command-timeout=5s", ...args]);
        await waitFor("etcd answers", async () => (await ctl(["put", "/probe", "1"]), true), {
            deadlineMs: 30_000,
            aborted: () => (etcd.isRunning() ? undefined : "etcd exited"),
            describe: () => etcd.logTail(),
        });
        for (let i = 0; i < 30; i++) await ctl(["put", `/registry/k${i}`, `value-${i}`]);
        snapshotFile = path.join(root, "snapshot.db");
        await ctl(["snapshot", "save", snapshotFile]);
    } finally {
        await etcd.stop();
    }
}, 60_000);

afterAll(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
});

interface ScriptRun {
    code: number;
    stdout: string;
    stderr: string;
    /** rclone subcommand lines as the wrapper saw them (options stripped). */
    calls: string[];
    /** sha256sum / gzip / gunzip / wc invocations with their arguments ("sha256sum" alone: it read stdin). */
    tools: string[];
    work: string;
}

/**
 * The wrapper's faults: "corrupt-cat" flips a byte of every snapshot object read back (cat or
 * hashsum --download); "wrong-size" lies about its size; "refuse-upload" fails every upload of a
 * snapshot object (copyto, rcat) the way a store that refuses it does.
 */
type Fault = "none" | "corrupt-cat" | "wrong-size" | "refuse-upload";

function newStore(): string {
    const dir = path.join(root, `store-${++runCount}`);
    fs.mkdirSync(dir);
    return dir;
}

interface PreparedRun {
    id: number;
    work: string;
    args: string[];
    env: NodeJS.ProcessEnv;
    collect(code: number | null, stdout: string, stderr: string): ScriptRun;
}

function prepareScript(
    store: string,
    phase: string,
    overrides: Partial<BackupScriptArgs> = {},
    fault: Fault = "none",
    work?: string,
): PreparedRun {
    const id = ++runCount;
    const dir = work ?? path.join(root, `work-${id}`);
    if (!work) {
        fs.mkdirSync(dir);
        fs.copyFileSync(snapshotFile, path.join(dir, "snapshot.db"));
    }
    const args: BackupScriptArgs = {
        clusterName: "prod",
        remoteDir: `store:${store}/etcd-backup/prod`,
        storeUrl: `file://${store}/etcd-backup/prod`,
        keep: 2,
        keepDaily: 0,
        keepWeekly: 0,
        compression: "gzip",
        encrypted: false,
        snapshotPath: path.join(dir, "snapshot.db"),
        drillSnapshotPath: path.join(dir, "drill", "snapshot.db"),
        workDir: dir,
        etcdImage: "etcd:test",
        endpoint: "https://127.0.0.1:2379",
        rcloneConnectTimeoutSeconds: 5,
        rcloneIoTimeoutSeconds: 10,
        rcloneRetries: 1,
        ...overrides,
    };
    // Counts the passes over the data: busybox sh runs its applets before any PATH
    // lookup, so wrapper files cannot catch them; shell functions come first, so
    // each tool is wrapped by a function (prepended to the script) that logs its
    // arguments and runs the applet.
    const toolLog = path.join(root, `tools-${id}.log`);
    const toolWrappers = ["sha256sum", "gzip", "gunzip", "wc"]
        .map((tool) => `${tool}() { echo "${tool} $*" >> '${toolLog}'; command ${tool} "$@"; }\n`)
        .join("");
    const scriptFile = path.join(root, `backup-${id}.sh`);
    fs.writeFileSync(scriptFile, renderBackupScript(args).replace("\nset -o pipefail\n", `\nset -o pipefail\n${toolWrappers}`));
    const fakeBin = path.join(root, `fakebin-${id}`);
    fs.mkdirSync(fakeBin);
    const callLog = path.join(root, `calls-${id}.log`);
    // Logs the subcommand and its operands (rc() puts 8 option words first), then runs the real rclone.
    fs.writeFileSync(
        path.join(fakeBin, "rclone"),
        `#!/bin/sh
shift 8
echo "$*" >> '${callLog}'
snapshot_object() { case "$1" in *.db|*.db.gz) true;; *) false;; esac; }
if [ '${fault}' = corrupt-cat ] && { { [ "$1" = cat ] && snapshot_object "$2"; } || { [ "$1" = hashsum ] && [ "$3" = --download ] && snapshot_object "$4"; }; }; then
  [ "$1" = cat ] && object=$2 || object=$4
  ${RCLONE} cat "$object" > '${callLog}.obj' || exit 1
  printf '\\377' | dd of='${callLog}.obj' bs=1 seek=100 conv=notrunc 2>/dev/null
  [ "$1" = cat ] && exec cat '${callLog}.obj'
  exec ${RCLONE} hashsum sha256 '${callLog}.obj'
fi
if [ "$1" = lsf ] && [ "$2" = --format ] && [ '${fault}' = wrong-size ]; then echo 12345; exit 0; fi
if [ '${fault}' = refuse-upload ] && { { [ "$1" = copyto ] && snapshot_object "$3"; } || { [ "$1" = rcat ] && snapshot_object "$2"; }; }; then
  cat > /dev/null; echo "ERROR : simulated refusal of the upload by the store" >&2; exit 1
fi
exec ${RCLONE} "$@"
`,
        { mode: 0o755 },
    );
    const conf = path.join(root, `rclone-${id}.conf`);
    fs.writeFileSync(conf, "[store]\ntype = local\n", { mode: 0o600 });
    const lines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : []);
    return {
        id,
        work: dir,
        args: ["sh", scriptFile, phase],
        env: { PATH: `${fakeBin}:${appletDir}`, RCLONE_CONFIG: conf, HOME: dir, NODE_NAME: "cp-1" },
        collect: (code, stdout, stderr) => ({
            code: code ?? -1,
            stdout,
            stderr,
            calls: lines(callLog),
            tools: lines(toolLog)
                .map((l) => l.trim())
                .sort(),
            work: dir,
        }),
    };
}

function runScript(
    store: string,
    phase: string,
    overrides: Partial<BackupScriptArgs> = {},
    fault: Fault = "none",
    work?: string,
): ScriptRun {
    const run = prepareScript(store, phase, overrides, fault, work);
    const result = spawnSync(BUSYBOX, run.args, { encoding: "utf8", env: run.env, timeout: 60_000 });
    return run.collect(result.status, result.stdout, result.stderr);
}

/** A script run in the background (the sidecar idles until it is stopped). */
interface StartedRun {
    child: ChildProcess;
    work: string;
    /** Output so far. */
    output(): string;
    done: Promise<ScriptRun>;
}

function startScript(
    store: string,
    phase: string,
    overrides: Partial<BackupScriptArgs> = {},
    fault: Fault = "none",
    work?: string,
): StartedRun {
    const run = prepareScript(store, phase, overrides, fault, work);
    const child = spawn(BUSYBOX, run.args, { env: run.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    const done = new Promise<ScriptRun>((resolve) =>
        child.on("close", (code, signal) => resolve(run.collect(code ?? (signal ? 128 : -1), stdout, stderr))),
    );
    startedRuns.push(child);
    return { child, work: run.work, output: () => stdout + stderr, done };
}
const startedRuns: ChildProcess[] = [];
afterEach(() => {
    for (const child of startedRuns.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

async function until(what: string, check: () => boolean, describe: () => string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
        if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${describe()}`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

/** Sends the kubelet's SIGTERM; the idle sidecar must exit 0 at once. */
async function stopSidecar(run: StartedRun): Promise<ScriptRun> {
    const sent = Date.now();
    run.child.kill("SIGTERM");
    const result = await run.done;
    expect(Date.now() - sent).toBeLessThan(2_000);
    return result;
}

/** A work directory holding the snapshot, as the snapshot init container leaves it. */
function freshWork(): string {
    const dir = path.join(root, `work-${++runCount}`);
    fs.mkdirSync(dir);
    fs.copyFileSync(snapshotFile, path.join(dir, "snapshot.db"));
    return dir;
}

const listing = (store: string) =>
    fs.existsSync(path.join(store, "etcd-backup/prod")) ? fs.readdirSync(path.join(store, "etcd-backup/prod")).sort() : [];
const verb = (call: string) => call.split(" ")[0]!;
const objectOf = (r: ScriptRun) => /step=done object=\S+\/(etcd-snapshot-\S+)/.exec(r.stdout)?.[1];

/** A sealed backup made by hand, with the given name timestamp. */
function fakeBackup(store: string, stamp: string): string {
    const dir = path.join(store, "etcd-backup/prod");
    fs.mkdirSync(dir, { recursive: true });
    const object = `etcd-snapshot-${stamp}-rev7.db.gz`;
    fs.writeFileSync(path.join(dir, object), "old backup");
    fs.writeFileSync(path.join(dir, `${object}.sha256`), `0  ${object}\n`);
    fs.writeFileSync(path.join(dir, `etcd-snapshot-${stamp}-rev7.json`), "{}");
    return object;
}

describe("uploader script on a real snapshot and a real rclone store", () => {
    test("order: upload, read back (size, sha256), seal, then list and delete; keeps the newest N", () => {
        const store = newStore();
        const old = ["20240101T000000Z", "20240102T000000Z", "20240103T000000Z"].map((s) => fakeBackup(store, s));
        const r = runScript(store, "all");
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const object = objectOf(r)!;
        const dir = `${store}/etcd-backup/prod`;
        const verbs = r.calls.map(verb);
        expect(r.calls.slice(0, 7)).toEqual([
            `rcat store:${dir}/${object}`, // gzip streamed to the store: no .gz in the work directory
            `copyto ${r.work}/${object.replace(/\.db\.gz$/, ".json")} store:${dir}/${object.replace(/\.db\.gz$/, ".json")}`,
            `lsf --format s store:${dir}/${object}`,
            `hashsum sha256 --download store:${dir}/${object}`,
            `copyto ${r.work}/${object}.sha256 store:${dir}/${object}.sha256`,
            `cat store:${dir}/${object}.sha256`,
            // Sealed: the marker names it.
            `copyto ${r.work}/latest.json store:${dir}/latest.json`,
        ]);
        expect(verbs.indexOf("deletefile")).toBeGreaterThan(6);
        expect(JSON.parse(fs.readFileSync(path.join(dir, "latest.json"), "utf8"))).toMatchObject({
            cluster: "prod",
            object,
            revision: expect.any(Number),
        });
        // Each expired backup: sidecar first, then the object, then its metadata.
        const deletes = r.calls.filter((c) => verb(c) === "deletefile").map((c) => path.posix.basename(c.split(" ")[1]!));
        expect(deletes).toEqual(old.slice(0, 2).flatMap((o) => [`${o}.sha256`, o, o.replace(/\.db\.gz$/, ".json")]));
        expect(listing(store)).toEqual(
            [
                old[2]!,
                `${old[2]}.sha256`,
                old[2]!.replace(/\.db\.gz$/, ".json"),
                object,
                `${object}.sha256`,
                object.replace(/\.db\.gz$/, ".json"),
                "latest.json",
            ].sort(),
        );
        expect(r.stdout).toMatch(/step=verify size=\d+ sha256=[0-9a-f]{64} verified=true/);
    });

    test.each<[Fault, RegExp]>([
        ["corrupt-cat", /step=verify error="sha256 read back is [0-9a-f]{64}, expected [0-9a-f]{64}"/],
        ["wrong-size", /step=verify error="size on the store is 12345, expected \d+"/],
    ])("read-back fault %s: fails at step=verify, seals nothing, deletes nothing", (fault, message) => {
        const store = newStore();
        ["20240101T000000Z", "20240102T000000Z", "20240103T000000Z"].forEach((s) => fakeBackup(store, s));
        const before = listing(store);
        const r = runScript(store, "all", { keep: 1 }, fault);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(message);
        expect(r.calls.map(verb)).not.toContain("deletefile");
        expect(r.stdout).not.toMatch(/step=(seal|retention)/);
        // The unverified object stays unsealed (no .sha256): it never counts as good.
        const after = listing(store);
        expect(after.filter((f) => f.endsWith(".sha256"))).toEqual(before.filter((f) => f.endsWith(".sha256")));
        expect(after.filter((f) => !before.includes(f)).some((f) => f.endsWith(".sha256"))).toBe(false);
    });

    test.each<["gzip" | "none"]>([["gzip"], ["none"]])(
        "phases upload + finalize (%s): the read-back, decompressed copy equals the snapshot; sealing waits for finalize",
        (compression) => {
            const store = newStore();
            const up = runScript(store, "upload", { compression, restoreDrill: true });
            expect(up.stderr).toBe("");
            expect(up.code).toBe(0);
            expect(fs.readFileSync(path.join(up.work, "drill", "snapshot.db")).equals(fs.readFileSync(snapshotFile))).toBe(true);
            expect(fs.existsSync(path.join(up.work, "snapshot.db"))).toBe(false); // the drill must use the store's copy
            expect(listing(store).some((f) => f.endsWith(".sha256"))).toBe(false);
            expect(up.calls.map(verb)).not.toContain("deletefile");

            const fin = runScript(store, "finalize", { compression, restoreDrill: true }, "none", up.work);
            expect(fin.stderr).toBe("");
            expect(fin.code).toBe(0);
            expect(fin.stdout).toMatch(/step=drill object=etcd-snapshot-\S+ passed the restore drill/);
            expect(listing(store).filter((f) => f.endsWith(".sha256"))).toHaveLength(1);
        },
    );

    // Full passes over the data: the snapshot is hashed once (with gzip: compressed, the
    // stream hashed and counted and uploaded in the same pass), the stored object once on
    // read-back; no file is hashed twice, there is no separate "gzip -t" pass and no
    // .gz file in the work directory. rclone (Go) hashes the snapshot and the read-back,
    // sha256sum the gzip streams. No rclone call names the snapshot file: rclone drops the
    // pages of a file it opens from the page cache, and etcdutl reads the snapshot next.
    test.each<["gzip" | "none", "all" | "upload", string[], string[]]>([
        ["gzip", "all", ["gzip -1 -c", "sha256sum", "sha256sum", "wc -c"], ["hashsum sha256 --download OBJECT"]],
        ["none", "all", [], ["hashsum sha256", "hashsum sha256 --download OBJECT"]],
        ["gzip", "upload", ["gunzip -c", "gzip -1 -c", "sha256sum", "sha256sum", "wc -c"], ["hashsum sha256", "hashsum sha256"]],
        ["none", "upload", [], ["hashsum sha256", "hashsum sha256"]],
    ])(
        "passes (%s, phase %s): each hash computed once; metadata and sidecar hold the right sha256s",
        (compression, phase, expectedTools, expectedHashsums) => {
            const store = newStore();
            const r = runScript(store, phase, { compression, restoreDrill: phase === "upload" });
            expect(r.stderr).toBe("");
            expect(r.code).toBe(0);
            const dir = path.join(store, "etcd-backup/prod");
            const object = listing(store).find((f) => /\.db(\.gz)?$/.test(f))!;
            expect(r.tools).toEqual([...expectedTools].sort());
            const named = (t: string) => t.replace("OBJECT", `store:${dir}/${object}`);
            expect(r.calls.filter((c) => verb(c) === "hashsum")).toEqual(expectedHashsums.map(named));
            expect(r.calls.filter((c) => c.includes(path.join(r.work, "snapshot.db")))).toEqual([]);
            expect(fs.readdirSync(r.work).filter((f) => f.endsWith(".gz"))).toEqual([]);
            const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
            const stored = fs.readFileSync(path.join(dir, object));
            const metadata = JSON.parse(fs.readFileSync(path.join(dir, object.replace(/\.db(\.gz)?$/, ".json")), "utf8"));
            const snapshot = fs.readFileSync(snapshotFile);
            expect(metadata).toMatchObject({
                object,
                size: stored.length,
                sha256: sha256(stored),
                snapshotSize: snapshot.length,
                snapshotSha256: sha256(snapshot),
                compression,
            });
            expect(compression === "gzip" ? gunzipSync(stored).equals(snapshot) : stored.equals(snapshot)).toBe(true);
            if (phase === "all") expect(fs.readFileSync(path.join(dir, `${object}.sha256`), "utf8")).toBe(`${sha256(stored)}  ${object}\n`);
            // Nothing of the single-pass plumbing is left in the work directory.
            expect(fs.readdirSync(r.work).filter((f) => f.endsWith(".fifo"))).toEqual([]);
        },
    );

    test.each<["gzip" | "none"]>([["gzip"], ["none"]])(
        "phase upload (%s), object corrupted on the store: fails at step=verify, no drill copy counts, seals nothing",
        (compression) => {
            const store = newStore();
            const r = runScript(store, "upload", { compression, restoreDrill: true }, "corrupt-cat");
            expect(r.code).not.toBe(0);
            expect(r.stderr).toMatch(
                /step=verify error="(sha256 read back is [0-9a-f]{64}, expected [0-9a-f]{64}|cannot read \S+ back from the store \(or decompress it\))"/,
            );
            expect(r.stdout).not.toMatch(/verified=true|next=restore-drill/);
            expect(fs.existsSync(path.join(r.work, "backup-state.env"))).toBe(false); // finalize cannot seal it
            expect(listing(store).some((f) => f.endsWith(".sha256"))).toBe(false);
            expect(r.calls.map(verb)).not.toContain("deletefile");
        },
    );

    test("sidecar layout: finalize waits for the transfer's marker and seals only then; the idle sidecar stops at once on SIGTERM and does nothing when restarted", async () => {
        const store = newStore();
        const old = ["20240101T000000Z", "20240102T000000Z", "20240103T000000Z"].map((s) => fakeBackup(store, s));
        const work = freshWork();
        const sidecar = { transferSidecar: true };
        const finalize = startScript(store, "finalize", sidecar, "none", work);
        await new Promise((r) => setTimeout(r, 700));
        expect(finalize.child.exitCode).toBeNull(); // nothing to seal yet: it waits
        expect(finalize.output()).toMatch(/^$/);
        const transfer = startScript(store, "transfer", sidecar, "none", work);
        const sealed = await finalize.done;
        expect(sealed.stderr).toBe("");
        expect(sealed.code).toBe(0);
        const object = objectOf(sealed)!;
        expect(sealed.stdout).toMatch(new RegExp(`step=wait object=${object} size=\\d+ sha256=[0-9a-f]{64} uploaded and read back`));
        expect(sealed.stdout).not.toMatch(/step=drill/);
        // The sidecar moved the bytes and read them back; finalize only sealed and applied retention.
        expect(sealed.calls.map(verb).filter((v) => ["rcat", "copyto", "hashsum"].includes(v))).toEqual(["copyto", "copyto"]); // the .sha256, then latest.json
        expect(listing(store).filter((f) => f.endsWith(".sha256"))).toEqual([`${old[2]}.sha256`, `${object}.sha256`].sort());
        expect(JSON.parse(fs.readFileSync(path.join(store, "etcd-backup/prod/latest.json"), "utf8")).object).toBe(object);
        await until("the sidecar idles", () => /step=idle /.test(transfer.output()), transfer.output);
        expect(transfer.output()).toMatch(/step=verify size=\d+ sha256=[0-9a-f]{64} verified=true/);
        const stopped = await stopSidecar(transfer);
        expect(stopped.code).toBe(0);
        expect(stopped.calls.map(verb)).not.toContain("deletefile");
        expect(stopped.calls.some((c) => c.includes(".sha256"))).toBe(false);
        // A sidecar the kubelet restarts after the transfer ended does nothing.
        const restarted = startScript(store, "transfer", sidecar, "none", work);
        await until("the restarted sidecar idles", () => /step=idle /.test(restarted.output()), restarted.output);
        expect(restarted.output()).toMatch(/restarted after the transfer ended; nothing to do/);
        expect((await stopSidecar(restarted)).calls).toEqual([]);
    });

    test("sidecar layout, the store refuses the upload: finalize fails with the sidecar's lines (step=upload), nothing sealed, nothing deleted", async () => {
        const store = newStore();
        ["20240101T000000Z", "20240102T000000Z", "20240103T000000Z"].forEach((s) => fakeBackup(store, s));
        const before = listing(store);
        const work = freshWork();
        const sidecar = { transferSidecar: true, keep: 1 };
        const transfer = startScript(store, "transfer", sidecar, "refuse-upload", work);
        await until("the sidecar idles", () => /step=idle /.test(transfer.output()), transfer.output);
        expect(transfer.output()).toMatch(/transfer ended \(failed\)/);
        expect(fs.readFileSync(path.join(work, "transfer.failed"), "utf8")).toMatch(
            /step=upload error="upload of etcd-snapshot-\S+ to file:\S+ failed"/,
        );
        const finalize = runScript(store, "finalize", sidecar, "none", work);
        expect(finalize.code).not.toBe(0);
        expect(finalize.stderr).toMatch(/step=wait the transfer sidecar failed; its last lines:/);
        expect(finalize.stderr).toMatch(/simulated refusal of the upload by the store/);
        expect(finalize.stderr).toMatch(/step=upload error="upload of etcd-snapshot-\S+ to file:\S+ failed"/);
        expect(finalize.calls).toEqual([]);
        expect(listing(store)).toEqual(before);
        expect((await stopSidecar(transfer)).code).toBe(0);
    });

    test.each<["gzip" | "none"]>([["gzip"], ["none"]])(
        "sidecar layout with a drill (%s): the transfer leaves the drill copy and keeps the snapshot; await removes it; finalize logs the drill and seals",
        async (compression) => {
            const store = newStore();
            const work = freshWork();
            const opts = { transferSidecar: true, restoreDrill: true, compression };
            const transfer = startScript(store, "transfer", opts, "none", work);
            await until("the sidecar idles", () => /step=idle /.test(transfer.output()), transfer.output);
            expect(transfer.output()).toMatch(/next=restore-drill/);
            expect(fs.readFileSync(path.join(work, "drill", "snapshot.db")).equals(fs.readFileSync(snapshotFile))).toBe(true);
            expect(fs.existsSync(path.join(work, "snapshot.db"))).toBe(true); // verify may still be reading it
            expect(listing(store).some((f) => f.endsWith(".sha256"))).toBe(false);
            const awaited = runScript(store, "await", opts, "none", work);
            expect(awaited.stderr).toBe("");
            expect(awaited.code).toBe(0);
            expect(awaited.calls).toEqual([]);
            expect(fs.existsSync(path.join(work, "snapshot.db"))).toBe(false);
            const fin = runScript(store, "finalize", opts, "none", work);
            expect(fin.stderr).toBe("");
            expect(fin.code).toBe(0);
            expect(fin.stdout).toMatch(/step=drill object=etcd-snapshot-\S+ passed the restore drill/);
            expect(listing(store).filter((f) => f.endsWith(".sha256"))).toHaveLength(1);
            expect((await stopSidecar(transfer)).code).toBe(0);
        },
    );

    test("finalize without a finished upload phase fails and touches nothing", () => {
        const store = newStore();
        const r = runScript(store, "finalize");
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/step=wait error=".*backup-state.env is missing: the upload phase did not finish"/);
        expect(r.calls).toEqual([]);
    });

    test("daily and weekly tiers on a real store: what stays is exactly retainedBackups()", () => {
        const store = newStore();
        // Two backups a day at 00:00 and 12:00 over the 30 days before today.
        const stamps: string[] = [];
        const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
        for (let d = 30; d >= 1; d--) {
            for (const hour of [0, 12]) {
                const t = new Date(today - d * 86_400_000 + hour * 3_600_000).toISOString();
                stamps.push(`${t.slice(0, 4)}${t.slice(5, 7)}${t.slice(8, 10)}T${t.slice(11, 13)}0000Z`);
            }
        }
        const old = stamps.map((s) => fakeBackup(store, s));
        const policy = { keep: 2, daily: 5, weekly: 3 };
        const r = runScript(store, "all", { keep: policy.keep, keepDaily: policy.daily, keepWeekly: policy.weekly });
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const object = objectOf(r)!;
        const expected = retainedBackups([...old, object], policy);
        // The new one and 1 more of the newest, the newest of 4 older days, and older weeks' newest.
        expect(expected.length).toBeGreaterThanOrEqual(2 + 4);
        expect(expected.length).toBeLessThan(old.length - 40);
        const sealed = listing(store)
            .filter((f) => f.endsWith(".sha256"))
            .map((f) => f.replace(/\.sha256$/, ""));
        expect(sealed.sort()).toEqual([...expected].sort());
        expect(r.stdout).toMatch(
            new RegExp(
                `step=retention good=${old.length + 1} keep=2 keep_daily=5 keep_weekly=3 kept=${expected.length} deleted=${old.length + 1 - expected.length}`,
            ),
        );
    });
});

// `etcd-recovery backups ls|verify|find` through the CLI's own entry (runRecoveryCli), with fake io,
// on a directory store ({ hostPath }) filled with backups made of REAL etcd 3.5 snapshots (a plain
// etcd process, etcdctl snapshot save) in the uploader's layout: four sealed backups at 72 h, 50 h,
// 30 h and 2 h, one unsealed at 1 h, while a ConfigMap is created, changed and deleted. Negative
// cases: the unsealed backup, corrupted objects, a stale store, an object absent in older backups,
// an unreachable store, bad flags; temp files private and gone afterwards.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runRecoveryCli } from "../../src/cli/recovery";
import { formatAge, parseBackupsArgs, parseDuration } from "../../src/cli/backups";
import { UsageError } from "../../src/cli/recovery";
import { startPlainEtcd, PlainEtcd } from "../fixtures/snapshot/live-etcd";
import { toolsBinDir } from "../support/processes";
import { MadeBackup, copyDir, flipByte, sha256Hex, writeBackup } from "./backups-fixture";

jest.setTimeout(120_000);

const HOUR = 3600_000;
let etcd: PlainEtcd;
let tmp: string;
let storeRoot: string;
let storeFile: string;
const made: Record<"a" | "b" | "c" | "d" | "unsealed", MadeBackup> = {} as never;
const revisions: Record<string, number> = {};

const clusterDir = (prefix: string, cluster = "prod") => path.join(storeRoot, prefix, cluster);
const configMap = (name: string, data: Record<string, string>) =>
    JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "shop" }, data });

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    const code = await runRecoveryCli(["backups", ...argv], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
}

const ours = () =>
    new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("etcd-recovery-backups-") || n.startsWith("etcd-recovery-store-")));

beforeAll(async () => {
    etcd = await startPlainEtcd(toolsBinDir(), "backups-cli");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "backups-cli-"));
    storeRoot = path.join(tmp, "store");
    storeFile = path.join(tmp, "store.yaml");
    fs.writeFileSync(storeFile, `hostPath:\n  path: ${storeRoot}\n`, { mode: 0o600 });
    const now = Date.now();
    const snap = async (
        name: string,
        revision: number,
        hoursAgo: number,
        options: { compression?: "gzip" | "none"; seal?: boolean } = {},
    ) => {
        const file = path.join(tmp, `${name}.db`);
        await etcd.snapshotSave(file);
        return writeBackup({
            dir: clusterDir("etcd-backup"),
            snapshotFile: file,
            revision,
            at: new Date(now - hoursAgo * HOUR),
            ...options,
        });
    };
    await etcd.put("/registry/namespaces/shop", JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } }));
    for (let i = 0; i < 300; i++) await etcd.put(`/registry/configmaps/bulk/cm-${i}`, configMap(`cm-${i}`, { pad: "x".repeat(300) }));
    revisions.v1 = await etcd.put("/registry/configmaps/shop/app-config", configMap("app-config", { color: "red" }));
    made.a = await snap("a", revisions.v1, 72);
    revisions.v2 = await etcd.put("/registry/configmaps/shop/app-config", configMap("app-config", { color: "green" }));
    made.b = await snap("b", revisions.v2, 50);
    revisions.late = await etcd.put("/registry/configmaps/shop/late", configMap("late", { born: "after b" }));
    made.c = await snap("c", revisions.late, 30, { compression: "none" });
    revisions.deleted = await etcd.del("/registry/configmaps/shop/app-config");
    made.d = await snap("d", revisions.deleted, 2);
    const last = await etcd.put("/registry/configmaps/shop/after", configMap("after", {}));
    made.unsealed = await snap("e", last, 1, { seal: false });
});

afterAll(async () => {
    await etcd?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("backups ls", () => {
    test("every backup newest first: sealed or not, age, size, revision from the metadata, sidecar vs metadata", async () => {
        const before = ours();
        const r = await cli("ls", "--store", storeFile, "--cluster", "prod");
        expect(r.code).toBe(0);
        const lines = r.stdout.trim().split("\n");
        expect(lines[0]).toMatch(/^OBJECT\s+SEALED\s+AGE\s+SIZE\s+REVISION\s+SHA256$/);
        expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([
            made.unsealed.object,
            made.d.object,
            made.c.object,
            made.b.object,
            made.a.object,
        ]);
        expect(lines[1]).toMatch(new RegExp(`^${made.unsealed.object}\\s+UNSEALED\\s+1h\\s+.*${made.unsealed.revision}\\s+metadata only$`));
        expect(lines[2]).toMatch(new RegExp(`^${made.d.object}\\s+sealed\\s+2h\\s+.*\\s${revisions.deleted}\\s+sidecar=metadata$`));
        expect(lines[3]).toMatch(/\.db\s+sealed\s+1d6h\s/);
        expect(lines[5]).toMatch(/sealed\s+3d\s/);
        expect(r.stderr).toMatch(/1 unsealed backup\(s\): their upload, read-back or restore drill failed/);
        expect(ours()).toEqual(before);
    });

    test("--output json: sizes as listed, the sidecar's hash, the metadata", async () => {
        const r = await cli("ls", "--store", storeFile, "--cluster", "prod", "--output", "json");
        expect(r.code).toBe(0);
        const listing = JSON.parse(r.stdout);
        expect(listing.storeUrl).toBe(`file://${clusterDir("etcd-backup")}`);
        const d = listing.backups.find((b: any) => b.object === made.d.object);
        expect(d).toMatchObject({
            sealed: true,
            hasMetadata: true,
            revision: revisions.deleted,
            revisionFrom: "metadata",
            sha256: "consistent",
            sidecarSha256: made.d.sha256,
            sizeBytes: fs.statSync(made.d.file).size,
            problems: [],
        });
        expect(d.ageSeconds).toBeGreaterThanOrEqual(2 * 3600 - 5);
        expect(listing.backups.find((b: any) => b.object === made.unsealed.object)).toMatchObject({
            sealed: false,
            sha256: "metadata-only",
        });
    });

    test("--max-age: 0 while the newest SEALED backup is younger; 3 when older (the unsealed 1 h one does not count)", async () => {
        const fresh = await cli("ls", "--store", storeFile, "--cluster", "prod", "--max-age", "26h");
        expect(fresh.code).toBe(0);
        expect(fresh.stderr).toContain(`fresh: the newest sealed backup ${made.d.object} is 2h old (--max-age 26h)`);
        const stale = await cli("ls", "--store", storeFile, "--cluster", "prod", "--max-age", "90m");
        expect(stale.code).toBe(3);
        expect(stale.stderr).toMatch(
            new RegExp(`STALE: the newest sealed backup ${made.d.object} is 2h old \\(made .*\\), older than --max-age 90m: exit 3`),
        );
        expect(stale.stdout).toContain(made.d.object); // the listing is still printed
    });

    test("--max-age with only old backups, only unsealed ones, or none at all: exit 3", async () => {
        copyDir(clusterDir("etcd-backup"), clusterDir("old"));
        for (const m of [made.d, made.unsealed])
            for (const f of fs.readdirSync(clusterDir("old"))) if (f.startsWith(m.base)) fs.rmSync(path.join(clusterDir("old"), f));
        const old = await cli("ls", "--store", storeFile, "--cluster", "prod", "--prefix", "old", "--max-age", "26h");
        expect(old.code).toBe(3);
        expect(old.stderr).toMatch(new RegExp(`STALE: the newest sealed backup ${made.c.object} is 1d6h old`));

        writeBackup({
            dir: clusterDir("unsealed-only"),
            snapshotFile: path.join(tmp, "e.db"),
            revision: made.unsealed.revision,
            at: new Date(),
            seal: false,
        });
        const unsealed = await cli("ls", "--store", storeFile, "--cluster", "prod", "--prefix", "unsealed-only", "--max-age", "26h");
        expect(unsealed.code).toBe(3);
        expect(unsealed.stderr).toMatch(/STALE: .* has no sealed backup at all \(--max-age 26h\): exit 3/);

        fs.mkdirSync(clusterDir("empty"), { recursive: true });
        const empty = await cli("ls", "--store", storeFile, "--cluster", "prod", "--prefix", "empty", "--max-age", "26h");
        expect(empty.code).toBe(3);
        expect(empty.stderr).toMatch(/holds no backups/);
    });

    test("a sidecar that disagrees with the metadata is flagged (MISMATCH and a warning) without downloading", async () => {
        copyDir(clusterDir("etcd-backup"), clusterDir("mismatch"));
        fs.writeFileSync(path.join(clusterDir("mismatch"), `${made.b.object}.sha256`), `${"0".repeat(64)}  ${made.b.object}\n`);
        const r = await cli("ls", "--store", storeFile, "--cluster", "prod", "--prefix", "mismatch");
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`${made.b.object}\\s+sealed.*MISMATCH`));
        expect(r.stderr).toContain(`WARNING: ${made.b.object}: the sidecar says SHA-256 ${"0".repeat(64)}, the metadata ${made.b.sha256}`);
    });

    test("an unreachable store: exit 1 with rclone's error, nothing on stdout, nothing left in the temp dir", async () => {
        const before = ours();
        const missing = path.join(tmp, "missing.yaml");
        fs.writeFileSync(missing, `hostPath:\n  path: ${path.join(tmp, "no-such-dir")}\n`);
        const r = await cli("ls", "--store", missing, "--cluster", "prod");
        expect(r.code).toBe(1);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(/error: rclone lsjson .* failed \(exit \d+\): .*directory not found/);
        expect(ours()).toEqual(before);
    });
});

describe("backups verify", () => {
    test("default: the newest sealed backup, downloaded and checked (size, SHA-256, metadata, the snapshot read whole)", async () => {
        const r = await cli("verify", "--store", storeFile, "--cluster", "prod");
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(
            new RegExp(
                `^${made.d.object}\\s+ok\\s+downloaded \\d+ bytes; .*SHA-256 ${made.d.sha256} as the sidecar and metadata state; .*etcd's SHA-256 trailer matches; the snapshot's revision is ${revisions.deleted}`,
                "m",
            ),
        );
        expect(r.stderr).toMatch(/ok: 1 backup\(s\) verified/);
    });

    test("--all: every sealed one, the unsealed one named as not checked; --output json", async () => {
        const r = await cli("verify", "--store", storeFile, "--cluster", "prod", "--all", "-o", "json");
        expect(r.code).toBe(0);
        const report = JSON.parse(r.stdout);
        expect(report.results.map((x: any) => [x.object, x.ok])).toEqual([made.d, made.c, made.b, made.a].map((m) => [m.object, true]));
        expect(report.results[0].checks.map((c: any) => c.check)).toEqual(["size", "sha256", "snapshot-sha256", "snapshot", "revision"]);
        expect(report.skippedUnsealed).toEqual([made.unsealed.object]);
        expect(r.stderr).toContain(`1 unsealed backup(s) not checked (never counted as good): ${made.unsealed.object}`);
    });

    test("--object of the unsealed backup: its bytes match its metadata, but it is not sealed: exit 3", async () => {
        const r = await cli("verify", "--store", storeFile, "--cluster", "prod", "--object", made.unsealed.object);
        expect(r.code).toBe(3);
        expect(r.stdout).toMatch(
            new RegExp(`^${made.unsealed.object}\\s+FAILED\\s+sealed: no \\.sha256 sidecar: the backup was never sealed`, "m"),
        );
        expect(r.stdout.trim().split("\n")).toHaveLength(2); // the other checks passed
        expect(r.stderr).toMatch(/FAILED: 1 of 1 backup\(s\) fail verification/);
    });

    test("corrupted objects fail, each with what is wrong; the good ones still pass; exit 3", async () => {
        const dir = clusterDir("corrupt");
        copyDir(clusterDir("etcd-backup"), dir);
        // b: a byte of the gzip header's MTIME: still decompresses to the same snapshot, but the object is not what was sealed.
        flipByte(path.join(dir, made.b.object), 5);
        // a: a byte in the middle of the deflate stream.
        flipByte(path.join(dir, made.a.object), Math.floor(fs.statSync(made.a.file).size / 2));
        // c (.db): etcd's SHA-256 trailer damaged, and sidecar + metadata rewritten to match the damaged file:
        // only the snapshot reader can tell.
        const c = path.join(dir, made.c.object);
        flipByte(c, -1);
        const cSha = sha256Hex(fs.readFileSync(c));
        fs.writeFileSync(`${c}.sha256`, `${cSha}  ${made.c.object}\n`);
        const metaFile = path.join(dir, `${made.c.base}.json`);
        fs.writeFileSync(
            metaFile,
            JSON.stringify({ ...JSON.parse(fs.readFileSync(metaFile, "utf8")), sha256: cSha, snapshotSha256: cSha }),
        );

        const r = await cli("verify", "--store", storeFile, "--cluster", "prod", "--prefix", "corrupt", "--all", "-o", "json");
        expect(r.code).toBe(3);
        const byObject = Object.fromEntries(JSON.parse(r.stdout).results.map((x: any) => [x.object, x]));
        expect(byObject[made.d.object].ok).toBe(true);
        const failed = (m: MadeBackup) => byObject[m.object].checks.filter((c: any) => !c.ok).map((c: any) => `${c.check}: ${c.detail}`);
        expect(failed(made.b)).toEqual([
            expect.stringMatching(
                /^sha256: SHA-256 of the download is [0-9a-f]{64}, the sidecar and metadata state [0-9a-f]{64}: the object is corrupt or was altered$/,
            ),
        ]);
        expect(failed(made.a)).toEqual([
            expect.stringMatching(/^decompress: .* does not decompress \(.*\): the object is truncated or corrupt$/),
        ]);
        expect(failed(made.c)).toEqual([
            expect.stringMatching(
                /^snapshot: etcd's SHA-256 trailer does not match the database \(stored [0-9a-f]{64}, computed [0-9a-f]{64}\): the snapshot is damaged$/,
            ),
        ]);
        expect(r.stderr).toMatch(/FAILED: 3 of 4 backup\(s\) fail verification/);

        const table = await cli("verify", "--store", storeFile, "--cluster", "prod", "--prefix", "corrupt", "--object", made.b.object);
        expect(table.code).toBe(3);
        expect(table.stdout).toMatch(new RegExp(`^${made.b.object}\\s+FAILED\\s+sha256: SHA-256 of the download is`, "m"));
    });

    test("an --object the store does not have: exit 2 naming it and the newest there", async () => {
        const r = await cli("verify", "--store", storeFile, "--cluster", "prod", "--object", "etcd-snapshot-20200101T000000Z-rev1.db.gz");
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(
            new RegExp(
                `error: --object etcd-snapshot-20200101T000000Z-rev1\\.db\\.gz: file://.* has no backup object etcd-snapshot-20200101T000000Z-rev1\\.db\\.gz \\(newest there: ${made.unsealed.object}, ${made.d.object}`,
            ),
        );
    });

    test("downloads are 0600 files in a 0700 directory, one at a time, all removed afterwards", async () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const realFs = require("fs") as typeof import("fs");
        const seen: { file: string; mode: number; dirMode: number; others: string[] }[] = [];
        const original = realFs.createWriteStream;
        const spy = jest.spyOn(realFs, "createWriteStream").mockImplementation(((file: string, opts: any) => {
            const stream = original(file, opts);
            stream.on("open", () =>
                seen.push({
                    file,
                    mode: realFs.statSync(file).mode & 0o777,
                    dirMode: realFs.statSync(path.dirname(file)).mode & 0o777,
                    others: realFs.readdirSync(path.dirname(file)),
                }),
            );
            return stream;
        }) as any);
        const before = ours();
        try {
            const r = await cli("verify", "--store", storeFile, "--cluster", "prod", "--all");
            expect(r.code).toBe(0);
        } finally {
            spy.mockRestore();
        }
        expect(seen.map((s) => path.basename(s.file))).toEqual([made.d, made.c, made.b, made.a].map((m) => `${m.base}.db`));
        for (const s of seen) {
            expect(s.file.startsWith(path.join(os.tmpdir(), "etcd-recovery-backups-"))).toBe(true);
            expect([s.mode, s.dirMode]).toEqual([0o600, 0o700]);
            expect(s.others).toEqual([path.basename(s.file)]); // the previous backup is gone before the next comes down
            expect(fs.existsSync(s.file)).toBe(false);
        }
        expect(ours()).toEqual(before);
    });
});

describe("backups find", () => {
    test("where the ConfigMap exists, at which mod revision, and where it changed: deleted in the newest, changed between a and b", async () => {
        const r = await cli(
            "find",
            "--store",
            storeFile,
            "--cluster",
            "prod",
            "--kind",
            "configmaps",
            "-n",
            "shop",
            "--name",
            "app-config",
        );
        expect(r.code).toBe(0);
        const rows = r.stdout.trim().split("\n");
        expect(rows[0]).toMatch(/^BACKUP\s+MADE\s+REVISION\s+STATE\s+MOD-REV\s+VERSION\s+CHANGED$/);
        expect(rows.slice(1)).toEqual([
            expect.stringMatching(
                new RegExp(`^${made.d.object}\\s+\\S+Z\\s+${revisions.deleted}\\s+deleted at ${revisions.deleted}\\s+changed$`),
            ),
            expect.stringMatching(new RegExp(`^${made.c.object}\\s+\\S+Z\\s+${revisions.late}\\s+present\\s+${revisions.v2}\\s+2$`)),
            expect.stringMatching(
                new RegExp(`^${made.b.object}\\s+\\S+Z\\s+${revisions.v2}\\s+present\\s+${revisions.v2}\\s+2\\s+changed$`),
            ),
            expect.stringMatching(
                new RegExp(`^${made.a.object}\\s+\\S+Z\\s+${revisions.v1}\\s+present\\s+${revisions.v1}\\s+1\\s+\\(oldest read\\)$`),
            ),
        ]);
        expect(r.stderr).toContain(
            `note: configmaps shop/app-config is deleted in the newest backup; the newest that holds it is ${made.c.object}`,
        );
        expect(r.stderr).toContain(
            `next: etcd-recovery fetch --store ${storeFile} --cluster prod --object ${made.c.object} --dir ./snapshots`,
        );
        expect(r.stderr).toContain(
            `pulumi config set snapshotPath ./snapshots/${made.c.base}.db   (mod revision ${revisions.v2}, version 2)`,
        );
        // The unsealed backup is not read.
        expect(r.stdout).not.toContain(made.unsealed.object);
    });

    test("an object absent in the older backups: absent, then present where it appeared (changed); JSON", async () => {
        const r = await cli(
            "find",
            "--store",
            storeFile,
            "--cluster",
            "prod",
            "--kind",
            "configmaps",
            "-n",
            "shop",
            "--name",
            "late",
            "-o",
            "json",
        );
        expect(r.code).toBe(0);
        const report = JSON.parse(r.stdout);
        expect(report.keys).toEqual(["/registry/configmaps/shop/late"]);
        expect(report.backups.map((b: any) => [b.object, b.state, b.modRevision, b.version, b.changed])).toEqual([
            [made.d.object, "present", revisions.late, 1, false],
            [made.c.object, "present", revisions.late, 1, true],
            [made.b.object, "absent", undefined, undefined, false],
            [made.a.object, "absent", undefined, undefined, undefined],
        ]);
    });

    test("--limit reads only the newest N; an object in no backup exits 3; a namespace filter is honoured", async () => {
        const limited = await cli(
            "find",
            "--store",
            storeFile,
            "--cluster",
            "prod",
            "--kind",
            "configmaps",
            "-n",
            "shop",
            "--name",
            "app-config",
            "--limit",
            "2",
            "-o",
            "json",
        );
        expect(limited.code).toBe(0);
        expect(JSON.parse(limited.stdout).backups.map((b: any) => b.object)).toEqual([made.d.object, made.c.object]);
        expect(JSON.parse(limited.stdout).notRead).toBe(2);
        expect(limited.stderr).toMatch(/2 older sealed backup\(s\) not read \(--limit 2\)/);

        const none = await cli(
            "find",
            "--store",
            storeFile,
            "--cluster",
            "prod",
            "--kind",
            "configmaps",
            "-n",
            "shop",
            "--name",
            "never-existed",
        );
        expect(none.code).toBe(3);
        expect(
            none.stdout
                .trim()
                .split("\n")
                .slice(1)
                .every((l) => /\sabsent(\s|$)/.test(l)),
        ).toBe(true);
        expect(none.stderr).toMatch(/not found: no backup read holds configmaps shop\/never-existed: exit 3/);

        const defaultNs = await cli("find", "--store", storeFile, "--cluster", "prod", "--kind", "configmaps", "--name", "app-config");
        expect(defaultNs.code).toBe(3); // it lives in shop, not default
        expect(defaultNs.stderr).toMatch(/in namespace default \(give -n NAMESPACE/);

        const other = await cli(
            "find",
            "--store",
            storeFile,
            "--cluster",
            "prod",
            "--kind",
            "configmaps",
            "-n",
            "shop",
            "--name",
            "app-config",
            "--etcd-prefix",
            "/other",
        );
        expect(other.code).toBe(3);
    });

    test("a corrupt backup is reported in its row and exits 3; the others are still read", async () => {
        const r = await cli(
            "find",
            "--store",
            storeFile,
            "--cluster",
            "prod",
            "--prefix",
            "corrupt",
            "--kind",
            "configmaps",
            "-n",
            "shop",
            "--name",
            "app-config",
            "-o",
            "json",
        );
        expect(r.code).toBe(3);
        const rows = JSON.parse(r.stdout).backups;
        expect(rows.map((b: any) => [b.object, b.state])).toEqual([
            [made.d.object, "deleted"],
            [made.c.object, "error"],
            [made.b.object, "error"],
            [made.a.object, "error"],
        ]);
        expect(rows[1].error).toMatch(/fails etcd's SHA-256 check/);
        expect(rows[2].error).toMatch(/the sidecar says .*: the object is corrupt \(backups verify --object/);
        expect(rows[3].error).toMatch(/does not decompress/);
        expect(rows[0].changed).toBeUndefined(); // nothing older could be read
    });
});

describe("bad input: the flag, the value and the fix; exit 2", () => {
    const cases: [string[], RegExp][] = [
        [
            ["ls", "--store", "s.yaml", "--cluster", "prod", "--max-age", "26"],
            /--max-age "26": give a duration above zero with units d, h, m, s, e\.g\. 26h/,
        ],
        [["ls", "--store", "s.yaml", "--cluster", "prod", "--max-age", "0h"], /--max-age "0h": give a duration above zero/],
        [["verify", "--store", "s.yaml", "--cluster", "prod", "--max-age", "26h"], /--max-age belongs to backups ls, not backups verify/],
        [
            ["verify", "--store", "s.yaml", "--cluster", "prod", "--all", "--object", "etcd-snapshot-20260123T060000Z-rev1.db"],
            /--object and --all exclude each other/,
        ],
        [
            ["verify", "--store", "s.yaml", "--cluster", "prod", "--object", "latest"],
            /--object "latest": give a backup object name as backups ls prints it/,
        ],
        [["find", "--store", "s.yaml", "--cluster", "prod", "--name", "x"], /find needs --kind KIND and --name NAME/],
        [
            ["find", "--store", "s.yaml", "--cluster", "prod", "--kind", "ConfigMap", "--name", "x"],
            /--kind "ConfigMap": give one resource as kubectl names it/,
        ],
        [
            ["find", "--store", "s.yaml", "--cluster", "prod", "--kind", "configmaps", "--name", "x", "--limit", "0"],
            /--limit "0": give how many of the newest sealed backups to read/,
        ],
        [
            ["find", "--store", "s.yaml", "--cluster", "prod", "--kind", "configmaps", "--name", "x", "--etcd-prefix", "registry"],
            /--etcd-prefix "registry": kube-apiserver's prefix starts with \//,
        ],
        [["ls", "--cluster", "prod"], /backups ls needs --store FILE/],
        [["ls", "--store", "s.yaml"], /backups ls needs --cluster NAME/],
        [["ls", "--store", "s.yaml", "--cluster", "prod", "-o", "yaml"], /-o "yaml": use table or json/],
        [["ls", "--store", "s.yaml", "--cluster", "prod", "extra"], /unexpected argument "extra" for backups ls/],
        [["rm", "--store", "s.yaml"], /unknown backups command "rm": use ls, verify or find/],
    ];
    test.each(cases)("%j", (argv, message) => {
        expect(() => parseBackupsArgs(argv)).toThrow(UsageError);
        expect(() => parseBackupsArgs(argv)).toThrow(message);
    });

    test("through the CLI: usage text, exit 2; a store file that is missing or names a pvc", async () => {
        const r = await cli("ls", "--store", storeFile, "--cluster", "prod", "--max-age", "1y");
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/^error: --max-age "1y": .*\n\nusage:\n {2}etcd-recovery backups ls/);
        const missing = await cli("ls", "--store", path.join(tmp, "nope.yaml"), "--cluster", "prod");
        expect(missing.code).toBe(2);
        expect(missing.stderr).toMatch(/--store .*nope\.yaml: not a readable YAML\/JSON file/);
        const pvcFile = path.join(tmp, "pvc.yaml");
        fs.writeFileSync(pvcFile, "pvc:\n  claimName: backups\n");
        const pvc = await cli("ls", "--store", pvcFile, "--cluster", "prod");
        expect(pvc.code).toBe(2);
        expect(pvc.stderr).toMatch(/error: --store .*pvc\.yaml: store\.pvc: .*kubectl cp/);
        const badCluster = await cli("ls", "--store", storeFile, "--cluster", "prod/../x");
        expect(badCluster.code).toBe(2);
        expect(badCluster.stderr).toMatch(/^error: --cluster: "prod\/\.\.\/x" — /);
        const help = await cli("--help");
        expect(help.code).toBe(0);
        expect(help.stdout).toMatch(/--max-age +ls exits 3/);
    });

    test("durations and ages", () => {
        expect([
            parseDuration("26h"),
            parseDuration("90m"),
            parseDuration("2d"),
            parseDuration("1d12h"),
            parseDuration("45s"),
            parseDuration("26"),
            parseDuration(""),
            parseDuration("h"),
        ]).toEqual([93600, 5400, 172800, 129600, 45, undefined, undefined, undefined]);
        expect([formatAge(42), formatAge(300), formatAge(11520), formatAge(93784), formatAge(86400)]).toEqual([
            "42s",
            "5m",
            "3h12m",
            "1d2h",
            "1d",
        ]);
    });
});

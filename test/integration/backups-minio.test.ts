// `etcd-recovery backups ls|verify|find` against a real S3 server: MinIO as a local process (no
// Docker), filled with backups of a real etcd 3.5 (plain process, etcdctl snapshot save) in the
// uploader's layout, uploaded with rclone; one cluster directory encrypted with rclone crypt through
// the very rclone configuration EtcdBackup renders. The store's credentials never reach a command
// line or the output; wrong credentials, a dead endpoint and an object replaced on the server fail
// with rclone's error or the hash that differs; nothing is left in the temp directory.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runRecoveryCli } from "../../src/cli/recovery";
import { renderStoreRcloneConfig } from "../../src/recovery/store";
import { PlainEtcd, startPlainEtcd } from "../fixtures/snapshot/live-etcd";
import { BackupFixture, hostRclone } from "../support/backup-fixture";
import { uniqueRunId } from "../harness/docker";
import { freePorts, toolsBinDir } from "../support/processes";
import { MadeBackup, flipByte, writeBackup } from "../unit/backups-fixture";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const childProcess = require("child_process") as typeof import("child_process");

jest.setTimeout(180_000);

const HOUR = 3600_000;
const ENCRYPTION = { password: "crypt-pw-b4c1e9", salt: "crypt-salt-77d0a2" };
let workDir: string;
let etcd: PlainEtcd;
let fixture: BackupFixture;
let s3: Awaited<ReturnType<BackupFixture["startMinio"]>>;
let storeFile: string;
const made: MadeBackup[] = []; // newest last
const revisions: number[] = [];

const s3Store = (overrides: Record<string, string> = {}) => ({
    s3: {
        endpoint: s3.endpoint,
        bucket: s3.bucket,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        provider: "Minio",
        ...overrides,
    },
});
const writeStoreFile = (name: string, description: unknown) => {
    const file = path.join(workDir, name);
    fs.writeFileSync(file, JSON.stringify(description), { mode: 0o600 });
    return file;
};
const ours = () =>
    new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("etcd-recovery-backups-") || n.startsWith("etcd-recovery-store-")));

/** The CLI with fake io, recording every rclone command line. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string; commandLines: string[] }> {
    let stdout = "";
    let stderr = "";
    const commandLines: string[] = [];
    const original = childProcess.spawn;
    const spy = jest.spyOn(childProcess, "spawn").mockImplementation(((command: string, args: string[], opts: any) => {
        if (path.basename(command) === "rclone") {
            commandLines.push([command, ...args].join(" "));
            const config = args[args.indexOf("--config") + 1]!;
            expect(fs.statSync(config).mode & 0o777).toBe(0o600);
            expect(fs.statSync(path.dirname(config)).mode & 0o777).toBe(0o700);
        }
        return original(command, args, opts);
    }) as any);
    try {
        const code = await runRecoveryCli(["backups", ...argv], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
        return { code, stdout, stderr, commandLines };
    } finally {
        spy.mockRestore();
    }
}

function expectNoSecrets(r: { stdout: string; stderr: string; commandLines: string[] }): void {
    for (const secret of [s3.secretAccessKey, s3.accessKeyId, ENCRYPTION.password, ENCRYPTION.salt]) {
        for (const text of [r.stdout, r.stderr, ...r.commandLines]) expect(text).not.toContain(secret);
    }
}

beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "backups-minio-it-"));
    fixture = new BackupFixture(uniqueRunId("it-backups"), workDir);
    s3 = await fixture.startMinio("etcd-backups");
    etcd = await startPlainEtcd(toolsBinDir(), "backups-minio");
    const staging = path.join(workDir, "staging");
    const now = Date.now();
    for (let i = 0; i < 200; i++)
        await etcd.put(`/registry/configmaps/bulk/cm-${i}`, JSON.stringify({ kind: "ConfigMap", pad: "y".repeat(400) }));
    for (const [i, hoursAgo] of [50, 26, 3].entries()) {
        revisions.push(
            await etcd.put(
                "/registry/configmaps/shop/app-config",
                JSON.stringify({
                    apiVersion: "v1",
                    kind: "ConfigMap",
                    metadata: { name: "app-config", namespace: "shop" },
                    data: { n: String(i) },
                }),
            ),
        );
        const file = path.join(workDir, `s${i}.db`);
        await etcd.snapshotSave(file);
        made.push(
            writeBackup({
                dir: staging,
                snapshotFile: file,
                revision: revisions[i]!,
                at: new Date(now - hoursAgo * HOUR),
                cluster: "it-prod",
            }),
        );
    }
    await s3.rclone(["copy", staging, `minio:${s3.bucket}/etcd-backup/it-prod`]);
    await s3.rclone(["copy", staging, `minio:${s3.bucket}/etcd-backup/it-tampered`]);
    // The encrypted copy goes through EtcdBackup's own crypt configuration for this store.
    const cryptDir = fs.mkdtempSync(path.join(workDir, "crypt-conf-"));
    const rendered = renderStoreRcloneConfig({ store: s3Store() as any, cluster: "it-crypt", encryption: ENCRYPTION }, cryptDir);
    fs.writeFileSync(path.join(cryptDir, "rclone.conf"), rendered.config, { mode: 0o600 });
    await hostRclone(path.join(cryptDir, "rclone.conf"), ["copy", staging, rendered.remoteDir]);
    storeFile = writeStoreFile("store.json", s3Store());
}, 240_000);

afterAll(async () => {
    await etcd?.stop();
    await fixture?.cleanup();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

test("ls on S3: the three backups newest first, sealed, ages, revisions; --max-age 26h passes, 2h fails with exit 3", async () => {
    const before = ours();
    const r = await cli("ls", "--store", storeFile, "--cluster", "it-prod");
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split("\n").slice(1);
    expect(rows.map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
        [made[2]!.object, "sealed", "3h"],
        [made[1]!.object, "sealed", "1d2h"],
        [made[0]!.object, "sealed", "2d2h"],
    ]);
    for (const [i, row] of rows.entries()) expect(row).toMatch(new RegExp(`\\s${revisions[2 - i]}\\s+sidecar=metadata$`));
    expectNoSecrets(r);
    expect(r.commandLines.length).toBe(2); // one listing, one copy of every sidecar and metadata file

    expect((await cli("ls", "--store", storeFile, "--cluster", "it-prod", "--max-age", "26h")).code).toBe(0);
    const stale = await cli("ls", "--store", storeFile, "--cluster", "it-prod", "--max-age", "2h");
    expect(stale.code).toBe(3);
    expect(stale.stderr).toMatch(/STALE: the newest sealed backup .* is 3h old/);
    expect(ours()).toEqual(before);
});

test("verify --all downloads each from MinIO and checks it; find says where app-config changed", async () => {
    const verify = await cli("verify", "--store", storeFile, "--cluster", "it-prod", "--all", "-o", "json");
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout).results.map((x: any) => [x.object, x.ok])).toEqual([...made].reverse().map((m) => [m.object, true]));
    expectNoSecrets(verify);

    const find = await cli(
        "find",
        "--store",
        storeFile,
        "--cluster",
        "it-prod",
        "--kind",
        "configmaps",
        "-n",
        "shop",
        "--name",
        "app-config",
        "-o",
        "json",
    );
    expect(find.code).toBe(0);
    expect(JSON.parse(find.stdout).backups.map((b: any) => [b.object, b.state, b.modRevision, b.version, b.changed])).toEqual([
        [made[2]!.object, "present", revisions[2], 3, true],
        [made[1]!.object, "present", revisions[1], 2, true],
        [made[0]!.object, "present", revisions[0], 1, undefined],
    ]);
    expectNoSecrets(find);
});

test("an object replaced on the server (sidecar untouched) fails verify with both hashes: exit 3", async () => {
    const tampered = path.join(workDir, "tampered.gz");
    fs.copyFileSync(made[1]!.file, tampered);
    flipByte(tampered, 5);
    await s3.rclone(["copyto", tampered, `minio:${s3.bucket}/etcd-backup/it-tampered/${made[1]!.object}`]);
    const r = await cli("verify", "--store", storeFile, "--cluster", "it-tampered", "--all");
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(
        new RegExp(
            `^${made[1]!.object}\\s+FAILED\\s+sha256: SHA-256 of the download is [0-9a-f]{64}, the sidecar and metadata state ${made[1]!.sha256}`,
            "m",
        ),
    );
    expect(r.stdout).toMatch(new RegExp(`^${made[2]!.object}\\s+ok\\s`, "m"));
    expect(r.stderr).toMatch(/FAILED: 1 of 3 backup\(s\) fail verification/);
});

test("encrypted backups: without the key the .bin names are refused (exit 1); with it they list and verify", async () => {
    const noKey = await cli("ls", "--store", storeFile, "--cluster", "it-crypt");
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/holds encrypted backups \(rclone crypt, names ending in \.bin\): give encryption: \{ password, salt \}/);
    const withKey = writeStoreFile("crypt.json", { ...s3Store(), encryption: ENCRYPTION });
    const ls = await cli("ls", "--store", withKey, "--cluster", "it-crypt");
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain(made[2]!.object);
    const verify = await cli("verify", "--store", withKey, "--cluster", "it-crypt");
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^${made[2]!.object}\\s+ok\\s`, "m"));
    expectNoSecrets(verify);
});

test("wrong credentials and a dead endpoint: exit 1 with rclone's error, nothing on stdout, no secret anywhere", async () => {
    const before = ours();
    const wrong = await cli(
        "ls",
        "--store",
        writeStoreFile("wrong.json", s3Store({ secretAccessKey: `${s3.secretAccessKey}x` })),
        "--cluster",
        "it-prod",
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe("");
    expect(wrong.stderr).toMatch(/error: rclone lsjson .* failed \(exit \d+\): .*(SignatureDoesNotMatch|signature)/i);
    expectNoSecrets(wrong);

    const [port] = await freePorts(1);
    const dead = await cli(
        "find",
        "--store",
        writeStoreFile("dead.json", s3Store({ endpoint: `http://127.0.0.1:${port}` })),
        "--cluster",
        "it-prod",
        "--kind",
        "configmaps",
        "--name",
        "x",
    );
    expect(dead.code).toBe(1);
    expect(dead.stdout).toBe("");
    expect(dead.stderr).toMatch(/error: rclone lsjson .* failed \(exit \d+\):[\s\S]*connection refused/);
    expect(ours()).toEqual(before);
});

// The snapshot straight from a store the real EtcdBackup pod wrote (pod-to-docker,
// same images and Secret as the CronJob): a real S3 server (MinIO) and a node
// directory (plain, and encrypted with rclone crypt). fetchSnapshotFromStore
// picks the newest sealed backup, checks it against its sidecar, gunzips it,
// and the result restores with etcdutl and holds the data. Corrupt, truncated
// and unsealed objects, wrong credentials and a missing key fail with a clear
// error and leave no file behind; credentials never reach a command line.
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { planEtcdBackup } from "../../src/backup/plan";
import { runRecoveryCli } from "../../src/cli/recovery";
import { fetchSnapshotFromStore, FetchSnapshotOptions, StoreSnapshotError } from "../../src/recovery/store";
import { dockerAvailable, uniqueRunId, withFreeSubnet } from "../harness/docker";
import { run } from "../harness/exec";
import { BackupFixture, HOST_STORE_PATH, expectSucceeded, reportedObject, restoreAndRead, snapshotStatus } from "../support/backup-fixture";
import { ETCD_35_IMAGE, UPLOADER_IMAGE, requireImages } from "../support/images";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const childProcess = require("child_process") as typeof import("child_process");

jest.setTimeout(180_000);

const KEY = "/registry/configmaps/default/store-probe";
let workDir: string;
let fixture: BackupFixture;
let s3: Awaited<ReturnType<BackupFixture["startMinio"]>>;
let nodeDir: string;
const made: Record<string, string> = {};

const s3Store = () => ({
    s3: {
        endpoint: s3.endpoint,
        bucket: s3.bucket,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        provider: "Minio" as const,
    },
});
const outDir = (name: string) => fs.mkdtempSync(path.join(workDir, `${name}-`));
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Runs the backup pod once after writing `value`, and returns the object name it reports. */
async function backup(
    value: string,
    storage: Parameters<BackupFixture["input"]>[0],
    overrides: Parameters<BackupFixture["input"]>[1] = {},
): Promise<string> {
    await fixture.etcd.etcdctl(["put", KEY, value]);
    const result = await fixture.runBackup(planEtcdBackup(fixture.input(storage, overrides)), { storeDir: nodeDir });
    expectSucceeded(result);
    await new Promise((r) => setTimeout(r, 1100)); // names carry a one-second timestamp
    return reportedObject(result, overrides.restoreDrill && overrides.restoreDrill !== "off" ? "finalize" : "upload");
}

/** fetchSnapshotFromStore, recording every rclone command line and the config file's mode while it ran. */
async function fetchRecorded(options: FetchSnapshotOptions): Promise<{
    result?: Awaited<ReturnType<typeof fetchSnapshotFromStore>>;
    error?: Error;
    commandLines: string[];
    configModes: number[];
    configDirs: string[];
}> {
    const commandLines: string[] = [];
    const configModes: number[] = [];
    const configDirs = new Set<string>();
    const original = childProcess.spawn;
    const spy = jest.spyOn(childProcess, "spawn").mockImplementation(((command: string, args: string[], opts: any) => {
        if (path.basename(command) === "rclone") {
            commandLines.push([command, ...args].join(" "));
            const config = args[args.indexOf("--config") + 1]!;
            configModes.push(fs.statSync(config).mode & 0o777);
            configDirs.add(path.dirname(config));
        }
        return original(command, args, opts);
    }) as any);
    try {
        return { result: await fetchSnapshotFromStore(options), commandLines, configModes, configDirs: [...configDirs] };
    } catch (error) {
        return { error: error as Error, commandLines, configModes, configDirs: [...configDirs] };
    } finally {
        spy.mockRestore();
    }
}

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE, UPLOADER_IMAGE);
    await run("rclone", ["version"]).catch((error: Error) => {
        throw new Error(`rclone is missing (${error.message.split("\n")[0]}): apt-get install rclone`);
    });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "recovery-store-it-"));
    nodeDir = path.join(workDir, "node-store");
    fs.mkdirSync(nodeDir);
    fixture = new BackupFixture(uniqueRunId("it-recovery-store"), workDir);
    await withFreeSubnet((subnet) => fixture.startEtcd(subnet));
    s3 = await fixture.startMinio("etcd-backups");
    made.s3Old = await backup("from-backup-1", s3Store(), { compression: "gzip" });
    made.s3New = await backup("from-backup-2", s3Store(), { compression: "gzip" });
    made.plain = await backup("plain-on-node", { hostPath: { path: HOST_STORE_PATH } }, { prefix: "plain", compression: "none" });
    made.crypt = await backup(
        "crypt-on-node",
        { hostPath: { path: HOST_STORE_PATH } },
        { prefix: "crypt", compression: "gzip", encryption: { password: "crypt-pw-7f1e", salt: "crypt-salt-c20a" } },
    );
}, 400_000);

afterAll(async () => {
    await fixture?.cleanup();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe("fetchSnapshotFromStore on MinIO (S3)", () => {
    test("the newest sealed backup comes down, matches its sidecar and metadata, and restores with the newest data", async () => {
        const dir = outDir("s3-newest");
        const progress: string[] = [];
        const { result, error, commandLines, configModes, configDirs } = await fetchRecorded({
            store: s3Store(),
            cluster: "it-prod",
            dir,
            onProgress: (m) => progress.push(m),
        });
        if (error) throw error;
        expect(result!.object).toBe(made.s3New);
        expect(result!.path).toBe(path.join(dir, made.s3New!.replace(/\.gz$/, "")));
        expect(fs.readdirSync(dir)).toEqual([path.basename(result!.path)]);
        expect(fs.statSync(result!.path).mode & 0o777).toBe(0o600);

        // What the store holds, read with an independent client: the object's hash is the sidecar's, the file is its gunzip.
        const storedRaw = await rawObject(`etcd-backup/it-prod/${made.s3New}`);
        expect(result!.objectSha256).toBe(sha256(storedRaw));
        expect((await s3.rclone(["cat", `minio:${s3.bucket}/etcd-backup/it-prod/${made.s3New}.sha256`])).split(" ")[0]).toBe(
            result!.objectSha256,
        );
        expect(fs.readFileSync(result!.path).equals(zlib.gunzipSync(storedRaw))).toBe(true);
        expect(result!.metadata).toMatchObject({
            cluster: "it-prod",
            object: made.s3New,
            sha256: result!.objectSha256,
            snapshotSha256: result!.snapshotSha256,
            compression: "gzip",
        });

        const status = await snapshotStatus(result!.path);
        expect(result!.revision).toBe(status.revision);
        expect(result!.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
        expect(await restoreAndRead(workDir, result!.path, KEY)).toBe("from-backup-2");
        expect(progress.join("\n")).toMatch(/checked against .*\.sha256/);

        // Credentials only in a 0600 file in a private directory that is gone afterwards.
        expect(commandLines.length).toBeGreaterThanOrEqual(3);
        for (const line of commandLines) for (const secret of [s3.secretAccessKey, s3.accessKeyId]) expect(line).not.toContain(secret);
        expect(configModes.every((mode) => mode === 0o600)).toBe(true);
        for (const configDir of configDirs) expect(fs.existsSync(configDir)).toBe(false);
    });

    test("fetching again into the same directory keeps the identical file; a damaged one there is replaced", async () => {
        const dir = outDir("s3-again");
        const first = await fetchSnapshotFromStore({ store: s3Store(), cluster: "it-prod", dir });
        expect(first.reused).toBe(false);
        const again = await fetchSnapshotFromStore({ store: s3Store(), cluster: "it-prod", dir });
        expect(again).toMatchObject({ reused: true, path: first.path, snapshotSha256: first.snapshotSha256, revision: first.revision });
        const damaged = fs.readFileSync(first.path);
        damaged[5000] = damaged[5000]! ^ 0x01;
        fs.writeFileSync(first.path, damaged);
        const replaced = await fetchSnapshotFromStore({ store: s3Store(), cluster: "it-prod", dir });
        expect(replaced.reused).toBe(false);
        expect(sha256(fs.readFileSync(first.path))).toBe(first.snapshotSha256);
        expect(fs.readdirSync(dir)).toEqual([path.basename(first.path)]);
    });

    test("an explicit older object is fetched instead of the newest", async () => {
        const result = await fetchSnapshotFromStore({ store: s3Store(), cluster: "it-prod", object: made.s3Old, dir: outDir("s3-old") });
        expect(result.object).toBe(made.s3Old);
        expect(await restoreAndRead(workDir, result.path, KEY)).toBe("from-backup-1");
    });

    test("a truncated object with a sidecar of the whole one: clear error, no file left", async () => {
        const whole = await rawObject(`etcd-backup/it-prod/${made.s3New}`);
        const name = newerName(made.s3New!);
        await putObject(`etcd-backup/it-prod/${name}`, whole.subarray(0, Math.floor(whole.length / 2)));
        await putObject(`etcd-backup/it-prod/${name}.sha256`, Buffer.from(`${sha256(whole)}  ${name}\n`));
        const dir = outDir("s3-truncated");
        const { error } = await fetchRecorded({ store: s3Store(), cluster: "it-prod", dir });
        expect(error).toBeInstanceOf(StoreSnapshotError);
        expect(error!.message).toMatch(
            new RegExp(
                `${name.replace(/\./g, "\\.")}.*(does not decompress .*: the object is truncated or corrupt|the download was truncated or the object is corrupt)`,
            ),
        );
        expect(fs.readdirSync(dir)).toEqual([]);
        await deleteObjects(`etcd-backup/it-prod/${name}`, `etcd-backup/it-prod/${name}.sha256`);
    });

    test("a newer object without a sidecar (never sealed) is skipped", async () => {
        const name = newerName(made.s3New!);
        await putObject(`etcd-backup/it-prod/${name}`, await rawObject(`etcd-backup/it-prod/${made.s3Old}`));
        const result = await fetchSnapshotFromStore({ store: s3Store(), cluster: "it-prod", dir: outDir("s3-unsealed") });
        expect(result.object).toBe(made.s3New);
        await deleteObjects(`etcd-backup/it-prod/${name}`);
    });

    test("wrong credentials: rclone's error, nothing written, the secret not in the message", async () => {
        const dir = outDir("s3-denied");
        const store = { s3: { ...s3Store().s3, secretAccessKey: "not-the-key-41c9" } };
        const { error, commandLines } = await fetchRecorded({ store, cluster: "it-prod", dir });
        expect(error).toBeInstanceOf(StoreSnapshotError);
        expect(error!.message).toMatch(
            /rclone lsjson store:etcd-backups\/etcd-backup\/it-prod failed \(exit \d+\): .*(SignatureDoesNotMatch|AccessDenied|403)/s,
        );
        expect(error!.message).not.toContain("not-the-key-41c9");
        for (const line of commandLines) expect(line).not.toContain("not-the-key-41c9");
        expect(fs.readdirSync(dir)).toEqual([]);
    });
});

describe("fetchSnapshotFromStore on a node directory", () => {
    const plainDir = () => path.join(nodeDir, "plain", "it-prod");

    test("uncompressed backup, read in place", async () => {
        const result = await fetchSnapshotFromStore({
            store: { hostPath: { path: nodeDir } },
            cluster: "it-prod",
            prefix: "plain",
            dir: outDir("local"),
        });
        expect(result.object).toBe(made.plain);
        expect(result.storeUrl).toBe(`file://${plainDir()}/${made.plain}`);
        expect(fs.readFileSync(result.path).equals(fs.readFileSync(path.join(plainDir(), made.plain!)))).toBe(true);
        expect(await restoreAndRead(workDir, result.path, KEY)).toBe("plain-on-node");
    });

    test("the etcd-recovery fetch command: store description from a 0600 file, the path to configure printed", async () => {
        const storeFile = path.join(outDir("cli"), "store.yaml");
        fs.writeFileSync(storeFile, `hostPath:\n  path: ${nodeDir}\n`, { mode: 0o600 });
        const out: string[] = [];
        const err: string[] = [];
        const code = await runRecoveryCli(
            ["fetch", "--store", storeFile, "--cluster", "it-prod", "--prefix", "plain", "--dir", outDir("cli-out")],
            {
                stdout: (t) => out.push(t),
                stderr: (t) => err.push(t),
            },
        );
        expect({ code, err: code === 0 ? "" : err.join("") }).toEqual({ code: 0, err: "" });
        const printed = JSON.parse(out.join(""));
        expect(printed.object).toBe(made.plain);
        expect(fs.readFileSync(printed.snapshotPath).equals(fs.readFileSync(path.join(plainDir(), made.plain!)))).toBe(true);
        expect(err.join("")).toContain(`next: pulumi config set snapshotPath ${printed.snapshotPath}`);
    });

    test("one flipped byte in an object whose sidecar is of the original: refused, naming both hashes, no file left", async () => {
        const original = fs.readFileSync(path.join(plainDir(), made.plain!));
        const altered = Buffer.from(original);
        altered[8192] = altered[8192]! ^ 0xff;
        const name = newerName(made.plain!);
        fs.writeFileSync(path.join(plainDir(), name), altered);
        fs.writeFileSync(path.join(plainDir(), `${name}.sha256`), `${sha256(original)}  ${name}\n`);
        const dir = outDir("local-corrupt");
        try {
            const { error } = await fetchRecorded({ store: { hostPath: { path: nodeDir } }, cluster: "it-prod", prefix: "plain", dir });
            expect(error).toBeInstanceOf(StoreSnapshotError);
            expect(error!.message).toContain(
                `downloaded ${original.length} bytes with SHA-256 ${sha256(altered)}, but the store lists ${original.length} bytes and its sidecar says ${sha256(original)}`,
            );
            expect(error!.message).toMatch(/the download was truncated or the object is corrupt; nothing was kept/);
            expect(fs.readdirSync(dir)).toEqual([]);
        } finally {
            fs.rmSync(path.join(plainDir(), name));
            fs.rmSync(path.join(plainDir(), `${name}.sha256`));
        }
    });

    test("encrypted (rclone crypt): decrypted with the password and salt; without them the error says to give them", async () => {
        expect(fs.readdirSync(path.join(nodeDir, "crypt", "it-prod")).every((n) => n.endsWith(".bin"))).toBe(true);
        const result = await fetchSnapshotFromStore({
            store: { hostPath: { path: nodeDir } },
            cluster: "it-prod",
            prefix: "crypt",
            encryption: { password: "crypt-pw-7f1e", salt: "crypt-salt-c20a" },
            dir: outDir("crypt"),
        });
        expect(result.object).toBe(made.crypt);
        expect(result.metadata).toMatchObject({ encrypted: true, compression: "gzip" });
        expect(await restoreAndRead(workDir, result.path, KEY)).toBe("crypt-on-node");

        const dir = outDir("crypt-nokey");
        await expect(
            fetchSnapshotFromStore({ store: { hostPath: { path: nodeDir } }, cluster: "it-prod", prefix: "crypt", dir }),
        ).rejects.toThrow(/holds encrypted backups \(rclone crypt, names ending in \.bin\): give encryption: \{ password, salt \}/);
        expect(fs.readdirSync(dir)).toEqual([]);
    });
});

/** The object bytes as stored on MinIO (rclone cat into a file: binary-safe). */
async function rawObject(key: string): Promise<Buffer> {
    const file = path.join(workDir, `raw-${process.hrtime.bigint()}`);
    await s3.rclone(["copyto", `minio:${s3.bucket}/${key}`, file]);
    const data = fs.readFileSync(file);
    fs.rmSync(file);
    return data;
}

async function putObject(key: string, data: Buffer): Promise<void> {
    const file = path.join(workDir, `put-${process.hrtime.bigint()}`);
    fs.writeFileSync(file, data);
    await s3.rclone(["copyto", file, `minio:${s3.bucket}/${key}`]);
    fs.rmSync(file);
}

async function deleteObjects(...keys: string[]): Promise<void> {
    for (const key of keys) await s3.rclone(["deletefile", `minio:${s3.bucket}/${key}`]);
}

/** A backup name one day after `object`'s (same revision and suffix): the newest in its listing. */
function newerName(object: string): string {
    return object.replace(/^etcd-snapshot-(\d{8})/, (_, day: string) => {
        const next = new Date(Date.UTC(Number(day.slice(0, 4)), Number(day.slice(4, 6)) - 1, Number(day.slice(6, 8)) + 1));
        return `etcd-snapshot-${next.toISOString().slice(0, 10).replace(/-/g, "")}`;
    });
}

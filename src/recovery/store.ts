/**
 * The snapshot straight from a store written by EtcdBackup: pick the newest
 * sealed backup (the `.sha256` sidecar is written last, so only a backup with
 * one counts), download it with rclone, check the object's SHA-256 against the
 * sidecar, gunzip it, and hand back a local snapshot file plus what the
 * backup's metadata says.
 *
 * The store is the same typed S3 / SFTP / directory description EtcdBackup
 * takes, validated and rendered by the module EtcdBackup renders its store
 * Secret with (src/backup/store.ts), for a private temp directory instead of
 * the Secret's mount: credentials live in a 0600 file that is removed
 * afterwards, never on a command line or in a log line.
 *
 * Object names are that module's too (the uploader, src/backup/uploader/uploader.sh, writes them): `<prefix>/<cluster>/etcd-snapshot-
 * <yyyymmddThhmmssZ>-rev<revision>.db[.gz]`, `<object>.sha256` (`sha256sum -c`
 * format: "<hex>  <object>") and `etcd-snapshot-…-rev<revision>.json`.
 */
import { spawn } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createGunzip } from "zlib";
import { BackupEncryption, BackupStore } from "../backup/plan";
import {
    BACKUP_NAME_PREFIX,
    DEFAULT_STORE_PREFIX,
    isEncryptedBackupObjectName,
    metadataName,
    ParsedBackupName,
    parseBackupName,
    renderBackupStore,
    sidecarName,
} from "../backup/store";
import { InputError } from "../errors";
import { SnapshotError, verifySnapshotFile } from "./snapshot";

/** What `rclone lsjson` prints per entry (the fields used here). */
export interface ListedObject {
    Name: string;
    Size: number;
    IsDir?: boolean;
    ModTime?: string;
}

/** A backup object found in a listing: what its name says (parseBackupName), its size, and whether it is sealed. */
export interface StoredBackup extends ParsedBackupName {
    sizeBytes: number;
    /** True when its `.sha256` sidecar is there: the backup passed verification (and the drill) and counts as good. */
    sealed: boolean;
}

/** The metadata EtcdBackup uploads next to each object (`<base>.json`). */
export interface BackupMetadata {
    cluster?: string;
    object?: string;
    revision?: number;
    size?: number;
    sha256?: string;
    snapshotSize?: number;
    snapshotSha256?: string;
    compression?: string;
    encrypted?: boolean;
    createdAt?: string;
    node?: string;
    /** The member the snapshot came from (a backup given one endpoint). */
    endpoint?: string;
    /** The endpoints offered (a backup given several: the etcd gateway picked one, not recorded). */
    endpoints?: string[];
    etcdImage?: string;
}

export class StoreSnapshotError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "StoreSnapshotError";
    }
}

/** The backup an object name describes (src/backup/store.ts owns the format). */
export { parseBackupName };

/** Whether a listing holds rclone-crypt names (read without the encryption key). */
export function hasEncryptedNames(listing: ListedObject[]): boolean {
    return listing.some((entry) => isEncryptedBackupObjectName(entry.Name));
}

/** Every backup object of a listing, newest first (by the time in the name, then the revision), sealed or not. */
export function backupsInListing(listing: ListedObject[]): StoredBackup[] {
    const files = listing.filter((entry) => !entry.IsDir);
    const names = new Set(files.map((entry) => entry.Name));
    const backups: StoredBackup[] = [];
    for (const entry of files) {
        const parsed = parseBackupName(entry.Name);
        if (parsed) backups.push({ ...parsed, sizeBytes: entry.Size, sealed: names.has(sidecarName(entry.Name)) });
    }
    // Fixed-width UTC timestamps sort as strings.
    return backups.sort((a, b) => (a.createdAt === b.createdAt ? b.revision - a.revision : a.createdAt < b.createdAt ? 1 : -1));
}

/**
 * The backup to restore: `object` when given (it must be sealed), else the
 * newest sealed one. `where` names the store directory in errors.
 */
export function pickBackup(listing: ListedObject[], where: string, object?: string): StoredBackup {
    const backups = backupsInListing(listing);
    if (object !== undefined) {
        const chosen = backups.find((b) => b.object === object);
        if (!chosen) {
            const known = backups.slice(0, 5).map((b) => b.object);
            throw new StoreSnapshotError(
                `${where} has no backup object ${object}${known.length ? ` (newest there: ${known.join(", ")})` : ""}`,
            );
        }
        if (!chosen.sealed) {
            throw new StoreSnapshotError(
                `${where}/${object} has no ${sidecarName(object)} sidecar: that backup was never sealed (its upload, read-back or restore drill failed), so it is not restored. Pick a sealed one or omit object for the newest sealed backup`,
            );
        }
        return chosen;
    }
    const sealed = backups.find((b) => b.sealed);
    if (sealed) return sealed;
    if (hasEncryptedNames(listing)) {
        throw new StoreSnapshotError(
            `${where} holds encrypted backups (rclone crypt, names ending in .bin): give encryption: { password, salt } as configured on EtcdBackup`,
        );
    }
    if (backups.length > 0) {
        throw new StoreSnapshotError(
            `${where} has ${backups.length} backup object(s) but none is sealed with a .sha256 sidecar (newest: ${backups[0]!.object}): every upload failed verification or the drill`,
        );
    }
    throw new StoreSnapshotError(
        `${where} holds no ${BACKUP_NAME_PREFIX}<time>-rev<revision>.db[.gz] objects: check store, prefix and cluster`,
    );
}

/** The hex SHA-256 a sidecar states for `object` (`sha256sum` format: "<hex>  <object>", or "<hex> *<object>"). */
export function parseSidecar(text: string, object: string): string {
    const line = text.split("\n").find((l) => l.trim() !== "");
    const m = line === undefined ? null : /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (!m) throw new StoreSnapshotError(`${sidecarName(object)} is not a sha256sum line ("<64 hex digits>  ${object}")`);
    if (m[2] !== object) throw new StoreSnapshotError(`${sidecarName(object)} is the sidecar of ${m[2]}, not of ${object}`);
    return m[1]!;
}

/** What to read: the same store description EtcdBackup was given, and its clusterName and prefix. */
export interface StoreSource {
    /**
     * The store, as in EtcdBackupArgs.storage: `{ s3 }`, `{ sftp }`, or `{ hostPath: { path } }`,
     * which is read here as a directory on this machine (the node's directory, or a copy of it).
     * `{ pvc }` cannot be read from outside the cluster: copy the backups out and use `{ hostPath }`.
     */
    store: BackupStore<string>;
    /** EtcdBackup's clusterName. */
    cluster: string;
    /** EtcdBackup's prefix. Default "etcd-backup". */
    prefix?: string;
    /** EtcdBackup's encryption (rclone crypt password and salt), when the backups are encrypted. */
    encryption?: BackupEncryption<string>;
}

export interface RenderedRcloneConfig {
    /** The rclone.conf text (holds credentials: write it 0600). */
    config: string;
    /** Extra files the config names (CA bundle, SSH key, known_hosts), relative to configDir. */
    files: Record<string, string>;
    /** rclone path of the cluster's backup directory, e.g. "store:bucket/etcd-backup/prod" or "crypt:etcd-backup/prod". */
    remoteDir: string;
    /** Human form of the same place, for messages, e.g. "s3://bucket/etcd-backup/prod". */
    storeUrl: string;
    /** rclone --ca-cert when the store has its own CA bundle. */
    caCertFile?: string;
}

/**
 * The rclone configuration for reading `source` from this machine, with every
 * file it names inside `configDir`: the store and crypt sections EtcdBackup
 * puts into its Secret (renderBackupStore: same validation, same options),
 * rendered for configDir, with a directory store read where it is. Errors
 * name this module's arguments (store, cluster).
 */
export function renderStoreRcloneConfig(source: StoreSource, configDir: string): RenderedRcloneConfig {
    if (!path.isAbsolute(configDir)) throw new InputError("configDir", configDir, "give an absolute directory");
    const store = renderBackupStore(
        {
            storage: source.store,
            clusterName: source.cluster,
            prefix: source.prefix ?? DEFAULT_STORE_PREFIX,
            encryption: source.encryption,
        },
        { configDir, arguments: { storage: "store", cluster: "cluster" } },
    );
    return {
        config: store.rcloneConfig,
        files: store.files,
        remoteDir: store.remoteDir,
        storeUrl: store.storeUrl,
        ...(store.caBundleFile !== undefined ? { caCertFile: store.caBundleFile } : {}),
    };
}

export interface FetchSnapshotOptions extends StoreSource {
    /** A backup object name (e.g. "etcd-snapshot-20260123T060000Z-rev48213.db.gz"); default the newest sealed one. */
    object?: string;
    /** Directory the snapshot is written to (created when missing). */
    dir: string;
    /** rclone binary. Default "rclone" on PATH. */
    rclone?: string;
    /** Per rclone call. Default 30 minutes. */
    timeoutMs?: number;
    onProgress?: (message: string) => void;
}

export interface FetchedSnapshot {
    /** The local snapshot file (decompressed, mode 0600), checked like any snapshot file (verifySnapshotFile). */
    path: string;
    object: string;
    storeUrl: string;
    revision: number;
    /** When the backup was made (UTC, from its name). */
    createdAt: string;
    /** SHA-256 of the object on the store, as its sidecar states and the download matched. */
    objectSha256: string;
    /** SHA-256 of the decompressed snapshot file. */
    snapshotSha256: string;
    sizeBytes: number;
    /** The backup's `.json`, when the store has it. */
    metadata?: BackupMetadata;
    /** True when `path` already held this snapshot (SHA-256 as the metadata says) and nothing was downloaded. */
    reused: boolean;
}

async function fileSha256(file: string): Promise<string> {
    const hash = createHash("sha256");
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    return hash.digest("hex");
}

/** The existing file's hash and size when it is the snapshot `metadata` describes; undefined otherwise (then it is replaced). */
async function alreadyFetched(target: string, metadata: BackupMetadata | undefined): Promise<{ sha256: string; size: number } | undefined> {
    if (metadata?.snapshotSha256 === undefined || metadata.snapshotSize === undefined) return undefined;
    let size: number;
    try {
        size = fs.statSync(target).size;
    } catch {
        return undefined;
    }
    if (size !== metadata.snapshotSize) return undefined;
    const sha256 = await fileSha256(target);
    return sha256 === metadata.snapshotSha256 ? { sha256, size } : undefined;
}

function rcloneEnv(): NodeJS.ProcessEnv {
    const env = { ...process.env };
    // Only the config file speaks for the store: no ambient RCLONE_* overrides, and rclone 1.60's S3
    // client fails when AWS_CA_BUNDLE is set (the store's own CA goes in with --ca-cert).
    for (const key of Object.keys(env)) if (key.startsWith("RCLONE_") || key === "AWS_CA_BUNDLE") delete env[key];
    return env;
}

export interface Rclone {
    text(args: string[]): Promise<string>;
    /** Streams an object to `sink`; resolves once rclone exited 0 and the sink finished. */
    stream(remotePath: string, sink: (input: NodeJS.ReadableStream) => Promise<void>): Promise<void>;
}

function rcloneRunner(binary: string, configFile: string, caCertFile: string | undefined, timeoutMs: number): Rclone {
    const base = [
        "--config",
        configFile,
        "--contimeout",
        "10s",
        "--timeout",
        "60s",
        "--retries",
        "3",
        "--low-level-retries",
        "3",
        ...(caCertFile ? ["--ca-cert", caCertFile] : []),
    ];
    const start = (args: string[]) => {
        const child = spawn(binary, [...base, ...args], { env: rcloneEnv(), stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        child.stderr.setEncoding("utf8");
        child.stderr.on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        const exited = new Promise<void>((resolve, reject) => {
            child.on("error", (error: NodeJS.ErrnoException) => {
                clearTimeout(timer);
                reject(
                    new StoreSnapshotError(
                        error.code === "ENOENT"
                            ? `rclone not found (${binary}): install rclone (Debian: apt-get install rclone) or pass its path`
                            : `rclone: ${error.message}`,
                    ),
                );
            });
            child.on("close", (code, signal) => {
                clearTimeout(timer);
                if (code === 0) resolve();
                else
                    reject(
                        new StoreSnapshotError(
                            `rclone ${args[0]} ${args[args.length - 1]} failed (${signal ? `killed by ${signal}${signal === "SIGKILL" ? ` after ${timeoutMs} ms` : ""}` : `exit ${code}`}): ${stderr.trim()}`,
                        ),
                    );
            });
        });
        return { child, exited };
    };
    return {
        async text(args) {
            const { child, exited } = start(args);
            let out = "";
            child.stdout.setEncoding("utf8");
            child.stdout.on("data", (chunk: string) => (out += chunk));
            await exited;
            return out;
        },
        async stream(remotePath, sink) {
            const { child, exited } = start(["cat", remotePath]);
            // A sink that gives up (e.g. gunzip on a corrupt object) stops reading: stop rclone too.
            let stoppedBySink = false;
            const sunk = sink(child.stdout).catch((error: unknown) => {
                stoppedBySink = child.kill("SIGKILL");
                throw error;
            });
            // Both must succeed; wait for both so nothing is left running. rclone's own failure
            // (store gone mid-transfer) explains a cut stream better than what the sink saw.
            const [a, b] = await Promise.allSettled([exited, sunk]);
            if (a.status === "rejected" && !stoppedBySink) throw a.reason;
            if (b.status === "rejected") throw b.reason;
            if (a.status === "rejected") throw a.reason;
        },
    };
}

/** Writes the store's config and files into a fresh 0700 directory; every file 0600. */
function writeConfigDir(source: StoreSource): { dir: string; rendered: RenderedRcloneConfig; configFile: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-recovery-store-"));
    fs.chmodSync(dir, 0o700);
    try {
        const rendered = renderStoreRcloneConfig(source, dir);
        const write = (name: string, content: string) => {
            const file = path.join(dir, name);
            fs.writeFileSync(file, content, { mode: 0o600 });
            fs.chmodSync(file, 0o600); // writeFileSync's mode is masked by umask
            return file;
        };
        for (const [name, content] of Object.entries(rendered.files)) write(name, content);
        return { dir, rendered, configFile: write("rclone.conf", rendered.config) };
    } catch (error) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw error;
    }
}

/** An open store: its rclone config in a private 0700 directory (removed by close()), and rclone pointed at it. */
export interface StoreSession {
    rendered: RenderedRcloneConfig;
    /** The cluster's directory in human form (rendered.storeUrl), for messages. */
    where: string;
    rclone: Rclone;
    /** `rclone lsjson --files-only` of the cluster's directory; throws StoreSnapshotError (with rclone's error) when the store cannot be read. */
    list(): Promise<ListedObject[]>;
    /** Removes the config directory (credentials). */
    close(): void;
}

/** Opens `source` for reading; bad store descriptions throw InputError before anything is written. */
export function openStore(source: StoreSource, options: { rclone?: string; timeoutMs?: number } = {}): StoreSession {
    const { dir, rendered, configFile } = writeConfigDir(source);
    const rclone = rcloneRunner(options.rclone ?? "rclone", configFile, rendered.caCertFile, options.timeoutMs ?? 30 * 60_000);
    return {
        rendered,
        where: rendered.storeUrl,
        rclone,
        async list() {
            const text = await rclone.text(["lsjson", "--files-only", rendered.remoteDir]);
            try {
                return JSON.parse(text) as ListedObject[];
            } catch (error) {
                throw new StoreSnapshotError(`rclone lsjson ${rendered.storeUrl} printed no JSON listing (${(error as Error).message})`);
            }
        },
        close: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

export interface DownloadedBackup {
    /** Bytes and SHA-256 of the object as stored (what its sidecar and metadata `sha256` describe). */
    objectBytes: number;
    objectSha256: string;
    /** Bytes and SHA-256 of the snapshot written to the target (decompressed; metadata `snapshotSha256`). */
    snapshotBytes: number;
    snapshotSha256: string;
}

/**
 * Streams one backup object from the store into `target` (created 0600),
 * decompressing a .gz on the way and hashing both the stored and the written
 * bytes in the same pass: nothing is held in memory. Compares nothing: the
 * caller checks the hashes. A corrupt gzip stream throws StoreSnapshotError.
 */
export async function downloadBackup(
    session: StoreSession,
    backup: Pick<StoredBackup, "object" | "gzip">,
    target: string,
): Promise<DownloadedBackup> {
    const objectHash = createHash("sha256");
    const snapshotHash = createHash("sha256");
    let objectBytes = 0;
    let snapshotBytes = 0;
    const { where, rendered } = session;
    await session.rclone.stream(`${rendered.remoteDir}/${backup.object}`, async (input) => {
        const out = fs.createWriteStream(target, { mode: 0o600, highWaterMark: 1 << 20 });
        const done = new Promise<void>((resolve, reject) => {
            out.on("finish", resolve);
            out.on("error", reject);
        });
        // 1 MiB output chunks: with zlib's default 16 KiB, inflate (the slowest part of a download) took up to 2x as long here.
        const gunzip = backup.gzip ? createGunzip({ chunkSize: 1 << 20 }) : undefined;
        const failed = new Promise<never>((_, reject) => {
            input.on("error", reject);
            gunzip?.on("error", (error) =>
                reject(
                    new StoreSnapshotError(
                        `${where}/${backup.object} does not decompress (${error.message}): the object is truncated or corrupt`,
                    ),
                ),
            );
        });
        input.on("data", (chunk: Buffer) => {
            objectHash.update(chunk);
            objectBytes += chunk.length;
        });
        const raw = gunzip ? input.pipe(gunzip) : input;
        raw.on("data", (chunk: Buffer) => {
            snapshotHash.update(chunk);
            snapshotBytes += chunk.length;
        });
        raw.pipe(out);
        await Promise.race([done, failed]);
    });
    return { objectBytes, objectSha256: objectHash.digest("hex"), snapshotBytes, snapshotSha256: snapshotHash.digest("hex") };
}

/**
 * Downloads a backup from an EtcdBackup store into `dir` and checks it: the
 * object's SHA-256 against its sidecar and its size against the listing,
 * gunzip (when .gz), the snapshot's SHA-256 against the metadata, then
 * verifySnapshotFile. Any failure removes the partial file and throws a
 * StoreSnapshotError (or SnapshotError) that says what is wrong.
 */
export async function fetchSnapshotFromStore(options: FetchSnapshotOptions): Promise<FetchedSnapshot> {
    if (typeof options.dir !== "string" || options.dir === "")
        throw new InputError("dir", options.dir, "give the directory to write the snapshot to");
    const progress = options.onProgress ?? (() => undefined);
    const session = openStore(options, options);
    const { rclone, rendered, where } = session;
    let partial: string | undefined;
    try {
        const backup = pickBackup(await session.list(), where, options.object);
        progress(`${where}/${backup.object}: revision ${backup.revision}, made ${backup.createdAt}, ${backup.sizeBytes} bytes`);
        const expectedSha256 = parseSidecar(
            await rclone.text(["cat", `${rendered.remoteDir}/${sidecarName(backup.object)}`]),
            backup.object,
        );
        let metadata: BackupMetadata | undefined;
        try {
            metadata = JSON.parse(await rclone.text(["cat", `${rendered.remoteDir}/${metadataName(backup.base)}`])) as BackupMetadata;
        } catch {
            metadata = undefined; // older or hand-made backups: the sidecar is what counts
        }

        fs.mkdirSync(options.dir, { recursive: true });
        const target = path.join(options.dir, `${backup.base}.db`);
        // Every `pulumi preview`/`up` of a stack fetches again: a file already here that is exactly the
        // snapshot the metadata names is kept instead of downloaded a second time.
        const kept = await alreadyFetched(target, metadata);
        if (kept) {
            progress(`${target}: already here, SHA-256 ${kept.sha256} as the backup's metadata says`);
            return {
                path: target,
                object: backup.object,
                storeUrl: `${where}/${backup.object}`,
                revision: backup.revision,
                createdAt: backup.createdAt,
                objectSha256: expectedSha256,
                snapshotSha256: kept.sha256,
                sizeBytes: kept.size,
                ...(metadata ? { metadata } : {}),
                reused: true,
            };
        }
        partial = path.join(options.dir, `.${backup.base}.db.partial-${randomBytes(4).toString("hex")}`);
        const started = Date.now();
        const { objectBytes, objectSha256, snapshotBytes, snapshotSha256 } = await downloadBackup(session, backup, partial);
        if (objectBytes !== backup.sizeBytes || objectSha256 !== expectedSha256) {
            throw new StoreSnapshotError(
                `${where}/${backup.object}: downloaded ${objectBytes} bytes with SHA-256 ${objectSha256}, but the store lists ${backup.sizeBytes} bytes and its sidecar says ${expectedSha256}: the download was truncated or the object is corrupt; nothing was kept`,
            );
        }
        if (metadata?.snapshotSha256 !== undefined && metadata.snapshotSha256 !== snapshotSha256) {
            throw new StoreSnapshotError(
                `${where}/${backup.object}: the decompressed snapshot's SHA-256 is ${snapshotSha256}, the backup's metadata says ${metadata.snapshotSha256}`,
            );
        }
        try {
            await verifySnapshotFile(partial);
        } catch (error) {
            const reason = error instanceof SnapshotError ? error.reason : (error as Error).message;
            throw new StoreSnapshotError(
                `${where}/${backup.object} matches its sidecar but the snapshot inside ${reason}; nothing was kept`,
            );
        }
        fs.renameSync(partial, target);
        partial = undefined;
        progress(
            `${target}: ${snapshotBytes} bytes, checked against ${sidecarName(backup.object)} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
        );
        return {
            path: target,
            object: backup.object,
            storeUrl: `${where}/${backup.object}`,
            revision: backup.revision,
            createdAt: backup.createdAt,
            objectSha256,
            snapshotSha256,
            sizeBytes: snapshotBytes,
            ...(metadata ? { metadata } : {}),
            reused: false,
        };
    } finally {
        if (partial !== undefined) fs.rmSync(partial, { force: true });
        session.close();
    }
}

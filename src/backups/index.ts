/**
 * Across the backups of an EtcdBackup store: which are there (sealed or not,
 * how old, how big, at which etcd revision, whether sidecar and metadata
 * agree), whether they still download to what was sealed (`verify`), and in
 * which of them a Kubernetes object exists and at which backup it changed
 * (`find`), so the right snapshot can be fetched for a RecoveryEnvironment.
 *
 * Nothing here knows the object names or the store layout: those are
 * src/backup/store.ts's (object names, rclone configuration), which EtcdBackup
 * and `fetch` share, read through src/recovery/store.ts (backupsInListing,
 * parseSidecar, openStore, downloadBackup). Snapshots
 * are read with src/snapshot. A backup is streamed to a 0600 file in a 0700
 * temp directory, read once, and removed before the next one comes down:
 * nothing is held whole in memory, nothing is left behind.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HashCheck, ObjectFilter, ObjectRevision, Snapshot, SnapshotFormatError, objectHistory } from "../snapshot";
import {
    BackupMetadata,
    DownloadedBackup,
    StoreSession,
    StoreSnapshotError,
    StoreSource,
    StoredBackup,
    backupsInListing,
    downloadBackup,
    hasEncryptedNames,
    openStore,
    parseSidecar,
} from "../recovery/store";
import { METADATA_GLOB, metadataName, SIDECAR_GLOB, sidecarName } from "../backup/store";

/** --object names no backup on the store. */
export class NoSuchBackupError extends StoreSnapshotError {
    constructor(message: string) {
        super(message);
        this.name = "NoSuchBackupError";
    }
}

/** The store was read but holds no sealed backup for the cluster. */
export class NoSealedBackupError extends StoreSnapshotError {
    constructor(message: string) {
        super(message);
        this.name = "NoSealedBackupError";
    }
}

export interface BackupsOptions extends StoreSource {
    /** rclone binary. Default "rclone" on PATH. */
    rclone?: string;
    /** Per rclone call. Default 30 minutes. */
    timeoutMs?: number;
    onProgress?: (message: string) => void;
    /** The time ages are counted from (ms since the epoch). Default now. */
    now?: number;
}

/**
 * What sidecar and metadata say about the object's SHA-256, without downloading it:
 * consistent: sealed, and the sidecar, the metadata and the listed size agree;
 * mismatch: they disagree (see problems); sidecar-only: sealed, no metadata;
 * metadata-only: unsealed; none: neither.
 */
export type Sha256State = "consistent" | "mismatch" | "sidecar-only" | "metadata-only" | "none";

export interface BackupEntry {
    object: string;
    /** The metadata is `<base>.json`. */
    base: string;
    /** When the backup was made (UTC, from its name). */
    createdAt: string;
    ageSeconds: number;
    /** Size of the object as listed on the store. */
    sizeBytes: number;
    gzip: boolean;
    /** Its `.sha256` sidecar is there: written last, after the read-back check (and the drill), so the backup counts as good. */
    sealed: boolean;
    hasMetadata: boolean;
    /** etcd revision: the metadata's, else the one in the name. */
    revision: number;
    revisionFrom: "metadata" | "name";
    sha256: Sha256State;
    /** The SHA-256 the sidecar states. */
    sidecarSha256?: string;
    metadata?: BackupMetadata;
    /** Every disagreement found between name, listing, sidecar and metadata. */
    problems: string[];
}

export interface BackupListing {
    storeUrl: string;
    /** Newest first (by the time in the name, then revision). */
    backups: BackupEntry[];
}

function progressOf(options: BackupsOptions): (message: string) => void {
    return options.onProgress ?? (() => undefined);
}

/** A fresh private directory (0700); removed by the caller. */
function privateTempDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-recovery-backups-"));
    fs.chmodSync(dir, 0o700);
    return dir;
}

function readIfThere(file: string): string | undefined {
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        return undefined;
    }
}

function describeEntry(backup: StoredBackup, now: number, sidecarText: string | undefined, metadataText: string | undefined): BackupEntry {
    const problems: string[] = [];
    let sidecarSha256: string | undefined;
    if (backup.sealed) {
        if (sidecarText === undefined) problems.push(`its ${sidecarName(backup.object)} is listed but could not be read`);
        else {
            try {
                sidecarSha256 = parseSidecar(sidecarText, backup.object);
            } catch (error) {
                problems.push((error as Error).message);
            }
        }
    }
    let metadata: BackupMetadata | undefined;
    if (metadataText !== undefined) {
        try {
            const parsed = JSON.parse(metadataText) as unknown;
            if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not a JSON object");
            metadata = parsed as BackupMetadata;
        } catch (error) {
            problems.push(`${backup.base}.json is not the backup's JSON metadata (${(error as Error).message})`);
        }
    }
    if (metadata) {
        if (metadata.object !== undefined && metadata.object !== backup.object)
            problems.push(`the metadata names object ${metadata.object}`);
        if (metadata.size !== undefined && metadata.size !== backup.sizeBytes)
            problems.push(`the store lists ${backup.sizeBytes} bytes, the metadata says ${metadata.size}`);
        if (metadata.revision !== undefined && metadata.revision !== backup.revision)
            problems.push(`the name says revision ${backup.revision}, the metadata ${metadata.revision}`);
        if (sidecarSha256 !== undefined && metadata.sha256 !== undefined && metadata.sha256 !== sidecarSha256) {
            problems.push(`the sidecar says SHA-256 ${sidecarSha256}, the metadata ${metadata.sha256}`);
        }
    }
    const sha256: Sha256State =
        problems.length > 0 ? "mismatch" : backup.sealed ? (metadata ? "consistent" : "sidecar-only") : metadata ? "metadata-only" : "none";
    const revisionFromMetadata = typeof metadata?.revision === "number";
    return {
        object: backup.object,
        base: backup.base,
        createdAt: backup.createdAt,
        ageSeconds: Math.round((now - Date.parse(backup.createdAt)) / 1000),
        sizeBytes: backup.sizeBytes,
        gzip: backup.gzip,
        sealed: backup.sealed,
        hasMetadata: metadata !== undefined,
        revision: revisionFromMetadata ? metadata!.revision! : backup.revision,
        revisionFrom: revisionFromMetadata ? "metadata" : "name",
        sha256,
        ...(sidecarSha256 !== undefined ? { sidecarSha256 } : {}),
        ...(metadata ? { metadata } : {}),
        problems,
    };
}

/** The listing and, in one `rclone copy`, every sidecar and metadata file (small) into `tempDir`. */
async function inventory(session: StoreSession, tempDir: string, now: number): Promise<BackupEntry[]> {
    const listing = await session.list();
    const backups = backupsInListing(listing);
    if (backups.length === 0 && hasEncryptedNames(listing)) {
        throw new StoreSnapshotError(
            `${session.where} holds encrypted backups (rclone crypt, names ending in .bin): give encryption: { password, salt } in the store file, as configured on EtcdBackup`,
        );
    }
    if (backups.length === 0) return [];
    const small = path.join(tempDir, "sidecars");
    fs.mkdirSync(small, { mode: 0o700 });
    await session.rclone.text([
        "copy",
        "--max-depth",
        "1",
        "--include",
        SIDECAR_GLOB,
        "--include",
        METADATA_GLOB,
        session.rendered.remoteDir,
        small,
    ]);
    try {
        return backups.map((b) =>
            describeEntry(
                b,
                now,
                b.sealed ? readIfThere(path.join(small, sidecarName(b.object))) : undefined,
                readIfThere(path.join(small, metadataName(b.base))),
            ),
        );
    } finally {
        fs.rmSync(small, { recursive: true, force: true });
    }
}

/** Runs `work` with an open store and a private temp directory; both are gone afterwards, whatever happens. */
async function withStore<T>(options: BackupsOptions, work: (session: StoreSession, tempDir: string) => Promise<T>): Promise<T> {
    const session = openStore(options, options);
    let tempDir: string | undefined;
    try {
        tempDir = privateTempDir();
        return await work(session, tempDir);
    } finally {
        if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
        session.close();
    }
}

/** Every backup of the cluster on the store, newest first, with what its sidecar and metadata say. Downloads no backup. */
export async function listBackups(options: BackupsOptions): Promise<BackupListing> {
    return withStore(options, async (session, tempDir) => ({
        storeUrl: session.where,
        backups: await inventory(session, tempDir, options.now ?? Date.now()),
    }));
}

/** The newest sealed backup, or undefined. */
export function newestSealed(listing: BackupListing): BackupEntry | undefined {
    return listing.backups.find((b) => b.sealed);
}

// --- reading one backup --------------------------------------------------------------------

/** Streams `entry` to a 0600 file in `tempDir`, hands it to `read`, and removes the file whatever happens. */
async function withDownload<T>(
    session: StoreSession,
    entry: BackupEntry,
    tempDir: string,
    read: (file: string, downloaded: DownloadedBackup) => Promise<T>,
): Promise<T> {
    const file = path.join(tempDir, `${entry.base}.db`);
    try {
        return await read(file, await downloadBackup(session, entry, file));
    } finally {
        fs.rmSync(file, { force: true });
    }
}

/** Opens the snapshot with src/snapshot (meta page checksums) and runs `visit` (a walk) while etcd's appended SHA-256 is checked beside it. */
async function readSnapshot<T>(file: string, visit: (snapshot: Snapshot) => T): Promise<{ hash: HashCheck; result: T }> {
    const snapshot = Snapshot.open(file);
    try {
        const hashing = snapshot.checkHashInBackground();
        let result: T;
        try {
            result = visit(snapshot);
        } catch (error) {
            await hashing.catch(() => undefined);
            throw error;
        }
        return { hash: await hashing, result };
    } finally {
        snapshot.close();
    }
}

// --- verify ------------------------------------------------------------------------------

export interface VerifyCheck {
    check: "download" | "size" | "sha256" | "snapshot-sha256" | "decompress" | "snapshot" | "revision" | "sealed" | "metadata";
    ok: boolean;
    detail: string;
}

export interface VerifyResult {
    object: string;
    createdAt: string;
    sealed: boolean;
    ok: boolean;
    checks: VerifyCheck[];
    /** Wall time of the download and the checks. */
    seconds: number;
}

export interface VerifyReport {
    storeUrl: string;
    results: VerifyResult[];
    /** Unsealed backups `all` left out (never counted as good, nothing to check them against). */
    skippedUnsealed: string[];
}

export interface VerifyOptions extends BackupsOptions {
    /** One backup object by name (sealed or not). */
    object?: string;
    /** Every sealed backup. Default: only the newest sealed one. */
    all?: boolean;
}

function unknownObject(where: string, object: string, entries: BackupEntry[]): NoSuchBackupError {
    const known = entries.slice(0, 5).map((b) => b.object);
    return new NoSuchBackupError(
        `${where} has no backup object ${object}${known.length ? ` (newest there: ${known.join(", ")}; backups ls lists them all)` : ""}`,
    );
}

async function verifyOne(session: StoreSession, entry: BackupEntry, tempDir: string): Promise<VerifyResult> {
    const started = Date.now();
    const checks: VerifyCheck[] = [];
    const add = (check: VerifyCheck["check"], ok: boolean, detail: string) => checks.push({ check, ok, detail });
    if (!entry.sealed)
        add(
            "sealed",
            false,
            "no .sha256 sidecar: the backup was never sealed (its upload, read-back or restore drill failed); fetch will not restore it",
        );
    for (const problem of entry.problems) add("metadata", false, problem);
    const meta = entry.metadata;
    try {
        await withDownload(session, entry, tempDir, async (file, got) => {
            add(
                "size",
                got.objectBytes === entry.sizeBytes && (meta?.size === undefined || meta.size === got.objectBytes),
                `downloaded ${got.objectBytes} bytes; the store lists ${entry.sizeBytes}${meta?.size !== undefined ? `, the metadata says ${meta.size}` : ""}`,
            );
            const expected = entry.sidecarSha256 ?? meta?.sha256;
            if (expected === undefined)
                add("sha256", false, `SHA-256 ${got.objectSha256}: neither sidecar nor metadata states one to compare with`);
            else {
                const against = [
                    entry.sidecarSha256 !== undefined ? "sidecar" : undefined,
                    meta?.sha256 !== undefined ? "metadata" : undefined,
                ]
                    .filter(Boolean)
                    .join(" and ");
                const ok =
                    got.objectSha256 === (entry.sidecarSha256 ?? got.objectSha256) &&
                    got.objectSha256 === (meta?.sha256 ?? got.objectSha256);
                add(
                    "sha256",
                    ok,
                    ok
                        ? `SHA-256 ${got.objectSha256} as the ${against} state`
                        : `SHA-256 of the download is ${got.objectSha256}, the ${against} state ${expected}: the object is corrupt or was altered`,
                );
            }
            if (meta?.snapshotSha256 !== undefined || meta?.snapshotSize !== undefined) {
                const ok =
                    (meta.snapshotSha256 === undefined || meta.snapshotSha256 === got.snapshotSha256) &&
                    (meta.snapshotSize === undefined || meta.snapshotSize === got.snapshotBytes);
                add(
                    "snapshot-sha256",
                    ok,
                    ok
                        ? `snapshot ${got.snapshotBytes} bytes, SHA-256 as the metadata states`
                        : `the snapshot inside is ${got.snapshotBytes} bytes with SHA-256 ${got.snapshotSha256}; the metadata says ${meta.snapshotSize} bytes, ${meta.snapshotSha256}`,
                );
            }
            try {
                // The whole of bucket "key" is decoded; its highest main revision is what etcdutl snapshot status reports.
                const { hash, result: walked } = await readSnapshot(file, (snapshot) => {
                    let revision = 0;
                    let revisions = 0;
                    snapshot.forEachRevision((record) => {
                        revisions++;
                        if (record.revision.main > revision) revision = record.revision.main;
                    });
                    return { revision, revisions };
                });
                const hashOk = hash.state === "ok";
                add(
                    "snapshot",
                    hashOk,
                    hashOk
                        ? `read whole: bbolt meta pages valid, ${walked.revisions} revisions decoded, etcd's SHA-256 trailer matches`
                        : hash.state === "absent"
                          ? "no SHA-256 trailer: not `etcdctl snapshot save` output, it cannot be checked"
                          : `etcd's SHA-256 trailer does not match the database (stored ${hash.stored}, computed ${hash.computed}): the snapshot is damaged`,
                );
                add(
                    "revision",
                    walked.revision === entry.revision,
                    `the snapshot's revision is ${walked.revision}; ${entry.revisionFrom === "metadata" ? "the metadata" : "the name"} says ${entry.revision}`,
                );
            } catch (error) {
                if (!(error instanceof SnapshotFormatError)) throw error;
                add("snapshot", false, `the snapshot reader refuses it: ${error.message}`);
            }
        });
    } catch (error) {
        if (!(error instanceof StoreSnapshotError)) throw error;
        add(/does not decompress/.test(error.message) ? "decompress" : "download", false, error.message);
    }
    return {
        object: entry.object,
        createdAt: entry.createdAt,
        sealed: entry.sealed,
        ok: checks.every((c) => c.ok),
        checks,
        seconds: (Date.now() - started) / 1000,
    };
}

/**
 * Downloads backups (one at a time) and checks each against what was sealed:
 * size, SHA-256 against sidecar and metadata, the decompressed snapshot
 * against the metadata, and the snapshot reader over the whole file (meta
 * page checksums, etcd's SHA-256 trailer, the revision in the name).
 */
export async function verifyBackups(options: VerifyOptions): Promise<VerifyReport> {
    const progress = progressOf(options);
    return withStore(options, async (session, tempDir) => {
        const entries = await inventory(session, tempDir, options.now ?? Date.now());
        let chosen: BackupEntry[];
        let skippedUnsealed: string[] = [];
        if (options.object !== undefined) {
            const entry = entries.find((b) => b.object === options.object);
            if (!entry) throw unknownObject(session.where, options.object, entries);
            chosen = [entry];
        } else if (options.all) {
            chosen = entries.filter((b) => b.sealed);
            skippedUnsealed = entries.filter((b) => !b.sealed).map((b) => b.object);
        } else {
            const newest = entries.find((b) => b.sealed);
            if (!newest)
                throw new NoSealedBackupError(
                    `${session.where} has no sealed backup to verify${entries.length ? ` (${entries.length} unsealed: every upload failed its check or the drill; --object NAME checks one)` : ": check store, prefix and cluster"}`,
                );
            chosen = [newest];
        }
        const results: VerifyResult[] = [];
        for (const [i, entry] of chosen.entries()) {
            progress(`${i + 1}/${chosen.length} ${session.where}/${entry.object}: downloading ${entry.sizeBytes} bytes`);
            const result = await verifyOne(session, entry, tempDir);
            progress(`${i + 1}/${chosen.length} ${entry.object}: ${result.ok ? "ok" : "FAILED"} (${result.seconds.toFixed(1)} s)`);
            results.push(result);
        }
        return { storeUrl: session.where, results, skippedUnsealed };
    });
}

// --- find --------------------------------------------------------------------------------

/** The object's state in one backup. */
export interface FoundIn {
    object: string;
    createdAt: string;
    /** The backup's etcd revision. */
    backupRevision: number;
    /** present: its latest revision held is a value; deleted: a deletion is held (after the compaction point); absent: no revision of it is held; error: the backup could not be read. */
    state: "present" | "deleted" | "absent" | "error";
    /** The etcd key (when held). */
    key?: string;
    modRevision?: number;
    createRevision?: number;
    version?: number;
    valueSize?: number;
    /** Revision of the deletion, when deleted. */
    deletedAt?: number;
    /** Revisions of the object this backup holds (compaction keeps the latest at its point and all after). */
    revisionsHeld?: number;
    /**
     * Whether the object differs from the next older backup that was read (state or mod revision):
     * the object changed between the two. undefined for the oldest backup read (or when this one could not be read).
     */
    changed?: boolean;
    error?: string;
}

export interface FindReport {
    storeUrl: string;
    /** Newest first. */
    backups: FoundIn[];
    /** Sealed backups beyond --limit, not read. */
    notRead: number;
    /** Matching keys (more than one when --kind matched several resources). */
    keys: string[];
}

export interface FindOptions extends BackupsOptions {
    /** The object, as src/snapshot filters it (resources, namespace, name, etcdPrefix). */
    filter: ObjectFilter;
    /** Read only the newest N sealed backups. Default all. */
    limit?: number;
}

function stateOf(history: ObjectRevision[]): Omit<FoundIn, "object" | "createdAt" | "backupRevision"> {
    const latest = history[history.length - 1];
    if (!latest) return { state: "absent" };
    const common = { key: latest.key, revisionsHeld: history.length };
    if (latest.deleted) {
        const lastValue = [...history].reverse().find((h) => !h.deleted);
        return {
            state: "deleted",
            ...common,
            deletedAt: latest.revision,
            ...(lastValue ? { modRevision: lastValue.modRevision, version: lastValue.version } : {}),
        };
    }
    return {
        state: "present",
        ...common,
        modRevision: latest.modRevision,
        createRevision: latest.createRevision,
        version: latest.version,
        valueSize: latest.valueSize,
    };
}

const sameState = (a: FoundIn, b: FoundIn) =>
    a.state === b.state && a.modRevision === b.modRevision && a.deletedAt === b.deletedAt && a.key === b.key;

/**
 * Reads every sealed backup (newest first, or the newest `limit`) once, one
 * at a time, and says whether the object exists in it and at which mod
 * revision and version; `changed` marks where it differs from the next older.
 */
export async function findInBackups(options: FindOptions): Promise<FindReport> {
    const progress = progressOf(options);
    return withStore(options, async (session, tempDir) => {
        const sealed = (await inventory(session, tempDir, options.now ?? Date.now())).filter((b) => b.sealed);
        if (sealed.length === 0)
            throw new NoSealedBackupError(
                `${session.where} has no sealed backup to search: check store, prefix and cluster (backups ls lists what is there)`,
            );
        const chosen = options.limit !== undefined ? sealed.slice(0, options.limit) : sealed;
        const found: FoundIn[] = [];
        const keys = new Set<string>();
        for (const [i, entry] of chosen.entries()) {
            const started = Date.now();
            const base = { object: entry.object, createdAt: entry.createdAt, backupRevision: entry.revision };
            try {
                const row = await withDownload(session, entry, tempDir, async (file, got) => {
                    if (
                        got.objectBytes !== entry.sizeBytes ||
                        (entry.sidecarSha256 !== undefined && got.objectSha256 !== entry.sidecarSha256)
                    ) {
                        return {
                            ...base,
                            state: "error" as const,
                            error: `downloaded ${got.objectBytes} bytes with SHA-256 ${got.objectSha256}, but the store lists ${entry.sizeBytes} bytes and the sidecar says ${entry.sidecarSha256}: the object is corrupt (backups verify --object ${entry.object})`,
                        };
                    }
                    const { hash, result } = await readSnapshot(file, (snapshot) => objectHistory(snapshot, options.filter));
                    if (hash.state === "mismatch")
                        return { ...base, state: "error" as const, error: `the snapshot inside fails etcd's SHA-256 check: it is damaged` };
                    const keysHere = new Set(result.map((r) => r.key));
                    if (keysHere.size > 1) {
                        for (const key of keysHere) keys.add(key);
                        return {
                            ...base,
                            state: "error" as const,
                            error: `${keysHere.size} objects match (${[...keysHere].join(", ")}): narrow with -n NAMESPACE or a fuller --kind`,
                        };
                    }
                    return { ...base, ...stateOf(result) };
                });
                if (row.key) keys.add(row.key);
                found.push(row);
            } catch (error) {
                if (!(error instanceof StoreSnapshotError) && !(error instanceof SnapshotFormatError)) throw error;
                found.push({ ...base, state: "error", error: error.message });
            }
            const last = found[found.length - 1]!;
            progress(
                `${i + 1}/${chosen.length} ${entry.object}: ${last.state}${last.modRevision !== undefined ? ` mod revision ${last.modRevision}` : ""} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
            );
        }
        // changed: against the next older backup that was read.
        let older: FoundIn | undefined;
        for (let i = found.length - 1; i >= 0; i--) {
            const row = found[i]!;
            if (row.state === "error") continue;
            if (older) row.changed = !sameState(row, older);
            older = row;
        }
        return { storeUrl: session.where, backups: found, notRead: sealed.length - chosen.length, keys: [...keys].sort() };
    });
}

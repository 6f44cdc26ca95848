/**
 * An etcd snapshot read as Kubernetes sees it: which objects it holds (their
 * latest revision), every revision still held of them (compaction removes
 * older ones), a value at a revision, and what fills the file. Everything
 * streams over bucket `key` in revision order; only per-key summaries are kept.
 */
import { Worker } from "worker_threads";
import { BoltFile, BoltOpenOptions, BucketRef, LeafEntry, Walk } from "./bolt";
import { SnapshotFormatError } from "./errors";
import { ObjectKey, ValueEncoding, classifyValue, normalizePrefix, parseObjectKey, resourceMatches } from "./kube";
import { EtcdMeta, KeyValue, Revision, decodeKeyValue, parseRevisionKey, readEtcdMeta } from "./mvcc";
import { ProtobufError } from "./protobuf";

export interface HashCheck {
    /** ok: the stored SHA-256 matches; mismatch: the file is damaged or altered; absent: a copied db without etcdctl's hash. */
    state: "ok" | "mismatch" | "absent";
    stored?: string;
    computed?: string;
}

export interface RevisionRecord {
    /** The etcd key (UTF-8). */
    key: string;
    revision: Revision;
    kv: KeyValue;
    /** Bytes this revision takes in bucket `key` (revision key + encoded KeyValue). */
    storedBytes: number;
    page: number;
}

/** Plain JavaScript for worker_threads (eval): no TypeScript loader needed in the worker. */
const HASH_WORKER = `
const { parentPort, workerData } = require("worker_threads");
const fs = require("fs");
const hash = require("crypto").createHash("sha256");
const fd = fs.openSync(workerData.path, "r");
const piece = Buffer.allocUnsafe(4 << 20);
for (let at = 0; at < workerData.length; ) {
    const n = fs.readSync(fd, piece, 0, Math.min(piece.length, workerData.length - at), at);
    if (n === 0) throw new Error("the file ends at byte " + at + " while hashing (truncated)");
    hash.update(piece.subarray(0, n));
    at += n;
}
fs.closeSync(fd);
parentPort.postMessage(hash.digest("hex"));
`;

export class Snapshot {
    private constructor(
        readonly path: string,
        readonly bolt: BoltFile,
    ) {}

    /** Opens and checks the meta pages; throws SnapshotFormatError when the file is not a usable bbolt database. */
    static open(path: string, options: BoltOpenOptions = {}): Snapshot {
        return new Snapshot(path, BoltFile.open(path, options));
    }

    close(): void {
        this.bolt.close();
    }

    /** Hashes the whole database: about a second per GiB. */
    checkHash(): HashCheck {
        const stored = this.bolt.storedHash();
        if (!stored) return { state: "absent" };
        const computed = this.bolt.hashDatabase();
        return { state: stored.equals(computed) ? "ok" : "mismatch", stored: stored.toString("hex"), computed: computed.toString("hex") };
    }

    /**
     * The same check on another thread, so it overlaps a walk of the file: on a
     * 100 MiB snapshot hashing costs as much as listing every object.
     */
    checkHashInBackground(): Promise<HashCheck> {
        const stored = this.bolt.storedHash();
        if (!stored) return Promise.resolve({ state: "absent" });
        return new Promise((resolve, reject) => {
            const worker = new Worker(HASH_WORKER, { eval: true, workerData: { path: this.path, length: this.bolt.dbLength } });
            worker.once("message", (computed: string) =>
                resolve({ state: computed === stored.toString("hex") ? "ok" : "mismatch", stored: stored.toString("hex"), computed }),
            );
            worker.once("error", (error) => reject(new SnapshotFormatError(this.path, undefined, `cannot be hashed: ${error.message}`)));
        });
    }

    private bucket(name: string): BucketRef {
        const ref = this.bolt.findBucket(name);
        if (!ref) throw new SnapshotFormatError(this.path, this.bolt.meta.rootPage, `no bucket "${name}": not an etcd database`);
        return ref;
    }

    etcdMeta(): EtcdMeta {
        const ref = this.bolt.findBucket("meta");
        return ref ? readEtcdMeta(this.bolt.entries(ref)) : { keys: {} };
    }

    /** One entry of bucket `key` decoded; throws SnapshotFormatError naming the page. */
    decodeRevision(entry: LeafEntry): RevisionRecord {
        const revision = parseRevisionKey(entry.key);
        if (typeof revision === "string") throw new SnapshotFormatError(this.path, entry.page, `bucket "key": ${revision}`);
        if (entry.isBucket)
            throw new SnapshotFormatError(
                this.path,
                entry.page,
                `bucket "key": revision ${revision.main}_${revision.sub} is a nested bucket, not a KeyValue`,
            );
        let kv: KeyValue;
        try {
            kv = decodeKeyValue(entry.value);
        } catch (error) {
            if (!(error instanceof ProtobufError)) throw error;
            throw new SnapshotFormatError(
                this.path,
                entry.page,
                `bucket "key": revision ${revision.main}_${revision.sub}: ${error.message}`,
            );
        }
        // A deletion stores only the key; its revision is the deletion's.
        if (revision.tombstone && kv.modRevision === 0) kv.modRevision = revision.main;
        return { key: kv.key.toString("utf8"), revision, kv, storedBytes: entry.key.length + entry.value.length, page: entry.page };
    }

    /** Every revision held, oldest first. Values are views into a page cache: copy what you keep. */
    *revisions(walk: Walk = new Walk()): Generator<RevisionRecord> {
        for (const entries of this.bolt.leafPages(this.bucket("key"), walk)) for (const entry of entries) yield this.decodeRevision(entry);
    }

    /** The same as revisions() with a callback: no generator step per revision, for whole-file passes. */
    forEachRevision(visit: (record: RevisionRecord) => void): void {
        for (const entries of this.bolt.leafPages(this.bucket("key"))) for (const entry of entries) visit(this.decodeRevision(entry));
    }
}

export interface ObjectFilter {
    /** --etcd-prefix of kube-apiserver. Default /registry. */
    etcdPrefix?: string;
    /** Resources as kubectl names them (configmaps, deployments.apps, widgets.example.com); default all. */
    resources?: string[];
    /** Only namespaced objects of this namespace (cluster-scoped objects still match); default all namespaces. */
    namespace?: string;
    name?: string;
}

export interface ObjectRevision {
    key: string;
    resource: string;
    /** Undefined for cluster-scoped objects. */
    namespace: string | undefined;
    name: string;
    revision: number;
    subRevision: number;
    deleted: boolean;
    createRevision: number;
    modRevision: number;
    version: number;
    lease: number;
    valueSize: number;
    encoding: ValueEncoding;
}

type Match = { object: ObjectKey; inNamespace: boolean };

function matcher(filter: ObjectFilter): (key: string) => Match | undefined {
    const prefix = normalizePrefix(filter.etcdPrefix ?? "/registry");
    return (key) => {
        const object = parseObjectKey(key, prefix);
        if (!object) return undefined;
        if (filter.resources && !filter.resources.some((r) => resourceMatches(object.resource, r))) return undefined;
        if (filter.name !== undefined && filter.name !== object.name) return undefined;
        return {
            object,
            inNamespace: filter.namespace === undefined || object.namespace === undefined || object.namespace === filter.namespace,
        };
    };
}

/** One literal of a fixed shape (namespace undefined for cluster-scoped: JSON leaves it out). */
function toObjectRevision(record: RevisionRecord, object: ObjectKey): ObjectRevision {
    const { kv, revision } = record;
    return {
        key: record.key,
        resource: object.resource,
        namespace: object.namespace,
        name: object.name,
        revision: revision.main,
        subRevision: revision.sub,
        deleted: revision.tombstone,
        createRevision: kv.createRevision,
        modRevision: kv.modRevision,
        version: kv.version,
        lease: kv.lease,
        valueSize: kv.value.length,
        encoding: revision.tombstone ? OTHER : classifyValue(kv.value),
    };
}

const OTHER: ValueEncoding = { type: "other" };

/**
 * The latest revision of every matching object that is not deleted, in key
 * order; `outsideNamespace` counts the objects a namespace filter left out.
 */
export function latestObjects(snapshot: Snapshot, filter: ObjectFilter = {}): { objects: ObjectRevision[]; outsideNamespace: number } {
    const match = matcher(filter);
    const latest = new Map<string, { record: ObjectRevision; inNamespace: boolean }>();
    snapshot.forEachRevision((record) => {
        const m = match(record.key);
        if (m) latest.set(record.key, { record: toObjectRevision(record, m.object), inNamespace: m.inNamespace });
    });
    const objects: ObjectRevision[] = [];
    let outsideNamespace = 0;
    for (const { record, inNamespace } of latest.values()) {
        if (record.deleted) continue;
        if (inNamespace) objects.push(record);
        else outsideNamespace++;
    }
    objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { objects, outsideNamespace };
}

/** Every revision held of the matching objects, deletions included, oldest first. */
export function objectHistory(snapshot: Snapshot, filter: ObjectFilter = {}): ObjectRevision[] {
    const match = matcher(filter);
    const out: ObjectRevision[] = [];
    snapshot.forEachRevision((record) => {
        const m = match(record.key);
        if (m?.inNamespace) out.push(toObjectRevision(record, m.object));
    });
    return out;
}

/**
 * The value of each matching object as of `atRevision` (default: the latest
 * held); deleted objects come with deleted: true and an empty value.
 */
export function objectValues(snapshot: Snapshot, filter: ObjectFilter, atRevision?: number): { object: ObjectRevision; value: Buffer }[] {
    const match = matcher(filter);
    const found = new Map<string, { object: ObjectRevision; value: Buffer }>();
    snapshot.forEachRevision((record) => {
        if (atRevision !== undefined && record.revision.main > atRevision) return;
        const m = match(record.key);
        if (m?.inNamespace) found.set(record.key, { object: toObjectRevision(record, m.object), value: Buffer.from(record.kv.value) });
    });
    return [...found.values()].sort((a, b) => (a.object.key < b.object.key ? -1 : 1));
}

export interface ResourceStats {
    resource: string;
    /** Objects whose latest revision is not a deletion. */
    objects: number;
    revisions: number;
    /** Bytes of all its revisions in bucket `key`: what it costs the database. */
    bytes: number;
}

export interface SnapshotStats {
    file: string;
    fileSize: number;
    dbSize: number;
    pageSize: number;
    hash: HashCheck;
    txid: number;
    metaPage: 0 | 1;
    otherMetaProblem?: string;
    pages: {
        /** The high-water mark: pages 0 … total-1 make the database. */
        total: number;
        /** Meta, freelist and every page reachable from the root bucket. */
        inUse: number;
        /** Pages not in use: free for reuse, or freed by the last transactions. */
        free: number;
        /** Pages listed on the freelist; absent when the database keeps no freelist on disk (etcd's snapshots do not). */
        freelist?: number;
    };
    buckets: { name: string; entries: number; pages: number }[];
    revisions: { count: number; deletions: number; oldest?: number; newest?: number };
    keys: { live: number; deleted: number };
    compactedRevision?: number;
    scheduledCompactRevision?: number;
    consistentIndex?: number;
    term?: number;
    /** Per resource, the biggest first. */
    resources: ResourceStats[];
    /** Keys outside the prefix or not shaped like objects. */
    otherKeys: { keys: number; revisions: number; bytes: number };
}

const MAX_BUCKET_NESTING = 16;

/** Counts, bytes and pages, from one walk of every bucket. */
export function snapshotStats(snapshot: Snapshot, options: { etcdPrefix?: string; hash?: HashCheck } = {}): SnapshotStats {
    const { bolt } = snapshot;
    const prefix = normalizePrefix(options.etcdPrefix ?? "/registry");
    const walk = new Walk();
    const buckets: SnapshotStats["buckets"] = [];
    const revisions: SnapshotStats["revisions"] = { count: 0, deletions: 0 };
    const latestDeleted = new Map<string, boolean>();
    const byResource = new Map<string, ResourceStats>();
    const objectOf = new Map<string, string | undefined>();
    const otherKeys = { keys: 0, revisions: 0, bytes: 0 };

    const walkNested = (ref: BucketRef, path: string, depth: number): number => {
        if (depth > MAX_BUCKET_NESTING)
            throw new SnapshotFormatError(snapshot.path, undefined, `buckets nested deeper than ${MAX_BUCKET_NESTING} at ${path}`);
        let entries = 0;
        for (const entry of bolt.entries(ref, walk)) {
            entries++;
            if (entry.isBucket) walkNested(bolt.bucketRef(entry), `${path}/${entry.key.toString("latin1")}`, depth + 1);
            else if (path === "key" && depth === 1) countRevision(snapshot.decodeRevision(entry));
        }
        return entries;
    };
    const countRevision = (record: RevisionRecord): void => {
        revisions.count++;
        if (record.revision.tombstone) revisions.deletions++;
        revisions.oldest = Math.min(revisions.oldest ?? record.revision.main, record.revision.main);
        revisions.newest = Math.max(revisions.newest ?? record.revision.main, record.revision.main);
        let resource = objectOf.get(record.key);
        if (!objectOf.has(record.key)) {
            resource = parseObjectKey(record.key, prefix)?.resource;
            objectOf.set(record.key, resource);
            if (resource === undefined) otherKeys.keys++;
        }
        latestDeleted.set(record.key, record.revision.tombstone);
        if (resource === undefined) {
            otherKeys.revisions++;
            otherKeys.bytes += record.storedBytes;
            return;
        }
        const stats = byResource.get(resource) ?? { resource, objects: 0, revisions: 0, bytes: 0 };
        stats.revisions++;
        stats.bytes += record.storedBytes;
        byResource.set(resource, stats);
    };

    for (const entry of bolt.entries(bolt.rootBucket(), walk)) {
        if (!entry.isBucket) continue;
        const name = entry.key.toString("latin1");
        const before = walk.pages;
        const entries = walkNested(bolt.bucketRef(entry), name, 1);
        buckets.push({ name, entries, pages: walk.pages - before });
    }
    const freelistWalk = new Walk();
    const free = bolt.freePageCount(freelistWalk);
    let live = 0;
    for (const [key, deleted] of latestDeleted) {
        if (deleted) continue;
        live++;
        const resource = objectOf.get(key);
        if (resource !== undefined) byResource.get(resource)!.objects++;
    }
    const meta = snapshot.etcdMeta();
    const inUse = 2 + walk.pages + freelistWalk.pages;
    return {
        file: snapshot.path,
        fileSize: bolt.fileSize,
        dbSize: bolt.dbLength,
        pageSize: bolt.pageSize,
        hash: options.hash ?? snapshot.checkHash(),
        txid: bolt.meta.txid,
        metaPage: bolt.meta.page,
        ...(bolt.meta.otherMetaProblem ? { otherMetaProblem: bolt.meta.otherMetaProblem } : {}),
        pages: {
            total: bolt.meta.highWater,
            inUse,
            free: bolt.meta.highWater - inUse,
            ...(free !== undefined ? { freelist: free } : {}),
        },
        buckets,
        revisions,
        keys: { live, deleted: latestDeleted.size - live },
        ...(meta.finishedCompactRevision !== undefined ? { compactedRevision: meta.finishedCompactRevision } : {}),
        ...(meta.scheduledCompactRevision !== undefined ? { scheduledCompactRevision: meta.scheduledCompactRevision } : {}),
        ...(meta.consistentIndex !== undefined ? { consistentIndex: meta.consistentIndex } : {}),
        ...(meta.term !== undefined ? { term: meta.term } : {}),
        resources: [...byResource.values()].sort((a, b) => b.bytes - a.bytes || (a.resource < b.resource ? -1 : 1)),
        otherKeys,
    };
}

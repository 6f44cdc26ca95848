/**
 * A read-only reader of bbolt databases (the file format of etcd's backend and
 * of `etcdctl snapshot save`), in plain TypeScript: pages are read with
 * readSync from a file descriptor, a few at a time, so a 1 GiB snapshot costs
 * a few MiB of memory. Every offset, length and page id is checked before use
 * and every walk remembers the pages it has seen, so a truncated or damaged
 * file ends in a SnapshotFormatError naming the page — never a hang, a crash
 * or a wrong-type exception.
 *
 * Layout (little-endian, as bbolt writes it on every platform etcd runs on):
 *   page header  id u64 | flags u16 | count u16 | overflow u32          (16 bytes)
 *   meta         magic u32 | version u32 | pageSize u32 | flags u32 | root {pgid u64, sequence u64}
 *                | freelist u64 | pgid (high-water) u64 | txid u64 | checksum u64 (FNV-1a 64 of the 56 bytes before it)
 *   branch elem  pos u32 | ksize u32 | pgid u64                          (16 bytes, pos relative to the element)
 *   leaf elem    flags u32 (1 = bucket) | pos u32 | ksize u32 | vsize u32 (16 bytes)
 *   bucket value root u64 | sequence u64, then (root 0) an inline leaf page
 */
import { createHash } from "crypto";
import { closeSync, fstatSync, openSync, readSync } from "fs";
import { SnapshotFormatError } from "./errors";

export const PAGE_HEADER_SIZE = 16;
const ELEMENT_SIZE = 16;
const BUCKET_HEADER_SIZE = 16;
const META_SIZE = 64;
export const BOLT_MAGIC = 0xed0cdaed;
const BOLT_VERSION = 2;
export const PageFlag = { branch: 0x01, leaf: 0x02, meta: 0x04, freelist: 0x10 } as const;
const BUCKET_LEAF_FLAG = 0x01;
/** bbolt's freelist pgid when the freelist is not written to disk (NoFreelistSync). */
const NO_FREELIST = Number.MAX_SAFE_INTEGER;
/** A B+tree this deep holds more keys than any file could: deeper means a damaged page. */
const MAX_DEPTH = 64;
/** Pages read per readSync: neighbouring leaves are usually read one after another. */
const CHUNK_PAGES = 64;
const CACHED_CHUNKS = 32;

/** A u64 as a number: exact below 2^53, and anything above that is out of range for a page id or a size anyway. */
export function u64(buf: Buffer, offset: number): number {
    const high = buf.readUInt32LE(offset + 4);
    if (high >= 0x200000) return NO_FREELIST;
    return high * 0x1_0000_0000 + buf.readUInt32LE(offset);
}

/** FNV-1a, 64 bits (Go's hash/fnv New64a), over `bytes`. */
export function fnv1a64(bytes: Buffer): bigint {
    let hash = 0xcbf29ce484222325n;
    for (const byte of bytes) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
    return hash;
}

export interface BoltMeta {
    /** Which of the two meta pages was chosen (the valid one with the highest txid). */
    page: 0 | 1;
    pageSize: number;
    flags: number;
    rootPage: number;
    /** The freelist page, or undefined when the database does not keep one on disk. */
    freelistPage: number | undefined;
    /** Pages 0 … highWater-1 are the database. */
    highWater: number;
    txid: number;
    /** Why the other meta page was not used, when it was invalid. */
    otherMetaProblem?: string;
}

export interface Page {
    id: number;
    flags: number;
    count: number;
    overflow: number;
    /** The whole page, header included, with its overflow pages. */
    buf: Buffer;
}

/** Where a bucket's tree starts: a page of its own, or a leaf page inline in its parent's value. */
export type BucketRef = { kind: "page"; root: number } | { kind: "inline"; page: Buffer; parentPage: number };

export interface LeafEntry {
    key: Buffer;
    value: Buffer;
    isBucket: boolean;
    /** The page the entry was found on (the parent's page for an inline bucket), for error messages. */
    page: number;
}

/** Pages seen by one walk: a page met twice is a cycle, so the file is damaged. */
export class Walk {
    readonly seen = new Set<number>();
    /** Pages read, overflow pages included. */
    pages = 0;
}

export interface BoltOpenOptions {
    /** Give up (SnapshotFormatError) after reading this many pages in all; for fuzzing. Default: no limit. */
    maxPageVisits?: number;
}

function parseMeta(buf: Buffer, at: number): { meta?: Omit<BoltMeta, "page" | "otherMetaProblem">; problem?: string } {
    if (buf.length < at + PAGE_HEADER_SIZE + META_SIZE) return { problem: "the file ends inside it" };
    const m = at + PAGE_HEADER_SIZE;
    if (buf.readUInt32LE(m) !== BOLT_MAGIC)
        return { problem: `bad magic 0x${buf.readUInt32LE(m).toString(16)} (a bbolt file has 0xed0cdaed)` };
    if (buf.readUInt32LE(m + 4) !== BOLT_VERSION) return { problem: `format version ${buf.readUInt32LE(m + 4)}, not 2` };
    const stored = buf.readBigUInt64LE(m + 56);
    if (stored !== fnv1a64(buf.subarray(m, m + 56))) return { problem: "checksum does not match its contents" };
    const freelist = u64(buf, m + 32);
    return {
        meta: {
            pageSize: buf.readUInt32LE(m + 8),
            flags: buf.readUInt32LE(m + 12),
            rootPage: u64(buf, m + 16),
            freelistPage: freelist === NO_FREELIST ? undefined : freelist,
            highWater: u64(buf, m + 40),
            txid: u64(buf, m + 48),
        },
    };
}

function validPageSize(size: number): boolean {
    return size >= 512 && size <= 1 << 20 && (size & (size - 1)) === 0;
}

export class BoltFile {
    readonly meta: BoltMeta;
    /** Bytes of the database itself (the file minus a trailing hash). */
    readonly dbLength: number;
    readonly fileSize: number;
    /** Whether the file carries etcdctl's 32-byte SHA-256 after the database. */
    readonly hasHashTrailer: boolean;
    private readonly fd: number;
    private readonly chunks = new Map<number, Buffer>();
    private visits = 0;

    private constructor(
        readonly path: string,
        fd: number,
        private readonly options: BoltOpenOptions,
    ) {
        this.fd = fd;
        this.fileSize = fstatSync(fd).size;
        const fail = (page: number | undefined, reason: string) => new SnapshotFormatError(path, page, reason);
        const head = this.readAt(0, Math.min(this.fileSize, 4096));
        const first = parseMeta(head, 0);
        const metaAt = (offset: number) =>
            parseMeta(this.readAt(offset, Math.min(Math.max(this.fileSize - offset, 0), PAGE_HEADER_SIZE + META_SIZE)), 0);
        let pageSize = first.meta && validPageSize(first.meta.pageSize) ? first.meta.pageSize : 4096;
        let second = metaAt(pageSize);
        if (!first.meta) {
            // Meta 0 is damaged, so the page size is unknown: look for meta 1 where the usual page sizes put it (4 KiB … 64 KiB).
            for (const size of [8192, 16384, 32768, 65536]) {
                if (second.meta?.pageSize === pageSize) break;
                const candidate = metaAt(size);
                if (candidate.meta?.pageSize === size) [pageSize, second] = [size, candidate];
            }
        }
        const candidates = [first, second]
            .map((c, page) => ({ ...c, page: page as 0 | 1 }))
            .filter((c) => c.meta && c.meta.pageSize === pageSize);
        if (candidates.length === 0) {
            throw fail(
                0,
                `not a usable bbolt database: neither meta page is valid (meta 0: ${first.problem ?? "page size differs"}; meta 1: ${second.problem ?? `page size ${second.meta?.pageSize} differs from meta 0's`})`,
            );
        }
        const chosen = candidates.reduce((a, b) => (b.meta!.txid > a.meta!.txid ? b : a));
        const other = chosen.page === 0 ? second : first;
        this.meta = { ...chosen.meta!, page: chosen.page, ...(other.problem ? { otherMetaProblem: other.problem } : {}) };
        const { highWater, rootPage, freelistPage } = this.meta;
        if (!validPageSize(pageSize)) throw fail(chosen.page, `page size ${pageSize} is not a power of two between 512 and 1 MiB`);
        const rest = this.fileSize % pageSize;
        if (rest !== 0 && rest !== 32) {
            throw fail(
                undefined,
                `size ${this.fileSize} is not a whole number of ${pageSize}-byte pages (nor pages plus the 32-byte hash etcdctl snapshot save appends): the file is truncated or has bytes appended`,
            );
        }
        this.hasHashTrailer = rest === 32;
        this.dbLength = this.fileSize - rest;
        const pagesInFile = this.dbLength / pageSize;
        if (highWater < 2 || highWater > pagesInFile) {
            throw fail(
                chosen.page,
                `the database has ${highWater} pages by its meta page but the file holds ${pagesInFile}: it is truncated`,
            );
        }
        if (rootPage < 2 || rootPage >= highWater)
            throw fail(chosen.page, `root bucket page ${rootPage} is outside the database (pages 2…${highWater - 1})`);
        if (freelistPage !== undefined && (freelistPage < 2 || freelistPage >= highWater)) {
            throw fail(chosen.page, `freelist page ${freelistPage} is outside the database (pages 2…${highWater - 1})`);
        }
    }

    static open(path: string, options: BoltOpenOptions = {}): BoltFile {
        const fd = openSync(path, "r");
        try {
            return new BoltFile(path, fd, options);
        } catch (error) {
            closeSync(fd);
            throw error;
        }
    }

    close(): void {
        closeSync(this.fd);
        this.chunks.clear();
    }

    get pageSize(): number {
        return this.meta.pageSize;
    }

    /** Exactly `length` bytes at `position`; a short read is a truncated file. */
    private readAt(position: number, length: number): Buffer {
        const buf = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
            const n = readSync(this.fd, buf, done, length - done, position + done);
            if (n === 0)
                throw new SnapshotFormatError(
                    this.path,
                    undefined,
                    `the file ends at byte ${position + done}, expected ${length - done} more bytes (truncated)`,
                );
            done += n;
        }
        return buf;
    }

    private chunk(index: number): Buffer {
        let chunk = this.chunks.get(index);
        if (chunk) {
            this.chunks.delete(index);
        } else {
            const start = index * CHUNK_PAGES * this.pageSize;
            chunk = this.readAt(start, Math.min(CHUNK_PAGES * this.pageSize, this.dbLength - start));
            if (this.chunks.size >= CACHED_CHUNKS) this.chunks.delete(this.chunks.keys().next().value!);
        }
        this.chunks.set(index, chunk);
        return chunk;
    }

    /** The raw bytes of pages id … id+count-1 (never past the high-water mark). */
    private pageBytes(id: number, count: number): Buffer {
        const size = this.pageSize;
        const first = Math.floor(id / CHUNK_PAGES);
        const last = Math.floor((id + count - 1) / CHUNK_PAGES);
        if (first === last) {
            const offset = (id - first * CHUNK_PAGES) * size;
            return this.chunk(first).subarray(offset, offset + count * size);
        }
        return this.readAt(id * size, count * size);
    }

    /** Page `id` with its overflow, checked as bbolt's fastCheck does, counted against the walk. */
    page(id: number, walk: Walk, from?: number): Page {
        const fail = (reason: string) => new SnapshotFormatError(this.path, id, reason);
        if (!Number.isInteger(id) || id < 2 || id >= this.meta.highWater) {
            throw new SnapshotFormatError(
                this.path,
                from,
                `refers to page ${id}, outside the database (pages 2…${this.meta.highWater - 1})`,
            );
        }
        if (walk.seen.has(id))
            throw new SnapshotFormatError(this.path, from, `refers to page ${id} a second time in one walk (a cycle): the file is damaged`);
        walk.seen.add(id);
        if (this.options.maxPageVisits !== undefined && ++this.visits > this.options.maxPageVisits) {
            throw fail(`page-visit budget of ${this.options.maxPageVisits} exceeded`);
        }
        const header = this.pageBytes(id, 1);
        const overflow = header.readUInt32LE(12);
        if (u64(header, 0) !== id) throw fail(`its header says it is page ${u64(header, 0)}`);
        if (id + overflow >= this.meta.highWater)
            throw fail(`${overflow} overflow pages run past the end of the database (page ${this.meta.highWater - 1})`);
        for (let i = 1; i <= overflow; i++) {
            if (walk.seen.has(id + i)) throw fail(`its overflow page ${id + i} was already seen in this walk`);
            walk.seen.add(id + i);
        }
        walk.pages += 1 + overflow;
        const buf = overflow === 0 ? header : this.pageBytes(id, 1 + overflow);
        return { id, flags: header.readUInt16LE(8), count: header.readUInt16LE(10), overflow, buf };
    }

    rootBucket(): BucketRef {
        return { kind: "page", root: this.meta.rootPage };
    }

    /** A nested bucket's root from its value in the parent's leaf. */
    bucketRef(entry: LeafEntry): BucketRef {
        const fail = (reason: string) =>
            new SnapshotFormatError(this.path, entry.page, `bucket ${JSON.stringify(entry.key.toString("latin1"))}: ${reason}`);
        if (entry.value.length < BUCKET_HEADER_SIZE)
            throw fail(`value of ${entry.value.length} bytes is shorter than a bucket header (16)`);
        const root = u64(entry.value, 0);
        if (root !== 0) return { kind: "page", root };
        const page = entry.value.subarray(BUCKET_HEADER_SIZE);
        if (page.length < PAGE_HEADER_SIZE) throw fail("inline bucket without a page header");
        if (page.readUInt16LE(8) !== PageFlag.leaf)
            throw fail(`inline bucket page has flags 0x${page.readUInt16LE(8).toString(16)}, not a leaf (0x02)`);
        return { kind: "inline", page, parentPage: entry.page };
    }

    /** The nested bucket `name` of `parent`, or undefined. */
    findBucket(name: string, parent: BucketRef = this.rootBucket()): BucketRef | undefined {
        const wanted = Buffer.from(name, "latin1");
        for (const entry of this.entries(parent)) {
            if (entry.isBucket && entry.key.equals(wanted)) return this.bucketRef(entry);
        }
        return undefined;
    }

    /** The elements of one leaf page, all checked against the page's bounds. */
    private leafEntries(buf: Buffer, count: number, pageId: number): LeafEntry[] {
        if (PAGE_HEADER_SIZE + count * ELEMENT_SIZE > buf.length) {
            throw new SnapshotFormatError(this.path, pageId, `${count} leaf elements do not fit in the page`);
        }
        const out: LeafEntry[] = new Array(count);
        for (let i = 0; i < count; i++) {
            const at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
            const flags = buf.readUInt32LE(at);
            const start = at + buf.readUInt32LE(at + 4);
            const ksize = buf.readUInt32LE(at + 8);
            const vsize = buf.readUInt32LE(at + 12);
            if (start + ksize + vsize > buf.length) {
                throw new SnapshotFormatError(
                    this.path,
                    pageId,
                    `leaf element ${i} (key ${ksize} bytes, value ${vsize} bytes at offset ${start}) runs past the end of the page`,
                );
            }
            out[i] = {
                key: buf.subarray(start, start + ksize),
                value: buf.subarray(start + ksize, start + ksize + vsize),
                isBucket: (flags & BUCKET_LEAF_FLAG) !== 0,
                page: pageId,
            };
        }
        return out;
    }

    /**
     * The key/value pairs of one bucket in key order, one leaf page at a time
     * (nested buckets appear as entries with isBucket). Depth-first with an
     * explicit stack, so a damaged tree cannot exhaust the call stack.
     */
    *leafPages(ref: BucketRef, walk: Walk = new Walk()): Generator<LeafEntry[]> {
        if (ref.kind === "inline") {
            yield this.leafEntries(ref.page, ref.page.readUInt16LE(10), ref.parentPage);
            return;
        }
        const stack: { page: Page; next: number }[] = [{ page: this.page(ref.root, walk), next: 0 }];
        while (stack.length > 0) {
            const top = stack[stack.length - 1]!;
            const { page } = top;
            if (page.flags === PageFlag.leaf) {
                stack.pop();
                yield this.leafEntries(page.buf, page.count, page.id);
                continue;
            }
            if (page.flags !== PageFlag.branch) {
                throw new SnapshotFormatError(this.path, page.id, `flags 0x${page.flags.toString(16)} where a branch or leaf page belongs`);
            }
            if (page.count === 0) throw new SnapshotFormatError(this.path, page.id, "branch page without elements");
            if (PAGE_HEADER_SIZE + page.count * ELEMENT_SIZE > page.buf.length) {
                throw new SnapshotFormatError(this.path, page.id, `${page.count} branch elements do not fit in the page`);
            }
            if (top.next >= page.count) {
                stack.pop();
                continue;
            }
            const at = PAGE_HEADER_SIZE + top.next++ * ELEMENT_SIZE;
            const keyEnd = at + page.buf.readUInt32LE(at) + page.buf.readUInt32LE(at + 4);
            if (keyEnd > page.buf.length)
                throw new SnapshotFormatError(this.path, page.id, `branch element ${top.next - 1}'s key runs past the end of the page`);
            if (stack.length >= MAX_DEPTH) throw new SnapshotFormatError(this.path, page.id, `the tree is deeper than ${MAX_DEPTH} levels`);
            stack.push({ page: this.page(u64(page.buf, at + 8), walk, page.id), next: 0 });
        }
    }

    /** The key/value pairs of one bucket in key order. */
    *entries(ref: BucketRef, walk: Walk = new Walk()): Generator<LeafEntry> {
        for (const entries of this.leafPages(ref, walk)) yield* entries;
    }

    /** The SHA-256 etcdctl stored after the database, when there is one. */
    storedHash(): Buffer | undefined {
        return this.hasHashTrailer ? this.readAt(this.dbLength, 32) : undefined;
    }

    /** SHA-256 of the database part, read in 1 MiB pieces. */
    hashDatabase(): Buffer {
        const hash = createHash("sha256");
        // One buffer for the whole file: hash.update copies nothing it keeps, and 1 GiB of garbage costs more than the hashing.
        const piece = Buffer.allocUnsafe(4 << 20);
        for (let at = 0; at < this.dbLength; at += piece.length) {
            const length = Math.min(piece.length, this.dbLength - at);
            let done = 0;
            while (done < length) {
                const n = readSync(this.fd, piece, done, length - done, at + done);
                if (n === 0)
                    throw new SnapshotFormatError(this.path, undefined, `the file ends at byte ${at + done} while hashing (truncated)`);
                done += n;
            }
            hash.update(piece.subarray(0, length));
        }
        return hash.digest();
    }

    /** Page ids on the freelist (pages free for reuse), or undefined when the database keeps no freelist on disk. */
    freePageCount(walk: Walk = new Walk()): number | undefined {
        if (this.meta.freelistPage === undefined) return undefined;
        const page = this.page(this.meta.freelistPage, walk);
        if (page.flags !== PageFlag.freelist)
            throw new SnapshotFormatError(
                this.path,
                page.id,
                `the meta page names it the freelist but its flags are 0x${page.flags.toString(16)}`,
            );
        let count = page.count;
        let start = PAGE_HEADER_SIZE;
        if (count === 0xffff) {
            count = u64(page.buf, PAGE_HEADER_SIZE);
            start += 8;
        }
        if (start + count * 8 > page.buf.length)
            throw new SnapshotFormatError(this.path, page.id, `${count} free page ids do not fit in the freelist page`);
        return count;
    }
}

/**
 * Checks a snapshot file before anything is created from it. `etcdctl
 * snapshot save` writes a bbolt database followed by the SHA-256 of that
 * database (32 bytes); etcd's own restore finds the hash by the file size
 * (size % 512 == 32). A truncated or altered file is refused here, with a
 * message that says so, instead of as a failed restore container later.
 * The plan also runs `etcdutl snapshot status` in the etcd image beside the
 * restore, which checks the database itself; etcd starts only after both.
 */
import { createHash } from "crypto";
import { closeSync, createReadStream, openSync, promises as fs, readSync, statSync } from "fs";

/** bbolt's meta page magic, little-endian at offset 16 of the first page. */
const BOLT_MAGIC = 0xed0cdaed;
const SHA256_SIZE = 32;

export class SnapshotError extends Error {
    constructor(
        readonly snapshotPath: string,
        readonly reason: string,
    ) {
        super(`snapshot ${snapshotPath} ${reason}`);
        this.name = "SnapshotError";
    }
}

export interface SnapshotFileCheck {
    path: string;
    sizeBytes: number;
    /** Hex SHA-256 of the database part, as stored at the end of the file. */
    sha256: string;
    /** The file's modification time (ISO 8601): when it was saved or copied here. */
    modifiedAt: string;
}

async function sha256Of(path: string, length: number): Promise<Buffer> {
    const hash = createHash("sha256");
    if (length > 0) {
        await new Promise<void>((resolve, reject) => {
            createReadStream(path, { start: 0, end: length - 1, highWaterMark: 1 << 20 })
                .on("data", (chunk) => hash.update(chunk))
                .on("error", reject)
                .on("end", () => resolve());
        });
    }
    return hash.digest();
}

/** What the first page and the last 32 bytes say; throws a SnapshotError, or returns the stored hash. */
function checkLayout(path: string, size: number, header: Buffer): void {
    if (header.readUInt32LE(16) !== BOLT_MAGIC) {
        throw new SnapshotError(path, "is not an etcd snapshot: it does not start with a bbolt database header");
    }
    if (size % 512 === 0) {
        throw new SnapshotError(
            path,
            "has no integrity hash at its end (a copied member/snap/db rather than `etcdctl snapshot save` output, or a file cut at a page boundary); it cannot be checked, so it is refused",
        );
    }
    if (size % 512 !== SHA256_SIZE) {
        throw new SnapshotError(
            path,
            `is truncated or corrupt: its size ${size} is not a whole number of database pages plus the 32-byte hash that etcdctl snapshot save appends`,
        );
    }
}

function checkSize(path: string, size: number): void {
    if (size < 4096 + SHA256_SIZE)
        throw new SnapshotError(path, `is truncated or not an etcd snapshot: ${size} bytes is less than one database page and its hash`);
}

function checkHash(path: string, actual: Buffer, trailer: Buffer): void {
    if (!actual.equals(trailer)) {
        throw new SnapshotError(path, "is corrupt: the SHA-256 of its database does not match the hash stored at its end");
    }
}

function statFile(path: string, stat: () => { isFile(): boolean; size: number; mtime: Date }): { size: number; mtime: Date } {
    try {
        const s = stat();
        if (!s.isFile()) throw new SnapshotError(path, "is not a regular file");
        return { size: s.size, mtime: s.mtime };
    } catch (error) {
        if (error instanceof SnapshotError) throw error;
        throw new SnapshotError(path, `cannot be read: ${(error as Error).message}`);
    }
}

/** Throws a SnapshotError that says what is wrong; resolves with the file's size and hash when it is intact. */
export async function verifySnapshotFile(path: string): Promise<SnapshotFileCheck> {
    let stat: { size: number; mtime: Date };
    try {
        const s = await fs.stat(path);
        stat = statFile(path, () => s);
    } catch (error) {
        stat = statFile(path, () => {
            throw error;
        });
    }
    const size = stat.size;
    checkSize(path, size);
    const handle = await fs.open(path, "r");
    const header = Buffer.alloc(20);
    const trailer = Buffer.alloc(SHA256_SIZE);
    try {
        await handle.read(header, 0, header.length, 0);
        await handle.read(trailer, 0, SHA256_SIZE, size - SHA256_SIZE);
    } finally {
        await handle.close();
    }
    checkLayout(path, size, header);
    checkHash(path, await sha256Of(path, size - SHA256_SIZE), trailer);
    return { path, sizeBytes: size, sha256: trailer.toString("hex"), modifiedAt: stat.mtime.toISOString() };
}

/**
 * The same check, synchronously: a component constructor runs it, so a corrupt
 * file fails `pulumi preview` before any resource is registered.
 */
export function verifySnapshotFileSync(path: string): SnapshotFileCheck {
    const { size, mtime } = statFile(path, () => statSync(path));
    checkSize(path, size);
    const fd = openSync(path, "r");
    try {
        const header = Buffer.alloc(20);
        const trailer = Buffer.alloc(SHA256_SIZE);
        readSync(fd, header, 0, header.length, 0);
        readSync(fd, trailer, 0, SHA256_SIZE, size - SHA256_SIZE);
        checkLayout(path, size, header);
        const hash = createHash("sha256");
        const chunk = Buffer.alloc(1 << 20);
        for (let offset = 0; offset < size - SHA256_SIZE;) {
            const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - SHA256_SIZE - offset), offset);
            if (n === 0) throw new SnapshotError(path, "changed while it was read");
            hash.update(chunk.subarray(0, n));
            offset += n;
        }
        checkHash(path, hash.digest(), trailer);
        return { path, sizeBytes: size, sha256: trailer.toString("hex"), modifiedAt: mtime.toISOString() };
    } finally {
        closeSync(fd);
    }
}

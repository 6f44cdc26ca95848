/**
 * Checks a snapshot file before anything is created from it. `etcdctl
 * snapshot save` writes a bbolt database followed by the SHA-256 of that
 * database (32 bytes); etcd's own restore finds the hash by the file size
 * (size % 512 == 32). A truncated or altered file is refused here, with a
 * message that says so, instead of as a failed restore container later.
 * The plan also runs `etcdutl snapshot status` in the etcd image as its first
 * container, which checks the database itself.
 */
import { createHash } from "crypto";
import { createReadStream, promises as fs } from "fs";

/** bbolt's meta page magic, little-endian at offset 16 of the first page. */
const BOLT_MAGIC = 0xed0cdaed;
const SHA256_SIZE = 32;

export class SnapshotError extends Error {
    constructor(readonly snapshotPath: string, readonly reason: string) {
        super(`snapshot ${snapshotPath} ${reason}`);
        this.name = "SnapshotError";
    }
}

export interface SnapshotFileCheck {
    path: string;
    sizeBytes: number;
    /** Hex SHA-256 of the database part, as stored at the end of the file. */
    sha256: string;
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

/** Throws a SnapshotError that says what is wrong; resolves with the file's size and hash when it is intact. */
export async function verifySnapshotFile(path: string): Promise<SnapshotFileCheck> {
    let size: number;
    try {
        const stat = await fs.stat(path);
        if (!stat.isFile()) throw new SnapshotError(path, "is not a regular file");
        size = stat.size;
    } catch (error) {
        if (error instanceof SnapshotError) throw error;
        throw new SnapshotError(path, `cannot be read: ${(error as Error).message}`);
    }
    if (size < 4096 + SHA256_SIZE) throw new SnapshotError(path, `is truncated or not an etcd snapshot: ${size} bytes is less than one database page and its hash`);
    const handle = await fs.open(path, "r");
    const header = Buffer.alloc(20);
    const trailer = Buffer.alloc(SHA256_SIZE);
    try {
        await handle.read(header, 0, header.length, 0);
        await handle.read(trailer, 0, SHA256_SIZE, size - SHA256_SIZE);
    } finally {
        await handle.close();
    }
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
        throw new SnapshotError(path, `is truncated or corrupt: its size ${size} is not a whole number of database pages plus the 32-byte hash that etcdctl snapshot save appends`);
    }
    const actual = await sha256Of(path, size - SHA256_SIZE);
    if (!actual.equals(trailer)) {
        throw new SnapshotError(path, "is corrupt: the SHA-256 of its database does not match the hash stored at its end");
    }
    return { path, sizeBytes: size, sha256: trailer.toString("hex") };
}

/** A bbolt-looking database of `pages` 4 KiB pages filled with `fill`, followed by its SHA-256, as `etcdctl snapshot save` writes. */
import { createHash } from "crypto";
import * as fs from "fs";

const BOLT_MAGIC = 0xed0cdaed;

export function fakeSnapshotContent(pages = 4, fill = 3): Buffer {
    const db = Buffer.alloc(4096 * pages, fill);
    db.writeUInt32LE(BOLT_MAGIC, 16);
    return Buffer.concat([db, createHash("sha256").update(db).digest()]);
}

/** Writes fakeSnapshotContent to `file` and returns the content. */
export function writeFakeSnapshot(file: string, pages = 4, fill = 3): Buffer {
    const content = fakeSnapshotContent(pages, fill);
    fs.writeFileSync(file, content);
    return content;
}

/**
 * Copies a real snapshot with both bbolt meta pages altered (their txid, so the meta checksums no longer match)
 * and the trailing SHA-256 recomputed: the file check on this machine passes, etcdutl cannot open it.
 */
export function writeUnopenableSnapshot(from: string, to: string): void {
    const database = fs.readFileSync(from).subarray(0, -32);
    const pageSize = database.readUInt32LE(24);
    for (const meta of [0, pageSize]) database[meta + 64] ^= 0xff;
    fs.writeFileSync(to, Buffer.concat([database, createHash("sha256").update(database).digest()]));
}

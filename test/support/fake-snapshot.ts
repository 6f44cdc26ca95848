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

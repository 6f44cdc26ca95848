/**
 * Stores of backups for the `backups` tests, made of real etcd 3.5 snapshots
 * (test/fixtures/snapshot/live-etcd.ts: a plain etcd process, etcdctl
 * snapshot save) and laid out exactly as EtcdBackup's uploader leaves them
 * (src/backup/uploader/uploader.sh): `<base>.db.gz` (gzip -1) or `<base>.db`, the
 * `<object>.sha256` sidecar in sha256sum format (written last: "sealed"), and
 * `<base>.json` with the script's fields in the script's order.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";

export interface MadeBackup {
    object: string;
    base: string;
    revision: number;
    createdAt: Date;
    /** The file under the store. */
    file: string;
    sha256: string;
    snapshotSha256: string;
}

export const sha256Hex = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** yyyymmddThhmmssZ, as `date -u +%Y%m%dT%H%M%SZ`. */
export function stamp(at: Date): string {
    return at
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d{3}Z$/, "Z");
}

export interface WriteBackupOptions {
    /** The cluster's directory on the store (<store>/<prefix>/<cluster>). */
    dir: string;
    snapshotFile: string;
    revision: number;
    at: Date;
    compression?: "gzip" | "none";
    /** Write the .sha256 sidecar (default true). */
    seal?: boolean;
    /** Write the .json metadata (default true). */
    metadata?: boolean;
    cluster?: string;
}

/** One backup as the uploader writes it. */
export function writeBackup(options: WriteBackupOptions): MadeBackup {
    const compression = options.compression ?? "gzip";
    fs.mkdirSync(options.dir, { recursive: true });
    const snapshot = fs.readFileSync(options.snapshotFile);
    const base = `etcd-snapshot-${stamp(options.at)}-rev${options.revision}`;
    const object = compression === "gzip" ? `${base}.db.gz` : `${base}.db`;
    const stored = compression === "gzip" ? zlib.gzipSync(snapshot, { level: 1 }) : snapshot;
    const file = path.join(options.dir, object);
    fs.writeFileSync(file, stored);
    const sha256 = sha256Hex(stored);
    const snapshotSha256 = sha256Hex(snapshot);
    if (options.metadata ?? true) {
        const meta = {
            cluster: options.cluster ?? "prod",
            object,
            revision: options.revision,
            size: stored.length,
            sha256,
            snapshotSize: snapshot.length,
            snapshotSha256,
            compression,
            encrypted: false,
            createdAt: stamp(options.at),
            node: "cp-1",
            endpoint: "https://127.0.0.1:2379",
            etcdImage: "registry.k8s.io/etcd:3.5.21-0",
        };
        fs.writeFileSync(path.join(options.dir, `${base}.json`), `${JSON.stringify(meta)}\n`);
    }
    if (options.seal ?? true) fs.writeFileSync(path.join(options.dir, `${object}.sha256`), `${sha256}  ${object}\n`);
    return { object, base, revision: options.revision, createdAt: options.at, file, sha256, snapshotSha256 };
}

/** Flips one byte of `file` at `offset` (negative: from the end). */
export function flipByte(file: string, offset: number): void {
    const data = fs.readFileSync(file);
    const at = offset < 0 ? data.length + offset : offset;
    data[at] = data[at]! ^ 0x5a;
    fs.writeFileSync(file, data);
}

/** Copies a cluster directory (every backup file) to another. */
export function copyDir(from: string, to: string): void {
    fs.mkdirSync(to, { recursive: true });
    for (const name of fs.readdirSync(from)) fs.copyFileSync(path.join(from, name), path.join(to, name));
}

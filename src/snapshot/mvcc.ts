/**
 * etcd's MVCC layout inside the bbolt file: bucket `key` maps revision keys
 * (main u64 BE, '_', sub u64 BE, and a trailing 't' for a tombstone) to a
 * protobuf mvccpb.KeyValue; bucket `meta` holds the consistent index and the
 * compaction revisions.
 */
import { int64, ProtobufError, readVarint } from "./protobuf";

export const REVISION_KEY_SIZE = 17;
const TOMBSTONE_MARK = 0x74; // 't'

export interface Revision {
    main: number;
    sub: number;
    tombstone: boolean;
}

function beU64(buf: Buffer, offset: number): number {
    return buf.readUInt32BE(offset) * 0x1_0000_0000 + buf.readUInt32BE(offset + 4);
}

/** A revision key, or a reason it is not one. */
export function parseRevisionKey(key: Buffer): Revision | string {
    if (key.length !== REVISION_KEY_SIZE && key.length !== REVISION_KEY_SIZE + 1)
        return `revision key of ${key.length} bytes (etcd writes 17, or 18 for a deletion)`;
    if (key[8] !== 0x5f) return "revision key without the '_' separator at byte 8";
    if (key.length === REVISION_KEY_SIZE + 1 && key[17] !== TOMBSTONE_MARK)
        return `revision key with 0x${key[17]!.toString(16)} where the tombstone mark 't' belongs`;
    return { main: beU64(key, 0), sub: beU64(key, 9), tombstone: key.length === REVISION_KEY_SIZE + 1 };
}

export interface KeyValue {
    key: Buffer;
    createRevision: number;
    modRevision: number;
    version: number;
    value: Buffer;
    lease: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * mvccpb.KeyValue: 1 key, 2 create_revision, 3 mod_revision, 4 version, 5 value, 6 lease; unknown fields
 * are skipped. A plain loop rather than fields(): it runs once per revision of a whole snapshot.
 */
export function decodeKeyValue(buf: Buffer): KeyValue {
    const kv: KeyValue = { key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0 };
    let offset = 0;
    while (offset < buf.length) {
        const at = offset;
        const [tag, afterTag] = readVarint(buf, offset);
        const number = Math.floor(tag / 8);
        const wireType = tag % 8;
        if (wireType === 0) {
            const [raw, next] = readVarint(buf, afterTag);
            offset = next;
            const int = int64(raw);
            if (number === 2) kv.createRevision = int;
            else if (number === 3) kv.modRevision = int;
            else if (number === 4) kv.version = int;
            else if (number === 6) kv.lease = int;
            else if (number === 1 || number === 5) throw new ProtobufError(`KeyValue field ${number} at byte ${at} is a varint, not bytes`);
        } else if (wireType === 2) {
            const [length, start] = readVarint(buf, afterTag);
            if (start + length > buf.length)
                throw new ProtobufError(`field ${number} of ${length} bytes at byte ${at} runs past the end (${buf.length} bytes)`);
            offset = start + length;
            if (number === 1) kv.key = buf.subarray(start, offset);
            else if (number === 5) kv.value = buf.subarray(start, offset);
            else if (number >= 2 && number <= 6) throw new ProtobufError(`KeyValue field ${number} at byte ${at} is bytes, not a varint`);
        } else if (wireType === 1 || wireType === 5) {
            offset = afterTag + (wireType === 1 ? 8 : 4);
            if (offset > buf.length) throw new ProtobufError(`fixed field ${number} at byte ${at} runs past the end`);
        } else {
            throw new ProtobufError(`wire type ${wireType} of field ${number} at byte ${at} is not one etcd writes`);
        }
        if (number === 0) throw new ProtobufError(`field number 0 at byte ${at}`);
    }
    return kv;
}

export interface EtcdMeta {
    consistentIndex?: number;
    term?: number;
    /** The revision of the last finished compaction: older revisions are gone, except each key's latest. */
    finishedCompactRevision?: number;
    scheduledCompactRevision?: number;
    /** Every key of the bucket with its value's size, for the curious. */
    keys: Record<string, number>;
}

/** What bucket `meta` says; values of an unexpected size are left out rather than guessed. */
export function readEtcdMeta(entries: Iterable<{ key: Buffer; value: Buffer }>): EtcdMeta {
    const meta: EtcdMeta = { keys: {} };
    for (const { key, value } of entries) {
        const name = key.toString("latin1");
        meta.keys[name] = value.length;
        if (name === "consistent_index" && value.length === 8) meta.consistentIndex = beU64(value, 0);
        if (name === "term" && value.length === 8) meta.term = beU64(value, 0);
        if (name === "finishedCompactRev" && value.length >= 8) meta.finishedCompactRevision = beU64(value, 0);
        if (name === "scheduledCompactRev" && value.length >= 8) meta.scheduledCompactRevision = beU64(value, 0);
    }
    return meta;
}

/**
 * Just enough protobuf wire format to read etcd's mvccpb.KeyValue and the
 * envelope of Kubernetes' protobuf storage (runtime.Unknown): varints and
 * length-delimited fields. Malformed input throws ProtobufError, which callers
 * turn into a SnapshotFormatError that names the page.
 */
export class ProtobufError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ProtobufError";
    }
}

export interface Field {
    number: number;
    wireType: number;
    /** Varint fields: the value (exact below 2^53; revisions and versions are far below). */
    int?: number;
    /** Length-delimited fields: the bytes (a view into the input). */
    bytes?: Buffer;
}

/** A varint at `offset`: [value, next offset]. Values past 2^53 lose precision but never throw. */
export function readVarint(buf: Buffer, offset: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
        if (offset + i >= buf.length) throw new ProtobufError(`varint at byte ${offset} runs past the end (${buf.length} bytes)`);
        const byte = buf[offset + i]!;
        value += (byte & 0x7f) * scale;
        scale *= 128;
        if ((byte & 0x80) === 0) return [value, offset + i + 1];
    }
    throw new ProtobufError(`varint at byte ${offset} is longer than 10 bytes`);
}

/** The fields of one message, in wire order. */
export function* fields(buf: Buffer): Generator<Field> {
    let offset = 0;
    while (offset < buf.length) {
        const [tag, afterTag] = readVarint(buf, offset);
        const number = Math.floor(tag / 8);
        const wireType = tag % 8;
        if (number === 0) throw new ProtobufError(`field number 0 at byte ${offset}`);
        switch (wireType) {
            case 0: {
                const [int, next] = readVarint(buf, afterTag);
                offset = next;
                yield { number, wireType, int };
                break;
            }
            case 1:
            case 5: {
                const size = wireType === 1 ? 8 : 4;
                if (afterTag + size > buf.length) throw new ProtobufError(`fixed field ${number} at byte ${offset} runs past the end`);
                offset = afterTag + size;
                yield { number, wireType, bytes: buf.subarray(afterTag, offset) };
                break;
            }
            case 2: {
                const [length, start] = readVarint(buf, afterTag);
                if (start + length > buf.length)
                    throw new ProtobufError(`field ${number} of ${length} bytes at byte ${offset} runs past the end (${buf.length} bytes)`);
                offset = start + length;
                yield { number, wireType, bytes: buf.subarray(start, offset) };
                break;
            }
            default:
                throw new ProtobufError(`wire type ${wireType} of field ${number} at byte ${offset} is not one etcd or Kubernetes writes`);
        }
    }
}

/** int64 fields come as varints of their two's complement: undo that for negative values. */
export function int64(value: number): number {
    return value >= 2 ** 63 ? value - 2 ** 64 : value;
}

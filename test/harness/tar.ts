/**
 * A tiny ustar writer and reader: enough to put files into a container before
 * it starts (PUT /containers/{id}/archive) and to read one back with its mode
 * (GET /containers/{id}/archive), without a dependency.
 */

const BLOCK = 512;

export interface TarEntry {
    /** Path inside the archive, relative ("etc/etcd/ca.crt"); directories may end in "/". */
    name: string;
    type: "file" | "directory" | "symlink" | "other";
    mode: number;
    uid: number;
    gid: number;
    content: Buffer;
    linkName?: string;
    mtime?: Date;
}

/** Splits a path into ustar's prefix (<= 155 bytes) and name (<= 100 bytes) at a "/". */
function splitName(path: string): { prefix: string; name: string } {
    if (Buffer.byteLength(path) <= 100) return { prefix: "", name: path };
    for (let cut = path.indexOf("/"); cut !== -1; cut = path.indexOf("/", cut + 1)) {
        const prefix = path.slice(0, cut);
        const name = path.slice(cut + 1);
        if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { prefix, name };
    }
    throw new Error(`path too long for a ustar header: ${path}`);
}

function writeString(header: Buffer, offset: number, length: number, value: string): void {
    const bytes = Buffer.from(value, "utf8");
    if (bytes.length > length) throw new Error(`tar header field too long: ${value}`);
    bytes.copy(header, offset);
}

/** Octal, zero padded, NUL terminated, as ustar wants numbers. */
function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
    const digits = value.toString(8);
    if (digits.length > length - 1) throw new Error(`tar header number too large: ${value}`);
    writeString(header, offset, length, digits.padStart(length - 1, "0") + "\0");
}

const TYPE_FLAG: Record<TarEntry["type"], string> = { file: "0", directory: "5", symlink: "2", other: "0" };

function header(entry: TarEntry): Buffer {
    const block = Buffer.alloc(BLOCK);
    const name = entry.type === "directory" && !entry.name.endsWith("/") ? `${entry.name}/` : entry.name;
    const { prefix, name: shortName } = splitName(name);
    const size = entry.type === "file" ? entry.content.length : 0;
    writeString(block, 0, 100, shortName);
    writeOctal(block, 100, 8, entry.mode & 0o7777);
    writeOctal(block, 108, 8, entry.uid);
    writeOctal(block, 116, 8, entry.gid);
    writeOctal(block, 124, 12, size);
    writeOctal(block, 136, 12, Math.floor((entry.mtime ?? new Date()).getTime() / 1000));
    block.fill(" ", 148, 156); // checksum is computed with its own field as spaces
    writeString(block, 156, 1, TYPE_FLAG[entry.type]);
    writeString(block, 157, 100, entry.linkName ?? "");
    writeString(block, 257, 6, "ustar\0");
    writeString(block, 263, 2, "00");
    writeString(block, 345, 155, prefix);
    let checksum = 0;
    for (const byte of block) checksum += byte;
    writeString(block, 148, 8, checksum.toString(8).padStart(6, "0") + "\0 ");
    return block;
}

function padding(size: number): Buffer {
    const rest = size % BLOCK;
    return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** A complete ustar archive of the entries, in order. */
export function writeTar(entries: TarEntry[]): Buffer {
    const parts: Buffer[] = [];
    for (const entry of entries) {
        parts.push(header(entry));
        if (entry.type === "file") parts.push(entry.content, padding(entry.content.length));
    }
    parts.push(Buffer.alloc(2 * BLOCK)); // end of archive
    return Buffer.concat(parts);
}

function readString(block: Buffer, offset: number, length: number): string {
    const field = block.subarray(offset, offset + length);
    const end = field.indexOf(0);
    return field.subarray(0, end === -1 ? length : end).toString("utf8");
}

/** Octal text, or GNU base-256 when the high bit of the first byte is set. */
function readNumber(block: Buffer, offset: number, length: number): number {
    const field = block.subarray(offset, offset + length);
    if (field[0] & 0x80) {
        let value = field[0] & 0x7f;
        for (let i = 1; i < field.length; i++) value = value * 256 + field[i];
        return value;
    }
    const text = readString(block, offset, length).trim();
    return text === "" ? 0 : parseInt(text, 8);
}

/** PAX extended header records: "<length> <key>=<value>\n". */
function parsePax(data: Buffer): Record<string, string> {
    const records: Record<string, string> = {};
    let position = 0;
    while (position < data.length) {
        const space = data.indexOf(0x20, position);
        if (space === -1) break;
        const length = parseInt(data.subarray(position, space).toString("ascii"), 10);
        if (!Number.isFinite(length) || length <= 0) break;
        const record = data.subarray(space + 1, position + length - 1).toString("utf8");
        const equals = record.indexOf("=");
        if (equals !== -1) records[record.slice(0, equals)] = record.slice(equals + 1);
        position += length;
    }
    return records;
}

function entryType(flag: string): TarEntry["type"] {
    if (flag === "0" || flag === "" || flag === "\0" || flag === "7") return "file";
    if (flag === "5") return "directory";
    if (flag === "2") return "symlink";
    return "other";
}

/** Every entry of a ustar/PAX/GNU archive (as Docker's archive endpoint returns them). */
export function readTar(archive: Buffer): TarEntry[] {
    const entries: TarEntry[] = [];
    let position = 0;
    let pax: Record<string, string> = {};
    let longName: string | undefined;
    let longLink: string | undefined;
    while (position + BLOCK <= archive.length) {
        const block = archive.subarray(position, position + BLOCK);
        if (block.every((byte) => byte === 0)) break;
        const flag = readString(block, 156, 1);
        const size = pax.size !== undefined ? Number(pax.size) : readNumber(block, 124, 12);
        const content = archive.subarray(position + BLOCK, position + BLOCK + size);
        position += BLOCK + size + padding(size).length;
        if (flag === "x") {
            pax = { ...pax, ...parsePax(content) };
            continue;
        }
        if (flag === "g") continue;
        if (flag === "L") {
            longName = readString(content, 0, content.length);
            continue;
        }
        if (flag === "K") {
            longLink = readString(content, 0, content.length);
            continue;
        }
        const prefix = readString(block, 345, 155);
        const shortName = readString(block, 0, 100);
        const name = pax.path ?? longName ?? (prefix ? `${prefix}/${shortName}` : shortName);
        entries.push({
            name,
            type: entryType(flag),
            mode: readNumber(block, 100, 8),
            uid: pax.uid !== undefined ? Number(pax.uid) : readNumber(block, 108, 8),
            gid: pax.gid !== undefined ? Number(pax.gid) : readNumber(block, 116, 8),
            content: Buffer.from(content),
            linkName: pax.linkpath ?? longLink ?? (readString(block, 157, 100) || undefined),
            mtime: new Date(readNumber(block, 136, 12) * 1000),
        });
        pax = {};
        longName = undefined;
        longLink = undefined;
    }
    return entries;
}

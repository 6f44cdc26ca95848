/**
 * Field-by-field comparison of two X.509 certificates (or PKCS#10 requests)
 * that cannot be byte-equal: keys, serials, signatures and times are random or
 * clock-dependent. `describe*` reduces a PEM to the facts that must match
 * (DER structure of names, extensions, algorithms; shapes of the random
 * parts; validity length and backdate), `compareFacts` lists every fact that
 * differs. Pure apart from parsing: no processes, no files.
 *
 * Its own DER reader keeps it independent of src/pki (the code under test).
 */
import * as crypto from "crypto";

// --- DER --------------------------------------------------------------------

export interface DerNode {
    /** The identifier octet as it is: 0x30 SEQUENCE, 0xa3 [3] constructed, 0x82 [2] primitive. */
    tag: number;
    constructed: boolean;
    content: Buffer;
    /** Whole TLV. */
    raw: Buffer;
    /** Parsed content of a constructed node; empty for primitives. */
    children: DerNode[];
}

function readTlv(buf: Buffer, offset: number): { node: DerNode; end: number } {
    const tag = buf[offset];
    if (tag === undefined) throw new Error(`DER: truncated at ${offset}`);
    if ((tag & 0x1f) === 0x1f) throw new Error(`DER: multi-byte tag at ${offset}`);
    let length = buf[offset + 1];
    let start = offset + 2;
    if (length === undefined) throw new Error(`DER: truncated length at ${offset}`);
    if (length === 0x80) throw new Error(`DER: indefinite length at ${offset}`);
    if (length > 0x80) {
        const octets = length & 0x7f;
        length = buf.readUIntBE(start, octets);
        start += octets;
    }
    const end = start + length;
    if (end > buf.length) throw new Error(`DER: value at ${offset} runs past the end`);
    const constructed = (tag & 0x20) !== 0;
    const content = buf.subarray(start, end);
    return { node: { tag, constructed, content, raw: buf.subarray(offset, end), children: constructed ? readAll(content) : [] }, end };
}

function readAll(buf: Buffer): DerNode[] {
    const nodes: DerNode[] = [];
    for (let offset = 0; offset < buf.length;) {
        const { node, end } = readTlv(buf, offset);
        nodes.push(node);
        offset = end;
    }
    return nodes;
}

/** Parses one DER TLV that must span the whole buffer. */
export function parseDer(der: Buffer): DerNode {
    const { node, end } = readTlv(der, 0);
    if (end !== der.length) throw new Error(`DER: ${der.length - end} trailing bytes`);
    return node;
}

export function oidOf(node: DerNode): string {
    if (node.tag !== 0x06) throw new Error(`expected an OBJECT IDENTIFIER, got tag 0x${node.tag.toString(16)}`);
    const arcs: number[] = [];
    let value = 0;
    for (const byte of node.content) {
        value = value * 128 + (byte & 0x7f);
        if ((byte & 0x80) === 0) {
            arcs.push(value);
            value = 0;
        }
    }
    const first = Math.min(Math.floor(arcs[0] / 40), 2);
    return [first, arcs[0] - first * 40, ...arcs.slice(1)].join(".");
}

/** The body of a PEM block of `type` (exactly one expected). */
export function pemBody(pem: string, type: string): Buffer {
    const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g)];
    const matching = blocks.filter((b) => b[1] === type);
    if (matching.length !== 1) {
        throw new Error(`expected one PEM block "${type}", found ${blocks.map((b) => b[1]).join(", ") || "none"}`);
    }
    return Buffer.from(matching[0][2].replace(/\s+/g, ""), "base64");
}

// --- names and OIDs -----------------------------------------------------------

/** Short names for the OIDs these certificates use; others stay dotted. */
const OID_NAMES: Readonly<Record<string, string>> = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber",
    "1.2.840.113549.1.9.1": "emailAddress",
    "1.2.840.113549.1.1.1": "rsaEncryption",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.10045.2.1": "ecPublicKey",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.10045.3.1.7": "P-256",
    "1.3.132.0.34": "P-384",
    "1.3.132.0.35": "P-521",
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.15": "keyUsage",
    "2.5.29.17": "subjectAltName",
    "2.5.29.19": "basicConstraints",
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.37": "extKeyUsage",
    "1.2.840.113549.1.9.14": "extensionRequest",
    "2.5.29.37.0": "any",
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.5": "ipsecEndSystem",
    "1.3.6.1.5.5.7.3.6": "ipsecTunnel",
    "1.3.6.1.5.5.7.3.7": "ipsecUser",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "1.3.6.1.4.1.311.10.3.3": "msSGC",
    "2.16.840.1.113730.4.1": "nsSGC",
};

const nameOfOid = (oid: string): string => OID_NAMES[oid] ?? oid;

const STRING_TYPES: Readonly<Record<number, string>> = {
    0x0c: "UTF8String",
    0x13: "PrintableString",
    0x14: "T61String",
    0x16: "IA5String",
    0x1e: "BMPString",
};

export interface AttributeFact {
    type: string;
    encoding: string;
    value: string;
}

/** A Name as RDNs in order, each RDN's attributes in their DER (SET) order. */
export type NameFact = AttributeFact[][];

function stringValue(node: DerNode): string {
    if (node.tag === 0x1e) return Buffer.from(node.content).swap16().toString("utf16le");
    return node.content.toString(node.tag === 0x14 ? "latin1" : "utf8");
}

export function nameFacts(name: DerNode): NameFact {
    return name.children.map((rdn) =>
        rdn.children.map((atv) => {
            const [type, value] = atv.children;
            return {
                type: nameOfOid(oidOf(type)),
                encoding: STRING_TYPES[value.tag] ?? `tag 0x${value.tag.toString(16)}`,
                value: stringValue(value),
            };
        }),
    );
}

/** "C=CN, O=a+O=b, CN=x" — for messages and quick assertions. */
export function formatName(name: NameFact): string {
    return name.map((rdn) => rdn.map((a) => `${a.type}=${a.value}`).join("+")).join(", ");
}

// --- extensions -----------------------------------------------------------------

/** RFC 5280 KeyUsage bit names, bit 0 first. */
const KEY_USAGE_BITS = [
    "digitalSignature",
    "contentCommitment",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

function bitStringBits(node: DerNode): boolean[] {
    const unused = node.content[0];
    const bits: boolean[] = [];
    const bytes = node.content.subarray(1);
    for (let i = 0; i < bytes.length * 8 - unused; i++) bits.push((bytes[i >> 3] & (0x80 >> (i & 7))) !== 0);
    return bits;
}

function formatIp(bytes: Buffer): string {
    if (bytes.length === 4) return [...bytes].join(".");
    if (bytes.length === 16) return [...Array(8).keys()].map((i) => bytes.readUInt16BE(i * 2).toString(16)).join(":");
    return `<${bytes.length}-byte ip ${bytes.toString("hex")}>`;
}

/** A GeneralName as "DNS:x", "IP:x", "email:x", "URI:x" (others by tag). */
function generalName(node: DerNode): string {
    switch (node.tag) {
        case 0x82:
            return `DNS:${node.content.toString("ascii")}`;
        case 0x87:
            return `IP:${formatIp(node.content)}`;
        case 0x81:
            return `email:${node.content.toString("ascii")}`;
        case 0x86:
            return `URI:${node.content.toString("ascii")}`;
        default:
            return `tag 0x${node.tag.toString(16)}:${node.content.toString("hex")}`;
    }
}

export interface ExtensionFacts {
    /** Every extension in order: OID name, critical flag and, except for key identifiers (random), its value bytes. */
    order: { oid: string; critical: boolean; valueHex: string }[];
    keyUsage?: { critical: boolean; bits: string[] };
    extKeyUsage?: { critical: boolean; purposes: string[] };
    basicConstraints?: { critical: boolean; ca: boolean; pathLen: number | null };
    subjectAltName?: { critical: boolean; names: string[] };
    /** How the SKI was derived: SHA-1 of the subjectPublicKey bits (RFC 5280 method 1, cfssl's ComputeSKI) or not. */
    subjectKeyId?: { critical: boolean; method: "sha1(subjectPublicKey)" | "other"; octets: number };
    /** keyIdOnly: no issuer name/serial. matchesIssuerSki: null when no issuer was given. */
    authorityKeyId?: { critical: boolean; keyIdOnly: boolean; matchesIssuerSki: boolean | null };
}

const KEY_ID_OIDS = new Set(["2.5.29.14", "2.5.29.35"]);

/** Facts of a SEQUENCE OF Extension. `subjectPublicKey`: the BIT STRING of the SPKI; `issuerSki`: to check the AKI. */
function extensionFacts(extensions: DerNode | undefined, subjectPublicKey: DerNode, issuerSki: Buffer | null | undefined): ExtensionFacts {
    const facts: ExtensionFacts = { order: [] };
    for (const ext of extensions?.children ?? []) {
        const oid = oidOf(ext.children[0]);
        const critical = ext.children.length === 3 && ext.children[1].tag === 0x01 && ext.children[1].content[0] !== 0;
        const octets = ext.children[ext.children.length - 1].content;
        facts.order.push({ oid: nameOfOid(oid), critical, valueHex: KEY_ID_OIDS.has(oid) ? "<key id>" : octets.toString("hex") });
        const value = parseDer(octets);
        switch (oid) {
            case "2.5.29.15":
                facts.keyUsage = { critical, bits: bitStringBits(value).flatMap((on, i) => (on ? [KEY_USAGE_BITS[i] ?? `bit${i}`] : [])) };
                break;
            case "2.5.29.37":
                facts.extKeyUsage = { critical, purposes: value.children.map((o) => nameOfOid(oidOf(o))) };
                break;
            case "2.5.29.19": {
                const ca = value.children.find((c) => c.tag === 0x01);
                const pathLen = value.children.find((c) => c.tag === 0x02);
                facts.basicConstraints = {
                    critical,
                    ca: ca !== undefined && ca.content[0] !== 0,
                    pathLen: pathLen ? pathLen.content.readUIntBE(0, pathLen.content.length) : null,
                };
                break;
            }
            case "2.5.29.17":
                facts.subjectAltName = { critical, names: value.children.map(generalName) };
                break;
            case "2.5.29.14": {
                const sha1 = crypto.createHash("sha1").update(subjectPublicKey.content.subarray(1)).digest();
                facts.subjectKeyId = {
                    critical,
                    method: sha1.equals(value.content) ? "sha1(subjectPublicKey)" : "other",
                    octets: value.content.length,
                };
                break;
            }
            case "2.5.29.35": {
                const keyId = value.children.find((c) => c.tag === 0x80);
                facts.authorityKeyId = {
                    critical,
                    keyIdOnly: keyId !== undefined && value.children.length === 1,
                    matchesIssuerSki:
                        issuerSki === undefined ? null : keyId !== undefined && issuerSki !== null && keyId.content.equals(issuerSki),
                };
                break;
            }
        }
    }
    return facts;
}

// --- keys ---------------------------------------------------------------------------

export interface PublicKeyFact {
    algorithm: string;
    /** RSA modulus bits, or the curve name. */
    size: string;
}

function publicKeyFact(spki: DerNode): PublicKeyFact {
    const [algorithm] = spki.children;
    const algorithmOid = oidOf(algorithm.children[0]);
    const key = crypto.createPublicKey({ key: spki.raw, format: "der", type: "spki" });
    const details = key.asymmetricKeyDetails ?? {};
    if (algorithmOid === "1.2.840.10045.2.1") return { algorithm: "ecPublicKey", size: nameOfOid(oidOf(algorithm.children[1])) };
    return { algorithm: nameOfOid(algorithmOid), size: `${details.modulusLength ?? "?"} bits, e=${details.publicExponent ?? "?"}` };
}

export interface PrivateKeyFacts {
    /** The PEM label: "RSA PRIVATE KEY" (PKCS#1), "EC PRIVATE KEY" (SEC1), "PRIVATE KEY" (PKCS#8). */
    pemType: string;
    algorithm: string;
    size: string;
}

/** Never includes any key material: only the PEM label and the key's type and size. */
export function describePrivateKey(pem: string): PrivateKeyFacts {
    const labels = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]);
    if (labels.length !== 1) throw new Error(`expected one PEM block in the key, found labels: ${labels.join(", ") || "none"}`);
    const key = crypto.createPrivateKey(pem);
    const details = key.asymmetricKeyDetails ?? {};
    const size = key.asymmetricKeyType === "ec" ? String(details.namedCurve) : `${details.modulusLength} bits, e=${details.publicExponent}`;
    return { pemType: labels[0], algorithm: String(key.asymmetricKeyType), size };
}

// --- certificates and requests ---------------------------------------------------------

const TIME_TYPES: Readonly<Record<number, string>> = { 0x17: "UTCTime", 0x18: "GeneralizedTime" };

function timeOf(node: DerNode): Date {
    const text = node.content.toString("ascii");
    const m = /^(\d{2,4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!m) throw new Error(`unsupported time ${text}`);
    let year = Number(m[1]);
    if (node.tag === 0x17) year += year < 50 ? 2000 : 1900;
    return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

export interface CertificateFacts {
    version: number;
    /**
     * Shape of the random serial (its length varies: a leading zero byte is
     * dropped in DER). cfssl: 20 random bytes, top bit cleared → < 2^159.
     */
    serial: { positive: boolean; minimalEncoding: boolean; atMost159Bits: boolean; atLeast64Bits: boolean };
    signatureAlgorithm: string;
    /** The TBS's signature field names the same algorithm as the outer one. */
    signatureFieldsAgree: boolean;
    issuer: NameFact;
    subject: NameFact;
    validity: {
        encodings: string[];
        lengthSeconds: number;
        /** issuedAt − notBefore, seconds; null when no issuance time was given. */
        backdateSeconds: number | null;
    };
    publicKey: PublicKeyFact;
    extensions: ExtensionFacts;
    /** Signature checked with the issuer's public key; null when no issuer was given. */
    signedByIssuer: boolean | null;
}

/** Shape of a serial INTEGER's content octets. */
export function serialShape(bytes: Buffer): CertificateFacts["serial"] {
    const minimalEncoding = bytes.length === 1 || !((bytes[0] === 0x00 && bytes[1] < 0x80) || (bytes[0] === 0xff && bytes[1] >= 0x80));
    const bits = bytes.length * 8 - Math.clz32(bytes[0]) + 24;
    return { positive: (bytes[0] & 0x80) === 0, minimalEncoding, atMost159Bits: bits <= 159, atLeast64Bits: bits >= 64 };
}

export interface DescribeOptions {
    /** PEM of the issuing CA (the certificate itself for a self-signed root). */
    issuerPem?: string;
    /** When the certificate was requested (before running the tool), for the backdate. */
    issuedAt?: Date;
}

function subjectKeyIdOf(certPem: string): Buffer | null {
    const tbs = parseDer(pemBody(certPem, "CERTIFICATE")).children[0];
    const extensions = tbs.children.find((c) => c.tag === 0xa3)?.children[0];
    for (const ext of extensions?.children ?? []) {
        if (oidOf(ext.children[0]) === "2.5.29.14") return parseDer(ext.children[ext.children.length - 1].content).content;
    }
    return null;
}

export function describeCertificate(pem: string, options: DescribeOptions = {}): CertificateFacts {
    const cert = parseDer(pemBody(pem, "CERTIFICATE"));
    const [tbs, outerAlgorithm] = cert.children;
    // version [0] is present in v3; without it every field shifts by one
    const fields = tbs.children[0].tag === 0xa0 ? tbs.children.slice(1) : tbs.children;
    const version = tbs.children[0].tag === 0xa0 ? tbs.children[0].children[0].content[0] + 1 : 1;
    const [serial, innerAlgorithm, issuer, validity, subject, spki] = fields;
    const extensions = fields.find((c) => c.tag === 0xa3)?.children[0];
    const [notBefore, notAfter] = validity.children.map(timeOf);

    let signedByIssuer: boolean | null = null;
    if (options.issuerPem !== undefined) {
        signedByIssuer = new crypto.X509Certificate(pem).verify(new crypto.X509Certificate(options.issuerPem).publicKey);
    }
    return {
        version,
        serial: serialShape(serial.content),
        signatureAlgorithm: nameOfOid(oidOf(outerAlgorithm.children[0])),
        signatureFieldsAgree: outerAlgorithm.raw.equals(innerAlgorithm.raw),
        issuer: nameFacts(issuer),
        subject: nameFacts(subject),
        validity: {
            encodings: validity.children.map((t) => TIME_TYPES[t.tag] ?? `tag 0x${t.tag.toString(16)}`),
            lengthSeconds: (notAfter.getTime() - notBefore.getTime()) / 1000,
            backdateSeconds: options.issuedAt ? (options.issuedAt.getTime() - notBefore.getTime()) / 1000 : null,
        },
        publicKey: publicKeyFact(spki),
        extensions: extensionFacts(
            extensions,
            spki.children[1],
            options.issuerPem === undefined ? undefined : subjectKeyIdOf(options.issuerPem),
        ),
        signedByIssuer,
    };
}

export interface CsrFacts {
    version: number;
    subject: NameFact;
    publicKey: PublicKeyFact;
    /** Attribute OIDs in order. */
    attributes: string[];
    /** Extensions of the extensionRequest attribute. */
    requestedExtensions: ExtensionFacts;
    signatureAlgorithm: string;
}

export function describeCsr(pem: string): CsrFacts {
    const request = parseDer(pemBody(pem, "CERTIFICATE REQUEST"));
    const [info, algorithm] = request.children;
    const [version, subject, spki, attributes] = info.children;
    const extensionRequest = attributes?.children.find((a) => oidOf(a.children[0]) === "1.2.840.113549.1.9.14");
    return {
        version: version.content[0],
        subject: nameFacts(subject),
        publicKey: publicKeyFact(spki),
        attributes: (attributes?.children ?? []).map((a) => nameOfOid(oidOf(a.children[0]))),
        requestedExtensions: extensionFacts(extensionRequest?.children[1].children[0], spki.children[1], undefined),
        signatureAlgorithm: nameOfOid(oidOf(algorithm.children[0])),
    };
}

// --- comparison --------------------------------------------------------------------------

export interface CompareOptions {
    /**
     * Allowed difference of `validity.backdateSeconds`. Both tools round "now"
     * to the minute, so two runs a few seconds apart can differ by one minute.
     */
    backdateSkewSeconds?: number;
}

/** Leaves of a JSON-like value as "path" → JSON text; arrays keep their order in the path. */
function flatten(value: unknown, path: string, out: Map<string, string>): Map<string, string> {
    if (value !== null && typeof value === "object") {
        const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
        if (entries.length === 0) out.set(path, Array.isArray(value) ? "[]" : "{}");
        for (const [key, v] of entries) flatten(v, path ? `${path}.${key}` : key, out);
    } else {
        out.set(path, JSON.stringify(value));
    }
    return out;
}

/**
 * Every difference between two fact sets, as "path: expected X, actual Y"
 * (absent = `<absent>`). Empty when they agree.
 */
export function compareFacts(expected: object, actual: object, options: CompareOptions = {}): string[] {
    const skew = options.backdateSkewSeconds ?? 90;
    const a = flatten(expected, "", new Map());
    const b = flatten(actual, "", new Map());
    const differences: string[] = [];
    for (const path of new Set([...a.keys(), ...b.keys()])) {
        const x = a.get(path) ?? "<absent>";
        const y = b.get(path) ?? "<absent>";
        if (x === y) continue;
        if (path.endsWith("backdateSeconds") && x !== "null" && y !== "null" && Math.abs(Number(x) - Number(y)) <= skew) continue;
        differences.push(`${path}: expected ${x}, actual ${y}`);
    }
    return differences;
}

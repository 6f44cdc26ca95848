/**
 * Reading certificates (tests, adoption of existing certificates, the
 * component): a minimal DER walker and the X.509 fields the cfssl equivalent
 * writes, decoded into plain data.
 */
// `import = require` keeps forge's own exports object, so Pulumi's closure serializer captures it as require("node-forge")
import forge = require("node-forge");
import { PkiInputError } from "./cfssl-types";
import { OID } from "./oids";

const asn1 = forge.asn1;
const T = asn1.Type;
const bin = (b: Buffer): string => b.toString("binary");

export interface Tlv {
    tag: number;
    start: number; // first content byte
    end: number; // one past the last content byte
    headerStart: number;
}

export function readTlv(buf: Buffer, offset: number): Tlv {
    const tag = buf[offset];
    let len = buf[offset + 1];
    let start = offset + 2;
    if (len === undefined || tag === undefined) throw new Error("truncated DER");
    if (len & 0x80) {
        const n = len & 0x7f;
        if (n === 0 || n > 4) throw new Error("unsupported DER length");
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
        start += n;
    }
    if (start + len > buf.length) throw new Error("truncated DER");
    return { tag, start, end: start + len, headerStart: offset };
}

export function children(buf: Buffer, parent: Tlv): Tlv[] {
    const out: Tlv[] = [];
    for (let at = parent.start; at < parent.end;) {
        const t = readTlv(buf, at);
        out.push(t);
        at = t.end;
    }
    return out;
}

export const whole = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.headerStart, t.end);
export const content = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.start, t.end);
export const oidText = (buf: Buffer, t: Tlv): string => asn1.derToOid(bin(content(buf, t)));

export interface CertificateDescription {
    /** Short names (C, ST, L, O, OU, CN, …); several values of one type joined with "+". */
    subject: Record<string, string>;
    issuer: Record<string, string>;
    dnsNames: string[];
    ipAddresses: string[];
    emailAddresses: string[];
    uris: string[];
    notBefore: Date;
    notAfter: Date;
    isCa: boolean;
    /** undefined = no limit. */
    pathLen: number | undefined;
    /** X.509 names: digitalSignature, contentCommitment, keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly, decipherOnly. */
    keyUsages: string[];
    /** serverAuth, clientAuth, codeSigning, emailProtection, ipsecEndSystem, ipsecTunnel, ipsecUser, timeStamping, OCSPSigning, msSGC, nsSGC, any; other OIDs dotted. */
    extKeyUsages: string[];
    /** Lower-case hex without leading zeros (as `openssl x509 -serial` minus its padding). */
    serialHex: string;
    subjectKeyIdHex: string | undefined;
    authorityKeyIdHex: string | undefined;
    signatureAlgorithmOid: string;
    criticalExtensions: string[];
}

const KEY_USAGE_NAMES = [
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
const EXT_KEY_USAGE_NAMES: Record<string, string> = {
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
const ATTRIBUTE_NAMES: Record<string, string> = {
    [OID.country]: "C",
    [OID.province]: "ST",
    [OID.locality]: "L",
    [OID.organization]: "O",
    [OID.organizationalUnit]: "OU",
    [OID.commonName]: "CN",
    [OID.serialNumber]: "serialNumber",
    "1.2.840.113549.1.9.1": "emailAddress",
};
const EXTENSION_NAMES: Record<string, string> = {
    [OID.keyUsage]: "keyUsage",
    [OID.extKeyUsage]: "extKeyUsage",
    [OID.basicConstraints]: "basicConstraints",
    [OID.subjectKeyId]: "subjectKeyIdentifier",
    [OID.authorityKeyId]: "authorityKeyIdentifier",
    [OID.subjectAltName]: "subjectAltName",
};

export interface ParsedCertificate extends CertificateDescription {
    der: Buffer;
    subjectDer: Buffer;
    spki: Buffer;
    subjectKeyId: Buffer | undefined;
    subjectText: string;
}

export function pemToDer(pem: string, type: string, argument: string): Buffer {
    const match = typeof pem === "string" ? new RegExp(`-----BEGIN ${type}-----([\\s\\S]*?)-----END ${type}-----`).exec(pem) : null;
    if (!match) throw new PkiInputError(argument, typeof pem === "string" ? pem.slice(0, 80) : pem, `give a PEM "${type}" block`);
    return Buffer.from(match[1].replace(/\s+/g, ""), "base64");
}

function parseName(buf: Buffer, name: Tlv): Record<string, string> {
    const out: Record<string, string> = {};
    for (const rdn of children(buf, name)) {
        for (const atv of children(buf, rdn)) {
            const [type, value] = children(buf, atv);
            const key = ATTRIBUTE_NAMES[oidText(buf, type)] ?? oidText(buf, type);
            const text = content(buf, value).toString(value.tag === T.BMPSTRING ? "utf16le" : "utf8");
            out[key] = out[key] === undefined ? text : `${out[key]}+${text}`;
        }
    }
    return out;
}

function parseTime(buf: Buffer, t: Tlv): Date {
    const s = content(buf, t).toString("latin1");
    const full = t.tag === T.UTCTIME ? `${Number(s.slice(0, 2)) >= 50 ? "19" : "20"}${s}` : s;
    return new Date(
        Date.UTC(+full.slice(0, 4), +full.slice(4, 6) - 1, +full.slice(6, 8), +full.slice(8, 10), +full.slice(10, 12), +full.slice(12, 14)),
    );
}

export function formatIp(bytes: Buffer): string {
    if (bytes.length === 4) return [...bytes].join(".");
    const groups: number[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
    // RFC 5952: compress the longest run (≥ 2) of zero groups
    let best = { at: -1, len: 0 };
    for (let i = 0; i < 8;) {
        if (groups[i] !== 0) {
            i++;
            continue;
        }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > best.len) best = { at: i, len: j - i };
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (best.len < 2) return hex.join(":");
    return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
}

export function parseCertificate(pem: string, argument: string): ParsedCertificate {
    const der = pemToDer(pem, "CERTIFICATE", argument);
    try {
        return parseCertificateDer(der);
    } catch (e) {
        if (e instanceof PkiInputError) throw e;
        throw new PkiInputError(argument, pem.slice(0, 80), `give a valid X.509 certificate in PEM (${(e as Error).message})`);
    }
}

export function parseCertificateDer(der: Buffer): ParsedCertificate {
    const [tbs, sigAlg] = children(der, readTlv(der, 0));
    const fields = children(der, tbs);
    let i = fields[0].tag === 0xa0 ? 1 : 0; // [0] version
    const serial = fields[i++];
    i++; // signature algorithm
    const issuer = fields[i++];
    const validity = fields[i++];
    const subject = fields[i++];
    const spki = fields[i++];
    const extensionsWrapper = fields.slice(i).find((f) => f.tag === 0xa3);
    const [notBefore, notAfter] = children(der, validity);

    const d: ParsedCertificate = {
        der,
        subjectDer: whole(der, subject),
        spki: whole(der, spki),
        subjectKeyId: undefined,
        subject: parseName(der, subject),
        issuer: parseName(der, issuer),
        subjectText: "",
        dnsNames: [],
        ipAddresses: [],
        emailAddresses: [],
        uris: [],
        notBefore: parseTime(der, notBefore),
        notAfter: parseTime(der, notAfter),
        isCa: false,
        pathLen: undefined,
        keyUsages: [],
        extKeyUsages: [],
        serialHex: content(der, serial)
            .toString("hex")
            .replace(/^0+(?=.)/, ""),
        subjectKeyIdHex: undefined,
        authorityKeyIdHex: undefined,
        signatureAlgorithmOid: oidText(der, children(der, sigAlg)[0]),
        criticalExtensions: [],
    };
    d.subjectText = Object.entries(d.subject)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");
    const extensionList = extensionsWrapper ? children(der, children(der, extensionsWrapper)[0]) : [];
    for (const ext of extensionList) {
        const parts = children(der, ext);
        const id = oidText(der, parts[0]);
        const critical = parts.length === 3 && der[parts[1].start] !== 0;
        const valueOctets = parts[parts.length - 1];
        const value = content(der, valueOctets);
        if (critical) d.criticalExtensions.push(EXTENSION_NAMES[id] ?? id);
        applyExtension(d, id, value);
    }
    return d;
}

function applyExtension(d: ParsedCertificate, id: string, value: Buffer): void {
    const top = readTlv(value, 0);
    if (id === OID.keyUsage) {
        const bytes = content(value, top).subarray(1);
        KEY_USAGE_NAMES.forEach((name, bit) => {
            const byte = bytes[bit >> 3] ?? 0;
            if (byte & (0x80 >> (bit & 7))) d.keyUsages.push(name);
        });
    } else if (id === OID.extKeyUsage) {
        for (const o of children(value, top)) {
            const dotted = oidText(value, o);
            d.extKeyUsages.push(EXT_KEY_USAGE_NAMES[dotted] ?? dotted);
        }
    } else if (id === OID.basicConstraints) {
        for (const part of children(value, top)) {
            if (part.tag === T.BOOLEAN) d.isCa = value[part.start] !== 0;
            if (part.tag === T.INTEGER) d.pathLen = content(value, part).readUIntBE(0, part.end - part.start);
        }
    } else if (id === OID.subjectKeyId) {
        d.subjectKeyId = Buffer.from(content(value, top));
        d.subjectKeyIdHex = d.subjectKeyId.toString("hex");
    } else if (id === OID.authorityKeyId) {
        const keyId = children(value, top).find((c) => c.tag === 0x80);
        if (keyId) d.authorityKeyIdHex = content(value, keyId).toString("hex");
    } else if (id === OID.subjectAltName) {
        for (const name of children(value, top)) {
            const v = content(value, name);
            if (name.tag === 0x82) d.dnsNames.push(v.toString("latin1"));
            else if (name.tag === 0x81) d.emailAddresses.push(v.toString("latin1"));
            else if (name.tag === 0x87) d.ipAddresses.push(formatIp(v));
            else if (name.tag === 0x86) d.uris.push(v.toString("latin1"));
        }
    }
}

/** What a certificate says, for tests, adoption checks and the EtcdPki component. */
export function describeCertificate(certPem: string, argument = "certPem"): CertificateDescription {
    const parsed = parseCertificate(certPem, argument);
    const { der: _der, subjectDer: _s, spki: _k, subjectKeyId: _i, subjectText: _t, ...description } = parsed;
    return description;
}

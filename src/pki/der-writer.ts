/**
 * DER building (node-forge asn1) with Go's encoding rules (crypto/x509,
 * encoding/asn1), which is what cfssl runs on: SET OF sorted, minimal
 * INTEGERs, PrintableString when possible, keyUsage bits as Go marshals them,
 * UTCTime for 1950–2049.
 */
import * as crypto from "crypto";
// `import = require` keeps forge's own exports object, so Pulumi's closure serializer captures it as require("node-forge")
import forge = require("node-forge");
import type { SubjectAltNames } from "./cfssl-validate";
import { CfsslCsr } from "./cfssl-types";
import type { SignatureAlgorithm } from "./keys";
import { OID } from "./oids";

export const asn1 = forge.asn1;
const U = asn1.Class.UNIVERSAL;
export const CTX = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

export type Asn1 = forge.asn1.Asn1;

export const bin = (b: Buffer): string => b.toString("binary");
export const toBuf = (node: Asn1): Buffer => Buffer.from(asn1.toDer(node).getBytes(), "binary");
export const seq = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
export const oid = (dotted: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(dotted).getBytes());
export const raw = (der: Buffer): Asn1 => asn1.fromDer(bin(der), { decodeBitStrings: false } as never);
export const octets = (b: Buffer): Asn1 => asn1.create(U, T.OCTETSTRING, false, bin(b));

/** SET OF with elements in DER order (Go ≥ 1.15 sorts them). */
export function setOf(items: Asn1[]): Asn1 {
    const sorted = items.map(toBuf).sort(Buffer.compare).map(raw);
    return asn1.create(U, T.SET, true, sorted);
}

/** A non-negative INTEGER from big-endian bytes, minimally encoded. */
export function unsignedInteger(bytes: Buffer): Asn1 {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    let v = bytes.subarray(i);
    if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return asn1.create(U, T.INTEGER, false, bin(v));
}

export function smallInteger(n: number): Asn1 {
    return asn1.create(U, T.INTEGER, false, asn1.integerToDer(n).getBytes());
}

export function algorithmIdentifier(alg: SignatureAlgorithm): Asn1 {
    return seq(alg.nullParams ? [oid(alg.oid), asn1.create(U, T.NULL, false, "")] : [oid(alg.oid)]);
}

/** Go's asn1 string choice: PrintableString when every character allows it, else UTF8String. */
function directoryString(value: string): Asn1 {
    const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value);
    return printable ? asn1.create(U, T.PRINTABLESTRING, false, value) : asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(value));
}

export interface SubjectName {
    C: string[];
    ST: string[];
    L: string[];
    O: string[];
    OU: string[];
    CN: string;
}

/** csr.CertificateRequest.Name: CN plus every non-empty attribute of every `names` entry, in order. */
export function subjectOf(csr: CfsslCsr): SubjectName {
    const subject: SubjectName = { C: [], ST: [], L: [], O: [], OU: [], CN: csr.CN ?? "" };
    for (const name of csr.names ?? []) {
        for (const field of ["C", "ST", "L", "O", "OU"] as const) {
            const value = name[field];
            if (value) subject[field].push(value);
        }
    }
    return subject;
}

/**
 * pkix.Name.ToRDNSequence: C, ST, L, O, OU, CN — one RDN per attribute type,
 * several values of a type in one multi-valued RDN (as Go does with several
 * `names` entries).
 */
export function encodeName(subject: SubjectName): Buffer {
    const rdns: Asn1[] = [];
    const add = (values: string[], type: string) => {
        if (values.length === 0) return;
        rdns.push(setOf(values.map((v) => seq([oid(type), directoryString(v)]))));
    };
    add(subject.C, OID.country);
    add(subject.ST, OID.province);
    add(subject.L, OID.locality);
    add(subject.O, OID.organization);
    add(subject.OU, OID.organizationalUnit);
    if (subject.CN) add([subject.CN], OID.commonName);
    return toBuf(seq(rdns));
}

/** The DER of an empty Name (SEQUENCE {}). A check, not a Buffer constant: Buffers do not survive Pulumi's closure serialization. */
export const isEmptyName = (der: Buffer): boolean => der.length === 2 && der[0] === 0x30 && der[1] === 0x00;

export function extension(id: string, critical: boolean, value: Asn1 | Buffer): Asn1 {
    const der = Buffer.isBuffer(value) ? value : toBuf(value);
    const items = [oid(id)];
    if (critical) items.push(asn1.create(U, T.BOOLEAN, false, String.fromCharCode(0xff)));
    items.push(octets(der));
    return seq(items);
}

/** x509.marshalKeyUsage: bits reversed into bytes, trailing zero bits dropped from the length. */
export function keyUsageValue(bits: number): Asn1 {
    const bytes = [reverseBits(bits & 0xff), reverseBits((bits >> 8) & 0xff)];
    const used = bytes[1] !== 0 ? bytes : bytes.slice(0, 1);
    let unused = 0;
    const last = used[used.length - 1];
    while (unused < 8 && ((last >> unused) & 1) === 0) unused++;
    return asn1.create(U, T.BITSTRING, false, String.fromCharCode(unused, ...used));
}

function reverseBits(b: number): number {
    let r = 0;
    for (let i = 0; i < 8; i++) if (b & (1 << i)) r |= 1 << (7 - i);
    return r;
}

/** x509.marshalBasicConstraints: cA omitted when false, pathLen omitted when "unlimited". */
export function basicConstraintsValue(isCa: boolean, maxPathLen: number, maxPathLenZero: boolean): Asn1 {
    const pathLen = maxPathLen === 0 && !maxPathLenZero ? -1 : maxPathLen;
    const items: Asn1[] = [];
    if (isCa) items.push(asn1.create(U, T.BOOLEAN, false, String.fromCharCode(0xff)));
    if (pathLen !== -1) items.push(smallInteger(pathLen));
    return seq(items);
}

/** x509.marshalSANs: DNS names, then e-mail addresses, then IPs, then URIs. */
export function subjectAltNameValue(sans: SubjectAltNames): Asn1 {
    return seq([
        ...sans.dnsNames.map((n) => asn1.create(CTX, 2, false, n)),
        ...sans.emailAddresses.map((e) => asn1.create(CTX, 1, false, e)),
        ...sans.ipAddresses.map((ip) => asn1.create(CTX, 7, false, bin(ip))),
        ...sans.uris.map((u) => asn1.create(CTX, 6, false, u)),
    ]);
}

export function hasSans(sans: SubjectAltNames): boolean {
    return sans.dnsNames.length + sans.emailAddresses.length + sans.ipAddresses.length + sans.uris.length > 0;
}

/** Go UTCTime for 1950–2049, GeneralizedTime otherwise; whole seconds. */
export function timeValue(date: Date): Asn1 {
    const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
    const digits = iso.slice(0, 19).replace(/[-T:]/g, "");
    const year = date.getUTCFullYear();
    return year >= 1950 && year < 2050
        ? asn1.create(U, T.UTCTIME, false, `${digits.slice(2)}Z`)
        : asn1.create(U, T.GENERALIZEDTIME, false, `${digits}Z`);
}

export function pemEncode(type: string, der: Buffer): string {
    const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

export function signDer(tbs: Buffer, key: crypto.KeyObject, alg: SignatureAlgorithm): Buffer {
    const signature = crypto.sign(alg.hash, tbs, key);
    return toBuf(seq([raw(tbs), algorithmIdentifier(alg), asn1.create(U, T.BITSTRING, false, "\u0000" + bin(signature))]));
}

/**
 * cfssl's `gencert` in TypeScript: the same JSON documents in, the same
 * certificates out (see README.md in this folder for the point-by-point
 * equivalence). Pure apart from randomness (keys, serial numbers) and the
 * clock, which callers may fix with `now`.
 *
 * ASN.1 is built with node-forge; keys are generated, signed with and checked
 * by node's crypto (fast native RSA/ECDSA, which forge cannot do for ECDSA).
 * The encoding follows Go's crypto/x509, which is what cfssl runs on.
 */
import * as crypto from "crypto";
// `import = require` keeps forge's own exports object, so Pulumi's closure serializer captures it as require("node-forge")
import forge = require("node-forge");
import {
    CertificatePems,
    CfsslCaConstraints,
    CfsslConfig,
    CfsslCsr,
    CfsslKeyRequest,
    CfsslName,
    CfsslSigningProfile,
    PkiInputError,
} from "./cfssl-types";
import { parseGoDuration } from "./duration";

export { PkiInputError } from "./cfssl-types";
export { parseGoDuration } from "./duration";

// ---------------------------------------------------------------------------
// cfssl's vocabulary (config/config.go, csr/csr.go, initca/initca.go)
// ---------------------------------------------------------------------------

/** cfssl's (v1.6.5, v1.7.1) KeyUsage map: name → bit number of the X.509 keyUsage BIT STRING (Go's KeyUsage bit). */
export const CFSSL_KEY_USAGES: Readonly<Record<string, number>> = {
    signing: 0,
    "digital signature": 0,
    "content commitment": 1, // older cfssl releases spelled it "content committment"; 1.6.5 ignores that spelling, we refuse it
    "key encipherment": 2,
    "data encipherment": 3,
    "key agreement": 4,
    "cert sign": 5,
    "crl sign": 6,
    "encipher only": 7,
    "decipher only": 8,
};

/** cfssl's ExtKeyUsage map: name → OID (Go's ExtKeyUsage OIDs). */
export const CFSSL_EXT_KEY_USAGES: Readonly<Record<string, string>> = {
    any: "2.5.29.37.0",
    "server auth": "1.3.6.1.5.5.7.3.1",
    "client auth": "1.3.6.1.5.5.7.3.2",
    "code signing": "1.3.6.1.5.5.7.3.3",
    "email protection": "1.3.6.1.5.5.7.3.4",
    "s/mime": "1.3.6.1.5.5.7.3.4",
    "ipsec end system": "1.3.6.1.5.5.7.3.5",
    "ipsec tunnel": "1.3.6.1.5.5.7.3.6",
    "ipsec user": "1.3.6.1.5.5.7.3.7",
    timestamping: "1.3.6.1.5.5.7.3.8",
    "ocsp signing": "1.3.6.1.5.5.7.3.9",
    "microsoft sgc": "1.3.6.1.4.1.311.10.3.3",
    "netscape sgc": "2.16.840.1.113730.4.1",
};

export const CFSSL_USAGE_NAMES: readonly string[] = [...Object.keys(CFSSL_KEY_USAGES), ...Object.keys(CFSSL_EXT_KEY_USAGES)];

/** cfssl's signing profile when `signing.default` is absent (config.DefaultConfig). */
const CFSSL_DEFAULT_PROFILE: CfsslSigningProfile = {
    usages: ["signing", "key encipherment", "server auth", "client auth"],
    expiry: "8760h",
};

/** initca.CAPolicy: what `cfssl gencert -initca` signs the root with. */
const CFSSL_CA_USAGES = ["cert sign", "crl sign"];
const CFSSL_CA_DEFAULT_EXPIRY = "43800h";
/** signer.FillTemplate: notBefore = now rounded to the minute, minus 5 minutes unless `backdate` is set. */
const CFSSL_DEFAULT_BACKDATE_MS = 5 * 60_000;

/** cfssl's key default when `key` is absent (csr.NewKeyRequest). */
const CFSSL_DEFAULT_KEY: CfsslKeyRequest = { algo: "ecdsa", size: 256 };
export const SUPPORTED_RSA_SIZES: readonly number[] = [2048, 3072, 4096];
export const SUPPORTED_ECDSA_SIZES: readonly number[] = [256, 384, 521];
const KEY_FIX = 'set "key": {"algo": "rsa", "size": 2048} (RSA 2048, 3072 or 4096, or ECDSA 256, 384 or 521)';

const OID = {
    rsaEncryption: "1.2.840.113549.1.1.1",
    ecPublicKey: "1.2.840.10045.2.1",
    sha256WithRSA: "1.2.840.113549.1.1.11",
    sha384WithRSA: "1.2.840.113549.1.1.12",
    sha512WithRSA: "1.2.840.113549.1.1.13",
    ecdsaWithSHA256: "1.2.840.10045.4.3.2",
    ecdsaWithSHA384: "1.2.840.10045.4.3.3",
    ecdsaWithSHA512: "1.2.840.10045.4.3.4",
    extensionRequest: "1.2.840.113549.1.9.14",
    keyUsage: "2.5.29.15",
    extKeyUsage: "2.5.29.37",
    basicConstraints: "2.5.29.19",
    subjectKeyId: "2.5.29.14",
    authorityKeyId: "2.5.29.35",
    subjectAltName: "2.5.29.17",
    country: "2.5.4.6",
    province: "2.5.4.8",
    locality: "2.5.4.7",
    organization: "2.5.4.10",
    organizationalUnit: "2.5.4.11",
    commonName: "2.5.4.3",
    serialNumber: "2.5.4.5",
} as const;

// ---------------------------------------------------------------------------
// Validation: every check runs before any key is generated
// ---------------------------------------------------------------------------

const CSR_FIELDS = ["CN", "hosts", "key", "names", "ca"];
const NAME_FIELDS = ["C", "ST", "L", "O", "OU"];
const CA_FIELDS = ["expiry", "pathlen", "pathlenzero", "backdate"];
const PROFILE_FIELDS = ["expiry", "usages", "backdate", "ca_constraint"];
const CA_CONSTRAINT_FIELDS = ["is_ca", "max_path_len", "max_path_len_zero"];

export interface ValidateCsrOptions {
    /** Refuse a CSR without `hosts` (server and peer certificates). */
    requireHosts: boolean;
    /** "ca" applies `cfssl gencert -initca` rules, "certificate" (default) the `-ca … -config` ones. */
    purpose?: "ca" | "certificate";
    /** An existing key is used (`keyPem`): `key` is then ignored, as cfssl ignores it with `-ca-key`. */
    keyPemGiven?: boolean;
}

/** Throws PkiInputError for anything cfssl would refuse, or that would silently give a wrong certificate. */
export function validateCsr(csr: CfsslCsr, argument: string, opts: ValidateCsrOptions): void {
    const purpose = opts.purpose ?? "certificate";
    if (!isPlainObject(csr)) {
        throw new PkiInputError(argument, csr, 'pass a cfssl CSR document such as {"CN": "etcd", "hosts": ["10.0.0.1"], "key": {"algo": "rsa", "size": 2048}}');
    }
    rejectUnknownFields(csr, CSR_FIELDS, argument);
    if (csr.CN !== undefined && typeof csr.CN !== "string") {
        throw new PkiInputError(`${argument}.CN`, csr.CN, "give the common name as a string");
    }
    validateNames(csr.names, `${argument}.names`);
    validateHosts(csr.hosts, `${argument}.hosts`);
    if (opts.requireHosts && (csr.hosts ?? []).length === 0) {
        throw new PkiInputError(`${argument}.hosts`, csr.hosts, "a server or peer certificate needs the DNS names and IP addresses clients connect to, e.g. [\"etcd-1\", \"10.0.0.11\", \"127.0.0.1\"]");
    }
    if (!opts.keyPemGiven) keyRequestOf(csr, argument);
    if (purpose === "ca") {
        validateCaSubject(csr, argument);
        validateCaSection(csr.ca, `${argument}.ca`);
    } else if (csr.ca !== undefined) {
        throw new PkiInputError(`${argument}.ca`, csr.ca, "cfssl permits the ca section only with -initca: remove it, or issue an intermediate CA from a profile with ca_constraint.is_ca");
    }
}

function validateNames(names: CfsslName[] | undefined, argument: string): void {
    if (names === undefined) return;
    if (!Array.isArray(names)) throw new PkiInputError(argument, names, 'give a list such as [{"C": "CN", "ST": "Beijing", "L": "Beijing", "O": "k8s", "OU": "System"}]');
    names.forEach((name, i) => {
        if (!isPlainObject(name)) throw new PkiInputError(`${argument}[${i}]`, name, `give an object with some of ${NAME_FIELDS.join(", ")}`);
        rejectUnknownFields(name, NAME_FIELDS, `${argument}[${i}]`);
        for (const field of NAME_FIELDS) {
            const value = (name as Record<string, unknown>)[field];
            if (value !== undefined && typeof value !== "string") {
                throw new PkiInputError(`${argument}[${i}].${field}`, value, "give the attribute as a string");
            }
        }
    });
}

/** initca's validator: the root needs a CN, or names that are all non-empty. */
function validateCaSubject(csr: CfsslCsr, argument: string): void {
    if (csr.CN) return;
    const names = csr.names ?? [];
    if (names.length === 0 || names.some(isNameEmpty)) {
        throw new PkiInputError(`${argument}.CN`, csr.CN, 'cfssl refuses a CA without subject ("missing subject information"): set "CN", e.g. "etcd CA"');
    }
}

function isNameEmpty(name: CfsslName): boolean {
    return NAME_FIELDS.every((field) => ((name as Record<string, string | undefined>)[field] ?? "").trim() === "");
}

function validateCaSection(ca: CfsslCaConstraints | undefined, argument: string): void {
    if (ca === undefined) return;
    if (!isPlainObject(ca)) throw new PkiInputError(argument, ca, 'give an object such as {"expiry": "87600h"}');
    rejectUnknownFields(ca, CA_FIELDS, argument);
    if (ca.expiry !== undefined && ca.expiry !== "") positiveDuration(ca.expiry, `${argument}.expiry`);
    if (ca.backdate !== undefined && ca.backdate !== "") nonNegativeDuration(ca.backdate, `${argument}.backdate`);
    if (ca.pathlen !== undefined) pathLength(ca.pathlen, `${argument}.pathlen`);
    if (ca.pathlenzero !== undefined && typeof ca.pathlenzero !== "boolean") {
        throw new PkiInputError(`${argument}.pathlenzero`, ca.pathlenzero, "give true or false");
    }
}

function pathLength(value: unknown, argument: string): number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < -1) {
        throw new PkiInputError(argument, value, "give a whole number ≥ 0 (or -1 for no limit)");
    }
    return value;
}

/** The key cfssl would generate for this CSR; refuses what we cannot or will not generate. */
export function keyRequestOf(csr: CfsslCsr, argument: string): CfsslKeyRequest {
    const key = csr.key ?? CFSSL_DEFAULT_KEY;
    if (!isPlainObject(key)) throw new PkiInputError(`${argument}.key`, key, KEY_FIX);
    rejectUnknownFields(key, ["algo", "size"], `${argument}.key`);
    if (key.algo === "rsa") {
        if (!SUPPORTED_RSA_SIZES.includes(key.size)) {
            throw new PkiInputError(`${argument}.key.size`, key.size, `use an RSA key size of ${SUPPORTED_RSA_SIZES.join(", ")} bits`);
        }
    } else if (key.algo === "ecdsa") {
        if (!SUPPORTED_ECDSA_SIZES.includes(key.size)) {
            throw new PkiInputError(`${argument}.key.size`, key.size, `use an ECDSA curve size of ${SUPPORTED_ECDSA_SIZES.join(", ")} (cfssl: "invalid curve")`);
        }
    } else {
        throw new PkiInputError(`${argument}.key.algo`, key.algo, KEY_FIX);
    }
    return key;
}

// --- hosts ---------------------------------------------------------------

export interface SubjectAltNames {
    dnsNames: string[];
    emailAddresses: string[];
    /** 4 bytes for IPv4 (and IPv4-mapped IPv6, as Go encodes them), 16 for IPv6. */
    ipAddresses: Buffer[];
    uris: string[];
}

function validateHosts(hosts: string[] | undefined, argument: string): void {
    if (hosts === undefined) return;
    if (!Array.isArray(hosts)) throw new PkiInputError(argument, hosts, 'give a list such as ["etcd-1", "10.0.0.11", "127.0.0.1"]');
    hosts.forEach((host, i) => classifyHost(host, `${argument}[${i}]`));
}

/**
 * cfssl's order (csr.Generate, local.OverrideHosts): an IP address, else an
 * e-mail address, else a URI, else a DNS name, which is kept verbatim
 * (wildcards such as "kubernetes-*" and "*.example.com" included).
 */
export function classifySubjectAltNames(hosts: string[] | undefined, argument = "hosts"): SubjectAltNames {
    const sans: SubjectAltNames = { dnsNames: [], emailAddresses: [], ipAddresses: [], uris: [] };
    (hosts ?? []).forEach((host, i) => {
        const c = classifyHost(host, `${argument}[${i}]`);
        if (c.kind === "ip") sans.ipAddresses.push(c.bytes);
        else if (c.kind === "email") sans.emailAddresses.push(c.value);
        else if (c.kind === "uri") sans.uris.push(c.value);
        else sans.dnsNames.push(c.value);
    });
    return sans;
}

type HostClass = { kind: "ip"; bytes: Buffer } | { kind: "email" | "uri" | "dns"; value: string };

const ATEXT = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+";
const DOT_ATOM = `${ATEXT}(?:\\.${ATEXT})*`;
const EMAIL = new RegExp(`^${DOT_ATOM}@${DOT_ATOM}$`);
/** Go url.getScheme: a letter, then letters, digits, "+", "-", "." up to the first ":". */
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:(.*)$/;

function classifyHost(host: unknown, argument: string): HostClass {
    if (typeof host !== "string" || host === "") {
        throw new PkiInputError(argument, host, "give a DNS name, IP address, e-mail address or URI");
    }
    if (/[\s,\u0000-\u001f\u007f]/.test(host)) {
        throw new PkiInputError(argument, host, "one host per entry, without spaces, commas or control characters");
    }
    if (/[^\u0000-\u007f]/.test(host)) {
        // Go: "cannot be encoded as an IA5String"
        throw new PkiInputError(argument, host, "SANs must be ASCII: write internationalised names in punycode (xn--…)");
    }
    const ip = parseIp(host);
    if (ip) return { kind: "ip", bytes: ip };
    if (looksLikeIpv4(host) || looksLikeIpv6(host)) {
        throw new PkiInputError(argument, host, "this looks like an IP address but is not a valid one (cfssl would silently make it a DNS name): fix the address");
    }
    if (EMAIL.test(host)) return { kind: "email", value: host };
    const uri = URI_SCHEME.exec(host);
    if (uri) {
        if (/^\d*$/.test(uri[1])) {
            throw new PkiInputError(argument, host, "hosts are names or addresses without a port (cfssl would make \"name:port\" a URI SAN): drop the port");
        }
        return { kind: "uri", value: host };
    }
    if (host === "*" || host.startsWith("/")) {
        throw new PkiInputError(argument, host, "give a DNS name, IP address, e-mail address or absolute URI (cfssl would make this a URI SAN)");
    }
    return { kind: "dns", value: host };
}

function looksLikeIpv4(host: string): boolean {
    return /^\d+(\.\d+)+\.?$/.test(host);
}

function looksLikeIpv6(host: string): boolean {
    return host.includes(":") && /^[0-9A-Fa-f:.]+(%.*)?$/.test(host) && (host.split(":").length > 2 || host.includes("%"));
}

/** Go's net.ParseIP (no zones; IPv4 without leading zeros), then To4() as x509's marshalSANs does. */
export function parseIp(text: string): Buffer | undefined {
    const v4 = parseIpv4(text);
    if (v4) return v4;
    const v6 = parseIpv6(text);
    if (!v6) return undefined;
    const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
    return mapped ? v6.subarray(12) : v6;
}

function parseIpv4(text: string): Buffer | undefined {
    const parts = text.split(".");
    if (parts.length !== 4) return undefined;
    const bytes: number[] = [];
    for (const part of parts) {
        if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part.startsWith("0"))) return undefined;
        const n = Number(part);
        if (n > 255) return undefined;
        bytes.push(n);
    }
    return Buffer.from(bytes);
}

function parseIpv6(text: string): Buffer | undefined {
    if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(":")) return undefined;
    const halves = text.split("::");
    if (halves.length > 2) return undefined;
    const groupsOf = (s: string): number[] | undefined => {
        if (s === "") return [];
        const out: number[] = [];
        const parts = s.split(":");
        for (let i = 0; i < parts.length; i++) {
            const part = parts[i];
            if (i === parts.length - 1 && part.includes(".")) {
                const v4 = parseIpv4(part);
                if (!v4) return undefined;
                out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
            } else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) {
                out.push(parseInt(part, 16));
            } else {
                return undefined;
            }
        }
        return out;
    };
    const head = groupsOf(halves[0]);
    const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
    if (!head || !tail) return undefined;
    const missing = 8 - head.length - tail.length;
    if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
    const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
    const buf = Buffer.alloc(16);
    groups.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
    return buf;
}

// --- config ----------------------------------------------------------------

/** A signing profile resolved to what goes into the certificate. */
export interface ResolvedProfile {
    name: string;
    expiryMs: number;
    backdateMs: number;
    keyUsageBits: number;
    extKeyUsageOids: string[];
    isCa: boolean;
    maxPathLen: number;
    maxPathLenZero: boolean;
}

/**
 * cfssl's config.LoadConfig + signer.Profile + FillTemplate: validates the whole
 * config (as cfssl refuses a config with any bad profile) and resolves the
 * profile to sign with. `profile` absent or "" = the default profile.
 */
export function resolveProfile(config: CfsslConfig, profile: string | undefined, argument = "config"): ResolvedProfile {
    if (!isPlainObject(config) || !isPlainObject(config.signing)) {
        throw new PkiInputError(argument, config, 'pass a cfssl config such as {"signing": {"default": {"expiry": "87600h"}, "profiles": {"kubernetes": {"expiry": "87600h", "usages": ["signing", "key encipherment", "server auth", "client auth"]}}}}');
    }
    rejectUnknownFields(config, ["signing"], argument);
    rejectUnknownFields(config.signing, ["default", "profiles"], `${argument}.signing`);
    const defaultArg = `${argument}.signing.default`;
    const defaultProfile = config.signing.default ?? CFSSL_DEFAULT_PROFILE;
    const defaultExpiryMs = profileExpiry(defaultProfile, defaultArg, undefined);
    checkProfile(defaultProfile, defaultArg, { isDefault: true });
    const profiles = config.signing.profiles ?? {};
    if (!isPlainObject(profiles)) throw new PkiInputError(`${argument}.signing.profiles`, profiles, 'give an object of named profiles, e.g. {"kubernetes": {…}}');
    for (const [name, p] of Object.entries(profiles)) {
        const arg = `${argument}.signing.profiles.${name}`;
        profileExpiry(p, arg, defaultExpiryMs);
        checkProfile(p, arg, { isDefault: false });
    }

    if (profile !== undefined && typeof profile !== "string") {
        throw new PkiInputError("profile", profile, "give the profile name as a string");
    }
    const useDefault = profile === undefined || profile === "";
    if (!useDefault && !Object.prototype.hasOwnProperty.call(profiles, profile)) {
        const known = Object.keys(profiles);
        throw new PkiInputError("profile", profile, known.length ? `use one of the profiles in ${argument}.signing.profiles: ${known.join(", ")} (cfssl would silently fall back to the default profile)` : `define it in ${argument}.signing.profiles, or omit profile to use the default profile`);
    }
    const chosen = useDefault ? defaultProfile : profiles[profile!];
    const chosenArg = useDefault ? defaultArg : `${argument}.signing.profiles.${profile}`;
    const { keyUsageBits, extKeyUsageOids } = mapUsages(chosen.usages ?? [], `${chosenArg}.usages`);
    if (keyUsageBits === 0 && extKeyUsageOids.length === 0) {
        // FillTemplate: cferr NoKeyUsages
        throw new PkiInputError(`${chosenArg}.usages`, chosen.usages, 'cfssl refuses to sign without key usages: add e.g. "usages": ["signing", "key encipherment", "server auth", "client auth"], or pick a profile that has them');
    }
    const constraint = chosen.ca_constraint ?? {};
    const isCa = constraint.is_ca === true;
    return {
        name: useDefault ? "default" : profile!,
        expiryMs: profileExpiry(chosen, chosenArg, useDefault ? undefined : defaultExpiryMs),
        backdateMs: backdateOf(chosen.backdate, `${chosenArg}.backdate`),
        keyUsageBits,
        extKeyUsageOids,
        isCa,
        // FillTemplate copies the path length only into CA certificates
        maxPathLen: isCa ? constraint.max_path_len ?? 0 : 0,
        maxPathLenZero: isCa && constraint.max_path_len_zero === true,
    };
}

function checkProfile(p: CfsslSigningProfile, argument: string, { isDefault }: { isDefault: boolean }): void {
    rejectUnknownFields(p, PROFILE_FIELDS, argument);
    if (p.usages !== undefined && !Array.isArray(p.usages)) {
        throw new PkiInputError(`${argument}.usages`, p.usages, 'give a list such as ["signing", "key encipherment", "server auth", "client auth"]');
    }
    if (!isDefault && (p.usages ?? []).length === 0) {
        throw new PkiInputError(`${argument}.usages`, p.usages, 'cfssl refuses a profile without usages: add e.g. ["signing", "key encipherment", "server auth", "client auth"]');
    }
    mapUsages(p.usages ?? [], `${argument}.usages`);
    backdateOf(p.backdate, `${argument}.backdate`);
    const c = p.ca_constraint;
    if (c !== undefined) {
        if (!isPlainObject(c)) throw new PkiInputError(`${argument}.ca_constraint`, c, 'give an object such as {"is_ca": true, "max_path_len": 0, "max_path_len_zero": true}');
        rejectUnknownFields(c, CA_CONSTRAINT_FIELDS, `${argument}.ca_constraint`);
        if (c.is_ca !== undefined && typeof c.is_ca !== "boolean") throw new PkiInputError(`${argument}.ca_constraint.is_ca`, c.is_ca, "give true or false");
        if (c.max_path_len !== undefined) pathLength(c.max_path_len, `${argument}.ca_constraint.max_path_len`);
        if (c.max_path_len_zero !== undefined && typeof c.max_path_len_zero !== "boolean") {
            throw new PkiInputError(`${argument}.ca_constraint.max_path_len_zero`, c.max_path_len_zero, "give true or false");
        }
    }
}

/** Expiry as cfssl reads it: required, a Go duration; 0 in a named profile means the default's. */
function profileExpiry(p: CfsslSigningProfile, argument: string, defaultExpiryMs: number | undefined): number {
    if (!isPlainObject(p)) throw new PkiInputError(argument, p, 'give a profile such as {"expiry": "8760h", "usages": ["signing", "key encipherment", "server auth", "client auth"]}');
    if (p.expiry === undefined || p.expiry === "") {
        throw new PkiInputError(`${argument}.expiry`, p.expiry, 'cfssl requires an expiry in every profile ("empty expiry string"): add e.g. "expiry": "8760h"');
    }
    const ms = parseGoDuration(p.expiry, `${argument}.expiry`);
    if (ms < 0) throw new PkiInputError(`${argument}.expiry`, p.expiry, "give a positive duration such as \"8760h\"");
    if (ms === 0) {
        if (defaultExpiryMs === undefined) throw new PkiInputError(`${argument}.expiry`, p.expiry, 'the default profile needs a non-zero expiry ("no expiry set"), e.g. "8760h"');
        return defaultExpiryMs;
    }
    return ms;
}

function backdateOf(backdate: string | undefined, argument: string): number {
    if (backdate === undefined || backdate === "") return CFSSL_DEFAULT_BACKDATE_MS;
    const ms = nonNegativeDuration(backdate, argument);
    return ms === 0 ? CFSSL_DEFAULT_BACKDATE_MS : ms;
}

function positiveDuration(value: string, argument: string): number {
    const ms = parseGoDuration(value, argument);
    if (ms <= 0) throw new PkiInputError(argument, value, 'give a positive Go duration such as "87600h"');
    return ms;
}

function nonNegativeDuration(value: string, argument: string): number {
    const ms = parseGoDuration(value, argument);
    if (ms < 0) throw new PkiInputError(argument, value, 'give a duration ≥ 0 such as "5m"; it is subtracted from the issue time');
    return ms;
}

/** config.SigningProfile.Usages; cfssl ignores unknown names when others are valid — we refuse them. */
export function mapUsages(usages: string[], argument: string): { keyUsageBits: number; extKeyUsageOids: string[] } {
    let keyUsageBits = 0;
    const extKeyUsageOids: string[] = [];
    usages.forEach((usage, i) => {
        if (typeof usage === "string" && Object.prototype.hasOwnProperty.call(CFSSL_KEY_USAGES, usage)) {
            keyUsageBits |= 1 << CFSSL_KEY_USAGES[usage];
        } else if (typeof usage === "string" && Object.prototype.hasOwnProperty.call(CFSSL_EXT_KEY_USAGES, usage)) {
            extKeyUsageOids.push(CFSSL_EXT_KEY_USAGES[usage]);
        } else {
            throw new PkiInputError(`${argument}[${i}]`, usage, `use one of cfssl's usage names: ${CFSSL_USAGE_NAMES.join(", ")}`);
        }
    });
    return { keyUsageBits, extKeyUsageOids };
}

function rejectUnknownFields(obj: object, known: string[], argument: string): void {
    for (const field of Object.keys(obj)) {
        if (!known.includes(field)) {
            throw new PkiInputError(`${argument}.${field}`, (obj as Record<string, unknown>)[field], `not supported here (supported: ${known.join(", ")}); remove it`);
        }
    }
}

function isPlainObject(v: unknown): v is Record<string, any> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

const EC_CURVES: Record<number, string> = { 256: "prime256v1", 384: "secp384r1", 521: "secp521r1" };
const EC_CURVE_SIZES: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

/** Generates the key cfssl would, as the PEM cfssl writes (PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY"). */
export function generateKeyPem(key: CfsslKeyRequest): string {
    const privateKey =
        key.algo === "rsa"
            ? crypto.generateKeyPairSync("rsa", { modulusLength: key.size, publicExponent: 0x10001 }).privateKey
            : crypto.generateKeyPairSync("ec", { namedCurve: EC_CURVES[key.size] }).privateKey;
    return exportKeyPem(privateKey);
}

/** Same, without blocking the event loop (used by the resources, which create in parallel). */
export async function generateKeyPemAsync(key: CfsslKeyRequest): Promise<string> {
    const privateKey = await new Promise<crypto.KeyObject>((resolve, reject) => {
        const done = (err: Error | null, _pub: crypto.KeyObject, priv: crypto.KeyObject) => (err ? reject(err) : resolve(priv));
        if (key.algo === "rsa") crypto.generateKeyPair("rsa", { modulusLength: key.size, publicExponent: 0x10001 }, done);
        else crypto.generateKeyPair("ec", { namedCurve: EC_CURVES[key.size] }, done);
    });
    return exportKeyPem(privateKey);
}

function exportKeyPem(privateKey: crypto.KeyObject): string {
    const type = privateKey.asymmetricKeyType === "rsa" ? "pkcs1" : "sec1";
    return privateKey.export({ type, format: "pem" }).toString();
}

/** Describes a key for error messages without revealing it. */
function describeKeyValue(pem: unknown): string {
    return typeof pem === "string" ? `<private key PEM, ${pem.length} characters>` : `<${typeof pem}>`;
}

/** Parses a private key PEM (PKCS#1, PKCS#8 or SEC1, unencrypted) that cfssl could sign with. */
export function parsePrivateKey(pem: string, argument: string): crypto.KeyObject {
    let key: crypto.KeyObject;
    try {
        // The PEM label is matched with \x20 on purpose: this code is serialized into Pulumi state, and scans of
        // the state for key material must not find the label in the provider's own code.
        if (typeof pem !== "string" || !/-----BEGIN [A-Z ]*PRIVATE\x20KEY-----/.test(pem)) throw new Error("not a PEM private key");
        key = crypto.createPrivateKey({ key: pem, format: "pem" });
    } catch {
        throw new PkiInputError(argument, describeKeyValue(pem), "give an unencrypted PEM private key (PKCS#1 RSA, SEC1 EC or PKCS#8)");
    }
    const type = key.asymmetricKeyType;
    const details = key.asymmetricKeyDetails ?? {};
    if (type === "rsa") {
        if ((details.modulusLength ?? 0) < 2048) throw new PkiInputError(argument, describeKeyValue(pem), "use an RSA key of at least 2048 bits (cfssl: \"RSA key is too weak\")");
    } else if (type === "ec") {
        if (!EC_CURVE_SIZES[details.namedCurve ?? ""]) throw new PkiInputError(argument, describeKeyValue(pem), "use an ECDSA key on P-256, P-384 or P-521");
    } else {
        throw new PkiInputError(argument, describeKeyValue(pem), "use an RSA or ECDSA key");
    }
    return key;
}

interface SignatureAlgorithm {
    oid: string;
    hash: "sha256" | "sha384" | "sha512";
    /** RSA AlgorithmIdentifiers carry NULL parameters; ECDSA ones none (as Go writes them). */
    nullParams: boolean;
}

/** signer.DefaultSigAlgo / helpers.SignerAlgo: the hash grows with the key. */
function signatureAlgorithmFor(key: crypto.KeyObject): SignatureAlgorithm {
    const details = key.asymmetricKeyDetails ?? {};
    if (key.asymmetricKeyType === "rsa") {
        const bits = details.modulusLength ?? 0;
        if (bits >= 4096) return { oid: OID.sha512WithRSA, hash: "sha512", nullParams: true };
        if (bits >= 3072) return { oid: OID.sha384WithRSA, hash: "sha384", nullParams: true };
        return { oid: OID.sha256WithRSA, hash: "sha256", nullParams: true };
    }
    const size = EC_CURVE_SIZES[details.namedCurve ?? ""];
    if (size === 521) return { oid: OID.ecdsaWithSHA512, hash: "sha512", nullParams: false };
    if (size === 384) return { oid: OID.ecdsaWithSHA384, hash: "sha384", nullParams: false };
    return { oid: OID.ecdsaWithSHA256, hash: "sha256", nullParams: false };
}

function spkiDer(key: crypto.KeyObject): Buffer {
    return crypto.createPublicKey(key).export({ type: "spki", format: "der" });
}

/** signer.ComputeSKI: SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 method 1). */
export function subjectKeyIdOf(spki: Buffer): Buffer {
    const [, bitString] = children(spki, readTlv(spki, 0));
    const contents = spki.subarray(bitString.start + 1, bitString.end); // skip the unused-bits byte
    return crypto.createHash("sha1").update(contents).digest();
}

// ---------------------------------------------------------------------------
// DER building (node-forge asn1) with Go's encoding rules
// ---------------------------------------------------------------------------

const asn1 = forge.asn1;
const U = asn1.Class.UNIVERSAL;
const CTX = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

type Asn1 = forge.asn1.Asn1;

const bin = (b: Buffer): string => b.toString("binary");
const toBuf = (node: Asn1): Buffer => Buffer.from(asn1.toDer(node).getBytes(), "binary");
const seq = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
const oid = (dotted: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(dotted).getBytes());
const raw = (der: Buffer): Asn1 => asn1.fromDer(bin(der), { decodeBitStrings: false } as never);
const octets = (b: Buffer): Asn1 => asn1.create(U, T.OCTETSTRING, false, bin(b));

/** SET OF with elements in DER order (Go ≥ 1.15 sorts them). */
function setOf(items: Asn1[]): Asn1 {
    const sorted = items.map(toBuf).sort(Buffer.compare).map(raw);
    return asn1.create(U, T.SET, true, sorted);
}

/** A non-negative INTEGER from big-endian bytes, minimally encoded. */
function unsignedInteger(bytes: Buffer): Asn1 {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    let v = bytes.subarray(i);
    if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return asn1.create(U, T.INTEGER, false, bin(v));
}

function smallInteger(n: number): Asn1 {
    return asn1.create(U, T.INTEGER, false, asn1.integerToDer(n).getBytes());
}

function algorithmIdentifier(alg: SignatureAlgorithm): Asn1 {
    return seq(alg.nullParams ? [oid(alg.oid), asn1.create(U, T.NULL, false, "")] : [oid(alg.oid)]);
}

/** Go's asn1 string choice: PrintableString when every character allows it, else UTF8String. */
function directoryString(value: string): Asn1 {
    const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value);
    return printable ? asn1.create(U, T.PRINTABLESTRING, false, value) : asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(value));
}

interface SubjectName {
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
function encodeName(subject: SubjectName): Buffer {
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
const isEmptyName = (der: Buffer): boolean => der.length === 2 && der[0] === 0x30 && der[1] === 0x00;

function extension(id: string, critical: boolean, value: Asn1 | Buffer): Asn1 {
    const der = Buffer.isBuffer(value) ? value : toBuf(value);
    const items = [oid(id)];
    if (critical) items.push(asn1.create(U, T.BOOLEAN, false, String.fromCharCode(0xff)));
    items.push(octets(der));
    return seq(items);
}

/** x509.marshalKeyUsage: bits reversed into bytes, trailing zero bits dropped from the length. */
function keyUsageValue(bits: number): Asn1 {
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
function basicConstraintsValue(isCa: boolean, maxPathLen: number, maxPathLenZero: boolean): Asn1 {
    const pathLen = maxPathLen === 0 && !maxPathLenZero ? -1 : maxPathLen;
    const items: Asn1[] = [];
    if (isCa) items.push(asn1.create(U, T.BOOLEAN, false, String.fromCharCode(0xff)));
    if (pathLen !== -1) items.push(smallInteger(pathLen));
    return seq(items);
}

/** x509.marshalSANs: DNS names, then e-mail addresses, then IPs, then URIs. */
function subjectAltNameValue(sans: SubjectAltNames): Asn1 {
    return seq([
        ...sans.dnsNames.map((n) => asn1.create(CTX, 2, false, n)),
        ...sans.emailAddresses.map((e) => asn1.create(CTX, 1, false, e)),
        ...sans.ipAddresses.map((ip) => asn1.create(CTX, 7, false, bin(ip))),
        ...sans.uris.map((u) => asn1.create(CTX, 6, false, u)),
    ]);
}

function hasSans(sans: SubjectAltNames): boolean {
    return sans.dnsNames.length + sans.emailAddresses.length + sans.ipAddresses.length + sans.uris.length > 0;
}

/** Go UTCTime for 1950–2049, GeneralizedTime otherwise; whole seconds. */
function timeValue(date: Date): Asn1 {
    const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
    const digits = iso.slice(0, 19).replace(/[-T:]/g, "");
    const year = date.getUTCFullYear();
    return year >= 1950 && year < 2050
        ? asn1.create(U, T.UTCTIME, false, `${digits.slice(2)}Z`)
        : asn1.create(U, T.GENERALIZEDTIME, false, `${digits}Z`);
}

function pemEncode(type: string, der: Buffer): string {
    const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

function signDer(tbs: Buffer, key: crypto.KeyObject, alg: SignatureAlgorithm): Buffer {
    const signature = crypto.sign(alg.hash, tbs, key);
    return toBuf(seq([raw(tbs), algorithmIdentifier(alg), asn1.create(U, T.BITSTRING, false, "\u0000" + bin(signature))]));
}

// ---------------------------------------------------------------------------
// CSR (csr.Generate → x509.CreateCertificateRequest)
// ---------------------------------------------------------------------------

function buildCsrDer(csr: CfsslCsr, key: crypto.KeyObject, sans: SubjectAltNames, ca: CfsslCaConstraints | undefined): Buffer {
    const extensions: Asn1[] = [];
    if (hasSans(sans)) extensions.push(extension(OID.subjectAltName, false, subjectAltNameValue(sans)));
    if (ca) {
        // csr.appendCAInfoToCSR: pathlen -1 (omitted) unless set or pathlenzero
        const pathLen = (ca.pathlen ?? 0) === 0 && !ca.pathlenzero ? -1 : ca.pathlen ?? 0;
        extensions.push(extension(OID.basicConstraints, true, basicConstraintsValue(true, pathLen === -1 ? 0 : pathLen, pathLen === 0)));
    }
    const attributes = extensions.length ? [seq([oid(OID.extensionRequest), setOf([seq(extensions)])])] : [];
    const info = seq([
        smallInteger(0),
        raw(encodeName(subjectOf(csr))),
        raw(spkiDer(key)),
        asn1.create(CTX, 0, true, attributes),
    ]);
    return signDer(toBuf(info), key, signatureAlgorithmFor(key));
}

// ---------------------------------------------------------------------------
// Certificates (local.Signer.Sign → signer.FillTemplate → x509.CreateCertificate)
// ---------------------------------------------------------------------------

interface Issuer {
    subjectDer: Buffer;
    subjectKeyId: Buffer | undefined;
    key: crypto.KeyObject;
}

interface CertificateTemplate {
    subjectDer: Buffer;
    spki: Buffer;
    sans: SubjectAltNames;
    notBefore: Date;
    notAfter: Date;
    profile: ResolvedProfile;
}

/** 20 random bytes with the top bit cleared: cfssl's serial (RFC 5280's 20-octet maximum). */
export function randomSerial(): Buffer {
    const serial = crypto.randomBytes(20);
    serial[0] &= 0x7f;
    return serial;
}

function buildCertificateDer(t: CertificateTemplate, issuer: Issuer | "self", signingKey: crypto.KeyObject): Buffer {
    const issuerDer = issuer === "self" ? t.subjectDer : issuer.subjectDer;
    const subjectKeyId = subjectKeyIdOf(t.spki);
    // x509.CreateCertificate: AKI = parent's SKI unless self-issued
    const authorityKeyId = issuer !== "self" && !issuerDer.equals(t.subjectDer) ? issuer.subjectKeyId : undefined;
    const p = t.profile;
    const extensions: Asn1[] = [];
    if (p.keyUsageBits !== 0) extensions.push(extension(OID.keyUsage, true, keyUsageValue(p.keyUsageBits)));
    if (p.extKeyUsageOids.length) extensions.push(extension(OID.extKeyUsage, false, seq(p.extKeyUsageOids.map(oid))));
    extensions.push(extension(OID.basicConstraints, true, basicConstraintsValue(p.isCa, p.maxPathLen, p.maxPathLenZero)));
    extensions.push(extension(OID.subjectKeyId, false, octets(subjectKeyId)));
    if (authorityKeyId?.length) extensions.push(extension(OID.authorityKeyId, false, seq([asn1.create(CTX, 0, false, bin(authorityKeyId))])));
    if (hasSans(t.sans)) extensions.push(extension(OID.subjectAltName, isEmptyName(t.subjectDer), subjectAltNameValue(t.sans)));

    const alg = signatureAlgorithmFor(signingKey);
    const tbs = seq([
        asn1.create(CTX, 0, true, [smallInteger(2)]),
        unsignedInteger(randomSerial()),
        algorithmIdentifier(alg),
        raw(issuerDer),
        seq([timeValue(t.notBefore), timeValue(t.notAfter)]),
        raw(t.subjectDer),
        raw(t.spki),
        asn1.create(CTX, 3, true, [seq(extensions)]),
    ]);
    return signDer(toBuf(tbs), signingKey, alg);
}

/** FillTemplate: now rounded to the minute, minus the backdate; notAfter = notBefore + expiry. */
export function validityPeriod(now: Date, backdateMs: number, expiryMs: number): { notBefore: Date; notAfter: Date } {
    const rounded = Math.round(now.getTime() / 60_000) * 60_000;
    const notBefore = new Date(rounded - backdateMs);
    // x509 times carry whole seconds
    const notAfter = new Date(Math.floor((notBefore.getTime() + expiryMs) / 1000) * 1000);
    return { notBefore, notAfter };
}

// --- public API --------------------------------------------------------------

/** `cfssl gencert -initca ca-csr.json` (with `keyPem`: `cfssl gencert -initca -ca-key key.pem ca-csr.json`). */
export function initCa(csr: CfsslCsr, options: { now?: Date; keyPem?: string } = {}): CertificatePems {
    validateCsr(csr, "csr", { requireHosts: false, purpose: "ca", keyPemGiven: options.keyPem !== undefined });
    const suppliedKey = options.keyPem !== undefined ? parsePrivateKey(options.keyPem, "keyPem") : undefined;
    const caSection = csr.ca ?? {};
    const expiryMs = parseGoDuration(caSection.expiry || CFSSL_CA_DEFAULT_EXPIRY, "csr.ca.expiry");
    const backdateMs = backdateOf(caSection.backdate, "csr.ca.backdate");
    const sans = classifySubjectAltNames(csr.hosts, "csr.hosts");

    const keyPem = options.keyPem ?? generateKeyPem(keyRequestOf(csr, "csr"));
    const key = suppliedKey ?? crypto.createPrivateKey(keyPem);
    const pathLen = caSection.pathlen ?? 0;
    const profile: ResolvedProfile = {
        name: "initca",
        expiryMs,
        backdateMs,
        ...mapUsages(CFSSL_CA_USAGES, "initca usages"),
        isCa: true,
        maxPathLen: pathLen,
        // initca: pathlenzero only counts when pathlen is 0
        maxPathLenZero: pathLen === 0 && caSection.pathlenzero === true,
    };
    const csrDer = buildCsrDer(csr, key, sans, csr.ca);
    const certDer = buildCertificateDer(
        {
            subjectDer: encodeName(subjectOf(csr)),
            spki: spkiDer(key),
            // local.Signer.sign for a new root, and FillTemplate for CAs: only IP SANs survive
            sans: { dnsNames: [], emailAddresses: [], uris: [], ipAddresses: sans.ipAddresses },
            ...validityPeriod(options.now ?? new Date(), backdateMs, expiryMs),
            profile,
        },
        "self",
        key,
    );
    return { certPem: pemEncode("CERTIFICATE", certDer), keyPem, csrPem: pemEncode("CERTIFICATE REQUEST", csrDer) };
}

export interface GenCertArgs {
    caCertPem: string;
    caKeyPem: string;
    config: CfsslConfig;
    profile?: string;
    csr: CfsslCsr;
    now?: Date;
    keyPem?: string;
    /** Refuse a CSR without hosts (server/peer certificates). Default false, as cfssl only warns. */
    requireHosts?: boolean;
}

/** `cfssl gencert -ca ca.pem -ca-key ca-key.pem -config ca-config.json -profile=<profile> csr.json`. */
export function genCert(args: GenCertArgs): CertificatePems {
    validateCsr(args.csr, "csr", { requireHosts: args.requireHosts ?? false, keyPemGiven: args.keyPem !== undefined });
    const profile = resolveProfile(args.config, args.profile, "config");
    const issuer = parseIssuer(args.caCertPem, args.caKeyPem);
    const suppliedKey = args.keyPem !== undefined ? parsePrivateKey(args.keyPem, "keyPem") : undefined;
    const sans = classifySubjectAltNames(args.csr.hosts, "csr.hosts");

    const keyPem = args.keyPem ?? generateKeyPem(keyRequestOf(args.csr, "csr"));
    const key = suppliedKey ?? crypto.createPrivateKey(keyPem);
    const csrDer = buildCsrDer(args.csr, key, sans, undefined);
    // FillTemplate: a CA profile keeps only IP SANs
    const certSans = profile.isCa ? { dnsNames: [], emailAddresses: [], uris: [], ipAddresses: sans.ipAddresses } : sans;
    const certDer = buildCertificateDer(
        {
            subjectDer: encodeName(subjectOf(args.csr)),
            spki: spkiDer(key),
            sans: certSans,
            ...validityPeriod(args.now ?? new Date(), profile.backdateMs, profile.expiryMs),
            profile,
        },
        issuer,
        issuer.key,
    );
    return { certPem: pemEncode("CERTIFICATE", certDer), keyPem, csrPem: pemEncode("CERTIFICATE REQUEST", csrDer) };
}

/** Throws PkiInputError unless caCertPem is a CA certificate and caKeyPem its key. */
export function checkIssuer(caCertPem: string, caKeyPem: string): void {
    parseIssuer(caCertPem, caKeyPem);
}

function parseIssuer(caCertPem: string, caKeyPem: string): Issuer {
    const ca = parseCertificate(caCertPem, "caCertPem");
    if (!ca.isCa) {
        throw new PkiInputError("caCertPem", `certificate "${ca.subjectText}"`, "this certificate is not a CA (basicConstraints CA:FALSE): pass the CA's certificate (ca.pem)");
    }
    const key = parsePrivateKey(caKeyPem, "caKeyPem");
    if (!spkiDer(key).equals(ca.spki)) {
        throw new PkiInputError("caKeyPem", describeKeyValue(caKeyPem), `this key does not belong to the CA certificate "${ca.subjectText}": pass the CA's own key (ca-key.pem)`);
    }
    return { subjectDer: ca.subjectDer, subjectKeyId: ca.subjectKeyId, key };
}

// ---------------------------------------------------------------------------
// Reading certificates (tests, adoption of existing certificates, the component)
// ---------------------------------------------------------------------------

interface Tlv {
    tag: number;
    start: number; // first content byte
    end: number; // one past the last content byte
    headerStart: number;
}

function readTlv(buf: Buffer, offset: number): Tlv {
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

function children(buf: Buffer, parent: Tlv): Tlv[] {
    const out: Tlv[] = [];
    for (let at = parent.start; at < parent.end; ) {
        const t = readTlv(buf, at);
        out.push(t);
        at = t.end;
    }
    return out;
}

const whole = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.headerStart, t.end);
const content = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.start, t.end);
const oidText = (buf: Buffer, t: Tlv): string => asn1.derToOid(bin(content(buf, t)));

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

const KEY_USAGE_NAMES = ["digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"];
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

interface ParsedCertificate extends CertificateDescription {
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
    return new Date(Date.UTC(+full.slice(0, 4), +full.slice(4, 6) - 1, +full.slice(6, 8), +full.slice(8, 10), +full.slice(10, 12), +full.slice(12, 14)));
}

export function formatIp(bytes: Buffer): string {
    if (bytes.length === 4) return [...bytes].join(".");
    const groups: number[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
    // RFC 5952: compress the longest run (≥ 2) of zero groups
    let best = { at: -1, len: 0 };
    for (let i = 0; i < 8; ) {
        if (groups[i] !== 0) { i++; continue; }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > best.len) best = { at: i, len: j - i };
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (best.len < 2) return hex.join(":");
    return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
}

function parseCertificate(pem: string, argument: string): ParsedCertificate {
    const der = pemToDer(pem, "CERTIFICATE", argument);
    try {
        return parseCertificateDer(der);
    } catch (e) {
        if (e instanceof PkiInputError) throw e;
        throw new PkiInputError(argument, pem.slice(0, 80), `give a valid X.509 certificate in PEM (${(e as Error).message})`);
    }
}

function parseCertificateDer(der: Buffer): ParsedCertificate {
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
        serialHex: content(der, serial).toString("hex").replace(/^0+(?=.)/, ""),
        subjectKeyIdHex: undefined,
        authorityKeyIdHex: undefined,
        signatureAlgorithmOid: oidText(der, children(der, sigAlg)[0]),
        criticalExtensions: [],
    };
    d.subjectText = Object.entries(d.subject).map(([k, v]) => `${k}=${v}`).join(", ");
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

/** True when `keyPem` is the private key of `certPem`. */
export function certificateMatchesKey(certPem: string, keyPem: string, keyArgument = "keyPem", certArgument = "certPem"): boolean {
    const cert = parseCertificate(certPem, certArgument);
    return spkiDer(parsePrivateKey(keyPem, keyArgument)).equals(cert.spki);
}

/** True when `certPem` carries a valid signature by `caCertPem`'s key and names it as issuer. */
export function isIssuedBy(certPem: string, caCertPem: string): boolean {
    const cert = new crypto.X509Certificate(certPem);
    const ca = new crypto.X509Certificate(caCertPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/** The SHA-256 of a key's public half: identifies a private key without revealing it. */
export function publicKeyFingerprint(keyPem: string, argument = "keyPem"): string {
    return crypto.createHash("sha256").update(spkiDer(parsePrivateKey(keyPem, argument))).digest("hex");
}

/**
 * cfssl's vocabulary and its input checks: CSR documents (csr/csr.go,
 * initca/initca.go), hosts → subject alternative names, and signing configs
 * (config/config.go, signer.Profile). Every check runs before any key is
 * generated; anything cfssl would refuse, or that would silently give a wrong
 * certificate, throws PkiInputError naming the argument, the value and the fix.
 */
import { isIpv4, ipv4ToNumber } from "../net/ipv4";
import { CfsslCaConstraints, CfsslConfig, CfsslCsr, CfsslKeyRequest, CfsslName, CfsslSigningProfile, PkiInputError } from "./cfssl-types";
import { parseGoDuration } from "./duration";

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

/** signer.FillTemplate: notBefore = now rounded to the minute, minus 5 minutes unless `backdate` is set. */
const CFSSL_DEFAULT_BACKDATE_MS = 5 * 60_000;

/** cfssl's key default when `key` is absent (csr.NewKeyRequest). */
const CFSSL_DEFAULT_KEY: CfsslKeyRequest = { algo: "ecdsa", size: 256 };
export const SUPPORTED_RSA_SIZES: readonly number[] = [2048, 3072, 4096];
export const SUPPORTED_ECDSA_SIZES: readonly number[] = [256, 384, 521];
const KEY_FIX = 'set "key": {"algo": "rsa", "size": 2048} (RSA 2048, 3072 or 4096, or ECDSA 256, 384 or 521)';

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
        throw new PkiInputError(
            argument,
            csr,
            'pass a cfssl CSR document such as {"CN": "etcd", "hosts": ["10.0.0.1"], "key": {"algo": "rsa", "size": 2048}}',
        );
    }
    rejectUnknownFields(csr, CSR_FIELDS, argument);
    if (csr.CN !== undefined && typeof csr.CN !== "string") {
        throw new PkiInputError(`${argument}.CN`, csr.CN, "give the common name as a string");
    }
    validateNames(csr.names, `${argument}.names`);
    validateHosts(csr.hosts, `${argument}.hosts`);
    if (opts.requireHosts && (csr.hosts ?? []).length === 0) {
        throw new PkiInputError(
            `${argument}.hosts`,
            csr.hosts,
            'a server or peer certificate needs the DNS names and IP addresses clients connect to, e.g. ["etcd-1", "10.0.0.11", "127.0.0.1"]',
        );
    }
    if (!opts.keyPemGiven) keyRequestOf(csr, argument);
    if (purpose === "ca") {
        validateCaSubject(csr, argument);
        validateCaSection(csr.ca, `${argument}.ca`);
    } else if (csr.ca !== undefined) {
        throw new PkiInputError(
            `${argument}.ca`,
            csr.ca,
            "cfssl permits the ca section only with -initca: remove it, or issue an intermediate CA from a profile with ca_constraint.is_ca",
        );
    }
}

function validateNames(names: CfsslName[] | undefined, argument: string): void {
    if (names === undefined) return;
    if (!Array.isArray(names))
        throw new PkiInputError(
            argument,
            names,
            'give a list such as [{"C": "CN", "ST": "Beijing", "L": "Beijing", "O": "k8s", "OU": "System"}]',
        );
    names.forEach((name, i) => {
        if (!isPlainObject(name))
            throw new PkiInputError(`${argument}[${i}]`, name, `give an object with some of ${NAME_FIELDS.join(", ")}`);
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
        throw new PkiInputError(
            `${argument}.CN`,
            csr.CN,
            'cfssl refuses a CA without subject ("missing subject information"): set "CN", e.g. "etcd CA"',
        );
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
            throw new PkiInputError(
                `${argument}.key.size`,
                key.size,
                `use an ECDSA curve size of ${SUPPORTED_ECDSA_SIZES.join(", ")} (cfssl: "invalid curve")`,
            );
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
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
    if (/[\s,\u0000-\u001f\u007f]/.test(host)) {
        throw new PkiInputError(argument, host, "one host per entry, without spaces, commas or control characters");
    }
    // eslint-disable-next-line no-control-regex -- the range is all of ASCII: anything outside it is refused
    if (/[^\u0000-\u007f]/.test(host)) {
        // Go: "cannot be encoded as an IA5String"
        throw new PkiInputError(argument, host, "SANs must be ASCII: write internationalised names in punycode (xn--…)");
    }
    const ip = parseIp(host);
    if (ip) return { kind: "ip", bytes: ip };
    if (looksLikeIpv4(host) || looksLikeIpv6(host)) {
        throw new PkiInputError(
            argument,
            host,
            "this looks like an IP address but is not a valid one (cfssl would silently make it a DNS name): fix the address",
        );
    }
    if (EMAIL.test(host)) return { kind: "email", value: host };
    const uri = URI_SCHEME.exec(host);
    if (uri) {
        if (/^\d*$/.test(uri[1])) {
            throw new PkiInputError(
                argument,
                host,
                'hosts are names or addresses without a port (cfssl would make "name:port" a URI SAN): drop the port',
            );
        }
        return { kind: "uri", value: host };
    }
    if (host === "*" || host.startsWith("/")) {
        throw new PkiInputError(
            argument,
            host,
            "give a DNS name, IP address, e-mail address or absolute URI (cfssl would make this a URI SAN)",
        );
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

/** A dotted-quad IPv4 address (src/net/ipv4's rules: four decimal octets ≤ 255, no leading zeros) as its 4 bytes. */
function parseIpv4(text: string): Buffer | undefined {
    if (!isIpv4(text)) return undefined;
    const value = ipv4ToNumber(text);
    return Buffer.from([24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256));
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
        throw new PkiInputError(
            argument,
            config,
            'pass a cfssl config such as {"signing": {"default": {"expiry": "87600h"}, "profiles": {"kubernetes": {"expiry": "87600h", "usages": ["signing", "key encipherment", "server auth", "client auth"]}}}}',
        );
    }
    rejectUnknownFields(config, ["signing"], argument);
    rejectUnknownFields(config.signing, ["default", "profiles"], `${argument}.signing`);
    const defaultArg = `${argument}.signing.default`;
    const defaultProfile = config.signing.default ?? CFSSL_DEFAULT_PROFILE;
    const defaultExpiryMs = profileExpiry(defaultProfile, defaultArg, undefined);
    checkProfile(defaultProfile, defaultArg, { isDefault: true });
    const profiles = config.signing.profiles ?? {};
    if (!isPlainObject(profiles))
        throw new PkiInputError(`${argument}.signing.profiles`, profiles, 'give an object of named profiles, e.g. {"kubernetes": {…}}');
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
        throw new PkiInputError(
            "profile",
            profile,
            known.length
                ? `use one of the profiles in ${argument}.signing.profiles: ${known.join(", ")} (cfssl would silently fall back to the default profile)`
                : `define it in ${argument}.signing.profiles, or omit profile to use the default profile`,
        );
    }
    const chosen = useDefault ? defaultProfile : profiles[profile!];
    const chosenArg = useDefault ? defaultArg : `${argument}.signing.profiles.${profile}`;
    const { keyUsageBits, extKeyUsageOids } = mapUsages(chosen.usages ?? [], `${chosenArg}.usages`);
    if (keyUsageBits === 0 && extKeyUsageOids.length === 0) {
        // FillTemplate: cferr NoKeyUsages
        throw new PkiInputError(
            `${chosenArg}.usages`,
            chosen.usages,
            'cfssl refuses to sign without key usages: add e.g. "usages": ["signing", "key encipherment", "server auth", "client auth"], or pick a profile that has them',
        );
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
        maxPathLen: isCa ? (constraint.max_path_len ?? 0) : 0,
        maxPathLenZero: isCa && constraint.max_path_len_zero === true,
    };
}

function checkProfile(p: CfsslSigningProfile, argument: string, { isDefault }: { isDefault: boolean }): void {
    rejectUnknownFields(p, PROFILE_FIELDS, argument);
    if (p.usages !== undefined && !Array.isArray(p.usages)) {
        throw new PkiInputError(
            `${argument}.usages`,
            p.usages,
            'give a list such as ["signing", "key encipherment", "server auth", "client auth"]',
        );
    }
    if (!isDefault && (p.usages ?? []).length === 0) {
        throw new PkiInputError(
            `${argument}.usages`,
            p.usages,
            'cfssl refuses a profile without usages: add e.g. ["signing", "key encipherment", "server auth", "client auth"]',
        );
    }
    mapUsages(p.usages ?? [], `${argument}.usages`);
    backdateOf(p.backdate, `${argument}.backdate`);
    const c = p.ca_constraint;
    if (c !== undefined) {
        if (!isPlainObject(c))
            throw new PkiInputError(
                `${argument}.ca_constraint`,
                c,
                'give an object such as {"is_ca": true, "max_path_len": 0, "max_path_len_zero": true}',
            );
        rejectUnknownFields(c, CA_CONSTRAINT_FIELDS, `${argument}.ca_constraint`);
        if (c.is_ca !== undefined && typeof c.is_ca !== "boolean")
            throw new PkiInputError(`${argument}.ca_constraint.is_ca`, c.is_ca, "give true or false");
        if (c.max_path_len !== undefined) pathLength(c.max_path_len, `${argument}.ca_constraint.max_path_len`);
        if (c.max_path_len_zero !== undefined && typeof c.max_path_len_zero !== "boolean") {
            throw new PkiInputError(`${argument}.ca_constraint.max_path_len_zero`, c.max_path_len_zero, "give true or false");
        }
    }
}

/** Expiry as cfssl reads it: required, a Go duration; 0 in a named profile means the default's. */
function profileExpiry(p: CfsslSigningProfile, argument: string, defaultExpiryMs: number | undefined): number {
    if (!isPlainObject(p))
        throw new PkiInputError(
            argument,
            p,
            'give a profile such as {"expiry": "8760h", "usages": ["signing", "key encipherment", "server auth", "client auth"]}',
        );
    if (p.expiry === undefined || p.expiry === "") {
        throw new PkiInputError(
            `${argument}.expiry`,
            p.expiry,
            'cfssl requires an expiry in every profile ("empty expiry string"): add e.g. "expiry": "8760h"',
        );
    }
    const ms = parseGoDuration(p.expiry, `${argument}.expiry`);
    if (ms < 0) throw new PkiInputError(`${argument}.expiry`, p.expiry, 'give a positive duration such as "8760h"');
    if (ms === 0) {
        if (defaultExpiryMs === undefined)
            throw new PkiInputError(
                `${argument}.expiry`,
                p.expiry,
                'the default profile needs a non-zero expiry ("no expiry set"), e.g. "8760h"',
            );
        return defaultExpiryMs;
    }
    return ms;
}

export function backdateOf(backdate: string | undefined, argument: string): number {
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
            throw new PkiInputError(
                `${argument}.${field}`,
                (obj as Record<string, unknown>)[field],
                `not supported here (supported: ${known.join(", ")}); remove it`,
            );
        }
    }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON documents, walked field by field
function isPlainObject(v: unknown): v is Record<string, any> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * cfssl's `gencert` in TypeScript: the same JSON documents in, the same
 * certificates out (see README.md in this folder for the point-by-point
 * equivalence). Pure apart from randomness (keys, serial numbers) and the
 * clock, which callers may fix with `now`.
 *
 * ASN.1 is built with node-forge; keys are generated, signed with and checked
 * by node's crypto (fast native RSA/ECDSA, which forge cannot do for ECDSA).
 * The encoding follows Go's crypto/x509, which is what cfssl runs on.
 *
 * The parts: cfssl-validate.ts (vocabulary and input checks), keys.ts,
 * der-writer.ts (Go's DER encoding), der-reader.ts (reading certificates);
 * this file builds and signs CSRs and certificates from them.
 */
import * as crypto from "crypto";
import { CertificatePems, CfsslCaConstraints, CfsslConfig, CfsslCsr, PkiInputError } from "./cfssl-types";
import {
    ResolvedProfile,
    SubjectAltNames,
    backdateOf,
    classifySubjectAltNames,
    keyRequestOf,
    mapUsages,
    resolveProfile,
    validateCsr,
} from "./cfssl-validate";
import { parseCertificate } from "./der-reader";
import {
    Asn1,
    CTX,
    asn1,
    basicConstraintsValue,
    bin,
    encodeName,
    extension,
    hasSans,
    isEmptyName,
    keyUsageValue,
    octets,
    oid,
    pemEncode,
    raw,
    seq,
    setOf,
    signDer,
    smallInteger,
    subjectAltNameValue,
    subjectOf,
    timeValue,
    toBuf,
    unsignedInteger,
    algorithmIdentifier,
} from "./der-writer";
import { describeKeyValue, generateKeyPem, parsePrivateKey, signatureAlgorithmFor, spkiDer, subjectKeyIdOf } from "./keys";
import { parseGoDuration } from "./duration";
import { OID } from "./oids";

/** initca.CAPolicy: what `cfssl gencert -initca` signs the root with. */
const CFSSL_CA_USAGES = ["cert sign", "crl sign"];
const CFSSL_CA_DEFAULT_EXPIRY = "43800h";

// ---------------------------------------------------------------------------
// CSR (csr.Generate → x509.CreateCertificateRequest)
// ---------------------------------------------------------------------------

function buildCsrDer(csr: CfsslCsr, key: crypto.KeyObject, sans: SubjectAltNames, ca: CfsslCaConstraints | undefined): Buffer {
    const extensions: Asn1[] = [];
    if (hasSans(sans)) extensions.push(extension(OID.subjectAltName, false, subjectAltNameValue(sans)));
    if (ca) {
        // csr.appendCAInfoToCSR: pathlen -1 (omitted) unless set or pathlenzero
        const pathLen = (ca.pathlen ?? 0) === 0 && !ca.pathlenzero ? -1 : (ca.pathlen ?? 0);
        extensions.push(extension(OID.basicConstraints, true, basicConstraintsValue(true, pathLen === -1 ? 0 : pathLen, pathLen === 0)));
    }
    const attributes = extensions.length ? [seq([oid(OID.extensionRequest), setOf([seq(extensions)])])] : [];
    const info = seq([smallInteger(0), raw(encodeName(subjectOf(csr))), raw(spkiDer(key)), asn1.create(CTX, 0, true, attributes)]);
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
    if (authorityKeyId?.length)
        extensions.push(extension(OID.authorityKeyId, false, seq([asn1.create(CTX, 0, false, bin(authorityKeyId))])));
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
        throw new PkiInputError(
            "caCertPem",
            `certificate "${ca.subjectText}"`,
            "this certificate is not a CA (basicConstraints CA:FALSE): pass the CA's certificate (ca.pem)",
        );
    }
    const key = parsePrivateKey(caKeyPem, "caKeyPem");
    if (!spkiDer(key).equals(ca.spki)) {
        throw new PkiInputError(
            "caKeyPem",
            describeKeyValue(caKeyPem),
            `this key does not belong to the CA certificate "${ca.subjectText}": pass the CA's own key (ca-key.pem)`,
        );
    }
    return { subjectDer: ca.subjectDer, subjectKeyId: ca.subjectKeyId, key };
}

// ---------------------------------------------------------------------------
// Checks of existing certificates and keys
// ---------------------------------------------------------------------------

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

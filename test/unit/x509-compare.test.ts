/**
 * The comparison helper of the cfssl equivalence test must see differences:
 * certificates built with node-forge (not src/pki) that are identical except
 * for one field must produce exactly that difference.
 */
import * as crypto from "crypto";
import * as forge from "node-forge";
import { compareFacts, describeCertificate, describeCsr, describePrivateKey, formatName, serialShape } from "../support/x509-compare";

const { privateKey: caKeyPem } = crypto.generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
});
const caKey = forge.pki.privateKeyFromPem(caKeyPem);
const caPublic = forge.pki.setRsaPublicKey(caKey.n, caKey.e);
const { privateKey: leafKeyPem } = crypto.generateKeyPairSync("ec", {
    namedCurve: "P-256",
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "sec1", format: "pem" },
});

const ISSUED_AT = new Date("2025-03-01T12:00:00Z");
const FIVE_MINUTES = 5 * 60_000;
const ONE_YEAR = 8760 * 3600_000;

interface Variant {
    subject?: forge.pki.CertificateField[];
    extensions?: object[];
    notBefore?: Date;
    lengthMs?: number;
    authorityKeyId?: string;
}

const subject: forge.pki.CertificateField[] = [
    { shortName: "C", value: "CN" },
    { shortName: "O", value: "k8s" },
    { shortName: "CN", value: "etcd" },
];
const caSubject: forge.pki.CertificateField[] = [{ shortName: "CN", value: "test CA" }];

function caSki(): string {
    return forge.pki.getPublicKeyFingerprint(caPublic, { type: "RSAPublicKey", md: forge.md.sha1.create() }).getBytes();
}

function baseExtensions(): object[] {
    return [
        { name: "keyUsage", critical: true, digitalSignature: true, keyEncipherment: true },
        { name: "extKeyUsage", serverAuth: true, clientAuth: true },
        { name: "basicConstraints", critical: true, cA: false },
        { name: "subjectKeyIdentifier" },
        { name: "authorityKeyIdentifier", keyIdentifier: caSki() },
        {
            name: "subjectAltName",
            altNames: [
                { type: 2, value: "etcd.example" },
                { type: 7, ip: "10.0.0.1" },
            ],
        },
    ];
}

/** Self-signed root over the RSA key. */
function caCertificate(): string {
    const cert = forge.pki.createCertificate();
    cert.publicKey = caPublic;
    cert.serialNumber = "01";
    cert.validity.notBefore = new Date(ISSUED_AT.getTime() - FIVE_MINUTES);
    cert.validity.notAfter = new Date(cert.validity.notBefore.getTime() + ONE_YEAR);
    cert.setSubject(caSubject);
    cert.setIssuer(caSubject);
    cert.setExtensions([
        { name: "keyUsage", critical: true, keyCertSign: true, cRLSign: true },
        { name: "basicConstraints", critical: true, cA: true },
        { name: "subjectKeyIdentifier" },
    ]);
    cert.sign(caKey, forge.md.sha256.create());
    return forge.pki.certificateToPem(cert);
}

/** forge cannot sign over EC keys, so leaves reuse the CA's RSA public key: irrelevant to the facts compared. */
function leafCertificate(variant: Variant = {}): string {
    const cert = forge.pki.createCertificate();
    cert.publicKey = caPublic;
    cert.serialNumber = "6f1e2d3c4b5a69788796a5b4c3d2e1f001020304";
    const notBefore = variant.notBefore ?? new Date(ISSUED_AT.getTime() - FIVE_MINUTES);
    cert.validity.notBefore = notBefore;
    cert.validity.notAfter = new Date(notBefore.getTime() + (variant.lengthMs ?? ONE_YEAR));
    cert.setSubject(variant.subject ?? subject);
    cert.setIssuer(caSubject);
    cert.setExtensions(variant.extensions ?? baseExtensions());
    cert.sign(caKey, forge.md.sha256.create());
    return forge.pki.certificateToPem(cert);
}

const caPem = caCertificate();
const facts = (pem: string) => describeCertificate(pem, { issuerPem: caPem, issuedAt: ISSUED_AT });
const replaceExtension = (name: string, replacement: object) =>
    baseExtensions().map((e) => ((e as { name: string }).name === name ? replacement : e));

describe("describeCertificate", () => {
    test("reads every field of a leaf", () => {
        const f = facts(leafCertificate());
        expect(formatName(f.subject)).toBe("C=CN, O=k8s, CN=etcd");
        expect(f.subject.flat().map((a) => a.encoding)).toEqual(["PrintableString", "PrintableString", "PrintableString"]);
        expect(formatName(f.issuer)).toBe("CN=test CA");
        expect(f.version).toBe(3);
        expect(f.serial).toEqual({ positive: true, minimalEncoding: true, atMost159Bits: true, atLeast64Bits: true });
        expect(f.signatureAlgorithm).toBe("sha256WithRSAEncryption");
        expect(f.signatureFieldsAgree).toBe(true);
        expect(f.validity).toEqual({ encodings: ["UTCTime", "UTCTime"], lengthSeconds: 8760 * 3600, backdateSeconds: 300 });
        expect(f.publicKey).toEqual({ algorithm: "rsaEncryption", size: "2048 bits, e=65537" });
        expect(f.extensions.order.map((e) => `${e.oid}${e.critical ? "!" : ""}`)).toEqual([
            "keyUsage!",
            "extKeyUsage",
            "basicConstraints!",
            "subjectKeyIdentifier",
            "authorityKeyIdentifier",
            "subjectAltName",
        ]);
        expect(f.extensions.keyUsage).toEqual({ critical: true, bits: ["digitalSignature", "keyEncipherment"] });
        expect(f.extensions.extKeyUsage).toEqual({ critical: false, purposes: ["serverAuth", "clientAuth"] });
        expect(f.extensions.basicConstraints).toEqual({ critical: true, ca: false, pathLen: null });
        expect(f.extensions.subjectAltName).toEqual({ critical: false, names: ["DNS:etcd.example", "IP:10.0.0.1"] });
        expect(f.extensions.subjectKeyId).toEqual({ critical: false, method: "sha1(subjectPublicKey)", octets: 20 });
        expect(f.extensions.authorityKeyId).toEqual({ critical: false, keyIdOnly: true, matchesIssuerSki: true });
        expect(f.signedByIssuer).toBe(true);
    });

    test("the same certificate twice: no differences", () => {
        const pem = leafCertificate();
        expect(compareFacts(facts(pem), facts(pem))).toEqual([]);
    });

    test("two certificates differing only in serial, key id values and signature: no differences", () => {
        expect(compareFacts(facts(leafCertificate()), facts(leafCertificate()))).toEqual([]);
    });
});

describe("compareFacts reports what differs (negative self-checks)", () => {
    test("one extended key usage fewer: only extKeyUsage differs", () => {
        const serverOnly = leafCertificate({ extensions: replaceExtension("extKeyUsage", { name: "extKeyUsage", serverAuth: true }) });
        const differences = compareFacts(facts(leafCertificate()), facts(serverOnly));
        expect(differences).toContain('extensions.extKeyUsage.purposes.1: expected "clientAuth", actual <absent>');
        expect(differences).toHaveLength(2);
        expect(differences.find((d) => !d.includes("extKeyUsage"))).toMatch(/^extensions\.order\.1\.valueHex: /);
    });

    test("basicConstraints no longer critical", () => {
        const notCritical = leafCertificate({ extensions: replaceExtension("basicConstraints", { name: "basicConstraints", cA: false }) });
        expect(compareFacts(facts(leafCertificate()), facts(notCritical))).toEqual([
            "extensions.order.2.critical: expected true, actual false",
            "extensions.basicConstraints.critical: expected true, actual false",
        ]);
    });

    test("an extension missing shifts the order and is reported absent", () => {
        const withoutEku = leafCertificate({ extensions: baseExtensions().filter((e) => (e as { name: string }).name !== "extKeyUsage") });
        const differences = compareFacts(facts(leafCertificate()), facts(withoutEku));
        expect(differences).toContain('extensions.order.1.oid: expected "extKeyUsage", actual "basicConstraints"');
        expect(differences).toContain('extensions.order.5.oid: expected "subjectAltName", actual <absent>');
        expect(differences).toContain('extensions.extKeyUsage.purposes.0: expected "serverAuth", actual <absent>');
    });

    test("subject string encoding (PrintableString vs UTF8String)", () => {
        // @types/node-forge types valueTagClass as a tag class; forge reads it as the string type
        const utf8O = { shortName: "O", value: "k8s", valueTagClass: forge.asn1.Type.UTF8 } as unknown as forge.pki.CertificateField;
        const utf8 = leafCertificate({ subject: [subject[0], utf8O, subject[2]] });
        expect(compareFacts(facts(leafCertificate()), facts(utf8))).toEqual([
            'subject.1.0.encoding: expected "PrintableString", actual "UTF8String"',
        ]);
    });

    test("SAN order", () => {
        const swapped = leafCertificate({
            extensions: replaceExtension("subjectAltName", {
                name: "subjectAltName",
                altNames: [
                    { type: 7, ip: "10.0.0.1" },
                    { type: 2, value: "etcd.example" },
                ],
            }),
        });
        const differences = compareFacts(facts(leafCertificate()), facts(swapped));
        expect(differences).toContain('extensions.subjectAltName.names.0: expected "DNS:etcd.example", actual "IP:10.0.0.1"');
    });

    test("validity length one hour longer", () => {
        const longer = leafCertificate({ lengthMs: ONE_YEAR + 3600_000 });
        expect(compareFacts(facts(leafCertificate()), facts(longer))).toEqual([
            `validity.lengthSeconds: expected ${8760 * 3600}, actual ${8761 * 3600}`,
        ]);
    });

    test("backdate: a minute of rounding is tolerated, ten minutes are not", () => {
        const oneMinute = leafCertificate({ notBefore: new Date(ISSUED_AT.getTime() - 6 * 60_000) });
        expect(compareFacts(facts(leafCertificate()), facts(oneMinute))).toEqual([]);
        const tenMinutes = leafCertificate({ notBefore: new Date(ISSUED_AT.getTime() - 15 * 60_000) });
        expect(compareFacts(facts(leafCertificate()), facts(tenMinutes))).toEqual(["validity.backdateSeconds: expected 300, actual 900"]);
    });

    test("authority key id that is not the issuer's SKI", () => {
        const wrongAki = leafCertificate({
            extensions: replaceExtension("authorityKeyIdentifier", { name: "authorityKeyIdentifier", keyIdentifier: "x".repeat(20) }),
        });
        expect(compareFacts(facts(leafCertificate()), facts(wrongAki))).toEqual([
            "extensions.authorityKeyId.matchesIssuerSki: expected true, actual false",
        ]);
    });

    test("serial shape: 160 bits, non-minimal, negative, under 64 bits", () => {
        const withSerial = (hex: string) => {
            const cert = forge.pki.certificateFromPem(leafCertificate());
            cert.serialNumber = hex;
            cert.sign(caKey, forge.md.sha256.create());
            return facts(forge.pki.certificateToPem(cert));
        };
        expect(compareFacts(facts(leafCertificate()), withSerial("00" + "ff".repeat(20)))).toEqual([
            "serial.atMost159Bits: expected true, actual false",
        ]);
        // forge strips a superfluous leading zero, so the content octets are checked directly
        expect(serialShape(Buffer.from("00" + "7f".repeat(19), "hex")).minimalEncoding).toBe(false);
        expect(serialShape(Buffer.from("ff80", "hex")).minimalEncoding).toBe(false);
        expect(serialShape(Buffer.from("ff80", "hex")).positive).toBe(false);
        expect(serialShape(Buffer.from("00" + "80".repeat(19), "hex"))).toEqual({
            positive: true,
            minimalEncoding: true,
            atMost159Bits: true,
            atLeast64Bits: true,
        });
        expect(serialShape(Buffer.from("7f".repeat(7), "hex")).atLeast64Bits).toBe(false);
    });

    test("signature by another key", () => {
        const other = forge.pki.privateKeyFromPem(
            crypto.generateKeyPairSync("rsa", {
                modulusLength: 2048,
                privateKeyEncoding: { type: "pkcs1", format: "pem" },
                publicKeyEncoding: { type: "spki", format: "pem" },
            }).privateKey,
        );
        const cert = forge.pki.certificateFromPem(leafCertificate());
        cert.sign(other, forge.md.sha256.create());
        expect(compareFacts(facts(leafCertificate()), facts(forge.pki.certificateToPem(cert)))).toEqual([
            "signedByIssuer: expected true, actual false",
        ]);
    });
});

describe("describePrivateKey and describeCsr", () => {
    test("key PEM label and type, never the key", () => {
        const sec1 = describePrivateKey(leafKeyPem);
        expect(sec1).toEqual({ pemType: "EC PRIVATE KEY", algorithm: "ec", size: "prime256v1" });
        const pkcs8 = crypto.createPrivateKey(leafKeyPem).export({ type: "pkcs8", format: "pem" }).toString();
        expect(compareFacts(sec1, describePrivateKey(pkcs8))).toEqual(['pemType: expected "EC PRIVATE KEY", actual "PRIVATE KEY"']);
        expect(describePrivateKey(caKeyPem)).toEqual({ pemType: "RSA PRIVATE KEY", algorithm: "rsa", size: "2048 bits, e=65537" });
    });

    test("CSR subject, key and requested extensions", () => {
        const csr = forge.pki.createCertificationRequest();
        csr.publicKey = caPublic;
        csr.setSubject(subject);
        csr.setAttributes([
            { name: "extensionRequest", extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "etcd.example" }] }] },
        ]);
        csr.sign(caKey, forge.md.sha256.create());
        const f = describeCsr(forge.pki.certificationRequestToPem(csr));
        expect(formatName(f.subject)).toBe("C=CN, O=k8s, CN=etcd");
        expect(f.attributes).toEqual(["extensionRequest"]);
        expect(f.requestedExtensions.subjectAltName).toEqual({ critical: false, names: ["DNS:etcd.example"] });
        expect(f.signatureAlgorithm).toBe("sha256WithRSAEncryption");
        expect(f.publicKey).toEqual({ algorithm: "rsaEncryption", size: "2048 bits, e=65537" });
    });
});

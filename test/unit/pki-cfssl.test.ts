import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import forge = require("node-forge");
import { InputError } from "../../src/errors";
import { isIpv4 } from "../../src/net/ipv4";
import { certificateMatchesKey, genCert, initCa, isIssuedBy } from "../../src/pki/cfssl";
import {
    CFSSL_EXT_KEY_USAGES,
    CFSSL_KEY_USAGES,
    CFSSL_USAGE_NAMES,
    classifySubjectAltNames,
    validateCsr,
} from "../../src/pki/cfssl-validate";
import { describeCertificate } from "../../src/pki/der-reader";
import { parseGoDuration } from "../../src/pki/duration";
import { generateKeyPem } from "../../src/pki/keys";
import { CertificatePems, CfsslConfig, CfsslCsr, PkiInputError } from "../../src/pki/cfssl-types";

const fixture = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(__dirname, "../fixtures/seed004", name), "utf8")) as T;
const seedCaCsr = fixture<CfsslCsr>("ca-csr.json");
const seedEtcdCsr = fixture<CfsslCsr>("etcd-csr.json");
const seedConfig = fixture<CfsslConfig>("ca-config.json");

const HOUR = 3_600_000;
const NOW = new Date("2025-03-01T12:00:29.999Z");
const RSA = { algo: "rsa" as const, size: 2048 };

function pkiError(fn: () => unknown): PkiInputError {
    try {
        fn();
    } catch (error) {
        expect(error).toBeInstanceOf(PkiInputError);
        expect(error).toBeInstanceOf(InputError);
        return error as PkiInputError;
    }
    throw new Error("expected a PkiInputError, nothing was thrown");
}

/** The message names the argument, the value and the fix. */
function expectInputError(fn: () => unknown, argument: string, value: string | undefined, fix: RegExp): PkiInputError {
    const e = pkiError(fn);
    expect(e.argument).toBe(argument);
    expect(e.message).toContain(argument);
    if (value !== undefined) expect(e.message).toContain(value);
    expect(e.fix).toMatch(fix);
    expect(e.message).toContain(e.fix);
    return e;
}

function derOf(pem: string): Buffer {
    return Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
}

/** The DER of a string attribute value: tag, length, bytes. */
function stringTlv(tag: number, text: string): Buffer {
    const bytes = Buffer.from(text, "utf8");
    return Buffer.concat([Buffer.from([tag, bytes.length]), bytes]);
}

const spkiBits = (pem: string): Buffer => {
    const spki = crypto.createPublicKey(pem).export({ type: "spki", format: "der" });
    const asn = forge.asn1.fromDer(spki.toString("binary"), { decodeBitStrings: false } as never);
    return Buffer.from(((asn.value as forge.asn1.Asn1[])[1].value as string).slice(1), "binary");
};

let ca: CertificatePems;
let leafKeyPem: string;
let etcd: CertificatePems;

beforeAll(() => {
    ca = initCa(seedCaCsr, { now: NOW });
    leafKeyPem = generateKeyPem(RSA);
    etcd = genCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, config: seedConfig, profile: "kubernetes", csr: seedEtcdCsr, now: NOW });
});

/** Signs with the shared CA and a pre-made key; profile null = no profile (the default one). */
const sign = (csr: CfsslCsr, config: CfsslConfig = seedConfig, profile: string | null = "kubernetes", now = NOW) =>
    genCert({
        caCertPem: ca.certPem,
        caKeyPem: ca.keyPem,
        config,
        profile: profile ?? undefined,
        csr: { key: RSA, ...csr },
        keyPem: leafKeyPem,
        now,
    });

describe("parseGoDuration (Go's time.ParseDuration)", () => {
    test.each([
        ["87600h", 87600 * HOUR],
        ["43800h", 43800 * HOUR],
        ["8760h30m", 8760 * HOUR + 30 * 60_000],
        ["1.5h", 1.5 * HOUR],
        [".5h", 0.5 * HOUR],
        ["5.h", 5 * HOUR],
        ["1h2m3.5s", HOUR + 2 * 60_000 + 3500],
        ["300ms", 300],
        ["1500us", 1.5],
        ["1500µs", 1.5],
        ["2000000ns", 2],
        ["-5m", -5 * 60_000],
        ["+5m", 5 * 60_000],
        ["0", 0],
        ["0s", 0],
    ])("%s", (text, ms) => {
        expect(parseGoDuration(text)).toBeCloseTo(ms, 6);
    });

    test.each(["", "h", "5", "5x", "5 h", "1.2.3h", "1h5", "abc", "-", ".h", "3000000h", "1d"])("rejects %j", (text) => {
        const e = expectInputError(
            () => parseGoDuration(text, "config.signing.default.expiry"),
            "config.signing.default.expiry",
            JSON.stringify(text),
            /Go duration such as "87600h"/,
        );
        expect(e.value).toBe(text);
    });
});

describe("initCa (cfssl gencert -initca ca-csr.json) on the seed 004 CSR", () => {
    test("subject from CN + names in Go's order: C, ST, L, O, OU, CN", () => {
        const d = describeCertificate(ca.certPem);
        expect(Object.entries(d.subject)).toEqual([
            ["C", "CN"],
            ["ST", "Beijing"],
            ["L", "Beijing"],
            ["O", "k8s"],
            ["OU", "System"],
            ["CN", "etcd CA"],
        ]);
        expect(d.issuer).toEqual(d.subject);
        expect(new crypto.X509Certificate(ca.certPem).subject).toBe("C=CN\nST=Beijing\nL=Beijing\nO=k8s\nOU=System\nCN=etcd CA");
    });

    test("CA:TRUE critical without pathlen, keyUsage critical certSign + cRLSign only (initca's CAPolicy)", () => {
        const d = describeCertificate(ca.certPem);
        expect(d.isCa).toBe(true);
        expect(d.pathLen).toBeUndefined();
        expect(d.keyUsages).toEqual(["keyCertSign", "cRLSign"]);
        expect(d.extKeyUsages).toEqual([]);
        expect(d.criticalExtensions.sort()).toEqual(["basicConstraints", "keyUsage"]);
    });

    test("SKI = SHA-1 of the public key bits; a self-signed root carries no AKI (Go ≥ 1.15)", () => {
        const d = describeCertificate(ca.certPem);
        expect(d.subjectKeyIdHex).toBe(crypto.createHash("sha1").update(spkiBits(ca.certPem)).digest("hex"));
        expect(d.authorityKeyIdHex).toBeUndefined();
    });

    test("default CA expiry 43800h (5 years); notBefore = now rounded to the minute − 5 min", () => {
        const d = describeCertificate(ca.certPem);
        expect(d.notBefore.toISOString()).toBe("2025-03-01T11:55:00.000Z");
        expect(d.notAfter.getTime() - d.notBefore.getTime()).toBe(43800 * HOUR);
    });

    test("ca.expiry and ca.backdate are used", () => {
        const d = describeCertificate(
            initCa({ ...seedCaCsr, ca: { expiry: "87600h", backdate: "1h" } }, { now: NOW, keyPem: leafKeyPem }).certPem,
        );
        expect(d.notBefore.toISOString()).toBe("2025-03-01T11:00:00.000Z");
        expect(d.notAfter.getTime() - d.notBefore.getTime()).toBe(87600 * HOUR);
    });

    test.each([
        [{}, undefined],
        [{ pathlen: 1 }, 1],
        [{ pathlen: 0, pathlenzero: true }, 0],
        [{ pathlen: 2, pathlenzero: true }, 2], // initca: "ignore invalid 'pathlenzero' value"
        [{ pathlen: -1 }, undefined],
    ])("pathlen %j → %s", (caSection, pathLen) => {
        const pems = initCa({ ...seedCaCsr, ca: caSection }, { now: NOW, keyPem: leafKeyPem });
        expect(describeCertificate(pems.certPem).pathLen).toBe(pathLen);
    });

    test("keys: PKCS#1 RSA PRIVATE KEY of the requested size; SHA-256 with RSA", () => {
        expect(ca.keyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
        expect(crypto.createPrivateKey(ca.keyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
        expect(describeCertificate(ca.certPem).signatureAlgorithmOid).toBe("1.2.840.113549.1.1.11");
        expect(certificateMatchesKey(ca.certPem, ca.keyPem)).toBe(true);
    });

    test("keyPem reuses a key (cfssl gencert -initca -ca-key)", () => {
        const pems = initCa(seedCaCsr, { keyPem: leafKeyPem });
        expect(pems.keyPem).toBe(leafKeyPem);
        expect(certificateMatchesKey(pems.certPem, leafKeyPem)).toBe(true);
    });

    test("hosts: the CSR keeps all, the CA certificate only IP SANs (cfssl drops DNS/e-mail/URI for CAs)", () => {
        const pems = initCa({ ...seedCaCsr, hosts: ["ca.example.com", "10.0.0.1", "admin@example.com"] }, { keyPem: leafKeyPem });
        const d = describeCertificate(pems.certPem);
        expect(d.ipAddresses).toEqual(["10.0.0.1"]);
        expect(d.dnsNames).toEqual([]);
        expect(d.emailAddresses).toEqual([]);
        const csr = forge.pki.certificationRequestFromPem(pems.csrPem);
        const san = (
            csr.getAttribute({ name: "extensionRequest" }) as { extensions: { name: string; altNames: { value: string; ip?: string }[] }[] }
        ).extensions.find((e) => e.name === "subjectAltName")!;
        expect(san.altNames.map((n) => n.ip ?? n.value)).toEqual(["ca.example.com", "admin@example.com", "10.0.0.1"]);
    });

    test("the CSR carries a critical CA basicConstraints extension (csr.appendCAInfoToCSR) and a valid signature", () => {
        const pems = initCa({ ...seedCaCsr, ca: { pathlen: 1 } }, { keyPem: leafKeyPem });
        const csr = forge.pki.certificationRequestFromPem(pems.csrPem);
        expect(csr.verify()).toBe(true);
        const bc = (
            csr.getAttribute({ name: "extensionRequest" }) as {
                extensions: { name: string; critical: boolean; cA: boolean; pathLenConstraint: number }[];
            }
        ).extensions.find((e) => e.name === "basicConstraints")!;
        expect(bc).toMatchObject({ critical: true, cA: true, pathLenConstraint: 1 });
    });

    test("a CA needs a subject: no CN and no names is refused (initca's validator)", () => {
        expectInputError(() => initCa({ CN: "", key: RSA }), "csr.CN", '""', /missing subject information/);
        expectInputError(() => initCa({ CN: "", key: RSA, names: [{ O: " " }] }), "csr.CN", '""', /set "CN"/);
        expect(describeCertificate(initCa({ CN: "", key: RSA, names: [{ O: "k8s" }] }, { keyPem: leafKeyPem }).certPem).subject).toEqual({
            O: "k8s",
        });
    });

    test("bad ca section values are refused", () => {
        expectInputError(() => initCa({ ...seedCaCsr, ca: { expiry: "10 years" } }), "csr.ca.expiry", '"10 years"', /Go duration/);
        expectInputError(() => initCa({ ...seedCaCsr, ca: { expiry: "-1h" } }), "csr.ca.expiry", '"-1h"', /positive/);
        expectInputError(() => initCa({ ...seedCaCsr, ca: { pathlen: 1.5 } }), "csr.ca.pathlen", "1.5", /whole number/);
        expectInputError(
            () => initCa({ ...seedCaCsr, ca: { expiry: "1h", renew: true } as never }),
            "csr.ca.renew",
            "true",
            /not supported/,
        );
    });
});

describe("genCert (cfssl gencert -ca -config -profile) on the seed 004 documents", () => {
    test("subject, issuer = CA subject bytes, chain verifies", () => {
        const d = describeCertificate(etcd.certPem);
        expect(Object.entries(d.subject)).toEqual([
            ["C", "CN"],
            ["ST", "Beijing"],
            ["L", "Beijing"],
            ["O", "k8s"],
            ["OU", "System"],
            ["CN", "etcd"],
        ]);
        expect(d.issuer).toEqual(describeCertificate(ca.certPem).subject);
        expect(isIssuedBy(etcd.certPem, ca.certPem)).toBe(true);
    });

    test("hosts split into DNS (wildcard kept verbatim) and IP SANs", () => {
        const d = describeCertificate(etcd.certPem);
        expect(d.dnsNames).toEqual(["kubernetes-*"]);
        expect(d.ipAddresses).toEqual(["127.0.0.1", "32.16.5.31", "32.16.5.32", "32.16.5.33"]);
    });

    test("profile kubernetes: signing + key encipherment (critical), server auth + client auth; CA:FALSE critical", () => {
        const d = describeCertificate(etcd.certPem);
        expect(d.keyUsages).toEqual(["digitalSignature", "keyEncipherment"]);
        expect(d.extKeyUsages).toEqual(["serverAuth", "clientAuth"]);
        expect(d.isCa).toBe(false);
        expect(d.criticalExtensions.sort()).toEqual(["basicConstraints", "keyUsage"]);
    });

    test("validity: 87600h from notBefore = now rounded to the minute − 5 min", () => {
        const d = describeCertificate(etcd.certPem);
        expect(d.notBefore.toISOString()).toBe("2025-03-01T11:55:00.000Z");
        expect(d.notAfter.getTime() - d.notBefore.getTime()).toBe(87600 * HOUR);
        // 12:00:30 rounds up (Go's Round: halves away from zero)
        const later = describeCertificate(sign(seedEtcdCsr, seedConfig, "kubernetes", new Date("2025-03-01T12:00:30.000Z")).certPem);
        expect(later.notBefore.toISOString()).toBe("2025-03-01T11:56:00.000Z");
    });

    test("AKI = the CA's SKI; SKI = SHA-1 of the leaf's public key bits", () => {
        const d = describeCertificate(etcd.certPem);
        expect(d.authorityKeyIdHex).toBe(describeCertificate(ca.certPem).subjectKeyIdHex);
        expect(d.subjectKeyIdHex).toBe(crypto.createHash("sha1").update(spkiBits(etcd.certPem)).digest("hex"));
    });

    test("extensions in Go's order: keyUsage, extKeyUsage, basicConstraints, SKI, AKI, SAN", () => {
        const tbs = forge.asn1.fromDer(derOf(etcd.certPem).toString("binary")).value[0] as forge.asn1.Asn1;
        const exts = (
            (tbs.value as forge.asn1.Asn1[]).find((v) => v.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && v.type === 3)!
                .value[0] as forge.asn1.Asn1
        ).value as forge.asn1.Asn1[];
        const oids = exts.map((e) => forge.asn1.derToOid((e.value as forge.asn1.Asn1[])[0].value as string));
        expect(oids).toEqual(["2.5.29.15", "2.5.29.37", "2.5.29.19", "2.5.29.14", "2.5.29.35", "2.5.29.17"]);
    });

    test("serial numbers: positive, at most 20 bytes, random", () => {
        const serials = new Set<string>();
        for (let i = 0; i < 8; i++) {
            const pems = sign({ CN: "client" }, seedConfig);
            const d = describeCertificate(pems.certPem);
            const serialDer = new crypto.X509Certificate(pems.certPem).serialNumber;
            expect(BigInt(`0x${serialDer}`) > 0n).toBe(true);
            expect(d.serialHex.length).toBeLessThanOrEqual(40);
            expect(d.serialHex.length).toBeGreaterThan(30); // 20 random bytes, top bit cleared
            const tbs = forge.asn1.fromDer(derOf(pems.certPem).toString("binary")).value[0] as forge.asn1.Asn1;
            const serialBytes = (tbs.value as forge.asn1.Asn1[])[1].value as string;
            expect(serialBytes.charCodeAt(0) & 0x80).toBe(0);
            expect(serialBytes.length).toBeLessThanOrEqual(20);
            serials.add(d.serialHex);
        }
        expect(serials.size).toBe(8);
    });

    test("the CSR (etcd.csr) has the subject, the SANs and a valid signature", () => {
        const csr = forge.pki.certificationRequestFromPem(etcd.csrPem);
        expect(csr.verify()).toBe(true);
        expect(csr.subject.getField("CN").value).toBe("etcd");
        const exts = (
            csr.getAttribute({ name: "extensionRequest" }) as { extensions: { name: string; altNames: { value: string; ip?: string }[] }[] }
        ).extensions;
        expect(exts.map((e) => e.name)).toEqual(["subjectAltName"]);
        expect(exts[0].altNames.map((n) => n.ip ?? n.value)).toEqual([
            "kubernetes-*",
            "127.0.0.1",
            "32.16.5.31",
            "32.16.5.32",
            "32.16.5.33",
        ]);
    });

    test("key and certificate belong together; the key PEM is PKCS#1", () => {
        expect(etcd.keyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n[\s\S]+-----END RSA PRIVATE KEY-----\n$/);
        expect(certificateMatchesKey(etcd.certPem, etcd.keyPem)).toBe(true);
        expect(etcd.certPem).toMatch(
            /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{64}\n)+[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/,
        );
    });
});

describe("subject encoding (pkix.Name as Go marshals it)", () => {
    test("several names entries merge per attribute into multi-valued RDNs, values in DER order", () => {
        const pems = sign({ CN: "x", names: [{ C: "CN", O: "k8s" }, { O: "b" }, { O: "a", OU: "System" }] });
        expect(describeCertificate(pems.certPem).subject).toEqual({ C: "CN", O: "a+b+k8s", OU: "System", CN: "x" });
        const subject = new crypto.X509Certificate(pems.certPem).subject;
        expect(subject).toContain("O=a + O=b + O=k8s");
    });

    test("PrintableString when possible, else UTF8String (Go's asn1 choice; '*' is not printable)", () => {
        const der = derOf(sign({ CN: "kubernetes-*", names: [{ L: "北京", O: "k8s" }] }).certPem);
        expect(der.indexOf(stringTlv(0x0c, "kubernetes-*"))).toBeGreaterThan(0);
        expect(der.indexOf(stringTlv(0x0c, "北京"))).toBeGreaterThan(0);
        expect(der.indexOf(stringTlv(0x13, "k8s"))).toBeGreaterThan(0);
        const caDer = derOf(ca.certPem);
        expect(caDer.indexOf(stringTlv(0x13, "etcd CA"))).toBeGreaterThan(0);
    });

    test("empty values are skipped; an empty CN is accepted for leaf certificates (cfssl's gencert validator accepts anything)", () => {
        const d = describeCertificate(sign({ CN: "", names: [{ C: "", O: "k8s" }], hosts: ["a.example"] }).certPem);
        expect(d.subject).toEqual({ O: "k8s" });
    });

    test("an empty subject makes the SAN extension critical (RFC 5280, as Go)", () => {
        const d = describeCertificate(sign({ CN: "", hosts: ["a.example"] }).certPem);
        expect(d.subject).toEqual({});
        expect(d.criticalExtensions).toContain("subjectAltName");
        expect(describeCertificate(etcd.certPem).criticalExtensions).not.toContain("subjectAltName");
    });
});

describe("hosts → SANs (cfssl: IP, else e-mail, else URI, else DNS)", () => {
    test("IPv4, IPv6, IPv4-mapped IPv6 (encoded as 4 bytes, as Go), DNS wildcards, e-mail, URI", () => {
        const d = describeCertificate(
            sign({
                CN: "x",
                hosts: [
                    "*.example.com",
                    "kubernetes-*",
                    "10.0.0.1",
                    "::1",
                    "2001:db8::5",
                    "::ffff:10.0.0.2",
                    "ops@example.com",
                    "ops.2+etcd@example.com",
                    "spiffe://cluster/etcd",
                    "localhost",
                ],
            }).certPem,
        );
        expect(d.dnsNames).toEqual(["*.example.com", "kubernetes-*", "localhost"]);
        expect(d.ipAddresses).toEqual(["10.0.0.1", "::1", "2001:db8::5", "10.0.0.2"]);
        expect(d.emailAddresses).toEqual(["ops@example.com", "ops.2+etcd@example.com"]);
        expect(d.uris).toEqual(["spiffe://cluster/etcd"]);
    });

    test("SAN order in the certificate is Go's: DNS, e-mail, IP, URI", () => {
        const text = new crypto.X509Certificate(
            sign({ CN: "x", hosts: ["10.0.0.1", "spiffe://a/b", "a@b.example", "dns.example"] }).certPem,
        ).subjectAltName;
        expect(text).toBe("DNS:dns.example, email:a@b.example, IP Address:10.0.0.1, URI:spiffe://a/b");
    });

    test("IPv4 hosts follow src/net/ipv4's rules (the project's one IPv4 parser), alone and as the tail of an IPv6 address", () => {
        const candidates = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "10.0.0.256",
            "010.0.0.1",
            "10.0.0.00",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.4.",
            " 1.2.3.4",
            "1.2.3.+4",
            "1e1.2.3.4",
            "1.2.3.٣",
        ];
        for (const host of candidates) {
            let ip: Buffer[] = [];
            try {
                ip = classifySubjectAltNames([host]).ipAddresses;
            } catch {
                // refused hosts are no IP SAN
            }
            expect([host, ip.length === 1 && ip[0].length === 4]).toEqual([host, isIpv4(host)]);
        }
        expect(classifySubjectAltNames(["255.255.255.255", "::ffff:192.168.0.1"]).ipAddresses.map((b) => [...b])).toEqual([
            [255, 255, 255, 255],
            [192, 168, 0, 1],
        ]);
        expect(describeCertificate(sign({ CN: "x", hosts: ["64:ff9b::10.0.0.1"] }).certPem).ipAddresses).toEqual(["64:ff9b::a00:1"]);
        for (const host of ["::ffff:10.0.0.256", "::ffff:010.0.0.1", "64:ff9b::10.0.1"]) {
            expectInputError(() => sign({ CN: "x", hosts: [host] }), "csr.hosts[0]", JSON.stringify(host), /looks like an IP address/);
        }
    });

    test.each([
        ["10.0.0.256", /looks like an IP address/],
        ["10.0.1", /looks like an IP address/],
        ["01.2.3.4", /looks like an IP address/],
        ["fe80::1%eth0", /looks like an IP address/],
        ["2001:db8:::1", /looks like an IP address/],
        ["etcd-1:2379", /without a port/],
        ["a b", /without spaces/],
        ["a,b", /commas/],
        ["", /DNS name, IP address/],
        ["ü.example", /punycode/],
        ["*", /absolute URI/],
        ["/etc/etcd", /absolute URI/],
    ])("refuses %j before generating anything", (host, fix) => {
        expectInputError(() => sign({ CN: "x", hosts: ["ok.example", host] }), "csr.hosts[1]", JSON.stringify(host), fix);
    });

    test("requireHosts refuses a server certificate without hosts", () => {
        expectInputError(
            () =>
                genCert({
                    caCertPem: ca.certPem,
                    caKeyPem: ca.keyPem,
                    config: seedConfig,
                    profile: "kubernetes",
                    csr: { CN: "etcd", key: RSA },
                    requireHosts: true,
                }),
            "csr.hosts",
            "missing",
            /needs the DNS names and IP addresses/,
        );
        expectInputError(
            () => validateCsr({ CN: "etcd", hosts: [] }, "members[0].csr", { requireHosts: true }),
            "members[0].csr.hosts",
            "[]",
            /DNS names and IP addresses/,
        );
    });
});

describe("signing profiles and usages (config/config.go)", () => {
    test("every cfssl usage name maps as cfssl maps it", () => {
        const keyUsageNames = [
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
        for (const [name, bit] of Object.entries(CFSSL_KEY_USAGES)) {
            const d = describeCertificate(
                sign({ CN: "x" }, { signing: { profiles: { p: { expiry: "1h", usages: [name] } } } }, "p").certPem,
            );
            expect([name, d.keyUsages]).toEqual([name, [keyUsageNames[bit]]]);
        }
        const ekuNames: Record<string, string> = {
            any: "any",
            "server auth": "serverAuth",
            "client auth": "clientAuth",
            "code signing": "codeSigning",
            "email protection": "emailProtection",
            "s/mime": "emailProtection",
            "ipsec end system": "ipsecEndSystem",
            "ipsec tunnel": "ipsecTunnel",
            "ipsec user": "ipsecUser",
            timestamping: "timeStamping",
            "ocsp signing": "OCSPSigning",
            "microsoft sgc": "msSGC",
            "netscape sgc": "nsSGC",
        };
        expect(Object.keys(ekuNames).sort()).toEqual(Object.keys(CFSSL_EXT_KEY_USAGES).sort());
        for (const name of Object.keys(CFSSL_EXT_KEY_USAGES)) {
            const d = describeCertificate(
                sign({ CN: "x" }, { signing: { profiles: { p: { expiry: "1h", usages: [name] } } } }, "p").certPem,
            );
            expect([name, d.keyUsages, d.extKeyUsages]).toEqual([name, [], [ekuNames[name]]]);
        }
    });

    test("only extended usages: no keyUsage extension at all (as Go)", () => {
        const d = describeCertificate(
            sign({ CN: "x" }, { signing: { profiles: { p: { expiry: "1h", usages: ["client auth"] } } } }, "p").certPem,
        );
        expect(d.keyUsages).toEqual([]);
        expect(d.criticalExtensions).toEqual(["basicConstraints"]);
    });

    test("an unknown usage is refused, naming it and listing cfssl's names (cfssl would silently drop it)", () => {
        const e = expectInputError(
            () => sign({ CN: "x" }, { signing: { profiles: { p: { expiry: "1h", usages: ["signing", "serverauth"] } } } }, "p"),
            "config.signing.profiles.p.usages[1]",
            '"serverauth"',
            /use one of cfssl's usage names/,
        );
        for (const name of CFSSL_USAGE_NAMES) expect(e.fix).toContain(name);
        expect(e.fix).toContain("content commitment");
        // older cfssl spelled it "content committment"; cfssl 1.6.5 silently ignores that spelling
        expectInputError(
            () => sign({ CN: "x" }, { signing: { profiles: { p: { expiry: "1h", usages: ["signing", "content committment"] } } } }, "p"),
            "config.signing.profiles.p.usages[1]",
            '"content committment"',
            /content commitment/,
        );
    });

    test("no profile → the default profile; the seed's default has no usages, so cfssl refuses to sign (NoKeyUsages)", () => {
        expectInputError(
            () => sign({ CN: "x" }, seedConfig, null),
            "config.signing.default.usages",
            "missing",
            /refuses to sign without key usages/,
        );
        const d = describeCertificate(
            sign({ CN: "x" }, { signing: { default: { expiry: "24h", usages: ["client auth"] } } }, null).certPem,
        );
        expect(d.extKeyUsages).toEqual(["clientAuth"]);
        expect(d.notAfter.getTime() - d.notBefore.getTime()).toBe(24 * HOUR);
    });

    test("no default in the config → cfssl's DefaultConfig: 8760h, signing, key encipherment, server auth, client auth", () => {
        const d = describeCertificate(sign({ CN: "x" }, { signing: {} }, null).certPem);
        expect(d.notAfter.getTime() - d.notBefore.getTime()).toBe(8760 * HOUR);
        expect(d.keyUsages).toEqual(["digitalSignature", "keyEncipherment"]);
        expect(d.extKeyUsages).toEqual(["serverAuth", "clientAuth"]);
    });

    test("an unknown profile is refused, listing the profiles (cfssl would silently use the default)", () => {
        expectInputError(
            () => sign({ CN: "x" }, seedConfig, "kubernets"),
            "profile",
            '"kubernets"',
            /use one of the profiles in config.signing.profiles: kubernetes/,
        );
    });

    test('profile expiry: required; "0h" means the default\'s; unparsable or negative refused', () => {
        expectInputError(
            () => sign({ CN: "x" }, { signing: { profiles: { p: { usages: ["signing"] } } } }, "p"),
            "config.signing.profiles.p.expiry",
            "missing",
            /empty expiry string/,
        );
        expectInputError(
            () => sign({ CN: "x" }, { signing: { profiles: { p: { expiry: "ten years", usages: ["signing"] } } } }, "p"),
            "config.signing.profiles.p.expiry",
            '"ten years"',
            /Go duration/,
        );
        expectInputError(
            () => sign({ CN: "x" }, { signing: { profiles: { p: { expiry: "-1h", usages: ["signing"] } } } }, "p"),
            "config.signing.profiles.p.expiry",
            '"-1h"',
            /positive/,
        );
        expectInputError(
            () => sign({ CN: "x" }, { signing: { default: { expiry: "0s" } } }, null),
            "config.signing.default.expiry",
            '"0s"',
            /no expiry set/,
        );
        const d = describeCertificate(
            sign({ CN: "x" }, { signing: { default: { expiry: "48h" }, profiles: { p: { expiry: "0h", usages: ["signing"] } } } }, "p")
                .certPem,
        );
        expect(d.notAfter.getTime() - d.notBefore.getTime()).toBe(48 * HOUR);
    });

    test("any bad profile makes the whole config invalid, as cfssl's LoadConfig", () => {
        const config: CfsslConfig = {
            ...seedConfig,
            signing: { ...seedConfig.signing, profiles: { ...seedConfig.signing.profiles, broken: { expiry: "1h", usages: [] } } },
        };
        expectInputError(() => sign({ CN: "x" }, config, "kubernetes"), "config.signing.profiles.broken.usages", "[]", /without usages/);
    });

    test("backdate", () => {
        const d = describeCertificate(
            sign({ CN: "x" }, { signing: { profiles: { p: { expiry: "1h", usages: ["signing"], backdate: "2h" } } } }, "p").certPem,
        );
        expect(d.notBefore.toISOString()).toBe("2025-03-01T10:00:00.000Z");
        expectInputError(
            () => sign({ CN: "x" }, { signing: { profiles: { p: { expiry: "1h", usages: ["signing"], backdate: "-1h" } } } }, "p"),
            "config.signing.profiles.p.backdate",
            '"-1h"',
            /≥ 0/,
        );
    });

    test("unsupported cfssl settings are refused rather than ignored", () => {
        expectInputError(
            () =>
                sign(
                    { CN: "x" },
                    { signing: { profiles: { p: { expiry: "1h", usages: ["signing"], ocsp_url: "http://x" } as never } } },
                    "p",
                ),
            "config.signing.profiles.p.ocsp_url",
            '"http://x"',
            /not supported/,
        );
        expectInputError(() => sign({ CN: "x" }, { signing: {}, remotes: {} } as never, null), "config.remotes", "{}", /not supported/);
        expectInputError(() => sign({ CN: "x" }, {} as never, null), "config", "{}", /pass a cfssl config/);
    });

    test("ca_constraint.is_ca issues an intermediate CA: CA:TRUE, pathlen, only IP SANs kept, chains to the root", () => {
        const config: CfsslConfig = {
            signing: {
                profiles: {
                    intermediate: {
                        expiry: "8760h",
                        usages: ["cert sign", "crl sign"],
                        ca_constraint: { is_ca: true, max_path_len: 0, max_path_len_zero: true },
                    },
                },
            },
        };
        const pems = sign(
            { CN: "etcd intermediate", hosts: ["int.example", "10.9.9.9", "spiffe://a/b", "ca@example.com"] },
            config,
            "intermediate",
        );
        const d = describeCertificate(pems.certPem);
        expect(d).toMatchObject({
            isCa: true,
            pathLen: 0,
            dnsNames: [],
            ipAddresses: ["10.9.9.9"],
            uris: [],
            emailAddresses: [],
            keyUsages: ["keyCertSign", "cRLSign"],
        });
        expect(isIssuedBy(pems.certPem, ca.certPem)).toBe(true);
        const leaf = genCert({
            caCertPem: pems.certPem,
            caKeyPem: pems.keyPem,
            config: seedConfig,
            profile: "kubernetes",
            csr: seedEtcdCsr,
            keyPem: leafKeyPem,
        });
        expect(isIssuedBy(leaf.certPem, pems.certPem)).toBe(true);
        expect(describeCertificate(leaf.certPem).authorityKeyIdHex).toBe(d.subjectKeyIdHex);
    });

    test("max_path_len of a non-CA profile is ignored (FillTemplate copies it only into CAs)", () => {
        const d = describeCertificate(
            sign(
                { CN: "x" },
                { signing: { profiles: { p: { expiry: "1h", usages: ["signing"], ca_constraint: { max_path_len: 3 } } } } },
                "p",
            ).certPem,
        );
        expect(d).toMatchObject({ isCa: false, pathLen: undefined });
    });
});

describe("keys", () => {
    test("missing key → cfssl's default, ECDSA P-256 (EC PRIVATE KEY, ecdsa-with-SHA256)", () => {
        const pems = genCert({
            caCertPem: ca.certPem,
            caKeyPem: ca.keyPem,
            config: seedConfig,
            profile: "kubernetes",
            csr: { CN: "ec", hosts: ["ec.example"] },
        });
        expect(pems.keyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
        expect(crypto.createPrivateKey(pems.keyPem).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
        expect(isIssuedBy(pems.certPem, ca.certPem)).toBe(true);
        // the certificate is signed by the RSA CA, so its signature is RSA
        expect(describeCertificate(pems.certPem).signatureAlgorithmOid).toBe("1.2.840.113549.1.1.11");
    });

    test("an ECDSA CA signs with ECDSA (P-384 → ecdsa-with-SHA384); AKI/SKI still link", () => {
        const ecCa = initCa({ CN: "ec CA", key: { algo: "ecdsa", size: 384 } });
        expect(describeCertificate(ecCa.certPem).signatureAlgorithmOid).toBe("1.2.840.10045.4.3.3");
        const leaf = genCert({
            caCertPem: ecCa.certPem,
            caKeyPem: ecCa.keyPem,
            config: seedConfig,
            profile: "kubernetes",
            csr: seedEtcdCsr,
            keyPem: leafKeyPem,
        });
        expect(isIssuedBy(leaf.certPem, ecCa.certPem)).toBe(true);
        expect(describeCertificate(leaf.certPem).authorityKeyIdHex).toBe(describeCertificate(ecCa.certPem).subjectKeyIdHex);
    });

    test("a 3072-bit RSA CA signs with SHA-384 (signer.DefaultSigAlgo)", () => {
        const big = initCa({ CN: "big CA", key: { algo: "rsa", size: 3072 } });
        expect(describeCertificate(big.certPem).signatureAlgorithmOid).toBe("1.2.840.113549.1.1.12");
        expect(crypto.createPrivateKey(big.keyPem).asymmetricKeyDetails?.modulusLength).toBe(3072);
    });

    test.each([
        [{ algo: "rsa", size: 1024 }, "csr.key.size", "1024", /2048, 3072, 4096/],
        [{ algo: "rsa", size: 8192 }, "csr.key.size", "8192", /2048, 3072, 4096/],
        [{ algo: "ecdsa", size: 224 }, "csr.key.size", "224", /invalid curve/],
        [{ algo: "ed25519", size: 0 }, "csr.key.algo", '"ed25519"', /"key": \{"algo": "rsa", "size": 2048\}/],
    ])("refuses key %j", (key, argument, value, fix) => {
        expectInputError(() => initCa({ CN: "x", key: key as never }), argument, value, fix);
    });

    test("keyPem must be a usable private key; its text never appears in the error", () => {
        const e = expectInputError(
            () => initCa(seedCaCsr, { keyPem: "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n" }),
            "keyPem",
            "<private key PEM",
            /unencrypted PEM private key/,
        );
        expect(e.message).not.toContain("not a key");
        const weak = crypto
            .generateKeyPairSync("rsa", { modulusLength: 1024 })
            .privateKey.export({ type: "pkcs1", format: "pem" })
            .toString();
        expectInputError(() => initCa(seedCaCsr, { keyPem: weak }), "keyPem", "<private key PEM", /at least 2048 bits/);
    });
});

describe("issuer checks and other refusals", () => {
    test("a CA key that does not match the CA certificate is refused without echoing the key", () => {
        const e = expectInputError(
            () => genCert({ caCertPem: ca.certPem, caKeyPem: leafKeyPem, config: seedConfig, profile: "kubernetes", csr: seedEtcdCsr }),
            "caKeyPem",
            "<private key PEM",
            /does not belong to the CA certificate/,
        );
        expect(e.message).not.toContain(leafKeyPem.slice(40, 80));
    });

    test("a leaf certificate passed as CA is refused", () => {
        expectInputError(
            () => genCert({ caCertPem: etcd.certPem, caKeyPem: etcd.keyPem, config: seedConfig, profile: "kubernetes", csr: seedEtcdCsr }),
            "caCertPem",
            "CN=etcd",
            /not a CA/,
        );
    });

    test("garbage PEM is refused", () => {
        expectInputError(
            () => genCert({ caCertPem: "hello", caKeyPem: ca.keyPem, config: seedConfig, profile: "kubernetes", csr: seedEtcdCsr }),
            "caCertPem",
            '"hello"',
            /PEM "CERTIFICATE" block/,
        );
    });

    test('a ca section outside initCa is refused (cfssl: "ca section only permitted in initca")', () => {
        expectInputError(() => sign({ CN: "x", ca: { expiry: "1h" } }), "csr.ca", '{"expiry":"1h"}', /only with -initca/);
    });

    test("unknown CSR fields and malformed names are refused", () => {
        expectInputError(
            () => validateCsr({ CN: "x", host: ["a"] } as never, "csr", { requireHosts: false }),
            "csr.host",
            '["a"]',
            /supported: CN, hosts, key, names, ca/,
        );
        expectInputError(
            () => validateCsr({ CN: "x", names: [{ Org: "k8s" }] } as never, "csr", { requireHosts: false }),
            "csr.names[0].Org",
            '"k8s"',
            /not supported/,
        );
        expectInputError(
            () => validateCsr({ CN: "x", names: { O: "k8s" } } as never, "csr", { requireHosts: false }),
            "csr.names",
            '{"O":"k8s"}',
            /give a list/,
        );
        expectInputError(() => validateCsr(null as never, "csr", { requireHosts: false }), "csr", "null", /cfssl CSR document/);
    });

    test("when the leaf's subject equals the issuer's, Go omits the AKI (self-issued rule)", () => {
        const d = describeCertificate(sign({ CN: "etcd CA", names: seedCaCsr.names }).certPem);
        expect(d.authorityKeyIdHex).toBeUndefined();
    });
});

/**
 * src/pki against the real cfssl (v1.6.5, built by `bash scripts/tools.sh cfssl`):
 * the same JSON documents go through `cfssl gencert` and through
 * initCa/genCert, and the results are compared field by field
 * (test/support/x509-compare.ts): DER layout of names and extensions,
 * criticality, string encodings, algorithms, validity, key PEM types, CSRs.
 * Then each tool signs with the other's CA key, and the real openssl verifies
 * the chains: the key files are interchangeable.
 */
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { genCert, initCa } from "../../src/pki/cfssl";
import { CertificatePems, CfsslConfig, CfsslCsr } from "../../src/pki/cfssl-types";
import { toolsBinDir } from "../support/processes";
import { CertificateFacts, compareFacts, describeCertificate, describeCsr, describePrivateKey, formatName } from "../support/x509-compare";

const execFileAsync = promisify(execFile);
const OPENSSL = "/usr/bin/openssl";
const CFSSL = path.join(toolsBinDir(), "cfssl");

const seedDocument = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(__dirname, "../fixtures/seed004", name), "utf8")) as T;
const seedConfig = seedDocument<CfsslConfig>("ca-config.json");

/** Profiles beyond the seed's: client-only, extended-usage-only, default with backdate and an odd expiry, intermediate CA. */
const edgeConfig: CfsslConfig = {
    signing: {
        default: { expiry: "8760h30m", usages: ["signing", "server auth"], backdate: "1h" },
        profiles: {
            kubernetes: { expiry: "87600h", usages: ["signing", "key encipherment", "server auth", "client auth"] },
            client: { expiry: "8760h", usages: ["signing", "key encipherment", "client auth"] },
            "client-eku-only": { expiry: "1h", usages: ["client auth"] },
            intermediate: {
                expiry: "43800h",
                usages: ["cert sign", "crl sign"],
                ca_constraint: { is_ca: true, max_path_len: 0, max_path_len_zero: true },
            },
        },
    },
};

/** `cfssl gencert -initca <csr>` cases. */
const CA_CASES: Record<string, CfsslCsr> = {
    seed: seedDocument<CfsslCsr>("ca-csr.json"),
    pathlen: { CN: "pathlen CA", key: { algo: "rsa", size: 2048 }, names: [{ C: "CN", O: "k8s" }], ca: { pathlen: 1, expiry: "87600h" } },
    pathlenzero: { CN: "pathlen0 CA", key: { algo: "rsa", size: 2048 }, ca: { pathlen: 0, pathlenzero: true, expiry: "17520h" } },
    rsa4096: { CN: "rsa4096 CA", key: { algo: "rsa", size: 4096 } },
    ecdsaDefault: { CN: "ecdsa CA", hosts: ["ca.example.com", "10.0.0.9"] },
};
type CaName = keyof typeof CA_CASES;

interface SignCase {
    ca: CaName;
    config: CfsslConfig;
    /** undefined: no -profile flag (the default profile). */
    profile?: string;
    csr: CfsslCsr;
}

/** `cfssl gencert -ca -ca-key -config -profile <csr>` cases, each signed by the same-named CA of each tool. */
const SIGN_CASES: Record<string, SignCase> = {
    seedEtcd: { ca: "seed", config: seedConfig, profile: "kubernetes", csr: seedDocument<CfsslCsr>("etcd-csr.json") },
    multipleNames: {
        ca: "seed",
        config: edgeConfig,
        profile: "kubernetes",
        csr: {
            CN: "etcd-0",
            hosts: ["etcd-0"],
            key: { algo: "rsa", size: 2048 },
            names: [
                { C: "CN", O: "k8s" },
                { O: "b", L: "北京" },
                { O: "a", OU: "System", ST: "Beijing" },
            ],
        },
    },
    ipv6AndWildcards: {
        ca: "seed",
        config: edgeConfig,
        profile: "kubernetes",
        csr: {
            CN: "etcd-v6",
            hosts: [
                "*.etcd.example.com",
                "kubernetes-*",
                "::1",
                "2001:db8::5",
                "::ffff:10.0.0.2",
                "10.0.0.1",
                "fe80::1:2",
                "ops@example.com",
                "spiffe://cluster/etcd",
                "localhost",
            ],
            key: { algo: "rsa", size: 2048 },
        },
    },
    clientProfile: {
        ca: "seed",
        config: edgeConfig,
        profile: "client",
        csr: { CN: "kube-apiserver-etcd-client", names: [{ O: "system:masters", OU: "R&D" }], key: { algo: "rsa", size: 2048 } },
    },
    extKeyUsageOnly: {
        ca: "seed",
        config: edgeConfig,
        profile: "client-eku-only",
        csr: { CN: "", hosts: ["client.example"], key: { algo: "rsa", size: 2048 } },
    },
    defaultProfileBackdate: {
        ca: "pathlen",
        config: edgeConfig,
        csr: { CN: "default-profile", hosts: ["d.example"], key: { algo: "rsa", size: 2048 } },
    },
    intermediate: {
        ca: "pathlen",
        config: edgeConfig,
        profile: "intermediate",
        csr: { CN: "intermediate", hosts: ["int.example", "10.9.9.9", "ca@example.com", "spiffe://a/b"], key: { algo: "rsa", size: 2048 } },
    },
    ecdsaDefaultLeafUnderRsa4096: {
        ca: "rsa4096",
        config: seedConfig,
        profile: "kubernetes",
        csr: { CN: "ec-leaf", hosts: ["ec.example", "127.0.0.1"] },
    },
    rsaLeafUnderEcdsaCa: {
        ca: "ecdsaDefault",
        config: seedConfig,
        profile: "kubernetes",
        csr: { CN: "rsa-leaf", hosts: ["rsa.example"], key: { algo: "rsa", size: 2048 } },
    },
    pathlenzeroLeaf: {
        ca: "pathlenzero",
        config: seedConfig,
        profile: "kubernetes",
        csr: { CN: "p0-leaf", hosts: ["p0.example"], key: { algo: "rsa", size: 2048 } },
    },
};

interface Issued extends CertificatePems {
    /** Taken just before the tool ran: the reference for the backdate. */
    issuedAt: Date;
}

let dir: string;
const theirCas: Partial<Record<CaName, Issued>> = {};
const ourCas: Partial<Record<CaName, Issued>> = {};
const theirLeaves: Record<string, Issued> = {};
const ourLeaves: Record<string, Issued> = {};

const file = (name: string) => path.join(dir, name);

function writeJson(name: string, value: unknown): string {
    fs.writeFileSync(file(name), JSON.stringify(value, null, 2));
    return file(name);
}

/** ca.pem, ca-key.pem (0600), as cfssljson -bare writes them. */
function writeBare(name: string, pems: CertificatePems): { cert: string; key: string } {
    fs.writeFileSync(file(`${name}.pem`), pems.certPem);
    fs.writeFileSync(file(`${name}-key.pem`), pems.keyPem, { mode: 0o600 });
    return { cert: file(`${name}.pem`), key: file(`${name}-key.pem`) };
}

/** Runs cfssl (no shell) and parses the JSON it prints: { cert, key, csr }. Errors carry cfssl's stderr, never the key. */
async function cfssl(args: string[]): Promise<Issued> {
    const issuedAt = new Date();
    const { stdout } = await execFileAsync(CFSSL, args, { cwd: dir, maxBuffer: 4 << 20 });
    const out = JSON.parse(stdout) as { cert?: string; key?: string; csr?: string };
    if (!out.cert || !out.key || !out.csr)
        throw new Error(`cfssl ${args.join(" ")} printed no cert/key/csr (fields: ${Object.keys(out).join(", ")})`);
    return { certPem: out.cert, keyPem: out.key, csrPem: out.csr, issuedAt };
}

function ours(issue: () => CertificatePems): Issued {
    const issuedAt = new Date();
    return { ...issue(), issuedAt };
}

function cfsslSign(ca: { cert: string; key: string }, c: SignCase, csrFile: string, configFile: string): Promise<Issued> {
    const profile = c.profile === undefined ? [] : [`-profile=${c.profile}`];
    return cfssl(["gencert", "-ca", ca.cert, "-ca-key", ca.key, "-config", configFile, ...profile, csrFile]);
}

function openssl(...args: string[]): string {
    return execFileSync(OPENSSL, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** openssl verify of leaves against a root; returns openssl's lines. */
function verifyWithOpenssl(caCertFile: string, certPems: Record<string, string>): string[] {
    const files = Object.entries(certPems).map(([name, pem]) => {
        fs.writeFileSync(file(`${name}.pem`), pem);
        return file(`${name}.pem`);
    });
    return openssl("verify", "-CAfile", caCertFile, ...files)
        .trim()
        .split("\n");
}

beforeAll(async () => {
    if (!fs.existsSync(CFSSL)) {
        throw new Error(`cfssl not found at ${CFSSL}: these tests compare src/pki with the real cfssl — run bash scripts/tools.sh cfssl`);
    }
    if (!fs.existsSync(OPENSSL)) throw new Error(`${OPENSSL} not found — run: apt-get install -y openssl`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pki-cfssl-"));

    // CAs: cfssl's run in parallel (separate processes), ours meanwhile.
    const caNames = Object.keys(CA_CASES) as CaName[];
    const theirCaRuns = Promise.all(caNames.map((n) => cfssl(["gencert", "-initca", writeJson(`${n}-ca-csr.json`, CA_CASES[n])])));
    for (const n of caNames) ourCas[n] = ours(() => initCa(CA_CASES[n]));
    (await theirCaRuns).forEach((issued, i) => (theirCas[caNames[i]] = issued));

    const theirCaFiles = Object.fromEntries(caNames.map((n) => [n, writeBare(`theirs-${n}-ca`, theirCas[n]!)]));
    const leafNames = Object.keys(SIGN_CASES);
    const theirLeafRuns = Promise.all(
        leafNames.map((n) => {
            const c = SIGN_CASES[n];
            return cfsslSign(theirCaFiles[c.ca], c, writeJson(`${n}-csr.json`, c.csr), writeJson(`${n}-config.json`, c.config));
        }),
    );
    for (const n of leafNames) {
        const c = SIGN_CASES[n];
        const ca = ourCas[c.ca]!;
        ourLeaves[n] = ours(() =>
            genCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, config: c.config, profile: c.profile, csr: c.csr }),
        );
    }
    (await theirLeafRuns).forEach((issued, i) => (theirLeaves[leafNames[i]] = issued));
}, 120_000);

afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Differences {
    certificate: string[];
    csr: string[];
    key: string[];
}

/** Every difference between cfssl's and our result of one case (expected: none). */
function differencesOf(theirs: Issued, theirIssuerPem: string, ourIssued: Issued, ourIssuerPem: string): Differences {
    return {
        certificate: compareFacts(
            describeCertificate(theirs.certPem, { issuerPem: theirIssuerPem, issuedAt: theirs.issuedAt }),
            describeCertificate(ourIssued.certPem, { issuerPem: ourIssuerPem, issuedAt: ourIssued.issuedAt }),
        ),
        csr: compareFacts(describeCsr(theirs.csrPem), describeCsr(ourIssued.csrPem)),
        key: compareFacts(describePrivateKey(theirs.keyPem), describePrivateKey(ourIssued.keyPem)),
    };
}

const NONE: Differences = { certificate: [], csr: [], key: [] };
const theirCaFacts = (n: CaName): CertificateFacts =>
    describeCertificate(theirCas[n]!.certPem, { issuerPem: theirCas[n]!.certPem, issuedAt: theirCas[n]!.issuedAt });
const theirLeafFacts = (n: string): CertificateFacts => {
    const c = SIGN_CASES[n];
    return describeCertificate(theirLeaves[n].certPem, { issuerPem: theirCas[c.ca]!.certPem, issuedAt: theirLeaves[n].issuedAt });
};

describe("cfssl gencert -initca  ≡  initCa", () => {
    test.each(Object.keys(CA_CASES) as CaName[])("%s CA: certificate, CSR and key PEM match field by field", (n) => {
        const theirs = theirCas[n]!;
        const ourCa = ourCas[n]!;
        expect(differencesOf(theirs, theirs.certPem, ourCa, ourCa.certPem)).toEqual(NONE);
    });

    // What cfssl does, asserted on its own output, so that "equal" above cannot mean "equally wrong".
    test("cfssl's CAs are what the cases are about", () => {
        const seed = theirCaFacts("seed");
        expect(formatName(seed.subject)).toBe("C=CN, ST=Beijing, L=Beijing, O=k8s, OU=System, CN=etcd CA");
        expect(seed.issuer).toEqual(seed.subject);
        expect(seed.signedByIssuer).toBe(true);
        expect(seed.extensions.keyUsage).toEqual({ critical: true, bits: ["keyCertSign", "cRLSign"] });
        expect(seed.extensions.basicConstraints).toEqual({ critical: true, ca: true, pathLen: null });
        expect(seed.extensions.authorityKeyId).toBeUndefined();
        expect(seed.extensions.subjectKeyId?.method).toBe("sha1(subjectPublicKey)");
        expect(seed.validity.lengthSeconds).toBe(43800 * 3600);
        expect(theirCaFacts("pathlen").extensions.basicConstraints).toEqual({ critical: true, ca: true, pathLen: 1 });
        expect(theirCaFacts("pathlen").validity.lengthSeconds).toBe(87600 * 3600);
        expect(theirCaFacts("pathlenzero").extensions.basicConstraints).toEqual({ critical: true, ca: true, pathLen: 0 });
        expect(theirCaFacts("rsa4096").signatureAlgorithm).toBe("sha512WithRSAEncryption");
        expect(theirCaFacts("rsa4096").publicKey.size).toBe("4096 bits, e=65537");
        const ec = theirCaFacts("ecdsaDefault");
        expect(ec.publicKey).toEqual({ algorithm: "ecPublicKey", size: "P-256" });
        expect(ec.signatureAlgorithm).toBe("ecdsa-with-SHA256");
        expect(ec.extensions.subjectAltName?.names).toEqual(["IP:10.0.0.9"]); // a CA keeps only IP SANs
        expect(describePrivateKey(theirCas.ecdsaDefault!.keyPem).pemType).toBe("EC PRIVATE KEY");
        expect(describePrivateKey(theirCas.seed!.keyPem).pemType).toBe("RSA PRIVATE KEY");
        for (const n of Object.keys(CA_CASES) as CaName[]) {
            const backdate = theirCaFacts(n).validity.backdateSeconds!;
            expect({ n, backdateAboutFiveMinutes: backdate > 300 - 120 && backdate <= 330 }).toEqual({ n, backdateAboutFiveMinutes: true });
        }
    });
});

describe("cfssl gencert -ca -ca-key -config -profile  ≡  genCert", () => {
    test.each(Object.keys(SIGN_CASES))("%s: certificate, CSR and key PEM match field by field", (n) => {
        const c = SIGN_CASES[n];
        expect(differencesOf(theirLeaves[n], theirCas[c.ca]!.certPem, ourLeaves[n], ourCas[c.ca]!.certPem)).toEqual(NONE);
    });

    test("cfssl's leaves are what the cases are about", () => {
        const etcd = theirLeafFacts("seedEtcd");
        expect(formatName(etcd.subject)).toBe("C=CN, ST=Beijing, L=Beijing, O=k8s, OU=System, CN=etcd");
        expect(etcd.extensions.subjectAltName).toEqual({
            critical: false,
            names: ["DNS:kubernetes-*", "IP:127.0.0.1", "IP:32.16.5.31", "IP:32.16.5.32", "IP:32.16.5.33"],
        });
        expect(etcd.extensions.keyUsage).toEqual({ critical: true, bits: ["digitalSignature", "keyEncipherment"] });
        expect(etcd.extensions.extKeyUsage).toEqual({ critical: false, purposes: ["serverAuth", "clientAuth"] });
        expect(etcd.extensions.basicConstraints).toEqual({ critical: true, ca: false, pathLen: null });
        expect(etcd.extensions.authorityKeyId).toEqual({ critical: false, keyIdOnly: true, matchesIssuerSki: true });
        expect(etcd.extensions.order.map((e) => e.oid)).toEqual([
            "keyUsage",
            "extKeyUsage",
            "basicConstraints",
            "subjectKeyIdentifier",
            "authorityKeyIdentifier",
            "subjectAltName",
        ]);
        expect(etcd.serial).toEqual({ positive: true, minimalEncoding: true, atMost159Bits: true, atLeast64Bits: true });
        expect(etcd.validity.lengthSeconds).toBe(87600 * 3600);

        // one multi-valued RDN per attribute type, its SET members in DER (sorted) order
        expect(formatName(theirLeafFacts("multipleNames").subject)).toBe("C=CN, ST=Beijing, L=北京, O=a+O=b+O=k8s, OU=System, CN=etcd-0");
        expect(theirLeafFacts("multipleNames").subject[2][0].encoding).toBe("UTF8String");
        expect(theirLeafFacts("ipv6AndWildcards").extensions.subjectAltName?.names).toEqual([
            "DNS:*.etcd.example.com",
            "DNS:kubernetes-*",
            "DNS:localhost",
            "email:ops@example.com",
            "IP:0:0:0:0:0:0:0:1",
            "IP:2001:db8:0:0:0:0:0:5",
            "IP:10.0.0.2",
            "IP:10.0.0.1",
            "IP:fe80:0:0:0:0:0:1:2",
            "URI:spiffe://cluster/etcd",
        ]);
        expect(theirLeafFacts("clientProfile").extensions.extKeyUsage?.purposes).toEqual(["clientAuth"]);
        // ':' is printable, '&' is not
        expect(theirLeafFacts("clientProfile").subject.slice(0, 2)).toEqual([
            [{ type: "O", encoding: "PrintableString", value: "system:masters" }],
            [{ type: "OU", encoding: "UTF8String", value: "R&D" }],
        ]);
        expect(theirLeafFacts("extKeyUsageOnly").extensions.keyUsage).toBeUndefined();
        expect(theirLeafFacts("extKeyUsageOnly").extensions.subjectAltName?.critical).toBe(true); // empty subject
        expect(theirLeafFacts("defaultProfileBackdate").validity.lengthSeconds).toBe(8760 * 3600 + 1800);
        const backdate = theirLeafFacts("defaultProfileBackdate").validity.backdateSeconds!;
        expect(backdate > 3600 - 120 && backdate <= 3630).toBe(true);
        expect(theirLeafFacts("intermediate").extensions.basicConstraints).toEqual({ critical: true, ca: true, pathLen: 0 });
        expect(theirLeafFacts("intermediate").extensions.subjectAltName?.names).toEqual(["IP:10.9.9.9"]);
        expect(theirLeafFacts("ecdsaDefaultLeafUnderRsa4096").publicKey).toEqual({ algorithm: "ecPublicKey", size: "P-256" });
        expect(theirLeafFacts("ecdsaDefaultLeafUnderRsa4096").signatureAlgorithm).toBe("sha512WithRSAEncryption");
        expect(describePrivateKey(theirLeaves.ecdsaDefaultLeafUnderRsa4096.keyPem).pemType).toBe("EC PRIVATE KEY");
        expect(theirLeafFacts("rsaLeafUnderEcdsaCa").signatureAlgorithm).toBe("ecdsa-with-SHA256");
        for (const n of Object.keys(SIGN_CASES)) expect({ n, signed: theirLeafFacts(n).signedByIssuer }).toEqual({ n, signed: true });
    });

    test("openssl verifies every chain of each tool, and both tools' CSRs", () => {
        for (const [tool, cas, leaves] of [
            ["theirs", theirCas, theirLeaves],
            ["ours", ourCas, ourLeaves],
        ] as const) {
            for (const caName of Object.keys(CA_CASES) as CaName[]) {
                const caFile = file(`${tool}-${caName}-root.pem`);
                fs.writeFileSync(caFile, cas[caName]!.certPem);
                const signed = Object.keys(SIGN_CASES).filter((n) => SIGN_CASES[n].ca === caName);
                const certs = Object.fromEntries([
                    [`${tool}-${caName}-self`, cas[caName]!.certPem],
                    ...signed.map((n) => [`${tool}-${n}`, leaves[n].certPem]),
                ]);
                expect(verifyWithOpenssl(caFile, certs)).toEqual(Object.keys(certs).map((name) => `${file(`${name}.pem`)}: OK`));
            }
            for (const [n, issued] of [...Object.entries(cas), ...Object.entries(leaves)]) {
                fs.writeFileSync(file(`${tool}-${n}.csr`), issued!.csrPem);
                expect(
                    execFileSync(OPENSSL, ["req", "-verify", "-noout", "-in", file(`${tool}-${n}.csr`)], {
                        encoding: "utf8",
                        stdio: ["ignore", "pipe", "pipe"],
                    }).trim(),
                ).toMatch(/^(Certificate request self-signature verify OK|verify OK)?$/);
            }
        }
    });
});

describe("cross-signing: each tool's CA key and certificate work in the other", () => {
    test.each(["seed", "ecdsaDefault"] as const)("genCert signs with cfssl's %s CA; openssl verifies against cfssl's CA", (caName) => {
        const theirCa = theirCas[caName]!;
        const c = SIGN_CASES[caName === "seed" ? "seedEtcd" : "rsaLeafUnderEcdsaCa"];
        const leaf = ours(() =>
            genCert({ caCertPem: theirCa.certPem, caKeyPem: theirCa.keyPem, config: c.config, profile: c.profile, csr: c.csr }),
        );
        const caFile = writeBare(`cross-theirs-${caName}-ca`, theirCa).cert;
        expect(verifyWithOpenssl(caFile, { [`cross-ours-under-theirs-${caName}`]: leaf.certPem })).toEqual([
            `${file(`cross-ours-under-theirs-${caName}.pem`)}: OK`,
        ]);
        // Same CA: now even the issuer and the authority key id are the same bytes.
        const theirsLeaf = describeCertificate(theirLeaves[caName === "seed" ? "seedEtcd" : "rsaLeafUnderEcdsaCa"].certPem, {
            issuerPem: theirCa.certPem,
        });
        const oursLeaf = describeCertificate(leaf.certPem, { issuerPem: theirCa.certPem });
        expect(compareFacts(theirsLeaf, oursLeaf)).toEqual([]);
        expect(oursLeaf.extensions.authorityKeyId?.matchesIssuerSki).toBe(true);
    });

    test.each(["seed", "ecdsaDefault"] as const)(
        "cfssl signs with our %s CA (our key PEM); openssl verifies against our CA",
        async (caName) => {
            const ourCa = writeBare(`cross-ours-${caName}-ca`, ourCas[caName]!);
            const n = caName === "seed" ? "seedEtcd" : "rsaLeafUnderEcdsaCa";
            const c = SIGN_CASES[n];
            const leaf = await cfsslSign(ourCa, c, file(`${n}-csr.json`), file(`${n}-config.json`));
            expect(verifyWithOpenssl(ourCa.cert, { [`cross-theirs-under-ours-${caName}`]: leaf.certPem })).toEqual([
                `${file(`cross-theirs-under-ours-${caName}.pem`)}: OK`,
            ]);
            const theirsLeaf = describeCertificate(leaf.certPem, { issuerPem: ourCas[caName]!.certPem });
            const oursLeaf = describeCertificate(ourLeaves[n].certPem, { issuerPem: ourCas[caName]!.certPem });
            expect(compareFacts(theirsLeaf, oursLeaf)).toEqual([]);
        },
    );
});

import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { genCert, initCa, isIssuedBy } from "../../src/pki/cfssl";
import { describeCertificate } from "../../src/pki/der-reader";
import { generateKeyPem } from "../../src/pki/keys";
import { CfsslConfig, CfsslCsr, PkiInputError } from "../../src/pki/cfssl-types";
import { Certificate, CertificateAuthority, PkiProviderInputs, PkiProviderOutputs, pkiProvider, renewalDue } from "../../src/pki/resources";

const fixture = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(__dirname, "../fixtures/seed004", name), "utf8")) as T;
const caCsr = fixture<CfsslCsr>("ca-csr.json");
const etcdCsr = fixture<CfsslCsr>("etcd-csr.json");
const config = fixture<CfsslConfig>("ca-config.json");
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // what the engine sends for values unknown in preview
const HOUR = 3_600_000;

const provider = pkiProvider as Required<pulumi.dynamic.ResourceProvider>;

const caInputs = (extra: Partial<PkiProviderInputs> = {}): PkiProviderInputs => ({
    kind: "CertificateAuthority",
    csr: caCsr,
    earlyRenewalHours: 0,
    ...extra,
});

let caOuts: PkiProviderOutputs;
let certInputs: PkiProviderInputs;
let certOuts: PkiProviderOutputs;

beforeAll(async () => {
    caOuts = (await provider.create(caInputs())).outs as PkiProviderOutputs;
    certInputs = {
        kind: "Certificate",
        caCertPem: caOuts.certPem,
        caKeyPem: caOuts.keyPem,
        config,
        profile: "kubernetes",
        csr: etcdCsr,
        earlyRenewalHours: 720,
        requireHosts: true,
    };
    certOuts = (await provider.create(certInputs)).outs as PkiProviderOutputs;
});

describe("create", () => {
    test("CertificateAuthority: generated once, outputs certificate, key, CSR, dates and serial", async () => {
        const d = describeCertificate(caOuts.certPem);
        expect(d.isCa).toBe(true);
        expect(d.subject.CN).toBe("etcd CA");
        expect(caOuts.keyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
        expect(caOuts.csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
        expect(caOuts).toMatchObject({
            kind: "CertificateAuthority",
            adopted: false,
            notAfter: d.notAfter.toISOString(),
            notBefore: d.notBefore.toISOString(),
            serialNumber: d.serialHex,
            earlyRenewalHours: 0,
        });
        expect(Date.parse(caOuts.notAfter) - Date.parse(caOuts.notBefore)).toBe(43800 * HOUR);
    });

    test("the id is the serial number; the state holds no input secret, only public-key fingerprints", async () => {
        const result = await provider.create(certInputs);
        expect(result.id).toBe((result.outs as PkiProviderOutputs).serialNumber);
        const outs = result.outs as PkiProviderOutputs;
        const stateText = JSON.stringify({ ...outs, keyPem: "<secret output>" });
        expect(stateText).not.toContain(caOuts.keyPem.split("\n")[1]);
        expect(outs.inputDigests.caKeyPem).toMatch(/^public-key:[0-9a-f]{64}$/);
    });

    test("Certificate: signed by the CA, as cfssl gencert -profile=kubernetes", () => {
        const d = describeCertificate(certOuts.certPem);
        expect(isIssuedBy(certOuts.certPem, caOuts.certPem)).toBe(true);
        expect(d.dnsNames).toEqual(["kubernetes-*"]);
        expect(d.extKeyUsages).toEqual(["serverAuth", "clientAuth"]);
        expect(Date.parse(certOuts.notAfter) - Date.parse(certOuts.notBefore)).toBe(87600 * HOUR);
    });

    test("bad input is refused by create too (PkiInputError), before generating", async () => {
        await expect(provider.create({ ...certInputs, profile: "nope" })).rejects.toThrow(PkiInputError);
    });
});

describe("check: bad input fails in preview, naming the property", () => {
    test("valid inputs pass through unchanged", async () => {
        expect(await provider.check({}, certInputs)).toEqual({ inputs: certInputs, failures: [] });
    });

    test.each([
        ["csr", { csr: { ...etcdCsr, hosts: ["10.0.0.300"] } }, /csr.hosts\[0\]: "10.0.0.300" — this looks like an IP address/],
        ["csr", { csr: { ...etcdCsr, hosts: [] } }, /csr.hosts: \[\] — a server or peer certificate needs/],
        ["csr", { csr: { ...etcdCsr, key: { algo: "rsa", size: 1024 } } }, /csr.key.size: 1024/],
        [
            "config",
            { config: { signing: { profiles: { kubernetes: { expiry: "10y", usages: ["signing"] } } } } },
            /config.signing.profiles.kubernetes.expiry: "10y"/,
        ],
        [
            "config",
            { config: { signing: { profiles: { kubernetes: { expiry: "1h", usages: ["sign"] } } } } },
            /usages\[0\]: "sign" — use one of cfssl's usage names/,
        ],
        ["profile", { profile: "etcd" }, /profile: "etcd" — use one of the profiles/],
        [
            "caKeyPem",
            { caKeyPem: generateKeyPem({ algo: "rsa", size: 2048 }) },
            /caKeyPem: "<private key PEM, \d+ characters>" — this key does not belong/,
        ],
        ["earlyRenewalHours", { earlyRenewalHours: -1 }, /earlyRenewalHours: -1/],
    ])("%s", async (property, change, reason) => {
        const result = await provider.check({}, { ...certInputs, ...(change as Partial<PkiProviderInputs>) });
        expect(result.failures).toHaveLength(1);
        expect(result.failures![0].property).toBe(property);
        expect(result.failures![0].reason).toMatch(reason);
    });

    test("a CA CSR with a ca section passes, the same section on a certificate fails", async () => {
        expect((await provider.check({}, caInputs({ csr: { ...caCsr, ca: { expiry: "87600h" } } }))).failures).toEqual([]);
        const result = await provider.check({}, { ...certInputs, csr: { ...etcdCsr, ca: { expiry: "87600h" } } });
        expect(result.failures![0]).toMatchObject({ property: "csr", reason: expect.stringMatching(/only with -initca/) });
    });

    test("unknown values (preview before the CA exists) are not judged", async () => {
        const news = { ...certInputs, caCertPem: UNKNOWN, caKeyPem: UNKNOWN, csr: { ...etcdCsr, hosts: [UNKNOWN] } };
        expect((await provider.check({}, news)).failures).toEqual([]);
    });
});

describe("diff: any input change replaces; renewal shows in a plain preview", () => {
    test("unchanged inputs, far from expiry: no changes", async () => {
        expect(await provider.diff(certOuts.serialNumber, certOuts, certInputs)).toEqual({
            changes: false,
            replaces: [],
            deleteBeforeReplace: false,
        });
        expect(await provider.diff(caOuts.serialNumber, caOuts, caInputs())).toEqual({
            changes: false,
            replaces: [],
            deleteBeforeReplace: false,
        });
    });

    test.each<[string, Partial<PkiProviderInputs>]>([
        ["csr", { csr: { ...etcdCsr, hosts: [...etcdCsr.hosts!, "32.16.5.34"] } }],
        ["csr", { csr: { ...etcdCsr, names: [{ C: "CN", O: "k8s" }] } }],
        ["config", { config: { ...config, signing: { ...config.signing, default: { expiry: "8760h" } } } }],
        ["profile", { profile: undefined }],
        ["caCertPem", { caCertPem: UNKNOWN }],
        ["caKeyPem", { caKeyPem: UNKNOWN }],
        ["existing", { existing: { certPem: "x", keyPem: "y" } }],
    ])("%s changes → replace [%s]", async (key, change) => {
        const result = await provider.diff(certOuts.serialNumber, certOuts, { ...certInputs, ...change });
        expect(result).toEqual({ changes: true, replaces: [key], deleteBeforeReplace: false });
    });

    test("a changed key order inside the CSR is not a change", async () => {
        const reordered = JSON.parse(JSON.stringify({ names: etcdCsr.names, key: etcdCsr.key, hosts: etcdCsr.hosts, CN: etcdCsr.CN }));
        expect((await provider.diff("id", certOuts, { ...certInputs, csr: reordered })).changes).toBe(false);
    });

    test("earlyRenewalHours or requireHosts changes update in place (no new certificate)", async () => {
        expect(await provider.diff("id", certOuts, { ...certInputs, earlyRenewalHours: 100 })).toEqual({
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
        expect(await provider.diff("id", certOuts, { ...certInputs, requireHosts: false })).toEqual({
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
        const updated = await provider.update("id", certOuts, { ...certInputs, earlyRenewalHours: 100 });
        expect(updated.outs).toEqual({ ...certOuts, earlyRenewalHours: 100 });
    });

    test("update refuses a change that must replace", async () => {
        await expect(provider.update("id", certOuts, { ...certInputs, profile: "other" })).rejects.toThrow(/must replace/);
    });

    test("early renewal: notAfter within earlyRenewalHours → replace, without any refresh", async () => {
        const soon = { ...certOuts, notAfter: new Date(Date.now() + 10 * HOUR).toISOString() };
        expect(await provider.diff("id", soon, certInputs)).toEqual({
            changes: true,
            replaces: ["earlyRenewalHours"],
            deleteBeforeReplace: false,
        });
        expect(await provider.diff("id", soon, { ...certInputs, earlyRenewalHours: 9 })).toMatchObject({ replaces: [] });
    });

    test("expired with earlyRenewalHours 0 → replace; 1 hour before expiry with 0 → keep", async () => {
        const expired = { ...caOuts, notAfter: new Date(Date.now() - 1000).toISOString() };
        expect((await provider.diff("id", expired, caInputs())).replaces).toEqual(["earlyRenewalHours"]);
        const almost = { ...caOuts, notAfter: new Date(Date.now() + HOUR).toISOString() };
        expect((await provider.diff("id", almost, caInputs())).replaces).toEqual([]);
    });

    test("renewalDue", () => {
        const now = new Date("2030-01-01T00:00:00Z");
        expect(renewalDue("2030-01-31T00:00:00Z", 720, now)).toBe(true); // exactly 30 days before
        expect(renewalDue("2030-01-31T00:00:01Z", 720, now)).toBe(false);
        expect(renewalDue("not a date", 0, now)).toBe(true);
    });

    test("state without digests (older provider) replaces everything rather than guessing", async () => {
        const { inputDigests: _, ...old } = certOuts;
        expect((await provider.diff("id", old as PkiProviderOutputs, certInputs)).replaces).toEqual([
            "csr",
            "config",
            "profile",
            "caCertPem",
            "caKeyPem",
            "existing",
        ]);
    });
});

describe("adoption of existing certificates", () => {
    const userCa = initCa({ ...caCsr, CN: "user CA" });
    const userCert = genCert({ caCertPem: userCa.certPem, caKeyPem: userCa.keyPem, config, profile: "kubernetes", csr: etcdCsr });

    test("an existing CA is kept as given, not regenerated", async () => {
        const outs = (await provider.create(caInputs({ existing: { certPem: userCa.certPem, keyPem: userCa.keyPem } })))
            .outs as PkiProviderOutputs;
        expect(outs).toMatchObject({ certPem: userCa.certPem, keyPem: userCa.keyPem, csrPem: "", adopted: true });
        expect(outs.serialNumber).toBe(describeCertificate(userCa.certPem).serialHex);
        // certificates can then be issued from it
        const cert = (await provider.create({ ...certInputs, caCertPem: outs.certPem, caKeyPem: outs.keyPem })).outs as PkiProviderOutputs;
        expect(isIssuedBy(cert.certPem, userCa.certPem)).toBe(true);
    });

    test("an existing certificate signed by the CA is adopted", async () => {
        const outs = (
            await provider.create({
                ...certInputs,
                caCertPem: userCa.certPem,
                caKeyPem: userCa.keyPem,
                existing: { certPem: userCert.certPem, keyPem: userCert.keyPem },
            })
        ).outs as PkiProviderOutputs;
        expect(outs).toMatchObject({ certPem: userCert.certPem, keyPem: userCert.keyPem, adopted: true });
    });

    test("a key that does not match the adopted certificate is refused", async () => {
        const news = caInputs({ existing: { certPem: userCa.certPem, keyPem: userCert.keyPem } });
        await expect(provider.create(news)).rejects.toThrow(/existing.keyPem.*does not belong to existing.certPem/);
        expect((await provider.check({}, news)).failures![0]).toMatchObject({ property: "existing" });
    });

    test("an unreadable adopted certificate fails check on `existing`", async () => {
        const result = await provider.check({}, caInputs({ existing: { certPem: "not a certificate", keyPem: userCa.keyPem } }));
        expect(result.failures).toEqual([
            {
                property: "existing",
                reason: expect.stringMatching(/^existing.certPem: "not a certificate" — give a PEM "CERTIFICATE" block/),
            },
        ]);
    });

    test("a non-CA certificate cannot be adopted as CA; a certificate from another CA cannot be adopted under this one", async () => {
        await expect(provider.create(caInputs({ existing: { certPem: userCert.certPem, keyPem: userCert.keyPem } }))).rejects.toThrow(
            /not a CA certificate/,
        );
        await expect(provider.create({ ...certInputs, existing: { certPem: userCert.certPem, keyPem: userCert.keyPem } })).rejects.toThrow(
            /not issued by caCertPem/,
        );
    });

    test("adopted certificates are not renewed by diff (renewing means dropping `existing`, which replaces)", async () => {
        const inputs = caInputs({ existing: { certPem: userCa.certPem, keyPem: userCa.keyPem }, earlyRenewalHours: 1e9 });
        const outs = (await provider.create(inputs)).outs as PkiProviderOutputs;
        expect((await provider.diff("id", outs, inputs)).replaces).toEqual([]);
        expect((await provider.diff("id", outs, { ...inputs, existing: undefined })).replaces).toEqual(["existing", "earlyRenewalHours"]);
    });
});

describe("the provider survives serialization into the state", () => {
    test("pulumi.runtime.serializeFunction text, loaded as a module, creates a valid CA and certificate", async () => {
        const serialized = await pulumi.runtime.serializeFunction(() => pkiProvider, { allowSecrets: true });
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pki-provider-"));
        try {
            // the dynamic provider host loads this text from a directory whose node_modules resolves
            fs.symlinkSync(path.join(__dirname, "../../node_modules"), path.join(dir, "node_modules"), "dir");
            const file = path.join(dir, "provider.js");
            fs.writeFileSync(file, serialized.text);
            // A file written at run time: only require() can load it.
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const loaded = (require(file) as Record<string, () => Required<pulumi.dynamic.ResourceProvider>>)[serialized.exportName]();
            const ca = (await loaded.create(caInputs())).outs as PkiProviderOutputs;
            expect(describeCertificate(ca.certPem).isCa).toBe(true);
            const cert = (await loaded.create({ ...certInputs, caCertPem: ca.certPem, caKeyPem: ca.keyPem })).outs as PkiProviderOutputs;
            expect(isIssuedBy(cert.certPem, ca.certPem)).toBe(true);
            expect(crypto.createPublicKey(cert.keyPem).export({ type: "spki", format: "der" })).toEqual(
                new crypto.X509Certificate(cert.certPem).publicKey.export({ type: "spki", format: "der" }),
            );
            expect((await loaded.diff("id", cert, { ...certInputs, caCertPem: ca.certPem, caKeyPem: ca.keyPem })).changes).toBe(false);
            expect((await loaded.check({}, { ...certInputs, profile: "x" })).failures![0].property).toBe("profile");
            // the text is stored in plain state; scans of the state for key material must not hit the provider's own code
            expect(serialized.text).not.toMatch(/PRIVATE KEY/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("resources under pulumi mocks: keys are secrets", () => {
    const captured: pulumi.ResourceTransformationArgs[] = [];

    beforeAll(async () => {
        await pulumi.runtime.setMocks({
            newResource: (args) => ({
                id: `${args.name}-id`,
                state: {
                    ...args.inputs,
                    certPem: `cert of ${args.name}`,
                    keyPem: `KEY of ${args.name}`,
                    csrPem: "",
                    notAfter: "2035-01-01T00:00:00.000Z",
                    serialNumber: "01",
                },
            }),
            call: () => ({}),
        });
    });

    const valueOf = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));
    const capture = { transformations: [(args: pulumi.ResourceTransformationArgs) => (captured.push(args), undefined)] };

    test("keyPem outputs are secret, certPem is not; additionalSecretOutputs names keyPem", async () => {
        const ca = new CertificateAuthority("etcd-ca", { csr: caCsr }, capture);
        const cert = new Certificate(
            "etcd",
            { caCertPem: ca.certPem, caKeyPem: ca.keyPem, config, profile: "kubernetes", csr: etcdCsr },
            capture,
        );
        expect(await pulumi.isSecret(ca.keyPem)).toBe(true);
        expect(await pulumi.isSecret(cert.keyPem)).toBe(true);
        expect(await pulumi.isSecret(ca.certPem)).toBe(false);
        expect(await valueOf(cert.keyPem)).toBe("KEY of etcd");
        expect(await valueOf(cert.notAfter)).toBe("2035-01-01T00:00:00.000Z");
        for (const args of captured) expect((args.opts as pulumi.CustomResourceOptions).additionalSecretOutputs).toContain("keyPem");
        expect(captured.map((a) => a.type)).toEqual([
            "pulumi-nodejs:dynamic/etcd-recovery:CertificateAuthority",
            "pulumi-nodejs:dynamic/etcd-recovery:Certificate",
        ]);
    });

    test("secret inputs stay secret: caKeyPem and existing", async () => {
        captured.length = 0;
        new CertificateAuthority("adopted", { csr: caCsr, existing: { certPem: "c", keyPem: "k" } }, capture);
        new Certificate("c", { caCertPem: "c", caKeyPem: "plain key text", config, csr: { CN: "x" } }, capture);
        expect(await pulumi.isSecret(captured[0].props.existing)).toBe(true);
        expect(await pulumi.isSecret(captured[1].props.caKeyPem)).toBe(true);
        expect(captured[1].props.caCertPem).toBe("c");
    });
});

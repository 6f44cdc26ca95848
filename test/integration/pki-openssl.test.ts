/**
 * The seed 004 procedure (cfssl gencert -initca, then -profile=kubernetes)
 * done by initCa/genCert, checked with the real openssl and a real TLS
 * handshake on 127.0.0.1.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { genCert, initCa } from "../../src/pki/cfssl";
import { CertificatePems, CfsslConfig, CfsslCsr } from "../../src/pki/cfssl-types";

const OPENSSL = "/usr/bin/openssl";
const fixture = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(__dirname, "../fixtures/seed004", name), "utf8")) as T;
const caCsr = fixture<CfsslCsr>("ca-csr.json");
const etcdCsr = fixture<CfsslCsr>("etcd-csr.json");
const config = fixture<CfsslConfig>("ca-config.json");

function openssl(...args: string[]): string {
    return execFileSync(OPENSSL, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

let dir: string;
let ca: CertificatePems;
let etcd: CertificatePems;
let client: CertificatePems;
let ecdsa: CertificatePems;

/** cfssljson -bare <name>: name.pem, name-key.pem (0600), name.csr */
function writeBare(name: string, pems: CertificatePems): void {
    fs.writeFileSync(path.join(dir, `${name}.pem`), pems.certPem);
    fs.writeFileSync(path.join(dir, `${name}-key.pem`), pems.keyPem, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, `${name}.csr`), pems.csrPem);
}
const file = (name: string) => path.join(dir, name);

beforeAll(() => {
    if (!fs.existsSync(OPENSSL)) {
        throw new Error(`${OPENSSL} not found: these tests need the real openssl — run: apt-get install -y openssl`);
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pki-openssl-"));
    ca = initCa(caCsr);
    etcd = genCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, config, profile: "kubernetes", csr: etcdCsr });
    client = genCert({
        caCertPem: ca.certPem,
        caKeyPem: ca.keyPem,
        config,
        profile: "kubernetes",
        csr: { CN: "kube-apiserver-etcd-client", key: { algo: "rsa", size: 2048 } },
    });
    ecdsa = genCert({
        caCertPem: ca.certPem,
        caKeyPem: ca.keyPem,
        config,
        profile: "kubernetes",
        csr: { CN: "etcd-ec", hosts: ["127.0.0.1"] },
    });
    writeBare("ca", ca);
    writeBare("etcd", etcd);
    writeBare("client", client);
    writeBare("ecdsa", ecdsa);
});

afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** openssl's dates ("Mar  1 11:55:00 2025 GMT") as milliseconds. */
function openslDates(pem: string): { notBefore: number; notAfter: number } {
    const out = openssl("x509", "-noout", "-startdate", "-enddate", "-in", pem);
    const get = (key: string) => Date.parse(new RegExp(`${key}=(.*)`).exec(out)![1]);
    return { notBefore: get("notBefore"), notAfter: get("notAfter") };
}

describe("openssl accepts what cfssl's procedure produces", () => {
    test("openssl verify -CAfile ca.pem etcd.pem", () => {
        expect(
            openssl("verify", "-CAfile", file("ca.pem"), file("etcd.pem"), file("client.pem"), file("ecdsa.pem")).trim().split("\n"),
        ).toEqual([`${file("etcd.pem")}: OK`, `${file("client.pem")}: OK`, `${file("ecdsa.pem")}: OK`]);
    });

    test("etcd.pem: subject, SANs (kubernetes-* and IPs), key usages, basic constraints", () => {
        const text = openssl("x509", "-text", "-noout", "-in", file("etcd.pem"));
        expect(text).toContain("Subject: C = CN, ST = Beijing, L = Beijing, O = k8s, OU = System, CN = etcd\n");
        expect(text).toContain("Issuer: C = CN, ST = Beijing, L = Beijing, O = k8s, OU = System, CN = etcd CA\n");
        expect(text).toMatch(
            /X509v3 Subject Alternative Name: \n\s+DNS:kubernetes-\*, IP Address:127\.0\.0\.1, IP Address:32\.16\.5\.31, IP Address:32\.16\.5\.32, IP Address:32\.16\.5\.33\n/,
        );
        expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
        expect(text).toMatch(/X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
        expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
        expect(text).toContain("Signature Algorithm: sha256WithRSAEncryption");
        expect(text).toContain("Public-Key: (2048 bit)");
    });

    test("etcd.pem validity = 87600h, starting 5 minutes before issue (rounded to the minute)", () => {
        const { notBefore, notAfter } = openslDates(file("etcd.pem"));
        expect(notAfter - notBefore).toBe(87600 * 3_600_000);
        expect(notBefore % 60_000).toBe(0);
        expect(Date.now() - notBefore).toBeGreaterThan(4 * 60_000);
        expect(Date.now() - notBefore).toBeLessThan(6 * 60_000);
    });

    test("ca.pem: CA:TRUE critical, Certificate Sign + CRL Sign critical, 43800h, no AKI; etcd.pem's AKI is its SKI", () => {
        const text = openssl("x509", "-text", "-noout", "-in", file("ca.pem"));
        expect(text).toContain("Subject: C = CN, ST = Beijing, L = Beijing, O = k8s, OU = System, CN = etcd CA\n");
        expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
        expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
        expect(text).not.toContain("Authority Key Identifier");
        const { notBefore, notAfter } = openslDates(file("ca.pem"));
        expect(notAfter - notBefore).toBe(43800 * 3_600_000);
        const ski = /Subject Key Identifier: \n\s+([0-9A-F:]+)\n/.exec(text)![1];
        const leaf = openssl("x509", "-text", "-noout", "-in", file("etcd.pem"));
        expect(/Authority Key Identifier: \n\s+(?:keyid:)?([0-9A-F:]+)\n/.exec(leaf)![1]).toBe(ski);
    });

    test("keys pass openssl's checks; CSRs carry valid self-signatures", () => {
        for (const name of ["ca", "etcd", "client"]) {
            expect(openssl("rsa", "-check", "-noout", "-in", file(`${name}-key.pem`)).trim()).toBe("RSA key ok");
            expect(fs.readFileSync(file(`${name}-key.pem`), "utf8")).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
            expect(fs.statSync(file(`${name}-key.pem`)).mode & 0o777).toBe(0o600);
        }
        expect(openssl("ec", "-check", "-noout", "-in", file("ecdsa-key.pem"))).toBe("");
        for (const name of ["ca", "etcd", "client", "ecdsa"]) {
            execFileSync(OPENSSL, ["req", "-verify", "-noout", "-in", file(`${name}.csr`)], { stdio: "pipe" });
        }
        const csrText = openssl("req", "-text", "-noout", "-in", file("etcd.csr"));
        expect(csrText).toContain("Subject: C = CN, ST = Beijing, L = Beijing, O = k8s, OU = System, CN = etcd\n");
        expect(csrText).toMatch(/DNS:kubernetes-\*, IP Address:127\.0\.0\.1, IP Address:32\.16\.5\.31/);
    });

    test("openssl verify refuses a certificate against another CA", () => {
        const other = initCa({ ...caCsr, CN: "other CA" });
        fs.writeFileSync(file("other-ca.pem"), other.certPem);
        expect(() => openssl("verify", "-CAfile", file("other-ca.pem"), file("etcd.pem"))).toThrow(
            /unable to get local issuer certificate/,
        );
    });
});

describe("mutual TLS on 127.0.0.1 (what etcd with --client-cert-auth does)", () => {
    interface HandshakeResult {
        clientAuthorized: boolean;
        clientError?: string;
        serverSawClient?: string;
        serverError?: string;
        reply?: string;
    }

    async function handshake(
        server: { cert: string; key: string; ca: string },
        clientSide: { cert: string; key: string; ca: string },
    ): Promise<HandshakeResult> {
        const result: HandshakeResult = { clientAuthorized: false };
        // rejectUnauthorized: false + our own check, so the test sees *why* a client is refused (node would only report "socket hang up")
        const srv = tls.createServer(
            { cert: server.cert, key: server.key, ca: [server.ca], requestCert: true, rejectUnauthorized: false },
            (socket) => {
                if (!socket.authorized) {
                    result.serverError = String(socket.authorizationError);
                    socket.destroy();
                    return;
                }
                result.serverSawClient = (socket.getPeerCertificate() as tls.PeerCertificate).subject?.CN as string;
                socket.end("hello from etcd\n");
            },
        );
        srv.on("tlsClientError", (err) => (result.serverError = err.message));
        await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
        const port = (srv.address() as { port: number }).port;
        try {
            await new Promise<void>((resolve) => {
                const socket = tls.connect({ host: "127.0.0.1", port, ca: [clientSide.ca], cert: clientSide.cert, key: clientSide.key });
                let data = "";
                const timer = setTimeout(() => socket.destroy(new Error("timeout")), 5000);
                socket.on("secureConnect", () => (result.clientAuthorized = socket.authorized));
                socket.on("data", (chunk) => (data += chunk.toString()));
                socket.on("error", (err) => (result.clientError = err.message));
                socket.on("close", () => {
                    clearTimeout(timer);
                    if (data) result.reply = data;
                    resolve();
                });
            });
        } finally {
            await new Promise((resolve) => srv.close(resolve));
        }
        return result;
    }

    test("server: etcd.pem (IP SAN 127.0.0.1), client: a client certificate of the same CA → both authenticated", async () => {
        const result = await handshake(
            { cert: etcd.certPem, key: etcd.keyPem, ca: ca.certPem },
            { cert: client.certPem, key: client.keyPem, ca: ca.certPem },
        );
        expect(result).toEqual({ clientAuthorized: true, serverSawClient: "kube-apiserver-etcd-client", reply: "hello from etcd\n" });
    });

    test("an ECDSA leaf from the RSA CA works as server certificate", async () => {
        const result = await handshake(
            { cert: ecdsa.certPem, key: ecdsa.keyPem, ca: ca.certPem },
            { cert: client.certPem, key: client.keyPem, ca: ca.certPem },
        );
        expect(result).toMatchObject({ clientAuthorized: true, reply: "hello from etcd\n" });
    });

    test("a client certificate from another CA is rejected by the server", async () => {
        const other = initCa({ ...caCsr, CN: "other CA" });
        const intruder = genCert({
            caCertPem: other.certPem,
            caKeyPem: other.keyPem,
            config,
            profile: "kubernetes",
            csr: { CN: "intruder", key: { algo: "rsa", size: 2048 } },
        });
        const result = await handshake(
            { cert: etcd.certPem, key: etcd.keyPem, ca: ca.certPem },
            { cert: intruder.certPem, key: intruder.keyPem, ca: ca.certPem },
        );
        expect(result.serverSawClient).toBeUndefined();
        expect(result.reply).toBeUndefined();
        expect(result.serverError).toMatch(/^UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY)$/);
    });

    test("a server certificate from another CA is rejected by the client", async () => {
        const other = initCa({ ...caCsr, CN: "other CA" });
        const impostor = genCert({ caCertPem: other.certPem, caKeyPem: other.keyPem, config, profile: "kubernetes", csr: etcdCsr });
        const result = await handshake(
            { cert: impostor.certPem, key: impostor.keyPem, ca: ca.certPem },
            { cert: client.certPem, key: client.keyPem, ca: ca.certPem },
        );
        expect(result.reply).toBeUndefined();
        expect(result.clientError).toMatch(/unable to get local issuer certificate|unable to verify the first certificate/);
    });
});

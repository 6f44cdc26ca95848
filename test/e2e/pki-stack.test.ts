/**
 * examples/pki-files under the real Pulumi engine (offline file backend):
 * up → files + openssl verify + 0600 keys; nothing regenerates afterwards;
 * private keys never in plain state; destroy → empty stack, no files.
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";

import { listFiles, OfflineStack, offlineStack, uniqueStackName } from "../support/pulumi";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(10 * 60_000);

const EXAMPLE_DIR = path.resolve(__dirname, "../../examples/pki-files");
const FILES = ["ca.pem", "ca-key.pem", "ca.csr", "etcd.pem", "etcd-key.pem", "etcd.csr"];

let tmp: string;
let outDir: string;
let pulumiStack: OfflineStack;

function fileMode(file: string): number {
    return fs.statSync(file).mode & 0o777;
}

/** Text of a backend file; checkpoints may be gzipped. */
function readBackendFile(file: string): string {
    const raw = fs.readFileSync(file);
    return file.endsWith(".gz") ? zlib.gunzipSync(raw).toString("utf8") : raw.toString("utf8");
}

function snapshotFiles(): Record<string, string> {
    return Object.fromEntries(FILES.map((name) => [name, fs.readFileSync(path.join(outDir, name), "utf8")]));
}

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-pki-"));
    outDir = path.join(tmp, "pki");
    pulumiStack = await offlineStack({
        workDir: EXAMPLE_DIR,
        stackName: uniqueStackName("e2e-pki"),
        config: { outDir: { value: outDir } },
    });
});

afterAll(async () => {
    if (pulumiStack) {
        // Normally already destroyed by the last test; this only matters when a test failed midway.
        await pulumiStack.stack.destroy().catch(() => undefined);
        await pulumiStack.cleanup();
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("up writes the CA and an etcd certificate that openssl verifies, keys 0600", async () => {
    const up = await pulumiStack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.summary.resourceChanges?.create).toBeGreaterThanOrEqual(4); // stack, CA, cert, files

    for (const name of FILES) expect(fs.existsSync(path.join(outDir, name))).toBe(true);
    expect(fileMode(path.join(outDir, "ca-key.pem"))).toBe(0o600);
    expect(fileMode(path.join(outDir, "etcd-key.pem"))).toBe(0o600);
    expect(fileMode(path.join(outDir, "etcd.pem"))).toBe(0o644);
    expect(fileMode(outDir)).toBe(0o700);

    const verified = execFileSync("openssl", ["verify", "-CAfile", path.join(outDir, "ca.pem"), path.join(outDir, "etcd.pem")], {
        encoding: "utf8",
    });
    expect(verified.trim()).toBe(`${path.join(outDir, "etcd.pem")}: OK`);

    const cert = new crypto.X509Certificate(fs.readFileSync(path.join(outDir, "etcd.pem")));
    expect(cert.subject).toContain("CN=etcd");
    expect(cert.subjectAltName).toContain("IP Address:127.0.0.1");
    // The key file belongs to the certificate.
    const key = crypto.createPrivateKey(fs.readFileSync(path.join(outDir, "etcd-key.pem")));
    expect(cert.checkPrivateKey(key)).toBe(true);
    // `openssl req -verify` accepts the CSR cfssljson would have written.
    execFileSync("openssl", ["req", "-in", path.join(outDir, "etcd.csr"), "-noout", "-verify"], { stdio: "pipe" });

    expect(up.outputs.certPem.value).toBe(fs.readFileSync(path.join(outDir, "etcd.pem"), "utf8"));
    expect(up.outputs.keyPem.secret).toBe(true);
    expect(up.outputs.keyPem.value).toBe(fs.readFileSync(path.join(outDir, "etcd-key.pem"), "utf8"));
});

test("preview afterwards expects no changes", async () => {
    const preview = await pulumiStack.stack.preview({ expectNoChanges: true });
    const changed = Object.entries(preview.changeSummary).filter(([op, count]) => op !== "same" && count > 0);
    expect(changed).toEqual([]);
});

test("a second up with unchanged inputs changes nothing and keeps the same keys", async () => {
    const before = snapshotFiles();
    const up = await pulumiStack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    const changed = Object.entries(up.summary.resourceChanges ?? {}).filter(([op, count]) => op !== "same" && (count ?? 0) > 0);
    expect(changed).toEqual([]);
    expect(snapshotFiles()).toEqual(before);
});

test("private keys are in the state only as ciphertext", async () => {
    const exported = await pulumiStack.readState();
    // Positive controls: the state was read, certificates are there in plain, keys are there as secrets.
    expect(exported).toContain("BEGIN CERTIFICATE");
    expect(exported).toContain(SECRET_SIG);
    expect(exported).not.toContain("PRIVATE KEY");

    const keyBody = fs.readFileSync(path.join(outDir, "etcd-key.pem"), "utf8").split("\n")[1];
    expect(keyBody.length).toBeGreaterThan(40);
    expect(exported).not.toContain(keyBody);

    const backendFiles = listFiles(pulumiStack.stateDir).filter((f) => path.basename(f) !== "passphrase");
    const checkpoints = backendFiles.filter((f) => /\.json(\.gz)?$/.test(f));
    expect(checkpoints.length).toBeGreaterThan(0);
    for (const file of backendFiles) {
        const text = readBackendFile(file);
        expect({ file, hasPrivateKey: text.includes("PRIVATE KEY") || text.includes(keyBody) }).toEqual({ file, hasPrivateKey: false });
    }
    // The stack's current checkpoint is among the scanned files and holds the certificate.
    expect(checkpoints.some((f) => readBackendFile(f).includes("BEGIN CERTIFICATE"))).toBe(true);
});

test("destroy leaves an empty stack and removes the files", async () => {
    const destroy = await pulumiStack.stack.destroy();
    expect(destroy.summary.result).toBe("succeeded");
    const state = await pulumiStack.stack.exportStack();
    expect(state.deployment.resources ?? []).toEqual([]);
    for (const name of FILES) expect(fs.existsSync(path.join(outDir, name))).toBe(false);
    expect(fs.existsSync(outDir)).toBe(false);
});

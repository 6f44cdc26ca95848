/**
 * EtcdPki under the real Pulumi engine: a second run with unchanged inputs
 * regenerates nothing; certificates near expiry are shown replaced by a plain
 * preview (pulumi-tls#39); no private key in plain state; destroy leaves nothing.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { OfflineStack, offlineStack, uniqueStackName } from "../support/pulumi";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(10 * 60_000);

const EXAMPLE_DIR = path.resolve(__dirname, "../../examples/etcd-pki");
/** 3 members x (server + peer) + 3 clients + the CA. */
const RESOURCES_PER_PKI = 10;

let tmp: string;
let pulumiStack: OfflineStack;

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-etcd-pki-"));
    pulumiStack = await offlineStack({ workDir: EXAMPLE_DIR, stackName: uniqueStackName("e2e-etcd-pki") });
});

afterAll(async () => {
    if (pulumiStack) {
        await pulumiStack.stack.destroy().catch(() => undefined);
        await pulumiStack.cleanup();
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("up creates the PKI; every member's kubeadm files verify with openssl", async () => {
    const up = await pulumiStack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.summary.resourceChanges?.create).toBe(RESOURCES_PER_PKI + 2); // + the stack and the component
    expect(up.outputs.kubeadmFiles!.secret).toBe(true);
    const files = up.outputs.kubeadmFiles!.value as Record<string, Record<string, string>>;
    expect(Object.keys(files).sort()).toEqual(["etcd-01", "etcd-02", "etcd-03"]);
    for (const [member, memberFiles] of Object.entries(files)) {
        const dir = path.join(tmp, member);
        fs.mkdirSync(path.join(dir, "etcd"), { recursive: true });
        for (const [name, pem] of Object.entries(memberFiles)) fs.writeFileSync(path.join(dir, name), pem, { mode: 0o600 });
        for (const cert of ["etcd/server.crt", "etcd/peer.crt", "etcd/healthcheck-client.crt", "apiserver-etcd-client.crt"]) {
            const verdict = execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "etcd/ca.crt"), path.join(dir, cert)], {
                encoding: "utf8",
            });
            expect(verdict.trim()).toBe(`${path.join(dir, cert)}: OK`);
        }
        const text = execFileSync("openssl", ["x509", "-in", path.join(dir, "etcd/server.crt"), "-noout", "-text"], { encoding: "utf8" });
        expect(text).toContain(`Subject: C = CN, ST = Beijing, L = Beijing, O = k8s, OU = System, CN = ${member}`);
        expect(text).toMatch(new RegExp(`DNS:${member}.*IP Address:32\\.16\\.5\\.3\\d.*IP Address:127\\.0\\.0\\.1`));
        expect(text).toContain("DNS:kubernetes-*");
    }
});

test("a second run with unchanged inputs regenerates nothing", async () => {
    const before = (await pulumiStack.stack.outputs()).kubeadmFiles!.value;
    const preview = await pulumiStack.stack.preview({ expectNoChanges: true });
    expect(preview.changeSummary).toEqual({ same: RESOURCES_PER_PKI + 2 });
    const up = await pulumiStack.stack.up();
    expect(up.summary.resourceChanges).toEqual({ same: RESOURCES_PER_PKI + 2 });
    expect(up.outputs.kubeadmFiles!.value).toEqual(before);
});

test("no private key is in the state in plain text", async () => {
    const state = await pulumiStack.readState();
    expect(state).not.toMatch(/PRIVATE KEY/);
    expect(state).toContain(SECRET_SIG); // the keys are there, encrypted
    // The raw backend files too (checkpoints, backups, history).
    const grep = spawnSync("grep", ["-rlz", "PRIVATE KEY", pulumiStack.stateDir], { encoding: "utf8" });
    expect({ status: grep.status, files: grep.stdout }).toEqual({ status: 1, files: "" });
});

test("certificates within earlyRenewalHours of expiry show as replaced in a plain preview (pulumi-tls#39)", async () => {
    // Member and client certificates live 1h; renewal 2h before expiry means: due at once.
    await pulumiStack.stack.setAllConfig({ certificateExpiry: { value: "1h" }, earlyRenewalHours: { value: "2" } });
    const shortLived = await pulumiStack.stack.up();
    expect(shortLived.summary.resourceChanges?.replace).toBe(RESOURCES_PER_PKI - 1);
    // No refresh: the renewal is found by the provider's diff in an ordinary preview.
    const preview = await pulumiStack.stack.preview();
    expect(preview.changeSummary.replace).toBe(RESOURCES_PER_PKI - 1); // every certificate but the CA (87600h, 30 days)
    expect(preview.changeSummary.same).toBe(3);
    // With the default window, the same short-lived certificates are not due.
    await pulumiStack.stack.setAllConfig({ certificateExpiry: { value: "8760h" }, earlyRenewalHours: { value: "720" } });
    await pulumiStack.stack.up();
    const settled = await pulumiStack.stack.preview({ expectNoChanges: true });
    expect(settled.changeSummary).toEqual({ same: RESOURCES_PER_PKI + 2 });
});

test("destroy leaves nothing", async () => {
    const destroy = await pulumiStack.stack.destroy();
    expect(destroy.summary.result).toBe("succeeded");
    const state = JSON.parse(await pulumiStack.readState()) as { deployment: { resources?: unknown[] } };
    expect(state.deployment.resources ?? []).toEqual([]);
});

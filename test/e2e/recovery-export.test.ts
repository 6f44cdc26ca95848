/**
 * RecoveryExport (RecoveryEnvironment's exportOnUp) under the real Pulumi
 * engine, against a real kube-apiserver (test/support/kube-api): `up` writes
 * the selected objects apply-ready to a new 0600 file; nothing secret lands in
 * plain state; a new snapshot writes a new file and keeps the old one;
 * `destroy` keeps every file.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { load, loadAll } from "js-yaml";

import { KUBECTL, KubeApi, runKubectl, startKubeApi } from "../support/kube-api";
import { OfflineStack, offlineStack, uniqueStackName } from "../support/pulumi";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(10 * 60_000);

const FIXTURE_DIR = path.resolve(__dirname, "../fixtures/e2e/recovery-export");
const PASSWORD = "s3cr3t-Passw0rd-e2e-export";
const SNAPSHOT_A = "a".repeat(64);
const SNAPSHOT_B = "b".repeat(64);

let tmp: string;
let exportDir: string;
let api: KubeApi;
let stack: OfflineStack;

const kubectl = (args: string[], input?: string) => runKubectl(api.kubeconfigPath, args, input);
const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-recovery-export-"));
    exportDir = path.join(tmp, "exports");
    api = await startKubeApi();
    await kubectl(["create", "namespace", "shop"]);
    await kubectl(["create", "configmap", "app-config", "--namespace=shop", "--from-literal=mode=production"]);
    await kubectl(["create", "secret", "generic", "db", "--namespace=shop", `--from-literal=password=${PASSWORD}`]);
    await kubectl(["label", "secret", "db", "--namespace=shop", "app=shop"]);
    stack = await offlineStack({
        workDir: FIXTURE_DIR,
        stackName: uniqueStackName("e2e-export"),
        config: {
            kubeconfig: { value: api.kubeconfig, secret: true },
            directory: { value: exportDir },
            snapshotSha256: { value: SNAPSHOT_A },
            kubectl: { value: KUBECTL },
        },
    });
});

afterAll(async () => {
    if (stack) {
        await stack.stack.destroy().catch(() => undefined);
        await stack.cleanup();
    }
    await api?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let firstFile: string;

test("up writes the selected objects apply-ready to a new 0600 file in a 0700 directory", async () => {
    const up = await stack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    firstFile = up.outputs.file!.value as string;
    expect(path.dirname(firstFile)).toBe(exportDir);
    expect(path.basename(firstFile)).toMatch(/^e2e-export-export-\d{8}T\d{6}\.\d{3}Z\.yaml$/);
    expect(modeOf(firstFile)).toBe(0o600);
    expect(modeOf(exportDir)).toBe(0o700);
    expect(up.outputs.objects!.value).toEqual(["ConfigMap shop/app-config", "Secret shop/db"]);

    const content = fs.readFileSync(firstFile, "utf8");
    expect(up.outputs.sha256!.value).toBe(createHash("sha256").update(content).digest("hex"));
    const [configMap, secret] = loadAll(content) as any[];
    expect(configMap).toEqual({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "app-config", namespace: "shop" },
        data: { mode: "production" },
    });
    expect(Buffer.from(secret.data.password, "base64").toString("utf8")).toBe(PASSWORD);
    for (const field of ["uid", "resourceVersion", "creationTimestamp", "managedFields"]) expect(secret.metadata[field]).toBeUndefined();
    // The file is what `kubectl apply` takes: a server-side dry run accepts it.
    await kubectl(["apply", "--dry-run=server", "-f", firstFile]);
});

test("the state holds no private key, no Secret value and no kubeconfig in plain text", async () => {
    const state = await stack.readState();
    const clientKeyData = (load(api.kubeconfig) as any).users[0].user["client-key-data"] as string;
    expect(state).not.toContain(clientKeyData);
    expect(state).not.toContain("PRIVATE KEY");
    expect(state).not.toContain(PASSWORD);
    expect(state).not.toContain(Buffer.from(PASSWORD).toString("base64"));
    expect(state).toContain("RecoveryExport");
    expect(state).toContain(SECRET_SIG); // the kubeconfig is there, encrypted
});

test("nothing changes without a new snapshot; a new snapshot writes a new file and keeps the first", async () => {
    await stack.stack.preview({ expectNoChanges: true });
    await stack.stack.setConfig("snapshotSha256", { value: SNAPSHOT_B });
    const up = await stack.stack.up();
    const secondFile = up.outputs.file!.value as string;
    expect(secondFile).not.toBe(firstFile);
    expect(fs.readdirSync(exportDir).sort()).toEqual([path.basename(firstFile), path.basename(secondFile)].sort());
});

test("destroy keeps every exported file", async () => {
    const before = fs.readdirSync(exportDir).sort();
    const destroy = await stack.stack.destroy();
    expect(destroy.summary.result).toBe("succeeded");
    expect(fs.readdirSync(exportDir).sort()).toEqual(before);
    expect(before).toHaveLength(2);
});

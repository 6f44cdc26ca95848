/**
 * The real kubernetes provider under the real engine, against a throw-away
 * etcd + kube-apiserver: a Namespace and a ConfigMap are created, updated and
 * destroyed, and read back with kubectl. The kubeconfig is a secret config value.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";

import { KubeApi, startKubeApi } from "../support/kube-api";
import { listFiles, OfflineStack, offlineStack, requireResourcePlugin, uniqueStackName } from "../support/pulumi";

jest.setTimeout(10 * 60_000);

const FIXTURE_DIR = path.resolve(__dirname, "../fixtures/e2e/kube-configmap");
const NAMESPACE = `e2e-${crypto.randomBytes(3).toString("hex")}`;

let api: KubeApi;
let pulumiStack: OfflineStack;

beforeAll(async () => {
    requireResourcePlugin("kubernetes"); // before starting anything: fail fast with the fix
    api = await startKubeApi({ controllers: true }); // the garbage collector completes the provider's foreground deletes
    pulumiStack = await offlineStack({
        workDir: FIXTURE_DIR,
        stackName: uniqueStackName("e2e-kube"),
        config: {
            kubeconfig: { value: api.kubeconfig, secret: true },
            namespace: { value: NAMESPACE },
            greeting: { value: "hello" },
        },
    });
});

afterAll(async () => {
    if (pulumiStack) {
        await pulumiStack.stack.destroy().catch(() => undefined);
        await pulumiStack.cleanup();
    }
    if (api) await api.stop();
});

async function configMapData(): Promise<Record<string, string>> {
    const json = JSON.parse(await api.kubectl(["get", "configmap", "e2e-settings", "-n", NAMESPACE, "-o", "json"]));
    return json.data;
}

test("up creates the namespace and the configmap", async () => {
    const up = await pulumiStack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.outputs.namespaceName.value).toBe(NAMESPACE);

    const phase = await api.kubectl(["get", "namespace", NAMESPACE, "-o", "jsonpath={.status.phase}"]);
    expect(phase).toBe("Active");
    expect(await configMapData()).toEqual({ greeting: "hello" });
});

test("a changed config value reaches the cluster; then nothing is left to change", async () => {
    await pulumiStack.stack.setConfig("greeting", { value: "bonjour" });
    const up = await pulumiStack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(await configMapData()).toEqual({ greeting: "bonjour" });

    const preview = await pulumiStack.stack.preview({ expectNoChanges: true });
    const changed = Object.entries(preview.changeSummary).filter(([op, count]) => op !== "same" && count > 0);
    expect(changed).toEqual([]);
});

test("the kubeconfig (admin client key) is in the state only as ciphertext", async () => {
    const clientKeyData = /client-key-data: (\S+)/.exec(api.kubeconfig)?.[1];
    expect(clientKeyData?.length).toBeGreaterThan(100);
    const exported = await pulumiStack.readState();
    expect(exported).toContain(NAMESPACE); // positive control: this is the stack's state
    expect(exported).not.toContain(clientKeyData);
    expect(exported).not.toContain("client-key-data");
    for (const file of listFiles(pulumiStack.stateDir)) {
        const raw = fs.readFileSync(file);
        const text = file.endsWith(".gz") ? zlib.gunzipSync(raw).toString("utf8") : raw.toString("utf8");
        expect({ file, leaks: text.includes(clientKeyData!) }).toEqual({ file, leaks: false });
    }
});

test("destroy deletes the configmap and the namespace", async () => {
    const destroy = await pulumiStack.stack.destroy();
    expect(destroy.summary.result).toBe("succeeded");
    const state = await pulumiStack.stack.exportStack();
    expect(state.deployment.resources ?? []).toEqual([]);

    await expect(api.kubectl(["get", "configmap", "e2e-settings", "-n", NAMESPACE])).rejects.toThrow(/NotFound|not found/);
    // No kube-controller-manager runs here, so the namespace finalizer is never cleared:
    // a deleted namespace is gone or stays Terminating with a deletionTimestamp.
    const ns = await api
        .kubectl(["get", "namespace", NAMESPACE, "-o", "json"])
        .then((out) => JSON.parse(out) as { metadata: { deletionTimestamp?: string }; status: { phase: string } })
        .catch((err: Error) => {
            if (/NotFound|not found/.test(err.message)) return undefined;
            throw err;
        });
    if (ns !== undefined) {
        expect(ns.status.phase).toBe("Terminating");
        expect(ns.metadata.deletionTimestamp).toBeDefined();
    }
});

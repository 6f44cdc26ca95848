/**
 * The throw-away Kubernetes API the e2e tests run against (test/support/kube-api.ts):
 * real etcd + kube-apiserver processes with TLS, RBAC, service-account tokens,
 * optional encryption at rest, and nothing left behind after stop().
 */
import { execFileSync } from "child_process";
import * as fs from "fs";

import { KubeApi, startKubeApi } from "../support/kube-api";
import { requireTool } from "../support/processes";

jest.setTimeout(5 * 60_000);

function etcdGet(api: KubeApi, key: string): Buffer {
    const { caFile, certFile, keyFile } = api.etcd.files;
    return execFileSync(requireTool("etcdctl"), [
        `--endpoints=${api.etcd.endpoints.join(",")}`,
        `--cacert=${caFile}`,
        `--cert=${certFile}`,
        `--key=${keyFile}`,
        "get",
        key,
        "--print-value-only",
    ]);
}

function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

describe("default API", () => {
    let api: KubeApi;
    beforeAll(async () => {
        api = await startKubeApi();
    });
    afterAll(async () => {
        if (api) await api.stop();
    });

    test("answers kubectl as system:masters over TLS, with a 0600 kubeconfig", async () => {
        expect(api.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        expect(fs.statSync(api.kubeconfigPath).mode & 0o777).toBe(0o600);
        const namespaces = (await api.kubectl(["get", "namespaces", "-o", "name"])).split("\n");
        expect(namespaces).toEqual(expect.arrayContaining(["namespace/default", "namespace/kube-system"]));
        const whoami = JSON.parse(await api.kubectl(["auth", "whoami", "-o", "json"]));
        expect(whoami.status.userInfo.username).toBe("kubernetes-admin");
        expect(whoami.status.userInfo.groups).toContain("system:masters");
    });

    test("authorizes with RBAC: an unknown user may not read secrets", async () => {
        expect((await api.kubectl(["auth", "can-i", "get", "secrets"])).trim()).toBe("yes");
        await expect(api.kubectl(["auth", "can-i", "get", "secrets", "--as=nobody"])).rejects.toThrow(/stdout: no\b/);
    });

    test("signs service-account tokens with the configured key and issuer", async () => {
        await api.kubectl(["create", "serviceaccount", "robot"]);
        const token = (await api.kubectl(["create", "token", "robot"])).trim();
        const payload = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
        expect(payload.iss).toBe("https://kubernetes.default.svc.cluster.local");
        expect(payload.sub).toBe("system:serviceaccount:default:robot");
    });

    test("stores objects in etcd under /registry, readable with the client certificate", async () => {
        await api.kubectl(["create", "configmap", "plain", "--from-literal=color=blue"]);
        expect(etcdGet(api, "/registry/configmaps/default/plain").toString("latin1")).toContain("blue");
    });
});

describe("API with encryption at rest and a custom etcd prefix", () => {
    let api: KubeApi;
    beforeAll(async () => {
        api = await startKubeApi({ encryptionConfig: true, etcdPrefix: "/custom" });
    });
    afterAll(async () => {
        if (api) await api.stop();
    });

    test("secrets are aescbc ciphertext in etcd, configmaps stay plain", async () => {
        expect(api.encryption?.keyName).toBe("key1");
        expect(fs.statSync(api.encryption!.configPath).mode & 0o777).toBe(0o600);
        await api.kubectl(["create", "secret", "generic", "s1", "--from-literal=password=hunter2-sentinel"]);
        await api.kubectl(["create", "configmap", "c1", "--from-literal=color=green-sentinel"]);

        const secret = etcdGet(api, "/custom/secrets/default/s1").toString("latin1");
        expect(secret.startsWith("k8s:enc:aescbc:v1:key1:")).toBe(true);
        expect(secret).not.toContain("hunter2-sentinel");
        expect(etcdGet(api, "/custom/configmaps/default/c1").toString("latin1")).toContain("green-sentinel");
        // Read back through the API: decryption works.
        const data = JSON.parse(await api.kubectl(["get", "secret", "s1", "-o", "json"])).data;
        expect(Buffer.from(data.password, "base64").toString()).toBe("hunter2-sentinel");
    });
});

test("stop() ends both processes and removes the temp dir", async () => {
    const api = await startKubeApi();
    const pids = fs
        .readdirSync("/proc")
        .filter((entry) => /^\d+$/.test(entry))
        .map(Number)
        .filter((pid) => {
            try {
                return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(api.workDir);
            } catch {
                return false;
            }
        });
    expect(pids.length).toBe(2); // etcd and kube-apiserver, both started with paths in the temp dir
    await api.stop();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(fs.existsSync(api.workDir)).toBe(false);
});

// Seed 000's scenario, mode "single": a production Kubernetes API (local
// etcd + kube-apiserver, Secrets encrypted at rest) loses a ConfigMap and a
// Secret; the recovery environment is realized from last snapshot in the real
// Docker engine (etcd 3.5 + kube-apiserver images), the two objects are
// exported from it and applied back to production.
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import {
    ExportError,
    OriginalCluster,
    exportObjects,
    issueRecoveryPki,
    planRecoveryEnvironment,
    recoveryAddresses,
    recoveryKubeconfig,
    validateOriginalCluster,
    verifySnapshotFile,
    verifySnapshotFileSync,
    cleanForApply,
    SnapshotError,
    RecoveryApiError,
    waitForRecoveryApi,
} from "../../src/recovery";
import { fileSha256 } from "../../src/docker/realize";
import { genCert, initCa } from "../../src/pki";
import { RealizedPlan, dockerAvailable, realizePlan, removeByLabel } from "../harness/docker";
import { run } from "../harness/exec";
import { ETCD_35_IMAGE, KUBE_APISERVER_IMAGE, requireImages } from "../support/images";
import { KUBECTL, KubeApi, startKubeApi } from "../support/kube-api";
import { requireTool } from "../support/processes";

jest.setTimeout(400_000);

const RUN_ID = "it-recovery-single";
const NAMESPACE = "shop";
let workDir: string;
let production: KubeApi;
let snapshotPath: string;
const realized: RealizedPlan[] = [];
const timings: Record<string, number> = {};
let originals: { configMap: any; secret: any };

async function timed<T>(label: string, action: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
        return await action();
    } finally {
        timings[label] = Date.now() - start;
    }
}

/** What the production cluster looks like to an importer: hand-written here, as the validator accepts it. */
function productionDescription(withEncryption: boolean): OriginalCluster {
    const enc = production.encryption!;
    return validateOriginalCluster(
        {
            etcd: { version: "3.5.35", members: [{ name: "default", peerUrls: ["https://127.0.0.1:2380"], clientUrls: production.etcd.endpoints }] },
            kubeApiserver: { version: "1.34.4", args: ["--etcd-prefix=/registry", `--encryption-provider-config=${enc.configPath}`, "--service-cluster-ip-range=10.96.0.0/12"] },
            etcdPrefix: "/registry",
            serviceClusterIpRange: "10.96.0.0/12",
            ...(withEncryption ? { encryption: { configPath: enc.configPath, content: fs.readFileSync(enc.configPath, "utf8") } } : {}),
        },
        "production (hand-written description)",
    );
}

/** Plans and realizes; `waitReady` waits for /readyz the way a user of the environment would. */
async function bringUp(name: string, subnet: string, original: OriginalCluster, snapshot: string) {
    const addresses = recoveryAddresses(subnet);
    const pki = issueRecoveryPki(name, addresses, original);
    const env = planRecoveryEnvironment(
        { name, original, snapshotPath: snapshot, snapshotSha256: verifySnapshotFileSync(snapshot).sha256, subnet, etcdImage: ETCD_35_IMAGE, kubeApiserverImage: KUBE_APISERVER_IMAGE },
        pki.files,
    );
    const live = await timed(`${name}: realize (check, restore, etcd healthy)`, () => realizePlan(env.plan, { runId: RUN_ID, waitHealthy: true, timeoutMs: 180_000 }));
    realized.push(live);
    const kubeconfigPath = path.join(workDir, `${name}.kubeconfig`);
    fs.writeFileSync(kubeconfigPath, recoveryKubeconfig({ name, url: env.addresses.apiUrl, caCertPem: pki.kubeCaCertPem, certPem: pki.admin.certPem, keyPem: pki.admin.keyPem }), { mode: 0o600 });
    const waitReady = () =>
        timed(`${name}: kube-apiserver /readyz after realize`, () =>
            waitForRecoveryApi({
                apiUrl: env.addresses.apiUrl,
                tls: { caPem: pki.kubeCaCertPem, certPem: pki.admin.certPem, keyPem: pki.admin.keyPem },
                readLog: () => live.logs(env.containerNames.kubeApiserver),
                timeoutMs: 120_000,
            }),
        );
    return { env, pki, live, kubeconfigPath, waitReady };
}

/** One HTTPS GET: the status, or how the TLS connection was refused. */
function httpsProbe(url: string, tls: { ca: string; cert?: string; key?: string }): Promise<{ status: number } | { refused: string }> {
    return new Promise((resolve) => {
        const request = https.get(url, { ...tls, timeout: 10_000 }, (response) => {
            response.resume();
            resolve({ status: response.statusCode ?? 0 });
        });
        request.on("timeout", () => request.destroy(new Error("timeout: no answer in 10 s")));
        request.on("error", (error: NodeJS.ErrnoException) => resolve({ refused: `${error.code ?? ""} ${error.message}` }));
    });
}

function comparable(object: any) {
    return cleanForApply(object).object;
}

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE, KUBE_APISERVER_IMAGE);
    if (!fs.existsSync(KUBECTL)) throw new Error(`kubectl not found at ${KUBECTL}: run bash scripts/setup (it builds kubectl) or set KUBECTL`);
    requireTool("etcdctl");
    await removeByLabel(RUN_ID);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "recovery-single-it-"));

    production = await timed("production API start", () => startKubeApi({ encryptionConfig: true }));
    await production.kubectl(["create", "namespace", NAMESPACE]);
    await production.kubectl(["apply", "-f", "-"], {
        input: JSON.stringify({
            apiVersion: "v1",
            kind: "List",
            items: [
                {
                    apiVersion: "v1",
                    kind: "ConfigMap",
                    metadata: { name: "app-config", namespace: NAMESPACE, labels: { app: "shop", tier: "web" }, annotations: { "owner.example.com/team": "payments" } },
                    data: { "settings.yaml": "currency: EUR\nretries: 3\n", FEATURE_X: "on" },
                },
                {
                    apiVersion: "v1",
                    kind: "Secret",
                    metadata: { name: "db-credentials", namespace: NAMESPACE, labels: { app: "shop" } },
                    type: "Opaque",
                    stringData: { username: "shop", password: "s3cr3t-from-before-the-incident" },
                },
            ],
        }),
    });
    originals = {
        configMap: JSON.parse(await production.kubectl(["get", "configmap", "app-config", "-n", NAMESPACE, "-o", "json"])),
        secret: JSON.parse(await production.kubectl(["get", "secret", "db-credentials", "-n", NAMESPACE, "-o", "json"])),
    };

    const etcdctl = requireTool("etcdctl");
    const tlsArgs = production.etcd.etcdctlFlags;
    // The Secret really is encrypted at rest in production's etcd (and so in the snapshot).
    const stored = await run(etcdctl, [...tlsArgs, "get", `/registry/secrets/${NAMESPACE}/db-credentials`, "--print-value-only"]);
    expect(stored.stdout.startsWith("k8s:enc:aescbc:v1:key1:")).toBe(true);
    snapshotPath = path.join(workDir, "snapshot.db");
    await timed("etcdctl snapshot save", () => run(etcdctl, [...tlsArgs, "snapshot", "save", snapshotPath]));

    // The incident.
    await production.kubectl(["delete", "configmap", "app-config", "-n", NAMESPACE]);
    await production.kubectl(["delete", "secret", "db-credentials", "-n", NAMESPACE]);
});

afterAll(async () => {
    for (const live of realized) await live.destroy();
    await removeByLabel(RUN_ID);
    await production?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    // eslint-disable-next-line no-console
    console.log(`recovery-single timings (ms): ${JSON.stringify(timings, null, 1)}`);
});

describe("RecoveryEnvironment plan, mode single, on real etcd 3.5 + kube-apiserver 1.34 in Docker", () => {
    test("the lost ConfigMap and encrypted Secret come back from the snapshot and equal the originals", async () => {
        await expect(production.kubectl(["get", "configmap", "app-config", "-n", NAMESPACE])).rejects.toThrow(/NotFound/);
        const check = await verifySnapshotFile(snapshotPath);
        expect(check.sizeBytes % 512).toBe(32);

        const { env, live, kubeconfigPath, waitReady } = await bringUp("it-recovery", "172.31.210.0/24", productionDescription(true), snapshotPath);
        await waitReady();

        // Isolation as declared: one internal network, nothing published.
        const network = env.plan.networks[0];
        expect(network).toMatchObject({ internal: true, subnet: "172.31.210.0/24" });
        for (const container of env.plan.containers) expect(container.ports ?? []).toEqual([]);
        const apiserverInfo = await live.inspect(env.containerNames.kubeApiserver);
        expect(Object.keys(apiserverInfo.NetworkSettings.Networks)).toEqual([network.name]);
        expect(apiserverInfo.HostConfig.PortBindings ?? {}).toEqual({});
        // The snapshot was checked in the engine before the restore ran.
        expect(await live.logs(env.containerNames.snapshotCheck)).toMatch(/"revision":\d+/);
        // The encryption config is a 0600 file, never an argument.
        const encFile = await live.readFile(env.containerNames.kubeApiserver, "/etc/kubernetes/recovery/encryption-config.yaml");
        expect(encFile.mode).toBe(0o600);
        expect(JSON.stringify(apiserverInfo.Config)).not.toContain(production.encryption!.keyBase64);

        const exported = await timed("export (kubectl get + clean)", () =>
            exportObjects({
                kubeconfigPath,
                kubectl: KUBECTL,
                selections: [
                    { kind: "configmaps", namespace: NAMESPACE, name: "app-config" },
                    { kind: "secrets", namespace: NAMESPACE, labelSelector: "app=shop" },
                ],
            }),
        );
        expect(exported.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(["ConfigMap/app-config", "Secret/db-credentials"]);
        expect(exported.yaml).not.toMatch(/resourceVersion|uid:|creationTimestamp|managedFields/);

        await timed("kubectl apply to production", () => production.kubectl(["apply", "-f", "-"], { input: exported.yaml }));
        const restoredConfigMap = JSON.parse(await production.kubectl(["get", "configmap", "app-config", "-n", NAMESPACE, "-o", "json"]));
        const restoredSecret = JSON.parse(await production.kubectl(["get", "secret", "db-credentials", "-n", NAMESPACE, "-o", "json"]));
        expect(restoredConfigMap.metadata.uid).not.toBe(originals.configMap.metadata.uid);
        expect(comparable(restoredConfigMap)).toEqual(comparable(originals.configMap));
        expect(comparable(restoredSecret)).toEqual(comparable(originals.secret));
        expect(Buffer.from(restoredSecret.data.password, "base64").toString("utf8")).toBe("s3cr3t-from-before-the-incident");
    });

    test("anonymous and foreign-CA clients are refused by the recovery etcd and kube-apiserver; the environment's own certificates are accepted", async () => {
        const { env, pki, waitReady } = await bringUp("it-recovery-auth", "172.31.214.0/24", productionDescription(true), snapshotPath);
        await waitReady();
        // A client certificate from another CA, with the admin's very names (system:masters): only the CA differs.
        const foreignCa = initCa({ CN: "foreign CA", key: { algo: "ecdsa", size: 256 } });
        const foreign = genCert({
            caCertPem: foreignCa.certPem,
            caKeyPem: foreignCa.keyPem,
            config: { signing: { default: { usages: ["signing", "key encipherment", "client auth"], expiry: "1h" } } },
            csr: { CN: "recovery-admin", names: [{ O: "system:masters" }], key: { algo: "ecdsa", size: 256 } },
        });
        const etcdCa = pki.files.etcd.caCertPem;
        const etcdUrl = `https://${env.addresses.etcdIp}:2379/version`;
        const etcdClient = pki.files.apiserverEtcdClient;
        expect(await httpsProbe(etcdUrl, { ca: etcdCa, cert: etcdClient.certPem, key: etcdClient.keyPem })).toEqual({ status: 200 });
        expect(await httpsProbe(etcdUrl, { ca: etcdCa })).toEqual({ refused: expect.stringMatching(/certificate|alert|ECONNRESET|socket hang up/i) });
        expect(await httpsProbe(etcdUrl, { ca: etcdCa, cert: foreign.certPem, key: foreign.keyPem })).toEqual({ refused: expect.stringMatching(/certificate|alert|ECONNRESET|socket hang up/i) });

        const secrets = `${env.addresses.apiUrl}/api/v1/namespaces/${NAMESPACE}/secrets`;
        expect(await httpsProbe(secrets, { ca: pki.kubeCaCertPem, cert: pki.admin.certPem, key: pki.admin.keyPem })).toEqual({ status: 200 });
        // kube-apiserver finishes the handshake (client certificates are optional there) and answers 401.
        expect(await httpsProbe(secrets, { ca: pki.kubeCaCertPem })).toEqual({ status: 401 });
        expect(await httpsProbe(secrets, { ca: pki.kubeCaCertPem, cert: foreign.certPem, key: foreign.keyPem })).toEqual({ status: 401 });
    });

    test("without the encryption config, the encrypted Secret cannot be read and the error says to provide it", async () => {
        const { kubeconfigPath, waitReady } = await bringUp("it-recovery-noenc", "172.31.211.0/24", productionDescription(false), snapshotPath);
        // The apiserver cannot list Secrets, so it never becomes ready; the wait says why instead of timing out.
        const ready = waitReady();
        await expect(ready).rejects.toThrow(RecoveryApiError);
        await expect(ready).rejects.toThrow(/Secret objects encrypted at rest \(e\.g\. \/registry\/secrets\/shop\/db-credentials\).*cannot decrypt them.*Provide the original cluster's EncryptionConfiguration/s);
        // It still serves what it can read: unencrypted data...
        const configMaps = await exportObjects({ kubeconfigPath, kubectl: KUBECTL, selections: [{ kind: "configmaps", namespace: NAMESPACE, name: "app-config" }] });
        expect(configMaps.objects[0].data.FEATURE_X).toBe("on");
        // ...the Secret does not.
        const attempt = exportObjects({ kubeconfigPath, kubectl: KUBECTL, selections: [{ kind: "secrets", namespace: NAMESPACE, name: "db-credentials" }] });
        await expect(attempt).rejects.toThrow(ExportError);
        await expect(attempt).rejects.toThrow(/encrypted at rest.*cannot decrypt it.*Provide the original cluster's EncryptionConfiguration/s);
    });

    test("a second deployment with a newer snapshot serves the newer snapshot: fresh volume, etcd and kube-apiserver replaced", async () => {
        const name = "it-recovery-next";
        const original = productionDescription(true);
        const first = await bringUp(name, "172.31.213.0/24", original, snapshotPath);
        await first.waitReady();
        // Production moves on; a newer backup holds an object the first one does not.
        await production.kubectl(["create", "configmap", "after-first-snapshot", "-n", NAMESPACE, "--from-literal=k=v"]);
        const newer = path.join(workDir, "snapshot-newer.db");
        await run(requireTool("etcdctl"), [...production.etcd.etcdctlFlags, "snapshot", "save", newer]);
        const plan = (snapshot: string) =>
            planRecoveryEnvironment(
                { name, original, snapshotPath: snapshot, snapshotSha256: verifySnapshotFileSync(snapshot).sha256, subnet: "172.31.213.0/24", etcdImage: ETCD_35_IMAGE, kubeApiserverImage: KUBE_APISERVER_IMAGE },
                first.pki.files,
            );
        const next = plan(newer);
        const names = next.containerNames;

        // Control: the same update with the old plan shape (volume and containers not bound to the snapshot)
        // fails loudly: the restore meets the old data dir, and etcd is not started on it.
        const unbound = {
            ...next.plan,
            volumes: first.env.plan.volumes,
            containers: next.plan.containers.map((c) => ({ ...c, mounts: first.env.plan.containers.find((o) => o.name === c.name)!.mounts, labels: first.env.plan.containers.find((o) => o.name === c.name)!.labels })),
        };
        await expect(first.live.update(unbound)).rejects.toThrow(new RegExp(`${names.etcd} was not started: ${names.restore} exited with code 1[\\s\\S]*not empty`));

        const report = await timed(`${name}: update to the newer snapshot`, () => first.live.update(next.plan));
        expect(report.replaced.sort()).toEqual([names.kubeApiserver, names.restore, names.snapshotCheck].sort());
        expect(report.created).toEqual([names.etcd]); // the failed control had deleted it
        expect(next.plan.volumes[0].name).not.toBe(first.env.plan.volumes[0].name);
        const volumes = await run("docker", ["volume", "ls", "--filter", `label=etcd-recovery.environment=${name}`, "--format", "{{.Name}}"]);
        expect(volumes.stdout.trim().split("\n")).toEqual([next.plan.volumes[0].name]);
        await waitForRecoveryApi({
            apiUrl: next.addresses.apiUrl,
            tls: { caPem: first.pki.kubeCaCertPem, certPem: first.pki.admin.certPem, keyPem: first.pki.admin.keyPem },
            readLog: () => first.live.logs(names.kubeApiserver),
            timeoutMs: 120_000,
        });
        const found = await exportObjects({ kubeconfigPath: first.kubeconfigPath, kubectl: KUBECTL, selections: [{ kind: "configmaps", namespace: NAMESPACE, name: "after-first-snapshot" }] });
        expect(found.objects[0].data).toEqual({ k: "v" });
        // A third deployment of the same plan changes nothing.
        const again = await first.live.update(next.plan);
        expect(again.steps).toEqual([]);
    });

    test("a corrupt or truncated snapshot is refused before any container exists", async () => {
        const content = fs.readFileSync(snapshotPath);
        const flipped = Buffer.from(content);
        flipped[Math.floor(flipped.length / 2)] ^= 0xff;
        const corruptPath = path.join(workDir, "corrupt.db");
        fs.writeFileSync(corruptPath, flipped);
        await expect(verifySnapshotFile(corruptPath)).rejects.toThrow(/is corrupt: the SHA-256 of its database does not match/);
        const truncatedPath = path.join(workDir, "truncated.db");
        fs.writeFileSync(truncatedPath, content.subarray(0, content.length - 1000));
        await expect(verifySnapshotFile(truncatedPath)).rejects.toThrow(SnapshotError);
        await expect(verifySnapshotFile(truncatedPath)).rejects.toThrow(/is truncated or corrupt/);
    });

    test("in the engine, the snapshot check (and the restore beside it) refuse a file that is not a database, and neither etcd nor kube-apiserver starts", async () => {
        const garbagePath = path.join(workDir, "garbage.db");
        fs.writeFileSync(garbagePath, Buffer.alloc(4096 * 4 + 32, 0x5a));
        const original = productionDescription(true);
        const addresses = recoveryAddresses("172.31.212.0/24");
        const env = planRecoveryEnvironment(
            { name: "it-recovery-bad", original, snapshotPath: garbagePath, snapshotSha256: fileSha256(garbagePath), subnet: addresses.subnet, etcdImage: ETCD_35_IMAGE, kubeApiserverImage: KUBE_APISERVER_IMAGE },
            issueRecoveryPki("it-recovery-bad", addresses, original).files,
        );
        expect(env.plan.containers[0].name).toBe("it-recovery-bad-snapshot-check");
        const since = String(Math.floor(Date.now() / 1000) - 1);
        await expect(realizePlan(env.plan, { runId: RUN_ID, timeoutMs: 60_000 })).rejects.toThrow(/it-recovery-bad-etcd was not started: [^\n]*it-recovery-bad-snapshot-check exited with code 1[\s\S]*Error: invalid database/);
        // Only the check and the restore ever started (the engine's start events say so) ...
        const started = await run("docker", [
            "events",
            ...["--since", since, "--until", String(Math.ceil(Date.now() / 1000) + 1)],
            ...["--filter", "label=etcd-recovery.environment=it-recovery-bad", "--filter", "event=start", "--format", "{{.Actor.Attributes.name}}"],
        ]);
        expect(started.stdout.trim().split("\n").sort()).toEqual(["it-recovery-bad-etcd-restore", "it-recovery-bad-snapshot-check"]);
        // ... and the harness removed what it created.
        const left = await run("docker", ["ps", "-a", "--filter", "label=etcd-recovery.environment=it-recovery-bad", "--format", "{{.Names}}"]);
        expect(left.stdout.trim()).toBe("");
    });
});

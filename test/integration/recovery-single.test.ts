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
    RecoveryEnvironmentPlan,
    waitForRecoveryApi,
    RECOVERY_ETCD_HEALTH_WAIT_SECONDS,
} from "../../src/recovery";
import { fileSha256 } from "../../src/docker/realize";
import { genCert, initCa } from "../../src/pki";
import { RealizedPlan, dockerAvailable, realizePlan, removeByLabel, uniqueName, uniqueRunId, withFreeSubnet } from "../harness/docker";
import { run } from "../harness/exec";
import { writeUnopenableSnapshot } from "../support/fake-snapshot";
import { ETCD_35_IMAGE, KUBE_APISERVER_IMAGE, requireImages } from "../support/images";
import { KUBECTL, KubeApi, startKubeApi } from "../support/kube-api";
import { requireTool } from "../support/processes";

jest.setTimeout(400_000);

/** This run's own label: cleanup removes only what this run created (another run may share the engine). */
const RUN_ID = uniqueRunId("it-recovery-single");
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
            etcd: {
                version: "3.5.35",
                members: [{ name: "default", peerUrls: ["https://127.0.0.1:2380"], clientUrls: production.etcd.endpoints }],
            },
            kubeApiserver: {
                version: "1.34.4",
                args: [
                    "--etcd-prefix=/registry",
                    `--encryption-provider-config=${enc.configPath}`,
                    "--service-cluster-ip-range=10.96.0.0/12",
                ],
            },
            etcdPrefix: "/registry",
            serviceClusterIpRange: "10.96.0.0/12",
            ...(withEncryption ? { encryption: { configPath: enc.configPath, content: fs.readFileSync(enc.configPath, "utf8") } } : {}),
        },
        "production (hand-written description)",
    );
}

/**
 * Plans and realizes on a free test subnet (another one if another run took it meanwhile); `name` gets a
 * random suffix (Docker names are engine-wide). `waitReady` waits for /readyz the way a user of the environment would.
 */
async function bringUp(base: string, original: OriginalCluster, snapshot: string) {
    const name = uniqueName(base);
    const { addresses, pki, env, live } = await withFreeSubnet(async (subnet) => {
        const addresses = recoveryAddresses(subnet);
        const pki = issueRecoveryPki(name, addresses, original);
        const env = planRecoveryEnvironment(
            {
                name,
                original,
                snapshotPath: snapshot,
                snapshotSha256: verifySnapshotFileSync(snapshot).sha256,
                subnet,
                etcdImage: ETCD_35_IMAGE,
                kubeApiserverImage: KUBE_APISERVER_IMAGE,
            },
            pki.files,
        );
        const live = await timed(`${base}: realize (check, restore, etcd healthy)`, () =>
            realizePlan(env.plan, { runId: RUN_ID, waitHealthy: true, timeoutMs: 180_000 }),
        );
        return { addresses, pki, env, live };
    });
    realized.push(live);
    const kubeconfigPath = path.join(workDir, `${name}.kubeconfig`);
    fs.writeFileSync(
        kubeconfigPath,
        recoveryKubeconfig({
            name,
            url: env.addresses.apiUrl,
            caCertPem: pki.kubeCaCertPem,
            certPem: pki.admin.certPem,
            keyPem: pki.admin.keyPem,
        }),
        { mode: 0o600 },
    );
    const waitReady = () =>
        timed(`${base}: kube-apiserver /readyz after realize`, () =>
            waitForRecoveryApi({
                apiUrl: env.addresses.apiUrl,
                tls: { caPem: pki.kubeCaCertPem, certPem: pki.admin.certPem, keyPem: pki.admin.keyPem },
                readLog: () => live.logs(env.containerNames.kubeApiserver),
                timeoutMs: 120_000,
            }),
        );
    return { name, addresses, env, pki, live, kubeconfigPath, waitReady };
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
    if (!fs.existsSync(KUBECTL))
        throw new Error(`kubectl not found at ${KUBECTL}: run bash scripts/setup (it builds kubectl) or set KUBECTL`);
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
                    metadata: {
                        name: "app-config",
                        namespace: NAMESPACE,
                        labels: { app: "shop", tier: "web" },
                        annotations: { "owner.example.com/team": "payments" },
                    },
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
    console.log(`recovery-single timings (ms): ${JSON.stringify(timings, null, 1)}`);
});

describe("RecoveryEnvironment plan, mode single, on real etcd 3.5 + kube-apiserver 1.34 in Docker", () => {
    test("the lost ConfigMap and encrypted Secret come back from the snapshot and equal the originals", async () => {
        await expect(production.kubectl(["get", "configmap", "app-config", "-n", NAMESPACE])).rejects.toThrow(/NotFound/);
        const check = await verifySnapshotFile(snapshotPath);
        expect(check.sizeBytes % 512).toBe(32);

        const { env, live, kubeconfigPath, waitReady } = await bringUp("it-recovery", productionDescription(true), snapshotPath);
        await waitReady();

        // Isolation as declared: one internal network, nothing published.
        const network = env.plan.networks[0];
        expect(network).toMatchObject({ internal: true, subnet: env.addresses.subnet });
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
        const { env, pki, waitReady } = await bringUp("it-recovery-auth", productionDescription(true), snapshotPath);
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
        expect(await httpsProbe(etcdUrl, { ca: etcdCa })).toEqual({
            refused: expect.stringMatching(/certificate|alert|ECONNRESET|socket hang up/i),
        });
        expect(await httpsProbe(etcdUrl, { ca: etcdCa, cert: foreign.certPem, key: foreign.keyPem })).toEqual({
            refused: expect.stringMatching(/certificate|alert|ECONNRESET|socket hang up/i),
        });

        const secrets = `${env.addresses.apiUrl}/api/v1/namespaces/${NAMESPACE}/secrets`;
        expect(await httpsProbe(secrets, { ca: pki.kubeCaCertPem, cert: pki.admin.certPem, key: pki.admin.keyPem })).toEqual({
            status: 200,
        });
        // kube-apiserver finishes the handshake (client certificates are optional there) and answers 401.
        expect(await httpsProbe(secrets, { ca: pki.kubeCaCertPem })).toEqual({ status: 401 });
        expect(await httpsProbe(secrets, { ca: pki.kubeCaCertPem, cert: foreign.certPem, key: foreign.keyPem })).toEqual({ status: 401 });
    });

    test("without the encryption config, the encrypted Secret cannot be read and the error says to provide it", async () => {
        const { kubeconfigPath, waitReady } = await bringUp("it-recovery-noenc", productionDescription(false), snapshotPath);
        // The apiserver cannot list Secrets, so it never becomes ready; the wait says why instead of timing out.
        const ready = waitReady();
        await expect(ready).rejects.toThrow(RecoveryApiError);
        await expect(ready).rejects.toThrow(
            /Secret objects encrypted at rest \(e\.g\. \/registry\/secrets\/shop\/db-credentials\).*cannot decrypt them.*Provide the original cluster's EncryptionConfiguration/s,
        );
        // It still serves what it can read: unencrypted data...
        const configMaps = await exportObjects({
            kubeconfigPath,
            kubectl: KUBECTL,
            selections: [{ kind: "configmaps", namespace: NAMESPACE, name: "app-config" }],
        });
        expect(configMaps.objects[0].data.FEATURE_X).toBe("on");
        // ...the Secret does not.
        const attempt = exportObjects({
            kubeconfigPath,
            kubectl: KUBECTL,
            selections: [{ kind: "secrets", namespace: NAMESPACE, name: "db-credentials" }],
        });
        await expect(attempt).rejects.toThrow(ExportError);
        await expect(attempt).rejects.toThrow(
            /encrypted at rest.*cannot decrypt it.*Provide the original cluster's EncryptionConfiguration/s,
        );
    });

    /** The environment of the update tests: A, then B; the later tests update it to bad snapshots and back to B. */
    let updated: {
        first: Awaited<ReturnType<typeof bringUp>>;
        plan: (snapshot: string, sha256: string) => RecoveryEnvironmentPlan<string>;
        planB: RecoveryEnvironmentPlan<string>;
        snapshotA: string;
        get: (object: string) => ReturnType<typeof exportObjects>;
        environment: () => Promise<[string, string][]>;
        volumes: () => Promise<string[]>;
        waitForApi: () => Promise<unknown>;
    };

    test("a second deployment with snapshot B (object Y, not X) serves B only: fresh volume and one-shots, etcd and kube-apiserver replaced, nothing of A left", async () => {
        const original = productionDescription(true);
        const etcdctl = requireTool("etcdctl");
        const saveSnapshot = async (file: string) => {
            await run(etcdctl, [...production.etcd.etcdctlFlags, "snapshot", "save", path.join(workDir, file)]);
            return path.join(workDir, file);
        };
        // Snapshot A holds X; production then loses X and gains Y, and snapshot B holds Y and not X.
        await production.kubectl(["create", "configmap", "only-in-a", "-n", NAMESPACE, "--from-literal=snapshot=a"]);
        const snapshotA = await saveSnapshot("snapshot-a.db");
        await production.kubectl(["delete", "configmap", "only-in-a", "-n", NAMESPACE]);
        await production.kubectl(["create", "configmap", "only-in-b", "-n", NAMESPACE, "--from-literal=snapshot=b"]);
        const snapshotB = await saveSnapshot("snapshot-b.db");
        const [shaA, shaB] = [verifySnapshotFileSync(snapshotA).sha256, verifySnapshotFileSync(snapshotB).sha256];

        const first = await bringUp("it-recovery-next", original, snapshotA);
        await first.waitReady();
        const name = first.name;
        const get = (object: string) =>
            exportObjects({
                kubeconfigPath: first.kubeconfigPath,
                kubectl: KUBECTL,
                selections: [{ kind: "configmaps", namespace: NAMESPACE, name: object }],
            });
        // Controls: A serves X and not Y.
        expect((await get("only-in-a")).objects[0].data).toEqual({ snapshot: "a" });
        await expect(get("only-in-b")).rejects.toThrow(/NotFound|not found/);
        const environment = async () =>
            (
                await run("docker", [
                    "ps",
                    "-a",
                    "--filter",
                    `label=etcd-recovery.environment=${name}`,
                    "--format",
                    '{{.ID}} {{.Label "etcd-recovery.snapshot-sha256"}}',
                ])
            ).stdout
                .trim()
                .split("\n")
                .map((line) => line.split(" ") as [string, string]);
        const volumes = async () =>
            (await run("docker", ["volume", "ls", "--filter", `label=etcd-recovery.environment=${name}`, "--format", "{{.Name}}"])).stdout
                .trim()
                .split("\n")
                .sort();
        const containersOfA = await environment();
        expect(containersOfA.map(([, sha]) => sha)).toEqual([shaA, shaA, shaA, shaA]);

        const plan = (snapshot: string, sha256: string) =>
            planRecoveryEnvironment(
                {
                    name,
                    original,
                    snapshotPath: snapshot,
                    snapshotSha256: sha256,
                    subnet: first.addresses.subnet,
                    etcdImage: ETCD_35_IMAGE,
                    kubeApiserverImage: KUBE_APISERVER_IMAGE,
                },
                first.pki.files,
            );
        const next = plan(snapshotB, shaB);
        const names = next.containerNames;
        const namesOfA = first.env.containerNames;
        // The one-shots carry the snapshot's short hash in their names; etcd and kube-apiserver keep theirs.
        expect([names.snapshotCheck, names.restore]).toEqual([
            `${name}-snapshot-check-${shaB.slice(0, 12)}`,
            `${name}-etcd-restore-${shaB.slice(0, 12)}`,
        ]);
        expect([names.etcd, names.kubeApiserver]).toEqual([namesOfA.etcd, namesOfA.kubeApiserver]);

        // Control: the same update with the old plan shape (volume and one-shots not bound to the snapshot: A's
        // names, B's file) fails loudly: the one-shots are replaced, the engine deletes etcd (gated on them) first,
        // the restore meets the old data dir, and etcd is not started on it.
        const unbound = {
            ...next.plan,
            volumes: first.env.plan.volumes,
            containers: next.plan.containers.map((c, i) => {
                const old = first.env.plan.containers[i];
                return { ...c, name: old.name, mounts: old.mounts, labels: old.labels, ...(old.after ? { after: old.after } : {}) };
            }),
        };
        await expect(first.live.update(unbound)).rejects.toThrow(
            new RegExp(`${names.etcd} was not started: ${namesOfA.restore} exited with code 1[\\s\\S]*not empty`),
        );
        expect(first.live.containers[names.etcd]).toBeUndefined();

        const report = await timed("it-recovery-next: update to snapshot B", () => first.live.update(next.plan));
        // B's one-shots are new resources; etcd too (the failed control had deleted it); A's one-shots go last.
        expect(report.created.sort()).toEqual([names.etcd, names.restore, names.snapshotCheck].sort());
        expect(report.replaced).toEqual([names.kubeApiserver]);
        expect(report.deleted.sort()).toEqual([namesOfA.restore, namesOfA.snapshotCheck].sort());
        expect(report.steps.slice(-2).sort()).toEqual([`delete ${namesOfA.restore}`, `delete ${namesOfA.snapshotCheck}`].sort());
        expect(next.plan.volumes[0].name).not.toBe(first.env.plan.volumes[0].name);
        expect(await volumes()).toEqual([next.plan.volumes[0].name]);
        const waitForApi = () =>
            waitForRecoveryApi({
                apiUrl: next.addresses.apiUrl,
                tls: { caPem: first.pki.kubeCaCertPem, certPem: first.pki.admin.certPem, keyPem: first.pki.admin.keyPem },
                readLog: () => first.live.logs(names.kubeApiserver),
                timeoutMs: 120_000,
            });
        await waitForApi();
        // B's data, and nothing of A's: Y is there, X is not.
        expect((await get("only-in-b")).objects[0].data).toEqual({ snapshot: "b" });
        await expect(get("only-in-a")).rejects.toThrow(/NotFound|not found/);
        // Nothing of A is left: none of its containers, every container there is bound to B.
        const containersOfB = await environment();
        expect(containersOfB.map(([, sha]) => sha)).toEqual([shaB, shaB, shaB, shaB]);
        for (const [id] of containersOfB) expect(containersOfA.map(([old]) => old)).not.toContain(id);
        // A third deployment of the same plan changes nothing.
        const again = await first.live.update(next.plan);
        expect(again.steps).toEqual([]);
        updated = { first, plan, planB: next, snapshotA, get, environment, volumes, waitForApi };
    });

    test("an update to snapshot C that fails the check in the engine fails loudly, and B keeps serving (same etcd, same volume); back to B removes C's leftovers", async () => {
        const { first, plan, planB, get, environment, volumes } = updated;
        const names = planB.containerNames;
        const etcdOfB = first.live.containers[names.etcd].id;
        const apiserverOfB = first.live.containers[names.kubeApiserver].id;

        // Snapshot C passes the file check (its hash is intact) but is no database the engine's check can open:
        // both bbolt meta pages altered, the trailing SHA-256 recomputed.
        const snapshotC = path.join(workDir, "snapshot-c.db");
        writeUnopenableSnapshot(planB.plan.containers[0].files[0].sourcePath!, snapshotC);
        const shaC = verifySnapshotFileSync(snapshotC).sha256;
        const bad = plan(snapshotC, shaC);
        await expect(timed("it-recovery-next: update to bad snapshot C", () => first.live.update(bad.plan))).rejects.toThrow(
            new RegExp(`${names.etcd} was not started: [^\\n]*${bad.containerNames.snapshotCheck} exited with code [1-9]`),
        );
        expect(await first.live.logs(bad.containerNames.snapshotCheck)).toMatch(/checksum|invalid/i);

        // B keeps serving: the same etcd and kube-apiserver containers, running, and B's object is read through them.
        expect(first.live.containers[names.etcd].id).toBe(etcdOfB);
        expect(first.live.containers[names.kubeApiserver].id).toBe(apiserverOfB);
        expect((await first.live.inspect(names.etcd)).State.Running).toBe(true);
        expect((await get("only-in-b")).objects[0].data).toEqual({ snapshot: "b" });
        // B's volume is there, and C's one-shots (exited) and volume are left for inspection.
        expect(await volumes()).toEqual([planB.plan.volumes[0].name, bad.plan.volumes[0].name].sort());
        const shas = (await environment()).map(([, sha]) => sha);
        expect(shas.filter((sha) => sha === shaC)).toHaveLength(2);
        expect(shas.filter((sha) => sha !== shaC)).toHaveLength(4);
        for (const oneShot of [bad.containerNames.snapshotCheck, bad.containerNames.restore])
            expect((await first.live.inspect(oneShot)).State.ExitCode).not.toBe(0);

        // Back to B: nothing of B changes (no restore runs again), and C's leftovers are removed.
        const back = await timed("it-recovery-next: back to B after C", () => first.live.update(planB.plan));
        expect(back.created).toEqual([]);
        expect(back.replaced).toEqual([]);
        expect(back.deleted.sort()).toEqual([bad.containerNames.restore, bad.containerNames.snapshotCheck].sort());
        expect(back.steps.every((step) => step.startsWith("delete "))).toBe(true);
        expect(first.live.containers[names.etcd].id).toBe(etcdOfB);
        expect(await volumes()).toEqual([planB.plan.volumes[0].name]);
        expect((await environment()).map(([, sha]) => sha)).toEqual(
            Array(4).fill(planB.plan.containers[0].labels!["etcd-recovery.snapshot-sha256"]),
        );
        expect((await get("only-in-b")).objects[0].data).toEqual({ snapshot: "b" });
    });

    test("an update to snapshot D whose check and restore pass but on which etcd cannot start fails on etcd's health (the provider's wait); B's one-shots and volume stay, and back to B serves B without a second restore; without the wait (control) the same update reports success and B's one-shots are gone", async () => {
        const { first, plan, planB, snapshotA, get, environment, volumes, waitForApi } = updated;
        const names = planB.containerNames;
        const restoreOfB = first.live.containers[names.restore].id;
        const checkOfB = first.live.containers[names.snapshotCheck].id;
        const apiserverOfB = first.live.containers[names.kubeApiserver].id;
        const shaB = planB.plan.containers[0].labels!["etcd-recovery.snapshot-sha256"];
        // D: a good snapshot (A's file) on which etcd exits at once. No snapshot that etcdutl checks and restores but
        // etcd refuses is cheap to make, so a flag etcd refuses stands for it: either way etcd exits after the gate
        // passed, and its restart policy keeps it reading as running. The plan's wait (RECOVERY_ETCD_HEALTH_WAIT_SECONDS)
        // is shortened here so that the failure costs 20 s, not 5 minutes.
        const good = plan(snapshotA, verifySnapshotFileSync(snapshotA).sha256);
        const shaD = good.plan.containers[0].labels!["etcd-recovery.snapshot-sha256"];
        const withD = (wait: number | undefined) => ({
            ...good.plan,
            containers: good.plan.containers.map((c) =>
                c.name === names.etcd ? { ...c, command: [...c.command, "--no-such-flag"], waitHealthySeconds: wait } : c,
            ),
        });
        expect(good.plan.containers.find((c) => c.name === names.etcd)!.waitHealthySeconds).toBe(RECOVERY_ETCD_HEALTH_WAIT_SECONDS);

        await expect(
            timed("it-recovery-next: update to D (etcd cannot start), with the wait", () => first.live.update(withD(20))),
        ).rejects.toThrow(new RegExp(`creating ${names.etcd}: container failed to be in healthy state`));
        expect((await first.live.logs(names.etcd)).match(/no-such-flag/)).not.toBeNull();
        // The update failed at etcd: kube-apiserver got no step, and nothing was deleted at the end. B's one-shots
        // (same containers) and volume are there beside D's; D's etcd stays as the provider left it.
        expect(first.live.containers[names.kubeApiserver].id).toBe(apiserverOfB);
        expect(first.live.containers[names.restore].id).toBe(restoreOfB);
        expect(first.live.containers[names.snapshotCheck].id).toBe(checkOfB);
        expect(await volumes()).toEqual([planB.plan.volumes[0].name, good.plan.volumes[0].name].sort());
        const shas = (await environment()).map(([, sha]) => sha);
        expect(shas.filter((sha) => sha === shaD)).toHaveLength(3);
        expect(shas.filter((sha) => sha === shaB)).toHaveLength(3);

        // Back to B: only etcd is replaced (D's etcd by B's, on B's volume); no restore runs again.
        const back = await timed("it-recovery-next: back to B after D (with the wait)", () => first.live.update(planB.plan));
        expect(back.created).toEqual([]);
        expect(back.replaced).toEqual([names.etcd]);
        expect(back.deleted.sort()).toEqual([good.containerNames.restore, good.containerNames.snapshotCheck].sort());
        expect(first.live.containers[names.restore].id).toBe(restoreOfB);
        expect(first.live.containers[names.snapshotCheck].id).toBe(checkOfB);
        expect(await volumes()).toEqual([planB.plan.volumes[0].name]);
        await waitForApi();
        expect((await get("only-in-b")).objects[0].data).toEqual({ snapshot: "b" });

        // Control: the same update without the wait is what the engine saw before: success, etcd and kube-apiserver
        // replaced, B's one-shots and volume deleted at its end. Only the test's own health wait fails.
        await expect(
            timed("it-recovery-next: update to D without the wait (control)", () =>
                first.live.update(withD(undefined), { timeoutMs: 30_000 }),
            ),
        ).rejects.toThrow(new RegExp(`container ${names.etcd} is not healthy in time`));
        expect(first.live.exitCodes).toEqual({ [good.containerNames.snapshotCheck]: 0, [good.containerNames.restore]: 0 });
        expect(await volumes()).toEqual([good.plan.volumes[0].name]);
        expect((await environment()).map(([, sha]) => sha)).toEqual(Array(4).fill(shaD));

        // Back to B from there: B is checked and restored again, into a fresh volume (the snapshot file holds B).
        const again = await timed("it-recovery-next: back to B after D without the wait", () => first.live.update(planB.plan));
        expect(again.created.sort()).toEqual([names.restore, names.snapshotCheck].sort());
        expect(again.replaced.sort()).toEqual([names.etcd, names.kubeApiserver].sort());
        expect(again.deleted.sort()).toEqual([good.containerNames.restore, good.containerNames.snapshotCheck].sort());
        expect(await volumes()).toEqual([planB.plan.volumes[0].name]);
        await waitForApi();
        expect((await get("only-in-b")).objects[0].data).toEqual({ snapshot: "b" });
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
        const name = uniqueName("it-recovery-bad");
        const since = String(Math.floor(Date.now() / 1000) - 1);
        let oneShots: string[] = [];
        await withFreeSubnet(async (subnet) => {
            const addresses = recoveryAddresses(subnet);
            const env = planRecoveryEnvironment(
                {
                    name,
                    original,
                    snapshotPath: garbagePath,
                    snapshotSha256: fileSha256(garbagePath),
                    subnet: addresses.subnet,
                    etcdImage: ETCD_35_IMAGE,
                    kubeApiserverImage: KUBE_APISERVER_IMAGE,
                },
                issueRecoveryPki(name, addresses, original).files,
            );
            expect(env.plan.containers[0].name).toBe(env.containerNames.snapshotCheck);
            oneShots = [env.containerNames.restore, env.containerNames.snapshotCheck].sort();
            await expect(realizePlan(env.plan, { runId: RUN_ID, timeoutMs: 60_000 })).rejects.toThrow(
                new RegExp(
                    `${name}-etcd was not started: [^\\n]*${env.containerNames.snapshotCheck} exited with code 1[\\s\\S]*Error: invalid database`,
                ),
            );
        });
        // Only the check and the restore ever started (the engine's start events say so) ...
        const started = await run("docker", [
            "events",
            ...["--since", since, "--until", String(Math.ceil(Date.now() / 1000) + 1)],
            ...["--filter", `label=etcd-recovery.environment=${name}`, "--filter", "event=start", "--format", "{{.Actor.Attributes.name}}"],
        ]);
        expect(started.stdout.trim().split("\n").sort()).toEqual(oneShots);
        // ... and the harness removed what it created.
        const left = await run("docker", ["ps", "-a", "--filter", `label=etcd-recovery.environment=${name}`, "--format", "{{.Names}}"]);
        expect(left.stdout.trim()).toBe("");
    });
});

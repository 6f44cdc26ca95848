// The recovery environment's plan (mode single), its certificates, the
// snapshot file check, export cleaning and the readiness diagnosis.
import * as crypto from "crypto";
import * as fs from "fs";
import { fakeSnapshotContent } from "../support/fake-snapshot";
import * as os from "os";
import * as path from "path";
import { InputError } from "../../src/errors";
import {
    OriginalCluster,
    RecoveryFiles,
    cleanForApply,
    explainKubeApiserverLog,
    fromDockerInspectFiles,
    issueRecoveryPki,
    planRecoveryEnvironment,
    recoveryAddresses,
    selectionArgs,
    toApplyYaml,
    validateOriginalCluster,
    verifySnapshotFile,
    verifySnapshotFileSync,
} from "../../src/recovery";
import { bindToSnapshot } from "../../src/recovery/plan";
import { isIssuedBy } from "../../src/pki";

const FIXTURES = path.join(__dirname, "..", "fixtures", "recovery");
const seed000 = fromDockerInspectFiles(
    ["rke-k8s01-docker-inspect.json", "rke-k8s02-etcd-docker-inspect.json"].map((f) => ({
        json: fs.readFileSync(path.join(FIXTURES, f), "utf8"),
        fileName: f,
    })),
);
const ENCRYPTION = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: []\n";
const encrypted: OriginalCluster = validateOriginalCluster(
    {
        etcd: { members: [{ name: "m1", peerUrls: ["https://10.0.0.1:2380"] }] },
        kubeApiserver: { version: "1.30.2", args: [] },
        etcdPrefix: "/k8s",
        storageMediaType: "application/json",
        encryption: { configPath: "/etc/kubernetes/enc.yaml", content: ENCRYPTION },
        runtimeConfig: "api/all=true",
        featureGates: "SomeGate=true",
    },
    "test",
);

function fakeFiles(encryptionConfig?: string): RecoveryFiles<string> {
    const pair = (n: string) => ({ certPem: `${n}-cert`, keyPem: `${n}-key` });
    return {
        etcd: {
            caCertPem: "etcd-ca",
            serverCertPem: "s",
            serverKeyPem: "sk",
            peerCertPem: "p",
            peerKeyPem: "pk",
            healthcheckCertPem: "h",
            healthcheckKeyPem: "hk",
        },
        apiserverEtcdClient: pair("etcd-client"),
        kubeCaCertPem: "kube-ca",
        apiserverServing: pair("serving"),
        serviceAccount: { publicKeyPem: "sa-pub", privateKeyPem: "sa-key" },
        ...(encryptionConfig !== undefined ? { encryptionConfig } : {}),
    };
}

const base = { name: "incident-42", snapshotPath: "/backups/snap.db", snapshotSha256: "ab".repeat(32), subnet: "172.31.215.0/24" };

describe("planRecoveryEnvironment, mode single", () => {
    const env = planRecoveryEnvironment({ ...base, original: encrypted }, fakeFiles(ENCRYPTION));

    test("check beside restore → etcd (after both) → kube-apiserver on one internal network, nothing published", () => {
        expect(env.plan.networks).toEqual([
            expect.objectContaining({ name: "incident-42-net", subnet: "172.31.215.0/24", internal: true }),
        ]);
        expect(env.plan.containers.map((c) => [c.name, c.runToCompletion ?? false, c.after ?? []])).toEqual([
            ["incident-42-snapshot-check-abababababab", true, []],
            ["incident-42-etcd-restore-abababababab", true, []],
            ["incident-42-etcd", false, ["incident-42-etcd-restore-abababababab", "incident-42-snapshot-check-abababababab"]],
            ["incident-42-kube-apiserver", false, ["incident-42-etcd"]],
        ]);
        for (const c of env.plan.containers) expect(c.ports ?? []).toEqual([]);
        expect(env.plan.containers[0].network).toEqual({ none: true });
        expect(env.plan.containers[3].network).toEqual({
            name: "incident-42-net",
            ipv4Address: "172.31.215.20",
            aliases: ["kube-apiserver"],
        });
        expect(env.addresses).toEqual({
            subnet: "172.31.215.0/24",
            etcdIp: "172.31.215.11",
            apiserverIp: "172.31.215.20",
            apiUrl: "https://172.31.215.20:6443",
        });
        for (const c of env.plan.containers) expect(c.labels?.["etcd-recovery.environment"]).toBe("incident-42");
    });

    test("bound to the snapshot: a newer one gives fresh volumes and changes every container, so etcd and kube-apiserver are replaced too", () => {
        const newer = planRecoveryEnvironment({ ...base, snapshotSha256: "cd".repeat(32), original: encrypted }, fakeFiles(ENCRYPTION));
        expect(env.plan.volumes.map((v) => v.name)).toEqual(["incident-42-etcd-data-abababababab"]);
        expect(newer.plan.volumes.map((v) => v.name)).toEqual(["incident-42-etcd-data-cdcdcdcdcdcd"]);
        for (const [i, container] of env.plan.containers.entries()) {
            expect(container.labels?.["etcd-recovery.snapshot-sha256"]).toBe("ab".repeat(32));
            expect(newer.plan.containers[i].labels?.["etcd-recovery.snapshot-sha256"]).toBe("cd".repeat(32));
        }
        const etcd = (p: typeof env) => p.plan.containers.find((c) => c.name === p.containerNames.etcd)!;
        expect(etcd(env).mounts).toEqual([{ source: "incident-42-etcd-data-abababababab", target: "/var/lib/etcd" }]);
        expect(etcd(newer).mounts).toEqual([{ source: "incident-42-etcd-data-cdcdcdcdcdcd", target: "/var/lib/etcd" }]);
        // Unlike a cluster's seed, the restore runs for every snapshot.
        expect(env.plan.containers.some((c) => c.firstRunOnly)).toBe(false);
        expect(() =>
            planRecoveryEnvironment({ ...base, snapshotSha256: "not-a-hash", original: encrypted }, fakeFiles(ENCRYPTION)),
        ).toThrow(/snapshotSha256: "not-a-hash" — give the 64 hex digits that verifySnapshotFile reports/);
    });

    test("the one-shots are bound to the snapshot by name, etcd and kube-apiserver keep theirs: a new snapshot makes new one-shots, `after` follows", () => {
        const newer = planRecoveryEnvironment({ ...base, snapshotSha256: "cd".repeat(32), original: encrypted }, fakeFiles(ENCRYPTION));
        const shape = (p: typeof env) => p.plan.containers.map((c) => [c.name, c.after ?? []]);
        expect(shape(newer)).toEqual([
            ["incident-42-snapshot-check-cdcdcdcdcdcd", []],
            ["incident-42-etcd-restore-cdcdcdcdcdcd", []],
            ["incident-42-etcd", ["incident-42-etcd-restore-cdcdcdcdcdcd", "incident-42-snapshot-check-cdcdcdcdcdcd"]],
            ["incident-42-kube-apiserver", ["incident-42-etcd"]],
        ]);
        expect(newer.containerNames).toEqual({
            snapshotCheck: "incident-42-snapshot-check-cdcdcdcdcdcd",
            restore: "incident-42-etcd-restore-cdcdcdcdcdcd",
            etcd: "incident-42-etcd",
            kubeApiserver: "incident-42-kube-apiserver",
        });
        // Between the two snapshots, only the fixed names are shared: every one-shot and volume of the newer one is new.
        const names = (p: typeof env) => [...p.plan.containers.map((c) => c.name), ...p.plan.volumes.map((v) => v.name)];
        expect(names(newer).filter((n) => names(env).includes(n))).toEqual(["incident-42-etcd", "incident-42-kube-apiserver"]);
        for (const p of [env, newer]) {
            const byName = new Map(p.plan.containers.map((c) => [c.name, c]));
            // Every `after` names a container of the plan, and each one-shot's name is what containerNames says.
            for (const c of p.plan.containers) for (const a of c.after ?? []) expect(byName.has(a)).toBe(true);
            expect(byName.get(p.containerNames.snapshotCheck)?.runToCompletion).toBe(true);
            expect(byName.get(p.containerNames.restore)?.runToCompletion).toBe(true);
            expect(byName.get(p.containerNames.etcd)?.runToCompletion).toBeUndefined();
        }
        // bindToSnapshot renames the one-shots of any plan, and nothing else; a host path is never renamed.
        const bound = bindToSnapshot(
            {
                networks: [{ name: "n" }],
                volumes: [{ name: "data" }],
                containers: [
                    {
                        name: "once",
                        image: "i",
                        command: [],
                        files: [],
                        mounts: [{ source: "data", target: "/d" }],
                        network: { none: true },
                        runToCompletion: true,
                    },
                    {
                        name: "serve",
                        image: "i",
                        command: [],
                        files: [],
                        mounts: [
                            { source: "data", target: "/d" },
                            { source: "/srv", target: "/srv", hostPath: true },
                        ],
                        network: { name: "n" },
                        after: ["once"],
                    },
                ],
            },
            "0123456789ab".repeat(5) + "cdef",
        );
        expect(bound.containers.map((c) => [c.name, c.after, c.mounts.map((m) => m.source)])).toEqual([
            ["once-0123456789ab", undefined, ["data-0123456789ab"]],
            ["serve", ["once-0123456789ab"], ["data-0123456789ab", "/srv"]],
        ]);
        expect(bound.networks).toEqual([{ name: "n" }]);
    });

    test("the snapshot is checked with etcdutl, restored with etcdutl (3.5 image)", () => {
        const [check, restore] = env.plan.containers;
        expect([...(check.entrypoint ?? []), ...check.command]).toEqual([
            "/usr/local/bin/etcdutl",
            "snapshot",
            "status",
            "/var/lib/etcd-seed/snapshot.db",
            "--write-out=json",
        ]);
        expect(check.files).toEqual([{ path: "/var/lib/etcd-seed/snapshot.db", sourcePath: "/backups/snap.db", mode: 0o600 }]);
        expect(restore.entrypoint).toEqual(["/usr/local/bin/etcdutl"]);
        expect(restore.command.slice(0, 3)).toEqual(["snapshot", "restore", "/var/lib/etcd-seed/snapshot.db"]);
    });

    test("a 3.4 image checks and restores with etcdctl", () => {
        const old = planRecoveryEnvironment(
            { ...base, original: encrypted, etcdImage: "quay.io/coreos/etcd:v3.4.23" },
            fakeFiles(ENCRYPTION),
        );
        expect(old.plan.containers[0].entrypoint).toEqual(["/usr/local/bin/etcdctl"]);
        expect(old.plan.containers[1].entrypoint).toEqual(["/usr/local/bin/etcdctl"]);
    });

    test("kube-apiserver gets the data-shaping arguments and nothing that reaches out", () => {
        const args = env.kubeApiserverArgs;
        expect(args).toEqual(
            expect.arrayContaining([
                "--etcd-prefix=/k8s",
                "--storage-media-type=application/json",
                "--encryption-provider-config=/etc/kubernetes/recovery/encryption-config.yaml",
                "--runtime-config=api/all=true",
                "--feature-gates=SomeGate=true",
                "--etcd-servers=https://172.31.215.11:2379",
                "--authorization-mode=RBAC",
                "--anonymous-auth=false",
                "--enable-admission-plugins=NamespaceLifecycle",
                "--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy",
            ]),
        );
        expect(args.join(" ")).not.toMatch(/kubelet|cloud|webhook-config|authentication-token-webhook|audit-webhook|oidc/);
        expect(env.plan.containers[3].command).toEqual(args);
    });

    test("only the original's data-shaping arguments are carried over from seed 000", () => {
        const rke = planRecoveryEnvironment({ ...base, original: seed000 }, fakeFiles());
        const carried = rke.kubeApiserverArgs.filter((a) => seed000.kubeApiserver.args.includes(a));
        expect(carried.sort()).toEqual(
            [
                "--etcd-prefix=/registry",
                "--runtime-config=authorization.k8s.io/v1beta1=true",
                "--service-cluster-ip-range=10.233.0.0/18",
                "--secure-port=6443",
                "--anonymous-auth=false",
                "--bind-address=0.0.0.0",
                "--profiling=false",
            ].sort(),
        );
        // The image follows the original's version by default.
        expect(rke.kubeApiserverImage).toBe("registry.k8s.io/kube-apiserver:v1.15.3");
    });

    test("private keys and the encryption config are 0600 secret files, never arguments", () => {
        const apiserver = env.plan.containers[3];
        const secrets = apiserver.files.filter((f) => f.secret).map((f) => [f.path, f.mode]);
        expect(secrets).toEqual([
            ["/etc/kubernetes/recovery/apiserver-etcd-client.key", 0o600],
            ["/etc/kubernetes/recovery/apiserver.key", 0o600],
            ["/etc/kubernetes/recovery/sa.key", 0o600],
            ["/etc/kubernetes/recovery/encryption-config.yaml", 0o600],
        ]);
        const everyArgument = env.plan.containers
            .flatMap((c) => [...(c.entrypoint ?? []), ...c.command, ...Object.values(c.env ?? {})])
            .join(" ");
        for (const content of ["serving-key", "etcd-client-key", "sa-key", "EncryptionConfiguration", "hk"])
            expect(everyArgument).not.toContain(content);
    });

    test.each([
        [{ name: "Incident" }, "name"],
        [{ mode: "replica" }, "mode"],
        [{ snapshotPath: "" }, "snapshotPath"],
        [{ subnet: "172.31.215.0/29" }, "subnet"],
        [{ subnet: "not-a-subnet" }, "subnet"],
        [{ kubeApiserverImage: "has space" }, "kubeApiserverImage"],
        [{ etcdImage: "my/etcd:latest" }, "etcdVersion"],
    ])("%j is refused (%s)", (override, argument) => {
        let error: unknown;
        try {
            planRecoveryEnvironment({ ...base, original: encrypted, ...(override as object) }, fakeFiles(ENCRYPTION));
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(InputError);
        expect((error as InputError).argument).toBe(argument);
    });

    test("an original that encrypts, without the encryption config, is refused with the reason", () => {
        expect(() => planRecoveryEnvironment({ ...base, original: encrypted }, fakeFiles())).toThrow(
            /encryptionConfig: missing — the original kube-apiserver encrypts resources with \/etc\/kubernetes\/enc\.yaml .*cannot be read — provide it/,
        );
    });
});

describe("issueRecoveryPki", () => {
    test("fresh certificates for the environment's addresses; the admin is system:masters", () => {
        const addresses = recoveryAddresses("172.31.215.0/24");
        const pki = issueRecoveryPki("incident-42", addresses, encrypted);
        expect(isIssuedBy(pki.files.apiserverServing.certPem, pki.kubeCaCertPem)).toBe(true);
        expect(isIssuedBy(pki.admin.certPem, pki.kubeCaCertPem)).toBe(true);
        expect(isIssuedBy(pki.files.apiserverEtcdClient.certPem, pki.files.etcd.caCertPem)).toBe(true);
        expect(pki.files.encryptionConfig).toBe(ENCRYPTION);
        const { X509Certificate } = crypto;
        const serving = new X509Certificate(pki.files.apiserverServing.certPem);
        expect(serving.subjectAltName).toContain("IP Address:172.31.215.20");
        expect(new X509Certificate(pki.admin.certPem).subject).toContain("O=system:masters");
    });
});

describe("verifySnapshotFile", () => {
    let dir: string;
    beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "recovery-snap-"))));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** A bbolt-looking database of `pages` pages followed by its SHA-256, as etcdctl snapshot save writes. */
    function snapshotFile(name: string, pages = 4): { file: string; content: Buffer } {
        const content = fakeSnapshotContent(pages, 7);
        const file = path.join(dir, name);
        fs.writeFileSync(file, content);
        return { file, content };
    }

    test("an intact file passes with its size and hash", async () => {
        const { file, content } = snapshotFile("ok.db");
        const expected = {
            path: file,
            sizeBytes: content.length,
            sha256: content.subarray(-32).toString("hex"),
            modifiedAt: fs.statSync(file).mtime.toISOString(),
        };
        await expect(verifySnapshotFile(file)).resolves.toEqual(expected);
        expect(verifySnapshotFileSync(file)).toEqual(expected);
    });

    test.each([
        ["a flipped byte", (c: Buffer) => ((c[5000] ^= 1), c), /is corrupt: the SHA-256/],
        ["a cut end", (c: Buffer) => c.subarray(0, c.length - 100), /is truncated or corrupt/],
        ["no hash (a copied member db)", (c: Buffer) => c.subarray(0, c.length - 32), /has no integrity hash/],
        ["no bbolt header", (c: Buffer) => (c.writeUInt32LE(0, 16), c), /not an etcd snapshot/],
        ["a tiny file", () => Buffer.from("hello"), /truncated or not an etcd snapshot/],
    ])("%s is refused", async (_what, damage, message) => {
        const { file, content } = snapshotFile("damaged.db");
        fs.writeFileSync(file, damage(Buffer.from(content)));
        await expect(verifySnapshotFile(file)).rejects.toThrow(message);
        expect(() => verifySnapshotFileSync(file)).toThrow(message);
    });

    test("a missing file", async () => {
        await expect(verifySnapshotFile(path.join(dir, "nope.db"))).rejects.toThrow(/cannot be read/);
    });
});

describe("cleanForApply", () => {
    const configMap = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
            name: "app-config",
            namespace: "shop",
            uid: "u1",
            resourceVersion: "42",
            generation: 3,
            creationTimestamp: "2024-01-01T00:00:00Z",
            managedFields: [{ manager: "kubectl" }],
            selfLink: "/api/v1/x",
            labels: { app: "shop" },
            annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}", keep: "me" },
            ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: "owner-uid" }],
            finalizers: ["example.com/keep"],
        },
        data: { a: "1" },
        status: { x: 1 },
    };

    test("server-set fields go, intent stays, dropped owner references are reported", () => {
        const { object, notes } = cleanForApply(configMap);
        expect(object).toEqual({
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: {
                name: "app-config",
                namespace: "shop",
                labels: { app: "shop" },
                annotations: { keep: "me" },
                finalizers: ["example.com/keep"],
            },
            data: { a: "1" },
        });
        expect(notes).toEqual([
            expect.stringMatching(/ConfigMap shop\/app-config: dropped ownerReference to Deployment web \(uid owner-uid/),
        ]);
        expect(configMap.metadata.uid).toBe("u1"); // the input is untouched
    });

    test("owner references can be kept deliberately", () => {
        expect(cleanForApply(configMap, { ownerReferences: "keep" }).object.metadata.ownerReferences).toHaveLength(1);
    });

    test("a Service loses its allocated cluster IP unless headless", () => {
        const svc = (clusterIP: string) =>
            cleanForApply({
                apiVersion: "v1",
                kind: "Service",
                metadata: { name: "s" },
                spec: { clusterIP, clusterIPs: [clusterIP], ports: [{ port: 80 }] },
            }).object.spec;
        expect(svc("10.96.0.10")).toEqual({ ports: [{ port: 80 }] });
        expect(svc("None").clusterIP).toBe("None");
    });

    test("not an object", () => {
        expect(() => cleanForApply({ metadata: {} })).toThrow(InputError);
    });

    test("toApplyYaml writes one document per object", () => {
        expect(
            toApplyYaml([
                { kind: "A", apiVersion: "v1" },
                { kind: "B", apiVersion: "v1" },
            ]),
        ).toBe("---\nkind: A\napiVersion: v1\n---\nkind: B\napiVersion: v1\n");
    });
});

describe("selectionArgs", () => {
    test.each([
        [{ kind: "configmaps", namespace: "shop", name: "app-config" }, ["get", "configmaps", "app-config", "--namespace", "shop"]],
        [
            { kind: "secrets", namespace: "shop", labelSelector: "app=shop" },
            ["get", "secrets", "--namespace", "shop", "--selector", "app=shop"],
        ],
        [{ kind: "widgets.example.com", allNamespaces: true }, ["get", "widgets.example.com", "--all-namespaces"]],
    ])("%j", (selection, args) => {
        expect(selectionArgs(selection)).toEqual(args);
    });

    test.each([
        [{ kind: "configmaps; rm -rf /" }, "selections[0].kind"],
        [{ kind: "configmaps", name: "a", labelSelector: "b=c" }, "selections[0].labelSelector"],
        [{ kind: "configmaps", allNamespaces: true, namespace: "x" }, "selections[0].allNamespaces"],
        [{ kind: "configmaps", name: "Bad Name" }, "selections[0].name"],
    ])("%j is refused at %s", (selection, argument) => {
        expect(() => selectionArgs(selection)).toThrow(expect.objectContaining({ argument }));
    });
});

describe("explainKubeApiserverLog", () => {
    test("names the kind, a key and the fix when the log shows undecryptable data", () => {
        const log = `I1123 ok\nE1123 reflector.go:205] "Failed to watch" err="failed to list *v1.Secret: Internal error occurred: unable to transform key \\"/registry/secrets/shop/db\\": identity transformer tried to read encrypted data"\n`;
        expect(explainKubeApiserverLog(log)).toMatch(
            /^the snapshot holds Secret objects encrypted at rest \(e\.g\. \/registry\/secrets\/shop\/db\).*Provide the original cluster's EncryptionConfiguration/,
        );
    });

    test("says nothing for an ordinary log", () => {
        expect(explainKubeApiserverLog("I1123 Caches are synced\n")).toBeUndefined();
    });
});

// RecoveryEnvironment under Pulumi mocks: the resource graph, which outputs
// and uploads are secret, the snapshot revision, and bad input refused before
// any child exists. Names and subnets of side-by-side environments (pure).
import * as fs from "fs";
import { registrationsSettled } from "../support/mock-registrations";
import { writeFakeSnapshot } from "../support/fake-snapshot";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { Registered, SECRET_SIG, installRecordingMocks } from "../support/recording-mocks";

const STATUS_LOG = '{"hash":1234,"revision":4711,"totalKey":99,"totalSize":20480}\n';
const registered = installRecordingMocks("etcd-recovery", "incident-42", (args) =>
    args.type === "docker:index/container:Container" && args.inputs.logs ? { containerLogs: STATUS_LOG } : {},
);

import {
    OriginalCluster,
    RecoveryEnvironment,
    RecoveryEnvironmentArgs,
    assertNoCollision,
    assertSubnetAvoidsOriginal,
    deriveRecoveryNaming,
    hostGuardCommands,
    revisionFromStatusLog,
    subnetsOverlap,
    validateOriginalCluster,
    verifySnapshotFileSync,
} from "../../src/recovery";

const value = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));
const ENCRYPTION = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: []\n";

let dir: string;
let snapshotPath: string;
const original: OriginalCluster = validateOriginalCluster(
    {
        etcd: {
            version: "3.4.23",
            members: [{ name: "etcd-1", peerUrls: ["https://10.40.0.11:2380"], clientUrls: ["https://10.40.0.11:2379"] }],
        },
        kubeApiserver: { version: "1.34.4", args: [] },
        encryption: { configPath: "/etc/kubernetes/enc.yaml", content: ENCRYPTION },
    },
    "test description",
);
const IMAGES = { etcdImage: "etcd-recovery/etcd:3.5.35", kubeApiserverImage: "etcd-recovery/kube-apiserver:v1.34.4" };
const args = (extra: Partial<RecoveryEnvironmentArgs> = {}): RecoveryEnvironmentArgs => ({ original, snapshotPath, ...IMAGES, ...extra });

beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "recovery-env-unit-"));
    snapshotPath = path.join(dir, "snapshot.db");
    writeFakeSnapshot(snapshotPath);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
    // The previous test's registrations still in flight must not land in this one.
    await registrationsSettled();
    registered.length = 0;
});

async function settled(env: RecoveryEnvironment): Promise<void> {
    await value(pulumi.all(Object.values(env.docker.containers).map((c) => c.id)));
    await value(env.kubeconfig);
}

describe("RecoveryEnvironment (mocks)", () => {
    test("graph: etcd PKI, kube CA and certificates, one internal network, a volume, four containers in order, all under the component", async () => {
        const env = new RecoveryEnvironment("recovery", args());
        await settled(env);
        const names = (type: string) => registered.filter((r) => r.type === type).map((r) => r.name);
        expect(names("etcd-recovery:index:RecoveryEnvironment")).toEqual(["recovery"]);
        expect(names("etcd-recovery:index:EtcdPki")).toEqual(["recovery-etcd-pki"]);
        expect(names("pulumi-nodejs:dynamic/etcd-recovery:CertificateAuthority").sort()).toEqual([
            "recovery-etcd-pki-ca",
            "recovery-kube-ca",
        ]);
        expect(names("pulumi-nodejs:dynamic/etcd-recovery:Certificate")).toEqual(
            expect.arrayContaining([
                "recovery-apiserver-serving",
                "recovery-admin",
                "recovery-service-account",
                "recovery-etcd-pki-etcd-server",
                "recovery-etcd-pki-apiserver-client",
            ]),
        );
        // Docker names come from the stack and the component name.
        expect(names("docker:index/network:Network")).toEqual(["incident-42-recovery-net"]);
        // The data volume is bound to the snapshot (its short SHA-256): a new snapshot gets a fresh one.
        const sha256 = verifySnapshotFileSync(snapshotPath).sha256;
        expect(names("docker:index/volume:Volume")).toEqual([`incident-42-recovery-etcd-data-${sha256.slice(0, 12)}`]);
        // So are the one-shots (check and restore): a new snapshot makes new ones beside the running environment.
        expect(names("docker:index/container:Container")).toEqual([
            `incident-42-recovery-snapshot-check-${sha256.slice(0, 12)}`,
            `incident-42-recovery-etcd-restore-${sha256.slice(0, 12)}`,
            "incident-42-recovery-etcd",
            "incident-42-recovery-kube-apiserver",
        ]);
        const network = registered.find((r) => r.type === "docker:index/network:Network")!.inputs;
        expect(network.internal).toBe(true);
        expect(network.ipamConfigs).toEqual([expect.objectContaining({ subnet: deriveRecoveryNaming("incident-42", "recovery").subnet })]);
        const containers = registered.filter((r) => r.type === "docker:index/container:Container").map((r) => r.inputs);
        for (const c of containers) expect(c.ports).toEqual([]);
        expect(containers[0]!.networkMode).toBe("none");
        expect(await value(env.docker.containers["incident-42-recovery-kube-apiserver"]!.urn)).toBe(
            "urn:pulumi:incident-42::etcd-recovery::etcd-recovery:index:RecoveryEnvironment$docker:index/container:Container::incident-42-recovery-kube-apiserver",
        );
        // The host guard: an iptables rule for this subnet, created by a local command before the containers.
        const guard = registered.find((r) => r.type === "command:local:Command")!;
        expect(guard.name).toBe("recovery-host-guard");
        expect(guard.inputs.create).toBe(
            hostGuardCommands("incident-42-recovery", deriveRecoveryNaming("incident-42", "recovery").subnet).create,
        );
        expect(guard.inputs.delete).toMatch(/^while iptables -D INPUT -s 172\.30\.\d+\.0\/24 .* -j DROP 2>\/dev\/null; do :; done$/);
        expect(await value(env.etcdPki.urn)).toContain(
            "etcd-recovery:index:RecoveryEnvironment$etcd-recovery:index:EtcdPki::recovery-etcd-pki",
        );
    });

    test("guardHost: false leaves the host's firewall alone", async () => {
        const env = new RecoveryEnvironment(
            "noguard",
            args({ environmentName: "noguard-env", subnet: "172.31.79.0/24", guardHost: false }),
        );
        await settled(env);
        expect(env.hostGuard).toBeUndefined();
        expect(registered.filter((r) => r.type === "command:local:Command")).toEqual([]);
    });

    test("outputs: API URL, snapshot revision (from the check container's log), time and hash; kubeconfig is the only secret one", async () => {
        const env = new RecoveryEnvironment("outs", args({ environmentName: "outs-env", subnet: "172.31.77.0/24" }));
        await settled(env);
        expect(await value(env.apiUrl)).toBe("https://172.31.77.20:6443");
        expect(await value(env.snapshotRevision)).toBe(4711);
        expect(await value(env.snapshotTime)).toBe(fs.statSync(snapshotPath).mtime.toISOString());
        expect(await value(env.snapshotSha256)).toMatch(/^[0-9a-f]{64}$/);
        expect(await value(env.environmentName)).toBe("outs-env");
        expect(await pulumi.isSecret(env.kubeconfig)).toBe(true);
        const kubeconfig = await value(env.kubeconfig);
        expect(kubeconfig).toContain("server: https://172.31.77.20:6443");
        expect(kubeconfig).toContain(`client-key-data: ${Buffer.from("SECRET-KEY(outs-admin)").toString("base64")}`);
        for (const plain of [env.apiUrl, env.caCertPem, env.containerNames, env.snapshotTime, env.subnet]) {
            expect(await pulumi.isSecret(plain as pulumi.Output<unknown>)).toBe(false);
            expect(JSON.stringify(await value(plain as pulumi.Output<unknown>))).not.toMatch(/SECRET-KEY|EncryptionConfiguration/);
        }
    });

    test("private keys and the encryption config are uploaded 0600 as secrets, never in arguments", async () => {
        const env = new RecoveryEnvironment("sec", args({ environmentName: "sec-env", subnet: "172.31.78.0/24" }));
        await settled(env);
        const apiserver = registered.find((r) => r.name === "sec-env-kube-apiserver")!;
        // Uploads holding a secret reach the engine as a secret (encrypted in state)...
        expect(apiserver.wire.uploads[SECRET_SIG]).toBeDefined();
        const uploads = apiserver.inputs.uploads as { file: string; content: string; permissions: string }[];
        const plannedFiles = env.plan.plan.containers.find((c) => c.name === "sec-env-kube-apiserver")!.files;
        for (const file of ["apiserver-etcd-client.key", "apiserver.key", "sa.key", "encryption-config.yaml"]) {
            expect(uploads.find((u) => u.file.endsWith(`/${file}`))!.permissions).toBe("0600");
            // ...and each key is a secret Output in the program.
            expect(await pulumi.isSecret(plannedFiles.find((f) => f.path.endsWith(`/${file}`))!.content!)).toBe(true);
        }
        expect(uploads.find((u) => u.file.endsWith("/encryption-config.yaml"))!.content).toBe(ENCRYPTION);
        // The service-account verifying key is the signer's certificate.
        expect(uploads.find((u) => u.file.endsWith("/sa.pub"))!.content).toBe("CERT(sec-service-account)");
        expect(JSON.stringify(apiserver.inputs.command)).not.toMatch(/SECRET-KEY|EncryptionConfiguration/);
        expect(apiserver.inputs.command).toContain("--encryption-provider-config=/etc/kubernetes/recovery/encryption-config.yaml");
        const etcd = registered.find((r) => r.name === "sec-env-etcd")!;
        expect(etcd.wire.uploads[SECRET_SIG]).toBeDefined();
    });

    const dockerOrCertificate = (r: Registered) => r.type.startsWith("docker:") || r.type.startsWith("pulumi-nodejs:dynamic");

    test.each<[string, () => Partial<RecoveryEnvironmentArgs>, RegExp]>([
        [
            "a corrupt snapshot",
            () => ({ snapshotPath: corrupt() }),
            /snapshot .*corrupt\.db is corrupt: the SHA-256 of its database does not match/,
        ],
        ["a missing snapshot", () => ({ snapshotPath: path.join(dir, "none.db") }), /snapshot .*none\.db cannot be read/],
        [
            "a subnet holding a production address",
            () => ({ subnet: "10.40.0.0/24" }),
            /subnet: "10\.40\.0\.0\/24" — it contains 10\.40\.0\.11, an address of the original cluster/,
        ],
        [
            "no encryption config for an encrypting original",
            () => ({ original: { ...original, encryption: { configPath: "/etc/kubernetes/enc.yaml" } } }),
            /encryptionConfig: missing — the original kube-apiserver encrypts/,
        ],
        ["a bad environment name", () => ({ environmentName: "Bad_Name" }), /name: "Bad_Name" — use a DNS-1123 label/],
        ["an unknown mode", () => ({ mode: "bogus" as any }), /mode: "bogus" — use "single"/],
        ["a broken description", () => ({ original: { ...original, etcdPrefix: "registry" } }), /original: etcdPrefix: "registry"/],
        [
            "an export without a selection",
            () => ({ exportOnUp: { directory: dir, selections: [] } }),
            /exportOnUp\.selections: \[\] — select at least one kind/,
        ],
        [
            "an export of a bad kind",
            () => ({ exportOnUp: { directory: dir, selections: [{ kind: "config maps" }] } }),
            /selections\[0\]\.kind: "config maps" — give a resource name/,
        ],
        [
            "an export without a directory",
            () => ({ exportOnUp: { directory: "", selections: [{ kind: "configmaps" }] } }),
            /exportOnUp\.directory: "" — give the directory/,
        ],
    ])("%s fails the preview before any child exists", async (_what, extra, message) => {
        expect(() => new RecoveryEnvironment(`bad-${registered.length}-${Math.random().toString(36).slice(2, 7)}`, args(extra()))).toThrow(
            message,
        );
        await registrationsSettled();
        expect(registered.filter(dockerOrCertificate)).toEqual([]);
    });

    test("exportOnUp: one RecoveryExport after the kube-apiserver container, kubeconfig secret on the wire, the file as an output", async () => {
        const exportDir = path.join(dir, "exports");
        const env = new RecoveryEnvironment(
            "with-export",
            args({ exportOnUp: { directory: exportDir, selections: [{ kind: "configmaps", namespace: "shop", name: "app-config" }] } }),
        );
        await settled(env);
        await value(env.exportedFile!);
        const exported = registered.filter((r) => r.type === "pulumi-nodejs:dynamic/etcd-recovery:RecoveryExport");
        expect(exported.map((r) => r.name)).toEqual(["with-export-export"]);
        const inputs = exported[0]!.inputs;
        expect(inputs).toMatchObject({
            environmentName: "incident-42-with-export",
            directory: exportDir,
            selections: [{ kind: "configmaps", namespace: "shop", name: "app-config" }],
            ownerReferences: "drop",
            kubectl: "kubectl",
        });
        expect(inputs.kubeconfig).toContain("client-key-data");
        expect(exported[0]!.wire.kubeconfig[SECRET_SIG]).toBeDefined();
        expect(inputs.snapshotSha256).toMatch(/^[0-9a-f]{64}$/);
        // Without exportOnUp there is no export resource and no output.
        expect(new RecoveryEnvironment("without-export", args()).exportedFile).toBeUndefined();
    });

    test("two environments in one program: derived names and subnets differ; an explicit collision is refused with a clear error", async () => {
        const a = new RecoveryEnvironment("side-a", args());
        const b = new RecoveryEnvironment("side-b", args());
        expect(await value(a.environmentName)).not.toBe(await value(b.environmentName));
        expect(subnetsOverlap(await value(a.subnet), await value(b.subnet))).toBe(false);
        expect(() => new RecoveryEnvironment("side-c", args({ environmentName: "incident-42-side-a" }))).toThrow(
            /environmentName: "incident-42-side-a" — another recovery environment on this Docker host already uses this name/,
        );
        const taken = await value(a.subnet);
        expect(() => new RecoveryEnvironment("side-d", args({ subnet: taken }))).toThrow(
            new RegExp(`it overlaps ${taken.replace(/[./]/g, "\\$&")} of recovery environment "incident-42-side-a"`),
        );
    });

    function corrupt(): string {
        const file = path.join(dir, "corrupt.db");
        const content = fs.readFileSync(snapshotPath);
        content[6000] ^= 0xff;
        fs.writeFileSync(file, content);
        return file;
    }
});

describe("names and subnets of side-by-side environments (pure)", () => {
    test("derived deterministically from stack and environment name", () => {
        expect(deriveRecoveryNaming("incident-42", "recovery")).toEqual(deriveRecoveryNaming("incident-42", "recovery"));
        const a = deriveRecoveryNaming("incident-42", "recovery");
        expect(a.name).toBe("incident-42-recovery");
        expect(a.subnet).toMatch(/^172\.30\.\d{1,3}\.0\/24$/);
        expect(deriveRecoveryNaming("Incident_43", "Recovery").name).toBe("incident-43-recovery");
    });

    test("different stacks get different names, and subnets spread over the pool", () => {
        const stacks = Array.from({ length: 40 }, (_, i) => deriveRecoveryNaming(`incident-${i}`, "recovery"));
        expect(new Set(stacks.map((s) => s.name)).size).toBe(40);
        // 40 names over 256 slots: a few may share one (then give subnet explicitly); most must not.
        expect(new Set(stacks.map((s) => s.subnet)).size).toBeGreaterThan(30);
    });

    test("long names are cut to fit Docker's container names and stay distinct", () => {
        const long = "a-very-long-incident-stack-name-for-the-outage-of-tuesday";
        const one = deriveRecoveryNaming(long, "recovery-one");
        const two = deriveRecoveryNaming(long, "recovery-two");
        expect(one.name).not.toBe(two.name);
        for (const n of [one, two]) {
            expect(`${n.name}-snapshot-check`.length).toBeLessThanOrEqual(63);
            expect(n.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        }
        expect(() => deriveRecoveryNaming("___", "...")).toThrow(/give environmentName explicitly/);
    });

    test("collisions: same name, overlapping subnets, production addresses", () => {
        const a = { name: "a", subnet: "172.30.1.0/24" };
        expect(() => assertNoCollision({ name: "b", subnet: "172.30.2.0/24" }, [a])).not.toThrow();
        expect(() => assertNoCollision({ name: "a", subnet: "172.30.2.0/24" }, [a])).toThrow(/already uses this name/);
        expect(() => assertNoCollision({ name: "b", subnet: "172.30.0.0/16" }, [a])).toThrow(
            /overlaps 172\.30\.1\.0\/24 of recovery environment "a"/,
        );
        expect(() => assertSubnetAvoidsOriginal("172.30.1.0/24", original)).not.toThrow();
        expect(() => assertSubnetAvoidsOriginal("10.40.0.0/16", original)).toThrow(/contains 10\.40\.0\.11/);
    });

    test("host guard commands: one DROP rule for NEW connections from the subnet, idempotent create and delete", () => {
        const g = hostGuardCommands("incident-42-recovery", "172.30.5.0/24");
        const spec = "INPUT -s 172.30.5.0/24 -m conntrack --ctstate NEW -m comment --comment etcd-recovery:incident-42-recovery -j DROP";
        expect(g.create).toBe(`iptables -C ${spec} 2>/dev/null || iptables -I ${spec}`);
        expect(g.delete).toBe(`while iptables -D ${spec} 2>/dev/null; do :; done`);
        expect(g.check).toBe(`iptables -C ${spec}`);
        expect(() => hostGuardCommands("x;rm -rf /", "172.30.5.0/24")).toThrow(/DNS-1123/);
        expect(() => hostGuardCommands("ok", "10.0.0.0/8")).toThrow(/use a \/16 or smaller/);
        expect(() => hostGuardCommands("ok", "172.30.5.0/24", "iptables; reboot")).toThrow(/path of the iptables binary/);
    });

    test("the revision is read from etcdutl/etcdctl snapshot status JSON", () => {
        expect(revisionFromStatusLog(STATUS_LOG)).toBe(4711);
        expect(revisionFromStatusLog("Error: invalid database")).toBeUndefined();
        expect(revisionFromStatusLog(undefined)).toBeUndefined();
    });
});

/**
 * etcd-recovery from another language: examples/yaml-pki, a Pulumi YAML
 * program that uses EtcdPki through this checkout as a plugin package
 * (plugin/pulumi-resource-etcd-recovery, src/provider.ts), run by the YAML
 * language host built from the pulumi-yaml module (scripts/tools.sh
 * language-yaml): `pulumi package get-schema`, then `pulumi up`,
 * `preview --expect-no-changes` and `destroy` under the real engine, offline.
 * examples/yaml-backup does the same with an EtcdBackup through the real
 * kubernetes provider against a throw-away etcd + kube-apiserver.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { run } from "../harness/exec";
import {
    BackupProgram,
    expectBackupObjectsGone,
    expectCredentialsOnlyInStoreSecret,
    expectSecretsOnlyAsCiphertext,
    startBackupProgram,
} from "../support/backup-program";
import { requireTool } from "../support/processes";
import { OfflineStack, offlineEnv, offlineStack, runPulumi, uniqueStackName } from "../support/pulumi";
import { expectPkiProgramLifecycle } from "../support/pki-program";

jest.setTimeout(10 * 60_000);

const REPO = path.resolve(__dirname, "../..");
const EXAMPLE = path.join(REPO, "examples/yaml-pki");
const RESTORE_EXAMPLE = path.join(REPO, "examples/yaml-restore-plan");
const BACKUP_EXAMPLE = path.join(REPO, "examples/yaml-backup");
const PROVIDER = path.join(REPO, "plugin/pulumi-resource-etcd-recovery");

let stack: OfflineStack | undefined;

beforeAll(async () => {
    requireTool("pulumi-language-yaml");
    // The plugin runs bin/provider.js: build it from this checkout's sources as `npm install` / prepare does
    // (tsc, then the .sh files the backup modules read when they load: EtcdBackup is served too).
    await run("npm", ["run", "build"], { cwd: REPO, timeoutMs: 300_000 });
});

afterAll(async () => {
    if (stack) {
        await stack.stack.destroy().catch(() => undefined);
        await stack.cleanup().catch(() => undefined);
    }
});

test("pulumi package get-schema prints the components with their arguments, descriptions and enums", async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-schema-"));
    try {
        const schema = JSON.parse(await runPulumi(["package", "get-schema", PROVIDER], REPO, offlineEnv(stateDir))) as {
            name: string;
            dependencies?: unknown[];
            resources: Record<
                string,
                {
                    isComponent: boolean;
                    inputProperties: Record<string, { description?: string; $ref?: string }>;
                    requiredInputs?: string[];
                    properties: Record<string, unknown>;
                }
            >;
            types: Record<
                string,
                {
                    enum?: { value: string }[];
                    properties?: Record<string, { $ref?: string; type?: string; description?: string; items?: { $ref?: string } }>;
                }
            >;
        };
        expect(schema.name).toBe("etcd-recovery");
        const pki = schema.resources["etcd-recovery:index:EtcdPki"]!;
        expect(pki.isComponent).toBe(true);
        expect(pki.requiredInputs).toEqual(["clusterName", "members"]);
        expect(pki.inputProperties.earlyRenewalHours!.description).toContain("Default 720");
        expect(pki.inputProperties.keyAlgorithm!.$ref).toBe("#/types/etcd-recovery:index:EtcdKeyAlgorithm");
        expect(schema.types["etcd-recovery:index:EtcdKeyAlgorithm"]!.enum!.map((e) => e.value)).toEqual(["rsa", "ecdsa"]);
        expect(Object.keys(pki.properties)).toEqual(
            expect.arrayContaining(["caCertPem", "caKeyPem", "memberCertificates", "apiserverClient", "cfsslFiles", "kubeadmFiles"]),
        );
        // TypeScript-only: the generic EtcdPkiPems has no schema type.
        expect(Object.keys(pki.properties)).not.toContain("pems");

        const restore = schema.resources["etcd-recovery:index:ControlPlaneRestore"]!;
        expect(restore.requiredInputs).toEqual(["etcdVersion", "layout", "nodes", "snapshot"]);
        expect(restore.inputProperties.layout!.$ref).toBe("#/types/etcd-recovery:index:LayoutPreset");
        expect(schema.types["etcd-recovery:index:LayoutPreset"]!.enum!.map((e) => e.value)).toEqual(["kubeadm", "rke", "kubespray"]);
        // Sorted: the analyzer lists an enum's values in the order TypeScript created the literal types, and
        // "control-plane" and "etcd" are also values of EtcdBackup's BackupNodeRole, which it reads first.
        expect(schema.types["etcd-recovery:index:NodeRole"]!.enum!.map((e) => e.value).sort()).toEqual(["both", "control-plane", "etcd"]);
        expect(schema.types["etcd-recovery:index:RestoreMode"]!.enum!.map((e) => e.value)).toEqual(["all-members", "quorum-lost"]);
        expect(Object.keys(restore.properties).sort()).toEqual(["dryRun", "report", "stepIds", "stepOutputs"]);

        const enumValues = (name: string) => schema.types[`etcd-recovery:index:${name}`]!.enum!.map((e) => e.value);
        const cluster = schema.resources["etcd-recovery:index:EtcdCluster"]!;
        expect(cluster.isComponent).toBe(true);
        expect(cluster.requiredInputs ?? []).toEqual([]);
        expect(cluster.inputProperties.size!.description).toContain("3 (default)");
        expect(cluster.inputProperties.network!.$ref).toBe("#/types/etcd-recovery:index:EtcdNetworkInput");
        expect(schema.types["etcd-recovery:index:EtcdNetworkInput"]!.properties!.mode!.$ref).toBe(
            "#/types/etcd-recovery:index:EtcdNetworkMode",
        );
        expect(enumValues("EtcdNetworkMode")).toEqual(["bridge", "host"]);
        expect(schema.types["etcd-recovery:index:EtcdTunables"]!.properties!.autoCompactionMode!.$ref).toBe(
            "#/types/etcd-recovery:index:EtcdAutoCompactionMode",
        );
        expect(enumValues("EtcdAutoCompactionMode")).toEqual(["periodic", "revision"]);
        // The docker provider is TypeScript-only (Any here): a reference would need the docker plugin just to read this schema.
        expect(cluster.inputProperties.dockerProvider!.$ref).toBe("pulumi.json#/Any");
        expect(schema.dependencies ?? []).toEqual([]);
        expect(Object.keys(cluster.properties).sort()).toEqual([
            "caCertPem",
            "clientCertPem",
            "clientEndpoints",
            "clientKeyPem",
            "containerNames",
            "kubeApiserverFlags",
            "kubeadmExternalEtcd",
        ]);

        const environment = schema.resources["etcd-recovery:index:RecoveryEnvironment"]!;
        expect(environment.isComponent).toBe(true);
        expect(environment.requiredInputs).toEqual(["original", "snapshotPath"]);
        expect(environment.inputProperties.guardHost!.description).toContain("Default true");
        expect(environment.inputProperties.mode!.$ref).toBe("#/types/etcd-recovery:index:RecoveryMode");
        expect(enumValues("RecoveryMode")).toEqual(["single", "replica"]);
        expect(environment.inputProperties.replicaCertificates!.$ref).toBe("#/types/etcd-recovery:index:ReplicaCertificatesInput");
        expect(schema.types["etcd-recovery:index:OriginalCluster"]!.properties!.etcd!.$ref).toBe(
            "#/types/etcd-recovery:index:OriginalEtcd",
        );
        expect(enumValues("OwnerReferencesPolicy")).toEqual(["drop", "keep"]);
        for (const typeScriptOnly of ["plan", "docker", "hostGuard", "etcdPki", "freshEtcdPki"])
            expect(Object.keys(environment.properties)).not.toContain(typeScriptOnly);
        expect(Object.keys(environment.properties)).toEqual(
            expect.arrayContaining(["kubeconfig", "apiUrl", "snapshotRevision", "containerNames", "exportedFile"]),
        );

        const backup = schema.resources["etcd-recovery:index:EtcdBackup"]!;
        expect(backup.isComponent).toBe(true);
        expect(backup.requiredInputs).toEqual(["clusterName", "schedule", "storage"]);
        // Every input described; the only Any is the TypeScript-only Kubernetes provider (other languages use `providers`).
        const undescribed = Object.entries(backup.inputProperties).filter(([, property]) => !property.description);
        expect(undescribed.map(([name]) => name)).toEqual(["provider"]);
        const anyInputs = Object.entries(backup.inputProperties).filter(([, property]) => property.$ref === "pulumi.json#/Any");
        expect(anyInputs.map(([name]) => name)).toEqual(["provider"]);
        expect(backup.inputProperties.keep!.description).toContain("Default 5");
        expect(backup.inputProperties.storage!.$ref).toBe("#/types/etcd-recovery:index:BackupStoreInput");
        const typeRef = (name: string) => `#/types/etcd-recovery:index:${name}`;
        const properties = (name: string) => schema.types[`etcd-recovery:index:${name}`]!.properties!;
        expect(Object.fromEntries(Object.entries(properties("BackupStoreInput")).map(([name, p]) => [name, p.$ref]))).toEqual({
            s3: typeRef("S3StoreInput"),
            sftp: typeRef("SftpStoreInput"),
            hostPath: typeRef("HostPathStore"),
            pvc: typeRef("PvcStore"),
        });
        expect(properties("S3StoreInput").secretAccessKey).toMatchObject({
            type: "string",
            description: expect.stringContaining("secret"),
        });
        expect(properties("S3StoreInput").provider!.$ref).toBe(typeRef("S3Provider"));
        expect(properties("SftpStoreInput").privateKey!.type).toBe("string");
        expect(backup.inputProperties.certificates!.$ref).toBe(typeRef("CertificateSourceInput"));
        expect(properties("CertificateSourceInput").preset!.$ref).toBe(typeRef("CertificatePreset"));
        expect(properties("CertificateSourceInput").secret!.$ref).toBe(typeRef("EtcdClientPemsInput"));
        expect(backup.inputProperties.nodeRole!.$ref).toBe(typeRef("BackupNodeRole"));
        expect(backup.inputProperties.nodeLabel!.$ref).toBe(typeRef("BackupNodeLabel"));
        expect(backup.inputProperties.restoreDrill!.$ref).toBe(typeRef("RestoreDrill"));
        expect(backup.inputProperties.compression!.$ref).toBe(typeRef("BackupCompression"));
        expect(enumValues("BackupNodeRole")).toEqual(["control-plane", "etcd", "master", "any"]);
        expect(enumValues("CertificatePreset")).toEqual(["kubeadm", "rke", "kubespray"]);
        expect(enumValues("S3Provider")).toEqual(["AWS", "Ceph", "Minio", "Other"]);
        expect(enumValues("RestoreDrill")).toEqual(["off", "status", "restore"]);
        expect(enumValues("BackupCompression")).toEqual(["none", "gzip"]);
        // Every property of every object type EtcdBackup's inputs reach is described, and none is Any.
        const reached = new Set<string>();
        const visit = (ref: string | undefined) => {
            const name = ref?.startsWith("#/types/") ? ref.slice("#/types/".length) : undefined;
            if (!name || reached.has(name)) return;
            reached.add(name);
            for (const [field, property] of Object.entries(schema.types[name]!.properties ?? {})) {
                expect({ [`${name}.${field}`]: property.description !== undefined && property.$ref !== "pulumi.json#/Any" }).toEqual({
                    [`${name}.${field}`]: true,
                });
                visit(property.$ref ?? property.items?.$ref);
            }
        };
        for (const property of Object.values(backup.inputProperties)) visit(property.$ref);
        expect(reached.size).toBeGreaterThanOrEqual(14); // control: the walk reached the nested types
        // The CronJob and the PrometheusRule are TypeScript-only (resources of another package); their names are outputs.
        expect(Object.keys(backup.properties).sort()).toEqual([
            "alertRuleName",
            "cronJobName",
            "maxBackupAgeSeconds",
            "namespace",
            "runNowCommand",
            "storeUrlPattern",
        ]);

        const migration = schema.resources["etcd-recovery:index:StackedToExternalMigration"]!;
        expect(migration.isComponent).toBe(true);
        expect(migration.requiredInputs).toEqual(["externalEndpoints", "layout", "nodes", "stage"]);
        expect(migration.inputProperties.stagingDir!.description).toContain("Default /root/etcd-recovery-migration-staged");
        expect(migration.inputProperties.stage!.$ref).toBe("#/types/etcd-recovery:index:MigrationStage");
        expect(enumValues("MigrationStage")).toEqual(["snapshot", "switch"]);
        expect(migration.inputProperties.layout!.$ref).toBe("#/types/etcd-recovery:index:LayoutPreset");
        expect(Object.keys(migration.properties).sort()).toEqual([
            "apiserverEtcdFlags",
            "dryRun",
            "report",
            "snapshotSha256",
            "stepIds",
            "stepOutputs",
        ]);
    } finally {
        fs.rmSync(stateDir, { recursive: true, force: true });
    }
});

test("pulumi up, preview without changes and destroy of the YAML program under the real engine", async () => {
    stack = await offlineStack({ workDir: EXAMPLE, stackName: uniqueStackName("yaml-pki") });
    await expectPkiProgramLifecycle(stack);
});

test("a ControlPlaneRestore from YAML previews its runbook (up would run it over SSH)", async () => {
    const restore = await offlineStack({
        workDir: RESTORE_EXAMPLE,
        stackName: uniqueStackName("yaml-restore"),
        config: { sshPrivateKey: { value: "not-a-real-key", secret: true } },
    });
    try {
        const preview = await restore.stack.preview();
        // The component, its 11 steps and the stack.
        expect(preview.changeSummary).toEqual({ create: 13 });
        expect(preview.stdout).toContain("etcd-recovery:index:ControlPlaneRestore");
        expect(preview.stdout).toContain("dryRun");
        expect(preview.stdout).toContain("restored cluster: cp-1=https://10.0.0.11:2380");
        expect(preview.stdout).toContain('"restore-cp-1"');
        // The key from config stays secret.
        expect(preview.stdout).not.toContain("not-a-real-key");
    } finally {
        await restore.cleanup();
    }
});

test("an EtcdBackup from YAML with two stores fails the preview with the error naming storage, before anything is created", async () => {
    const secret = "s3-secret-two-stores-1f0c";
    const invalid = await offlineStack({
        workDir: path.resolve(__dirname, "../fixtures/e2e/yaml-backup-two-stores"),
        stackName: uniqueStackName("yaml-two-stores"),
        config: { s3SecretAccessKey: { value: secret, secret: true } },
    });
    try {
        const failure = await invalid.stack.preview().then(
            () => new Error("the preview succeeded"),
            (error: Error) => error,
        );
        // The engine's output escapes the quotes; the keys arrive sorted.
        expect(failure.message).toMatch(
            /EtcdBackup resource 'backup' has a problem: storage: \[\\?"hostPath\\?",\\?"s3\\?"\] — give exactly one of s3, sftp, hostPath, pvc, not 2/,
        );
        expect(failure.message).not.toContain(secret);
        // No child was registered: the error came first (no kubeconfig here, and the kubernetes provider was never asked).
        expect(failure.message).not.toMatch(/kubernetes:(core|batch)/);
    } finally {
        await invalid.cleanup();
    }
});

describe("an EtcdBackup from YAML (examples/yaml-backup) through the real kubernetes provider", () => {
    let program: BackupProgram | undefined;

    beforeAll(async () => {
        program = await startBackupProgram(BACKUP_EXAMPLE, "yaml-backup", {
            s3AccessKeyId: "AKIA-yaml-4e1c07",
            s3SecretAccessKey: "s3-secret-yaml-9d3a5b17",
            encryptionPassword: "crypt-yaml-60f2e8c4",
        });
    });

    afterAll(async () => {
        await program?.stop();
    });

    test("preview shows the component and its four objects; no credential in the output", async () => {
        const preview = await program!.stack.stack.preview();
        // The stack, the kubernetes provider, the component, ServiceAccount, store Secret, script ConfigMap, CronJob.
        expect(preview.changeSummary).toEqual({ create: 7 });
        expect(preview.stdout).toContain("etcd-recovery:index:EtcdBackup");
        expect(preview.stdout).toContain("kubernetes:batch/v1:CronJob");
        for (const value of Object.values(program!.secrets)) expect(preview.stdout).not.toContain(value);
    });

    test("up creates the CronJob the plan renders; the credentials only in the store Secret", async () => {
        const up = await program!.stack.stack.up();
        expect(up.summary.result).toBe("succeeded");
        expect(up.outputs.cronJobName!.value).toBe("backup");
        expect(up.outputs.runNowCommand!.value).toBe(`kubectl create job --from=cronjob/backup backup-manual -n ${program!.namespace}`);
        expect(up.outputs.storeUrlPattern!.value).toBe(
            "s3://etcd-backups/etcd-backup/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db.bin",
        );
        const cronJob = await program!.get("cronjob", "backup");
        expect(cronJob.spec).toMatchObject({ schedule: "0 */6 * * *", timeZone: "Europe/Berlin", concurrencyPolicy: "Forbid" });
        const pod = cronJob.spec.jobTemplate.spec.template.spec;
        // The enums arrived as values: restoreDrill "status" adds the drill, nodeRole "control-plane" the placement.
        expect(pod.initContainers.map((c: { name: string }) => c.name)).toEqual([
            "snapshot",
            "transfer",
            "verify",
            "await-transfer",
            "drill-status",
        ]);
        expect(pod.tolerations).toEqual([{ key: "node-role.kubernetes.io/control-plane", operator: "Exists" }]);
        const rcloneConf = Buffer.from((await program!.get("secret", "backup-store")).data["rclone.conf"], "base64").toString("utf8");
        expect(rcloneConf).toContain("endpoint = https://rgw.example.internal:7480");
        await expectCredentialsOnlyInStoreSecret(program!, "backup");
    });

    test("the kubeconfig key and every store credential are in the state only as ciphertext", async () => {
        await expectSecretsOnlyAsCiphertext(program!, "backup");
    });

    test("preview afterwards changes nothing; destroy removes every object", async () => {
        const preview = await program!.stack.stack.preview({ expectNoChanges: true });
        expect(Object.entries(preview.changeSummary).filter(([op, count]) => op !== "same" && count > 0)).toEqual([]);
        const destroy = await program!.stack.stack.destroy();
        expect(destroy.summary.result).toBe("succeeded");
        await expectBackupObjectsGone(program!, "backup");
    });
});

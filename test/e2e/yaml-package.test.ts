/**
 * etcd-recovery from another language: examples/yaml-pki, a Pulumi YAML
 * program that uses EtcdPki through this checkout as a plugin package
 * (plugin/pulumi-resource-etcd-recovery, src/provider.ts), run by the YAML
 * language host built from the pulumi-yaml module (scripts/tools.sh
 * language-yaml): `pulumi package get-schema`, then `pulumi up`,
 * `preview --expect-no-changes` and `destroy` under the real engine, offline.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { run } from "../harness/exec";
import { requireTool } from "../support/processes";
import { OfflineStack, offlineEnv, offlineStack, runPulumi, uniqueStackName } from "../support/pulumi";
import { expectPkiProgramLifecycle } from "../support/pki-program";

jest.setTimeout(10 * 60_000);

const REPO = path.resolve(__dirname, "../..");
const EXAMPLE = path.join(REPO, "examples/yaml-pki");
const RESTORE_EXAMPLE = path.join(REPO, "examples/yaml-restore-plan");
const PROVIDER = path.join(REPO, "plugin/pulumi-resource-etcd-recovery");

let stack: OfflineStack | undefined;

beforeAll(async () => {
    requireTool("pulumi-language-yaml");
    // The plugin runs bin/provider.js: build it from this checkout's sources (what `npm install` / prepare does).
    await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: REPO, timeoutMs: 300_000 });
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
            types: Record<string, { enum?: { value: string }[]; properties?: Record<string, { $ref?: string; description?: string }> }>;
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
        expect(schema.types["etcd-recovery:index:NodeRole"]!.enum!.map((e) => e.value)).toEqual(["etcd", "control-plane", "both"]);
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

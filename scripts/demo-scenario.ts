/**
 * The main job, the recovery of a lost object end to end, as functions the demo (scripts/demo.ts)
 * and the e2e test (test/e2e/recovery-scenario.test.ts) share:
 * a throw-away production cluster (etcd + kube-apiserver, Secrets encrypted at
 * rest) with a workload; a backup made by the EtcdBackup pod (planEtcdBackup,
 * run through pod-to-docker) into a hostPath store; an incident; the snapshot
 * fetched from the store and checked against its .sha256; the
 * RecoveryEnvironment's plan realized in Docker behind its host guard; the
 * CLI's diff; the lost objects exported and applied to production; a last diff.
 *
 * Nothing printed holds a secret: Secret values appear only as digests (the
 * CLI's diff); exported YAML goes to a 0600 file and is never printed.
 * (It lives beside scripts/demo, not under it: that path is the shell entry.)
 */
import { execFile } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";

import { planEtcdBackup } from "../src/backup/plan";
import { runRecoveryCli } from "../src/cli/recovery";
import {
    KubeObject,
    OriginalCluster,
    assertSubnetAvoidsOriginal,
    cleanForApply,
    deriveRecoveryNaming,
    hostGuardCommands,
    issueRecoveryPki,
    planRecoveryEnvironment,
    recoveryAddresses,
    recoveryKubeconfig,
    revisionFromStatusLog,
    validateOriginalCluster,
    verifySnapshotFile,
    waitForRecoveryApi,
} from "../src/recovery";
// Not re-exported by the module index; the component runs it before anything exists.
import { assertUsableBridgeSubnet } from "../src/recovery/naming";
import { RealizedPlan, dockerAvailable, realizePlan, removeByLabel } from "../test/harness/docker";
import { ETCD_35_IMAGE, KUBE_APISERVER_IMAGE, UPLOADER_IMAGE, requireImages } from "../test/support/images";
import { KUBECTL, KubeApi, startKubeApi } from "../test/support/kube-api";
import { K8sPodSpec, runPod } from "../test/support/pod-to-docker";

export const NAMESPACE = "shop";
/** Node paths the backup pod mounts (kubeadm layout), mapped to directories of this run. */
const NODE_ETCD_PKI = "/etc/kubernetes/pki/etcd";
const NODE_BACKUP_STORE = "/var/backups/etcd";
const BACKUP_CLUSTER_NAME = "shop-prod";
/** Field managers of the "deploy" and of the restore, so server-side apply shows who set what. */
const DEPLOY_MANAGER = "shop-deploy";
const RESTORE_MANAGER = "etcd-recovery";

/** Busy 2-core machines: a cold kube-apiserver on restored data takes 20–60 s there; these leave room for 4×. */
const WAIT = {
    realizeMs: 300_000,
    apiReadyMs: 240_000,
    backupPodMs: 300_000,
    productionReadyMs: 180_000,
};

export const STEPS = {
    production: "start the production cluster (etcd + kube-apiserver, Secrets encrypted at rest)",
    workload: "write the workload: namespace, ConfigMap, Secret, CRD + custom resource, Deployment",
    backup: "back up with the EtcdBackup pod (hostPath store)",
    incident: "the incident: delete the ConfigMap and the Secret, change the Deployment and the Widget",
    fetch: "fetch the snapshot from the store and check it against its .sha256",
    recovery: "bring up the RecoveryEnvironment from the snapshot",
    diff: "diff the snapshot against production",
    restore: "export the lost objects and apply them to production",
    verify: "check production against the snapshot again",
    cleanup: "remove everything this run created",
} as const;
export type StepKey = keyof typeof STEPS;

// ------------------------------------------------------------------ the workload

/** One object the scenario watches: how kubectl names its resource, and how describeObject prints it. */
export interface WatchedObject {
    kind: string;
    resource: string;
    namespace?: string;
    name: string;
}

export const WATCHED: WatchedObject[] = [
    { kind: "Namespace", resource: "namespaces", name: NAMESPACE },
    { kind: "CustomResourceDefinition", resource: "customresourcedefinitions.apiextensions.k8s.io", name: "widgets.example.com" },
    { kind: "ConfigMap", resource: "configmaps", namespace: NAMESPACE, name: "app-config" },
    { kind: "Secret", resource: "secrets", namespace: NAMESPACE, name: "db-credentials" },
    { kind: "Deployment", resource: "deployments.apps", namespace: NAMESPACE, name: "web" },
    { kind: "Widget", resource: "widgets.example.com", namespace: NAMESPACE, name: "blue" },
];

/** "ConfigMap shop/app-config", as the recovery module's describeObject prints it. */
export function describeWatched(object: WatchedObject): string {
    return `${object.kind} ${object.namespace ? `${object.namespace}/` : ""}${object.name}`;
}

/** What the incident does (the other watched objects stay as they were). */
export const INCIDENT: Record<string, "deleted" | "changed"> = {
    "ConfigMap shop/app-config": "deleted",
    "Secret shop/db-credentials": "deleted",
    "Deployment shop/web": "changed",
    "Widget shop/blue": "changed",
};

const CRD = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "widgets.example.com" },
    spec: {
        group: "example.com",
        scope: "Namespaced",
        names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
        versions: [
            {
                name: "v1",
                served: true,
                storage: true,
                schema: {
                    openAPIV3Schema: {
                        type: "object",
                        properties: { spec: { type: "object", properties: { size: { type: "integer" }, color: { type: "string" } } } },
                    },
                },
            },
        ],
    },
};

function workloadObjects(dbPassword: string): KubeObject[] {
    return [
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
            stringData: { username: "shop", password: dbPassword },
        },
        {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "web", namespace: NAMESPACE, labels: { app: "shop" } },
            spec: {
                replicas: 3,
                selector: { matchLabels: { app: "shop", tier: "web" } },
                template: {
                    metadata: { labels: { app: "shop", tier: "web" } },
                    spec: {
                        containers: [
                            {
                                name: "web",
                                image: "shop/web:1.4.2",
                                envFrom: [{ configMapRef: { name: "app-config" } }, { secretRef: { name: "db-credentials" } }],
                                ports: [{ containerPort: 8080 }],
                            },
                        ],
                    },
                },
            },
        },
        {
            apiVersion: "example.com/v1",
            kind: "Widget",
            metadata: { name: "blue", namespace: NAMESPACE, labels: { app: "shop" } },
            spec: { size: 3, color: "blue" },
        },
    ];
}

// ------------------------------------------------------------------ small helpers

/** A host command without a shell and without stdin (programs that exit at once race a stdin writer). */
function host(file: string, args: string[], timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
            error
                ? reject(new Error(`${file} ${args.join(" ")} failed: ${error.message}\n${String(stderr).slice(-2000)}`))
                : resolve(String(stdout)),
        );
        child.stdin?.destroy();
    });
}

function writePrivate(file: string, content: string | Buffer): string {
    fs.writeFileSync(file, content, { mode: 0o600 });
    fs.chmodSync(file, 0o600); // writeFileSync's mode is masked by umask
    return file;
}

function seconds(ms: number): string {
    return `${(ms / 1000).toFixed(1)} s`;
}

/** CLI selection flags: each object is its own --kind, refined by -n and --name. */
export function selectionFlags(objects: WatchedObject[]): string[] {
    return objects.flatMap((o) => ["--kind", o.resource, ...(o.namespace ? ["-n", o.namespace] : []), "--name", o.name]);
}

/** Undo actions, run newest first, each once; a failing one does not stop the rest. */
export class Teardown {
    private readonly actions: { what: string; run: () => Promise<void> }[] = [];
    private done: Promise<string[]> | undefined;

    add(what: string, run: () => Promise<void>): void {
        this.actions.push({ what, run });
    }

    /** Resolves with the failures (empty when everything went). */
    runAll(): Promise<string[]> {
        return (this.done ??= (async () => {
            const failures: string[] = [];
            for (const action of [...this.actions].reverse()) {
                try {
                    await action.run();
                } catch (error) {
                    failures.push(`${action.what}: ${(error as Error).message}`);
                }
            }
            return failures;
        })());
    }
}

// ------------------------------------------------------------------ steps

export interface StepTiming {
    key: StepKey;
    title: string;
    ms: number;
}

/** Prints each step when it starts and ends, with its time, and keeps the times for the summary. */
export class StepClock {
    readonly timings: StepTiming[] = [];
    private readonly started = Date.now();

    constructor(private readonly print: (line: string) => void) {}

    async step<T>(key: StepKey, action: (detail: (line: string) => void) => Promise<T>): Promise<T> {
        const keys = Object.keys(STEPS);
        const label = `step ${keys.indexOf(key) + 1}/${keys.length}`;
        const at = () => `[${seconds(Date.now() - this.started).padStart(8)}]`;
        this.print(`${at()} ${label}: ${STEPS[key]}`);
        const begin = Date.now();
        try {
            const result = await action((line) => this.print(`             ${line}`));
            const ms = Date.now() - begin;
            this.timings.push({ key, title: STEPS[key], ms });
            this.print(`${at()} ${label} done in ${seconds(ms)}`);
            return result;
        } catch (error) {
            this.print(`${at()} ${label} FAILED after ${seconds(Date.now() - begin)}`);
            throw error;
        }
    }

    summary(): string[] {
        const total = this.timings.reduce((sum, t) => sum + t.ms, 0);
        return [
            "",
            "summary (time per step):",
            ...this.timings.map((t) => `  ${seconds(t.ms).padStart(8)}  ${t.title}`),
            `  ${seconds(total).padStart(8)}  total`,
        ];
    }
}

export interface WorkloadSecrets {
    dbPassword: string;
}

/** Step 2: the workload, applied server-side as a deploy tool would; returns each watched object as read back. */
export async function writeWorkload(production: KubeApi, secrets: WorkloadSecrets): Promise<Record<string, KubeObject>> {
    const apply = (objects: KubeObject[]) =>
        production.kubectl(["apply", "--server-side", `--field-manager=${DEPLOY_MANAGER}`, "-f", "-"], {
            input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
        });
    await apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } }, CRD]);
    // The Widget kind is served only once the CRD is established.
    await production.kubectl(["wait", "--for=condition=Established", "--timeout=120s", `customresourcedefinition/${CRD.metadata.name}`]);
    await apply(workloadObjects(secrets.dbPassword));
    return readWatched(production);
}

/** Every watched object as production has it now (throws when one is missing). */
export async function readWatched(production: KubeApi): Promise<Record<string, KubeObject>> {
    const objects: Record<string, KubeObject> = {};
    for (const o of WATCHED) {
        objects[describeWatched(o)] = JSON.parse(
            await production.kubectl(["get", o.resource, o.name, ...(o.namespace ? ["-n", o.namespace] : []), "-o", "json"]),
        );
    }
    return objects;
}

export interface StoredBackup {
    storeDir: string;
    /** The backup's directory in the store. */
    directory: string;
    /** Object name, e.g. etcd-snapshot-20260101T020000Z-rev123.db (.db.gz with compression "gzip"). */
    object: string;
    files: string[];
    podDurationMs: number;
}

/** Step 3: the CronJob's pod, rendered by planEtcdBackup, run once as the Job controller would start it. */
export async function backupWithPod(production: KubeApi, workDir: string, runId: string): Promise<StoredBackup> {
    // The node's kubeadm layout: the etcd CA and a client certificate etcd accepts.
    const certDir = fs.mkdtempSync(path.join(workDir, "node-pki-etcd-"));
    fs.copyFileSync(production.etcd.files.caFile, path.join(certDir, "ca.crt"));
    fs.copyFileSync(production.etcd.files.certFile, path.join(certDir, "healthcheck-client.crt"));
    writePrivate(path.join(certDir, "healthcheck-client.key"), fs.readFileSync(production.etcd.files.keyFile));
    const storeDir = fs.mkdtempSync(path.join(workDir, "store-"));

    const plan = planEtcdBackup({
        name: "etcd-backup",
        clusterName: BACKUP_CLUSTER_NAME,
        schedule: "0 2 * * *",
        endpoints: [production.etcd.endpoints[0]!],
        certificates: { preset: "kubeadm" },
        storage: { hostPath: { path: NODE_BACKUP_STORE } },
        etcdImage: ETCD_35_IMAGE,
        uploaderImage: UPLOADER_IMAGE,
    });
    const pod = JSON.parse(
        JSON.stringify((plan.cronJob.spec as { jobTemplate: { spec: { template: { spec: unknown } } } }).jobTemplate.spec.template.spec),
    ) as K8sPodSpec;
    const secrets: Record<string, Record<string, string>> = { [plan.storeSecret.metadata.name]: plan.storeSecret.stringData };
    if (plan.etcdClientSecret) secrets[plan.etcdClientSecret.metadata.name] = plan.etcdClientSecret.stringData;
    const run = await runPod(
        pod,
        {
            secrets,
            configMaps: { [plan.scriptConfigMap.metadata.name]: plan.scriptConfigMap.data },
            hostPaths: { [NODE_ETCD_PKI]: certDir, [NODE_BACKUP_STORE]: storeDir },
            fieldValues: { "spec.nodeName": "cp-1" },
        },
        runId,
        runId,
        WAIT.backupPodMs,
    );
    if (!run.succeeded) throw new Error(`the backup pod failed in ${run.failedContainer} (exit ${run.exitCode}):\n${run.output}`);
    await run.live.destroy();
    const done = /step=done object=(\S+)/.exec(run.logs.upload ?? "");
    if (!done) throw new Error(`the backup pod's upload log has no step=done line:\n${run.logs.upload}`);
    const object = path.posix.basename(done[1]!);
    const directory = path.join(storeDir, "etcd-backup", BACKUP_CLUSTER_NAME);
    return { storeDir, directory, object, files: fs.readdirSync(directory).sort(), podDurationMs: run.durationMs };
}

/** Step 4: what went wrong in production. */
export async function causeIncident(production: KubeApi): Promise<void> {
    await production.kubectl(["delete", "configmap", "app-config", "-n", NAMESPACE]);
    await production.kubectl(["delete", "secret", "db-credentials", "-n", NAMESPACE]);
    // A bad rollout and a clobbered custom resource, as a careless upgrade leaves them.
    await production.kubectl([
        "patch",
        "deployment",
        "web",
        "-n",
        NAMESPACE,
        "--field-manager=kubectl-edit",
        "-p",
        '{"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"web","image":"shop/web:2.0.0-rc1"}]}}}}',
    ]);
    await production.kubectl([
        "patch",
        "widget",
        "blue",
        "-n",
        NAMESPACE,
        "--type=merge",
        "--field-manager=kubectl-edit",
        "-p",
        '{"spec":{"color":"red","size":1}}',
    ]);
}

export interface FetchedSnapshot {
    snapshotPath: string;
    objectSha256: string;
    revision: number;
    sizeBytes: number;
}

/** Step 5: the stored object checked against its .sha256 sidecar first, then decompressed and checked as a snapshot. */
export async function fetchSnapshot(backup: StoredBackup, workDir: string): Promise<FetchedSnapshot> {
    const objectPath = path.join(backup.directory, backup.object);
    const sidecarPath = `${objectPath}.sha256`;
    if (!fs.existsSync(sidecarPath))
        throw new Error(`${backup.object} has no .sha256 sidecar in ${backup.directory}: it was never sealed, so it is not a good backup`);
    const [expected, named] = fs.readFileSync(sidecarPath, "utf8").trim().split(/\s+/);
    if (named !== backup.object) throw new Error(`${sidecarPath} names ${named}, not ${backup.object}`);
    const content = fs.readFileSync(objectPath);
    const actual = createHash("sha256").update(content).digest("hex");
    if (actual !== expected)
        throw new Error(`${objectPath} does not match its .sha256 sidecar (sha256 ${actual}, sidecar ${expected}): the copy is damaged`);
    const raw = backup.object.endsWith(".gz") ? zlib.gunzipSync(content) : content;
    const snapshotPath = writePrivate(path.join(workDir, backup.object.replace(/\.gz$/, "")), raw);
    const check = await verifySnapshotFile(snapshotPath);
    const revision = Number(/-rev(\d+)\.db/.exec(backup.object)?.[1]);
    return { snapshotPath, objectSha256: actual, revision, sizeBytes: check.sizeBytes };
}

/** How production runs, as a hand-written description (what the importers produce for other clusters). */
export function productionDescription(production: KubeApi): OriginalCluster {
    const encryption = production.encryption;
    if (!encryption) throw new Error("the production cluster was started without encryption at rest");
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
                    `--encryption-provider-config=${encryption.configPath}`,
                    "--service-cluster-ip-range=10.96.0.0/12",
                ],
            },
            etcdPrefix: "/registry",
            serviceClusterIpRange: "10.96.0.0/12",
            encryption: { configPath: encryption.configPath, content: fs.readFileSync(encryption.configPath, "utf8") },
        },
        "production (hand-written description)",
    );
}

export interface RecoveryHandle {
    name: string;
    subnet: string;
    apiUrl: string;
    kubeconfigPath: string;
    snapshotRevision: number | undefined;
    live: RealizedPlan;
    containerNames: string[];
    networkName: string;
    hostGuard: ReturnType<typeof hostGuardCommands>;
}

/**
 * Step 6: what RecoveryEnvironment declares, realized by the harness: the same
 * checks before anything exists (name, subnet, snapshot), the host guard rule
 * first, then planRecoveryEnvironment's network and containers; then /readyz.
 */
export async function bringUpRecovery(opts: {
    stack: string;
    original: OriginalCluster;
    snapshotPath: string;
    workDir: string;
    runId: string;
    teardown: Teardown;
    /** The recovery network's subnet; default the one RecoveryEnvironment derives from the stack. */
    subnet?: string;
}): Promise<RecoveryHandle> {
    const derived = deriveRecoveryNaming(opts.stack, "recovery");
    const naming = { ...derived, subnet: opts.subnet ?? derived.subnet };
    assertUsableBridgeSubnet(naming.subnet);
    assertSubnetAvoidsOriginal(naming.subnet, opts.original);
    const { sha256: snapshotSha256 } = await verifySnapshotFile(opts.snapshotPath);
    const addresses = recoveryAddresses(naming.subnet);
    const pki = issueRecoveryPki(naming.name, addresses, opts.original);
    const env = planRecoveryEnvironment(
        {
            name: naming.name,
            original: opts.original,
            snapshotPath: opts.snapshotPath,
            snapshotSha256,
            subnet: naming.subnet,
            etcdImage: ETCD_35_IMAGE,
            kubeApiserverImage: KUBE_APISERVER_IMAGE,
        },
        pki.files,
    );
    const hostGuard = hostGuardCommands(naming.name, naming.subnet);
    opts.teardown.add(`host guard rule etcd-recovery:${naming.name}`, async () => void (await host("sh", ["-c", hostGuard.delete])));
    await host("sh", ["-c", hostGuard.create]);
    opts.teardown.add(`recovery containers (label run=${opts.runId})`, () => removeByLabel(opts.runId));
    const live = await realizePlan(env.plan, { runId: opts.runId, waitHealthy: true, timeoutMs: WAIT.realizeMs });
    opts.teardown.add("recovery environment", () => live.destroy());

    const kubeconfigPath = writePrivate(
        path.join(opts.workDir, `${naming.name}.kubeconfig`),
        recoveryKubeconfig({
            name: naming.name,
            url: env.addresses.apiUrl,
            caCertPem: pki.kubeCaCertPem,
            certPem: pki.admin.certPem,
            keyPem: pki.admin.keyPem,
        }),
    );
    await waitForRecoveryApi({
        apiUrl: env.addresses.apiUrl,
        tls: { caPem: pki.kubeCaCertPem, certPem: pki.admin.certPem, keyPem: pki.admin.keyPem },
        readLog: () => live.logs(env.containerNames.kubeApiserver),
        timeoutMs: WAIT.apiReadyMs,
    });
    return {
        name: naming.name,
        subnet: naming.subnet,
        apiUrl: env.addresses.apiUrl,
        kubeconfigPath,
        snapshotRevision: revisionFromStatusLog(await live.logs(env.containerNames.snapshotCheck)),
        live,
        containerNames: env.plan.containers.map((c) => c.name),
        networkName: env.plan.networks[0]!.name,
        hostGuard,
    };
}

export const MISSING = "missing in live (in the snapshot only)";
export const CHANGED = "changed in live";
export const SAME = "same";

export interface DiffOutcome {
    exitCode: number;
    report: string;
    progress: string;
    /** "ConfigMap shop/app-config" → MISSING, CHANGED, SAME, … as the report says. */
    states: Record<string, string>;
}

/** Steps 7 and 9: the CLI's diff, as `npx etcd-recovery diff` runs it. */
export async function diffWithCli(
    recoveryKubeconfigPath: string,
    liveKubeconfigPath: string,
    objects: WatchedObject[],
): Promise<DiffOutcome> {
    let report = "";
    let progress = "";
    const exitCode = await runRecoveryCli(
        [
            "diff",
            "--kubeconfig",
            recoveryKubeconfigPath,
            "--live-kubeconfig",
            liveKubeconfigPath,
            ...selectionFlags(objects),
            "--kubectl",
            KUBECTL,
        ],
        {
            stdout: (t) => (report += t),
            stderr: (t) => (progress += t),
        },
    );
    if (exitCode === 2) throw new Error(`diff failed:\n${progress}`);
    const states: Record<string, string> = {};
    for (const o of objects) {
        const line = report.split("\n").find((l) => l.startsWith(`${describeWatched(o)}: `));
        if (line) states[describeWatched(o)] = line.slice(describeWatched(o).length + 2);
    }
    return { exitCode, report, progress, states };
}

export interface RestoreOutcome {
    exportFile: string;
    exported: string[];
    exportLog: string;
    applyLog: string;
}

/** Step 8: the CLI's export of what the diff found missing or changed (a 0600 file), applied server-side to production. */
export async function exportAndApply(
    recovery: RecoveryHandle,
    production: KubeApi,
    diff: DiffOutcome,
    workDir: string,
): Promise<RestoreOutcome> {
    const lost = WATCHED.filter((o) => [MISSING, CHANGED].includes(diff.states[describeWatched(o)] ?? ""));
    if (lost.length === 0) throw new Error(`the diff found nothing missing or changed:\n${diff.report}`);
    const exportFile = path.join(workDir, "restore.yaml");
    let exportLog = "";
    let stray = "";
    const code = await runRecoveryCli(
        ["export", "--kubeconfig", recovery.kubeconfigPath, ...selectionFlags(lost), "-o", exportFile, "--kubectl", KUBECTL],
        {
            stdout: (t) => (stray += t),
            stderr: (t) => (exportLog += t),
        },
    );
    if (code !== 0) throw new Error(`export failed (exit ${code}):\n${exportLog}`);
    if (stray !== "") throw new Error("export with -o wrote to stdout; it may hold Secrets, so it is not shown");
    // --force-conflicts: the restore takes back the fields the incident's manager changed.
    const applyLog = await production.kubectl([
        "apply",
        "--server-side",
        "--force-conflicts",
        `--field-manager=${RESTORE_MANAGER}`,
        "-f",
        exportFile,
    ]);
    return { exportFile, exported: lost.map(describeWatched), exportLog, applyLog };
}

// ------------------------------------------------------------------ the whole scenario

export interface ScenarioOptions {
    /** Names the Docker run labels and the recovery environment's stack: runs with different labels do not collide. */
    label: string;
    print: (line: string) => void;
    /** The recovery network's subnet; default the one RecoveryEnvironment derives from the label (the demo's). Tests give a free test subnet. */
    subnet?: string;
}

export interface ScenarioResult {
    production: KubeApi;
    workDir: string;
    originals: Record<string, KubeObject>;
    /** Read from production after the restore. */
    restored: Record<string, KubeObject>;
    backup: StoredBackup;
    snapshot: FetchedSnapshot;
    recovery: RecoveryHandle;
    diffBefore: DiffOutcome;
    restore: RestoreOutcome;
    diffAfter: DiffOutcome;
    timings: StepTiming[];
    /** Values that must never be printed (for checks). */
    secrets: string[];
}

export interface Scenario {
    result: ScenarioResult;
    /** Removes everything the run created (idempotent) and prints that step. */
    cleanup(): Promise<void>;
    /** Step times, clean-up included once it ran. */
    summary(): string[];
}

/** Docker run labels of one scenario label. */
export function runIds(label: string): { backup: string; recovery: string } {
    return { backup: `${label}-backup`, recovery: `${label}-recovery` };
}

/** Clears what a killed run with this label left: containers, networks, volumes, the host guard rule. */
export async function removeLeftovers(label: string): Promise<void> {
    const ids = runIds(label);
    await removeByLabel(ids.backup);
    await removeByLabel(ids.recovery);
    const naming = deriveRecoveryNaming(label, "recovery");
    await host("sh", ["-c", hostGuardCommands(naming.name, naming.subnet).delete]);
}

/** Fails before anything is created when a tool or image is missing, saying what to run. */
export async function checkPrerequisites(): Promise<void> {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE, KUBE_APISERVER_IMAGE, UPLOADER_IMAGE);
    if (!fs.existsSync(KUBECTL))
        throw new Error(`kubectl not found at ${KUBECTL}: run bash scripts/setup (it builds kubectl) or set KUBECTL`);
    if (process.getuid?.() !== 0)
        throw new Error(
            "the recovery environment's host guard is an iptables rule: run as root (as RecoveryEnvironment with guardHost: true needs)",
        );
    await host("iptables", ["-S", "INPUT"]).catch((error: Error) => {
        throw new Error(`iptables does not work here (${error.message}): the host guard needs it`);
    });
}

/** Runs every step up to the last check; the caller cleans up. On failure it cleans up itself and rethrows. */
export async function runScenario(opts: ScenarioOptions): Promise<Scenario> {
    const clock = new StepClock(opts.print);
    const teardown = new Teardown();
    const ids = runIds(opts.label);
    let cleaned: Promise<void> | undefined;
    const cleanup = () =>
        (cleaned ??= clock.step("cleanup", async (detail) => {
            const failures = await teardown.runAll();
            for (const failure of failures) detail(`could not remove: ${failure}`);
            if (failures.length > 0) throw new Error(`clean-up left things behind:\n${failures.join("\n")}`);
            detail("recovery containers + network, backup pod containers, host guard rule, production processes, work directory: removed");
        }));

    await checkPrerequisites();
    await removeLeftovers(opts.label);
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `${opts.label}-`));
    teardown.add(`work directory ${workDir}`, async () => fs.rmSync(workDir, { recursive: true, force: true }));
    const secrets: WorkloadSecrets = { dbPassword: `pw-${randomBytes(12).toString("hex")}` };

    try {
        const production = await clock.step("production", async (detail) => {
            const api = await startKubeApi({ encryptionConfig: true, readyTimeoutMs: WAIT.productionReadyMs });
            teardown.add("production etcd + kube-apiserver", () => api.stop());
            detail(`kube-apiserver ${api.url}, etcd ${api.etcd.endpoints[0]}; Secrets encrypted with aescbc`);
            return api;
        });

        const originals = await clock.step("workload", async (detail) => {
            const objects = await writeWorkload(production, secrets);
            detail(Object.keys(objects).join(", "));
            return objects;
        });

        const backup = await clock.step("backup", async (detail) => {
            teardown.add(`backup pod containers (label run=${ids.backup})`, () => removeByLabel(ids.backup));
            const stored = await backupWithPod(production, workDir, ids.backup);
            detail(`pod (init snapshot + verify in ${ETCD_35_IMAGE}, upload in ${UPLOADER_IMAGE}) ran ${seconds(stored.podDurationMs)}`);
            detail(`store ${stored.directory}: ${stored.files.join(", ")}`);
            return stored;
        });

        await clock.step("incident", async (detail) => {
            await causeIncident(production);
            detail(
                Object.entries(INCIDENT)
                    .map(([name, what]) => `${name} ${what}`)
                    .join(", "),
            );
        });

        const snapshot = await clock.step("fetch", async (detail) => {
            const fetched = await fetchSnapshot(backup, workDir);
            detail(`${backup.object}: sha256 ${fetched.objectSha256.slice(0, 16)}… matches its .sha256`);
            detail(
                `${path.basename(fetched.snapshotPath)}: ${fetched.sizeBytes} bytes, revision ${fetched.revision}; bbolt header and trailing SHA-256 good`,
            );
            return fetched;
        });

        const recovery = await clock.step("recovery", async (detail) => {
            const handle = await bringUpRecovery({
                stack: opts.label,
                original: productionDescription(production),
                snapshotPath: snapshot.snapshotPath,
                workDir,
                runId: ids.recovery,
                teardown,
                subnet: opts.subnet,
            });
            detail(`environment ${handle.name}: internal network ${handle.networkName} (${handle.subnet}), host guard rule in place`);
            detail(`containers ${handle.containerNames.join(", ")}`);
            detail(`API ${handle.apiUrl} ready; snapshot revision ${handle.snapshotRevision}`);
            return handle;
        });

        const diffBefore = await clock.step("diff", async (detail) => {
            const outcome = await diffWithCli(recovery.kubeconfigPath, production.kubeconfigPath, WATCHED);
            for (const line of outcome.report.trimEnd().split("\n")) detail(line);
            return outcome;
        });

        const restore = await clock.step("restore", async (detail) => {
            const outcome = await exportAndApply(recovery, production, diffBefore, workDir);
            for (const line of outcome.exportLog.trimEnd().split("\n")) detail(`export: ${line}`);
            for (const line of outcome.applyLog.trimEnd().split("\n")) detail(`apply:  ${line}`);
            return outcome;
        });

        const { diffAfter, restored } = await clock.step("verify", async (detail) => {
            const outcome = await diffWithCli(recovery.kubeconfigPath, production.kubeconfigPath, WATCHED);
            detail(outcome.report.trimEnd().split("\n").pop()!);
            if (outcome.exitCode !== 0) throw new Error(`production still differs from the snapshot:\n${outcome.report}`);
            return { diffAfter: outcome, restored: await readWatched(production) };
        });

        return {
            cleanup,
            summary: () => clock.summary(),
            result: {
                production,
                workDir,
                originals,
                restored,
                backup,
                snapshot,
                recovery,
                diffBefore,
                restore,
                diffAfter,
                timings: clock.timings,
                secrets: [secrets.dbPassword, production.encryption!.keyBase64],
            },
        };
    } catch (error) {
        await cleanup().catch((cleanupError: Error) => {
            (error as Error).message += `\n(${cleanupError.message})`;
        });
        throw error;
    }
}

/** An object as kubectl apply would take it: what "equal except server-set fields" compares. */
export function comparable(object: KubeObject): KubeObject {
    return cleanForApply(object).object;
}

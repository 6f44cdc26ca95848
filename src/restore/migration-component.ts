/**
 * StackedToExternalMigration: the manual stacked-to-external etcd migration as previewable infrastructure. It
 * realizes planStackedToExternalMigration the way ControlPlaneRestore realizes
 * the restore plan — one RemoteCommand per step over SSH, ordered by
 * `dependsOn` — plus, in stage "switch", one RemoteFile per client file and
 * node, so the external cluster's client key reaches the nodes as a secret
 * (stdin of `cat`), never on a command line or in a trace.
 *
 * Two `pulumi up`s: stage "snapshot" (its `snapshotSha256` output and the file
 * on the first node seed the EtcdCluster), then stage "switch".
 */
import * as pulumi from "@pulumi/pulumi";
import { planOrFail, typeToken } from "../component";
import { InputError } from "../errors";
import {
    MigrationNodeInput,
    planStackedToExternalMigration,
    renderMigrationDryRun,
    StackedToExternalMigrationInput,
    StackedToExternalMigrationPlan,
    StackedToExternalMigrationSettings,
} from "./migration";
import { assertCredentials, NodeSshArgs, realizeSteps, sshConnection, stepStdouts } from "./realize";
import { RemoteCommand } from "./remote-command";
import { RemoteFile } from "./remote-file";
import { DEFAULT_STEP_TIMEOUT_SECONDS } from "./ssh-target";
import { isSafeAbsolutePath, safePathFix, timeoutSeconds } from "./validate";

export interface MigrationNodeArgs extends MigrationNodeInput {
    ssh: NodeSshArgs;
}

/** kube-apiserver's client files for the external cluster, e.g. EtcdCluster's caCertPem and pki.apiserverClient. */
export interface ExternalEtcdClientArgs {
    caCertPem: pulumi.Input<string>;
    certPem: pulumi.Input<string>;
    /** Made secret whatever it is given as. */
    keyPem: pulumi.Input<string>;
}

/**
 * Args. Nodes, stage, endpoints and paths are plain values (they decide which
 * steps exist, and preview shows all of them); credentials and the client
 * files are Inputs, and the secret ones stay secret.
 */
export interface StackedToExternalMigrationArgs extends StackedToExternalMigrationSettings {
    /** The kubeadm control-plane nodes, each running a stacked etcd member and a kube-apiserver, and how to reach them over SSH. The first takes the snapshot. */
    nodes: MigrationNodeArgs[];
    /** Stage "switch" only (required there): the files kube-apiserver uses for the external cluster. */
    externalClient?: ExternalEtcdClientArgs;
    /** Where the client files are staged on every node (0700 dir, key 0600) before the steps run. Default /root/etcd-recovery-migration-staged. */
    stagingDir?: string;
    /** Seconds each step may take. Default 900. */
    stepTimeoutSeconds?: number;
    // `any`, not `unknown`: the multi-language schema has no type for `unknown` (it maps `any` to pulumi.json#/Any).
    /** Changing any value runs every step of the stage again. Default none. */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
    triggers?: pulumi.Input<any>[];
}

/** What StackedToExternalMigration keeps out of the multi-language schema (our own dynamic resources): read through getters. */
interface MigrationTypeScriptOnly {
    steps: Record<string, RemoteCommand>;
    uploads: RemoteFile[];
}
const TYPESCRIPT_ONLY = new WeakMap<StackedToExternalMigration, MigrationTypeScriptOnly>();

export const DEFAULT_STAGING_DIR = "/root/etcd-recovery-migration-staged";

const STAGED_FILES = {
    caCert: { file: "ca.crt", from: "args.externalClient.caCertPem" },
    cert: { file: "apiserver-etcd-client.crt", from: "args.externalClient.certPem" },
    key: { file: "apiserver-etcd-client.key", from: "args.externalClient.keyPem" },
} as const;

/** The plan input for component args: client files staged under `stagingDir`; checks what only the component has. */
export function migrationPlanInput(args: StackedToExternalMigrationArgs): StackedToExternalMigrationInput {
    const stagingDir = args.stagingDir ?? DEFAULT_STAGING_DIR;
    if (!isSafeAbsolutePath(stagingDir)) throw new InputError("stagingDir", stagingDir, safePathFix(DEFAULT_STAGING_DIR, "directory path"));
    if (args.stage === "switch" && (typeof args.externalClient !== "object" || args.externalClient === null)) {
        throw new InputError(
            "externalClient",
            args.externalClient,
            'stage "switch" installs the external cluster\'s client files: give { caCertPem, certPem, keyPem }, e.g. EtcdCluster caCertPem and pki.apiserverClient',
        );
    }
    if (args.stage === "switch") {
        for (const field of ["caCertPem", "certPem", "keyPem"] as const) {
            const value = args.externalClient![field];
            if (value === undefined || value === null || value === "") {
                throw new InputError(
                    `externalClient.${field}`,
                    value,
                    "give the PEM text (an Output is fine), e.g. from EtcdCluster's pki.apiserverClient",
                );
            }
        }
    }
    if (args.stage === "snapshot" && args.externalClient !== undefined) {
        throw new InputError(
            "externalClient",
            "(given)",
            'stage "snapshot" installs nothing: the external cluster does not exist yet; remove externalClient, or set stage "switch"',
        );
    }
    timeoutSeconds("stepTimeoutSeconds", args.stepTimeoutSeconds, DEFAULT_STEP_TIMEOUT_SECONDS);
    const clientFiles = Object.fromEntries(
        Object.entries(STAGED_FILES).map(([which, staged]) => [which, { stagedPath: `${stagingDir}/${staged.file}`, from: staged.from }]),
    ) as StackedToExternalMigrationInput["clientFiles"];
    const { nodes, externalClient: _client, stagingDir: _dir, stepTimeoutSeconds: _timeout, triggers: _triggers, ...rest } = args;
    return {
        ...rest,
        nodes: (nodes ?? []).map((node) => ({
            name: node.name,
            address: node.address,
            ssh: { port: node.ssh?.port, user: node.ssh?.user },
        })),
        clientFiles,
    };
}

export class StackedToExternalMigration extends pulumi.ComponentResource {
    /** The exact command list per node and the staged files (no content), for review before `pulumi up`. Holds no secret. */
    public readonly dryRun: pulumi.Output<string>;
    /** Step ids in run order. */
    public readonly stepIds: pulumi.Output<string[]>;
    /** stdout of every step, by step id. */
    public readonly stepOutputs: pulumi.Output<Record<string, string>>;
    /** Stage "snapshot": the hand-off step's output (path, sha256, next steps); stage "switch": the verify step's output. */
    public readonly report: pulumi.Output<string>;
    /** Stage "snapshot": sha256 of the snapshot, for seededSnapshotSha256 of stage "switch". Empty in stage "switch". */
    public readonly snapshotSha256: pulumi.Output<string>;
    /** The four kube-apiserver flags after the switch. */
    public readonly apiserverEtcdFlags: pulumi.Output<string[]>;
    /** The SSH resource of every step, by step id (TypeScript only: not in the multi-language schema). */
    public get steps(): Record<string, RemoteCommand> {
        return TYPESCRIPT_ONLY.get(this)!.steps;
    }
    /** The client files staged on the nodes (TypeScript only). */
    public get uploads(): RemoteFile[] {
        return TYPESCRIPT_ONLY.get(this)!.uploads;
    }

    constructor(name: string, args: StackedToExternalMigrationArgs, opts?: pulumi.ComponentResourceOptions) {
        super(typeToken("StackedToExternalMigration"), name, {}, opts);
        const plan: StackedToExternalMigrationPlan = planOrFail(this, () => planStackedToExternalMigration(migrationPlanInput(args)));
        assertCredentials(this, args.nodes);
        const connections = new Map(args.nodes.map((node) => [node.name, sshConnection(node)]));

        const client = args.externalClient;
        const contentOf = (from: string): pulumi.Input<string> => {
            const which = (Object.keys(STAGED_FILES) as (keyof typeof STAGED_FILES)[]).find((w) => STAGED_FILES[w].from === from);
            if (!client || !which) throw new Error(`internal: no content for the staged file from ${from}`);
            return which === "key" ? pulumi.secret(client.keyPem) : which === "cert" ? client.certPem : client.caCertPem;
        };
        const uploads = plan.uploads.map(
            (upload) =>
                new RemoteFile(
                    `${name}-stage-${upload.node}-${upload.path.slice(upload.path.lastIndexOf("/") + 1)}`,
                    { connection: connections.get(upload.node)!, path: upload.path, content: contentOf(upload.from), mode: upload.mode },
                    { parent: this },
                ),
        );
        const uploadsOf = (node: string): RemoteFile[] => uploads.filter((_, i) => plan.uploads[i].node === node);

        const steps = realizeSteps(this, name, plan.steps, connections, {
            triggers: args.triggers,
            timeoutSeconds: args.stepTimeoutSeconds,
            // The preflights (the steps without dependencies) check the staged files: they wait for them.
            extraDependsOn: (step) => (step.dependsOn.length === 0 ? uploadsOf(step.node) : []),
        });
        TYPESCRIPT_ONLY.set(this, { steps, uploads });
        const last = plan.stage === "snapshot" ? steps["hand-off"] : steps["verify"];
        this.dryRun = pulumi.output(renderMigrationDryRun(plan));
        this.stepIds = pulumi.output(plan.steps.map((s) => s.id));
        this.stepOutputs = stepStdouts(steps);
        this.report = last.stdout;
        this.snapshotSha256 =
            plan.stage === "snapshot" ? last.stdout.apply((out) => /^sha256: ([0-9a-f]{64})$/m.exec(out)?.[1] ?? "") : pulumi.output("");
        this.apiserverEtcdFlags = pulumi.output(plan.apiserverEtcdFlags);
        this.registerOutputs({
            dryRun: this.dryRun,
            stepIds: this.stepIds,
            stepOutputs: this.stepOutputs,
            report: this.report,
            snapshotSha256: this.snapshotSha256,
            apiserverEtcdFlags: this.apiserverEtcdFlags,
        });
    }
}

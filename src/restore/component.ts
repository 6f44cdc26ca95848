import * as pulumi from "@pulumi/pulumi";
import { planOrFail, typeToken } from "../component";
import { ControlPlaneRestoreInput, ControlPlaneRestorePlan, planControlPlaneRestore, renderDryRun, RestoreNodeInput } from "./plan";
import { assertCredentials, NodeSshArgs, realizeSteps, sshConnection, stepStdouts } from "./realize";
import { RemoteCommand } from "./remote-command";
import { DEFAULT_STEP_TIMEOUT_SECONDS } from "./ssh-target";
import { timeoutSeconds } from "./validate";

export interface RestoreNodeArgs extends RestoreNodeInput {
    ssh: NodeSshArgs;
}

/**
 * Args. The node list, layout, snapshot and versions are plain values, not
 * Inputs: they decide which steps exist, and `pulumi preview` must show every
 * one of them. Credentials are Inputs and always secret.
 */
export interface ControlPlaneRestoreArgs extends ControlPlaneRestoreInput {
    /** The nodes: name, address, role, and how to reach them over SSH. */
    nodes: RestoreNodeArgs[];
    /** Seconds each step may take. Default 900. */
    stepTimeoutSeconds?: number;
    // `any`, not `unknown`: the multi-language schema has no type for `unknown` (it maps `any` to pulumi.json#/Any).
    /** Changing any value runs the whole runbook again (every step is replaced). Default none. */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
    triggers?: pulumi.Input<any>[];
}

/** `ControlPlaneRestore.steps` lives here, not in a field: the schema cannot name our dynamic RemoteCommand resource. */
const STEPS = new WeakMap<ControlPlaneRestore, Record<string, RemoteCommand>>();

export class ControlPlaneRestore extends pulumi.ComponentResource {
    /** The exact command list per node, for review before `pulumi up`. Holds no secret. */
    public readonly dryRun: pulumi.Output<string>;
    /** Step ids in run order. */
    public readonly stepIds: pulumi.Output<string[]>;
    /** The report step's output: members, endpoint status, health. */
    public readonly report: pulumi.Output<string>;
    /** stdout of every step, by step id. */
    public readonly stepOutputs: pulumi.Output<Record<string, string>>;
    /** The SSH resource of every step, by step id (TypeScript only: not in the multi-language schema). */
    public get steps(): Record<string, RemoteCommand> {
        return STEPS.get(this)!;
    }

    constructor(name: string, args: ControlPlaneRestoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super(typeToken("ControlPlaneRestore"), name, {}, opts);
        const plan: ControlPlaneRestorePlan = planOrFail(this, () => {
            // Checked as StackedToExternalMigration checks it (it was not, here).
            timeoutSeconds("stepTimeoutSeconds", args.stepTimeoutSeconds, DEFAULT_STEP_TIMEOUT_SECONDS);
            return planControlPlaneRestore({
                nodes: args.nodes.map((node) => ({
                    name: node.name,
                    address: node.address,
                    role: node.role,
                    broken: node.broken,
                    etcdMemberName: node.etcdMemberName,
                    peerUrl: node.peerUrl,
                    clientUrl: node.clientUrl,
                    ssh: { port: node.ssh?.port, user: node.ssh?.user },
                })),
                layout: args.layout,
                layoutOverrides: args.layoutOverrides,
                snapshot: args.snapshot,
                etcdVersion: args.etcdVersion,
                mode: args.mode,
                initialClusterToken: args.initialClusterToken,
                bumpRevision: args.bumpRevision,
                allowEvenSize: args.allowEvenSize,
                healthTimeoutSeconds: args.healthTimeoutSeconds,
            });
        });
        assertCredentials(this, args.nodes);
        const connections = new Map(args.nodes.map((node) => [node.name, sshConnection(node)]));
        const steps = realizeSteps(this, name, plan.steps, connections, {
            triggers: args.triggers,
            timeoutSeconds: args.stepTimeoutSeconds,
        });
        STEPS.set(this, steps);
        this.dryRun = pulumi.output(renderDryRun(plan));
        this.stepIds = pulumi.output(plan.steps.map((s) => s.id));
        this.report = steps["report"].stdout;
        this.stepOutputs = stepStdouts(steps);
        this.registerOutputs({ dryRun: this.dryRun, stepIds: this.stepIds, report: this.report, stepOutputs: this.stepOutputs });
    }
}

import * as pulumi from "@pulumi/pulumi";
import { planOrFail, typeToken } from "../component";
import { ControlPlaneRestoreInput, ControlPlaneRestorePlan, planControlPlaneRestore, renderDryRun, RestoreNodeInput } from "./plan";
import { RemoteCommand } from "./remote-command";

export interface RestoreNodeArgs extends RestoreNodeInput {
    ssh: {
        /** Default: `address`. */
        host?: pulumi.Input<string>;
        /** Default 22. */
        port?: number;
        /** Default "root". */
        user?: string;
        /** Secret. */
        privateKey?: pulumi.Input<string>;
        /** Secret. */
        privateKeyPassword?: pulumi.Input<string>;
        /** Secret. */
        password?: pulumi.Input<string>;
        /** The node's host key line ("ssh-ed25519 AAAA…"); any other key stops the step. Default: not checked. */
        hostKey?: pulumi.Input<string>;
        /** Milliseconds for the SSH handshake. Default 20000. */
        readyTimeoutMs?: number;
    };
}

/**
 * Args. The node list, layout, snapshot and versions are plain values, not
 * Inputs: they decide which steps exist, and `pulumi preview` must show every
 * one of them. Credentials are Inputs and always secret.
 */
export interface ControlPlaneRestoreArgs extends Omit<ControlPlaneRestoreInput, "nodes"> {
    nodes: RestoreNodeArgs[];
    /** Seconds each step may take. Default 900. */
    stepTimeoutSeconds?: number;
    /** Changing any value runs the whole runbook again (every step is replaced). Default none. */
    triggers?: pulumi.Input<unknown>[];
}

export class ControlPlaneRestore extends pulumi.ComponentResource {
    /** The exact command list per node, for review before `pulumi up`. Holds no secret. */
    public readonly dryRun: pulumi.Output<string>;
    /** Step ids in run order. */
    public readonly stepIds: pulumi.Output<string[]>;
    /** The report step's output: members, endpoint status, health. */
    public readonly report: pulumi.Output<string>;
    /** stdout of every step, by step id. */
    public readonly stepOutputs: pulumi.Output<Record<string, string>>;
    public readonly steps: Record<string, RemoteCommand>;

    constructor(name: string, args: ControlPlaneRestoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super(typeToken("ControlPlaneRestore"), name, {}, opts);
        const plan: ControlPlaneRestorePlan = planOrFail(this, () =>
            planControlPlaneRestore({
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
            }),
        );
        for (const [i, node] of args.nodes.entries()) {
            if (!node.broken && !node.ssh?.privateKey && !node.ssh?.password) {
                throw new pulumi.ResourceError(`nodes[${i}].ssh: missing — give privateKey or password for ${node.name} (or mark it broken)`, this);
            }
        }

        const connections = new Map(
            args.nodes.map((node) => [
                node.name,
                pulumi.secret(
                    pulumi.all([node.ssh.host ?? node.address, node.ssh.privateKey, node.ssh.privateKeyPassword, node.ssh.password, node.ssh.hostKey]).apply(
                        ([host, privateKey, privateKeyPassword, password, hostKey]) => ({
                            host,
                            port: node.ssh.port ?? 22,
                            user: node.ssh.user ?? "root",
                            ...(privateKey ? { privateKey } : {}),
                            ...(privateKeyPassword ? { privateKeyPassword } : {}),
                            ...(password ? { password } : {}),
                            ...(hostKey ? { hostKey } : {}),
                            ...(node.ssh.readyTimeoutMs ? { readyTimeoutMs: node.ssh.readyTimeoutMs } : {}),
                        }),
                    ),
                ),
            ]),
        );

        const steps: Record<string, RemoteCommand> = {};
        for (const step of plan.steps) {
            steps[step.id] = new RemoteCommand(
                `${name}-${step.id}`,
                {
                    connection: connections.get(step.node)!,
                    // Traced, so a failure's stderr shows the line that failed (commands hold no secrets).
                    create: ["set -x", ...step.commands].join("\n") + "\n",
                    description: `step ${step.id} on ${step.node}: ${step.description}`,
                    triggers: args.triggers ?? [],
                    timeoutSeconds: args.stepTimeoutSeconds ?? 900,
                },
                { parent: this, dependsOn: step.dependsOn.map((id) => steps[id]) },
            );
        }
        this.steps = steps;
        this.dryRun = pulumi.output(renderDryRun(plan));
        this.stepIds = pulumi.output(plan.steps.map((s) => s.id));
        this.report = steps["report"].stdout;
        this.stepOutputs = pulumi.all(Object.fromEntries(Object.entries(steps).map(([id, s]) => [id, s.stdout])));
        this.registerOutputs({ dryRun: this.dryRun, stepIds: this.stepIds, report: this.report, stepOutputs: this.stepOutputs });
    }
}

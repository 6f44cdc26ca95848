/**
 * Turns runbook steps (plain data from plan.ts or migration.ts) into Pulumi
 * resources: one RemoteCommand per step over SSH, ordered by `dependsOn`, the
 * connection always a secret. Every component of this module realizes its
 * steps here, so they run, trace and fail the same way.
 */
import * as pulumi from "@pulumi/pulumi";
import { RestoreStep } from "./plan";
import { RemoteCommand } from "./remote-command";
import { SshConnection } from "./ssh";
import { DEFAULT_SSH_PORT, DEFAULT_SSH_USER, DEFAULT_STEP_TIMEOUT_SECONDS } from "./ssh-target";

/** How to log in to a node. Credentials are Inputs and always end up secret. */
export interface NodeSshArgs {
    /** Default: the node's `address`. */
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
}

export interface SshNode {
    name: string;
    address: string;
    /** Nodes marked broken get no step, so they need no credentials. */
    broken?: boolean;
    ssh?: NodeSshArgs;
}

export { DEFAULT_STEP_TIMEOUT_SECONDS };

/** Fails (before any child exists) when a node that gets steps has neither a key nor a password. */
export function assertCredentials(component: pulumi.Resource, nodes: SshNode[]): void {
    for (const [i, node] of nodes.entries()) {
        if (!node.broken && !node.ssh?.privateKey && !node.ssh?.password) {
            throw new pulumi.ResourceError(
                `nodes[${i}].ssh: missing — give privateKey or password for ${node.name} (or mark it broken)`,
                component,
            );
        }
    }
}

/** The whole connection as one secret Output: host, port and user travel with the credentials. */
export function sshConnection(node: SshNode): pulumi.Output<SshConnection> {
    const ssh = node.ssh ?? {};
    return pulumi.secret(
        pulumi
            .all([ssh.host ?? node.address, ssh.privateKey, ssh.privateKeyPassword, ssh.password, ssh.hostKey])
            .apply(([host, privateKey, privateKeyPassword, password, hostKey]) => ({
                host,
                port: ssh.port ?? DEFAULT_SSH_PORT,
                user: ssh.user ?? DEFAULT_SSH_USER,
                ...(privateKey ? { privateKey } : {}),
                ...(privateKeyPassword ? { privateKeyPassword } : {}),
                ...(password ? { password } : {}),
                ...(hostKey ? { hostKey } : {}),
                ...(ssh.readyTimeoutMs ? { readyTimeoutMs: ssh.readyTimeoutMs } : {}),
            })),
    );
}

export interface RealizeStepsOptions {
    /** Changing any value runs every step again. Default none. */
    triggers?: pulumi.Input<unknown>[];
    /** Seconds each step may take. Default 900. */
    timeoutSeconds?: number;
    /** Resources a step waits for besides its planned dependencies (e.g. files uploaded to its node). Default none. */
    extraDependsOn?: (step: RestoreStep) => pulumi.Resource[];
}

/** One RemoteCommand per step, named `${name}-${step.id}`, parented to `parent`, in plan order. */
export function realizeSteps(
    parent: pulumi.Resource,
    name: string,
    steps: RestoreStep[],
    connections: Map<string, pulumi.Output<SshConnection>>,
    options: RealizeStepsOptions = {},
): Record<string, RemoteCommand> {
    const realized: Record<string, RemoteCommand> = {};
    for (const step of steps) {
        const connection = connections.get(step.node);
        if (!connection) throw new Error(`internal: step ${step.id} runs on ${step.node}, which has no connection`);
        realized[step.id] = new RemoteCommand(
            `${name}-${step.id}`,
            {
                connection,
                // Traced, so a failure's stderr shows the line that failed (commands hold no secrets).
                create: ["set -x", ...step.commands].join("\n") + "\n",
                description: `step ${step.id} on ${step.node}: ${step.description}`,
                triggers: options.triggers ?? [],
                timeoutSeconds: options.timeoutSeconds ?? DEFAULT_STEP_TIMEOUT_SECONDS,
            },
            { parent, dependsOn: [...step.dependsOn.map((id) => realized[id]), ...(options.extraDependsOn?.(step) ?? [])] },
        );
    }
    return realized;
}

/** stdout of every step, by step id. */
export function stepStdouts(steps: Record<string, RemoteCommand>): pulumi.Output<Record<string, string>> {
    return pulumi.all(Object.fromEntries(Object.entries(steps).map(([id, s]) => [id, s.stdout])));
}

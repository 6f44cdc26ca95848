/**
 * A command run once on a node over SSH, as a Pulumi dynamic resource: the
 * semantics of command.remote.Command's `create` (run on create, replaced —
 * and so run again — when the command, the target or `triggers` change,
 * stdout/stderr as outputs) without the command provider plugin, so the
 * runbook works where no plugin can be installed. Deleting the resource runs
 * nothing: a restore step cannot be undone by forgetting it.
 *
 * The connection is a secret input (encrypted in state by the engine); the
 * outputs keep only host, port and user.
 */
import * as pulumi from "@pulumi/pulumi";
import { runScript, SshConnection } from "./ssh";
import { connectionFailures, DEFAULT_STEP_TIMEOUT_SECONDS, describeSshTarget, sameSshTarget, sshTarget } from "./ssh-target";

export interface RemoteCommandArgs {
    /** Credentials inside are secrets; the whole connection is made secret. */
    connection: pulumi.Input<SshConnection>;
    /** Shell script run with `sh -eu -s` on the node. */
    create: pulumi.Input<string>;
    /** Any change replaces the resource, which runs `create` again. */
    triggers?: pulumi.Input<unknown[]>;
    /** Seconds before the script counts as failed. Default 900. */
    timeoutSeconds?: pulumi.Input<number>;
    /** Shown in errors: what this command is for. */
    description?: pulumi.Input<string>;
}

export interface RemoteCommandInputs {
    connection: SshConnection;
    create: string;
    triggers?: unknown[];
    timeoutSeconds?: number;
    description?: string;
}

export interface RemoteCommandOutputs {
    host: string;
    port: number;
    user: string;
    create: string;
    triggers: unknown[];
    description: string;
    stdout: string;
    stderr: string;
    startedAt: string;
    finishedAt: string;
}

function tail(text: string, lines: number): string {
    const all = text.trimEnd().split("\n");
    return (all.length > lines ? [`… (${all.length - lines} earlier lines)`, ...all.slice(-lines)] : all).join("\n");
}

export const remoteCommandProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: RemoteCommandInputs, news: RemoteCommandInputs): Promise<pulumi.dynamic.CheckResult> {
        const failures: pulumi.dynamic.CheckFailure[] = connectionFailures(news.connection);
        if (typeof news.create === "string" && news.create.trim() === "")
            failures.push({ property: "create", reason: "create is empty: give the script to run" });
        return { inputs: news, failures };
    },

    async create(inputs: RemoteCommandInputs): Promise<pulumi.dynamic.CreateResult> {
        const to = sshTarget(inputs.connection);
        const where = describeSshTarget(to);
        const startedAt = new Date().toISOString();
        const timeoutMs = (inputs.timeoutSeconds ?? DEFAULT_STEP_TIMEOUT_SECONDS) * 1000;
        let result;
        try {
            result = await runScript(inputs.connection, inputs.create, timeoutMs);
        } catch (error) {
            throw new Error(
                `${inputs.description ?? "command"}: cannot run on ${where}: ${(error as Error).message}. ` +
                    "Nothing of this step ran. If the node is gone, mark it broken; then run pulumi up again to resume from this step.",
            );
        }
        if (result.exitCode !== 0) {
            throw new Error(
                `${inputs.description ?? "command"}: failed on ${where} with exit code ${result.exitCode}. ` +
                    "The steps before it are done and recorded in the stack; fix the cause and run pulumi up again to resume from this step.\n" +
                    `--- stderr:\n${tail(result.stderr, 40)}\n--- stdout:\n${tail(result.stdout, 20)}`,
            );
        }
        const outs: RemoteCommandOutputs = {
            ...to,
            create: inputs.create,
            triggers: inputs.triggers ?? [],
            description: inputs.description ?? "",
            stdout: result.stdout,
            stderr: result.stderr,
            startedAt,
            finishedAt: new Date().toISOString(),
        };
        return { id: `${to.host}:${startedAt}`, outs };
    },

    async diff(_id: string, olds: RemoteCommandOutputs, news: RemoteCommandInputs): Promise<pulumi.dynamic.DiffResult> {
        const to = sshTarget(news.connection);
        const replaces: string[] = [];
        if (olds.create !== news.create) replaces.push("create");
        if (JSON.stringify(olds.triggers ?? []) !== JSON.stringify(news.triggers ?? [])) replaces.push("triggers");
        if (!sameSshTarget(olds, to)) replaces.push("connection");
        const descriptionChanged = (olds.description ?? "") !== (news.description ?? "");
        // Rotated credentials alone do not run the step again.
        return { changes: replaces.length > 0 || descriptionChanged, replaces, deleteBeforeReplace: true };
    },

    async update(_id: string, olds: RemoteCommandOutputs, news: RemoteCommandInputs): Promise<pulumi.dynamic.UpdateResult> {
        return { outs: { ...olds, description: news.description ?? "" } };
    },

    async delete(): Promise<void> {
        // Nothing to undo: a step that ran stays run.
    },
};

export class RemoteCommand extends pulumi.dynamic.Resource {
    public readonly stdout!: pulumi.Output<string>;
    public readonly stderr!: pulumi.Output<string>;
    public readonly host!: pulumi.Output<string>;
    public readonly startedAt!: pulumi.Output<string>;
    public readonly finishedAt!: pulumi.Output<string>;

    constructor(name: string, args: RemoteCommandArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            remoteCommandProvider,
            name,
            {
                connection: pulumi.secret(args.connection),
                create: args.create,
                triggers: args.triggers ?? [],
                timeoutSeconds: args.timeoutSeconds ?? DEFAULT_STEP_TIMEOUT_SECONDS,
                description: args.description ?? name,
                stdout: undefined,
                stderr: undefined,
                host: undefined,
                startedAt: undefined,
                finishedAt: undefined,
            },
            opts,
            "etcd-recovery",
            "RemoteCommand",
        );
    }
}

/**
 * A file put on a node over SSH, as a Pulumi dynamic resource: how secret
 * content (a client key) reaches a node without entering a command line, a
 * trace, a log or plain state. The content goes to `cat` on stdin; the file is
 * written under umask 077 next to its target, given its mode, then renamed
 * into place, so it is never readable by others, not even for a moment.
 *
 * The connection and the content are secret inputs and the content a secret
 * output (encrypted in state by the engine). Deleting the resource removes
 * the file: it is a staged copy this resource owns, nothing else.
 */
import * as pulumi from "@pulumi/pulumi";
import { runWithStdin, SshConnection } from "./ssh";
import { connectionFailures, describeSshTarget, FILE_TIMEOUT_MS, sameSshTarget, sshTarget } from "./ssh-target";
import { isSafeAbsolutePath, safePathFix } from "./validate";

export interface RemoteFileArgs {
    connection: pulumi.Input<SshConnection>;
    /** Absolute path on the node: letters, digits and _ . / @ + - only. */
    path: pulumi.Input<string>;
    /** The file's content; made secret. */
    content: pulumi.Input<string>;
    /** File mode, e.g. 0o600. Default 0o600. */
    mode?: pulumi.Input<number>;
}

export interface RemoteFileInputs {
    connection: SshConnection;
    path: string;
    content: string;
    mode?: number;
}

export interface RemoteFileOutputs {
    host: string;
    port: number;
    user: string;
    path: string;
    mode: number;
    content: string;
    /** Kept (secret) so that deleting the resource can reach the node. */
    connection: SshConnection;
}

/** The command that writes stdin to `path` with `mode` (no content in it; the path is checked to need no quoting). */
export function writeFileCommand(path: string, mode: number): string {
    const next = `${path}.etcd-recovery-upload`;
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    return `sh -euc 'umask 077; mkdir -p ${dir}; cat > ${next}; chmod ${mode.toString(8).padStart(4, "0")} ${next}; mv -f ${next} ${path}'`;
}

async function writeRemote(inputs: RemoteFileInputs): Promise<RemoteFileOutputs> {
    const to = sshTarget(inputs.connection);
    const mode = inputs.mode ?? 0o600;
    let result;
    try {
        result = await runWithStdin(inputs.connection, writeFileCommand(inputs.path, mode), inputs.content, FILE_TIMEOUT_MS);
    } catch (error) {
        throw new Error(`file ${inputs.path}: cannot write it on ${describeSshTarget(to)}: ${(error as Error).message}`);
    }
    if (result.exitCode !== 0) {
        throw new Error(
            `file ${inputs.path}: writing it on ${describeSshTarget(to)} failed with exit code ${result.exitCode}: ${result.stderr.trim()}`,
        );
    }
    return { ...to, path: inputs.path, mode, content: inputs.content, connection: inputs.connection };
}

export const remoteFileProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: RemoteFileInputs, news: RemoteFileInputs): Promise<pulumi.dynamic.CheckResult> {
        const failures: pulumi.dynamic.CheckFailure[] = connectionFailures(news.connection);
        if (typeof news.path === "string" && !isSafeAbsolutePath(news.path)) {
            failures.push({
                property: "path",
                reason: `path ${news.path}: ${safePathFix("/root/etcd-recovery-migration-staged/ca.crt", "file path")}`,
            });
        }
        const mode = news.mode ?? 0o600;
        if (typeof mode === "number" && (!Number.isInteger(mode) || mode < 0 || mode > 0o777)) {
            failures.push({ property: "mode", reason: `mode ${mode}: give permission bits, e.g. 0o600` });
        }
        return { inputs: news, failures };
    },

    async create(inputs: RemoteFileInputs): Promise<pulumi.dynamic.CreateResult> {
        const outs = await writeRemote(inputs);
        return { id: `${outs.host}:${outs.path}`, outs };
    },

    async diff(_id: string, olds: RemoteFileOutputs, news: RemoteFileInputs): Promise<pulumi.dynamic.DiffResult> {
        const to = sshTarget(news.connection);
        const replaces: string[] = [];
        if (olds.path !== news.path) replaces.push("path");
        if (!sameSshTarget(olds, to)) replaces.push("connection");
        const rewrite = olds.content !== news.content || olds.mode !== (news.mode ?? 0o600);
        return { changes: replaces.length > 0 || rewrite, replaces, deleteBeforeReplace: false };
    },

    async update(_id: string, _olds: RemoteFileOutputs, news: RemoteFileInputs): Promise<pulumi.dynamic.UpdateResult> {
        return { outs: await writeRemote(news) };
    },

    async delete(_id: string, olds: RemoteFileOutputs): Promise<void> {
        const result = await runWithStdin(olds.connection, `rm -f ${olds.path}`, "", FILE_TIMEOUT_MS);
        if (result.exitCode !== 0) throw new Error(`file ${olds.path}: removing it on ${olds.host} failed: ${result.stderr.trim()}`);
    },
};

export class RemoteFile extends pulumi.dynamic.Resource {
    public readonly path!: pulumi.Output<string>;
    public readonly host!: pulumi.Output<string>;
    public readonly mode!: pulumi.Output<number>;

    constructor(name: string, args: RemoteFileArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            remoteFileProvider,
            name,
            {
                connection: pulumi.secret(args.connection),
                path: args.path,
                content: pulumi.secret(args.content),
                mode: args.mode ?? 0o600,
                host: undefined,
            },
            { ...opts, additionalSecretOutputs: ["content", "connection"] },
            "etcd-recovery",
            "RemoteFile",
        );
    }
}

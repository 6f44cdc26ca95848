/**
 * Runs one shell script on a node over SSH (ssh2, pure JavaScript: no ssh
 * binary, no agent, nothing downloaded). The script goes to `sh -eu -s` on
 * stdin, so nothing of it shows in the node's process list and no quoting is
 * needed; credentials only ever go to the SSH handshake.
 */
import { Client, ConnectConfig } from "ssh2";
import { DEFAULT_SSH_READY_TIMEOUT_MS, describeSshTarget, sshTarget } from "./ssh-target";

export interface SshConnection {
    host: string;
    /** Default 22. */
    port?: number;
    /** Default "root". */
    user?: string;
    /** Secret. OpenSSH or PEM private key. */
    privateKey?: string;
    /** Secret. Passphrase of privateKey. */
    privateKeyPassword?: string;
    /** Secret. */
    password?: string;
    /**
     * The node's host public key as in known_hosts / ssh-keyscan ("ssh-ed25519 AAAA…");
     * when given, any other key stops the connection. Default: not checked (as command.remote.Command).
     */
    hostKey?: string;
    /** Milliseconds to wait for the SSH handshake. Default 20000. */
    readyTimeoutMs?: number;
}

export interface ScriptResult {
    exitCode: number;
    stdout: string;
    stderr: string;
}

/** The base64 blob of an OpenSSH public key line ("type blob [comment]"). */
export function hostKeyBlob(hostKey: string): string {
    const parts = hostKey.trim().split(/\s+/);
    const blob = parts.length >= 2 ? parts[1] : parts[0];
    if (!/^[A-Za-z0-9+/]+=*$/.test(blob))
        throw new Error(`hostKey is not an OpenSSH public key line ("ssh-ed25519 AAAA…"): ${hostKey.slice(0, 40)}`);
    return blob;
}

function connectConfig(connection: SshConnection): ConnectConfig {
    const pinned = connection.hostKey ? hostKeyBlob(connection.hostKey) : undefined;
    const target = sshTarget(connection);
    return {
        host: target.host,
        port: target.port,
        username: target.user,
        ...(connection.privateKey ? { privateKey: connection.privateKey } : {}),
        ...(connection.privateKeyPassword ? { passphrase: connection.privateKeyPassword } : {}),
        ...(connection.password ? { password: connection.password } : {}),
        readyTimeout: connection.readyTimeoutMs ?? DEFAULT_SSH_READY_TIMEOUT_MS,
        ...(pinned ? { hostVerifier: (key: Buffer) => key.toString("base64") === pinned } : {}),
    };
}

/** Runs `script` with `sh -eu -s`; resolves with its exit code, rejects when the node cannot be reached or the deadline passes. */
export function runScript(connection: SshConnection, script: string, timeoutMs: number): Promise<ScriptResult> {
    return runWithStdin(connection, "sh -eu -s", script.endsWith("\n") ? script : `${script}\n`, timeoutMs);
}

/**
 * Runs `command` (no secret in it: it may show in the node's process list)
 * with `stdin` as its standard input — the only channel secret content takes.
 */
export function runWithStdin(connection: SshConnection, command: string, stdin: string, timeoutMs: number): Promise<ScriptResult> {
    const where = describeSshTarget(sshTarget(connection));
    return new Promise((resolve, reject) => {
        const client = new Client();
        let settled = false;
        // Declared before `finish` reads it (Pulumi serializes this function for the dynamic provider).
        let timer: NodeJS.Timeout | undefined = undefined;
        const finish = (error: Error | undefined, result?: ScriptResult): void => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            client.end();
            if (error) reject(error);
            else resolve(result!);
        };
        timer = setTimeout(
            () => finish(new Error(`${where}: the script did not finish within ${Math.round(timeoutMs / 1000)}s`)),
            timeoutMs,
        );
        client.on("error", (error: Error & { level?: string }) => {
            const hostKeyFailure = /verification failed/i.test(error.message);
            finish(
                new Error(
                    hostKeyFailure ? `${where}: the host key is not the pinned hostKey (${error.message})` : `${where}: ${error.message}`,
                ),
            );
        });
        client.on("ready", () => {
            client.exec(command, (error, channel) => {
                if (error) return finish(new Error(`${where}: cannot start ${command.split(" ")[0]}: ${error.message}`));
                const stdout: Buffer[] = [];
                const stderr: Buffer[] = [];
                let exitCode: number | undefined;
                channel.on("data", (chunk: Buffer) => stdout.push(chunk));
                channel.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
                channel.on("exit", (code: number | null, signal?: string) => {
                    exitCode = code ?? (signal ? 128 : 255);
                });
                channel.on("close", () =>
                    finish(undefined, {
                        exitCode: exitCode ?? 255,
                        stdout: Buffer.concat(stdout).toString("utf8"),
                        stderr: Buffer.concat(stderr).toString("utf8"),
                    }),
                );
                channel.end(stdin);
            });
        });
        client.connect(connectConfig(connection));
    });
}

/**
 * How a node's host, port and user become an SSH target, and how long SSH
 * work (and the waits inside the steps) may take: the one place every part of this module (plans, dynamic
 * resources, the ssh2 client) takes these defaults from.
 *
 * No imports: the dynamic providers (remote-command.ts, remote-file.ts) use
 * this module, and Pulumi serializes what they reference.
 */

/** SSH port when a node gives none. */
export const DEFAULT_SSH_PORT = 22;
/** SSH login when a node gives none. */
export const DEFAULT_SSH_USER = "root";
/** Milliseconds to wait for the SSH handshake when a connection gives none. */
export const DEFAULT_SSH_READY_TIMEOUT_MS = 20_000;
/** Seconds one runbook step (one RemoteCommand) may take when none is given. */
export const DEFAULT_STEP_TIMEOUT_SECONDS = 900;
/** Seconds a step waits for a healthy cluster (restore) or a ready kube-apiserver (migration) when none is given. */
export const DEFAULT_WAIT_SECONDS = 300;
/** Milliseconds writing or removing one RemoteFile may take. */
export const FILE_TIMEOUT_MS = 120_000;

/** Host, port and user of an SSH connection: what identifies the node (credentials aside). */
export interface SshTarget {
    host: string;
    port: number;
    user: string;
}

/** The target of a connection, with the defaults filled in. */
export function sshTarget(connection: { host: string; port?: number; user?: string }): SshTarget {
    return { host: connection.host, port: connection.port ?? DEFAULT_SSH_PORT, user: connection.user ?? DEFAULT_SSH_USER };
}

/** "user@host:port", as messages name a node. */
export function describeSshTarget(target: SshTarget): string {
    return `${target.user}@${target.host}:${target.port}`;
}

/** Whether two targets are the same node and login (a change replaces a resource). */
export function sameSshTarget(a: SshTarget, b: SshTarget): boolean {
    return a.host === b.host && a.port === b.port && a.user === b.user;
}

/** What a dynamic resource's check refuses in a connection: an empty host. */
export function connectionFailures(connection: unknown): { property: string; reason: string }[] {
    const host = connection && typeof connection === "object" ? (connection as { host?: unknown }).host : undefined;
    return typeof host === "string" && host === ""
        ? [{ property: "connection", reason: "connection.host is empty: give the node's address" }]
        : [];
}

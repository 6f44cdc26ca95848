/**
 * The input rules every runbook of this module shares (ControlPlaneRestore,
 * StackedToExternalMigration and their dynamic resources): node names,
 * addresses and SSH port/user, absolute paths that go unquoted into shell
 * lines, and timeouts in seconds. Pure; errors are InputErrors naming the
 * argument, the value and the fix.
 */
import { InputError } from "../errors";
import { assertDns1123Label } from "../etcd/topology";
import { isIpv4 } from "../net/ipv4";
import { DEFAULT_SSH_PORT, DEFAULT_SSH_USER } from "./ssh-target";

/** Letters, digits and _ . / @ + -, not ending in "/" or ".": safe unquoted in sh and in a sed replacement. */
const SAFE_ABSOLUTE_PATH = /^\/[A-Za-z0-9_./@+-]*[A-Za-z0-9_@+-]$/;
const DOT_COMPONENT = /(^|\/)\.\.?(\/|$)/;

/** Whether `value` is an absolute path the runbooks may write into a shell line unquoted. */
export function isSafeAbsolutePath(value: unknown): value is string {
    return typeof value === "string" && SAFE_ABSOLUTE_PATH.test(value) && !DOT_COMPONENT.test(value);
}

/** The fix for a path isSafeAbsolutePath refuses; `kind` is e.g. "path", "file path", "directory path". */
export function safePathFix(example: string, kind = "path"): string {
    return `give an absolute ${kind} of letters, digits and _ . / @ + - only, without quotes, spaces, '$', '.' or '..' components, or a trailing '/' or '.', e.g. ${example}`;
}

export function assertSafeAbsolutePath(value: unknown, argument: string, example: string, kind = "path"): asserts value is string {
    if (!isSafeAbsolutePath(value)) throw new InputError(argument, value, safePathFix(example, kind));
}

/** A TCP port, 1-65535. */
export function isTcpPort(value: unknown): value is number {
    return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** `value` (or `fallback` when undefined) as whole seconds ≥ 10. */
export function timeoutSeconds(argument: string, value: number | undefined, fallback: number): number {
    const seconds = value ?? fallback;
    if (!Number.isInteger(seconds) || seconds < 10) throw new InputError(argument, seconds, `give whole seconds ≥ 10, e.g. ${fallback}`);
    return seconds;
}

/** What a runbook needs of each node to reach it. */
export interface SshNodeInput {
    name: string;
    address: string;
    ssh?: { port?: number; user?: string };
}

export interface ValidatedSshNode {
    name: string;
    address: string;
    sshPort: number;
    sshUser: string;
}

/** Refuses a missing or empty node list; `fix` says which nodes to list. */
export function assertNodeList(nodes: unknown, fix: string): asserts nodes is unknown[] {
    if (!Array.isArray(nodes) || nodes.length === 0) throw new InputError("nodes", nodes, fix);
}

/**
 * Checks `nodes[i]` one by one: a DNS-1123 name and an IPv4 address, each
 * unique in the list, SSH port and user (defaults 22 and "root").
 * `addressFix` says what the address is for in this runbook.
 */
export class NodeListValidator {
    private readonly names = new Map<string, number>();
    private readonly addresses = new Map<string, string>();

    constructor(private readonly addressFix = "give the node's IPv4 address, e.g. 10.0.0.11") {}

    check(node: SshNodeInput, i: number): ValidatedSshNode {
        const at = `nodes[${i}]`;
        assertDns1123Label(node.name, `${at}.name`);
        if (this.names.has(node.name))
            throw new InputError(`${at}.name`, node.name, `nodes[${this.names.get(node.name)}] has the same name; give each node its own`);
        this.names.set(node.name, i);
        if (!isIpv4(node.address)) throw new InputError(`${at}.address`, node.address, this.addressFix);
        const owner = this.addresses.get(node.address);
        if (owner !== undefined)
            throw new InputError(`${at}.address`, node.address, `node "${owner}" already has this address; each node needs its own`);
        this.addresses.set(node.address, node.name);
        const sshPort = node.ssh?.port ?? DEFAULT_SSH_PORT;
        if (!isTcpPort(sshPort)) throw new InputError(`${at}.ssh.port`, sshPort, "give a TCP port, 1-65535");
        const sshUser = node.ssh?.user ?? DEFAULT_SSH_USER;
        if (typeof sshUser !== "string" || !/^[a-z_][a-z0-9_.-]*$/i.test(sshUser))
            throw new InputError(`${at}.ssh.user`, sshUser, "give a login name, e.g. root");
        return { name: node.name, address: node.address, sshPort, sshUser };
    }
}

/** scheme://host:port and nothing else (it goes into shell lines, sed replacements and YAML lists); https only with `httpsOnly`. */
export function isEndpointUrl(value: unknown, httpsOnly = false): value is string {
    return (
        typeof value === "string" && (httpsOnly ? /^https:\/\/[A-Za-z0-9.-]+:\d{1,5}$/ : /^https?:\/\/[A-Za-z0-9.-]+:\d{1,5}$/).test(value)
    );
}

/** A SHA-256 as sha256sum prints it: 64 lower-case hex digits. */
export function isSha256Hex(value: unknown): value is string {
    return typeof value === "string" && /^[0-9a-f]{64}$/.test(value);
}

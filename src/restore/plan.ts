/**
 * The control-plane restore runbook as plain data (kubeadm, RKE, kubespray): which
 * commands run on which node, in which order. No Pulumi, no I/O — the
 * ControlPlaneRestore component turns every step into one SSH resource, and
 * `renderDryRun` prints the same steps for a human reviewer.
 */
import { InputError } from "../errors";
import { assertDns1123Label, assertMemberCount, ETCD_CLIENT_PORT, ETCD_PEER_PORT, initialClusterFlag } from "../etcd/topology";
import { shellQuote } from "../shell/quote";
import { LAYOUT_PLACEHOLDERS, LAYOUT_PRESETS, LayoutPlaceholder, LayoutPreset, RestoreLayout } from "./layouts";
import { DEFAULT_WAIT_SECONDS } from "./ssh-target";
import { assertNodeList, assertSafeAbsolutePath, isEndpointUrl, isSha256Hex, NodeListValidator, timeoutSeconds } from "./validate";

/**
 * What a node runs: "etcd" (an etcd member only), "control-plane" (kube-apiserver etc. only) or "both".
 * The `as const` objects beside these types make them enums in the multi-language schema; TypeScript users keep
 * writing the strings.
 */
export const NodeRole = { etcd: "etcd", controlPlane: "control-plane", both: "both" } as const;
export type NodeRole = (typeof NodeRole)[keyof typeof NodeRole];
/** "all-members": every member restored from the snapshot at once; "quorum-lost": one seed member, the others re-added. */
export const RestoreMode = { allMembers: "all-members", quorumLost: "quorum-lost" } as const;
export type RestoreMode = (typeof RestoreMode)[keyof typeof RestoreMode];

/** The snapshot file a restore uses. */
export interface RestoreSnapshot {
    /** Path of the snapshot on the nodes that restore it. */
    path: string;
    /** Its SHA-256 (hex); preflight stops on any other file. */
    sha256: string;
}

export interface RestoreNodeInput {
    /** The node's name (DNS-1123 label), e.g. its hostname; kubespray's `{node}` in certificate file names. */
    name: string;
    /** IPv4 address: SSH goes there, and it is the default etcd peer/client address. */
    address: string;
    role: NodeRole;
    /**
     * A node that is gone or cannot be reached (kubespray's broken_etcd /
     * broken_kube_control_plane): it gets no step and leaves the etcd cluster.
     * Default false: an unreachable node stops the run in preflight.
     */
    broken?: boolean;
    /** etcd `--name` of the member on this node. Default: `name`. */
    etcdMemberName?: string;
    /** Peer URL of the member. Default `https://<address>:2380`. */
    peerUrl?: string;
    /** Client URL of the member. Default `https://<address>:2379`. */
    clientUrl?: string;
    /** SSH port and user (not secret; the credentials are the component's business). Defaults 22 and "root". */
    ssh?: { port?: number; user?: string };
}

export interface ControlPlaneRestoreInput {
    nodes: RestoreNodeInput[];
    /** Installer layout: paths and stop/start commands. */
    layout: LayoutPreset;
    /** Replaces individual fields of the preset. Default none. */
    layoutOverrides?: Partial<RestoreLayout>;
    /** The snapshot file, already on the nodes that restore it (every member; the seed member when quorum is lost). */
    snapshot: RestoreSnapshot;
    /** The etcd version on the nodes, e.g. "3.5.21"; preflight stops when etcdutl reports another. */
    etcdVersion: string;
    /**
     * "all-members": every member restored from the snapshot at once.
     * "quorum-lost": one member restored as a single-member cluster, the others
     * added back one by one with `member add` (as RKE's and kubespray's recovery
     * procedures do). Default "all-members".
     */
    mode?: RestoreMode;
    /** `--initial-cluster-token` of the restored cluster. Default `etcd-restore-<first 12 hex of the snapshot's sha256>`, new per snapshot so old members cannot rejoin. */
    initialClusterToken?: string;
    /**
     * `--bump-revision` (with `--mark-compacted`) so watch caches do not serve
     * stale data. Default 1000000000 where etcdutl has the flags (etcd >= 3.5.10), else 0. 0 disables.
     */
    bumpRevision?: number;
    /** Allow an even number of restored members. Default false. */
    allowEvenSize?: boolean;
    /** Seconds to wait for a healthy cluster after starting etcd. Default 300. */
    healthTimeoutSeconds?: number;
}

export interface RestoreStep {
    /** Unique, stable; also the resource name suffix. */
    id: string;
    /** Name of the node the commands run on. */
    node: string;
    description: string;
    /** Shell lines, run in order by `sh -eu` on the node. */
    commands: string[];
    /** Step ids that must have finished first. */
    dependsOn: string[];
    /** True for steps that only read (preflight, health, report). */
    readOnly: boolean;
}

export interface PlannedNode {
    name: string;
    address: string;
    role: NodeRole;
    broken: boolean;
    sshPort: number;
    sshUser: string;
    /** Set for etcd members (role etcd or both) that are not broken. */
    member?: { name: string; peerUrl: string; clientUrl: string };
}

export interface ControlPlaneRestorePlan {
    mode: RestoreMode;
    layoutPreset: LayoutPreset;
    layout: RestoreLayout;
    nodes: PlannedNode[];
    /** The restored cluster's members, in order; in quorum-lost mode the first is the seed. */
    members: { node: string; name: string; peerUrl: string; clientUrl: string }[];
    initialCluster: string;
    initialClusterToken: string;
    bumpRevision: number;
    /** etcdutl (>= 3.5) or etcdctl (3.4) restores. */
    restoreTool: "etcdutl" | "etcdctl";
    steps: RestoreStep[];
}

/** etcdutl and etcdctl `snapshot restore` have --bump-revision/--mark-compacted since 3.5.10 (etcd PR 16165). */
export function supportsBumpRevision(etcdVersion: string): boolean {
    const [major, minor, patch] = parseVersion(etcdVersion);
    return major > 3 || (major === 3 && (minor > 5 || (minor === 5 && patch >= 10)));
}

const DEFAULT_BUMP_REVISION = 1_000_000_000;

function parseVersion(etcdVersion: string): [number, number, number] {
    const match = typeof etcdVersion === "string" ? /^v?(\d+)\.(\d+)\.(\d+)$/.exec(etcdVersion) : null;
    if (!match)
        throw new InputError(
            "etcdVersion",
            etcdVersion,
            'give the etcd version on the nodes as major.minor.patch, e.g. "3.5.21" (etcdutl version prints it)',
        );
    const version: [number, number, number] = [Number(match[1]), Number(match[2]), Number(match[3])];
    if (version[0] < 3 || (version[0] === 3 && version[1] < 4)) {
        throw new InputError("etcdVersion", etcdVersion, "etcd before 3.4 is not supported: upgrade etcd first");
    }
    return version;
}

/** The parent directory of an absolute POSIX path ("/" for a top-level entry). */
export function posixDirname(path: string): string {
    const trimmed = path.replace(/\/+$/, "");
    const index = trimmed.lastIndexOf("/");
    return index <= 0 ? "/" : trimmed.slice(0, index);
}

function resolveLayout(input: ControlPlaneRestoreInput): RestoreLayout {
    const preset = LAYOUT_PRESETS[input.layout];
    if (!preset) throw new InputError("layout", input.layout, `use one of: ${Object.keys(LAYOUT_PRESETS).join(", ")}`);
    const overrides = input.layoutOverrides ?? {};
    for (const key of Object.keys(overrides)) {
        if (!(key in preset))
            throw new InputError(`layoutOverrides.${key}`, key, `not a layout field; use one of: ${Object.keys(preset).join(", ")}`);
    }
    const layout: RestoreLayout = { ...preset, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
    assertSafeAbsolutePath(layout.dataDir, "layoutOverrides.dataDir", "/var/lib/etcd");
    if (!/^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/.test(layout.dataDirOwner)) {
        throw new InputError("layoutOverrides.dataDirOwner", layout.dataDirOwner, 'give user or user:group, e.g. "etcd:etcd"');
    }
    for (const [key, value] of Object.entries(layout)) {
        const lines = Array.isArray(value) ? value : [value];
        lines.forEach((line, i) => {
            const at = Array.isArray(value) ? `layoutOverrides.${key}[${i}]` : `layoutOverrides.${key}`;
            if (typeof line !== "string" || line.trim() === "") throw new InputError(at, line, "give a non-empty shell line");
            for (const match of line.matchAll(/\{([A-Za-z]+)\}/g)) {
                if (!(LAYOUT_PLACEHOLDERS as readonly string[]).includes(match[1])) {
                    throw new InputError(
                        at,
                        line,
                        `unknown placeholder {${match[1]}}; known: ${LAYOUT_PLACEHOLDERS.map((p) => `{${p}}`).join(" ")}`,
                    );
                }
            }
        });
    }
    return layout;
}

function fill(line: string, values: Partial<Record<LayoutPlaceholder, string>>): string {
    return line.replace(/\{([A-Za-z]+)\}/g, (whole, name: string) => {
        const value = values[name as LayoutPlaceholder];
        if (value === undefined) throw new Error(`internal: placeholder {${name}} has no value in "${line}"`);
        return value;
    });
}

function planNodes(input: ControlPlaneRestoreInput): PlannedNode[] {
    assertNodeList(input.nodes, "list the control-plane and etcd nodes, each with name, address and role");
    const validator = new NodeListValidator();
    const memberNames = new Map<string, string>();
    return input.nodes.map((node, i): PlannedNode => {
        const at = `nodes[${i}]`;
        const { sshPort, sshUser } = validator.check(node, i);
        if (!["etcd", "control-plane", "both"].includes(node.role)) {
            throw new InputError(`${at}.role`, node.role, 'use "etcd", "control-plane" or "both"');
        }
        const broken = node.broken ?? false;
        const planned: PlannedNode = { name: node.name, address: node.address, role: node.role, broken, sshPort, sshUser };
        if (node.role !== "control-plane" && !broken) {
            const memberName = node.etcdMemberName ?? node.name;
            assertDns1123Label(memberName, `${at}.etcdMemberName`);
            const other = memberNames.get(memberName);
            if (other !== undefined)
                throw new InputError(
                    `${at}.etcdMemberName`,
                    memberName,
                    `node "${other}" has a member with this name; member names must be unique`,
                );
            memberNames.set(memberName, node.name);
            const peerUrl = node.peerUrl ?? `https://${node.address}:${ETCD_PEER_PORT}`;
            const clientUrl = node.clientUrl ?? `https://${node.address}:${ETCD_CLIENT_PORT}`;
            for (const [field, url] of [
                ["peerUrl", peerUrl],
                ["clientUrl", clientUrl],
            ] as const) {
                if (!isEndpointUrl(url))
                    throw new InputError(`${at}.${field}`, url, "give scheme://host:port, e.g. https://10.0.0.11:2380");
            }
            planned.member = { name: memberName, peerUrl, clientUrl };
        } else if (node.etcdMemberName !== undefined && node.role === "control-plane") {
            throw new InputError(
                `${at}.etcdMemberName`,
                node.etcdMemberName,
                'only etcd nodes have a member: set role "etcd" or "both", or drop etcdMemberName',
            );
        }
        return planned;
    });
}

function validateSnapshot(snapshot: ControlPlaneRestoreInput["snapshot"]): void {
    if (typeof snapshot !== "object" || snapshot === null)
        throw new InputError("snapshot", snapshot, "give { path, sha256 } of the snapshot file on the nodes");
    assertSafeAbsolutePath(snapshot.path, "snapshot.path", "/root/etcd-snapshot.db");
    if (!isSha256Hex(snapshot.sha256)) {
        throw new InputError(
            "snapshot.sha256",
            snapshot.sha256,
            "give the snapshot's SHA-256 as 64 lower-case hex digits (sha256sum prints it)",
        );
    }
}

/**
 * Steps only depend on steps that exist; one place builds them so ids stay
 * unique. Shared by every runbook of this module (restore and migration).
 */
export class StepList {
    readonly steps: RestoreStep[] = [];
    add(step: Omit<RestoreStep, "readOnly"> & { readOnly?: boolean }): string {
        if (this.steps.some((s) => s.id === step.id)) throw new Error(`internal: duplicate step id ${step.id}`);
        for (const dependency of step.dependsOn) {
            if (!this.steps.some((s) => s.id === dependency))
                throw new Error(`internal: step ${step.id} depends on unknown step ${dependency}`);
        }
        this.steps.push({ readOnly: false, ...step });
        return step.id;
    }
}

export function planControlPlaneRestore(input: ControlPlaneRestoreInput): ControlPlaneRestorePlan {
    const mode = input.mode ?? "all-members";
    if (mode !== "all-members" && mode !== "quorum-lost") throw new InputError("mode", mode, 'use "all-members" or "quorum-lost"');
    const layout = resolveLayout(input);
    validateSnapshot(input.snapshot);
    const [major, minor] = parseVersion(input.etcdVersion);
    const restoreTool = major > 3 || minor >= 5 ? "etcdutl" : "etcdctl";
    const bumpSupported = supportsBumpRevision(input.etcdVersion);
    const bumpRevision = input.bumpRevision ?? (bumpSupported ? DEFAULT_BUMP_REVISION : 0);
    if (!Number.isSafeInteger(bumpRevision) || bumpRevision < 0)
        throw new InputError("bumpRevision", bumpRevision, "give a whole number ≥ 0, e.g. 1000000000; 0 disables it");
    if (bumpRevision > 0 && !bumpSupported) {
        throw new InputError(
            "bumpRevision",
            bumpRevision,
            `etcd ${input.etcdVersion} has no --bump-revision (added in 3.5.10): set bumpRevision: 0, or upgrade etcdutl`,
        );
    }
    const healthTimeout = timeoutSeconds("healthTimeoutSeconds", input.healthTimeoutSeconds, DEFAULT_WAIT_SECONDS);

    const nodes = planNodes(input);
    const memberNodes = nodes.filter((n) => n.member);
    if (memberNodes.length === 0) {
        throw new InputError(
            "nodes",
            nodes.map((n) => `${n.name}:${n.role}${n.broken ? ":broken" : ""}`),
            'at least one reachable node needs role "etcd" or "both" to restore the snapshot on',
        );
    }
    assertMemberCount(memberNodes.length, input.allowEvenSize ?? false, "nodes (etcd members that are not broken)");
    const members = memberNodes.map((n) => ({ node: n.name, ...n.member! }));
    const token = input.initialClusterToken ?? `etcd-restore-${input.snapshot.sha256.slice(0, 12)}`;
    if (typeof token !== "string" || !/^[A-Za-z0-9._-]{1,128}$/.test(token)) {
        throw new InputError("initialClusterToken", token, "use 1-128 letters, digits, '.', '_' or '-'");
    }

    const context = new PlanContext(input, layout, nodes, members, token, bumpRevision, restoreTool, healthTimeout);
    const steps = mode === "all-members" ? context.allMembersSteps() : context.quorumLostSteps();
    return {
        mode,
        layoutPreset: input.layout,
        layout,
        nodes,
        members,
        initialCluster: initialClusterFlag(members),
        initialClusterToken: token,
        bumpRevision,
        restoreTool,
        steps,
    };
}

type Member = ControlPlaneRestorePlan["members"][number];

/** Builds the commands; one instance per plan. */
class PlanContext {
    private readonly list = new StepList();
    private readonly live: PlannedNode[];
    private readonly controlPlane: PlannedNode[];
    private readonly etcdNodes: PlannedNode[];
    private readonly snapshotPath: string;

    constructor(
        private readonly input: ControlPlaneRestoreInput,
        private readonly layout: RestoreLayout,
        nodes: PlannedNode[],
        private readonly members: Member[],
        private readonly token: string,
        private readonly bumpRevision: number,
        private readonly restoreTool: "etcdutl" | "etcdctl",
        private readonly healthTimeout: number,
    ) {
        this.live = nodes.filter((n) => !n.broken);
        this.controlPlane = this.live.filter((n) => n.role !== "etcd");
        this.etcdNodes = this.live.filter((n) => n.member);
        this.snapshotPath = input.snapshot.path;
    }

    private node(name: string): PlannedNode {
        return this.live.find((n) => n.name === name)!;
    }

    private lines(lines: string[], node: PlannedNode, extra: Partial<Record<LayoutPlaceholder, string>> = {}): string[] {
        return lines.map((line) =>
            fill(line, {
                node: node.name,
                address: node.address,
                memberName: node.member?.name ?? node.name,
                dataDir: this.layout.dataDir,
                dataDirParent: posixDirname(this.layout.dataDir),
                snapshotDir: posixDirname(this.snapshotPath),
                ...extra,
            }),
        );
    }

    private etcdctl(node: PlannedNode): string {
        return this.lines([this.layout.etcdctl], node)[0];
    }

    private snapshotTool(node: PlannedNode): string {
        if (this.restoreTool === "etcdutl") return this.lines([this.layout.etcdutl], node)[0];
        return `ETCDCTL_API=3 ${this.etcdctl(node)}`;
    }

    // ------------------------------------------------------------ phases

    /** Read-only checks on every live node; nothing destructive depends on fewer than all of them. */
    private preflight(restoringNodes: PlannedNode[]): string[] {
        return this.live.map((node) => {
            const commands = [`echo "reachable: $(hostname) as $(id -un)"`];
            if (node.member) commands.push(...this.versionCheck(node));
            const restoring = restoringNodes.includes(node);
            if (restoring) commands.push(...this.snapshotChecks(node));
            if (node.member) commands.push(...this.diskCheck(node, restoring));
            if (restoring) commands.push(...this.trialRestore(node));
            return this.list.add({
                id: `preflight-${node.name}`,
                node: node.name,
                description:
                    `Preflight on ${node.name}: reachable${node.member ? ", etcd version" : ""}${restoring ? ", snapshot sha256 + status" : ""}` +
                    `${node.member ? ", disk space" : ""}${restoring ? ", trial restore in a scratch dir" : ""} (changes nothing else)`,
                commands,
                dependsOn: [],
                readOnly: true,
            });
        });
    }

    private versionCheck(node: PlannedNode): string[] {
        const want = this.input.etcdVersion.replace(/^v/, "");
        return [
            `have=$(${this.snapshotTool(node)} version | sed -n 's/^${this.restoreTool} version: *//p')`,
            `if [ "$have" != "${want}" ]; then echo "${this.restoreTool} on ${node.name} reports version '$have', the plan says etcdVersion ${want}: fix etcdVersion or the node" >&2; exit 1; fi`,
            `echo "${this.restoreTool} version $have"`,
        ];
    }

    private snapshotChecks(node: PlannedNode): string[] {
        const snapshot = shellQuote(this.snapshotPath);
        return [
            `if [ ! -f ${snapshot} ]; then echo "snapshot ${this.snapshotPath} is not on ${node.name}: copy it there first" >&2; exit 1; fi`,
            `echo "${this.input.snapshot.sha256}  ${this.snapshotPath}" | sha256sum -c -`,
            // A damaged file can make etcdutl panic with pages of stack trace: keep its first lines and say what it means.
            `if ! status=$(${this.snapshotTool(node)} snapshot status ${snapshot} -w table 2>&1); then echo "$status" | head -n 5 >&2; ` +
                `echo "snapshot status: ${this.snapshotPath} on ${node.name} is not a readable etcd snapshot (damaged or incomplete copy): copy it again and check its sha256" >&2; exit 1; fi`,
            `echo "$status"`,
        ];
    }

    /**
     * The restored data lands next to the old one (same filesystem): room for
     * the snapshot twice (trial restore, then the real one) plus 128 MiB of WAL.
     */
    private diskCheck(node: PlannedNode, restoring: boolean): string[] {
        const parent = posixDirname(this.layout.dataDir);
        const need = restoring ? `$(( $(wc -c < ${shellQuote(this.snapshotPath)}) / 1024 * 2 + 131072 ))` : "131072";
        return [
            `need_kb=${need}; avail_kb=$(df -Pk ${parent} | awk 'NR==2 {print $4}')`,
            `if [ "$avail_kb" -lt "$need_kb" ]; then echo "${parent} on ${node.name} has $avail_kb KiB free, the restore needs $need_kb KiB" >&2; exit 1; fi`,
            `echo "disk: $avail_kb KiB free in ${parent}, need $need_kb KiB"`,
        ];
    }

    /**
     * `snapshot status` reads a truncated copy without complaint; only a
     * restore checks the whole file and its integrity hash. So preflight
     * restores once into a scratch dir of its own, and removes that.
     */
    private trialRestore(node: PlannedNode): string[] {
        const scratch = `${posixDirname(this.layout.dataDir)}/etcd-recovery-preflight.XXXXXX`;
        const restore = `${this.snapshotTool(node)} snapshot restore ${shellQuote(this.snapshotPath)} --data-dir="$scratch/data"`;
        return [
            `scratch=$(mktemp -d ${scratch})`,
            `if ! out=$(${restore} 2>&1); then rm -rf "$scratch"; echo "$out" | head -n 5 >&2; ` +
                `echo "trial restore: ${this.snapshotPath} on ${node.name} cannot be restored (damaged or incomplete copy): copy it again and check its sha256" >&2; exit 1; fi`,
            `rm -rf "$scratch"`,
            `echo "trial restore of ${this.snapshotPath}: ok"`,
        ];
    }

    private stopControlPlane(after: string[]): string[] {
        return this.controlPlane.map((node) =>
            this.list.add({
                id: `stop-control-plane-${node.name}`,
                node: node.name,
                description: `Stop kube-apiserver, kube-controller-manager and kube-scheduler on ${node.name}`,
                commands: this.lines(this.layout.stopControlPlane, node),
                dependsOn: after,
            }),
        );
    }

    private stopEtcd(after: string[]): string[] {
        return this.etcdNodes.map((node) =>
            this.list.add({
                id: `stop-etcd-${node.name}`,
                node: node.name,
                description: `Stop etcd on ${node.name}`,
                commands: this.lines(this.layout.stopEtcd, node),
                dependsOn: after,
            }),
        );
    }

    /**
     * Moves the old data aside with a timestamp, never deleting it. A data dir
     * that is a mount point cannot be renamed: its contents move into a
     * timestamped sub-directory instead.
     */
    private moveDataAside(node: PlannedNode, after: string[]): string {
        const dir = this.layout.dataDir;
        return this.list.add({
            id: `move-data-${node.name}`,
            node: node.name,
            description: `Move ${dir} on ${node.name} aside to ${dir}.before-restore-<UTC timestamp> (kept, never deleted)`,
            commands: [
                `stamp=$(date -u +%Y%m%dT%H%M%SZ)`,
                [
                    `if mountpoint -q ${dir} 2>/dev/null; then`,
                    // A mount point cannot be renamed: its contents move into a directory inside it.
                    `    mkdir ${dir}/before-restore-$stamp`,
                    `    for e in ${dir}/* ${dir}/.[!.]*; do`,
                    `        case "$e" in ${dir}/before-restore-*) ;; *) if [ -e "$e" ]; then mv "$e" ${dir}/before-restore-$stamp/; fi ;; esac`,
                    `    done`,
                    `    echo "old data kept in ${dir}/before-restore-$stamp"`,
                    `elif [ -e ${dir} ]; then`,
                    `    mv ${dir} ${dir}.before-restore-$stamp`,
                    `    echo "old data kept in ${dir}.before-restore-$stamp"`,
                    `else`,
                    `    echo "no ${dir} on ${node.name}: nothing to move"`,
                    `fi`,
                ].join("\n"),
            ],
            dependsOn: after,
        });
    }

    /** Restores into a fresh sibling directory, then moves `member/` into place (works when dataDir is a mount point). */
    private restoreMember(node: PlannedNode, initialCluster: string, after: string[]): string {
        const dir = this.layout.dataDir;
        const staging = `${dir}.restoring`;
        const member = node.member!;
        const flags = [
            `--name=${member.name}`,
            `--initial-cluster=${initialCluster}`,
            `--initial-cluster-token=${this.token}`,
            `--initial-advertise-peer-urls=${member.peerUrl}`,
            `--data-dir=${staging}`,
            ...(this.bumpRevision > 0 ? [`--bump-revision=${this.bumpRevision}`, "--mark-compacted"] : []),
        ];
        return this.list.add({
            id: `restore-${node.name}`,
            node: node.name,
            description: `Restore the snapshot into ${dir} on ${node.name} as member ${member.name}`,
            commands: [
                `if [ -e ${dir}/member ]; then echo "${dir}/member exists on ${node.name}: the old data was not moved aside; refusing to overwrite it" >&2; exit 1; fi`,
                `if [ -e ${staging} ]; then mv ${staging} ${staging}.failed-$(date -u +%Y%m%dT%H%M%SZ); fi`,
                `${this.snapshotTool(node)} snapshot restore ${shellQuote(this.snapshotPath)} ${flags.join(" ")}`,
                `mkdir -p ${dir}`,
                `mv ${staging}/member ${dir}/member`,
                `rmdir ${staging}`,
                `echo "restored member ${member.name} into ${dir}"`,
            ],
            dependsOn: after,
        });
    }

    private ownership(node: PlannedNode, after: string[]): string {
        const dir = this.layout.dataDir;
        return this.list.add({
            id: `ownership-${node.name}`,
            node: node.name,
            description: `Give ${dir} on ${node.name} to ${this.layout.dataDirOwner}, mode 0700`,
            commands: [`chown -R ${this.layout.dataDirOwner} ${dir}`, `chmod 0700 ${dir}`, `ls -ld ${dir}`],
            dependsOn: after,
        });
    }

    private startEtcd(node: PlannedNode, after: string[]): string {
        return this.list.add({
            id: `start-etcd-${node.name}`,
            node: node.name,
            description: `Start etcd on ${node.name}`,
            commands: this.lines(this.layout.startEtcd, node),
            dependsOn: after,
        });
    }

    /** Waits until every given member answers `endpoint health` (which needs a quorum). */
    private waitHealthy(id: string, on: PlannedNode, members: Member[], after: string[]): string {
        const endpoints = members.map((m) => m.clientUrl).join(",");
        return this.list.add({
            id,
            node: on.name,
            description: `Wait until ${members.map((m) => m.name).join(", ")} ${members.length === 1 ? "is" : "are"} healthy (up to ${this.healthTimeout}s)`,
            commands: [
                `deadline=$(( $(date +%s) + ${this.healthTimeout} ))`,
                `until ${this.etcdctl(on)} --endpoints=${endpoints} --command-timeout=5s endpoint health; do if [ "$(date +%s)" -ge "$deadline" ]; then echo "etcd is not healthy after ${this.healthTimeout}s" >&2; exit 1; fi; sleep 3; done`,
                `${this.etcdctl(on)} --endpoints=${endpoints} member list -w table`,
            ],
            dependsOn: after,
            readOnly: true,
        });
    }

    private startControlPlane(after: string[]): string[] {
        return this.controlPlane.map((node) =>
            this.list.add({
                id: `start-control-plane-${node.name}`,
                node: node.name,
                description: `Start kube-apiserver, kube-controller-manager and kube-scheduler on ${node.name}`,
                commands: this.lines(this.layout.startControlPlane, node),
                dependsOn: after,
            }),
        );
    }

    private restartComponents(after: string[]): string[] {
        return this.controlPlane.map((node) =>
            this.list.add({
                id: `restart-components-${node.name}`,
                node: node.name,
                description: `Restart kubelet and the other node agents on ${node.name}`,
                commands: this.lines(this.layout.restartComponents, node),
                dependsOn: after,
            }),
        );
    }

    private report(after: string[]): string {
        const on = this.etcdNodes[0];
        const endpoints = this.members.map((m) => m.clientUrl).join(",");
        return this.list.add({
            id: "report",
            node: on.name,
            description: "Report: members, endpoint status and the revision of the restored cluster",
            commands: [
                `${this.etcdctl(on)} --endpoints=${endpoints} member list -w table`,
                `${this.etcdctl(on)} --endpoints=${endpoints} endpoint status -w table`,
                `${this.etcdctl(on)} --endpoints=${endpoints} endpoint health`,
            ],
            dependsOn: after,
            readOnly: true,
        });
    }

    // ------------------------------------------------------------ paths

    /** Every member restored from the snapshot with the full initial cluster. */
    allMembersSteps(): RestoreStep[] {
        const preflight = this.preflight(this.etcdNodes);
        const stopCp = this.stopControlPlane(preflight);
        const stoppedEtcd = this.stopEtcd([...preflight, ...stopCp]);
        const initialCluster = initialClusterFlag(this.members);
        const restored = this.etcdNodes.map((node) => {
            const moved = this.moveDataAside(node, stoppedEtcd);
            const restore = this.restoreMember(node, initialCluster, [moved]);
            return this.ownership(node, [restore]);
        });
        const started = this.etcdNodes.map((node) => this.startEtcd(node, restored));
        const healthy = this.waitHealthy("wait-healthy", this.etcdNodes[0], this.members, started);
        return this.finish([healthy]);
    }

    /** Quorum lost: the first member restored alone, the others added back one by one. */
    quorumLostSteps(): RestoreStep[] {
        const [seed, ...joiners] = this.etcdNodes;
        const preflight = this.preflight([seed]);
        const stopCp = this.stopControlPlane(preflight);
        const stoppedEtcd = this.stopEtcd([...preflight, ...stopCp]);
        const moved = this.etcdNodes.map((node) => this.moveDataAside(node, stoppedEtcd));
        const seedMember = this.members[0];
        const restore = this.restoreMember(seed, initialClusterFlag([seedMember]), moved);
        const owned = this.ownership(seed, [restore]);
        const started = this.startEtcd(seed, [owned]);
        let previous = this.waitHealthy(`wait-healthy-${seed.name}`, seed, [seedMember], [started]);
        const joined: Member[] = [seedMember];
        for (const node of joiners) {
            const member = this.members.find((m) => m.node === node.name)!;
            joined.push(member);
            const added = this.memberAdd(seed, member, previous);
            const join = this.join(node, initialClusterFlag(joined), [added]);
            previous = this.waitHealthy(`wait-healthy-${node.name}`, seed, [...joined], [join]);
        }
        return this.finish([previous]);
    }

    private memberAdd(seed: PlannedNode, member: Member, after: string): string {
        const etcdctl = `${this.etcdctl(seed)} --endpoints=${this.members[0].clientUrl}`;
        return this.list.add({
            id: `member-add-${member.node}`,
            node: seed.name,
            description: `Add member ${member.name} (${member.peerUrl}) to the cluster, from ${seed.name}`,
            // etcd refuses a new voting member until the last one has been up for a few seconds
            // ("unhealthy cluster"): retry until the health timeout.
            commands: [
                `deadline=$(( $(date +%s) + ${this.healthTimeout} ))`,
                `until ${etcdctl} member list | grep -q ', ${member.peerUrl},' || ${etcdctl} member add ${member.name} --peer-urls=${member.peerUrl}; do ` +
                    `if [ "$(date +%s)" -ge "$deadline" ]; then echo "member add ${member.name} refused for ${this.healthTimeout}s" >&2; exit 1; fi; sleep 3; done`,
                // No member list here: until the new member starts, the cluster has no quorum to answer it.
            ],
            dependsOn: [after],
        });
    }

    private join(node: PlannedNode, initialCluster: string, after: string[]): string {
        const dir = this.layout.dataDir;
        return this.list.add({
            id: `join-${node.name}`,
            node: node.name,
            description: `Start etcd on ${node.name} with an empty ${dir}, joining the existing cluster ${initialCluster}`,
            commands: [
                `mkdir -p ${dir}`,
                `chown -R ${this.layout.dataDirOwner} ${dir}`,
                `chmod 0700 ${dir}`,
                ...this.lines(this.layout.setJoinConfig, node, { initialCluster }),
                ...this.lines(this.layout.startEtcd, node),
            ],
            dependsOn: after,
        });
    }

    private finish(after: string[]): RestoreStep[] {
        const startedCp = this.startControlPlane(after);
        const restarted = this.restartComponents(startedCp.length ? startedCp : after);
        this.report(restarted.length ? restarted : after);
        return this.list.steps;
    }
}

/** Every step in run order with its node, dependencies, description and exact lines: the body of each runbook's dry run. */
export function renderStepList(steps: RestoreStep[]): string[] {
    const out = [
        "Steps run in this order (each after the steps it names); every step runs its lines with sh -eu over SSH, traced (set -x):",
    ];
    steps.forEach((step, i) => {
        out.push(
            `[${i + 1}/${steps.length}] ${step.id} @ ${step.node}${step.dependsOn.length ? ` (after ${step.dependsOn.join(", ")})` : ""}`,
        );
        out.push(`    # ${step.description}`);
        // A command of several lines (an if … fi block) keeps its lines together, indented under its "$".
        for (const command of step.commands) out.push(`    $ ${command.split("\n").join("\n      ")}`);
    });
    return out;
}

/** The exact command list per node, for a human reviewer; holds no secret (credentials never enter the plan). */
export function renderDryRun(plan: ControlPlaneRestorePlan): string {
    const out: string[] = [];
    out.push(`ControlPlaneRestore dry run — layout ${plan.layoutPreset}, mode ${plan.mode}`);
    out.push(`restored cluster: ${plan.initialCluster}`);
    out.push(
        `token: ${plan.initialClusterToken}; ${plan.restoreTool} snapshot restore${plan.bumpRevision > 0 ? ` --bump-revision=${plan.bumpRevision} --mark-compacted` : " (no revision bump)"}`,
    );
    for (const node of plan.nodes) {
        const role = node.member ? `${node.role}, member ${node.member.name}` : node.role;
        out.push(
            `node ${node.name}: ${node.sshUser}@${node.address}:${node.sshPort} (${role})${node.broken ? " — BROKEN: skipped, left out of the cluster" : ""}`,
        );
    }
    out.push("", ...renderStepList(plan.steps), "");
    for (const node of plan.nodes.filter((n) => !n.broken)) {
        const steps = plan.steps.filter((s) => s.node === node.name).map((s) => s.id);
        out.push(`${node.name}: ${steps.join(" → ")}`);
    }
    return out.join("\n") + "\n";
}

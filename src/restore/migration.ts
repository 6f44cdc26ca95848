/**
 * The manual stacked-to-external etcd migration as plain data: move a kubeadm cluster's stacked etcd (static pod
 * `etcd.yaml` on every control-plane node) to an external EtcdCluster. No
 * Pulumi, no I/O: the steps have the RestoreStep shape, and
 * StackedToExternalMigration (migration-component.ts) realizes them with the
 * same code as ControlPlaneRestore (one SSH resource per step, `dependsOn`
 * for the order; realize.ts).
 *
 * Two stages, run as two `pulumi up`s, because the external cluster must be
 * seeded from the snapshot this runbook takes (EtcdCluster reads
 * `seedSnapshotPath` from the deploying machine before it creates anything):
 *   "snapshot": preflight → stop the control plane (no write after the
 *               snapshot can be lost) → snapshot + verify → hand-off.
 *   "switch":   preflight (external cluster healthy with the new client
 *               certificate, seeded, control plane still stopped) → install the
 *               client files → rewrite kube-apiserver.yaml → stop stacked etcd
 *               (manifest kept) → start the control plane → /readyz → verify.
 * Nothing is deleted: the old data dir stays, etcd.yaml and every replaced
 * manifest or file is kept, so moving etcd.yaml and the copy back rolls back.
 */
import { KUBEADM_ETCD_CLIENT_PATHS } from "../etcd/clients";
import { InputError } from "../errors";
import { LAYOUT_PRESETS, LayoutPreset, RestoreLayout, STOPPED_MANIFESTS_DIR } from "./layouts";
import { shellQuote } from "../shell/quote";
import { posixDirname, renderStepList, RestoreStep, StepList } from "./plan";
import { DEFAULT_WAIT_SECONDS } from "./ssh-target";
import {
    assertNodeList,
    assertSafeAbsolutePath,
    isEndpointUrl,
    isSha256Hex,
    isTcpPort,
    NodeListValidator,
    timeoutSeconds,
} from "./validate";

/** "snapshot" (first `pulumi up`) or "switch" (after the EtcdCluster is seeded from the snapshot). */
export const MigrationStage = { snapshot: "snapshot", switch: "switch" } as const;
export type MigrationStage = (typeof MigrationStage)[keyof typeof MigrationStage];

export interface MigrationNodeInput {
    /** Node name (DNS-1123 label), e.g. its hostname. */
    name: string;
    /** IPv4 address: SSH target and the kube-apiserver's advertise address (its certificate names it). */
    address: string;
    /** SSH port and user (not secret; the credentials are the component's business). Defaults 22 and "root". */
    ssh?: { port?: number; user?: string };
}

/** One client file: where it is staged on every control-plane node, and where its content comes from. */
export interface MigrationClientFile {
    /**
     * Where the file already is on each node when stage "switch" starts (put
     * there by the realization through a secret channel, or by the operator).
     * Its content never enters a command line.
     */
    stagedPath: string;
    /** Where the content comes from, for the reviewer, e.g. "EtcdCluster ext: pki.apiserverClient.keyPem". */
    from: string;
}

/** Where the client files are installed on the nodes. */
export interface MigrationInstallPaths {
    /** `--etcd-cafile`. */
    caFile: string;
    /** `--etcd-certfile`. */
    certFile: string;
    /** `--etcd-keyfile`. */
    keyFile: string;
}

/** StackedToExternalMigrationInput without the nodes and the client files (the component takes its own forms of those). */
export interface StackedToExternalMigrationSettings {
    /** "snapshot" (first `pulumi up`) or "switch" (after the EtcdCluster is seeded from the snapshot). */
    stage: MigrationStage;
    /** Only "kubeadm" (any other preset is refused): stacked etcd as a static pod is kubeadm's layout. */
    layout: LayoutPreset;
    /** Replaces fields of the kubeadm preset (etcdctl, etcdutl, stopEtcd, stopControlPlane, startControlPlane, dataDir). Default none. */
    layoutOverrides?: Partial<RestoreLayout>;
    /** The external cluster's client URLs (EtcdCluster.clientEndpoints), reachable from every control-plane node. */
    externalEndpoints: string[];
    /**
     * Where the client files are installed and what `--etcd-cafile/--etcd-certfile/--etcd-keyfile` name.
     * Default /etc/kubernetes/pki/etcd-external/{ca.crt,apiserver-etcd-client.crt,apiserver-etcd-client.key}:
     * not kubeadm's own paths, which the stacked etcd (and a roll-back) still need.
     */
    installPaths?: MigrationInstallPaths;
    /** The snapshot file on the first node. Default /var/lib/etcd-recovery-migration/stacked-etcd.db. */
    snapshotPath?: string;
    /** Stage "switch": the sha256 the hand-off step printed (and EtcdCluster was seeded from). */
    seededSnapshotSha256?: string;
    /** The stacked etcd's client URL as seen on the first node. Default https://127.0.0.1:2379. */
    stackedEndpoint?: string;
    /** kube-apiserver.yaml and where stopControlPlane keeps it. Default /etc/kubernetes/manifests and the preset's stopped dir. */
    manifestsDir?: string;
    stoppedManifestsDir?: string;
    /** Timestamped copies of replaced manifests and files. Default /etc/kubernetes/etcd-recovery-migration. */
    keepDir?: string;
    /** kubectl with an admin kubeconfig on the nodes. Default "kubectl --kubeconfig=/etc/kubernetes/admin.conf". */
    kubectl?: string;
    /** kube-apiserver's secure port. Default 6443. */
    apiserverPort?: number;
    /**
     * Stop the control plane before the snapshot, so no write made after it is
     * lost and no watch cache holds revisions the external cluster reuses
     * (the slow deletes seen after a by-hand migration). Default true; false keeps serving but loses
     * every write between snapshot and switch.
     */
    freezeWrites?: boolean;
    /** Seconds to wait for /readyz. Default 300. */
    readyTimeoutSeconds?: number;
}

export interface StackedToExternalMigrationInput extends StackedToExternalMigrationSettings {
    /** The kubeadm control-plane nodes, each running a stacked etcd member and a kube-apiserver. The first takes the snapshot. */
    nodes: MigrationNodeInput[];
    /** kube-apiserver's client files for the external cluster. */
    clientFiles: { caCert: MigrationClientFile; cert: MigrationClientFile; key: MigrationClientFile };
}

export interface MigrationPlannedNode {
    name: string;
    address: string;
    sshPort: number;
    sshUser: string;
}

/** A file the realization must put on a node before stage "switch" (content is secret for keys; never in a command). */
export interface MigrationUpload {
    node: string;
    path: string;
    mode: number;
    from: string;
    secret: boolean;
}

export interface StackedToExternalMigrationPlan {
    stage: MigrationStage;
    layout: RestoreLayout;
    nodes: MigrationPlannedNode[];
    externalEndpoints: string[];
    installPaths: MigrationInstallPaths;
    /** The kube-apiserver flags after the switch (the four --etcd-* lines). */
    apiserverEtcdFlags: string[];
    snapshotPath: string;
    freezeWrites: boolean;
    /** Stage "switch": files to stage on each node before the steps run. */
    uploads: MigrationUpload[];
    steps: RestoreStep[];
}

const DEFAULTS = {
    installDir: "/etc/kubernetes/pki/etcd-external",
    snapshotPath: "/var/lib/etcd-recovery-migration/stacked-etcd.db",
    stackedEndpoint: "https://127.0.0.1:2379",
    manifestsDir: "/etc/kubernetes/manifests",
    keepDir: "/etc/kubernetes/etcd-recovery-migration",
    kubectl: "kubectl --kubeconfig=/etc/kubernetes/admin.conf",
    apiserverPort: 6443,
    readyTimeoutSeconds: DEFAULT_WAIT_SECONDS,
};

/** Fields of the kubeadm preset this runbook uses; others would be silently ignored, so they are refused. */
const USED_LAYOUT_FIELDS = ["dataDir", "etcdctl", "etcdutl", "stopEtcd", "stopControlPlane", "startControlPlane"] as const;

const ETCD_FLAGS = ["etcd-servers", "etcd-cafile", "etcd-certfile", "etcd-keyfile"] as const;

export function defaultInstallPaths(): { caFile: string; certFile: string; keyFile: string } {
    return {
        caFile: `${DEFAULTS.installDir}/ca.crt`,
        certFile: `${DEFAULTS.installDir}/apiserver-etcd-client.crt`,
        keyFile: `${DEFAULTS.installDir}/apiserver-etcd-client.key`,
    };
}

function assertAbsolutePath(value: unknown, argument: string): asserts value is string {
    assertSafeAbsolutePath(value, argument, "/etc/kubernetes/pki/etcd-external/ca.crt");
}

function resolveLayout(input: StackedToExternalMigrationInput): RestoreLayout {
    if (input.layout !== "kubeadm") {
        throw new InputError(
            "layout",
            input.layout,
            'use "kubeadm": only kubeadm runs etcd stacked as a static pod next to kube-apiserver',
        );
    }
    const overrides = input.layoutOverrides ?? {};
    for (const key of Object.keys(overrides)) {
        if (!(USED_LAYOUT_FIELDS as readonly string[]).includes(key)) {
            throw new InputError(
                `layoutOverrides.${key}`,
                key,
                `the migration does not use this field; override one of: ${USED_LAYOUT_FIELDS.join(", ")}`,
            );
        }
    }
    const layout: RestoreLayout = {
        ...LAYOUT_PRESETS.kubeadm,
        ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
    };
    assertAbsolutePath(layout.dataDir, "layoutOverrides.dataDir");
    for (const key of USED_LAYOUT_FIELDS) {
        const value = layout[key];
        const lines = Array.isArray(value) ? value : [value];
        lines.forEach((line, i) => {
            const at = Array.isArray(value) ? `layoutOverrides.${key}[${i}]` : `layoutOverrides.${key}`;
            if (typeof line !== "string" || line.trim() === "") throw new InputError(at, line, "give a non-empty shell line");
            // The kubeadm preset needs no placeholder; the migration fills none.
            if (/\{[A-Za-z]+\}/.test(line)) throw new InputError(at, line, "the migration fills no {placeholders}: write the value itself");
        });
    }
    return layout;
}

function planNodes(nodes: MigrationNodeInput[]): MigrationPlannedNode[] {
    assertNodeList(nodes, "list every kubeadm control-plane node (each runs a stacked etcd and a kube-apiserver), with name and address");
    const validator = new NodeListValidator("give the node's IPv4 address (kube-apiserver's --advertise-address), e.g. 10.0.0.11");
    return nodes.map((node, i) => validator.check(node, i));
}

/** Client URLs go into a sed replacement and a YAML list item: only scheme://host:port. */
function validateEndpoints(endpoints: string[], stacked: string): void {
    if (!Array.isArray(endpoints) || endpoints.length === 0) {
        throw new InputError(
            "externalEndpoints",
            endpoints,
            'give the external cluster\'s client URLs (EtcdCluster.clientEndpoints), e.g. ["https://10.0.1.11:2379"]',
        );
    }
    const seen = new Set<string>();
    endpoints.forEach((endpoint, i) => {
        if (!isEndpointUrl(endpoint, true)) {
            throw new InputError(
                `externalEndpoints[${i}]`,
                endpoint,
                "give https://host:port (TLS: the client certificate is how kube-apiserver authenticates), e.g. https://10.0.1.11:2379",
            );
        }
        if (seen.has(endpoint)) throw new InputError(`externalEndpoints[${i}]`, endpoint, "listed twice; give each member once");
        seen.add(endpoint);
        if (/^https:\/\/(127\.|localhost:)/.test(endpoint) || endpoint === stacked) {
            throw new InputError(
                `externalEndpoints[${i}]`,
                endpoint,
                "this is the stacked etcd on the node itself; give the external cluster's addresses as the control-plane nodes reach them",
            );
        }
    });
}

function validateClientFiles(input: StackedToExternalMigrationInput, installPaths: StackedToExternalMigrationPlan["installPaths"]): void {
    const files = input.clientFiles;
    if (typeof files !== "object" || files === null) {
        throw new InputError(
            "clientFiles",
            files,
            "give { caCert, cert, key }, each { stagedPath, from }: the external cluster's CA and kube-apiserver's client certificate and key",
        );
    }
    const staged = new Set<string>();
    for (const which of ["caCert", "cert", "key"] as const) {
        const file = files[which];
        if (typeof file !== "object" || file === null) throw new InputError(`clientFiles.${which}`, file, "give { stagedPath, from }");
        assertAbsolutePath(file.stagedPath, `clientFiles.${which}.stagedPath`);
        if (staged.has(file.stagedPath))
            throw new InputError(
                `clientFiles.${which}.stagedPath`,
                file.stagedPath,
                "another client file is staged there; give each its own path",
            );
        staged.add(file.stagedPath);
        if (typeof file.from !== "string" || file.from.trim() === "" || /[\n\r]/.test(file.from)) {
            throw new InputError(
                `clientFiles.${which}.from`,
                file.from,
                'say where the content comes from, one line, e.g. "EtcdCluster ext: pki.apiserverClient.keyPem"',
            );
        }
    }
    // Overwriting kubeadm's own files would break the stacked etcd before it is stopped, and any roll-back.
    const kubeadmOwn: string[] = [
        ...Object.values(KUBEADM_ETCD_CLIENT_PATHS),
        "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "/etc/kubernetes/pki/etcd/healthcheck-client.key",
    ];
    const installed = new Set<string>();
    for (const [field, path] of Object.entries(installPaths)) {
        assertAbsolutePath(path, `installPaths.${field}`);
        if (kubeadmOwn.includes(path) || path.startsWith("/etc/kubernetes/pki/etcd/")) {
            throw new InputError(
                `installPaths.${field}`,
                path,
                `kubeadm's stacked etcd uses this path (needed until it is stopped, and to roll back); install elsewhere, e.g. ${defaultInstallPaths()[field as keyof typeof installPaths]}`,
            );
        }
        if (installed.has(path))
            throw new InputError(`installPaths.${field}`, path, "another client file is installed there; give each its own path");
        installed.add(path);
    }
}

export function planStackedToExternalMigration(input: StackedToExternalMigrationInput): StackedToExternalMigrationPlan {
    if (input.stage !== "snapshot" && input.stage !== "switch") {
        throw new InputError(
            "stage",
            input.stage,
            'use "snapshot" (first run: stop the control plane, take the snapshot) or "switch" (after EtcdCluster is seeded from it)',
        );
    }
    const layout = resolveLayout(input);
    const nodes = planNodes(input.nodes);
    const stackedEndpoint = input.stackedEndpoint ?? DEFAULTS.stackedEndpoint;
    if (!isEndpointUrl(stackedEndpoint)) {
        throw new InputError(
            "stackedEndpoint",
            stackedEndpoint,
            "give scheme://host:port of the stacked etcd as the first node reaches it, e.g. https://127.0.0.1:2379",
        );
    }
    validateEndpoints(input.externalEndpoints, stackedEndpoint);
    const installPaths = {
        ...defaultInstallPaths(),
        ...Object.fromEntries(Object.entries(input.installPaths ?? {}).filter(([, v]) => v !== undefined)),
    };
    validateClientFiles(input, installPaths);
    const snapshotPath = input.snapshotPath ?? DEFAULTS.snapshotPath;
    assertAbsolutePath(snapshotPath, "snapshotPath");
    if (snapshotPath === layout.dataDir || snapshotPath.startsWith(`${layout.dataDir}/`)) {
        throw new InputError(
            "snapshotPath",
            snapshotPath,
            `keep the snapshot outside etcd's data dir ${layout.dataDir}, e.g. ${DEFAULTS.snapshotPath}`,
        );
    }
    const manifestsDir = input.manifestsDir ?? DEFAULTS.manifestsDir;
    const stoppedManifestsDir = input.stoppedManifestsDir ?? STOPPED_MANIFESTS_DIR;
    const keepDir = input.keepDir ?? DEFAULTS.keepDir;
    for (const [argument, path] of [
        ["manifestsDir", manifestsDir],
        ["stoppedManifestsDir", stoppedManifestsDir],
        ["keepDir", keepDir],
    ] as const) {
        assertAbsolutePath(path, argument);
    }
    // The kubelet runs every file in the manifests dir: a kept copy there would start a second apiserver.
    if (keepDir === manifestsDir || keepDir.startsWith(`${manifestsDir}/`)) {
        throw new InputError(
            "keepDir",
            keepDir,
            `the kubelet runs every manifest in ${manifestsDir}; keep copies elsewhere, e.g. ${DEFAULTS.keepDir}`,
        );
    }
    if (stoppedManifestsDir === manifestsDir)
        throw new InputError(
            "stoppedManifestsDir",
            stoppedManifestsDir,
            `must differ from manifestsDir ${manifestsDir}: the kubelet runs what is there`,
        );
    const kubectl = input.kubectl ?? DEFAULTS.kubectl;
    if (typeof kubectl !== "string" || kubectl.trim() === "" || /[\n\r]/.test(kubectl)) {
        throw new InputError("kubectl", kubectl, `give the kubectl command with an admin kubeconfig, e.g. "${DEFAULTS.kubectl}"`);
    }
    const apiserverPort = input.apiserverPort ?? DEFAULTS.apiserverPort;
    if (!isTcpPort(apiserverPort)) throw new InputError("apiserverPort", apiserverPort, "give kube-apiserver's --secure-port, e.g. 6443");
    const readyTimeout = timeoutSeconds("readyTimeoutSeconds", input.readyTimeoutSeconds, DEFAULTS.readyTimeoutSeconds);
    const freezeWrites = input.freezeWrites ?? true;
    if (typeof freezeWrites !== "boolean")
        throw new InputError("freezeWrites", freezeWrites, "give true (default: no write is lost) or false");
    if (input.stage === "switch") {
        if (!isSha256Hex(input.seededSnapshotSha256)) {
            throw new InputError(
                "seededSnapshotSha256",
                input.seededSnapshotSha256,
                'give the 64-hex sha256 the hand-off step of stage "snapshot" printed (EtcdCluster was seeded from that file)',
            );
        }
    } else if (input.seededSnapshotSha256 !== undefined) {
        throw new InputError(
            "seededSnapshotSha256",
            input.seededSnapshotSha256,
            'only stage "switch" takes it: the snapshot does not exist yet; remove it',
        );
    }

    const apiserverEtcdFlags = [
        `--etcd-servers=${input.externalEndpoints.join(",")}`,
        `--etcd-cafile=${installPaths.caFile}`,
        `--etcd-certfile=${installPaths.certFile}`,
        `--etcd-keyfile=${installPaths.keyFile}`,
    ];
    const context = new MigrationSteps({
        layout,
        nodes,
        stackedEndpoint,
        externalEndpoints: input.externalEndpoints,
        clientFiles: input.clientFiles,
        installPaths,
        snapshotPath,
        seededSha256: input.seededSnapshotSha256 ?? "",
        manifestsDir,
        stoppedManifestsDir,
        keepDir,
        kubectl,
        apiserverPort,
        readyTimeout,
        freezeWrites,
        apiserverEtcdFlags,
    });
    const steps = input.stage === "snapshot" ? context.snapshotStage() : context.switchStage();
    const uploads: MigrationUpload[] =
        input.stage === "switch"
            ? nodes.flatMap((node) =>
                  (["caCert", "cert", "key"] as const).map((which) => ({
                      node: node.name,
                      path: input.clientFiles[which].stagedPath,
                      mode: which === "key" ? 0o600 : 0o644,
                      from: input.clientFiles[which].from,
                      secret: which === "key",
                  })),
              )
            : [];
    return {
        stage: input.stage,
        layout,
        nodes,
        externalEndpoints: [...input.externalEndpoints],
        installPaths,
        apiserverEtcdFlags,
        snapshotPath,
        freezeWrites,
        uploads,
        steps,
    };
}

interface Context {
    layout: RestoreLayout;
    nodes: MigrationPlannedNode[];
    stackedEndpoint: string;
    externalEndpoints: string[];
    clientFiles: StackedToExternalMigrationInput["clientFiles"];
    installPaths: StackedToExternalMigrationPlan["installPaths"];
    snapshotPath: string;
    seededSha256: string;
    manifestsDir: string;
    stoppedManifestsDir: string;
    keepDir: string;
    kubectl: string;
    apiserverPort: number;
    readyTimeout: number;
    freezeWrites: boolean;
    apiserverEtcdFlags: string[];
}

/**
 * The sed program that sets the four etcd flags of a kubeadm manifest
 * (`    - --etcd-servers=…` list items). It replaces whole lines, so running it
 * on its own output changes nothing.
 */
export function etcdFlagsSedProgram(flags: string[]): string {
    return flags
        .map((flag) => {
            const name = flag.slice(2, flag.indexOf("="));
            return `-e 's|^\\( *\\)- --${name}=.*$|\\1- ${flag}|'`;
        })
        .join(" ");
}

class MigrationSteps {
    private readonly list = new StepList();
    private readonly first: MigrationPlannedNode;

    constructor(private readonly context: Context) {
        this.first = context.nodes[0];
    }

    private get snapshot(): string {
        return shellQuote(this.context.snapshotPath);
    }

    /** etcdctl with the new client certificate, as staged (preflight) — paths only, never contents. */
    private externalEtcdctl(paths: { ca: string; cert: string; key: string }): string {
        const binary = this.context.layout.etcdctl.split(/\s+/)[0];
        return `${binary} --endpoints=${this.context.externalEndpoints.join(",")} --cacert=${paths.ca} --cert=${paths.cert} --key=${paths.key} --command-timeout=10s`;
    }

    private stagedEtcdctl(): string {
        const f = this.context.clientFiles;
        return this.externalEtcdctl({ ca: f.caCert.stagedPath, cert: f.cert.stagedPath, key: f.key.stagedPath });
    }

    private stackedEtcdctl(): string {
        return `${this.context.layout.etcdctl} --endpoints=${this.context.stackedEndpoint} --command-timeout=10s`;
    }

    private manifest(dir: string, file: string): string {
        return `${dir}/${file}`;
    }

    private reachable(): string {
        return `echo "reachable: $(hostname) as $(id -un)"`;
    }

    /** Every flag exactly once: a manifest without one of them is not kubeadm's, and a rewrite would silently miss it. */
    private flagChecks(node: MigrationPlannedNode): string[] {
        return ETCD_FLAGS.map(
            (flag) =>
                `n=$(grep -c -- '^ *- --${flag}=' "$manifest" || true); if [ "$n" != 1 ]; then echo "${node.name}: $manifest has $n '- --${flag}=' lines, expected 1 (kubeadm list form): fix the manifest or rewrite it by hand" >&2; exit 1; fi`,
        );
    }

    /** Finds kube-apiserver.yaml in the manifests dir or where stopControlPlane keeps it; exactly one must exist. */
    private locateApiserverManifest(node: MigrationPlannedNode): string[] {
        const running = this.manifest(this.context.manifestsDir, "kube-apiserver.yaml");
        const stopped = this.manifest(this.context.stoppedManifestsDir, "kube-apiserver.yaml");
        return [
            `if [ -f ${running} ] && [ -f ${stopped} ]; then echo "${node.name}: both ${running} and ${stopped} exist; keep the one kube-apiserver should run with and move the other out of both dirs" >&2; exit 1; fi`,
            [
                `if [ -f ${running} ]; then manifest=${running}`,
                `elif [ -f ${stopped} ]; then manifest=${stopped}`,
                `else`,
                `    echo "${node.name}: no kube-apiserver.yaml in ${this.context.manifestsDir} or ${this.context.stoppedManifestsDir}: not a kubeadm control-plane node" >&2`,
                `    exit 1`,
                `fi`,
            ].join("\n"),
        ];
    }

    // ------------------------------------------------------------ stage "snapshot"

    private snapshotPreflight(): string[] {
        const etcdManifest = this.manifest(this.context.manifestsDir, "etcd.yaml");
        return this.context.nodes.map((node) => {
            const isFirst = node === this.first;
            const commands = [
                this.reachable(),
                `if [ ! -f ${etcdManifest} ]; then echo "${node.name}: no ${etcdManifest}: no stacked etcd runs here (already migrated, or stopped by hand)" >&2; exit 1; fi`,
                ...this.locateApiserverManifest(node),
                ...this.flagChecks(node),
                `grep -- '^ *- --etcd-' "$manifest"`,
            ];
            if (isFirst) {
                commands.push(
                    `${this.stackedEtcdctl()} endpoint health`,
                    `${this.context.layout.etcdutl} version`,
                    // The snapshot is at most the size of the backend file; 128 MiB on top for the copy's own slack.
                    `d=${posixDirname(this.context.snapshotPath)}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done`,
                    `need_kb=$(( $(du -k ${this.context.layout.dataDir}/member/snap/db | cut -f1) + 131072 )); avail_kb=$(df -Pk "$d" | awk 'NR==2 {print $4}')`,
                    `if [ "$avail_kb" -lt "$need_kb" ]; then echo "$d on ${node.name} has $avail_kb KiB free, the snapshot needs $need_kb KiB: free space or set snapshotPath" >&2; exit 1; fi`,
                    `echo "disk: $avail_kb KiB free in $d, need $need_kb KiB"`,
                );
            }
            return this.list.add({
                id: `preflight-${node.name}`,
                node: node.name,
                description:
                    `Preflight on ${node.name}: reachable, stacked etcd.yaml present, kube-apiserver.yaml has each --etcd-* flag once` +
                    `${isFirst ? ", stacked etcd healthy, etcdutl present, disk space for the snapshot" : ""} (changes nothing)`,
                commands,
                dependsOn: [],
                readOnly: true,
            });
        });
    }

    private stopControlPlane(after: string[]): string[] {
        return this.context.nodes.map((node) =>
            this.list.add({
                id: `stop-control-plane-${node.name}`,
                node: node.name,
                description: `Stop kube-apiserver, kube-controller-manager and kube-scheduler on ${node.name} (manifests kept in ${this.context.stoppedManifestsDir}) so no write after the snapshot is lost`,
                commands: [...this.context.layout.stopControlPlane],
                dependsOn: after,
            }),
        );
    }

    private takeSnapshot(after: string[]): string {
        const path = this.context.snapshotPath;
        return this.list.add({
            id: "snapshot",
            node: this.first.name,
            description: `Snapshot the stacked etcd into ${path} on ${this.first.name} (mode 0600: it holds every Secret), verified with etcdutl snapshot status and sha256`,
            commands: [
                `mkdir -p -m 0700 ${posixDirname(path)}`,
                // A snapshot from an earlier run is kept, never overwritten.
                [
                    `if [ -e ${this.snapshot} ]; then`,
                    `    stamp=$(date -u +%Y%m%dT%H%M%SZ)`,
                    `    mv ${this.snapshot} ${this.snapshot}.before-$stamp`,
                    `    mv -f ${this.snapshot}.sha256 ${this.snapshot}.sha256.before-$stamp 2>/dev/null || true`,
                    `    echo "kept the earlier snapshot as ${path}.before-$stamp"`,
                    `fi`,
                ].join("\n"),
                `(umask 077; ${this.stackedEtcdctl()} snapshot save ${this.snapshot})`,
                `chmod 0600 ${this.snapshot}`,
                `${this.context.layout.etcdutl} snapshot status ${this.snapshot} -w table`,
                `(cd ${posixDirname(path)} && sha256sum ${shellQuote(path.slice(posixDirname(path).length + 1))} > ${shellQuote(path.slice(posixDirname(path).length + 1))}.sha256)`,
                // The namespaces as stored: the switch's verify step reads each one back through the new apiserver.
                `${this.stackedEtcdctl()} get /registry/namespaces/ --prefix --keys-only | sed -n 's|^/registry/namespaces/||p' | sort > ${this.snapshot}.namespaces`,
                `echo "namespaces in the snapshot: $(wc -l < ${this.snapshot}.namespaces)"`,
            ],
            dependsOn: after,
        });
    }

    private handOff(after: string): string {
        const path = this.context.snapshotPath;
        return this.list.add({
            id: "hand-off",
            node: this.first.name,
            description:
                "Print the snapshot's path and sha256 for seeding the EtcdCluster (its seedSnapshotPath input takes the copied file)",
            commands: [
                `(cd ${posixDirname(path)} && sha256sum -c ${shellQuote(path.slice(posixDirname(path).length + 1))}.sha256)`,
                `echo "snapshot: ${this.first.name}:${path}"`,
                `echo "sha256: $(cut -d' ' -f1 ${this.snapshot}.sha256)"`,
                `echo "bytes: $(wc -c < ${this.snapshot})"`,
                `echo "next: copy it to the machine running Pulumi (mode 0600), check sha256sum, set EtcdCluster seedSnapshotPath to it, pulumi up; then stage switch with seededSnapshotSha256"`,
                ...(this.context.freezeWrites
                    ? [
                          `echo "kube-apiserver stays stopped on every node until stage switch (roll back: move the manifests from ${this.context.stoppedManifestsDir} back to ${this.context.manifestsDir})"`,
                      ]
                    : []),
            ],
            dependsOn: [after],
            readOnly: true,
        });
    }

    snapshotStage(): RestoreStep[] {
        const preflight = this.snapshotPreflight();
        const frozen = this.context.freezeWrites ? this.stopControlPlane(preflight) : preflight;
        const snapshot = this.takeSnapshot(frozen);
        this.handOff(snapshot);
        return this.list.steps;
    }

    // ------------------------------------------------------------ stage "switch"

    private switchPreflight(): string[] {
        const f = this.context.clientFiles;
        const etcdManifest = this.manifest(this.context.manifestsDir, "etcd.yaml");
        return this.context.nodes.map((node) => {
            const isFirst = node === this.first;
            const commands = [
                this.reachable(),
                ...[f.caCert.stagedPath, f.cert.stagedPath, f.key.stagedPath].map(
                    (path) =>
                        `if [ ! -s ${path} ]; then echo "${node.name}: ${path} is missing or empty: stage the client files first (see the plan's uploads)" >&2; exit 1; fi`,
                ),
                `case "$(stat -c %a ${f.key.stagedPath})" in *00) ;; *) echo "${node.name}: ${f.key.stagedPath} is open to group or others (mode $(stat -c %a ${f.key.stagedPath})): chmod 0600 it" >&2; exit 1 ;; esac`,
                // Healthy with the certificate kube-apiserver will use, from this node: TLS, routing and the client certificate at once.
                `${this.stagedEtcdctl()} endpoint health`,
                ...this.locateApiserverManifest(node),
                ...this.flagChecks(node),
            ];
            if (this.context.freezeWrites) {
                commands.push(
                    `if pgrep -x kube-apiserver >/dev/null; then echo "${node.name}: kube-apiserver runs, so writes after the snapshot may exist that the external cluster lacks: run stage snapshot again and re-seed" >&2; exit 1; fi`,
                );
            }
            if (isFirst) {
                commands.push(
                    `if [ ! -f ${this.snapshot} ]; then echo "${this.context.snapshotPath} is not on ${node.name}: run stage snapshot first" >&2; exit 1; fi`,
                    `echo "${this.context.seededSha256}  ${this.context.snapshotPath}" | sha256sum -c -`,
                    // Seeded, not empty: the external cluster holds the snapshot's namespaces.
                    `stored=$(mktemp); ${this.stagedEtcdctl()} get /registry/namespaces/ --prefix --keys-only | sed -n 's|^/registry/namespaces/||p' | sort > "$stored"`,
                    `missing=$(grep -vxF -f "$stored" ${this.snapshot}.namespaces || true); rm -f "$stored"`,
                    [
                        `if [ -n "$missing" ]; then`,
                        `    echo "namespaces of the snapshot missing in the external cluster: $missing" >&2`,
                        `    echo "the external cluster was not seeded from ${this.context.snapshotPath}: set EtcdCluster seedSnapshotPath to it (a new cluster restores it before its first start)" >&2`,
                        `    exit 1`,
                        `fi`,
                    ].join("\n"),
                );
            }
            commands.push(`if [ ! -f ${etcdManifest} ]; then echo "note: ${etcdManifest} is already gone on ${node.name}"; fi`);
            return this.list.add({
                id: `preflight-${node.name}`,
                node: node.name,
                description:
                    `Preflight on ${node.name}: staged client files present (key 0600), external cluster healthy with them, kube-apiserver.yaml found with each --etcd-* flag once` +
                    `${this.context.freezeWrites ? ", kube-apiserver still stopped" : ""}${isFirst ? ", snapshot sha256 matches, external cluster holds its namespaces" : ""} (changes nothing)`,
                commands,
                dependsOn: [],
                readOnly: true,
            });
        });
    }

    /** Each file is copied under umask 077, given its owner and mode, then renamed into place; a different file there is kept with a timestamp. */
    private installClientFiles(node: MigrationPlannedNode, after: string[]): string {
        const f = this.context.clientFiles;
        const p = this.context.installPaths;
        const files: [string, string, string][] = [
            [f.caCert.stagedPath, p.caFile, "0644"],
            [f.cert.stagedPath, p.certFile, "0644"],
            [f.key.stagedPath, p.keyFile, "0600"],
        ];
        return this.list.add({
            id: `install-client-files-${node.name}`,
            node: node.name,
            description: `Install the external etcd client files on ${node.name}: ${files.map(([, to, mode]) => `${to} (${mode})`).join(", ")}; from ${f.caCert.from}, ${f.cert.from}, ${f.key.from}`,
            commands: [
                `stamp=$(date -u +%Y%m%dT%H%M%SZ)`,
                ...files.map(
                    ([from, to, mode]) =>
                        `if [ -e ${to} ] && ! cmp -s ${from} ${to}; then cp -p ${to} ${to}.before-migration-$stamp; echo "kept the old ${to} as ${to}.before-migration-$stamp"; fi; ` +
                        // Like install -D -m, with sh and coreutils/busybox only: the copy is never readable by others, even for a moment.
                        `mkdir -p ${posixDirname(to)}; (umask 077; cp ${from} ${to}.etcd-recovery-next); chown root:root ${to}.etcd-recovery-next; chmod ${mode} ${to}.etcd-recovery-next; mv -f ${to}.etcd-recovery-next ${to}`,
                ),
                `ls -l ${files.map(([, to]) => to).join(" ")}`,
            ],
            dependsOn: after,
        });
    }

    /**
     * Rewrites the four flags in whichever kube-apiserver.yaml exists. The new
     * content is built in a hidden file (the kubelet skips dot files) and
     * renamed over the manifest; an unchanged manifest is left alone, so a
     * second run neither copies nor touches it.
     */
    private rewriteApiserver(node: MigrationPlannedNode, after: string[]): string {
        const keep = this.context.keepDir;
        return this.list.add({
            id: `rewrite-apiserver-${node.name}`,
            node: node.name,
            description: `Point kube-apiserver.yaml on ${node.name} at the external cluster (${this.context.apiserverEtcdFlags.join(" ")}); the old manifest is kept in ${keep}`,
            commands: [
                ...this.locateApiserverManifest(node),
                ...this.flagChecks(node),
                `stamp=$(date -u +%Y%m%dT%H%M%SZ); dir=$(dirname "$manifest"); next="$dir/.kube-apiserver.yaml.etcd-recovery-next"`,
                `sed ${etcdFlagsSedProgram(this.context.apiserverEtcdFlags)} "$manifest" > "$next"`,
                `if cmp -s "$next" "$manifest"; then rm -f "$next"; echo "$manifest already points at the external cluster: unchanged"; ` +
                    `else mkdir -p -m 0700 ${keep}; cp -p "$manifest" ${keep}/kube-apiserver.yaml.before-migration-$stamp; ` +
                    `chmod "$(stat -c %a "$manifest")" "$next"; chown "$(stat -c %u:%g "$manifest")" "$next"; mv -f "$next" "$manifest"; ` +
                    `echo "rewrote $manifest; the old one is ${keep}/kube-apiserver.yaml.before-migration-$stamp"; fi`,
                ...this.context.apiserverEtcdFlags.map((flag) => `grep -qx -- ' *- ${flag}' "$manifest"`),
                `grep -- '^ *- --etcd-' "$manifest"`,
            ],
            dependsOn: after,
        });
    }

    private stopStackedEtcd(node: MigrationPlannedNode, after: string[]): string {
        return this.list.add({
            id: `stop-stacked-etcd-${node.name}`,
            node: node.name,
            description: `Stop the stacked etcd on ${node.name}: etcd.yaml moved to ${this.context.stoppedManifestsDir} (kept), ${this.context.layout.dataDir} untouched`,
            commands: [...this.context.layout.stopEtcd, `ls -ld ${this.context.layout.dataDir}`],
            dependsOn: after,
        });
    }

    private startControlPlane(node: MigrationPlannedNode, after: string[]): string {
        return this.list.add({
            id: `start-control-plane-${node.name}`,
            node: node.name,
            description: `Start kube-apiserver (now on the external cluster), kube-controller-manager and kube-scheduler on ${node.name}`,
            commands: [...this.context.layout.startControlPlane],
            dependsOn: after,
        });
    }

    private apiserverUrl(node: MigrationPlannedNode): string {
        return `https://${node.address}:${this.context.apiserverPort}`;
    }

    private waitReady(node: MigrationPlannedNode, after: string[]): string {
        const kubectl = `${this.context.kubectl} --server=${this.apiserverUrl(node)} --request-timeout=5s`;
        return this.list.add({
            id: `wait-readyz-${node.name}`,
            node: node.name,
            description: `Wait until kube-apiserver on ${node.name} answers /readyz (etcd check included) and runs with the external --etcd-servers (up to ${this.context.readyTimeout}s)`,
            commands: [
                `deadline=$(( $(date +%s) + ${this.context.readyTimeout} ))`,
                [
                    `until ${kubectl} get --raw=/readyz >/dev/null 2>&1; do`,
                    `    if [ "$(date +%s)" -ge "$deadline" ]; then`,
                    `        ${kubectl} get --raw='/readyz?verbose' >&2 || true`,
                    `        echo "kube-apiserver on ${node.name} is not ready after ${this.context.readyTimeout}s" >&2`,
                    `        exit 1`,
                    `    fi`,
                    `    sleep 3`,
                    `done`,
                ].join("\n"),
                `${kubectl} get --raw='/readyz/etcd'; echo`,
                // The running process, not just the file: the kubelet really restarted it with the new flags.
                `if ! pgrep -a kube-apiserver | grep -q -- ${shellQuote(this.context.apiserverEtcdFlags[0])}; then echo "kube-apiserver on ${node.name} does not run with ${this.context.apiserverEtcdFlags[0]}" >&2; exit 1; fi`,
            ],
            dependsOn: after,
            readOnly: true,
        });
    }

    private verify(after: string[]): string {
        const kubectl = `${this.context.kubectl} --server=${this.apiserverUrl(this.first)} --request-timeout=10s`;
        return this.list.add({
            id: "verify",
            node: this.first.name,
            description:
                "Verify: every namespace of the snapshot is readable through kube-apiserver, objects list, and the external cluster is healthy",
            commands: [
                `served=$(mktemp); ${kubectl} get namespaces -o name | sed 's|^namespace/||' | sort > "$served"`,
                `missing=$(grep -vxF -f "$served" ${this.snapshot}.namespaces || true); rm -f "$served"`,
                `if [ -n "$missing" ]; then echo "namespaces in the snapshot that kube-apiserver does not serve: $missing" >&2; exit 1; fi`,
                `echo "all $(wc -l < ${this.snapshot}.namespaces) namespaces of the snapshot are served"`,
                `${kubectl} get --raw=/api/v1/namespaces/kube-system >/dev/null`,
                `${kubectl} -n kube-system get configmaps -o name`,
                `${this.externalEtcdctl({ ca: this.context.installPaths.caFile, cert: this.context.installPaths.certFile, key: this.context.installPaths.keyFile })} endpoint status -w table`,
            ],
            dependsOn: after,
            readOnly: true,
        });
    }

    switchStage(): RestoreStep[] {
        const preflight = this.switchPreflight();
        const rewritten = this.context.nodes.map((node) => this.rewriteApiserver(node, [this.installClientFiles(node, preflight)]));
        // Every apiserver points elsewhere before any stacked member stops: the stacked cluster keeps quorum until then.
        const stopped = this.context.nodes.map((node) => this.stopStackedEtcd(node, rewritten));
        const ready = this.context.nodes.map((node) => {
            const started = this.context.freezeWrites ? [this.startControlPlane(node, stopped)] : stopped;
            return this.waitReady(node, started);
        });
        this.verify(ready);
        return this.list.steps;
    }
}

/** The exact command list per node for a reviewer, in renderDryRun's format; holds no secret (file contents never enter the plan). */
export function renderMigrationDryRun(plan: StackedToExternalMigrationPlan): string {
    const out: string[] = [];
    out.push(
        `Stacked → external etcd migration dry run — layout kubeadm, stage ${plan.stage}${plan.freezeWrites ? ", control plane stopped from snapshot to switch" : ", control plane kept running (writes after the snapshot are lost)"}`,
    );
    out.push(`external cluster: ${plan.externalEndpoints.join(",")}`);
    out.push(`kube-apiserver after the switch: ${plan.apiserverEtcdFlags.join(" ")}`);
    out.push(`snapshot: ${plan.nodes[0].name}:${plan.snapshotPath}`);
    for (const node of plan.nodes) out.push(`node ${node.name}: ${node.sshUser}@${node.address}:${node.sshPort}`);
    if (plan.uploads.length > 0) {
        out.push("", "Files staged on the nodes before the steps (contents not shown):");
        for (const u of plan.uploads)
            out.push(`    ${u.node}:${u.path} mode ${u.mode.toString(8).padStart(4, "0")} from ${u.from}${u.secret ? " (secret)" : ""}`);
    }
    out.push("", ...renderStepList(plan.steps), "");
    for (const node of plan.nodes)
        out.push(
            `${node.name}: ${plan.steps
                .filter((s) => s.node === node.name)
                .map((s) => s.id)
                .join(" → ")}`,
        );
    return out.join("\n") + "\n";
}

import { InputError } from "../errors";
import { ETCD_CLIENT_PORT, ETCD_METRICS_PORT, ETCD_PEER_PORT, EtcdMember, EtcdTopology } from "./topology";

/** Where certificates live inside an etcd container: kubeadm's layout, which users know. */
export const ETCD_PKI_DIR = "/etc/kubernetes/pki/etcd";
/** The member's volume is mounted here. */
export const ETCD_VOLUME_DIR = "/var/lib/etcd";
/**
 * The data directory is a fresh sub-directory of the volume: etcdctl 3.4's
 * `snapshot restore` refuses a directory that already exists, and a mount
 * point always exists.
 */
export const ETCD_DATA_DIR = `${ETCD_VOLUME_DIR}/data`;
export const ETCD_BIN_DIR = "/usr/local/bin";

export const etcdCertPaths = {
    ca: `${ETCD_PKI_DIR}/ca.crt`,
    serverCert: `${ETCD_PKI_DIR}/server.crt`,
    serverKey: `${ETCD_PKI_DIR}/server.key`,
    peerCert: `${ETCD_PKI_DIR}/peer.crt`,
    peerKey: `${ETCD_PKI_DIR}/peer.key`,
    healthcheckCert: `${ETCD_PKI_DIR}/healthcheck-client.crt`,
    healthcheckKey: `${ETCD_PKI_DIR}/healthcheck-client.key`,
} as const;

/** `--auto-compaction-mode`: "periodic" (retention is a duration) or "revision" (retention is a revision count). */
export const EtcdAutoCompactionMode = { periodic: "periodic", revision: "revision" } as const;
export type EtcdAutoCompactionMode = (typeof EtcdAutoCompactionMode)[keyof typeof EtcdAutoCompactionMode];

/** etcd's tunables; every default is etcd 3.5's own, written out so the running flags are visible. */
export interface EtcdTunables {
    /** `--heartbeat-interval` in ms. Default 100. */
    heartbeatIntervalMs?: number;
    /** `--election-timeout` in ms. Default 1000; must be at least 5x the heartbeat. */
    electionTimeoutMs?: number;
    /** `--snapshot-count`. Default 100000. */
    snapshotCount?: number;
    /** `--quota-backend-bytes`. Default 2147483648 (2 GiB); etcd recommends at most 8 GiB. */
    quotaBackendBytes?: number;
    /** `--auto-compaction-mode`: "periodic" or "revision". Default "periodic". */
    autoCompactionMode?: EtcdAutoCompactionMode;
    /** `--auto-compaction-retention`, e.g. "1h" or "1000". Default "0" (off). */
    autoCompactionRetention?: string;
}

export const ETCD_DEFAULT_TUNABLES: Required<EtcdTunables> = {
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    snapshotCount: 100000,
    quotaBackendBytes: 2 * 1024 ** 3,
    autoCompactionMode: "periodic",
    autoCompactionRetention: "0",
};

export function resolveTunables(input: EtcdTunables | undefined): Required<EtcdTunables> {
    const t = { ...ETCD_DEFAULT_TUNABLES, ...stripUndefined(input ?? {}) };
    assertPositiveInteger(t.heartbeatIntervalMs, "tunables.heartbeatIntervalMs");
    assertPositiveInteger(t.electionTimeoutMs, "tunables.electionTimeoutMs");
    assertPositiveInteger(t.snapshotCount, "tunables.snapshotCount");
    if (t.electionTimeoutMs < 5 * t.heartbeatIntervalMs || t.electionTimeoutMs > 50000) {
        throw new InputError(
            "tunables.electionTimeoutMs",
            t.electionTimeoutMs,
            `etcd needs an election timeout of at least 5x the heartbeat (${5 * t.heartbeatIntervalMs} ms) and at most 50000 ms`,
        );
    }
    if (!Number.isInteger(t.quotaBackendBytes) || t.quotaBackendBytes < 0 || t.quotaBackendBytes > 8 * 1024 ** 3) {
        throw new InputError("tunables.quotaBackendBytes", t.quotaBackendBytes, "use 0 (etcd's default) up to 8589934592 (8 GiB)");
    }
    if (t.autoCompactionMode !== "periodic" && t.autoCompactionMode !== "revision") {
        throw new InputError("tunables.autoCompactionMode", t.autoCompactionMode, 'use "periodic" or "revision"');
    }
    const retentionPattern = t.autoCompactionMode === "periodic" ? /^(0|\d+|(\d+(\.\d+)?(h|m|s))+)$/ : /^\d+$/;
    if (!retentionPattern.test(t.autoCompactionRetention)) {
        throw new InputError(
            "tunables.autoCompactionRetention",
            t.autoCompactionRetention,
            t.autoCompactionMode === "periodic"
                ? 'use a duration such as "1h" or "30m", or "0" to disable'
                : 'use a revision count such as "10000"',
        );
    }
    return t;
}

function assertPositiveInteger(value: number, argument: string): void {
    if (!Number.isInteger(value) || value <= 0) throw new InputError(argument, value, "use a positive integer");
}

function stripUndefined<T extends object>(value: T): Partial<T> {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The full etcd command line for one member, in exec form. Certificates are
 * files; no secret is ever a flag value.
 */
export function etcdMemberFlags(member: EtcdMember, topology: EtcdTopology, tunables: Required<EtcdTunables>): string[] {
    // On a bridge network each container owns its address space, so listening on
    // all interfaces is safe; with host networking we bind to the member's own IP.
    const bridge = topology.network.mode === "bridge";
    const listenClient = bridge
        ? `https://0.0.0.0:${ETCD_CLIENT_PORT}`
        : `https://${member.ip}:${ETCD_CLIENT_PORT},https://127.0.0.1:${ETCD_CLIENT_PORT}`;
    const listenPeer = bridge ? `https://0.0.0.0:${ETCD_PEER_PORT}` : member.peerUrl;
    return [
        `--name=${member.name}`,
        `--data-dir=${ETCD_DATA_DIR}`,
        `--listen-client-urls=${listenClient}`,
        `--advertise-client-urls=${member.clientUrl}`,
        `--listen-peer-urls=${listenPeer}`,
        `--initial-advertise-peer-urls=${member.peerUrl}`,
        `--initial-cluster=${topology.initialCluster}`,
        `--initial-cluster-token=${topology.initialClusterToken}`,
        "--initial-cluster-state=new",
        "--client-cert-auth=true",
        `--trusted-ca-file=${etcdCertPaths.ca}`,
        `--cert-file=${etcdCertPaths.serverCert}`,
        `--key-file=${etcdCertPaths.serverKey}`,
        "--peer-client-cert-auth=true",
        `--peer-trusted-ca-file=${etcdCertPaths.ca}`,
        `--peer-cert-file=${etcdCertPaths.peerCert}`,
        `--peer-key-file=${etcdCertPaths.peerKey}`,
        `--listen-metrics-urls=http://127.0.0.1:${ETCD_METRICS_PORT}`,
        `--heartbeat-interval=${tunables.heartbeatIntervalMs}`,
        `--election-timeout=${tunables.electionTimeoutMs}`,
        `--snapshot-count=${tunables.snapshotCount}`,
        `--quota-backend-bytes=${tunables.quotaBackendBytes}`,
        `--auto-compaction-mode=${tunables.autoCompactionMode}`,
        `--auto-compaction-retention=${tunables.autoCompactionRetention}`,
    ];
}

/** etcdctl TLS flags for a client holding the health-check certificate inside a member container. */
export function etcdctlTlsFlags(paths: { ca: string; cert: string; key: string }): string[] {
    return [`--cacert=${paths.ca}`, `--cert=${paths.cert}`, `--key=${paths.key}`];
}

/**
 * Health check in exec form: registry.k8s.io/etcd is distroless, there is no
 * shell to run a CMD-SHELL check. `endpoint health` needs quorum, so a member
 * is healthy only when the cluster can commit.
 */
export function etcdHealthCheckCommand(): string[] {
    return [
        "CMD",
        `${ETCD_BIN_DIR}/etcdctl`,
        `--endpoints=https://127.0.0.1:${ETCD_CLIENT_PORT}`,
        ...etcdctlTlsFlags({ ca: etcdCertPaths.ca, cert: etcdCertPaths.healthcheckCert, key: etcdCertPaths.healthcheckKey }),
        "--command-timeout=5s",
        "endpoint",
        "health",
    ];
}

/**
 * Restoring a snapshot into a member's data directory before it first starts.
 * etcd 3.5 moved `snapshot restore` to etcdutl; 3.4 only has it in etcdctl.
 */
export function snapshotRestoreCommand(
    member: EtcdMember,
    topology: EtcdTopology,
    snapshotPath: string,
    etcdVersion: string,
): { entrypoint: string[]; command: string[] } {
    const tool = usesEtcdutl(etcdVersion) ? "etcdutl" : "etcdctl";
    return {
        entrypoint: [`${ETCD_BIN_DIR}/${tool}`],
        command: [
            "snapshot",
            "restore",
            snapshotPath,
            `--name=${member.name}`,
            `--initial-cluster=${topology.initialCluster}`,
            `--initial-cluster-token=${topology.initialClusterToken}`,
            `--initial-advertise-peer-urls=${member.peerUrl}`,
            `--data-dir=${ETCD_DATA_DIR}`,
        ],
    };
}

/** True for etcd 3.5 and later, where `snapshot restore` lives in etcdutl. */
export function usesEtcdutl(etcdVersion: string): boolean {
    const match = /^v?(\d+)\.(\d+)/.exec(etcdVersion);
    if (!match) throw new InputError("etcdVersion", etcdVersion, 'give the etcd version of the image, e.g. "3.5.21"');
    const [major, minor] = [Number(match[1]), Number(match[2])];
    return major > 3 || (major === 3 && minor >= 5);
}

/** The etcd version in a registry.k8s.io/etcd or quay.io/coreos/etcd image tag, if it has one. */
export function etcdVersionFromImage(image: string): string | undefined {
    const tag = /:v?(\d+\.\d+\.\d+)(-\d+)?$/.exec(image);
    return tag?.[1];
}

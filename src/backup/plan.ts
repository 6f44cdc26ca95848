/**
 * EtcdBackup plan (pure): typed arguments → the Kubernetes objects of a
 * scheduled, verified etcd backup (the hand-written backup CronJob, done right). Plain JSON objects,
 * no Pulumi, no I/O; the component and the tests realize the same objects.
 *
 * The pod (default, `sidecarUpload: true`): init container `snapshot` (etcd
 * image, exec form: etcdctl snapshot save into an emptyDir) → init container
 * `transfer` with restartPolicy Always, a Kubernetes native sidecar (rclone
 * image: script from a ConfigMap, rclone config with the credentials from a
 * Secret volume): it uploads the object unsealed and reads it back while →
 * init container `verify` (etcd image, exec form: etcdutl snapshot status; a
 * damaged file fails the pod here, before any main container starts, so
 * nothing is sealed) runs beside it → container `upload` waits for the
 * sidecar's marker in the emptyDir, seals the backup and applies retention.
 * The kubelet stops the sidecar after the main container.
 *
 * With a restore drill the sidecar also leaves the read-back, decompressed
 * copy; after `verify`, init container `await-transfer` (rclone image) waits
 * for it, then `drill-status` (etcdutl snapshot status) and optionally
 * `drill-restore` (etcdutl snapshot restore into the emptyDir), both exec form
 * from the etcd image; the container `finalize` then seals the backup and
 * applies retention. A failed drill fails the pod before anything is sealed
 * or deleted.
 *
 * With several endpoints, init container `etcd-gateway` comes first: `etcd gateway
 * start` from the etcd image as a native sidecar, a TCP proxy on 127.0.0.1 that
 * connects each client connection to the first member that accepts it; `snapshot`
 * talks to it (TLS end to end: etcdctl checks the member's certificate for
 * 127.0.0.1, the member etcdctl's client certificate). (`etcd grpc-proxy` would
 * pick members by health, but refuses client certificates with a Common Name,
 * which every distribution's etcd client certificate has.)
 *
 * `sidecarUpload: false` (Kubernetes < 1.29) runs the same steps one after
 * another: snapshot → verify → container `upload` (phase all), or with a
 * drill init `upload` → drill-status → drill-restore → container `finalize`.
 *
 * Every file etcdutl reads (the snapshot, the drill copy) is written by a
 * container whose memory limit (snapshotMemoryLimit) can hold it in the page
 * cache: etcdutl reads it at random, < 1 s per GiB cached, 20+ s from disk.
 */
import { BackupAlertRule, BackupAlertsInput, renderBackupAlertRule } from "./alerts";
import { DEFAULT_ETCD_IMAGE } from "../etcd/plan";
import { InputError } from "../errors";
import { renderBackupScript } from "./script";
import { BACKUP_NAME_PATTERN, backupObjectExtension, renderBackupStore, validateStoreClusterName, validateStorePrefix } from "./store";
import { exactlyOneOf, validateSchedule, validateTimeZone } from "./validate";

/** Upstream rclone image (alpine with a shell); pinned, override for air-gapped registries. */
export const DEFAULT_UPLOADER_IMAGE = "rclone/rclone:1.60.1";

/**
 * Where each distribution keeps an etcd client certificate on control-plane/etcd nodes:
 * "kubeadm" (the health-check client certificate kubeadm makes for etcd probes), "rke" (RKE1:
 * kube-apiserver's own etcd client certificate), "kubespray" (the per-node admin certificate).
 */
export const CertificatePreset = { kubeadm: "kubeadm", rke: "rke", kubespray: "kubespray" } as const;
export type CertificatePreset = (typeof CertificatePreset)[keyof typeof CertificatePreset];

/** The options of CertificateSource (exactly one is given). */
const CERTIFICATE_SOURCES = ["preset", "hostPath", "secret"] as const;

/** The files of each CertificatePreset. */
export const CERTIFICATE_PRESETS = {
    /** kubeadm: the health-check client certificate kubeadm makes for etcd probes. */
    kubeadm: { path: "/etc/kubernetes/pki/etcd", caFile: "ca.crt", certFile: "healthcheck-client.crt", keyFile: "healthcheck-client.key" },
    /** RKE1: kube-apiserver's own etcd client certificate (signed by kube-ca, which etcd trusts). */
    rke: { path: "/etc/kubernetes/ssl", caFile: "kube-ca.pem", certFile: "kube-node.pem", keyFile: "kube-node-key.pem" },
    /** kubespray: the per-node admin certificate; $(NODE_NAME) is the Kubernetes node name (kubespray's inventory name). */
    kubespray: { path: "/etc/ssl/etcd/ssl", caFile: "ca.pem", certFile: "admin-$(NODE_NAME).pem", keyFile: "admin-$(NODE_NAME)-key.pem" },
} as const satisfies Record<CertificatePreset, CertificateHostPath>;

/**
 * The nodes the backup runs on: "control-plane" (default), "etcd" (RKE: label and NoExecute taint
 * node-role.kubernetes.io/etcd), "master" (clusters from before Kubernetes 1.20), or "any" (no
 * placement: for explicit endpoints with Secret certificates).
 */
export const BackupNodeRole = { controlPlane: "control-plane", etcd: "etcd", master: "master", any: "any" } as const;
export type BackupNodeRole = (typeof BackupNodeRole)[keyof typeof BackupNodeRole];

/** Node label and taints of the nodes that run etcd, per distribution. */
export const NODE_ROLE_PRESETS = {
    "control-plane": { labelKey: "node-role.kubernetes.io/control-plane", taintKeys: ["node-role.kubernetes.io/control-plane"] },
    /** RKE: etcd nodes carry node-role.kubernetes.io/etcd=true and the NoExecute taint of the same key. */
    etcd: { labelKey: "node-role.kubernetes.io/etcd", taintKeys: ["node-role.kubernetes.io/etcd", "node-role.kubernetes.io/controlplane"] },
    /** Clusters from before Kubernetes 1.20. */
    master: { labelKey: "node-role.kubernetes.io/master", taintKeys: ["node-role.kubernetes.io/master"] },
} as const;
/** The BackupNodeRole values that place the pod (all but "any"). */
export type NodeRolePreset = keyof typeof NODE_ROLE_PRESETS;

/** Nodes chosen by a label of your own, instead of a BackupNodeRole. */
export interface BackupNodeLabel {
    /** The node label that marks the nodes running etcd, e.g. "example.com/etcd". */
    labelKey: string;
    /** Required label value. Default: any value (the label only has to exist). */
    labelValue?: string;
    /** Taint keys of those nodes to tolerate (any effect). Default none. */
    tolerateTaints?: string[];
}

/** An etcd client certificate already on the nodes: a directory and the file names in it. */
export interface CertificateHostPath {
    /** Absolute directory on the node, mounted read-only. */
    path: string;
    /** CA certificate file name inside `path`. */
    caFile: string;
    /** Client certificate file name inside `path` ($(NODE_NAME) is the Kubernetes node name). */
    certFile: string;
    /** Client key file name inside `path`. */
    keyFile: string;
}

/** An etcd client certificate as PEMs (e.g. from EtcdPki outputs), put into a Secret `<name>-etcd-client`. */
export interface EtcdClientPems<S = string> {
    /** The etcd CA certificate, PEM. */
    caPem: S;
    /** The client certificate, PEM. */
    certPem: S;
    /** The client key, PEM (a Pulumi secret). */
    keyPem: S;
}

/** The etcd client certificate: exactly one of `preset`, `hostPath` and `secret`. */
export interface CertificateSource<S = string> {
    /** The certificate a distribution keeps on its control-plane/etcd nodes: "kubeadm", "rke" or "kubespray". */
    preset?: CertificatePreset;
    /** A certificate already on the nodes, by directory and file names. */
    hostPath?: CertificateHostPath;
    /** PEMs, e.g. from EtcdPki outputs: put into a Secret `<name>-etcd-client`. */
    secret?: EtcdClientPems<S>;
}

/** rclone's S3 provider: "AWS", "Ceph", "Minio" or "Other". */
export const S3Provider = { AWS: "AWS", Ceph: "Ceph", Minio: "Minio", Other: "Other" } as const;
export type S3Provider = (typeof S3Provider)[keyof typeof S3Provider];

export interface S3Store<S = string> {
    /** S3 API URL (Ceph RGW, MinIO, …). Default: AWS for `region`. */
    endpoint?: string;
    /** The bucket (it must exist: it is never created). */
    bucket: string;
    /** Default "us-east-1". */
    region?: string;
    /** rclone S3 provider. Default "Other" with an endpoint, "AWS" without. */
    provider?: S3Provider;
    /** Access key id (a Pulumi secret). */
    accessKeyId: S;
    /** Secret access key (a Pulumi secret). */
    secretAccessKey: S;
    /** Path-style bucket addressing. Default true (Ceph, MinIO). */
    forcePathStyle?: boolean;
    /** PEM bundle of the CA(s) that signed the endpoint's certificate. Default: the image's CA certificates. */
    caBundle?: string;
}

export interface SftpStore<S = string> {
    /** Host name or IP address of the SFTP server. */
    host: string;
    /** Default 22. */
    port?: number;
    /** Login name. */
    user: string;
    /** Password (a Pulumi secret). Exactly one of password and privateKey. */
    password?: S;
    /** Private key PEM (a Pulumi secret). Exactly one of password and privateKey. */
    privateKey?: S;
    /** known_hosts lines for the server (required: host keys are always checked). */
    knownHosts: string;
    /** Base directory on the server (absolute, or relative to the login directory). Default: the login directory. */
    path?: string;
}

/** A directory on the node that runs the job (created if missing). */
export interface HostPathStore {
    /** Absolute directory on the node. */
    path: string;
}

/** A PersistentVolumeClaim in the backup's namespace. */
export interface PvcStore {
    /** Name of the existing claim. */
    claimName: string;
}

/**
 * Client-side encryption with rclone crypt (NaCl secretbox, XSalsa20 +
 * Poly1305) wrapping the store, so it works on every store. File names stay
 * readable with a ".bin" suffix; contents (snapshot, sidecar, metadata) are
 * encrypted. Decrypt with an rclone crypt remote using the same password and salt.
 */
export interface BackupEncryption<S = string> {
    /** The encryption password (a Pulumi secret). Lose it and the backups are unreadable. */
    password: S;
    /** rclone crypt's password2 (salt). Default: none (rclone's built-in salt). */
    salt?: S;
}

/** Where backups are written: exactly one of `s3`, `sftp`, `hostPath` and `pvc`. */
export interface BackupStore<S = string> {
    /** An S3 bucket (AWS, Ceph RGW, MinIO, …). */
    s3?: S3Store<S>;
    /** A directory on an SFTP server. */
    sftp?: SftpStore<S>;
    /** A directory on the node that runs the job. */
    hostPath?: HostPathStore;
    /** A PersistentVolumeClaim. */
    pvc?: PvcStore;
}

/** CPU and memory quantities of one container. */
export interface ResourceQuantities {
    /** e.g. "50m". */
    cpu?: string;
    /** e.g. "64Mi". */
    memory?: string;
}

export interface ResourceRequirements {
    /** Default cpu "50m", memory "64Mi". */
    requests?: ResourceQuantities;
    /** Default memory "256Mi", no cpu limit. */
    limits?: ResourceQuantities;
}

/**
 * After upload and read-back, check the copy from the store with the etcd image: "off", "status"
 * (`etcdutl snapshot status`) or "restore" (also a trial `etcdutl snapshot restore`).
 */
export const RestoreDrill = { off: "off", status: "status", restore: "restore" } as const;
export type RestoreDrill = (typeof RestoreDrill)[keyof typeof RestoreDrill];

/** Compression of the uploaded snapshot: "none" or "gzip". */
export const BackupCompression = { none: "none", gzip: "gzip" } as const;
export type BackupCompression = (typeof BackupCompression)[keyof typeof BackupCompression];

/** rclone's limits against a store that stops answering. */
export interface StoreTimeouts {
    /** Seconds to connect. Default 10. */
    connectSeconds?: number;
    /** Seconds without a byte moving before a transfer fails. Default 60. */
    ioSeconds?: number;
    /** Retries of each operation. Default 3. */
    retries?: number;
}

/**
 * What configures an EtcdBackup besides its name and the arguments that hold secrets
 * (certificates, storage, encryption): shared by the plan input and EtcdBackupArgs.
 */
export interface EtcdBackupSettings {
    /** Default "kube-system" (hostPath and hostNetwork need a privileged namespace). */
    namespace?: string;
    /** Create the namespace (labelled for the privileged Pod Security level). Default false. */
    createNamespace?: boolean;
    /** Name of the cluster in object paths. */
    clusterName: string;
    /** 5-field cron expression, or a macro: `@hourly`, `@daily`, … */
    schedule: string;
    /** IANA time zone of the schedule. Default "Etc/UTC". */
    timeZone?: string;
    /**
     * etcd client URLs (scheme://host:port). One: etcdctl snapshot save talks to that member.
     * Several: an `etcd gateway` sidecar in the pod forwards to the first member that accepts the
     * connection, so a member that is down does not fail the backup (docs/backup.md: Failover).
     * Default ["https://127.0.0.1:2379"] with hostNetwork.
     */
    endpoints?: string[];
    /**
     * With several endpoints: the port on 127.0.0.1 where the pod's etcd gateway listens (on the
     * node's network with hostNetwork, so pick a port nothing on the etcd nodes uses). Ignored
     * with one endpoint. Default 23799.
     */
    gatewayPort?: number;
    /** Run on the node's network so 127.0.0.1:2379 is the local member. Default true. */
    hostNetwork?: boolean;
    /** Nodes to run on: "control-plane", "etcd" (RKE), "master" (before 1.20) or "any". Default "control-plane"; "any" for explicit endpoints with Secret certificates. */
    nodeRole?: BackupNodeRole;
    /** Nodes to run on, by a label of your own (instead of nodeRole). Default: nodeRole's nodes. */
    nodeLabel?: BackupNodeLabel;
    /** Keep the newest N good backups. Default 5 (the BACKUP_COUNTS of a typical hand-written backup script). */
    keep?: number;
    /** Also keep the newest good backup of each of the newest D UTC days that have one. Default 0. */
    keepDaily?: number;
    /** Also keep the newest good backup of each of the newest W ISO weeks (UTC) that have one. Default 0. */
    keepWeekly?: number;
    /**
     * After upload and read-back, check the copy from the store with the etcd image:
     * "status" runs `etcdutl snapshot status`, "restore" also a trial
     * `etcdutl snapshot restore` into a temporary directory. A failed drill fails
     * the Job and nothing is sealed or deleted. Default "off".
     */
    restoreDrill?: RestoreDrill;
    /**
     * Upload (and read back) while `etcdutl snapshot status` checks the snapshot: the uploader
     * runs as a native sidecar (an init container with restartPolicy Always; Kubernetes ≥ 1.29)
     * and the backup is sealed only after both. false: the upload starts after the check (any
     * Kubernetes version), slower by the check's time. Default true.
     */
    sidecarUpload?: boolean;
    /**
     * "none" (default) or "gzip": busybox `gzip -1`, compressed, hashed and uploaded in one
     * streamed pass over the snapshot. gzip shrinks Kubernetes data ~5× but keeps a core of the
     * etcd node busy for ~20 s per GiB and makes the job ~1.8× slower; choose it when the
     * store's space or bandwidth matters more than the CPU next to etcd.
     */
    compression?: BackupCompression;
    /** Path prefix inside the store. Default "etcd-backup". */
    prefix?: string;
    /** The etcd image (etcdctl, etcdutl). Default DEFAULT_ETCD_IMAGE (a pinned registry.k8s.io/etcd); use the version of the cluster's etcd. */
    etcdImage?: string;
    /** The uploader image (rclone with a shell). Default DEFAULT_UPLOADER_IMAGE (a pinned rclone/rclone). */
    uploaderImage?: string;
    /** The CronJob's startingDeadlineSeconds: a run missed by more than this is skipped. Default 300. */
    startingDeadlineSeconds?: number;
    /** The Job's activeDeadlineSeconds: a run taking longer fails. Default 1800. */
    activeDeadlineSeconds?: number;
    /** The Job's backoffLimit (retries of a failed run). Default 1. */
    backoffLimit?: number;
    /** Successful Jobs the CronJob keeps. Default 3. */
    successfulJobsHistoryLimit?: number;
    /** Failed Jobs the CronJob keeps. Default 3. */
    failedJobsHistoryLimit?: number;
    /** etcdctl --command-timeout for the snapshot; also how long an unreachable etcd takes to fail the job (etcdctl 3.5 retries refused dials until then). Default 300. */
    snapshotTimeoutSeconds?: number;
    /** Per container. Default requests 50m/64Mi, limits 256Mi. */
    resources?: ResourceRequirements;
    /**
     * Memory limit of the `snapshot` init container (and, with a restore drill, of the container
     * that writes the drill copy). The kernel charges the page cache of the file a container
     * writes to that container's limit: sized to hold the snapshot, the file stays cached for
     * `etcdutl snapshot status` and the upload. (bbolt maps it with MADV_RANDOM:
     * from a cold cache status reads it 4 KiB at a time, 20+ s per GiB, instead of < 1 s.)
     * etcdctl itself stays below 64 MiB; the rest is reclaimable cache. Default "3Gi" (etcd's
     * default 2 GiB quota and headroom) or the containers' memory limit if larger; not below it.
     */
    snapshotMemoryLimit?: string;
    /** emptyDir size limit for the snapshot (and its compressed copy). Default "8Gi" (etcd's quota maximum). */
    workVolumeSizeLimit?: string;
    /**
     * Freshness alerts as a Prometheus Operator PrometheusRule (`alertRule`) on kube-state-metrics
     * series: no successful backup for `missedRuns` × the longest gap of the schedule (+ the run
     * deadline), never a success, a failed run since the newest success. The PrometheusRule CRD
     * must exist in the cluster. Default none (no rule).
     */
    alerts?: BackupAlertsInput;
    /**
     * rclone's limits against a store that stops answering: `connectSeconds` (default 10) to
     * connect, `ioSeconds` (default 60) without a byte moving before a transfer fails, and
     * `retries` (default 3) of each operation. A hanging store then fails the run at
     * step=upload in bounded time, with nothing sealed or deleted.
     */
    storeTimeouts?: StoreTimeouts;
}

/** Inputs of the plan; `S` is the type of secret values (string here, placeholders in the component). */
export interface EtcdBackupPlanInput<S = string> extends EtcdBackupSettings {
    /** Name of the CronJob and the prefix of every other object. */
    name: string;
    /** The etcd client certificate: exactly one of preset, hostPath and secret. Default { preset: "kubeadm" }. */
    certificates?: CertificateSource<S>;
    /** Where backups are written: exactly one of s3, sftp, hostPath and pvc. */
    storage: BackupStore<S>;
    /** Client-side encryption (rclone crypt) on any store. Default: none. */
    encryption?: BackupEncryption<S>;
}

/** A Kubernetes object as plain JSON. */
export type RenderedKubeObject = {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string> };
    [field: string]: unknown;
};

export interface EtcdBackupPlan {
    namespace: string;
    cronJobName: string;
    /** Objects in apply order. */
    objects: RenderedKubeObject[];
    namespaceObject?: RenderedKubeObject;
    serviceAccount: RenderedKubeObject;
    /** rclone.conf and store credentials. */
    storeSecret: RenderedKubeObject & { stringData: Record<string, string> };
    /** Present with `certificates: { secret }`. */
    etcdClientSecret?: RenderedKubeObject & { stringData: Record<string, string> };
    scriptConfigMap: RenderedKubeObject & { data: Record<string, string> };
    cronJob: RenderedKubeObject;
    /** e.g. "s3://bucket/etcd-backup/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db.gz" */
    storeUrlPattern: string;
    /** Runs a backup now. */
    runNowCommand: string;
    /** With `alerts`: the PrometheusRule (also last in `objects`). */
    alertRule?: BackupAlertRule;
    /** With `alerts`: after how many seconds without a successful run EtcdBackupTooOld fires. */
    maxBackupAgeSeconds?: number;
}

export const WORK_DIR = "/var/lib/etcd-backup";
export const SNAPSHOT_PATH = `${WORK_DIR}/snapshot.db`;
export const CERT_DIR = "/etc/etcd-backup/pki";
export const STORE_CONFIG_DIR = "/etc/etcd-backup/store";
export const SCRIPT_DIR = "/etc/etcd-backup/script";
export const LOCAL_STORE_DIR = "/backup-store";
/** Where the upload phase leaves the read-back, decompressed snapshot for the drill. */
export const DRILL_SNAPSHOT_PATH = `${WORK_DIR}/drill/snapshot.db`;
export const DRILL_RESTORE_DIR = `${WORK_DIR}/drill/restore`;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function dnsName(argument: string, value: unknown, maxLength: number): string {
    if (typeof value !== "string" || value.length > maxLength || !DNS_LABEL.test(value)) {
        throw new InputError(argument, value, `use lower-case letters, digits and "-", at most ${maxLength} characters`);
    }
    return value;
}

const MEMORY_UNITS: Record<string, number> = {
    "": 1,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
};

/** Bytes of a Kubernetes memory quantity ("256Mi", "3Gi", "1G", "500000000"), or undefined when it is not one. */
export function memoryBytes(quantity: string): number | undefined {
    const match = /^(\d+)(|k|M|G|T|Ki|Mi|Gi|Ti)$/.exec(quantity);
    return match ? Number(match[1]) * MEMORY_UNITS[match[2]!]! : undefined;
}

/** Default snapshotMemoryLimit: etcd's default 2 GiB quota with headroom. */
const DEFAULT_SNAPSHOT_MEMORY_LIMIT = "3Gi";

/** The larger of two memory quantities (`a` when `b` is missing or not a quantity). */
function largerMemory(a: string, b: string | undefined): string {
    return b !== undefined && (memoryBytes(b) ?? 0) > memoryBytes(a)! ? b : a;
}

/** A memory quantity for `argument` that is not below `floor` (the other containers' limit). */
function memoryLimitAtLeast(argument: string, value: unknown, floor: string | undefined): string {
    const bytes = typeof value === "string" ? memoryBytes(value) : undefined;
    if (bytes === undefined) throw new InputError(argument, value, 'give a Kubernetes memory quantity such as "3Gi"');
    const floorBytes = floor === undefined ? undefined : memoryBytes(floor);
    if (floorBytes !== undefined && bytes < floorBytes) {
        throw new InputError(
            argument,
            value,
            `give at least the containers' memory limit (${floor}): it also holds the snapshot's page cache`,
        );
    }
    return value as string;
}

/** `value` (or `fallback` when undefined) as a whole number of at least `min` (default 1). */
function integerAtLeast(argument: string, value: number | undefined, fallback: number, min = 1): number {
    const n = value ?? fallback;
    if (!Number.isInteger(n) || n < min) throw new InputError(argument, value, `give an integer >= ${min}`);
    return n;
}

/** Default gatewayPort: next to etcd's own 2379-2381 and the gateway's 23790 without taking either. */
export const DEFAULT_GATEWAY_PORT = 23799;

/** scheme://host[:port][/]: what etcdctl and the etcd gateway both take. Host: a DNS name, IPv4 or [IPv6]. */
const CLIENT_URL = /^(https?):\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?\/?$/;

/**
 * The etcd client URLs to back up from: 1..N, each a client URL, none twice, one scheme; with
 * several, each with its port (the gateway dials host:port) and none the gateway's own address.
 */
function validateEndpoints(value: unknown, gatewayPort: number): string[] {
    if (!Array.isArray(value) || value.length === 0) {
        throw new InputError("endpoints", value, 'give a list of etcd client URLs such as ["https://10.0.0.11:2379"]');
    }
    const several = value.length > 1;
    const seen = new Map<string, number>();
    const schemes = new Set<string>();
    value.forEach((endpoint, i) => {
        const match = typeof endpoint === "string" ? CLIENT_URL.exec(endpoint) : null;
        const port = match?.[3] === undefined ? undefined : Number(match[3]);
        if (!match || (port !== undefined && (port < 1 || port > 65535))) {
            throw new InputError(`endpoints[${i}]`, endpoint, "give an etcd client URL such as https://10.0.0.11:2379 (no path, no user)");
        }
        if (several && port === undefined) {
            throw new InputError(
                `endpoints[${i}]`,
                endpoint,
                "give the port (e.g. https://10.0.0.11:2379): the etcd gateway dials host:port",
            );
        }
        const host = match[2]!.toLowerCase();
        const key = `${match[1]}://${host}:${port ?? ""}`;
        const first = seen.get(key);
        if (first !== undefined) {
            throw new InputError(`endpoints[${i}]`, endpoint, `endpoints[${first}] is the same member: give each member once`);
        }
        seen.set(key, i);
        schemes.add(match[1]!);
        if (several && port === gatewayPort && ["127.0.0.1", "localhost"].includes(host)) {
            throw new InputError(
                `endpoints[${i}]`,
                endpoint,
                `this is where the pod's etcd gateway listens (gatewayPort ${gatewayPort}): set gatewayPort to a free port`,
            );
        }
    });
    if (schemes.size > 1) {
        throw new InputError(
            "endpoints",
            value,
            "give every endpoint the same scheme (https with TLS, http without): the gateway forwards raw TCP",
        );
    }
    return value as string[];
}

function certificateMount(
    source: CertificateSource<string>,
    name: string,
): { files: { ca: string; cert: string; key: string }; volume: Record<string, unknown>; secret?: Record<string, string> } {
    const kind = exactlyOneOf("certificates", source, CERTIFICATE_SOURCES, '{ preset: "kubeadm" }');
    if (kind === "preset") {
        const presets = Object.values(CertificatePreset) as string[];
        if (!presets.includes(source.preset!))
            throw new InputError("certificates.preset", source.preset, `give one of ${presets.join(", ")}`);
        return certificateMount({ hostPath: CERTIFICATE_PRESETS[source.preset!] }, name);
    }
    if (kind === "hostPath") {
        const h = source.hostPath!;
        if (!h.path?.startsWith("/"))
            throw new InputError("certificates.hostPath.path", h.path, "give the absolute directory holding the etcd client certificate");
        for (const [field, file] of Object.entries({ caFile: h.caFile, certFile: h.certFile, keyFile: h.keyFile })) {
            if (typeof file !== "string" || file === "" || file.includes("/"))
                throw new InputError(`certificates.hostPath.${field}`, file, "give a file name inside the directory");
        }
        return {
            files: { ca: `${CERT_DIR}/${h.caFile}`, cert: `${CERT_DIR}/${h.certFile}`, key: `${CERT_DIR}/${h.keyFile}` },
            volume: { name: "etcd-certs", hostPath: { path: h.path, type: "Directory" } },
        };
    }
    const s = source.secret!;
    const pem = (field: string, value: string, marker: RegExp) => {
        if (typeof value !== "string" || !marker.test(value))
            throw new InputError(
                `certificates.secret.${field}`,
                field === "keyPem" ? "<hidden>" : value,
                "give a PEM (e.g. from EtcdPki outputs)",
            );
        return value;
    };
    return {
        files: { ca: `${CERT_DIR}/ca.crt`, cert: `${CERT_DIR}/tls.crt`, key: `${CERT_DIR}/tls.key` },
        volume: { name: "etcd-certs", secret: { secretName: `${name}-etcd-client`, defaultMode: 0o400 } },
        secret: {
            "ca.crt": pem("caPem", s.caPem, /BEGIN CERTIFICATE|^__SECRET/),
            "tls.crt": pem("certPem", s.certPem, /BEGIN CERTIFICATE|^__SECRET/),
            "tls.key": pem("keyPem", s.keyPem, /PRIVATE KEY|^__SECRET/),
        },
    };
}

/** Node affinity and tolerations of the job's pod: by nodeRole, or by nodeLabel (not both). */
function placement(nodeRole: BackupNodeRole | undefined, nodeLabel: BackupNodeLabel | undefined): Record<string, unknown> {
    const roles = Object.values(BackupNodeRole).join(", ");
    if (nodeRole !== undefined && nodeLabel !== undefined) {
        throw new InputError("nodeRole", nodeRole, "give nodeRole or nodeLabel, not both: remove nodeRole to place the job by nodeLabel");
    }
    let labelKey: string;
    let labelValue: string | undefined;
    let taints: readonly string[];
    if (nodeLabel !== undefined) {
        if (typeof nodeLabel?.labelKey !== "string" || nodeLabel.labelKey === "")
            throw new InputError("nodeLabel.labelKey", nodeLabel?.labelKey, "give the node label that marks etcd nodes");
        labelKey = nodeLabel.labelKey;
        labelValue = nodeLabel.labelValue;
        taints = nodeLabel.tolerateTaints ?? [];
    } else {
        const role = nodeRole ?? BackupNodeRole.controlPlane;
        if (typeof role !== "string") {
            throw new InputError(
                "nodeRole",
                role,
                `give one of ${roles}; a label of your own goes in nodeLabel: { labelKey, labelValue?, tolerateTaints? }`,
            );
        }
        if (!(Object.values(BackupNodeRole) as string[]).includes(role))
            throw new InputError("nodeRole", role, `give one of ${roles}, or a label of your own in nodeLabel: { labelKey }`);
        if (role === BackupNodeRole.any) return {};
        const preset = NODE_ROLE_PRESETS[role];
        labelKey = preset.labelKey;
        taints = preset.taintKeys;
    }
    const expression =
        labelValue === undefined ? { key: labelKey, operator: "Exists" } : { key: labelKey, operator: "In", values: [labelValue] };
    return {
        affinity: {
            nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [expression] }] } },
        },
        // Any effect (NoSchedule, NoExecute): these nodes are where the job must run.
        tolerations: taints.map((key) => ({ key, operator: "Exists" })),
    };
}

const securityContext = {
    runAsUser: 0, // the certificates on the node are root-owned 0600 files
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
};

/** The plan. Throws InputError naming the argument, the value and the fix. */
export function planEtcdBackup(input: EtcdBackupPlanInput<string>): EtcdBackupPlan {
    const name = dnsName("name", input.name, 52); // CronJob names leave room for the Job suffix
    const namespace = dnsName("namespace", input.namespace ?? "kube-system", 63);
    validateStoreClusterName(input.clusterName);
    const schedule = validateSchedule(input.schedule);
    const timeZone = validateTimeZone(input.timeZone ?? "Etc/UTC");
    const keep = input.keep ?? 5;
    if (!Number.isInteger(keep) || keep < 1)
        throw new InputError("keep", input.keep, "keep at least 1 backup (the newest good one is never deleted)");
    const keepDaily = integerAtLeast("keepDaily", input.keepDaily, 0, 0);
    const keepWeekly = integerAtLeast("keepWeekly", input.keepWeekly, 0, 0);
    const restoreDrill = input.restoreDrill ?? "off";
    if (!["off", "status", "restore"].includes(restoreDrill))
        throw new InputError("restoreDrill", input.restoreDrill, 'give "off", "status" or "restore"');
    const sidecarUpload = input.sidecarUpload ?? true;
    if (typeof sidecarUpload !== "boolean")
        throw new InputError("sidecarUpload", input.sidecarUpload, "give true (Kubernetes ≥ 1.29) or false");
    const compression = input.compression ?? "none";
    if (compression !== "gzip" && compression !== "none") throw new InputError("compression", input.compression, 'give "gzip" or "none"');
    const prefix = validateStorePrefix(input.prefix);

    const hostNetwork = input.hostNetwork ?? true;
    if (!hostNetwork && input.endpoints === undefined) {
        throw new InputError(
            "endpoints",
            undefined,
            "without hostNetwork, 127.0.0.1 is the pod itself: give the etcd client URL, or keep hostNetwork: true",
        );
    }
    const gatewayPort = integerAtLeast("gatewayPort", input.gatewayPort, DEFAULT_GATEWAY_PORT);
    if (gatewayPort > 65535) throw new InputError("gatewayPort", input.gatewayPort, "give a TCP port between 1 and 65535");
    const endpoints = validateEndpoints(input.endpoints ?? ["https://127.0.0.1:2379"], gatewayPort);
    // Several members: etcdctl snapshot save takes one endpoint, so it talks to the pod's gateway,
    // which forwards the connection (TLS end to end) to the first member that accepts it.
    const gateway = endpoints.length > 1;
    if (gateway && !sidecarUpload) {
        throw new InputError(
            "endpoints",
            input.endpoints,
            "several endpoints need the etcd gateway as a native sidecar (Kubernetes >= 1.29, sidecarUpload: true): give one endpoint or keep sidecarUpload true",
        );
    }
    const snapshotEndpoint = gateway ? `${new URL(endpoints[0]!).protocol}//127.0.0.1:${gatewayPort}` : endpoints[0]!;

    const certs = certificateMount(input.certificates ?? { preset: "kubeadm" }, name);
    // The pod reads the Secret's files at STORE_CONFIG_DIR and a directory store at its mount, LOCAL_STORE_DIR.
    const store = renderBackupStore(
        { storage: input.storage, clusterName: input.clusterName, prefix, encryption: input.encryption },
        { configDir: STORE_CONFIG_DIR, localStoreMount: LOCAL_STORE_DIR },
    );
    const storeVolume =
        store.kind === "hostPath"
            ? { name: "store", hostPath: { path: input.storage.hostPath!.path, type: "DirectoryOrCreate" } }
            : store.kind === "pvc"
              ? { name: "store", persistentVolumeClaim: { claimName: input.storage.pvc!.claimName } }
              : undefined;
    const etcdImage = input.etcdImage ?? DEFAULT_ETCD_IMAGE;
    const uploaderImage = input.uploaderImage ?? DEFAULT_UPLOADER_IMAGE;
    const snapshotTimeout = integerAtLeast("snapshotTimeoutSeconds", input.snapshotTimeoutSeconds, 300);
    const activeDeadline = integerAtLeast("activeDeadlineSeconds", input.activeDeadlineSeconds, 1800);
    if (activeDeadline <= snapshotTimeout) {
        throw new InputError(
            "activeDeadlineSeconds",
            activeDeadline,
            `must exceed snapshotTimeoutSeconds (${snapshotTimeout}) to leave time for the upload`,
        );
    }
    const resources = {
        requests: { cpu: "50m", memory: "64Mi", ...input.resources?.requests },
        limits: { memory: "256Mi", ...input.resources?.limits },
    };
    const snapshotMemoryLimit = memoryLimitAtLeast(
        "snapshotMemoryLimit",
        input.snapshotMemoryLimit ?? largerMemory(DEFAULT_SNAPSHOT_MEMORY_LIMIT, resources.limits.memory),
        resources.limits.memory,
    );
    // For the containers that write a file etcdutl reads next (the snapshot, the drill copy): see snapshotMemoryLimit.
    const fileWriterResources = { ...resources, limits: { ...resources.limits, memory: snapshotMemoryLimit } };
    const labels = {
        "app.kubernetes.io/name": "etcd-backup",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "etcd-recovery",
    };
    const meta = (objectName: string) => ({ name: objectName, namespace, labels });

    const script = renderBackupScript({
        clusterName: input.clusterName,
        remoteDir: store.remoteDir,
        storeUrl: store.storeUrl,
        keep,
        keepDaily,
        keepWeekly,
        compression,
        encrypted: input.encryption !== undefined,
        drillSnapshotPath: DRILL_SNAPSHOT_PATH,
        snapshotPath: SNAPSHOT_PATH,
        workDir: WORK_DIR,
        etcdImage,
        endpoint: endpoints.join(","),
        rcloneConnectTimeoutSeconds: integerAtLeast("storeTimeouts.connectSeconds", input.storeTimeouts?.connectSeconds, 10),
        rcloneIoTimeoutSeconds: integerAtLeast("storeTimeouts.ioSeconds", input.storeTimeouts?.ioSeconds, 60),
        rcloneRetries: integerAtLeast("storeTimeouts.retries", input.storeTimeouts?.retries, 3),
        restoreDrill: restoreDrill !== "off",
        transferSidecar: sidecarUpload,
    });

    const nodeNameEnv = { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } };
    const workMount = { name: "work", mountPath: WORK_DIR };
    const certMount = { name: "etcd-certs", mountPath: CERT_DIR, readOnly: true };
    const etcdContainer = (containerName: string, command: string[], args: string[]) => ({
        name: containerName,
        image: etcdImage,
        command,
        args,
        env: [nodeNameEnv, { name: "ETCDCTL_API", value: "3" }],
        volumeMounts: containerName === "snapshot" ? [workMount, certMount] : [workMount],
        resources: containerName === "snapshot" ? fileWriterResources : resources,
        securityContext,
    });

    const storeSecretData: Record<string, string> = { "rclone.conf": store.rcloneConfig, ...store.files };
    const volumes: Record<string, unknown>[] = [
        { name: "work", emptyDir: { sizeLimit: input.workVolumeSizeLimit ?? "8Gi" } },
        certs.volume,
        { name: "store-config", secret: { secretName: `${name}-store`, defaultMode: 0o400 } },
        { name: "script", configMap: { name: `${name}-script`, defaultMode: 0o555 } },
        ...(storeVolume ? [storeVolume] : []),
    ];
    const uploadMounts = [
        workMount,
        { name: "store-config", mountPath: STORE_CONFIG_DIR, readOnly: true },
        { name: "script", mountPath: SCRIPT_DIR, readOnly: true },
        ...(storeVolume ? [{ name: "store", mountPath: LOCAL_STORE_DIR }] : []),
    ];
    const uploaderContainer = (containerName: string, phase: "all" | "upload" | "transfer" | "await" | "finalize") => ({
        name: containerName,
        // A native sidecar: started in order, runs beside the next init containers, stopped after the main container.
        ...(phase === "transfer" ? { restartPolicy: "Always" } : {}),
        image: uploaderImage,
        command: ["/bin/sh", `${SCRIPT_DIR}/backup.sh`, phase],
        env: [
            nodeNameEnv,
            { name: "RCLONE_CONFIG", value: `${STORE_CONFIG_DIR}/rclone.conf` },
            { name: "HOME", value: WORK_DIR },
            ...(store.caBundleFile ? [{ name: "RCLONE_CA_CERT", value: store.caBundleFile }] : []),
        ],
        volumeMounts: uploadMounts,
        // With a drill, "transfer" (sidecar layout) or "upload" (sequential) writes the drill copy.
        resources: restoreDrill !== "off" && (phase === "transfer" || phase === "upload") ? fileWriterResources : resources,
        securityContext,
    });
    // A native sidecar (started before "snapshot", stopped after the pod's work): a TCP proxy, so
    // it needs no certificate and no volume; the members still see etcdctl's client certificate
    // and etcdctl checks theirs. --retry-delay: how soon a member that refused is tried again.
    const gatewayContainer = {
        name: "etcd-gateway",
        restartPolicy: "Always",
        image: etcdImage,
        command: ["etcd"],
        args: ["gateway", "start", `--endpoints=${endpoints.join(",")}`, `--listen-addr=127.0.0.1:${gatewayPort}`, "--retry-delay=5s"],
        resources,
        securityContext,
    };
    const podSpec = {
        serviceAccountName: name,
        automountServiceAccountToken: false,
        restartPolicy: "Never",
        hostNetwork,
        dnsPolicy: hostNetwork ? "ClusterFirstWithHostNet" : "ClusterFirst",
        priorityClassName: namespace === "kube-system" ? "system-cluster-critical" : undefined,
        ...placement(input.nodeRole, input.nodeLabel),
        initContainers: [
            ...(gateway ? [gatewayContainer] : []),
            etcdContainer(
                "snapshot",
                ["etcdctl"],
                [
                    `--endpoints=${snapshotEndpoint}`,
                    `--cacert=${certs.files.ca}`,
                    `--cert=${certs.files.cert}`,
                    `--key=${certs.files.key}`,
                    "--dial-timeout=10s",
                    `--command-timeout=${snapshotTimeout}s`,
                    "snapshot",
                    "save",
                    SNAPSHOT_PATH,
                ],
            ),
            ...(sidecarUpload ? [uploaderContainer("transfer", "transfer")] : []),
            etcdContainer("verify", ["etcdutl"], ["snapshot", "status", SNAPSHOT_PATH, "--write-out=json"]),
            ...(restoreDrill === "off"
                ? []
                : [
                      sidecarUpload ? uploaderContainer("await-transfer", "await") : uploaderContainer("upload", "upload"),
                      etcdContainer("drill-status", ["etcdutl"], ["snapshot", "status", DRILL_SNAPSHOT_PATH, "--write-out=json"]),
                      ...(restoreDrill === "restore"
                          ? [
                                etcdContainer(
                                    "drill-restore",
                                    ["etcdutl"],
                                    ["snapshot", "restore", DRILL_SNAPSHOT_PATH, `--data-dir=${DRILL_RESTORE_DIR}`],
                                ),
                            ]
                          : []),
                  ]),
        ],
        // "upload" (no drill) seals what the sidecar uploaded, or does it all without the sidecar.
        containers: [
            restoreDrill === "off"
                ? uploaderContainer("upload", sidecarUpload ? "finalize" : "all")
                : uploaderContainer("finalize", "finalize"),
        ],
        volumes,
    };
    const cleanPodSpec = JSON.parse(JSON.stringify(podSpec)) as Record<string, unknown>; // drops undefined fields

    const namespaceObject: RenderedKubeObject | undefined = input.createNamespace
        ? {
              apiVersion: "v1",
              kind: "Namespace",
              metadata: { name: namespace, labels: { ...labels, "pod-security.kubernetes.io/enforce": "privileged" } },
          }
        : undefined;
    const serviceAccount: RenderedKubeObject = {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: meta(name),
        automountServiceAccountToken: false,
    };
    const storeSecret = { apiVersion: "v1", kind: "Secret", metadata: meta(`${name}-store`), type: "Opaque", stringData: storeSecretData };
    const etcdClientSecret = certs.secret
        ? { apiVersion: "v1", kind: "Secret", metadata: meta(`${name}-etcd-client`), type: "Opaque", stringData: certs.secret }
        : undefined;
    const scriptConfigMap = { apiVersion: "v1", kind: "ConfigMap", metadata: meta(`${name}-script`), data: { "backup.sh": script } };
    const cronJob: RenderedKubeObject = {
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: meta(name),
        spec: {
            schedule,
            timeZone,
            concurrencyPolicy: "Forbid",
            startingDeadlineSeconds: integerAtLeast("startingDeadlineSeconds", input.startingDeadlineSeconds, 300),
            successfulJobsHistoryLimit: integerAtLeast("successfulJobsHistoryLimit", input.successfulJobsHistoryLimit, 3, 0),
            failedJobsHistoryLimit: integerAtLeast("failedJobsHistoryLimit", input.failedJobsHistoryLimit, 3, 0),
            jobTemplate: {
                metadata: { labels },
                spec: {
                    backoffLimit: integerAtLeast("backoffLimit", input.backoffLimit, 1, 0),
                    activeDeadlineSeconds: activeDeadline,
                    template: { metadata: { labels }, spec: cleanPodSpec },
                },
            },
        },
    };
    const alerts =
        input.alerts === undefined
            ? undefined
            : renderBackupAlertRule({
                  ...input.alerts,
                  cronJobName: name,
                  namespace,
                  schedule,
                  timeZone,
                  activeDeadlineSeconds: activeDeadline,
                  labels,
              });
    // rclone crypt with filename_encryption "off" stores "<name>.bin".
    const ext = backupObjectExtension({ gzip: compression === "gzip", encrypted: input.encryption !== undefined });
    return {
        namespace,
        cronJobName: name,
        objects: [namespaceObject, serviceAccount, storeSecret, etcdClientSecret, scriptConfigMap, cronJob, alerts?.rule].filter(
            (o): o is RenderedKubeObject => o !== undefined,
        ),
        ...(namespaceObject ? { namespaceObject } : {}),
        serviceAccount,
        storeSecret,
        ...(etcdClientSecret ? { etcdClientSecret } : {}),
        scriptConfigMap,
        cronJob,
        storeUrlPattern: `${store.storeUrl}/${BACKUP_NAME_PATTERN}${ext}`,
        runNowCommand: `kubectl create job --from=cronjob/${name} ${name}-manual -n ${namespace}`,
        ...(alerts ? { alertRule: alerts.rule, maxBackupAgeSeconds: alerts.maxAgeSeconds } : {}),
    };
}

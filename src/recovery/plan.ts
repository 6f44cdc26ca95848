/**
 * The recovery environment as plain data: a snapshot restored into one fresh
 * etcd member and a kube-apiserver that reads it exactly as the original did,
 * on a network that cannot reach anything but the Docker host.
 *
 * Why there is no published port: Docker does not publish ports of containers
 * on internal networks, and putting kube-apiserver on a second, non-internal
 * network would give it a NAT'd default route. A restored apiserver holds
 * production's APIServices, CRD conversion webhooks and Service IPs, and would
 * dial them. So the apiserver stays on the internal network alone, and the
 * API URL is its address on that network: the Docker host reaches it through
 * the bridge, Docker's isolation rules drop anything forwarded into or out of
 * an internal network, so nothing off the host can reach it and it can reach
 * nothing off the host. The Docker host's own addresses remain reachable from
 * inside, as for any bridge network; the component closes them with one
 * iptables rule (host-guard.ts), measured in test/integration/recovery-etcd34.
 */
import { InputError } from "../errors";
import { ContainerFile, ContainerSpec, DockerPlan } from "../docker/plan";
import { DEFAULT_ETCD_IMAGE, MemberCertificateFiles, planEtcdCluster } from "../etcd/plan";
import { ETCD_BIN_DIR, etcdVersionFromImage, usesEtcdutl } from "../etcd/flags";
import { assertDns1123Label, ETCD_CLIENT_PORT } from "../etcd/topology";
import { cidrContains, isUsableHost, nthHost, parseIpv4Cidr } from "../net/ipv4";
import { OriginalCluster } from "./source";

/** "single": one fresh member, fresh certificates. "replica": the original members, IPs and certificates (replica.ts). */
export const RecoveryMode = { single: "single", replica: "replica" } as const;
export type RecoveryMode = (typeof RecoveryMode)[keyof typeof RecoveryMode];

export interface RecoveryEnvironmentPlanInput {
    /** DNS-1123 label; prefixes every network, volume and container. */
    name: string;
    original: OriginalCluster;
    /** The snapshot file on the machine that runs the deployment (check it first with verifySnapshotFile). */
    snapshotPath: string;
    /**
     * The snapshot's SHA-256 as verifySnapshotFile reports it. The data volumes and every container are bound
     * to it (bindToSnapshot): a new snapshot gives fresh volumes and new containers, never the old data behind
     * new outputs.
     */
    snapshotSha256: string;
    /** "single" (default) here; mode "replica" is planned by planReplicaEnvironment (replica.ts), which takes the original certificates. */
    mode?: RecoveryMode;
    /** Subnet of the internal recovery network. Default "172.30.250.0/24"; side-by-side environments need different ones. */
    subnet?: string;
    /** etcd image (etcd, etcdctl, and etcdutl for 3.5+ in /usr/local/bin). Default DEFAULT_ETCD_IMAGE: 3.5 restores 3.3/3.4 snapshots too. */
    etcdImage?: string;
    /** etcd version of etcdImage when its tag does not show it. */
    etcdVersion?: string;
    /** kube-apiserver image (kube-apiserver in /usr/local/bin). Default: registry.k8s.io/kube-apiserver at the original's version, else DEFAULT_KUBE_APISERVER_IMAGE. */
    kubeApiserverImage?: string;
}

/** Files the environment's containers need; `C` is string or pulumi.Output<string>. */
export interface RecoveryFiles<C> {
    etcd: MemberCertificateFiles<C>;
    /** Client certificate kube-apiserver presents to etcd. */
    apiserverEtcdClient: { certPem: C; keyPem: C };
    /** CA that signed the serving certificate and the admin client certificate. */
    kubeCaCertPem: C;
    apiserverServing: { certPem: C; keyPem: C };
    serviceAccount: { publicKeyPem: C; privateKeyPem: C };
    /** The original EncryptionConfiguration; required when the original encrypts (original.encryption). */
    encryptionConfig?: C;
}

export interface RecoveryAddresses {
    subnet: string;
    etcdIp: string;
    apiserverIp: string;
    /** The API as the Docker host reaches it. */
    apiUrl: string;
}

/** The environment's container names. */
export interface RecoveryContainerNames {
    /** The one-shot container that checks the snapshot (`etcdutl snapshot status`); ends in the snapshot's short hash. */
    snapshotCheck: string;
    /** The one-shot container that restores the snapshot into the data volume; ends in the snapshot's short hash. */
    restore: string;
    /** The etcd member. */
    etcd: string;
    kubeApiserver: string;
}

export interface RecoveryEnvironmentPlan<C> {
    plan: DockerPlan<C>;
    addresses: RecoveryAddresses;
    containerNames: RecoveryContainerNames;
    etcdImage: string;
    kubeApiserverImage: string;
    /** The exact kube-apiserver arguments (for display; no secret is ever an argument). */
    kubeApiserverArgs: string[];
}

export const DEFAULT_RECOVERY_SUBNET = "172.30.250.0/24";
export const DEFAULT_KUBE_APISERVER_IMAGE = "registry.k8s.io/kube-apiserver:v1.34.4";
export const KUBE_APISERVER_PORT = 6443;
/** Host numbers inside the subnet; the gateway takes .1. */
const ETCD_HOST = 11;
const APISERVER_HOST = 20;
/** Where every container of the environment that reads the snapshot finds it. */
export const SNAPSHOT_PATH_IN_CONTAINER = "/var/lib/etcd-seed/snapshot.db";
const APISERVER_DIR = "/etc/kubernetes/recovery";
export const RECOVERY_MEMBER_NAME = "etcd";

export const apiserverPaths = {
    etcdCa: `${APISERVER_DIR}/etcd-ca.crt`,
    etcdClientCert: `${APISERVER_DIR}/apiserver-etcd-client.crt`,
    etcdClientKey: `${APISERVER_DIR}/apiserver-etcd-client.key`,
    clientCa: `${APISERVER_DIR}/ca.crt`,
    servingCert: `${APISERVER_DIR}/apiserver.crt`,
    servingKey: `${APISERVER_DIR}/apiserver.key`,
    serviceAccountPublic: `${APISERVER_DIR}/sa.pub`,
    serviceAccountPrivate: `${APISERVER_DIR}/sa.key`,
    encryptionConfig: `${APISERVER_DIR}/encryption-config.yaml`,
} as const;

/**
 * Admission plugins that call out (webhooks) or act on policy objects restored
 * from production; the environment is for reading, so none is needed.
 */
export const DISABLED_ADMISSION_PLUGINS = ["MutatingAdmissionWebhook", "ValidatingAdmissionWebhook", "ValidatingAdmissionPolicy"];
/** kube-apiserver's default when the original did not set --service-cluster-ip-range. */
const DEFAULT_SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24";

/** Where the environment's members live; needed before certificates can be issued for them. */
export function recoveryAddresses(subnet: string = DEFAULT_RECOVERY_SUBNET): RecoveryAddresses {
    const cidr = parseIpv4Cidr(subnet, "subnet");
    if (cidr.prefix > 27)
        throw new InputError("subnet", subnet, "use a /27 or larger subnet (the environment uses host numbers 11 and 20)");
    const etcdIp = nthHost(cidr, ETCD_HOST);
    const apiserverIp = nthHost(cidr, APISERVER_HOST);
    if (!cidrContains(cidr, apiserverIp) || !isUsableHost(cidr, apiserverIp))
        throw new InputError("subnet", subnet, "the subnet is too small");
    return { subnet, etcdIp, apiserverIp, apiUrl: `https://${apiserverIp}:${KUBE_APISERVER_PORT}` };
}

export function checkImage(argument: string, image: unknown): string {
    if (typeof image !== "string" || image.trim() === "" || /\s/.test(image)) {
        throw new InputError(argument, image, "give an image reference such as registry.k8s.io/kube-apiserver:v1.34.4");
    }
    return image;
}

/** Only the original's arguments that decide how objects are stored and served, plus what this environment needs to serve. */
export function recoveryApiserverArgs(original: OriginalCluster, addresses: RecoveryAddresses): string[] {
    return [
        `--advertise-address=${addresses.apiserverIp}`,
        "--bind-address=0.0.0.0",
        `--secure-port=${KUBE_APISERVER_PORT}`,
        `--tls-cert-file=${apiserverPaths.servingCert}`,
        `--tls-private-key-file=${apiserverPaths.servingKey}`,
        `--client-ca-file=${apiserverPaths.clientCa}`,
        `--etcd-servers=https://${addresses.etcdIp}:${ETCD_CLIENT_PORT}`,
        `--etcd-cafile=${apiserverPaths.etcdCa}`,
        `--etcd-certfile=${apiserverPaths.etcdClientCert}`,
        `--etcd-keyfile=${apiserverPaths.etcdClientKey}`,
        // Data-shaping arguments of the original.
        `--etcd-prefix=${original.etcdPrefix}`,
        ...(original.storageMediaType ? [`--storage-media-type=${original.storageMediaType}`] : []),
        ...(original.encryption ? [`--encryption-provider-config=${apiserverPaths.encryptionConfig}`] : []),
        ...(original.runtimeConfig ? [`--runtime-config=${original.runtimeConfig}`] : []),
        ...(original.featureGates ? [`--feature-gates=${original.featureGates}`] : []),
        `--service-cluster-ip-range=${original.serviceClusterIpRange ?? DEFAULT_SERVICE_CLUSTER_IP_RANGE}`,
        // Serving: fresh service-account keys, certificates only, nothing that reaches out.
        `--service-account-key-file=${apiserverPaths.serviceAccountPublic}`,
        `--service-account-signing-key-file=${apiserverPaths.serviceAccountPrivate}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--authorization-mode=RBAC",
        "--anonymous-auth=false",
        "--enable-admission-plugins=NamespaceLifecycle",
        `--disable-admission-plugins=${DISABLED_ADMISSION_PLUGINS.join(",")}`,
        // Reads go straight to etcd: no cache to fill before /readyz (faster on big snapshots), and a
        // resource the environment cannot decrypt fails its own reads instead of keeping the API unready.
        "--watch-cache=false",
        // Do not rewrite the restored `kubernetes` Endpoints with this environment's address.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
    ];
}

/** The checks and image choices both modes share: snapshot path, encryption config, images, etcd version. */
export function checkCommonRecoveryInput(
    input: { snapshotPath: string; original: OriginalCluster; etcdImage?: string; etcdVersion?: string; kubeApiserverImage?: string },
    hasEncryptionConfig: boolean,
): { original: OriginalCluster; etcdImage: string; etcdVersion: string; kubeApiserverImage: string } {
    if (typeof input.snapshotPath !== "string" || input.snapshotPath === "") {
        throw new InputError(
            "snapshotPath",
            input.snapshotPath,
            "give the path of the etcd snapshot file on the machine that runs the deployment",
        );
    }
    const original = input.original;
    if (original.encryption && !hasEncryptionConfig) {
        throw new InputError(
            "encryptionConfig",
            undefined,
            `the original kube-apiserver encrypts resources with ${original.encryption.configPath} (--encryption-provider-config); ` +
                "without that file's content the encrypted objects (usually Secrets) cannot be read — provide it",
        );
    }
    const etcdImage = checkImage("etcdImage", input.etcdImage ?? DEFAULT_ETCD_IMAGE);
    const etcdVersion = input.etcdVersion ?? etcdVersionFromImage(etcdImage);
    if (etcdVersion === undefined)
        throw new InputError(
            "etcdVersion",
            etcdVersion,
            `the tag of ${etcdImage} does not show the etcd version; set etcdVersion, e.g. "3.5.21"`,
        );
    const kubeApiserverImage = checkImage(
        "kubeApiserverImage",
        input.kubeApiserverImage ??
            (original.kubeApiserver.version
                ? `registry.k8s.io/kube-apiserver:v${original.kubeApiserver.version}`
                : DEFAULT_KUBE_APISERVER_IMAGE),
    );
    return { original, etcdImage, etcdVersion, kubeApiserverImage };
}

/** `etcdutl snapshot status` (etcdctl for 3.4 images) of the snapshot, in exec form, with no network: its log holds the revision. */
export function snapshotCheckContainer<C>(args: {
    name: string;
    etcdImage: string;
    etcdVersion: string;
    snapshotPath: string;
    labels: Record<string, string>;
}): ContainerSpec<C> {
    const tool = usesEtcdutl(args.etcdVersion) ? "etcdutl" : "etcdctl";
    return {
        name: `${args.name}-snapshot-check`,
        image: args.etcdImage,
        entrypoint: [`${ETCD_BIN_DIR}/${tool}`],
        command: ["snapshot", "status", SNAPSHOT_PATH_IN_CONTAINER, "--write-out=json"],
        files: [{ path: SNAPSHOT_PATH_IN_CONTAINER, sourcePath: args.snapshotPath, mode: 0o600 }],
        mounts: [],
        network: { none: true },
        labels: { ...args.labels, "etcd-recovery.role": "snapshot-check" },
        runToCompletion: true,
        restart: "no",
    };
}

/** The recovery kube-apiserver container of either mode: its arguments, certificates (keys 0600, secret) and place on the internal network. */
export function recoveryApiserverContainer<C>(args: {
    name: string;
    image: string;
    kubeApiserverArgs: string[];
    original: OriginalCluster;
    networkName: string;
    ip: string;
    labels: Record<string, string>;
    etcdCaCertPem: C;
    etcdClient: { certPem: C; keyPem: C };
    files: Pick<RecoveryFiles<C>, "kubeCaCertPem" | "apiserverServing" | "serviceAccount" | "encryptionConfig">;
    after: string[];
}): ContainerSpec<C> {
    const cert = (path: string, content: C): ContainerFile<C> => ({ path, content, mode: 0o644 });
    const secret = (path: string, content: C): ContainerFile<C> => ({ path, content, mode: 0o600, secret: true });
    const files = args.files;
    return {
        name: `${args.name}-kube-apiserver`,
        image: args.image,
        entrypoint: ["/usr/local/bin/kube-apiserver"],
        command: args.kubeApiserverArgs,
        files: [
            cert(apiserverPaths.etcdCa, args.etcdCaCertPem),
            cert(apiserverPaths.etcdClientCert, args.etcdClient.certPem),
            secret(apiserverPaths.etcdClientKey, args.etcdClient.keyPem),
            cert(apiserverPaths.clientCa, files.kubeCaCertPem),
            cert(apiserverPaths.servingCert, files.apiserverServing.certPem),
            secret(apiserverPaths.servingKey, files.apiserverServing.keyPem),
            cert(apiserverPaths.serviceAccountPublic, files.serviceAccount.publicKeyPem),
            secret(apiserverPaths.serviceAccountPrivate, files.serviceAccount.privateKeyPem),
            ...(args.original.encryption && files.encryptionConfig !== undefined
                ? [secret(apiserverPaths.encryptionConfig, files.encryptionConfig)]
                : []),
        ],
        mounts: [],
        network: { name: args.networkName, ipv4Address: args.ip, aliases: ["kube-apiserver"] },
        hostname: "kube-apiserver",
        labels: { ...args.labels, "etcd-recovery.role": "kube-apiserver" },
        restart: "unless-stopped",
        after: args.after,
    };
}

/**
 * How long `pulumi up` waits for a recovery environment's etcd to be healthy
 * before it fails (and so keeps the previous snapshot's one-shots and volume).
 * The restore has already written the data dir, so start-up is opening the
 * bbolt file and its hash check: seconds for small snapshots, minutes for
 * multi-GB ones on slow disks. 5 minutes covers those; a crashing etcd costs
 * that long before the error (the provider does not stop on "unhealthy").
 */
export const RECOVERY_ETCD_HEALTH_WAIT_SECONDS = 300;

/** Label on every container of a recovery environment: the SHA-256 of the snapshot it serves. */
export const SNAPSHOT_SHA256_LABEL = "etcd-recovery.snapshot-sha256";

/** Hex digits of the snapshot's SHA-256 in the names bound to it. */
const SNAPSHOT_NAME_HASH_LENGTH = 12;

/** The name a volume or one-shot container gets when bound to a snapshot: its own name and the snapshot's short hash. */
export function snapshotBoundName(name: string, snapshotSha256: string): string {
    return `${name}-${snapshotSha256.slice(0, SNAPSHOT_NAME_HASH_LENGTH)}`;
}

/**
 * Binds a plan to one snapshot, so that an update to a new snapshot never
 * takes the running environment down before the new snapshot proved good:
 * - volumes and one-shot containers (the check, the restores) get the
 *   snapshot's short hash in their names. A new snapshot makes NEW resources,
 *   created beside the running ones: no replacement, so the engine deletes
 *   nothing that depends on them (it would for a delete-before-replace of a
 *   one-shot of the same name). The old ones leave the program and the engine
 *   deletes them only at the end of an update that succeeded; after a failed
 *   one they stay, unchanged, and going back to the old snapshot runs nothing
 *   again (its restore never meets its own, non-empty volume);
 * - etcd and kube-apiserver keep fixed names (fixed addresses users reach).
 *   Every container gets the snapshot's SHA-256 as a label, so they are
 *   replaced too; their gate label (src/docker/one-shot.ts) names the new
 *   one-shots and is computed from their exit codes, so the old etcd is
 *   deleted only once the new snapshot's check and restore exited 0.
 */
export function bindToSnapshot<C>(plan: DockerPlan<C>, snapshotSha256: string): DockerPlan<C> {
    if (!/^[0-9a-f]{64}$/.test(snapshotSha256)) {
        throw new InputError("snapshotSha256", snapshotSha256, "give the 64 hex digits that verifySnapshotFile reports for the snapshot");
    }
    const bound = (name: string) => snapshotBoundName(name, snapshotSha256);
    const volumes = new Set(plan.volumes.map((v) => v.name));
    const oneShots = new Set(plan.containers.filter((c) => c.runToCompletion).map((c) => c.name));
    const containerName = (name: string) => (oneShots.has(name) ? bound(name) : name);
    return {
        networks: plan.networks,
        volumes: plan.volumes.map((v) => ({ ...v, name: bound(v.name) })),
        containers: plan.containers.map((c) => ({
            ...c,
            name: containerName(c.name),
            mounts: c.mounts.map((m) => (!m.hostPath && volumes.has(m.source) ? { ...m, source: bound(m.source) } : m)),
            ...(c.after !== undefined ? { after: c.after.map(containerName) } : {}),
            labels: { ...(c.labels ?? {}), [SNAPSHOT_SHA256_LABEL]: snapshotSha256 },
        })),
    };
}

/** planRecoveryEnvironment plans mode "single"; a replica needs the original certificates, so it has its own planner. */
function checkSingleMode(mode: unknown): void {
    if (mode === RecoveryMode.replica)
        throw new InputError(
            "mode",
            mode,
            "plan a replica with planReplicaEnvironment (src/recovery/replica.ts): it takes the original members' certificates",
        );
    if (mode !== RecoveryMode.single)
        throw new InputError(
            "mode",
            mode,
            'use "single" (one fresh member, fresh certificates) or "replica" (the original members, IPs and certificates)',
        );
}

export function planRecoveryEnvironment<C>(input: RecoveryEnvironmentPlanInput, files: RecoveryFiles<C>): RecoveryEnvironmentPlan<C> {
    assertDns1123Label(input.name, "name");
    checkSingleMode(input.mode ?? RecoveryMode.single);
    const { original, etcdImage, etcdVersion, kubeApiserverImage } = checkCommonRecoveryInput(input, files.encryptionConfig !== undefined);
    const addresses = recoveryAddresses(input.subnet ?? DEFAULT_RECOVERY_SUBNET);
    const labels = { "etcd-recovery.environment": input.name };

    const etcd = planEtcdCluster<C>(
        {
            clusterName: input.name,
            members: [{ name: RECOVERY_MEMBER_NAME, ip: addresses.etcdIp }],
            network: { mode: "bridge", subnet: addresses.subnet, internal: true },
            image: etcdImage,
            etcdVersion,
            seedSnapshotPath: input.snapshotPath,
        },
        () => files.etcd,
    );
    const restore = etcd.plan.containers.find((c) => c.runToCompletion)!;
    const member = etcd.plan.containers.find((c) => !c.runToCompletion)!;
    const network = etcd.plan.networks[0];

    const snapshotCheck = snapshotCheckContainer<C>({ name: input.name, etcdImage, etcdVersion, snapshotPath: input.snapshotPath, labels });
    const kubeApiserverArgs = recoveryApiserverArgs(original, addresses);
    const apiserver = recoveryApiserverContainer<C>({
        name: input.name,
        image: kubeApiserverImage,
        kubeApiserverArgs,
        original,
        networkName: network.name,
        ip: addresses.apiserverIp,
        labels,
        etcdCaCertPem: files.etcd.caCertPem,
        etcdClient: files.apiserverEtcdClient,
        files,
        after: [member.name],
    });

    // Unlike a cluster's seed, the restore runs again for every new snapshot (into a fresh volume).
    const { firstRunOnly: _seedOnly, ...restoreForEverySnapshot } = restore;
    return {
        plan: bindToSnapshot(
            {
                networks: etcd.plan.networks.map((n) => ({ ...n, internal: true, labels: { ...(n.labels ?? {}), ...labels } })),
                volumes: etcd.plan.volumes.map((v) => ({ ...v, labels: { ...(v.labels ?? {}), ...labels } })),
                containers: [
                    snapshotCheck,
                    // The check runs beside the restore (which verifies the hash too and only writes the fresh
                    // volume); etcd starts only after both succeeded. Saves the check's time from the RTO.
                    { ...restoreForEverySnapshot, labels: { ...(restore.labels ?? {}), ...labels } },
                    {
                        ...member,
                        labels: { ...(member.labels ?? {}), ...labels },
                        after: [...(member.after ?? []), snapshotCheck.name],
                        waitHealthySeconds: RECOVERY_ETCD_HEALTH_WAIT_SECONDS,
                    },
                    apiserver,
                ],
            },
            input.snapshotSha256,
        ),
        addresses,
        containerNames: {
            snapshotCheck: snapshotBoundName(snapshotCheck.name, input.snapshotSha256),
            restore: snapshotBoundName(restore.name, input.snapshotSha256),
            etcd: member.name,
            kubeApiserver: apiserver.name,
        },
        etcdImage,
        kubeApiserverImage,
        kubeApiserverArgs,
    };
}

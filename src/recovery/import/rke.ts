/**
 * RKE's way: `cluster.rkestate` (next to cluster.yml), or the
 * `cluster.spec` Rancher keeps in the cluster secret (`kubectl get secret -n
 * cattle-system c-<id> -o jsonpath='{.data.cluster}' | base64 -d`), whose
 * `metadata.fullState` is the same state as a JSON string.
 *
 * RKE runs etcd and kube-apiserver with arguments it derives from the state:
 * this importer derives them the same way (member `etcd-<hostname override or
 * address>`, peer `https://<internal address>:2380`, client `:2379`, the
 * encryption config at /etc/kubernetes/ssl/encryption.yaml) plus the
 * `extra_args` of each service, and hands them to the shared argument reader.
 * The state also holds the EncryptionConfiguration itself, so encrypted
 * Secrets can be read without asking for it.
 */
import { InputError } from "../../errors";
import { OriginalCluster, withEncryptionConfig } from "../source";
import { FoundContainer, describeFromContainers } from "./args";

/** Where RKE writes the encryption provider config on control-plane nodes. */
export const RKE_ENCRYPTION_CONFIG_PATH = "/etc/kubernetes/ssl/encryption.yaml";
const STATE_PATH = "currentState.rkeConfig";

interface RkeNode {
    address?: unknown;
    internalAddress?: unknown;
    hostnameOverride?: unknown;
    role?: unknown;
}

export interface RkeCertificate {
    /** Bundle key, e.g. "kube-ca", "kube-etcd-10-40-0-11". */
    name: string;
    commonName?: string;
    /** Where RKE puts it on the nodes. */
    path?: string;
    keyPath?: string;
    certPem: string;
    /** Secret: handle as a Pulumi secret or a 0600 file. */
    keyPem?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- RKE's state files are untyped JSON
function isRecord(value: unknown): value is Record<string, any> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The state object of either file shape, and the name to use in messages about it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- RKE's state files are untyped JSON
function stateOf(json: string, fileName: string): { state: Record<string, any>; fileName: string } {
    let parsed: unknown;
    try {
        parsed = JSON.parse(json);
    } catch (error) {
        throw new InputError(
            `${fileName}: (document)`,
            "(not JSON)",
            `give cluster.rkestate or Rancher's cluster.spec as JSON: ${(error as Error).message}`,
        );
    }
    if (isRecord(parsed) && isRecord(parsed.metadata) && "fullState" in parsed.metadata) {
        const full = parsed.metadata.fullState;
        if (typeof full !== "string")
            throw new InputError(`${fileName}: metadata.fullState`, full, "cluster.spec holds the RKE state as a JSON string here");
        return stateOf(full, `${fileName} (metadata.fullState)`);
    }
    if (!isRecord(parsed) || !isRecord(parsed.currentState)) {
        throw new InputError(
            `${fileName}: currentState`,
            isRecord(parsed) ? parsed.currentState : parsed,
            "give cluster.rkestate (with currentState) or cluster.spec (with metadata.fullState)",
        );
    }
    return { state: parsed, fileName };
}

function text(value: unknown): string | undefined {
    return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

/** RKE's own flags with the service's extra_args laid over them: an extra_arg replaces RKE's value, as in RKE. */
function withExtraArgs(defaults: [string, string][], service: unknown, fileName: string, field: string): string[] {
    const flags = new Map(defaults);
    const extra = isRecord(service) ? service.extraArgs : undefined;
    if (extra !== undefined && extra !== null) {
        if (!isRecord(extra)) throw new InputError(`${fileName}: ${field}.extraArgs`, extra, "extra_args is a map of flag name to value");
        for (const [flag, value] of Object.entries(extra)) {
            if (typeof value !== "string")
                throw new InputError(`${fileName}: ${field}.extraArgs.${flag}`, value, "extra_args values are strings");
            flags.set(flag, value);
        }
    }
    return [...flags.entries()].map(([flag, value]) => `--${flag}=${value}`);
}

/** The etcd nodes with their member name and URLs, as RKE names them. */
function etcdMembers(
    nodes: unknown,
    fileName: string,
): { name: string; peerUrl: string; clientUrl: string; legacyClientUrl: string; field: string }[] {
    if (!Array.isArray(nodes) || nodes.length === 0)
        throw new InputError(
            `${fileName}: ${STATE_PATH}.nodes`,
            nodes,
            "the state lists no nodes; is this the state of a cluster RKE brought up?",
        );
    const members = nodes.flatMap((node: RkeNode, i: number) => {
        const field = `${STATE_PATH}.nodes[${i}]`;
        if (!isRecord(node)) throw new InputError(`${fileName}: ${field}`, node, "each node is an object with address and role");
        if (!Array.isArray(node.role) || node.role.some((r) => typeof r !== "string"))
            throw new InputError(
                `${fileName}: ${field}.role`,
                node.role,
                'give the node\'s roles, e.g. ["controlplane", "etcd", "worker"]',
            );
        if (!(node.role as string[]).includes("etcd")) return [];
        const address = text(node.address);
        if (!address) throw new InputError(`${fileName}: ${field}.address`, node.address, "an etcd node needs its address");
        const internal = text(node.internalAddress) ?? address;
        const host = internal.includes(":") ? `[${internal}]` : internal;
        // RKE advertises the legacy client port 4001 too (its etcd's --advertise-client-urls).
        return [
            {
                name: `etcd-${text(node.hostnameOverride) ?? address}`,
                peerUrl: `https://${host}:2380`,
                clientUrl: `https://${host}:2379`,
                legacyClientUrl: `https://${host}:4001`,
                field,
            },
        ];
    });
    if (members.length === 0)
        throw new InputError(
            `${fileName}: ${STATE_PATH}.nodes[*].role`,
            "no etcd role",
            "no node has the etcd role; an RKE cluster has at least one",
        );
    return members;
}

/** The original cluster as RKE ran it, from cluster.rkestate or cluster.spec. */
export function fromRkeState(json: string, file: string): OriginalCluster {
    const { state, fileName } = stateOf(json, file);
    const config = state.currentState.rkeConfig;
    if (!isRecord(config))
        throw new InputError(
            `${fileName}: ${STATE_PATH}`,
            config,
            "the state has no current rkeConfig; was `rke up` ever completed for this cluster?",
        );
    const services = isRecord(config.services) ? config.services : {};
    const images = isRecord(config.systemImages) ? config.systemImages : {};
    const etcdService = services.etcd;
    const apiService = services.kubeApi;
    const members = etcdMembers(config.nodes, fileName);
    const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
    const etcdImage = text(isRecord(etcdService) ? etcdService.image : undefined) ?? text(images.etcd);
    const etcdContainers: FoundContainer[] = members.map((m) => ({
        file: fileName,
        field: `${m.field} (etcd as RKE runs it)`,
        ...(etcdImage ? { image: etcdImage } : {}),
        args: [
            "/usr/local/bin/etcd",
            ...withExtraArgs(
                [
                    ["name", m.name],
                    ["initial-advertise-peer-urls", m.peerUrl],
                    ["advertise-client-urls", `${m.clientUrl},${m.legacyClientUrl}`],
                    ["initial-cluster", initialCluster],
                ],
                etcdService,
                fileName,
                `${STATE_PATH}.services.etcd`,
            ),
        ],
    }));

    const api = isRecord(apiService) ? apiService : {};
    const encryption = isRecord(api.secretsEncryptionConfig) && api.secretsEncryptionConfig.enabled === true;
    const apiImage = text(api.image) ?? text(images.kubernetes);
    const etcdPath = text(isRecord(etcdService) ? etcdService.path : undefined);
    const apiserver: FoundContainer = {
        file: fileName,
        field: `${STATE_PATH}.services.kubeApi (kube-apiserver as RKE runs it)`,
        ...(apiImage ? { image: apiImage } : {}),
        args: [
            "kube-apiserver",
            ...withExtraArgs(
                [
                    ["storage-backend", "etcd3"],
                    ["etcd-servers", members.map((m) => m.clientUrl).join(",")],
                    ...(etcdPath ? [["etcd-prefix", etcdPath] as [string, string]] : []),
                    ...(text(api.serviceClusterIpRange)
                        ? [["service-cluster-ip-range", api.serviceClusterIpRange] as [string, string]]
                        : []),
                    ...(encryption ? [["encryption-provider-config", RKE_ENCRYPTION_CONFIG_PATH] as [string, string]] : []),
                ],
                api,
                fileName,
                `${STATE_PATH}.services.kubeApi`,
            ),
        ],
    };
    const cluster = describeFromContainers(etcdContainers, [apiserver], [fileName]);
    const content = text(state.currentState.encryptionConfig);
    return encryption && content !== undefined
        ? withEncryptionConfig(cluster, content, `${fileName}: currentState.encryptionConfig`)
        : cluster;
}

/** The certificates RKE keeps in the state (for mode "replica" and for reading the original CA). */
export function rkeCertificateBundle(json: string, file: string): RkeCertificate[] {
    const { state, fileName } = stateOf(json, file);
    const bundle = state.currentState.certificatesBundle;
    if (!isRecord(bundle))
        throw new InputError(`${fileName}: currentState.certificatesBundle`, bundle, "the state holds no certificates bundle");
    return Object.entries(bundle).map(([name, entry]) => {
        const field = `currentState.certificatesBundle.${name}`;
        if (!isRecord(entry) || !text(entry.certificatePEM)?.includes("BEGIN CERTIFICATE")) {
            throw new InputError(
                `${fileName}: ${field}.certificatePEM`,
                "(not a PEM certificate)",
                "each bundle entry holds certificatePEM",
            );
        }
        return {
            name,
            certPem: entry.certificatePEM,
            ...(text(entry.commonName) ? { commonName: entry.commonName } : {}),
            ...(text(entry.path) ? { path: entry.path } : {}),
            ...(text(entry.keyPath) ? { keyPath: entry.keyPath } : {}),
            ...(text(entry.keyPEM) ? { keyPem: entry.keyPEM } : {}),
        };
    });
}

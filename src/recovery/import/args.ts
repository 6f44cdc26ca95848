/**
 * From the argument lists of the original etcd and kube-apiserver containers
 * to one `OriginalCluster`: the part every importer (docker inspect, kubeadm
 * manifests) shares.
 */
import { InputError } from "../../errors";
import {
    DEFAULT_ETCD_PREFIX,
    STORAGE_MEDIA_TYPES,
    OriginalCluster,
    OriginalEtcdMember,
    validateOriginalCluster,
    versionFromImage,
} from "../source";

/** One container's arguments as found in a file. */
export interface FoundContainer {
    file: string;
    /** Where in the file, e.g. "[0].Args" or "spec.containers[0].command". */
    field: string;
    image?: string;
    args: string[];
}

/** Flags whose values kube-apiserver merges when they are repeated (map flags). */
const MERGED_FLAGS = new Set(["runtime-config", "feature-gates"]);

/**
 * `--flag=value`, `--flag value` and boolean `--flag` forms. A flag given twice
 * with different values is a contradiction, except the map flags that
 * kube-apiserver merges.
 */
export function parseFlags(container: FoundContainer): Map<string, string> {
    const flags = new Map<string, string>();
    const args = container.args;
    for (let i = 0; i < args.length; i++) {
        const arg = args[i];
        if (!arg.startsWith("-")) {
            // The binary's name (hyperkube/RKE put it first), nothing else is positional.
            if (i === 0) continue;
            throw new InputError(
                `${container.file}: ${container.field}[${i}]`,
                arg,
                "expected a --flag; is a value missing its flag, or are two containers' arguments mixed?",
            );
        }
        const body = arg.replace(/^--?/, "");
        const eq = body.indexOf("=");
        let name: string;
        let value: string;
        if (eq >= 0) {
            name = body.slice(0, eq);
            value = body.slice(eq + 1);
        } else if (i + 1 < args.length && !args[i + 1].startsWith("-")) {
            name = body;
            value = args[++i];
        } else {
            name = body;
            value = "true";
        }
        const previous = flags.get(name);
        if (previous === undefined || previous === value) {
            flags.set(name, value);
        } else if (MERGED_FLAGS.has(name)) {
            flags.set(name, `${previous},${value}`);
        } else {
            throw new InputError(
                `${container.file}: ${container.field} --${name}`,
                [previous, value],
                "the flag is given twice with different values; keep the one the container really runs with",
            );
        }
    }
    return flags;
}

/** Names of the binaries found first in an argument list or a docker Path. */
export function binaryName(value: string | undefined): string | undefined {
    if (!value) return undefined;
    return value.slice(value.lastIndexOf("/") + 1);
}

export type ContainerRole = "etcd" | "kube-apiserver";

/** Which of the two components an argument list belongs to; undefined when neither. */
export function roleOf(path: string | undefined, args: string[]): ContainerRole | undefined {
    const names = [binaryName(path), binaryName(args[0])];
    if (names.includes("kube-apiserver") || args.some((a) => a.startsWith("--etcd-servers"))) return "kube-apiserver";
    if (names.includes("etcd") || args.some((a) => /^--(initial-cluster|initial-advertise-peer-urls|listen-peer-urls)(=|$)/.test(a)))
        return "etcd";
    return undefined;
}

function splitList(value: string): string[] {
    return value
        .split(",")
        .map((v) => v.trim())
        .filter((v) => v !== "");
}

function hostOf(url: string): string | undefined {
    try {
        return new URL(url).hostname;
    } catch {
        return undefined;
    }
}

/** `name=url,name=url` → name → urls (a member may be listed with several peer URLs). */
function parseInitialCluster(value: string, container: FoundContainer): Map<string, string[]> {
    const members = new Map<string, string[]>();
    for (const entry of splitList(value)) {
        const eq = entry.indexOf("=");
        if (eq <= 0) {
            throw new InputError(
                `${container.file}: ${container.field} --initial-cluster`,
                entry,
                "entries are name=peer-url, e.g. etcd-k8s01=https://10.40.0.11:2380",
            );
        }
        const name = entry.slice(0, eq);
        members.set(name, [...(members.get(name) ?? []), entry.slice(eq + 1)]);
    }
    return members;
}

function sameMembers(a: Map<string, string[]>, b: Map<string, string[]>): boolean {
    const render = (m: Map<string, string[]>) => JSON.stringify([...m.entries()].map(([k, v]) => [k, [...v].sort()]).sort());
    return render(a) === render(b);
}

function membersFromEtcd(etcdContainers: FoundContainer[], apiserverFlags: Map<string, string> | undefined): OriginalEtcdMember[] {
    let cluster: { members: Map<string, string[]>; from: FoundContainer } | undefined;
    const clientUrls = new Map<string, string[]>();
    for (const container of etcdContainers) {
        const flags = parseFlags(container);
        const at = (flag: string) => `${container.file}: ${container.field} --${flag}`;
        const name = flags.get("name") ?? "default";
        const ownPeerUrls = splitList(flags.get("initial-advertise-peer-urls") ?? "http://localhost:2380");
        const initial = flags.has("initial-cluster")
            ? parseInitialCluster(flags.get("initial-cluster")!, container)
            : new Map([[name, ownPeerUrls]]);
        if (!initial.has(name)) {
            throw new InputError(
                at("name"),
                name,
                `this member is not in its own --initial-cluster (${[...initial.keys()].join(", ")}); the arguments contradict each other`,
            );
        }
        const listed = [...initial.get(name)!].sort().join(",");
        if (listed !== [...ownPeerUrls].sort().join(",")) {
            throw new InputError(
                at("initial-advertise-peer-urls"),
                ownPeerUrls.join(","),
                `--initial-cluster lists ${name} at ${listed}; the arguments contradict each other`,
            );
        }
        if (cluster && !sameMembers(cluster.members, initial)) {
            throw new InputError(
                at("initial-cluster"),
                flags.get("initial-cluster"),
                `${cluster.from.file} lists other members; give the etcd containers of one cluster only`,
            );
        }
        cluster ??= { members: initial, from: container };
        if (clientUrls.has(name)) {
            throw new InputError(at("name"), name, "two etcd containers have this name; give each member's container once");
        }
        clientUrls.set(name, splitList(flags.get("advertise-client-urls") ?? ""));
    }
    if (!cluster) return [];
    // Members whose container was not given: their client URLs from --etcd-servers, matched by host.
    const servers = splitList(apiserverFlags?.get("etcd-servers") ?? "");
    return [...cluster.members.entries()].map(([name, peerUrls]) => {
        const hosts = new Set(peerUrls.map(hostOf));
        const known = clientUrls.get(name);
        return { name, peerUrls, clientUrls: known && known.length > 0 ? known : servers.filter((s) => hosts.has(hostOf(s))) };
    });
}

const DATA_SHAPING_FLAGS = [
    "etcd-prefix",
    "storage-media-type",
    "encryption-provider-config",
    "experimental-encryption-provider-config",
    "runtime-config",
    "feature-gates",
    "service-cluster-ip-range",
] as const;

/**
 * Builds and validates the description. Several kube-apiserver containers
 * (one per control-plane node) must agree on every argument that shapes
 * stored data.
 */
export function describeFromContainers(
    etcdContainers: FoundContainer[],
    apiserverContainers: FoundContainer[],
    sources: string[],
): OriginalCluster {
    const label = sources.join(", ");
    if (apiserverContainers.length === 0) {
        throw new InputError(
            `${label}: kube-apiserver`,
            "missing",
            "give the kube-apiserver container's arguments too: its --etcd-prefix, encryption and storage flags decide how to read the snapshot",
        );
    }
    if (etcdContainers.length === 0) {
        throw new InputError(
            `${label}: etcd`,
            "missing",
            "give at least one etcd container's arguments too: its --name and --initial-cluster describe the members",
        );
    }
    const parsed = apiserverContainers.map((c) => ({ container: c, flags: parseFlags(c) }));
    const first = parsed[0];
    for (const other of parsed.slice(1)) {
        for (const flag of DATA_SHAPING_FLAGS) {
            if (first.flags.get(flag) !== other.flags.get(flag)) {
                throw new InputError(
                    `${other.container.file}: ${other.container.field} --${flag}`,
                    other.flags.get(flag),
                    `${first.container.file} has ${JSON.stringify(first.flags.get(flag) ?? "(unset)")}; kube-apiservers of one cluster must agree on it`,
                );
            }
        }
    }
    const flags = first.flags;
    const apiAt = (flag: string) => `${first.container.file}: ${first.container.field} --${flag}`;
    const backend = flags.get("storage-backend");
    if (backend !== undefined && backend !== "etcd3") {
        throw new InputError(
            apiAt("storage-backend"),
            backend,
            "only etcd3 storage can be recovered (etcd2 was removed in Kubernetes 1.13)",
        );
    }
    const mediaType = flags.get("storage-media-type");
    if (mediaType !== undefined && !(STORAGE_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
        throw new InputError(apiAt("storage-media-type"), mediaType, `kube-apiserver accepts ${STORAGE_MEDIA_TYPES.join(", ")}`);
    }
    const prefix = flags.get("etcd-prefix");
    if (prefix !== undefined && !prefix.startsWith("/")) {
        throw new InputError(apiAt("etcd-prefix"), prefix, "kube-apiserver's etcd prefix is an absolute key prefix such as /registry");
    }
    const encryptionPath = flags.get("encryption-provider-config") ?? flags.get("experimental-encryption-provider-config");
    const images = (containers: FoundContainer[], what: string) => {
        const found = [...new Set(containers.map((c) => c.image).filter((i): i is string => !!i))];
        const versions = new Set(found.map(versionFromImage));
        if (versions.size > 1) {
            throw new InputError(
                `${label}: ${what} image`,
                found,
                "the containers run different versions (an upgrade in progress?); give the files of one version",
            );
        }
        return found[0];
    };
    const etcdImage = images(etcdContainers, "etcd");
    const apiImage = images(apiserverContainers, "kube-apiserver");
    const args =
        first.container.args[0] !== undefined && !first.container.args[0].startsWith("-")
            ? first.container.args.slice(1)
            : first.container.args;
    return validateOriginalCluster(
        {
            sources,
            etcd: { ...(etcdImage ? { image: etcdImage } : {}), members: membersFromEtcd(etcdContainers, flags) },
            kubeApiserver: { ...(apiImage ? { image: apiImage } : {}), args },
            etcdPrefix: flags.get("etcd-prefix") ?? DEFAULT_ETCD_PREFIX,
            ...(flags.has("storage-media-type") ? { storageMediaType: flags.get("storage-media-type") } : {}),
            ...(encryptionPath ? { encryption: { configPath: encryptionPath } } : {}),
            ...(flags.has("runtime-config") ? { runtimeConfig: flags.get("runtime-config") } : {}),
            ...(flags.has("feature-gates") ? { featureGates: flags.get("feature-gates") } : {}),
            ...(flags.has("service-cluster-ip-range") ? { serviceClusterIpRange: flags.get("service-cluster-ip-range") } : {}),
        },
        label,
    );
}

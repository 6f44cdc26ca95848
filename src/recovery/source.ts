/**
 * The original cluster, as the recovery environment needs to know it: which
 * etcd members there were, which versions ran, and every kube-apiserver
 * argument that shapes how objects are stored in etcd. Importers
 * (src/recovery/import) build it from what users have; a hand-written
 * description goes through `validateOriginalCluster` like every importer's.
 */
import { InputError } from "../errors";

export interface OriginalEtcdMember {
    /** etcd's `--name`. */
    name: string;
    peerUrls: string[];
    /** Empty when no file showed this member's client URLs. */
    clientUrls: string[];
}

/** The original etcd: version, image and members. */
export interface OriginalEtcd {
    /** e.g. "3.3.10"; from the image tag, when it shows one. */
    version?: string;
    image?: string;
    members: OriginalEtcdMember[];
}

/** The original kube-apiserver: version, image and its arguments. */
export interface OriginalKubeApiserver {
    /** e.g. "1.15.3"; from the image tag, when it shows one. */
    version?: string;
    image?: string;
    /** The original argument list, verbatim (binary name removed). */
    args: string[];
}

/** `--encryption-provider-config`: the path on the original node and, once the user supplies it, the file's content. */
export interface OriginalEncryption {
    configPath: string;
    content?: string;
}

export interface OriginalCluster {
    /** The files this description was read from, for messages. */
    sources: string[];
    etcd: OriginalEtcd;
    kubeApiserver: OriginalKubeApiserver;
    /** `--etcd-prefix`. Default "/registry". */
    etcdPrefix: string;
    /** `--storage-media-type`; kube-apiserver's default (protobuf) when absent. */
    storageMediaType?: string;
    /**
     * `--encryption-provider-config`: the path on the original node and, once the
     * user supplies it, the file's content. Without the content, encrypted
     * Secrets cannot be read.
     */
    encryption?: OriginalEncryption;
    /** `--runtime-config` (API groups/versions switched on or off), comma-joined. */
    runtimeConfig?: string;
    /** `--feature-gates`, comma-joined. */
    featureGates?: string;
    /** `--service-cluster-ip-range`: the IP allocator's repair loop checks stored Services against it. */
    serviceClusterIpRange?: string;
}

export const DEFAULT_ETCD_PREFIX = "/registry";
export const STORAGE_MEDIA_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"] as const;

const DNS_LIKE_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$/;
const VERSION = /^v?\d+\.\d+\.\d+$/;

/** The version in an image tag such as "rancher/coreos-etcd:v3.3.10-rancher1" or "registry.k8s.io/etcd:3.5.1-0". */
export function versionFromImage(image: string | undefined): string | undefined {
    if (!image) return undefined;
    const lastPart = image.slice(image.lastIndexOf("/") + 1);
    const colon = lastPart.indexOf(":");
    if (colon < 0) return undefined;
    const tag = /^v?(\d+\.\d+\.\d+)/.exec(lastPart.slice(colon + 1).split("@")[0]);
    return tag?.[1];
}

function where(file: string, field: string): string {
    return `${file}: ${field}`;
}

function checkUrl(url: unknown, file: string, field: string): string {
    if (typeof url !== "string") throw new InputError(where(file, field), url, "give a URL such as https://10.40.0.11:2380");
    let parsed: URL;
    try {
        parsed = new URL(url);
    } catch {
        throw new InputError(where(file, field), url, "give a URL such as https://10.40.0.11:2380");
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
        throw new InputError(where(file, field), url, "etcd URLs are http:// or https://");
    }
    return url;
}

function checkStringList(value: unknown, file: string, field: string): string[] {
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
        throw new InputError(where(file, field), value, "give a list of strings");
    }
    return value as string[];
}

function checkOptionalString(value: unknown, file: string, field: string, fix: string): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value.trim() === "") throw new InputError(where(file, field), value, fix);
    return value;
}

function rejectUnknownKeys(value: Record<string, unknown>, known: string[], file: string, at: string): void {
    for (const key of Object.keys(value)) {
        if (!known.includes(key)) {
            throw new InputError(
                where(file, at ? `${at}.${key}` : key),
                value[key],
                `unknown field; known fields here are ${known.join(", ")}`,
            );
        }
    }
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks a description field by field (types, unknown fields, URLs, values
 * kube-apiserver would refuse, members that contradict each other) and returns
 * it with defaults filled in. `file` names the source in every error.
 */
export function validateOriginalCluster(input: unknown, file: string): OriginalCluster {
    if (!isRecord(input)) throw new InputError(where(file, "(document)"), input, "give an object describing the original cluster");
    rejectUnknownKeys(
        input,
        [
            "sources",
            "etcd",
            "kubeApiserver",
            "etcdPrefix",
            "storageMediaType",
            "encryption",
            "runtimeConfig",
            "featureGates",
            "serviceClusterIpRange",
        ],
        file,
        "",
    );
    const sources = input.sources === undefined ? [file] : checkStringList(input.sources, file, "sources");

    if (!isRecord(input.etcd))
        throw new InputError(where(file, "etcd"), input.etcd, "give etcd: { members: [{ name, peerUrls, clientUrls }] }");
    rejectUnknownKeys(input.etcd, ["version", "image", "members"], file, "etcd");
    const etcdImage = checkOptionalString(
        input.etcd.image,
        file,
        "etcd.image",
        "give the image reference, e.g. registry.k8s.io/etcd:3.5.1-0",
    );
    const etcdVersion =
        checkOptionalString(input.etcd.version, file, "etcd.version", 'give a version such as "3.5.1"') ?? versionFromImage(etcdImage);
    if (etcdVersion !== undefined && !VERSION.test(etcdVersion))
        throw new InputError(where(file, "etcd.version"), etcdVersion, 'give a version such as "3.5.1"');
    if (!Array.isArray(input.etcd.members) || input.etcd.members.length === 0) {
        throw new InputError(where(file, "etcd.members"), input.etcd.members, "list at least one etcd member with its name and peer URLs");
    }
    const names = new Set<string>();
    const peerOwners = new Map<string, string>();
    const members = input.etcd.members.map((member: unknown, i: number): OriginalEtcdMember => {
        const at = `etcd.members[${i}]`;
        if (!isRecord(member)) throw new InputError(where(file, at), member, "give { name, peerUrls, clientUrls }");
        rejectUnknownKeys(member, ["name", "peerUrls", "clientUrls"], file, at);
        if (typeof member.name !== "string" || !DNS_LIKE_NAME.test(member.name)) {
            throw new InputError(where(file, `${at}.name`), member.name, "give the member's etcd --name (letters, digits, '-', '_', '.')");
        }
        if (names.has(member.name))
            throw new InputError(where(file, `${at}.name`), member.name, "two members have this name; etcd member names are unique");
        names.add(member.name);
        const peerUrls = checkStringList(member.peerUrls, file, `${at}.peerUrls`).map((u, j) => checkUrl(u, file, `${at}.peerUrls[${j}]`));
        if (peerUrls.length === 0) throw new InputError(where(file, `${at}.peerUrls`), peerUrls, "give at least one peer URL");
        for (const url of peerUrls) {
            const owner = peerOwners.get(url);
            if (owner !== undefined)
                throw new InputError(where(file, `${at}.peerUrls`), url, `member ${owner} has the same peer URL; each member has its own`);
            peerOwners.set(url, member.name);
        }
        const clientUrls =
            member.clientUrls === undefined
                ? []
                : checkStringList(member.clientUrls, file, `${at}.clientUrls`).map((u, j) => checkUrl(u, file, `${at}.clientUrls[${j}]`));
        return { name: member.name, peerUrls, clientUrls };
    });

    if (!isRecord(input.kubeApiserver))
        throw new InputError(where(file, "kubeApiserver"), input.kubeApiserver, "give kubeApiserver: { args: [...] }");
    rejectUnknownKeys(input.kubeApiserver, ["version", "image", "args"], file, "kubeApiserver");
    const apiImage = checkOptionalString(
        input.kubeApiserver.image,
        file,
        "kubeApiserver.image",
        "give the image reference, e.g. registry.k8s.io/kube-apiserver:v1.34.4",
    );
    const apiVersion =
        checkOptionalString(input.kubeApiserver.version, file, "kubeApiserver.version", 'give a version such as "1.34.4"') ??
        versionFromImage(apiImage);
    if (apiVersion !== undefined && !VERSION.test(apiVersion))
        throw new InputError(where(file, "kubeApiserver.version"), apiVersion, 'give a version such as "1.34.4"');
    const args = input.kubeApiserver.args === undefined ? [] : checkStringList(input.kubeApiserver.args, file, "kubeApiserver.args");

    const etcdPrefix = input.etcdPrefix === undefined ? DEFAULT_ETCD_PREFIX : input.etcdPrefix;
    if (typeof etcdPrefix !== "string" || !etcdPrefix.startsWith("/") || /\s/.test(etcdPrefix)) {
        throw new InputError(
            where(file, "etcdPrefix"),
            etcdPrefix,
            'give kube-apiserver\'s --etcd-prefix, an absolute key prefix such as "/registry"',
        );
    }
    const storageMediaType = checkOptionalString(
        input.storageMediaType,
        file,
        "storageMediaType",
        `use one of ${STORAGE_MEDIA_TYPES.join(", ")}`,
    );
    if (storageMediaType !== undefined && !(STORAGE_MEDIA_TYPES as readonly string[]).includes(storageMediaType)) {
        throw new InputError(where(file, "storageMediaType"), storageMediaType, `kube-apiserver accepts ${STORAGE_MEDIA_TYPES.join(", ")}`);
    }
    let encryption: OriginalCluster["encryption"];
    if (input.encryption !== undefined) {
        if (!isRecord(input.encryption))
            throw new InputError(where(file, "encryption"), input.encryption, "give encryption: { configPath, content }");
        rejectUnknownKeys(input.encryption, ["configPath", "content"], file, "encryption");
        const configPath = input.encryption.configPath;
        if (typeof configPath !== "string" || !configPath.startsWith("/")) {
            throw new InputError(
                where(file, "encryption.configPath"),
                configPath,
                "give the absolute path of --encryption-provider-config on the original node",
            );
        }
        const content = input.encryption.content;
        if (
            content !== undefined &&
            (typeof content !== "string" || !/kind:\s*EncryptionConfig(uration)?\b|"kind"\s*:\s*"EncryptionConfig(uration)?"/.test(content))
        ) {
            throw new InputError(
                where(file, "encryption.content"),
                "(not shown: it holds keys)",
                "give the content of the original EncryptionConfiguration file (kind: EncryptionConfiguration)",
            );
        }
        encryption = { configPath, ...(content !== undefined ? { content } : {}) };
    }
    const runtimeConfig = checkOptionalString(
        input.runtimeConfig,
        file,
        "runtimeConfig",
        'give --runtime-config\'s value, e.g. "api/all=true"',
    );
    const featureGates = checkOptionalString(
        input.featureGates,
        file,
        "featureGates",
        'give --feature-gates\'s value, e.g. "SomeGate=true"',
    );
    for (const [field, value] of [
        ["runtimeConfig", runtimeConfig],
        ["featureGates", featureGates],
    ] as const) {
        if (value !== undefined && !/^[^=,\s]+(=[^=,\s]*)?(,[^=,\s]+(=[^=,\s]*)?)*$/.test(value)) {
            throw new InputError(where(file, field), value, "give comma-separated key=value pairs without spaces");
        }
    }
    const serviceClusterIpRange = checkOptionalString(
        input.serviceClusterIpRange,
        file,
        "serviceClusterIpRange",
        'give a CIDR such as "10.96.0.0/12"',
    );
    if (serviceClusterIpRange !== undefined && !/^[0-9a-fA-F.:]+\/\d+(,[0-9a-fA-F.:]+\/\d+)?$/.test(serviceClusterIpRange)) {
        throw new InputError(
            where(file, "serviceClusterIpRange"),
            serviceClusterIpRange,
            'give one CIDR or an IPv4,IPv6 pair, e.g. "10.96.0.0/12"',
        );
    }

    return {
        sources,
        etcd: { ...(etcdVersion ? { version: etcdVersion.replace(/^v/, "") } : {}), ...(etcdImage ? { image: etcdImage } : {}), members },
        kubeApiserver: { ...(apiVersion ? { version: apiVersion.replace(/^v/, "") } : {}), ...(apiImage ? { image: apiImage } : {}), args },
        etcdPrefix,
        ...(storageMediaType ? { storageMediaType } : {}),
        ...(encryption ? { encryption } : {}),
        ...(runtimeConfig ? { runtimeConfig } : {}),
        ...(featureGates ? { featureGates } : {}),
        ...(serviceClusterIpRange ? { serviceClusterIpRange } : {}),
    };
}

/** A hand-written description (JSON text), for clusters no importer reads. */
export function fromDescription(json: string, fileName: string): OriginalCluster {
    let parsed: unknown;
    try {
        parsed = JSON.parse(json);
    } catch (error) {
        throw new InputError(where(fileName, "(document)"), "(not JSON)", `fix the JSON: ${(error as Error).message}`);
    }
    return validateOriginalCluster(parsed, fileName);
}

/** The description with the original EncryptionConfiguration's content attached (checked like the rest). */
export function withEncryptionConfig(cluster: OriginalCluster, content: string, fileName: string): OriginalCluster {
    const configPath = cluster.encryption?.configPath ?? "/etc/kubernetes/encryption-config.yaml";
    return validateOriginalCluster({ ...cluster, encryption: { configPath, content } }, fileName);
}

/**
 * What kube-apiserver's storage keys and values look like, without decoding
 * objects: `<prefix>/<resource>/<namespace>/<name>`, `<prefix>/<resource>/<name>`
 * for cluster-scoped ones, `<prefix>/<group>/<resource>/…` for CRDs and
 * aggregated APIs (a group has a dot, a resource never does); values are JSON,
 * protobuf behind the `k8s\0` magic (runtime.Unknown), or encrypted at rest
 * behind `k8s:enc:<provider>:<v1|v2>:<key name>:`.
 */
import { fields } from "./protobuf";

export interface ObjectKey {
    /** As kubectl names it: configmaps, deployments, widgets.example.com. */
    resource: string;
    namespace?: string;
    name: string;
}

/** Built-in resources stored under another path than their name (kube-apiserver's storage registry). */
const RENAMED: Record<string, string | undefined> = {
    "services/specs": "services",
    "services/endpoints": "endpoints",
    minions: "nodes",
    controllers: "replicationcontrollers",
};

export function normalizePrefix(prefix: string): string {
    return prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
}

/** The object a key stores, or undefined for keys outside the prefix or of another shape. indexOf, not split: it runs once per revision. */
export function parseObjectKey(key: string, prefix = "/registry"): ObjectKey | undefined {
    const root = prefix.endsWith("/") ? prefix : `${prefix}/`;
    if (!key.startsWith(root)) return undefined;
    let at = root.length;
    const next = (): string | undefined => {
        if (at > key.length) return undefined;
        const slash = key.indexOf("/", at);
        const end = slash < 0 ? key.length : slash;
        const part = key.slice(at, end);
        at = end + 1;
        return part;
    };
    let resource = next();
    if (!resource) return undefined;
    if (resource.includes(".")) {
        const plural = next();
        if (!plural) return undefined;
        resource = `${plural}.${resource}`;
    } else {
        const renamed = RENAMED[resource];
        if (renamed) resource = renamed;
        else if (resource === "services") {
            const sub = next();
            if (sub === undefined || !RENAMED[`services/${sub}`]) return undefined;
            resource = RENAMED[`services/${sub}`]!;
        }
    }
    const first = next();
    if (!first) return undefined;
    const second = next();
    if (second === undefined) return { resource, name: first };
    if (second === "" || at <= key.length) return undefined;
    return { resource, namespace: first, name: second };
}

/** Whether `wanted` (as a user types it: configmaps, deployments.apps, widgets.example.com) names `resource`. */
export function resourceMatches(resource: string, wanted: string): boolean {
    if (resource === wanted) return true;
    // Built-in groups are stored without their group: deployments.apps lives at /registry/deployments/…
    const dot = wanted.indexOf(".");
    return dot > 0 && !resource.includes(".") && resource === wanted.slice(0, dot);
}

export type ValueEncoding =
    | { type: "json" }
    | { type: "protobuf"; apiVersion?: string; kind?: string; contentEncoding?: string; contentType?: string; problem?: string }
    | { type: "encrypted"; provider: string; providerVersion: string; keyName: string }
    | { type: "other" };

const ENCRYPTED = /^k8s:enc:([A-Za-z0-9_-]+):(v[0-9]+):([^:]*):/;

/** runtime.Unknown: 1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType. */
function protobufEnvelope(body: Buffer): ValueEncoding {
    const found: { apiVersion?: string; kind?: string; contentEncoding?: string; contentType?: string } = {};
    try {
        for (const field of fields(body)) {
            if (field.wireType !== 2) continue;
            if (field.number === 1) {
                for (const meta of fields(field.bytes!)) {
                    if (meta.wireType !== 2) continue;
                    if (meta.number === 1) found.apiVersion = meta.bytes!.toString("utf8");
                    if (meta.number === 2) found.kind = meta.bytes!.toString("utf8");
                }
            }
            if (field.number === 3) found.contentEncoding = field.bytes!.toString("utf8");
            if (field.number === 4) found.contentType = field.bytes!.toString("utf8");
        }
    } catch (error) {
        return { type: "protobuf", ...found, problem: `the runtime.Unknown envelope does not decode: ${(error as Error).message}` };
    }
    return { type: "protobuf", ...found };
}

/** How a value is stored; never throws (an undecodable envelope is reported, not fatal). */
export function classifyValue(value: Buffer): ValueEncoding {
    // Byte tests first: this runs once per revision of a whole snapshot.
    const first = value[0];
    if (first === 0x7b) return { type: "json" };
    if (first === 0x6b && value.length >= 4 && value[1] === 0x38 && value[2] === 0x73 && value[3] === 0x00)
        return protobufEnvelope(value.subarray(4));
    if (first === 0x6b && value.length >= 8 && value.toString("latin1", 0, 8) === "k8s:enc:") {
        const match = ENCRYPTED.exec(value.toString("latin1", 0, Math.min(value.length, 512)));
        if (match) return { type: "encrypted", provider: match[1]!, providerVersion: match[2]!, keyName: match[3]! };
        return { type: "encrypted", provider: "unknown", providerVersion: "?", keyName: "?" };
    }
    let i = 0;
    while (i < value.length && (value[i] === 0x20 || value[i] === 0x0a || value[i] === 0x09 || value[i] === 0x0d)) i++;
    if (value[i] === 0x7b) return { type: "json" };
    return { type: "other" };
}

/** One short word for tables: json, protobuf v1/ConfigMap, encrypted aescbc:key1. */
export function describeEncoding(encoding: ValueEncoding): string {
    switch (encoding.type) {
        case "json":
            return "json";
        case "protobuf":
            return encoding.problem ? "protobuf (undecodable envelope)" : `protobuf ${encoding.apiVersion ?? "?"}/${encoding.kind ?? "?"}`;
        case "encrypted":
            return `encrypted ${encoding.provider}:${encoding.keyName}`;
        case "other":
            return "other";
    }
}

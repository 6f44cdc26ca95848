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
const RENAMED: Record<string, string> = { "services/specs": "services", "services/endpoints": "endpoints", minions: "nodes", controllers: "replicationcontrollers" };

export function normalizePrefix(prefix: string): string {
    return prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
}

/** The object a key stores, or undefined for keys outside the prefix or of another shape (e.g. /registry/ranges/serviceips is kept: one segment). */
export function parseObjectKey(key: string, prefix = "/registry"): ObjectKey | undefined {
    const root = `${normalizePrefix(prefix)}/`;
    if (!key.startsWith(root)) return undefined;
    const parts = key.slice(root.length).split("/");
    if (parts.some((p) => p === "")) return undefined;
    let resource = parts.shift()!;
    if (resource.includes(".")) {
        const plural = parts.shift();
        if (plural === undefined) return undefined;
        resource = `${plural}.${resource}`;
    } else if (parts.length > 0 && RENAMED[`${resource}/${parts[0]}`]) {
        resource = RENAMED[`${resource}/${parts.shift()}`]!;
    } else if (RENAMED[resource]) {
        resource = RENAMED[resource]!;
    }
    if (parts.length === 1) return { resource, name: parts[0]! };
    if (parts.length === 2) return { resource, namespace: parts[0]!, name: parts[1]! };
    return undefined;
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

const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"
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
    if (value.length >= 4 && value.subarray(0, 4).equals(PROTOBUF_MAGIC)) return protobufEnvelope(value.subarray(4));
    if (value.length >= 8 && value.toString("latin1", 0, 8) === "k8s:enc:") {
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

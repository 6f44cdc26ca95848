/**
 * Snapshot against live: which of the selected objects are missing in the
 * live cluster, which differ, and how (a line diff of their apply-ready YAML).
 * Both sides are cleaned the same way (cleanForApply), so server-set fields
 * never show up as differences. Secret values are replaced by a short digest
 * before diffing: a diff says that a key changed, never what it holds.
 */
import { createHash } from "crypto";
import * as yaml from "js-yaml";
import { KubeObject, cleanForApply, describeObject } from "./export";

export type ObjectDiffState = "missing-in-live" | "changed" | "same" | "only-in-live";

export interface ObjectDiff {
    /** "ConfigMap shop/app-config". */
    object: string;
    state: ObjectDiffState;
    /** Unified-style line diff (- snapshot, + live) for "changed". */
    diff?: string;
}

/** The API group of an apiVersion ("apps/v1" → "apps", "v1" → ""): versions of one group are the same object. */
function groupOf(apiVersion: string): string {
    return apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
}

export function objectKey(object: KubeObject): string {
    return [groupOf(String(object.apiVersion ?? "")), object.kind, object.metadata?.namespace ?? "", object.metadata?.name].join("/");
}

function digest(value: string): string {
    return `<sha256:${createHash("sha256").update(value).digest("hex").slice(0, 12)}>`;
}

/** A Secret's values as digests; every other object unchanged. */
export function maskSecretValues(object: KubeObject): KubeObject {
    if (object.kind !== "Secret") return object;
    const masked: KubeObject = JSON.parse(JSON.stringify(object));
    for (const field of ["data", "stringData"]) {
        if (masked[field] && typeof masked[field] === "object") {
            masked[field] = Object.fromEntries(
                Object.entries(masked[field] as Record<string, string>).map(([k, v]) => [k, digest(String(v))]),
            );
        }
    }
    return masked;
}

/** Keys sorted at every level, so that field order never shows up as a change. */
function canonical(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(canonical);
    if (value && typeof value === "object") {
        return Object.fromEntries(
            Object.keys(value as object)
                .sort()
                .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
        );
    }
    return value;
}

function comparableYaml(object: KubeObject): string {
    return yaml.dump(canonical(maskSecretValues(cleanForApply(object).object)), { noRefs: true, lineWidth: -1 });
}

/**
 * A line diff (longest common subsequence): "  " common, "- " only in `before`,
 * "+ " only in `after`. Objects are small, so the quadratic table is fine.
 */
export function lineDiff(before: string, after: string): string {
    const a = before.replace(/\n$/, "").split("\n");
    const b = after.replace(/\n$/, "").split("\n");
    const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
    for (let i = a.length - 1; i >= 0; i--) {
        for (let j = b.length - 1; j >= 0; j--) {
            lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
        }
    }
    const out: string[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
        if (i < a.length && j < b.length && a[i] === b[j]) {
            out.push(`  ${a[i++]}`);
            j++;
        } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
            out.push(`- ${a[i++]}`);
        } else {
            out.push(`+ ${b[j++]}`);
        }
    }
    return out.join("\n");
}

/** Compares the snapshot's objects with the live ones (both as read, uncleaned), in the snapshot's order, then live-only objects. */
export function diffObjects(snapshot: KubeObject[], live: KubeObject[]): ObjectDiff[] {
    const liveByKey = new Map(live.map((o) => [objectKey(o), o]));
    const seen = new Set<string>();
    const result: ObjectDiff[] = [];
    for (const object of snapshot) {
        const key = objectKey(object);
        seen.add(key);
        const other = liveByKey.get(key);
        const name = describeObject(object);
        if (!other) {
            result.push({ object: name, state: "missing-in-live" });
            continue;
        }
        const before = comparableYaml(object);
        const after = comparableYaml(other);
        result.push(before === after ? { object: name, state: "same" } : { object: name, state: "changed", diff: lineDiff(before, after) });
    }
    for (const object of live) {
        if (!seen.has(objectKey(object))) result.push({ object: describeObject(object), state: "only-in-live" });
    }
    return result;
}

const STATE_TEXT: Record<ObjectDiffState, string> = {
    "missing-in-live": "missing in live (in the snapshot only)",
    changed: "changed in live",
    same: "same",
    "only-in-live": "only in live (created after the snapshot)",
};

/** A readable report: one line per object, the line diff below each changed one (context trimmed to 3 lines). */
export function renderDiffReport(diffs: ObjectDiff[]): string {
    const lines: string[] = [];
    for (const d of diffs) {
        lines.push(`${d.object}: ${STATE_TEXT[d.state]}`);
        if (d.diff) {
            const diffLines = d.diff.split("\n");
            const near = (i: number) => diffLines.slice(Math.max(0, i - 3), i + 4).some((l) => !l.startsWith("  "));
            let skipped = false;
            diffLines.forEach((line, i) => {
                if (near(i)) {
                    lines.push(`    ${line}`);
                    skipped = false;
                } else if (!skipped) {
                    lines.push("    ...");
                    skipped = true;
                }
            });
        }
    }
    const count = (s: ObjectDiffState) => diffs.filter((d) => d.state === s).length;
    lines.push(
        `${diffs.length} objects: ${count("missing-in-live")} missing in live, ${count("changed")} changed, ${count("same")} same, ${count("only-in-live")} only in live`,
    );
    return `${lines.join("\n")}\n`;
}

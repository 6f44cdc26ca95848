/**
 * Getting objects back: select them in the recovery API with kubectl, strip
 * what the server set, and write YAML that `kubectl apply` takes as is.
 *
 * Owner references are dropped by default, deliberately: they name the owner
 * by uid, and the owner in production is often a re-created object with a new
 * uid (or gone), in which case the garbage collector deletes the restored
 * object soon after it is applied. Each dropped reference is reported in
 * `notes`, so it can be re-added against the live owner; `ownerReferences:
 * "keep"` keeps them for owners known to still exist with the same uid.
 * Finalizers are kept: they are intent, and controllers add theirs back anyway.
 */
import { execFile } from "child_process";
// Named imports: a dynamic provider (export-on-up.ts) serializes this module, and only the module object itself is serialized as require("js-yaml").
import { dump } from "js-yaml";
import { InputError } from "../errors";
import { ENCRYPTED_DATA_ERROR, MISSING_ENCRYPTION_CONFIG_ADVICE } from "./ready";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any Kubernetes object as the API serves it (JSON)
export type KubeObject = Record<string, any>;

/** What an export does with ownerReferences: "drop" them (with a note per object) or "keep" them as they were. */
export const OwnerReferencesPolicy = { drop: "drop", keep: "keep" } as const;
export type OwnerReferencesPolicy = (typeof OwnerReferencesPolicy)[keyof typeof OwnerReferencesPolicy];

export interface CleanOptions {
    /** "drop" (default) or "keep"; see the module comment. */
    ownerReferences?: OwnerReferencesPolicy;
}

export interface CleanedObject {
    object: KubeObject;
    /** What was removed that a human may want to restore by hand. */
    notes: string[];
}

const SERVER_SET_METADATA = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];
const SERVER_SET_ANNOTATIONS = ["kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision"];

export function describeObject(object: KubeObject): string {
    const ns = object.metadata?.namespace ? `${object.metadata.namespace}/` : "";
    return `${object.kind ?? "?"} ${ns}${object.metadata?.name ?? "?"}`;
}

/** A copy of `object` without server-set fields; the input is not changed. */
export function cleanForApply(object: KubeObject, options: CleanOptions = {}): CleanedObject {
    if (typeof object !== "object" || object === null || typeof object.kind !== "string" || typeof object.apiVersion !== "string") {
        throw new InputError("object", object, "give a Kubernetes object with apiVersion and kind");
    }
    const copy: KubeObject = JSON.parse(JSON.stringify(object));
    const notes: string[] = [];
    const metadata: KubeObject = copy.metadata ?? {};
    for (const field of SERVER_SET_METADATA) delete metadata[field];
    if (metadata.annotations) {
        for (const key of SERVER_SET_ANNOTATIONS) delete metadata.annotations[key];
        if (Object.keys(metadata.annotations).length === 0) delete metadata.annotations;
    }
    if (metadata.ownerReferences && (options.ownerReferences ?? "drop") === "drop") {
        for (const ref of metadata.ownerReferences as { kind: string; name: string; uid: string }[]) {
            notes.push(
                `${describeObject(copy)}: dropped ownerReference to ${ref.kind} ${ref.name} (uid ${ref.uid} in the snapshot); re-add it against the live owner if it should be garbage-collected with it`,
            );
        }
        delete metadata.ownerReferences;
    }
    delete copy.status;
    if (copy.kind === "Service" && copy.spec) {
        // Allocated by the server; applying a stale one fails when another Service holds it now.
        if (copy.spec.clusterIP !== "None") {
            delete copy.spec.clusterIP;
            delete copy.spec.clusterIPs;
        }
    }
    if (copy.kind === "Namespace" && copy.spec?.finalizers?.length === 1 && copy.spec.finalizers[0] === "kubernetes") {
        delete copy.spec;
    }
    if (copy.kind === "Secret" && copy.type === "kubernetes.io/service-account-token") {
        notes.push(`${describeObject(copy)}: a service-account token signed with the original cluster's key; production issues its own`);
    }
    return { object: copy, notes };
}

/** Which objects to export: a kind, and a name, a label selector, or everything of that kind in a namespace. */
export interface Selection {
    /** Resource as kubectl names it: "configmap", "secrets", "deployments.apps", "widgets.example.com". */
    kind: string;
    /** Namespace; omitted for cluster-scoped kinds (or with allNamespaces). */
    namespace?: string;
    name?: string;
    labelSelector?: string;
    allNamespaces?: boolean;
}

const RESOURCE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(\/[a-z0-9][-a-z0-9]*)?$/i;
const NAME = /^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$/;

/** kubectl get arguments for a selection (no kubeconfig, no output flag). */
export function selectionArgs(selection: Selection, index = 0): string[] {
    const at = `selections[${index}]`;
    if (typeof selection.kind !== "string" || !RESOURCE.test(selection.kind)) {
        throw new InputError(`${at}.kind`, selection.kind, 'give a resource name such as "configmaps" or "widgets.example.com"');
    }
    if (selection.name !== undefined && selection.labelSelector !== undefined) {
        throw new InputError(`${at}.labelSelector`, selection.labelSelector, "select by name or by label selector, not both");
    }
    if (selection.name !== undefined && (typeof selection.name !== "string" || !NAME.test(selection.name))) {
        throw new InputError(`${at}.name`, selection.name, "give the object's metadata.name");
    }
    if (selection.namespace !== undefined && (typeof selection.namespace !== "string" || !NAME.test(selection.namespace))) {
        throw new InputError(`${at}.namespace`, selection.namespace, "give a namespace name");
    }
    if (selection.allNamespaces && (selection.namespace !== undefined || selection.name !== undefined)) {
        throw new InputError(
            `${at}.allNamespaces`,
            true,
            "allNamespaces goes with a kind and optionally a label selector, not a namespace or name",
        );
    }
    if (selection.labelSelector !== undefined && (typeof selection.labelSelector !== "string" || selection.labelSelector.trim() === "")) {
        throw new InputError(`${at}.labelSelector`, selection.labelSelector, 'give a label selector such as "app=web"');
    }
    return [
        "get",
        selection.kind,
        ...(selection.name !== undefined ? [selection.name] : []),
        ...(selection.namespace !== undefined ? ["--namespace", selection.namespace] : []),
        ...(selection.allNamespaces ? ["--all-namespaces"] : []),
        ...(selection.labelSelector !== undefined ? ["--selector", selection.labelSelector] : []),
    ];
}

/** "configmaps shop/app-config", "secrets -l app=shop in shop", … for messages. */
export function describeSelection(selection: Selection): string {
    const where = selection.allNamespaces ? " in all namespaces" : selection.namespace ? ` in ${selection.namespace}` : "";
    const what = selection.name ? ` ${selection.name}` : selection.labelSelector ? ` -l ${selection.labelSelector}` : "";
    return `${selection.kind}${what}${where}`;
}

/** Multi-document YAML, apply-ready. */
export function toApplyYaml(objects: KubeObject[]): string {
    return objects.map((o) => `---\n${dump(o, { noRefs: true, lineWidth: -1 })}`).join("");
}

export class ExportError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ExportError";
    }
}

export interface ExportOptions extends CleanOptions {
    kubeconfigPath: string;
    selections: Selection[];
    /** kubectl binary. Default "kubectl" on PATH. */
    kubectl?: string;
    timeoutMs?: number;
    /** A selection by name that finds nothing gives no object instead of an error (for reading the live side of a diff). Default false. */
    ignoreNotFound?: boolean;
    /** Called after each selection with a one-line progress message (for long runs). */
    onProgress?: (message: string) => void;
}

export interface ExportResult {
    objects: KubeObject[];
    yaml: string;
    notes: string[];
}

function runKubectl(kubectl: string, args: string[], timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(kubectl, args, { maxBuffer: 512 * 1024 * 1024, timeout: timeoutMs }, (error, stdout, stderr) => {
            if (error) {
                const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
                reject(
                    new ExportError(
                        missing
                            ? `kubectl not found at ${kubectl}: install kubectl or pass its path`
                            : `kubectl ${args.filter((a) => !a.startsWith("--kubeconfig")).join(" ")} failed: ${String(stderr).trim() || error.message}`,
                    ),
                );
            } else resolve(String(stdout));
        });
    });
}

/** Reads the selected objects from the recovery API and returns them cleaned, as objects and as YAML. */
export async function exportObjects(options: ExportOptions): Promise<ExportResult> {
    if (!Array.isArray(options.selections) || options.selections.length === 0) {
        throw new InputError("selections", options.selections, "select at least one kind (with a name, label selector or namespace)");
    }
    const kubectl = options.kubectl ?? "kubectl";
    const objects: KubeObject[] = [];
    const notes: string[] = [];
    for (const [i, selection] of options.selections.entries()) {
        const started = Date.now();
        const args = [
            `--kubeconfig=${options.kubeconfigPath}`,
            ...selectionArgs(selection, i),
            "--output=json",
            ...(options.ignoreNotFound ? ["--ignore-not-found"] : []),
        ];
        let out: string;
        try {
            out = await runKubectl(kubectl, args, options.timeoutMs ?? 60_000);
        } catch (error) {
            const message = (error as Error).message;
            if (ENCRYPTED_DATA_ERROR.test(message)) {
                throw new ExportError(
                    `${selection.kind}${selection.name ? ` ${selection.name}` : ""}: the snapshot holds it encrypted at rest and the recovery kube-apiserver cannot decrypt it. ` +
                        `${MISSING_ENCRYPTION_CONFIG_ADVICE} kube-apiserver said: ${message}`,
                );
            }
            throw error;
        }
        const parsed = (out.trim() === "" ? { items: [] } : JSON.parse(out)) as KubeObject;
        const items: KubeObject[] = Array.isArray(parsed.items) ? parsed.items : [parsed];
        options.onProgress?.(
            `[${i + 1}/${options.selections.length}] ${describeSelection(selection)}: ${items.length} object${items.length === 1 ? "" : "s"} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
        );
        for (const item of items) {
            const cleaned = cleanForApply(item, options);
            objects.push(cleaned.object);
            notes.push(...cleaned.notes);
        }
    }
    return { objects, yaml: toApplyYaml(objects), notes };
}

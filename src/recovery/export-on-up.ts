/**
 * Exporting objects as part of `pulumi up`: a dynamic resource that waits
 * for the recovery kube-apiserver, reads the selected objects (exportObjects,
 * the same code as `etcd-recovery export`) and writes them, apply-ready, to
 * a new file in a directory on the machine that runs Pulumi.
 *
 * Decisions:
 * - Each export is a new file, `<environment>-export-<UTC time>.yaml`, mode
 *   0600 (Secrets may be in it) in a 0700 directory; an existing file is never
 *   overwritten, and `pulumi destroy` leaves the files: they are what the
 *   incident was for.
 * - Only the file's path, its SHA-256 and the list of objects ("kind
 *   namespace/name") go into the state; the objects themselves never do.
 * - A new snapshot, another selection or directory exports again (a new
 *   file); renewed certificates in the kubeconfig do not.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { load } from "js-yaml";
import * as pulumi from "@pulumi/pulumi";
import { InputError } from "../errors";
import { OwnerReferencesPolicy, Selection, describeObject, exportObjects, selectionArgs } from "./export";
import { TlsClient, waitForRecoveryApi } from "./ready";

export interface ExportOnUpOptions {
    /** Directory for the exported files (created 0700 when missing). */
    directory: string;
    /** What to export: kind with a name, label selector, namespace or all namespaces (as `etcd-recovery export`). */
    selections: Selection[];
    /** "drop" (default): ownerReferences removed, with a note per object; "keep": left as they were. */
    ownerReferences?: OwnerReferencesPolicy;
    /** kubectl binary. Default "kubectl" on PATH. */
    kubectl?: string;
    /** How long to wait for the recovery API to become ready. Default 300 s. */
    readyTimeoutSeconds?: number;
}

/** Checks the options before anything is created; throws an InputError naming the argument. */
export function checkExportOnUp(options: ExportOnUpOptions, argument = "exportOnUp"): void {
    if (typeof options.directory !== "string" || options.directory.trim() === "") {
        throw new InputError(`${argument}.directory`, options.directory, "give the directory the exported YAML files are written to");
    }
    if (!Array.isArray(options.selections) || options.selections.length === 0) {
        throw new InputError(
            `${argument}.selections`,
            options.selections,
            'select at least one kind, e.g. [{ kind: "configmaps", namespace: "shop", name: "app-config" }]',
        );
    }
    options.selections.forEach((selection, i) => selectionArgs(selection, i));
    if (options.ownerReferences !== undefined && options.ownerReferences !== "drop" && options.ownerReferences !== "keep") {
        throw new InputError(`${argument}.ownerReferences`, options.ownerReferences, 'use "drop" (default) or "keep"');
    }
}

/** `<environment>-export-20261123T101500.123Z.yaml` (UTC, to the millisecond: a quick re-export gets its own name). */
export function exportFileName(environmentName: string, at: Date): string {
    return `${environmentName}-export-${at.toISOString().replace(/[-:]/g, "")}.yaml`;
}

/** The API URL and TLS material of a kubeconfig with embedded data (as recoveryKubeconfig writes). */
export function kubeconfigConnection(kubeconfig: string): { apiUrl: string; tls: TlsClient } {
    const parsed = load(kubeconfig) as {
        clusters?: { cluster?: { server?: string; "certificate-authority-data"?: string } }[];
        users?: { user?: { "client-certificate-data"?: string; "client-key-data"?: string } }[];
    };
    const cluster = parsed?.clusters?.[0]?.cluster;
    const user = parsed?.users?.[0]?.user;
    const decode = (data: string | undefined): string | undefined => (data ? Buffer.from(data, "base64").toString("utf8") : undefined);
    const caPem = decode(cluster?.["certificate-authority-data"]);
    const certPem = decode(user?.["client-certificate-data"]);
    const keyPem = decode(user?.["client-key-data"]);
    if (!cluster?.server || !caPem || !certPem || !keyPem) {
        throw new InputError(
            "kubeconfig",
            "(secret)",
            "give a kubeconfig with the server, certificate-authority-data and client certificate and key data embedded",
        );
    }
    return { apiUrl: cluster.server, tls: { caPem, certPem, keyPem } };
}

/** Writes `content` to a new file (0600) in `directory` (0700 when created); never replaces an existing file. */
export function writeNewPrivateFile(directory: string, name: string, content: string): string {
    fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
    const target = path.join(directory, name);
    const partial = path.join(directory, `.${name}.partial`);
    fs.writeFileSync(partial, content, { mode: 0o600, flag: "w" });
    try {
        // link() fails when the target exists: an earlier export is never replaced.
        fs.linkSync(partial, target);
    } finally {
        fs.rmSync(partial, { force: true });
    }
    return target;
}

interface ExportInputs {
    kubeconfig: string;
    environmentName: string;
    directory: string;
    selections: Selection[];
    ownerReferences: "drop" | "keep";
    kubectl: string;
    readyTimeoutSeconds: number;
    /** The snapshot the environment serves: a new one exports again. */
    snapshotSha256: string;
}

export interface RecoveryExportOutputs {
    environmentName: string;
    directory: string;
    selections: Selection[];
    ownerReferences: "drop" | "keep";
    snapshotSha256: string;
    /** The file written. */
    path: string;
    sha256: string;
    /** "Kind namespace/name" of every object in the file. */
    objects: string[];
    /** What was removed that a human may want to restore by hand (owner references). */
    notes: string[];
    exportedAt: string;
}

async function exportToFile(inputs: ExportInputs): Promise<RecoveryExportOutputs> {
    const { apiUrl, tls } = kubeconfigConnection(inputs.kubeconfig);
    await waitForRecoveryApi({ apiUrl, tls, readLog: async () => "", timeoutMs: inputs.readyTimeoutSeconds * 1000 });
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-recovery-export-"));
    try {
        const kubeconfigPath = path.join(scratch, "kubeconfig");
        fs.writeFileSync(kubeconfigPath, inputs.kubeconfig, { mode: 0o600 });
        const result = await exportObjects({
            kubeconfigPath,
            selections: inputs.selections,
            kubectl: inputs.kubectl,
            ownerReferences: inputs.ownerReferences,
        });
        const exportedAt = new Date();
        const file = writeNewPrivateFile(inputs.directory, exportFileName(inputs.environmentName, exportedAt), result.yaml);
        return {
            environmentName: inputs.environmentName,
            directory: inputs.directory,
            selections: inputs.selections,
            ownerReferences: inputs.ownerReferences,
            snapshotSha256: inputs.snapshotSha256,
            path: file,
            sha256: createHash("sha256").update(result.yaml).digest("hex"),
            objects: result.objects.map(describeObject),
            notes: result.notes,
            exportedAt: exportedAt.toISOString(),
        };
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
}

/** What makes a new export (a new file); everything else is updated in place. */
function exportChanges(olds: RecoveryExportOutputs, news: ExportInputs): string[] {
    const keys = ["environmentName", "directory", "selections", "ownerReferences", "snapshotSha256"] as const;
    return keys.filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
}

export const recoveryExportProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ExportInputs): Promise<pulumi.dynamic.CreateResult> {
        const outs = await exportToFile(inputs);
        return { id: outs.path, outs };
    },
    async diff(_id: string, olds: RecoveryExportOutputs, news: ExportInputs): Promise<pulumi.dynamic.DiffResult> {
        const replaces = exportChanges(olds, news);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
    async delete(): Promise<void> {
        // The exported file stays: it is what the incident was for.
    },
};

/** One export to a new file, run by `pulumi up` once the recovery API is ready. */
export class RecoveryExport extends pulumi.dynamic.Resource {
    public readonly path!: pulumi.Output<string>;
    public readonly sha256!: pulumi.Output<string>;
    public readonly objects!: pulumi.Output<string[]>;
    public readonly notes!: pulumi.Output<string[]>;
    public readonly exportedAt!: pulumi.Output<string>;

    constructor(
        name: string,
        args: {
            kubeconfig: pulumi.Input<string>;
            environmentName: pulumi.Input<string>;
            snapshotSha256: pulumi.Input<string>;
            options: ExportOnUpOptions;
        },
        opts?: pulumi.CustomResourceOptions,
    ) {
        checkExportOnUp(args.options);
        super(
            recoveryExportProvider,
            name,
            {
                kubeconfig: pulumi.secret(args.kubeconfig),
                environmentName: args.environmentName,
                directory: path.resolve(args.options.directory),
                selections: args.options.selections,
                ownerReferences: args.options.ownerReferences ?? "drop",
                kubectl: args.options.kubectl ?? "kubectl",
                readyTimeoutSeconds: args.options.readyTimeoutSeconds ?? 300,
                snapshotSha256: args.snapshotSha256,
                path: undefined,
                sha256: undefined,
                objects: undefined,
                notes: undefined,
                exportedAt: undefined,
            },
            opts,
            "etcd-recovery",
            "RecoveryExport",
        );
    }
}

/**
 * kubeadm's way: the static pod manifests
 * (/etc/kubernetes/manifests/etcd.yaml and kube-apiserver.yaml).
 */
import * as yaml from "js-yaml";
import { InputError } from "../../errors";
import { OriginalCluster } from "../source";
import { FoundContainer, describeFromContainers } from "./args";

export interface ManifestFile {
    yaml: string;
    fileName: string;
}

function containerOf(file: ManifestFile, component: "etcd" | "kube-apiserver"): FoundContainer {
    let doc: unknown;
    try {
        doc = yaml.load(file.yaml);
    } catch (error) {
        throw new InputError(
            `${file.fileName}: (document)`,
            "(not YAML)",
            `give the static pod manifest as kubeadm wrote it: ${(error as Error).message.split("\n")[0]}`,
        );
    }
    const pod = doc as { kind?: unknown; metadata?: { name?: unknown; labels?: Record<string, unknown> }; spec?: { containers?: unknown } };
    if (typeof doc !== "object" || doc === null || pod.kind !== "Pod") {
        throw new InputError(`${file.fileName}: kind`, pod?.kind, "give a static pod manifest (kind: Pod) from /etc/kubernetes/manifests");
    }
    const labelled = pod.metadata?.labels?.component ?? pod.metadata?.name;
    if (labelled !== component) {
        throw new InputError(
            `${file.fileName}: metadata.labels.component`,
            labelled,
            `expected the ${component} manifest here (${component}.yaml)`,
        );
    }
    const containers = pod.spec?.containers;
    if (!Array.isArray(containers) || containers.length === 0) {
        throw new InputError(`${file.fileName}: spec.containers`, containers, "the manifest has no containers");
    }
    const index = containers.findIndex(
        (c: { name?: unknown; command?: unknown }) =>
            c?.name === component || (Array.isArray(c?.command) && String(c.command[0]).endsWith(component)),
    );
    const at = `spec.containers[${index < 0 ? 0 : index}]`;
    const container = containers[index < 0 ? 0 : index] as { command?: unknown; args?: unknown; image?: unknown };
    const list = (value: unknown, field: string): string[] => {
        if (value === undefined) return [];
        if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
            throw new InputError(`${file.fileName}: ${at}.${field}`, value, "give a list of strings");
        }
        return value as string[];
    };
    const args = [...list(container.command, "command"), ...list(container.args, "args")];
    if (args.length === 0)
        throw new InputError(`${file.fileName}: ${at}.command`, "missing", `the ${component} container has neither command nor args`);
    return {
        file: file.fileName,
        field: `${at}.command`,
        args,
        ...(typeof container.image === "string" ? { image: container.image } : {}),
    };
}

/** The etcd and kube-apiserver static pod manifests of one control-plane node (more nodes: more files). */
export function fromKubeadmManifests(etcd: ManifestFile | ManifestFile[], apiserver: ManifestFile | ManifestFile[]): OriginalCluster {
    const etcdFiles = Array.isArray(etcd) ? etcd : [etcd];
    const apiserverFiles = Array.isArray(apiserver) ? apiserver : [apiserver];
    return describeFromContainers(
        etcdFiles.map((f) => containerOf(f, "etcd")),
        apiserverFiles.map((f) => containerOf(f, "kube-apiserver")),
        [...etcdFiles, ...apiserverFiles].map((f) => f.fileName),
    );
}

/**
 * Reading the original cluster's description from files, by importer: what a
 * stack's configuration names (see examples/recovery). The only I/O in front
 * of the pure importers.
 */
import * as fs from "fs";
import * as path from "path";
import { InputError } from "../errors";
import { fromDockerInspectFiles } from "./import/docker-inspect";
import { fromKubeadmManifests } from "./import/kubeadm";
import { fromRkeState } from "./import/rke";
import { OriginalCluster, fromDescription, withEncryptionConfig } from "./source";

export const ORIGINAL_SOURCE_KINDS = ["docker-inspect", "kubeadm", "rke", "description"] as const;
export type OriginalSourceKind = (typeof ORIGINAL_SOURCE_KINDS)[number];

export interface OriginalSourceFiles {
    /** docker-inspect: `docker inspect etcd kube-apiserver` outputs; kubeadm: etcd.yaml and kube-apiserver.yaml; rke: cluster.rkestate or cluster.spec; description: a JSON description. */
    kind: OriginalSourceKind;
    files: string[];
    /** The original EncryptionConfiguration file, when the original encrypts and the source does not hold it. */
    encryptionConfigFile?: string;
}

function read(file: string, argument: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch (error) {
        throw new InputError(argument, file, `cannot read it: ${(error as Error).message}`);
    }
}

export function loadOriginalCluster(source: OriginalSourceFiles): OriginalCluster {
    if (!(ORIGINAL_SOURCE_KINDS as readonly string[]).includes(source.kind)) {
        throw new InputError("sourceKind", source.kind, `use one of ${ORIGINAL_SOURCE_KINDS.join(", ")}`);
    }
    if (!Array.isArray(source.files) || source.files.length === 0)
        throw new InputError("sourceFiles", source.files, "list the files the original cluster is read from");
    const texts = source.files.map((file, i) => ({ file, text: read(file, `sourceFiles[${i}]`), name: path.basename(file) }));
    let cluster: OriginalCluster;
    switch (source.kind) {
        case "docker-inspect":
            cluster = fromDockerInspectFiles(texts.map((t) => ({ json: t.text, fileName: t.name })));
            break;
        case "kubeadm": {
            const etcd = texts.filter((t) => /etcd/.test(t.name) && !/apiserver/.test(t.name));
            const apiserver = texts.filter((t) => /apiserver/.test(t.name));
            if (etcd.length === 0 || apiserver.length === 0)
                throw new InputError("sourceFiles", source.files, "give etcd.yaml and kube-apiserver.yaml from /etc/kubernetes/manifests");
            cluster = fromKubeadmManifests(
                etcd.map((t) => ({ yaml: t.text, fileName: t.name })),
                apiserver.map((t) => ({ yaml: t.text, fileName: t.name })),
            );
            break;
        }
        case "rke":
            if (texts.length !== 1) throw new InputError("sourceFiles", source.files, "give one file: cluster.rkestate or cluster.spec");
            cluster = fromRkeState(texts[0]!.text, texts[0]!.name);
            break;
        case "description":
            if (texts.length !== 1) throw new InputError("sourceFiles", source.files, "give one JSON description");
            cluster = fromDescription(texts[0]!.text, texts[0]!.name);
            break;
    }
    if (source.encryptionConfigFile !== undefined) {
        cluster = withEncryptionConfig(
            cluster,
            read(source.encryptionConfigFile, "encryptionConfigFile"),
            path.basename(source.encryptionConfigFile),
        );
    }
    return cluster;
}

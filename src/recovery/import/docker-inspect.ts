/**
 * The docker-run way: `docker inspect etcd kube-apiserver` on an RKE (or any
 * docker-run) node. Accepts the full `docker inspect` array, or a bare
 * argument list as `docker inspect <c> | jq .[].Args` prints it.
 */
import { InputError } from "../../errors";
import { OriginalCluster } from "../source";
import { FoundContainer, describeFromContainers, roleOf } from "./args";

export interface InspectFile {
    json: string;
    fileName: string;
}

interface Classified {
    etcd: FoundContainer[];
    apiserver: FoundContainer[];
}

function isStringList(value: unknown): value is string[] {
    return Array.isArray(value) && value.every((v) => typeof v === "string");
}

function classify(file: InspectFile, into: Classified): void {
    let parsed: unknown;
    try {
        parsed = JSON.parse(file.json);
    } catch (error) {
        throw new InputError(
            `${file.fileName}: (document)`,
            "(not JSON)",
            `give the output of docker inspect as JSON: ${(error as Error).message}`,
        );
    }
    const add = (container: FoundContainer, role: ReturnType<typeof roleOf>, nameForError: string) => {
        if (role === "etcd") into.etcd.push(container);
        else if (role === "kube-apiserver") into.apiserver.push(container);
        else {
            throw new InputError(
                `${file.fileName}: ${container.field}`,
                nameForError,
                "this container is neither etcd nor kube-apiserver; give docker inspect of those two containers only",
            );
        }
    };
    if (isStringList(parsed)) {
        const container = { file: file.fileName, field: "(argument list)", args: parsed };
        add(container, roleOf(undefined, parsed), parsed.slice(0, 3).join(" "));
        return;
    }
    if (!Array.isArray(parsed) || parsed.length === 0) {
        throw new InputError(
            `${file.fileName}: (document)`,
            Array.isArray(parsed) ? "[]" : typeof parsed,
            "give docker inspect output (a non-empty JSON array of containers) or a container's Args list",
        );
    }
    parsed.forEach((entry: unknown, i: number) => {
        const field = `[${i}]`;
        if (typeof entry !== "object" || entry === null)
            throw new InputError(`${file.fileName}: ${field}`, entry, "each element of docker inspect output is a container object");
        const c = entry as { Name?: unknown; Path?: unknown; Args?: unknown; Config?: { Image?: unknown } };
        if (!isStringList(c.Args))
            throw new InputError(
                `${file.fileName}: ${field}.Args`,
                c.Args,
                "docker inspect gives every container an Args list; is this docker inspect output?",
            );
        const path = typeof c.Path === "string" ? c.Path : undefined;
        const image = typeof c.Config?.Image === "string" ? c.Config.Image : undefined;
        add({ file: file.fileName, field: `${field}.Args`, image, args: c.Args }, roleOf(path, c.Args), String(c.Name ?? path ?? field));
    });
}

/** One file holding the etcd and kube-apiserver containers (e.g. `docker inspect etcd kube-apiserver`). */
export function fromDockerInspect(json: string, fileName: string): OriginalCluster {
    return fromDockerInspectFiles([{ json, fileName }]);
}

/** Several files, e.g. one per node or one per container; the members' arguments must agree. */
export function fromDockerInspectFiles(files: InspectFile[]): OriginalCluster {
    if (files.length === 0) throw new InputError("files", files, "give at least one docker inspect file");
    const found: Classified = { etcd: [], apiserver: [] };
    for (const file of files) classify(file, found);
    return describeFromContainers(
        found.etcd,
        found.apiserver,
        files.map((f) => f.fileName),
    );
}

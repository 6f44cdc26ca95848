/**
 * PemFiles: writes PEM (or any text) files into a local directory, with a mode
 * per file (0600 for private keys), and removes them on destroy. A tiny
 * dynamic resource: no extra provider plugin is needed, so it works offline.
 *
 * The state keeps only names, modes and SHA-256 digests; contents live in the
 * inputs, which stay encrypted when the content Output is a secret.
 */
import * as pulumi from "@pulumi/pulumi";

export interface PemFileInput {
    /** File name inside `dir` (no slashes). */
    name: pulumi.Input<string>;
    content: pulumi.Input<string>;
    /** Octal mode, e.g. 0o600 for private keys. */
    mode: pulumi.Input<number>;
}

export interface PemFilesArgs {
    /** Target directory; created (mode 0700) if absent. Changing it replaces the resource. */
    dir: pulumi.Input<string>;
    files: pulumi.Input<pulumi.Input<PemFileInput>[]>;
}

interface PlainFile {
    name: string;
    content: string;
    mode: number;
}

interface PlainInputs {
    dir: string;
    files: PlainFile[];
}

/** What the state records about one written file. */
interface WrittenFile {
    name: string;
    mode: number;
    sha256: string;
}

interface PemFilesOutputs {
    dir: string;
    /** True when this resource made `dir`, so destroy may remove it once empty. */
    createdDir: boolean;
    files: WrittenFile[];
}

// The provider is serialized into the state and run in a separate process, so
// its methods load Node modules themselves instead of capturing imports.
const pemFilesProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: PlainInputs, news: PlainInputs) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (typeof news.dir !== "string" || news.dir.length === 0) {
            failures.push({ property: "dir", reason: "dir must be a non-empty path" });
        }
        for (const file of news.files ?? []) {
            if (!/^[A-Za-z0-9._-]+$/.test(file.name)) {
                failures.push({ property: "files", reason: `file name ${JSON.stringify(file.name)} must be a plain name without slashes` });
            }
        }
        return { inputs: news, failures };
    },

    // Pulumi serializes these methods: modules are required inside them, not imported at the top.
    /* eslint-disable @typescript-eslint/no-require-imports */
    async diff(_id: string, olds: PemFilesOutputs, news: PlainInputs) {
        const crypto = require("crypto") as typeof import("crypto");
        const digest = (content: string) => crypto.createHash("sha256").update(content).digest("hex");
        const wanted = news.files.map((f) => `${f.name}:${f.mode}:${digest(f.content)}`).sort();
        const have = olds.files.map((f) => `${f.name}:${f.mode}:${f.sha256}`).sort();
        const filesChanged = JSON.stringify(wanted) !== JSON.stringify(have);
        const dirChanged = olds.dir !== news.dir;
        return {
            changes: filesChanged || dirChanged,
            replaces: dirChanged ? ["dir"] : [],
            deleteBeforeReplace: false,
        };
    },

    async create(inputs: PlainInputs) {
        const fs = require("fs") as typeof import("fs");
        const path = require("path") as typeof import("path");
        const crypto = require("crypto") as typeof import("crypto");
        const dir = path.resolve(inputs.dir);
        const createdDir = !fs.existsSync(dir);
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const files: WrittenFile[] = [];
        for (const file of inputs.files) {
            const target = path.join(dir, file.name);
            const temp = `${target}.tmp-${process.pid}`;
            // Create with the final mode before any byte is written, then move into place.
            fs.writeFileSync(temp, file.content, { mode: file.mode });
            fs.chmodSync(temp, file.mode);
            fs.renameSync(temp, target);
            files.push({ name: file.name, mode: file.mode, sha256: crypto.createHash("sha256").update(file.content).digest("hex") });
        }
        const outs: PemFilesOutputs = { dir, createdDir, files };
        return { id: dir, outs };
    },

    async update(_id: string, olds: PemFilesOutputs, news: PlainInputs) {
        const fs = require("fs") as typeof import("fs");
        const path = require("path") as typeof import("path");
        const crypto = require("crypto") as typeof import("crypto");
        const dir = olds.dir;
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const files: WrittenFile[] = [];
        for (const file of news.files) {
            const target = path.join(dir, file.name);
            const temp = `${target}.tmp-${process.pid}`;
            fs.writeFileSync(temp, file.content, { mode: file.mode });
            fs.chmodSync(temp, file.mode);
            fs.renameSync(temp, target);
            files.push({ name: file.name, mode: file.mode, sha256: crypto.createHash("sha256").update(file.content).digest("hex") });
        }
        const kept = new Set(files.map((f) => f.name));
        for (const old of olds.files) {
            if (!kept.has(old.name)) fs.rmSync(path.join(dir, old.name), { force: true });
        }
        const outs: PemFilesOutputs = { dir, createdDir: olds.createdDir, files };
        return { outs };
    },

    async delete(_id: string, olds: PemFilesOutputs) {
        const fs = require("fs") as typeof import("fs");
        const path = require("path") as typeof import("path");
        for (const file of olds.files) fs.rmSync(path.join(olds.dir, file.name), { force: true });
        if (olds.createdDir && fs.existsSync(olds.dir) && fs.readdirSync(olds.dir).length === 0) {
            fs.rmdirSync(olds.dir);
        }
    },
};

export class PemFiles extends pulumi.dynamic.Resource {
    /** Absolute path of the directory. */
    public readonly dir!: pulumi.Output<string>;
    /** Names, modes and SHA-256 digests of the files written. */
    public readonly files!: pulumi.Output<WrittenFile[]>;

    constructor(name: string, args: PemFilesArgs, opts?: pulumi.CustomResourceOptions) {
        super(pemFilesProvider, name, { ...args, createdDir: undefined }, opts, "pki-files", "PemFiles");
    }
}

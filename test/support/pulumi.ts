/**
 * The real Pulumi engine, fully offline: the CLI and plugins built by
 * scripts/tools.sh, a file backend in a temp (or given) dir, the passphrase
 * secrets provider, no update checks and no plugin downloads.
 */
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { ConfigMap, LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";

import { forgetDirOnExit, removeDirOnExit, requireTool, toolsBinDir, toolsCacheDir } from "./processes";

export interface OfflineStackOptions {
    /** Directory holding the program's Pulumi.yaml. */
    workDir: string;
    stackName: string;
    config?: Record<string, { value: string; secret?: boolean }>;
    /** File backend directory. Default: a new temp dir, removed by cleanup(). */
    stateDir?: string;
}

export interface OfflineStack {
    stack: Stack;
    stateDir: string;
    /** The environment every pulumi command of this stack runs with. */
    env: Record<string, string>;
    /** `pulumi stack export` (secrets stay ciphertext) as text. */
    readState(): Promise<string>;
    /** Removes the stack, its Pulumi.<stack>.yaml in workDir and (if it made it) the state dir. */
    cleanup(): Promise<void>;
}

/** Binaries the engine needs for a Node.js program with dynamic resources. */
const REQUIRED_BINARIES = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"];

/** Fails with the fix when the CLI or the Node.js language host is missing. */
export function requirePulumiBinaries(): void {
    for (const name of REQUIRED_BINARIES) requireTool(name);
}

/**
 * Fails with the fix unless the resource plugin that `@pulumi/<name>` asks the
 * engine for is installed (plugin cache) or on the tools bin dir (ambient).
 */
export function requireResourcePlugin(name: string): string {
    const manifest = require.resolve(`@pulumi/${name}/package.json`);
    const version = (JSON.parse(fs.readFileSync(manifest, "utf8")) as { version: string }).version;
    const pulumiHome = process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
    const candidates = [
        path.join(pulumiHome, "plugins", `resource-${name}-v${version}`, `pulumi-resource-${name}`),
        path.join(toolsBinDir(), `pulumi-resource-${name}`),
    ];
    for (const file of candidates) {
        try {
            fs.accessSync(file, fs.constants.X_OK);
            return file;
        } catch {
            // try the next place
        }
    }
    throw new Error(
        `resource plugin ${name} v${version} (what @pulumi/${name} asks for) is not installed: looked at ${candidates.join(", ")}. ` +
            `It cannot be downloaded here; install it with 'pulumi plugin install resource ${name} ${version} --file <path>' ` +
            `(see 'bash scripts/tools.sh plugins').`,
    );
}

/**
 * Passphrase for a state dir, kept in `<stateDir>/passphrase` (0600) so a later
 * offlineStack() on the same dir can decrypt what an earlier one wrote.
 */
export function passphraseFile(stateDir: string): string {
    const file = path.join(stateDir, "passphrase");
    if (!fs.existsSync(file)) {
        fs.writeFileSync(file, crypto.randomBytes(24).toString("base64url") + "\n", { mode: 0o600 });
    }
    return file;
}

/** The offline environment (the same as scripts/pulumi-env.sh plus a backend and passphrase). */
export function offlineEnv(stateDir: string): Record<string, string> {
    return {
        PATH: `${toolsBinDir()}${path.delimiter}${process.env.PATH ?? ""}`,
        ETCD_RECOVERY_CACHE: toolsCacheDir(),
        PULUMI_BACKEND_URL: `file://${stateDir}`,
        // Set (not _FILE) so it also wins over a passphrase inherited from the caller's shell.
        PULUMI_CONFIG_PASSPHRASE: fs.readFileSync(passphraseFile(stateDir), "utf8").trim(),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    };
}

export async function offlineStack(opts: OfflineStackOptions): Promise<OfflineStack> {
    requirePulumiBinaries();
    if (!fs.existsSync(path.join(opts.workDir, "Pulumi.yaml"))) {
        throw new Error(`no Pulumi.yaml in ${opts.workDir}`);
    }
    const ownsStateDir = opts.stateDir === undefined;
    const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-state-"));
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const stackSettingsFile = path.join(opts.workDir, `Pulumi.${opts.stackName}.yaml`);
    // Also when the test process dies before cleanup(): no stray stack files in the repo, no temp state.
    if (!fs.existsSync(stackSettingsFile)) removeDirOnExit(stackSettingsFile);
    if (ownsStateDir) removeDirOnExit(stateDir);
    const env = offlineEnv(stateDir);
    const pulumiCommand = await PulumiCommand.get({ root: toolsCacheDir(), skipVersionCheck: true });
    const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: opts.stackName, workDir: opts.workDir },
        { envVars: env, pulumiCommand, secretsProvider: "passphrase" },
    );
    if (opts.config) {
        const config: ConfigMap = {};
        for (const [key, { value, secret }] of Object.entries(opts.config)) config[key] = { value, secret: !!secret };
        await stack.setAllConfig(config);
    }

    return {
        stack,
        stateDir,
        env,
        async readState() {
            // Not stack.exportStack(): the Automation API exports with --show-secrets.
            return runPulumi(["stack", "export", "--stack", opts.stackName], opts.workDir, env);
        },
        async cleanup() {
            try {
                await stack.workspace.removeStack(opts.stackName, { force: true });
            } finally {
                fs.rmSync(stackSettingsFile, { force: true });
                forgetDirOnExit(stackSettingsFile);
                if (ownsStateDir) {
                    fs.rmSync(stateDir, { recursive: true, force: true });
                    forgetDirOnExit(stateDir);
                }
            }
        },
    };
}

/** Runs the offline CLI directly (for what the Automation API does not offer as wanted). */
export function runPulumi(args: string[], cwd: string, env: Record<string, string>): Promise<string> {
    const pulumiBin = requireTool("pulumi");
    return new Promise((resolve, reject) => {
        execFile(
            pulumiBin,
            [...args, "--non-interactive"],
            { cwd, env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024 },
            (err, stdout, stderr) => {
                if (err) reject(new Error(`pulumi ${args.join(" ")} failed: ${err.message}\n${stderr}`));
                else resolve(stdout);
            },
        );
    });
}

/** Every file under `dir` (the raw file backend), for checks on what is stored at rest. */
export function listFiles(dir: string): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) out.push(...listFiles(full));
        else if (entry.isFile()) out.push(full);
    }
    return out;
}

/** A stack name that will not collide with another test run. */
export function uniqueStackName(prefix: string): string {
    return `${prefix}-${crypto.randomBytes(4).toString("hex")}`;
}

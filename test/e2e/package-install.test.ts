/**
 * The package as users get it: `npm pack` of this checkout (prepack builds
 * bin/), the tarball installed into a fresh Pulumi project outside the
 * repository, a strict TypeScript program using the PKI resources and the
 * restore plan type-checked against the shipped declarations, then `pulumi up`,
 * `preview` (no changes) and `destroy` under the real engine, and the
 * `etcd-recovery` CLI from node_modules/.bin.
 *
 * npm installs from its cache (setup's `npm ci` filled it) or the registry.
 * `--ignore-scripts`: the provider SDKs' install scripts would download their
 * plugins; here the engine finds them in PULUMI_HOME (scripts/tools.sh).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { run } from "../harness/exec";
import { OfflineStack, offlineStack, uniqueStackName } from "../support/pulumi";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(15 * 60_000);

const REPO = path.resolve(__dirname, "../..");
const SMALL_SNAPSHOT = path.join(REPO, "test/fixtures/snapshot/small.db");

/** The version of a package this checkout has installed: the consumer pins the same, so npm's cache serves it. */
const installedVersion = (name: string): string =>
    (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`, { paths: [REPO] }), "utf8")) as { version: string }).version;

const PROGRAM = `import * as pulumi from "@pulumi/pulumi";
import { CertificateAuthority, EtcdPki, planControlPlaneRestore, renderDryRun } from "etcd-recovery";

const ca = new CertificateAuthority("ops-ca", {
    csr: { CN: "ops-ca", key: { algo: "ecdsa", size: 256 }, names: [{ O: "ops" }], ca: { expiry: "87600h" } },
});
const pki = new EtcdPki("etcd", {
    clusterName: "consumer",
    members: [
        { name: "etcd-1", ip: "10.0.0.11" },
        { name: "etcd-2", ip: "10.0.0.12" },
        { name: "etcd-3", ip: "10.0.0.13" },
    ],
});
// The runbook a ControlPlaneRestore would run, reviewed before anything runs.
const restore = planControlPlaneRestore({
    nodes: [{ name: "cp-1", address: "10.0.0.11", role: "both" }],
    layout: "kubeadm",
    snapshot: { path: "/root/etcd-snapshot.db", sha256: "${"ab".repeat(32)}" },
    etcdVersion: "3.5.35",
});

export const caCertPem = ca.certPem;
export const caKeyPem = ca.keyPem;
export const etcdCaCertPem = pki.caCertPem;
export const restoreStepIds = restore.steps.map((step) => step.id);
export const restoreDryRun = pulumi.output(renderDryRun(restore));
`;

let tmp: string;
let project: string;
let tarball: string;
let packedFiles: string[];
let stack: OfflineStack | undefined;

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-recovery-consumer-"));
    const packDir = path.join(tmp, "pack");
    fs.mkdirSync(packDir);
    const packed = JSON.parse(
        (await run("npm", ["pack", "--json", "--pack-destination", packDir], { cwd: REPO, timeoutMs: 300_000 })).stdout,
    ) as {
        filename: string;
        files: { path: string }[];
    }[];
    tarball = path.join(packDir, packed[0]!.filename);
    packedFiles = packed[0]!.files.map((f) => f.path).sort();

    project = path.join(tmp, "consumer");
    fs.mkdirSync(project);
    const pinned = ["@pulumi/pulumi", "@pulumi/kubernetes", "@pulumi/docker", "@pulumi/command", "typescript", "ts-node", "@types/node"];
    fs.writeFileSync(
        path.join(project, "package.json"),
        JSON.stringify({
            name: "consumer",
            private: true,
            main: "index.ts",
            dependencies: {
                "etcd-recovery": `file:${tarball}`,
                ...Object.fromEntries(pinned.map((name) => [name, installedVersion(name)])),
            },
        }),
    );
    fs.writeFileSync(
        path.join(project, "Pulumi.yaml"),
        "name: consumer\nruntime: nodejs\ndescription: a program of a user of etcd-recovery\n",
    );
    fs.writeFileSync(
        path.join(project, "tsconfig.json"),
        JSON.stringify({
            compilerOptions: { target: "ES2020", module: "commonjs", strict: true, esModuleInterop: true, noEmit: true },
            files: ["index.ts"],
        }),
    );
    fs.writeFileSync(path.join(project, "index.ts"), PROGRAM);
    await run("npm", ["install", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: project, timeoutMs: 600_000 });
});

afterAll(async () => {
    if (stack) {
        await stack.stack.destroy().catch(() => undefined);
        await stack.cleanup().catch(() => undefined);
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("the tarball holds the built code, its declarations, the shell it reads and the CLI, and no sources or tests", () => {
    for (const file of ["package.json", "README.md", "bin/index.js", "bin/index.d.ts", "bin/cli/recovery.js", "bin/snapshot/reader.js"])
        expect(packedFiles).toContain(file);
    // The backup uploader's parts, copied beside bin/backup/script.js by `npm run build` (scripts/copy-assets.js).
    for (const file of ["bolt.sh", "retention.sh", "uploader.sh"]) expect(packedFiles).toContain(`bin/backup/uploader/${file}`);
    expect(packedFiles.filter((file) => !/^(package\.json|README\.md|bin\/.*\.(js|d\.ts|sh))$/.test(file))).toEqual([]);
    expect(fs.readFileSync(path.join(project, "node_modules/etcd-recovery/bin/cli/recovery.js"), "utf8")).toMatch(
        /^#!\/usr\/bin\/env node\n/,
    );
});

test("the installed package renders the backup uploader script from its .sh files", () => {
    const program = `const { planEtcdBackup } = require("etcd-recovery");
const plan = planEtcdBackup({ name: "etcd-backup", clusterName: "prod", schedule: "0 2 * * *", storage: { hostPath: { path: "/var/backups/etcd" } } });
process.stdout.write(plan.scriptConfigMap.data["backup.sh"]);`;
    const rendered = spawnSync(process.execPath, ["-e", program], { cwd: project, encoding: "utf8", timeout: 60_000 });
    expect({ status: rendered.status, stderr: rendered.stderr }).toEqual({ status: 0, stderr: "" });
    expect(rendered.stdout).toMatch(/^#!\/bin\/sh\n/);
    for (const part of ["\nsnapshot_revision() {\n", "\nretention_keep() {\n", "\ntransfer_steps() {\n", "\nseal_and_retain() {\n"])
        expect(rendered.stdout).toContain(part);
});

test("a strict TypeScript program type-checks against the installed declarations", () => {
    // tsc reports on stdout: spawnSync keeps it for the failure message.
    const tsc = (args: string[]) =>
        spawnSync(path.join(project, "node_modules/.bin/tsc"), args, { cwd: project, encoding: "utf8", timeout: 300_000 });
    const checked = tsc(["-p", "."]);
    expect({ status: checked.status, output: checked.stdout + checked.stderr }).toEqual({ status: 0, output: "" });
    // And a wrong argument is caught by those types, not at run time.
    fs.writeFileSync(path.join(project, "wrong.ts"), `import { EtcdPki } from "etcd-recovery";\nnew EtcdPki("x", { clusterName: 1 });\n`);
    const wrong = tsc(["--noEmit", "--strict", "wrong.ts"]);
    fs.rmSync(path.join(project, "wrong.ts"));
    expect(wrong.status).toBe(2);
    // Column 20 is clusterName.
    expect(wrong.stdout).toMatch(/^wrong\.ts\(2,20\): error TS2322: Type .number. is not assignable to type .string./);
});

test("pulumi up, preview without changes and destroy of the program under the real engine", async () => {
    stack = await offlineStack({ workDir: project, stackName: uniqueStackName("consumer") });
    const up = await stack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.outputs.caCertPem!.value as string).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(up.outputs.etcdCaCertPem!.value as string).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(up.outputs.caKeyPem!.secret).toBe(true);
    expect(up.outputs.restoreStepIds!.value as string[]).toContain("restore-cp-1");
    expect(up.outputs.restoreDryRun!.value as string).toContain("snapshot restore /root/etcd-snapshot.db");

    // Private keys only as ciphertext in the state.
    const state = await stack.readState();
    expect(state).not.toMatch(/PRIVATE KEY/);
    expect(state).toContain(SECRET_SIG);

    const preview = await stack.stack.preview({ expectNoChanges: true });
    expect(Object.keys(preview.changeSummary)).toEqual(["same"]);

    const destroyed = await stack.stack.destroy();
    expect(destroyed.summary.result).toBe("succeeded");
    expect(JSON.parse(await stack.readState()).deployment.resources ?? []).toEqual([]);
});

test("the etcd-recovery CLI runs from node_modules/.bin", async () => {
    const cli = path.join(project, "node_modules/.bin/etcd-recovery");
    const help = await run(cli, ["--help"], { cwd: project, timeoutMs: 60_000 });
    expect(help.stdout).toContain("etcd-recovery fetch");
    const stats = await run(cli, ["snapshot", "stats", SMALL_SNAPSHOT], { cwd: project, timeoutMs: 60_000 });
    expect(stats.stdout).toMatch(/integrity +SHA-256 ok/);
});

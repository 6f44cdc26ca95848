// The recovery CLI: argument parsing, export and diff against a stand-in
// kubectl (a script that prints fixed JSON per kubeconfig), and the pure diff.
// The real run against a recovery environment is in
// test/integration/recovery-etcd34.test.ts.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { parseCliArgs, parseFetchArgs, runRecoveryCli, UsageError } from "../../src/cli/recovery";
import { diffObjects, lineDiff, maskSecretValues, renderDiffReport } from "../../src/recovery";

const configMap = (data: Record<string, string>, extra: Record<string, unknown> = {}) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
        name: "app-config",
        namespace: "shop",
        uid: "u-1",
        resourceVersion: "42",
        creationTimestamp: "2026-01-01T00:00:00Z",
        ...extra,
    },
    data,
});
const secret = (password: string) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "db", namespace: "shop", uid: "u-2", resourceVersion: "43" },
    type: "Opaque",
    data: { password: Buffer.from(password).toString("base64") },
});

describe("parseCliArgs", () => {
    test("export: each --kind starts a selection that the following flags refine", () => {
        expect(
            parseCliArgs([
                "export",
                "--kubeconfig",
                "k",
                "--kind",
                "configmaps",
                "-n",
                "shop",
                "--name",
                "app-config",
                "--kind",
                "secrets",
                "-l",
                "app=shop",
                "-A",
                "-o",
                "out.yaml",
            ]),
        ).toEqual({
            command: "export",
            kubeconfig: "k",
            selections: [
                { kind: "configmaps", namespace: "shop", name: "app-config" },
                { kind: "secrets", labelSelector: "app=shop", allNamespaces: true },
            ],
            output: "out.yaml",
            ownerReferences: "drop",
        });
    });

    test("diff needs the live kubeconfig", () => {
        expect(
            parseCliArgs(["diff", "--kubeconfig", "k", "--live-kubeconfig", "l", "--kind", "cm", "--owner-references", "keep"]),
        ).toMatchObject({
            command: "diff",
            liveKubeconfig: "l",
            ownerReferences: "keep",
        });
    });

    test.each([
        [[], /give a command/],
        [["restore"], /unknown command "restore"/],
        [["export", "--kind", "cm"], /--kubeconfig FILE is required/],
        [["export", "--kubeconfig", "k"], /select something/],
        [["export", "--kubeconfig", "k", "-n", "shop"], /-n refines a selection: put --kind KIND before it/],
        [["export", "--kubeconfig", "k", "--kind"], /--kind needs a value/],
        [["export", "--kubeconfig", "k", "--kind", "cm", "--owner-references", "maybe"], /use drop or keep/],
        [["export", "--kubeconfig", "k", "--kind", "cm", "--frobnicate"], /unknown flag --frobnicate/],
        [["diff", "--kubeconfig", "k", "--kind", "cm"], /diff needs --live-kubeconfig/],
        [["export", "--kubeconfig", "k", "--live-kubeconfig", "l", "--kind", "cm"], /--live-kubeconfig belongs to diff/],
    ])("%j is refused", (argv, message) => {
        expect(() => parseCliArgs(argv as string[])).toThrow(UsageError);
        expect(() => parseCliArgs(argv as string[])).toThrow(message);
    });
});

describe("diff (pure)", () => {
    test("missing, changed, same and live-only objects; server-set fields are no difference", () => {
        const diffs = diffObjects(
            [configMap({ a: "1", b: "2" }), secret("old"), { ...configMap({}), metadata: { name: "same", namespace: "shop", uid: "x" } }],
            [
                configMap({ a: "1", b: "3" }, { uid: "u-9", resourceVersion: "99" }),
                { ...configMap({}), metadata: { name: "same", namespace: "shop", uid: "y" } },
                { ...configMap({}), metadata: { name: "new", namespace: "shop" } },
            ],
        );
        expect(diffs.map((d) => [d.object, d.state])).toEqual([
            ["ConfigMap shop/app-config", "changed"],
            ["Secret shop/db", "missing-in-live"],
            ["ConfigMap shop/same", "same"],
            ["ConfigMap shop/new", "only-in-live"],
        ]);
        expect(diffs[0]!.diff).toContain("-   b: '2'\n+   b: '3'");
        expect(diffs[0]!.diff).not.toMatch(/uid|resourceVersion/);
        const report = renderDiffReport(diffs);
        expect(report).toContain("ConfigMap shop/app-config: changed in live");
        expect(report).toContain("Secret shop/db: missing in live (in the snapshot only)");
        expect(report).toMatch(/4 objects: 1 missing in live, 1 changed, 1 same, 1 only in live\n$/);
    });

    test("a changed Secret shows which key changed, never its value", () => {
        const [d] = diffObjects([secret("before-incident")], [secret("after-incident")]);
        expect(d!.state).toBe("changed");
        expect(d!.diff).toMatch(/- {3}password: <sha256:[0-9a-f]{12}>\n\+ {3}password: <sha256:[0-9a-f]{12}>/);
        for (const value of ["before-incident", "after-incident"]) {
            expect(d!.diff).not.toContain(value);
            expect(d!.diff).not.toContain(Buffer.from(value).toString("base64"));
        }
        expect(maskSecretValues(configMap({ a: "1" }))).toEqual(configMap({ a: "1" }));
    });

    test("lineDiff keeps common lines and marks removed/added ones", () => {
        expect(lineDiff("a\nb\nc\n", "a\nx\nc\n")).toBe("  a\n- b\n+ x\n  c");
        expect(lineDiff("a\n", "a\n")).toBe("  a");
    });
});

describe("runRecoveryCli against a stand-in kubectl", () => {
    let dir: string;
    let kubectl: string;
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-recovery-"));
        // Prints the JSON file named after the kubeconfig; records its arguments.
        kubectl = path.join(dir, "kubectl");
        fs.writeFileSync(
            kubectl,
            `#!/bin/sh\necho "$@" >> "${dir}/calls"\nfor a in "$@"; do case "$a" in --kubeconfig=*) cfg="\${a#--kubeconfig=}";; esac; done\ncat "$cfg.json"\n`,
            { mode: 0o755 },
        );
        fs.writeFileSync(
            path.join(dir, "recovery.json"),
            JSON.stringify({ apiVersion: "v1", kind: "List", items: [configMap({ a: "1" }, { managedFields: [{}] })] }),
        );
        fs.writeFileSync(path.join(dir, "live.json"), JSON.stringify({ apiVersion: "v1", kind: "List", items: [configMap({ a: "2" })] }));
        fs.writeFileSync(path.join(dir, "same.json"), fs.readFileSync(path.join(dir, "recovery.json")));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    function io() {
        const out = { stdout: "", stderr: "" };
        return { out, io: { stdout: (t: string) => (out.stdout += t), stderr: (t: string) => (out.stderr += t) } };
    }

    test("export prints apply-ready YAML, progress on stderr", async () => {
        const { out, io: cliIo } = io();
        const code = await runRecoveryCli(
            ["export", "--kubeconfig", path.join(dir, "recovery"), "--kind", "configmaps", "-n", "shop", "--kubectl", kubectl],
            cliIo,
        );
        expect(code).toBe(0);
        expect(yaml.loadAll(out.stdout)).toEqual([
            { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "app-config", namespace: "shop" }, data: { a: "1" } },
        ]);
        expect(out.stderr).toMatch(/^export \[1\/1\] configmaps in shop: 1 object \(\d+\.\d s\)\n$/);
        expect(fs.readFileSync(path.join(dir, "calls"), "utf8")).toContain("get configmaps --namespace shop --output=json");
    });

    test("export -o writes a 0600 file", async () => {
        const file = path.join(dir, "out.yaml");
        const { out, io: cliIo } = io();
        expect(
            await runRecoveryCli(
                ["export", "--kubeconfig", path.join(dir, "recovery"), "--kind", "cm", "-o", file, "--kubectl", kubectl],
                cliIo,
            ),
        ).toBe(0);
        expect(out.stdout).toBe("");
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        expect(fs.readFileSync(file, "utf8")).toContain("kind: ConfigMap");
    });

    test("diff exits 1 with a readable report when live differs, 0 when it agrees", async () => {
        const a = io();
        expect(
            await runRecoveryCli(
                [
                    "diff",
                    "--kubeconfig",
                    path.join(dir, "recovery"),
                    "--live-kubeconfig",
                    path.join(dir, "live"),
                    "--kind",
                    "cm",
                    "--kubectl",
                    kubectl,
                ],
                a.io,
            ),
        ).toBe(1);
        expect(a.out.stdout).toContain("ConfigMap shop/app-config: changed in live\n");
        expect(a.out.stdout).toContain("    -   a: '1'\n    +   a: '2'");
        expect(fs.readFileSync(path.join(dir, "calls"), "utf8")).toMatch(/--kubeconfig=.*live get cm --output=json --ignore-not-found/);
        const b = io();
        expect(
            await runRecoveryCli(
                [
                    "diff",
                    "--kubeconfig",
                    path.join(dir, "recovery"),
                    "--live-kubeconfig",
                    path.join(dir, "same"),
                    "--kind",
                    "cm",
                    "--kubectl",
                    kubectl,
                ],
                b.io,
            ),
        ).toBe(0);
        expect(b.out.stdout).toContain("1 objects: 0 missing in live, 0 changed, 1 same, 0 only in live");
    });

    test("usage errors exit 2 with the usage; a missing kubectl exits 2 and says so", async () => {
        const a = io();
        expect(await runRecoveryCli(["export"], a.io)).toBe(2);
        expect(a.out.stderr).toMatch(/error: --kubeconfig FILE is required[\s\S]*usage:/);
        const b = io();
        expect(await runRecoveryCli(["export", "--kubeconfig", "k", "--kind", "cm", "--kubectl", path.join(dir, "no-kubectl")], b.io)).toBe(
            2,
        );
        expect(b.out.stderr).toMatch(/kubectl not found at .*no-kubectl/);
    });
});

describe("the etcd-recovery command (package.json bin)", () => {
    test("--help prints the usage and exits 0; no command is a usage error (exit 2)", async () => {
        const out: string[] = [];
        const err: string[] = [];
        const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) };
        expect(await runRecoveryCli(["--help"], io)).toBe(0);
        expect(out.join("")).toMatch(/etcd-recovery export --kubeconfig FILE/);
        expect(await runRecoveryCli([], io)).toBe(2);
        expect(err.join("")).toMatch(/give a command: export, diff or fetch/);
    });

    test("package.json names the built CLI, which starts with a node shebang", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
        expect(pkg.bin).toEqual({ "etcd-recovery": "bin/cli/recovery.js" });
        expect(
            fs.readFileSync(path.join(__dirname, "..", "..", "src", "cli", "recovery.ts"), "utf8").startsWith("#!/usr/bin/env node\n"),
        ).toBe(true);
    });
});

describe("parseFetchArgs", () => {
    const files: Record<string, string> = {
        "s3.yaml":
            "s3:\n  bucket: backups\n  endpoint: https://10.0.0.5:9000\n  accessKeyId: AK\n  secretAccessKey: SK\nencryption:\n  password: pw\n",
        "two.yaml": "s3: { bucket: a }\nsftp: { host: b }\n",
        "bad.yaml": "s3: [unclosed\n",
    };
    const read = (file: string) => {
        if (!(file in files)) throw new Error(`ENOENT: ${file}`);
        return files[file]!;
    };
    test("the store and encryption come from the file; flags give cluster, prefix, object, dir", () => {
        expect(
            parseFetchArgs(["--store", "s3.yaml", "--cluster", "prod", "--prefix", "p", "--object", "o.db.gz", "--dir", "/tmp/x"], read),
        ).toEqual({
            store: { s3: { bucket: "backups", endpoint: "https://10.0.0.5:9000", accessKeyId: "AK", secretAccessKey: "SK" } },
            encryption: { password: "pw" },
            cluster: "prod",
            prefix: "p",
            object: "o.db.gz",
            dir: "/tmp/x",
        });
    });
    test("errors name the flag or file and the fix", () => {
        expect(() => parseFetchArgs(["--cluster", "prod"], read)).toThrow(/fetch needs --store/);
        expect(() => parseFetchArgs(["--store", "s3.yaml"], read)).toThrow(/fetch needs --cluster/);
        expect(() => parseFetchArgs(["--store", "two.yaml", "--cluster", "c"], read)).toThrow(
            /two.yaml: give exactly one store .*\["s3","sftp"\]/,
        );
        expect(() => parseFetchArgs(["--store", "bad.yaml", "--cluster", "c"], read)).toThrow(/bad.yaml: not a readable YAML/);
        expect(() => parseFetchArgs(["--store", "missing.yaml", "--cluster", "c"], read)).toThrow(/missing.yaml: not a readable/);
        expect(() => parseFetchArgs(["--password", "x"], read)).toThrow(/unknown flag "--password" for fetch/);
        expect(() => parseFetchArgs(["--store"], read)).toThrow(/--store needs a value/);
    });
});

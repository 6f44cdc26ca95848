/**
 * etcd-recovery from Python: examples/python-pki, a Pulumi Python program
 * that uses EtcdPki through this checkout as a plugin package
 * (plugin/pulumi-resource-etcd-recovery), run by the Python language host
 * built from sdk/v3 v3.68.0 (scripts/tools.sh language-python) with the
 * `pulumi` package from PyPI at @pulumi/pulumi's version, in a virtualenv
 * kept in the tools cache: `pulumi up`, `preview --expect-no-changes` and
 * `destroy` under the real engine, offline.
 */
import * as fs from "fs";
import * as path from "path";

import { run } from "../harness/exec";
import { requireTool, toolsCacheDir } from "../support/processes";
import { OfflineStack, offlineStack, uniqueStackName } from "../support/pulumi";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(15 * 60_000);

const REPO = path.resolve(__dirname, "../..");
const EXAMPLE = path.join(REPO, "examples/python-pki");

let stack: OfflineStack | undefined;
let savedPath: string | undefined;

beforeAll(async () => {
    requireTool("pulumi-language-python");
    requireTool("pulumi-language-python-exec");
    // The example pins the Python SDK at the Node.js SDK's version (one Pulumi release).
    const nodeSdk = (JSON.parse(fs.readFileSync(require.resolve("@pulumi/pulumi/package.json"), "utf8")) as { version: string }).version;
    expect(fs.readFileSync(path.join(EXAMPLE, "requirements.txt"), "utf8").trim()).toBe(`pulumi==${nodeSdk}`);
    const venv = path.join(toolsCacheDir(), `python-pulumi-${nodeSdk}`);
    // scripts/setup installs it (pip from PyPI); a test never downloads.
    const marker = path.join(venv, ".installed");
    if (!fs.existsSync(marker) || fs.readFileSync(marker, "utf8").trim() !== `pulumi==${nodeSdk}`) {
        throw new Error(`${venv} does not hold pulumi==${nodeSdk}: run bash scripts/setup`);
    }
    // v3.68.0's host does not read the `virtualenv` runtime option the way CLI 3.259 passes it: it runs the
    // `python` first on PATH, so the virtualenv goes there.
    savedPath = process.env.PATH;
    process.env.PATH = `${path.join(venv, "bin")}${path.delimiter}${process.env.PATH ?? ""}`;
    // The plugin runs bin/provider.js: build it from this checkout's sources (what `npm install` / prepare does).
    await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: REPO, timeoutMs: 300_000 });
});

afterAll(async () => {
    if (stack) {
        await stack.stack.destroy().catch(() => undefined);
        await stack.cleanup().catch(() => undefined);
    }
    if (savedPath !== undefined) process.env.PATH = savedPath;
});

test("pulumi up, preview without changes and destroy of the Python program under the real engine", async () => {
    stack = await offlineStack({ workDir: EXAMPLE, stackName: uniqueStackName("python-pki") });
    const up = await stack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.outputs.caCertPem!.value as string).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(up.outputs.apiserverClientCertPem!.value as string).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(up.outputs.caKeyPem!.secret).toBe(true);
    expect(up.outputs.etcd1ServerCertPem!.secret).toBe(true);
    expect(up.summary.resourceChanges).toEqual({ create: 12 });

    const state = await stack.readState();
    expect(state).not.toMatch(/PRIVATE KEY/);
    expect(state).toContain(SECRET_SIG);
    expect(state).toContain('"type": "etcd-recovery:index:EtcdPki"');

    const preview = await stack.stack.preview({ expectNoChanges: true });
    expect(Object.keys(preview.changeSummary)).toEqual(["same"]);

    const destroyed = await stack.stack.destroy();
    expect(destroyed.summary.result).toBe("succeeded");
    expect(JSON.parse(await stack.readState()).deployment.resources ?? []).toEqual([]);
});

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
import { expectPkiProgramLifecycle } from "../support/pki-program";

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
    // The plugin runs bin/provider.js: build it from this checkout's sources as `npm install` / prepare does
    // (tsc, then the .sh files the backup modules read when they load: EtcdBackup is served too).
    await run("npm", ["run", "build"], { cwd: REPO, timeoutMs: 300_000 });
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
    await expectPkiProgramLifecycle(stack);
});

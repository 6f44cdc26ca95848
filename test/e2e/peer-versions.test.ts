/**
 * The highest provider SDKs that package.json's peer ranges claim. The rest of
 * the suite runs with the lowest (devDependencies: @pulumi/docker 4.11.2,
 * @pulumi/command 1.2.1); here a copy of this checkout gets the newest majors
 * (@pulumi/docker 5.2.0, @pulumi/command 4.5.0, installed by scripts/setup)
 * in their place, then:
 *  - the whole tree (sources, tests, examples) type-checks strictly against them;
 *  - the mock tests of every component built on them (EtcdCluster on docker,
 *    RecoveryEnvironment on docker + command.local) pass: the same resource
 *    types, inputs and graph.
 * What this cannot show: the 5.x / 4.x provider plugins at run time (neither
 * plugin can be built here); docs/development.md says so.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { run } from "../harness/exec";
import { toolsCacheDir } from "../support/processes";

jest.setTimeout(30 * 60_000);

const REPO = path.resolve(__dirname, "../..");
const HIGHEST = { "@pulumi/docker": "5.2.0", "@pulumi/command": "4.5.0" } as const;
const PEERS_DIR = path.join(toolsCacheDir(), "peers-highest-docker-5.2.0-command-4.5.0");

let copy: string;

beforeAll(async () => {
    if (!fs.existsSync(path.join(PEERS_DIR, ".installed"))) {
        throw new Error(
            `${PEERS_DIR} is missing: run bash scripts/setup (it installs ${Object.entries(HIGHEST)
                .map(([n, v]) => `${n}@${v}`)
                .join(" ")})`,
        );
    }
    copy = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-recovery-peers-"));
    await run(
        "bash",
        ["-c", `tar -C "$1" --exclude=./node_modules --exclude=./bin --exclude=./.git -cf - . | tar -C "$2" -xf -`, "copy", REPO, copy],
        {
            timeoutMs: 300_000,
        },
    );
    // Hard links: the copy's node_modules costs no space; the two SDKs are replaced (unlinked), never written through.
    await run("cp", ["-al", path.join(REPO, "node_modules"), path.join(copy, "node_modules")], { timeoutMs: 300_000 });
    for (const name of Object.keys(HIGHEST)) {
        fs.rmSync(path.join(copy, "node_modules", name), { recursive: true, force: true });
        await run("cp", ["-r", path.join(PEERS_DIR, "node_modules", name), path.join(copy, "node_modules", name)], { timeoutMs: 120_000 });
    }
});

afterAll(() => {
    if (copy) fs.rmSync(copy, { recursive: true, force: true });
});

test("the copy resolves the newest SDKs, and the checkout still the lowest", () => {
    for (const [name, version] of Object.entries(HIGHEST)) {
        const inCopy = JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`, { paths: [copy] }), "utf8")) as {
            version: string;
        };
        expect(inCopy.version.replace(/^v/, "")).toBe(version);
    }
    const lowest = JSON.parse(fs.readFileSync(require.resolve("@pulumi/docker/package.json", { paths: [REPO] }), "utf8")) as {
        version: string;
    };
    expect(lowest.version.replace(/^v/, "")).toBe("4.11.2");
});

test("everything type-checks strictly against @pulumi/docker 5.2.0 and @pulumi/command 4.5.0", () => {
    // tsc reports on stdout: spawnSync keeps it for the failure message.
    const tsc = spawnSync(path.join(copy, "node_modules/.bin/tsc"), ["--noEmit", "-p", "."], {
        cwd: copy,
        encoding: "utf8",
        timeout: 900_000,
    });
    expect({ status: tsc.status, output: tsc.stdout + tsc.stderr }).toEqual({ status: 0, output: "" });
});

test("the components' mock tests pass with them: same resource types, inputs and graph", () => {
    const tests = ["test/unit/components.test.ts", "test/unit/recovery-environment.test.ts"];
    const jest = spawnSync(path.join(copy, "node_modules/.bin/jest"), ["--runInBand", "--ci", ...tests], {
        cwd: copy,
        encoding: "utf8",
        timeout: 1_200_000,
    });
    const output = jest.stdout + jest.stderr;
    expect({ status: jest.status, tail: jest.status === 0 ? "" : output.slice(-6000) }).toEqual({ status: 0, tail: "" });
    // Nothing failed, skipped or left to do: the summary counts only passes.
    expect(output).toMatch(new RegExp(`Test Suites: +${tests.length} passed, ${tests.length} total`));
    expect(output).toMatch(/Tests: +(\d+) passed, \1 total/);
});

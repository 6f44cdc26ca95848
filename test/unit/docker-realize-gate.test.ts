// Under the docker provider a one-shot container that exits non-zero does not
// fail `pulumi up`: its exit code is only recorded. The realized plan must
// still never start a container on a failed one-shot's result (an etcd member
// on an empty data dir), must replace named containers delete-before-replace,
// and must leave a cluster's seed restore alone after the first deployment.
import * as pulumi from "@pulumi/pulumi";
import { spawnSync } from "child_process";
import * as path from "path";

let exitCodeOfOneShots = 0;
const registered: string[] = [];
pulumi.runtime.setMocks(
    {
        newResource(args) {
            registered.push(args.name);
            const state: Record<string, unknown> = { ...args.inputs };
            if (args.type === "docker:index/container:Container" && args.inputs.attach) state.exitCode = exitCodeOfOneShots;
            return { id: `${args.name}-id`, state };
        },
        call: (args) => args.inputs,
    },
    "etcd-recovery",
    "gate",
    false,
);

import type { DockerPlan } from "../../src/docker/plan";
import { ONE_SHOTS_SUCCEEDED_LABEL, oneShotFailure } from "../../src/docker/one-shot";
import { realizeDockerPlan } from "../../src/docker/realize";

const plan: DockerPlan = {
    networks: [],
    volumes: [{ name: "c-m0-data" }],
    containers: [
        {
            name: "c-m0-restore",
            image: "etcd:3.5.21",
            command: ["etcdutl", "snapshot", "restore"],
            files: [],
            mounts: [{ source: "c-m0-data", target: "/var/lib/etcd" }],
            network: { none: true },
            runToCompletion: true,
            firstRunOnly: true,
        },
        {
            name: "c-m0",
            image: "etcd:3.5.21",
            command: ["etcd"],
            files: [],
            mounts: [{ source: "c-m0-data", target: "/var/lib/etcd" }],
            network: { host: true },
            after: ["c-m0-restore"],
        },
        { name: "c-m1", image: "etcd:3.5.21", command: ["etcd"], files: [], mounts: [], network: { host: true }, after: ["c-m0"] },
    ],
};

interface Seen {
    opts: pulumi.CustomResourceOptions;
    props: Record<string, any>;
}

function realize(): { seen: Map<string, Seen>; containers: ReturnType<typeof realizeDockerPlan>["containers"] } {
    const seen = new Map<string, Seen>();
    const parent = new pulumi.ComponentResource(
        "test:index:Parent",
        `parent-${registered.length}`,
        {},
        {
            transformations: [
                (args) => {
                    seen.set(args.name, { opts: args.opts as pulumi.CustomResourceOptions, props: args.props });
                    return undefined;
                },
            ],
        },
    );
    return { seen, containers: realizeDockerPlan(plan, { parent, providerNamePrefix: "c" }).containers };
}

const settle = <T>(output: pulumi.Output<T>): Promise<T> =>
    new Promise((resolve, reject) => {
        (output as any).promise().then(resolve, reject);
    });

test("oneShotFailure names the container that is not started, each failed one-shot with its exit code, and where its logs are", () => {
    expect(oneShotFailure("c-m0", [{ name: "c-m0-restore", exitCode: 0 }])).toBeUndefined();
    expect(
        oneShotFailure("c-m0", [
            { name: "c-m0-restore", exitCode: 1 },
            { name: "check", exitCode: undefined },
        ]),
    ).toBe(
        "c-m0 was not started: c-m0-restore exited with code 1, check recorded no exit code (see docker logs c-m0-restore; docker logs check). " +
            "Nothing was started on its result; fix the cause and run the update again.",
    );
});

test("a container after a one-shot carries a label computed from its exit code: the one-shot's name once it exited 0", async () => {
    exitCodeOfOneShots = 0;
    const { seen, containers } = realize();
    const labels = await settle(containers["c-m0"]!.labels);
    expect(labels).toContainEqual({ label: ONE_SHOTS_SUCCEEDED_LABEL, value: "c-m0-restore" });
    // A container after a long-running one is not gated: nothing to check.
    expect((await settle(containers["c-m1"]!.labels)).map((l) => l.label)).not.toContain(ONE_SHOTS_SUCCEEDED_LABEL);
    // Fixed names: the old container must be gone before the new one is created.
    for (const name of ["c-m0-restore", "c-m0", "c-m1"]) expect(seen.get(name)!.opts.deleteBeforeReplace).toBe(true);
    // A cluster's seed restore runs on the first deployment only; later changes to it are ignored.
    expect(seen.get("c-m0-restore")!.opts.ignoreChanges).toEqual(expect.arrayContaining(["image", "command", "uploads", "volumes"]));
    expect(seen.get("c-m0")!.opts.ignoreChanges).toBeUndefined();
});

/** Runs test/fixtures/gate/program.ts (mocks, the one-shot's exit code given) in its own process, as a program runs. */
function runGateProgram(exitCode: number): { status: number | null; registered: string[]; stderr: string } {
    const program = path.resolve(__dirname, "../fixtures/gate/program.ts");
    const result = spawnSync(process.execPath, [require.resolve("ts-node/dist/bin"), "--transpile-only", program], {
        env: { ...process.env, GATE_EXIT_CODE: String(exitCode) },
        encoding: "utf8",
        timeout: 60_000,
    });
    const registered = result.stdout
        .split("\n")
        .filter((l) => l.startsWith("registered "))
        .map((l) => l.slice("registered ".length));
    return { status: result.status, registered, stderr: result.stderr };
}

test("a one-shot that exited non-zero fails the program before the container after it is registered, and nothing after that either", () => {
    const failed = runGateProgram(1);
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toMatch(/c-m0 was not started: c-m0-restore exited with code 1 \(see docker logs c-m0-restore\)/);
    expect(failed.registered).toEqual(["parent", "c-m0-restore"]);
    // Positive control: the same program with a successful one-shot registers everything and exits 0.
    const succeeded = runGateProgram(0);
    expect({ status: succeeded.status, stderr: succeeded.stderr }).toEqual({ status: 0, stderr: "" });
    expect(succeeded.registered).toEqual(["parent", "c-m0-restore", "c-m0", "c-m1"]);
});

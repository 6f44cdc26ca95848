// ControlPlaneRestore under Pulumi mocks: one SSH step resource per planned
// step, credentials only as secrets, a dry run without secrets, bad input
// failing before any step exists; and the RemoteCommand provider's diff.
import * as pulumi from "@pulumi/pulumi";

interface Registered {
    type: string;
    name: string;
    inputs: Record<string, any>;
}

const registered: Registered[] = [];
const isSecretWire = (v: any): boolean => !!v && typeof v === "object" && v[SECRET_SIG] !== undefined;

pulumi.runtime.setMocks(
    {
        newResource(args) {
            registered.push({ type: args.type, name: args.name, inputs: args.inputs });
            return { id: `${args.name}-id`, state: { ...args.inputs, stdout: `ran ${args.name}` } };
        },
        call: (args) => args.inputs,
    },
    "etcd-recovery",
    "test",
    false,
);

import { ControlPlaneRestore, ControlPlaneRestoreArgs } from "../../src/restore";
import { remoteCommandProvider, RemoteCommandOutputs } from "../../src/restore/remote-command";
import { registrationsSettled } from "../support/mock-registrations";
import { SECRET_SIG } from "../support/secret-marker";

const value = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-key-body\n-----END OPENSSH PRIVATE KEY-----\n";

function args(overrides: Partial<ControlPlaneRestoreArgs> = {}): ControlPlaneRestoreArgs {
    return {
        nodes: [1, 2, 3].map((i) => ({
            name: `cp-${i}`,
            address: `10.0.0.${10 + i}`,
            role: "both" as const,
            ssh: { privateKey: KEY, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey" },
        })),
        layout: "kubeadm",
        snapshot: { path: "/root/etcd-snapshot.db", sha256: "ab".repeat(32) },
        etcdVersion: "3.5.21",
        ...overrides,
    };
}

beforeEach(async () => {
    // The previous test's registrations still in flight must not land in this one.
    await registrationsSettled();
    registered.length = 0;
});

test("one RemoteCommand per planned step, parented to the component, with the connection as a secret", async () => {
    const restore = new ControlPlaneRestore("prod", args());
    const stepIds = await value(restore.stepIds);
    await value(restore.stepOutputs);
    expect(registered.filter((r) => r.type === "etcd-recovery:index:ControlPlaneRestore").map((r) => r.name)).toEqual(["prod"]);
    const steps = registered.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic"));
    expect(steps.map((r) => r.name).sort()).toEqual(stepIds.map((id) => `prod-${id}`).sort());
    expect(stepIds).toHaveLength(29);
    for (const step of steps) {
        expect(isSecretWire(step.inputs.connection)).toBe(true);
        expect(JSON.stringify(step.inputs.create)).not.toContain("secret-key-body");
    }
    const restoreCp2 = steps.find((r) => r.name === "prod-restore-cp-2")!;
    expect(restoreCp2.inputs.create).toContain("etcdutl snapshot restore /root/etcd-snapshot.db --name=cp-2");
    expect(restoreCp2.inputs.connection[SECRET_SIG] && restoreCp2.inputs.connection.value).toMatchObject({
        host: "10.0.0.12",
        port: 22,
        user: "root",
        privateKey: KEY,
    });
    expect(await value(restore.report)).toBe("ran prod-report");
});

test("the dry run is a plain output without any credential", async () => {
    const restore = new ControlPlaneRestore(
        "prod",
        args({ nodes: args().nodes.map((n) => ({ ...n, ssh: { password: "hunter2-password" } })) }),
    );
    const dryRun = await value(restore.dryRun);
    expect(dryRun).toContain("[1/29] preflight-cp-1 @ cp-1");
    expect(dryRun).not.toContain("hunter2-password");
    expect(dryRun).not.toContain("secret-key-body");
});

test("bad input fails with a ResourceError before any step exists", async () => {
    expect(() => new ControlPlaneRestore("bad", args({ etcdVersion: "3.5" }))).toThrow(
        /etcdVersion: "3\.5" — give the etcd version on the nodes as major\.minor\.patch/,
    );
    // stepTimeoutSeconds is checked as StackedToExternalMigration checks it.
    expect(() => new ControlPlaneRestore("slow", args({ stepTimeoutSeconds: 5 }))).toThrow(
        /stepTimeoutSeconds: 5 — give whole seconds ≥ 10, e.g. 900/,
    );
    expect(() => new ControlPlaneRestore("nokey", args({ nodes: args().nodes.map((n) => ({ ...n, ssh: {} })) }))).toThrow(
        /nodes\[0\]\.ssh: missing — give privateKey or password for cp-1/,
    );
    await registrationsSettled();
    expect(registered.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic")).map((r) => r.name)).toEqual([]);
});

test("the check above can fail: a valid ControlPlaneRestore's steps are seen once registrations settle", async () => {
    new ControlPlaneRestore("good", args());
    await registrationsSettled();
    expect(registered.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic")).length).toBeGreaterThan(0);
});

describe("RemoteCommand provider diff", () => {
    const olds: RemoteCommandOutputs = {
        host: "10.0.0.11",
        port: 22,
        user: "root",
        create: "echo hi\n",
        triggers: [],
        description: "d",
        stdout: "hi\n",
        stderr: "",
        startedAt: "t0",
        finishedAt: "t1",
    };
    const diff = (news: object) =>
        remoteCommandProvider.diff!("id", olds, {
            connection: { host: "10.0.0.11", privateKey: "k1" },
            create: "echo hi\n",
            triggers: [],
            description: "d",
            ...news,
        });

    test("same command and target: no change, even with rotated credentials", async () => {
        expect(await diff({ connection: { host: "10.0.0.11", privateKey: "rotated" } })).toEqual({
            changes: false,
            replaces: [],
            deleteBeforeReplace: true,
        });
    });

    test("a new command, target or trigger replaces, which runs the command again", async () => {
        expect((await diff({ create: "echo other\n" })).replaces).toEqual(["create"]);
        expect((await diff({ triggers: [1] })).replaces).toEqual(["triggers"]);
        expect((await diff({ connection: { host: "10.0.0.12" } })).replaces).toEqual(["connection"]);
    });
});

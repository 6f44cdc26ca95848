// StackedToExternalMigration under Pulumi mocks: one SSH step resource per
// planned step (shared realization with ControlPlaneRestore), the client files
// staged by RemoteFile resources with the key as a secret, a dry run without
// secrets, and bad input failing before any child exists; the RemoteFile
// provider's checks and diff.
import * as pulumi from "@pulumi/pulumi";

interface Registered {
    type: string;
    name: string;
    inputs: Record<string, any>;
}

const registered: Registered[] = [];
const isSecretWire = (v: any): boolean => !!v && typeof v === "object" && v[SECRET_SIG] !== undefined;
const SNAPSHOT_SHA = "5a".repeat(32);

pulumi.runtime.setMocks(
    {
        newResource(args) {
            registered.push({ type: args.type, name: args.name, inputs: args.inputs });
            const stdout = args.name.endsWith("-hand-off") ? `snapshot: cp-1:/x\nsha256: ${SNAPSHOT_SHA}\nbytes: 1\n` : `ran ${args.name}`;
            return { id: `${args.name}-id`, state: { ...args.inputs, stdout } };
        },
        call: (args) => args.inputs,
    },
    "etcd-recovery",
    "test",
    false,
);

import { StackedToExternalMigration, StackedToExternalMigrationArgs } from "../../src/restore";
import { migrationPlanInput } from "../../src/restore/migration-component";
import { remoteFileProvider, RemoteFileOutputs, writeFileCommand } from "../../src/restore/remote-file";
import { registrationsSettled } from "../support/mock-registrations";
import { expectInputError } from "../support/restore-steps";
import { SECRET_SIG } from "../support/secret-marker";

const value = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));
const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nssh-key-body\n-----END OPENSSH PRIVATE KEY-----\n";
const CLIENT_KEY = "-----BEGIN RSA PRIVATE KEY-----\nclient-key-body\n-----END RSA PRIVATE KEY-----\n";
const STEP_TYPE = "pulumi-nodejs:dynamic/etcd-recovery:RemoteCommand";
const FILE_TYPE = "pulumi-nodejs:dynamic/etcd-recovery:RemoteFile";

function args(overrides: Partial<StackedToExternalMigrationArgs> = {}): StackedToExternalMigrationArgs {
    return {
        stage: "switch",
        seededSnapshotSha256: SNAPSHOT_SHA,
        nodes: [1, 2, 3].map((i) => ({ name: `cp-${i}`, address: `10.0.0.${10 + i}`, ssh: { privateKey: SSH_KEY } })),
        layout: "kubeadm",
        externalEndpoints: ["https://10.0.1.11:2379", "https://10.0.1.12:2379", "https://10.0.1.13:2379"],
        externalClient: { caCertPem: "CA-PEM", certPem: "CERT-PEM", keyPem: CLIENT_KEY },
        ...overrides,
    };
}

const snapshotArgs = (overrides: Partial<StackedToExternalMigrationArgs> = {}) =>
    args({ stage: "snapshot", seededSnapshotSha256: undefined, externalClient: undefined, ...overrides });

const dynamic = () => registered.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic"));
const files = () => dynamic().filter((r) => r.type === FILE_TYPE);
const commands = () => dynamic().filter((r) => r.type === STEP_TYPE);

beforeEach(async () => {
    // The previous test's registrations still in flight must not land in this one.
    await registrationsSettled();
    registered.length = 0;
});

describe('stage "snapshot"', () => {
    test("one RemoteCommand per planned step, no file uploaded, connections secret; the hand-off's sha256 is an output", async () => {
        const migration = new StackedToExternalMigration("mig", snapshotArgs());
        const stepIds = await value(migration.stepIds);
        await value(migration.stepOutputs);
        expect(stepIds).toEqual([
            "preflight-cp-1",
            "preflight-cp-2",
            "preflight-cp-3",
            "stop-control-plane-cp-1",
            "stop-control-plane-cp-2",
            "stop-control-plane-cp-3",
            "snapshot",
            "hand-off",
        ]);
        expect(registered.filter((r) => r.type === "etcd-recovery:index:StackedToExternalMigration").map((r) => r.name)).toEqual(["mig"]);
        expect(
            commands()
                .map((r) => r.name)
                .sort(),
        ).toEqual(stepIds.map((id) => `mig-${id}`).sort());
        expect(files()).toEqual([]);
        for (const step of commands()) {
            expect(isSecretWire(step.inputs.connection)).toBe(true);
            expect(step.inputs.create.startsWith("set -x\n")).toBe(true);
            expect(JSON.stringify(step.inputs.create)).not.toContain("ssh-key-body");
        }
        expect(await value(migration.snapshotSha256)).toBe(SNAPSHOT_SHA);
        expect(await value(migration.report)).toContain(`sha256: ${SNAPSHOT_SHA}`);
    });
});

describe('stage "switch"', () => {
    test("three files staged per node (key 0600 and secret), then one RemoteCommand per step", async () => {
        const migration = new StackedToExternalMigration("mig", args());
        const stepIds = await value(migration.stepIds);
        await value(migration.stepOutputs);
        expect(
            commands()
                .map((r) => r.name)
                .sort(),
        ).toEqual(stepIds.map((id) => `mig-${id}`).sort());
        expect(stepIds[stepIds.length - 1]).toBe("verify");
        const staged = files();
        expect(staged.map((r) => r.name).sort()).toEqual(
            ["cp-1", "cp-2", "cp-3"]
                .flatMap((n) => ["apiserver-etcd-client.crt", "apiserver-etcd-client.key", "ca.crt"].map((f) => `mig-stage-${n}-${f}`))
                .sort(),
        );
        const key = staged.find((r) => r.name === "mig-stage-cp-2-apiserver-etcd-client.key")!;
        expect(key.inputs.path).toBe("/root/etcd-recovery-migration-staged/apiserver-etcd-client.key");
        expect(key.inputs.mode).toBe(0o600);
        expect(isSecretWire(key.inputs.content)).toBe(true);
        expect(key.inputs.content.value).toBe(CLIENT_KEY);
        expect(isSecretWire(key.inputs.connection)).toBe(true);
        const ca = staged.find((r) => r.name === "mig-stage-cp-3-ca.crt")!;
        expect(ca.inputs.mode).toBe(0o644);
        // Content is secret whatever it is: made so by RemoteFile itself.
        expect(isSecretWire(ca.inputs.content) && ca.inputs.content.value).toBe("CA-PEM");
        for (const step of commands()) expect(JSON.stringify(step.inputs.create)).not.toContain("client-key-body");
        expect(await value(migration.apiserverEtcdFlags)).toEqual([
            "--etcd-servers=https://10.0.1.11:2379,https://10.0.1.12:2379,https://10.0.1.13:2379",
            "--etcd-cafile=/etc/kubernetes/pki/etcd-external/ca.crt",
            "--etcd-certfile=/etc/kubernetes/pki/etcd-external/apiserver-etcd-client.crt",
            "--etcd-keyfile=/etc/kubernetes/pki/etcd-external/apiserver-etcd-client.key",
        ]);
        expect(await value(migration.snapshotSha256)).toBe("");
    });

    test("the dry run lists staged files without content and no credential", async () => {
        const migration = new StackedToExternalMigration(
            "mig",
            args({ nodes: args().nodes.map((n) => ({ ...n, ssh: { password: "hunter2-password" } })) }),
        );
        const dryRun = await value(migration.dryRun);
        expect(dryRun).toContain(
            "cp-1:/root/etcd-recovery-migration-staged/apiserver-etcd-client.key mode 0600 from args.externalClient.keyPem (secret)",
        );
        expect(dryRun).toContain("[1/19] preflight-cp-1 @ cp-1");
        for (const secret of ["hunter2-password", "client-key-body", "ssh-key-body"]) expect(dryRun).not.toContain(secret);
    });

    test("a custom stagingDir moves every staged path", () => {
        const input = migrationPlanInput(args({ stagingDir: "/var/tmp/staged" }));
        expect(Object.values(input.clientFiles).map((f) => f.stagedPath)).toEqual([
            "/var/tmp/staged/ca.crt",
            "/var/tmp/staged/apiserver-etcd-client.crt",
            "/var/tmp/staged/apiserver-etcd-client.key",
        ]);
    });
});

describe("validation: argument, bad value and fix, before any child exists", () => {
    test.each([
        [
            args({ externalClient: undefined }),
            "externalClient",
            /stage "switch" installs the external cluster's client files: give \{ caCertPem, certPem, keyPem \}/,
        ],
        [args({ externalClient: { caCertPem: "CA", certPem: "", keyPem: CLIENT_KEY } }), "externalClient.certPem", /give the PEM text/],
        [
            snapshotArgs({ externalClient: { caCertPem: "CA", certPem: "C", keyPem: CLIENT_KEY } }),
            "externalClient",
            /stage "snapshot" installs nothing/,
        ],
        [args({ stagingDir: "relative/dir" }), "stagingDir", /absolute directory path/],
        [args({ stagingDir: "/root/../etc" }), "stagingDir", /absolute directory path/],
        [args({ stepTimeoutSeconds: 1 }), "stepTimeoutSeconds", /≥ 10/],
    ])("%#: %s", (bad, argument, fix) => {
        expectInputError(() => migrationPlanInput(bad), argument, fix);
    });

    test("the component rethrows them (and the plan's) as ResourceErrors; nothing is registered", async () => {
        expect(() => new StackedToExternalMigration("a", args({ externalClient: undefined }))).toThrow(
            /^externalClient: missing — stage "switch" installs/,
        );
        expect(() => new StackedToExternalMigration("b", args({ externalEndpoints: ["https://127.0.0.1:2379"] }))).toThrow(
            /externalEndpoints\[0\]: "https:\/\/127\.0\.0\.1:2379" — this is the stacked etcd on the node itself/,
        );
        expect(
            () =>
                new StackedToExternalMigration(
                    "c",
                    snapshotArgs({ externalClient: { caCertPem: "CA", certPem: "C", keyPem: CLIENT_KEY } }),
                ),
        ).toThrow(/externalClient: "\(given\)"/);
        expect(() => new StackedToExternalMigration("d", args({ nodes: args().nodes.map((n) => ({ ...n, ssh: {} })) }))).toThrow(
            /nodes\[0\]\.ssh: missing — give privateKey or password for cp-1/,
        );
        // layout is a LayoutPreset (the schema has no one-value enum): the others are refused at plan time.
        expect(() => new StackedToExternalMigration("e", args({ layout: "rke" }))).toThrow(
            /^layout: "rke" — use "kubeadm": only kubeadm runs etcd stacked/,
        );
        await registrationsSettled();
        expect(dynamic()).toEqual([]);
    });

    test("an error never prints the client key", () => {
        let message = "";
        try {
            new StackedToExternalMigration("e", snapshotArgs({ externalClient: { caCertPem: "CA", certPem: "C", keyPem: CLIENT_KEY } }));
        } catch (error) {
            message = (error as Error).message;
        }
        expect(message).toContain("externalClient");
        expect(message).not.toContain("client-key-body");
    });
});

describe("RemoteFile provider", () => {
    const olds: RemoteFileOutputs = {
        host: "10.0.0.11",
        port: 22,
        user: "root",
        path: "/root/s/k.key",
        mode: 0o600,
        content: "KEY",
        connection: { host: "10.0.0.11", privateKey: "k1" },
    };
    const news = (overrides: object) => ({
        connection: { host: "10.0.0.11", privateKey: "k1" },
        path: "/root/s/k.key",
        content: "KEY",
        mode: 0o600,
        ...overrides,
    });

    test("the write command names the path and mode, never the content, and renames into place", () => {
        expect(writeFileCommand("/root/s/k.key", 0o600)).toBe(
            "sh -euc 'umask 077; mkdir -p /root/s; cat > /root/s/k.key.etcd-recovery-upload; chmod 0600 /root/s/k.key.etcd-recovery-upload; mv -f /root/s/k.key.etcd-recovery-upload /root/s/k.key'",
        );
    });

    test("check refuses paths that would need quoting, relative paths and bad modes", async () => {
        for (const path of ["/root/a b", "root/k", "/root/../k", "/root/k'", "/root/dir/"]) {
            const result = await remoteFileProvider.check!({}, news({ path }));
            expect(result.failures?.map((f) => f.property)).toEqual(["path"]);
        }
        expect((await remoteFileProvider.check!({}, news({ mode: 0o1777 }))).failures?.map((f) => f.property)).toEqual(["mode"]);
        expect((await remoteFileProvider.check!({}, news({}))).failures).toEqual([]);
        // The same connection check as RemoteCommand (ssh-target.ts).
        expect((await remoteFileProvider.check!({}, news({ connection: { host: "" } }))).failures?.map((f) => f.property)).toEqual([
            "connection",
        ]);
    });

    test("diff: same content and target is no change, even with rotated credentials; new content rewrites in place; a new path or host replaces", async () => {
        const diff = (n: object) => remoteFileProvider.diff!("id", olds, news(n));
        expect(await diff({ connection: { host: "10.0.0.11", privateKey: "rotated" } })).toEqual({
            changes: false,
            replaces: [],
            deleteBeforeReplace: false,
        });
        expect(await diff({ content: "NEW" })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
        expect(await diff({ mode: 0o644 })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
        expect((await diff({ path: "/root/s/other.key" })).replaces).toEqual(["path"]);
        expect((await diff({ connection: { host: "10.0.0.12" } })).replaces).toEqual(["connection"]);
    });
});

// examples/recovery/index.ts (the program the root Pulumi.yaml is meant to
// become) under Pulumi mocks, with stack configuration as `pulumi config set`
// writes it; and loadOriginalCluster, which reads the configured files.
import * as fs from "fs";
import { writeFakeSnapshot } from "../support/fake-snapshot";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

const PROJECT = "etcd-recovery-environment";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "recovery-example-"));
const snapshotPath = path.join(dir, "snapshot.db");
writeFakeSnapshot(snapshotPath, 2, 1);
const FIXTURES = path.join(__dirname, "..", "fixtures", "recovery");

const types: string[] = [];
pulumi.runtime.setMocks(
    {
        newResource(args) {
            types.push(`${args.type}::${args.name}`);
            const state: Record<string, unknown> = { ...args.inputs };
            if (args.type.startsWith("pulumi-nodejs:dynamic"))
                Object.assign(state, { certPem: "CERT", keyPem: "KEY", notAfter: "2099-01-01T00:00:00Z" });
            if (args.type === "docker:index/container:Container" && args.inputs.logs) state.containerLogs = '{"revision":77}';
            if (args.type === "docker:index/container:Container" && args.inputs.attach) state.exitCode = 0;
            return { id: `${args.name}-id`, state };
        },
        call: (args) => args.inputs,
    },
    PROJECT,
    "incident-7",
    false,
);
pulumi.runtime.setAllConfig({
    [`${PROJECT}:snapshotPath`]: snapshotPath,
    [`${PROJECT}:sourceKind`]: "docker-inspect",
    [`${PROJECT}:sourceFiles`]: JSON.stringify([
        path.join(FIXTURES, "rke-k8s01-docker-inspect.json"),
        path.join(FIXTURES, "rke-k8s02-etcd-docker-inspect.json"),
    ]),
    [`${PROJECT}:kubeApiserverImage`]: "etcd-recovery/kube-apiserver:v1.34.4",
    [`${PROJECT}:exportDirectory`]: path.join(dir, "exported"),
    [`${PROJECT}:exportSelections`]: JSON.stringify([{ kind: "configmaps", namespace: "shop", name: "app-config" }]),
});

import { loadOriginalCluster } from "../../src/recovery";

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const value = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));

test("the example program builds one RecoveryEnvironment (with exportOnUp) from stack config, named after the stack", async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../../examples/recovery/index");
    expect(await value(program.environmentName)).toBe("incident-7-recovery");
    expect(await value(program.snapshotRevision)).toBe(77);
    expect(await value(program.apiUrl)).toMatch(/^https:\/\/172\.30\.\d+\.20:6443$/);
    expect(await pulumi.isSecret(program.kubeconfig)).toBe(true);
    // Registration is asynchronous: wait (bounded) for the last resource, the export after the kube-apiserver.
    const last = "pulumi-nodejs:dynamic/etcd-recovery:RecoveryExport::recovery-export";
    for (const deadline = Date.now() + 20_000; !types.includes(last) && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    expect(types).toContain("etcd-recovery:index:RecoveryEnvironment::recovery");
    expect(types).toContain("docker:index/container:Container::incident-7-recovery-kube-apiserver");
    expect(types).toContain("command:local:Command::recovery-host-guard");
    expect(types).toContain(last);
});

describe("loadOriginalCluster", () => {
    test("each importer by kind", () => {
        expect(loadOriginalCluster({ kind: "rke", files: [path.join(FIXTURES, "rke-cluster.rkestate")] }).etcd.members).toHaveLength(2);
        const kubeadm = loadOriginalCluster({
            kind: "kubeadm",
            files: [path.join(FIXTURES, "seed004-etcd.yaml"), path.join(FIXTURES, "seed004-kube-apiserver.yaml")],
        });
        expect(kubeadm.sources).toEqual(["seed004-etcd.yaml", "seed004-kube-apiserver.yaml"]);
        const description = path.join(dir, "original.json");
        fs.writeFileSync(
            description,
            JSON.stringify({ etcd: { members: [{ name: "a", peerUrls: ["https://10.1.0.1:2380"] }] }, kubeApiserver: { args: [] } }),
        );
        const encryption = path.join(dir, "enc.yaml");
        fs.writeFileSync(encryption, "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: []\n");
        expect(
            loadOriginalCluster({ kind: "description", files: [description], encryptionConfigFile: encryption }).encryption,
        ).toMatchObject({ content: expect.stringContaining("EncryptionConfiguration") });
    });

    test("bad kinds and unreadable files name the config key", () => {
        expect(() => loadOriginalCluster({ kind: "ansible" as any, files: ["x"] })).toThrow(
            /sourceKind: "ansible" — use one of docker-inspect, kubeadm, rke, description/,
        );
        expect(() => loadOriginalCluster({ kind: "rke", files: [] })).toThrow(/sourceFiles: \[\] — list the files/);
        expect(() => loadOriginalCluster({ kind: "rke", files: [path.join(dir, "nope")] })).toThrow(
            /sourceFiles\[0\]: ".*nope" — cannot read it/,
        );
        expect(() => loadOriginalCluster({ kind: "kubeadm", files: [path.join(FIXTURES, "seed004-etcd.yaml")] })).toThrow(
            /give etcd\.yaml and kube-apiserver\.yaml/,
        );
    });
});

// Importers of the original cluster against the seeds' own files: seed 000's
// `docker inspect | jq .[].Args` lists (RKE) and seed 004's kubeadm manifests.
import * as fs from "fs";
import * as path from "path";
import { InputError } from "../../src/errors";
import {
    fromDescription,
    fromDockerInspect,
    fromDockerInspectFiles,
    fromKubeadmManifests,
    parseFlags,
    validateOriginalCluster,
    versionFromImage,
    withEncryptionConfig,
} from "../../src/recovery";

const FIXTURES = path.join(__dirname, "..", "fixtures", "recovery");
const read = (name: string) => fs.readFileSync(path.join(FIXTURES, name), "utf8");
const inspectFile = (name: string) => ({ json: read(name), fileName: name });
const manifest = (name: string) => ({ yaml: read(name), fileName: name });

function thrown(action: () => unknown): InputError {
    try {
        action();
    } catch (error) {
        expect(error).toBeInstanceOf(InputError);
        return error as InputError;
    }
    throw new Error("expected an InputError");
}

describe("fromDockerInspect: seed 000 (RKE)", () => {
    test("the bare argument lists of etcd and kube-apiserver give the members, the prefix and the API groups", () => {
        const cluster = fromDockerInspectFiles([inspectFile("seed000-etcd-args.json"), inspectFile("seed000-kube-apiserver-args.json")]);
        expect(cluster.sources).toEqual(["seed000-etcd-args.json", "seed000-kube-apiserver-args.json"]);
        expect(cluster.etcd.members).toEqual([
            {
                name: "etcd-k8s01",
                peerUrls: ["https://10.40.0.11:2380"],
                clientUrls: ["https://10.40.0.11:2379", "https://10.40.0.11:4001"],
            },
            // Not inspected: its client URL comes from kube-apiserver's --etcd-servers, matched by host.
            { name: "etcd-k8s02", peerUrls: ["https://10.40.0.12:2380"], clientUrls: ["https://10.40.0.12:2379"] },
        ]);
        expect(cluster.etcdPrefix).toBe("/registry");
        expect(cluster.runtimeConfig).toBe("authorization.k8s.io/v1beta1=true");
        expect(cluster.serviceClusterIpRange).toBe("10.233.0.0/18");
        expect(cluster.encryption).toBeUndefined();
        expect(cluster.storageMediaType).toBeUndefined();
        // Verbatim, without the binary name RKE puts first.
        expect(cluster.kubeApiserver.args[0]).toBe("--insecure-port=0");
        expect(cluster.kubeApiserver.args).toHaveLength(38);
        expect(cluster.etcd.version).toBeUndefined();
    });

    test("full docker inspect output of both nodes adds images, versions and the second member's own URLs", () => {
        const cluster = fromDockerInspectFiles([
            inspectFile("rke-k8s01-docker-inspect.json"),
            inspectFile("rke-k8s02-etcd-docker-inspect.json"),
        ]);
        expect(cluster.etcd).toMatchObject({ image: "rancher/coreos-etcd:v3.3.10-rancher1", version: "3.3.10" });
        expect(cluster.kubeApiserver).toMatchObject({ image: "rancher/hyperkube:v1.15.3-rancher1", version: "1.15.3" });
        expect(cluster.etcd.members[1]).toEqual({
            name: "etcd-k8s02",
            peerUrls: ["https://10.40.0.12:2380"],
            clientUrls: ["https://10.40.0.12:2379", "https://10.40.0.12:4001"],
        });
    });

    test("one file with both containers works alone", () => {
        expect(
            fromDockerInspect(read("rke-k8s01-docker-inspect.json"), "rke-k8s01-docker-inspect.json").etcd.members.map((m) => m.name),
        ).toEqual(["etcd-k8s01", "etcd-k8s02"]);
    });

    test("data-shaping flags are read from any form", () => {
        const api = JSON.stringify([
            "kube-apiserver",
            "--etcd-servers=https://10.0.0.1:2379",
            "--etcd-prefix=/k8s",
            "--storage-media-type=application/json",
            "--encryption-provider-config",
            "/etc/kubernetes/enc.yaml",
            "--feature-gates=A=true",
            "--feature-gates=B=false",
        ]);
        const etcd = JSON.stringify([
            "--name=m1",
            "--initial-advertise-peer-urls=https://10.0.0.1:2380",
            "--initial-cluster=m1=https://10.0.0.1:2380",
        ]);
        const cluster = fromDockerInspectFiles([
            { json: etcd, fileName: "etcd.json" },
            { json: api, fileName: "api.json" },
        ]);
        expect(cluster).toMatchObject({
            etcdPrefix: "/k8s",
            storageMediaType: "application/json",
            encryption: { configPath: "/etc/kubernetes/enc.yaml" },
            featureGates: "A=true,B=false",
        });
        expect(cluster.etcd.members).toEqual([{ name: "m1", peerUrls: ["https://10.0.0.1:2380"], clientUrls: ["https://10.0.0.1:2379"] }]);
    });
});

describe("fromDockerInspect: broken and contradictory input names the file and field", () => {
    const etcdArgs = JSON.parse(read("seed000-etcd-args.json")) as string[];
    const apiFile = inspectFile("seed000-kube-apiserver-args.json");

    test("not JSON", () => {
        expect(thrown(() => fromDockerInspect("{oops", "inspect.json")).message).toMatch(
            /^inspect\.json: \(document\): .*give the output of docker inspect/,
        );
    });

    test("a container that is neither etcd nor kube-apiserver", () => {
        const json = JSON.stringify([{ Name: "/kubelet", Path: "/usr/local/bin/kubelet", Args: ["--v=2"], Config: {} }]);
        expect(thrown(() => fromDockerInspect(json, "kubelet.json")).message).toMatch(
            /^kubelet\.json: \[0\]\.Args: "\/kubelet" — this container is neither etcd nor kube-apiserver/,
        );
    });

    test("kube-apiserver missing", () => {
        expect(thrown(() => fromDockerInspect(read("seed000-etcd-args.json"), "seed000-etcd-args.json")).message).toMatch(
            /kube-apiserver: "missing".*give the kube-apiserver container's arguments too/,
        );
    });

    test("an etcd member whose own URL contradicts its --initial-cluster", () => {
        const broken = etcdArgs.map((a) =>
            a.startsWith("--initial-advertise-peer-urls=") ? "--initial-advertise-peer-urls=https://10.40.0.99:2380" : a,
        );
        const error = thrown(() => fromDockerInspectFiles([{ json: JSON.stringify(broken), fileName: "etcd.json" }, apiFile]));
        expect(error.argument).toBe("etcd.json: (argument list) --initial-advertise-peer-urls");
        expect(error.message).toMatch(
            /--initial-cluster lists etcd-k8s01 at https:\/\/10\.40\.0\.11:2380; the arguments contradict each other/,
        );
    });

    test("two members that disagree on the cluster", () => {
        const other = etcdArgs.map((a) =>
            a.startsWith("--initial-cluster=")
                ? "--initial-cluster=etcd-k8s01=https://10.40.0.11:2380,etcd-k8s03=https://10.40.0.13:2380"
                : a.replace("etcd-k8s01", "etcd-k8s03"),
        );
        const fixed = other.map((a) =>
            a.replace("--initial-advertise-peer-urls=https://10.40.0.11:2380", "--initial-advertise-peer-urls=https://10.40.0.13:2380"),
        );
        const error = thrown(() =>
            fromDockerInspectFiles([
                inspectFile("seed000-etcd-args.json"),
                { json: JSON.stringify(fixed), fileName: "k8s03.json" },
                apiFile,
            ]),
        );
        expect(error.argument).toBe("k8s03.json: (argument list) --initial-cluster");
        expect(error.message).toMatch(/seed000-etcd-args\.json lists other members/);
    });

    test("a data-shaping flag given twice with different values", () => {
        const api = JSON.stringify([
            "kube-apiserver",
            "--etcd-servers=https://10.40.0.11:2379",
            "--etcd-prefix=/registry",
            "--etcd-prefix=/other",
        ]);
        const error = thrown(() => fromDockerInspectFiles([inspectFile("seed000-etcd-args.json"), { json: api, fileName: "api.json" }]));
        expect(error.argument).toBe("api.json: (argument list) --etcd-prefix");
    });

    test("two kube-apiservers that store data differently", () => {
        const api2 = JSON.stringify([
            "kube-apiserver",
            "--etcd-servers=https://10.40.0.12:2379",
            "--etcd-prefix=/registry",
            "--storage-media-type=application/json",
        ]);
        const error = thrown(() =>
            fromDockerInspectFiles([inspectFile("seed000-etcd-args.json"), apiFile, { json: api2, fileName: "api-k8s02.json" }]),
        );
        expect(error.argument).toBe("api-k8s02.json: (argument list) --storage-media-type");
        expect(error.message).toMatch(/must agree on it/);
    });

    test("etcd2 storage cannot be recovered", () => {
        const api = JSON.stringify(["kube-apiserver", "--etcd-servers=https://10.40.0.11:2379", "--storage-backend=etcd2"]);
        expect(
            thrown(() => fromDockerInspectFiles([inspectFile("seed000-etcd-args.json"), { json: api, fileName: "api.json" }])).message,
        ).toMatch(/--storage-backend: "etcd2" — only etcd3/);
    });

    test("an unknown storage media type", () => {
        const api = JSON.stringify(["kube-apiserver", "--etcd-servers=https://10.40.0.11:2379", "--storage-media-type=application/xml"]);
        expect(
            thrown(() => fromDockerInspectFiles([inspectFile("seed000-etcd-args.json"), { json: api, fileName: "api.json" }])).argument,
        ).toBe("api.json: (argument list) --storage-media-type");
    });
});

describe("fromKubeadmManifests: seed 004", () => {
    test("the static pod manifests give members, versions and the service range", () => {
        const cluster = fromKubeadmManifests(manifest("seed004-etcd.yaml"), manifest("seed004-kube-apiserver.yaml"));
        expect(cluster.etcd.members).toEqual([
            { name: "kubernetes-master01", peerUrls: ["https://32.16.5.21:2380"], clientUrls: [] },
            { name: "kubernetes-master02", peerUrls: ["https://32.16.5.22:2380"], clientUrls: ["https://32.16.5.22:2379"] },
        ]);
        expect(cluster.etcd.version).toBe("3.5.1");
        expect(cluster.kubeApiserver.version).toBeUndefined(); // seed 004 prints no image line
        expect(cluster.etcdPrefix).toBe("/registry");
        expect(cluster.serviceClusterIpRange).toBe("10.96.0.0/12");
        expect(cluster.kubeApiserver.args).toContain("--service-account-issuer=https://kubernetes.default.svc.cluster.local");
    });

    test("the manifests swapped", () => {
        const error = thrown(() => fromKubeadmManifests(manifest("seed004-kube-apiserver.yaml"), manifest("seed004-etcd.yaml")));
        expect(error.argument).toBe("seed004-kube-apiserver.yaml: metadata.labels.component");
        expect(error.message).toMatch(/expected the etcd manifest here/);
    });

    test("not a Pod", () => {
        expect(
            thrown(() =>
                fromKubeadmManifests({ yaml: "kind: Deployment\n", fileName: "etcd.yaml" }, manifest("seed004-kube-apiserver.yaml")),
            ).argument,
        ).toBe("etcd.yaml: kind");
    });

    test("broken YAML", () => {
        expect(
            thrown(() => fromKubeadmManifests({ yaml: "a: [1,\n", fileName: "etcd.yaml" }, manifest("seed004-kube-apiserver.yaml")))
                .argument,
        ).toBe("etcd.yaml: (document)");
    });
});

describe("hand-written descriptions", () => {
    const valid = {
        etcd: { members: [{ name: "m1", peerUrls: ["https://10.0.0.1:2380"], clientUrls: ["https://10.0.0.1:2379"] }] },
        kubeApiserver: { version: "1.30.2", args: [] },
    };

    test("defaults are filled in", () => {
        expect(fromDescription(JSON.stringify(valid), "cluster.json")).toEqual({
            sources: ["cluster.json"],
            etcd: valid.etcd,
            kubeApiserver: { version: "1.30.2", args: [] },
            etcdPrefix: "/registry",
        });
    });

    test.each([
        [{ ...valid, etcdPrefx: "/x" }, "cluster.json: etcdPrefx", /unknown field/],
        [{ ...valid, etcdPrefix: "registry" }, "cluster.json: etcdPrefix", /absolute key prefix/],
        [{ ...valid, etcd: { members: [] } }, "cluster.json: etcd.members", /at least one etcd member/],
        [
            { ...valid, etcd: { members: [{ name: "m1", peerUrls: ["10.0.0.1:2380"] }] } },
            "cluster.json: etcd.members[0].peerUrls[0]",
            /give a URL/,
        ],
        [
            {
                ...valid,
                etcd: {
                    members: [
                        { name: "m1", peerUrls: ["https://a:2380"] },
                        { name: "m1", peerUrls: ["https://b:2380"] },
                    ],
                },
            },
            "cluster.json: etcd.members[1].name",
            /unique/,
        ],
        [{ ...valid, encryption: { configPath: "enc.yaml" } }, "cluster.json: encryption.configPath", /absolute path/],
        [
            { ...valid, encryption: { configPath: "/enc.yaml", content: "hello" } },
            "cluster.json: encryption.content",
            /EncryptionConfiguration/,
        ],
        [{ ...valid, featureGates: "A=true, B=false" }, "cluster.json: featureGates", /without spaces/],
        [{ ...valid, kubeApiserver: { version: "latest" } }, "cluster.json: kubeApiserver.version", /1\.34\.4/],
    ])("%j is refused at %s", (input, argument, fix) => {
        const error = thrown(() => validateOriginalCluster(input, "cluster.json"));
        expect(error.argument).toBe(argument);
        expect(error.message).toMatch(fix);
    });

    test("the encryption config's content is never echoed in an error", () => {
        const error = thrown(() =>
            validateOriginalCluster({ ...valid, encryption: { configPath: "/e.yaml", content: "secret: c2VjcmV0" } }, "cluster.json"),
        );
        expect(error.message).not.toContain("c2VjcmV0");
    });

    test("withEncryptionConfig attaches the file", () => {
        const cluster = fromDescription(JSON.stringify({ ...valid, encryption: { configPath: "/etc/k/enc.yaml" } }), "cluster.json");
        const content = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: []\n";
        expect(withEncryptionConfig(cluster, content, "enc.yaml").encryption).toEqual({ configPath: "/etc/k/enc.yaml", content });
    });
});

describe("helpers", () => {
    test.each([
        ["rancher/coreos-etcd:v3.3.10-rancher1", "3.3.10"],
        ["registry.k8s.io/etcd:3.5.1-0", "3.5.1"],
        ["localhost:5000/kube-apiserver:v1.34.4", "1.34.4"],
        ["localhost:5000/kube-apiserver", undefined],
        ["quay.io/coreos/etcd:latest", undefined],
    ])("versionFromImage(%s) = %s", (image, version) => {
        expect(versionFromImage(image)).toBe(version);
    });

    test("parseFlags reads =, separate-value and boolean forms", () => {
        const flags = parseFlags({ file: "f", field: "args", args: ["etcd", "--a=1", "--b", "2", "--c", "--d="] });
        expect([...flags.entries()]).toEqual([
            ["a", "1"],
            ["b", "2"],
            ["c", "true"],
            ["d", ""],
        ]);
    });
});

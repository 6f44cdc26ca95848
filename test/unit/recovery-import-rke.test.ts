// The RKE importer (seed 002): cluster.rkestate and Rancher's cluster.spec,
// checked against the docker inspect import of the same cluster (seed 000).
import * as fs from "fs";
import * as path from "path";
import { fromDockerInspectFiles, fromRkeState, rkeCertificateBundle, RKE_ENCRYPTION_CONFIG_PATH } from "../../src/recovery";

const FIXTURES = path.join(__dirname, "..", "fixtures", "recovery");
const FILE = "cluster.rkestate";
const stateText = fs.readFileSync(path.join(FIXTURES, "rke-cluster.rkestate"), "utf8");
const state = () => JSON.parse(stateText);
const ENCRYPTION =
    "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: key1, secret: c2VjcmV0}]}\n  - identity: {}\n";

describe("fromRkeState", () => {
    test("members, versions and data-shaping arguments as RKE runs them; the same as seed 000's docker inspect import", () => {
        const cluster = fromRkeState(stateText, FILE);
        expect(cluster.sources).toEqual([FILE]);
        expect(cluster.etcd).toEqual({
            version: "3.3.10",
            image: "rancher/coreos-etcd:v3.3.10-rancher1",
            members: [
                {
                    name: "etcd-k8s01",
                    peerUrls: ["https://10.40.0.11:2380"],
                    clientUrls: ["https://10.40.0.11:2379", "https://10.40.0.11:4001"],
                },
                {
                    name: "etcd-k8s02",
                    peerUrls: ["https://10.40.0.12:2380"],
                    clientUrls: ["https://10.40.0.12:2379", "https://10.40.0.12:4001"],
                },
            ],
        });
        expect(cluster.kubeApiserver.version).toBe("1.15.3");
        expect(cluster.kubeApiserver.args).toEqual(
            expect.arrayContaining([
                "--etcd-servers=https://10.40.0.11:2379,https://10.40.0.12:2379",
                "--etcd-prefix=/registry",
                "--runtime-config=authorization.k8s.io/v1beta1=true",
            ]),
        );
        expect(cluster.encryption).toBeUndefined();

        const inspected = fromDockerInspectFiles(
            ["rke-k8s01-docker-inspect.json", "rke-k8s02-etcd-docker-inspect.json"].map((f) => ({
                json: fs.readFileSync(path.join(FIXTURES, f), "utf8"),
                fileName: f,
            })),
        );
        const shape = (c: typeof cluster) => ({
            etcd: c.etcd,
            etcdPrefix: c.etcdPrefix,
            runtimeConfig: c.runtimeConfig,
            serviceClusterIpRange: c.serviceClusterIpRange,
            apiVersion: c.kubeApiserver.version,
            storageMediaType: c.storageMediaType,
        });
        expect(shape(cluster)).toEqual(shape(inspected));
    });

    test("Rancher's cluster.spec (metadata.fullState as a string) gives the same description", () => {
        const spec = JSON.stringify({ metadata: { name: "c-h7j5n", fullState: stateText } });
        const cluster = fromRkeState(spec, "cluster.spec");
        expect({ ...cluster, sources: [] }).toEqual({ ...fromRkeState(stateText, FILE), sources: [] });
        expect(cluster.sources).toEqual(["cluster.spec (metadata.fullState)"]);
    });

    test("secrets encryption: the config path RKE uses, and its content taken from the state", () => {
        const s = state();
        s.currentState.rkeConfig.services.kubeApi.secretsEncryptionConfig = { enabled: true };
        s.currentState.encryptionConfig = ENCRYPTION;
        expect(fromRkeState(JSON.stringify(s), FILE).encryption).toEqual({ configPath: RKE_ENCRYPTION_CONFIG_PATH, content: ENCRYPTION });
        delete s.currentState.encryptionConfig;
        // Enabled but not in the state: the path is known, the content must come from the user (the plan asks for it).
        expect(fromRkeState(JSON.stringify(s), FILE).encryption).toEqual({ configPath: RKE_ENCRYPTION_CONFIG_PATH });
    });

    test("members named by address without a hostname override; internal addresses for URLs; extra_args win", () => {
        const s = state();
        const nodes = s.currentState.rkeConfig.nodes;
        nodes[0] = { address: "13.58.167.183", internalAddress: "172.31.6.11", role: ["etcd"] };
        nodes.splice(1, 1);
        s.currentState.rkeConfig.services.kubeApi.extraArgs = { "etcd-prefix": "/k8s", "storage-media-type": "application/json" };
        delete s.currentState.rkeConfig.services.etcd.path;
        const cluster = fromRkeState(JSON.stringify(s), FILE);
        expect(cluster.etcd.members).toEqual([
            {
                name: "etcd-13.58.167.183",
                peerUrls: ["https://172.31.6.11:2380"],
                clientUrls: ["https://172.31.6.11:2379", "https://172.31.6.11:4001"],
            },
        ]);
        expect(cluster.etcdPrefix).toBe("/k8s");
        expect(cluster.storageMediaType).toBe("application/json");
    });

    test.each<[string, (s: any) => unknown, RegExp]>([
        [
            "not JSON",
            () => "{",
            /^cluster\.rkestate: \(document\): "\(not JSON\)" — give cluster\.rkestate or Rancher's cluster\.spec as JSON/,
        ],
        [
            "no currentState",
            (s) => ({ desiredState: s.desiredState }),
            /cluster\.rkestate: currentState: missing — give cluster\.rkestate \(with currentState\)/,
        ],
        [
            "never brought up",
            (s) => ({ currentState: {}, desiredState: s.desiredState }),
            /currentState\.rkeConfig: missing — the state has no current rkeConfig; was `rke up` ever completed/,
        ],
        [
            "no etcd node",
            (s) => (s.currentState.rkeConfig.nodes.forEach((n: any) => (n.role = ["worker"])), s),
            /nodes\[\*\]\.role: "no etcd role" — no node has the etcd role/,
        ],
        [
            "an etcd node without address",
            (s) => (delete s.currentState.rkeConfig.nodes[1].address, s),
            /currentState\.rkeConfig\.nodes\[1\]\.address: missing — an etcd node needs its address/,
        ],
        [
            "roles not a list",
            (s) => ((s.currentState.rkeConfig.nodes[0].role = "etcd"), s),
            /nodes\[0\]\.role: "etcd" — give the node's roles/,
        ],
        [
            "extra_args not strings",
            (s) => ((s.currentState.rkeConfig.services.kubeApi.extraArgs = { "etcd-prefix": 5 }), s),
            /services\.kubeApi\.extraArgs\.etcd-prefix: 5 — extra_args values are strings/,
        ],
        [
            "a contradicting extra_arg",
            (s) => ((s.currentState.rkeConfig.services.kubeApi.extraArgs = { "etcd-prefix": "registry" }), s),
            /--etcd-prefix: "registry" — kube-apiserver's etcd prefix is an absolute key prefix/,
        ],
        [
            "cluster.spec with a non-string fullState",
            () => ({ metadata: { fullState: { currentState: {} } } }),
            /metadata\.fullState: .* — cluster\.spec holds the RKE state as a JSON string/,
        ],
    ])("%s is refused, naming the file and field", (_what, damage, message) => {
        const damaged = damage(state());
        expect(() => fromRkeState(typeof damaged === "string" ? damaged : JSON.stringify(damaged), FILE)).toThrow(message);
    });
});

describe("rkeCertificateBundle", () => {
    test("names, paths and PEMs of the bundle (keys included, for the caller to keep secret)", () => {
        const bundle = rkeCertificateBundle(stateText, FILE);
        expect(bundle.map((c) => c.name)).toEqual(
            expect.arrayContaining(["kube-ca", "kube-etcd-10-40-0-11", "kube-etcd-10-40-0-12", "kube-service-account-token"]),
        );
        const ca = bundle.find((c) => c.name === "kube-ca")!;
        expect(ca).toMatchObject({
            commonName: "system:kube-ca",
            path: "/etc/kubernetes/ssl/kube-ca.pem",
            keyPath: "/etc/kubernetes/ssl/kube-ca-key.pem",
        });
        expect(ca.certPem).toContain("BEGIN CERTIFICATE");
        expect(ca.keyPem).toContain("PRIVATE KEY");
    });

    test("an entry without a certificate is refused", () => {
        const s = state();
        s.currentState.certificatesBundle["kube-ca"].certificatePEM = "";
        expect(() => rkeCertificateBundle(JSON.stringify(s), FILE)).toThrow(
            /currentState\.certificatesBundle\.kube-ca\.certificatePEM: "\(not a PEM certificate\)"/,
        );
    });
});

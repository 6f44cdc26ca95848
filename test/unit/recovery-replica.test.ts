// Mode "replica": the plan (members with their original names, IPs, URLs and
// certificates on the original subnet), the checks of the original PKI, the
// kubeadm/RKE importers of it, and what only the Docker host can refuse.
import * as fs from "fs";
import { registrationsSettled } from "../support/mock-registrations";
import { writeFakeSnapshot } from "../support/fake-snapshot";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { SECRET_SIG, installRecordingMocks } from "../support/recording-mocks";

// The component under Pulumi mocks (before the component's modules load).
const registered = installRecordingMocks("etcd-recovery", "incident-7");
import { InputError } from "../../src/errors";
import { genCert, initCa } from "../../src/pki/cfssl";
import { CfsslConfig } from "../../src/pki/cfssl-types";
import { issueEtcdPki } from "../../src/pki/etcd-pki-issue";
import { kubeadmLayout, planEtcdPki } from "../../src/pki/etcd-pki-plan";
import {
    OriginalCluster,
    RecoveryEnvironment,
    fromDockerInspectFiles,
    planRecoveryEnvironment,
    validateOriginalCluster,
    verifySnapshotFileSync,
} from "../../src/recovery";
import { replicaCertificatesFromKubeadm, replicaCertificatesFromRkeBundle } from "../../src/recovery/import/replica-certificates";
import { RkeCertificate } from "../../src/recovery/import/rke";
import {
    ReplicaCertificates,
    ReplicaFiles,
    deriveReplicaSubnet,
    planReplicaEnvironment,
    replicaAddresses,
    replicaMembers,
    replicaSubnetConflicts,
    validateReplicaCertificates,
} from "../../src/recovery/replica";

const FIXTURES = path.join(__dirname, "..", "fixtures", "recovery");
/** Seed 000: RKE, etcd-k8s01 (10.40.0.11) and etcd-k8s02 (10.40.0.12), client URLs on :2379 and :4001. */
const seed000 = fromDockerInspectFiles(
    ["rke-k8s01-docker-inspect.json", "rke-k8s02-etcd-docker-inspect.json"].map((f) => ({
        json: fs.readFileSync(path.join(FIXTURES, f), "utf8"),
        fileName: f,
    })),
);

function describe3(members: { name: string; ip: string }[], extra: Record<string, unknown> = {}): OriginalCluster {
    return validateOriginalCluster(
        {
            etcd: {
                members: members.map((m) => ({ name: m.name, peerUrls: [`https://${m.ip}:2380`], clientUrls: [`https://${m.ip}:2379`] })),
            },
            kubeApiserver: { version: "1.34.4", args: [] },
            ...extra,
        },
        "test description",
    );
}

/** Placeholder PEMs: the plan only places them; the content checks are validateReplicaCertificates'. */
function fakeFiles(original: OriginalCluster): ReplicaFiles<string> {
    const members = Object.fromEntries(
        original.etcd.members.map((m) => [
            m.name,
            {
                server: { certPem: `${m.name}-server-cert`, keyPem: `${m.name}-server-KEY` },
                peer: { certPem: `${m.name}-peer-cert`, keyPem: `${m.name}-peer-KEY` },
            },
        ]),
    );
    return {
        etcd: { caCertPem: "etcd-ca-cert", members, client: { certPem: "client-cert", keyPem: "client-KEY" } },
        kubeCaCertPem: "kube-ca",
        apiserverServing: { certPem: "serving-cert", keyPem: "serving-KEY" },
        serviceAccount: { publicKeyPem: "sa-pub", privateKeyPem: "sa-KEY" },
    };
}

const base = {
    name: "incident-7",
    snapshotPath: "/backups/snap.db",
    snapshotSha256: "ab".repeat(32),
    etcdImage: "registry.k8s.io/etcd:3.5.21-0",
};
const flag = (args: string[], name: string) => args.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));

describe("planReplicaEnvironment on seed 000 (RKE, two members)", () => {
    const env = planReplicaEnvironment({ ...base, original: seed000, initialClusterToken: "etcd-cluster-1" }, fakeFiles(seed000));
    const byName = new Map(env.plan.containers.map((c) => [c.name, c]));

    test("the original subnet, derived from the members, internal; apiserver and gateway on free addresses", () => {
        expect(env.plan.networks).toEqual([
            {
                name: "incident-7-net",
                subnet: "10.40.0.0/24",
                gateway: "10.40.0.1",
                internal: true,
                labels: { "etcd-recovery.environment": "incident-7" },
            },
        ]);
        expect(env.addresses).toEqual({
            subnet: "10.40.0.0/24",
            etcdIp: "10.40.0.11",
            apiserverIp: "10.40.0.254",
            apiUrl: "https://10.40.0.254:6443",
        });
        for (const c of env.plan.containers) expect(c.ports ?? []).toEqual([]);
    });

    test("check beside the restores → members (after their restore and the check) → kube-apiserver, each restore in exec form with the member's own identity", () => {
        expect(env.plan.containers.map((c) => [c.name, c.runToCompletion ?? false, c.after ?? []])).toEqual([
            ["incident-7-snapshot-check-abababababab", true, []],
            ["incident-7-etcd-k8s01-restore-abababababab", true, []],
            ["incident-7-etcd-k8s01", false, ["incident-7-etcd-k8s01-restore-abababababab", "incident-7-snapshot-check-abababababab"]],
            ["incident-7-etcd-k8s02-restore-abababababab", true, []],
            ["incident-7-etcd-k8s02", false, ["incident-7-etcd-k8s02-restore-abababababab", "incident-7-snapshot-check-abababababab"]],
            ["incident-7-kube-apiserver", false, ["incident-7-etcd-k8s01", "incident-7-etcd-k8s02"]],
        ]);
        // The members' restores and volumes are bound to the snapshot by name (the members themselves are not).
        expect(env.members.map((m) => [m.container, m.restoreContainer, m.volume])).toEqual([
            ["incident-7-etcd-k8s01", "incident-7-etcd-k8s01-restore-abababababab", "incident-7-etcd-k8s01-data-abababababab"],
            ["incident-7-etcd-k8s02", "incident-7-etcd-k8s02-restore-abababababab", "incident-7-etcd-k8s02-data-abababababab"],
        ]);
        expect(env.containerNames).toEqual({
            snapshotCheck: "incident-7-snapshot-check-abababababab",
            restore: "incident-7-etcd-k8s01-restore-abababababab",
            etcd: "incident-7-etcd-k8s01",
            kubeApiserver: "incident-7-kube-apiserver",
        });
        const restore = byName.get("incident-7-etcd-k8s02-restore-abababababab")!;
        // etcd 3.5: etcdutl; no shell anywhere.
        expect(restore.entrypoint).toEqual(["/usr/local/bin/etcdutl"]);
        expect(restore.command).toEqual([
            "snapshot",
            "restore",
            "/var/lib/etcd-seed/snapshot.db",
            "--name=etcd-k8s02",
            "--initial-cluster=etcd-k8s01=https://10.40.0.11:2380,etcd-k8s02=https://10.40.0.12:2380",
            "--initial-cluster-token=etcd-cluster-1",
            "--initial-advertise-peer-urls=https://10.40.0.12:2380",
            "--data-dir=/var/lib/etcd/data",
        ]);
        expect(restore.network).toEqual({ none: true });
        // Volumes carry the snapshot's short hash: a new snapshot is restored into fresh ones.
        expect(restore.mounts).toEqual([{ source: "incident-7-etcd-k8s02-data-abababababab", target: "/var/lib/etcd" }]);
        expect(env.plan.volumes.map((v) => v.name)).toEqual([
            "incident-7-etcd-k8s01-data-abababababab",
            "incident-7-etcd-k8s02-data-abababababab",
        ]);
        for (const container of env.plan.containers) expect(container.labels?.["etcd-recovery.snapshot-sha256"]).toBe("ab".repeat(32));
    });

    test("members run with their original name, address, URLs (4001 too, as RKE advertises) and TLS on both sides", () => {
        const member = byName.get("incident-7-etcd-k8s01")!;
        expect(member.network).toEqual({ name: "incident-7-net", ipv4Address: "10.40.0.11", aliases: ["etcd-k8s01"] });
        const args = member.command;
        expect(flag(args, "name")).toEqual(["etcd-k8s01"]);
        expect(flag(args, "initial-advertise-peer-urls")).toEqual(["https://10.40.0.11:2380"]);
        expect(flag(args, "advertise-client-urls")).toEqual(["https://10.40.0.11:2379,https://10.40.0.11:4001"]);
        expect(flag(args, "listen-client-urls")).toEqual(["https://0.0.0.0:2379,https://0.0.0.0:4001"]);
        expect(flag(args, "listen-peer-urls")).toEqual(["https://0.0.0.0:2380"]);
        expect(flag(args, "initial-cluster")).toEqual(["etcd-k8s01=https://10.40.0.11:2380,etcd-k8s02=https://10.40.0.12:2380"]);
        expect(flag(args, "initial-cluster-token")).toEqual(["etcd-cluster-1"]);
        expect(flag(args, "client-cert-auth")).toEqual(["true"]);
        expect(flag(args, "peer-client-cert-auth")).toEqual(["true"]);
        expect(flag(args, "data-dir")).toEqual(["/var/lib/etcd/data"]);
        // Health over the member's own address: the original certificate need not name 127.0.0.1.
        expect(member.healthCheck!.test.slice(0, 3)).toEqual(["CMD", "/usr/local/bin/etcdctl", "--endpoints=https://10.40.0.11:2379"]);
        expect(member.files.map((f) => [f.path, f.content])).toEqual([
            ["/etc/kubernetes/pki/etcd/ca.crt", "etcd-ca-cert"],
            ["/etc/kubernetes/pki/etcd/server.crt", "etcd-k8s01-server-cert"],
            ["/etc/kubernetes/pki/etcd/server.key", "etcd-k8s01-server-KEY"],
            ["/etc/kubernetes/pki/etcd/peer.crt", "etcd-k8s01-peer-cert"],
            ["/etc/kubernetes/pki/etcd/peer.key", "etcd-k8s01-peer-KEY"],
            ["/etc/kubernetes/pki/etcd/healthcheck-client.crt", "client-cert"],
            ["/etc/kubernetes/pki/etcd/healthcheck-client.key", "client-KEY"],
        ]);
    });

    test("kube-apiserver reads every member with the original client certificate, with fresh serving certificates", () => {
        const api = byName.get("incident-7-kube-apiserver")!;
        expect(api.network).toEqual({ name: "incident-7-net", ipv4Address: "10.40.0.254", aliases: ["kube-apiserver"] });
        expect(flag(env.kubeApiserverArgs, "etcd-servers")).toEqual(["https://10.40.0.11:2379,https://10.40.0.12:2379"]);
        expect(flag(env.kubeApiserverArgs, "etcd-prefix")).toEqual(["/registry"]);
        expect(flag(env.kubeApiserverArgs, "runtime-config")).toEqual(["authorization.k8s.io/v1beta1=true"]);
        expect(flag(env.kubeApiserverArgs, "advertise-address")).toEqual(["10.40.0.254"]);
        const content = (p: string) => api.files.find((f) => f.path === p)?.content;
        expect(content("/etc/kubernetes/recovery/etcd-ca.crt")).toBe("etcd-ca-cert");
        expect(content("/etc/kubernetes/recovery/apiserver-etcd-client.crt")).toBe("client-cert");
        expect(content("/etc/kubernetes/recovery/apiserver-etcd-client.key")).toBe("client-KEY");
        expect(content("/etc/kubernetes/recovery/apiserver.crt")).toBe("serving-cert");
    });

    test("every key is a 0600 secret file; nothing secret is on a command line or in the environment", () => {
        for (const c of env.plan.containers) {
            for (const f of c.files) {
                const isKey = typeof f.content === "string" && f.content.includes("KEY");
                expect({ file: `${c.name}:${f.path}`, mode: f.mode, secret: f.secret ?? false }).toEqual({
                    file: `${c.name}:${f.path}`,
                    mode: isKey || f.sourcePath ? 0o600 : 0o644,
                    secret: isKey,
                });
            }
            expect(JSON.stringify([c.entrypoint, c.command, c.env ?? {}, c.healthCheck ?? {}])).not.toMatch(/KEY|cert"/);
        }
    });
});

describe("replica addresses and members", () => {
    test("the subnet is the /24 of the members, or wider when they span more", () => {
        expect(deriveReplicaSubnet(["10.40.0.11", "10.40.0.12"])).toBe("10.40.0.0/24");
        expect(deriveReplicaSubnet(["10.40.0.11", "10.40.1.12"])).toBe("10.40.0.0/23");
        expect(deriveReplicaSubnet(["192.168.7.200"])).toBe("192.168.7.0/24");
    });

    test("a member on .1 moves the gateway to a free address; the original apiserver's address is left alone", () => {
        const original = describe3(
            [
                { name: "a", ip: "10.9.0.1" },
                { name: "b", ip: "10.9.0.2" },
                { name: "c", ip: "10.9.0.3" },
            ],
            { kubeApiserver: { args: ["--advertise-address=10.9.0.254"] } },
        );
        const members = replicaMembers("x", original);
        expect(replicaAddresses(members, original)).toMatchObject({
            subnet: "10.9.0.0/24",
            gateway: "10.9.0.253",
            apiserverIp: "10.9.0.252",
        });
        const gatewayLeft = replicaAddresses(
            members,
            describe3([
                { name: "a", ip: "10.9.0.1" },
                { name: "b", ip: "10.9.0.2" },
                { name: "c", ip: "10.9.0.3" },
            ]),
        );
        expect(gatewayLeft).toMatchObject({ gateway: "10.9.0.254", apiserverIp: "10.9.0.253" });
    });

    test("a given subnet must hold every member; a given apiserver address must be free", () => {
        const original = describe3([
            { name: "a", ip: "10.9.0.11" },
            { name: "b", ip: "10.9.0.12" },
            { name: "c", ip: "10.9.1.13" },
        ]);
        const members = replicaMembers("x", original);
        expect(() => replicaAddresses(members, original, { subnet: "10.9.0.0/24" })).toThrow(
            /subnet: "10\.9\.0\.0\/24" — member c's address 10\.9\.1\.13 is not a host address of it/,
        );
        expect(replicaAddresses(members, original).subnet).toBe("10.9.0.0/23");
        expect(() => replicaAddresses(members, original, { apiserverIp: "10.9.0.12" })).toThrow(
            /apiserverIp: "10\.9\.0\.12" — it is an etcd member's address/,
        );
        expect(() => replicaAddresses(members, original, { apiserverIp: "10.8.0.5" })).toThrow(
            /apiserverIp: "10\.8\.0\.5" — give a host address inside 10\.9\.0\.0\/23/,
        );
        expect(replicaAddresses(members, original, { apiserverIp: "10.9.0.50" }).apiserverIp).toBe("10.9.0.50");
    });

    test("what cannot be reproduced on a Docker network is refused with the way out", () => {
        const one = (peerUrl: string, clientUrls: string[] = []) =>
            validateOriginalCluster(
                { etcd: { members: [{ name: "m", peerUrls: [peerUrl], clientUrls }] }, kubeApiserver: { args: [] } },
                "d",
            );
        expect(() => replicaMembers("x", one("http://10.0.0.5:2380"))).toThrow(
            /peerUrls: "http:\/\/10\.0\.0\.5:2380" — the original peers talk plain http.*use mode single/,
        );
        expect(() => replicaMembers("x", one("https://etcd-1.example.internal:2380"))).toThrow(
            /needs each member's own IPv4 address.*use mode single/,
        );
        expect(() => replicaMembers("x", one("https://127.0.0.1:2380"))).toThrow(
            /127\.0\.0\.1 is a loopback, link-local or multicast address/,
        );
        expect(() => replicaMembers("x", one("https://169.254.3.4:2380"))).toThrow(/loopback, link-local or multicast/);
        expect(() => replicaMembers("x", one("https://10.0.0.5:2380", ["http://10.0.0.5:2379"]))).toThrow(/serves clients over plain http/);
        const clash = validateOriginalCluster(
            {
                etcd: {
                    members: [
                        { name: "Node.A", peerUrls: ["https://10.0.0.5:2380"] },
                        { name: "node_a", peerUrls: ["https://10.0.0.6:2380"] },
                        { name: "c", peerUrls: ["https://10.0.0.7:2380"] },
                    ],
                },
                kubeApiserver: { args: [] },
            },
            "d",
        );
        expect(() => replicaMembers("x", clash)).toThrow(
            /\(node_a\)\.name: "node_a" — its Docker name "node-a" is the same as member Node\.A's/,
        );
        expect(() => replicaAddresses([{ name: "m", ip: "10.0.0.5" }], one("https://10.0.0.5:2380"), { subnet: "127.0.0.0/8" })).toThrow(
            /not loopback, link-local or multicast/,
        );
    });

    test("planRecoveryEnvironment points mode replica to its own plan", () => {
        expect(() => planRecoveryEnvironment({ ...base, original: seed000, mode: "replica" }, {} as never)).toThrow(
            /mode: "replica" — plan a replica with planReplicaEnvironment/,
        );
    });

    test("the plan refuses a member without certificates, a bad token and a missing encryption config", () => {
        const files = fakeFiles(seed000);
        delete files.etcd.members["etcd-k8s02"];
        expect(() => planReplicaEnvironment({ ...base, original: seed000 }, files)).toThrow(
            /certificates\.members\.etcd-k8s02: missing — give member etcd-k8s02's original server and peer certificates/,
        );
        expect(() => planReplicaEnvironment({ ...base, original: seed000, initialClusterToken: "a b" }, fakeFiles(seed000))).toThrow(
            /initialClusterToken/,
        );
        const encrypted = validateOriginalCluster({ ...seed000, encryption: { configPath: "/etc/kubernetes/ssl/encryption.yaml" } }, "d");
        expect(() => planReplicaEnvironment({ ...base, original: encrypted }, fakeFiles(encrypted))).toThrow(
            /encryptionConfig: missing — the original kube-apiserver encrypts/,
        );
    });
});

describe("replicaSubnetConflicts: what only the Docker host knows", () => {
    test("an overlapping Docker network or a host route onto the original network is named; Docker's own bridges are not routes", () => {
        expect(
            replicaSubnetConflicts("10.40.0.0/24", {
                dockerNetworks: [{ name: "bridge", subnets: ["172.17.0.0/16"] }],
                routes: ["default via 192.168.1.1 dev eth0", "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1"],
            }),
        ).toEqual([]);
        const problems = replicaSubnetConflicts("10.40.0.0/24", {
            dockerNetworks: [{ name: "prod-net", subnets: ["10.40.0.0/24"] }],
            routes: ["10.40.0.0/16 via 192.168.1.254 dev eth0", "10.40.0.0/24 dev br-0123 proto kernel"],
        });
        expect(problems).toEqual([
            expect.stringMatching(/^Docker network "prod-net" \(10\.40\.0\.0\/24\) overlaps 10\.40\.0\.0\/24: remove it/),
            expect.stringMatching(/^the host routes 10\.40\.0\.0\/16 .*run the replica on a Docker host outside the production network$/),
        ]);
    });
});

// ------------------------------------------------------------------ real certificates

const MEMBERS = [
    { name: "etcd-a", ip: "10.77.0.11" },
    { name: "etcd-b", ip: "10.77.0.12" },
    { name: "etcd-c", ip: "10.77.0.13" },
];
const original = describe3(MEMBERS);
const pki = issueEtcdPki(planEtcdPki({ clusterName: "prod", members: MEMBERS, keyAlgorithm: "ecdsa" }));
const kubeadmNodes = MEMBERS.map((m) => ({ member: m.name, dir: `/backup/${m.name}/pki`, files: kubeadmLayout(pki, m.name) }));

function certs(): ReplicaCertificates<string> {
    return replicaCertificatesFromKubeadm(kubeadmNodes);
}

describe("validateReplicaCertificates with the original PKI", () => {
    test("a kubeadm pki directory per member passes: keys match, CA signed, SANs name each member's IP", () => {
        const c = certs();
        expect(c.client.certFile).toBe("/backup/etcd-a/pki/apiserver-etcd-client.crt");
        expect(c.members["etcd-b"].peer.keyFile).toBe("/backup/etcd-b/pki/etcd/peer.key");
        expect(() => validateReplicaCertificates(original, c)).not.toThrow();
    });

    test("a key that is not the certificate's: the member, both files and the fix", () => {
        const c = certs();
        c.members["etcd-b"].server.keyPem = c.members["etcd-c"].server.keyPem;
        c.members["etcd-b"].server.keyFile = "/backup/etcd-c/pki/etcd/server.key";
        expect(() => validateReplicaCertificates(original, c)).toThrow(
            /certificates\.members\.etcd-b\.server\.keyPem \(\/backup\/etcd-c\/pki\/etcd\/server\.key\): "\(not shown: a private key\)" — this key does not belong to certificates\.members\.etcd-b\.server\.certPem \(\/backup\/etcd-b\/pki\/etcd\/server\.crt\)/,
        );
        // The key itself never appears in the message.
        try {
            validateReplicaCertificates(original, c);
        } catch (error) {
            expect((error as Error).message).not.toContain("PRIVATE KEY");
        }
    });

    test("another member's certificate: its SANs do not name this member's IP", () => {
        const c = certs();
        c.members["etcd-a"].peer = c.members["etcd-c"].peer;
        expect(() => validateReplicaCertificates(original, c)).toThrow(
            /certificates\.members\.etcd-a\.peer\.certPem \(\/backup\/etcd-c\/pki\/etcd\/peer\.crt\).*it does not name 10\.77\.0\.11, member etcd-a's address/,
        );
    });

    test("a certificate of another CA, a CA that is not one, an expired certificate", () => {
        const other = issueEtcdPki(planEtcdPki({ clusterName: "other", members: MEMBERS, keyAlgorithm: "ecdsa" }));
        const c = certs();
        c.client = { ...other.clients.apiserver, certFile: "elsewhere/client.crt" };
        expect(() => validateReplicaCertificates(original, c)).toThrow(
            /certificates\.client\.certPem \(elsewhere\/client\.crt\).*it was not issued by the etcd CA .*\(prod etcd CA; this one names issuer other etcd CA\)/,
        );
        const notCa = certs();
        notCa.caCertPem = pki.members["etcd-a"].server.certPem;
        expect(() => validateReplicaCertificates(original, notCa)).toThrow(
            /certificates\.caCertPem \(\/backup\/etcd-a\/pki\/etcd\/ca\.crt\): "etcd-a" — this certificate is not a CA/,
        );
        expect(() => validateReplicaCertificates(original, certs(), new Date(Date.now() + 2 * 365 * 24 * 3600 * 1000))).toThrow(
            /server\.certPem .*: "expired .*" — etcd refuses expired certificates/,
        );
    });

    test("a member without certificates, or certificates of a member the original does not have", () => {
        const c = certs();
        delete c.members["etcd-c"];
        expect(() => validateReplicaCertificates(original, c)).toThrow(
            /certificates\.members\.etcd-c: missing — give member etcd-c's server and peer certificates/,
        );
        const extra = certs();
        extra.members["etcd-z"] = extra.members["etcd-a"];
        expect(() => validateReplicaCertificates(original, extra)).toThrow(
            /certificates\.members\.etcd-z: "etcd-z" — the original has no such member/,
        );
    });

    test("a client certificate that cannot authenticate (no clientAuth)", () => {
        const ca = { certPem: pki.caCertPem, keyPem: pki.caKeyPem };
        const serverOnly: CfsslConfig = {
            signing: {
                default: { expiry: "24h" },
                profiles: { s: { expiry: "24h", usages: ["signing", "key encipherment", "server auth"] } },
            },
        };
        const cert = genCert({
            caCertPem: ca.certPem,
            caKeyPem: ca.keyPem,
            config: serverOnly,
            profile: "s",
            csr: { CN: "kube-apiserver-etcd-client", key: { algo: "ecdsa", size: 256 } },
        });
        const c = certs();
        c.client = { certPem: cert.certPem, keyPem: cert.keyPem };
        expect(() => validateReplicaCertificates(original, c)).toThrow(
            /certificates\.client\.certPem: \["serverAuth"\] — the etcd client certificate \(kube-apiserver's\) needs extended key usage clientAuth/,
        );
    });

    test("a missing file of a kubeadm directory is named with where to copy it from", () => {
        const nodes = kubeadmNodes.map((n) => ({ ...n, files: { ...n.files } }));
        delete nodes[1].files["etcd/peer.key"];
        expect(() => replicaCertificatesFromKubeadm(nodes)).toThrow(
            /\/backup\/etcd-b\/pki\/etcd\/peer\.key: missing — copy \/etc\/kubernetes\/pki\/etcd\/peer\.key from member etcd-b's node/,
        );
        nodes[1].files["etcd/peer.key"] = kubeadmNodes[1].files["etcd/peer.key"];
        nodes[2].files["etcd/ca.crt"] = initCa({ CN: "x", key: { algo: "ecdsa", size: 256 } }).certPem;
        expect(() => replicaCertificatesFromKubeadm(nodes)).toThrow(
            /\/backup\/etcd-c\/pki\/etcd\/ca\.crt: "\(another CA\)" — it differs from \/backup\/etcd-a\/pki\/etcd\/ca\.crt/,
        );
    });
});

describe("replicaCertificatesFromRkeBundle (seed 000's certificates)", () => {
    // RKE's layout: kube-ca, one kube-etcd-<ip> per member (server and peer alike), kube-node for kube-apiserver.
    const kubeCa = initCa({ CN: "kube-ca", key: { algo: "ecdsa", size: 256 } });
    const config: CfsslConfig = {
        signing: { default: { expiry: "8760h", usages: ["signing", "key encipherment", "server auth", "client auth"] } },
    };
    const issue = (cn: string, hosts?: string[]) =>
        genCert({
            caCertPem: kubeCa.certPem,
            caKeyPem: kubeCa.keyPem,
            config,
            csr: { CN: cn, ...(hosts ? { hosts } : {}), key: { algo: "ecdsa", size: 256 } },
        });
    const bundle: RkeCertificate[] = [
        { name: "kube-ca", certPem: kubeCa.certPem, keyPem: kubeCa.keyPem },
        { name: "kube-node", ...issue("system:node") },
        { name: "kube-etcd-10-40-0-11", ...issue("system:kube-etcd-10-40-0-11", ["10.40.0.11", "10.40.0.12", "localhost"]) },
        { name: "kube-etcd-10-40-0-12", ...issue("system:kube-etcd-10-40-0-12", ["10.40.0.11", "10.40.0.12", "localhost"]) },
    ];

    test("maps the bundle onto the members and passes the checks", () => {
        const c = replicaCertificatesFromRkeBundle(bundle, seed000, "cluster.rkestate");
        expect(c.members["etcd-k8s02"].server.certFile).toBe("cluster.rkestate: kube-etcd-10-40-0-12.certificatePEM");
        expect(c.members["etcd-k8s02"].peer).toBe(c.members["etcd-k8s02"].server);
        expect(() => validateReplicaCertificates(seed000, c)).not.toThrow();
    });

    test("a member's certificate missing from the bundle", () => {
        expect(() =>
            replicaCertificatesFromRkeBundle(
                bundle.filter((b) => b.name !== "kube-etcd-10-40-0-12"),
                seed000,
                "cluster.rkestate",
            ),
        ).toThrow(
            /cluster\.rkestate: currentState\.certificatesBundle\.kube-etcd-10-40-0-12: missing — member etcd-k8s02 \(10\.40\.0\.12\) runs with this certificate/,
        );
        const { keyPem: _drop, ...noKey } = bundle[1];
        expect(() => replicaCertificatesFromRkeBundle([bundle[0], noKey, bundle[2], bundle[3]], seed000, "s")).toThrow(
            /kube-node\.keyPEM: missing/,
        );
    });

    test("InputError is what every refusal throws", () => {
        expect(() => replicaCertificatesFromRkeBundle([], seed000, "s")).toThrow(InputError);
    });
});

describe("RecoveryEnvironment, mode replica (mocks)", () => {
    let dir: string;
    let snapshotPath: string;
    const value = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));
    const IMAGES = { etcdImage: "etcd-recovery/etcd:3.5.35", kubeApiserverImage: "etcd-recovery/kube-apiserver:v1.34.4" };

    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "recovery-replica-unit-"));
        snapshotPath = path.join(dir, "snapshot.db");
        writeFakeSnapshot(snapshotPath);
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    beforeEach(async () => {
        await registrationsSettled(); // the previous test's registrations must not land in this one
        registered.length = 0;
    });

    test("refused before any child exists: no certificates, certificates that do not fit, replica arguments in mode single", async () => {
        expect(() => new RecoveryEnvironment("r1", { original, snapshotPath, mode: "replica", ...IMAGES })).toThrow(
            /replicaCertificates: missing — mode "replica" starts the members with the original certificates/,
        );
        const wrong = certs();
        wrong.members["etcd-a"].server = wrong.members["etcd-b"].server;
        expect(
            () => new RecoveryEnvironment("r2", { original, snapshotPath, mode: "replica", replicaCertificates: wrong, ...IMAGES }),
        ).toThrow(/it does not name 10\.77\.0\.11, member etcd-a's address/);
        expect(() => new RecoveryEnvironment("r3", { original, snapshotPath, replicaCertificates: certs(), ...IMAGES })).toThrow(
            /are for mode "replica"/,
        );
        await registrationsSettled();
        expect(registered.filter((r) => r.type.startsWith("docker:"))).toEqual([]);
    });

    test("graph: no etcd PKI of its own, the original subnet, a restore and a member per original member; original keys uploaded as secrets", async () => {
        const env = new RecoveryEnvironment("replica", {
            original,
            snapshotPath,
            mode: "replica",
            replicaCertificates: certs(),
            guardHost: false,
            ...IMAGES,
        });
        await value(pulumi.all(Object.values(env.docker.containers).map((c) => c.id)));
        await value(env.kubeconfig);
        const names = (type: string) => registered.filter((r) => r.type === type).map((r) => r.name);
        expect(names("etcd-recovery:index:EtcdPki")).toEqual([]);
        expect(() => env.etcdPki).toThrow(/mode "replica" runs the original etcd certificates/);
        // The one-shots end in the snapshot's short hash; the members and kube-apiserver keep fixed names.
        const short = verifySnapshotFileSync(snapshotPath).sha256.slice(0, 12);
        expect(names("docker:index/container:Container").sort()).toEqual(
            [
                `incident-7-replica-snapshot-check-${short}`,
                `incident-7-replica-etcd-a-restore-${short}`,
                "incident-7-replica-etcd-a",
                `incident-7-replica-etcd-b-restore-${short}`,
                "incident-7-replica-etcd-b",
                `incident-7-replica-etcd-c-restore-${short}`,
                "incident-7-replica-etcd-c",
                "incident-7-replica-kube-apiserver",
            ].sort(),
        );
        const network = registered.find((r) => r.type === "docker:index/network:Network")!.inputs;
        expect({ internal: network.internal, subnet: network.ipamConfigs[0].subnet }).toEqual({ internal: true, subnet: "10.77.0.0/24" });
        expect(await value(env.subnet)).toBe("10.77.0.0/24");
        expect(await value(env.apiUrl)).toBe("https://10.77.0.254:6443");
        const member = registered.find((r) => r.name === "incident-7-replica-etcd-b")!;
        expect(member.wire.uploads[SECRET_SIG]).toBeDefined();
        const uploads = member.inputs.uploads as { file: string; content: string; permissions: string }[];
        expect(uploads.find((u) => u.file.endsWith("/server.key"))).toMatchObject({
            content: pki.members["etcd-b"].server.keyPem,
            permissions: "0600",
        });
        expect(uploads.find((u) => u.file.endsWith("/server.crt"))!.content).toBe(pki.members["etcd-b"].server.certPem);
    });
});

// The shape of the resource graph under Pulumi mocks: names, parents, args,
// which outputs are secret, and that bad input fails before any child exists.
// Proof that the plans work on real etcd lives in test/integration.
import * as pulumi from "@pulumi/pulumi";

interface Registered {
    type: string;
    name: string;
    inputs: Record<string, any>;
    /** The provider reference ("<urn>::<id>") the resource was registered with, when it has one. */
    provider?: string;
}

const registered: Registered[] = [];
const isDynamic = (type: string) => type.startsWith("pulumi-nodejs:dynamic");
/** Mocks see secret inputs in their wire form; tests look at the value. */
const unwrap = (v: any): any =>
    v && typeof v === "object"
        ? v[SECRET_SIG]
            ? unwrap(v.value)
            : Array.isArray(v)
              ? v.map(unwrap)
              : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]))
        : v;

pulumi.runtime.setMocks(
    {
        newResource(args) {
            registered.push({
                type: args.type,
                name: args.name,
                inputs: unwrap(args.inputs),
                ...(args.provider ? { provider: args.provider } : {}),
            });
            const state: Record<string, unknown> = { ...args.inputs };
            if (isDynamic(args.type)) {
                // Certificates are made by the dynamic provider, which these tests do not run.
                Object.assign(state, {
                    certPem: `CERT(${args.name})`,
                    keyPem: `SECRET-KEY(${args.name})`,
                    csrPem: `CSR(${args.name})`,
                    notAfter: "2099-01-01T00:00:00Z",
                    serialNumber: "01",
                });
            }
            // The docker provider records the exit code of a one-shot (attach) container it ran.
            if (args.type === "docker:index/container:Container" && args.inputs.attach) state.exitCode = 0;
            return { id: `${args.name}-id`, state };
        },
        call: (args) => args.inputs,
    },
    "etcd-recovery",
    "test",
    false,
);

// Imported after setMocks, as Pulumi's mock testing guide requires.
import * as docker from "@pulumi/docker";
import { EtcdCluster, EtcdPki } from "../../src";
import { registrationsSettled } from "../support/mock-registrations";
import { SECRET_SIG } from "../support/secret-marker";

const value = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));
const urn = (resource: pulumi.Resource): Promise<string> => value(resource.urn);

beforeEach(async () => {
    // The previous test's registrations still in flight must not land in this one.
    await registrationsSettled();
    registered.length = 0;
});

describe("EtcdCluster", () => {
    test("graph: PKI child, network, volumes, member containers, all parented to the component", async () => {
        const cluster = new EtcdCluster("prod", {});
        await value(cluster.clientEndpoints);
        await value(pulumi.all(Object.values(cluster.docker.containers).map((c) => c.id)));

        const names = (type: string) => registered.filter((r) => r.type === type).map((r) => r.name);
        expect(names("etcd-recovery:index:EtcdCluster")).toEqual(["prod"]);
        expect(names("etcd-recovery:index:EtcdPki")).toEqual(["prod-pki"]);
        expect(names("docker:index/network:Network")).toEqual(["prod-net"]);
        expect(names("docker:index/volume:Volume")).toEqual(["prod-etcd-0-data", "prod-etcd-1-data", "prod-etcd-2-data"]);
        expect(names("docker:index/container:Container")).toEqual(["prod-etcd-0", "prod-etcd-1", "prod-etcd-2"]);
        expect(
            names("pulumi-nodejs:dynamic/etcd-recovery:Certificate")
                .concat(names("pulumi-nodejs:dynamic/etcd-recovery:CertificateAuthority"))
                .sort(),
        ).toEqual(
            [
                "prod-pki-ca",
                "prod-pki-admin-client",
                "prod-pki-apiserver-client",
                "prod-pki-healthcheck-client",
                ...["etcd-0", "etcd-1", "etcd-2"].flatMap((m) => [`prod-pki-${m}-server`, `prod-pki-${m}-peer`]),
            ].sort(),
        );
        expect(await urn(cluster.docker.containers["prod-etcd-0"]!)).toBe(
            "urn:pulumi:test::etcd-recovery::etcd-recovery:index:EtcdCluster$docker:index/container:Container::prod-etcd-0",
        );
        expect(await urn(cluster.pki)).toBe(
            "urn:pulumi:test::etcd-recovery::etcd-recovery:index:EtcdCluster$etcd-recovery:index:EtcdPki::prod-pki",
        );
        expect(await urn(cluster.docker.networks["prod-net"]!)).toContain("EtcdCluster$docker:index/network:Network::prod-net");
    });

    test("container args: exec-form etcd, static IP, keys uploaded 0600 and secret, exec-form health check", async () => {
        const cluster = new EtcdCluster("prod", { image: "etcd-local:3.5.21" });
        await value(pulumi.all(Object.values(cluster.docker.containers).map((c) => c.id)));
        const container = registered.find((r) => r.name === "prod-etcd-1")!.inputs;
        expect(container.image).toBe("etcd-local:3.5.21");
        expect(container.entrypoints).toEqual(["/usr/local/bin/etcd"]);
        expect(container.command).toContain("--name=etcd-1");
        expect(container.networksAdvanced).toEqual([{ name: "prod-net", ipv4Address: "172.29.0.12", aliases: ["etcd-1"] }]);
        expect(container.healthcheck.tests[0]).toBe("CMD");
        expect(container.mustRun).toBe(true);
        expect(container.envs).toEqual([]);
        const uploads = container.uploads as { file: string; content: string; permissions: string }[];
        const key = uploads.find((u) => u.file === "/etc/kubernetes/pki/etcd/server.key")!;
        expect(key.permissions).toBe("0600");
        expect(key.content).toBe("SECRET-KEY(prod-pki-etcd-1-server)");
        expect(uploads.find((u) => u.file === "/etc/kubernetes/pki/etcd/server.crt")!.permissions).toBe("0644");
        expect(JSON.stringify(container.command)).not.toContain("SECRET");

        const keyOutput = cluster.plan.plan.containers[1]!.files.find((f) => f.path.endsWith("server.key"))!.content!;
        expect(await pulumi.isSecret(keyOutput)).toBe(true);
    });

    test("outputs: endpoints, kube-apiserver flags and kubeadm block; the client key is secret", async () => {
        const cluster = new EtcdCluster("prod", { network: { mode: "bridge", subnet: "10.210.0.0/24" }, size: 1 });
        expect(await value(cluster.clientEndpoints)).toEqual(["https://10.210.0.11:2379"]);
        expect(await value(cluster.kubeApiserverFlags)).toContain("--etcd-servers=https://10.210.0.11:2379");
        expect(await value(cluster.kubeadmExternalEtcd)).toContain("    - https://10.210.0.11:2379");
        expect(await pulumi.isSecret(cluster.clientKeyPem)).toBe(true);
        expect(await pulumi.isSecret(cluster.clientCertPem)).toBe(false);
        expect(await value(cluster.clientCertPem)).toBe("CERT(prod-pki-admin-client)");
    });

    test("members on several engines get one docker provider each", async () => {
        const cluster = new EtcdCluster("ext", {
            network: { mode: "host" },
            members: [
                { name: "etcd-01", ip: "32.16.5.31", dockerHost: "ssh://root@32.16.5.31" },
                { name: "etcd-02", ip: "32.16.5.32", dockerHost: "ssh://root@32.16.5.32" },
                { name: "etcd-03", ip: "32.16.5.33", dockerHost: "ssh://root@32.16.5.33" },
            ],
        });
        await value(pulumi.all(Object.values(cluster.docker.containers).map((c) => c.id)));
        const providers = registered.filter((r) => r.type === "pulumi:providers:docker");
        expect(providers.map((p) => p.inputs.host)).toEqual(["ssh://root@32.16.5.31", "ssh://root@32.16.5.32", "ssh://root@32.16.5.33"]);
        expect(registered.filter((r) => r.type === "docker:index/network:Network")).toEqual([]);
        expect(registered.find((r) => r.name === "ext-etcd-02")!.inputs.networkMode).toBe("host");
    });

    test("seeding from a snapshot adds a run-to-completion restore container per member", async () => {
        const cluster = new EtcdCluster("seeded", { size: 1, seedSnapshotPath: __filename });
        await value(pulumi.all(Object.values(cluster.docker.containers).map((c) => c.id)));
        const restore = registered.find((r) => r.name === "seeded-etcd-0-restore")!.inputs;
        expect(restore.entrypoints).toEqual(["/usr/local/bin/etcdutl"]);
        expect(restore.mustRun).toBe(false);
        expect(restore.attach).toBe(true);
        expect(restore.networkMode).toBe("none");
        expect(restore.uploads).toEqual([
            {
                file: "/var/lib/etcd-seed/snapshot.db",
                source: __filename,
                sourceHash: expect.stringMatching(/^[0-9a-f]{64}$/),
                permissions: "0600",
            },
        ]);
    });

    test("dockerProvider (TypeScript-only, Any in the schema) is the provider of every Docker resource", async () => {
        const provider = new docker.Provider("other-engine", { host: "tcp://127.0.0.1:2375" });
        const cluster = new EtcdCluster("dp", { size: 1, dockerProvider: provider });
        await value(pulumi.all(Object.values(cluster.docker.containers).map((c) => c.id)));
        await registrationsSettled();
        const dockerResources = registered.filter((r) => r.type.startsWith("docker:index/"));
        expect(dockerResources.map((r) => r.name).sort()).toEqual(["dp-etcd-0", "dp-etcd-0-data", "dp-net"]);
        for (const r of dockerResources)
            expect(r.provider).toMatch(/^urn:pulumi:test::etcd-recovery::pulumi:providers:docker::other-engine::/);
    });

    test.each([
        [{ size: 4 }, /size: 4 — 4 members need a quorum of 3/],
        [{ network: { mode: "bridge" as const, subnet: "10.0.0.0/33" } }, /network.subnet: "10.0.0.0\/33"/],
        [{ members: [{ name: "a", ip: "10.9.9.9" }] }, /members\[0\]\.ip: "10\.9\.9\.9" — pick a host address inside/],
        [{ members: [{ name: "Bad_Name" }] }, /members\[0\]\.name: "Bad_Name" — use a DNS-1123 label/],
        [{ keySize: 1024 }, /keySize: 1024 — use an RSA key size of 2048, 3072, 4096/],
        [{ seedSnapshotPath: "/nonexistent/snap.db" }, /seedSnapshotPath: "\/nonexistent\/snap.db" — no such file/],
        [{ tunables: { electionTimeoutMs: 10 } }, /tunables.electionTimeoutMs: 10/],
        [{ tunables: { autoCompactionMode: "hourly" as never } }, /tunables.autoCompactionMode: "hourly" — use "periodic" or "revision"/],
        [
            { members: [{ name: "a", ip: "10.0.0.5" }], network: { mode: "host" as const, subnet: "10.0.0.0/24" } },
            /network.subnet: "10.0.0.0\/24" — subnet is for network mode "bridge"/,
        ],
        [
            { members: [{ name: "a", ip: "10.0.0.5" }], network: { mode: "host" as const, internal: false } },
            /network.internal: false — internal is for network mode "bridge"/,
        ],
    ])("refuses %j before creating anything", async (args, message) => {
        expect(() => new EtcdCluster("bad", args)).toThrow(message);
        await registrationsSettled();
        expect(registered.filter((r) => !r.type.startsWith("etcd-recovery:index:"))).toEqual([]);
    });

    test("the check above can fail: a valid EtcdCluster's children are seen once registrations settle", async () => {
        new EtcdCluster("good", {});
        await registrationsSettled();
        expect(registered.filter((r) => !r.type.startsWith("etcd-recovery:index:")).length).toBeGreaterThan(0);
    });
});

describe("EtcdPki", () => {
    const members = [
        { name: "etcd-01", ip: "32.16.5.31" },
        { name: "etcd-02", ip: "32.16.5.32" },
        { name: "etcd-03", ip: "32.16.5.33" },
    ];

    test("certificate requests: SANs, profiles, client common names", async () => {
        const pki = new EtcdPki("pki", { clusterName: "prod", members, extraHosts: ["kubernetes-*"] });
        await value(pki.kubeadmFiles);
        const dynamic = registered.filter((r) => isDynamic(r.type));
        const byName = (n: string) => dynamic.find((r) => r.name === n)!.inputs;
        expect(byName("pki-etcd-02-server").csr).toEqual({
            CN: "etcd-02",
            hosts: ["etcd-02", "32.16.5.32", "127.0.0.1", "localhost", "::1", "kubernetes-*"],
            key: { algo: "rsa", size: 2048 },
        });
        expect(byName("pki-etcd-02-server").profile).toBe("server");
        expect(byName("pki-etcd-02-peer").profile).toBe("peer");
        expect(byName("pki-apiserver-client").csr.CN).toBe("kube-apiserver-etcd-client");
        expect(byName("pki-healthcheck-client").csr.CN).toBe("kube-etcd-healthcheck-client");
        expect(byName("pki-admin-client").csr.CN).toBe("root");
        expect(byName("pki-admin-client").profile).toBe("client");
        expect(byName("pki-ca").csr).toEqual({ CN: "prod etcd CA", key: { algo: "rsa", size: 2048 }, ca: { expiry: "87600h" } });
        expect(byName("pki-etcd-02-server").earlyRenewalHours).toBe(720);
    });

    test("file layouts: cfssl and kubeadm names, secret, no CA key on nodes", async () => {
        const pki = new EtcdPki("pki", { clusterName: "prod", members });
        expect(await pulumi.isSecret(pki.kubeadmFiles)).toBe(true);
        expect(await pulumi.isSecret(pki.cfsslFiles)).toBe(true);
        expect(await pulumi.isSecret(pki.caKeyPem)).toBe(true);
        expect(await pulumi.isSecret(pki.memberCertificates)).toBe(true);
        const kubeadm = await value(pki.kubeadmFiles);
        expect(Object.keys(kubeadm)).toEqual(["etcd-01", "etcd-02", "etcd-03"]);
        expect(Object.keys(kubeadm["etcd-01"]!).sort()).toEqual(
            [
                "apiserver-etcd-client.crt",
                "apiserver-etcd-client.key",
                "etcd/ca.crt",
                "etcd/healthcheck-client.crt",
                "etcd/healthcheck-client.key",
                "etcd/peer.crt",
                "etcd/peer.key",
                "etcd/server.crt",
                "etcd/server.key",
            ].sort(),
        );
        expect(kubeadm["etcd-02"]!["etcd/server.crt"]).toBe("CERT(pki-etcd-02-server)");
        const cfssl = await value(pki.cfsslFiles);
        expect(cfssl["etcd-03"]!["etcd.pem"]).toBe("CERT(pki-etcd-03-server)");
        expect(cfssl["etcd-03"]!["etcd-key.pem"]).toBe("SECRET-KEY(pki-etcd-03-server)");
        expect(cfssl["etcd-03"]!["ca.pem"]).toBe("CERT(pki-ca)");
        expect(JSON.stringify(cfssl)).not.toContain("SECRET-KEY(pki-ca)");
        expect(JSON.stringify(kubeadm)).not.toContain("SECRET-KEY(pki-ca)");
    });

    test("an existing CA is adopted, not generated", async () => {
        new EtcdPki("adopt", { clusterName: "prod", members, existingCa: { certPem: "MY-CA", keyPem: pulumi.secret("MY-CA-KEY") } });
        await registrationsSettled();
        const ca = registered.find((r) => r.name === "adopt-ca")!.inputs;
        expect(ca.existing.certPem).toBe("MY-CA");
    });

    test.each([
        [{ members: [] }, /members: \[\] — an etcd PKI needs at least one member/],
        [{ keySize: 1024 }, /keySize: 1024/],
        [{ extraHosts: ["a b"] }, /extraHosts\[0\]: "a b"/],
        [{ certificateExpiry: "1 year" }, /certificateExpiry: "1 year"/],
        [{ caExpiry: "-5h" }, /caExpiry: "-5h"/],
        [{ names: [{ C: "CN", X: "y" } as never] }, /names/],
        [{ extraHosts: ["10.0.0.256"] }, /extraHosts\[0\]: "10\.0\.0\.256" — this looks like an IP address but is not a valid one/],
    ])("refuses %j before creating anything", async (args, message) => {
        expect(() => new EtcdPki("bad", { clusterName: "c", members, ...args })).toThrow(message);
        await registrationsSettled();
        expect(registered.filter((r) => isDynamic(r.type))).toEqual([]);
    });

    test("the check above can fail: a valid EtcdPki's certificates are seen once registrations settle", async () => {
        new EtcdPki("good", { clusterName: "c", members });
        await registrationsSettled();
        expect(registered.filter((r) => isDynamic(r.type)).length).toBeGreaterThan(0);
    });
});

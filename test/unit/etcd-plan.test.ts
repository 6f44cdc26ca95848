import { InputError } from "../../src/errors";
import { kubeApiserverEtcdFlags, kubeadmExternalEtcdYaml } from "../../src/etcd/clients";
import { ETCD_DATA_DIR, etcdHealthCheckCommand, resolveTunables, snapshotRestoreCommand, usesEtcdutl } from "../../src/etcd/flags";
import { DEFAULT_ETCD_IMAGE, MemberCertificateFiles, planEtcdCluster } from "../../src/etcd/plan";
import { planTopology } from "../../src/etcd/topology";
import { planEtcdPki } from "../../src/pki/etcd-pki-plan";

const files = (member: { name: string }): MemberCertificateFiles<string> => ({
    caCertPem: "CA",
    serverCertPem: `server-${member.name}`,
    serverKeyPem: `SECRET-server-key-${member.name}`,
    peerCertPem: `peer-${member.name}`,
    peerKeyPem: `SECRET-peer-key-${member.name}`,
    healthcheckCertPem: "hc",
    healthcheckKeyPem: "SECRET-hc-key",
});

function inputError(fn: () => unknown): InputError {
    try {
        fn();
    } catch (error) {
        expect(error).toBeInstanceOf(InputError);
        return error as InputError;
    }
    throw new Error("expected an InputError, nothing was thrown");
}

describe("planTopology", () => {
    test("defaults: 3 members on 172.29.0.0/24 with static addresses from .11", () => {
        const t = planTopology({ clusterName: "prod" });
        expect(t.members.map((m) => [m.name, m.ip])).toEqual([
            ["etcd-0", "172.29.0.11"],
            ["etcd-1", "172.29.0.12"],
            ["etcd-2", "172.29.0.13"],
        ]);
        expect(t.initialCluster).toBe("etcd-0=https://172.29.0.11:2380,etcd-1=https://172.29.0.12:2380,etcd-2=https://172.29.0.13:2380");
        expect(t.initialClusterToken).toBe("prod-token");
        expect(t.clientEndpoints).toEqual(["https://172.29.0.11:2379", "https://172.29.0.12:2379", "https://172.29.0.13:2379"]);
        expect(t.network).toEqual({ mode: "bridge", subnet: "172.29.0.0/24", gateway: "172.29.0.1", internal: false });
    });

    test("seed 004 members with host networking on three machines", () => {
        const t = planTopology({
            clusterName: "external",
            network: { mode: "host" },
            initialClusterToken: "my-etcd-token",
            members: [
                { name: "etcd-01", ip: "32.16.5.31", dockerHost: "ssh://root@32.16.5.31" },
                { name: "etcd-02", ip: "32.16.5.32", dockerHost: "ssh://root@32.16.5.32" },
                { name: "etcd-03", ip: "32.16.5.33", dockerHost: "ssh://root@32.16.5.33" },
            ],
        });
        expect(t.initialCluster).toBe("etcd-01=https://32.16.5.31:2380,etcd-02=https://32.16.5.32:2380,etcd-03=https://32.16.5.33:2380");
        expect(t.members[1]!.dockerHost).toBe("ssh://root@32.16.5.32");
    });

    test.each([
        [{ size: 4 }, "size", /quorum of 3.*tolerate 1 failure.*use 3 or 5 members.*allowEvenSize/],
        [{ size: 2 }, "size", /use 1 or 3 members/],
        [{ size: 0 }, "size", /use 1 \(tests only\), 3, 5 or 7/],
        [{ network: { mode: "bridge" as const, subnet: "172.29.0.0" } }, "network.subnet", /CIDR/],
        [{ network: { mode: "bridge" as const, subnet: "172.29.0.5/24" } }, "network.subnet", /host bits set.*172\.29\.0\.0\/24/],
        [{ network: { mode: "bridge" as const, subnet: "300.1.0.0/16" } }, "network.subnet", /CIDR/],
        [{ members: [{ name: "a", ip: "10.0.0.5" }] }, "members[0].ip", /inside network.subnet 172\.29\.0\.0\/24/],
        [{ members: [{ name: "a", ip: "172.29.0.255" }] }, "members[0].ip", /not its network or broadcast/],
        [{ members: [{ name: "a", ip: "172.29.0.1" }] }, "members[0].ip", /gateway/],
        [
            { members: [{ name: "a", ip: "172.29.0.9" }, { name: "b", ip: "172.29.0.9" }, { name: "c" }] },
            "members[1].ip",
            /already uses this address/,
        ],
        [{ members: [{ name: "a" }, { name: "a" }, { name: "c" }] }, "members[1].name", /unique/],
        [{ members: [{ name: "Etcd_1" }] }, "members[0].name", /DNS-1123/],
        [{ members: [{ name: "a", ip: "1.2.3" }], network: { mode: "host" as const } }, "members[0].ip", /IPv4/],
        [{ members: [{ name: "a" }], network: { mode: "host" as const } }, "members[0].ip", /host IPv4 address/],
        [{ members: [{ name: "a", dockerHost: "ssh://x" }] }, "members[0].dockerHost", /mode: "host"/],
        // One network interface for both modes (the multi-language schema has no unions): bridge-only fields are refused with host.
        [
            { members: [{ name: "a", ip: "10.0.0.5" }], network: { mode: "host" as const, subnet: "10.0.0.0/24" } },
            "network.subnet",
            /subnet is for network mode "bridge".*remove it, or use mode "bridge"/,
        ],
        [
            { members: [{ name: "a", ip: "10.0.0.5" }], network: { mode: "host" as const, internal: true } },
            "network.internal",
            /internal is for network mode "bridge".*remove it, or use mode "bridge"/,
        ],
        [{ members: [{ name: "a", ip: "10.0.0.5" }], network: { mode: "overlay" as never } }, "network.mode", /use "bridge" or "host"/],
        [{ initialClusterToken: "bad token" }, "initialClusterToken", /letters, digits/],
    ])("refuses %j naming %s", (extra, argument, fix) => {
        const error = inputError(() => planTopology({ clusterName: "c", ...extra }));
        expect(error.argument).toBe(argument);
        expect(error.message).toMatch(fix);
        expect(error.message.startsWith(`${argument}: `)).toBe(true);
    });

    test("an even size is allowed when asked for", () => {
        expect(planTopology({ clusterName: "c", size: 4, allowEvenSize: true }).members).toHaveLength(4);
    });

    test("the same IP on two different engines is fine with host networking", () => {
        const t = planTopology({
            clusterName: "c",
            size: 1,
            network: { mode: "host" },
            members: [
                { name: "a", ip: "10.0.0.1", dockerHost: "ssh://h1" },
                { name: "b", ip: "10.0.0.1", dockerHost: "ssh://h2" },
                { name: "c", ip: "10.0.0.2" },
            ],
        });
        expect(t.members).toHaveLength(3);
    });
});

describe("etcd flags", () => {
    test("tunables default to etcd's own values", () => {
        expect(resolveTunables(undefined)).toEqual({
            heartbeatIntervalMs: 100,
            electionTimeoutMs: 1000,
            snapshotCount: 100000,
            quotaBackendBytes: 2147483648,
            autoCompactionMode: "periodic",
            autoCompactionRetention: "0",
        });
    });

    test.each([
        [{ electionTimeoutMs: 400 }, "tunables.electionTimeoutMs", /at least 5x the heartbeat \(500 ms\)/],
        [{ heartbeatIntervalMs: 0 }, "tunables.heartbeatIntervalMs", /positive integer/],
        [{ quotaBackendBytes: 16 * 1024 ** 3 }, "tunables.quotaBackendBytes", /8 GiB/],
        [{ autoCompactionRetention: "an hour" }, "tunables.autoCompactionRetention", /duration/],
        [{ autoCompactionMode: "revision" as const, autoCompactionRetention: "1h" }, "tunables.autoCompactionRetention", /revision count/],
    ])("refuses tunables %j", (tunables, argument, fix) => {
        const error = inputError(() => resolveTunables(tunables));
        expect(error.argument).toBe(argument);
        expect(error.message).toMatch(fix);
    });

    test("health check is exec form with the health-check client certificate", () => {
        const check = etcdHealthCheckCommand();
        expect(check[0]).toBe("CMD");
        expect(check[1]).toBe("/usr/local/bin/etcdctl");
        expect(check).toContain("--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt");
        expect(check.slice(-2)).toEqual(["endpoint", "health"]);
        expect(check.join(" ")).not.toMatch(/\bsh\b/);
    });

    test("snapshot restore uses etcdutl from 3.5 and etcdctl before", () => {
        const t = planTopology({ clusterName: "c" });
        expect(usesEtcdutl("3.5.21")).toBe(true);
        expect(usesEtcdutl("v3.6.0")).toBe(true);
        expect(usesEtcdutl("3.4.23")).toBe(false);
        const r35 = snapshotRestoreCommand(t.members[0]!, t, "/s.db", "3.5.21");
        expect(r35.entrypoint).toEqual(["/usr/local/bin/etcdutl"]);
        expect(r35.command).toEqual([
            "snapshot",
            "restore",
            "/s.db",
            "--name=etcd-0",
            `--initial-cluster=${t.initialCluster}`,
            "--initial-cluster-token=c-token",
            "--initial-advertise-peer-urls=https://172.29.0.11:2380",
            `--data-dir=${ETCD_DATA_DIR}`,
        ]);
        expect(snapshotRestoreCommand(t.members[0]!, t, "/s.db", "3.4.23").entrypoint).toEqual(["/usr/local/bin/etcdctl"]);
        expect(inputError(() => usesEtcdutl("latest")).argument).toBe("etcdVersion");
    });
});

describe("planEtcdCluster", () => {
    test("one network, a volume and a TLS member container per member", () => {
        const { plan, topology, image, etcdVersion } = planEtcdCluster({ clusterName: "prod" }, files);
        expect(image).toBe(DEFAULT_ETCD_IMAGE);
        expect(etcdVersion).toBe("3.5.21");
        expect(plan.networks).toEqual([
            {
                name: "prod-net",
                subnet: "172.29.0.0/24",
                gateway: "172.29.0.1",
                internal: false,
                labels: { "etcd-recovery.cluster": "prod" },
            },
        ]);
        expect(plan.volumes.map((v) => v.name)).toEqual(["prod-etcd-0-data", "prod-etcd-1-data", "prod-etcd-2-data"]);
        expect(plan.containers.map((c) => c.name)).toEqual(["prod-etcd-0", "prod-etcd-1", "prod-etcd-2"]);
        const member = plan.containers[1]!;
        expect(member.entrypoint).toEqual(["/usr/local/bin/etcd"]);
        expect(member.network).toEqual({ name: "prod-net", ipv4Address: "172.29.0.12", aliases: ["etcd-1"] });
        expect(member.command).toEqual(
            expect.arrayContaining([
                "--name=etcd-1",
                "--data-dir=/var/lib/etcd/data",
                "--listen-client-urls=https://0.0.0.0:2379",
                "--advertise-client-urls=https://172.29.0.12:2379",
                "--listen-peer-urls=https://0.0.0.0:2380",
                "--initial-advertise-peer-urls=https://172.29.0.12:2380",
                `--initial-cluster=${topology.initialCluster}`,
                "--initial-cluster-token=prod-token",
                "--initial-cluster-state=new",
                "--client-cert-auth=true",
                "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
                "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
                "--key-file=/etc/kubernetes/pki/etcd/server.key",
                "--peer-client-cert-auth=true",
                "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
                "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
                "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
            ]),
        );
        expect(member.mounts).toEqual([{ source: "prod-etcd-1-data", target: "/var/lib/etcd" }]);
        expect(member.env ?? {}).toEqual({});
        expect(member.healthCheck!.test[0]).toBe("CMD");
        expect(member.ports).toBeUndefined();
    });

    test("keys are files with mode 0600, never flags or environment", () => {
        const { plan } = planEtcdCluster({ clusterName: "prod" }, files);
        for (const container of plan.containers) {
            const keys = container.files.filter((f) => f.path.endsWith(".key"));
            expect(keys.map((f) => f.path).sort()).toEqual([
                "/etc/kubernetes/pki/etcd/healthcheck-client.key",
                "/etc/kubernetes/pki/etcd/peer.key",
                "/etc/kubernetes/pki/etcd/server.key",
            ]);
            for (const key of keys) {
                expect(key.mode).toBe(0o600);
                expect(key.secret).toBe(true);
            }
            const everythingVisible = JSON.stringify([container.command, container.entrypoint, container.env ?? {}]);
            expect(everythingVisible).not.toMatch(/SECRET/);
            expect(container.files.find((f) => f.path.endsWith("server.key"))!.content).toBe(`SECRET-server-key-${container.hostname}`);
        }
    });

    test("host networking binds to the member's own address, one engine per member", () => {
        const { plan } = planEtcdCluster(
            {
                clusterName: "ext",
                network: { mode: "host" },
                members: [
                    { name: "etcd-01", ip: "32.16.5.31", dockerHost: "ssh://root@32.16.5.31" },
                    { name: "etcd-02", ip: "32.16.5.32", dockerHost: "ssh://root@32.16.5.32" },
                    { name: "etcd-03", ip: "32.16.5.33", dockerHost: "ssh://root@32.16.5.33" },
                ],
            },
            files,
        );
        expect(plan.networks).toEqual([]);
        const c = plan.containers[0]!;
        expect(c.network).toEqual({ host: true });
        expect(c.dockerHost).toBe("ssh://root@32.16.5.31");
        expect(c.command).toContain("--listen-client-urls=https://32.16.5.31:2379,https://127.0.0.1:2379");
        expect(c.command).toContain("--listen-peer-urls=https://32.16.5.31:2380");
    });

    test("seeding from a snapshot restores each member first, with its own name and peer URL", () => {
        const { plan } = planEtcdCluster({ clusterName: "prod", seedSnapshotPath: "/backups/snap.db" }, files);
        expect(plan.containers.map((c) => c.name)).toEqual([
            "prod-etcd-0-restore",
            "prod-etcd-0",
            "prod-etcd-1-restore",
            "prod-etcd-1",
            "prod-etcd-2-restore",
            "prod-etcd-2",
        ]);
        const restore = plan.containers[2]!;
        expect(restore.runToCompletion).toBe(true);
        expect(restore.network).toEqual({ none: true });
        expect(restore.entrypoint).toEqual(["/usr/local/bin/etcdutl"]);
        expect(restore.command).toContain("--name=etcd-1");
        expect(restore.command).toContain("--initial-advertise-peer-urls=https://172.29.0.12:2380");
        expect(restore.files).toEqual([{ path: "/var/lib/etcd-seed/snapshot.db", sourcePath: "/backups/snap.db", mode: 0o600 }]);
        expect(restore.mounts).toEqual(plan.containers[3]!.mounts);
        // After its own restore and after the member before it: replaced one at a time, never all at once.
        expect(plan.containers[3]!.after).toEqual(["prod-etcd-1-restore", "prod-etcd-0"]);
        expect(restore.firstRunOnly).toBe(true);
    });

    test("published client ports are on 127.0.0.1 by default", () => {
        const { plan } = planEtcdCluster({ clusterName: "p", publishClientPorts: { firstHostPort: 32379 } }, files);
        expect(plan.containers.map((c) => c.ports)).toEqual([
            [{ internal: 2379, external: 32379, ip: "127.0.0.1" }],
            [{ internal: 2379, external: 32380, ip: "127.0.0.1" }],
            [{ internal: 2379, external: 32381, ip: "127.0.0.1" }],
        ]);
    });

    test.each([
        [{ image: "" }, "image", /image reference/],
        [{ image: "my.registry/etcd:latest" }, "etcdVersion", /set etcdVersion/],
        [{ publishClientPorts: { firstHostPort: 80 } }, "publishClientPorts.firstHostPort", /from 1024/],
        [{ publishClientPorts: { firstHostPort: 65534 } }, "publishClientPorts.firstHostPort", /below 65536/],
        [
            { network: { mode: "host" as const }, members: [{ name: "a", ip: "10.0.0.1" }], publishClientPorts: { firstHostPort: 30000 } },
            "publishClientPorts",
            /remove publishClientPorts/,
        ],
        [{ seedSnapshotPath: "" }, "seedSnapshotPath", /snapshot file/],
    ])("refuses %j", (extra, argument, fix) => {
        const error = inputError(() => planEtcdCluster({ clusterName: "c", ...extra }, files));
        expect(error.argument).toBe(argument);
        expect(error.message).toMatch(fix);
    });

    test("an image tag without version is fine with etcdVersion", () => {
        expect(planEtcdCluster({ clusterName: "c", image: "etcd:mine", etcdVersion: "3.4.23" }, files).etcdVersion).toBe("3.4.23");
    });
});

describe("kube-apiserver wiring (seed 004 migration step)", () => {
    const endpoints = ["https://32.16.5.31:2379", "https://32.16.5.32:2379", "https://32.16.5.33:2379"];
    test("flags", () => {
        expect(kubeApiserverEtcdFlags(endpoints)).toEqual([
            "--etcd-servers=https://32.16.5.31:2379,https://32.16.5.32:2379,https://32.16.5.33:2379",
            "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
            "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
            "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
        ]);
    });
    test("kubeadm etcd.external block", () => {
        expect(kubeadmExternalEtcdYaml(endpoints)).toBe(
            [
                "etcd:",
                "  external:",
                "    endpoints:",
                "    - https://32.16.5.31:2379",
                "    - https://32.16.5.32:2379",
                "    - https://32.16.5.33:2379",
                "    caFile: /etc/kubernetes/pki/etcd/ca.crt",
                "    certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt",
                "    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key",
                "",
            ].join("\n"),
        );
    });
});

describe("planEtcdPki key algorithm", () => {
    const members = [{ name: "etcd-0", ip: "10.0.0.10" }];
    test('keyAlgorithm "ecdsa" asks every certificate for a P-256 key; RSA stays the default', () => {
        const keys = (plan: ReturnType<typeof planEtcdPki>) => [plan.caCsr, ...plan.certificates.map((c) => c.csr)].map((csr) => csr.key);
        expect(new Set(keys(planEtcdPki({ clusterName: "c", members, keyAlgorithm: "ecdsa" })).map((k) => JSON.stringify(k)))).toEqual(
            new Set(['{"algo":"ecdsa","size":256}']),
        );
        expect(new Set(keys(planEtcdPki({ clusterName: "c", members })).map((k) => JSON.stringify(k)))).toEqual(
            new Set(['{"algo":"rsa","size":2048}']),
        );
    });
    test("keySize with ecdsa, or an unknown algorithm, is refused naming the argument", () => {
        expect(() => planEtcdPki({ clusterName: "c", members, keyAlgorithm: "ecdsa", keySize: 4096 })).toThrow(
            /keySize.*4096.*keyAlgorithm "rsa"/s,
        );
        expect(() => planEtcdPki({ clusterName: "c", members, keyAlgorithm: "dsa" as never })).toThrow(
            /keyAlgorithm.*dsa.*"rsa" or "ecdsa"/s,
        );
    });
});

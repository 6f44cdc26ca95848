/**
 * The harness's pure parts, no engine needed: plan validation, start order,
 * the engine configuration a spec becomes, and the tar writer/reader.
 */
import type { ContainerSpec, DockerPlan } from "../../src/docker/plan";
import { demultiplex } from "../harness/api";
import { containerConfig, networkConnection, startOrder, validatePlan } from "../harness/docker";
import { readTar, writeTar } from "../harness/tar";

function container(name: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
    return { name, image: "img:1", command: [], files: [], mounts: [], network: { name: "net" }, ...extra };
}

function plan(containers: ContainerSpec[], internal = false): DockerPlan {
    return { networks: [{ name: "net", subnet: "10.200.0.0/24", internal }], volumes: [{ name: "vol" }], containers };
}

describe("validatePlan", () => {
    test("accepts a well-formed plan", () => {
        expect(() =>
            validatePlan(plan([container("a"), container("b", { after: ["a"], mounts: [{ source: "vol", target: "/data" }] })])),
        ).not.toThrow();
    });

    test.each<[string, DockerPlan, RegExp]>([
        ["ports on an internal network", plan([container("a", { ports: [{ internal: 2379 }] })], true), /internal.*does not publish ports/],
        ["ports with host networking", plan([container("a", { network: { host: true }, ports: [{ internal: 1 }] })]), /network mode host/],
        ["an unknown network", plan([container("a", { network: { name: "nope" } })]), /network nope is not in the plan/],
        ["an unknown volume", plan([container("a", { mounts: [{ source: "nope", target: "/x" }] })]), /volume nope is not in the plan/],
        ["a relative host path", plan([container("a", { mounts: [{ source: "rel", target: "/x", hostPath: true }] })]), /not absolute/],
        [
            "a file with both contents",
            plan([container("a", { files: [{ path: "/f", content: "x", sourcePath: "/y", mode: 0o600 }] })]),
            /exactly one/,
        ],
        ["a relative file path", plan([container("a", { files: [{ path: "f", content: "x", mode: 0o600 }] })]), /absolute file path/],
        [
            "a shell-less health check not in exec form",
            plan([
                container("a", {
                    healthCheck: { test: ["etcdctl"], intervalSeconds: 1, timeoutSeconds: 1, retries: 1, startPeriodSeconds: 0 },
                }),
            ]),
            /exec form/,
        ],
        ["a remote engine", plan([container("a", { dockerHost: "ssh://admin@10.0.0.5" })]), /local engine only/],
        ["duplicate container names", plan([container("a"), container("a")]), /two containers named a/],
        ["an unknown dependency", plan([container("a", { after: ["b"] })]), /starts after b, which is not in the plan/],
        ["a dependency cycle", plan([container("a", { after: ["b"] }), container("b", { after: ["a"] })]), /cycle: a -> b -> a/],
    ])("rejects %s", (_what, badPlan, message) => {
        expect(() => validatePlan(badPlan)).toThrow(message);
    });
});

describe("startOrder", () => {
    test("puts dependencies first and keeps plan order otherwise", () => {
        const order = startOrder([container("c", { after: ["b"] }), container("a"), container("b", { after: ["a"] }), container("d")]);
        expect(order.map((c) => c.name)).toEqual(["a", "b", "c", "d"]);
    });
});

describe("containerConfig", () => {
    test("maps a spec onto the engine's create body", () => {
        const config = containerConfig(
            container("m1", {
                entrypoint: ["/usr/local/bin/etcd"],
                command: ["--name=m1"],
                env: { A: "1" },
                user: "65534",
                hostname: "m1",
                network: { name: "net", ipv4Address: "10.200.0.10", aliases: ["etcd-1"] },
                ports: [{ internal: 2379 }, { internal: 2380, external: 12380, ip: "0.0.0.0" }],
                mounts: [
                    { source: "vol", target: "/var/lib/etcd" },
                    { source: "/srv/backup", target: "/backup", hostPath: true, readOnly: true },
                ],
                healthCheck: {
                    test: ["CMD", "etcdctl", "endpoint", "health"],
                    intervalSeconds: 2,
                    timeoutSeconds: 3,
                    retries: 4,
                    startPeriodSeconds: 1.5,
                },
                restart: "on-failure",
                labels: { role: "member" },
            }),
            "run-1",
        );
        expect(config).toEqual({
            Image: "img:1",
            Entrypoint: ["/usr/local/bin/etcd"],
            Cmd: ["--name=m1"],
            Env: ["A=1"],
            User: "65534",
            Hostname: "m1",
            Labels: { role: "member", "etcd-recovery.test": "1", "etcd-recovery.run": "run-1" },
            ExposedPorts: { "2379/tcp": {}, "2380/tcp": {} },
            Healthcheck: { Test: ["CMD", "etcdctl", "endpoint", "health"], Interval: 2e9, Timeout: 3e9, Retries: 4, StartPeriod: 1.5e9 },
            HostConfig: {
                // As the docker provider does: created on bridge, then connected to its network (below).
                NetworkMode: "bridge",
                PortBindings: {
                    "2379/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }],
                    "2380/tcp": [{ HostIp: "0.0.0.0", HostPort: "12380" }],
                },
                Mounts: [
                    { Type: "volume", Source: "vol", Target: "/var/lib/etcd", ReadOnly: false },
                    { Type: "bind", Source: "/srv/backup", Target: "/backup", ReadOnly: true },
                ],
                RestartPolicy: { Name: "on-failure" },
            },
        });
        expect(networkConnection(container("m1", { network: { name: "net", ipv4Address: "10.200.0.10", aliases: ["etcd-1"] } }))).toEqual({
            network: "net",
            body: { EndpointConfig: { IPAMConfig: { IPv4Address: "10.200.0.10" }, Aliases: ["etcd-1"] } },
        });
    });

    test("keeps the image's command when the spec has none, and uses host and none network modes", () => {
        const host = containerConfig(container("h", { network: { host: true }, hostname: "ignored" }), "r");
        expect(host).not.toHaveProperty("Cmd");
        expect(host).not.toHaveProperty("Hostname");
        expect(networkConnection(container("h", { network: { host: true } }))).toBeUndefined();
        expect((host.HostConfig as { NetworkMode: string }).NetworkMode).toBe("host");
        const none = containerConfig(container("n", { network: { none: true } }), "r");
        expect((none.HostConfig as { NetworkMode: string }).NetworkMode).toBe("none");
    });
});

describe("tar", () => {
    test("round-trips files, directories, modes, owners and long names", () => {
        const longName = `${"d".repeat(90)}/${"e".repeat(60)}/${"f".repeat(90)}.pem`;
        const archive = writeTar([
            { name: "etc/etcd", type: "directory", mode: 0o755, uid: 0, gid: 0, content: Buffer.alloc(0) },
            { name: "etc/etcd/member.key", type: "file", mode: 0o600, uid: 65534, gid: 65534, content: Buffer.from("secret\n") },
            { name: longName, type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.alloc(1500, 7) },
        ]);
        expect(archive.length % 512).toBe(0);
        const entries = readTar(archive);
        expect(entries.map((e) => [e.name, e.type, e.mode, e.uid, e.gid, e.content.length])).toEqual([
            ["etc/etcd/", "directory", 0o755, 0, 0, 0],
            ["etc/etcd/member.key", "file", 0o600, 65534, 65534, 7],
            [longName, "file", 0o644, 0, 0, 1500],
        ]);
        expect(entries[1].content.toString()).toBe("secret\n");
    });

    test("refuses names that do not fit a ustar header", () => {
        expect(() => writeTar([{ name: "x".repeat(300), type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.alloc(0) }])).toThrow(
            /too long/,
        );
    });
});

describe("demultiplex", () => {
    test("splits the engine's framed stdout/stderr stream", () => {
        const frame = (stream: number, text: string): Buffer => {
            const header = Buffer.alloc(8);
            header[0] = stream;
            header.writeUInt32BE(Buffer.byteLength(text), 4);
            return Buffer.concat([header, Buffer.from(text)]);
        };
        const output = demultiplex(Buffer.concat([frame(1, "out1 "), frame(2, "err"), frame(1, "out2")]));
        expect(output.stdout.toString()).toBe("out1 out2");
        expect(output.stderr.toString()).toBe("err");
        expect(output.combined.toString()).toBe("out1 errout2");
    });

    test("keeps text the engine wrote without frames", () => {
        expect(demultiplex(Buffer.from("OCI runtime exec failed: no such file\r\n")).stdout.toString()).toBe(
            "OCI runtime exec failed: no such file\r\n",
        );
    });
});

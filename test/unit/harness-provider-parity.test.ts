// What users run (containerArgs, given to @pulumi/docker) and what the test
// harness creates must be the same containers, field by field. The provider
// side is translated here the way terraform-provider-docker's
// resourceDockerContainerCreate does (internal/provider/resource_docker_container_funcs.go):
// env and labels as sets, `volumes` as binds "<volume or host path>:<path>[:ro]",
// a port binding per port with its ip, healthcheck durations parsed, the
// container created with `networkMode` and then disconnected from `bridge` and
// connected to each `networksAdvanced` entry, uploads copied before the start,
// `attach` waiting for the end of a one-shot.
import type * as docker from "@pulumi/docker";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { ContainerSpec } from "../../src/docker/plan";
import { containerArgs } from "../../src/docker/realize";
import { NO_CERTIFICATE_FILES, planEtcdCluster } from "../../src/etcd/plan";
import {
    RECOVERY_ETCD_HEALTH_WAIT_SECONDS,
    issueRecoveryPki,
    planRecoveryEnvironment,
    recoveryAddresses,
    validateOriginalCluster,
} from "../../src/recovery";
import { containerConfig, networkConnection } from "../harness/docker";

/** Resolves Inputs (secrets are Outputs) to plain values. */
async function resolved(value: unknown): Promise<any> {
    if (value && typeof value === "object" && typeof (value as any).promise === "function") return resolved(await (value as any).promise());
    if (Array.isArray(value)) return Promise.all(value.map(resolved));
    if (value && typeof value === "object")
        return Object.fromEntries(await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolved(v)])));
    return value;
}

/** Go's time.ParseDuration for the "<n>s" strings we write, in nanoseconds. */
const nanoseconds = (duration: string): number => {
    const match = /^(\d+)s$/.exec(duration);
    if (!match) throw new Error(`unexpected duration ${duration}`);
    return Number(match[1]) * 1e9;
};

/** The container as the provider creates it from ContainerArgs. */
async function providerView(input: docker.ContainerArgs) {
    const args = (await resolved(input)) as Record<string, any>;
    const ports = (args.ports ?? []) as { internal: number; external?: number; ip?: string; protocol?: string }[];
    return {
        name: args.name,
        image: args.image,
        entrypoint: args.entrypoints ?? [],
        cmd: args.command ?? [],
        env: [...(args.envs ?? [])].sort(),
        user: args.user ?? "",
        hostname: args.hostname ?? "",
        labels: Object.fromEntries((args.labels ?? []).map((l: { label: string; value: string }) => [l.label, l.value])),
        exposed: ports.map((p) => `${p.internal}/${p.protocol ?? "tcp"}`).sort(),
        bindings: ports.map((p) => `${p.internal}/${p.protocol ?? "tcp"}=${p.ip ?? ""}:${p.external ?? ""}`).sort(),
        healthcheck: args.healthcheck
            ? {
                  test: args.healthcheck.tests,
                  interval: nanoseconds(args.healthcheck.interval),
                  timeout: nanoseconds(args.healthcheck.timeout),
                  startPeriod: nanoseconds(args.healthcheck.startPeriod),
                  retries: args.healthcheck.retries,
              }
            : undefined,
        mounts: (args.volumes ?? []).map((v: any) => `${v.volumeName ?? v.hostPath}:${v.containerPath}${v.readOnly ? ":ro" : ""}`).sort(),
        restart: args.restart ?? "no",
        networkMode: args.networkMode,
        connections: (args.networksAdvanced ?? []).map((n: any) => ({
            network: n.name,
            ipv4Address: n.ipv4Address ?? "",
            aliases: [...(n.aliases ?? [])].sort(),
        })),
        uploads: (args.uploads ?? [])
            .map((u: any) => ({ file: u.file, mode: parseInt(u.permissions, 8), content: u.content ?? fs.readFileSync(u.source, "utf8") }))
            .sort((a: { file: string }, b: { file: string }) => a.file.localeCompare(b.file)),
        runsToItsEnd: args.attach === true && args.mustRun === false,
        // `wait` polls for "healthy" after the start, for `waitTimeout` seconds (default 60).
        waitsHealthyFor: args.wait === true ? (args.waitTimeout ?? 60) : undefined,
    };
}

/** The same fields of what the harness creates for the spec. */
function harnessView(spec: ContainerSpec) {
    const body = containerConfig(spec, "parity") as any;
    const connection = networkConnection(spec);
    const { "etcd-recovery.test": _test, "etcd-recovery.run": _run, ...labels } = body.Labels;
    const health = body.Healthcheck;
    return {
        name: spec.name,
        image: body.Image,
        entrypoint: body.Entrypoint ?? [],
        cmd: body.Cmd ?? [],
        env: [...body.Env].sort(),
        user: body.User ?? "",
        hostname: body.Hostname ?? "",
        labels,
        exposed: Object.keys(body.ExposedPorts).sort(),
        bindings: Object.entries(body.HostConfig.PortBindings as Record<string, { HostIp: string; HostPort: string }[]>)
            .flatMap(([port, list]) => list.map((b) => `${port}=${b.HostIp}:${b.HostPort}`))
            .sort(),
        healthcheck: health
            ? {
                  test: health.Test,
                  interval: health.Interval,
                  timeout: health.Timeout,
                  startPeriod: health.StartPeriod,
                  retries: health.Retries,
              }
            : undefined,
        mounts: body.HostConfig.Mounts.map((m: any) => `${m.Source}:${m.Target}${m.ReadOnly ? ":ro" : ""}`).sort(),
        restart: body.HostConfig.RestartPolicy.Name,
        networkMode: body.HostConfig.NetworkMode,
        connections: connection
            ? [
                  {
                      network: connection.network,
                      ipv4Address: connection.body.EndpointConfig.IPAMConfig.IPv4Address ?? "",
                      aliases: [...(connection.body.EndpointConfig.Aliases ?? [])].sort(),
                  },
              ]
            : [],
        uploads: spec.files
            .map((f) => ({ file: f.path, mode: f.mode, content: f.content ?? fs.readFileSync(f.sourcePath!, "utf8") }))
            .sort((a, b) => a.file.localeCompare(b.file)),
        runsToItsEnd: spec.runToCompletion === true,
        waitsHealthyFor: spec.waitHealthySeconds,
    };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parity-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const snapshot = path.join(dir, "snapshot.db");
fs.writeFileSync(snapshot, "not read as a snapshot here");

function plans(): [string, ContainerSpec[]][] {
    const bridge = planEtcdCluster(
        {
            clusterName: "parity",
            size: 3,
            network: { mode: "bridge", subnet: "172.31.199.0/24" },
            publishClientPorts: { firstHostPort: 32379 },
            seedSnapshotPath: snapshot,
        },
        () => NO_CERTIFICATE_FILES,
    );
    const host = planEtcdCluster(
        {
            clusterName: "parity-host",
            network: { mode: "host" },
            members: [
                { name: "a", ip: "10.0.0.1" },
                { name: "b", ip: "10.0.0.2" },
                { name: "c", ip: "10.0.0.3" },
            ],
        },
        () => NO_CERTIFICATE_FILES,
    );
    const original = validateOriginalCluster(
        {
            etcd: {
                version: "3.5.21",
                members: [{ name: "m", peerUrls: ["https://10.1.0.1:2380"], clientUrls: ["https://10.1.0.1:2379"] }],
            },
            kubeApiserver: { version: "1.34.4", args: ["--etcd-prefix=/registry", "--service-cluster-ip-range=10.96.0.0/12"] },
            etcdPrefix: "/registry",
            serviceClusterIpRange: "10.96.0.0/12",
        },
        "parity",
    );
    const addresses = recoveryAddresses("172.31.198.0/24");
    const recovery = planRecoveryEnvironment(
        { name: "parity-recovery", original, snapshotPath: snapshot, snapshotSha256: "ef".repeat(32), subnet: addresses.subnet },
        issueRecoveryPki("parity-recovery", addresses, original).files,
    );
    return [
        ["EtcdCluster, bridge, published ports, seeded", bridge.plan.containers],
        ["EtcdCluster, host network", host.plan.containers],
        ["RecoveryEnvironment", recovery.plan.containers],
    ];
}

describe.each(plans())("%s: containerArgs and the harness create the same containers", (_what, containers) => {
    test.each(containers.map((c) => [c.name, c] as const))("%s", async (_name, spec) => {
        expect(harnessView(spec)).toEqual(await providerView(containerArgs(spec)));
    });
});

test("the comparison sees a difference (positive control)", async () => {
    const [, containers] = plans()[0]!;
    const spec = containers.find((c) => !c.runToCompletion)!;
    const args = containerArgs(spec);
    expect(harnessView({ ...spec, command: [...spec.command, "--extra"] })).not.toEqual(await providerView(args));
    expect(harnessView({ ...spec, files: spec.files.map((f) => ({ ...f, mode: 0o644 })) })).not.toEqual(await providerView(args));
    expect(harnessView({ ...spec, waitHealthySeconds: 5 })).not.toEqual(await providerView(args));
});

test("only the recovery environment's etcd waits for health (the EtcdCluster members and one-shots do not)", async () => {
    const waiting = plans().flatMap(([what, containers]) =>
        containers
            .filter((c) => containerArgs(c).wait === true)
            .map((c) => [what, c.name, containerArgs(c).waitTimeout, c.healthCheck !== undefined]),
    );
    expect(waiting).toEqual([["RecoveryEnvironment", "parity-recovery-etcd", RECOVERY_ETCD_HEALTH_WAIT_SECONDS, true]]);
});

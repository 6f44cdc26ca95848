/**
 * Realizes a DockerPlan (src/docker/plan.ts) in the real Docker engine, so
 * that what a component declares is what the tests prove: networks, volumes,
 * containers with their files (put in before start, with their modes), static
 * addresses, published ports, exec-form health checks and start order.
 *
 * It does what the docker provider (terraform-provider-docker under
 * @pulumi/docker) and the Pulumi engine do, and no more, since CI cannot run
 * the provider itself: a one-shot's exit code is only recorded (the
 * component's gate label refuses what starts after a failed one), a
 * long-running container is read back once right after its start, a container
 * joins its network after being created on `bridge`, and update() replays a
 * second `pulumi up`. Waiting for health is the test's own wait, never part of
 * a step (the provider waits only with `wait: true`, which we never set).
 *
 * Everything created carries the labels etcd-recovery.test=1 and
 * etcd-recovery.run=<runId>; `removeByLabel` clears what a crashed run left.
 */
import { randomBytes } from "crypto";
import { promises as fs } from "fs";
import * as path from "path";
import { oneShotFailure } from "../../src/docker/one-shot";
import { fileSha256 } from "../../src/docker/realize";
import type { ContainerSpec, DockerPlan, NetworkSpec } from "../../src/docker/plan";
import { call, callJson, callRaw, demultiplex, DockerApiError, engineSocket, hijack } from "./api";
import { readTar, TarEntry, writeTar } from "./tar";

export const TEST_LABEL = "etcd-recovery.test";
export const RUN_LABEL = "etcd-recovery.run";

export interface RealizeOptions {
    /** Wait until every container with a healthCheck is healthy. Default true. */
    waitHealthy?: boolean;
    /** Deadline for the whole realization (run-to-completion and health waits included). Default 120 000. */
    timeoutMs?: number;
    /** Value of the etcd-recovery.run label; default a fresh random id. */
    runId?: string;
    /**
     * What a one-shot container that exits non-zero does. "record" (default) is the docker
     * provider's behaviour (attach: true, mustRun: false): the exit code is only recorded, and the
     * component's gate (src/docker/one-shot.ts) refuses to create the containers that start after
     * it. "fail" is a kubelet's for a pod with restartPolicy Never: the run fails at once.
     */
    oneShotFailure?: "record" | "fail";
}

export interface RealizedContainer {
    id: string;
    name: string;
    /** Address on the plan network (none with host networking). */
    ipAddress?: string;
    /** Host port of every published container port, keyed by the container port. */
    hostPorts: Record<number, number>;
}

export interface ExecResult {
    exitCode: number;
    stdout: string;
    stderr: string;
}

export interface ContainerFileContent {
    mode: number;
    uid: number;
    gid: number;
    content: Buffer;
}

export interface RealizedPlan {
    runId: string;
    containers: Record<string, RealizedContainer>;
    /** Exit code of every one-shot container, as the provider records it (`exitCode` output). */
    exitCodes: Record<string, number>;
    /**
     * A second deployment of a changed plan, as the Pulumi engine and the docker provider do it
     * (see updateAsTheEngineDoes). Returns what each container went through.
     */
    update(plan: DockerPlan, opts?: { timeoutMs?: number }): Promise<UpdateReport>;
    exec(container: string, argv: string[], opts?: { input?: Buffer; timeoutMs?: number }): Promise<ExecResult>;
    logs(container: string): Promise<string>;
    inspect(container: string): Promise<any>;
    /** A file from the container (running or not) with its mode and owner. Plan files are owned by root. */
    readFile(container: string, filePath: string): Promise<ContainerFileContent>;
    stop(container: string): Promise<void>;
    /** Starts a stopped container and refreshes its address and host ports. */
    start(container: string): Promise<void>;
    /** Waits until the container's health check says healthy. */
    waitHealthy(container: string, timeoutMs?: number): Promise<void>;
    remove(container: string): Promise<void>;
    /** Removes every container, network and volume this realization created; idempotent. */
    destroy(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const POLL_MS = 250;

// ------------------------------------------------------------------ engine

/** Throws, saying how to start it, when the engine does not answer. */
export async function dockerAvailable(): Promise<void> {
    const socket = engineSocket();
    try {
        const response = await callRaw({ method: "GET", path: "/_ping", timeoutMs: 5_000 });
        if (response.status !== 200) throw new Error(`/_ping answered ${response.status}`);
    } catch (error) {
        throw new Error(`the Docker engine at ${socket} is not reachable (${(error as Error).message}): run bash scripts/docker.sh`);
    }
}

export async function imageExists(image: string): Promise<boolean> {
    const response = await callRaw({ method: "GET", path: `/images/${image}/json` });
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw new DockerApiError(response.status, "GET", `/images/${image}/json`, response.body.toString("utf8"));
}

// ------------------------------------------------------------------ run ids, names and subnets of one test run

/**
 * A run id of its own for one test run: `<prefix>-<pid>-<random>`. Everything the run creates carries
 * it (RUN_LABEL) and its cleanup removes by it, so two runs on one engine (CI beside a developer, or
 * two CI jobs whose processes have the same pid in their own PID namespaces) never remove each
 * other's containers.
 */
export function uniqueRunId(prefix: string): string {
    return `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/**
 * `<base>-<random>`: Docker names of containers, networks and volumes are engine-wide, so a name a
 * test gives them (an environment, a cluster) must differ from another run's too. 6 hex digits keep
 * it short enough for the plans' DNS labels.
 */
export function uniqueName(base: string): string {
    return `${base}-${randomBytes(3).toString("hex")}`;
}

/**
 * Test subnets are /24s in 10.210.0.0–10.229.255.0: outside Docker's default address pools
 * (172.17.0.0/16–172.31.0.0/16 and 192.168.0.0/16, where `docker network create` without a subnet
 * and compose take theirs), the product's defaults (172.29.0.0/24, 172.30.0.0/16), the Kubernetes
 * ranges the tests configure (10.96.0.0/12, 10.244.0.0/16) and the kube node networks (10.250.N.0/24).
 */
const TEST_SUBNET_BASE = (10 * 256 + 210) * 65536;
const TEST_SUBNET_SLOTS = 20 * 256;
/** Subnets this process handed out, so that two of one run never coincide either. */
const handedOut = new Set<string>();

function cidrRange(cidr: string): [number, number] | undefined {
    const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
    if (!match) return undefined; // IPv6
    const start = match.slice(1, 5).reduce((acc, octet) => acc * 256 + Number(octet), 0);
    const size = 2 ** (32 - Number(match[5]));
    return [start - (start % size), start - (start % size) + size - 1];
}

function slotSubnet(slot: number): string {
    const network = TEST_SUBNET_BASE + slot * 256;
    return `${[24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join(".")}/24`;
}

/**
 * A /24 test subnet no network on the engine overlaps, picked at random among 5120 so that two runs
 * that pick at the same moment almost never take the same; `withFreeSubnet` retries the rare
 * collision that remains (the engine refuses the second network).
 */
export async function freeTestSubnet(): Promise<string> {
    const networks = await callJson<{ IPAM?: { Config?: { Subnet?: string }[] | null } }[]>({ method: "GET", path: "/networks" });
    const taken = networks
        .flatMap((n) => (n.IPAM?.Config ?? []).map((c) => cidrRange(c.Subnet ?? "")))
        .filter((r): r is [number, number] => r !== undefined);
    for (let attempt = 0; attempt < 200; attempt++) {
        const subnet = slotSubnet(randomBytes(2).readUInt16BE(0) % TEST_SUBNET_SLOTS);
        const [first, last] = cidrRange(subnet)!;
        if (handedOut.has(subnet) || taken.some(([a, b]) => a <= last && first <= b)) continue;
        handedOut.add(subnet);
        return subnet;
    }
    throw new Error(
        `no free /24 test subnet in ${slotSubnet(0)}–${slotSubnet(TEST_SUBNET_SLOTS - 1)} after 200 picks: list the test networks (docker network ls --filter label=${TEST_LABEL}=1) and remove those of runs that are gone`,
    );
}

/** The engine refused a network because its subnet overlaps another's (another run took it meanwhile). */
export function isSubnetOverlap(error: unknown): boolean {
    return /overlaps with other one|Pool overlaps|overlapping/i.test((error as Error)?.message ?? "");
}

/**
 * Runs `attempt` on a free test subnet, and again on another one when the engine refused its network
 * because another run took an overlapping subnet in the meantime (`attempt` must clean up after
 * itself on failure, as realizePlan does).
 */
export async function withFreeSubnet<T>(attempt: (subnet: string) => Promise<T>, tries = 5): Promise<T> {
    for (let i = 1; ; i++) {
        const subnet = await freeTestSubnet();
        try {
            return await attempt(subnet);
        } catch (error) {
            if (i >= tries || !isSubnetOverlap(error)) throw error;
        }
    }
}

/** The n-th host address of a /24 test subnet ("10.211.7.0/24", 11 -> "10.211.7.11"). */
export function hostIn(subnet: string, n: number): string {
    const match = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(subnet);
    if (!match) throw new Error(`hostIn expects a /24 such as 10.211.7.0/24, got ${subnet}`);
    return `${match[1]}.${n}`;
}

function labelFilters(runId?: string): string {
    const labels = [`${TEST_LABEL}=1`];
    if (runId !== undefined) labels.push(`${RUN_LABEL}=${runId}`);
    return JSON.stringify({ label: labels });
}

/** Removes the containers, networks and volumes of one run (or of every test run) that are still there. */
export async function removeByLabel(runId?: string): Promise<void> {
    const filters = labelFilters(runId);
    const containers = await callJson<{ Id: string }[]>({ method: "GET", path: "/containers/json", query: { all: 1, filters } });
    for (const container of containers) await removeContainer(container.Id);
    const networks = await callJson<{ Id: string }[]>({ method: "GET", path: "/networks", query: { filters } });
    for (const network of networks) await call({ method: "DELETE", path: `/networks/${network.Id}` }, [404]);
    const volumes = await callJson<{ Volumes: { Name: string }[] | null }>({ method: "GET", path: "/volumes", query: { filters } });
    for (const volume of volumes.Volumes ?? [])
        await call({ method: "DELETE", path: `/volumes/${volume.Name}`, query: { force: 1 } }, [404]);
}

async function removeContainer(id: string): Promise<void> {
    await call({ method: "DELETE", path: `/containers/${id}`, query: { force: 1, v: 1 } }, [404]);
}

// ------------------------------------------------------------------ validation

/** Durations in the engine's unit (nanoseconds). */
const seconds = (value: number): number => Math.round(value * 1e9);

type NamedNetwork = { name: string; ipv4Address?: string; aliases?: string[] };

/** The plan network a container joins; undefined for host networking and none. */
function namedNetwork(network: ContainerSpec["network"]): NamedNetwork | undefined {
    return "name" in network ? network : undefined;
}

function networkMode(network: ContainerSpec["network"]): string {
    if ("host" in network && network.host) return "host";
    if ("none" in network && network.none) return "none";
    return (network as NamedNetwork).name;
}

/** Start order honouring `after`; throws on unknown names and cycles. */
export function startOrder(containers: ContainerSpec[]): ContainerSpec[] {
    const byName = new Map(containers.map((c) => [c.name, c]));
    const ordered: ContainerSpec[] = [];
    const state = new Map<string, "visiting" | "done">();
    const visit = (spec: ContainerSpec, chain: string[]): void => {
        if (state.get(spec.name) === "done") return;
        if (state.get(spec.name) === "visiting")
            throw new Error(`containers depend on each other in a cycle: ${[...chain, spec.name].join(" -> ")}`);
        state.set(spec.name, "visiting");
        for (const dependency of spec.after ?? []) {
            const target = byName.get(dependency);
            if (!target) throw new Error(`container ${spec.name} starts after ${dependency}, which is not in the plan`);
            visit(target, [...chain, spec.name]);
        }
        state.set(spec.name, "done");
        ordered.push(spec);
    };
    for (const spec of containers) visit(spec, []);
    return ordered;
}

function unique(kind: string, names: string[]): void {
    const seen = new Set<string>();
    for (const name of names) {
        if (seen.has(name)) throw new Error(`the plan has two ${kind} named ${name}`);
        seen.add(name);
    }
}

/** Catches what the engine would silently ignore or report obscurely. */
export function validatePlan(plan: DockerPlan): void {
    unique(
        "networks",
        plan.networks.map((n) => n.name),
    );
    unique(
        "volumes",
        plan.volumes.map((v) => v.name),
    );
    unique(
        "containers",
        plan.containers.map((c) => c.name),
    );
    const networks = new Map(plan.networks.map((n) => [n.name, n]));
    const volumes = new Set(plan.volumes.map((v) => v.name));
    for (const spec of plan.containers) {
        const where = `container ${spec.name}`;
        if (spec.dockerHost !== undefined && !spec.dockerHost.startsWith("unix://")) {
            throw new Error(
                `${where}: the harness realizes plans on the local engine only; dockerHost ${spec.dockerHost} is not a unix socket`,
            );
        }
        if (spec.dockerHost !== undefined && engineSocket(spec.dockerHost) !== engineSocket()) {
            throw new Error(`${where}: dockerHost ${spec.dockerHost} is not the harness's engine ${engineSocket()}`);
        }
        const joined = namedNetwork(spec.network);
        if (!joined) {
            if (spec.ports?.length) throw new Error(`${where}: ports cannot be published with network mode ${networkMode(spec.network)}`);
        } else {
            const network: NetworkSpec | undefined = networks.get(joined.name);
            if (!network) throw new Error(`${where}: network ${joined.name} is not in the plan`);
            // The engine drops published ports on internal networks without a word.
            if (network.internal && spec.ports?.length) {
                throw new Error(
                    `${where}: network ${network.name} is internal, and the engine does not publish ports of containers on internal networks`,
                );
            }
            if (joined.ipv4Address && !network.subnet) {
                throw new Error(`${where}: a static address needs a subnet on network ${network.name}`);
            }
        }
        for (const mount of spec.mounts) {
            if (!mount.target.startsWith("/")) throw new Error(`${where}: mount target ${mount.target} is not absolute`);
            if (mount.hostPath && !mount.source.startsWith("/")) throw new Error(`${where}: host path ${mount.source} is not absolute`);
            if (!mount.hostPath && !volumes.has(mount.source)) throw new Error(`${where}: volume ${mount.source} is not in the plan`);
        }
        for (const file of spec.files) {
            if (!file.path.startsWith("/") || file.path.endsWith("/"))
                throw new Error(`${where}: file path ${file.path} must be an absolute file path`);
            if ((file.content === undefined) === (file.sourcePath === undefined)) {
                throw new Error(`${where}: file ${file.path} needs exactly one of content and sourcePath`);
            }
        }
        const test = spec.healthCheck?.test ?? [];
        if (spec.healthCheck && !["CMD", "CMD-SHELL", "NONE"].includes(test[0])) {
            throw new Error(`${where}: healthCheck.test must start with "CMD" (exec form), got ${JSON.stringify(test)}`);
        }
    }
    startOrder(plan.containers);
}

// ------------------------------------------------------------------ engine objects

function labelsOf(runId: string, own?: Record<string, string>): Record<string, string> {
    return { ...(own ?? {}), [TEST_LABEL]: "1", [RUN_LABEL]: runId };
}

async function createNetwork(spec: NetworkSpec, runId: string): Promise<string> {
    const created = await callJson<{ Id: string }>({
        method: "POST",
        path: "/networks/create",
        body: {
            Name: spec.name,
            CheckDuplicate: true,
            Driver: "bridge",
            Internal: spec.internal ?? false,
            IPAM: {
                Driver: "default",
                Config: spec.subnet ? [{ Subnet: spec.subnet, ...(spec.gateway ? { Gateway: spec.gateway } : {}) }] : [],
            },
            Labels: labelsOf(runId, spec.labels),
        },
    });
    return created.Id;
}

/**
 * The body of POST /containers/create for a spec, as the docker provider sends
 * it: a container that joins a plan network is created on the default
 * `bridge` and connected to its network afterwards (networkConnection).
 */
export function containerConfig(spec: ContainerSpec, runId: string): Record<string, unknown> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const port of spec.ports ?? []) {
        const key = `${port.internal}/tcp`;
        exposed[key] = {};
        (bindings[key] ??= []).push({ HostIp: port.ip ?? "127.0.0.1", HostPort: port.external === undefined ? "" : String(port.external) });
    }
    const health = spec.healthCheck && {
        Test: spec.healthCheck.test,
        Interval: seconds(spec.healthCheck.intervalSeconds),
        Timeout: seconds(spec.healthCheck.timeoutSeconds),
        Retries: spec.healthCheck.retries,
        StartPeriod: seconds(spec.healthCheck.startPeriodSeconds),
    };
    return {
        Image: spec.image,
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.command.length > 0 ? { Cmd: spec.command } : {}),
        Env: Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`),
        ...(spec.user ? { User: spec.user } : {}),
        ...(spec.hostname && networkMode(spec.network) !== "host" ? { Hostname: spec.hostname } : {}),
        Labels: labelsOf(runId, spec.labels),
        ExposedPorts: exposed,
        ...(health ? { Healthcheck: health } : {}),
        HostConfig: {
            NetworkMode: namedNetwork(spec.network) ? "bridge" : networkMode(spec.network),
            PortBindings: bindings,
            Mounts: spec.mounts.map((mount) => ({
                Type: mount.hostPath ? "bind" : "volume",
                Source: mount.source,
                Target: mount.target,
                ReadOnly: mount.readOnly ?? false,
            })),
            RestartPolicy: { Name: spec.restart ?? "no" },
        },
    };
}

/** The plan network a created container is connected to (POST /networks/{name}/connect), with its address and aliases. */
export function networkConnection(
    spec: ContainerSpec,
): { network: string; body: { EndpointConfig: { IPAMConfig: { IPv4Address?: string }; Aliases?: string[] } } } | undefined {
    const network = namedNetwork(spec.network);
    if (!network) return undefined;
    return {
        network: network.name,
        body: {
            EndpointConfig: {
                IPAMConfig: network.ipv4Address ? { IPv4Address: network.ipv4Address } : {},
                ...(network.aliases?.length ? { Aliases: network.aliases } : {}),
            },
        },
    };
}

async function createContainer(spec: ContainerSpec, runId: string): Promise<string> {
    let id: string;
    try {
        const created = await callJson<{ Id: string }>({
            method: "POST",
            path: "/containers/create",
            query: { name: spec.name },
            body: containerConfig(spec, runId),
        });
        id = created.Id;
    } catch (error) {
        if (error instanceof DockerApiError && error.status === 409) {
            throw new Error(
                `${error.message}\n(a container named ${spec.name} already exists: a crashed run left it; removeByLabel() clears test leftovers)`,
            );
        }
        if (error instanceof DockerApiError && error.status === 404 && /image/i.test(error.message)) {
            throw new Error(`${error.message}\n(image ${spec.image} is not built: run bash scripts/images.sh)`);
        }
        throw error;
    }
    const connection = networkConnection(spec);
    if (connection) {
        await call({ method: "POST", path: "/networks/bridge/disconnect", body: { Container: id, Force: false } });
        await call({ method: "POST", path: `/networks/${connection.network}/connect`, body: { Container: id, ...connection.body } });
    }
    return id;
}

async function pathExists(id: string, containerPath: string): Promise<boolean> {
    const response = await callRaw({ method: "HEAD", path: `/containers/${id}/archive`, query: { path: containerPath } });
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw new DockerApiError(response.status, "HEAD", `/containers/${id}/archive?path=${containerPath}`, "cannot stat");
}

/**
 * Puts the spec's files into the created container the way @pulumi/docker's
 * uploads do: owned by root whatever the container's user, missing parents
 * created 0755, existing directories (such as /tmp) left as they are. Each
 * archive is extracted at the deepest directory that exists.
 */
async function putFiles(id: string, spec: ContainerSpec): Promise<void> {
    const root = { uid: 0, gid: 0 };
    for (const file of spec.files) {
        const content = file.content !== undefined ? Buffer.from(file.content, "utf8") : await fs.readFile(file.sourcePath as string);
        let base = path.posix.dirname(file.path);
        const missing: string[] = [];
        while (base !== "/" && !(await pathExists(id, base))) {
            missing.unshift(path.posix.basename(base));
            base = path.posix.dirname(base);
        }
        const entries: TarEntry[] = [];
        for (let i = 1; i <= missing.length; i++) {
            entries.push({ name: missing.slice(0, i).join("/"), type: "directory", mode: 0o755, ...root, content: Buffer.alloc(0) });
        }
        entries.push({ name: [...missing, path.posix.basename(file.path)].join("/"), type: "file", mode: file.mode, ...root, content });
        await call({
            method: "PUT",
            path: `/containers/${id}/archive`,
            query: { path: base },
            body: writeTar(entries),
            contentType: "application/x-tar",
        });
    }
}

async function inspectContainer(id: string): Promise<any> {
    return callJson<any>({ method: "GET", path: `/containers/${id}/json` });
}

async function containerLogs(id: string): Promise<string> {
    const response = await call({ method: "GET", path: `/containers/${id}/logs`, query: { stdout: 1, stderr: 1 } });
    return demultiplex(response.body).combined.toString("utf8");
}

function describeFor(name: string, logs: string): string {
    const tail = logs.split("\n").slice(-40).join("\n");
    return `--- last log lines of ${name}:\n${tail}`;
}

function realizedFrom(name: string, info: any, networkName?: string): RealizedContainer {
    const hostPorts: Record<number, number> = {};
    for (const [key, bindings] of Object.entries<any>(info.NetworkSettings?.Ports ?? {})) {
        const binding = (bindings as { HostPort: string }[] | null)?.[0];
        if (binding?.HostPort) hostPorts[Number(key.split("/")[0])] = Number(binding.HostPort);
    }
    const address = networkName ? info.NetworkSettings?.Networks?.[networkName]?.IPAddress : undefined;
    return { id: info.Id, name, ipAddress: address || undefined, hostPorts };
}

async function waitUntilHealthy(name: string, id: string, deadline: number): Promise<void> {
    for (;;) {
        const info = await inspectContainer(id);
        const health = info.State?.Health;
        if (!health) throw new Error(`container ${name} has no health check to wait for`);
        if (health.Status === "healthy") return;
        const lastCheck = health.Log?.[health.Log.length - 1];
        const checkText = lastCheck
            ? `last health check: exit ${lastCheck.ExitCode}: ${String(lastCheck.Output).trim()}`
            : "no health check ran";
        if (!info.State.Running) {
            throw new Error(
                `container ${name} exited (code ${info.State.ExitCode}) before it became healthy; ${checkText}\n${describeFor(name, await containerLogs(id))}`,
            );
        }
        if (Date.now() > deadline) {
            throw new Error(
                `container ${name} is not healthy in time (status ${health.Status}); ${checkText}\n${describeFor(name, await containerLogs(id))}`,
            );
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
}

/** Starts a one-shot container and waits for its end (the provider's `attach: true`); returns the exit code. */
async function runToCompletion(name: string, id: string, deadline: number): Promise<number> {
    await call({ method: "POST", path: `/containers/${id}/start` }, [304]);
    const timeoutMs = Math.max(1_000, deadline - Date.now());
    try {
        const result = await callJson<{ StatusCode: number }>({
            method: "POST",
            path: `/containers/${id}/wait`,
            query: { condition: "not-running" },
            timeoutMs,
        });
        return result.StatusCode;
    } catch (error) {
        throw new Error(
            `container ${name} did not finish within ${timeoutMs} ms: ${(error as Error).message}\n${describeFor(name, await containerLogs(id))}`,
        );
    }
}

/** How long the provider waits after a start before it reads the container back (containerReadRefreshDelay). */
const PROVIDER_READ_DELAY_MS = 100;

/**
 * Starts a long-running container as the provider does with `mustRun: true`:
 * it reads the container back shortly after the start, and one that has
 * already exited is deleted and reported ("container exited immediately").
 * One that dies later is not noticed by the deployment.
 */
async function startLongRunning(name: string, id: string): Promise<void> {
    await call({ method: "POST", path: `/containers/${id}/start` }, [304]);
    await new Promise((resolve) => setTimeout(resolve, PROVIDER_READ_DELAY_MS));
    const info = await inspectContainer(id);
    if (!info.State.Running) {
        const logs = await containerLogs(id);
        await removeContainer(id);
        throw new Error(
            `container ${name} exited immediately (code ${info.State.ExitCode}); the provider deleted it\n${describeFor(name, logs)}`,
        );
    }
}

/** Refuses a container whose one-shots did not all exit 0, as the component's gate label does. */
async function gateOnOneShots(
    spec: ContainerSpec,
    specs: Map<string, ContainerSpec>,
    exitCodes: Map<string, number>,
    ids: Map<string, string>,
): Promise<void> {
    const oneShots = (spec.after ?? []).filter((name) => specs.get(name)?.runToCompletion);
    const failure = oneShotFailure(
        spec.name,
        oneShots.map((name) => ({ name, exitCode: exitCodes.get(name) })),
    );
    if (failure === undefined) return;
    const logs: string[] = [];
    for (const name of oneShots)
        if (exitCodes.get(name) !== 0 && ids.has(name)) logs.push(describeFor(name, await containerLogs(ids.get(name)!)));
    throw new Error([failure, ...logs].join("\n"));
}

async function execIn(id: string, argv: string[], input: Buffer | undefined, timeoutMs: number): Promise<ExecResult> {
    const created = await callJson<{ Id: string }>({
        method: "POST",
        path: `/containers/${id}/exec`,
        body: { Cmd: argv, AttachStdin: input !== undefined, AttachStdout: true, AttachStderr: true, Tty: false },
    });
    const stream = await hijack(`/exec/${created.Id}/start`, { Detach: false, Tty: false }, input, timeoutMs);
    const output = demultiplex(stream);
    // The stream can close a moment before the engine records the exit code.
    const deadline = Date.now() + 10_000;
    for (;;) {
        const info = await callJson<{ Running: boolean; ExitCode: number | null }>({ method: "GET", path: `/exec/${created.Id}/json` });
        if (!info.Running && info.ExitCode !== null) {
            return { exitCode: info.ExitCode, stdout: output.stdout.toString("utf8"), stderr: output.stderr.toString("utf8") };
        }
        if (Date.now() > deadline) throw new Error(`exec ${argv[0]} in ${id}: no exit code after its output ended`);
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

async function readContainerFile(id: string, filePath: string): Promise<ContainerFileContent> {
    const response = await call({ method: "GET", path: `/containers/${id}/archive`, query: { path: filePath } });
    const entry = readTar(response.body).find((e) => e.type === "file");
    if (!entry) throw new Error(`${filePath} in ${id} is not a regular file`);
    return { mode: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid, content: entry.content };
}

// ------------------------------------------------------------------ realize

/** What one deployment did to each container. */
export interface UpdateReport {
    created: string[];
    replaced: string[];
    /** Updated in place (only the restart policy can be). */
    updated: string[];
    unchanged: string[];
    deleted: string[];
    /** Every create and delete in the order the engine did it, e.g. "delete m-0", "create m-0". */
    steps: string[];
}

interface EngineState {
    runId: string;
    deadline: number;
    oneShotFailure: "record" | "fail";
    specs: Map<string, ContainerSpec>;
    ids: Map<string, string>;
    exitCodes: Map<string, number>;
    steps: string[];
    /** Containers whose create failed after the ID was set: the engine keeps them with init errors. */
    initErrors: Set<string>;
}

/**
 * Creates (files in place) and starts or runs one container of `plan`, as the
 * provider's create does; in the state from then on, as in the engine's.
 */
async function createAndStart(spec: ContainerSpec, plan: Map<string, ContainerSpec>, state: EngineState): Promise<void> {
    await gateOnOneShots(spec, plan, state.exitCodes, state.ids);
    const id = await createContainer(spec, state.runId);
    state.ids.set(spec.name, id);
    state.specs.set(spec.name, spec);
    state.steps.push(`create ${spec.name}`);
    await putFiles(id, spec);
    if (spec.runToCompletion) {
        const exitCode = await runToCompletion(spec.name, id, state.deadline);
        state.exitCodes.set(spec.name, exitCode);
        if (exitCode !== 0 && state.oneShotFailure === "fail") {
            throw new Error(`container ${spec.name} exited with code ${exitCode}\n${describeFor(spec.name, await containerLogs(id))}`);
        }
    } else {
        try {
            await startLongRunning(spec.name, id);
        } catch (error) {
            state.ids.delete(spec.name);
            state.specs.delete(spec.name);
            throw error;
        }
        if (spec.waitHealthySeconds !== undefined) {
            try {
                await waitHealthyAsTheProviderDoes(spec.name, id, spec.waitHealthySeconds);
            } catch (error) {
                // The provider returns the error with the ID set and does not remove the container: the engine
                // records it with an init error, the update fails, and the container stays as it is.
                state.initErrors.add(spec.name);
                throw error;
            }
        }
    }
}

/**
 * The provider's `wait: true` (resourceDockerContainerCreate): after the start
 * it inspects the container every second until Docker reports it healthy, and
 * fails the create with "container failed to be in healthy state" once
 * `waitTimeout` seconds are over. It does not stop early on "unhealthy" or on
 * an exited container; a container without a health check fails at once.
 */
async function waitHealthyAsTheProviderDoes(name: string, id: string, waitTimeoutSeconds: number): Promise<void> {
    const deadline = Date.now() + waitTimeoutSeconds * 1000;
    for (;;) {
        const info = await inspectContainer(id);
        if (!info.State?.Health) {
            throw new Error(`creating ${name}: you have supplied a 'wait' argument, but the container does not have a healthcheck defined`);
        }
        if (info.State.Health.Status === "healthy") return;
        if (Date.now() >= deadline) {
            throw new Error(
                `creating ${name}: container failed to be in healthy state (waited ${waitTimeoutSeconds} s)\n${describeFor(name, await containerLogs(id))}`,
            );
        }
        await new Promise((resolve) => setTimeout(resolve, PROVIDER_WAIT_POLL_MS));
    }
}

/** The provider's wait polls once a second. */
const PROVIDER_WAIT_POLL_MS = 1000;

async function deleteContainer(name: string, state: EngineState): Promise<void> {
    const id = state.ids.get(name);
    if (id === undefined) return;
    // Out of the state before the engine call: two one-shots may cascade to the same container at once.
    state.ids.delete(name);
    state.specs.delete(name);
    state.exitCodes.delete(name);
    state.initErrors.delete(name);
    state.steps.push(`delete ${name}`);
    await removeContainer(id);
}

/**
 * Walks the plan as the Pulumi engine walks a program: each container's step
 * (`step(spec)`: create, replace or nothing) starts once the steps of the
 * containers it names in `after` are done, independent ones at the same time.
 * Waits for every branch to settle before reporting, so a failure never
 * leaves a start racing the cleanup; the error names every container that
 * failed. A container whose dependency failed gets no step at all.
 */
async function walkAsTheEngineDoes(ordered: ContainerSpec[], step: (spec: ContainerSpec) => Promise<void>): Promise<void> {
    const byName = new Map(ordered.map((spec) => [spec.name, spec]));
    const done = new Map<string, Promise<void>>();
    const visit = (spec: ContainerSpec): Promise<void> => {
        let settled = done.get(spec.name);
        if (!settled) {
            settled = (async () => {
                await Promise.all((spec.after ?? []).map((name) => visit(byName.get(name)!)));
                await step(spec);
            })();
            done.set(spec.name, settled);
        }
        return settled;
    };
    const results = await Promise.allSettled(ordered.map(visit));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => (r.reason as Error).message);
    if (failures.length > 0) throw new Error([...new Set(failures)].join("\n"));
}

/** What the provider compares: the create body, the network connection and every uploaded file. */
function providerInputs(spec: ContainerSpec): string {
    const files = spec.files.map((f) => ({
        path: f.path,
        mode: f.mode,
        content: f.content,
        source: f.sourcePath !== undefined ? fileSha256(f.sourcePath) : undefined,
    }));
    const { HostConfig, ...config } = containerConfig(spec, "") as { HostConfig: Record<string, unknown> };
    const { RestartPolicy: _inPlace, ...hostConfig } = HostConfig;
    return JSON.stringify({
        config,
        hostConfig,
        connection: networkConnection(spec),
        files,
        oneShot: spec.runToCompletion ?? false,
        dockerHost: spec.dockerHost,
    });
}

/**
 * A second `pulumi up` of a changed plan, as the engine and the docker provider
 * do it:
 * - a container whose name is new is created, beside whatever runs: a new
 *   name is a new resource, never a replacement of another one;
 * - a container whose inputs changed is replaced; every input of a
 *   docker_container is ForceNew except the restart policy (updated in place);
 * - a container marked firstRunOnly keeps its old inputs (ignoreChanges);
 * - every container has a fixed name, so replacement is delete-before-replace:
 *   the old one is deleted when the engine reaches it, i.e. once the steps of
 *   the containers it starts after are done;
 * - a container gated on one-shots gets no step at all, not even the delete of
 *   its old self, unless they all exited 0: the program computes the gate
 *   label before it registers the container;
 * - before a one-shot is deleted for its replacement, the containers gated on
 *   it in the previous deployment (their gate label is computed from its exit
 *   code, a property dependency) are deleted first, since the engine finds they
 *   must be replaced too (calculateDependentReplacements walks the old
 *   dependency graph); a plain `after` (dependsOn) never makes the engine
 *   replace anything;
 * - volumes and networks with a new name are created first;
 * - containers, volumes and networks no longer in the plan are deleted last,
 *   dependents first, and only when every other step succeeded: the engine
 *   generates those deletes once the program has finished without an error
 *   (performDeletes); a failed update deletes none of them, and they stay
 *   for the next one.
 */
async function updateAsTheEngineDoes(
    next: DockerPlan,
    state: EngineState,
    resources: { networks: Map<string, string>; volumes: Set<string> },
): Promise<UpdateReport> {
    validatePlan(next);
    const report: UpdateReport = { created: [], replaced: [], updated: [], unchanged: [], deleted: [], steps: [] };
    const stepsBefore = state.steps.length;
    const previous = new Map(state.specs);
    for (const network of next.networks)
        if (!resources.networks.has(network.name)) resources.networks.set(network.name, await createNetwork(network, state.runId));
    for (const volume of next.volumes) {
        if (resources.volumes.has(volume.name)) continue;
        await call({ method: "POST", path: "/volumes/create", body: { Name: volume.name, Labels: labelsOf(state.runId, volume.labels) } });
        resources.volumes.add(volume.name);
    }
    const ordered = startOrder(next.containers);
    const planSpecs = new Map(ordered.map((spec) => [spec.name, spec]));
    const changed = new Set(
        ordered
            .filter(
                (spec) =>
                    previous.has(spec.name) &&
                    !previous.get(spec.name)!.firstRunOnly &&
                    providerInputs(previous.get(spec.name)!) !== providerInputs(spec),
            )
            .map((spec) => spec.name),
    );
    // The previous deployment's containers gated on a one-shot (the engine's old dependency graph).
    const gatedOn = (oneShot: string) =>
        [...previous.values()].filter((old) => (old.after ?? []).includes(oneShot) && previous.get(oneShot)?.runToCompletion);
    // Containers the engine deletes before a one-shot they are gated on, and replaces.
    const cascaded = new Set<string>();
    const cascade = (name: string) => {
        for (const dependent of gatedOn(name)) {
            // One no longer in the plan is deleted all the same (the engine's delete-replacement), and not recreated.
            if (cascaded.has(dependent.name)) continue;
            cascaded.add(dependent.name);
            cascade(dependent.name);
        }
    };
    for (const name of changed) if (previous.get(name)!.runToCompletion) cascade(name);

    await walkAsTheEngineDoes(ordered, async (spec) => {
        // The gate label is an input: the program computes it before it registers the container, so a failed
        // one-shot stops the container's step before anything happens to it (no delete of the old one either).
        await gateOnOneShots(spec, planSpecs, state.exitCodes, state.ids);
        const old = previous.get(spec.name);
        if (!old) {
            await createAndStart(spec, planSpecs, state);
            report.created.push(spec.name);
        } else if (changed.has(spec.name) || cascaded.has(spec.name)) {
            for (const dependent of [...cascaded].filter((d) => gatedOn(spec.name).some((g) => g.name === d)).reverse())
                await deleteContainer(dependent, state);
            await deleteContainer(spec.name, state);
            await createAndStart(spec, planSpecs, state);
            report.replaced.push(spec.name);
        } else if ((old.restart ?? "no") !== (spec.restart ?? "no")) {
            await call({
                method: "POST",
                path: `/containers/${state.ids.get(spec.name)}/update`,
                body: { RestartPolicy: { Name: spec.restart ?? "no" } },
            });
            state.specs.set(spec.name, { ...old, restart: spec.restart });
            state.initErrors.delete(spec.name);
            report.updated.push(spec.name);
        } else if (state.initErrors.has(spec.name)) {
            // Unchanged but with an init error: the engine sends an empty update (no replaceOnChanges), the
            // provider's update does nothing (no second wait), and the init error is cleared.
            state.initErrors.delete(spec.name);
            report.updated.push(spec.name);
        } else {
            report.unchanged.push(spec.name);
        }
    });

    // Reached only when every step above succeeded (walkAsTheEngineDoes throws otherwise).
    const kept = new Set(next.containers.map((c) => c.name));
    // Dependents first: the reverse of the order they were created in (a container is created after those it starts after).
    for (const name of [...previous.keys()].filter((c) => !kept.has(c)).reverse()) {
        await deleteContainer(name, state);
        report.deleted.push(name);
    }
    const keptVolumes = new Set(next.volumes.map((v) => v.name));
    for (const name of [...resources.volumes].filter((v) => !keptVolumes.has(v))) {
        await call({ method: "DELETE", path: `/volumes/${name}`, query: { force: 1 } }, [404]);
        resources.volumes.delete(name);
    }
    const keptNetworks = new Set(next.networks.map((n) => n.name));
    for (const [name, id] of [...resources.networks].filter(([n]) => !keptNetworks.has(n))) {
        await call({ method: "DELETE", path: `/networks/${id}` }, [404]);
        resources.networks.delete(name);
    }
    report.steps = state.steps.slice(stepsBefore);
    return report;
}

function newRunId(): string {
    return `run-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
}

/** Creates the plan's networks, volumes and containers, starts them in order, and waits for health. */
export async function realizePlan(plan: DockerPlan, opts: RealizeOptions = {}): Promise<RealizedPlan> {
    validatePlan(plan);
    const runId = opts.runId ?? newRunId();
    const state: EngineState = {
        runId,
        deadline: Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
        oneShotFailure: opts.oneShotFailure ?? "record",
        specs: new Map(),
        ids: new Map(),
        exitCodes: new Map(),
        steps: [],
        initErrors: new Set(),
    };
    const networks = new Map<string, string>();
    const volumes = new Set<string>();
    const containers: Record<string, RealizedContainer> = {};
    const exitCodes: Record<string, number> = {};

    const idOf = (name: string): string => {
        const id = state.ids.get(name);
        if (!id) throw new Error(`no container ${name} in this realization (known: ${[...state.ids.keys()].join(", ")})`);
        return id;
    };
    const networkOf = (name: string): string | undefined => {
        const network = state.specs.get(name)?.network;
        return network ? namedNetwork(network)?.name : undefined;
    };
    const refresh = async (name: string): Promise<void> => {
        containers[name] = realizedFrom(name, await inspectContainer(idOf(name)), networkOf(name));
    };
    const refreshAll = async (): Promise<void> => {
        for (const name of Object.keys(containers)) if (!state.ids.has(name)) delete containers[name];
        for (const name of Object.keys(exitCodes)) delete exitCodes[name];
        for (const [name, code] of state.exitCodes) exitCodes[name] = code;
        for (const name of state.ids.keys()) await refresh(name);
    };
    const waitForHealth = async (specs: ContainerSpec[]): Promise<void> => {
        if (!(opts.waitHealthy ?? true)) return;
        await Promise.all(
            specs
                .filter((spec) => spec.healthCheck && !spec.runToCompletion && state.ids.has(spec.name))
                .map((spec) => waitUntilHealthy(spec.name, idOf(spec.name), state.deadline)),
        );
    };

    const destroy = async (): Promise<void> => {
        for (const id of [...state.ids.values()].reverse()) await removeContainer(id);
        state.ids.clear();
        for (const id of [...networks.values()].reverse()) await call({ method: "DELETE", path: `/networks/${id}` }, [404]);
        networks.clear();
        for (const name of [...volumes].reverse()) await call({ method: "DELETE", path: `/volumes/${name}`, query: { force: 1 } }, [404]);
        volumes.clear();
        for (const name of Object.keys(containers)) delete containers[name];
    };

    try {
        for (const network of plan.networks) networks.set(network.name, await createNetwork(network, runId));
        for (const volume of plan.volumes) {
            await call({ method: "POST", path: "/volumes/create", body: { Name: volume.name, Labels: labelsOf(runId, volume.labels) } });
            volumes.add(volume.name);
        }
        const ordered = startOrder(plan.containers);
        const planSpecs = new Map(ordered.map((spec) => [spec.name, spec]));
        await walkAsTheEngineDoes(ordered, (spec) => createAndStart(spec, planSpecs, state));
        await refreshAll();
        await waitForHealth(ordered);
    } catch (error) {
        try {
            await destroy();
        } catch (cleanupError) {
            (error as Error).message +=
                `\n(cleanup after the failure also failed: ${(cleanupError as Error).message}; removeByLabel("${runId}") retries it)`;
        }
        throw error;
    }

    return {
        runId,
        containers,
        exitCodes,
        update: async (next, updateOpts) => {
            state.deadline = Date.now() + (updateOpts?.timeoutMs ?? opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
            try {
                const report = await updateAsTheEngineDoes(next, state, { networks, volumes });
                await refreshAll();
                await waitForHealth(startOrder(next.containers));
                return report;
            } finally {
                // A failed update leaves what it did in place, as a failed `pulumi up` does.
                await refreshAll().catch(() => undefined);
            }
        },
        exec: (name, argv, execOpts) => execIn(idOf(name), argv, execOpts?.input, execOpts?.timeoutMs ?? 60_000),
        logs: (name) => containerLogs(idOf(name)),
        inspect: (name) => inspectContainer(idOf(name)),
        readFile: (name, filePath) => readContainerFile(idOf(name), filePath),
        stop: async (name) => {
            await call({ method: "POST", path: `/containers/${idOf(name)}/stop`, query: { t: 10 }, timeoutMs: 30_000 }, [304]);
        },
        start: async (name) => {
            await call({ method: "POST", path: `/containers/${idOf(name)}/start` }, [304]);
            await refresh(name);
        },
        waitHealthy: (name, timeoutMs = DEFAULT_TIMEOUT_MS) => waitUntilHealthy(name, idOf(name), Date.now() + timeoutMs),
        remove: async (name) => {
            await removeContainer(idOf(name));
            state.ids.delete(name);
            delete containers[name];
        },
        destroy,
    };
}

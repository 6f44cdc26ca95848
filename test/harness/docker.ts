/**
 * Realizes a DockerPlan (src/docker/plan.ts) in the real Docker engine, so
 * that what a component declares is what the tests prove: networks, volumes,
 * containers with their files (put in before start, with their modes), static
 * addresses, published ports, exec-form health checks and start order.
 *
 * Everything created carries the labels etcd-recovery.test=1 and
 * etcd-recovery.run=<runId>; `removeByLabel` clears what a crashed run left.
 */
import { promises as fs } from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
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
    for (const volume of volumes.Volumes ?? []) await call({ method: "DELETE", path: `/volumes/${volume.Name}`, query: { force: 1 } }, [404]);
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
        if (state.get(spec.name) === "visiting") throw new Error(`containers depend on each other in a cycle: ${[...chain, spec.name].join(" -> ")}`);
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
    unique("networks", plan.networks.map((n) => n.name));
    unique("volumes", plan.volumes.map((v) => v.name));
    unique("containers", plan.containers.map((c) => c.name));
    const networks = new Map(plan.networks.map((n) => [n.name, n]));
    const volumes = new Set(plan.volumes.map((v) => v.name));
    for (const spec of plan.containers) {
        const where = `container ${spec.name}`;
        if (spec.dockerHost !== undefined && !spec.dockerHost.startsWith("unix://")) {
            throw new Error(`${where}: the harness realizes plans on the local engine only; dockerHost ${spec.dockerHost} is not a unix socket`);
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
                throw new Error(`${where}: network ${network.name} is internal, and the engine does not publish ports of containers on internal networks`);
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
            if (!file.path.startsWith("/") || file.path.endsWith("/")) throw new Error(`${where}: file path ${file.path} must be an absolute file path`);
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
            IPAM: { Driver: "default", Config: spec.subnet ? [{ Subnet: spec.subnet, ...(spec.gateway ? { Gateway: spec.gateway } : {}) }] : [] },
            Labels: labelsOf(runId, spec.labels),
        },
    });
    return created.Id;
}

/** The body of POST /containers/create for a spec. */
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
    const network = namedNetwork(spec.network);
    const endpoints = !network
        ? undefined
        : {
              [network.name]: {
                  ...(network.ipv4Address ? { IPAMConfig: { IPv4Address: network.ipv4Address } } : {}),
                  ...(network.aliases?.length ? { Aliases: network.aliases } : {}),
              },
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
            NetworkMode: networkMode(spec.network),
            PortBindings: bindings,
            Mounts: spec.mounts.map((mount) => ({
                Type: mount.hostPath ? "bind" : "volume",
                Source: mount.source,
                Target: mount.target,
                ReadOnly: mount.readOnly ?? false,
            })),
            RestartPolicy: { Name: spec.restart ?? "no" },
        },
        ...(endpoints ? { NetworkingConfig: { EndpointsConfig: endpoints } } : {}),
    };
}

async function createContainer(spec: ContainerSpec, runId: string): Promise<string> {
    try {
        const created = await callJson<{ Id: string }>({ method: "POST", path: "/containers/create", query: { name: spec.name }, body: containerConfig(spec, runId) });
        return created.Id;
    } catch (error) {
        if (error instanceof DockerApiError && error.status === 409) {
            throw new Error(`${error.message}\n(a container named ${spec.name} already exists: a crashed run left it; removeByLabel() clears test leftovers)`);
        }
        if (error instanceof DockerApiError && error.status === 404 && /image/i.test(error.message)) {
            throw new Error(`${error.message}\n(image ${spec.image} is not built: run bash scripts/images.sh)`);
        }
        throw error;
    }
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
        const checkText = lastCheck ? `last health check: exit ${lastCheck.ExitCode}: ${String(lastCheck.Output).trim()}` : "no health check ran";
        if (!info.State.Running) {
            throw new Error(`container ${name} exited (code ${info.State.ExitCode}) before it became healthy; ${checkText}\n${describeFor(name, await containerLogs(id))}`);
        }
        if (Date.now() > deadline) {
            throw new Error(`container ${name} is not healthy in time (status ${health.Status}); ${checkText}\n${describeFor(name, await containerLogs(id))}`);
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
}

/** Starts a one-shot container and waits for it; a non-zero exit throws with its logs. */
async function runToCompletion(name: string, id: string, deadline: number): Promise<void> {
    await call({ method: "POST", path: `/containers/${id}/start` }, [304]);
    const timeoutMs = Math.max(1_000, deadline - Date.now());
    let result: { StatusCode: number };
    try {
        result = await callJson<{ StatusCode: number }>({ method: "POST", path: `/containers/${id}/wait`, query: { condition: "not-running" }, timeoutMs });
    } catch (error) {
        throw new Error(`container ${name} did not finish within ${timeoutMs} ms: ${(error as Error).message}\n${describeFor(name, await containerLogs(id))}`);
    }
    if (result.StatusCode !== 0) {
        throw new Error(`container ${name} exited with code ${result.StatusCode}\n${describeFor(name, await containerLogs(id))}`);
    }
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

/**
 * Creates (files in place) and starts every container as soon as the ones it
 * names in `after` are done (a one-shot finished, a long-running one
 * started), independent ones at the same time — as the Pulumi engine creates
 * resources that do not depend on each other. Waits for every branch to
 * settle before reporting, so a failure never leaves a start racing the
 * cleanup; the error names every container that failed. A container whose
 * dependency failed is never created.
 */
async function createAndStartAsTheEngineDoes(ordered: ContainerSpec[], create: (spec: ContainerSpec) => Promise<string>, deadline: number): Promise<void> {
    const byName = new Map(ordered.map((spec) => [spec.name, spec]));
    const done = new Map<string, Promise<void>>();
    const bringUp = (spec: ContainerSpec): Promise<void> => {
        let settled = done.get(spec.name);
        if (!settled) {
            settled = (async () => {
                await Promise.all((spec.after ?? []).map((name) => bringUp(byName.get(name)!)));
                const id = await create(spec);
                if (spec.runToCompletion) await runToCompletion(spec.name, id, deadline);
                else await call({ method: "POST", path: `/containers/${id}/start` }, [304]);
            })();
            done.set(spec.name, settled);
        }
        return settled;
    };
    const results = await Promise.allSettled(ordered.map(bringUp));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => (r.reason as Error).message);
    if (failures.length > 0) throw new Error([...new Set(failures)].join("\n"));
}

function newRunId(): string {
    return `run-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
}

/** Creates the plan's networks, volumes and containers, starts them in order, and waits for health. */
export async function realizePlan(plan: DockerPlan, opts: RealizeOptions = {}): Promise<RealizedPlan> {
    validatePlan(plan);
    const runId = opts.runId ?? newRunId();
    const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const specs = new Map(plan.containers.map((c) => [c.name, c]));
    const containerIds = new Map<string, string>();
    const networkIds: string[] = [];
    const volumeNames: string[] = [];
    const containers: Record<string, RealizedContainer> = {};

    const idOf = (name: string): string => {
        const id = containerIds.get(name);
        if (!id) throw new Error(`no container ${name} in this realization (known: ${[...containerIds.keys()].join(", ")})`);
        return id;
    };
    const networkOf = (name: string): string | undefined => {
        const network = specs.get(name)?.network;
        return network ? namedNetwork(network)?.name : undefined;
    };
    const refresh = async (name: string): Promise<void> => {
        containers[name] = realizedFrom(name, await inspectContainer(idOf(name)), networkOf(name));
    };

    const destroy = async (): Promise<void> => {
        for (const id of [...containerIds.values()].reverse()) await removeContainer(id);
        containerIds.clear();
        for (const id of networkIds.splice(0).reverse()) await call({ method: "DELETE", path: `/networks/${id}` }, [404]);
        for (const name of volumeNames.splice(0).reverse()) await call({ method: "DELETE", path: `/volumes/${name}`, query: { force: 1 } }, [404]);
        for (const name of Object.keys(containers)) delete containers[name];
    };

    try {
        for (const network of plan.networks) networkIds.push(await createNetwork(network, runId));
        for (const volume of plan.volumes) {
            await call({ method: "POST", path: "/volumes/create", body: { Name: volume.name, Labels: labelsOf(runId, volume.labels) } });
            volumeNames.push(volume.name);
        }
        const ordered = startOrder(plan.containers);
        const create = async (spec: ContainerSpec): Promise<string> => {
            const id = await createContainer(spec, runId);
            containerIds.set(spec.name, id);
            await putFiles(id, spec);
            return id;
        };
        await createAndStartAsTheEngineDoes(ordered, create, deadline);
        for (const spec of ordered) await refresh(spec.name);
        if (opts.waitHealthy ?? true) {
            const waits = ordered
                .filter((spec) => spec.healthCheck && !spec.runToCompletion)
                .map((spec) => waitUntilHealthy(spec.name, idOf(spec.name), deadline));
            await Promise.all(waits);
        }
    } catch (error) {
        try {
            await destroy();
        } catch (cleanupError) {
            (error as Error).message += `\n(cleanup after the failure also failed: ${(cleanupError as Error).message}; removeByLabel("${runId}") retries it)`;
        }
        throw error;
    }

    return {
        runId,
        containers,
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
            containerIds.delete(name);
            delete containers[name];
        },
        destroy,
    };
}

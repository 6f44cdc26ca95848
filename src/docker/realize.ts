import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as fs from "fs";
import { InputError } from "../errors";
import { ONE_SHOTS_SUCCEEDED_LABEL, oneShotFailure, oneShotsSucceededValue } from "./one-shot";
import { ContainerFile, ContainerSpec, DockerPlan, HealthCheckSpec, NetworkSpec } from "./plan";

/**
 * Turns a DockerPlan into @pulumi/docker resources, one to one. No knowledge
 * lives here: every name, flag and file comes from the plan, which the tests
 * also run in the real engine.
 */

export interface RealizedDockerPlan {
    networks: Record<string, docker.Network>;
    volumes: Record<string, docker.Volume>;
    containers: Record<string, docker.Container>;
}

export interface RealizeDockerPlanOptions {
    parent: pulumi.Resource;
    /** The engine for containers without `dockerHost`; default: the default docker provider. */
    provider?: docker.Provider;
    /** Resource-name prefix for providers created for `dockerHost` engines. */
    providerNamePrefix: string;
    dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export function realizeDockerPlan(plan: DockerPlan<pulumi.Input<string>>, options: RealizeDockerPlanOptions): RealizedDockerPlan {
    const { parent } = options;
    const engines = engineProviders(plan, options);
    const engineFor = (dockerHost: string | undefined) => (dockerHost === undefined ? options.provider : engines.get(dockerHost));
    const resourceOptions = (
        dockerHost: string | undefined,
        dependsOn: pulumi.Input<pulumi.Resource>[] = [],
    ): pulumi.CustomResourceOptions => {
        const provider = engineFor(dockerHost);
        return { parent, ...(provider ? { provider } : {}), dependsOn: [...(options.dependsOn ?? []), ...dependsOn] };
    };

    const networks: Record<string, docker.Network> = {};
    for (const network of plan.networks) {
        networks[network.name] = new docker.Network(network.name, networkArgs(network), resourceOptions(undefined));
    }
    const volumes: Record<string, docker.Volume> = {};
    const volumeHost = new Map<string, string | undefined>();
    for (const container of plan.containers) {
        for (const mount of container.mounts) if (!mount.hostPath) volumeHost.set(mount.source, container.dockerHost);
    }
    for (const volume of plan.volumes) {
        volumes[volume.name] = new docker.Volume(
            volume.name,
            { name: volume.name, labels: labelList(volume.labels) },
            resourceOptions(volumeHost.get(volume.name)),
        );
    }
    const containers: Record<string, docker.Container> = {};
    const specs = new Map(plan.containers.map((c) => [c.name, c]));
    for (const container of orderedContainers(plan.containers)) {
        const needs: pulumi.Resource[] = [
            ...("name" in container.network ? [networks[container.network.name]!] : []),
            ...container.mounts.filter((m) => !m.hostPath).map((m) => volumes[m.source]!),
            ...(container.after ?? []).map((name) => containers[name]!),
        ];
        const oneShots = (container.after ?? []).filter((name) => specs.get(name)!.runToCompletion);
        const args = containerArgs(container);
        if (oneShots.length > 0) {
            args.labels = [
                ...(args.labels as docker.types.input.ContainerLabel[]),
                oneShotsSucceededLabel(container.name, oneShots, containers, parent),
            ];
        }
        containers[container.name] = new docker.Container(container.name, args, {
            ...resourceOptions(container.dockerHost, needs),
            // Every container has a fixed name: the old one must go before the new one can be created.
            deleteBeforeReplace: true,
            // Run once, on the first deployment: running it again (on a data dir in use) could only fail.
            ...(container.firstRunOnly ? { ignoreChanges: Object.keys(args) } : {}),
        });
    }
    return { networks, volumes, containers };
}

/**
 * The label that gates a container on the one-shots it starts after: its value
 * is computed from their recorded exit codes and fails the deployment, before
 * the container is created, when one did not exit 0 (see one-shot.ts).
 */
function oneShotsSucceededLabel(
    container: string,
    oneShots: string[],
    containers: Record<string, docker.Container>,
    parent: pulumi.Resource,
): docker.types.input.ContainerLabel {
    const value = pulumi.all(oneShots.map((name) => containers[name]!.exitCode)).apply((codes) => {
        const results = oneShots.map((name, i) => ({ name, exitCode: typeof codes[i] === "number" ? codes[i] : undefined }));
        const failure = oneShotFailure(container, results);
        if (failure !== undefined) throw new pulumi.ResourceError(failure, parent);
        return oneShotsSucceededValue(results);
    });
    return { label: ONE_SHOTS_SUCCEEDED_LABEL, value };
}

function engineProviders(plan: DockerPlan<pulumi.Input<string>>, options: RealizeDockerPlanOptions): Map<string, docker.Provider> {
    const hosts = [...new Set(plan.containers.map((c) => c.dockerHost).filter((h): h is string => h !== undefined))];
    return new Map(
        hosts.map((host, i) => [
            host,
            new docker.Provider(`${options.providerNamePrefix}-engine-${i}`, { host }, { parent: options.parent }),
        ]),
    );
}

/** Containers sorted so that every container comes after the ones it names in `after`. */
export function orderedContainers<C>(containers: ContainerSpec<C>[]): ContainerSpec<C>[] {
    const byName = new Map(containers.map((c) => [c.name, c]));
    const done = new Set<string>();
    const visiting = new Set<string>();
    const ordered: ContainerSpec<C>[] = [];
    const visit = (container: ContainerSpec<C>) => {
        if (done.has(container.name)) return;
        if (visiting.has(container.name)) throw new Error(`container "${container.name}" depends on itself through "after"`);
        visiting.add(container.name);
        for (const name of container.after ?? []) {
            const dependency = byName.get(name);
            if (!dependency) throw new Error(`container "${container.name}" waits for "${name}", which is not in the plan`);
            visit(dependency);
        }
        visiting.delete(container.name);
        done.add(container.name);
        ordered.push(container);
    };
    containers.forEach(visit);
    return ordered;
}

function networkArgs(network: NetworkSpec): docker.NetworkArgs {
    return {
        name: network.name,
        driver: "bridge",
        internal: network.internal ?? false,
        ...(network.subnet ? { ipamConfigs: [{ subnet: network.subnet, ...(network.gateway ? { gateway: network.gateway } : {}) }] } : {}),
        labels: labelList(network.labels),
    };
}

export function containerArgs(container: ContainerSpec<pulumi.Input<string>>): docker.ContainerArgs {
    const network = container.network;
    const oneShot = container.runToCompletion === true;
    return {
        name: container.name,
        image: container.image,
        ...(container.entrypoint ? { entrypoints: container.entrypoint } : {}),
        command: container.command,
        envs: Object.entries(container.env ?? {}).map(([k, v]) => `${k}=${v}`),
        uploads: container.files.map(containerUploadArgs),
        ...("name" in network
            ? {
                  networkMode: "bridge",
                  networksAdvanced: [
                      {
                          name: network.name,
                          ...(network.ipv4Address ? { ipv4Address: network.ipv4Address } : {}),
                          ...(network.aliases ? { aliases: network.aliases } : {}),
                      },
                  ],
              }
            : { networkMode: "host" in network ? "host" : "none" }),
        volumes: container.mounts.map((m) =>
            m.hostPath
                ? { hostPath: m.source, containerPath: m.target, readOnly: m.readOnly ?? false }
                : { volumeName: m.source, containerPath: m.target, readOnly: m.readOnly ?? false },
        ),
        ports: (container.ports ?? []).map((p) => ({
            internal: p.internal,
            ...(p.external !== undefined ? { external: p.external } : {}),
            ip: p.ip ?? "127.0.0.1",
        })),
        ...(container.healthCheck ? { healthcheck: healthcheckArgs(container.healthCheck) } : {}),
        ...(container.waitHealthySeconds !== undefined ? { wait: true, waitTimeout: container.waitHealthySeconds } : {}),
        ...(container.user ? { user: container.user } : {}),
        // With host networking the container has the host's name (the engine refuses both together).
        ...(container.hostname && !("host" in network) ? { hostname: container.hostname } : {}),
        labels: labelList(container.labels),
        restart: container.restart ?? "no",
        // A one-shot container (a snapshot restore) is attached to and must finish;
        // a long-running one must be running after every update.
        mustRun: !oneShot,
        attach: oneShot,
        logs: oneShot,
    };
}

/** SHA-256 of a file, read in chunks (snapshots can be large). */
export function fileSha256(path: string): string {
    const hash = createHash("sha256");
    const buffer = Buffer.alloc(1 << 20);
    let fd: number;
    try {
        fd = fs.openSync(path, "r");
    } catch (error) {
        throw new InputError(
            "sourcePath",
            path,
            `the file must exist on the machine that runs the deployment (${(error as Error).message})`,
        );
    }
    try {
        for (let read = fs.readSync(fd, buffer); read > 0; read = fs.readSync(fd, buffer)) hash.update(buffer.subarray(0, read));
    } finally {
        fs.closeSync(fd);
    }
    return hash.digest("hex");
}

/**
 * One file put into a container. A file copied from this machine carries its
 * SHA-256 as `sourceHash`: without it the provider cannot see that a file at
 * the same path changed (a newer snapshot), and would keep the old container.
 */
export function containerUploadArgs(file: ContainerFile<pulumi.Input<string>>): docker.types.input.ContainerUpload {
    return {
        file: file.path,
        ...(file.content !== undefined ? { content: file.secret ? pulumi.secret(file.content) : file.content } : {}),
        ...(file.sourcePath !== undefined ? { source: file.sourcePath, sourceHash: fileSha256(file.sourcePath) } : {}),
        permissions: `0${file.mode.toString(8)}`,
    };
}

function healthcheckArgs(check: HealthCheckSpec): docker.types.input.ContainerHealthcheck {
    return {
        tests: check.test,
        interval: `${check.intervalSeconds}s`,
        timeout: `${check.timeoutSeconds}s`,
        retries: check.retries,
        startPeriod: `${check.startPeriodSeconds}s`,
    };
}

function labelList(labels: Record<string, string> | undefined): docker.types.input.ContainerLabel[] {
    return Object.entries(labels ?? {}).map(([label, value]) => ({ label, value }));
}

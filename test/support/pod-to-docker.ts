/**
 * Runs a rendered Kubernetes pod spec in the Docker engine through the
 * harness, with the same images, commands, args, env, mounts and
 * Secret/ConfigMap contents, in the kubelet's order: init containers one
 * after the other to completion, then the containers.
 *
 * Native sidecars (init containers with restartPolicy Always, Kubernetes ≥
 * 1.29) as the kubelet runs them: started in their place among the init
 * containers (the next one starts once it is started: no startupProbe is
 * supported), running beside the later init containers and the containers,
 * restarted whenever they exit (Docker's restart policy "always"), and, once
 * every container has exited, stopped in reverse order with SIGTERM and the
 * pod's terminationGracePeriodSeconds (default 30) before SIGKILL. Their exit
 * codes do not decide the pod's result. One difference: when an init
 * container or a container fails, the harness removes the pod's containers at
 * once (SIGKILL), where the kubelet would send sidecars SIGTERM first; what the
 * sidecars had logged by then is kept in the failure's output, as `kubectl
 * logs -c <sidecar>` still shows it on a failed pod.
 *
 * The pod's volumes become:
 *   emptyDir → a Docker volume; hostPath → a bind mount of a test directory
 *   (`hostPaths` maps node paths to test paths); persistentVolumeClaim → a
 *   bind mount (`claims`); secret / configMap → files with their modes.
 * Only hostNetwork pods are supported (a pod network would need a CNI).
 */
import type { ContainerFile, ContainerSpec, DockerPlan, VolumeMount } from "../../src/docker/plan";
import * as http from "http";
import { call, demultiplex, engineSocket } from "../harness/api";
import { RealizedPlan, realizePlan } from "../harness/docker";

export interface PodData {
    /** Secret name → key → content (stringData). */
    secrets: Record<string, Record<string, string>>;
    /** ConfigMap name → key → content. */
    configMaps: Record<string, Record<string, string>>;
    /** Node path → test directory. Every hostPath volume must be mapped. */
    hostPaths: Record<string, string>;
    /** PVC claim name → test directory. */
    claims?: Record<string, string>;
    /** Downward API values, e.g. { "spec.nodeName": "cp-1" }. */
    fieldValues?: Record<string, string>;
}

type K8sEnv = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } };
type K8sContainer = {
    name: string;
    image: string;
    command?: string[];
    args?: string[];
    env?: K8sEnv[];
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
    securityContext?: { runAsUser?: number };
    /** "Always" on an init container makes it a native sidecar. */
    restartPolicy?: string;
};
type K8sVolume = {
    name: string;
    emptyDir?: object;
    hostPath?: { path: string };
    persistentVolumeClaim?: { claimName: string };
    secret?: { secretName: string; defaultMode?: number };
    configMap?: { name: string; defaultMode?: number };
};
export type K8sPodSpec = {
    hostNetwork?: boolean;
    terminationGracePeriodSeconds?: number;
    initContainers?: K8sContainer[];
    containers: K8sContainer[];
    volumes?: K8sVolume[];
};

/** Label of the containers that are native sidecars. */
export const SIDECAR_LABEL = "etcd-recovery.pod-sidecar";
const DEFAULT_GRACE_SECONDS = 30;

/** An init container with restartPolicy Always (anything else there is refused, as the API server does). */
function isSidecar(container: K8sContainer): boolean {
    if (container.restartPolicy === undefined) return false;
    if (container.restartPolicy !== "Always")
        throw new Error(`init container ${container.name}: restartPolicy ${container.restartPolicy} (only "Always" is allowed)`);
    return true;
}

/** Kubernetes' $(VAR) expansion in command and args; $$(VAR) escapes it. */
export function expandVars(text: string, env: Record<string, string>): string {
    return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name: string | undefined) => {
        if (match === "$$") return "$";
        return name !== undefined && name in env ? env[name]! : match;
    });
}

function envOf(container: K8sContainer, data: PodData): Record<string, string> {
    const env: Record<string, string> = {};
    for (const entry of container.env ?? []) {
        if (entry.value !== undefined) env[entry.name] = expandVars(entry.value, env);
        else if (entry.valueFrom?.fieldRef) {
            const value = data.fieldValues?.[entry.valueFrom.fieldRef.fieldPath];
            if (value === undefined)
                throw new Error(`env ${entry.name} of ${container.name}: no fieldValues["${entry.valueFrom.fieldRef.fieldPath}"] given`);
            env[entry.name] = value;
        } else throw new Error(`env ${entry.name} of ${container.name}: only value and fieldRef are supported`);
    }
    return env;
}

/** The DockerPlan of one pod run; container names are `${prefix}-<container>`. */
export function podToDockerPlan(pod: K8sPodSpec, data: PodData, prefix: string): DockerPlan {
    if (!pod.hostNetwork) throw new Error("podToDockerPlan supports hostNetwork pods only");
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    const plan: DockerPlan = { networks: [], volumes: [], containers: [] };
    for (const volume of pod.volumes ?? []) {
        if (volume.emptyDir) plan.volumes.push({ name: `${prefix}-${volume.name}` });
    }
    const translate = (container: K8sContainer, runToCompletion: boolean, after: string[], sidecar = false): ContainerSpec => {
        const env = envOf(container, data);
        const mounts: VolumeMount[] = [];
        const files: ContainerFile[] = [];
        for (const mount of container.volumeMounts ?? []) {
            const volume = volumes.get(mount.name);
            if (!volume) throw new Error(`${container.name} mounts ${mount.name}, which is not a pod volume`);
            const readOnly = mount.readOnly ?? false;
            if (volume.emptyDir) mounts.push({ source: `${prefix}-${volume.name}`, target: mount.mountPath, readOnly });
            else if (volume.hostPath) {
                const source = data.hostPaths[volume.hostPath.path];
                if (!source) throw new Error(`hostPath ${volume.hostPath.path} is not mapped to a test directory`);
                mounts.push({ source, target: mount.mountPath, hostPath: true, readOnly });
            } else if (volume.persistentVolumeClaim) {
                const source = data.claims?.[volume.persistentVolumeClaim.claimName];
                if (!source) throw new Error(`claim ${volume.persistentVolumeClaim.claimName} is not mapped to a test directory`);
                mounts.push({ source, target: mount.mountPath, hostPath: true, readOnly });
            } else if (volume.secret || volume.configMap) {
                const content = volume.secret ? data.secrets[volume.secret.secretName] : data.configMaps[volume.configMap!.name];
                if (!content)
                    throw new Error(
                        `${volume.secret ? "Secret" : "ConfigMap"} ${volume.secret?.secretName ?? volume.configMap?.name} has no data given`,
                    );
                // Kubernetes' default mode for secret and configMap volumes is 0644.
                const mode = (volume.secret ?? volume.configMap)!.defaultMode ?? 0o644;
                for (const [key, text] of Object.entries(content)) {
                    files.push({ path: `${mount.mountPath}/${key}`, content: text, mode, secret: volume.secret !== undefined });
                }
            } else throw new Error(`volume ${volume.name}: unsupported kind`);
        }
        const expand = (list?: string[]) => (list ?? []).map((item) => expandVars(item, env));
        return {
            name: `${prefix}-${container.name}`,
            image: container.image,
            ...(container.command ? { entrypoint: expand(container.command) } : {}),
            command: expand(container.args),
            env,
            files,
            mounts,
            network: { host: true },
            ...(container.securityContext?.runAsUser !== undefined ? { user: String(container.securityContext.runAsUser) } : {}),
            runToCompletion,
            after,
            ...(sidecar ? { restart: "always" as const } : {}),
            labels: { "etcd-recovery.pod-container": container.name, ...(sidecar ? { [SIDECAR_LABEL]: "1" } : {}) },
        };
    };
    // One start order: each init container after the previous one (a sidecar only started, the
    // others run to completion), then the containers. The pods here have one container; the
    // kubelet would start several at once.
    let previous: string[] = [];
    for (const container of pod.initContainers ?? []) {
        const sidecar = isSidecar(container);
        const spec = translate(container, !sidecar, previous, sidecar);
        plan.containers.push(spec);
        previous = [spec.name];
    }
    for (const container of pod.containers) {
        if (container.restartPolicy !== undefined)
            throw new Error(`container ${container.name}: restartPolicy is for init containers only`);
        const spec = translate(container, true, previous);
        plan.containers.push(spec);
        previous = [spec.name];
    }
    return plan;
}

/** The kubelet's end of a pod: sidecars get SIGTERM in reverse start order, SIGKILL after the grace period. */
async function stopSidecars(plan: DockerPlan, live: RealizedPlan, graceSeconds: number): Promise<void> {
    const sidecars = plan.containers.filter((spec) => spec.labels?.[SIDECAR_LABEL] === "1").reverse();
    for (const spec of sidecars) {
        const { id } = live.containers[spec.name]!;
        await call(
            { method: "POST", path: `/containers/${id}/stop`, query: { t: graceSeconds }, timeoutMs: (graceSeconds + 30) * 1000 },
            [304],
        );
    }
}

/**
 * Follows each sidecar's log while the pod runs (a failed run's containers are removed before it is
 * reported, and a sidecar's last lines may come just before): one `follow` request per container
 * start, which the engine ends when the container stops or is removed; each request returns the
 * whole log so far. `stop()` ends the following and returns what was read.
 */
function followSidecarLogs(plan: DockerPlan): { stop: () => Promise<Record<string, string>> } {
    const names = plan.containers.filter((spec) => spec.labels?.[SIDECAR_LABEL] === "1").map((spec) => spec.name);
    const logs: Record<string, string> = {};
    const active = new Set<http.ClientRequest>();
    let running = true;
    /** One follow request: resolves once the engine ends the stream (or the request fails). */
    const followOnce = (name: string) =>
        new Promise<void>((resolve) => {
            const chunks: Buffer[] = [];
            const req = http.request(
                {
                    socketPath: engineSocket(),
                    path: `/containers/${name}/logs?follow=1&stdout=1&stderr=1`,
                    agent: false,
                    headers: { Host: "docker" },
                },
                (res) => {
                    res.on("data", (chunk: Buffer) => {
                        chunks.push(chunk);
                        if (res.statusCode === 200) logs[name] = demultiplex(Buffer.concat(chunks)).combined.toString("utf8");
                    });
                    res.on("close", () => resolve());
                },
            );
            active.add(req);
            req.on("close", () => {
                active.delete(req);
                resolve();
            });
            req.on("error", () => resolve());
            req.end();
        });
    const follow = async (name: string) => {
        while (running) {
            // Ends on 404 (not created yet, or removed) or when the container stops (a restart, the
            // end of the pod); the next request reads the whole log again.
            await followOnce(name);
            if (running) await new Promise((resolve) => setTimeout(resolve, 200));
        }
    };
    const following = Promise.all(names.map(follow));
    return {
        stop: async () => {
            running = false;
            // The engine ends a stream when its container goes; give the last bytes a moment to arrive.
            const deadline = Date.now() + 2000;
            while (active.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
            for (const req of active) req.destroy();
            await following;
            return logs;
        },
    };
}

export type PodRun =
    | { succeeded: true; live: RealizedPlan; logs: Record<string, string>; plan: DockerPlan; durationMs: number }
    | { succeeded: false; failedContainer: string; exitCode: number; output: string; plan: DockerPlan; durationMs: number };

/** Fails the test unless the pod failed; narrows the run to its failure fields. */
export function expectPodFailed(result: PodRun): asserts result is Extract<PodRun, { succeeded: false }> {
    if (result.succeeded)
        throw new Error(`expected the pod to fail, but every container succeeded; logs:\n${JSON.stringify(result.logs, null, 1)}`);
}

/**
 * Runs the pod to completion. A successful run keeps its containers (for
 * logs and inspect) until `live.destroy()`; a failed run is cleaned up by
 * the harness and reports the failing container, its exit code and log tail.
 */
export async function runPod(pod: K8sPodSpec, data: PodData, prefix: string, runId: string, timeoutMs = 180_000): Promise<PodRun> {
    const plan = podToDockerPlan(pod, data, prefix);
    const started = Date.now();
    const sidecarLogs = followSidecarLogs(plan);
    try {
        // A kubelet fails the pod at the first container that exits non-zero (restartPolicy Never).
        const live = await realizePlan(plan, { runId, waitHealthy: false, timeoutMs, oneShotFailure: "fail" });
        await stopSidecars(plan, live, pod.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS);
        const logs: Record<string, string> = {};
        for (const spec of plan.containers) logs[spec.name.slice(prefix.length + 1)] = await live.logs(spec.name);
        return { succeeded: true, live, logs, plan, durationMs: Date.now() - started };
    } catch (error) {
        const message = (error as Error).message;
        const failed = /container (\S+) exited with code (\d+)/.exec(message);
        if (!failed) throw error;
        const sidecars = Object.entries(await sidecarLogs.stop()).map(
            ([name, text]) => `\n--- last log lines of sidecar ${name}:\n${text.split("\n").slice(-40).join("\n")}`,
        );
        return {
            succeeded: false,
            failedContainer: failed[1]!.slice(prefix.length + 1),
            exitCode: Number(failed[2]),
            output: message + sidecars.join(""),
            plan,
            durationMs: Date.now() - started,
        };
    } finally {
        await sidecarLogs.stop();
    }
}

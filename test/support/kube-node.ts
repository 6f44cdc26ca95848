/**
 * A real single-node Kubernetes control plane for tests, laid out by the real
 * `kubeadm init` v1.34.4: containerd (CRI) and the real kubelet in a node
 * container (KUBE_NODE_IMAGE, kind-like), the static pods etcd 3.5,
 * kube-apiserver, kube-controller-manager and kube-scheduler run by that
 * kubelet from images imported into the node's containerd under their
 * upstream names (nothing is pulled). The node sits on an internal Docker
 * network of its own; the host reaches it (and the node reaches servers the
 * test binds to `gatewayIp`), nothing else does.
 *
 * Not `--privileged`: runc cannot grant CAP_SYS_RESOURCE where the host's
 * bounding set lacks it, so the privileges a node needs are spelled out. The
 * kubelet sets six host-wide sysctls at start (kernel.panic & co.): their
 * values are saved before and restored by stop() and at process exit.
 */
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { removeByLabel, RUN_LABEL, TEST_LABEL } from "../harness/docker";
import { run } from "../harness/exec";
import {
    ETCD_35_IMAGE,
    KUBE_APISERVER_IMAGE,
    KUBE_CONTROLLER_MANAGER_IMAGE,
    KUBE_NODE_IMAGE,
    KUBE_SCHEDULER_IMAGE,
    PAUSE_IMAGE,
    requireImages,
} from "./images";
import { SSHD_CONFIG } from "./kubelet-standin";
import { requireTool, sshBanner, waitFor } from "./processes";

export const KUBERNETES_VERSION = "v1.34.4";
/** The etcd image tag the node's kubeadm.yaml asks for (kubeadm 1.34 would default to 3.6). */
const ETCD_TAG = "3.5.35";

/** Our local images under the names kubeadm's manifests and kubelet ask for. */
const UPSTREAM_NAMES: [local: string, upstream: string][] = [
    [ETCD_35_IMAGE, `registry.k8s.io/etcd:${ETCD_TAG}`],
    [KUBE_APISERVER_IMAGE, `registry.k8s.io/kube-apiserver:${KUBERNETES_VERSION}`],
    [KUBE_CONTROLLER_MANAGER_IMAGE, `registry.k8s.io/kube-controller-manager:${KUBERNETES_VERSION}`],
    [KUBE_SCHEDULER_IMAGE, `registry.k8s.io/kube-scheduler:${KUBERNETES_VERSION}`],
    [PAUSE_IMAGE, "registry.k8s.io/pause:3.10.1"],
];

/** What the kubelet writes on the host at start (pkg/kubelet/cm setupKernelTunables); restored afterwards. */
const KUBELET_HOST_SYSCTLS = [
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
];

export interface KubeNodeOptions {
    /** Prefix of every Docker object of the node, and its run label. */
    runId: string;
    /** Extra local images to import into the node's containerd (under their own names), e.g. what a test's pods use. */
    images?: string[];
    /** How long kubeadm init + node Ready + static pods Ready may take. Default 300 s. */
    readyTimeoutMs?: number;
}

export interface KubeNode {
    /** Node name = container hostname. */
    name: string;
    container: string;
    /** The node's address on its network (advertise address of the API server). */
    ip: string;
    /** The host's address on the node's network: bind a test server here to make it reachable from pods on the host network. */
    gatewayIp: string;
    /** admin.conf as kubeadm wrote it (server https://<ip>:6443, reachable from the host). Contains a private key. */
    kubeconfig: string;
    kubeconfigFile: string;
    /** Host kubectl against the node's API server. */
    kubectl(args: string[], input?: string): Promise<string>;
    /** A command in the node container (not a pod). */
    exec(args: string[], input?: string): Promise<{ exitCode: number; stdout: string; stderr: string }>;
    readFile(file: string): Promise<string>;
    /** Imports local images into the node's containerd (k8s.io namespace), under their own names. */
    importImages(images: string[]): Promise<void>;
    /**
     * Starts the node's sshd (root by key only) with this host key and client key:
     * what the restore runbooks log in with. Returns once it accepts connections.
     */
    startSshd(keys: { hostPrivateKey: string; clientPublicKey: string }): Promise<void>;
    /** Tails of the node's kubelet and containerd logs, for failure messages. */
    logTail(): Promise<string>;
    stop(): Promise<void>;
}

/** kubeadm's configuration of the test node: what a user's kubeadm.yaml says, less the addons we have no images for. */
export function renderKubeadmConfig(node: { name: string; ip: string }): string {
    return `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: ${node.ip}
  bindPort: 6443
nodeRegistration:
  name: ${node.name}
  criSocket: unix:///run/containerd/containerd.sock
  imagePullPolicy: Never
  kubeletExtraArgs:
  - name: node-ip
    value: ${node.ip}
skipPhases:
- addon/coredns
- addon/kube-proxy
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: ${KUBERNETES_VERSION}
clusterName: ${node.name}
imageRepository: registry.k8s.io
networking:
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
controllerManager:
  extraArgs:
  # kubeadm's default /usr/libexec/kubernetes/... cannot be created: the node's /usr is the host's, read-only.
  - name: flex-volume-plugin-dir
    value: /var/lib/kubelet/volumeplugins
etcd:
  local:
    imageRepository: registry.k8s.io
    imageTag: ${ETCD_TAG}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
volumePluginDir: /var/lib/kubelet/volumeplugins
`;
}

function readSysctls(): Map<string, string> {
    return new Map(KUBELET_HOST_SYSCTLS.map((name) => [name, fs.readFileSync(`/proc/sys/${name}`, "utf8").trim()]));
}

function restoreSysctls(saved: Map<string, string>): void {
    for (const [name, value] of saved) {
        try {
            if (fs.readFileSync(`/proc/sys/${name}`, "utf8").trim() !== value) fs.writeFileSync(`/proc/sys/${name}`, value);
        } catch {
            // Best effort at exit; stop() reports nothing either: the values are the host's, not the test's.
        }
    }
}

async function docker(args: string[], input?: string): Promise<string> {
    return (await run("docker", args, { timeoutMs: 300_000, ...(input !== undefined ? { input } : {}) })).stdout;
}

/** An internal network on a free 10.250.N.0/24 (outside Docker's default pools, so other runs' networks do not collide). */
async function createNodeNetwork(name: string, runId: string): Promise<{ subnetPrefix: string }> {
    for (let attempt = 0; attempt < 20; attempt++) {
        const prefix = `10.250.${crypto.randomInt(1, 255)}`;
        try {
            await docker([
                "network",
                "create",
                "--internal",
                "--subnet",
                `${prefix}.0/24`,
                "--gateway",
                `${prefix}.1`,
                "--label",
                `${TEST_LABEL}=1`,
                "--label",
                `${RUN_LABEL}=${runId}`,
                name,
            ]);
            return { subnetPrefix: prefix };
        } catch (error) {
            if (!/overlap/i.test((error as Error).message)) throw error;
        }
    }
    throw new Error("no free 10.250.N.0/24 subnet for the kube node network after 20 tries");
}

/** Streams `docker save` of the images into the node's `ctr images import`. */
function importIntoNode(container: string, images: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
        const save = spawn("docker", ["save", ...images], { stdio: ["ignore", "pipe", "pipe"] });
        const load = spawn("docker", ["exec", "-i", container, "ctr", "-n", "k8s.io", "images", "import", "--all-platforms", "-"], {
            stdio: ["pipe", "pipe", "pipe"],
        });
        let errors = "";
        save.stderr.on("data", (d) => (errors += d));
        load.stderr.on("data", (d) => (errors += d));
        save.stdout.pipe(load.stdin);
        let pending = 2;
        const done = (what: string) => (code: number | null) => {
            if (code !== 0)
                reject(new Error(`${what} of ${images.join(", ")} into ${container} failed (exit ${code}): ${errors.slice(-2000)}`));
            else if (--pending === 0) resolve();
        };
        save.on("exit", done("docker save"));
        load.on("exit", done("ctr images import"));
    });
}

/** docker.io/ is how containerd names an image Docker calls "etcd-recovery/etcd:3.5.35". */
const containerdName = (image: string): string => (image.split("/")[0]!.includes(".") ? image : `docker.io/${image}`);

export async function startKubeNode(options: KubeNodeOptions): Promise<KubeNode> {
    const kubectlBin = requireTool("kubectl");
    await requireImages(KUBE_NODE_IMAGE, ...UPSTREAM_NAMES.map(([local]) => local), ...(options.images ?? []));
    const { runId } = options;
    const name = `${runId}-node`;
    const networkName = `${runId}-net`;
    const volume = `${runId}-var`;
    await removeByLabel(runId);

    const savedSysctls = readSysctls();
    const restoreAtExit = () => restoreSysctls(savedSysctls);
    process.once("exit", restoreAtExit);
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kube-node-"));
    const labels = ["--label", `${TEST_LABEL}=1`, "--label", `${RUN_LABEL}=${runId}`];

    const stop = async () => {
        await removeByLabel(runId);
        restoreSysctls(savedSysctls);
        process.removeListener("exit", restoreAtExit);
        fs.rmSync(workDir, { recursive: true, force: true });
    };

    const exec = async (args: string[], input?: string) => {
        return new Promise<{ exitCode: number; stdout: string; stderr: string }>((resolve, reject) => {
            const child = spawn("docker", [
                "exec",
                ...(input !== undefined ? ["-i"] : []),
                "-e",
                "KUBECONFIG=/etc/kubernetes/admin.conf",
                name,
                ...args,
            ]);
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d) => (stdout += d));
            child.stderr.on("data", (d) => (stderr += d));
            child.on("error", reject);
            child.on("exit", (code) => resolve({ exitCode: code ?? -1, stdout, stderr }));
            child.stdin.on("error", () => undefined);
            child.stdin.end(input ?? "");
        });
    };
    const readFile = async (file: string) => {
        const result = await exec(["cat", file]);
        if (result.exitCode !== 0) throw new Error(`cat ${file} in ${name} failed: ${result.stderr}`);
        return result.stdout;
    };
    const logTail = async () => {
        const result = await exec([
            "sh",
            "-c",
            'for f in /var/log/node.log /var/log/containerd.log /var/log/kubelet.log; do echo "== $f"; tail -n 30 "$f"; done',
        ]);
        return result.stdout + result.stderr;
    };

    try {
        const { subnetPrefix } = await createNodeNetwork(networkName, runId);
        const ip = `${subnetPrefix}.10`;
        await docker(["volume", "create", ...labels, volume]);
        await docker([
            "run",
            "-d",
            "--name",
            name,
            "--hostname",
            name,
            ...labels,
            // Everything --privileged would give, but CAP_SYS_RESOURCE (see above).
            "--cap-add",
            "ALL",
            "--cap-drop",
            "SYS_RESOURCE",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
            "--security-opt",
            "systempaths=unconfined",
            "--security-opt",
            "label=disable",
            "--device-cgroup-rule",
            "a *:* rwm",
            "--device",
            "/dev/kmsg",
            "--cgroupns=private",
            "--network",
            networkName,
            "--ip",
            ip,
            "--tmpfs",
            "/run:rw,exec,nosuid,nodev,mode=755",
            "--tmpfs",
            "/tmp:rw,exec,nosuid,nodev,mode=1777",
            // /var/lib/containerd needs a real filesystem under overlayfs snapshots: a volume, not the container's overlay.
            "-v",
            `${volume}:/var`,
            "-v",
            "/usr:/usr:ro",
            KUBE_NODE_IMAGE,
        ]);
        const node = { name, ip };
        await waitFor("the node's containerd serves CRI", async () => (await exec(["ctr", "-n", "k8s.io", "version"])).exitCode === 0, {
            deadlineMs: 60_000,
            describe: () => "",
        });

        await importIntoNode(name, [...UPSTREAM_NAMES.map(([local]) => local), ...(options.images ?? [])]);
        for (const [local, upstream] of UPSTREAM_NAMES) {
            const tagged = await exec(["ctr", "-n", "k8s.io", "images", "tag", "--force", containerdName(local), upstream]);
            if (tagged.exitCode !== 0) throw new Error(`ctr images tag ${local} ${upstream}: ${tagged.stderr}`);
        }

        await exec(["sh", "-c", "cat > /root/kubeadm.yaml"], renderKubeadmConfig(node));
        const init = await exec(["kubeadm", "init", "--config", "/root/kubeadm.yaml"]);
        if (init.exitCode !== 0)
            throw new Error(
                `kubeadm init failed (exit ${init.exitCode}):\n${init.stdout.slice(-3000)}\n${init.stderr.slice(-3000)}\n${await logTail()}`,
            );

        const kubeconfig = await readFile("/etc/kubernetes/admin.conf");
        const kubeconfigFile = path.join(workDir, "admin.conf");
        fs.writeFileSync(kubeconfigFile, kubeconfig, { mode: 0o600 });
        const kubectl = async (args: string[], input?: string) =>
            (
                await run(kubectlBin, ["--kubeconfig", kubeconfigFile, ...args], {
                    timeoutMs: 300_000,
                    ...(input !== undefined ? { input } : {}),
                })
            ).stdout;

        const deadlineMs = options.readyTimeoutMs ?? 300_000;
        await kubectl(["wait", "--for=condition=Ready", `node/${name}`, `--timeout=${Math.round(deadlineMs / 1000)}s`]);
        await waitFor(
            "the four control-plane static pods are Ready",
            async () => {
                const pods = JSON.parse(await kubectl(["-n", "kube-system", "get", "pods", "-o", "json"])).items as {
                    metadata: { name: string };
                    status: { conditions?: { type: string; status: string }[] };
                }[];
                const ready = pods.filter((p) => p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
                return ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"].every((c) =>
                    ready.some((p) => p.metadata.name === `${c}-${name}`),
                );
            },
            { deadlineMs, intervalMs: 1_000, describe: () => "" },
        );
        const startSshd = async (keys: { hostPrivateKey: string; clientPublicKey: string }) => {
            const write = async (file: string, content: string, mode: string) => {
                const result = await exec(
                    ["sh", "-euc", `umask 077; mkdir -p "$(dirname ${file})"; cat > ${file}; chmod ${mode} ${file}`],
                    content,
                );
                if (result.exitCode !== 0) throw new Error(`writing ${file} in ${name} failed: ${result.stderr}`);
            };
            await write("/etc/ssh/sshd_config", SSHD_CONFIG, "0644");
            await write("/etc/ssh/ssh_host_ed25519_key", keys.hostPrivateKey, "0600");
            await write("/root/.ssh/authorized_keys", `${keys.clientPublicKey}\n`, "0600");
            // sshd re-executes itself by its absolute path; it daemonizes.
            const started = await exec(["/opt/kube/sbin/sshd", "-f", "/etc/ssh/sshd_config", "-E", "/var/log/sshd.log"]);
            if (started.exitCode !== 0)
                throw new Error(`sshd did not start in ${name}: ${started.stderr}${await readFile("/var/log/sshd.log").catch(() => "")}`);
            await waitFor(`sshd of ${name} greets on ${ip}:22`, async () => (await sshBanner(22, ip)).startsWith("SSH-2.0-OpenSSH"), {
                deadlineMs: 30_000,
                describe: () => "",
            });
        };
        return {
            name,
            container: name,
            ip,
            gatewayIp: `${subnetPrefix}.1`,
            kubeconfig,
            kubeconfigFile,
            kubectl,
            exec,
            readFile,
            importImages: (images) => importIntoNode(name, images),
            startSshd,
            logTail,
            stop,
        };
    } catch (error) {
        const tail = await logTail().catch(() => "");
        await stop().catch(() => undefined);
        throw new Error(`${(error as Error).message}\n${tail}`);
    }
}

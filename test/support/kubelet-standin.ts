/**
 * A kubeadm control-plane node in a container, for the e2e tests that run the
 * restore and migration runbooks over SSH (restore-nodes, restore-migration).
 *
 * There is no kubelet in a node container: KUBELET_STANDIN runs every static
 * pod manifest in /etc/kubernetes/manifests whose command's binary is on the
 * node, with the `- --flag=value` lines of the manifest; a manifest that goes
 * stops its process (TERM, then wait), a changed one restarts it. So the
 * presets' own commands (moving manifests) stop and start the real processes.
 * It logs every start and stop to KUBELET_STANDIN_LOG, stamped with seconds
 * since boot: one clock for all containers on the host, fine enough (1/100 s)
 * to order events across nodes.
 *
 * The real kube-apiserver and kubectl are the scripts/tools.sh builds,
 * bind-mounted read-only into /usr/local/bin (kubeToolMounts).
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";

import type { ContainerFile, VolumeMount } from "../../src/docker/plan";
import { initCa } from "../../src/pki";
import type { ExecResult, RealizedPlan } from "../harness/docker";
import { issue, KEY, renderKubeconfig } from "./kube-api";
import { requireTool } from "./processes";

export const MANIFESTS_DIR = "/etc/kubernetes/manifests";
export const KUBELET_STANDIN_PATH = "/usr/local/sbin/mini-kubelet";
export const KUBELET_STANDIN_LOG = "/var/log/mini-kubelet.log";
export const ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf";

/** sshd on a node: root by key only, the host key the test writes. */
export const SSHD_CONFIG = `Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd.pid
`;

/** A fresh ed25519 key pair (an SSH client key or a node's host key) in `file` and `file`.pub. */
export function sshKeygen(file: string): { privateKey: string; publicKey: string } {
    const result = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file], { encoding: "utf8" });
    if (result.error || result.status !== 0) {
        throw new Error(`ssh-keygen failed (${result.error?.message ?? result.stderr}): install it with apt-get install openssh-client`);
    }
    return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}

/** Where the stand-in writes the output of the static pod `name`. */
export const staticPodLog = (name: string): string => `/var/log/${name}.log`;

export const KUBELET_STANDIN = `#!/bin/sh
dir=${MANIFESTS_DIR}
state=/run/mini-kubelet
log=${KUBELET_STANDIN_LOG}
mkdir -p "$state"
stamp() { cut -d' ' -f1 /proc/uptime; }
while true; do
    for pidfile in "$state"/*.pid; do
        [ -e "$pidfile" ] || continue
        name=$(basename "$pidfile" .pid)
        now=""
        if [ -f "$dir/$name.yaml" ]; then now=$(md5sum < "$dir/$name.yaml" | cut -d' ' -f1); fi
        if [ "$now" != "$(cat "$state/$name.sum")" ]; then
            echo "$(stamp) stop $name" >> "$log"
            pid=$(cat "$pidfile")
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            echo "$(stamp) stopped $name" >> "$log"
            rm -f "$pidfile" "$state/$name.sum"
        fi
    done
    for manifest in "$dir"/*.yaml; do
        [ -f "$manifest" ] || continue
        name=$(basename "$manifest" .yaml)
        [ -e "$state/$name.pid" ] && continue
        binary=$(sed -n '/^ *- command:/{n;s/^ *- \\([a-z-]*\\)$/\\1/p}' "$manifest")
        if [ -z "$binary" ] || ! command -v "$binary" >/dev/null; then continue; fi
        args=$(sed -n 's/^ *- \\(--[a-z0-9-]*=.*\\)$/\\1/p' "$manifest" | tr '\\n' ' ')
        echo "$(stamp) start $name" >> "$log"
        $binary $args >> "/var/log/$name.log" 2>&1 &
        echo $! > "$state/$name.pid"
        md5sum < "$manifest" | cut -d' ' -f1 > "$state/$name.sum"
    done
    sleep 1
done
`;

/** One line of the stand-in's log: when (seconds since boot), what, which static pod. */
export interface StandinEvent {
    at: number;
    action: "start" | "stop" | "stopped";
    pod: string;
}

export function parseStandinLog(text: string): StandinEvent[] {
    return text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => {
            const match = /^(\d+(?:\.\d+)?) (start|stop|stopped) ([a-z0-9-]+)$/.exec(line);
            if (!match) throw new Error(`not a kubelet stand-in log line: ${JSON.stringify(line)}`);
            return { at: Number(match[1]), action: match[2] as StandinEvent["action"], pod: match[3] };
        });
}

/** A kubeadm static pod manifest: `command` is the binary then its flags, one list item each. */
export function staticPod(name: string, command: string[], image = `registry.k8s.io/${name}`): string {
    return [
        "apiVersion: v1",
        "kind: Pod",
        "metadata:",
        `  name: ${name}`,
        "  namespace: kube-system",
        "spec:",
        "  containers:",
        "  - command:",
        ...command.map((c) => `    - ${c}`),
        `    image: ${image}`,
        `    name: ${name}`,
        "",
    ].join("\n");
}

/** The flags kubeadm writes into kube-apiserver.yaml, for a node with no kubelet and no nodes to reconcile. */
export function kubeApiserverManifest(address: string, etcdServers: string[]): string {
    return staticPod("kube-apiserver", [
        "kube-apiserver",
        `--advertise-address=${address}`,
        "--allow-privileged=true",
        "--authorization-mode=Node,RBAC",
        "--client-ca-file=/etc/kubernetes/pki/ca.crt",
        "--enable-admission-plugins=NodeRestriction",
        "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
        "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
        "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
        `--etcd-servers=${etcdServers.join(",")}`,
        // Not kubeadm's: no nodes here, so nothing to reconcile; keeps the busy test machine quieter.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--secure-port=6443",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file=/etc/kubernetes/pki/sa.pub",
        "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
        "--service-cluster-ip-range=10.96.0.0/12",
        "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
        "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
    ]);
}

export interface KubeApiserverNode {
    /** The node's address: the apiserver's advertise address and a name in its serving certificate. */
    address: string;
    /** --etcd-servers; kubeadm's stacked default is the local member, https://127.0.0.1:2379. */
    etcdServers: string[];
    /** The apiserver's etcd client certificate (kubeadm: apiserver-etcd-client), from the CA in /etc/kubernetes/pki/etcd/ca.crt. */
    etcdClient: { certPem: string; keyPem: string };
}

/**
 * What kubeadm puts on a control-plane node for kube-apiserver, besides the
 * etcd certificates in /etc/kubernetes/pki/etcd (the caller writes those):
 * the manifest, its PKI and the admin kubeconfig. Keys are 0600 and secret.
 */
export function kubeApiserverFiles(node: KubeApiserverNode): ContainerFile[] {
    const kubeCa = initCa({ CN: "kubernetes", key: KEY });
    const apiserver = issue(kubeCa, "server", {
        CN: "kube-apiserver",
        hosts: [
            node.address,
            "127.0.0.1",
            "10.96.0.1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        key: KEY,
    });
    const admin = issue(kubeCa, "client", { CN: "kubernetes-admin", names: [{ O: "system:masters" }], key: KEY });
    const sa = crypto.generateKeyPairSync("rsa", {
        modulusLength: 2048,
        publicKeyEncoding: { type: "spki", format: "pem" },
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    const adminConf = renderKubeconfig({
        url: `https://${node.address}:6443`,
        caPem: kubeCa.certPem,
        certPem: admin.certPem,
        keyPem: admin.keyPem,
    });
    const cert = (path: string, content: string): ContainerFile => ({ path, content, mode: 0o644 });
    const key = (path: string, content: string): ContainerFile => ({ path, content, mode: 0o600, secret: true });
    return [
        { path: `${MANIFESTS_DIR}/kube-apiserver.yaml`, content: kubeApiserverManifest(node.address, node.etcdServers), mode: 0o600 },
        key(ADMIN_KUBECONFIG, adminConf),
        cert("/etc/kubernetes/pki/ca.crt", kubeCa.certPem),
        cert("/etc/kubernetes/pki/apiserver.crt", apiserver.certPem),
        key("/etc/kubernetes/pki/apiserver.key", apiserver.keyPem),
        cert("/etc/kubernetes/pki/sa.pub", sa.publicKey),
        key("/etc/kubernetes/pki/sa.key", sa.privateKey),
        cert("/etc/kubernetes/pki/apiserver-etcd-client.crt", node.etcdClient.certPem),
        key("/etc/kubernetes/pki/apiserver-etcd-client.key", node.etcdClient.keyPem),
    ];
}

/**
 * kube-apiserver and kubectl from the tools cache, bind-mounted read-only as
 * files into /usr/local/bin (the real files: a mount must not be a dangling link).
 * Throws, naming the fix, when scripts/tools.sh has not built them.
 */
export function kubeToolMounts(): VolumeMount[] {
    return ["kube-apiserver", "kubectl"].map((tool) => ({
        source: fs.realpathSync(requireTool(tool)),
        target: `/usr/local/bin/${tool}`,
        hostPath: true,
        readOnly: true,
    }));
}

/** kubectl on the node as kubernetes-admin. */
export function kubectlOn(realized: RealizedPlan, container: string, args: string[]): Promise<ExecResult> {
    return realized.exec(container, ["/usr/local/bin/kubectl", `--kubeconfig=${ADMIN_KUBECONFIG}`, "--request-timeout=10s", ...args]);
}

/** Polls /readyz until it says ok; the failure says what was last seen and shows the stand-in's and the pods' logs. */
export async function waitApiserverReady(realized: RealizedPlan, container: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const ready = await kubectlOn(realized, container, ["get", "--raw=/readyz"]);
        if (ready.exitCode === 0 && ready.stdout.trim() === "ok") return;
        if (Date.now() > deadline) {
            const logs = await realized.exec(container, [
                "/bin/sh",
                "-c",
                `tail -n 20 ${KUBELET_STANDIN_LOG} ${staticPodLog("etcd")} ${staticPodLog("kube-apiserver")} 2>&1`,
            ]);
            throw new Error(
                `kube-apiserver /readyz on ${container}: not ok within ${timeoutMs / 1000}s; last: ${ready.stderr || ready.stdout}\n${logs.stdout}`,
            );
        }
        await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
}

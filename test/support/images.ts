/**
 * Local test images, built by `bash scripts/images.sh` with `docker import`
 * (nothing can be pulled here). scripts/images.sh reads these constants and
 * fails when a binary's version no longer matches its tag, so this file is the
 * one place that names them.
 */
import { imageExists } from "../harness/docker";

/** Like registry.k8s.io/etcd: etcd, etcdctl, etcdutl in /usr/local/bin, no shell. */
export const ETCD_35_IMAGE = "etcd-recovery/etcd:3.5.35";
/** Debian's etcd 3.4 (etcd, etcdctl in /usr/local/bin) with its libc, no shell: for version-difference tests. */
export const ETCD_34_IMAGE = "etcd-recovery/etcd:3.4.23";
/** kube-apiserver in /usr/local/bin, no shell. */
export const KUBE_APISERVER_IMAGE = "etcd-recovery/kube-apiserver:v1.34.4";
/** rclone + busybox shell and tools (sh, sha256sum, gzip, ...) + CA certificates. */
export const UPLOADER_IMAGE = "etcd-recovery/uploader:rclone-1.60.1";
/** A restore-runbook node: sshd (no host keys, no config: tests add them), busybox sh, pgrep, mountpoint, etcd 3.5 binaries; users root and etcd. */
export const NODE_IMAGE = "etcd-recovery/node:3.5.35";

/** kube-controller-manager and kube-scheduler, built like KUBE_APISERVER_IMAGE: the other static pods of the kubeadm node. */
export const KUBE_CONTROLLER_MANAGER_IMAGE = "etcd-recovery/kube-controller-manager:v1.34.4";
export const KUBE_SCHEDULER_IMAGE = "etcd-recovery/kube-scheduler:v1.34.4";
/** tools/pause as /pause: stands in for registry.k8s.io/pause:3.10.1, the sandbox image kubeadm 1.34 asks for. */
export const PAUSE_IMAGE = "etcd-recovery/pause:3.10.1";
/** A kubeadm node (kubelet, kubeadm, kubectl, containerd from the host's /usr): test/support/kube-node.ts runs it. */
export const KUBE_NODE_IMAGE = "etcd-recovery/kube-node:v1.34.4";

/** Debian's sshd (internal-sftp) + busybox; user backup (uid 1000): the SFTP store of the backup tests. */
export const SSHD_IMAGE = "etcd-recovery/sshd:9.2p1";

/** The argument of scripts/images.sh that builds each image. */
const BUILD_TARGET: Record<string, string> = {
    [ETCD_35_IMAGE]: "etcd",
    [ETCD_34_IMAGE]: "etcd34",
    [KUBE_APISERVER_IMAGE]: "kube-apiserver",
    [UPLOADER_IMAGE]: "uploader",
    [NODE_IMAGE]: "node",
    [SSHD_IMAGE]: "sshd",
    [KUBE_CONTROLLER_MANAGER_IMAGE]: "kube-controller-manager",
    [KUBE_SCHEDULER_IMAGE]: "kube-scheduler",
    [PAUSE_IMAGE]: "pause",
    [KUBE_NODE_IMAGE]: "kube-node",
};

/** Throws, naming the command that builds them, when any of the images is not in the local engine. */
export async function requireImages(...images: string[]): Promise<void> {
    const missing: string[] = [];
    for (const image of images) {
        if (!(await imageExists(image))) missing.push(image);
    }
    if (missing.length > 0) {
        const targets = missing.map((image) => BUILD_TARGET[image] ?? image).join(" ");
        throw new Error(`missing local images ${missing.join(", ")}: run bash scripts/images.sh ${targets}`);
    }
}

/**
 * Where etcd and the control plane live on a node, and how to stop and start
 * them, for the three installers users restore by hand (kubeadm, RKE, kubespray).
 * Every field is a shell line run with `sh -eu` over SSH; `{placeholders}` are
 * filled in per node by the plan (see LAYOUT_PLACEHOLDERS).
 */

/** The installer whose paths and commands a restore uses (an enum in the multi-language schema). */
export const LayoutPreset = { kubeadm: "kubeadm", rke: "rke", kubespray: "kubespray" } as const;
export type LayoutPreset = (typeof LayoutPreset)[keyof typeof LayoutPreset];

export interface RestoreLayout {
    /** etcd's data directory (`--data-dir`). */
    dataDir: string;
    /** `chown -R` value for the restored data directory, e.g. "root:root" or "etcd:etcd". */
    dataDirOwner: string;
    /** Command prefix that runs etcdutl (etcd >= 3.5) on the node, e.g. "/usr/local/bin/etcdutl". */
    etcdutl: string;
    /** Command prefix that runs etcdctl with the node's client certificate, e.g. "/usr/local/bin/etcdctl --cacert=… --cert=… --key=…". */
    etcdctl: string;
    /** Stops etcd and returns once it no longer runs. */
    stopEtcd: string[];
    /** Starts etcd (returns at once; the runbook waits for health separately). */
    startEtcd: string[];
    /** Stops kube-apiserver, kube-controller-manager and kube-scheduler, and returns once the apiserver no longer runs. */
    stopControlPlane: string[];
    /** Starts what stopControlPlane stopped. */
    startControlPlane: string[];
    /** Restarts the node agents (kubelet, …) so nothing keeps serving from stale caches. */
    restartComponents: string[];
    /**
     * Quorum-lost path: makes the next start of etcd join an existing cluster,
     * with `{initialCluster}` as its initial cluster and initial-cluster-state existing.
     */
    setJoinConfig: string[];
}

/** Placeholders a layout line may use. */
export const LAYOUT_PLACEHOLDERS = ["node", "address", "memberName", "dataDir", "dataDirParent", "snapshotDir", "initialCluster"] as const;
export type LayoutPlaceholder = (typeof LAYOUT_PLACEHOLDERS)[number];

/** Where stopped static-pod manifests are kept: a sibling of the manifests dir, which the kubelet does not read. */
export const STOPPED_MANIFESTS_DIR = "/etc/kubernetes/manifests.stopped-by-etcd-recovery";
const MANIFESTS_DIR = "/etc/kubernetes/manifests";
const CONTROL_PLANE_MANIFESTS = ["kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"];

/** A loop that returns once no process is named `name` (`pgrep -x`), failing after `seconds`. */
export function waitUntilStopped(name: string, seconds = 120): string {
    return (
        `i=0; while pgrep -x ${name} >/dev/null; do i=$((i+1)); ` +
        `if [ "$i" -gt ${seconds} ]; then echo "${name} still runs after ${seconds}s" >&2; exit 1; fi; sleep 1; done`
    );
}

/** Static pods are stopped by moving their manifests aside (kept, never deleted) and started by moving them back. */
function stopStaticPods(manifests: string[]): string[] {
    return [
        `mkdir -p ${STOPPED_MANIFESTS_DIR}`,
        `for m in ${manifests.join(" ")}; do if [ -f ${MANIFESTS_DIR}/$m ]; then mv ${MANIFESTS_DIR}/$m ${STOPPED_MANIFESTS_DIR}/$m; echo "moved ${MANIFESTS_DIR}/$m to ${STOPPED_MANIFESTS_DIR}/"; fi; done`,
    ];
}

function startStaticPods(manifests: string[]): string[] {
    return [
        `for m in ${manifests.join(" ")}; do if [ -f ${STOPPED_MANIFESTS_DIR}/$m ]; then mv ${STOPPED_MANIFESTS_DIR}/$m ${MANIFESTS_DIR}/$m; echo "moved $m back to ${MANIFESTS_DIR}/"; fi; done`,
    ];
}

const kubeadmControlPlane = {
    stopControlPlane: [...stopStaticPods(CONTROL_PLANE_MANIFESTS), waitUntilStopped("kube-apiserver")],
    startControlPlane: startStaticPods(CONTROL_PLANE_MANIFESTS),
    restartComponents: ["systemctl restart kubelet"],
};

const KUBEADM_PKI = "/etc/kubernetes/pki/etcd";
const KUBESPRAY_PKI = "/etc/ssl/etcd/ssl";

export const LAYOUT_PRESETS: Record<LayoutPreset, RestoreLayout> = {
    /** Static pods in /etc/kubernetes/manifests; etcd's certificates in /etc/kubernetes/pki/etcd. etcdutl must be installed on the host. */
    kubeadm: {
        dataDir: "/var/lib/etcd",
        dataDirOwner: "root:root",
        etcdutl: "/usr/local/bin/etcdutl",
        etcdctl: `/usr/local/bin/etcdctl --cacert=${KUBEADM_PKI}/ca.crt --cert=${KUBEADM_PKI}/healthcheck-client.crt --key=${KUBEADM_PKI}/healthcheck-client.key`,
        stopEtcd: [...stopStaticPods(["etcd.yaml"]), waitUntilStopped("etcd")],
        startEtcd: startStaticPods(["etcd.yaml"]),
        ...kubeadmControlPlane,
        setJoinConfig: [
            // kubeadm writes --initial-cluster-state only on joined members: drop it, then add it after --initial-cluster.
            `sed -i -e '/--initial-cluster-state=/d' -e 's|^\\( *\\)- --initial-cluster=.*$|\\1- --initial-cluster={initialCluster}\\n\\1- --initial-cluster-state=existing|' ${STOPPED_MANIFESTS_DIR}/etcd.yaml`,
        ],
    },
    /** kubespray: etcd as the systemd unit `etcd` (User=etcd, /etc/etcd.env), certificates in /etc/ssl/etcd/ssl, kubeadm-managed static control plane. */
    kubespray: {
        dataDir: "/var/lib/etcd",
        dataDirOwner: "etcd:etcd",
        etcdutl: "/usr/local/bin/etcdutl",
        etcdctl: `/usr/local/bin/etcdctl --cacert=${KUBESPRAY_PKI}/ca.pem --cert=${KUBESPRAY_PKI}/admin-{node}.pem --key=${KUBESPRAY_PKI}/admin-{node}-key.pem`,
        stopEtcd: ["systemctl stop etcd", waitUntilStopped("etcd")],
        startEtcd: ["systemctl start etcd"],
        ...kubeadmControlPlane,
        setJoinConfig: [
            "sed -i -e 's|^ETCD_INITIAL_CLUSTER=.*|ETCD_INITIAL_CLUSTER={initialCluster}|' -e 's|^ETCD_INITIAL_CLUSTER_STATE=.*|ETCD_INITIAL_CLUSTER_STATE=existing|' /etc/etcd.env",
        ],
    },
    /**
     * RKE: docker containers `etcd`, `kube-apiserver`, …; certificates in /etc/kubernetes/ssl.
     * etcdutl runs from the etcd container's own image; etcdctl inside the etcd container (its environment holds the TLS flags).
     */
    rke: {
        dataDir: "/var/lib/etcd",
        dataDirOwner: "root:root",
        etcdutl:
            "docker run --rm --net=none --entrypoint etcdutl -v {snapshotDir}:{snapshotDir}:ro -v {dataDirParent}:{dataDirParent} " +
            "\"$(docker inspect --format '{{.Config.Image}}' etcd)\"",
        etcdctl: "docker exec etcd etcdctl",
        stopEtcd: ["docker stop etcd"],
        startEtcd: ["docker start etcd"],
        stopControlPlane: ["docker stop kube-apiserver kube-controller-manager kube-scheduler"],
        startControlPlane: ["docker start kube-apiserver kube-controller-manager kube-scheduler"],
        restartComponents: ["docker restart kubelet kube-proxy"],
        setJoinConfig: [
            "echo 'RKE recreates the etcd container from cluster.yml: run rke up (or edit the cluster in Rancher) so etcd starts with --initial-cluster={initialCluster} --initial-cluster-state=existing' >&2",
            "exit 1",
        ],
    },
};

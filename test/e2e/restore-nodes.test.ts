/**
 * ControlPlaneRestore under the real Pulumi engine, over real SSH, on three
 * node containers (sshd + a 3-member TLS etcd cluster), in two layouts:
 *
 * - kubespray: /etc/etcd.env, /etc/ssl/etcd/ssl/{ca,member-<node>,admin-<node>}.pem,
 *   etcd run as user etcd by the systemd unit `etcd`. There is no systemd in a
 *   container: /usr/bin/systemctl on the nodes is a small stand-in (SYSTEMCTL
 *   below) that runs the etcd unit the way kubespray's etcd.service does
 *   (User=etcd, EnvironmentFile=/etc/etcd.env) with start-stop-daemon.
 * - kubeadm: etcd as the static pod /etc/kubernetes/manifests/etcd.yaml,
 *   certificates in /etc/kubernetes/pki/etcd. There is no kubelet: the
 *   stand-in of test/support/kubelet-standin.ts (shared with the migration
 *   test) runs every static pod whose binary the node has, with the flags of
 *   its manifest, while the manifest is in the manifests dir. Node 1 also runs
 *   the real kube-apiserver from kube-apiserver.yaml (kubeadm's flags, on the
 *   local member https://127.0.0.1:2379 with apiserver-etcd-client), so the
 *   restore is checked through it: stopped before any etcd stops, back after,
 *   serving exactly the snapshot's objects.
 * - RKE: etcd as the docker container `etcd`, certificates in
 *   /etc/kubernetes/ssl/kube-etcd-<address>.pem. There is no Docker engine on
 *   a node: /usr/local/bin/docker is a stand-in (DOCKER below) that runs the
 *   container `etcd` with its command (/etc/rke/etcd.args) and environment
 *   (/etc/rke/etcd.env), `docker exec etcd …` with that environment, and
 *   `docker run --entrypoint etcdutl <etcd image> …` as etcdutl on the node
 *   (only the identity mounts the preset asks for). Without a mount namespace
 *   the container's paths are the node's, so --data-dir is /var/lib/etcd
 *   (RKE mounts it at /var/lib/rancher/etcd). Other containers are only
 *   logged. RKE cannot re-add members without `rke up`: the preset refuses
 *   the quorum-lost join, and the test checks that refusal.
 *
 * The presets' own commands run unchanged; nothing is overridden. Other units
 * (`systemctl restart kubelet`) are only logged. Except kubeadm's node 1, no
 * kube-apiserver runs: stopping/starting the control plane moves its manifest
 * files (kubespray) or is only logged (RKE).
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { ContainerFile, ContainerSpec, DockerPlan } from "../../src/docker/plan";
import { issueEtcdPki } from "../../src/pki/etcd-pki-issue";
import { planEtcdPki } from "../../src/pki/etcd-pki-plan";
import { dockerAvailable, hostIn, realizePlan, RealizedPlan, removeByLabel, withFreeSubnet } from "../harness/docker";
import { NODE_IMAGE, requireImages } from "../support/images";
import {
    KUBELET_STANDIN,
    KUBELET_STANDIN_LOG,
    KUBELET_STANDIN_PATH,
    kubeApiserverFiles,
    kubectlOn,
    kubeToolMounts,
    parseStandinLog,
    SSHD_CONFIG,
    sshKeygen,
    StandinEvent,
    staticPod,
    staticPodLog,
    waitApiserverReady,
} from "../support/kubelet-standin";
import { OfflineStack, offlineStack, uniqueStackName } from "../support/pulumi";
import { keyForms, leaks, startProcSampler } from "../support/proc-sampler";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(20 * 60_000);

/** Every PEM private key anywhere in an issued PKI. */
function pemKeysIn(value: unknown): string[] {
    if (typeof value === "string") return value.includes("PRIVATE KEY") ? [value] : [];
    if (value && typeof value === "object") return Object.values(value).flatMap(pemKeysIn);
    return [];
}

const FIXTURE_DIR = path.resolve(__dirname, "../fixtures/e2e/restore");
const ETCD_VERSION = "3.5.35";
const SNAPSHOT = "/root/etcd-snapshot.db";
const STEP_TYPE = "pulumi-nodejs:dynamic/etcd-recovery:RemoteCommand";

/** systemd stand-in: the etcd unit as kubespray's etcd.service (User=etcd, EnvironmentFile=/etc/etcd.env); other units only logged. */
const SYSTEMCTL = `#!/bin/sh
set -eu
echo "systemctl $*" >> /var/log/systemctl.log
action="$1"; unit="\${2:-}"; unit="\${unit%.service}"
[ "$action" = daemon-reload ] && exit 0
[ "$unit" = etcd ] && [ -f /etc/etcd.env ] || exit 0
running() { [ -f /run/etcd.pid ] && kill -0 "$(cat /run/etcd.pid)" 2>/dev/null; }
start() {
    running && return 0
    set -a; . /etc/etcd.env; set +a
    start-stop-daemon -S -b -m -p /run/etcd.pid -c etcd -x /bin/sh -- -c 'exec /usr/local/bin/etcd >>/var/log/etcd/etcd.log 2>&1'
}
stop() {
    running || return 0
    kill -TERM "$(cat /run/etcd.pid)"
    i=0; while running; do i=$((i+1)); [ $i -le 60 ] || { echo "etcd does not stop" >&2; exit 1; }; sleep 1; done
    rm -f /run/etcd.pid
}
case "$action" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    is-active) running ;;
    *) echo "systemctl stand-in: $action is not supported" >&2; exit 1 ;;
esac
`;

/** The image RKE's etcd container runs, as `docker inspect` reports it. */
const RKE_ETCD_IMAGE = `rancher/mirrored-coreos-etcd:v${ETCD_VERSION}`;

/** Docker stand-in for an RKE node: the container etcd from /etc/rke/etcd.{args,env}; lifecycle calls logged. */
const DOCKER = `#!/bin/sh
set -eu
running() { [ -f /run/etcd.pid ] && kill -0 "$(cat /run/etcd.pid)" 2>/dev/null; }
start_etcd() {
    running && return 0
    start-stop-daemon -S -b -m -p /run/etcd.pid -x /bin/sh -- -c 'set -a; . /etc/rke/etcd.env; exec /usr/local/bin/etcd $(cat /etc/rke/etcd.args) >>/var/log/etcd/etcd.log 2>&1'
}
stop_etcd() {
    running || return 0
    kill -TERM "$(cat /run/etcd.pid)"
    i=0; while running; do i=$((i+1)); [ $i -le 60 ] || { echo "etcd does not stop" >&2; exit 1; }; sleep 1; done
    rm -f /run/etcd.pid
}
unsupported() { echo "docker stand-in: $* is not supported" >&2; exit 1; }
command="$1"; shift
case "$command" in
    start|stop|restart)
        echo "docker $command $*" >> /var/log/docker.log
        for c in "$@"; do
            if [ "$c" = etcd ]; then
                case "$command" in start) start_etcd ;; stop) stop_etcd ;; restart) stop_etcd; start_etcd ;; esac
            fi
            echo "$c"
        done ;;
    inspect)
        [ "$#" = 3 ] && [ "$1" = --format ] && [ "$2" = '{{.Config.Image}}' ] && [ "$3" = etcd ] || unsupported "inspect $*"
        echo "${RKE_ETCD_IMAGE}" ;;
    exec)
        [ "$1" = etcd ] || unsupported "exec $*"
        shift
        running || { echo "Error response from daemon: container etcd is not running" >&2; exit 1; }
        set -a; . /etc/rke/etcd.env; set +a
        exec "$@" ;;
    run)
        entrypoint=""
        while [ "$#" -gt 0 ]; do
            case "$1" in
                --rm|--net=none) shift ;;
                --entrypoint) entrypoint="$2"; shift 2 ;;
                -v) case "$2" in "\${2%%:*}:\${2%%:*}"|"\${2%%:*}:\${2%%:*}:ro") shift 2 ;; *) unsupported "run -v $2 (only identity mounts)" ;; esac ;;
                -*) unsupported "run $1" ;;
                *) break ;;
            esac
        done
        [ "$1" = "${RKE_ETCD_IMAGE}" ] && [ -n "$entrypoint" ] || unsupported "run of $1 with entrypoint '$entrypoint'"
        shift
        exec "/usr/local/bin/$entrypoint" "$@" ;;
    *) unsupported "$command" ;;
esac
`;

/** kubeadm: the namespace of the objects the restore is checked with through kube-apiserver. */
const NAMESPACE = "restore-e2e";
/** The config maps kube-apiserver serves after the snapshot was taken, and those of the snapshot. */
const SERVED_AFTER_SNAPSHOT = ["created-after-snapshot", "kept"];
const SERVED_IN_SNAPSHOT = ["deleted-after-snapshot", "kept"];

const CONTROL_PLANE_MANIFESTS = ["kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"];
const manifestOf = (name: string): string => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: kube-system\n`;

interface TestNode {
    name: string;
    address: string;
    member: string;
}

type Pki = ReturnType<typeof issueEtcdPki>;

/** What differs between the layouts on a test node. */
interface Profile {
    layout: "kubespray" | "kubeadm" | "rke";
    /** etcd member name of a node (kubespray: etcd1…, kubeadm: the node name). */
    memberOf(i: number, nodeName: string): string;
    files(node: TestNode, nodes: TestNode[], pki: Pki): ContainerFile[];
    init: string;
    /** etcd's output on a node, shown when the cluster does not become healthy. */
    etcdLog: string;
    /** kubeadm: node 1 also runs the real kube-apiserver, a static pod on its local member. */
    apiserverOnFirstNode: boolean;
    /** etcdctl TLS flags on a node. */
    clientTls(node: TestNode): string[];
    dataDirOwner: string;
    /** Stop etcd on a node for good and wipe its data (a member lost). */
    destroyMember: string;
    /** Where the layout's stand-ins log start/stop calls, and what that log holds after one restore. */
    callLog: string;
    logAfterRestore: string;
    /**
     * Quorum-lost path: the join configuration a re-added node ends with, or —
     * for a layout whose preset refuses to re-add members — what the refusal says.
     */
    quorumLost: { joinConfig(nodes: TestNode[]): { command: string; expected: string } } | { refusal: string };
}

function initialClusterOf(nodes: TestNode[]): string {
    return nodes.map((n) => `${n.member}=https://${n.address}:2380`).join(",");
}

const KUBESPRAY_PKI = "/etc/ssl/etcd/ssl";
const kubespray: Profile = {
    layout: "kubespray",
    memberOf: (i) => `etcd${i}`,
    files: (node, nodes, pki) => {
        const member = pki.members[node.member].server;
        const env = [
            "ETCD_DATA_DIR=/var/lib/etcd",
            `ETCD_ADVERTISE_CLIENT_URLS=https://${node.address}:2379`,
            `ETCD_INITIAL_ADVERTISE_PEER_URLS=https://${node.address}:2380`,
            "ETCD_INITIAL_CLUSTER_STATE=new",
            `ETCD_LISTEN_CLIENT_URLS=https://${node.address}:2379,https://127.0.0.1:2379`,
            "ETCD_ELECTION_TIMEOUT=5000",
            "ETCD_HEARTBEAT_INTERVAL=250",
            "ETCD_INITIAL_CLUSTER_TOKEN=k8s_etcd",
            `ETCD_LISTEN_PEER_URLS=https://${node.address}:2380`,
            `ETCD_NAME=${node.member}`,
            "ETCD_PROXY=off",
            `ETCD_INITIAL_CLUSTER=${initialClusterOf(nodes)}`,
            `ETCD_TRUSTED_CA_FILE=${KUBESPRAY_PKI}/ca.pem`,
            `ETCD_CERT_FILE=${KUBESPRAY_PKI}/member-${node.name}.pem`,
            `ETCD_KEY_FILE=${KUBESPRAY_PKI}/member-${node.name}-key.pem`,
            "ETCD_CLIENT_CERT_AUTH=true",
            `ETCD_PEER_TRUSTED_CA_FILE=${KUBESPRAY_PKI}/ca.pem`,
            `ETCD_PEER_CERT_FILE=${KUBESPRAY_PKI}/member-${node.name}.pem`,
            `ETCD_PEER_KEY_FILE=${KUBESPRAY_PKI}/member-${node.name}-key.pem`,
            "ETCD_PEER_CLIENT_CERT_AUTH=true",
            "",
        ].join("\n");
        return [
            { path: "/etc/etcd.env", content: env, mode: 0o640 },
            { path: `${KUBESPRAY_PKI}/ca.pem`, content: pki.caCertPem, mode: 0o644 },
            { path: `${KUBESPRAY_PKI}/member-${node.name}.pem`, content: member.certPem, mode: 0o644 },
            { path: `${KUBESPRAY_PKI}/member-${node.name}-key.pem`, content: member.keyPem, mode: 0o600, secret: true },
            { path: `${KUBESPRAY_PKI}/admin-${node.name}.pem`, content: pki.clients.admin.certPem, mode: 0o644 },
            { path: `${KUBESPRAY_PKI}/admin-${node.name}-key.pem`, content: pki.clients.admin.keyPem, mode: 0o600, secret: true },
        ];
    },
    init: `#!/bin/sh
set -eu
chown -R etcd:etcd ${KUBESPRAY_PKI}
mkdir -p /var/lib/etcd /var/log/etcd
chown etcd:etcd /var/lib/etcd /var/log/etcd
chmod 0700 /var/lib/etcd
systemctl start etcd
exec /usr/sbin/sshd -D -e
`,
    etcdLog: "/var/log/etcd/etcd.log",
    apiserverOnFirstNode: false,
    clientTls: (node) => [
        `--cacert=${KUBESPRAY_PKI}/ca.pem`,
        `--cert=${KUBESPRAY_PKI}/admin-${node.name}.pem`,
        `--key=${KUBESPRAY_PKI}/admin-${node.name}-key.pem`,
    ],
    dataDirOwner: "etcd:etcd 700",
    destroyMember:
        "systemctl stop etcd && rm -rf /var/lib/etcd /var/lib/etcd.before-restore-* && mkdir -m 0700 /var/lib/etcd && chown etcd:etcd /var/lib/etcd",
    callLog: "/var/log/systemctl.log",
    logAfterRestore: "systemctl start etcd\nsystemctl stop etcd\nsystemctl start etcd\nsystemctl restart kubelet\n",
    quorumLost: {
        joinConfig: (nodes) => ({
            command: "grep ^ETCD_INITIAL_CLUSTER /etc/etcd.env",
            expected: `ETCD_INITIAL_CLUSTER_STATE=existing\nETCD_INITIAL_CLUSTER_TOKEN=k8s_etcd\nETCD_INITIAL_CLUSTER=${initialClusterOf(nodes.slice(0, 2))}\n`,
        }),
    },
};

const KUBEADM_PKI = "/etc/kubernetes/pki/etcd";
const kubeadm: Profile = {
    layout: "kubeadm",
    memberOf: (_i, nodeName) => nodeName,
    files: (node, nodes, pki) => {
        const member = pki.members[node.member];
        // The flags kubeadm writes into etcd.yaml (a stacked member), one per line.
        const flags = [
            `--advertise-client-urls=https://${node.address}:2379`,
            `--cert-file=${KUBEADM_PKI}/server.crt`,
            "--client-cert-auth=true",
            "--data-dir=/var/lib/etcd",
            "--election-timeout=5000",
            "--heartbeat-interval=250",
            `--initial-advertise-peer-urls=https://${node.address}:2380`,
            `--initial-cluster=${initialClusterOf(nodes)}`,
            `--key-file=${KUBEADM_PKI}/server.key`,
            `--listen-client-urls=https://127.0.0.1:2379,https://${node.address}:2379`,
            `--listen-peer-urls=https://${node.address}:2380`,
            `--name=${node.member}`,
            `--peer-cert-file=${KUBEADM_PKI}/peer.crt`,
            "--peer-client-cert-auth=true",
            `--peer-key-file=${KUBEADM_PKI}/peer.key`,
            `--peer-trusted-ca-file=${KUBEADM_PKI}/ca.crt`,
            `--trusted-ca-file=${KUBEADM_PKI}/ca.crt`,
        ];
        const etcdYaml = staticPod("etcd", ["etcd", ...flags], `registry.k8s.io/etcd:${ETCD_VERSION}-0`);
        return [
            { path: "/etc/kubernetes/manifests/etcd.yaml", content: etcdYaml, mode: 0o600 },
            { path: KUBELET_STANDIN_PATH, content: KUBELET_STANDIN, mode: 0o755 },
            { path: `${KUBEADM_PKI}/ca.crt`, content: pki.caCertPem, mode: 0o644 },
            { path: `${KUBEADM_PKI}/server.crt`, content: member.server.certPem, mode: 0o644 },
            { path: `${KUBEADM_PKI}/server.key`, content: member.server.keyPem, mode: 0o600, secret: true },
            { path: `${KUBEADM_PKI}/peer.crt`, content: member.peer.certPem, mode: 0o644 },
            { path: `${KUBEADM_PKI}/peer.key`, content: member.peer.keyPem, mode: 0o600, secret: true },
            { path: `${KUBEADM_PKI}/healthcheck-client.crt`, content: pki.clients.healthcheck.certPem, mode: 0o644 },
            { path: `${KUBEADM_PKI}/healthcheck-client.key`, content: pki.clients.healthcheck.keyPem, mode: 0o600, secret: true },
        ];
    },
    init: `#!/bin/sh
set -eu
mkdir -p /var/lib/etcd
chmod 0700 /var/lib/etcd
${KUBELET_STANDIN_PATH} &
exec /usr/sbin/sshd -D -e
`,
    etcdLog: staticPodLog("etcd"),
    apiserverOnFirstNode: true,
    clientTls: () => [
        `--cacert=${KUBEADM_PKI}/ca.crt`,
        `--cert=${KUBEADM_PKI}/healthcheck-client.crt`,
        `--key=${KUBEADM_PKI}/healthcheck-client.key`,
    ],
    dataDirOwner: "root:root 700",
    // Stop the static pod, wipe the data, put the manifest back: a re-provisioned node whose etcd starts empty.
    destroyMember:
        "mv /etc/kubernetes/manifests/etcd.yaml /root/etcd.yaml && while pgrep -x etcd >/dev/null; do sleep 1; done && " +
        "rm -rf /var/lib/etcd /var/lib/etcd.before-restore-* && mkdir -m 0700 /var/lib/etcd && mv /root/etcd.yaml /etc/kubernetes/manifests/etcd.yaml",
    callLog: "/var/log/systemctl.log",
    logAfterRestore: "systemctl restart kubelet\n",
    quorumLost: {
        joinConfig: (nodes) => ({
            command: "grep -e '--initial-cluster' /etc/kubernetes/manifests/etcd.yaml",
            expected: `    - --initial-cluster=${initialClusterOf(nodes.slice(0, 2))}\n    - --initial-cluster-state=existing\n`,
        }),
    },
};

const RKE_SSL = "/etc/kubernetes/ssl";
/** RKE names a member's certificate after its address: kube-etcd-10-0-0-11.pem. */
const rkeEtcdCert = (node: TestNode): string => `${RKE_SSL}/kube-etcd-${node.address.replace(/\./g, "-")}`;
const rke: Profile = {
    layout: "rke",
    memberOf: (_i, nodeName) => `etcd-${nodeName}`,
    files: (node, nodes, pki) => {
        // RKE's etcd container: one certificate per member for serving, peers and etcdctl (the peer one has both usages).
        const member = pki.members[node.member].peer;
        const cert = rkeEtcdCert(node);
        const args = [
            `--name=${node.member}`,
            "--data-dir=/var/lib/etcd",
            "--listen-client-urls=https://0.0.0.0:2379",
            `--advertise-client-urls=https://${node.address}:2379`,
            "--listen-peer-urls=https://0.0.0.0:2380",
            `--initial-advertise-peer-urls=https://${node.address}:2380`,
            `--initial-cluster=${initialClusterOf(nodes)}`,
            "--initial-cluster-state=new",
            "--initial-cluster-token=etcd-cluster-1",
            "--heartbeat-interval=500",
            "--election-timeout=5000",
            "--client-cert-auth=true",
            "--peer-client-cert-auth=true",
            `--trusted-ca-file=${RKE_SSL}/kube-ca.pem`,
            `--cert-file=${cert}.pem`,
            `--key-file=${cert}-key.pem`,
            `--peer-trusted-ca-file=${RKE_SSL}/kube-ca.pem`,
            `--peer-cert-file=${cert}.pem`,
            `--peer-key-file=${cert}-key.pem`,
            "",
        ].join("\n");
        const env = [
            "ETCDCTL_API=3",
            `ETCDCTL_CACERT=${RKE_SSL}/kube-ca.pem`,
            `ETCDCTL_CERT=${cert}.pem`,
            `ETCDCTL_KEY=${cert}-key.pem`,
            "",
        ].join("\n");
        return [
            { path: "/usr/local/bin/docker", content: DOCKER, mode: 0o755 },
            { path: "/etc/rke/etcd.args", content: args, mode: 0o644 },
            { path: "/etc/rke/etcd.env", content: env, mode: 0o644 },
            { path: `${RKE_SSL}/kube-ca.pem`, content: pki.caCertPem, mode: 0o644 },
            { path: `${cert}.pem`, content: member.certPem, mode: 0o644 },
            { path: `${cert}-key.pem`, content: member.keyPem, mode: 0o600, secret: true },
        ];
    },
    init: `#!/bin/sh
set -eu
mkdir -p /var/lib/etcd /var/log/etcd
chmod 0700 /var/lib/etcd
docker start etcd
exec /usr/sbin/sshd -D -e
`,
    etcdLog: "/var/log/etcd/etcd.log",
    apiserverOnFirstNode: false,
    clientTls: (node) => [`--cacert=${RKE_SSL}/kube-ca.pem`, `--cert=${rkeEtcdCert(node)}.pem`, `--key=${rkeEtcdCert(node)}-key.pem`],
    dataDirOwner: "root:root 700",
    destroyMember: "docker stop etcd && rm -rf /var/lib/etcd /var/lib/etcd.before-restore-* && mkdir -m 0700 /var/lib/etcd",
    callLog: "/var/log/docker.log",
    logAfterRestore: [
        "docker start etcd", // the node's boot
        "docker stop kube-apiserver kube-controller-manager kube-scheduler",
        "docker stop etcd",
        "docker start etcd",
        "docker start kube-apiserver kube-controller-manager kube-scheduler",
        "docker restart kubelet kube-proxy",
        "",
    ].join("\n"),
    quorumLost: { refusal: "RKE recreates the etcd container from cluster.yml: run rke up" },
};

describe.each([
    ["kubespray", kubespray, 0],
    ["kubeadm", kubeadm, 1],
    ["rke", rke, 2],
] as const)("%s layout", (_name, profile, _index) => {
    const runId = `restore-${profile.layout}-${Date.now().toString(36)}-${crypto.randomBytes(2).toString("hex")}`;
    // A free test /24 of its own per run and layout (withFreeSubnet, outside Docker's default pools): the addresses are set when the nodes start.
    const nodes: TestNode[] = [1, 2, 3].map((i) => ({ name: `node-${i}`, member: profile.memberOf(i, `node-${i}`), address: "" }));
    /** An address on the test network where no container runs. */
    let unreachableAddress = "";
    let allEndpoints: string[] = [];
    const container = (node: string): string => `${runId}-${node}`;
    /** The node that runs the real kube-apiserver (kubeadm only). */
    const apiserverNode = profile.apiserverOnFirstNode ? nodes[0] : undefined;

    let tmp: string;
    let realized: RealizedPlan;
    let clientKey: { privateKey: string; publicKey: string };
    const hostKeys: Record<string, string> = {};
    /** Every private key of the run: the SSH client key, the nodes' host keys, the etcd PKI's keys. */
    const privateKeys: string[] = [];
    let snapshotSha256: string;
    const beforeKeys = [0, 1, 2, 3, 4].map((i) => `/restore/before-${i}`);
    const stacks: OfflineStack[] = [];

    async function startNodes(): Promise<RealizedPlan> {
        return withFreeSubnet(async (subnet) => {
            nodes.forEach((node, i) => (node.address = hostIn(subnet, 11 + i)));
            unreachableAddress = hostIn(subnet, 99);
            allEndpoints = nodes.map((n) => `https://${n.address}:2379`);
            return startNodesOn(subnet);
        });
    }

    async function startNodesOn(subnet: string): Promise<RealizedPlan> {
        privateKeys.length = 0;
        clientKey = sshKeygen(path.join(tmp, "client"));
        const pki = issueEtcdPki(
            planEtcdPki({ clusterName: "restore-e2e", members: nodes.map((n) => ({ name: n.member, ip: n.address })) }),
        );
        privateKeys.push(clientKey.privateKey, ...pemKeysIn(pki));
        const containers = nodes.map((node): ContainerSpec => {
            const hostKey = sshKeygen(path.join(tmp, `host-${node.name}`));
            privateKeys.push(hostKey.privateKey);
            const runsApiserver = node === apiserverNode;
            hostKeys[node.name] = hostKey.publicKey;
            return {
                name: container(node.name),
                image: NODE_IMAGE,
                command: ["/bin/sh", "/etc/node-init.sh"],
                hostname: node.name,
                network: { name: `${runId}-net`, ipv4Address: node.address },
                mounts: runsApiserver ? kubeToolMounts() : [],
                files: [
                    { path: "/etc/node-init.sh", content: profile.init, mode: 0o755 },
                    { path: "/usr/bin/systemctl", content: SYSTEMCTL, mode: 0o755 },
                    { path: "/etc/ssh/sshd_config", content: SSHD_CONFIG, mode: 0o644 },
                    { path: "/etc/ssh/ssh_host_ed25519_key", content: hostKey.privateKey, mode: 0o600, secret: true },
                    { path: "/root/.ssh/authorized_keys", content: `${clientKey.publicKey}\n`, mode: 0o600 },
                    ...CONTROL_PLANE_MANIFESTS.filter((m) => !(runsApiserver && m === "kube-apiserver.yaml")).map((m) => ({
                        path: `/etc/kubernetes/manifests/${m}`,
                        content: manifestOf(m),
                        mode: 0o600,
                    })),
                    // kubeadm's stacked apiserver: the local member, with the apiserver-etcd-client certificate.
                    ...(runsApiserver
                        ? kubeApiserverFiles({
                              address: node.address,
                              etcdServers: ["https://127.0.0.1:2379"],
                              etcdClient: pki.clients.apiserver,
                          })
                        : []),
                    ...profile.files(node, nodes, pki),
                ],
            };
        });
        const plan: DockerPlan = { networks: [{ name: `${runId}-net`, subnet }], volumes: [], containers };
        return realizePlan(plan, { runId, waitHealthy: false, timeoutMs: 180_000 });
    }

    async function etcdctl(
        node: string,
        args: string[],
        endpoints = allEndpoints,
    ): Promise<{ exitCode: number; stdout: string; stderr: string }> {
        return realized.exec(container(node), [
            "/usr/local/bin/etcdctl",
            `--endpoints=${endpoints.join(",")}`,
            ...profile.clientTls(nodes.find((n) => n.name === node)!),
            "--command-timeout=10s",
            ...args,
        ]);
    }

    async function sh(node: string, script: string): Promise<string> {
        const result = await realized.exec(container(node), ["/bin/sh", "-euc", script]);
        if (result.exitCode !== 0) throw new Error(`${node}: ${script} exited ${result.exitCode}: ${result.stderr}${result.stdout}`);
        return result.stdout;
    }

    async function waitClusterHealthy(timeoutMs = 180_000): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const health = await etcdctl("node-1", ["endpoint", "health"]);
            if (health.exitCode === 0) return;
            if (Date.now() > deadline) {
                const logs = await sh("node-1", `tail -n 30 ${profile.etcdLog} || true`);
                throw new Error(
                    `etcd not healthy in ${timeoutMs / 1000}s: ${health.stderr}${health.stdout}\n--- node-1 etcd log:\n${logs}`,
                );
            }
            await new Promise((resolve) => setTimeout(resolve, 2_000));
        }
    }

    async function keysUnder(prefix: string): Promise<string[]> {
        const result = await etcdctl("node-1", ["get", prefix, "--prefix", "--keys-only"]);
        if (result.exitCode !== 0) throw new Error(`etcdctl get failed: ${result.stderr}`);
        return result.stdout
            .split("\n")
            .filter((line) => line.trim() !== "")
            .sort();
    }

    /** What a node looks like from the outside: running etcd, data dirs, manifests, start/stop calls, etcd configuration. */
    async function nodeState(node: string): Promise<Record<string, string>> {
        return {
            etcdRunning: (await realized.exec(container(node), ["pgrep", "-x", "etcd"])).exitCode === 0 ? "yes" : "no",
            varLib: await sh(node, "ls -1 /var/lib | grep etcd || true"),
            dataDir: await sh(node, "find /var/lib/etcd -maxdepth 3 | sort"),
            manifests: await sh(node, "ls -1 /etc/kubernetes/manifests"),
            calls: await sh(node, "cat /var/log/systemctl.log /var/log/mini-kubelet.log /var/log/docker.log 2>/dev/null || true"),
            config: await sh(node, "cat /etc/etcd.env /etc/kubernetes/manifests/etcd.yaml /etc/rke/etcd.args 2>/dev/null || true"),
        };
    }

    /** kubectl as kubernetes-admin on the apiserver node; fails with what kubectl said. */
    async function kubectl(args: string[]): Promise<string> {
        const result = await kubectlOn(realized, container(apiserverNode!.name), args);
        expect({ args, exitCode: result.exitCode, stderr: result.stderr }).toEqual({ args, exitCode: 0, stderr: "" });
        return result.stdout;
    }

    /** The config maps kube-apiserver serves in NAMESPACE, and the resourceVersion of that list (the server's: `get --raw`). */
    async function configMapsServed(): Promise<{ names: string[]; resourceVersion: number }> {
        const list = JSON.parse(await kubectl(["get", `--raw=/api/v1/namespaces/${NAMESPACE}/configmaps`])) as {
            metadata: { resourceVersion: string };
            items: { metadata: { name: string } }[];
        };
        return { names: list.items.map((i) => i.metadata.name).sort(), resourceVersion: Number(list.metadata.resourceVersion) };
    }

    /** Seconds since boot on a node: the clock of the kubelet stand-in's log, the same in every container. */
    async function uptime(node: string): Promise<number> {
        return Number((await sh(node, "cut -d' ' -f1 /proc/uptime")).trim());
    }

    /** The kubelet stand-in's log of a node, from `since` (seconds since boot) on. */
    async function standinEvents(node: string, since: number): Promise<StandinEvent[]> {
        return parseStandinLog(await sh(node, `cat ${KUBELET_STANDIN_LOG}`)).filter((e) => e.at > since);
    }

    function nodeConfig(extra: object[] = []): string {
        return JSON.stringify([
            ...nodes.map((n) => ({ name: n.name, address: n.address, role: "both", etcdMemberName: n.member, hostKey: hostKeys[n.name] })),
            ...extra,
        ]);
    }

    async function restoreStack(
        prefix: string,
        nodesJson: string,
        mode = "all-members",
        extra: Record<string, { value: string }> = {},
    ): Promise<OfflineStack> {
        const stack = await offlineStack({
            workDir: FIXTURE_DIR,
            stackName: uniqueStackName(prefix),
            config: {
                privateKey: { value: clientKey.privateKey, secret: true },
                nodes: { value: nodesJson },
                layout: { value: profile.layout },
                snapshotPath: { value: SNAPSHOT },
                snapshotSha256: { value: snapshotSha256 },
                etcdVersion: { value: ETCD_VERSION },
                mode: { value: mode },
                ...extra,
            },
        });
        stacks.push(stack);
        return stack;
    }

    beforeAll(async () => {
        await dockerAvailable();
        await requireImages(NODE_IMAGE);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-restore-"));
        realized = await startNodes();
        await waitClusterHealthy();
        if (apiserverNode) {
            // Objects in the snapshot: one kept, one that is deleted after the snapshot was taken.
            await waitApiserverReady(realized, container(apiserverNode.name), 300_000);
            await kubectl(["create", "namespace", NAMESPACE]);
            for (const name of SERVED_IN_SNAPSHOT)
                await kubectl(["-n", NAMESPACE, "create", "configmap", name, `--from-literal=name=${name}`]);
        }

        // Keys in the snapshot, the snapshot on every node, then keys that the restore must drop.
        for (let i = 0; i < 5; i++) expect((await etcdctl("node-1", ["put", `/restore/before-${i}`, `value-${i}`])).exitCode).toBe(0);
        const saved = await etcdctl("node-1", ["snapshot", "save", SNAPSHOT], [allEndpoints[0]]);
        expect(saved.exitCode).toBe(0);
        const snapshot = (await realized.readFile(container("node-1"), SNAPSHOT)).content;
        snapshotSha256 = crypto.createHash("sha256").update(snapshot).digest("hex");
        for (const node of nodes.slice(1)) {
            const copied = await realized.exec(container(node.name), ["/bin/sh", "-c", `cat > ${SNAPSHOT}`], { input: snapshot });
            expect(copied.exitCode).toBe(0);
        }
        for (let i = 0; i < 3; i++) expect((await etcdctl("node-1", ["put", `/restore/after-${i}`, "lost"])).exitCode).toBe(0);
        if (apiserverNode) {
            await kubectl(["-n", NAMESPACE, "create", "configmap", "created-after-snapshot", "--from-literal=name=created-after-snapshot"]);
            await kubectl(["-n", NAMESPACE, "delete", "configmap", "deleted-after-snapshot"]);
        }
    });

    afterAll(async () => {
        for (const stack of stacks) {
            await stack.stack.destroy().catch(() => undefined);
            await stack.cleanup().catch(() => undefined);
        }
        await removeByLabel(runId);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    test("an unreachable node that is not marked broken stops the run in preflight; no node is changed", async () => {
        const before = Object.fromEntries(await Promise.all(nodes.map(async (n) => [n.name, await nodeState(n.name)] as const)));
        const stack = await restoreStack(
            "e2e-restore-fault",
            nodeConfig([{ name: "node-4", address: unreachableAddress, role: "control-plane" }]),
        );
        const error = await stack.stack.up().then(
            () => undefined,
            (e: Error) => e,
        );
        expect(error).toBeDefined();
        expect(error!.message).toContain("step preflight-node-4 on node-4");
        expect(error!.message).toMatch(
            new RegExp(`cannot run on root@${unreachableAddress.replace(/\./g, "\\.")}:22: .*(EHOSTUNREACH|ETIMEDOUT|Timed out)`),
        );

        const after = Object.fromEntries(await Promise.all(nodes.map(async (n) => [n.name, await nodeState(n.name)] as const)));
        expect(after).toEqual(before);
        for (const node of nodes) {
            expect(after[node.name].etcdRunning).toBe("yes");
            expect(after[node.name].varLib.trim()).toBe("etcd");
            expect(after[node.name].dataDir).toContain("/var/lib/etcd/member/wal");
        }
        // Only read-only steps ran: no other step is in the state at all.
        const resources =
            (JSON.parse(await stack.readState()) as { deployment: { resources?: { urn: string; type: string }[] } }).deployment.resources ??
            [];
        const steps = resources.filter((r) => r.type === STEP_TYPE).map((r) => r.urn.split("::").pop());
        expect(steps.length).toBeGreaterThan(0);
        for (const name of steps) expect(name).toMatch(/^restore-preflight-node-[123]$/);
        expect(await keysUnder("/restore/")).toEqual([...beforeKeys, "/restore/after-0", "/restore/after-1", "/restore/after-2"].sort());
    });

    test("a corrupt snapshot (its sha256 given to match) stops the run in preflight; no node is changed", async () => {
        // The first half of the snapshot: what an interrupted copy leaves behind.
        for (const node of nodes) await sh(node.name, `head -c $(( $(wc -c < ${SNAPSHOT}) / 2 )) ${SNAPSHOT} > /root/corrupt.db`);
        const corruptSha = (await sh("node-1", "sha256sum /root/corrupt.db")).split(" ")[0];
        const before = Object.fromEntries(await Promise.all(nodes.map(async (n) => [n.name, await nodeState(n.name)] as const)));
        const stack = await restoreStack("e2e-restore-corrupt", nodeConfig(), "all-members", {
            snapshotPath: { value: "/root/corrupt.db" },
            snapshotSha256: { value: corruptSha },
        });
        const error = await stack.stack.up().then(
            () => undefined,
            (e: Error) => e,
        );
        expect(error).toBeDefined();
        expect(error!.message).toMatch(/step preflight-node-\d on node-\d: .* failed on root@.* with exit code \d+/);
        expect(error!.message).toContain("/root/corrupt.db on node-");
        // `snapshot status` catches some damage; the trial restore (which checks the integrity hash) the rest.
        expect(error!.message).toMatch(/(is not a readable etcd snapshot|cannot be restored) \(damaged or incomplete copy\)/);
        const after = Object.fromEntries(await Promise.all(nodes.map(async (n) => [n.name, await nodeState(n.name)] as const)));
        expect(after).toEqual(before);
        expect(await keysUnder("/restore/")).toEqual([...beforeKeys, "/restore/after-0", "/restore/after-1", "/restore/after-2"].sort());
    });

    test("all members restored: healthy, exactly the snapshot's keys, old data kept, secrets only encrypted; a kube-apiserver, where one runs, stopped first and back with the snapshot's view", async () => {
        // kubeadm: before the restore, the apiserver serves what was changed after the snapshot.
        const since = apiserverNode ? await uptime(apiserverNode.name) : 0;
        if (apiserverNode) expect((await configMapsServed()).names).toEqual(SERVED_AFTER_SNAPSHOT);

        const stack = await restoreStack("e2e-restore", nodeConfig());
        // Every process on the nodes, sampled from the host all through the restore.
        const sampler = await startProcSampler(nodes.map((n) => container(n.name)));
        const started = Date.now();
        const up = await stack.stack.up().finally(() => sampler.stop());
        const seconds = Math.round((Date.now() - started) / 1000);
        const samples = await sampler.stop();
        expect(up.summary.result).toBe("succeeded");
        // Control: the sampler saw the restore's own processes (the step scripts' shell)...
        const cmdlines = [...samples.cmdlines];
        expect(cmdlines.filter((c) => /sh -eu -s$/.test(c))).not.toEqual([]);
        // (Not etcdutl itself: restoring the small test snapshot takes a few ms, shorter than a sampling pass under load.)
        // ...and none of them, nor any environment, held a private key in any form.
        expect(privateKeys.length).toBeGreaterThan(3);
        expect(leaks(samples, privateKeys.flatMap(keyForms))).toEqual([]);
        console.log(
            `${profile.layout}: ${samples.passes} samples of the nodes' processes, ${samples.cmdlines.size} distinct command lines, ${samples.environs.size} environments`,
        );
        const stepIds = up.outputs.stepIds!.value as string[];
        expect(up.summary.resourceChanges?.create).toBe(stepIds.length + 2); // + the stack and the component
        console.log(`${profile.layout}: restore of 3 members, ${stepIds.length} steps in ${seconds}s`);

        await waitClusterHealthy(60_000);
        expect(await keysUnder("/restore/")).toEqual(beforeKeys);
        const value = await etcdctl("node-2", ["get", "/restore/before-3", "--print-value-only"]);
        expect(value.stdout.trim()).toBe("value-3");

        // --bump-revision=1000000000: the revision jumped, so watchers cannot be served stale data.
        const status = JSON.parse((await etcdctl("node-1", ["endpoint", "status", "-w", "json"], [allEndpoints[0]])).stdout);
        expect(status[0].Status.header.revision).toBeGreaterThan(1_000_000_000);
        const members = await etcdctl("node-1", ["member", "list"]);
        expect(members.stdout.split("\n").filter((l) => l.includes(", started, ")).length).toBe(3);

        for (const node of nodes) {
            const oldDirs = (await sh(node.name, "ls -d /var/lib/etcd.before-restore-*")).trim().split("\n");
            expect(oldDirs).toHaveLength(1);
            expect(oldDirs[0]).toMatch(/^\/var\/lib\/etcd\.before-restore-\d{8}T\d{6}Z$/);
            expect(await sh(node.name, `ls ${oldDirs[0]}/member`)).toMatch(/snap/);
            expect((await sh(node.name, "stat -c '%U:%G %a' /var/lib/etcd")).trim()).toBe(profile.dataDirOwner);
            expect(
                (await sh(node.name, "ls -1 /etc/kubernetes/manifests"))
                    .trim()
                    .split("\n")
                    .filter((m) => m !== "etcd.yaml"),
            ).toEqual(CONTROL_PLANE_MANIFESTS);
            expect(await sh(node.name, `cat ${profile.callLog}`)).toBe(profile.logAfterRestore);
            // The member came back under its own name and peer URL.
            expect(members.stdout).toContain(`, ${node.member}, https://${node.address}:2380,`);
        }

        expect(up.outputs.report!.value as string).toContain("is healthy");
        const dryRun = up.outputs.dryRun!.value as string;
        expect(dryRun).toContain(`--name=${nodes[0].member} --initial-cluster=${initialClusterOf(nodes)}`);
        expect(dryRun).toContain("--bump-revision=1000000000 --mark-compacted");

        // The SSH key is a secret: not in the dry run, not in state in plain text.
        const keyBody = clientKey.privateKey.split("\n")[1];
        expect(dryRun).not.toContain(keyBody);
        const state = await stack.readState();
        expect(state).not.toContain(keyBody);
        expect(state).not.toMatch(/PRIVATE KEY/);
        expect(state).toContain(SECRET_SIG);
        const grep = spawnSync("grep", ["-rl", keyBody, stack.stateDir], { encoding: "utf8" });
        expect({ status: grep.status, files: grep.stdout }).toEqual({ status: 1, files: "" });

        // A second run with the same inputs runs nothing again.
        const again = await stack.stack.preview();
        expect(again.changeSummary).toEqual({ same: stepIds.length + 2 });

        if (apiserverNode) {
            // The stand-ins' logs, on one clock: kube-apiserver was gone before any etcd was stopped,
            // and started again only after every etcd had started.
            const events = await Promise.all(nodes.map((n) => standinEvents(n.name, since)));
            const [first, ...others] = events.map((list) => list.map((e) => `${e.action} ${e.pod}`));
            expect(first).toEqual([
                "stop kube-apiserver",
                "stopped kube-apiserver",
                "stop etcd",
                "stopped etcd",
                "start etcd",
                "start kube-apiserver",
            ]);
            for (const list of others) expect(list).toEqual(["stop etcd", "stopped etcd", "start etcd"]);
            const at = (list: StandinEvent[], action: StandinEvent["action"], pod: string): number =>
                list.find((e) => e.action === action && e.pod === pod)!.at;
            const apiserverGone = at(events[0], "stopped", "kube-apiserver");
            const apiserverStarted = at(events[0], "start", "kube-apiserver");
            for (const list of events) {
                expect(at(list, "stop", "etcd")).toBeGreaterThan(apiserverGone);
                expect(at(list, "start", "etcd")).toBeLessThan(apiserverStarted);
            }
            const firstEtcdStop = Math.min(...events.map((list) => at(list, "stop", "etcd")));
            console.log(`${profile.layout}: kube-apiserver gone ${(firstEtcdStop - apiserverGone).toFixed(2)}s before the first etcd stop`);

            // Back, and serving exactly the snapshot's view, at the bumped revision.
            await waitApiserverReady(realized, container(apiserverNode.name), 300_000);
            const served = await configMapsServed();
            expect(served.names).toEqual(SERVED_IN_SNAPSHOT);
            expect(served.resourceVersion).toBeGreaterThan(1_000_000_000);
        }
    });

    test("a failure mid-way leaves every old data dir in place, says where it stopped, and pulumi up resumes from there", async () => {
        const dirsBefore = await Promise.all(nodes.map((n) => sh(n.name, "ls -d /var/lib/etcd.before-restore-*")));
        const stack = await restoreStack("e2e-restore-midway", nodeConfig(), "all-members", {
            layoutOverrides: { value: JSON.stringify({ startEtcd: ["echo 'simulated: etcd does not start' >&2", "exit 7"] }) },
        });
        const error = await stack.stack.up().then(
            () => undefined,
            (e: Error) => e,
        );
        expect(error).toBeDefined();
        expect(error!.message).toMatch(
            /step start-etcd-node-\d on node-\d: Start etcd on node-\d: failed on root@[\d.]+:22 with exit code 7/,
        );
        expect(error!.message).toContain("simulated: etcd does not start");
        expect(error!.message).toContain("run pulumi up again to resume from this step");
        for (const [i, node] of nodes.entries()) {
            expect((await realized.exec(container(node.name), ["pgrep", "-x", "etcd"])).exitCode).toBe(1);
            const dirs = (await sh(node.name, "ls -d /var/lib/etcd.before-restore-*")).trim().split("\n");
            expect(dirs).toHaveLength(dirsBefore[i].trim().split("\n").length + 1);
            for (const dir of dirs) expect(await sh(node.name, `ls ${dir}/member`)).toMatch(/snap/);
        }

        // Fixed: the same stack resumes; the steps that ran (stop, move, restore) do not run again.
        await stack.stack.removeConfig("layoutOverrides");
        const up = await stack.stack.up();
        expect(up.summary.result).toBe("succeeded");
        expect(up.summary.resourceChanges?.create).toBeGreaterThan(0);
        expect(up.summary.resourceChanges?.same).toBeGreaterThanOrEqual(3 * 5); // preflight, stops, move, restore, ownership per node
        expect(up.summary.resourceChanges?.delete ?? 0).toBe(0);
        for (const [i, node] of nodes.entries()) {
            expect((await sh(node.name, "ls -d /var/lib/etcd.before-restore-*")).trim().split("\n")).toHaveLength(
                dirsBefore[i].trim().split("\n").length + 1,
            );
        }
        await waitClusterHealthy(60_000);
        expect(await keysUnder("/restore/")).toEqual(beforeKeys);
    });

    test("quorum lost: two of three members destroyed; one restored alone, the two re-provisioned nodes added back one by one (RKE: refused at the first join, saying what to do)", async () => {
        // node-2 and node-3 lose their members: etcd stopped, data gone (a re-provisioned node with
        // the same address, as kubespray's recovery expects). The containers, and so sshd, stay:
        // the harness cannot re-create a container on an existing network.
        const seedDirsBefore = (await sh("node-1", "ls -d /var/lib/etcd.before-restore-*")).trim().split("\n").length;
        for (const node of ["node-2", "node-3"]) await sh(node, profile.destroyMember);
        // node-1 alone has no quorum.
        expect((await etcdctl("node-1", ["put", "/restore/no-quorum", "x"], [allEndpoints[0]])).exitCode).not.toBe(0);

        const stack = await restoreStack("e2e-restore-quorum", nodeConfig(), "quorum-lost");
        const quorumLost = profile.quorumLost;
        if ("refusal" in quorumLost) {
            // The preset restores the seed and adds the next member, then stops at its join with what to do instead.
            const error = await stack.stack.up().then(
                () => undefined,
                (e: Error) => e,
            );
            expect(error).toBeDefined();
            expect(error!.message).toMatch(/step join-node-2 on node-2: .* failed on root@[\d.]+:22 with exit code 1/);
            expect(error!.message).toContain(quorumLost.refusal);
            // The seed alone holds exactly the snapshot's keys (a serializable read: node-2 is added but not started).
            const keys = await etcdctl("node-1", ["get", "/restore/", "--prefix", "--keys-only", "--consistency=s"], [allEndpoints[0]]);
            expect(
                keys.stdout
                    .split("\n")
                    .filter((line) => line.trim() !== "")
                    .sort(),
            ).toEqual(beforeKeys);
            expect((await sh("node-1", "ls -d /var/lib/etcd.before-restore-*")).trim().split("\n")).toHaveLength(seedDirsBefore + 1);
            expect((await realized.exec(container("node-3"), ["pgrep", "-x", "etcd"])).exitCode).toBe(1);
            return;
        }
        const started = Date.now();
        const up = await stack.stack.up();
        const seconds = Math.round((Date.now() - started) / 1000);
        expect(up.summary.result).toBe("succeeded");
        const stepIds = up.outputs.stepIds!.value as string[];
        console.log(`${profile.layout}: quorum-lost restore (1 restored + 2 re-added), ${stepIds.length} steps in ${seconds}s`);
        expect(stepIds.filter((id) => /^(restore|member-add|join)-/.test(id))).toEqual([
            "restore-node-1",
            "member-add-node-2",
            "join-node-2",
            "member-add-node-3",
            "join-node-3",
        ]);

        await waitClusterHealthy(60_000);
        expect(await keysUnder("/restore/")).toEqual(beforeKeys);
        const members = await etcdctl("node-3", ["member", "list"]);
        for (const node of nodes) expect(members.stdout).toContain(`, started, ${node.member}, https://${node.address}:2380,`);
        // Every member serves the data, the re-added ones included.
        for (const node of nodes) {
            const value = await etcdctl(
                node.name,
                ["get", "/restore/before-1", "--print-value-only", "--consistency=s"],
                [`https://${node.address}:2379`],
            );
            expect(value.stdout.trim()).toBe("value-1");
        }
        const join = quorumLost.joinConfig(nodes);
        expect(await sh("node-2", join.command)).toBe(join.expected);
        // The seed's data before this run is kept, next to the ones of the earlier restores.
        expect((await sh("node-1", "ls -d /var/lib/etcd.before-restore-*")).trim().split("\n")).toHaveLength(seedDirsBefore + 1);
    });
});

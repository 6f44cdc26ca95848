/**
 * The original etcd PKI for mode "replica", as the importers find it: kubeadm's
 * /etc/kubernetes/pki of each control-plane node, or the certificates bundle
 * of RKE's state. Only gathers the PEMs and where they came from;
 * `validateReplicaCertificates` (../replica) checks their content.
 */
import { InputError } from "../../errors";
import type { ReplicaCertificates, ReplicaPemPair } from "../replica";
import { OriginalCluster } from "../source";
import { RkeCertificate } from "./rke";

/**
 * kubeadm: each control-plane node's /etc/kubernetes/pki, as relative path → content
 * ("etcd/ca.crt", "etcd/server.crt", "etcd/server.key", "etcd/peer.crt", "etcd/peer.key",
 * "apiserver-etcd-client.crt"/".key"; "etcd/healthcheck-client.*" when the former are absent).
 */
export function replicaCertificatesFromKubeadm(
    nodes: { member: string; dir: string; files: Record<string, string> }[],
): ReplicaCertificates<string> {
    if (nodes.length === 0) throw new InputError("nodes", nodes, "give the pki directory of every etcd member's node");
    const read = (node: (typeof nodes)[number], file: string): string => {
        const content = node.files[file];
        if (content === undefined)
            throw new InputError(`${node.dir}/${file}`, undefined, `copy /etc/kubernetes/pki/${file} from member ${node.member}'s node`);
        return content;
    };
    const pair = (node: (typeof nodes)[number], base: string): ReplicaPemPair<string> => ({
        certPem: read(node, `${base}.crt`),
        keyPem: read(node, `${base}.key`),
        certFile: `${node.dir}/${base}.crt`,
        keyFile: `${node.dir}/${base}.key`,
    });
    const first = nodes[0];
    const caCertPem = read(first, "etcd/ca.crt");
    const members: ReplicaCertificates<string>["members"] = {};
    for (const node of nodes) {
        if (read(node, "etcd/ca.crt").trim() !== caCertPem.trim()) {
            throw new InputError(
                `${node.dir}/etcd/ca.crt`,
                "(another CA)",
                `it differs from ${first.dir}/etcd/ca.crt; give the pki directories of one cluster`,
            );
        }
        if (members[node.member]) throw new InputError("nodes", node.member, "this member's directory is given twice");
        members[node.member] = { server: pair(node, "etcd/server"), peer: pair(node, "etcd/peer") };
    }
    const clientNode = nodes.find((n) => n.files["apiserver-etcd-client.crt"] !== undefined) ?? first;
    const client =
        clientNode.files["apiserver-etcd-client.crt"] !== undefined
            ? pair(clientNode, "apiserver-etcd-client")
            : pair(clientNode, "etcd/healthcheck-client");
    return { caCertPem, caCertFile: `${first.dir}/etcd/ca.crt`, members, client };
}

/**
 * RKE: the state's certificates bundle. kube-ca is the CA,
 * kube-etcd-<ip with dashes> each member's server and peer certificate, and
 * kube-node the client certificate RKE's kube-apiserver presents to etcd.
 */
export function replicaCertificatesFromRkeBundle(
    bundle: RkeCertificate[],
    original: OriginalCluster,
    file: string,
): ReplicaCertificates<string> {
    const byName = new Map(bundle.map((c) => [c.name, c]));
    const pairOf = (name: string, why: string): ReplicaPemPair<string> => {
        const entry = byName.get(name);
        if (!entry)
            throw new InputError(
                `${file}: currentState.certificatesBundle.${name}`,
                undefined,
                `${why}; is this the state of the same cluster?`,
            );
        if (entry.keyPem === undefined)
            throw new InputError(
                `${file}: currentState.certificatesBundle.${name}.keyPEM`,
                undefined,
                `${why} needs its key; give the full cluster.rkestate`,
            );
        return {
            certPem: entry.certPem,
            keyPem: entry.keyPem,
            certFile: `${file}: ${name}.certificatePEM`,
            keyFile: `${file}: ${name}.keyPEM`,
        };
    };
    const ca = byName.get("kube-ca");
    if (!ca)
        throw new InputError(
            `${file}: currentState.certificatesBundle.kube-ca`,
            undefined,
            "RKE's etcd CA is kube-ca; give the full cluster.rkestate",
        );
    const members: ReplicaCertificates<string>["members"] = {};
    for (const member of original.etcd.members) {
        const ip = new URL(member.peerUrls[0]).hostname;
        const pair = pairOf(`kube-etcd-${ip.replace(/[.:]/g, "-")}`, `member ${member.name} (${ip}) runs with this certificate`);
        members[member.name] = { server: pair, peer: pair };
    }
    return {
        caCertPem: ca.certPem,
        caCertFile: `${file}: kube-ca.certificatePEM`,
        members,
        client: pairOf("kube-node", "kube-apiserver's etcd client certificate (--etcd-certfile)"),
    };
}

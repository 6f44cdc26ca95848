// An external TLS etcd cluster as code: 3 members on a bridge network,
// certificates with the subject names of the usual by-hand cfssl setup, and
// what kube-apiserver needs.
import * as pulumi from "@pulumi/pulumi";
import { EtcdCluster } from "../../src";

const config = new pulumi.Config();

const cluster = new EtcdCluster("etcd", {
    size: 3,
    network: { mode: "bridge", subnet: config.get("subnet") ?? "172.29.0.0/24" },
    image: config.get("image") ?? "registry.k8s.io/etcd:3.5.21-0",
    certificateNames: [{ C: "CN", ST: "Beijing", L: "Beijing", O: "k8s", OU: "System" }],
    extraHosts: ["kubernetes-*"],
    publishClientPorts: { firstHostPort: config.getNumber("firstHostPort") ?? 32379 },
});

export const endpoints = cluster.clientEndpoints;
export const apiserverFlags = cluster.kubeApiserverFlags;
export const kubeadmEtcdBlock = cluster.kubeadmExternalEtcd;
// Node files for /etc/kubernetes/pki on each member, kubeadm names (secret).
export const kubeadmFiles = cluster.pki.kubeadmFiles;
export const caCertPem = cluster.caCertPem;
export const adminKeyPem = pulumi.secret(cluster.clientKeyPem);

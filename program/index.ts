// The root program: an external TLS etcd cluster in the local Docker engine,
// configured per stack (`pulumi config set etcd-recovery:size 3`, …).
import * as pulumi from "@pulumi/pulumi";
import { EtcdCluster } from "../src";

const config = new pulumi.Config("etcd-recovery");
const firstHostPort = config.getNumber("firstHostPort") ?? 0;
const etcdVersion = config.get("etcdVersion");

const cluster = new EtcdCluster(`etcd-${pulumi.getStack()}`, {
    size: config.getNumber("size") ?? 3,
    network: { mode: "bridge", subnet: config.get("subnet") ?? "172.29.0.0/24" },
    image: config.get("image") ?? "registry.k8s.io/etcd:3.5.21-0",
    ...(etcdVersion ? { etcdVersion } : {}),
    ...(firstHostPort > 0 ? { publishClientPorts: { firstHostPort } } : {}),
});

export const clientEndpoints = cluster.clientEndpoints;
export const caCertPem = cluster.caCertPem;
export const clientCertPem = cluster.clientCertPem;
export const clientKeyPem = cluster.clientKeyPem;
export const kubeApiserverFlags = cluster.kubeApiserverFlags;
export const kubeadmExternalEtcd = cluster.kubeadmExternalEtcd;

// The PKI of a 3-member external etcd cluster as a Pulumi program: generated
// once, kept in state as secrets, and shown as replaced in `pulumi preview`
// when certificates come within `earlyRenewalHours` of expiry.
import * as pulumi from "@pulumi/pulumi";
import { EtcdPki } from "../../src";

const config = new pulumi.Config();

const pki = new EtcdPki("etcd", {
    clusterName: "seed004",
    members: [
        { name: "etcd-01", ip: "32.16.5.31" },
        { name: "etcd-02", ip: "32.16.5.32" },
        { name: "etcd-03", ip: "32.16.5.33" },
    ],
    extraHosts: ["kubernetes-*"],
    names: [{ C: "CN", ST: "Beijing", L: "Beijing", O: "k8s", OU: "System" }],
    certificateExpiry: config.get("certificateExpiry") ?? "8760h",
    earlyRenewalHours: config.getNumber("earlyRenewalHours") ?? 720,
});

export const caCertPem = pki.caCertPem;
// Secret: write these to /etc/kubernetes/pki on each member (kubeadm names) …
export const kubeadmFiles = pki.kubeadmFiles;
// … or use cfssl's names (ca.pem, etcd.pem, etcd-key.pem, …).
export const cfsslFiles = pki.cfsslFiles;
export const apiserverClientCertPem = pki.apiserverClient.certPem;

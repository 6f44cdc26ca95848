/**
 * The by-hand cfssl steps of an external etcd cluster as a Pulumi program: an "etcd CA" and an "etcd"
 * server/peer certificate signed with the "kubernetes" profile, written to
 * `outDir` the way `cfssljson -bare` lays them out (ca.pem, ca-key.pem,
 * ca.csr, etcd.pem, etcd-key.pem, etcd.csr; keys mode 0600).
 *
 * Keys are made once and kept (encrypted) in the stack state: a second `up`
 * changes nothing, `destroy` removes the files.
 */
import * as pulumi from "@pulumi/pulumi";

import { Certificate, CertificateAuthority } from "../../src/pki";
import type { CfsslConfig, CfsslName } from "../../src/pki/cfssl-types";
import { PemFiles } from "./pem-files";

const config = new pulumi.Config();
const outDir = config.require("outDir");
/** SANs of the etcd certificate: the names and addresses clients dial. */
const hosts = config.getObject<string[]>("hosts") ?? ["127.0.0.1", "localhost", "etcd-01", "etcd-02", "etcd-03"];

// The ca-config.json of the usual by-hand external etcd setup.
const caConfig: CfsslConfig = {
    signing: {
        default: { expiry: "87600h" },
        profiles: {
            kubernetes: { expiry: "87600h", usages: ["signing", "key encipherment", "server auth", "client auth"] },
        },
    },
};
const names: CfsslName[] = [{ C: "CN", L: "Beijing", ST: "Beijing", O: "k8s", OU: "System" }];
const key = { algo: "rsa", size: 2048 } as const;

// ca-csr.json → `cfssl gencert -initca`
const ca = new CertificateAuthority("etcd-ca", { csr: { CN: "etcd CA", key, names } });

// etcd-csr.json → `cfssl gencert -ca ca.pem -ca-key ca-key.pem -config ca-config.json -profile=kubernetes`
const etcd = new Certificate("etcd", {
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    config: caConfig,
    profile: "kubernetes",
    csr: { CN: "etcd", hosts, key, names },
});

const files = new PemFiles("etcd-pki-files", {
    dir: outDir,
    files: [
        { name: "ca.pem", content: ca.certPem, mode: 0o644 },
        { name: "ca-key.pem", content: ca.keyPem, mode: 0o600 },
        { name: "ca.csr", content: ca.csrPem, mode: 0o644 },
        { name: "etcd.pem", content: etcd.certPem, mode: 0o644 },
        { name: "etcd-key.pem", content: etcd.keyPem, mode: 0o600 },
        { name: "etcd.csr", content: etcd.csrPem, mode: 0o644 },
    ],
});

export const pkiDir = files.dir;
export const caCertPem = ca.certPem;
export const certPem = etcd.certPem;
export const keyPem = pulumi.secret(etcd.keyPem);
export const notAfter = etcd.notAfter;

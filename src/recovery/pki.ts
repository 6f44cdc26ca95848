/**
 * Certificates minted for one recovery environment: nothing of the original
 * cluster's PKI is needed to read its data. Issued at once, without Pulumi,
 * for scripts, tests and the demo, with the same names and profiles as the
 * RecoveryEnvironment component, whose Certificate resources make keys once
 * and keep them (as secrets) in state.
 */
import { genCert, initCa } from "../pki/cfssl";
import { CfsslConfig, CfsslCsr } from "../pki/cfssl-types";
import { issueEtcdPki } from "../pki/etcd-pki-issue";
import { planEtcdPki } from "../pki/etcd-pki-plan";
import { memberCertificateFiles } from "../etcd/plan";
import { RECOVERY_MEMBER_NAME, RecoveryAddresses, RecoveryFiles } from "./plan";
import { OriginalCluster } from "./source";

// Throw-away certificates on both ends: ECDSA P-256 keys are generated ~100x faster than RSA (the RTO).
const KEY = { algo: "ecdsa" as const, size: 256 };
/** Long enough for an incident, short enough that a forgotten environment's keys expire. */
const EXPIRY = "720h";
const SIGNING: CfsslConfig = {
    signing: {
        default: { expiry: EXPIRY },
        profiles: {
            server: { expiry: EXPIRY, usages: ["signing", "key encipherment", "server auth"] },
            client: { expiry: EXPIRY, usages: ["signing", "key encipherment", "client auth"] },
        },
    },
};

export interface RecoveryPki {
    files: RecoveryFiles<string>;
    /** For the kubeconfig: the API's CA and an admin (system:masters) client certificate. */
    kubeCaCertPem: string;
    admin: { certPem: string; keyPem: string };
}

/** SANs the serving certificate needs: the address the host uses, and the in-cluster names. */
export function recoveryServingHosts(addresses: RecoveryAddresses): string[] {
    return [
        addresses.apiserverIp,
        "127.0.0.1",
        "localhost",
        "kube-apiserver",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ];
}

export function issueRecoveryPki(name: string, addresses: RecoveryAddresses, original?: OriginalCluster): RecoveryPki {
    const etcdPki = issueEtcdPki(
        planEtcdPki({
            clusterName: `${name}-recovery`,
            members: [{ name: RECOVERY_MEMBER_NAME, ip: addresses.etcdIp }],
            keyAlgorithm: "ecdsa",
        }),
    );
    const kubeCa = initCa({ CN: `${name} recovery kubernetes CA`, key: KEY });
    const issue = (profile: "server" | "client", csr: CfsslCsr) => {
        const { certPem, keyPem } = genCert({ caCertPem: kubeCa.certPem, caKeyPem: kubeCa.keyPem, config: SIGNING, profile, csr });
        return { certPem, keyPem };
    };
    // As the component does: kube-apiserver reads the verifying key out of a certificate.
    const sa = issue("client", { CN: "service-account-signer", key: KEY });
    const encryptionConfig = original?.encryption?.content;
    return {
        files: {
            etcd: memberCertificateFiles(etcdPki, RECOVERY_MEMBER_NAME),
            apiserverEtcdClient: etcdPki.clients.apiserver,
            kubeCaCertPem: kubeCa.certPem,
            apiserverServing: issue("server", { CN: "kube-apiserver", hosts: recoveryServingHosts(addresses), key: KEY }),
            serviceAccount: { publicKeyPem: sa.certPem, privateKeyPem: sa.keyPem },
            ...(encryptionConfig !== undefined ? { encryptionConfig } : {}),
        },
        kubeCaCertPem: kubeCa.certPem,
        admin: issue("client", { CN: "recovery-admin", names: [{ O: "system:masters" }], key: KEY }),
    };
}

/** A kubeconfig for the environment's admin; it embeds a private key, so it is a secret. */
export function recoveryKubeconfig(opts: { name: string; url: string; caCertPem: string; certPem: string; keyPem: string }): string {
    const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
    return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        `- name: ${opts.name}`,
        "  cluster:",
        `    server: ${opts.url}`,
        `    certificate-authority-data: ${b64(opts.caCertPem)}`,
        "users:",
        `- name: ${opts.name}-admin`,
        "  user:",
        `    client-certificate-data: ${b64(opts.certPem)}`,
        `    client-key-data: ${b64(opts.keyPem)}`,
        "contexts:",
        `- name: ${opts.name}`,
        "  context:",
        `    cluster: ${opts.name}`,
        `    user: ${opts.name}-admin`,
        `current-context: ${opts.name}`,
        "",
    ].join("\n");
}

import { InputError } from "../errors";
import { resolveProfile, validateCsr } from "./cfssl-validate";
import { CfsslConfig, CfsslCsr, CfsslName } from "./cfssl-types";
import { parseGoDuration } from "./duration";

/**
 * Which certificates an etcd cluster needs, as cfssl documents: the knowledge
 * behind `EtcdPki`. kubeadm's names and subjects are used, because that is what
 * users find on their nodes.
 */

export type EtcdCertificateProfile = "server" | "peer" | "client";

/**
 * Key algorithm of every certificate of an EtcdPki: "rsa" (default, what the usual by-hand cfssl documents ask for) or "ecdsa"
 * (P-256, cfssl's own default key; ~100x faster to generate). The `as const` object beside the type is what makes it
 * an enum in the multi-language schema; TypeScript users keep writing the strings.
 */
export const EtcdKeyAlgorithm = { rsa: "rsa", ecdsa: "ecdsa" } as const;
export type EtcdKeyAlgorithm = (typeof EtcdKeyAlgorithm)[keyof typeof EtcdKeyAlgorithm];

/** One etcd member of an EtcdPki: its server and peer certificates carry these SANs. */
export interface EtcdPkiMember {
    /** Member name (also a SAN and the key of the per-member outputs). */
    name: string;
    /** Member IP address (a SAN). */
    ip: string;
}

export interface EtcdPkiPlanInput {
    /** Used in the CA's common name: "<clusterName> etcd CA". */
    clusterName: string;
    /**
     * One server and one peer certificate per member; SANs: name, ip, 127.0.0.1,
     * localhost, ::1 and `extraHosts`. Plain values: they decide which certificates exist.
     */
    members: EtcdPkiMember[];
    /** Extra SANs on every server and peer certificate (load-balancer names, other IPs). */
    extraHosts?: string[];
    /** Subject names (C, ST, L, O, OU) for the CA and server certificates, as in a cfssl CSR. Default none. */
    names?: CfsslName[];
    /** RSA key size: 2048, 3072 or 4096. Default 2048. Only with keyAlgorithm "rsa". */
    keySize?: number;
    /**
     * "rsa" (default, what the usual by-hand cfssl documents ask for) or "ecdsa" (P-256, cfssl's own default key; ~100x faster
     * to generate — the recovery environment's throw-away certificates use it).
     */
    keyAlgorithm?: EtcdKeyAlgorithm;
    /** Lifetime of member and client certificates, Go duration. Default "8760h" (1 year, as kubeadm). */
    certificateExpiry?: string;
    /** Lifetime of the CA, Go duration. Default "87600h" (10 years, as kubeadm). */
    caExpiry?: string;
}

export interface PlannedCertificate {
    /** Stable id; also the child resource's name suffix. */
    id: string;
    profile: EtcdCertificateProfile;
    csr: CfsslCsr;
    /** Set for per-member certificates. */
    member?: string;
}

export interface EtcdPkiPlan {
    caCsr: CfsslCsr;
    config: CfsslConfig;
    certificates: PlannedCertificate[];
}

export const SUPPORTED_RSA_KEY_SIZES = [2048, 3072, 4096];

/** Common names kubeadm gives etcd's client certificates. */
export const ETCD_CLIENT_COMMON_NAMES = {
    apiserver: "kube-apiserver-etcd-client",
    healthcheck: "kube-etcd-healthcheck-client",
    /** etcd maps a client certificate's CN to a user; root is etcd's superuser once auth is enabled. */
    admin: "root",
} as const;

export type EtcdClientName = keyof typeof ETCD_CLIENT_COMMON_NAMES;

export function planEtcdPki(input: EtcdPkiPlanInput): EtcdPkiPlan {
    const keyAlgorithm = input.keyAlgorithm ?? "rsa";
    if (keyAlgorithm !== "rsa" && keyAlgorithm !== "ecdsa") {
        throw new InputError("keyAlgorithm", keyAlgorithm, 'use "rsa" or "ecdsa"');
    }
    if (keyAlgorithm === "ecdsa" && input.keySize !== undefined) {
        throw new InputError("keySize", input.keySize, 'keySize is for RSA keys: remove it, or use keyAlgorithm "rsa"');
    }
    const keySize = input.keySize ?? 2048;
    if (!SUPPORTED_RSA_KEY_SIZES.includes(keySize)) {
        throw new InputError("keySize", keySize, `use an RSA key size of ${SUPPORTED_RSA_KEY_SIZES.join(", ")}`);
    }
    if (input.members.length === 0) {
        throw new InputError("members", input.members, "an etcd PKI needs at least one member");
    }
    const extraHosts = input.extraHosts ?? [];
    const key = keyAlgorithm === "ecdsa" ? { algo: "ecdsa" as const, size: 256 } : { algo: "rsa" as const, size: keySize };
    const names = input.names ?? [];
    const certificateExpiry = input.certificateExpiry ?? "8760h";
    const usages = {
        server: ["signing", "key encipherment", "server auth", "client auth"],
        peer: ["signing", "key encipherment", "server auth", "client auth"],
        client: ["signing", "key encipherment", "client auth"],
    };
    const config: CfsslConfig = {
        signing: {
            default: { expiry: certificateExpiry },
            profiles: {
                server: { expiry: certificateExpiry, usages: usages.server },
                peer: { expiry: certificateExpiry, usages: usages.peer },
                client: { expiry: certificateExpiry, usages: usages.client },
            },
        },
    };
    const memberCertificates = input.members.flatMap((member): PlannedCertificate[] => {
        const hosts = uniqueHosts([member.name, member.ip, "127.0.0.1", "localhost", "::1", ...extraHosts]);
        const csr: CfsslCsr = { CN: member.name, hosts, key, ...(names.length ? { names } : {}) };
        return [
            { id: `${member.name}-server`, profile: "server", csr, member: member.name },
            { id: `${member.name}-peer`, profile: "peer", csr, member: member.name },
        ];
    });
    const clientCertificates = (Object.keys(ETCD_CLIENT_COMMON_NAMES) as EtcdClientName[]).map((client): PlannedCertificate => ({
        id: `${client}-client`,
        profile: "client",
        csr: { CN: ETCD_CLIENT_COMMON_NAMES[client], key },
    }));
    const plan: EtcdPkiPlan = {
        caCsr: { CN: `${input.clusterName} etcd CA`, key, ...(names.length ? { names } : {}), ca: { expiry: input.caExpiry ?? "87600h" } },
        config,
        certificates: [...memberCertificates, ...clientCertificates],
    };
    validatePlan(plan, input);
    return plan;
}

/**
 * Everything the certificate resources would refuse, refused here, so a bad
 * expiry or subject fails before the CA is created, not half-way through.
 */
function validatePlan(plan: EtcdPkiPlan, input: EtcdPkiPlanInput): void {
    for (const [argument, value] of [
        ["certificateExpiry", input.certificateExpiry],
        ["caExpiry", input.caExpiry],
    ] as const) {
        if (value !== undefined && !(parseGoDuration(value, argument) > 0)) {
            throw new InputError(argument, value, 'give a positive Go duration such as "8760h"');
        }
    }
    (input.extraHosts ?? []).forEach((host, i) => {
        try {
            validateCsr({ CN: "probe", hosts: [host] }, "extraHosts", { requireHosts: true });
        } catch (error) {
            if (error instanceof InputError) throw new InputError(`extraHosts[${i}]`, host, error.fix);
            throw error;
        }
    });
    validateCsr(plan.caCsr, "names", { requireHosts: false, purpose: "ca" });
    for (const planned of plan.certificates) {
        resolveProfile(plan.config, planned.profile, "certificateExpiry");
        validateCsr(planned.csr, planned.member ? "extraHosts" : "names", { requireHosts: planned.profile !== "client" });
    }
}

function uniqueHosts(hosts: string[]): string[] {
    return [...new Set(hosts)];
}

export interface CertificateKeyPair<C> {
    certPem: C;
    keyPem: C;
}

export interface EtcdPkiPems<C> {
    caCertPem: C;
    members: Record<string, { server: CertificateKeyPair<C>; peer: CertificateKeyPair<C> }>;
    clients: Record<EtcdClientName, CertificateKeyPair<C>>;
}

/**
 * The files of one member's node, named as cfssl users name them (e.g.
 * ca.pem, etcd.pem, etcd-key.pem, …). The CA key is not among them: a node
 * never needs it.
 */
export function cfsslLayout<C>(pems: EtcdPkiPems<C>, member: string): Record<string, C> {
    const m = memberPems(pems, member);
    return {
        "ca.pem": pems.caCertPem,
        "etcd.pem": m.server.certPem,
        "etcd-key.pem": m.server.keyPem,
        "etcd-peer.pem": m.peer.certPem,
        "etcd-peer-key.pem": m.peer.keyPem,
        "healthcheck-client.pem": pems.clients.healthcheck.certPem,
        "healthcheck-client-key.pem": pems.clients.healthcheck.keyPem,
        "apiserver-etcd-client.pem": pems.clients.apiserver.certPem,
        "apiserver-etcd-client-key.pem": pems.clients.apiserver.keyPem,
    };
}

/** The same files under kubeadm's names, relative to /etc/kubernetes/pki. */
export function kubeadmLayout<C>(pems: EtcdPkiPems<C>, member: string): Record<string, C> {
    const m = memberPems(pems, member);
    return {
        "etcd/ca.crt": pems.caCertPem,
        "etcd/server.crt": m.server.certPem,
        "etcd/server.key": m.server.keyPem,
        "etcd/peer.crt": m.peer.certPem,
        "etcd/peer.key": m.peer.keyPem,
        "etcd/healthcheck-client.crt": pems.clients.healthcheck.certPem,
        "etcd/healthcheck-client.key": pems.clients.healthcheck.keyPem,
        "apiserver-etcd-client.crt": pems.clients.apiserver.certPem,
        "apiserver-etcd-client.key": pems.clients.apiserver.keyPem,
    };
}

function memberPems<C>(pems: EtcdPkiPems<C>, member: string) {
    const m = pems.members[member];
    if (!m) throw new InputError("member", member, `use one of: ${Object.keys(pems.members).join(", ")}`);
    return m;
}

/** True for file names that hold a private key (mode 0600 on disk). */
export function isPrivateKeyFile(fileName: string): boolean {
    return /(-key\.pem|\.key)$/.test(fileName);
}

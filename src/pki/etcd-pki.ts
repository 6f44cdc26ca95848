import * as pulumi from "@pulumi/pulumi";
import { planOrFail, typeToken } from "../component";
import {
    CertificateKeyPair,
    ETCD_CLIENT_COMMON_NAMES,
    EtcdClientName,
    EtcdPkiPems,
    EtcdPkiPlanInput,
    PlannedCertificate,
    cfsslLayout,
    kubeadmLayout,
    planEtcdPki,
} from "./etcd-pki-plan";
import { Certificate, CertificateAuthority } from "./resources";

/** `EtcdPkiPlanInput` (members, extraHosts, names, keySize, certificateExpiry, caExpiry) plus renewal and adoption. */
export interface EtcdPkiArgs extends EtcdPkiPlanInput {
    /** A preview shows certificates replaced once they are this close to expiry. Default 720 (30 days). */
    earlyRenewalHours?: pulumi.Input<number>;
    /** Adopt an existing CA (e.g. the cluster's current etcd CA) instead of generating one. The key should be a secret. Default: a new CA. */
    existingCa?: pulumi.Input<ExistingCa>;
}

/** A CA to adopt: its certificate and private key, PEM. */
export interface ExistingCa {
    /** The CA certificate, PEM. */
    certPem: pulumi.Input<string>;
    /** The CA private key, PEM. Should be a secret. */
    keyPem: pulumi.Input<string>;
}

/** A client certificate and its key (secret), PEM. */
export interface ClientCertificate {
    certPem: pulumi.Output<string>;
    /** Secret. */
    keyPem: pulumi.Output<string>;
}

/** `EtcdPki.pems` lives here, not in a field: the multi-language schema has no type for the generic `EtcdPkiPems<T>`. */
const PEMS = new WeakMap<EtcdPki, EtcdPkiPems<pulumi.Output<string>>>();

export interface MemberCertificates {
    serverCertPem: string;
    serverKeyPem: string;
    peerCertPem: string;
    peerKeyPem: string;
}

/**
 * The certificates of an external etcd cluster: a CA, a server and a peer
 * certificate per member, and client certificates for kube-apiserver, health
 * checks / backups and an administrator. Generated once and kept in state as
 * secrets; any input change replaces, and expiry within `earlyRenewalHours`
 * shows up as a replacement in `pulumi preview`.
 */
export class EtcdPki extends pulumi.ComponentResource {
    public readonly caCertPem: pulumi.Output<string>;
    /** Secret. */
    public readonly caKeyPem: pulumi.Output<string>;
    /** Per member: server and peer certificates and keys (secret). */
    public readonly memberCertificates: pulumi.Output<Record<string, MemberCertificates>>;
    /** kube-apiserver → etcd client certificate (CN kube-apiserver-etcd-client). */
    public readonly apiserverClient: ClientCertificate;
    /** Health check and backup client certificate (CN kube-etcd-healthcheck-client). */
    public readonly healthcheckClient: ClientCertificate;
    /** Administrator client certificate (CN root). */
    public readonly adminClient: ClientCertificate;
    /** Per member, the node's files under cfssl names (ca.pem, etcd.pem, etcd-key.pem, …). Secret. */
    public readonly cfsslFiles: pulumi.Output<Record<string, Record<string, string>>>;
    /** Per member, the node's files relative to /etc/kubernetes/pki under kubeadm names (etcd/ca.crt, etcd/server.crt, …). Secret. */
    public readonly kubeadmFiles: pulumi.Output<Record<string, Record<string, string>>>;
    /** The PEMs as Outputs, for components that place them into containers (TypeScript only: not in the multi-language schema). */
    public get pems(): EtcdPkiPems<pulumi.Output<string>> {
        return PEMS.get(this)!;
    }

    constructor(name: string, args: EtcdPkiArgs, opts?: pulumi.ComponentResourceOptions) {
        super(typeToken("EtcdPki"), name, {}, opts);
        const plan = planOrFail(this, () => planEtcdPki(args));
        const earlyRenewalHours = args.earlyRenewalHours ?? 720;

        const ca = new CertificateAuthority(
            `${name}-ca`,
            { csr: plan.caCsr, earlyRenewalHours, ...(args.existingCa !== undefined ? { existing: args.existingCa } : {}) },
            { parent: this },
        );
        const issue = (planned: PlannedCertificate): CertificateKeyPair<pulumi.Output<string>> => {
            const cert = new Certificate(
                `${name}-${planned.id}`,
                {
                    caCertPem: ca.certPem,
                    caKeyPem: ca.keyPem,
                    config: plan.config,
                    profile: planned.profile,
                    csr: planned.csr,
                    earlyRenewalHours,
                    requireHosts: planned.profile !== "client",
                },
                { parent: this },
            );
            return { certPem: cert.certPem, keyPem: pulumi.secret(cert.keyPem) };
        };
        const issued = new Map(plan.certificates.map((planned) => [planned.id, issue(planned)] as const));
        const pair = (id: string) => issued.get(id)!;

        const pems: EtcdPkiPems<pulumi.Output<string>> = {
            caCertPem: ca.certPem,
            members: Object.fromEntries(
                args.members.map((m) => [m.name, { server: pair(`${m.name}-server`), peer: pair(`${m.name}-peer`) }]),
            ),
            clients: Object.fromEntries(
                (Object.keys(ETCD_CLIENT_COMMON_NAMES) as EtcdClientName[]).map((client) => [client, pair(`${client}-client`)]),
            ) as Record<EtcdClientName, CertificateKeyPair<pulumi.Output<string>>>,
        };
        PEMS.set(this, pems);
        this.caCertPem = ca.certPem;
        this.caKeyPem = pulumi.secret(ca.keyPem);
        this.apiserverClient = this.pems.clients.apiserver;
        this.healthcheckClient = this.pems.clients.healthcheck;
        this.adminClient = this.pems.clients.admin;
        const memberEntries = Object.entries(this.pems.members).map(([member, p]) =>
            pulumi
                .all([p.server.certPem, p.server.keyPem, p.peer.certPem, p.peer.keyPem])
                .apply(([serverCertPem, serverKeyPem, peerCertPem, peerKeyPem]): [string, MemberCertificates] => [
                    member,
                    { serverCertPem, serverKeyPem, peerCertPem, peerKeyPem },
                ]),
        );
        this.memberCertificates = pulumi.secret(pulumi.all(memberEntries).apply((entries) => Object.fromEntries(entries)));
        const layout = (render: typeof cfsslLayout) =>
            pulumi.secret(pulumi.all(Object.fromEntries(args.members.map((m) => [m.name, pulumi.all(render(this.pems, m.name))]))));
        this.cfsslFiles = layout(cfsslLayout);
        this.kubeadmFiles = layout(kubeadmLayout);

        this.registerOutputs({
            caCertPem: this.caCertPem,
            caKeyPem: this.caKeyPem,
            memberCertificates: this.memberCertificates,
            apiserverClient: this.apiserverClient,
            healthcheckClient: this.healthcheckClient,
            adminClient: this.adminClient,
            cfsslFiles: this.cfsslFiles,
            kubeadmFiles: this.kubeadmFiles,
        });
    }
}

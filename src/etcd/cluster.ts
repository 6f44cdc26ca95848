import * as fs from "fs";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { planOrFail, typeToken } from "../component";
import { RealizedDockerPlan, realizeDockerPlan } from "../docker/realize";
import { InputError } from "../errors";
import { CfsslName } from "../pki/cfssl-types";
import { EtcdPki, ExistingCa } from "../pki/etcd-pki";
import { KUBEADM_ETCD_CLIENT_PATHS, kubeApiserverEtcdFlags, kubeadmExternalEtcdYaml } from "./clients";
import { EtcdTunables } from "./flags";
import { EtcdClusterPlan, NO_CERTIFICATE_FILES, PublishClientPorts, memberCertificateFiles, planEtcdCluster } from "./plan";
import { EtcdMemberInput, EtcdNetworkInput } from "./topology";

/**
 * Arguments that are TypeScript-only: the multi-language schema cannot name the docker provider (reading the
 * schema would then need the docker plugin). Through `Pick<>` the analyzer sees the field as Any; from other
 * languages, give the provider in the component's resource options (`providers`) instead.
 */
export interface EtcdClusterDockerArgs {
    /** The Docker provider for members without `dockerHost`. Default: the default provider. */
    dockerProvider?: docker.Provider;
}

export interface EtcdClusterArgs extends Pick<EtcdClusterDockerArgs, "dockerProvider"> {
    /** Explicit members (plain values: they decide which containers exist). Default: `size` members named etcd-0, etcd-1, … */
    members?: EtcdMemberInput[];
    /** Member count when `members` is omitted: 3 (default), 5 or 7; 1 for tests. */
    size?: number;
    /** Allow an even member count. Default false: an even count adds a machine that can fail without adding fault tolerance. */
    allowEvenSize?: boolean;
    /** Bridge network with a subnet and static member IPs (default, subnet "172.29.0.0/24"), or host networking with one Docker engine per member. */
    network?: EtcdNetworkInput;
    /** etcd image. Default "registry.k8s.io/etcd:3.5.21-0"; air-gapped users give their own registry or a `docker load`ed tag. */
    image?: string;
    /** etcd version of the image when its tag does not say it, e.g. "3.5.21". */
    etcdVersion?: string;
    /** `--initial-cluster-token`. Default "<name>-token". */
    initialClusterToken?: string;
    /** etcd tunables; every default is etcd's own. */
    tunables?: EtcdTunables;
    /** Seed every member from this snapshot file (on the machine running Pulumi) before its first start. Default: an empty cluster. */
    seedSnapshotPath?: string;
    /** Publish each member's client port on the Docker host, member i on `firstHostPort + i` (default ip 127.0.0.1). Default: not published. */
    publishClientPorts?: PublishClientPorts;
    /** Extra SANs for the member certificates (load balancer names, other addresses). */
    extraHosts?: string[];
    /** Certificate subject names (C, ST, L, O, OU). */
    certificateNames?: CfsslName[];
    /** RSA key size for all certificates: 2048 (default), 3072, 4096. */
    keySize?: number;
    /** Member and client certificate lifetime, Go duration. Default "8760h". */
    certificateExpiry?: string;
    /** Replace certificates this close to expiry on the next update. Default 720 hours. */
    earlyRenewalHours?: pulumi.Input<number>;
    /** Adopt an existing CA instead of generating one. */
    existingCa?: pulumi.Input<ExistingCa>;
}

/** What EtcdCluster keeps out of the multi-language schema (our own component, generic plan, resources by name): read through getters. */
interface EtcdClusterTypeScriptOnly {
    pki: EtcdPki;
    plan: EtcdClusterPlan<pulumi.Output<string>>;
    docker: RealizedDockerPlan;
}
const TYPESCRIPT_ONLY = new WeakMap<EtcdCluster, EtcdClusterTypeScriptOnly>();

/**
 * An external etcd cluster with full TLS, one container per member (as people
 * run one by hand with cfssl certificates and docker),
 * its certificates from an `EtcdPki` child, and everything a kube-apiserver
 * needs to use it.
 */
export class EtcdCluster extends pulumi.ComponentResource {
    public readonly clientEndpoints: pulumi.Output<string[]>;
    public readonly caCertPem: pulumi.Output<string>;
    /** Administrator client certificate (CN root). */
    public readonly clientCertPem: pulumi.Output<string>;
    /** Secret. */
    public readonly clientKeyPem: pulumi.Output<string>;
    /** Flags for kube-apiserver, with kubeadm's file paths (write `pki.kubeadmFiles` there). */
    public readonly kubeApiserverFlags: pulumi.Output<string[]>;
    /** The `etcd.external` block of a kubeadm ClusterConfiguration. */
    public readonly kubeadmExternalEtcd: pulumi.Output<string>;
    /** Container name per member. */
    public readonly containerNames: pulumi.Output<Record<string, string>>;
    /** The cluster's certificates (TypeScript only: not in the multi-language schema). */
    public get pki(): EtcdPki {
        return TYPESCRIPT_ONLY.get(this)!.pki;
    }
    /** The plain plan this component realized (image, flags, files as Outputs). TypeScript only. */
    public get plan(): EtcdClusterPlan<pulumi.Output<string>> {
        return TYPESCRIPT_ONLY.get(this)!.plan;
    }
    /** The Docker resources, by name: for `dependsOn` in your own program. TypeScript only. */
    public get docker(): RealizedDockerPlan {
        return TYPESCRIPT_ONLY.get(this)!.docker;
    }

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super(typeToken("EtcdCluster"), name, {}, opts);
        const planInput = { ...args, clusterName: name };
        // Validate topology and flags before any child exists; certificates follow from it.
        const placeholderPlan = planOrFail(this, () => planEtcdCluster(planInput, () => NO_CERTIFICATE_FILES));
        if (args.seedSnapshotPath !== undefined && !fs.existsSync(args.seedSnapshotPath)) {
            throw new pulumi.ResourceError(
                new InputError(
                    "seedSnapshotPath",
                    args.seedSnapshotPath,
                    "no such file on this machine; give the path of an etcd snapshot (etcdctl snapshot save)",
                ).message,
                this,
            );
        }

        const pki = new EtcdPki(
            `${name}-pki`,
            {
                clusterName: name,
                members: placeholderPlan.topology.members.map((m) => ({ name: m.name, ip: m.ip })),
                ...(args.extraHosts ? { extraHosts: args.extraHosts } : {}),
                ...(args.certificateNames ? { names: args.certificateNames } : {}),
                ...(args.keySize ? { keySize: args.keySize } : {}),
                ...(args.certificateExpiry ? { certificateExpiry: args.certificateExpiry } : {}),
                ...(args.earlyRenewalHours !== undefined ? { earlyRenewalHours: args.earlyRenewalHours } : {}),
                ...(args.existingCa !== undefined ? { existingCa: args.existingCa } : {}),
            },
            { parent: this },
        );
        const pems = pki.pems;
        const plan = planEtcdCluster(planInput, (member) => memberCertificateFiles(pems, member.name));
        const realized = realizeDockerPlan(plan.plan, {
            parent: this,
            providerNamePrefix: name,
            ...(args.dockerProvider ? { provider: args.dockerProvider } : {}),
            dependsOn: [pki],
        });
        TYPESCRIPT_ONLY.set(this, { pki, plan, docker: realized });

        const endpoints = plan.topology.clientEndpoints;
        this.clientEndpoints = pulumi.output(endpoints);
        this.caCertPem = pki.caCertPem;
        this.clientCertPem = pki.adminClient.certPem;
        this.clientKeyPem = pulumi.secret(pki.adminClient.keyPem);
        this.kubeApiserverFlags = pulumi.output(kubeApiserverEtcdFlags(endpoints, KUBEADM_ETCD_CLIENT_PATHS));
        this.kubeadmExternalEtcd = pulumi.output(kubeadmExternalEtcdYaml(endpoints, KUBEADM_ETCD_CLIENT_PATHS));
        this.containerNames = pulumi.output(plan.containerNames);
        this.registerOutputs({
            clientEndpoints: this.clientEndpoints,
            caCertPem: this.caCertPem,
            clientCertPem: this.clientCertPem,
            clientKeyPem: this.clientKeyPem,
            kubeApiserverFlags: this.kubeApiserverFlags,
            kubeadmExternalEtcd: this.kubeadmExternalEtcd,
            containerNames: this.containerNames,
        });
    }
}

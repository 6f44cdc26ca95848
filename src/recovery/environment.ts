/**
 * The recovery environment as a Pulumi component: `planRecoveryEnvironment`
 * realized with @pulumi/docker, its certificates from our PKI dynamic
 * resources (made once, kept in state as secrets, stable across updates).
 * The test harness realizes the same plan in the Docker engine.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { planOrFail, typeToken } from "../component";
import { RealizedDockerPlan, realizeDockerPlan } from "../docker/realize";
import { InputError } from "../errors";
import { memberCertificateFiles, NO_CERTIFICATE_FILES } from "../etcd/plan";
import { CfsslConfig, CfsslCsr } from "../pki/cfssl-types";
import { EtcdPki } from "../pki/etcd-pki";
import { Certificate, CertificateAuthority } from "../pki/resources";
import { ExportOnUpOptions, RecoveryExport, checkExportOnUp } from "./export-on-up";
import { hostGuardCommands } from "./host-guard";
import { assertNoCollision, assertSubnetAvoidsOriginal, assertUsableBridgeSubnet, deriveRecoveryNaming, RecoveryNaming } from "./naming";
import {
    RECOVERY_MEMBER_NAME,
    RecoveryContainerNames,
    RecoveryEnvironmentPlan,
    RecoveryEnvironmentPlanInput,
    RecoveryFiles,
    RecoveryMode,
    planRecoveryEnvironment,
    recoveryAddresses,
} from "./plan";
import { recoveryKubeconfig, recoveryServingHosts } from "./pki";
import {
    ReplicaCertificates,
    ReplicaEnvironmentPlanInput,
    ReplicaFiles,
    ReplicaPemPair,
    deriveReplicaSubnet,
    planReplicaEnvironment,
    replicaAddresses,
    replicaMembers,
    validateReplicaCertificates,
} from "./replica";
import { SnapshotError, SnapshotFileCheck, verifySnapshotFileSync } from "./snapshot";
import { OriginalCluster, validateOriginalCluster } from "./source";

/** One certificate and its key of the original etcd PKI, PEM (ReplicaPemPair<string>, named for the multi-language schema). */
export interface ReplicaPemPairInput extends ReplicaPemPair<string> {
    certPem: string;
    /** Made a secret. */
    keyPem: string;
    /** Where the certificate came from, for messages. */
    certFile?: string;
    /** Where the key came from, for messages. */
    keyFile?: string;
}

/** One original member's server and peer certificates (RKE uses one for both). */
export interface ReplicaMemberCertificatesInput {
    server: ReplicaPemPairInput;
    peer: ReplicaPemPairInput;
}

/** The original etcd PKI for mode "replica" (ReplicaCertificates<string>, named for the multi-language schema). */
export interface ReplicaCertificatesInput extends ReplicaCertificates<string> {
    /** The original etcd CA certificate (its key is never needed). */
    caCertPem: string;
    /** Where the CA certificate came from, for messages. */
    caCertFile?: string;
    /** By original member name (etcd's --name): the member's server and peer certificates. */
    members: Record<string, ReplicaMemberCertificatesInput>;
    /** An original etcd client certificate (kubeadm's apiserver-etcd-client, RKE's kube-node): kube-apiserver's and the health check's. */
    client: ReplicaPemPairInput;
}

/**
 * Arguments that are TypeScript-only: the multi-language schema cannot name the docker provider (reading the
 * schema would then need the docker plugin). Through `Pick<>` the analyzer sees the field as Any; from other
 * languages, give the provider in the component's resource options (`providers`) instead.
 */
export interface RecoveryEnvironmentDockerArgs {
    /** The Docker provider. Default: the default provider. */
    dockerProvider?: docker.Provider;
}

/** Arguments of mode "replica" only (refused in mode "single"). */
export interface RecoveryEnvironmentReplicaArgs {
    /**
     * Mode "replica" only, and required there: the original etcd CA, each member's server and peer certificate and key,
     * and an etcd client certificate and key (replicaCertificatesFromKubeadm, replicaCertificatesFromRkeBundle).
     * Checked before anything is created (keys match, issued by the CA, not expired, SANs name each member's IP); keys become secrets.
     */
    replicaCertificates?: ReplicaCertificatesInput;
    /** Mode "replica": kube-apiserver's address on the original subnet. Default: the highest free address of it. */
    apiserverIp?: string;
    /** Mode "replica": the restored cluster's --initial-cluster-token. Default "etcd-cluster" (RKE's clusters use "etcd-cluster-1"). */
    initialClusterToken?: string;
}

export interface RecoveryEnvironmentArgs extends Pick<RecoveryEnvironmentDockerArgs, "dockerProvider">, RecoveryEnvironmentReplicaArgs {
    /**
     * The original cluster, from an importer (fromDockerInspectFiles, fromKubeadmManifests,
     * fromRkeState) or a hand-written description (it is validated again here).
     * A plain value: it decides the kube-apiserver's arguments.
     */
    original: OriginalCluster;
    /** The etcd snapshot file on the machine that runs Pulumi; checked (size, header, SHA-256) on every preview and up. */
    snapshotPath: string;
    /**
     * "single" (default): one fresh etcd member and fresh certificates; the original's IPs and certificates are not needed.
     * "replica": every original member with its name, IP (on the original subnet) and ORIGINAL certificates (replicaCertificates).
     */
    mode?: RecoveryMode;
    /** Prefix of every Docker network, volume and container. Default: `<stack>-<component name>` (see deriveRecoveryNaming). */
    environmentName?: string;
    /**
     * The internal network's subnet (/27 or larger). Default: a /24 of 172.30.0.0/16 derived from the stack and component name;
     * in mode "replica", the original subnet derived from the members' IPs. The Docker host must have no network or route on it
     * (replicaSubnetConflicts): it would route those addresses into the replica for as long as it exists.
     */
    subnet?: string;
    /** etcd image. Default registry.k8s.io/etcd:3.5.x (restores 3.3/3.4 snapshots too); air-gapped users give a `docker load`ed tag. */
    etcdImage?: string;
    /** etcd version of etcdImage when its tag does not show it, e.g. "3.4.23". */
    etcdVersion?: string;
    /** kube-apiserver image. Default: registry.k8s.io/kube-apiserver at the original's version. */
    kubeApiserverImage?: string;
    /**
     * The original EncryptionConfiguration (content); required when the original encrypts at rest.
     * Default: original.encryption.content. Kept as a secret; a file (0600) in the container, never an argument.
     */
    encryptionConfig?: pulumi.Input<string>;
    /** Certificates are replaced this close to expiry on the next update. Default 24 hours (they live 30 days). */
    earlyRenewalHours?: pulumi.Input<number>;
    /**
     * Add an iptables rule on the machine running Pulumi that drops new connections from the
     * recovery subnet to the host itself (see host-guard.ts: an internal network still reaches the
     * host's own addresses). Needs root and iptables there, and that machine must be the Docker host.
     * Default true. With a remote Docker engine, set false and run `hostGuardCommands(...)` there.
     */
    guardHost?: boolean;
    /**
     * Export objects as part of `pulumi up`: once the API is ready, the selected objects are written apply-ready
     * to a new file `<environment>-export-<UTC time>.yaml` (0600) in `directory` on the machine that runs Pulumi
     * (kubectl needed there). A new snapshot or selection writes a new file; `pulumi destroy` keeps the files.
     */
    exportOnUp?: ExportOnUpOptions;
}

/** What RecoveryEnvironment keeps out of the multi-language schema (our own component, other packages' resources, generic plan): read through getters. */
interface RecoveryEnvironmentTypeScriptOnly {
    freshEtcdPki?: EtcdPki;
    hostGuard?: command.local.Command;
    plan: RecoveryEnvironmentPlan<pulumi.Output<string>>;
    docker: RealizedDockerPlan;
}
const TYPESCRIPT_ONLY = new WeakMap<RecoveryEnvironment, RecoveryEnvironmentTypeScriptOnly>();

/** Environments constructed in this program, by Docker name: two in one program must not collide. */
const environmentsInThisProgram = new Map<string, RecoveryNaming>();

// Throw-away certificates on both ends: ECDSA P-256 keys are generated ~100x faster than RSA (the RTO).
const KEY = { algo: "ecdsa" as const, size: 256 };
/** Long enough for an incident, short enough that a forgotten environment's keys expire. */
const EXPIRY = "720h";
export const RECOVERY_SIGNING: CfsslConfig = {
    signing: {
        default: { expiry: EXPIRY },
        profiles: {
            server: { expiry: EXPIRY, usages: ["signing", "key encipherment", "server auth"] },
            client: { expiry: EXPIRY, usages: ["signing", "key encipherment", "client auth"] },
        },
    },
};

/** `etcdutl snapshot status --write-out=json` output → revision; undefined when the log does not hold it. */
export function revisionFromStatusLog(log: string | undefined): number | undefined {
    const match = /"revision"\s*:\s*(\d+)/.exec(log ?? "");
    return match ? Number(match[1]) : undefined;
}

function nameAndSubnet(name: string, args: RecoveryEnvironmentArgs): RecoveryNaming {
    const derived = deriveRecoveryNaming(pulumi.getStack(), name);
    return { name: args.environmentName ?? derived.name, subnet: args.subnet ?? derived.subnet };
}

/**
 * The by-hand restore into a throw-away docker network as one `pulumi up`: the snapshot restored into a fresh etcd member
 * and a kube-apiserver reading it exactly as the original did, on an internal
 * Docker network with no route off the host. Read the lost objects through
 * `kubeconfig` (see exportObjects and the CLI), then `pulumi destroy`.
 */
export class RecoveryEnvironment extends pulumi.ComponentResource {
    /** Admin kubeconfig for the environment's API. Secret (it embeds a private key). */
    public readonly kubeconfig: pulumi.Output<string>;
    /** The API as the Docker host reaches it (kube-apiserver's address on the internal network). */
    public readonly apiUrl: pulumi.Output<string>;
    /** The snapshot's etcd revision, from `etcdutl snapshot status` run in the etcd image beside the restore. */
    public readonly snapshotRevision: pulumi.Output<number | undefined>;
    /** The snapshot file's modification time (ISO 8601). */
    public readonly snapshotTime: pulumi.Output<string>;
    /** SHA-256 of the snapshot's database, as stored at its end. */
    public readonly snapshotSha256: pulumi.Output<string>;
    /** Docker name prefix and subnet in use. */
    public readonly environmentName: pulumi.Output<string>;
    public readonly subnet: pulumi.Output<string>;
    /** Container names (snapshot check, restore, etcd, kube-apiserver). */
    public readonly containerNames: pulumi.Output<RecoveryContainerNames>;
    /** The CA of the API and the admin client certificate (the key is in kubeconfig). */
    public readonly caCertPem: pulumi.Output<string>;
    /** The environment's own etcd PKI (mode single). Mode "replica" runs the original certificates and has none: reading this throws. TypeScript only. */
    public get etcdPki(): EtcdPki {
        const pki = TYPESCRIPT_ONLY.get(this)!.freshEtcdPki;
        if (!pki) throw new Error('mode "replica" runs the original etcd certificates (replicaCertificates); it has no EtcdPki of its own');
        return pki;
    }
    /** The file written by `exportOnUp` (absent without it). */
    public readonly exportedFile?: pulumi.Output<string>;
    /** The iptables rule on the Docker host (absent with guardHost: false). TypeScript only. */
    public get hostGuard(): command.local.Command | undefined {
        return TYPESCRIPT_ONLY.get(this)!.hostGuard;
    }
    /** The plain plan this component realized. TypeScript only. */
    public get plan(): RecoveryEnvironmentPlan<pulumi.Output<string>> {
        return TYPESCRIPT_ONLY.get(this)!.plan;
    }
    /** The Docker resources, by name: for `dependsOn` in your own program. TypeScript only. */
    public get docker(): RealizedDockerPlan {
        return TYPESCRIPT_ONLY.get(this)!.docker;
    }

    constructor(name: string, args: RecoveryEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
        super(typeToken("RecoveryEnvironment"), name, {}, opts);
        const fail = (error: InputError | SnapshotError) => new pulumi.ResourceError(error.message, this);

        // Everything that can be refused is refused here, before any child exists.
        const original = planOrFail(this, () => validateOriginalCluster(args.original, "original"));
        const replica = args.mode === "replica";
        const naming = planOrFail(this, () => (replica ? replicaNaming(name, args, original) : nameAndSubnet(name, args)));
        planOrFail(this, () => {
            assertUsableBridgeSubnet(naming.subnet);
            // A replica lives on the original subnet by design; its network is internal and guarded.
            if (!replica) assertSubnetAvoidsOriginal(naming.subnet, original);
            assertNoCollision(naming, [...environmentsInThisProgram.values()]);
        });
        if (args.exportOnUp !== undefined) planOrFail(this, () => checkExportOnUp(args.exportOnUp!));
        const encryptionConfig = args.encryptionConfig ?? original.encryption?.content;
        let snapshot: SnapshotFileCheck;
        try {
            snapshot = verifySnapshotFileSync(args.snapshotPath);
        } catch (error) {
            if (error instanceof SnapshotError) throw fail(error);
            throw error;
        }
        const planInput = {
            name: naming.name,
            original,
            snapshotPath: args.snapshotPath,
            snapshotSha256: snapshot.sha256,
            subnet: naming.subnet,
            ...(args.mode !== undefined ? { mode: args.mode } : {}),
            ...(args.etcdImage !== undefined ? { etcdImage: args.etcdImage } : {}),
            ...(args.etcdVersion !== undefined ? { etcdVersion: args.etcdVersion } : {}),
            ...(args.kubeApiserverImage !== undefined ? { kubeApiserverImage: args.kubeApiserverImage } : {}),
        };
        const replicaInput = replicaPlanInput(planInput, args);
        const replicaCertificates = replica
            ? planOrFail(this, () => checkReplicaCertificates(original, args.replicaCertificates))
            : undefined;
        if (replicaCertificates !== undefined) {
            planOrFail(this, () =>
                planReplicaEnvironment(replicaInput, placeholderReplicaFiles(replicaCertificates, encryptionConfig !== undefined)),
            );
        } else {
            planOrFail(this, () => {
                refuseReplicaArgs(args);
                planRecoveryEnvironment(planInput, placeholderFiles(encryptionConfig !== undefined));
            });
        }
        environmentsInThisProgram.set(naming.name, naming);

        const addresses = replica
            ? replicaAddresses(replicaMembers(naming.name, original), original, {
                  subnet: naming.subnet,
                  ...(args.apiserverIp !== undefined ? { apiserverIp: args.apiserverIp } : {}),
              })
            : recoveryAddresses(naming.subnet);
        const earlyRenewalHours = args.earlyRenewalHours ?? 24;
        const freshEtcdPki = replica
            ? undefined
            : new EtcdPki(
                  `${name}-etcd-pki`,
                  {
                      clusterName: `${naming.name}-recovery`,
                      members: [{ name: RECOVERY_MEMBER_NAME, ip: addresses.etcdIp }],
                      keyAlgorithm: "ecdsa",
                      certificateExpiry: EXPIRY,
                      caExpiry: EXPIRY,
                      earlyRenewalHours,
                  },
                  { parent: this },
              );
        const kubeCa = new CertificateAuthority(
            `${name}-kube-ca`,
            { csr: { CN: `${naming.name} recovery kubernetes CA`, key: KEY, ca: { expiry: EXPIRY } }, earlyRenewalHours },
            { parent: this },
        );
        const issue = (role: string, profile: "server" | "client", csr: CfsslCsr) => {
            const cert = new Certificate(
                `${name}-${role}`,
                {
                    caCertPem: kubeCa.certPem,
                    caKeyPem: kubeCa.keyPem,
                    config: RECOVERY_SIGNING,
                    profile,
                    csr,
                    earlyRenewalHours,
                    requireHosts: profile === "server",
                },
                { parent: this },
            );
            return { certPem: cert.certPem, keyPem: pulumi.secret(cert.keyPem) };
        };
        const serving = issue("apiserver-serving", "server", { CN: "kube-apiserver", hosts: recoveryServingHosts(addresses), key: KEY });
        const admin = issue("admin", "client", { CN: "recovery-admin", names: [{ O: "system:masters" }], key: KEY });
        // kube-apiserver reads the verifying key out of a certificate as well as out of a bare public key.
        const serviceAccount = issue("service-account", "client", { CN: "service-account-signer", key: KEY });

        const apiFiles = {
            kubeCaCertPem: kubeCa.certPem,
            apiserverServing: serving,
            serviceAccount: { publicKeyPem: serviceAccount.certPem, privateKeyPem: serviceAccount.keyPem },
            ...(encryptionConfig !== undefined ? { encryptionConfig: pulumi.secret(pulumi.output(encryptionConfig)) } : {}),
        };
        let plan: RecoveryEnvironmentPlan<pulumi.Output<string>>;
        if (freshEtcdPki) {
            const pems = freshEtcdPki.pems;
            const files: RecoveryFiles<pulumi.Output<string>> = {
                etcd: memberCertificateFiles(pems, RECOVERY_MEMBER_NAME),
                apiserverEtcdClient: pems.clients.apiserver,
                ...apiFiles,
            };
            plan = planOrFail(this, () => planRecoveryEnvironment(planInput, files));
        } else {
            // mode "replica": the original PKI, keys as secrets.
            const files: ReplicaFiles<pulumi.Output<string>> = { etcd: replicaCertificatesAsOutputs(replicaCertificates!), ...apiFiles };
            plan = planOrFail(this, () => planReplicaEnvironment(replicaInput, files));
        }
        // In place before any container starts, removed after the last one is gone.
        const guard = (args.guardHost ?? true) ? planOrFail(this, () => hostGuardCommands(naming.name, naming.subnet)) : undefined;
        const hostGuard = guard
            ? new command.local.Command(
                  `${name}-host-guard`,
                  { create: guard.create, delete: guard.delete, triggers: [naming.subnet] },
                  { parent: this },
              )
            : undefined;
        const realized = realizeDockerPlan(plan.plan, {
            parent: this,
            providerNamePrefix: name,
            ...(args.dockerProvider ? { provider: args.dockerProvider } : {}),
            dependsOn: [...(freshEtcdPki ? [freshEtcdPki] : []), kubeCa, ...(hostGuard ? [hostGuard] : [])],
        });
        TYPESCRIPT_ONLY.set(this, {
            ...(freshEtcdPki ? { freshEtcdPki } : {}),
            ...(hostGuard ? { hostGuard } : {}),
            plan,
            docker: realized,
        });

        const check = realized.containers[plan.containerNames.snapshotCheck]!;
        this.kubeconfig = pulumi.secret(
            pulumi
                .all([kubeCa.certPem, admin.certPem, admin.keyPem])
                .apply(([caCertPem, certPem, keyPem]) =>
                    recoveryKubeconfig({ name: naming.name, url: addresses.apiUrl, caCertPem, certPem, keyPem }),
                ),
        );
        this.apiUrl = pulumi.output(addresses.apiUrl);
        this.snapshotRevision = check.containerLogs.apply(revisionFromStatusLog);
        if (args.exportOnUp !== undefined) {
            const exported = new RecoveryExport(
                `${name}-export`,
                { kubeconfig: this.kubeconfig, environmentName: naming.name, snapshotSha256: snapshot.sha256, options: args.exportOnUp },
                { parent: this, dependsOn: [realized.containers[plan.containerNames.kubeApiserver]!] },
            );
            this.exportedFile = exported.path;
        }
        this.snapshotTime = pulumi.output(snapshot.modifiedAt);
        this.snapshotSha256 = pulumi.output(snapshot.sha256);
        this.environmentName = pulumi.output(naming.name);
        this.subnet = pulumi.output(naming.subnet);
        this.containerNames = pulumi.output(plan.containerNames);
        this.caCertPem = kubeCa.certPem;
        this.registerOutputs({
            kubeconfig: this.kubeconfig,
            apiUrl: this.apiUrl,
            snapshotRevision: this.snapshotRevision,
            snapshotTime: this.snapshotTime,
            snapshotSha256: this.snapshotSha256,
            environmentName: this.environmentName,
            subnet: this.subnet,
            containerNames: this.containerNames,
            exportedFile: this.exportedFile,
            caCertPem: this.caCertPem,
        });
    }
}

/** The plan input of mode "replica": mode single's and the replica's own arguments. */
function replicaPlanInput(planInput: RecoveryEnvironmentPlanInput, args: RecoveryEnvironmentReplicaArgs): ReplicaEnvironmentPlanInput {
    return {
        ...planInput,
        ...(args.apiserverIp !== undefined ? { apiserverIp: args.apiserverIp } : {}),
        ...(args.initialClusterToken !== undefined ? { initialClusterToken: args.initialClusterToken } : {}),
    };
}

/** Mode "replica" starts the members with the original certificates: they must be given, and fit the original. */
function checkReplicaCertificates(original: OriginalCluster, certificates: ReplicaCertificatesInput | undefined): ReplicaCertificatesInput {
    if (certificates === undefined) {
        throw new InputError(
            "replicaCertificates",
            undefined,
            'mode "replica" starts the members with the original certificates: give them (replicaCertificatesFromKubeadm, replicaCertificatesFromRkeBundle), or use mode "single"',
        );
    }
    validateReplicaCertificates(original, certificates);
    return certificates;
}

/** Mode "single" refuses the replica's arguments instead of ignoring them. */
function refuseReplicaArgs(args: RecoveryEnvironmentReplicaArgs): void {
    if (args.replicaCertificates !== undefined || args.apiserverIp !== undefined || args.initialClusterToken !== undefined) {
        throw new InputError(
            "replicaCertificates",
            "(given)",
            'replicaCertificates, apiserverIp and initialClusterToken are for mode "replica"; set mode: "replica" or remove them',
        );
    }
}

/** Name as in mode single; subnet: the given one, else the original's, from the members' IPs. */
function replicaNaming(name: string, args: RecoveryEnvironmentArgs, original: OriginalCluster): RecoveryNaming {
    const environment = args.environmentName ?? deriveRecoveryNaming(pulumi.getStack(), name).name;
    return { name: environment, subnet: args.subnet ?? deriveReplicaSubnet(replicaMembers(environment, original).map((m) => m.ip)) };
}

/** The original PKI as Outputs; every private key a secret. */
function replicaCertificatesAsOutputs(certs: ReplicaCertificates<string>): ReplicaCertificates<pulumi.Output<string>> {
    const pair = (p: ReplicaCertificates<string>["client"]) => ({ certPem: pulumi.output(p.certPem), keyPem: pulumi.secret(p.keyPem) });
    return {
        caCertPem: pulumi.output(certs.caCertPem),
        members: Object.fromEntries(
            Object.entries(certs.members).map(([member, m]) => [member, { server: pair(m.server), peer: pair(m.peer) }]),
        ),
        client: pair(certs.client),
    };
}

function placeholderReplicaFiles(certs: ReplicaCertificates<string>, withEncryption: boolean): ReplicaFiles<string> {
    const { etcd: _fresh, apiserverEtcdClient: _client, ...api } = placeholderFiles(withEncryption);
    return { etcd: certs, ...api };
}

/** Empty files, for validating the plan before any certificate exists. */
function placeholderFiles(withEncryption: boolean): RecoveryFiles<string> {
    const pair = { certPem: "", keyPem: "" };
    return {
        etcd: NO_CERTIFICATE_FILES,
        apiserverEtcdClient: pair,
        kubeCaCertPem: "",
        apiserverServing: pair,
        serviceAccount: { publicKeyPem: "", privateKeyPem: "" },
        ...(withEncryption ? { encryptionConfig: "" } : {}),
    };
}

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { planOrFail, typeToken } from "../component";
import { InputError } from "../errors";
import {
    BackupEncryption,
    BackupStore,
    CertificateSource,
    EtcdBackupPlan,
    EtcdBackupPlanInput,
    EtcdBackupSettings,
    EtcdClientPems,
    RenderedKubeObject,
    S3Store,
    SftpStore,
    planEtcdBackup,
} from "./plan";

// The argument types below are the plan's with every secret a Pulumi input: named, non-generic
// interfaces, as the multi-language schema needs them (a generic instance has no schema type).

/** An S3 bucket (AWS, Ceph RGW, MinIO, …); the credentials are Pulumi inputs (secrets). */
export interface S3StoreInput extends S3Store<pulumi.Input<string>> {
    /** Access key id (a Pulumi secret). */
    accessKeyId: pulumi.Input<string>;
    /** Secret access key (a Pulumi secret). */
    secretAccessKey: pulumi.Input<string>;
}

/** A directory on an SFTP server; password or private key as a Pulumi input (secret). */
export interface SftpStoreInput extends SftpStore<pulumi.Input<string>> {
    /** Password (a Pulumi secret). Exactly one of password and privateKey. */
    password?: pulumi.Input<string>;
    /** Private key PEM (a Pulumi secret). Exactly one of password and privateKey. */
    privateKey?: pulumi.Input<string>;
}

/** Where backups are written: exactly one of `s3`, `sftp`, `hostPath` and `pvc`. */
export interface BackupStoreInput extends BackupStore<pulumi.Input<string>> {
    /** An S3 bucket (AWS, Ceph RGW, MinIO, …). */
    s3?: S3StoreInput;
    /** A directory on an SFTP server. */
    sftp?: SftpStoreInput;
}

/** Client-side encryption with rclone crypt on any store (see BackupEncryption); password and salt as Pulumi inputs (secrets). */
export interface BackupEncryptionInput extends BackupEncryption<pulumi.Input<string>> {
    /** The encryption password (a Pulumi secret). Lose it and the backups are unreadable. */
    password: pulumi.Input<string>;
    /** rclone crypt's password2 (salt, a Pulumi secret). Default: none (rclone's built-in salt). */
    salt?: pulumi.Input<string>;
}

/** An etcd client certificate as PEMs (e.g. from EtcdPki outputs), put into a Secret `<name>-etcd-client`. */
export interface EtcdClientPemsInput extends EtcdClientPems<pulumi.Input<string>> {
    /** The etcd CA certificate, PEM. */
    caPem: pulumi.Input<string>;
    /** The client certificate, PEM. */
    certPem: pulumi.Input<string>;
    /** The client key, PEM (a Pulumi secret). */
    keyPem: pulumi.Input<string>;
}

/** The etcd client certificate: exactly one of `preset`, `hostPath` and `secret`. */
export interface CertificateSourceInput extends CertificateSource<pulumi.Input<string>> {
    /** PEMs, e.g. from EtcdPki outputs: put into a Secret `<name>-etcd-client`. */
    secret?: EtcdClientPemsInput;
}

/**
 * Arguments that are TypeScript-only: through `Pick<>` the multi-language schema sees the provider as Any
 * (a reference would tie the schema to one version of the kubernetes package); from other languages, give
 * the provider in the component's resource options (`providers`) instead.
 */
export interface EtcdBackupKubernetesArgs {
    /** The Kubernetes provider. Default: the default provider. */
    provider?: k8s.Provider;
}

/** Arguments of EtcdBackup (see EtcdBackupSettings for every default); credentials and PEMs are Pulumi inputs (secrets). */
export interface EtcdBackupArgs extends EtcdBackupSettings, Pick<EtcdBackupKubernetesArgs, "provider"> {
    /** Name of the CronJob and prefix of the other objects. Default: the resource name. */
    cronJobName?: string;
    /** The etcd client certificate: exactly one of preset, hostPath and secret. Default { preset: "kubeadm" }. */
    certificates?: CertificateSourceInput;
    /** Where backups are written: exactly one of s3, sftp, hostPath and pvc. */
    storage: BackupStoreInput;
    /** Client-side encryption (rclone crypt) on any store. Default: none. */
    encryption?: BackupEncryptionInput;
}

/** Every argument that may hold a secret or a not-yet-known PEM, as its path in the arguments. */
const SECRET_PATHS = [
    ["storage", "s3", "accessKeyId"],
    ["storage", "s3", "secretAccessKey"],
    ["storage", "sftp", "password"],
    ["storage", "sftp", "privateKey"],
    ["encryption", "password"],
    ["encryption", "salt"],
    ["certificates", "secret", "caPem"],
    ["certificates", "secret", "certPem"],
    ["certificates", "secret", "keyPem"],
] as const;

/** The value at `path`; undefined where the path ends early. */
function valueAt(root: unknown, path: readonly string[]): unknown {
    return path.reduce<unknown>(
        (node, key) => (node !== null && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined),
        root,
    );
}

/**
 * The plan input with the given values (placeholders or the resolved secrets) in the secret slots. Only those
 * slots may be Outputs: the objects around them decide which objects exist, so they must be known at preview
 * (from another language, an object that is itself an Output, e.g. a whole secret, arrives as one).
 */
function planInputWith(name: string, args: EtcdBackupArgs, values: (string | undefined)[]): EtcdBackupPlanInput<string> {
    const { provider: _provider, cronJobName: _cronJobName, ...rest } = args;
    const slots = new Set(SECRET_PATHS.map((path) => path.join(".")));
    const outputAt = (node: unknown, at: string[]): string | undefined => {
        if (pulumi.Output.isInstance(node)) return slots.has(at.join(".")) ? undefined : at.join(".");
        if (node === null || typeof node !== "object") return undefined;
        for (const [key, value] of Object.entries(node)) {
            const found = outputAt(value, [...at, key]);
            if (found !== undefined) return found;
        }
        return undefined;
    };
    const misplaced = outputAt(rest, []);
    if (misplaced !== undefined) {
        throw new InputError(misplaced, "an Output", "give it as a plain value: only credentials and PEMs may be Outputs (secrets)");
    }
    const input = JSON.parse(
        JSON.stringify({ ...rest, name }, (_k, v) => (pulumi.Output.isInstance(v) ? undefined : v)),
    ) as EtcdBackupPlanInput<string>;
    SECRET_PATHS.forEach((path, index) => {
        const parent = valueAt(input, path.slice(0, -1));
        if (values[index] !== undefined && parent !== null && typeof parent === "object")
            (parent as Record<string, unknown>)[path[path.length - 1]!] = values[index];
    });
    return input;
}

/** What EtcdBackup keeps out of the multi-language schema (other packages' resources): read through getters. */
interface EtcdBackupTypeScriptOnly {
    cronJob: k8s.batch.v1.CronJob;
    alertRule?: k8s.apiextensions.CustomResource;
}
const TYPESCRIPT_ONLY = new WeakMap<EtcdBackup, EtcdBackupTypeScriptOnly>();

/**
 * The hand-written scheduled etcd backup, done right: a CronJob whose pod saves
 * a snapshot with the etcd image (exec form), verifies it with etcdutl, and
 * uploads it with rclone to S3 / SFTP / a node directory / a PVC, reading it
 * back before any old backup is deleted. Credentials live only in a Secret.
 */
export class EtcdBackup extends pulumi.ComponentResource {
    /** Name of the CronJob (and prefix of the backup's other objects). */
    public readonly cronJobName: pulumi.Output<string>;
    /** Namespace of the backup's objects. */
    public readonly namespace: pulumi.Output<string>;
    /** Where backups land, e.g. s3://bucket/etcd-backup/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db.gz */
    public readonly storeUrlPattern: pulumi.Output<string>;
    /** `kubectl create job --from=cronjob/<name> <name>-manual -n <ns>`: run a backup now. */
    public readonly runNowCommand: pulumi.Output<string>;
    /** The CronJob: for `dependsOn` in your own program. TypeScript only. */
    public get cronJob(): k8s.batch.v1.CronJob {
        return TYPESCRIPT_ONLY.get(this)!.cronJob;
    }
    /** With `alerts`: the PrometheusRule of the freshness alerts; else undefined. TypeScript only. */
    public get alertRule(): k8s.apiextensions.CustomResource | undefined {
        return TYPESCRIPT_ONLY.get(this)!.alertRule;
    }
    /** With `alerts`: name of the PrometheusRule (in `namespace`); else undefined. */
    public readonly alertRuleName: pulumi.Output<string | undefined>;
    /** With `alerts`: seconds without a successful run before EtcdBackupTooOld fires; else undefined. */
    public readonly maxBackupAgeSeconds: pulumi.Output<number | undefined>;

    constructor(name: string, args: EtcdBackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super(typeToken("EtcdBackup"), name, {}, opts);
        const objectName = args.cronJobName ?? name;
        const given = SECRET_PATHS.map((path) => valueAt(args, path) as pulumi.Input<string> | undefined);
        // Validate everything before any child exists; secret slots hold placeholders.
        const placeholderPlan: EtcdBackupPlan = planOrFail(this, () =>
            planEtcdBackup(
                planInputWith(
                    objectName,
                    args,
                    given.map((v, i) => (v === undefined ? undefined : `__SECRET_${i}__`)),
                ),
            ),
        );
        const resolved = pulumi
            .all(given.map((v) => (v === undefined ? undefined : pulumi.output(v))))
            .apply((values) => planEtcdBackup(planInputWith(objectName, args, values)));
        const childOpts = (dependsOn: pulumi.Resource[] = []): pulumi.CustomResourceOptions => ({
            parent: this,
            ...(args.provider ? { provider: args.provider } : {}),
            ...(dependsOn.length ? { dependsOn } : {}),
        });
        const meta = (object: RenderedKubeObject) => object.metadata as k8s.types.input.meta.v1.ObjectMeta;

        const namespace = placeholderPlan.namespaceObject
            ? new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: meta(placeholderPlan.namespaceObject) }, childOpts())
            : undefined;
        const after = namespace ? [namespace] : [];
        const serviceAccount = new k8s.core.v1.ServiceAccount(
            `${name}-service-account`,
            { metadata: meta(placeholderPlan.serviceAccount), automountServiceAccountToken: false },
            childOpts(after),
        );
        const storeSecret = new k8s.core.v1.Secret(
            `${name}-store-secret`,
            {
                metadata: meta(placeholderPlan.storeSecret),
                type: "Opaque",
                stringData: pulumi.secret(resolved.apply((p) => p.storeSecret.stringData)),
            },
            childOpts(after),
        );
        const etcdClientSecret = placeholderPlan.etcdClientSecret
            ? new k8s.core.v1.Secret(
                  `${name}-etcd-client-secret`,
                  {
                      metadata: meta(placeholderPlan.etcdClientSecret),
                      type: "Opaque",
                      stringData: pulumi.secret(resolved.apply((p) => p.etcdClientSecret!.stringData)),
                  },
                  childOpts(after),
              )
            : undefined;
        const script = new k8s.core.v1.ConfigMap(
            `${name}-script`,
            { metadata: meta(placeholderPlan.scriptConfigMap), data: placeholderPlan.scriptConfigMap.data },
            childOpts(after),
        );
        const cronJob = new k8s.batch.v1.CronJob(
            `${name}-cronjob`,
            { metadata: meta(placeholderPlan.cronJob), spec: placeholderPlan.cronJob.spec as k8s.types.input.batch.v1.CronJobSpec },
            childOpts([serviceAccount, storeSecret, script, ...(etcdClientSecret ? [etcdClientSecret] : [])]),
        );

        let alertRule: k8s.apiextensions.CustomResource | undefined;
        if (placeholderPlan.alertRule) {
            const { apiVersion, kind, metadata, spec } = placeholderPlan.alertRule;
            alertRule = new k8s.apiextensions.CustomResource(`${name}-alerts`, { apiVersion, kind, metadata, spec }, childOpts([cronJob]));
        }
        TYPESCRIPT_ONLY.set(this, { cronJob, ...(alertRule ? { alertRule } : {}) });
        this.alertRuleName = pulumi.output(placeholderPlan.alertRule?.metadata.name);
        this.maxBackupAgeSeconds = pulumi.output(placeholderPlan.maxBackupAgeSeconds);
        this.cronJobName = pulumi.output(placeholderPlan.cronJobName);
        this.namespace = pulumi.output(placeholderPlan.namespace);
        this.storeUrlPattern = pulumi.output(placeholderPlan.storeUrlPattern);
        this.runNowCommand = pulumi.output(placeholderPlan.runNowCommand);
        this.registerOutputs({
            cronJobName: this.cronJobName,
            namespace: this.namespace,
            storeUrlPattern: this.storeUrlPattern,
            runNowCommand: this.runNowCommand,
            maxBackupAgeSeconds: this.maxBackupAgeSeconds,
            alertRuleName: this.alertRuleName,
        });
    }
}

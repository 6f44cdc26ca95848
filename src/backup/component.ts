import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { planOrFail, typeToken } from "../component";
import { BackupStore, CertificateSource, EtcdBackupPlan, EtcdBackupPlanInput, RenderedKubeObject, planEtcdBackup } from "./plan";

/**
 * Arguments of EtcdBackup: those of the plan (see EtcdBackupPlanInput for
 * every default), with credentials and PEMs as Pulumi inputs (secrets).
 */
export interface EtcdBackupArgs extends Omit<EtcdBackupPlanInput<pulumi.Input<string>>, "name"> {
    /** Name of the CronJob and prefix of the other objects. Default: the resource name. */
    cronJobName?: string;
    /** The Kubernetes provider. Default: the default provider. */
    provider?: k8s.Provider;
}

type SecretPath = {
    get: (args: EtcdBackupArgs) => pulumi.Input<string> | undefined;
    set: (input: EtcdBackupPlanInput<pulumi.Input<string>>, value: string) => void;
};

/** Every argument that may hold a secret or a not-yet-known PEM. */
const SECRET_PATHS: SecretPath[] = [
    { get: (a) => s3Of(a.storage)?.accessKeyId, set: (i, v) => (s3Of(i.storage)!.accessKeyId = v) },
    { get: (a) => s3Of(a.storage)?.secretAccessKey, set: (i, v) => (s3Of(i.storage)!.secretAccessKey = v) },
    { get: (a) => sftpOf(a.storage)?.password, set: (i, v) => (sftpOf(i.storage)!.password = v) },
    { get: (a) => sftpOf(a.storage)?.privateKey, set: (i, v) => (sftpOf(i.storage)!.privateKey = v) },
    { get: (a) => a.encryption?.password, set: (i, v) => (i.encryption!.password = v) },
    { get: (a) => a.encryption?.salt, set: (i, v) => (i.encryption!.salt = v) },
    { get: (a) => secretCertsOf(a.certificates)?.caPem, set: (i, v) => (secretCertsOf(i.certificates)!.caPem = v) },
    { get: (a) => secretCertsOf(a.certificates)?.certPem, set: (i, v) => (secretCertsOf(i.certificates)!.certPem = v) },
    { get: (a) => secretCertsOf(a.certificates)?.keyPem, set: (i, v) => (secretCertsOf(i.certificates)!.keyPem = v) },
];

function s3Of<S>(storage: BackupStore<S> | undefined) {
    return storage && typeof storage === "object" && "s3" in storage ? storage.s3 : undefined;
}
function sftpOf<S>(storage: BackupStore<S> | undefined) {
    return storage && typeof storage === "object" && "sftp" in storage ? storage.sftp : undefined;
}
function secretCertsOf<S>(certificates: CertificateSource<S> | undefined) {
    return certificates && typeof certificates === "object" && "secret" in certificates ? certificates.secret : undefined;
}

/** The plan input with the given values (placeholders or the resolved secrets) in the secret slots. */
function planInputWith(name: string, args: EtcdBackupArgs, values: (string | undefined)[]): EtcdBackupPlanInput<string> {
    const { provider: _provider, cronJobName: _cronJobName, ...rest } = args;
    const input = JSON.parse(
        JSON.stringify({ ...rest, name }, (_k, v) => (pulumi.Output.isInstance(v) ? undefined : v)),
    ) as EtcdBackupPlanInput<pulumi.Input<string>>;
    SECRET_PATHS.forEach((p, index) => {
        if (values[index] !== undefined) p.set(input, values[index]!);
    });
    return input as EtcdBackupPlanInput<string>;
}

/**
 * The hand-written scheduled etcd backup, done right: a CronJob whose pod saves
 * a snapshot with the etcd image (exec form), verifies it with etcdutl, and
 * uploads it with rclone to S3 / SFTP / a node directory / a PVC, reading it
 * back before any old backup is deleted. Credentials live only in a Secret.
 */
export class EtcdBackup extends pulumi.ComponentResource {
    public readonly cronJobName: pulumi.Output<string>;
    public readonly namespace: pulumi.Output<string>;
    /** Where backups land, e.g. s3://bucket/etcd-backup/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db.gz */
    public readonly storeUrlPattern: pulumi.Output<string>;
    /** `kubectl create job --from=cronjob/<name> <name>-manual -n <ns>`: run a backup now. */
    public readonly runNowCommand: pulumi.Output<string>;
    public readonly cronJob: k8s.batch.v1.CronJob;
    /** With `alerts`: the PrometheusRule of the freshness alerts. */
    public readonly alertRule?: k8s.apiextensions.CustomResource;
    /** With `alerts`: seconds without a successful run before EtcdBackupTooOld fires; else undefined. */
    public readonly maxBackupAgeSeconds: pulumi.Output<number | undefined>;

    constructor(name: string, args: EtcdBackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super(typeToken("EtcdBackup"), name, {}, opts);
        const objectName = args.cronJobName ?? name;
        const given = SECRET_PATHS.map((p) => p.get(args));
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
        this.cronJob = new k8s.batch.v1.CronJob(
            `${name}-cronjob`,
            { metadata: meta(placeholderPlan.cronJob), spec: placeholderPlan.cronJob.spec as k8s.types.input.batch.v1.CronJobSpec },
            childOpts([serviceAccount, storeSecret, script, ...(etcdClientSecret ? [etcdClientSecret] : [])]),
        );

        if (placeholderPlan.alertRule) {
            const { apiVersion, kind, metadata, spec } = placeholderPlan.alertRule;
            this.alertRule = new k8s.apiextensions.CustomResource(
                `${name}-alerts`,
                { apiVersion, kind, metadata, spec },
                childOpts([this.cronJob]),
            );
        }
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
        });
    }
}

// The hand-written etcd backup CronJob as a Pulumi program: a CronJob on the control-plane
// nodes of a kubeadm cluster, uploading to S3 or SFTP with client-side
// encryption, read-back verification, a restore drill after every upload and
// daily/weekly retention. Credentials come from `pulumi config set --secret`
// and land only in a Kubernetes Secret.
import * as pulumi from "@pulumi/pulumi";
import { EtcdBackup, EtcdBackupArgs } from "../../src";

const config = new pulumi.Config();
const store = config.get("store") ?? "s3";

function storage(): EtcdBackupArgs["storage"] {
    if (store === "s3") {
        return {
            s3: {
                endpoint: config.get("s3Endpoint") || undefined,
                bucket: config.get("s3Bucket") ?? "etcd-backups",
                accessKeyId: config.requireSecret("s3AccessKeyId"),
                secretAccessKey: config.requireSecret("s3SecretAccessKey"),
            },
        };
    }
    if (store === "sftp") {
        const password = config.getSecret("sftpPassword");
        return {
            sftp: {
                host: config.require("sftpHost"),
                port: config.getNumber("sftpPort") ?? 22,
                user: config.get("sftpUser") ?? "backup",
                // Exactly one of password and privateKey.
                ...(password ? { password } : { privateKey: config.requireSecret("sftpPrivateKey") }),
                knownHosts: config.require("sftpKnownHosts"),
                path: "etcd",
            },
        };
    }
    throw new Error(`config store: "${store}" — give "s3" or "sftp"`);
}

const backup = new EtcdBackup("etcd-backup", {
    clusterName: config.get("clusterName") ?? "prod",
    schedule: config.get("schedule") ?? "0 */6 * * *",
    timeZone: config.get("timeZone") ?? "Etc/UTC",
    // kubeadm: /etc/kubernetes/pki/etcd/healthcheck-client.* on control-plane nodes, etcd on 127.0.0.1:2379.
    certificates: { preset: "kubeadm" },
    nodeRole: "control-plane",
    storage: storage(),
    encryption: { password: config.requireSecret("encryptionPassword") },
    // 4 a day: the newest 8, one a day for a week, one a week for 8 weeks.
    keep: 8,
    keepDaily: 7,
    keepWeekly: 8,
    restoreDrill: "restore",
    // Default DEFAULT_ETCD_IMAGE; use the image of the cluster's own etcd (kubeadm's static pod), e.g. from your registry.
    ...(config.get("etcdImage") ? { etcdImage: config.require("etcdImage") } : {}),
});

export const cronJobName = backup.cronJobName;
export const storeUrlPattern = backup.storeUrlPattern;
export const runNow = backup.runNowCommand;

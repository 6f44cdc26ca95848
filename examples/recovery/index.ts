// Seed 000 as one stack: the night's etcd snapshot restored into a fresh etcd
// member and a kube-apiserver that reads it as production did, on an internal
// Docker network. One stack per incident:
//
//   pulumi stack init incident-2024-05-03
//   pulumi config set snapshotPath /backups/etcd-snapshot-2024-05-02.db
//   pulumi config set sourceKind docker-inspect
//   pulumi config set --path 'sourceFiles[0]' ./k8s01-docker-inspect.json
//   pulumi preview && pulumi up
//   pulumi stack output kubeconfig --show-secrets > recovery.kubeconfig   (0600)
//   npx etcd-recovery export --kubeconfig recovery.kubeconfig --kind configmaps -n shop --name app-config > app-config.yaml
//   pulumi destroy && pulumi stack rm
import * as pulumi from "@pulumi/pulumi";
import { OriginalSourceKind, RecoveryEnvironment, loadOriginalCluster } from "../../src";

const config = new pulumi.Config();
const optional = (key: string): string | undefined => {
    const value = config.get(key);
    return value === undefined || value === "" ? undefined : value;
};

const encryptionConfigFile = optional("encryptionConfigFile");
const original = loadOriginalCluster({
    kind: (optional("sourceKind") ?? "description") as OriginalSourceKind,
    files: config.requireObject<string[]>("sourceFiles"),
    ...(encryptionConfigFile ? { encryptionConfigFile } : {}),
});

const subnet = optional("subnet");
const etcdImage = optional("etcdImage");
const etcdVersion = optional("etcdVersion");
const kubeApiserverImage = optional("kubeApiserverImage");

const environment = new RecoveryEnvironment("recovery", {
    original,
    snapshotPath: config.require("snapshotPath"),
    guardHost: config.getBoolean("guardHost") ?? true,
    ...(subnet ? { subnet } : {}),
    ...(etcdImage ? { etcdImage } : {}),
    ...(etcdVersion ? { etcdVersion } : {}),
    ...(kubeApiserverImage ? { kubeApiserverImage } : {}),
});

/** Secret: `pulumi stack output kubeconfig --show-secrets`. */
export const kubeconfig = environment.kubeconfig;
export const apiUrl = environment.apiUrl;
export const snapshotRevision = environment.snapshotRevision;
export const snapshotTime = environment.snapshotTime;
export const environmentName = environment.environmentName;
export const subnetInUse = environment.subnet;
export const containers = environment.containerNames;

// The by-hand restore into a throw-away docker network, as one stack: the night's etcd snapshot restored into a fresh etcd
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
//   (or as part of up: pulumi config set exportDirectory ./exported
//                      pulumi config set exportSelections '[{"kind":"configmaps","namespace":"shop","name":"app-config"}]')
//   pulumi destroy && pulumi stack rm
import * as pulumi from "@pulumi/pulumi";
import { OriginalSourceKind, RecoveryEnvironment, Selection, loadOriginalCluster } from "../../src";

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
const exportDirectory = optional("exportDirectory");
const exportSelections = parseSelections(optional("exportSelections"));

function parseSelections(json: string | undefined): Selection[] {
    if (json === undefined) return [];
    try {
        return JSON.parse(json) as Selection[];
    } catch (error) {
        throw new Error(
            `exportSelections: ${JSON.stringify(json)} is not JSON (${(error as Error).message}); give e.g. '[{"kind":"configmaps","namespace":"shop","name":"app-config"}]'`,
        );
    }
}

const environment = new RecoveryEnvironment("recovery", {
    original,
    snapshotPath: config.require("snapshotPath"),
    guardHost: config.getBoolean("guardHost") ?? true,
    ...(subnet ? { subnet } : {}),
    ...(etcdImage ? { etcdImage } : {}),
    ...(etcdVersion ? { etcdVersion } : {}),
    ...(kubeApiserverImage ? { kubeApiserverImage } : {}),
    // Both or neither: a directory without selections (or the reverse) is refused with the fix.
    ...(exportDirectory || exportSelections.length > 0
        ? { exportOnUp: { directory: exportDirectory ?? "", selections: exportSelections } }
        : {}),
});

/** Secret: `pulumi stack output kubeconfig --show-secrets`. */
export const kubeconfig = environment.kubeconfig;
export const apiUrl = environment.apiUrl;
export const snapshotRevision = environment.snapshotRevision;
export const snapshotTime = environment.snapshotTime;
export const environmentName = environment.environmentName;
export const subnetInUse = environment.subnet;
export const containers = environment.containerNames;
/** The file `exportSelections` went to (with exportDirectory). */
export const exportedFile = environment.exportedFile;

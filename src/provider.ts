/**
 * Entry point of the Pulumi plugin package (PulumiPlugin.yaml,
 * pulumi-resource-etcd-recovery): serves the components below to programs in
 * any language (YAML, Python, Go, ...). The schema is read from this
 * package's TypeScript sources (src/, tsconfig.json) by Pulumi's component
 * analyzer, so it runs from a source checkout with bin/ built.
 *
 * Only ComponentResource classes can be served this way: the dynamic
 * resources CertificateAuthority and Certificate are used through EtcdPki.
 */
import * as path from "path";

import { componentProviderHost } from "@pulumi/pulumi/provider/experimental";

import { EtcdBackup } from "./backup/component";
import { EtcdCluster } from "./etcd/cluster";
import { EtcdPki } from "./pki/etcd-pki";
import { RecoveryEnvironment } from "./recovery/environment";
import { ControlPlaneRestore } from "./restore/component";
import { StackedToExternalMigration } from "./restore/migration-component";

/** The components in the multi-language schema. */
export const PLUGIN_COMPONENTS = [EtcdPki, EtcdCluster, EtcdBackup, RecoveryEnvironment, ControlPlaneRestore, StackedToExternalMigration];

if (require.main === module) {
    // bin/provider.js (or src/provider.ts): the package root is one level up.
    componentProviderHost({ name: "etcd-recovery", dirname: path.resolve(__dirname, ".."), components: PLUGIN_COMPONENTS }).catch(
        (error: unknown) => {
            console.error(error);
            process.exit(1);
        },
    );
}

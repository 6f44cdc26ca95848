/** The recovery module: importers of the original cluster, the environment's plan, snapshot checks, export. */
export * from "./source";
export { fromDockerInspect, fromDockerInspectFiles, InspectFile } from "./import/docker-inspect";
export { fromKubeadmManifests, ManifestFile } from "./import/kubeadm";
export { parseFlags } from "./import/args";
export * from "./plan";
export { issueRecoveryPki, recoveryKubeconfig, RecoveryPki } from "./pki";
export { verifySnapshotFile, SnapshotError, SnapshotFileCheck } from "./snapshot";
export * from "./export";
export * from "./ready";
export { verifySnapshotFileSync } from "./snapshot";
export {
    RECOVERY_SUBNET_POOL,
    RecoveryNaming,
    assertNoCollision,
    assertSubnetAvoidsOriginal,
    deriveRecoveryNaming,
    originalAddresses,
    subnetsOverlap,
} from "./naming";
export {
    RecoveryEnvironment,
    RecoveryEnvironmentArgs,
    RecoveryEnvironmentDockerArgs,
    ReplicaCertificatesInput,
    ReplicaMemberCertificatesInput,
    ReplicaPemPairInput,
    revisionFromStatusLog,
} from "./environment";
export { ExportOnUpOptions, RecoveryExport, checkExportOnUp, exportFileName, kubeconfigConnection } from "./export-on-up";
export * from "./diff";
export { hostGuardCommands, hostGuardRule, HostGuardCommands } from "./host-guard";
export { fromRkeState, rkeCertificateBundle, RkeCertificate, RKE_ENCRYPTION_CONFIG_PATH } from "./import/rke";
export { replicaCertificatesFromKubeadm, replicaCertificatesFromRkeBundle } from "./import/replica-certificates";
export { loadOriginalCluster, OriginalSourceFiles, OriginalSourceKind, ORIGINAL_SOURCE_KINDS } from "./load";
export {
    fetchSnapshotFromStore,
    FetchSnapshotOptions,
    FetchedSnapshot,
    StoreSnapshotError,
    StoreSource,
    pickBackup,
    parseSidecar,
    renderStoreRcloneConfig,
} from "./store";
export * from "./replica";

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

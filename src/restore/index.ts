export { ControlPlaneRestore, ControlPlaneRestoreArgs, RestoreNodeArgs } from "./component";
export {
    planControlPlaneRestore,
    renderDryRun,
    supportsBumpRevision,
    ControlPlaneRestoreInput,
    ControlPlaneRestorePlan,
    RestoreNodeInput,
    RestoreStep,
    NodeRole,
    RestoreMode,
    RestoreSnapshot,
} from "./plan";
export { LAYOUT_PRESETS, LayoutPreset, RestoreLayout } from "./layouts";
export { RemoteCommand, RemoteCommandArgs } from "./remote-command";
export { SshConnection } from "./ssh";
export {
    planStackedToExternalMigration,
    renderMigrationDryRun,
    MigrationStage,
    MigrationNodeInput,
    MigrationClientFile,
    MigrationInstallPaths,
    StackedToExternalMigrationInput,
    StackedToExternalMigrationSettings,
    StackedToExternalMigrationPlan,
} from "./migration";
export {
    StackedToExternalMigration,
    StackedToExternalMigrationArgs,
    MigrationNodeArgs,
    ExternalEtcdClientArgs,
    DEFAULT_STAGING_DIR,
} from "./migration-component";
export { RemoteFile, RemoteFileArgs } from "./remote-file";
export { NodeSshArgs } from "./realize";

// The root program is the recovery environment: the same program as
// examples/recovery (one source), configured per stack in this project
// (`pulumi config set snapshotPath …`; keys and defaults in ../Pulumi.yaml).
export * from "../examples/recovery/index";

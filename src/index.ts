// Public API of etcd-recovery. Components first, then the pure plan functions
// they are built from (usable without Pulumi).
export { EtcdCluster, EtcdClusterArgs, EtcdClusterDockerArgs } from "./etcd/cluster";
export { EtcdPki, EtcdPkiArgs, MemberCertificates, ExistingCa, ClientCertificate } from "./pki/etcd-pki";

// cfssl-equivalent PKI: initCa, genCert, CertificateAuthority, Certificate, cfssl document types.
export * from "./pki";
export { planEtcdPki, cfsslLayout, kubeadmLayout, EtcdPkiPlan, EtcdPkiPlanInput, EtcdPkiPems, EtcdPkiMember, EtcdKeyAlgorithm, ETCD_CLIENT_COMMON_NAMES } from "./pki/etcd-pki-plan";
export { issueEtcdPki } from "./pki/etcd-pki-issue";

// etcd knowledge.
export { planEtcdCluster, memberCertificateFiles, DEFAULT_ETCD_IMAGE, EtcdClusterPlan, EtcdClusterPlanInput, MemberCertificateFiles, PublishClientPorts } from "./etcd/plan";
export { planTopology, EtcdTopology, EtcdMemberInput, EtcdNetworkInput, EtcdNetworkMode, EtcdMember } from "./etcd/topology";
export { etcdMemberFlags, etcdHealthCheckCommand, snapshotRestoreCommand, resolveTunables, EtcdTunables, EtcdAutoCompactionMode, etcdCertPaths } from "./etcd/flags";
export { kubeApiserverEtcdFlags, kubeadmExternalEtcdYaml, KUBEADM_ETCD_CLIENT_PATHS } from "./etcd/clients";

// Docker plans and their realization.
export * from "./docker/plan";
export { realizeDockerPlan } from "./docker/realize";
export { InputError } from "./errors";

// Scheduled backups: the EtcdBackup CronJob (@pulumi/kubernetes) and its pure plan.
export { EtcdBackup, EtcdBackupArgs } from "./backup/component";
export * from "./backup/plan";
export { validateSchedule, validateTimeZone } from "./backup/validate";
export { retainedBackups, RetentionPolicy } from "./backup/retention";

// The recovery environment: importers, plan, snapshot checks, export of lost objects.
export * from "./recovery";

// Control-plane restore runbooks (kubeadm / RKE / kubespray) run over SSH by our RemoteCommand resource.
export * from "./restore";

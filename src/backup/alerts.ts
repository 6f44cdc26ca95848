/**
 * Backup freshness alerts (pure): a Prometheus Operator PrometheusRule on the
 * kube-state-metrics series of the backup CronJob and its Jobs. A backup that
 * silently stopped is found by a page, not at 3 a.m. during the restore.
 */
import { InputError } from "../errors";
import { longestScheduleGapSeconds } from "./schedule";

export interface BackupAlertsInput {
    /** Alert when the newest successful backup is older than this many schedule intervals (the longest gap between runs). Default 2. */
    missedRuns?: number;
    /** `severity` label of the alerts. Default "critical". */
    severity?: string;
    /** Extra labels on the PrometheusRule object, e.g. the `release` label your Prometheus selects rules by. Default none. */
    ruleLabels?: Record<string, string>;
}

export interface BackupAlertRuleArgs extends BackupAlertsInput {
    cronJobName: string;
    namespace: string;
    schedule: string;
    timeZone?: string;
    /** The Job's activeDeadlineSeconds: a run may take that long to succeed. */
    activeDeadlineSeconds: number;
    /** Labels of the backup's other objects. */
    labels: Record<string, string>;
}

export interface BackupAlertRule {
    apiVersion: "monitoring.coreos.com/v1";
    kind: "PrometheusRule";
    metadata: { name: string; namespace: string; labels: Record<string, string> };
    spec: {
        groups: {
            name: string;
            rules: { alert: string; expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> }[];
        }[];
    };
}

/** True when the zone's UTC offset differs between January and July (a validated IANA name). */
function hasDaylightSaving(timeZone: string): boolean {
    const format = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" });
    const offset = (date: Date) => format.formatToParts(date).find((part) => part.type === "timeZoneName")?.value;
    return offset(new Date(Date.UTC(2025, 0, 15))) !== offset(new Date(Date.UTC(2025, 6, 15)));
}

/** The PrometheusRule of one EtcdBackup. Series: kube-state-metrics v2 (kube_cronjob_*, kube_job_*). */
export function renderBackupAlertRule(args: BackupAlertRuleArgs): { rule: BackupAlertRule; maxAgeSeconds: number } {
    const missedRuns = args.missedRuns ?? 2;
    if (!Number.isInteger(missedRuns) || missedRuns < 1) {
        throw new InputError("alerts.missedRuns", args.missedRuns, "give a whole number of schedule intervals, 1 or more (default 2)");
    }
    const severity = args.severity ?? "critical";
    if (typeof severity !== "string" || !/^[A-Za-z0-9_.-]+$/.test(severity)) {
        throw new InputError("alerts.severity", args.severity, 'give a plain label value such as "critical" or "warning"');
    }
    for (const key of Object.keys(args.ruleLabels ?? {})) {
        if (!/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(key)) {
            throw new InputError("alerts.ruleLabels", key, "give Kubernetes label keys, e.g. release or prometheus");
        }
    }
    // Daylight saving can stretch a gap by an hour; a run may take up to its deadline.
    const dstMargin = args.timeZone && hasDaylightSaving(args.timeZone) ? 3600 : 0;
    const maxAgeSeconds = missedRuns * longestScheduleGapSeconds(args.schedule) + args.activeDeadlineSeconds + dstMargin;
    const cronJob = `namespace="${args.namespace}", cronjob="${args.cronJobName}"`;
    const ownedJobs = `max by (namespace, job_name) (kube_job_owner{namespace="${args.namespace}", owner_kind="CronJob", owner_name="${args.cronJobName}"})`;
    const lastSuccess = `max(kube_cronjob_status_last_successful_time{${cronJob}})`;
    const where = `CronJob ${args.namespace}/${args.cronJobName}`;
    const hours = (seconds: number) => `${Math.round((seconds / 3600) * 10) / 10} h`;
    const labels = { severity, etcd_recovery_backup: args.cronJobName };
    const rule: BackupAlertRule = {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: { name: `${args.cronJobName}-alerts`, namespace: args.namespace, labels: { ...args.labels, ...(args.ruleLabels ?? {}) } },
        spec: {
            groups: [
                {
                    name: `etcd-backup.${args.namespace}.${args.cronJobName}`,
                    rules: [
                        {
                            alert: "EtcdBackupTooOld",
                            expr: `time() - ${lastSuccess} > ${maxAgeSeconds}`,
                            for: "5m",
                            labels,
                            annotations: {
                                summary: `No successful etcd backup from ${where} for more than ${hours(maxAgeSeconds)}`,
                                description: `The newest successful run of ${where} is {{ $value | humanizeDuration }} old (limit ${missedRuns} × the schedule "${args.schedule}" + the run deadline). Check the Jobs: kubectl -n ${args.namespace} get jobs -l app.kubernetes.io/instance=${args.cronJobName}`,
                            },
                        },
                        {
                            alert: "EtcdBackupNeverSucceeded",
                            expr: `absent(kube_cronjob_status_last_successful_time{${cronJob}}) and on () (time() - max(kube_cronjob_created{${cronJob}}) > ${maxAgeSeconds})`,
                            for: "5m",
                            labels,
                            annotations: {
                                summary: `${where} has never completed a backup in ${hours(maxAgeSeconds)}`,
                                description: `${where} exists but no run has succeeded. Run one now and read its log: kubectl create job --from=cronjob/${args.cronJobName} ${args.cronJobName}-manual -n ${args.namespace}`,
                            },
                        },
                        {
                            alert: "EtcdBackupJobFailed",
                            // Failed Jobs of this CronJob created after its newest success: a later success clears it.
                            expr:
                                `(max by (namespace, job_name) (kube_job_status_failed{namespace="${args.namespace}"} > 0) * on (namespace, job_name) group_left () ${ownedJobs}) ` +
                                `and on (namespace, job_name) (max by (namespace, job_name) (kube_job_created{namespace="${args.namespace}"}) > scalar(${lastSuccess} or vector(0)))`,
                            for: "0m",
                            labels,
                            annotations: {
                                summary: `etcd backup Job {{ $labels.job_name }} of ${where} failed`,
                                description: `Nothing was sealed by this run and no old backup was deleted. Its log says which step failed (step=…): kubectl -n ${args.namespace} logs job/{{ $labels.job_name }} --all-containers`,
                            },
                        },
                    ],
                },
            ],
        },
    };
    return { rule, maxAgeSeconds };
}

/**
 * EtcdBackup's freshness alerts run by the real Prometheus rule engine:
 * `promtool check rules` on the PrometheusRule's groups, and `promtool test
 * rules` with kube-state-metrics series (names and labels as KSM v2 exports
 * them) for a healthy CronJob, one whose backups stopped, one that never
 * succeeded, and failed Jobs before and after the newest success.
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";

import { BackupAlertRule } from "../../src/backup/alerts";
import { planEtcdBackup } from "../../src/backup/plan";
import { run } from "../harness/exec";
import { requireTool } from "../support/processes";

const NS = "kube-system";
const CRON = "etcd-backup";
const plan = planEtcdBackup({
    name: CRON,
    clusterName: "prod",
    schedule: "0 */6 * * *",
    storage: { hostPath: { path: "/var/backups/etcd" } },
    alerts: { missedRuns: 2, ruleLabels: { release: "monitoring" } },
});
const rule = plan.alertRule as BackupAlertRule;
const ruleLabels = { severity: "critical", etcd_recovery_backup: CRON };
const annotationsOf = (alert: string, values: Record<string, string>) => {
    const annotations = rule.spec.groups[0]!.rules.find((r) => r.alert === alert)!.annotations;
    const fill = (text: string) =>
        text.replace("{{ $labels.job_name }}", values.job_name ?? "").replace("{{ $value | humanizeDuration }}", values.value ?? "");
    return Object.fromEntries(Object.entries(annotations).map(([k, v]) => [k, fill(v)]));
};
const cron = `{namespace="${NS}",cronjob="${CRON}"}`;
/** The three kube-state-metrics series of one Job: its owner, its failed pods and its creation time, held for `samples` minutes. */
const jobSeries = (name: string, state: { failed: number; createdAt: number; samples: number }, owner = CRON) => [
    {
        series: `kube_job_owner{namespace="${NS}",job_name="${name}",owner_kind="CronJob",owner_name="${owner}",owner_is_controller="true"}`,
        values: `1x${state.samples}`,
    },
    {
        series: `kube_job_status_failed{namespace="${NS}",job_name="${name}",reason="BackoffLimitExceeded"}`,
        values: `${state.failed}x${state.samples}`,
    },
    { series: `kube_job_created{namespace="${NS}",job_name="${name}"}`, values: `${state.createdAt}x${state.samples}` },
];

let tmp: string;
let promtool: string;

beforeAll(() => {
    promtool = requireTool("promtool");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "backup-alerts-"));
    // A PrometheusRule's spec is a Prometheus rule file.
    fs.writeFileSync(path.join(tmp, "rules.yaml"), yaml.dump(rule.spec));
});

afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function promtoolTest(tests: unknown[]): Promise<{ ok: boolean; output: string }> {
    fs.writeFileSync(path.join(tmp, "tests.yaml"), yaml.dump({ rule_files: ["rules.yaml"], evaluation_interval: "1m", tests }));
    return run(promtool, ["test", "rules", "tests.yaml"], { cwd: tmp }).then(
        (r) => ({ ok: true, output: r.stdout + r.stderr }),
        (e: Error) => ({ ok: false, output: e.message }),
    );
}

test("the rule file is valid for Prometheus (promtool check rules)", async () => {
    const checked = await run(promtool, ["check", "rules", "rules.yaml"], { cwd: tmp });
    expect(checked.stdout).toMatch(/SUCCESS: 3 rules found/);
    // 2 runs of every 6 h + the 1800 s run deadline.
    expect(plan.maxBackupAgeSeconds).toBe(45_000);
});

test("a healthy CronJob raises nothing; one whose backups stopped raises EtcdBackupTooOld after the limit, not before", async () => {
    const result = await promtoolTest([
        {
            interval: "1m",
            input_series: [
                // A success every 6 h (the value is the success's time in seconds).
                { series: `kube_cronjob_status_last_successful_time${cron}`, values: "0x359 21600x359 43200x359 64800x359" },
                { series: `kube_cronjob_created${cron}`, values: "0x1439" },
            ],
            alert_rule_test: ["EtcdBackupTooOld", "EtcdBackupNeverSucceeded", "EtcdBackupJobFailed"].map((alertname) => ({
                eval_time: "1400m",
                alertname,
                exp_alerts: [],
            })),
        },
        {
            interval: "1m",
            input_series: [
                // One success at 0, then none: 45000 s = 750 min is the limit, 5 min "for".
                { series: `kube_cronjob_status_last_successful_time${cron}`, values: "0x1000" },
                { series: `kube_cronjob_created${cron}`, values: "0x1000" },
            ],
            alert_rule_test: [
                { eval_time: "740m", alertname: "EtcdBackupTooOld", exp_alerts: [] },
                { eval_time: "753m", alertname: "EtcdBackupTooOld", exp_alerts: [] },
                {
                    eval_time: "780m",
                    alertname: "EtcdBackupTooOld",
                    exp_alerts: [{ exp_labels: ruleLabels, exp_annotations: annotationsOf("EtcdBackupTooOld", { value: "13h 0m 0s" }) }],
                },
                { eval_time: "780m", alertname: "EtcdBackupNeverSucceeded", exp_alerts: [] },
            ],
        },
    ]);
    expect(result).toEqual({ ok: true, output: expect.stringContaining("SUCCESS") });
});

test("a CronJob that never succeeded raises EtcdBackupNeverSucceeded after the limit, and its failed Job EtcdBackupJobFailed at once", async () => {
    const result = await promtoolTest([
        {
            interval: "1m",
            input_series: [
                { series: `kube_cronjob_created${cron}`, values: "0x1000" },
                ...jobSeries(`${CRON}-first`, { failed: 1, createdAt: 60, samples: 1000 }),
            ],
            alert_rule_test: [
                { eval_time: "700m", alertname: "EtcdBackupNeverSucceeded", exp_alerts: [] },
                {
                    eval_time: "780m",
                    alertname: "EtcdBackupNeverSucceeded",
                    exp_alerts: [
                        {
                            exp_labels: { ...ruleLabels, namespace: NS, cronjob: CRON },
                            exp_annotations: annotationsOf("EtcdBackupNeverSucceeded", {}),
                        },
                    ],
                },
                {
                    eval_time: "10m",
                    alertname: "EtcdBackupJobFailed",
                    exp_alerts: [
                        {
                            exp_labels: { ...ruleLabels, namespace: NS, job_name: `${CRON}-first` },
                            exp_annotations: annotationsOf("EtcdBackupJobFailed", { job_name: `${CRON}-first` }),
                        },
                    ],
                },
            ],
        },
    ]);
    expect(result).toEqual({ ok: true, output: expect.stringContaining("SUCCESS") });
});

test("EtcdBackupJobFailed: only this CronJob's failed Jobs created after its newest success; a later success clears it", async () => {
    const result = await promtoolTest([
        {
            interval: "1m",
            input_series: [
                // Newest success at 36000 s, then at 50000 s from minute 20 on.
                { series: `kube_cronjob_status_last_successful_time${cron}`, values: "36000x20 50000x20" },
                { series: `kube_cronjob_created${cron}`, values: "0x40" },
                ...jobSeries(`${CRON}-old`, { failed: 1, createdAt: 30000, samples: 40 }),
                ...jobSeries(`${CRON}-new`, { failed: 1, createdAt: 40000, samples: 40 }),
                ...jobSeries("other-1", { failed: 1, createdAt: 40000, samples: 40 }, "other"),
                ...jobSeries(`${CRON}-ok`, { failed: 0, createdAt: 41000, samples: 40 }),
            ],
            alert_rule_test: [
                {
                    eval_time: "10m",
                    alertname: "EtcdBackupJobFailed",
                    exp_alerts: [
                        {
                            exp_labels: { ...ruleLabels, namespace: NS, job_name: `${CRON}-new` },
                            exp_annotations: annotationsOf("EtcdBackupJobFailed", { job_name: `${CRON}-new` }),
                        },
                    ],
                },
                { eval_time: "30m", alertname: "EtcdBackupJobFailed", exp_alerts: [] },
            ],
        },
    ]);
    expect(result).toEqual({ ok: true, output: expect.stringContaining("SUCCESS") });
});

test("the test above can fail: a rule expecting an alert that does not fire is reported", async () => {
    const result = await promtoolTest([
        {
            interval: "1m",
            input_series: [{ series: `kube_cronjob_status_last_successful_time${cron}`, values: "0x100" }],
            alert_rule_test: [{ eval_time: "60m", alertname: "EtcdBackupTooOld", exp_alerts: [{ exp_labels: ruleLabels }] }],
        },
    ]);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/FAILED/);
});

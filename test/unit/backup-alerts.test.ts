import { renderBackupAlertRule } from "../../src/backup/alerts";
import { planEtcdBackup } from "../../src/backup/plan";
import { longestScheduleGapSeconds } from "../../src/backup/schedule";
import { InputError } from "../../src/errors";

const HOUR = 3600;
const DAY = 24 * HOUR;

describe("longestScheduleGapSeconds", () => {
    test.each([
        ["*/5 * * * *", 300],
        ["0 */6 * * *", 6 * HOUR],
        ["0 1,13 * * *", 12 * HOUR],
        ["30 2,5 * * *", 21 * HOUR], // 05:30 → 02:30 the next day
        ["@hourly", HOUR],
        ["@daily", DAY],
        ["0 3 * * 1-5", 3 * DAY], // Friday → Monday
        ["0 0 * * sun", 7 * DAY],
        ["@weekly", 7 * DAY],
        ["0 0 1 * *", 31 * DAY],
        ["0 0 31 * *", 61 * DAY], // 31 Aug → 31 Oct (no 31 Sep), the longest of the year
        ["0 0 1 1 *", 365 * DAY],
    ])("%s → %d s", (schedule, gap) => {
        expect(longestScheduleGapSeconds(schedule)).toBe(gap);
    });

    test("day of month and day of week both restricted: either matches (cron), so the 1st and every Monday", () => {
        // Every Monday, plus the 1st when it is another day: never more than a week apart.
        expect(longestScheduleGapSeconds("0 0 1 * mon")).toBe(7 * DAY);
    });

    test("a schedule that never runs is refused, naming the argument", () => {
        expect(() => longestScheduleGapSeconds("0 0 30 2 *")).toThrow(/schedule.*never runs/s);
        // 29 February: not within the two years the gap is measured over.
        expect(() => longestScheduleGapSeconds("0 0 29 2 *")).toThrow(/never runs/);
        expect(() => longestScheduleGapSeconds("not cron")).toThrow(InputError);
    });
});

describe("renderBackupAlertRule", () => {
    const base = {
        cronJobName: "etcd-backup",
        namespace: "kube-system",
        schedule: "0 */6 * * *",
        activeDeadlineSeconds: 1800,
        labels: { app: "x" },
    };

    test("the limit is missedRuns × the longest gap + the run deadline (+1 h in zones with daylight saving)", () => {
        expect(renderBackupAlertRule(base).maxAgeSeconds).toBe(2 * 6 * HOUR + 1800);
        expect(renderBackupAlertRule({ ...base, missedRuns: 3 }).maxAgeSeconds).toBe(3 * 6 * HOUR + 1800);
        expect(renderBackupAlertRule({ ...base, timeZone: "Etc/UTC" }).maxAgeSeconds).toBe(2 * 6 * HOUR + 1800);
        expect(renderBackupAlertRule({ ...base, timeZone: "Europe/Berlin" }).maxAgeSeconds).toBe(2 * 6 * HOUR + 1800 + HOUR);
        expect(renderBackupAlertRule({ ...base, timeZone: "America/New_York" }).maxAgeSeconds).toBe(2 * 6 * HOUR + 1800 + HOUR);
        expect(renderBackupAlertRule({ ...base, timeZone: "Asia/Shanghai" }).maxAgeSeconds).toBe(2 * 6 * HOUR + 1800);
    });

    test("the rule names the CronJob's series only, carries the severity, and the object the extra labels", () => {
        const { rule } = renderBackupAlertRule({ ...base, severity: "warning", ruleLabels: { release: "kube-prometheus-stack" } });
        expect(rule.metadata).toEqual({
            name: "etcd-backup-alerts",
            namespace: "kube-system",
            labels: { app: "x", release: "kube-prometheus-stack" },
        });
        const rules = rule.spec.groups[0]!.rules;
        expect(rules.map((r) => r.alert)).toEqual(["EtcdBackupTooOld", "EtcdBackupNeverSucceeded", "EtcdBackupJobFailed"]);
        for (const r of rules) {
            expect(r.labels).toEqual({ severity: "warning", etcd_recovery_backup: "etcd-backup" });
            expect(r.expr).toContain('namespace="kube-system"');
        }
        expect(rules[0]!.expr).toBe(
            'time() - max(kube_cronjob_status_last_successful_time{namespace="kube-system", cronjob="etcd-backup"}) > 45000',
        );
        expect(rules[2]!.expr).toContain('owner_kind="CronJob", owner_name="etcd-backup"');
    });

    test.each([
        [{ missedRuns: 0 }, "alerts.missedRuns"],
        [{ missedRuns: 1.5 }, "alerts.missedRuns"],
        [{ severity: "very bad" }, "alerts.severity"],
        [{ ruleLabels: { "bad key!": "x" } }, "alerts.ruleLabels"],
    ])("bad input %j is refused naming %s", (bad, argument) => {
        expect(() => renderBackupAlertRule({ ...base, ...bad })).toThrow(argument);
    });
});

describe("EtcdBackup plan with alerts", () => {
    const input = {
        name: "etcd-backup",
        clusterName: "prod",
        schedule: "0 2 * * *",
        timeZone: "Asia/Shanghai",
        storage: { hostPath: { path: "/var/backups/etcd" } },
    } as const;

    test("no alerts: no rule, no limit", () => {
        const plan = planEtcdBackup(input);
        expect(plan.alertRule).toBeUndefined();
        expect(plan.maxBackupAgeSeconds).toBeUndefined();
        expect(plan.objects.map((o) => o.kind)).not.toContain("PrometheusRule");
    });

    test("alerts: the rule is the last object, sized from the CronJob's own schedule, zone and deadline", () => {
        const plan = planEtcdBackup({ ...input, activeDeadlineSeconds: 3600, alerts: { missedRuns: 1 } });
        expect(plan.objects[plan.objects.length - 1]).toBe(plan.alertRule);
        expect(plan.alertRule!.metadata.namespace).toBe(plan.namespace);
        // Daily, 1 missed run, 1 h deadline; Shanghai has no daylight saving.
        expect(plan.maxBackupAgeSeconds).toBe(DAY + 3600);
    });

    test("a bad alerts argument is refused before anything is planned", () => {
        expect(() => planEtcdBackup({ ...input, alerts: { missedRuns: -1 } })).toThrow(/alerts\.missedRuns/);
    });

    test("the script writes latest.json only after the seal, and a failed upload of it fails the run", () => {
        const script = planEtcdBackup(input).scriptConfigMap.data["backup.sh"]!;
        const sealed = script.indexOf('log "sealed=');
        const marker = script.indexOf('"$REMOTE_DIR/latest.json"');
        expect(sealed).toBeGreaterThan(0);
        expect(marker).toBeGreaterThan(sealed);
        expect(script.slice(marker)).toMatch(/^"\$REMOTE_DIR\/latest\.json" \|\| fail /);
    });
});

describe("storeTimeouts", () => {
    const input = {
        name: "etcd-backup",
        clusterName: "prod",
        schedule: "0 2 * * *",
        storage: { hostPath: { path: "/var/backups/etcd" } },
    } as const;
    const settings = (script: string) => script.split("\n").filter((line) => /^RCLONE_(CONNECT_TIMEOUT|IO_TIMEOUT|RETRIES)=/.test(line));

    test("defaults 10 s / 60 s / 3, or what is given, in the script's settings", () => {
        expect(settings(planEtcdBackup(input).scriptConfigMap.data["backup.sh"]!)).toEqual([
            "RCLONE_CONNECT_TIMEOUT=10s",
            "RCLONE_IO_TIMEOUT=60s",
            "RCLONE_RETRIES=3",
        ]);
        const given = planEtcdBackup({ ...input, storeTimeouts: { connectSeconds: 2, ioSeconds: 4, retries: 1 } });
        expect(settings(given.scriptConfigMap.data["backup.sh"]!)).toEqual([
            "RCLONE_CONNECT_TIMEOUT=2s",
            "RCLONE_IO_TIMEOUT=4s",
            "RCLONE_RETRIES=1",
        ]);
    });

    test.each([
        [{ connectSeconds: 0 }, "storeTimeouts.connectSeconds"],
        [{ ioSeconds: 1.5 }, "storeTimeouts.ioSeconds"],
        [{ retries: -1 }, "storeTimeouts.retries"],
    ])("%j is refused naming %s", (bad, argument) => {
        expect(() => planEtcdBackup({ ...input, storeTimeouts: bad })).toThrow(argument);
    });
});

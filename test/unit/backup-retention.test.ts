// Retention tiers: retainedBackups() (pure) by example, and the uploader
// script's awk retention_keep run by busybox on the same random inputs.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { backupDayAndWeek, retainedBackups } from "../../src/backup/retention";
import { renderBackupScript } from "../../src/backup/script";

const name = (stamp: string, rev = 1) => `etcd-snapshot-${stamp}-rev${rev}.db.gz`;

describe("backupDayAndWeek", () => {
    test.each([
        // ISO weeks start on Monday; 2024-12-30 (Mon) is in ISO week 2025-W01 with 2025-01-05 (Sun).
        ["20241230T010203Z", "20250105T235959Z", true],
        ["20250105T235959Z", "20250106T000000Z", false], // Sunday → Monday
        ["20240229T120000Z", "20240303T000000Z", true], // leap day (Thu) and the Sunday after
        ["19700101T000000Z", "19700104T000000Z", true], // epoch Thursday and its Sunday
        ["19700104T000000Z", "19700105T000000Z", false],
    ])("%s and %s share an ISO week: %s", (a, b, same) => {
        expect(backupDayAndWeek(name(a))!.week === backupDayAndWeek(name(b))!.week).toBe(same);
    });
    test("day is the UTC date in the name; names without a timestamp have none", () => {
        expect(backupDayAndWeek(name("20260131T235959Z"))!.day).toBe("20260131");
        expect(backupDayAndWeek("etcd-snapshot-latest.db")).toBeUndefined();
    });
});

describe("retainedBackups", () => {
    const hourly = (days: number, perDay: number, lastDay = Date.UTC(2026, 0, 31)) => {
        const names: string[] = [];
        for (let d = days - 1; d >= 0; d--) {
            for (let h = 0; h < perDay; h++) {
                const t = new Date(lastDay - d * 86_400_000 + h * 3_600_000).toISOString().replace(/[-:]/g, "").slice(0, 15);
                names.push(name(`${t}Z`));
            }
        }
        return names;
    };

    test("keep only: the newest N, newest first", () => {
        const names = hourly(2, 3);
        expect(retainedBackups(names, { keep: 2 })).toEqual(names.slice(-2).reverse());
    });

    test("daily: the newest of each of the newest D days that have a backup", () => {
        const names = hourly(10, 4);
        const kept = retainedBackups(names, { keep: 1, daily: 3 });
        expect(kept).toEqual([name("20260131T030000Z"), name("20260130T030000Z"), name("20260129T030000Z")]);
    });

    test("days without backups do not count: a 20-day outage keeps the daily tier", () => {
        const names = [...hourly(5, 1, Date.UTC(2026, 0, 1)), name("20260125T000000Z")];
        expect(retainedBackups(names, { keep: 1, daily: 3 })).toEqual([
            name("20260125T000000Z"),
            name("20260101T000000Z"),
            name("20251231T000000Z"),
        ]);
    });

    test("weekly: the newest of each ISO week (Monday to Sunday, UTC)", () => {
        const names = hourly(28, 1); // 2026-01-04 (Sun) .. 2026-01-31 (Sat)
        const kept = retainedBackups(names, { keep: 1, weekly: 4 });
        expect(kept).toEqual([name("20260131T000000Z"), name("20260125T000000Z"), name("20260118T000000Z"), name("20260111T000000Z")]);
    });

    test("tiers add up; the newest is always kept; undatable names are never dropped", () => {
        const names = [...hourly(30, 2), "etcd-snapshot-manual.db"];
        const kept = retainedBackups(names, { keep: 2, daily: 5, weekly: 3 });
        expect(kept[0]).toBe("etcd-snapshot-manual.db"); // sorts after the digits: first in newest-first order, always kept
        expect(kept).toContain(names[names.length - 2]);
        expect(new Set(kept).size).toBe(kept.length);
        expect(() => retainedBackups(names, { keep: 0 })).toThrow(/keep must be an integer >= 1/);
    });
});

describe("the script's awk retention_keep agrees with retainedBackups()", () => {
    const BUSYBOX = "/bin/busybox";
    if (!fs.existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: run apt-get install busybox-static`);
    const script = renderBackupScript({
        clusterName: "c",
        remoteDir: "store:x",
        storeUrl: "file://x",
        keep: 1,
        keepDaily: 0,
        keepWeekly: 0,
        compression: "gzip",
        encrypted: false,
        snapshotPath: "/w/s.db",
        drillSnapshotPath: "/w/d.db",
        workDir: "/w",
        etcdImage: "e",
        endpoint: "https://127.0.0.1:2379",
        rcloneConnectTimeoutSeconds: 1,
        rcloneIoTimeoutSeconds: 1,
        rcloneRetries: 1,
    });
    // busybox's awk, as in the uploader image.
    const applets = fs.mkdtempSync(path.join(os.tmpdir(), "retention-applets-"));
    fs.symlinkSync(BUSYBOX, path.join(applets, "awk"));
    afterAll(() => fs.rmSync(applets, { recursive: true, force: true }));
    const fn = /\nretention_keep\(\) \{[\s\S]*?\n\}\n/.exec(script)?.[0];
    test("the function is in the rendered script", () => expect(fn).toBeDefined());

    // A small deterministic PRNG, so a failure reproduces.
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const cases = Array.from({ length: 40 }, () => {
        const count = 1 + Math.floor(random() * 60);
        const start = Date.UTC(2023, 11, 1) + Math.floor(random() * 400) * 86_400_000;
        const names = new Set<string>();
        for (let i = 0; i < count; i++) {
            const t = new Date(start + Math.floor(random() * 120 * 86_400_000)).toISOString().replace(/[-:]/g, "").slice(0, 15);
            names.add(name(`${t}Z`, i));
        }
        if (random() < 0.2) names.add("etcd-snapshot-unknown.db");
        return {
            names: [...names],
            policy: { keep: 1 + Math.floor(random() * 4), daily: Math.floor(random() * 8), weekly: Math.floor(random() * 6) },
        };
    });
    test.each(cases.map((c, i) => [i, c] as const))("random case %i", (_i, { names, policy }) => {
        const newestFirst = [...names].sort().reverse();
        const out = spawnSync(BUSYBOX, ["sh", "-c", `set -eu\n${fn}\nretention_keep`], {
            input: `${newestFirst.join("\n")}\n`,
            encoding: "utf8",
            env: { PATH: applets, KEEP: String(policy.keep), KEEP_DAILY: String(policy.daily), KEEP_WEEKLY: String(policy.weekly) },
        });
        expect(out.stderr).toBe("");
        expect(out.stdout.split("\n").filter(Boolean)).toEqual(retainedBackups(names, policy));
    });
});

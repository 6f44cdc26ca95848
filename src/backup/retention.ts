/**
 * Which good backups a retention policy keeps (pure). The uploader script's
 * `retention_keep` (awk, in uploader/retention.sh) is the same rule; a test runs both on
 * the same inputs.
 *
 * Tiers are counted like restic's --keep-daily / --keep-weekly: over the
 * newest days (weeks) that HAVE a good backup, not calendar days back from
 * now, so a long outage of the backup job never ages every backup out.
 * Days and ISO weeks are UTC, from the timestamp in the object name.
 */

import { backupNameDate } from "./store";

export interface RetentionPolicy {
    /** Keep the newest `keep` good backups (>= 1). */
    keep: number;
    /** Keep the newest backup of each of the newest `daily` days with a backup. Default 0. */
    daily?: number;
    /** Keep the newest backup of each of the newest `weekly` ISO weeks with a backup. Default 0. */
    weekly?: number;
}

/** Days since 1970-01-01 of a UTC calendar date. */
function epochDay(year: number, month: number, day: number): number {
    return Math.floor(Date.UTC(year, month - 1, day) / 86_400_000);
}

/** The UTC day and the ISO week (as the epoch day of its Monday) of a backup name; undefined when the name has no timestamp. */
export function backupDayAndWeek(name: string): { day: string; week: number } | undefined {
    const date = backupNameDate(name);
    if (!date) return undefined;
    const day = epochDay(date.year, date.month, date.day);
    const pad = (n: number, width: number) => String(n).padStart(width, "0");
    // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
    return { day: `${pad(date.year, 4)}${pad(date.month, 2)}${pad(date.day, 2)}`, week: day - ((day + 3) % 7) };
}

/**
 * The names to keep, newest first. `names` are good backups (any order);
 * names sort by time because the timestamp is fixed-width UTC. A name without
 * a timestamp is always kept: never delete what cannot be dated.
 */
export function retainedBackups(names: string[], policy: RetentionPolicy): string[] {
    const keep = policy.keep;
    if (!Number.isInteger(keep) || keep < 1) throw new Error(`retention keep must be an integer >= 1, got ${keep}`);
    const daily = policy.daily ?? 0;
    const weekly = policy.weekly ?? 0;
    const newestFirst = [...new Set(names)]
        .filter((n) => n !== "")
        .sort()
        .reverse();
    const days = new Set<string>();
    const weeks = new Set<number>();
    const kept: string[] = [];
    newestFirst.forEach((name, index) => {
        const when = backupDayAndWeek(name);
        if (!when) {
            kept.push(name);
            return;
        }
        let keepIt = index < keep;
        if (!days.has(when.day)) {
            days.add(when.day);
            if (days.size <= daily) keepIt = true;
        }
        if (!weeks.has(when.week)) {
            weeks.add(when.week);
            if (weeks.size <= weekly) keepIt = true;
        }
        if (keepIt) kept.push(name);
    });
    return kept;
}

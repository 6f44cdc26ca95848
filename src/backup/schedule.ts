/**
 * How often a backup CronJob runs (pure): the longest gap between two runs of
 * a cron schedule, which sizes the "no successful backup" alert.
 */
import { InputError } from "../errors";
import { validateSchedule } from "./validate";

const MACRO_FIELDS: Record<string, string> = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
};
const NAMES: Record<number, string[]> = {
    3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};
const BOUNDS: [number, number][] = [
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12],
    [0, 7],
];

/** The values one (already validated) cron field allows. */
function fieldValues(field: string, index: number): { values: Set<number>; star: boolean } {
    const [min, max] = BOUNDS[index]!;
    const value = (text: string): number => {
        const named = NAMES[index]?.indexOf(text.toLowerCase()) ?? -1;
        return named >= 0 ? min + named : Number(text);
    };
    const values = new Set<number>();
    for (const item of field.split(",")) {
        const [range, stepText] = item.split("/");
        const step = stepText === undefined ? 1 : Number(stepText);
        let from: number;
        let to: number;
        if (range === "*" || range === "?") [from, to] = [min, max];
        else {
            const [low, high] = range!.split("-");
            from = value(low!);
            // "5/15" means 5-max step 15, as in Kubernetes' parser.
            to = high !== undefined ? value(high) : stepText !== undefined ? max : from;
        }
        for (let v = from; v <= to; v += step) values.add(index === 4 && v === 7 ? 0 : v);
    }
    return { values, star: field === "*" || field === "?" || field.startsWith("*/") || field.startsWith("?/") };
}

/**
 * The longest time between two consecutive runs of `schedule`, in seconds,
 * over two years from 2025-01-01 (long enough for @yearly and leap days).
 * Computed on the UTC calendar: with a time zone that has daylight saving the
 * real gap can be an hour longer or shorter (callers add that margin).
 */
export function longestScheduleGapSeconds(schedule: string): number {
    const text = validateSchedule(schedule);
    const fields = (MACRO_FIELDS[text] ?? text).split(/\s+/).map(fieldValues);
    const [minutes, hours, daysOfMonth, months, daysOfWeek] = fields as [
        ReturnType<typeof fieldValues>,
        ReturnType<typeof fieldValues>,
        ReturnType<typeof fieldValues>,
        ReturnType<typeof fieldValues>,
        ReturnType<typeof fieldValues>,
    ];
    const start = Date.UTC(2025, 0, 1);
    const dayMs = 86_400_000;
    let previous: number | undefined;
    let first: number | undefined;
    let longest = 0;
    for (let day = 0; day < 2 * 366; day++) {
        const date = new Date(start + day * dayMs);
        if (!months.values.has(date.getUTCMonth() + 1)) continue;
        const domMatch = daysOfMonth.values.has(date.getUTCDate());
        const dowMatch = daysOfWeek.values.has(date.getUTCDay());
        // cron: when both day fields are restricted, either one matching is enough.
        const dayMatches = daysOfMonth.star || daysOfWeek.star ? domMatch && dowMatch : domMatch || dowMatch;
        if (!dayMatches) continue;
        for (const hour of [...hours.values].sort((a, b) => a - b)) {
            for (const minute of [...minutes.values].sort((a, b) => a - b)) {
                const at = start + day * dayMs + (hour * 60 + minute) * 60_000;
                if (previous !== undefined) longest = Math.max(longest, at - previous);
                first ??= at;
                previous = at;
            }
        }
    }
    if (first === undefined || previous === first) {
        throw new InputError(
            "schedule",
            schedule,
            'the schedule never runs (or runs once in two years), so backups could never be fresh: give one that runs, e.g. "0 */6 * * *"',
        );
    }
    return longest / 1000;
}

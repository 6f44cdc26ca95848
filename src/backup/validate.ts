/** Validation of the scheduling inputs of a backup CronJob (pure). */
import { InputError } from "../errors";

const MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface CronField {
    name: string;
    min: number;
    max: number;
    /** Names accepted instead of numbers, the first meaning `min`. */
    names?: string[];
    /** "?" is accepted (day of month and day of week, as Kubernetes' parser does). */
    question?: boolean;
}

const FIELDS: CronField[] = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31, question: true },
    { name: "month", min: 1, max: 12, names: MONTHS },
    { name: "day of week", min: 0, max: 7, names: DAYS, question: true },
];

/** Why `item` is not valid in `field`, or undefined when it is. */
function cronItemProblem(item: string, field: CronField): string | undefined {
    const value = (text: string): number | undefined => {
        const named = field.names?.indexOf(text.toLowerCase()) ?? -1;
        if (named >= 0) return field.min + named;
        if (!/^\d+$/.test(text)) return undefined;
        return Number(text);
    };
    const inRange = (n: number | undefined): n is number => n !== undefined && n >= field.min && n <= field.max;
    const [range, step, extra] = item.split("/");
    if (extra !== undefined) return `"${item}" has two "/"`;
    if (step !== undefined && !(/^\d+$/.test(step) && Number(step) >= 1)) return `step "${step}" is not a positive number`;
    if (range === "*" || (range === "?" && field.question && step === undefined)) return undefined;
    const [low, high, more] = range.split("-");
    if (more !== undefined) return `"${range}" is not a range a-b`;
    const from = value(low);
    if (!inRange(from)) return `"${low}" is outside ${field.min}-${field.max}`;
    if (high === undefined) return undefined;
    const to = value(high);
    if (!inRange(to)) return `"${high}" is outside ${field.min}-${field.max}`;
    if (to < from) return `range "${range}" runs backwards`;
    return undefined;
}

/** A 5-field cron expression (or one of Kubernetes' @macros) the CronJob controller accepts. */
export function validateSchedule(schedule: unknown): string {
    const fix =
        'give 5 fields "minute hour day-of-month month day-of-week", e.g. "0 */6 * * *", or @hourly/@daily/@weekly/@monthly/@yearly';
    if (typeof schedule !== "string" || schedule.trim() === "") throw new InputError("schedule", schedule, fix);
    const text = schedule.trim();
    if (/^(CRON_)?TZ=/.test(text))
        throw new InputError("schedule", schedule, "put the time zone in the timeZone argument, not in the schedule");
    if (text.startsWith("@")) {
        if (MACROS.includes(text)) return text;
        throw new InputError("schedule", schedule, fix);
    }
    const parts = text.split(/\s+/);
    if (parts.length !== 5) throw new InputError("schedule", schedule, `${fix} (got ${parts.length} fields)`);
    parts.forEach((part, index) => {
        const field = FIELDS[index]!;
        for (const item of part.split(",")) {
            const problem = cronItemProblem(item, field);
            if (problem) throw new InputError("schedule", schedule, `${field.name} field: ${problem}; ${fix}`);
        }
    });
    return parts.join(" ");
}

/** An IANA time zone name, exactly as the tz database spells it (Kubernetes is case-sensitive). */
export function validateTimeZone(timeZone: unknown): string {
    const fix = 'give an IANA time zone name such as "Etc/UTC", "Europe/Berlin" or "Asia/Shanghai"';
    if (typeof timeZone !== "string" || timeZone === "") throw new InputError("timeZone", timeZone, fix);
    let resolved: string;
    try {
        resolved = new Intl.DateTimeFormat("en-US", { timeZone }).resolvedOptions().timeZone;
    } catch {
        throw new InputError("timeZone", timeZone, fix);
    }
    // Intl accepts any letter case; the tz database files Kubernetes reads do not.
    if (resolved !== timeZone && resolved.toLowerCase() === timeZone.toLowerCase()) {
        throw new InputError("timeZone", timeZone, `time zone names are case-sensitive: use "${resolved}"`);
    }
    // Offsets like "+01:00" are accepted by Intl but are not tz database names.
    if (!/^[A-Za-z]/.test(timeZone)) throw new InputError("timeZone", timeZone, fix);
    return timeZone;
}

/**
 * The one option an argument made of optional siblings holds (storage: exactly one of s3, sftp,
 * hostPath and pvc; certificates: of preset, hostPath and secret): its key. Absent or null keys
 * do not count. Errors name the argument and the keys given, never their values (credentials).
 */
export function exactlyOneOf<K extends string>(argument: string, value: unknown, options: readonly K[], example: string): K {
    const choices = `exactly one of ${options.join(", ")}`;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new InputError(argument, Array.isArray(value) ? "an array" : value, `give an object with ${choices}, e.g. ${example}`);
    }
    const given = Object.keys(value).filter((key) => (value as Record<string, unknown>)[key] != null);
    const unknown = given.filter((key) => !(options as readonly string[]).includes(key));
    if (unknown.length > 0) {
        throw new InputError(argument, given, `${unknown.map((key) => JSON.stringify(key)).join(", ")} is not an option: give ${choices}`);
    }
    if (given.length === 0) throw new InputError(argument, {}, `give ${choices}, e.g. ${example}`);
    if (given.length > 1) throw new InputError(argument, given, `give ${choices}, not ${given.length}: keep one and remove the others`);
    return given[0] as K;
}

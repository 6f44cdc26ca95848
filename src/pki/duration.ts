import { PkiInputError } from "./cfssl-types";

/**
 * Go's `time.ParseDuration`, which cfssl uses for `expiry` and `backdate`:
 * a possibly signed sequence of decimal numbers, each with optional fraction
 * and a unit suffix ("87600h", "8760h30m", "1.5h", "-5m", "300ms").
 * Valid units: ns, us (or µs), ms, s, m, h. Returns milliseconds.
 */

const NANOS_PER_UNIT: Record<string, bigint> = {
    ns: 1n,
    us: 1_000n,
    "\u00b5s": 1_000n, // micro sign
    "\u03bcs": 1_000n, // Greek mu
    ms: 1_000_000n,
    s: 1_000_000_000n,
    m: 60n * 1_000_000_000n,
    h: 3600n * 1_000_000_000n,
};

/** Go durations are int64 nanoseconds (about 2,562,047 hours). */
const MAX_NANOS = (1n << 63n) - 1n;

const FIX = 'write a Go duration such as "87600h", "8760h30m" or "1.5h" (units ns, us, ms, s, m, h)';

export function parseGoDuration(s: string, argument = "duration"): number {
    if (typeof s !== "string") throw new PkiInputError(argument, s, FIX);
    const nanos = parseDurationNanos(s, argument);
    return Number(nanos) / 1e6;
}

function parseDurationNanos(input: string, argument: string): bigint {
    const fail = (): never => {
        throw new PkiInputError(argument, input, FIX);
    };
    let s = input;
    let negative = false;
    if (s.startsWith("-") || s.startsWith("+")) {
        negative = s[0] === "-";
        s = s.slice(1);
    }
    if (s === "0") return 0n;
    if (s === "") fail();
    let total = 0n;
    while (s !== "") {
        const match = /^(\d*)(?:\.(\d*))?/.exec(s)!;
        const [whole, intPart, fracPart = ""] = match;
        if (intPart === "" && fracPart === "") fail(); // Go: needs a digit before or after the dot
        s = s.slice(whole.length);
        const unitMatch = /^[^\d.]+/.exec(s);
        if (!unitMatch) fail(); // Go: "missing unit in duration"
        const unit = unitMatch![0];
        const perUnit = NANOS_PER_UNIT[unit];
        if (perUnit === undefined) fail(); // Go: "unknown unit"
        s = s.slice(unit.length);
        total += componentNanos(intPart, fracPart, perUnit);
        if (total > MAX_NANOS) fail(); // Go: "invalid duration" (overflow)
    }
    return negative ? -total : total;
}

/** int.frac × unit, truncated to whole nanoseconds as Go does. */
function componentNanos(intPart: string, fracPart: string, perUnit: bigint): bigint {
    const whole = intPart === "" ? 0n : BigInt(intPart);
    if (fracPart === "") return whole * perUnit;
    const scale = 10n ** BigInt(fracPart.length);
    return whole * perUnit + (BigInt(fracPart) * perUnit) / scale;
}

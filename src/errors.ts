/**
 * Bad input found by a plan function. The message always names the argument,
 * the bad value and the fix, so components can rethrow it unchanged as a
 * `pulumi.ResourceError` before anything is created.
 */
export class InputError extends Error {
    constructor(
        readonly argument: string,
        readonly value: unknown,
        readonly fix: string,
    ) {
        super(`${argument}: ${describeValue(value)} — ${fix}`);
        this.name = "InputError";
    }
}

function describeValue(value: unknown): string {
    if (value === undefined) return "missing";
    const text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

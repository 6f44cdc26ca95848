// Shared by the restore and migration unit tests: step lookups on a plan's
// step list, and the check that bad input fails with an InputError naming
// argument and fix.
import { InputError } from "../../src/errors";
import { RestoreStep } from "../../src/restore/plan";

export const ids = (steps: RestoreStep[]) => steps.map((s) => s.id);

export const step = (steps: RestoreStep[], id: string): RestoreStep => {
    const found = steps.find((s) => s.id === id);
    if (!found) throw new Error(`no step ${id} in ${ids(steps).join(", ")}`);
    return found;
};

/** Every step's transitive dependencies. */
export function ancestors(steps: RestoreStep[], id: string): Set<string> {
    const seen = new Set<string>();
    const visit = (current: string) => {
        for (const dep of step(steps, current).dependsOn) {
            if (!seen.has(dep)) {
                seen.add(dep);
                visit(dep);
            }
        }
    };
    visit(id);
    return seen;
}

export function expectInputError(fn: () => unknown, argument: string, fix: RegExp): void {
    try {
        fn();
    } catch (error) {
        expect(error).toBeInstanceOf(InputError);
        expect((error as InputError).argument).toBe(argument);
        expect((error as InputError).fix).toMatch(fix);
        return;
    }
    throw new Error(`expected an InputError on ${argument}`);
}

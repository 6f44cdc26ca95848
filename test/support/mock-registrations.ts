/**
 * Resource registration under Pulumi mocks is asynchronous: a constructor
 * returns (or throws) before its children reach the mock monitor. A check that
 * "nothing was registered" must wait for the runtime's queue of resource RPCs
 * to drain first, or it passes however many children were started.
 */
// The runtime's own drain (what disconnect() awaits); internal, so looked up and checked.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs?: () => Promise<void> };

/** Resolves once every resource registration started so far has reached the mocks. */
export async function registrationsSettled(): Promise<void> {
    if (typeof settings.waitForRPCs !== "function") {
        throw new Error(
            "@pulumi/pulumi/runtime/settings has no waitForRPCs: the pinned @pulumi/pulumi changed; update test/support/mock-registrations.ts",
        );
    }
    // Registrations can start from resolved Outputs after the queue drained once: drain until nothing new starts.
    for (let round = 0; round < 3; round++) {
        await settings.waitForRPCs();
        await new Promise((resolve) => setImmediate(resolve));
    }
}

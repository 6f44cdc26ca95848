/**
 * Pulumi mocks that record every registered resource (inputs unwrapped, and
 * as the engine receives them, secrets still wrapped) and answer dynamic
 * resources (our certificates) with placeholder PEMs. Call before the
 * component modules load.
 */
import * as pulumi from "@pulumi/pulumi";

import { SECRET_SIG } from "./secret-marker";

export { SECRET_SIG };

export interface Registered {
    type: string;
    name: string;
    inputs: Record<string, any>;
    /** Inputs as the engine receives them (secrets still wrapped). */
    wire: Record<string, any>;
}

/** The value with every secret wrapper removed. */
export const unwrapSecrets = (v: any): any =>
    v && typeof v === "object"
        ? v[SECRET_SIG]
            ? unwrapSecrets(v.value)
            : Array.isArray(v)
              ? v.map(unwrapSecrets)
              : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]))
        : v;

/** Installs the mocks for `project`/`stack`; `extraState` adds outputs per resource. Returns the (live) record. */
export function installRecordingMocks(
    project: string,
    stack: string,
    extraState: (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown> = () => ({}),
): Registered[] {
    const registered: Registered[] = [];
    pulumi.runtime.setMocks(
        {
            newResource(args) {
                registered.push({ type: args.type, name: args.name, inputs: unwrapSecrets(args.inputs), wire: args.inputs });
                const state: Record<string, unknown> = { ...args.inputs };
                if (args.type.startsWith("pulumi-nodejs:dynamic")) {
                    Object.assign(state, {
                        certPem: `CERT(${args.name})`,
                        keyPem: `SECRET-KEY(${args.name})`,
                        csrPem: "",
                        notAfter: "2099-01-01T00:00:00Z",
                        serialNumber: "01",
                    });
                }
                // The docker provider records the exit code of a one-shot (attach) container it ran.
                if (args.type === "docker:index/container:Container" && args.inputs.attach) state.exitCode = 0;
                Object.assign(state, extraState(args));
                return { id: `${args.name}-id`, state };
            },
            call: (args) => args.inputs,
        },
        project,
        stack,
        false,
    );
    return registered;
}

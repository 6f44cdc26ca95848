import * as pulumi from "@pulumi/pulumi";
import { InputError } from "./errors";

/** Type tokens in the form multi-language component packages require. */
export function typeToken(className: string): string {
    return `etcd-recovery:index:${className}`;
}

/**
 * Runs a pure plan function inside a component's constructor; bad input
 * becomes a ResourceError on the component, so it fails before any child exists.
 */
export function planOrFail<T>(component: pulumi.Resource, plan: () => T): T {
    try {
        return plan();
    } catch (error) {
        if (error instanceof InputError || (error instanceof Error && error.name.endsWith("InputError"))) {
            throw new pulumi.ResourceError(error.message, component);
        }
        throw error;
    }
}

/**
 * One-shot containers (a snapshot restore, a snapshot check) and the
 * containers that must not start unless they succeeded.
 *
 * The docker provider runs a one-shot container (`attach: true, mustRun:
 * false`) to its end and only records the exit code: a restore that exits 1
 * does not fail `pulumi up`, and etcd would start on an empty data dir. So
 * each container that starts after one-shots carries a label whose value is
 * computed from their exit codes; computing it fails the deployment, before
 * that container is created, when one of them did not exit 0.
 */

/** Label on a container that starts after one-shots; its value names them. */
export const ONE_SHOTS_SUCCEEDED_LABEL = "etcd-recovery.after-succeeded";

export interface OneShotResult {
    /** Container name. */
    name: string;
    /** Exit code as the provider recorded it; undefined when it recorded none. */
    exitCode: number | undefined;
}

/** Why `container` must not start, or undefined when every one-shot before it exited 0. */
export function oneShotFailure(container: string, results: OneShotResult[]): string | undefined {
    const failed = results.filter((r) => r.exitCode !== 0);
    if (failed.length === 0) return undefined;
    const what = failed.map((r) => `${r.name} ${r.exitCode === undefined ? "recorded no exit code" : `exited with code ${r.exitCode}`}`);
    const logs = failed.map((r) => `docker logs ${r.name}`).join("; ");
    return `${container} was not started: ${what.join(", ")} (see ${logs}). Nothing was started on its result; fix the cause and run the update again.`;
}

/** The label value once every one-shot succeeded: their names, so a change of them shows in a diff. */
export function oneShotsSucceededValue(results: OneShotResult[]): string {
    return results.map((r) => r.name).join(",");
}

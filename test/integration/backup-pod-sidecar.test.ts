// pod-to-docker runs native sidecars (init containers with restartPolicy Always) the way the
// kubelet does, which the EtcdBackup pod's transfer sidecar relies on: started in order, running
// beside the later init containers and the containers, restarted when they exit, stopped with
// SIGTERM after the containers, their exit codes not deciding the pod's result, and their logs kept
// in a failed pod's output. Checked with
// small shell containers (uploader image) that write what they see into a shared host directory.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { dockerAvailable, removeByLabel } from "../harness/docker";
import { UPLOADER_IMAGE, requireImages } from "../support/images";
import { K8sPodSpec, PodRun, expectPodFailed, runPod } from "../support/pod-to-docker";

jest.setTimeout(120_000);

const RUN_PREFIX = "it-pod-sidecar";
let workDir: string;
let runCounter = 0;
const runs: PodRun[] = [];

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(UPLOADER_IMAGE);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "pod-sidecar-"));
});

afterAll(async () => {
    for (const run of runs) if (run.succeeded) await run.live.destroy();
    for (let i = 1; i <= runCounter; i++) await removeByLabel(`${RUN_PREFIX}-${process.pid}-${i}`);
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

const sh = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
    name,
    image: UPLOADER_IMAGE,
    command: ["/bin/sh", "-c", script],
    volumeMounts: [{ name: "shared", mountPath: "/w" }],
    ...extra,
});

/** A sidecar that exits 3 on its first start (so it must be restarted), then runs until SIGTERM and exits with `termExit`. */
const sidecar = (termExit: number) =>
    sh(
        "side",
        `echo side-says-hello
echo side-start >> /w/order
if [ "$(grep -c side-start /w/order)" -eq 1 ]; then exit 3; fi
trap 'echo side-term >> /w/order; exit ${termExit}' TERM
while :; do sleep 1 & wait $!; done`,
        { restartPolicy: "Always" },
    );

async function run(pod: Omit<K8sPodSpec, "hostNetwork" | "volumes">): Promise<{ result: PodRun; order: string[] }> {
    const dir = fs.mkdtempSync(path.join(workDir, "shared-"));
    const runId = `${RUN_PREFIX}-${process.pid}-${++runCounter}`;
    const result = await runPod(
        { hostNetwork: true, terminationGracePeriodSeconds: 5, volumes: [{ name: "shared", hostPath: { path: "/shared" } }], ...pod },
        { secrets: {}, configMaps: {}, hostPaths: { "/shared": dir } },
        runId,
        runId,
        90_000,
    );
    runs.push(result);
    const orderFile = path.join(dir, "order");
    return { result, order: fs.existsSync(orderFile) ? fs.readFileSync(orderFile, "utf8").split("\n").filter(Boolean) : [] };
}

test("a sidecar starts in order, is restarted when it exits, runs beside the later init container and the container, and gets SIGTERM after them", async () => {
    const { result, order } = await run({
        initContainers: [
            sh("first", "echo first >> /w/order"),
            sidecar(0),
            // Only passes if the sidecar was restarted and is running beside this init container.
            sh("second", `until [ "$(grep -c side-start /w/order)" -ge 2 ]; do sleep 0.1; done; echo second >> /w/order`),
        ],
        containers: [sh("main", "sleep 0.5; echo main-done >> /w/order")],
    });
    if (!result.succeeded) throw new Error(result.output);
    expect(order).toEqual(["first", "side-start", "side-start", "second", "main-done", "side-term"]);
    const side = await result.live.inspect(`${result.live.runId}-side`);
    expect(side.RestartCount).toBe(1);
    expect(side.State.Running).toBe(false);
});

test("a sidecar's exit code at the end does not fail the pod", async () => {
    const main = sh("main", `until [ "$(grep -c side-start /w/order)" -ge 2 ]; do sleep 0.1; done; echo main-done >> /w/order`);
    const { result, order } = await run({ initContainers: [sidecar(7)], containers: [main] });
    expect(result.succeeded).toBe(true);
    expect(order).toEqual(["side-start", "side-start", "main-done", "side-term"]);
});

test("an init container failing after a sidecar fails the pod there; the container never starts", async () => {
    const { result, order } = await run({
        initContainers: [
            sidecar(0),
            // The pause lets the runner's log follow of the sidecar's second start attach before the pod fails.
            sh(
                "check",
                `until [ "$(grep -c side-start /w/order)" -ge 2 ]; do sleep 0.1; done; sleep 2; echo check-fails >> /w/order; exit 4`,
            ),
        ],
        containers: [sh("main", "echo main-done >> /w/order")],
    });
    expectPodFailed(result);
    expect(result.failedContainer).toBe("check");
    expect(result.exitCode).toBe(4);
    expect(order).not.toContain("main-done");
    // What the sidecar logged (both starts, the last one just before the failure) stays in the output,
    // as `kubectl logs -c side` shows it on the failed pod.
    const sidecarLog = result.output.split(`--- last log lines of sidecar ${result.plan.containers[0]!.name}:\n`)[1] ?? "";
    expect(sidecarLog.match(/side-says-hello/g)).toHaveLength(2);
});

test("restartPolicy other than Always on an init container, or any on a container, is refused", async () => {
    await expect(
        run({ initContainers: [sh("x", "true", { restartPolicy: "OnFailure" })], containers: [sh("main", "true")] }),
    ).rejects.toThrow(/only "Always"/);
    await expect(run({ containers: [sh("main", "true", { restartPolicy: "Always" })] })).rejects.toThrow(/init containers only/);
});

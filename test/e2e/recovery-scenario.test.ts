// The main job as a test (seed 000, mode "single"): the same steps as
// `bash scripts/demo` (scripts/demo-scenario.ts), run once in beforeAll with
// their printed lines captured, then checked: the backup really came from the
// EtcdBackup pod, the diff names exactly what the incident did, the objects
// restored to production equal the originals except server-set fields, the
// output names every step and holds no secret, and nothing is left behind.
// Mode "replica" does not exist yet in planRecoveryEnvironment, so only "single" runs.
import { createHash } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";

import { freeTestSubnet, uniqueName } from "../harness/docker";
import { run } from "../harness/exec";
import {
    CHANGED,
    MISSING,
    SAME,
    STEPS,
    Scenario,
    WATCHED,
    comparable,
    describeWatched,
    runIds,
    runScenario,
} from "../../scripts/demo-scenario";

// Generous on a busy 2-core machine: production start, a backup pod, a cold kube-apiserver on restored data.
const SCENARIO_TIMEOUT_MS = 15 * 60_000;
jest.setTimeout(5 * 60_000);

// This run's own label: the Docker run ids, environment name and subnet derive from it, so another run beside it
// (CI beside a developer) neither collides with nor cleans up this one.
const LABEL = uniqueName("e2e-scenario");
const output: string[] = [];
let scenario: Scenario;

beforeAll(async () => {
    scenario = await runScenario({ label: LABEL, subnet: await freeTestSubnet(), print: (line) => output.push(line) });
}, SCENARIO_TIMEOUT_MS);

afterAll(async () => {
    await scenario?.cleanup();
    console.log([...output, ...(scenario ? scenario.summary() : [])].join("\n"));
});

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.setTimeout(3000);
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("timeout", () => (socket.destroy(), resolve(false)));
        socket.once("error", () => resolve(false));
    });
}

describe("seed 000 end to end, mode single: backup pod → incident → RecoveryEnvironment → diff → export → production", () => {
    test("the backup came from the EtcdBackup pod: object, .sha256 sidecar and metadata in the hostPath store", () => {
        const { backup, snapshot } = scenario.result;
        expect(backup.object).toMatch(/^etcd-snapshot-\d{8}T\d{6}Z-rev\d+\.db$/); // compression "none", the default
        const base = backup.object.replace(/\.db$/, "");
        expect(backup.files).toEqual([`${base}.json`, backup.object, `${backup.object}.sha256`, "latest.json"].sort());
        expect(snapshot.objectSha256).toBe(
            createHash("sha256")
                .update(fs.readFileSync(path.join(backup.directory, backup.object)))
                .digest("hex"),
        );
        expect(fs.readFileSync(path.join(backup.directory, `${backup.object}.sha256`), "utf8")).toBe(
            `${snapshot.objectSha256}  ${backup.object}\n`,
        );
        // The recovery environment read the same revision the pod recorded.
        expect(scenario.result.recovery.snapshotRevision).toBe(snapshot.revision);
        expect(fs.statSync(snapshot.snapshotPath).mode & 0o777).toBe(0o600);
    });

    test("the diff lists exactly what was deleted and changed, and nothing else", () => {
        const { diffBefore } = scenario.result;
        expect(diffBefore.exitCode).toBe(1);
        expect(diffBefore.states).toEqual({
            "Namespace shop": SAME,
            "CustomResourceDefinition widgets.example.com": SAME,
            "ConfigMap shop/app-config": MISSING,
            "Secret shop/db-credentials": MISSING,
            "Deployment shop/web": CHANGED,
            "Widget shop/blue": CHANGED,
        });
        expect(diffBefore.report).toContain("6 objects: 2 missing in live, 2 changed, 2 same, 0 only in live");
        // The per-object diff shows what the incident changed (- snapshot, + live).
        expect(diffBefore.report).toMatch(/- +replicas: 3\n +\+ +replicas: 1/);
        expect(diffBefore.report).toMatch(/- +image: shop\/web:1\.4\.2\n +\+ +image: shop\/web:2\.0\.0-rc1/);
        expect(diffBefore.report).toMatch(/- +color: blue\n +- +size: 3\n +\+ +color: red\n +\+ +size: 1/);
        expect(diffBefore.progress).toMatch(/snapshot \[6\/6\] widgets\.example\.com blue in shop: 1 object/);
    });

    test("what the diff found is exported to a 0600 apply-ready file and applied", () => {
        const { restore } = scenario.result;
        expect(restore.exported).toEqual([
            "ConfigMap shop/app-config",
            "Secret shop/db-credentials",
            "Deployment shop/web",
            "Widget shop/blue",
        ]);
        expect(fs.statSync(restore.exportFile).mode & 0o777).toBe(0o600);
        const yaml = fs.readFileSync(restore.exportFile, "utf8");
        expect(yaml).not.toMatch(/resourceVersion|uid:|creationTimestamp: '|managedFields|^status:/m);
        expect(restore.exportLog).toContain(`wrote 4 objects to ${restore.exportFile}`);
        expect(restore.applyLog).toMatch(/configmap\/app-config serverside-applied/);
    });

    test("every object in production equals its original except server-set fields (custom resource and Deployment included)", () => {
        const { originals, restored, diffAfter, secrets } = scenario.result;
        for (const object of WATCHED) {
            const name = describeWatched(object);
            expect({ name, object: comparable(restored[name]!) }).toEqual({ name, object: comparable(originals[name]!) });
        }
        // The deleted ones are new objects with the old content.
        for (const name of ["ConfigMap shop/app-config", "Secret shop/db-credentials"])
            expect(restored[name]!.metadata.uid).not.toBe(originals[name]!.metadata.uid);
        // The Secret went through encryption at rest in the snapshot and came back readable.
        expect(Buffer.from(restored["Secret shop/db-credentials"]!.data.password, "base64").toString("utf8")).toBe(secrets[0]);
        expect(restored["Deployment shop/web"]!.spec.replicas).toBe(3);
        expect(restored["Widget shop/blue"]!.spec).toEqual({ size: 3, color: "blue" });
        expect(diffAfter.exitCode).toBe(0);
        expect(Object.values(diffAfter.states)).toEqual(WATCHED.map(() => SAME));
    });

    test("clean-up removes every container, network, volume, the host guard rule, both API servers and the work directory", async () => {
        const { recovery, production, workDir } = scenario.result;
        const productionPort = Number(new URL(production.url).port);
        const etcdPort = Number(new URL(production.etcd.endpoints[0]!).port);
        expect(await listening(productionPort)).toBe(true);
        await run("iptables", ["-C", ...recovery.hostGuard.rule]);

        await scenario.cleanup();

        for (const runId of Object.values(runIds(LABEL))) {
            const filter = ["--filter", `label=etcd-recovery.run=${runId}`];
            expect((await run("docker", ["ps", "-a", ...filter, "--format", "{{.Names}}"])).stdout.trim()).toBe("");
            expect((await run("docker", ["network", "ls", ...filter, "--format", "{{.Name}}"])).stdout.trim()).toBe("");
            expect((await run("docker", ["volume", "ls", ...filter, "--format", "{{.Name}}"])).stdout.trim()).toBe("");
        }
        await expect(run("iptables", ["-C", ...recovery.hostGuard.rule])).rejects.toThrow(/iptables/);
        expect(await listening(productionPort)).toBe(false);
        expect(await listening(etcdPort)).toBe(false);
        expect(fs.existsSync(workDir)).toBe(false);
    });

    test("the printed output names every step with its time, and holds no secret", () => {
        const keys = Object.keys(STEPS) as (keyof typeof STEPS)[];
        keys.forEach((key, i) => {
            const label = `step ${i + 1}/${keys.length}`;
            expect(output.some((line) => line.includes(`${label}: ${STEPS[key]}`))).toBe(true);
            expect(output.some((line) => new RegExp(`${label} done in \\d+\\.\\d s`).test(line))).toBe(true);
        });
        expect(scenario.summary().join("\n")).toMatch(/\d+\.\d s +total/);
        const text = output.join("\n");
        for (const secret of scenario.result.secrets) expect(text).not.toContain(secret);
        expect(text).not.toContain(Buffer.from(scenario.result.secrets[0]!).toString("base64"));
        expect(text).not.toMatch(/PRIVATE KEY|client-key-data/);
    });
});

/**
 * EtcdBackup applied for real: `pulumi up` of the component through the real
 * kubernetes provider against the throw-away etcd + kube-apiserver, read back
 * with kubectl; credentials only as ciphertext in the state and only in the
 * store Secret in the cluster; a run-now Job from the CronJob is accepted;
 * destroy leaves nothing. (The pod itself cannot run here: there is no
 * kubelet; test/integration runs the same pod spec in Docker.)
 */
import * as path from "path";

import { planEtcdBackup } from "../../src/backup/plan";
import {
    BackupProgram,
    expectBackupObjectsGone,
    expectCredentialsOnlyInStoreSecret,
    expectSecretsOnlyAsCiphertext,
    startBackupProgram,
} from "../support/backup-program";

jest.setTimeout(10 * 60_000);

const FIXTURE_DIR = path.resolve(__dirname, "../fixtures/e2e/backup-cronjob");

let program: BackupProgram;

beforeAll(async () => {
    program = await startBackupProgram(FIXTURE_DIR, "e2e-backup", {
        s3AccessKeyId: "AKIA-e2e-5c1d9f",
        s3SecretAccessKey: "s3-secret-e2e-7b2e40a1",
        encryptionPassword: "crypt-e2e-3d8f1c22",
    });
});

afterAll(async () => {
    await program?.stop();
});

test("up creates the ServiceAccount, store Secret, script ConfigMap and CronJob the plan renders", async () => {
    const up = await program.stack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.outputs.cronJobName!.value).toBe("etcd-backup");
    expect(up.outputs.runNowCommand!.value).toBe(
        `kubectl create job --from=cronjob/etcd-backup etcd-backup-manual -n ${program.namespace}`,
    );

    const cronJob = await program.get("cronjob", "etcd-backup");
    expect(cronJob.spec).toMatchObject({ schedule: "0 */6 * * *", timeZone: "Europe/Berlin", concurrencyPolicy: "Forbid" });
    const pod = cronJob.spec.jobTemplate.spec.template.spec;
    expect(pod.initContainers.map((c: { name: string }) => c.name)).toEqual([
        "snapshot",
        "transfer",
        "verify",
        "await-transfer",
        "drill-status",
    ]);
    expect(pod.initContainers[1].restartPolicy).toBe("Always");
    // What the API server stored is the plan's pod (the plan with the test's values, defaults filled in by the server aside).
    const planned = planEtcdBackup({
        name: "etcd-backup",
        namespace: program.namespace,
        clusterName: "e2e",
        schedule: "0 */6 * * *",
        storage: { s3: { endpoint: "http://127.0.0.1:9000", bucket: "etcd-backups", accessKeyId: "x", secretAccessKey: "y" } },
        encryption: { password: "z" },
        keep: 3,
        restoreDrill: "status",
    });
    const plannedPod = (planned.cronJob as any).spec.jobTemplate.spec.template.spec;
    for (const [i, container] of plannedPod.initContainers.entries())
        expect(pod.initContainers[i]).toMatchObject({ command: container.command, image: container.image, resources: container.resources });

    await program.get("serviceaccount", "etcd-backup");
    await expectCredentialsOnlyInStoreSecret(program, "etcd-backup");
});

test("the kubeconfig key and every store credential are in the state only as ciphertext", async () => {
    await expectSecretsOnlyAsCiphertext(program, "etcd-backup");
});

test("preview afterwards changes nothing; a new schedule updates the CronJob in place", async () => {
    const preview = await program.stack.stack.preview({ expectNoChanges: true });
    expect(Object.entries(preview.changeSummary).filter(([op, count]) => op !== "same" && count > 0)).toEqual([]);
    await program.stack.stack.setConfig("schedule", { value: "*/30 * * * *" });
    const up = await program.stack.stack.up();
    expect(up.summary.resourceChanges).toMatchObject({ update: 1 });
    expect((await program.get("cronjob", "etcd-backup")).spec.schedule).toBe("*/30 * * * *");
});

test("the runNowCommand's Job is accepted by the API server", async () => {
    await program.api.kubectl(["create", "job", "--from=cronjob/etcd-backup", "etcd-backup-manual", "-n", program.namespace]);
    const job = await program.get("job", "etcd-backup-manual");
    expect(job.spec.template.spec.initContainers.map((c: { name: string }) => c.name)).toContain("verify");
    await program.api.kubectl(["delete", "job", "etcd-backup-manual", "-n", program.namespace]);
});

test("destroy removes every object", async () => {
    const destroy = await program.stack.stack.destroy();
    expect(destroy.summary.result).toBe("succeeded");
    await expectBackupObjectsGone(program, "etcd-backup");
});

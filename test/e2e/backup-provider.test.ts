/**
 * EtcdBackup applied for real: `pulumi up` of the component through the real
 * kubernetes provider against the throw-away etcd + kube-apiserver, read back
 * with kubectl; credentials only as ciphertext in the state and only in the
 * store Secret in the cluster; a run-now Job from the CronJob is accepted;
 * destroy leaves nothing. (The pod itself cannot run here: there is no
 * kubelet; test/integration runs the same pod spec in Docker.)
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";

import { planEtcdBackup } from "../../src/backup/plan";
import { KubeApi, startKubeApi } from "../support/kube-api";
import { listFiles, OfflineStack, offlineStack, requireResourcePlugin, uniqueStackName } from "../support/pulumi";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(10 * 60_000);

const FIXTURE_DIR = path.resolve(__dirname, "../fixtures/e2e/backup-cronjob");
const NAMESPACE = `e2e-backup-${crypto.randomBytes(3).toString("hex")}`;
const SECRETS = { s3AccessKeyId: "AKIA-e2e-5c1d9f", s3SecretAccessKey: "s3-secret-e2e-7b2e40a1", encryptionPassword: "crypt-e2e-3d8f1c22" };

let api: KubeApi;
let pulumiStack: OfflineStack;

beforeAll(async () => {
    requireResourcePlugin("kubernetes"); // before starting anything: fail fast with the fix
    api = await startKubeApi({ controllers: true }); // the garbage collector completes the provider's foreground deletes
    await api.kubectl(["create", "namespace", NAMESPACE]);
    pulumiStack = await offlineStack({
        workDir: FIXTURE_DIR,
        stackName: uniqueStackName("e2e-backup"),
        config: {
            kubeconfig: { value: api.kubeconfig, secret: true },
            namespace: { value: NAMESPACE },
            ...Object.fromEntries(Object.entries(SECRETS).map(([key, value]) => [key, { value, secret: true }])),
        },
    });
});

afterAll(async () => {
    if (pulumiStack) {
        await pulumiStack.stack.destroy().catch(() => undefined);
        await pulumiStack.cleanup();
    }
    if (api) await api.stop();
});

const get = async (kind: string, name: string) => JSON.parse(await api.kubectl(["get", kind, name, "-n", NAMESPACE, "-o", "json"]));

test("up creates the ServiceAccount, store Secret, script ConfigMap and CronJob the plan renders", async () => {
    const up = await pulumiStack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.outputs.cronJobName!.value).toBe("etcd-backup");
    expect(up.outputs.runNowCommand!.value).toBe(`kubectl create job --from=cronjob/etcd-backup etcd-backup-manual -n ${NAMESPACE}`);

    const cronJob = await get("cronjob", "etcd-backup");
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
        namespace: NAMESPACE,
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

    await get("serviceaccount", "etcd-backup");
    const configMap = await get("configmap", "etcd-backup-script");
    const secret = await get("secret", "etcd-backup-store");
    const rcloneConf = Buffer.from(secret.data["rclone.conf"], "base64").toString("utf8");
    expect(rcloneConf).toContain(`access_key_id = ${SECRETS.s3AccessKeyId}`);
    expect(rcloneConf).toContain(`secret_access_key = ${SECRETS.s3SecretAccessKey}`);
    expect(rcloneConf).not.toContain(SECRETS.encryptionPassword); // obscured
    for (const value of Object.values(SECRETS)) {
        expect(JSON.stringify(configMap)).not.toContain(value);
        expect(JSON.stringify(cronJob)).not.toContain(value);
    }
});

test("the kubeconfig key and every store credential are in the state only as ciphertext", async () => {
    const clientKeyData = /client-key-data: (\S+)/.exec(api.kubeconfig)?.[1];
    expect(clientKeyData?.length).toBeGreaterThan(100);
    const exported = await pulumiStack.readState();
    expect(exported).toContain("etcd-backup-script"); // positive control: this is the stack's state
    expect(exported).toContain(SECRET_SIG); // the secrets are there, encrypted
    expect(exported).not.toMatch(/PRIVATE KEY/);
    for (const file of listFiles(pulumiStack.stateDir)) {
        const raw = fs.readFileSync(file);
        const text = file.endsWith(".gz") ? zlib.gunzipSync(raw).toString("utf8") : raw.toString("utf8");
        for (const secret of [clientKeyData!, ...Object.values(SECRETS)])
            expect({ file, leaks: text.includes(secret) }).toEqual({ file, leaks: false });
    }
});

test("preview afterwards changes nothing; a new schedule updates the CronJob in place", async () => {
    const preview = await pulumiStack.stack.preview({ expectNoChanges: true });
    expect(Object.entries(preview.changeSummary).filter(([op, count]) => op !== "same" && count > 0)).toEqual([]);
    await pulumiStack.stack.setConfig("schedule", { value: "*/30 * * * *" });
    const up = await pulumiStack.stack.up();
    expect(up.summary.resourceChanges).toMatchObject({ update: 1 });
    expect((await get("cronjob", "etcd-backup")).spec.schedule).toBe("*/30 * * * *");
});

test("the runNowCommand's Job is accepted by the API server", async () => {
    await api.kubectl(["create", "job", "--from=cronjob/etcd-backup", "etcd-backup-manual", "-n", NAMESPACE]);
    const job = await get("job", "etcd-backup-manual");
    expect(job.spec.template.spec.initContainers.map((c: { name: string }) => c.name)).toContain("verify");
    await api.kubectl(["delete", "job", "etcd-backup-manual", "-n", NAMESPACE]);
});

test("destroy removes every object", async () => {
    const destroy = await pulumiStack.stack.destroy();
    expect(destroy.summary.result).toBe("succeeded");
    for (const [kind, name] of [
        ["cronjob", "etcd-backup"],
        ["secret", "etcd-backup-store"],
        ["configmap", "etcd-backup-script"],
        ["serviceaccount", "etcd-backup"],
    ]) {
        await expect(api.kubectl(["get", kind!, name!, "-n", NAMESPACE])).rejects.toThrow(/NotFound|not found/);
    }
});

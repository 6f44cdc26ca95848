/**
 * EtcdBackup on a real node: `pulumi up` through the real kubernetes provider
 * against a control plane that the real `kubeadm init` laid out
 * (test/support/kube-node.ts), the Jobs scheduled by the real kube-scheduler
 * onto the control-plane node (affinity + toleration of its taint) and run by
 * the real kubelet and containerd: native sidecar, Secret volumes, kubeadm's
 * hostPath certificates, host network to the etcd static pod. The store is a
 * real S3 server (MinIO) on the host's address of the node's network.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";

import { fetchSnapshotFromStore } from "../../src/recovery/store";
import { BackupFixture, restoreAndRead, snapshotStatus } from "../support/backup-fixture";
import { ETCD_35_IMAGE, UPLOADER_IMAGE } from "../support/images";
import { KubeNode, startKubeNode } from "../support/kube-node";
import { freePorts, waitFor } from "../support/processes";
import { listFiles, OfflineStack, offlineStack, requireResourcePlugin, uniqueStackName } from "../support/pulumi";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(20 * 60_000);

const RUN_ID = `kn-${crypto.randomBytes(3).toString("hex")}`;
const NAMESPACE = "etcd-backup";
const FIXTURE_DIR = path.resolve(__dirname, "../fixtures/e2e/backup-cronjob");
const ENCRYPTION_PASSWORD = `crypt-${crypto.randomBytes(6).toString("hex")}`;
const PROBE_VALUE = `probe-${crypto.randomBytes(6).toString("hex")}`;

let node: KubeNode;
let fixture: BackupFixture;
let s3: Awaited<ReturnType<BackupFixture["startMinio"]>>;
let pulumiStack: OfflineStack;
let workDir: string;

beforeAll(async () => {
    requireResourcePlugin("kubernetes");
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-kubelet-"));
    const started = Date.now();
    node = await startKubeNode({ runId: RUN_ID, images: [UPLOADER_IMAGE] });
    console.log(`kubeadm node ${node.name} Ready with its static pods in ${Date.now() - started} ms`);
    fixture = new BackupFixture(RUN_ID, workDir);
    s3 = await fixture.startMinio("etcd-backups", node.gatewayIp);
    await node.kubectl(["create", "namespace", NAMESPACE]);
    await node.kubectl(["-n", "default", "create", "configmap", "backup-probe", `--from-literal=value=${PROBE_VALUE}`]);
    pulumiStack = await offlineStack({
        workDir: FIXTURE_DIR,
        stackName: uniqueStackName("e2e-kubelet"),
        config: {
            kubeconfig: { value: node.kubeconfig, secret: true },
            namespace: { value: NAMESPACE },
            s3Endpoint: { value: s3.endpoint },
            s3AccessKeyId: { value: s3.accessKeyId, secret: true },
            s3SecretAccessKey: { value: s3.secretAccessKey, secret: true },
            encryptionPassword: { value: ENCRYPTION_PASSWORD, secret: true },
            etcdImage: { value: ETCD_35_IMAGE },
            uploaderImage: { value: UPLOADER_IMAGE },
            backoffLimit: { value: "0" },
        },
    });
});

afterAll(async () => {
    if (pulumiStack) {
        await pulumiStack.stack.destroy().catch(() => undefined);
        await pulumiStack.cleanup();
    }
    if (fixture) await fixture.cleanup();
    if (node) await node.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

type Pod = {
    metadata: { name: string };
    spec: {
        nodeName?: string;
        hostNetwork?: boolean;
        initContainers: { name: string; restartPolicy?: string }[];
        containers: { name: string }[];
    };
    status: { phase: string; initContainerStatuses?: ContainerStatus[]; containerStatuses?: ContainerStatus[] };
};
type ContainerStatus = { name: string; state: { terminated?: { exitCode: number; reason: string } } };

async function jobPods(job: string): Promise<Pod[]> {
    return JSON.parse(await node.kubectl(["-n", NAMESPACE, "get", "pods", "-l", `job-name=${job}`, "-o", "json"])).items;
}

/** Every container's log of the Job's pods and the pods' description: what a failure message needs. */
async function describeJob(job: string): Promise<string> {
    const logs = await node.kubectl(["-n", NAMESPACE, "logs", `job/${job}`, "--all-containers", "--prefix"]).catch((e: Error) => e.message);
    const describe = await node.kubectl(["-n", NAMESPACE, "describe", "pods", "-l", `job-name=${job}`]).catch((e: Error) => e.message);
    return `${logs}\n${describe}\n${await node.logTail()}`;
}

/** Waits for the Job's Complete or Failed condition; returns which. */
async function jobOutcome(job: string, timeoutMs: number): Promise<"Complete" | "Failed"> {
    let outcome: "Complete" | "Failed" | undefined;
    await waitFor(
        `job ${job} finishes`,
        async () => {
            const conditions: { type: string; status: string }[] =
                JSON.parse(await node.kubectl(["-n", NAMESPACE, "get", "job", job, "-o", "json"])).status.conditions ?? [];
            outcome = conditions.find((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True")?.type as typeof outcome;
            return outcome !== undefined;
        },
        { deadlineMs: timeoutMs, intervalMs: 2_000 },
    ).catch(async (error: Error) => {
        throw new Error(`${error.message}\n${await describeJob(job)}`);
    });
    return outcome!;
}

/** The raw objects (names encrypted by rclone crypt: the fixture encrypts), for before/after comparisons. */
const storeObjects = async () =>
    (await s3.rclone(["lsf", "-R", `minio:${s3.bucket}`]))
        .split("\n")
        .filter((line) => line && !line.endsWith("/"))
        .sort();

/** Every container's log of the Job's pods; containers that never started are skipped. */
async function jobLogs(job: string): Promise<string> {
    let logs = "";
    for (const pod of await jobPods(job)) {
        for (const container of [...pod.spec.initContainers, ...pod.spec.containers].map((c) => c.name)) {
            logs += await node.kubectl(["-n", NAMESPACE, "logs", pod.metadata.name, "-c", container]).catch(() => "");
        }
    }
    return logs;
}

test("up through the real provider; the run-now Job is scheduled onto the control-plane node and completed by the kubelet; the backup is sealed and restorable", async () => {
    const up = await pulumiStack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(await storeObjects()).toEqual([]);

    const started = Date.now();
    await node.kubectl(["-n", NAMESPACE, "create", "job", "--from=cronjob/etcd-backup", "manual-1"]);
    const outcome = await jobOutcome("manual-1", 300_000);
    if (outcome !== "Complete") throw new Error(`manual-1 ${outcome}:\n${await describeJob("manual-1")}`);
    console.log(`run-now Job completed in ${Date.now() - started} ms`);

    const [pod] = await jobPods("manual-1");
    expect(pod!.spec.nodeName).toBe(node.name); // the only node: tainted control-plane, so the toleration and affinity were honoured
    expect(pod!.spec.hostNetwork).toBe(true);
    expect(pod!.spec.initContainers.find((c) => c.name === "transfer")?.restartPolicy).toBe("Always");
    for (const status of [
        ...(pod!.status.initContainerStatuses ?? []).filter((s) => s.name !== "transfer"),
        ...(pod!.status.containerStatuses ?? []),
    ]) {
        expect({ container: status.name, exitCode: status.state.terminated?.exitCode }).toEqual({ container: status.name, exitCode: 0 });
    }
    const scheduled = JSON.parse(
        await node.kubectl([
            "-n",
            NAMESPACE,
            "get",
            "events",
            "--field-selector",
            `involvedObject.name=${pod!.metadata.name},reason=Scheduled`,
            "-o",
            "json",
        ]),
    ).items;
    expect(
        scheduled.map((e: { reportingComponent?: string; source?: { component?: string } }) => e.reportingComponent || e.source?.component),
    ).toContain("default-scheduler");

    expect((await storeObjects()).length).toBeGreaterThan(0);
    // fetch takes the newest *sealed* backup and checks it against its .sha256: finding one proves the seal.
    const fetched = await fetchSnapshotFromStore({
        store: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } },
        cluster: "e2e",
        encryption: { password: ENCRYPTION_PASSWORD },
        dir: fs.mkdtempSync(path.join(workDir, "fetched-")),
    });
    expect((await snapshotStatus(fetched.path)).totalKey).toBeGreaterThan(100); // a real cluster's keys, not an empty db
    expect(await restoreAndRead(workDir, fetched.path, "/registry/configmaps/default/backup-probe")).toContain(PROBE_VALUE);
});

test("the state holds the kubeconfig key, the store's secret key and the encryption password only as ciphertext", async () => {
    const clientKeyData = /client-key-data: (\S+)/.exec(node.kubeconfig)?.[1];
    expect(clientKeyData?.length).toBeGreaterThan(100);
    const secrets = [
        clientKeyData!,
        Buffer.from(clientKeyData!, "base64").toString("utf8"),
        s3.secretAccessKey,
        ENCRYPTION_PASSWORD,
        Buffer.from(ENCRYPTION_PASSWORD).toString("base64"),
    ];
    const state = await pulumiStack.readState();
    expect(state).toContain("etcd-backup-script"); // positive control: this is the stack's state, after up
    expect(state).toContain(SECRET_SIG); // the secrets are there, encrypted
    expect(state).not.toMatch(/PRIVATE KEY/);
    for (const [i, secret] of secrets.entries())
        expect({ secret: i, inState: state.includes(secret) }).toEqual({ secret: i, inState: false });
    // Every file of the state directory (backups and history included), not only the current state.
    for (const file of listFiles(pulumiStack.stateDir)) {
        const raw = fs.readFileSync(file);
        const text = file.endsWith(".gz") ? zlib.gunzipSync(raw).toString("utf8") : raw.toString("utf8");
        for (const [i, secret] of [...secrets, "PRIVATE KEY"].entries())
            expect({ file, secret: i, leaks: text.includes(secret) }).toEqual({ file, secret: i, leaks: false });
    }
});

test("a store that refuses connections fails the Job (kubectl sees condition Failed) and the store keeps what it had", async () => {
    const before = await storeObjects();
    const [closedPort] = await freePorts(1);
    await pulumiStack.stack.setConfig("s3Endpoint", { value: `http://${node.gatewayIp}:${closedPort}` });
    expect((await pulumiStack.stack.up()).summary.result).toBe("succeeded");

    await node.kubectl(["-n", NAMESPACE, "create", "job", "--from=cronjob/etcd-backup", "manual-broken-store"]);
    expect(await jobOutcome("manual-broken-store", 300_000)).toBe("Failed");
    const logs = await jobLogs("manual-broken-store");
    expect(logs).toMatch(/step=upload error=/);
    expect(logs).not.toMatch(/step=retention/);
    expect(await storeObjects()).toEqual(before);

    await pulumiStack.stack.setConfig("s3Endpoint", { value: s3.endpoint });
    expect((await pulumiStack.stack.up()).summary.result).toBe("succeeded");
});

test("two endpoints, the first refusing connections: the kubelet runs the etcd gateway as a native sidecar before the snapshot, the Job completes and seals from the node's member", async () => {
    const before = await storeObjects();
    // Nothing listens on 2378 in the node's network namespace (the pod's, with hostNetwork).
    const offered = ["https://127.0.0.1:2378", "https://127.0.0.1:2379"];
    await pulumiStack.stack.setConfig("endpoints", { value: JSON.stringify(offered) });
    expect((await pulumiStack.stack.up()).summary.result).toBe("succeeded");

    const started = Date.now();
    await node.kubectl(["-n", NAMESPACE, "create", "job", "--from=cronjob/etcd-backup", "manual-failover"]);
    const outcome = await jobOutcome("manual-failover", 300_000);
    if (outcome !== "Complete") throw new Error(`manual-failover ${outcome}:\n${await describeJob("manual-failover")}`);
    console.log(`failover Job completed in ${Date.now() - started} ms`);
    const [pod] = await jobPods("manual-failover");
    expect(pod!.spec.initContainers.slice(0, 3).map((c) => [c.name, c.restartPolicy])).toEqual([
        ["etcd-gateway", "Always"],
        ["snapshot", undefined],
        ["transfer", "Always"],
    ]);
    const gatewayLog = await node.kubectl(["-n", NAMESPACE, "logs", pod!.metadata.name, "-c", "etcd-gateway"]);
    expect(gatewayLog).toMatch(/"deactivated endpoint","address":"127\.0\.0\.1:2378".*connection refused/);
    expect((await storeObjects()).length).toBeGreaterThan(before.length);

    await pulumiStack.stack.removeConfig("endpoints");
    expect((await pulumiStack.stack.up()).summary.result).toBe("succeeded");
});

test("the CronJob fires on its schedule (the real cronjob controller) and the scheduled run seals a second backup", async () => {
    const before = await storeObjects();
    await pulumiStack.stack.setConfig("schedule", { value: "* * * * *" });
    const up = await pulumiStack.stack.up();
    expect(up.summary.resourceChanges).toMatchObject({ update: 1 });

    let scheduledJob = "";
    await waitFor(
        "a Job made by the cronjob controller",
        async () => {
            const jobs: { metadata: { name: string } }[] = JSON.parse(
                await node.kubectl(["-n", NAMESPACE, "get", "jobs", "-o", "json"]),
            ).items;
            scheduledJob = jobs.map((j) => j.metadata.name).find((name) => /^etcd-backup-\d+$/.test(name)) ?? "";
            return scheduledJob !== "";
        },
        { deadlineMs: 150_000, intervalMs: 2_000 },
    );
    expect(await jobOutcome(scheduledJob, 300_000)).toBe("Complete");
    expect((await storeObjects()).length).toBeGreaterThan(before.length);
});

test("destroy removes the CronJob, its Jobs (garbage collector) and the rest", async () => {
    const destroy = await pulumiStack.stack.destroy();
    expect(destroy.summary.result).toBe("succeeded");
    for (const [kind, name] of [
        ["cronjob", "etcd-backup"],
        ["secret", "etcd-backup-store"],
        ["configmap", "etcd-backup-script"],
        ["serviceaccount", "etcd-backup"],
    ]) {
        await expect(node.kubectl(["-n", NAMESPACE, "get", kind!, name!])).rejects.toThrow(/NotFound|not found/);
    }
    await waitFor(
        "the Jobs are garbage-collected",
        async () => (await node.kubectl(["-n", NAMESPACE, "get", "jobs", "-o", "name"])).trim() === "",
        { deadlineMs: 120_000, intervalMs: 2_000 },
    );
});

test("the importer reads the static pod manifests kubeadm init wrote", async () => {
    const { fromKubeadmManifests } = await import("../../src/recovery/import/kubeadm");
    const read = async (name: string) => ({
        yaml: await node.readFile(`/etc/kubernetes/manifests/${name}.yaml`),
        fileName: `${name}.yaml`,
    });
    const cluster = fromKubeadmManifests(await read("etcd"), await read("kube-apiserver"));
    // What renderKubeadmConfig asked kubeadm for, as kubeadm spelled it out in the manifests.
    expect(cluster).toMatchObject({
        etcd: {
            version: "3.5.35",
            image: "registry.k8s.io/etcd:3.5.35",
            members: [
                { name: node.name, peerUrls: [`https://${node.ip}:2380`], clientUrls: expect.arrayContaining([`https://${node.ip}:2379`]) },
            ],
        },
        kubeApiserver: { version: "1.34.4", image: "registry.k8s.io/kube-apiserver:v1.34.4" },
        etcdPrefix: "/registry",
        serviceClusterIpRange: "10.96.0.0/12",
    });
    expect(cluster.kubeApiserver.args).toEqual(
        expect.arrayContaining(["--etcd-servers=https://127.0.0.1:2379", "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt"]),
    );
});

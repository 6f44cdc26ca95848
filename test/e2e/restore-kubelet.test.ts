/**
 * ControlPlaneRestore (kubeadm layout) on a real node: the control plane that
 * the real `kubeadm init` laid out (test/support/kube-node.ts), its static pods
 * run by the real kubelet and containerd. The restore runs under the real
 * Pulumi engine over real SSH to the node, with the kubeadm preset's own
 * commands: the manifests are moved aside, the real kubelet stops the pods,
 * etcdutl restores the snapshot, the manifests come back and the kubelet starts
 * the pods again. The restored kube-apiserver must serve the snapshot's view.
 *
 * The node is what a user's kubeadm node is, less systemd: etcdutl and etcdctl
 * 3.5 in /usr/local/bin (the preset's paths), Debian's sshd, and a systemctl
 * whose `restart kubelet` ends the kubelet for the node's restart loop.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { KubeNode, startKubeNode } from "../support/kube-node";
import { sshKeygen } from "../support/kubelet-standin";
import { waitFor } from "../support/processes";
import { OfflineStack, offlineStack, uniqueStackName } from "../support/pulumi";
import { keyForms, leaks, startProcSampler } from "../support/proc-sampler";
import { SECRET_SIG } from "../support/secret-marker";

jest.setTimeout(20 * 60_000);

const RUN_ID = `kr-${crypto.randomBytes(3).toString("hex")}`;
const FIXTURE_DIR = path.resolve(__dirname, "../fixtures/e2e/restore");
const NAMESPACE = "restore-e2e";
const SNAPSHOT = "/root/etcd-snapshot.db";
const WATCH_LOG = "/var/log/restore-watch.log";
/** kubeadm's etcd client certificate for health checks, the one the preset's etcdctl uses. */
const ETCDCTL = [
    "/usr/local/bin/etcdctl",
    "--endpoints=https://127.0.0.1:2379",
    "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
    "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt",
    "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key",
];
// kube-root-ca.crt: what the real kube-controller-manager publishes in every namespace, at once.
const SERVED_IN_SNAPSHOT = ["deleted-after-snapshot", "kept", "kube-root-ca.crt"];
const SERVED_AFTER_SNAPSHOT = ["created-after-snapshot", "kept", "kube-root-ca.crt"];

let node: KubeNode;
let workDir: string;
let clientKey: { privateKey: string; publicKey: string };
let hostKey: { privateKey: string; publicKey: string };
let snapshotSha256: string;
const stacks: OfflineStack[] = [];

async function sh(script: string): Promise<string> {
    const result = await node.exec(["sh", "-euc", script]);
    if (result.exitCode !== 0) throw new Error(`${node.name}: ${script} exited ${result.exitCode}: ${result.stderr}${result.stdout}`);
    return result.stdout;
}

/** The PID of the process named `name` in the node (a static pod's), or "" when none runs. */
async function pidOf(name: string): Promise<string> {
    return (await node.exec(["pgrep", "-x", name])).stdout.trim();
}

/** The config maps kube-apiserver serves in NAMESPACE, and the resourceVersion of that list. */
async function configMapsServed(): Promise<{ names: string[]; resourceVersion: number }> {
    const list = JSON.parse(await node.kubectl(["get", `--raw=/api/v1/namespaces/${NAMESPACE}/configmaps`])) as {
        metadata: { resourceVersion: string };
        items: { metadata: { name: string } }[];
    };
    return { names: list.items.map((i) => i.metadata.name).sort(), resourceVersion: Number(list.metadata.resourceVersion) };
}

async function restoreStack(prefix: string): Promise<OfflineStack> {
    const stack = await offlineStack({
        workDir: FIXTURE_DIR,
        stackName: uniqueStackName(prefix),
        config: {
            privateKey: { value: clientKey.privateKey, secret: true },
            // kubeadm names the etcd member after the node.
            nodes: {
                value: JSON.stringify([
                    { name: node.name, address: node.ip, role: "both", etcdMemberName: node.name, hostKey: hostKey.publicKey },
                ]),
            },
            layout: { value: "kubeadm" },
            snapshotPath: { value: SNAPSHOT },
            snapshotSha256: { value: snapshotSha256 },
            etcdVersion: { value: "3.5.35" },
            mode: { value: "all-members" },
        },
    });
    stacks.push(stack);
    return stack;
}

beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "restore-kubelet-"));
    const started = Date.now();
    node = await startKubeNode({ runId: RUN_ID });
    console.log(`kubeadm node ${node.name} Ready with its static pods in ${Date.now() - started} ms`);
    clientKey = sshKeygen(path.join(workDir, "client"));
    hostKey = sshKeygen(path.join(workDir, "host"));
    await node.startSshd({ hostPrivateKey: hostKey.privateKey, clientPublicKey: clientKey.publicKey });

    // In the snapshot: "kept" and "deleted-after-snapshot"; after it, one created and one deleted.
    await node.kubectl(["create", "namespace", NAMESPACE]);
    for (const name of ["deleted-after-snapshot", "kept"])
        await node.kubectl(["-n", NAMESPACE, "create", "configmap", name, `--from-literal=name=${name}`]);
    const saved = await node.exec([...ETCDCTL, "snapshot", "save", SNAPSHOT]);
    expect({ exitCode: saved.exitCode, stderr: saved.exitCode === 0 ? "" : saved.stderr }).toEqual({ exitCode: 0, stderr: "" });
    snapshotSha256 = (await sh(`sha256sum ${SNAPSHOT}`)).split(" ")[0]!;
    await node.kubectl(["-n", NAMESPACE, "create", "configmap", "created-after-snapshot", "--from-literal=name=created-after-snapshot"]);
    await node.kubectl(["-n", NAMESPACE, "delete", "configmap", "deleted-after-snapshot"]);
});

afterAll(async () => {
    for (const stack of stacks) {
        await stack.stack.destroy().catch(() => undefined);
        await stack.cleanup().catch(() => undefined);
    }
    if (node) await node.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

test("the node is kubeadm's: the preset's etcdutl and etcdctl paths exist, the static pods run from /etc/kubernetes/manifests", async () => {
    expect(await sh("/usr/local/bin/etcdutl version | head -n 1")).toMatch(/^etcdutl version: 3\.5\.35/);
    expect((await sh("ls -1 /etc/kubernetes/manifests")).trim().split("\n")).toEqual([
        "etcd.yaml",
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
    ]);
    expect(await pidOf("etcd")).toMatch(/^\d+$/);
    expect(await pidOf("kube-apiserver")).toMatch(/^\d+$/);
    expect((await configMapsServed()).names).toEqual(SERVED_AFTER_SNAPSHOT);
});

test("restore on the real kubelet: the static pods stop when their manifests move and start again; the apiserver serves the snapshot's view; old data kept", async () => {
    const before = { etcd: await pidOf("etcd"), apiserver: await pidOf("kube-apiserver"), kubelet: await pidOf("kubelet") };
    // What runs, sampled every 0.2 s during the restore: A = kube-apiserver, E = etcd, - = not running.
    const watch = await node.exec([
        "sh",
        "-c",
        `(while :; do a=-; e=-; pgrep -x kube-apiserver >/dev/null && a=A; pgrep -x etcd >/dev/null && e=E; echo "$a$e"; sleep 0.2; done) >${WATCH_LOG} 2>&1 & echo $! >/run/restore-watch.pid`,
    ]);
    expect(watch.exitCode).toBe(0);
    const stack = await restoreStack("e2e-restore-kubelet");
    // The private keys of the run: the SSH keys and kubeadm's etcd keys on the node.
    const etcdKeys = await Promise.all(
        ["ca", "server", "peer", "healthcheck-client"].map((name) => node.readFile(`/etc/kubernetes/pki/etcd/${name}.key`)),
    );
    const privateKeys = [clientKey.privateKey, hostKey.privateKey, ...etcdKeys];
    for (const key of privateKeys) expect(key).toMatch(/PRIVATE KEY/);
    // Every process on the node (the static pods' included), sampled from the host all through the restore.
    const sampler = await startProcSampler([node.container]);
    const started = Date.now();
    const up = await stack.stack
        .up()
        .catch(async (error: Error) => {
            throw new Error(`${error.message}\n${await node.logTail()}`);
        })
        .finally(() => sampler.stop());
    expect(up.summary.result).toBe("succeeded");
    const samples = await sampler.stop();
    // Control: the sampler saw the restore's own processes (the step scripts' shell, the static pods)...
    // (Not etcdutl itself: restoring this small snapshot takes a few ms, shorter than a sampling pass under load.)
    const cmdlines = [...samples.cmdlines];
    expect(cmdlines.filter((c) => /sh -eu -s$/.test(c))).not.toEqual([]);
    expect(cmdlines.filter((c) => /(^|\/)etcd .*--key-file=/.test(c))).not.toEqual([]);
    // ...and none of them, nor any environment, held a private key in any form.
    expect(leaks(samples, privateKeys.flatMap(keyForms))).toEqual([]);
    console.log(
        `${samples.passes} samples of the node's processes, ${samples.cmdlines.size} distinct command lines, ${samples.environs.size} environments`,
    );
    const stepIds = up.outputs.stepIds!.value as string[];
    console.log(`kubeadm on a real kubelet: restore in ${stepIds.length} steps, ${Math.round((Date.now() - started) / 1000)} s`);
    expect(up.outputs.report!.value as string).toContain("is healthy");

    // The kubelet ran new processes for both pods (the old ones are gone), and was itself restarted.
    const after = { etcd: await pidOf("etcd"), apiserver: await pidOf("kube-apiserver"), kubelet: await pidOf("kubelet") };
    expect(after.etcd).toMatch(/^\d+$/);
    expect(after.etcd).not.toBe(before.etcd);
    expect(after.kubelet).not.toBe(before.kubelet);
    expect(await sh("cat /var/log/systemctl.log")).toMatch(/systemctl restart kubelet\n$/);
    await waitFor("kube-apiserver runs again", async () => (await pidOf("kube-apiserver")) !== "", {
        deadlineMs: 120_000,
        intervalMs: 1_000,
    });
    expect(await pidOf("kube-apiserver")).not.toBe(before.apiserver);
    // The kubelet stopped kube-apiserver before etcd and started it after: never an apiserver without its etcd.
    await sh("kill $(cat /run/restore-watch.pid); sleep 0.5");
    const states = (await node.readFile(WATCH_LOG))
        .trim()
        .split("\n")
        .filter((line, i, all) => i === 0 || line !== all[i - 1]);
    expect(states).toEqual(["AE", "-E", "--", "-E", "AE"]);

    // Every manifest back where kubeadm wrote it; nothing left in the stopped-manifests dir.
    expect((await sh("ls -1 /etc/kubernetes/manifests")).trim().split("\n")).toEqual([
        "etcd.yaml",
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
    ]);
    expect((await sh("ls -A /etc/kubernetes/manifests.stopped-by-etcd-recovery")).trim()).toBe("");
    // The data dir etcd ran on before is kept beside the restored one.
    const oldDirs = (await sh("ls -d /var/lib/etcd.before-restore-*")).trim().split("\n");
    expect(oldDirs).toHaveLength(1);
    expect(await sh(`ls ${oldDirs[0]}/member`)).toMatch(/snap/);

    // The restored apiserver serves exactly the snapshot's objects, past the bumped revision.
    let served = { names: [] as string[], resourceVersion: 0 };
    await waitFor(
        "the restored kube-apiserver serves the config maps",
        async () => {
            served = await configMapsServed();
            return true;
        },
        { deadlineMs: 180_000, intervalMs: 2_000, describe: () => "" },
    ).catch(async (error: Error) => {
        throw new Error(`${error.message}\n${await node.logTail()}`);
    });
    expect(served.names).toEqual(SERVED_IN_SNAPSHOT);
    expect(served.resourceVersion).toBeGreaterThan(1_000_000_000);
    // The node is Ready again under the restored control plane.
    await node.kubectl(["wait", "--for=condition=Ready", `node/${node.name}`, "--timeout=180s"]);

    // The SSH key is a secret: never in the state in plain text.
    const keyBody = clientKey.privateKey.split("\n")[1]!;
    const state = await stack.readState();
    expect(state).not.toContain(keyBody);
    expect(state).not.toMatch(/PRIVATE KEY/);
    expect(state).toContain(SECRET_SIG);
    const grep = spawnSync("grep", ["-rl", keyBody, stack.stateDir], { encoding: "utf8" });
    expect({ status: grep.status, files: grep.stdout }).toEqual({ status: 1, files: "" });

    // A second run with the same inputs runs nothing again.
    const again = await stack.stack.preview();
    expect(again.changeSummary).toEqual({ same: stepIds.length + 2 });
});

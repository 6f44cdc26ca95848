// The main job, without Pulumi: the same plan EtcdCluster realizes, run in the
// local Docker engine; then etcdctl from the host asks for the cluster's health.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { issueEtcdPki, memberCertificateFiles, planEtcdCluster, planEtcdPki, planTopology } from "../src";
import { realizePlan, removeByLabel } from "../test/harness/docker";
import { ETCD_35_IMAGE, requireImages } from "../test/support/images";

const CLUSTER = "etcd-recovery-demo";
const RUN_ID = "demo";
const STATE_DIR = path.join(__dirname, "..", ".demo");
const FIRST_HOST_PORT = 32379;

async function up(): Promise<void> {
    const t0 = Date.now();
    const step = (text: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${text}`);
    await requireImages(ETCD_35_IMAGE);
    await removeByLabel(RUN_ID);

    const input = {
        clusterName: CLUSTER,
        size: 3,
        network: { mode: "bridge" as const, subnet: "172.29.250.0/24" },
        image: ETCD_35_IMAGE,
        publishClientPorts: { firstHostPort: FIRST_HOST_PORT },
    };
    const topology = planTopology(input);
    const pki = issueEtcdPki(planEtcdPki({ clusterName: CLUSTER, members: topology.members }));
    step(`PKI issued: CA + ${topology.members.length * 2} member certificates + 3 client certificates`);

    const { plan } = planEtcdCluster(input, (member) => memberCertificateFiles(pki, member.name));
    await realizePlan(plan, { runId: RUN_ID, waitHealthy: true, timeoutMs: 120_000 });
    step(`cluster healthy: ${plan.containers.map((c) => c.name).join(", ")}`);

    fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
    const write = (name: string, content: string, mode: number) => fs.writeFileSync(path.join(STATE_DIR, name), content, { mode });
    write("ca.pem", pki.caCertPem, 0o644);
    write("admin.pem", pki.clients.admin.certPem, 0o644);
    write("admin-key.pem", pki.clients.admin.keyPem, 0o600);
    const endpoints = topology.members.map((_, i) => `https://127.0.0.1:${FIRST_HOST_PORT + i}`);
    const etcdctl = (...args: string[]) =>
        execFileSync(
            "etcdctl",
            [`--endpoints=${endpoints.join(",")}`, `--cacert=${STATE_DIR}/ca.pem`, `--cert=${STATE_DIR}/admin.pem`, `--key=${STATE_DIR}/admin-key.pem`, ...args],
            { encoding: "utf8" },
        );
    console.log(etcdctl("endpoint", "health", "--cluster", "-w", "table"));
    console.log(etcdctl("endpoint", "status", "--cluster", "-w", "table"));
    console.log(etcdctl("member", "list", "-w", "table"));
    step("done");
    console.log(`\nClient files are in ${STATE_DIR}; try:\n  etcdctl --endpoints=${endpoints[0]} --cacert=.demo/ca.pem --cert=.demo/admin.pem --key=.demo/admin-key.pem put hello world`);
    console.log("Remove it with: bash scripts/demo down");
}

async function down(): Promise<void> {
    await removeByLabel(RUN_ID);
    fs.rmSync(STATE_DIR, { recursive: true, force: true });
    console.log("demo cluster removed");
}

const command = process.argv[2] ?? "up";
(command === "down" ? down() : up()).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});

// `npm run bench`: the figures of the project's speed targets, printed.
//   PKI:     a 5-member etcd PKI (CA, 10 member certificates, 3 clients)   target < 3 s
//   cluster: from nothing to a healthy 3-member TLS cluster in Docker
//   backup:  EtcdBackup pod on a ~1 GiB database vs raw etcdctl + rclone  target <= 1.3x, < 256 MiB
//   recovery: RTO, ~100 MiB / 50k-object snapshot → exported YAML vs bare restore + ready  target <= 1.3x, < 60 s
//   snapshot: `etcd-recovery snapshot ls` over a ~100 MiB / 50k-object snapshot file (no Docker)  target < 1 s
//   backups: `etcd-recovery backups find` over 10 such backups on MinIO vs raw `rclone cat` of them (no Docker)  < 256 MiB
// Needs `bash scripts/setup` first (Docker engine, local images, tools).
// `npm run bench -- pki cluster` runs only the named parts (pki, cluster, backup, recovery, snapshot, backups).
import {
    generateKeyPemAsync,
    genCert,
    initCa,
    issueEtcdPki,
    memberCertificateFiles,
    planEtcdCluster,
    planEtcdPki,
    planTopology,
} from "../src";
import { realizePlan, removeByLabel } from "../test/harness/docker";
import { ETCD_35_IMAGE, requireImages } from "../test/support/images";
import { benchBackup } from "./backup";
import { benchBackups } from "./backups";
import { benchRecovery } from "./recovery";
import { benchSnapshot } from "./snapshot";

const RUN_ID = "bench";

function seconds(ms: number): string {
    return `${(ms / 1000).toFixed(2)} s`;
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
}

function benchPki(runs: number): number[] {
    const members = Array.from({ length: 5 }, (_, i) => ({ name: `etcd-${i}`, ip: `10.0.0.${11 + i}` }));
    const plan = planEtcdPki({ clusterName: "bench", members });
    return Array.from({ length: runs }, () => {
        const start = process.hrtime.bigint();
        issueEtcdPki(plan);
        return Number(process.hrtime.bigint() - start) / 1e6;
    });
}

/** The resources' path: 15 RSA-2048 keys generated in parallel off the event loop, then signed. */
async function benchPkiParallel(runs: number): Promise<{ wallMs: number[]; cpuMs: number[] }> {
    const rsa = { algo: "rsa" as const, size: 2048 };
    const csrs = Array.from({ length: 14 }, (_, i) => ({ CN: `bench-${i}`, hosts: ["127.0.0.1"], key: rsa }));
    const config = { signing: { default: { expiry: "8760h", usages: ["signing", "key encipherment", "server auth", "client auth"] } } };
    const wallMs: number[] = [];
    const cpuMs: number[] = [];
    for (let run = 0; run < runs; run++) {
        const cpuBefore = process.cpuUsage();
        const start = process.hrtime.bigint();
        const [caKey, ...keys] = await Promise.all([rsa, ...csrs.map(() => rsa)].map(generateKeyPemAsync));
        const root = initCa({ CN: "bench CA", key: rsa }, { keyPem: caKey });
        csrs.forEach((csr, i) => genCert({ caCertPem: root.certPem, caKeyPem: root.keyPem, config, csr, keyPem: keys[i] }));
        wallMs.push(Number(process.hrtime.bigint() - start) / 1e6);
        const cpu = process.cpuUsage(cpuBefore);
        cpuMs.push((cpu.user + cpu.system) / 1000);
    }
    return { wallMs, cpuMs };
}

async function benchCluster(): Promise<{ total: number; pki: number }> {
    await requireImages(ETCD_35_IMAGE);
    await removeByLabel(RUN_ID);
    const start = Date.now();
    const input = {
        clusterName: "bench-etcd",
        size: 3,
        network: { mode: "bridge" as const, subnet: "172.31.233.0/24" },
        image: ETCD_35_IMAGE,
    };
    const members = planTopology(input).members;
    const pki = issueEtcdPki(planEtcdPki({ clusterName: input.clusterName, members }));
    const pkiDone = Date.now();
    const live = await realizePlan(planEtcdCluster(input, (m) => memberCertificateFiles(pki, m.name)).plan, {
        runId: RUN_ID,
        timeoutMs: 180_000,
    });
    const total = Date.now() - start;
    await live.destroy();
    return { total, pki: pkiDone - start };
}

const PARTS: Record<string, () => Promise<void>> = {
    pki: async () => {
        const pkiRuns = benchPki(5);
        console.log(`pki.5members            median ${seconds(median(pkiRuns))}  runs ${pkiRuns.map(seconds).join(", ")}  (target < 3 s)`);
        const parallel = await benchPkiParallel(5);
        console.log(
            `pki.15keys.parallel     median ${seconds(median(parallel.wallMs))} wall, ${seconds(median(parallel.cpuMs))} CPU  (target < 3 s)`,
        );
    },
    cluster: async () => {
        const cluster = await benchCluster();
        console.log(`cluster.3members.healthy ${seconds(cluster.total)}  (of which PKI ${seconds(cluster.pki)})`);
    },
    backup: benchBackup,
    recovery: benchRecovery,
    snapshot: benchSnapshot,
    backups: benchBackups,
};

async function main(): Promise<void> {
    const wanted = process.argv.slice(2);
    const unknown = wanted.filter((part) => !(part in PARTS));
    if (unknown.length > 0) throw new Error(`unknown bench part(s) ${unknown.join(", ")}: choose from ${Object.keys(PARTS).join(", ")}`);
    for (const part of wanted.length > 0 ? wanted : Object.keys(PARTS)) await PARTS[part]!();
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
});

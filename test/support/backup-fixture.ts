/**
 * Shared ground of the EtcdBackup pod tests: a real 1-member TLS etcd in
 * Docker (client port on 127.0.0.1, kubeadm certificate layout in a host
 * directory), a real S3 server (MinIO), a real SFTP server (Debian sshd in
 * Docker on the host network), and running the rendered pod through
 * pod-to-docker. Everything a fixture starts is labelled with its run id and
 * removed by `cleanup()`.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { EtcdPkiPems, issueEtcdPki, memberCertificateFiles, planEtcdCluster, planEtcdPki } from "../../src";
import { EtcdBackupPlan, EtcdBackupPlanInput } from "../../src/backup/plan";
import { EtcdClusterPlan, EtcdClusterPlanInput, NO_CERTIFICATE_FILES } from "../../src/etcd/plan";
import { RealizedPlan, realizePlan, removeByLabel } from "../harness/docker";
import { run } from "../harness/exec";
import { ETCD_35_IMAGE, SSHD_IMAGE, UPLOADER_IMAGE } from "./images";
import { K8sPodSpec, PodRun, runPod } from "./pod-to-docker";
import { ManagedProcess, freePorts, requireTool, sshBanner, startProcess, waitFor } from "./processes";

/** A test etcd cluster's plan with real certificates: members from a first plan, their PKI issued, then the plan with its files. */
export function planIssuedEtcdCluster(input: EtcdClusterPlanInput): { pki: EtcdPkiPems<string>; cluster: EtcdClusterPlan<string> } {
    const members = planEtcdCluster(input, () => NO_CERTIFICATE_FILES).topology.members;
    const pki = issueEtcdPki(planEtcdPki({ clusterName: input.clusterName, members }));
    return { pki, cluster: planEtcdCluster(input, (member) => memberCertificateFiles(pki, member.name)) };
}

/** The kubeadm layout on a control-plane node (/etc/kubernetes/pki/etcd): the CA and the healthcheck client pair, key 0600. */
export function writeKubeadmClientCerts(workDir: string, pki: EtcdPkiPems<string>): string {
    const certDir = fs.mkdtempSync(path.join(workDir, "pki-etcd-"));
    fs.writeFileSync(path.join(certDir, "ca.crt"), pki.caCertPem, { mode: 0o644 });
    fs.writeFileSync(path.join(certDir, "healthcheck-client.crt"), pki.clients.healthcheck.certPem, { mode: 0o644 });
    fs.writeFileSync(path.join(certDir, "healthcheck-client.key"), pki.clients.healthcheck.keyPem, { mode: 0o600 });
    return certDir;
}

export const BIN = {
    etcd: requireTool("etcd"),
    etcdctl: requireTool("etcdctl"),
    etcdutl: requireTool("etcdutl"),
    minio: requireTool("minio"),
};
/** Node path of the hostPath store in these tests. */
export const HOST_STORE_PATH = "/var/backups/etcd";

export type SucceededRun = Extract<PodRun, { succeeded: true }>;

/** What runBackup needs of etcd (the bench brings its own). */
export interface BackupEtcd {
    /** Client port of the (first) member on 127.0.0.1: the endpoint of `input()`. */
    port: number;
    certDir: string;
    etcdctl(args: string[]): Promise<string>;
}

/** The etcd `startEtcd` starts. */
export interface StartedEtcd extends BackupEtcd {
    /** https://127.0.0.1:<port + i>, member i's client port. */
    endpoints: string[];
    /** The Docker containers of the members, in member order (for live.stop / live.start). */
    containers: string[];
    live: RealizedPlan;
    /** etcdctl with every member's endpoint (the client fails over between them). */
    etcdctl(args: string[]): Promise<string>;
}

/** `count` consecutive TCP ports on 127.0.0.1 that were free a moment ago. */
export async function freePortRange(count: number): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
        const [first] = await freePorts(1);
        if (first! + count - 1 > 65535) continue;
        let free = true;
        for (let port = first! + 1; port < first! + count && free; port++) free = await portIsFree(port);
        if (free) return first!;
    }
    throw new Error(`found no ${count} consecutive free ports on 127.0.0.1 in 50 tries`);
}

function portIsFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
}

/** Host rclone; AWS_CA_BUNDLE (set on some machines) breaks rclone 1.60's S3 client. */
export function hostRclone(config: string, args: string[]): Promise<string> {
    const env = { ...process.env };
    delete env.AWS_CA_BUNDLE;
    return run("rclone", ["--config", config, ...args], { env }).then((r) => r.stdout);
}

export class BackupFixture {
    private readonly liveRuns: RealizedPlan[] = [];
    private readonly runIds: string[] = [];
    private readonly processes: ManagedProcess[] = [];
    private runCounter = 0;
    etcd!: BackupEtcd;

    /** `label` prefixes every Docker object (and is what cleanup removes by). */
    constructor(
        readonly label: string,
        readonly workDir: string,
    ) {}

    /** A real TLS etcd of `size` members (default 1) holding /registry/configmaps/default/backup-probe = seed-001 and 40 more keys. */
    async startEtcd(subnet: string, size = 1): Promise<StartedEtcd> {
        const port = await freePortRange(size);
        const input: EtcdClusterPlanInput = {
            clusterName: `${this.label}-etcd`,
            size,
            network: { mode: "bridge", subnet },
            image: ETCD_35_IMAGE,
            publishClientPorts: { ip: "127.0.0.1", firstHostPort: port! },
        };
        const { pki, cluster } = planIssuedEtcdCluster(input);
        const members = cluster.topology.members;
        const runId = `${this.label}-etcd`;
        await removeByLabel(runId);
        this.runIds.push(runId);
        const live = await realizePlan(cluster.plan, { runId, waitHealthy: true, timeoutMs: 120_000 });
        this.liveRuns.push(live);
        const endpoints = members.map((_, i) => `https://127.0.0.1:${port + i}`);

        const certDir = writeKubeadmClientCerts(this.workDir, pki);
        const tls = [
            `--cacert=${path.join(certDir, "ca.crt")}`,
            `--cert=${path.join(certDir, "healthcheck-client.crt")}`,
            `--key=${path.join(certDir, "healthcheck-client.key")}`,
        ];
        const etcdctl = async (args: string[]) =>
            (await run(BIN.etcdctl, [`--endpoints=${endpoints.join(",")}`, "--command-timeout=10s", ...tls, ...args])).stdout;
        await etcdctl(["put", "/registry/configmaps/default/backup-probe", "seed-001"]);
        for (let i = 0; i < 40; i++) await etcdctl(["put", `/registry/secrets/default/s${i}`, randomBytes(200).toString("hex")]);
        const started: StartedEtcd = {
            port,
            endpoints,
            containers: members.map((m) => cluster.containerNames[m.name]!),
            live,
            certDir,
            etcdctl,
        };
        this.etcd = started;
        return started;
    }

    /** A real S3 server on `address` (default 127.0.0.1) with random credentials and one bucket; `rclone` talks to it as remote "minio". */
    async startMinio(bucket: string, address = "127.0.0.1", dataDir?: string): Promise<MinioServer> {
        const [s3Port, consolePort] = await freePorts(2);
        const dir = fs.mkdtempSync(path.join(this.workDir, "minio-"));
        const accessKeyId = `ak${randomBytes(8).toString("hex")}`;
        const secretAccessKey = `sk${randomBytes(18).toString("hex")}`;
        const minio = startProcess({
            name: "minio",
            command: BIN.minio,
            args: [
                "server",
                dataDir ?? path.join(dir, "data"),
                "--address",
                `${address}:${s3Port}`,
                "--console-address",
                `127.0.0.1:${consolePort}`,
            ],
            logFile: path.join(dir, "minio.log"),
            env: { ...process.env, MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey, MINIO_BROWSER: "off" },
        });
        this.processes.push(minio);
        const rcloneConfig = path.join(dir, "rclone.conf");
        fs.writeFileSync(
            rcloneConfig,
            `[minio]\ntype = s3\nprovider = Minio\naccess_key_id = ${accessKeyId}\nsecret_access_key = ${secretAccessKey}\nendpoint = http://${address}:${s3Port}\nregion = us-east-1\nforce_path_style = true\n`,
            { mode: 0o600 },
        );
        const rclone = (args: string[]) => hostRclone(rcloneConfig, args);
        await waitFor("minio serves S3", async () => (await rclone(["mkdir", `minio:${bucket}`]), true), {
            deadlineMs: 60_000,
            aborted: () => (minio.isRunning() ? undefined : "minio exited"),
            describe: () => minio.logTail(),
        });
        return {
            endpoint: `http://${address}:${s3Port}`,
            accessKeyId,
            secretAccessKey,
            bucket,
            rclone,
            rcloneConfig,
            stop: () => minio.stop(),
            logTail: () => minio.logTail(),
        };
    }

    /**
     * A real SFTP server: Debian's sshd in Docker on the host network, listening on
     * 127.0.0.1:<port>, user "backup" (uid 1000) with a password and an authorized
     * ed25519 key, SFTP only (internal-sftp). `storeDir` is its home directory.
     */
    async startSftp(): Promise<SftpServer> {
        const dir = fs.mkdtempSync(path.join(this.workDir, "sftp-"));
        const [port] = await freePorts(1);
        // execFileSync: ssh-keygen ignores stdin, and run() writing to it could race its exit (EPIPE).
        const keygen = async (file: string) =>
            execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
        await keygen(path.join(dir, "host_key"));
        await keygen(path.join(dir, "user_key"));
        await keygen(path.join(dir, "other_host_key"));
        const password = `pw-${randomBytes(12).toString("hex")}`;
        const hash = (await run("openssl", ["passwd", "-6", "-stdin"], { input: password })).stdout.trim();
        const storeDir = path.join(dir, "home");
        fs.mkdirSync(storeDir, { mode: 0o755 });
        fs.chownSync(storeDir, 1000, 1000);
        const read = (file: string) => fs.readFileSync(path.join(dir, file), "utf8");
        const sshdConfig = [
            "ListenAddress 127.0.0.1",
            `Port ${port}`,
            "HostKey /etc/ssh/host_key",
            "UsePAM no",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "AuthorizedKeysFile /etc/ssh/authorized_keys/%u",
            "StrictModes no",
            "PermitRootLogin no",
            "AllowUsers backup",
            "Subsystem sftp internal-sftp",
            "ForceCommand internal-sftp",
            "LogLevel VERBOSE",
            "",
        ].join("\n");
        const runId = `${this.label}-sftp`;
        await removeByLabel(runId);
        this.runIds.push(runId);
        const live = await realizePlan(
            {
                networks: [],
                volumes: [],
                containers: [
                    {
                        name: `${runId}-sshd`,
                        image: SSHD_IMAGE,
                        command: ["-f", "/etc/ssh/sshd_config"],
                        files: [
                            { path: "/etc/ssh/sshd_config", content: sshdConfig, mode: 0o644 },
                            { path: "/etc/ssh/host_key", content: read("host_key"), mode: 0o600, secret: true },
                            {
                                path: "/etc/shadow",
                                content: `root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\nbackup:${hash}:19000:0:99999:7:::\n`,
                                mode: 0o600,
                                secret: true,
                            },
                            { path: "/etc/ssh/authorized_keys/backup", content: read("user_key.pub"), mode: 0o644 },
                        ],
                        mounts: [{ source: storeDir, target: "/home/backup", hostPath: true }],
                        network: { host: true },
                        labels: { "etcd-recovery.sftp": "1" },
                    },
                ],
            },
            { runId, waitHealthy: false, timeoutMs: 60_000 },
        );
        this.liveRuns.push(live);
        await waitFor("sshd greets", () => sshBanner(port!).then((banner) => banner.startsWith("SSH-2.0-OpenSSH")), {
            deadlineMs: 30_000,
            describe: () => "sshd did not answer on 127.0.0.1",
        });
        const hostLine = (file: string) => `[127.0.0.1]:${port} ${read(file).split(" ").slice(0, 2).join(" ")}\n`;
        return {
            port: port!,
            password,
            privateKey: read("user_key"),
            knownHosts: hostLine("host_key.pub"),
            wrongKnownHosts: hostLine("other_host_key.pub"),
            storeDir,
            logs: () => live.logs(`${runId}-sshd`),
        };
    }

    /**
     * Runs the CronJob's pod once, as the Job controller would start it. `whileRunning` runs beside
     * the pod (fault injection); it gets the prefix of the pod's container names (`<prefix>-<container>`).
     */
    async runBackup(
        plan: EtcdBackupPlan,
        opts: { storeDir?: string; editPod?: (pod: K8sPodSpec) => void; whileRunning?: (containerPrefix: string) => Promise<void> } = {},
    ): Promise<PodRun> {
        const runId = `${this.label}-${process.pid}-${++this.runCounter}`;
        this.runIds.push(runId);
        const pod = JSON.parse(JSON.stringify((plan.cronJob as any).spec.jobTemplate.spec.template.spec)) as K8sPodSpec;
        opts.editPod?.(pod);
        const secrets: Record<string, Record<string, string>> = { [plan.storeSecret.metadata.name]: plan.storeSecret.stringData };
        if (plan.etcdClientSecret) secrets[plan.etcdClientSecret.metadata.name] = plan.etcdClientSecret.stringData;
        const running = runPod(
            pod,
            {
                secrets,
                configMaps: { [plan.scriptConfigMap.metadata.name]: plan.scriptConfigMap.data },
                hostPaths: {
                    "/etc/kubernetes/pki/etcd": this.etcd.certDir,
                    ...(opts.storeDir ? { [HOST_STORE_PATH]: opts.storeDir } : {}),
                },
                fieldValues: { "spec.nodeName": "cp-1" },
            },
            runId,
            runId,
        );
        // Both settle before either's error is thrown: a fault that failed must not leave the pod running unawaited.
        const [outcome, fault] = await Promise.allSettled([running, opts.whileRunning?.(runId)]);
        if (outcome.status === "rejected") throw outcome.reason;
        if (fault.status === "rejected") {
            if (outcome.value.succeeded) this.liveRuns.push(outcome.value.live);
            throw fault.reason;
        }
        const result = outcome.value;
        if (result.succeeded) this.liveRuns.push(result.live);
        return result;
    }

    /** Plan input for this fixture's etcd, with the local images. */
    input(storage: EtcdBackupPlanInput["storage"], overrides: Partial<EtcdBackupPlanInput> = {}): EtcdBackupPlanInput {
        return {
            name: "etcd-backup",
            clusterName: "it-prod",
            schedule: "0 */6 * * *",
            endpoints: [`https://127.0.0.1:${this.etcd.port}`],
            certificates: { preset: "kubeadm" },
            storage,
            etcdImage: ETCD_35_IMAGE,
            uploaderImage: UPLOADER_IMAGE,
            ...overrides,
        };
    }

    async cleanup(): Promise<void> {
        for (const live of this.liveRuns) await live.destroy().catch(() => undefined);
        for (const id of this.runIds) await removeByLabel(id);
        for (const p of this.processes) await p.stop();
    }
}

export interface MinioServer {
    endpoint: string;
    accessKeyId: string;
    secretAccessKey: string;
    bucket: string;
    /** Host rclone with remote "minio" for this server. */
    rclone: (args: string[]) => Promise<string>;
    rcloneConfig: string;
    stop(): Promise<void>;
    logTail(): string;
}

export interface SftpServer {
    port: number;
    password: string;
    privateKey: string;
    /** known_hosts line of the server's real host key. */
    knownHosts: string;
    /** A known_hosts line for the same address with another key. */
    wrongKnownHosts: string;
    /** The backup user's home directory on this machine. */
    storeDir: string;
    logs(): Promise<string>;
}

export function expectSucceeded(result: PodRun): asserts result is SucceededRun {
    if (!result.succeeded) throw new Error(`backup pod failed in ${result.failedContainer} (exit ${result.exitCode}):\n${result.output}`);
}

/** The object name the run reports in its step=done line. */
export function reportedObject(result: SucceededRun, container = "upload"): string {
    const done = /step=done object=(\S+)/.exec(result.logs[container] ?? "");
    if (!done) throw new Error(`no step=done line in the ${container} log:\n${JSON.stringify(result.logs, null, 1)}`);
    return path.posix.basename(done[1]!);
}

export async function snapshotStatus(file: string): Promise<{ hash: number; revision: number; totalKey: number; totalSize: number }> {
    return JSON.parse((await run(BIN.etcdutl, ["snapshot", "status", file, "-w", "json"])).stdout);
}

/** Restores a snapshot file with etcdutl, starts etcd on it and reads a key. */
export async function restoreAndRead(workDir: string, snapshotFile: string, key: string): Promise<string> {
    const dataDir = path.join(fs.mkdtempSync(path.join(workDir, "restore-")), "data");
    await run(BIN.etcdutl, [
        "snapshot",
        "restore",
        snapshotFile,
        `--data-dir=${dataDir}`,
        "--name=r",
        "--initial-cluster=r=http://127.0.0.1:1",
        "--initial-advertise-peer-urls=http://127.0.0.1:1",
    ]);
    const [client, peer] = await freePorts(2);
    const proc = startProcess({
        name: "etcd-restored",
        command: BIN.etcd,
        args: [
            `--data-dir=${dataDir}`,
            "--name=r",
            `--listen-client-urls=http://127.0.0.1:${client}`,
            `--advertise-client-urls=http://127.0.0.1:${client}`,
            `--listen-peer-urls=http://127.0.0.1:${peer}`,
            "--initial-cluster=r=http://127.0.0.1:1",
            "--initial-advertise-peer-urls=http://127.0.0.1:1",
        ],
        logFile: path.join(dataDir, "..", "etcd.log"),
    });
    try {
        let value = "";
        await waitFor(
            "restored etcd answers",
            async () => {
                value = (
                    await run(BIN.etcdctl, [
                        `--endpoints=http://127.0.0.1:${client}`,
                        "--command-timeout=3s",
                        "get",
                        key,
                        "--print-value-only",
                    ])
                ).stdout.trim();
                return true;
            },
            { deadlineMs: 30_000, aborted: () => (proc.isRunning() ? undefined : "etcd exited"), describe: () => proc.logTail() },
        );
        return value;
    } finally {
        await proc.stop();
    }
}

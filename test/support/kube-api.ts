/**
 * A throw-away Kubernetes API for tests: etcd 3.5 and kube-apiserver run as
 * local processes on 127.0.0.1 (free ports, TLS everywhere, RBAC), with
 * certificates from our own PKI. Everything lives in one temp dir that stop()
 * removes; the processes are also killed when the test process exits.
 */
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";

import { genCert, initCa } from "../../src/pki";
import type { CfsslConfig, CfsslCsr } from "../../src/pki/cfssl-types";
import { forgetDirOnExit, freePorts, ManagedProcess, removeDirOnExit, requireTool, startProcess, toolsBinDir, waitFor } from "./processes";

export interface KubeApiOptions {
    /** Encrypt Secrets at rest with aescbc (an EncryptionConfiguration is written and passed). Default false. */
    encryptionConfig?: boolean;
    /** kube-apiserver --etcd-prefix. Default "/registry". */
    etcdPrefix?: string;
    /**
     * An existing etcd data dir (e.g. restored from a snapshot) to start etcd on.
     * It is left in place by stop(). Default: a fresh dir inside the temp dir.
     */
    etcdDataDir?: string;
    /** Directory holding etcd (for version tests). Default: the scripts/tools.sh bin dir. */
    etcdBinaryDir?: string;
    /** Directory holding kube-apiserver. Default: the scripts/tools.sh bin dir. */
    apiserverBinaryDir?: string;
    etcdExtraArgs?: string[];
    apiserverExtraArgs?: string[];
    /** How long to wait for etcd /health and apiserver /readyz. Default 120 s. */
    readyTimeoutMs?: number;
    /**
     * Also run the real kube-controller-manager with the garbage collector and the namespace
     * controller, as every cluster has: the kubernetes provider deletes with foreground
     * propagation, which only the garbage collector completes. Default false.
     */
    controllers?: boolean;
}

export interface TlsFiles {
    caFile: string;
    certFile: string;
    keyFile: string;
}

export interface KubeApi {
    url: string;
    /** Kubeconfig file (mode 0600) with the admin (system:masters) client certificate embedded. */
    kubeconfigPath: string;
    kubeconfig: string;
    /** CA of the Kubernetes API (serving and client certificates). */
    caPem: string;
    etcd: {
        endpoints: string[];
        caPem: string;
        /** Client certificate accepted by etcd (the one kube-apiserver uses). */
        certPem: string;
        keyPem: string;
        dataDir: string;
        /** The same CA/cert/key as files, for etcdctl --cacert/--cert/--key. */
        files: TlsFiles;
        /** `--endpoints=… --cacert=… --cert=… --key=…` for etcdctl against this etcd. */
        etcdctlFlags: string[];
    };
    /** Present when `encryptionConfig` was asked for. */
    encryption?: { configPath: string; keyName: string; keyBase64: string };
    /** The temp dir holding certificates, logs and (by default) the etcd data. */
    workDir: string;
    kubectl(args: string[], opts?: { input?: string }): Promise<string>;
    logTail(which: "etcd" | "kube-apiserver" | "kube-controller-manager", lines?: number): string;
    stop(): Promise<void>;
}

const SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/12";
const FIRST_SERVICE_IP = "10.96.0.1";
const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";
/** Key of every test certificate. */
export const KEY = { algo: "rsa", size: 2048 } as const;

const SIGNING: CfsslConfig = {
    signing: {
        default: { expiry: "87600h" },
        profiles: {
            server: { expiry: "87600h", usages: ["signing", "key encipherment", "server auth"] },
            client: { expiry: "87600h", usages: ["signing", "key encipherment", "client auth"] },
            peer: { expiry: "87600h", usages: ["signing", "key encipherment", "server auth", "client auth"] },
        },
    },
};

interface Pair {
    certPem: string;
    keyPem: string;
}

/** A certificate from `ca` with the test signing profiles (server, client, peer; ten years). */
export function issue(ca: Pair, profile: string, csr: CfsslCsr): Pair {
    const { certPem, keyPem } = genCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, config: SIGNING, profile, csr });
    return { certPem, keyPem };
}

/** Everything the two processes need, generated in memory. */
export function planKubeApiPki(): {
    etcdCa: Pair;
    etcdServer: Pair;
    etcdClient: Pair;
    kubeCa: Pair;
    apiserver: Pair;
    admin: Pair;
    serviceAccount: { publicPem: string; privatePem: string };
} {
    const etcdCa = initCa({ CN: "etcd-ca", key: KEY });
    const kubeCa = initCa({ CN: "kubernetes-ca", key: KEY });
    const sa = crypto.generateKeyPairSync("rsa", {
        modulusLength: 2048,
        publicKeyEncoding: { type: "spki", format: "pem" },
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    return {
        etcdCa,
        etcdServer: issue(etcdCa, "peer", { CN: "etcd", hosts: ["127.0.0.1", "localhost"], key: KEY }),
        etcdClient: issue(etcdCa, "client", { CN: "kube-apiserver-etcd-client", key: KEY }),
        kubeCa,
        apiserver: issue(kubeCa, "server", {
            CN: "kube-apiserver",
            hosts: [
                "127.0.0.1",
                "localhost",
                FIRST_SERVICE_IP,
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            key: KEY,
        }),
        admin: issue(kubeCa, "client", { CN: "kubernetes-admin", names: [{ O: "system:masters" }], key: KEY }),
        serviceAccount: { publicPem: sa.publicKey, privatePem: sa.privateKey },
    };
}

export function renderKubeconfig(opts: { url: string; caPem: string; certPem: string; keyPem: string }): string {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: throwaway",
        "  cluster:",
        `    server: ${opts.url}`,
        `    certificate-authority-data: ${b64(opts.caPem)}`,
        "users:",
        "- name: admin",
        "  user:",
        `    client-certificate-data: ${b64(opts.certPem)}`,
        `    client-key-data: ${b64(opts.keyPem)}`,
        "contexts:",
        "- name: throwaway",
        "  context:",
        "    cluster: throwaway",
        "    user: admin",
        "current-context: throwaway",
        "",
    ].join("\n");
}

export function renderEncryptionConfig(keyName: string, keyBase64: string): string {
    return [
        "apiVersion: apiserver.config.k8s.io/v1",
        "kind: EncryptionConfiguration",
        "resources:",
        "  - resources: [secrets]",
        "    providers:",
        "      - aescbc:",
        "          keys:",
        `            - name: ${keyName}`,
        `              secret: ${keyBase64}`,
        "      - identity: {}",
        "",
    ].join("\n");
}

/** GET over mutual TLS; resolves with status and body. */
function tlsGet(url: string, tls: { caPem: string; certPem: string; keyPem: string }): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = https.get(url, { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, timeout: 5000 }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => (body += chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error(`timeout on ${url}`)));
        req.on("error", reject);
    });
}

function writeFile(file: string, content: string, mode: number): string {
    fs.writeFileSync(file, content, { mode });
    fs.chmodSync(file, mode); // writeFileSync's mode is masked by umask
    return file;
}

function diedReason(proc: ManagedProcess): string | undefined {
    return proc.isRunning() ? undefined : `${proc.name} exited early (log ${proc.logFile})`;
}

export async function startKubeApi(opts: KubeApiOptions = {}): Promise<KubeApi> {
    const etcdBin = requireTool("etcd", opts.etcdBinaryDir ?? toolsBinDir());
    const apiserverBin = requireTool("kube-apiserver", opts.apiserverBinaryDir ?? toolsBinDir());
    const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;

    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kube-api-"));
    removeDirOnExit(workDir);
    const started: ManagedProcess[] = [];
    const stopAll = async () => {
        for (const proc of [...started].reverse()) await proc.stop();
        fs.rmSync(workDir, { recursive: true, force: true });
        forgetDirOnExit(workDir);
    };

    try {
        const pki = planKubeApiPki();
        const pkiDir = path.join(workDir, "pki");
        fs.mkdirSync(pkiDir, { mode: 0o700 });
        const f = (name: string, content: string, mode = 0o644) => writeFile(path.join(pkiDir, name), content, mode);
        const etcdCaFile = f("etcd-ca.pem", pki.etcdCa.certPem);
        const etcdServerCert = f("etcd-server.pem", pki.etcdServer.certPem);
        const etcdServerKey = f("etcd-server-key.pem", pki.etcdServer.keyPem, 0o600);
        const etcdClientCert = f("etcd-client.pem", pki.etcdClient.certPem);
        const etcdClientKey = f("etcd-client-key.pem", pki.etcdClient.keyPem, 0o600);
        const kubeCaFile = f("ca.pem", pki.kubeCa.certPem);
        const apiserverCert = f("apiserver.pem", pki.apiserver.certPem);
        const apiserverKey = f("apiserver-key.pem", pki.apiserver.keyPem, 0o600);
        const saPub = f("sa.pub", pki.serviceAccount.publicPem);
        const saKey = f("sa.key", pki.serviceAccount.privatePem, 0o600);

        const [clientPort, peerPort, apiPort] = await freePorts(3);
        const etcdEndpoint = `https://127.0.0.1:${clientPort}`;
        const peerUrl = `https://127.0.0.1:${peerPort}`;
        const dataDir = opts.etcdDataDir ?? path.join(workDir, "etcd-data");

        const etcd = startProcess({
            name: "etcd",
            command: etcdBin,
            logFile: path.join(workDir, "etcd.log"),
            args: [
                "--name=default",
                `--data-dir=${dataDir}`,
                `--listen-client-urls=${etcdEndpoint}`,
                `--advertise-client-urls=${etcdEndpoint}`,
                `--listen-peer-urls=${peerUrl}`,
                `--initial-advertise-peer-urls=${peerUrl}`,
                `--initial-cluster=default=${peerUrl}`,
                "--initial-cluster-state=new",
                `--cert-file=${etcdServerCert}`,
                `--key-file=${etcdServerKey}`,
                "--client-cert-auth=true",
                `--trusted-ca-file=${etcdCaFile}`,
                `--peer-cert-file=${etcdServerCert}`,
                `--peer-key-file=${etcdServerKey}`,
                "--peer-client-cert-auth=true",
                `--peer-trusted-ca-file=${etcdCaFile}`,
                ...(opts.etcdExtraArgs ?? []),
            ],
        });
        started.push(etcd);
        const etcdTls = { caPem: pki.etcdCa.certPem, certPem: pki.etcdClient.certPem, keyPem: pki.etcdClient.keyPem };
        await waitFor(
            "etcd /health",
            async () => {
                const res = await tlsGet(`${etcdEndpoint}/health`, etcdTls);
                return res.status === 200 && JSON.parse(res.body).health === "true";
            },
            { deadlineMs: readyTimeoutMs, aborted: () => diedReason(etcd), describe: () => `etcd log tail:\n${etcd.logTail()}` },
        );

        let encryption: KubeApi["encryption"];
        if (opts.encryptionConfig) {
            const keyName = "key1";
            const keyBase64 = crypto.randomBytes(32).toString("base64");
            const configPath = writeFile(path.join(pkiDir, "encryption-config.yaml"), renderEncryptionConfig(keyName, keyBase64), 0o600);
            encryption = { configPath, keyName, keyBase64 };
        }

        const url = `https://127.0.0.1:${apiPort}`;
        const apiserver = startProcess({
            name: "kube-apiserver",
            command: apiserverBin,
            logFile: path.join(workDir, "kube-apiserver.log"),
            cwd: workDir,
            args: [
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                `--secure-port=${apiPort}`,
                `--cert-dir=${path.join(workDir, "apiserver-certs")}`,
                `--tls-cert-file=${apiserverCert}`,
                `--tls-private-key-file=${apiserverKey}`,
                `--client-ca-file=${kubeCaFile}`,
                `--etcd-servers=${etcdEndpoint}`,
                `--etcd-cafile=${etcdCaFile}`,
                `--etcd-certfile=${etcdClientCert}`,
                `--etcd-keyfile=${etcdClientKey}`,
                ...(opts.etcdPrefix ? [`--etcd-prefix=${opts.etcdPrefix}`] : []),
                `--service-account-key-file=${saPub}`,
                `--service-account-signing-key-file=${saKey}`,
                `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
                `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
                "--authorization-mode=RBAC",
                // Endpoints may not hold loopback addresses; with no nodes there is nothing to reconcile.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                ...(encryption ? [`--encryption-provider-config=${encryption.configPath}`] : []),
                ...(opts.apiserverExtraArgs ?? []),
            ],
        });
        started.push(apiserver);
        const adminTls = { caPem: pki.kubeCa.certPem, certPem: pki.admin.certPem, keyPem: pki.admin.keyPem };
        await waitFor(
            "kube-apiserver /readyz",
            async () => {
                const res = await tlsGet(`${url}/readyz`, adminTls);
                return res.status === 200 && res.body.trim() === "ok";
            },
            {
                deadlineMs: readyTimeoutMs,
                intervalMs: 500,
                aborted: () => diedReason(apiserver) ?? diedReason(etcd),
                describe: () => `kube-apiserver log tail:\n${apiserver.logTail()}\netcd log tail:\n${etcd.logTail(15)}`,
            },
        );

        const kubeconfig = renderKubeconfig({ url, ...adminTls });
        const kubeconfigPath = writeFile(path.join(workDir, "kubeconfig"), kubeconfig, 0o600);

        let controllerManager: ManagedProcess | undefined;
        if (opts.controllers) {
            const [kcmPort] = await freePorts(1);
            controllerManager = startProcess({
                name: "kube-controller-manager",
                command: requireTool("kube-controller-manager", toolsBinDir()),
                logFile: path.join(workDir, "kube-controller-manager.log"),
                cwd: workDir,
                args: [
                    `--kubeconfig=${kubeconfigPath}`,
                    "--controllers=garbagecollector,namespace",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    `--secure-port=${kcmPort}`,
                    // Served with the apiserver's certificate (it names 127.0.0.1), so /healthz can be checked.
                    `--tls-cert-file=${apiserverCert}`,
                    `--tls-private-key-file=${apiserverKey}`,
                    "--profiling=false",
                ],
            });
            started.push(controllerManager);
            const kcm = controllerManager;
            await waitFor(
                "kube-controller-manager /healthz",
                async () => {
                    const res = await tlsGet(`https://127.0.0.1:${kcmPort}/healthz`, adminTls);
                    return res.status === 200 && res.body.trim() === "ok";
                },
                {
                    deadlineMs: readyTimeoutMs,
                    intervalMs: 500,
                    aborted: () => diedReason(kcm),
                    describe: () => `kube-controller-manager log tail:\n${kcm.logTail()}`,
                },
            );
        }

        let stopped: Promise<void> | undefined;
        return {
            url,
            kubeconfigPath,
            kubeconfig,
            caPem: pki.kubeCa.certPem,
            etcd: {
                endpoints: [etcdEndpoint],
                caPem: pki.etcdCa.certPem,
                certPem: pki.etcdClient.certPem,
                keyPem: pki.etcdClient.keyPem,
                dataDir,
                files: { caFile: etcdCaFile, certFile: etcdClientCert, keyFile: etcdClientKey },
                etcdctlFlags: [
                    `--endpoints=${etcdEndpoint}`,
                    `--cacert=${etcdCaFile}`,
                    `--cert=${etcdClientCert}`,
                    `--key=${etcdClientKey}`,
                ],
            },
            encryption,
            workDir,
            kubectl: (args, kubectlOpts) => runKubectl(kubeconfigPath, args, kubectlOpts?.input),
            logTail: (which, lines) => {
                const proc = which === "etcd" ? etcd : which === "kube-apiserver" ? apiserver : controllerManager;
                if (!proc) throw new Error(`${which} is not running: start the API with { controllers: true }`);
                return proc.logTail(lines);
            },
            stop: () => (stopped ??= stopAll()),
        };
    } catch (err) {
        await stopAll();
        throw err;
    }
}

/** kubectl of the tested Kubernetes release, built by `bash scripts/tools.sh kubectl` (part of scripts/setup). */
export const KUBECTL =
    process.env.KUBECTL ??
    path.join(process.env.ETCD_RECOVERY_CACHE ?? path.join(os.homedir(), ".cache", "etcd-recovery"), "bin", "kubectl");

export function runKubectl(kubeconfigPath: string, args: string[], input?: string): Promise<string> {
    if (!fs.existsSync(KUBECTL)) {
        return Promise.reject(new Error(`kubectl not found at ${KUBECTL} — run bash scripts/setup (it builds kubectl) or set KUBECTL`));
    }
    return new Promise((resolve, reject) => {
        const child = execFile(
            KUBECTL,
            [`--kubeconfig=${kubeconfigPath}`, ...args],
            { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
            (err, stdout, stderr) => {
                if (err) reject(new Error(`kubectl ${args.join(" ")} failed (exit ${err.code}):\nstderr: ${stderr}\nstdout: ${stdout}`));
                else resolve(stdout);
            },
        );
        // kubectl may exit without reading its input (EPIPE): its exit status and stderr, not the pipe, say why.
        child.stdin?.on("error", () => undefined);
        if (input !== undefined) child.stdin?.end(input);
    });
}

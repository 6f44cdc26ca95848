/**
 * An EtcdBackup program (the TypeScript fixture test/fixtures/e2e/backup-cronjob,
 * or examples/yaml-backup) against a throw-away etcd + kube-apiserver through
 * the real kubernetes provider: its stack, configured with the kubeconfig, a
 * namespace and the store credentials as secrets, and the checks every such
 * program must pass whatever its language.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as zlib from "zlib";

import { KubeApi, startKubeApi } from "./kube-api";
import { listFiles, OfflineStack, offlineStack, requireResourcePlugin, uniqueStackName } from "./pulumi";
import { SECRET_SIG } from "./secret-marker";

/** The credentials both programs read from secret config values. */
export interface BackupProgramSecrets {
    s3AccessKeyId: string;
    s3SecretAccessKey: string;
    encryptionPassword: string;
}

export interface BackupProgram {
    api: KubeApi;
    stack: OfflineStack;
    /** The namespace made for this run (the program's `namespace` config). */
    namespace: string;
    secrets: BackupProgramSecrets;
    /** `kubectl get <kind> <name> -o json` in the namespace. */
    get(kind: string, name: string): Promise<any>;
    /** Destroys the stack (if anything is left), removes it and stops the API. */
    stop(): Promise<void>;
}

export async function startBackupProgram(workDir: string, prefix: string, secrets: BackupProgramSecrets): Promise<BackupProgram> {
    requireResourcePlugin("kubernetes"); // before starting anything: fail fast with the fix
    const namespace = `${prefix}-${crypto.randomBytes(3).toString("hex")}`;
    const api = await startKubeApi({ controllers: true }); // the garbage collector completes the provider's foreground deletes
    try {
        // Made here: a namespace the program created could outlive a failed destroy.
        await api.kubectl(["create", "namespace", namespace]);
        const stack = await offlineStack({
            workDir,
            stackName: uniqueStackName(prefix),
            config: {
                kubeconfig: { value: api.kubeconfig, secret: true },
                namespace: { value: namespace },
                ...Object.fromEntries(Object.entries(secrets).map(([key, value]) => [key, { value, secret: true }])),
            },
        });
        return {
            api,
            stack,
            namespace,
            secrets,
            get: async (kind, name) => JSON.parse(await api.kubectl(["get", kind, name, "-n", namespace, "-o", "json"])),
            async stop() {
                try {
                    await stack.stack.destroy().catch(() => undefined);
                    await stack.cleanup().catch(() => undefined);
                } finally {
                    await api.stop();
                }
            },
        };
    } catch (error) {
        await api.stop();
        throw error;
    }
}

/** The store Secret `<cronJobName>-store` holds the S3 credentials (the encryption password obscured); the script and CronJob hold none. */
export async function expectCredentialsOnlyInStoreSecret(program: BackupProgram, cronJobName: string): Promise<void> {
    const { secrets } = program;
    const secret = await program.get("secret", `${cronJobName}-store`);
    const rcloneConf = Buffer.from(secret.data["rclone.conf"], "base64").toString("utf8");
    expect(rcloneConf).toContain(`access_key_id = ${secrets.s3AccessKeyId}`);
    expect(rcloneConf).toContain(`secret_access_key = ${secrets.s3SecretAccessKey}`);
    expect(rcloneConf).not.toContain(secrets.encryptionPassword); // obscured
    const configMap = JSON.stringify(await program.get("configmap", `${cronJobName}-script`));
    const cronJob = JSON.stringify(await program.get("cronjob", cronJobName));
    for (const value of Object.values(secrets)) {
        expect(configMap).not.toContain(value);
        expect(cronJob).not.toContain(value);
    }
}

/** The kubeconfig's client key and every store credential are in the state (every file of the backend) only as ciphertext. */
export async function expectSecretsOnlyAsCiphertext(program: BackupProgram, cronJobName: string): Promise<void> {
    const clientKeyData = /client-key-data: (\S+)/.exec(program.api.kubeconfig)?.[1];
    expect(clientKeyData?.length).toBeGreaterThan(100);
    const exported = await program.stack.readState();
    expect(exported).toContain(`${cronJobName}-script`); // positive control: this is the stack's state
    expect(exported).toContain(SECRET_SIG); // the secrets are there, encrypted
    expect(exported).not.toMatch(/PRIVATE KEY/);
    for (const file of listFiles(program.stack.stateDir)) {
        const raw = fs.readFileSync(file);
        const text = file.endsWith(".gz") ? zlib.gunzipSync(raw).toString("utf8") : raw.toString("utf8");
        for (const value of [clientKeyData!, ...Object.values(program.secrets)])
            expect({ file, leaks: text.includes(value) }).toEqual({ file, leaks: false });
    }
}

/** After destroy: none of the backup's objects is left in the namespace. */
export async function expectBackupObjectsGone(program: BackupProgram, cronJobName: string): Promise<void> {
    for (const [kind, name] of [
        ["cronjob", cronJobName],
        ["secret", `${cronJobName}-store`],
        ["configmap", `${cronJobName}-script`],
        ["serviceaccount", cronJobName],
    ] as const) {
        await expect(program.api.kubectl(["get", kind, name, "-n", program.namespace])).rejects.toThrow(/NotFound|not found/);
    }
}

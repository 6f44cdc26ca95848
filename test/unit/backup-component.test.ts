// EtcdBackup under Pulumi mocks: children and parents, secrets only in
// Secrets (stringData from Pulumi secrets), bad input fails before any child.
import * as pulumi from "@pulumi/pulumi";

interface Registered {
    type: string;
    name: string;
    inputs: Record<string, any>;
    secretPaths: string[];
    parent?: string;
}
const registered: Registered[] = [];
const secretPaths = (v: any, at = ""): string[] =>
    v && typeof v === "object" ? (v[SECRET_SIG] ? [at] : Object.entries(v).flatMap(([k, x]) => secretPaths(x, at ? `${at}.${k}` : k))) : [];
const unwrap = (v: any): any =>
    v && typeof v === "object"
        ? v[SECRET_SIG]
            ? unwrap(v.value)
            : Array.isArray(v)
              ? v.map(unwrap)
              : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]))
        : v;

pulumi.runtime.setMocks(
    {
        newResource(args) {
            registered.push({ type: args.type, name: args.name, inputs: unwrap(args.inputs), secretPaths: secretPaths(args.inputs) });
            return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
    },
    "etcd-recovery",
    "test",
    false,
);

import { EtcdBackup, EtcdBackupArgs } from "../../src/backup/component";
import { registrationsSettled } from "../support/mock-registrations";
import { SECRET_SIG } from "../support/secret-marker";

const value = <T>(output: pulumi.Output<T>): Promise<T> => new Promise((resolve) => output.apply(resolve));
const SECRET = "sk-zz9-very-secret";
const args = (overrides: Partial<EtcdBackupArgs> = {}): EtcdBackupArgs => ({
    clusterName: "prod",
    schedule: "0 */6 * * *",
    storage: {
        s3: {
            endpoint: "http://rgw:7480",
            bucket: "etcd-backups",
            accessKeyId: pulumi.secret("AKID-zz9"),
            secretAccessKey: pulumi.secret(SECRET),
        },
    },
    ...overrides,
});
/** Waits for every registration the component started. */
const settle = registrationsSettled;

beforeEach(async () => {
    // The previous test's registrations still in flight must not land in this one.
    await registrationsSettled();
    registered.length = 0;
});

describe("EtcdBackup", () => {
    test("alerts: a PrometheusRule child after the CronJob, with the plan's groups; the age limit as an output", async () => {
        const backup = new EtcdBackup("nightly", args({ alerts: { missedRuns: 2, ruleLabels: { release: "monitoring" } } }));
        expect(await value(backup.maxBackupAgeSeconds)).toBe(2 * 6 * 3600 + 1800);
        await settle();
        const rule = registered.find((r) => r.type === "kubernetes:monitoring.coreos.com/v1:PrometheusRule");
        expect(rule?.name).toBe("nightly-alerts");
        expect(rule!.inputs.metadata).toMatchObject({
            name: "nightly-alerts",
            namespace: "kube-system",
            labels: { release: "monitoring" },
        });
        expect(rule!.inputs.spec.groups[0].rules.map((r: { alert: string }) => r.alert)).toEqual([
            "EtcdBackupTooOld",
            "EtcdBackupNeverSucceeded",
            "EtcdBackupJobFailed",
        ]);
        // The PrometheusRule itself is TypeScript-only (a getter); its name is the output other languages read.
        expect(await value(backup.alertRule!.urn)).toMatch(/\$kubernetes:monitoring.coreos.com\/v1:PrometheusRule::nightly-alerts$/);
        expect(await value(backup.alertRuleName)).toBe("nightly-alerts");
        const without = new EtcdBackup("plain", args());
        expect(await value(without.maxBackupAgeSeconds)).toBeUndefined();
        expect(without.alertRule).toBeUndefined();
        expect(await value(without.alertRuleName)).toBeUndefined();
        await settle(); // its registrations must not land in the next test
    });

    test("children: ServiceAccount, store Secret, script ConfigMap, CronJob, all under the component", async () => {
        const backup = new EtcdBackup("nightly", args({ namespace: "etcd-backup", createNamespace: true }));
        expect(await value(backup.cronJobName)).toBe("nightly");
        expect(await value(backup.runNowCommand)).toBe("kubectl create job --from=cronjob/nightly nightly-manual -n etcd-backup");
        expect(await value(backup.storeUrlPattern)).toBe(
            "s3://etcd-backups/etcd-backup/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db",
        );
        expect(await value(backup.cronJob.urn)).toBe(
            "urn:pulumi:test::etcd-recovery::etcd-recovery:index:EtcdBackup$kubernetes:batch/v1:CronJob::nightly-cronjob",
        );
        await settle();
        // Registration order depends on when each Output resolves; the set is what matters.
        expect(registered.map((r) => `${r.type} ${r.name}`).sort()).toEqual(
            [
                "etcd-recovery:index:EtcdBackup nightly",
                "kubernetes:core/v1:Namespace nightly-namespace",
                "kubernetes:core/v1:ServiceAccount nightly-service-account",
                "kubernetes:core/v1:Secret nightly-store-secret",
                "kubernetes:core/v1:ConfigMap nightly-script",
                "kubernetes:batch/v1:CronJob nightly-cronjob",
            ].sort(),
        );
        const cron = registered.find((r) => r.type === "kubernetes:batch/v1:CronJob")!;
        expect(cron.inputs.spec.concurrencyPolicy).toBe("Forbid");
        expect(cron.inputs.metadata).toMatchObject({ name: "nightly", namespace: "etcd-backup" });
    });

    test("credentials: only in the Secret's stringData, which is a Pulumi secret", async () => {
        new EtcdBackup("s3", args());
        await settle();
        const secret = registered.find((r) => r.type === "kubernetes:core/v1:Secret")!;
        expect(secret.secretPaths).toEqual(["stringData"]);
        expect(secret.inputs.stringData["rclone.conf"]).toContain(`secret_access_key = ${SECRET}`);
        for (const other of registered.filter((r) => r.type !== "kubernetes:core/v1:Secret")) {
            expect(JSON.stringify(other.inputs)).not.toContain(SECRET);
            expect(JSON.stringify(other.inputs)).not.toContain("AKID-zz9");
        }
    });

    test("encryption password and salt (Pulumi secrets) only in the store Secret, obscured in rclone.conf", async () => {
        const backup = new EtcdBackup(
            "enc",
            args({ encryption: { password: pulumi.secret("crypt-pw-zz9"), salt: pulumi.secret("crypt-salt-zz9") } }),
        );
        expect(await value(backup.storeUrlPattern)).toMatch(/\.db\.bin$/);
        await settle();
        const secret = registered.find((r) => r.type === "kubernetes:core/v1:Secret")!;
        expect(secret.secretPaths).toEqual(["stringData"]);
        const conf = secret.inputs.stringData["rclone.conf"] as string;
        expect(conf).toMatch(
            /\[crypt\]\ntype = crypt\nremote = store:etcd-backups\nfilename_encryption = off\ndirectory_name_encryption = false\npassword = [A-Za-z0-9_-]+\npassword2 = [A-Za-z0-9_-]+\n$/,
        );
        for (const r of registered) {
            expect(JSON.stringify(r.inputs)).not.toContain("crypt-pw-zz9");
            expect(JSON.stringify(r.inputs)).not.toContain("crypt-salt-zz9");
        }
        const script = registered.find((r) => r.type === "kubernetes:core/v1:ConfigMap")!;
        expect(script.inputs.data["backup.sh"]).toContain("\nREMOTE_DIR=crypt:etcd-backup/prod\n");
    });

    test("certificates from EtcdPki-style outputs go into a second Secret", async () => {
        new EtcdBackup(
            "pki",
            args({
                certificates: {
                    secret: {
                        caPem: pulumi.output("-----BEGIN CERTIFICATE-----ca"),
                        certPem: pulumi.output("-----BEGIN CERTIFICATE-----c"),
                        keyPem: pulumi.secret("-----BEGIN RSA PRIVATE KEY-----k"),
                    },
                },
                nodeRole: "any",
            }),
        );
        await settle();
        const secret = registered.find((r) => r.name === "pki-etcd-client-secret")!;
        expect(secret.secretPaths).toEqual(["stringData"]);
        expect(secret.inputs.stringData["tls.key"]).toBe("-----BEGIN RSA PRIVATE KEY-----k");
        expect(JSON.stringify(registered.find((r) => r.type === "kubernetes:batch/v1:CronJob")!.inputs)).not.toContain("PRIVATE KEY");
    });

    test.each<[string, Partial<EtcdBackupArgs>, RegExp]>([
        ["bad cron", { schedule: "61 * * * *" }, /schedule: "61 \* \* \* \*"/],
        ["bad time zone", { timeZone: "Nowhere/Land" }, /timeZone: "Nowhere\/Land"/],
        ["keep < 1", { keep: 0 }, /keep: 0/],
        [
            "missing credentials",
            { storage: { s3: { bucket: "etcd-backups", accessKeyId: pulumi.secret("a") } as any } },
            /storage.s3.secretAccessKey: missing/,
        ],
        [
            "password and key",
            {
                storage: {
                    sftp: { host: "h", user: "u", password: pulumi.secret("p"), privateKey: pulumi.secret("k"), knownHosts: "h k" },
                },
            },
            /give exactly one of password and privateKey/,
        ],
        ["unknown store", { storage: { azure: {} } as any }, /storage: \["azure"\]/],
        // From another language a whole object arrives as one Output when it is a secret: its structure is unknown.
        [
            "a store that is an Output",
            { storage: pulumi.secret({ hostPath: { path: "/var/backups" } }) as any },
            /^storage: "an Output" — give it as a plain value: only credentials and PEMs may be Outputs/,
        ],
        ["a plain argument that is an Output", { clusterName: pulumi.output("prod") as any }, /^clusterName: "an Output"/],
        [
            "an Output beside the credentials",
            { storage: { s3: { bucket: pulumi.output("b"), accessKeyId: "a", secretAccessKey: "s" } as any } },
            /^storage.s3.bucket: "an Output"/,
        ],
        ["no store", { storage: {} }, /^storage: \{\} — give exactly one of s3, sftp, hostPath, pvc/],
        [
            "two stores",
            { storage: { hostPath: { path: "/var/backups" }, pvc: { claimName: "etcd-backups" } } },
            /^storage: \["hostPath","pvc"\] — give exactly one of s3, sftp, hostPath, pvc, not 2/,
        ],
        [
            "preset and PEMs",
            {
                certificates: {
                    preset: "kubeadm",
                    secret: { caPem: pulumi.output("ca"), certPem: pulumi.output("c"), keyPem: pulumi.secret("k") },
                },
            },
            /^certificates: \["preset","secret"\] — give exactly one of preset, hostPath, secret, not 2/,
        ],
        [
            "nodeRole and nodeLabel",
            { nodeRole: "etcd", nodeLabel: { labelKey: "example.com/etcd" } },
            /^nodeRole: "etcd" — give nodeRole or nodeLabel, not both/,
        ],
    ])("%s: a ResourceError before any child exists", async (_case, overrides, message) => {
        expect(() => new EtcdBackup("bad", args(overrides))).toThrow(message);
        await settle();
        expect(registered.filter((r) => r.type !== "etcd-recovery:index:EtcdBackup")).toEqual([]);
    });
});

// The EtcdBackup plan: rendered objects per preset and store, secrets only in
// Secrets, and every validation error naming argument, value and fix.
import { CERTIFICATE_PRESETS, EtcdBackupPlanInput, planEtcdBackup } from "../../src/backup/plan";
import { renderBackupScript } from "../../src/backup/script";
import { validateSchedule, validateTimeZone } from "../../src/backup/validate";
import { InputError } from "../../src/errors";

const SECRET = "S3CR3T-value-zz9";
const KEY_ID = "AKIA-KEYID-zz9";
const s3 = { s3: { endpoint: "http://rgw.internal:7480", bucket: "etcd-backups", accessKeyId: KEY_ID, secretAccessKey: SECRET } };
const base = (overrides: Partial<EtcdBackupPlanInput> = {}): EtcdBackupPlanInput => ({
    name: "etcd-backup",
    clusterName: "prod",
    schedule: "*/30 * * * *",
    storage: s3,
    ...overrides,
});
/** Client certificates from a Secret (EtcdPki outputs), on any node. */
const SECRET_CERTIFICATES: Partial<EtcdBackupPlanInput> = {
    certificates: {
        secret: {
            caPem: "-----BEGIN CERTIFICATE-----ca",
            certPem: "-----BEGIN CERTIFICATE-----c",
            keyPem: "-----BEGIN RSA PRIVATE KEY-----k",
        },
    },
    nodeRole: "any",
};
const podOf = (plan: ReturnType<typeof planEtcdBackup>) => (plan.cronJob as any).spec.jobTemplate.spec.template.spec;

function inputError(fn: () => unknown): InputError {
    try {
        fn();
    } catch (error) {
        if (error instanceof InputError) return error;
        throw error;
    }
    throw new Error("expected an InputError");
}

describe("planEtcdBackup", () => {
    test("CronJob: batch/v1, schedule, time zone, Forbid, deadlines, history, backoff, resources", () => {
        const plan = planEtcdBackup(base({ timeZone: "Asia/Shanghai" }));
        expect(plan.cronJob.apiVersion).toBe("batch/v1");
        const spec = (plan.cronJob as any).spec;
        expect(spec).toMatchObject({
            schedule: "*/30 * * * *",
            timeZone: "Asia/Shanghai",
            concurrencyPolicy: "Forbid",
            startingDeadlineSeconds: 300,
            successfulJobsHistoryLimit: 3,
            failedJobsHistoryLimit: 3,
        });
        expect(spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 1800 });
        const pod = podOf(plan);
        expect(pod).toMatchObject({
            restartPolicy: "Never",
            hostNetwork: true,
            dnsPolicy: "ClusterFirstWithHostNet",
            serviceAccountName: "etcd-backup",
            automountServiceAccountToken: false,
        });
        const [snapshot, ...others] = [...pod.initContainers, ...pod.containers];
        for (const c of others) expect(c.resources).toEqual({ requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } });
        // The snapshot container's limit holds the snapshot's page cache for the check and the upload.
        expect(snapshot.name).toBe("snapshot");
        expect(snapshot.resources).toEqual({ requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "3Gi" } });
        expect(plan.objects.map((o) => o.kind)).toEqual(["ServiceAccount", "Secret", "ConfigMap", "CronJob"]);
        expect(plan.runNowCommand).toBe("kubectl create job --from=cronjob/etcd-backup etcd-backup-manual -n kube-system");
        expect(plan.storeUrlPattern).toBe("s3://etcd-backups/etcd-backup/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db");
        expect(plan.scriptConfigMap.data["backup.sh"]).toContain("\nCOMPRESSION=none\n");
        const gzip = planEtcdBackup(base({ compression: "gzip" }));
        expect(gzip.storeUrlPattern).toBe("s3://etcd-backups/etcd-backup/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db.gz");
        expect(gzip.scriptConfigMap.data["backup.sh"]).toContain("\nCOMPRESSION=gzip\n");
    });

    test("pod: etcdctl in exec form, the rclone uploader as a native sidecar beside etcdutl (exec form), then the sealing container", () => {
        const pod = podOf(planEtcdBackup(base({ etcdImage: "registry.local/etcd:3.5.21-0" })));
        expect(pod.initContainers.map((c: any) => c.name)).toEqual(["snapshot", "transfer", "verify"]);
        const [snapshot, transfer, verify] = pod.initContainers;
        // Only the sidecar restarts; the kubelet starts "upload" after verify succeeded.
        expect(transfer).toMatchObject({
            name: "transfer",
            image: "rclone/rclone:1.60.1",
            restartPolicy: "Always",
            command: ["/bin/sh", "/etc/etcd-backup/script/backup.sh", "transfer"],
        });
        for (const c of [snapshot, verify, ...pod.containers]) expect(c.restartPolicy).toBeUndefined();
        expect(transfer.volumeMounts).toEqual(pod.containers[0].volumeMounts);
        expect(transfer.env).toEqual(pod.containers[0].env);
        expect(snapshot).toMatchObject({ name: "snapshot", image: "registry.local/etcd:3.5.21-0", command: ["etcdctl"] });
        expect(snapshot.args).toEqual([
            "--endpoints=https://127.0.0.1:2379",
            "--cacert=/etc/etcd-backup/pki/ca.crt",
            "--cert=/etc/etcd-backup/pki/healthcheck-client.crt",
            "--key=/etc/etcd-backup/pki/healthcheck-client.key",
            "--dial-timeout=10s",
            "--command-timeout=300s",
            "snapshot",
            "save",
            "/var/lib/etcd-backup/snapshot.db",
        ]);
        expect(verify).toMatchObject({
            name: "verify",
            command: ["etcdutl"],
            args: ["snapshot", "status", "/var/lib/etcd-backup/snapshot.db", "--write-out=json"],
        });
        expect(pod.containers).toHaveLength(1);
        expect(pod.containers[0]).toMatchObject({
            name: "upload",
            image: "rclone/rclone:1.60.1",
            command: ["/bin/sh", "/etc/etcd-backup/script/backup.sh", "finalize"],
        });
        const script = planEtcdBackup(base()).scriptConfigMap.data["backup.sh"]!;
        expect(script).toContain("\nTRANSFER_SIDECAR=true\n");
        expect(script).toContain("\nRESTORE_DRILL=false\n");
        for (const c of [snapshot, transfer, verify, ...pod.containers])
            expect(c.securityContext).toMatchObject({
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ["ALL"] },
            });
    });

    test.each(Object.entries(CERTIFICATE_PRESETS))(
        "certificate preset %s: read-only hostPath with the distribution's files",
        (preset, files) => {
            const pod = podOf(planEtcdBackup(base({ certificates: { preset: preset as keyof typeof CERTIFICATE_PRESETS } })));
            expect(pod.volumes.find((v: any) => v.name === "etcd-certs")).toEqual({
                name: "etcd-certs",
                hostPath: { path: files.path, type: "Directory" },
            });
            expect(pod.initContainers[0].volumeMounts).toContainEqual({
                name: "etcd-certs",
                mountPath: "/etc/etcd-backup/pki",
                readOnly: true,
            });
            expect(pod.initContainers[0].args).toContain(`--cert=/etc/etcd-backup/pki/${files.certFile}`);
            expect(pod.initContainers[0].env).toContainEqual({
                name: "NODE_NAME",
                valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } },
            });
        },
    );

    test("certificates from a Secret (EtcdPki outputs): own Secret, mode 0400, never a hostPath", () => {
        const plan = planEtcdBackup(
            base({
                ...SECRET_CERTIFICATES,
            }),
        );
        expect(plan.etcdClientSecret?.stringData).toEqual({
            "ca.crt": "-----BEGIN CERTIFICATE-----ca",
            "tls.crt": "-----BEGIN CERTIFICATE-----c",
            "tls.key": "-----BEGIN RSA PRIVATE KEY-----k",
        });
        const pod = podOf(plan);
        expect(pod.volumes.find((v: any) => v.name === "etcd-certs")).toEqual({
            name: "etcd-certs",
            secret: { secretName: "etcd-backup-etcd-client", defaultMode: 0o400 },
        });
        expect(pod.affinity).toBeUndefined();
        expect(JSON.stringify([plan.cronJob, plan.scriptConfigMap])).not.toContain("PRIVATE KEY");
    });

    test.each([
        ["control-plane", "node-role.kubernetes.io/control-plane", ["node-role.kubernetes.io/control-plane"]],
        ["etcd", "node-role.kubernetes.io/etcd", ["node-role.kubernetes.io/etcd", "node-role.kubernetes.io/controlplane"]],
        ["master", "node-role.kubernetes.io/master", ["node-role.kubernetes.io/master"]],
    ])("node role %s: affinity and matching tolerations", (role, label, taints) => {
        const pod = podOf(planEtcdBackup(base({ nodeRole: role as any })));
        expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
            { matchExpressions: [{ key: label, operator: "Exists" }] },
        ]);
        expect(pod.tolerations).toEqual(taints.map((key) => ({ key, operator: "Exists" })));
    });

    test("S3: credentials only in the store Secret's rclone.conf; CA bundle wired by path", () => {
        const plan = planEtcdBackup(
            base({ storage: { s3: { ...s3.s3, caBundle: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n" } } }),
        );
        expect(plan.storeSecret.stringData["rclone.conf"]).toBe(
            `[store]\ntype = s3\nprovider = Other\naccess_key_id = ${KEY_ID}\nsecret_access_key = ${SECRET}\nregion = us-east-1\nendpoint = http://rgw.internal:7480\nforce_path_style = true\nno_check_bucket = true\ndisable_checksum = true\n`,
        );
        const elsewhere = JSON.stringify(plan.objects.filter((o) => o.kind !== "Secret"));
        expect(elsewhere).not.toContain(SECRET);
        expect(elsewhere).not.toContain(KEY_ID);
        expect(podOf(plan).containers[0].env).toContainEqual({ name: "RCLONE_CA_CERT", value: "/etc/etcd-backup/store/ca-bundle.pem" });
        expect(podOf(plan).volumes).toContainEqual({
            name: "store-config",
            secret: { secretName: "etcd-backup-store", defaultMode: 0o400 },
        });
    });

    test("SFTP: obscured password or key file, known_hosts always checked", () => {
        const password = planEtcdBackup(
            base({
                storage: {
                    sftp: {
                        host: "10.0.0.9",
                        port: 1022,
                        user: "backup",
                        password: "pw-zz9",
                        knownHosts: "[10.0.0.9]:1022 ssh-ed25519 AAAA",
                        path: "/srv/etcd",
                    },
                },
            }),
        );
        const conf = password.storeSecret.stringData["rclone.conf"]!;
        expect(conf).toMatch(
            /^\[store\]\ntype = sftp\nhost = 10.0.0.9\nport = 1022\nuser = backup\npass = [A-Za-z0-9_-]+\nknown_hosts_file = \/etc\/etcd-backup\/store\/known_hosts\nshell_type = none\n$/,
        );
        expect(conf).not.toContain("pw-zz9");
        expect(JSON.stringify(password.objects)).not.toContain("pw-zz9");
        expect(password.storeUrlPattern).toBe(
            "sftp://backup@10.0.0.9:1022/srv/etcd/etcd-backup/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db",
        );
        const key = planEtcdBackup(
            base({
                storage: {
                    sftp: {
                        host: "h",
                        user: "u",
                        privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----",
                        knownHosts: "h ssh-ed25519 AAAA",
                    },
                },
            }),
        );
        expect(key.storeSecret.stringData["ssh-key"]).toContain("OPENSSH PRIVATE KEY");
        expect(key.storeSecret.stringData["rclone.conf"]).toContain("key_file = /etc/etcd-backup/store/ssh-key");
    });

    test("hostPath and PVC stores mount the directory and use rclone's local backend", () => {
        const host = planEtcdBackup(base({ storage: { hostPath: { path: "/var/backups/etcd" } }, compression: "none" }));
        expect(podOf(host).volumes).toContainEqual({ name: "store", hostPath: { path: "/var/backups/etcd", type: "DirectoryOrCreate" } });
        expect(host.storeSecret.stringData["rclone.conf"]).toBe("[store]\ntype = local\n");
        expect(host.storeUrlPattern).toBe("file://<node>/var/backups/etcd/etcd-backup/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db");
        const pvc = planEtcdBackup(base({ storage: { pvc: { claimName: "etcd-backups" } } }));
        expect(podOf(pvc).volumes).toContainEqual({ name: "store", persistentVolumeClaim: { claimName: "etcd-backups" } });
        expect(podOf(pvc).containers[0].volumeMounts).toContainEqual({ name: "store", mountPath: "/backup-store" });
    });

    test("encryption: an rclone crypt remote over the store's root in the Secret; the script writes through it", () => {
        const plan = planEtcdBackup(base({ encryption: { password: "enc-pw-zz9" }, prefix: "nightly" }));
        const conf = plan.storeSecret.stringData["rclone.conf"]!;
        expect(conf).toContain("[store]\ntype = s3\n");
        expect(conf).toMatch(
            /\n\[crypt\]\ntype = crypt\nremote = store:etcd-backups\nfilename_encryption = off\ndirectory_name_encryption = false\npassword = [A-Za-z0-9_-]+\n$/,
        );
        expect(conf).not.toContain("enc-pw-zz9");
        expect(JSON.stringify(plan.objects)).not.toContain("enc-pw-zz9");
        expect(plan.scriptConfigMap.data["backup.sh"]).toContain("\nREMOTE_DIR=crypt:nightly/prod\n");
        expect(plan.scriptConfigMap.data["backup.sh"]).toContain("\nENCRYPTED=true\n");
        expect(plan.storeUrlPattern).toBe("s3://etcd-backups/nightly/prod/etcd-snapshot-<UTC timestamp>-rev<revision>.db.bin");
        // Every store: SFTP (relative and absolute base), hostPath.
        const sftp = (path?: string) =>
            planEtcdBackup(
                base({
                    encryption: { password: "p" },
                    storage: { sftp: { host: "h", user: "u", password: "x", knownHosts: "h k", path } },
                }),
            );
        expect(sftp().storeSecret.stringData["rclone.conf"]).toContain("remote = store:\n");
        expect(sftp("/srv/b").storeSecret.stringData["rclone.conf"]).toContain("remote = store:/srv/b\n");
        expect(sftp("/srv/b").scriptConfigMap.data["backup.sh"]).toContain("\nREMOTE_DIR=crypt:etcd-backup/prod\n");
        const host = planEtcdBackup(base({ encryption: { password: "p" }, storage: { hostPath: { path: "/var/backups" } } }));
        expect(host.storeSecret.stringData["rclone.conf"]).toContain("remote = store:/backup-store\n");
        // Without encryption the script writes to the store directly.
        expect(planEtcdBackup(base()).scriptConfigMap.data["backup.sh"]).toContain("\nREMOTE_DIR=store:etcd-backups/etcd-backup/prod\n");
        expect(sftp("/srv/b").storeSecret.stringData["rclone.conf"]).toContain("shell_type = none\n");
    });

    test.each<["status" | "restore", boolean, string[]]>([
        ["status", true, ["snapshot", "transfer", "verify", "await-transfer", "drill-status"]],
        ["restore", true, ["snapshot", "transfer", "verify", "await-transfer", "drill-status", "drill-restore"]],
        ["status", false, ["snapshot", "verify", "upload", "drill-status"]],
        ["restore", false, ["snapshot", "verify", "upload", "drill-status", "drill-restore"]],
    ])(
        "restore drill %s (sidecarUpload %s): the copy from the store is waited for, drilled in the etcd image (exec form), then finalize",
        (drill, sidecarUpload, initNames) => {
            const plan = planEtcdBackup(base({ restoreDrill: drill, sidecarUpload, etcdImage: "registry.local/etcd:3.5.21-0" }));
            const pod = podOf(plan);
            expect(pod.initContainers.map((c: any) => c.name)).toEqual(initNames);
            const at = initNames.indexOf("drill-status");
            const waiter = pod.initContainers[at - 1];
            expect(waiter.command).toEqual(["/bin/sh", "/etc/etcd-backup/script/backup.sh", sidecarUpload ? "await" : "upload"]);
            expect(waiter.restartPolicy).toBeUndefined();
            expect(pod.initContainers[at]).toMatchObject({
                image: "registry.local/etcd:3.5.21-0",
                command: ["etcdutl"],
                args: ["snapshot", "status", "/var/lib/etcd-backup/drill/snapshot.db", "--write-out=json"],
            });
            if (drill === "restore") {
                expect(pod.initContainers[at + 1]).toMatchObject({
                    command: ["etcdutl"],
                    args: [
                        "snapshot",
                        "restore",
                        "/var/lib/etcd-backup/drill/snapshot.db",
                        "--data-dir=/var/lib/etcd-backup/drill/restore",
                    ],
                });
            }
            expect(pod.containers).toHaveLength(1);
            expect(pod.containers[0]).toMatchObject({
                name: "finalize",
                command: ["/bin/sh", "/etc/etcd-backup/script/backup.sh", "finalize"],
            });
            expect(pod.containers[0].volumeMounts).toEqual(waiter.volumeMounts);
            const script = plan.scriptConfigMap.data["backup.sh"]!;
            expect(script).toContain("\nRESTORE_DRILL=true\n");
            expect(script).toContain(`\nTRANSFER_SIDECAR=${sidecarUpload}\n`);
        },
    );

    test("one endpoint: no gateway, etcdctl talks to the member itself; the metadata names it", () => {
        const plan = planEtcdBackup(base({ endpoints: ["https://10.0.0.11:2379"], nodeRole: "any" }));
        const pod = podOf(plan);
        expect(pod.initContainers.map((c: any) => c.name)).toEqual(["snapshot", "transfer", "verify"]);
        expect(pod.initContainers[0].args[0]).toBe("--endpoints=https://10.0.0.11:2379");
        expect(plan.scriptConfigMap.data["backup.sh"]).toContain("\nENDPOINT=https://10.0.0.11:2379\n");
        // gatewayPort is ignored with one endpoint (a list that shrinks to one keeps working).
        expect(podOf(planEtcdBackup(base({ endpoints: ["https://10.0.0.11:2379"], nodeRole: "any", gatewayPort: 2379 })))).toEqual(pod);
    });

    test("several endpoints: an etcd gateway sidecar (exec form, no volume, no certificate) before the snapshot, which talks to it on 127.0.0.1", () => {
        const endpoints = ["https://10.0.0.11:2379", "https://10.0.0.12:2379", "https://etcd-3.internal:2379"];
        const plan = planEtcdBackup(base({ endpoints, etcdImage: "registry.local/etcd:3.5.21-0" }));
        const pod = podOf(plan);
        expect(pod.initContainers.map((c: any) => c.name)).toEqual(["etcd-gateway", "snapshot", "transfer", "verify"]);
        const [gateway, snapshot] = pod.initContainers;
        expect(gateway).toEqual({
            name: "etcd-gateway",
            restartPolicy: "Always",
            image: "registry.local/etcd:3.5.21-0",
            command: ["etcd"],
            args: [
                "gateway",
                "start",
                "--endpoints=https://10.0.0.11:2379,https://10.0.0.12:2379,https://etcd-3.internal:2379",
                "--listen-addr=127.0.0.1:23799",
                "--retry-delay=5s",
            ],
            resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
            securityContext: {
                runAsUser: 0,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
                seccompProfile: { type: "RuntimeDefault" },
            },
        });
        // Everything else is the one-endpoint pod but the endpoint etcdctl dials.
        const single = podOf(planEtcdBackup(base({ endpoints: [endpoints[0]!], etcdImage: "registry.local/etcd:3.5.21-0" })));
        expect(snapshot).toEqual({
            ...single.initContainers[0],
            args: ["--endpoints=https://127.0.0.1:23799", ...single.initContainers[0].args.slice(1)],
        });
        expect({ ...pod, initContainers: pod.initContainers.slice(1) }).toEqual({
            ...single,
            initContainers: [snapshot, ...single.initContainers.slice(1)],
        });
        expect(plan.scriptConfigMap.data["backup.sh"]).toContain(`\nENDPOINT=${endpoints.join(",")}\n`);

        const custom = podOf(planEtcdBackup(base({ endpoints: ["http://10.0.0.11:2379", "http://10.0.0.12:2379"], gatewayPort: 24000 })));
        expect(custom.initContainers[0].args).toContain("--listen-addr=127.0.0.1:24000");
        expect(custom.initContainers[1].args[0]).toBe("--endpoints=http://127.0.0.1:24000"); // http members: no TLS to the gateway either
    });

    test("several endpoints with certificates from a Secret: the key stays in the Secret volume, mounted by snapshot only", () => {
        const plan = planEtcdBackup(
            base({
                endpoints: ["https://10.0.0.11:2379", "https://10.0.0.12:2379"],
                ...SECRET_CERTIFICATES,
            }),
        );
        const pod = podOf(plan);
        expect(JSON.stringify([plan.cronJob, plan.scriptConfigMap])).not.toContain("PRIVATE KEY");
        const mountsCerts = [...pod.initContainers, ...pod.containers]
            .filter((c: any) => (c.volumeMounts ?? []).some((m: any) => m.name === "etcd-certs"))
            .map((c: any) => c.name);
        expect(mountsCerts).toEqual(["snapshot"]);
        expect(pod.initContainers[0].volumeMounts).toBeUndefined();
        expect(pod.initContainers[0].env).toBeUndefined();
    });

    test("sidecarUpload false: the old sequential layout for Kubernetes < 1.29 (no restartPolicy anywhere)", () => {
        const plan = planEtcdBackup(base({ sidecarUpload: false }));
        const pod = podOf(plan);
        expect(pod.initContainers.map((c: any) => c.name)).toEqual(["snapshot", "verify"]);
        expect(pod.containers.map((c: any) => [c.name, c.command[2]])).toEqual([["upload", "all"]]);
        expect(JSON.stringify(pod)).not.toContain('restartPolicy":"Always');
        expect(plan.scriptConfigMap.data["backup.sh"]).toContain("\nTRANSFER_SIDECAR=false\n");
        expect(() => planEtcdBackup(base({ sidecarUpload: "yes" as any }))).toThrow(/sidecarUpload/);
    });

    test("snapshotMemoryLimit sets the snapshot container's limit only; resources set the rest", () => {
        const pod = podOf(planEtcdBackup(base({ snapshotMemoryLimit: "9Gi", resources: { limits: { memory: "512Mi", cpu: "1" } } })));
        const byName = new Map([...pod.initContainers, ...pod.containers].map((c: any) => [c.name, c.resources.limits]));
        expect(byName.get("snapshot")).toEqual({ memory: "9Gi", cpu: "1" });
        expect(byName.get("verify")).toEqual({ memory: "512Mi", cpu: "1" });
        expect(byName.get("transfer")).toEqual({ memory: "512Mi", cpu: "1" });
        // Unset, it is 3Gi or the containers' limit when that is larger.
        const snapshotLimit = (memory: string) =>
            podOf(planEtcdBackup(base({ resources: { limits: { memory } } }))).initContainers[0].resources.limits.memory;
        expect(snapshotLimit("1Gi")).toBe("3Gi");
        expect(snapshotLimit("4Gi")).toBe("4Gi");
        // With a drill, the container that writes the drill copy (read next by etcdutl) gets it too.
        const limits = (overrides: Partial<EtcdBackupPlanInput>) => {
            const pod = podOf(planEtcdBackup(base({ restoreDrill: "status", ...overrides })));
            return Object.fromEntries([...pod.initContainers, ...pod.containers].map((c: any) => [c.name, c.resources.limits.memory]));
        };
        expect(limits({})).toEqual({
            snapshot: "3Gi",
            transfer: "3Gi",
            verify: "256Mi",
            "await-transfer": "256Mi",
            "drill-status": "256Mi",
            finalize: "256Mi",
        });
        expect(limits({ sidecarUpload: false })).toEqual({
            snapshot: "3Gi",
            verify: "256Mi",
            upload: "3Gi",
            "drill-status": "256Mi",
            finalize: "256Mi",
        });
    });

    test("retention tiers reach the script", () => {
        const script = planEtcdBackup(base({ keep: 3, keepDaily: 7, keepWeekly: 4 })).scriptConfigMap.data["backup.sh"]!;
        expect(script).toContain("\nKEEP=3\nKEEP_DAILY=7\nKEEP_WEEKLY=4\n");
        expect(planEtcdBackup(base()).scriptConfigMap.data["backup.sh"]).toContain("\nKEEP=5\nKEEP_DAILY=0\nKEEP_WEEKLY=0\n");
    });

    test("createNamespace adds a privileged Pod Security namespace first", () => {
        const plan = planEtcdBackup(base({ namespace: "etcd-backup", createNamespace: true }));
        expect(plan.objects[0]).toMatchObject({
            kind: "Namespace",
            metadata: { name: "etcd-backup", labels: { "pod-security.kubernetes.io/enforce": "privileged" } },
        });
        expect(plan.objects.slice(1).every((o) => o.metadata.namespace === "etcd-backup")).toBe(true);
    });

    test.each<[string, Partial<EtcdBackupPlanInput>, RegExp]>([
        ["bad cron (4 fields)", { schedule: "0 * * *" }, /^schedule: "0 \* \* \*" — give 5 fields/],
        ["bad cron (minute 60)", { schedule: "60 * * * *" }, /^schedule: .*minute field: "60" is outside 0-59/],
        ["bad cron (TZ prefix)", { schedule: "TZ=UTC 0 * * * *" }, /timeZone argument/],
        ["bad time zone", { timeZone: "Mars/Olympus" }, /^timeZone: "Mars\/Olympus" — give an IANA time zone/],
        ["time zone case", { timeZone: "utc" }, /case-sensitive: use "UTC"/],
        ["keep 0", { keep: 0 }, /^keep: 0 — keep at least 1 backup/],
        ["keep fraction", { keep: 1.5 }, /^keep: 1.5/],
        [
            "missing S3 secret",
            { storage: { s3: { bucket: "etcd-backups", accessKeyId: "a" } as any } },
            /^storage.s3.secretAccessKey: missing — give the credential/,
        ],
        [
            "missing SFTP credentials",
            { storage: { sftp: { host: "h", user: "u", knownHosts: "h k" } } },
            /^storage.sftp: "neither password nor privateKey" — give exactly one/,
        ],
        [
            "password and key",
            { storage: { sftp: { host: "h", user: "u", password: "p", privateKey: "k", knownHosts: "h k" } } },
            /^storage.sftp: "password and privateKey" — give exactly one/,
        ],
        [
            "SFTP without known_hosts",
            { storage: { sftp: { host: "h", user: "u", password: "p" } as any } },
            /^storage.sftp.knownHosts: missing — .*host keys are always checked/,
        ],
        [
            "unknown store",
            { storage: { gcs: { bucket: "b" } } as any },
            /^storage: \["gcs"\] — "gcs" is not an option: give exactly one of s3, sftp, hostPath, pvc$/,
        ],
        ["two stores", { storage: { hostPath: { path: "/a" }, pvc: { claimName: "b" } } as any }, /^storage: \["hostPath","pvc"\]/],
        ["no endpoints", { endpoints: [] }, /^endpoints: \[\] — give a list of etcd client URLs/],
        ["endpoints not a list", { endpoints: "https://10.0.0.1:2379" as any }, /^endpoints: "https:\/\/10.0.0.1:2379" — give a list/],
        ["endpoint without scheme", { endpoints: ["10.0.0.1:2379"] }, /^endpoints\[0\]: "10.0.0.1:2379" — give an etcd client URL such as/],
        [
            "endpoint with a path",
            { endpoints: ["https://10.0.0.1:2379/v3"] },
            /^endpoints\[0\]: "https:\/\/10.0.0.1:2379\/v3" — give an etcd client URL/,
        ],
        ["endpoint with a user", { endpoints: ["https://root@10.0.0.1:2379"] }, /^endpoints\[0\]: .* \(no path, no user\)/],
        ["endpoint with a quote", { endpoints: ['https://10.0.0.1:2379"'] }, /^endpoints\[0\]: /],
        [
            "endpoint port 70000",
            { endpoints: ["https://10.0.0.1:70000"] },
            /^endpoints\[0\]: "https:\/\/10.0.0.1:70000" — give an etcd client URL/,
        ],
        [
            "two endpoints, one without a port",
            { endpoints: ["https://10.0.0.1:2379", "https://etcd-2"] },
            /^endpoints\[1\]: "https:\/\/etcd-2" — give the port .* the etcd gateway dials host:port/,
        ],
        [
            "the same member twice",
            { endpoints: ["https://ETCD-1.internal:2379", "https://10.0.0.2:2379", "https://etcd-1.internal:2379/"] },
            /^endpoints\[2\]: "https:\/\/etcd-1.internal:2379\/" — endpoints\[0\] is the same member: give each member once/,
        ],
        [
            "mixed schemes",
            { endpoints: ["https://10.0.0.1:2379", "http://10.0.0.2:2379"] },
            /^endpoints: \["https:\/\/10.0.0.1:2379","http:\/\/10.0.0.2:2379"\] — give every endpoint the same scheme/,
        ],
        [
            "an endpoint on the gateway's address",
            { endpoints: ["https://127.0.0.1:2379", "https://localhost:23799"] },
            /^endpoints\[1\]: "https:\/\/localhost:23799" — this is where the pod's etcd gateway listens \(gatewayPort 23799\): set gatewayPort/,
        ],
        ["gatewayPort 0", { gatewayPort: 0 }, /^gatewayPort: 0 — give an integer >= 1/],
        ["gatewayPort 70000", { gatewayPort: 70000 }, /^gatewayPort: 70000 — give a TCP port between 1 and 65535/],
        [
            "several endpoints without native sidecars",
            { endpoints: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"], sidecarUpload: false },
            /^endpoints: .* — several endpoints need the etcd gateway as a native sidecar \(Kubernetes >= 1.29, sidecarUpload: true\)/,
        ],
        ["no hostNetwork, no endpoints", { hostNetwork: false }, /^endpoints: missing — without hostNetwork/],
        ["unknown preset", { certificates: { preset: "k3s" as any } }, /^certificates.preset: "k3s"/],
        ["keepDaily negative", { keepDaily: -1 }, /^keepDaily: -1 — give an integer >= 0/],
        ["keepWeekly fraction", { keepWeekly: 1.5 }, /^keepWeekly: 1.5 — give an integer >= 0/],
        [
            "snapshotMemoryLimit not a quantity",
            { snapshotMemoryLimit: "3 GiB" },
            /^snapshotMemoryLimit: "3 GiB" — give a Kubernetes memory quantity such as "3Gi"/,
        ],
        [
            "snapshotMemoryLimit below the containers' limit",
            { snapshotMemoryLimit: "128Mi" },
            /^snapshotMemoryLimit: "128Mi" — give at least the containers' memory limit \(256Mi\)/,
        ],
        ["unknown drill", { restoreDrill: "full" as any }, /^restoreDrill: "full" — give "off", "status" or "restore"/],
        ["encryption without password", { encryption: {} as any }, /^encryption.password: missing — give the credential/],
        [
            "encryption password with a newline",
            { encryption: { password: "a\nb" } },
            /^encryption.password: "<hidden>" — must be a single line/,
        ],
        [
            "credential with a newline",
            { storage: { s3: { ...s3.s3, secretAccessKey: "a\nb" } } },
            /^storage.s3.secretAccessKey: "<hidden>" — must be a single line/,
        ],
    ])("%s", (_case, overrides, message) => {
        const error = inputError(() => planEtcdBackup(base(overrides)));
        expect(error.message).toMatch(message);
        expect(error.message).not.toContain(SECRET);
    });
});

describe("schedule and time zone validation", () => {
    test.each(["0 */6 * * *", "*/5 1-5 * * mon-fri", "0 0 1,15 jan-jun ?", "@daily", "30 2 * * 0", "0 3 * * 7"])("accepts %s", (s) =>
        expect(validateSchedule(s)).toBeTruthy(),
    );
    test.each(["", "* * * * * *", "*/0 * * * *", "5-1 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "@every 1h", "a * * * *"])(
        "rejects %j",
        (s) => expect(() => validateSchedule(s)).toThrow(InputError),
    );
    test.each(["Etc/UTC", "UTC", "Europe/Berlin", "America/New_York"])("accepts %s", (tz) => expect(validateTimeZone(tz)).toBe(tz));
    test.each(["", "Europe/Atlantis", "+01:00", "europe/berlin"])("rejects %j", (tz) =>
        expect(() => validateTimeZone(tz)).toThrow(InputError),
    );
});

describe("renderBackupScript", () => {
    const script = renderBackupScript({
        clusterName: "prod",
        remoteDir: "store:b/etcd-backup/prod",
        storeUrl: "s3://b/etcd-backup/prod",
        keep: 3,
        compression: "gzip",
        snapshotPath: "/var/lib/etcd-backup/snapshot.db",
        workDir: "/var/lib/etcd-backup",
        etcdImage: "it's/etcd",
        endpoint: "https://127.0.0.1:2379",
        rcloneConnectTimeoutSeconds: 10,
        rcloneIoTimeoutSeconds: 60,
        rcloneRetries: 3,
        keepDaily: 7,
        keepWeekly: 4,
        encrypted: false,
        drillSnapshotPath: "/var/lib/etcd-backup/drill/snapshot.db",
    });
    test("strict shell, quoted settings, retention only after verify and seal", () => {
        expect(script.startsWith("#!/bin/sh\n")).toBe(true);
        expect(script).toContain("set -eu\nset -o pipefail\n");
        expect(script).toContain("ETCD_IMAGE='it'\\''s/etcd'");
        expect(script).toContain("\nKEEP=3\n");
        const order = ["step=inspect", "step=upload", "step=verify", "step=seal", "step=retention", "step=done"].map((s) =>
            script.indexOf(`\n${s}\n`),
        );
        expect(order.every((i) => i > 0)).toBe(true);
        expect([...order].sort((a, b) => a - b)).toEqual(order);
        expect(script.indexOf("deletefile")).toBeGreaterThan(script.indexOf("\nstep=retention\n"));
        expect(script).not.toMatch(/\\\$\{/); // the TypeScript escape never reaches the shell
        expect(script).toContain('"${NODE_NAME:-}"');
    });
});

describe("exactly one of the sibling options (the schema's form of a union)", () => {
    const sftp = { host: "h", user: "u", password: SECRET, knownHosts: "h k" };
    const pems = {
        caPem: "-----BEGIN CERTIFICATE-----a",
        certPem: "-----BEGIN CERTIFICATE-----c",
        keyPem: `-----BEGIN PRIVATE KEY-----${SECRET}`,
    };
    test.each<[string, Partial<EtcdBackupPlanInput>, RegExp]>([
        [
            "no store",
            { storage: {} },
            /^storage: \{\} — give exactly one of s3, sftp, hostPath, pvc, e\.g\. \{ s3: \{ bucket, accessKeyId, secretAccessKey \} \}$/,
        ],
        [
            "only absent stores",
            { storage: { s3: undefined, sftp: null as any } },
            /^storage: \{\} — give exactly one of s3, sftp, hostPath, pvc/,
        ],
        [
            "two stores",
            { storage: { hostPath: { path: "/a" }, pvc: { claimName: "b" } } },
            /^storage: \["hostPath","pvc"\] — give exactly one of s3, sftp, hostPath, pvc, not 2: keep one and remove the others$/,
        ],
        ["two stores with credentials", { storage: { ...s3, sftp } }, /^storage: \["s3","sftp"\] — give exactly one of/],
        [
            "a store that is not an object",
            { storage: "s3://bucket" as any },
            /^storage: "s3:\/\/bucket" — give an object with exactly one of s3/,
        ],
        [
            "no certificate source",
            { certificates: {} },
            /^certificates: \{\} — give exactly one of preset, hostPath, secret, e\.g\. \{ preset: "kubeadm" \}$/,
        ],
        [
            "preset and PEMs",
            { certificates: { preset: "kubeadm", secret: pems } },
            /^certificates: \["preset","secret"\] — give exactly one of preset, hostPath, secret, not 2/,
        ],
        ["unknown certificate source", { certificates: { vault: "x" } as any }, /^certificates: \["vault"\] — "vault" is not an option/],
        [
            "preset named like an Object property",
            { certificates: { preset: "constructor" as any } },
            /^certificates.preset: "constructor" — give one of kubeadm, rke, kubespray$/,
        ],
        [
            "nodeRole and nodeLabel",
            { nodeRole: "etcd", nodeLabel: { labelKey: "example.com/etcd" } },
            /^nodeRole: "etcd" — give nodeRole or nodeLabel, not both: remove nodeRole/,
        ],
        [
            "nodeRole as an object (before nodeLabel existed)",
            { nodeRole: { labelKey: "example.com/etcd" } as any },
            /^nodeRole: \{"labelKey":"example.com\/etcd"\} — give one of control-plane, etcd, master, any; a label of your own goes in nodeLabel/,
        ],
        [
            "unknown nodeRole",
            { nodeRole: "worker" as any },
            /^nodeRole: "worker" — give one of control-plane, etcd, master, any, or a label of your own in nodeLabel/,
        ],
        ["nodeRole named like an Object property", { nodeRole: "toString" as any }, /^nodeRole: "toString" — give one of/],
        ["nodeLabel without labelKey", { nodeLabel: { labelValue: "true" } as any }, /^nodeLabel.labelKey: missing — give the node label/],
    ])("%s: an InputError naming the argument and the keys given, never a credential", (_case, overrides, message) => {
        const error = inputError(() => planEtcdBackup(base(overrides)));
        expect(error.message).toMatch(message);
        expect(error.message).not.toContain(SECRET);
        expect(error.message).not.toContain(KEY_ID);
    });

    test("controls: each single option is accepted, and absent siblings do not count", () => {
        for (const storage of [
            s3,
            { sftp },
            { hostPath: { path: "/var/backups" } },
            { pvc: { claimName: "etcd-backups" } },
            { ...s3, pvc: undefined },
        ])
            expect(planEtcdBackup(base({ storage })).storeUrlPattern).toMatch(/^(s3|sftp|file|pvc):\/\//);
        for (const certificates of [{ preset: "rke" as const }, { hostPath: { ...CERTIFICATE_PRESETS.kubeadm } }, { secret: pems }])
            expect(podOf(planEtcdBackup(base({ certificates }))).volumes.find((v: any) => v.name === "etcd-certs")).toBeDefined();
    });

    test("nodeLabel: affinity on the label (with or without a value) and the given taints tolerated", () => {
        const exists = podOf(planEtcdBackup(base({ nodeLabel: { labelKey: "example.com/etcd", tolerateTaints: ["example.com/etcd"] } })));
        expect(exists.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
            { matchExpressions: [{ key: "example.com/etcd", operator: "Exists" }] },
        ]);
        expect(exists.tolerations).toEqual([{ key: "example.com/etcd", operator: "Exists" }]);
        const valued = podOf(planEtcdBackup(base({ nodeLabel: { labelKey: "example.com/role", labelValue: "etcd" } })));
        expect(valued.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
            { matchExpressions: [{ key: "example.com/role", operator: "In", values: ["etcd"] }] },
        ]);
        expect(valued.tolerations).toEqual([]);
    });

    test("nodeRole any: no placement; the default is control-plane", () => {
        expect(podOf(planEtcdBackup(base({ nodeRole: "any" }))).affinity).toBeUndefined();
        expect(podOf(planEtcdBackup(base())).tolerations).toEqual([{ key: "node-role.kubernetes.io/control-plane", operator: "Exists" }]);
    });
});

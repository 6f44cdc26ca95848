// Every object the EtcdBackup plan renders, for each certificate preset and
// store, is accepted by a real kube-apiserver with strict field validation
// (kubectl apply --dry-run=server --validate=strict): no unknown or
// misspelt field, every value in range.
import { EtcdBackupPlanInput, planEtcdBackup } from "../../src/backup/plan";
import { KubeApi, startKubeApi } from "../support/kube-api";

jest.setTimeout(5 * 60_000);

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const base = { clusterName: "prod", schedule: "0 */6 * * *" };
const variants: [string, EtcdBackupPlanInput][] = [
    [
        "kubeadm + S3 (CA bundle)",
        {
            ...base,
            name: "b-kubeadm-s3",
            storage: {
                s3: { endpoint: "https://rgw:7480", bucket: "etcd-backups", accessKeyId: "a", secretAccessKey: "s", caBundle: PEM },
            },
        },
    ],
    [
        "rke + SFTP password, etcd nodes",
        {
            ...base,
            name: "b-rke-sftp",
            certificates: { preset: "rke" },
            nodeRole: "etcd",
            storage: { sftp: { host: "10.0.0.9", port: 1022, user: "u", password: "p", knownHosts: "h ssh-ed25519 AAAA" } },
        },
    ],
    [
        "kubespray + SFTP key, master nodes",
        {
            ...base,
            name: "b-kubespray-key",
            certificates: { preset: "kubespray" },
            nodeRole: "master",
            timeZone: "Asia/Shanghai",
            storage: {
                sftp: {
                    host: "h",
                    user: "u",
                    privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n",
                    knownHosts: "h ssh-ed25519 AAAA",
                },
            },
        },
    ],
    [
        "Secret certificates + hostPath, any node, explicit endpoint",
        {
            ...base,
            name: "b-secret-host",
            hostNetwork: false,
            endpoints: ["https://etcd.internal:2379"],
            nodeRole: "any",
            compression: "none",
            certificates: {
                secret: { caPem: PEM, certPem: PEM, keyPem: "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n" },
            },
            storage: { hostPath: { path: "/var/backups/etcd" } },
        },
    ],
    [
        "S3 + encryption + restore drill (restore) + daily/weekly tiers",
        {
            ...base,
            name: "b-drill",
            keep: 3,
            keepDaily: 7,
            keepWeekly: 4,
            restoreDrill: "restore",
            encryption: { password: "p", salt: "s" },
            storage: { s3: { endpoint: "https://rgw:7480", bucket: "etcd-backups", accessKeyId: "a", secretAccessKey: "s" } },
        },
    ],
    [
        "SFTP + drill (status)",
        {
            ...base,
            name: "b-drill-status",
            restoreDrill: "status",
            storage: { sftp: { host: "h", user: "u", password: "p", knownHosts: "h ssh-ed25519 AAAA", path: "/srv/backups" } },
        },
    ],
    [
        "hostPath, nodes by a label of your own with a value and tolerated taints",
        {
            ...base,
            name: "b-node-label",
            nodeLabel: { labelKey: "example.com/etcd", labelValue: "true", tolerateTaints: ["example.com/etcd"] },
            storage: { hostPath: { path: "/var/backups/etcd" } },
        },
    ],
    [
        "PVC, own namespace",
        { ...base, name: "b-pvc", namespace: "etcd-backup", createNamespace: true, storage: { pvc: { claimName: "etcd-backups" } } },
    ],
    [
        "no sidecar (Kubernetes < 1.29 layout), S3",
        {
            ...base,
            name: "b-seq",
            sidecarUpload: false,
            storage: { s3: { endpoint: "https://rgw:7480", bucket: "etcd-backups", accessKeyId: "a", secretAccessKey: "s" } },
        },
    ],
    [
        "three endpoints (the etcd gateway sidecar first), drill (status)",
        {
            ...base,
            name: "b-failover",
            endpoints: ["https://10.0.0.11:2379", "https://10.0.0.12:2379", "https://etcd-3.internal:2379"],
            gatewayPort: 24000,
            restoreDrill: "status",
            storage: { hostPath: { path: "/var/backups/etcd" } },
        },
    ],
    [
        "no sidecar, drill (restore)",
        {
            ...base,
            name: "b-seq-drill",
            sidecarUpload: false,
            restoreDrill: "restore",
            storage: { hostPath: { path: "/var/backups/etcd" } },
        },
    ],
];

let api: KubeApi;
beforeAll(async () => {
    api = await startKubeApi();
});
afterAll(async () => {
    if (api) await api.stop();
});

test.each(variants)("%s: accepted by kube-apiserver", async (_name, input) => {
    const plan = planEtcdBackup(input);
    let objects = plan.objects;
    if (plan.namespaceObject) {
        // Namespaced dry-runs need the namespace to exist: create it for real.
        await api.kubectl(["apply", "--validate=strict", "-f", "-"], { input: JSON.stringify(plan.namespaceObject) });
        objects = objects.filter((o) => o !== plan.namespaceObject);
    }
    const list = { apiVersion: "v1", kind: "List", items: objects };
    const out = await api.kubectl(["apply", "--dry-run=server", "--validate=strict", "-o", "json", "-f", "-"], {
        input: JSON.stringify(list),
    });
    const applied = JSON.parse(out) as { items: { kind: string; metadata: { name: string } }[] };
    expect(applied.items.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`));
    // What the server defaulted and kept: the CronJob's time zone and the pod's init containers.
    const cron = applied.items.find((o) => o.kind === "CronJob") as any;
    expect(cron.spec.timeZone).toBe(input.timeZone ?? "Etc/UTC");
    const rendered = (plan.cronJob as any).spec.jobTemplate.spec.template.spec;
    expect(cron.spec.jobTemplate.spec.template.spec.initContainers.map((c: any) => c.name)).toEqual(
        rendered.initContainers.map((c: any) => c.name),
    );
    expect(cron.spec.jobTemplate.spec.template.spec.containers.map((c: any) => c.name)).toEqual(
        rendered.containers.map((c: any) => c.name),
    );
    // The native sidecars survive the server's validation and defaulting: restartPolicy Always on
    // "transfer" only, and on "etcd-gateway" with several endpoints.
    const sidecars = (spec: any) => spec.initContainers.filter((c: any) => c.restartPolicy === "Always").map((c: any) => c.name);
    const sidecar = input.sidecarUpload ?? true;
    const gateway = (input.endpoints?.length ?? 1) > 1 ? ["etcd-gateway"] : [];
    expect(sidecars(cron.spec.jobTemplate.spec.template.spec)).toEqual(sidecar ? [...gateway, "transfer"] : []);
    const leading = rendered.initContainers.map((c: any) => c.name).slice(0, gateway.length + (sidecar ? 3 : 2));
    expect(leading).toEqual(sidecar ? [...gateway, "snapshot", "transfer", "verify"] : ["snapshot", "verify"]);
});

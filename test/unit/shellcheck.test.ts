// shellcheck on the project's shell: every .sh file under src/ and scripts/,
// the bash scripts in scripts/ without an extension (by their #! line), and the
// backup uploader script as rendered for each phase layout and option the
// unit tests use (checked as POSIX sh: it runs in busybox sh). A finding fails
// the test with shellcheck's own lines; fix it, or disable that one check
// inline with a comment saying why.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BackupScriptArgs, renderBackupScript } from "../../src/backup/script";
import { planStackedToExternalMigration } from "../../src/restore/migration";
import { planControlPlaneRestore, RestoreStep } from "../../src/restore/plan";

const ROOT = path.resolve(__dirname, "../..");

const version = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
if (version.error || version.status !== 0) {
    throw new Error(
        `shellcheck is missing (${version.error?.message ?? version.stderr}): run bash scripts/setup (it installs Debian's shellcheck), or apt-get install shellcheck`,
    );
}

/** .sh files, and under scripts/ also extensionless files whose first line is a sh or bash #!. */
function shellFiles(dir: string, byShebang: boolean): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) return shellFiles(file, byShebang);
        if (!entry.isFile()) return [];
        if (entry.name.endsWith(".sh")) return [file];
        if (!byShebang || entry.name.includes(".")) return [];
        const first = fs.readFileSync(file, "utf8").split("\n", 1)[0]!;
        return /^#!\s*\/(usr\/)?bin\/(env +)?(ba)?sh\b/.test(first) ? [file] : [];
    });
}

function shellcheck(args: string[], files: string[]): { status: number | null; output: string } {
    const run = spawnSync("shellcheck", ["--format=gcc", ...args, ...files], { cwd: ROOT, encoding: "utf8" });
    if (run.error) throw run.error;
    return { status: run.status, output: run.stdout + run.stderr };
}

describe("shellcheck", () => {
    const sources = [...shellFiles(path.join(ROOT, "src"), false), ...shellFiles(path.join(ROOT, "scripts"), true)]
        .map((f) => path.relative(ROOT, f))
        .sort();

    test("finds the shell files, the uploader's parts among them", () => {
        for (const file of [
            "src/backup/uploader/bolt.sh",
            "src/backup/uploader/retention.sh",
            "src/backup/uploader/uploader.sh",
            "scripts/tools.sh",
            "scripts/setup",
        ]) {
            expect(sources).toContain(file);
        }
    });

    test("every shell file under src/ and scripts/ is clean", () => {
        expect(shellcheck(["--external-sources"], sources)).toEqual({ status: 0, output: "" });
    });

    test("the rendered backup script is clean as POSIX sh for every layout and option", () => {
        const base: BackupScriptArgs = {
            clusterName: "prod",
            remoteDir: "store:b/etcd-backup/prod",
            storeUrl: "s3://b/etcd-backup/prod",
            keep: 3,
            keepDaily: 7,
            keepWeekly: 4,
            compression: "gzip",
            snapshotPath: "/var/lib/etcd-backup/snapshot.db",
            workDir: "/var/lib/etcd-backup",
            etcdImage: "it's/etcd",
            endpoint: "https://127.0.0.1:2379",
            rcloneConnectTimeoutSeconds: 10,
            rcloneIoTimeoutSeconds: 60,
            rcloneRetries: 3,
            encrypted: false,
            drillSnapshotPath: "/var/lib/etcd-backup/drill/snapshot.db",
        };
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shellcheck-"));
        try {
            const files: string[] = [];
            for (const compression of ["gzip", "none"] as const) {
                for (const encrypted of [false, true]) {
                    for (const restoreDrill of [false, true]) {
                        for (const transferSidecar of [false, true]) {
                            const file = path.join(
                                dir,
                                `backup-${compression}-${encrypted ? "crypt" : "plain"}-${restoreDrill ? "drill" : "nodrill"}-${transferSidecar ? "sidecar" : "sequential"}.sh`,
                            );
                            const remoteDir = encrypted ? "crypt:nightly/prod" : base.remoteDir;
                            fs.writeFileSync(
                                file,
                                renderBackupScript({ ...base, compression, encrypted, remoteDir, restoreDrill, transferSidecar }),
                            );
                            files.push(file);
                        }
                    }
                }
            }
            expect(files).toHaveLength(16);
            expect(shellcheck(["--shell=sh"], files)).toEqual({ status: 0, output: "" });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("every runbook step is clean as POSIX sh, as the nodes run it (set -x, then its lines)", () => {
        const SHA = "ab".repeat(32);
        const restoreNodes = [1, 2, 3].map((i) => ({ name: `cp-${i}`, address: `10.0.0.${10 + i}`, role: "both" as const }));
        const runbooks: { name: string; steps: RestoreStep[] }[] = [];
        for (const layout of ["kubeadm", "rke", "kubespray"] as const) {
            for (const mode of ["all-members", "quorum-lost"] as const) {
                const plan = planControlPlaneRestore({
                    nodes: restoreNodes,
                    layout,
                    mode,
                    snapshot: { path: "/root/etcd-snapshot.db", sha256: SHA },
                    etcdVersion: "3.5.21",
                });
                runbooks.push({ name: `restore-${layout}-${mode}`, steps: plan.steps });
            }
        }
        for (const stage of ["snapshot", "switch"] as const) {
            const plan = planStackedToExternalMigration({
                stage,
                ...(stage === "switch" ? { seededSnapshotSha256: SHA } : {}),
                nodes: [1, 2, 3].map((i) => ({ name: `master0${i}`, address: `10.0.1.${10 + i}` })),
                layout: "kubeadm",
                externalEndpoints: ["https://10.0.2.11:2379", "https://10.0.2.12:2379", "https://10.0.2.13:2379"],
                clientFiles: {
                    caCert: { stagedPath: "/root/etcd-external/ca.pem", from: "EtcdCluster ext: caCertPem" },
                    cert: { stagedPath: "/root/etcd-external/apiserver.pem", from: "EtcdCluster ext: pki.apiserverClient.certPem" },
                    key: { stagedPath: "/root/etcd-external/apiserver-key.pem", from: "EtcdCluster ext: pki.apiserverClient.keyPem" },
                },
            });
            runbooks.push({ name: `migration-${stage}`, steps: plan.steps });
        }
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shellcheck-runbooks-"));
        try {
            const files = runbooks.flatMap(({ name, steps }) =>
                steps.map((step) => {
                    const file = path.join(dir, `${name}--${step.id}.sh`);
                    // What src/restore/realize.ts hands to `sh -eu -s` on the node.
                    fs.writeFileSync(file, ["set -x", ...step.commands].join("\n") + "\n");
                    return file;
                }),
            );
            expect(files.length).toBeGreaterThan(60);
            // Warnings and errors only: paths and names are validated to a safe character set
            // (src/restore/validate.ts), so the unquoted-expansion notes (SC2086) say nothing here.
            // Excluded by design: SC2043 (a layout's loop over its list of one manifest or
            // container), SC2046 ($(date ...) as a timestamp suffix), SC2174 (mkdir -p -m on a
            // directory whose parents exist).
            const checked = shellcheck(["--shell=sh", "--severity=warning", "--exclude=SC2043,SC2046,SC2174"], files);
            expect(checked).toEqual({ status: 0, output: "" });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

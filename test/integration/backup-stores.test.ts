// Real runs of the rendered EtcdBackup pod (pod-to-docker, same images,
// commands, env, mounts and Secret contents) against a real TLS etcd 3.5:
//   - SFTP: Debian's sshd (password and key auth, known_hosts enforced, retention)
//   - client-side encryption (rclone crypt) on a real S3 server (MinIO)
//   - the restore drill (etcdutl snapshot status + trial restore in the etcd image)
//     and daily/weekly retention tiers on a hostPath store
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { planEtcdBackup } from "../../src/backup/plan";
import { retainedBackups } from "../../src/backup/retention";
import { rcloneObscure } from "../../src/backup/rclone";
import { dockerAvailable, uniqueRunId, withFreeSubnet } from "../harness/docker";
import { run } from "../harness/exec";
import { ETCD_35_IMAGE, SSHD_IMAGE, UPLOADER_IMAGE, requireImages } from "../support/images";
import { PodRun, expectPodFailed } from "../support/pod-to-docker";
import {
    BIN,
    BackupFixture,
    HOST_STORE_PATH,
    SftpServer,
    expectSucceeded,
    hostRclone,
    reportedObject,
    restoreAndRead,
    snapshotStatus,
} from "../support/backup-fixture";

jest.setTimeout(120_000);

let workDir: string;
let fixture: BackupFixture;
let sftp: SftpServer;
let s3: Awaited<ReturnType<BackupFixture["startMinio"]>>;

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE, UPLOADER_IMAGE, SSHD_IMAGE);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-stores-"));
    fixture = new BackupFixture(uniqueRunId("it-backup-stores"), workDir);
    await withFreeSubnet((subnet) => fixture.startEtcd(subnet));
    sftp = await fixture.startSftp();
    s3 = await fixture.startMinio("etcd-backups");
}, 240_000);

afterAll(async () => {
    await fixture?.cleanup();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

const files = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const backupSet = (object: string) => [object, `${object}.sha256`, object.replace(/\.db(\.gz)?$/, ".json")];
/** What a sealed run leaves beside its backups: the marker naming the newest. */
const MARKER = "latest.json";

/** Every secret of a run must stay out of container env, command lines, logs and the non-Secret objects. */
async function expectHidden(result: PodRun, plan: ReturnType<typeof planEtcdBackup>, secrets: string[]): Promise<void> {
    const visible: string[] = [JSON.stringify([plan.cronJob, plan.scriptConfigMap])];
    if (result.succeeded) {
        visible.push(...Object.values(result.logs));
        for (const spec of result.plan.containers) {
            const inspect = await result.live.inspect(spec.name);
            visible.push(JSON.stringify([inspect.Config.Env, inspect.Config.Cmd, inspect.Config.Entrypoint, inspect.Args, inspect.Path]));
        }
    } else visible.push(result.output);
    for (const secret of secrets) for (const text of visible) expect(text).not.toContain(secret);
}

/** Decompresses a stored .db.gz into a .db next to it. */
function gunzipTo(stored: Buffer, file: string): string {
    fs.writeFileSync(file, zlib.gunzipSync(stored));
    return file;
}

describe("SFTP store (Debian openssh-server)", () => {
    const dir = () => path.join(sftp.storeDir, "etcd-backup", "it-prod");

    test("password auth: keep+1 runs keep exactly the newest 2; the newest restores and holds the data", async () => {
        const plan = planEtcdBackup(
            fixture.input(
                { sftp: { host: "127.0.0.1", port: sftp.port, user: "backup", password: sftp.password, knownHosts: sftp.knownHosts } },
                { keep: 2, compression: "gzip" },
            ),
        );
        const made: string[] = [];
        for (let i = 0; i < 3; i++) {
            await fixture.etcd.etcdctl(["put", "/registry/configmaps/default/run", `sftp-${i}`]);
            const result = await fixture.runBackup(plan);
            expectSucceeded(result);
            made.push(reportedObject(result));
            await expectHidden(result, plan, [sftp.password]);
            await new Promise((r) => setTimeout(r, 1100)); // names carry a one-second timestamp
        }
        expect(files(dir())).toEqual([...made.slice(-2).flatMap(backupSet), MARKER].sort());
        const newest = made[2]!;
        const stored = fs.readFileSync(path.join(dir(), newest));
        expect(fs.readFileSync(path.join(dir(), `${newest}.sha256`), "utf8")).toBe(
            `${createHash("sha256").update(stored).digest("hex")}  ${newest}\n`,
        );
        const db = gunzipTo(stored, path.join(workDir, "sftp-newest.db"));
        expect(await restoreAndRead(workDir, db, "/registry/configmaps/default/run")).toBe("sftp-2");
        // sshd saw password logins of user backup.
        expect(await sftp.logs()).toMatch(/Accepted password for backup from 127\.0\.0\.1/);
    });

    test("private key auth into an absolute directory", async () => {
        const plan = planEtcdBackup(
            fixture.input(
                {
                    sftp: {
                        host: "127.0.0.1",
                        port: sftp.port,
                        user: "backup",
                        privateKey: sftp.privateKey,
                        knownHosts: sftp.knownHosts,
                        path: "/home/backup/vault",
                    },
                },
                { compression: "none" },
            ),
        );
        expect(plan.storeSecret.stringData["ssh-key"]).toContain("OPENSSH PRIVATE KEY");
        const result = await fixture.runBackup(plan);
        expectSucceeded(result);
        await expectHidden(result, plan, ["OPENSSH PRIVATE KEY", sftp.privateKey.split("\n")[1]!]);
        const object = reportedObject(result);
        const vault = path.join(sftp.storeDir, "vault", "etcd-backup", "it-prod");
        expect(files(vault)).toEqual([...backupSet(object), MARKER].sort());
        const status = await snapshotStatus(path.join(vault, object));
        expect(object).toContain(`-rev${status.revision}.db`);
        expect(await sftp.logs()).toMatch(/Accepted publickey for backup from 127\.0\.0\.1/);
    });

    test("encrypted, uncompressed, with the restore drill: the drill restores the decrypted copy read back over SFTP", async () => {
        const password = "sftp-crypt-pass-51d0a2";
        const plan = planEtcdBackup(
            fixture.input(
                {
                    sftp: {
                        host: "127.0.0.1",
                        port: sftp.port,
                        user: "backup",
                        password: sftp.password,
                        knownHosts: sftp.knownHosts,
                        path: "crypted",
                    },
                },
                { compression: "none", encryption: { password }, restoreDrill: "restore" },
            ),
        );
        const result = await fixture.runBackup(plan);
        expectSucceeded(result);
        await expectHidden(result, plan, [password, sftp.password]);
        const object = reportedObject(result, "finalize");
        const drill = JSON.parse(result.logs["drill-status"]!.trim().split("\n").pop()!);
        expect(object).toMatch(new RegExp(`-rev${drill.revision}\\.db$`));
        expect(result.logs["drill-restore"]).toMatch(/restored snapshot/);
        const stored = path.join(sftp.storeDir, "crypted", "etcd-backup", "it-prod");
        expect(files(stored)).toEqual([...backupSet(object), MARKER].map((f) => `${f}.bin`).sort());
        const raw = fs.readFileSync(path.join(stored, `${object}.bin`));
        expect(raw.subarray(0, 8).toString("latin1")).toBe("RCLONE\0\0");
        await expect(snapshotStatus(path.join(stored, `${object}.bin`))).rejects.toThrow();
    });

    test("wrong host key in knownHosts: fails at step=upload, deletes nothing", async () => {
        const before = files(dir());
        expect(before).toHaveLength(7); // two backups of three files and the marker
        const plan = planEtcdBackup(
            fixture.input(
                { sftp: { host: "127.0.0.1", port: sftp.port, user: "backup", password: sftp.password, knownHosts: sftp.wrongKnownHosts } },
                { keep: 1 },
            ),
        );
        const result = await fixture.runBackup(plan);
        expectPodFailed(result);
        expect(result.failedContainer).toBe("upload");
        expect(result.output).toMatch(
            /step=upload error="upload of etcd-snapshot-\S+ to sftp:\/\/backup@127\.0\.0\.1:\d+\/etcd-backup\/it-prod failed"/,
        );
        expect(result.output).toMatch(/knownhosts: key mismatch/);
        expect(result.output).not.toContain(sftp.password);
        expect(files(dir())).toEqual(before);
    });
});

describe("client-side encryption (rclone crypt) on S3", () => {
    const password = "crypt-pass-3f9c1b7e0d";
    const salt = "crypt-salt-8a2e44c1";

    test("the stored object is no readable snapshot; decrypted with the key it is one that etcdutl accepts and restores", async () => {
        const plan = planEtcdBackup(
            fixture.input(
                { s3: { endpoint: s3.endpoint, bucket: s3.bucket, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } },
                { prefix: "encrypted", compression: "gzip", encryption: { password, salt } },
            ),
        );
        expect(plan.storeUrlPattern).toMatch(/\.db\.gz\.bin$/);
        await fixture.etcd.etcdctl(["put", "/registry/configmaps/default/run", "encrypted-1"]);
        const result = await fixture.runBackup(plan);
        expectSucceeded(result);
        await expectHidden(result, plan, [password, salt, s3.secretAccessKey]);
        expect(plan.storeSecret.stringData["rclone.conf"]).not.toContain(password);
        const object = reportedObject(result);

        // On the store: names with .bin, contents rclone crypt's format.
        const listing = (await s3.rclone(["lsf", `minio:${s3.bucket}/encrypted/it-prod`])).split("\n").filter(Boolean).sort();
        expect(listing).toEqual([...backupSet(object), MARKER].map((f) => `${f}.bin`).sort());
        const raw = path.join(workDir, "raw.bin");
        await s3.rclone(["copyto", `minio:${s3.bucket}/encrypted/it-prod/${object}.bin`, raw]);
        const rawBytes = fs.readFileSync(raw);
        expect(rawBytes.subarray(0, 8).toString("latin1")).toBe("RCLONE\0\0");
        expect(() => zlib.gunzipSync(rawBytes)).toThrow();
        await expect(run(BIN.etcdutl, ["snapshot", "status", raw, "-w", "json"])).rejects.toThrow();
        const rawMetadata = await s3.rclone(["cat", `minio:${s3.bucket}/encrypted/it-prod/${object.replace(/\.db\.gz$/, ".json")}.bin`]);
        expect(rawMetadata).not.toContain("it-prod");

        // With the key: a crypt remote over the same bucket decrypts it.
        const config = path.join(workDir, "decrypt.conf");
        fs.writeFileSync(
            config,
            `${fs.readFileSync(s3.rcloneConfig, "utf8")}\n[secure]\ntype = crypt\nremote = minio:${s3.bucket}\nfilename_encryption = off\ndirectory_name_encryption = false\npassword = ${rcloneObscure(password)}\npassword2 = ${rcloneObscure(salt)}\n`,
            { mode: 0o600 },
        );
        const decrypted = path.join(workDir, "decrypted.db.gz");
        await hostRclone(config, ["copyto", `secure:encrypted/it-prod/${object}`, decrypted]);
        const db = gunzipTo(fs.readFileSync(decrypted), path.join(workDir, "decrypted.db"));
        const status = await snapshotStatus(db);
        expect(object).toContain(`-rev${status.revision}.db`);
        const metadata = JSON.parse(await hostRclone(config, ["cat", `secure:encrypted/it-prod/${object.replace(/\.db\.gz$/, ".json")}`]));
        expect(metadata).toMatchObject({ cluster: "it-prod", object, encrypted: true, revision: status.revision });
        expect(await restoreAndRead(workDir, db, "/registry/configmaps/default/run")).toBe("encrypted-1");

        // The wrong key does not decrypt.
        fs.writeFileSync(config, fs.readFileSync(config, "utf8").replace(rcloneObscure(password), rcloneObscure("not-the-password")), {
            mode: 0o600,
        });
        await expect(hostRclone(config, ["cat", `secure:encrypted/it-prod/${object}`])).rejects.toThrow(/Failed to cat/);
    });
});

describe("restore drill and retention tiers (hostPath store)", () => {
    /** Sealed backups made by hand (old days); only names matter to retention. */
    function fakeBackups(storeDir: string, days: number): string[] {
        const dir = path.join(storeDir, "etcd-backup", "it-prod");
        fs.mkdirSync(dir, { recursive: true });
        const today = new Date();
        const names: string[] = [];
        for (let d = days; d >= 1; d--) {
            const t = new Date(
                Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()) - d * 86_400_000 + 6 * 3_600_000,
            ).toISOString();
            const object = `etcd-snapshot-${t.slice(0, 4)}${t.slice(5, 7)}${t.slice(8, 10)}T060000Z-rev1.db.gz`;
            fs.writeFileSync(path.join(dir, object), "old");
            fs.writeFileSync(path.join(dir, `${object}.sha256`), `0  ${object}\n`);
            names.push(object);
        }
        return names;
    }

    test("drill=restore passes: status and trial restore of the copy read back, then seal and daily/weekly retention", async () => {
        const storeDir = fs.mkdtempSync(path.join(workDir, "store-"));
        const old = fakeBackups(storeDir, 24);
        const policy = { keep: 2, daily: 4, weekly: 3 };
        const plan = planEtcdBackup(
            fixture.input(
                { hostPath: { path: HOST_STORE_PATH } },
                { restoreDrill: "restore", compression: "gzip", keep: policy.keep, keepDaily: policy.daily, keepWeekly: policy.weekly },
            ),
        );
        const pod = (plan.cronJob as any).spec.jobTemplate.spec.template.spec;
        expect(pod.initContainers.map((c: any) => c.name)).toEqual([
            "snapshot",
            "transfer",
            "verify",
            "await-transfer",
            "drill-status",
            "drill-restore",
        ]);
        expect(pod.containers.map((c: any) => c.name)).toEqual(["finalize"]);

        const result = await fixture.runBackup(plan, { storeDir });
        expectSucceeded(result);
        const object = reportedObject(result, "finalize");
        const drill = JSON.parse(result.logs["drill-status"]!.trim().split("\n").pop()!);
        expect(object).toContain(`-rev${drill.revision}.db.gz`);
        expect(drill.totalKey).toBeGreaterThan(40);
        expect(result.logs["drill-restore"]).toMatch(/restored snapshot/);
        expect(result.logs.transfer).toMatch(/step=verify .*verified=true/);
        expect(result.logs.transfer).not.toMatch(/step=seal/); // sealing waits for the drill
        expect(result.logs["await-transfer"]).toMatch(/step=wait object=\S+ .*uploaded and read back[\s\S]*next=restore-drill/);
        expect(result.logs.finalize).toMatch(/step=drill object=\S+ passed the restore drill/);

        const sealed = files(path.join(storeDir, "etcd-backup", "it-prod"))
            .filter((f) => f.endsWith(".sha256"))
            .map((f) => f.replace(/\.sha256$/, ""));
        const expected = retainedBackups([...old, object], policy);
        expect(expected.length).toBeLessThan(old.length); // the tiers did delete
        expect(sealed.sort()).toEqual([...expected].sort());
    });

    test("a failed drill fails the Job: nothing sealed, nothing deleted", async () => {
        const storeDir = fs.mkdtempSync(path.join(workDir, "store-"));
        const old = fakeBackups(storeDir, 3);
        const before = files(path.join(storeDir, "etcd-backup", "it-prod"));
        const plan = planEtcdBackup(fixture.input({ hostPath: { path: HOST_STORE_PATH } }, { restoreDrill: "status", keep: 1 }));
        // Fault injection: the copy read back from the store is damaged before the drill looks at it.
        const result = await fixture.runBackup(plan, {
            storeDir,
            editPod: (pod) => {
                const at = pod.initContainers!.findIndex((c) => c.name === "drill-status");
                pod.initContainers!.splice(at, 0, {
                    name: "damage",
                    image: UPLOADER_IMAGE,
                    command: [
                        "/bin/sh",
                        "-c",
                        "head -c 12288 /var/lib/etcd-backup/drill/snapshot.db > /var/lib/etcd-backup/t && mv /var/lib/etcd-backup/t /var/lib/etcd-backup/drill/snapshot.db",
                    ],
                    volumeMounts: [{ name: "work", mountPath: "/var/lib/etcd-backup" }],
                });
            },
        });
        expectPodFailed(result);
        expect(result.failedContainer).toBe("drill-status");
        const after = files(path.join(storeDir, "etcd-backup", "it-prod"));
        // Old backups untouched; the new object is there but unsealed, so it never counts as good.
        expect(after.filter((f) => before.includes(f))).toEqual(before);
        expect(after.filter((f) => f.endsWith(".sha256"))).toEqual(old.map((o) => `${o}.sha256`).sort());
        expect(after.filter((f) => !before.includes(f)).every((f) => !f.endsWith(".sha256"))).toBe(true);
        expect(after.length).toBeGreaterThan(before.length);
    });
});

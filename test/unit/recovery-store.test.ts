// Reading a snapshot back from an EtcdBackup store (pure parts): which backup
// is picked from a listing, sidecar parsing, and the rclone configuration,
// which must be the one the backup module renders for the same store.
import { planEtcdBackup, STORE_CONFIG_DIR } from "../../src/backup/plan";
import { InputError } from "../../src/errors";
import {
    ListedObject,
    StoreSnapshotError,
    backupsInListing,
    parseBackupName,
    parseSidecar,
    pickBackup,
    renderStoreRcloneConfig,
} from "../../src/recovery/store";

const file = (Name: string, Size = 100): ListedObject => ({ Name, Size, IsDir: false });
const sealed = (object: string, size = 100): ListedObject[] => [
    file(object, size),
    file(`${object}.sha256`, 80),
    file(object.replace(/\.db(\.gz)?$/, ".json"), 300),
];
const HEX = "a".repeat(64);

function thrown(fn: () => unknown): Error {
    try {
        fn();
    } catch (error) {
        return error as Error;
    }
    throw new Error("expected an error");
}

describe("backup names and listings", () => {
    test("an object name gives time, revision and compression; sidecars, metadata and strangers are not backups", () => {
        expect(parseBackupName("etcd-snapshot-20260123T060000Z-rev48213.db.gz")).toEqual({
            object: "etcd-snapshot-20260123T060000Z-rev48213.db.gz",
            base: "etcd-snapshot-20260123T060000Z-rev48213",
            createdAt: "2026-01-23T06:00:00Z",
            revision: 48213,
            gzip: true,
        });
        expect(parseBackupName("etcd-snapshot-20260123T060000Z-rev7.db")).toMatchObject({ revision: 7, gzip: false });
        for (const name of [
            "etcd-snapshot-20260123T060000Z-rev7.db.sha256",
            "etcd-snapshot-20260123T060000Z-rev7.json",
            "etcd-snapshot-20260123T060000Z-rev7.db.gz.bin",
            "snapshot.db",
            "etcd-snapshot-2026-rev7.db",
        ]) {
            expect(parseBackupName(name)).toBeUndefined();
        }
    });

    test("backups sort newest first by the time in the name (not listing order), then by revision", () => {
        const listing = [
            ...sealed("etcd-snapshot-20260122T060000Z-rev900.db.gz"),
            ...sealed("etcd-snapshot-20260123T060000Z-rev1000.db.gz"),
            ...sealed("etcd-snapshot-20260123T060000Z-rev1001.db.gz"),
            file("etcd-snapshot-20251231T235959Z-rev5.db"),
            { Name: "etcd-snapshot-20270101T000000Z-rev1.db", Size: 0, IsDir: true },
        ];
        expect(backupsInListing(listing).map((b) => [b.revision, b.sealed])).toEqual([
            [1001, true],
            [1000, true],
            [900, true],
            [5, false],
        ]);
    });

    test("the newest SEALED backup is picked: a newer object without its .sha256 failed verification and is skipped", () => {
        const listing = [
            ...sealed("etcd-snapshot-20260123T060000Z-rev1000.db.gz", 4321),
            file("etcd-snapshot-20260124T060000Z-rev1200.db.gz"),
            file("etcd-snapshot-20260124T060000Z-rev1200.json"),
        ];
        expect(pickBackup(listing, "s3://b/etcd-backup/prod")).toMatchObject({
            object: "etcd-snapshot-20260123T060000Z-rev1000.db.gz",
            sizeBytes: 4321,
            sealed: true,
            gzip: true,
        });
    });

    test("an explicit object: taken when sealed, refused with the reason when not, and a missing one lists what is there", () => {
        const listing = [
            ...sealed("etcd-snapshot-20260122T060000Z-rev900.db"),
            ...sealed("etcd-snapshot-20260123T060000Z-rev1000.db"),
            file("etcd-snapshot-20260124T060000Z-rev1200.db.gz"),
        ];
        expect(pickBackup(listing, "x", "etcd-snapshot-20260122T060000Z-rev900.db").revision).toBe(900);
        const unsealed = thrown(() => pickBackup(listing, "s3://b/p/c", "etcd-snapshot-20260124T060000Z-rev1200.db.gz"));
        expect(unsealed).toBeInstanceOf(StoreSnapshotError);
        expect(unsealed.message).toMatch(
            /s3:\/\/b\/p\/c\/etcd-snapshot-20260124T060000Z-rev1200\.db\.gz has no .*\.sha256 sidecar: that backup was never sealed/,
        );
        expect(thrown(() => pickBackup(listing, "x", "etcd-snapshot-20200101T000000Z-rev1.db")).message).toMatch(
            /x has no backup object etcd-snapshot-20200101T000000Z-rev1\.db \(newest there: etcd-snapshot-20260124T060000Z-rev1200\.db\.gz, etcd-snapshot-20260123T060000Z-rev1000\.db/,
        );
    });

    test("nothing to restore: empty, only unsealed, or encrypted names without the key each say so", () => {
        expect(thrown(() => pickBackup([], "s3://b/etcd-backup/prod")).message).toMatch(
            /s3:\/\/b\/etcd-backup\/prod holds no etcd-snapshot-<time>-rev<revision>\.db\[\.gz\] objects: check store, prefix and cluster/,
        );
        expect(thrown(() => pickBackup([file("etcd-snapshot-20260124T060000Z-rev1200.db.gz")], "d")).message).toMatch(
            /1 backup object\(s\) but none is sealed/,
        );
        const encrypted = [
            "etcd-snapshot-20260124T060000Z-rev1200.db.gz.bin",
            "etcd-snapshot-20260124T060000Z-rev1200.db.gz.sha256.bin",
        ].map((n) => file(n));
        expect(thrown(() => pickBackup(encrypted, "d")).message).toMatch(
            /encrypted backups \(rclone crypt, names ending in \.bin\): give encryption: \{ password, salt \}/,
        );
    });

    test("sidecar: sha256sum text and binary forms; another object's sidecar or garbage is refused", () => {
        const object = "etcd-snapshot-20260123T060000Z-rev1000.db.gz";
        expect(parseSidecar(`${HEX}  ${object}\n`, object)).toBe(HEX);
        expect(parseSidecar(`${HEX} *${object}`, object)).toBe(HEX);
        expect(thrown(() => parseSidecar(`${HEX}  etcd-snapshot-other.db.gz\n`, object)).message).toMatch(
            /is the sidecar of etcd-snapshot-other\.db\.gz, not of/,
        );
        expect(thrown(() => parseSidecar("", object))).toBeInstanceOf(StoreSnapshotError);
        expect(thrown(() => parseSidecar(`${"A".repeat(64)}  ${object}`, object)).message).toMatch(/is not a sha256sum line/);
    });
});

describe("renderStoreRcloneConfig: the backup module's rclone configuration, pointed at this machine", () => {
    const DIR = "/tmp/etcd-recovery-store-x1";
    const s3 = {
        s3: {
            endpoint: "http://127.0.0.1:9000",
            bucket: "etcd-backups",
            accessKeyId: "AK-zz9",
            secretAccessKey: "SK-zz9",
            provider: "Minio" as const,
            caBundle: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        },
    };
    const backupSecret = (storage: any, extra: Record<string, unknown> = {}) =>
        planEtcdBackup({ name: "b", clusterName: "prod", schedule: "@daily", storage, ...extra }).storeSecret.stringData;

    test("S3: exactly the section EtcdBackup writes; the cluster's directory in the bucket; the CA bundle as --ca-cert", () => {
        const rendered = renderStoreRcloneConfig({ store: s3, cluster: "prod" }, DIR);
        expect(rendered.config).toBe(backupSecret(s3)["rclone.conf"]);
        expect(rendered.config).toContain("secret_access_key = SK-zz9");
        expect(rendered).toMatchObject({
            remoteDir: "store:etcd-backups/etcd-backup/prod",
            storeUrl: "s3://etcd-backups/etcd-backup/prod",
            caCertFile: `${DIR}/ca-bundle.pem`,
        });
        expect(rendered.files).toEqual({ "ca-bundle.pem": s3.s3.caBundle });
        expect(renderStoreRcloneConfig({ store: s3, cluster: "prod", prefix: "/nightly/etcd/" }, DIR).remoteDir).toBe(
            "store:etcd-backups/nightly/etcd/prod",
        );
    });

    test("SFTP with a key: the Secret's mount path becomes the private directory; absolute and login-relative bases", () => {
        const sftp = {
            sftp: {
                host: "10.0.0.9",
                port: 2222,
                user: "backup",
                privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n",
                knownHosts: "[10.0.0.9]:2222 ssh-ed25519 AAAA",
                path: "/srv/vault",
            },
        };
        const rendered = renderStoreRcloneConfig({ store: sftp, cluster: "prod" }, DIR);
        expect(rendered.config).toBe(backupSecret(sftp)["rclone.conf"]!.split(`${STORE_CONFIG_DIR}/`).join(`${DIR}/`));
        expect(rendered.config).toContain(`key_file = ${DIR}/ssh-key`);
        expect(rendered.config).toContain(`known_hosts_file = ${DIR}/known_hosts`);
        expect(rendered.config).not.toContain(STORE_CONFIG_DIR);
        expect(Object.keys(rendered.files).sort()).toEqual(["known_hosts", "ssh-key"]);
        expect(rendered).toMatchObject({
            remoteDir: "store:/srv/vault/etcd-backup/prod",
            storeUrl: "sftp://backup@10.0.0.9:2222/srv/vault/etcd-backup/prod",
        });
        const relative = renderStoreRcloneConfig(
            { store: { sftp: { ...sftp.sftp, path: undefined, privateKey: undefined, password: "pw-zz9" } }, cluster: "prod" },
            DIR,
        );
        expect(relative.remoteDir).toBe("store:etcd-backup/prod");
        expect(relative.config).toMatch(/^pass = \S+$/m);
        expect(relative.config).not.toContain("pw-zz9");
    });

    test("a directory store is read in place; with encryption the crypt remote wraps that directory", () => {
        const local = renderStoreRcloneConfig({ store: { hostPath: { path: "/mnt/node-backups" } }, cluster: "prod" }, DIR);
        expect(local.config).toBe("[store]\ntype = local\n");
        expect(local).toMatchObject({
            remoteDir: "store:/mnt/node-backups/etcd-backup/prod",
            storeUrl: "file:///mnt/node-backups/etcd-backup/prod",
        });
        const encryption = { password: "crypt-pw-zz9", salt: "crypt-salt-zz9" };
        const crypt = renderStoreRcloneConfig({ store: { hostPath: { path: "/mnt/node-backups" } }, cluster: "prod", encryption }, DIR);
        expect(crypt.remoteDir).toBe("crypt:etcd-backup/prod");
        expect(crypt.config).toContain("remote = store:/mnt/node-backups\n");
        expect(crypt.config).not.toMatch(/crypt-pw-zz9|crypt-salt-zz9/);
        const backup = backupSecret({ hostPath: { path: "/mnt/node-backups" } }, { encryption })["rclone.conf"]!;
        expect(crypt.config).toBe(backup.replace("remote = store:/backup-store\n", "remote = store:/mnt/node-backups\n"));
        const s3Crypt = renderStoreRcloneConfig({ store: s3, cluster: "prod", encryption }, DIR);
        expect(s3Crypt.config).toBe(backupSecret(s3, { encryption })["rclone.conf"]);
        expect(s3Crypt.remoteDir).toBe("crypt:etcd-backup/prod");
    });

    test("bad input names this module's argument, the value and the fix", () => {
        const pvc = thrown(() => renderStoreRcloneConfig({ store: { pvc: { claimName: "backups" } }, cluster: "prod" }, DIR));
        expect(pvc).toBeInstanceOf(InputError);
        expect(pvc.message).toMatch(/^store\.pvc: .*kubectl cp.*hostPath/);
        expect(
            thrown(() => renderStoreRcloneConfig({ store: { s3: { ...s3.s3, bucket: "Bad_Bucket" } }, cluster: "prod" }, DIR)).message,
        ).toMatch(/^store\.s3\.bucket: "Bad_Bucket" — give an S3 bucket name/);
        expect(thrown(() => renderStoreRcloneConfig({ store: s3, cluster: "prod/../x" }, DIR)).message).toMatch(/^cluster: /);
        expect(
            thrown(() => renderStoreRcloneConfig({ store: { hostPath: { path: "relative/dir" } }, cluster: "prod" }, DIR)).message,
        ).toMatch(/^store\.hostPath\.path: /);
        expect(thrown(() => renderStoreRcloneConfig({ store: s3, cluster: "prod" }, "relative")).message).toMatch(/^configDir: /);
    });
});

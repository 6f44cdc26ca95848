// The backup store description both EtcdBackup and `etcd-recovery fetch` use
// (src/backup/store.ts): one validation, one rclone configuration rendered for
// wherever its files are, and one object-name format.
import { planEtcdBackup, LOCAL_STORE_DIR, STORE_CONFIG_DIR } from "../../src/backup/plan";
import {
    backupNameDate,
    backupObjectExtension,
    isBackupObjectName,
    isEncryptedBackupObjectName,
    metadataName,
    parseBackupName,
    renderBackupStore,
    sidecarName,
} from "../../src/backup/store";
import { InputError } from "../../src/errors";
import { renderStoreRcloneConfig } from "../../src/recovery/store";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n";
const sftp = {
    sftp: {
        host: "10.0.0.9",
        port: 2222,
        user: "backup",
        privateKey: KEY,
        knownHosts: "[10.0.0.9]:2222 ssh-ed25519 AAAA",
        path: "/srv/vault",
    },
};

function thrown(f: () => unknown): InputError {
    try {
        f();
    } catch (error) {
        return error as InputError;
    }
    throw new Error("did not throw");
}

describe("object names", () => {
    test("a backup name parses to its base, time, revision and compression; its sidecar and metadata are named from it", () => {
        const object = "etcd-snapshot-20260123T060000Z-rev48213.db.gz";
        expect(parseBackupName(object)).toEqual({
            object,
            base: "etcd-snapshot-20260123T060000Z-rev48213",
            createdAt: "2026-01-23T06:00:00Z",
            revision: 48213,
            gzip: true,
        });
        expect(sidecarName(object)).toBe(`${object}.sha256`);
        expect(metadataName(parseBackupName(object)!.base)).toBe("etcd-snapshot-20260123T060000Z-rev48213.json");
        expect(backupNameDate(sidecarName(object))).toEqual({ year: 2026, month: 1, day: 23 });
    });

    test("sidecars, metadata, encrypted names and strangers are not backup objects", () => {
        for (const name of [
            "etcd-snapshot-20260123T060000Z-rev1.db.sha256",
            "etcd-snapshot-20260123T060000Z-rev1.json",
            "latest.json",
            "etcd-snapshot-latest.db",
            "etcd-snapshot-20260123T060000Z-rev1.db.gz.bin",
        ]) {
            expect(isBackupObjectName(name)).toBe(false);
        }
        expect(isEncryptedBackupObjectName("etcd-snapshot-20260123T060000Z-rev1.db.gz.bin")).toBe(true);
        expect(isEncryptedBackupObjectName("etcd-snapshot-20260123T060000Z-rev1.db.gz")).toBe(false);
    });

    test("the extension EtcdBackup writes follows compression and encryption, and parses back", () => {
        expect([false, true].flatMap((gzip) => [false, true].map((encrypted) => backupObjectExtension({ gzip, encrypted })))).toEqual([
            ".db",
            ".db.bin",
            ".db.gz",
            ".db.gz.bin",
        ]);
        expect(
            parseBackupName(`etcd-snapshot-20260123T060000Z-rev7${backupObjectExtension({ gzip: false, encrypted: false })}`)?.gzip,
        ).toBe(false);
    });
});

describe("renderBackupStore: one description, rendered for the pod or for this machine", () => {
    test("EtcdBackup's store Secret is renderBackupStore for the Secret's mount", () => {
        const plan = planEtcdBackup({ name: "b", clusterName: "prod", schedule: "@daily", storage: sftp });
        const store = renderBackupStore(
            { storage: sftp, clusterName: "prod" },
            { configDir: STORE_CONFIG_DIR, localStoreMount: LOCAL_STORE_DIR },
        );
        expect(plan.storeSecret.stringData).toEqual({ "rclone.conf": store.rcloneConfig, ...store.files });
        expect(store.rcloneConfig).toContain(`key_file = ${STORE_CONFIG_DIR}/ssh-key`);
        expect(plan.storeUrlPattern).toBe(`${store.storeUrl}/etcd-snapshot-<UTC timestamp>-rev<revision>.db`);
    });

    test("a directory store: the pod reads its mount, this machine the directory itself; a PVC only in the pod", () => {
        const storage = { hostPath: { path: "/mnt/node-backups" } };
        const pod = renderBackupStore({ storage, clusterName: "prod" }, { configDir: STORE_CONFIG_DIR, localStoreMount: LOCAL_STORE_DIR });
        const here = renderBackupStore({ storage, clusterName: "prod" }, { configDir: "/tmp/x" });
        expect(pod).toMatchObject({
            remoteDir: `store:${LOCAL_STORE_DIR}/etcd-backup/prod`,
            storeUrl: "file://<node>/mnt/node-backups/etcd-backup/prod",
        });
        expect(here).toMatchObject({
            remoteDir: "store:/mnt/node-backups/etcd-backup/prod",
            storeUrl: "file:///mnt/node-backups/etcd-backup/prod",
        });
        const pvc = { pvc: { claimName: "backups" } };
        expect(
            renderBackupStore({ storage: pvc, clusterName: "prod" }, { configDir: STORE_CONFIG_DIR, localStoreMount: LOCAL_STORE_DIR })
                .storeUrl,
        ).toBe("pvc://backups/etcd-backup/prod");
        expect(thrown(() => renderBackupStore({ storage: pvc, clusterName: "prod" }, { configDir: "/tmp/x" })).message).toMatch(
            /^storage\.pvc: .*kubectl cp/,
        );
    });

    test("errors name the caller's arguments: EtcdBackup's storage/clusterName, fetch's store/cluster", () => {
        const bad = { s3: { bucket: "Bad_Bucket", accessKeyId: "a", secretAccessKey: "s" } };
        expect(thrown(() => planEtcdBackup({ name: "b", clusterName: "prod", schedule: "@daily", storage: bad })).message).toMatch(
            /^storage\.s3\.bucket: "Bad_Bucket"/,
        );
        expect(thrown(() => renderStoreRcloneConfig({ store: bad, cluster: "prod" }, "/tmp/x")).message).toMatch(
            /^store\.s3\.bucket: "Bad_Bucket"/,
        );
        expect(thrown(() => planEtcdBackup({ name: "b", clusterName: "a/b", schedule: "@daily", storage: sftp })).message).toMatch(
            /^clusterName: "a\/b" — use letters/,
        );
        expect(thrown(() => renderStoreRcloneConfig({ store: sftp, cluster: "a/b" }, "/tmp/x")).message).toMatch(
            /^cluster: "a\/b" — use letters/,
        );
        expect(thrown(() => renderStoreRcloneConfig({ store: sftp, cluster: "prod", prefix: "../up" }, "/tmp/x")).message).toMatch(
            /^prefix: "\.\.\/up" — give a plain path/,
        );
    });
});

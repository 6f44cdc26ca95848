/**
 * The backup store as plain data (pure): what EtcdBackup writes to and what
 * `etcd-recovery fetch` / `backups` read from. One description for both:
 * validation of the store argument, the rclone configuration (store section,
 * and the crypt section when encrypted), the store's root, the cluster's
 * directory below it, its URL for humans, and the names of the objects in it.
 *
 * Where the files the configuration names live (the pod's Secret mount, or a
 * private directory on this machine) and where a directory store is (the
 * pod's mount, or the directory itself) are the caller's: they are arguments.
 *
 * Object names (written by the uploader in src/backup/script.ts):
 * `<prefix>/<cluster>/etcd-snapshot-<yyyymmddThhmmssZ>-rev<revision>.db[.gz]`,
 * its sidecar `<object>.sha256` (`sha256sum -c` format: "<hex>  <object>",
 * written last: only a backup with one is sealed), its metadata
 * `etcd-snapshot-…-rev<revision>.json`, and `latest.json` (the newest sealed
 * backup). rclone crypt (filename_encryption off) adds ".bin" to every name
 * on the raw store.
 */
import { InputError } from "../errors";
import type { BackupEncryption, BackupStore } from "./plan";
import { rcloneObscure, rcloneSection } from "./rclone";
import { exactlyOneOf } from "./validate";

/** EtcdBackup's default path prefix inside the store. */
export const DEFAULT_STORE_PREFIX = "etcd-backup";
/** The rclone remote of the store itself, and of the crypt layer over it. */
export const STORE_REMOTE = "store";
export const CRYPT_REMOTE = "crypt";

// ------------------------------------------------------------ object names

/** Every backup object's name starts with this. */
export const BACKUP_NAME_PREFIX = "etcd-snapshot-";
/** A backup object's name in messages and patterns (without the extension). */
export const BACKUP_NAME_PATTERN = `${BACKUP_NAME_PREFIX}<UTC timestamp>-rev<revision>`;
/** The marker naming the newest sealed backup, next to the backups. */
export const LATEST_MARKER = "latest.json";
/** rclone filters matching every sidecar and every metadata file of a directory. */
export const SIDECAR_GLOB = `${BACKUP_NAME_PREFIX}*.sha256`;
export const METADATA_GLOB = `${BACKUP_NAME_PREFIX}*.json`;

const OBJECT_NAME = /^(etcd-snapshot-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-rev(\d+))\.db(\.gz)?$/;
const ENCRYPTED_OBJECT_NAME = /^etcd-snapshot-\d{8}T\d{6}Z-rev\d+\.db(\.gz)?\.bin$/;
const NAME_DATE = /^etcd-snapshot-(\d{4})(\d{2})(\d{2})T\d{6}Z-/;

/** What a backup object's name says. */
export interface ParsedBackupName {
    /** e.g. "etcd-snapshot-20260123T060000Z-rev48213.db.gz" */
    object: string;
    /** e.g. "etcd-snapshot-20260123T060000Z-rev48213" (the metadata is `<base>.json`). */
    base: string;
    /** The UTC time in the name, ISO 8601. */
    createdAt: string;
    revision: number;
    gzip: boolean;
}

/** The backup an object name describes; undefined for names that are not backup objects (sidecars, metadata, strangers). */
export function parseBackupName(name: string): ParsedBackupName | undefined {
    const m = OBJECT_NAME.exec(name);
    if (!m) return undefined;
    return {
        object: name,
        base: m[1]!,
        createdAt: `${m[2]}-${m[3]}-${m[4]}T${m[5]}:${m[6]}:${m[7]}Z`,
        revision: Number(m[8]),
        gzip: m[9] === ".gz",
    };
}

/** Whether `name` is a backup object's name (as `backups ls` prints it). */
export function isBackupObjectName(name: string): boolean {
    return OBJECT_NAME.test(name);
}

/** Whether `name` is a backup object's name as rclone crypt stores it (".bin"), read without the key. */
export function isEncryptedBackupObjectName(name: string): boolean {
    return ENCRYPTED_OBJECT_NAME.test(name);
}

/** The UTC date in a backup name (any name that starts like one, e.g. a sidecar); undefined when it has none. */
export function backupNameDate(name: string): { year: number; month: number; day: number } | undefined {
    const m = NAME_DATE.exec(name);
    return m ? { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) } : undefined;
}

/** The object's extension on the raw store: ".db" or ".db.gz", and ".bin" under rclone crypt. */
export function backupObjectExtension(options: { gzip: boolean; encrypted: boolean }): string {
    return `${options.gzip ? ".db.gz" : ".db"}${options.encrypted ? ".bin" : ""}`;
}

/** The sidecar of a backup object: its SHA-256 in `sha256sum` format. */
export function sidecarName(object: string): string {
    return `${object}.sha256`;
}

/** The metadata of a backup, from its base name (`parseBackupName(object).base`). */
export function metadataName(base: string): string {
    return `${base}.json`;
}

// ------------------------------------------------------------ the store

/** The argument names errors use: EtcdBackup's ("storage", "clusterName"), or a reader's ("store", "cluster"). */
export interface StoreArgumentNames {
    storage: string;
    cluster: string;
}

export const ETCD_BACKUP_ARGUMENTS: StoreArgumentNames = { storage: "storage", cluster: "clusterName" };

/** Where one cluster's backups are: the store, EtcdBackup's clusterName, prefix and encryption. */
export interface BackupStoreLocation {
    storage: BackupStore<string>;
    clusterName: string;
    /** Default DEFAULT_STORE_PREFIX. */
    prefix?: string;
    encryption?: BackupEncryption<string>;
}

export interface StoreRenderOptions {
    /** The directory holding the files the configuration names (CA bundle, SSH key, known_hosts) when rclone reads it. */
    configDir: string;
    /**
     * Where a directory store ({ hostPath } or { pvc }) is mounted when rclone reads it (the pod's
     * volume mount). Absent: a { hostPath } is read where it is (this machine) and a { pvc } is refused.
     */
    localStoreMount?: string;
    /** Default ETCD_BACKUP_ARGUMENTS. */
    arguments?: StoreArgumentNames;
}

/** The stores, as the keys of BackupStore (exactly one is given). */
export const STORE_KINDS = ["s3", "sftp", "hostPath", "pvc"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export interface RenderedBackupStore {
    kind: StoreKind;
    /** rclone.conf: the store section, then the crypt section when encrypted (holds credentials). */
    rcloneConfig: string;
    /** Files the configuration names, by name inside configDir (CA bundle, SSH key, known_hosts). */
    files: Record<string, string>;
    /** `configDir`/ca-bundle.pem when the store has its own CA bundle (rclone --ca-cert, RCLONE_CA_CERT). */
    caBundleFile?: string;
    /** rclone path of the store's root (bucket, base directory), e.g. "store:bucket". */
    remoteRoot: string;
    /** The cluster's directory below the root: "<prefix>/<cluster>". */
    dirInRoot: string;
    /** rclone path of the cluster's directory, e.g. "store:bucket/etcd-backup/prod" or "crypt:etcd-backup/prod". */
    remoteDir: string;
    /** Human form of the same place, for messages, e.g. "s3://bucket/etcd-backup/prod". */
    storeUrl: string;
}

/** Values written into rclone.conf lines must not break out of their line. */
function configValue<S>(argument: string, value: S | undefined): S {
    if (value === undefined || value === null || (typeof value === "string" && value === "")) {
        throw new InputError(argument, undefined, "give the credential (a Pulumi secret)");
    }
    if (typeof value === "string" && /[\r\n]/.test(value)) throw new InputError(argument, "<hidden>", "must be a single line");
    return value;
}

/** Path parts joined with single "/", without leading or trailing ones. */
export function storePath(...parts: (string | undefined)[]): string {
    return parts
        .filter((p): p is string => p !== undefined && p !== "")
        .map((p) => p.replace(/^\/+|\/+$/g, ""))
        .filter((p) => p !== "")
        .join("/");
}

/** "store:" + "a/b" → "store:a/b"; "store:bucket" + "a/b" → "store:bucket/a/b". */
function joinRemote(root: string, dir: string): string {
    if (dir === "") return root;
    return root.endsWith(":") || root.endsWith("/") ? `${root}${dir}` : `${root}/${dir}`;
}

/** The cluster's name as a path component of the store. */
export function validateStoreClusterName(value: unknown, argument = ETCD_BACKUP_ARGUMENTS.cluster): string {
    if (typeof value !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
        throw new InputError(argument, value, "use letters, digits, '.', '_' and '-' (it becomes a path in the store)");
    }
    return value;
}

/** The prefix inside the store (default DEFAULT_STORE_PREFIX). */
export function validateStorePrefix(value: unknown): string {
    const prefix = value ?? DEFAULT_STORE_PREFIX;
    if (typeof prefix !== "string" || /(^|\/)\.\.?(\/|$)|[\s'"\\]/.test(prefix))
        throw new InputError("prefix", value, "give a plain path such as etcd-backup");
    return prefix;
}

/** The store: validated, its rclone configuration rendered for `options.configDir`, and where the cluster's backups are. */
export function renderBackupStore(location: BackupStoreLocation, options: StoreRenderOptions): RenderedBackupStore {
    const names = options.arguments ?? ETCD_BACKUP_ARGUMENTS;
    const clusterName = validateStoreClusterName(location.clusterName, names.cluster);
    const prefix = validateStorePrefix(location.prefix);
    const configDir = options.configDir.replace(/\/+$/, "");
    const store = renderStoreSection(location.storage, storePath(prefix, clusterName), configDir, options.localStoreMount, names.storage);
    const crypt = renderEncryption(location.encryption, store.remoteRoot, store.dirInRoot);
    return {
        ...store,
        rcloneConfig: store.rcloneConfig + crypt.rcloneConfig,
        remoteDir: crypt.remoteDir ?? joinRemote(store.remoteRoot, store.dirInRoot),
        ...(store.files["ca-bundle.pem"] !== undefined ? { caBundleFile: `${configDir}/ca-bundle.pem` } : {}),
    };
}

type StoreSection = Omit<RenderedBackupStore, "remoteDir" | "caBundleFile">;

function renderStoreSection(
    storage: BackupStore<string>,
    dir: string,
    configDir: string,
    localStoreMount: string | undefined,
    at: string,
): StoreSection {
    const kind = exactlyOneOf(at, storage, STORE_KINDS, "{ s3: { bucket, accessKeyId, secretAccessKey } }");
    if (kind === "s3") {
        const s3 = storage.s3!;
        if (typeof s3.bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(s3.bucket)) {
            throw new InputError(`${at}.s3.bucket`, s3.bucket, "give an S3 bucket name (3-63 lower-case letters, digits, '.', '-')");
        }
        if (s3.endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(s3.endpoint)) {
            throw new InputError(`${at}.s3.endpoint`, s3.endpoint, 'give the URL of the S3 API, e.g. "https://rgw.example.internal:7480"');
        }
        const accessKeyId = configValue(`${at}.s3.accessKeyId`, s3.accessKeyId);
        const secretAccessKey = configValue(`${at}.s3.secretAccessKey`, s3.secretAccessKey);
        const files: Record<string, string> = {};
        if (s3.caBundle !== undefined) {
            if (!s3.caBundle.includes("-----BEGIN CERTIFICATE-----"))
                throw new InputError(`${at}.s3.caBundle`, s3.caBundle, "give PEM certificates");
            files["ca-bundle.pem"] = s3.caBundle;
        }
        return {
            kind: "s3",
            rcloneConfig: rcloneSection(STORE_REMOTE, {
                type: "s3",
                provider: s3.provider ?? (s3.endpoint ? "Other" : "AWS"),
                access_key_id: accessKeyId,
                secret_access_key: secretAccessKey,
                region: s3.region ?? "us-east-1",
                endpoint: s3.endpoint,
                force_path_style: s3.forcePathStyle ?? true,
                // The bucket is the user's: never try to create it.
                no_check_bucket: true,
                // No MD5 pass over the whole file before a multipart upload: the
                // script reads the object back and compares its sha256 instead.
                disable_checksum: true,
            }),
            files,
            remoteRoot: `${STORE_REMOTE}:${s3.bucket}`,
            dirInRoot: dir,
            storeUrl: `s3://${storePath(s3.bucket, dir)}`,
        };
    }
    if (kind === "sftp") {
        const sftp = storage.sftp!;
        if (typeof sftp.host !== "string" || sftp.host === "" || /[\s/]/.test(sftp.host))
            throw new InputError(`${at}.sftp.host`, sftp.host, "give a host name or IP address");
        const port = sftp.port ?? 22;
        if (!Number.isInteger(port) || port < 1) throw new InputError(`${at}.sftp.port`, sftp.port, "give an integer >= 1");
        if (port > 65535) throw new InputError(`${at}.sftp.port`, sftp.port, "give a TCP port 1-65535");
        if (typeof sftp.user !== "string" || sftp.user === "" || /\s/.test(sftp.user))
            throw new InputError(`${at}.sftp.user`, sftp.user, "give the login name");
        const hasPassword = sftp.password !== undefined;
        const hasKey = sftp.privateKey !== undefined;
        if (hasPassword === hasKey) {
            throw new InputError(
                `${at}.sftp`,
                hasPassword ? "password and privateKey" : "neither password nor privateKey",
                "give exactly one of password and privateKey",
            );
        }
        if (typeof sftp.knownHosts !== "string" || sftp.knownHosts.trim() === "") {
            throw new InputError(
                `${at}.sftp.knownHosts`,
                sftp.knownHosts,
                "give the server's known_hosts line(s) (ssh-keyscan -p PORT HOST): host keys are always checked",
            );
        }
        const files: Record<string, string> = { known_hosts: sftp.knownHosts.endsWith("\n") ? sftp.knownHosts : `${sftp.knownHosts}\n` };
        let auth: Record<string, string>;
        if (hasPassword) {
            const password = configValue(`${at}.sftp.password`, sftp.password);
            auth = { pass: rcloneObscure(password) };
        } else {
            const key = sftp.privateKey as string;
            if (key === "") throw new InputError(`${at}.sftp.privateKey`, undefined, "give the private key PEM (a Pulumi secret)");
            files["ssh-key"] = key.endsWith("\n") ? key : `${key}\n`;
            auth = { key_file: `${configDir}/ssh-key` };
        }
        return {
            kind: "sftp",
            rcloneConfig: rcloneSection(STORE_REMOTE, {
                type: "sftp",
                host: sftp.host,
                port,
                user: sftp.user,
                ...auth,
                known_hosts_file: `${configDir}/known_hosts`,
                // Backup servers often allow SFTP only (ForceCommand internal-sftp): run no remote
                // commands; the script verifies by reading the object back instead.
                shell_type: "none",
            }),
            files,
            remoteRoot: `${STORE_REMOTE}:${sftp.path?.startsWith("/") ? "/" : ""}${storePath(sftp.path)}`,
            dirInRoot: dir,
            storeUrl: `sftp://${sftp.user}@${sftp.host}:${port}/${storePath(sftp.path, dir)}`,
        };
    }
    const local = rcloneSection(STORE_REMOTE, { type: "local" });
    if (kind === "hostPath") {
        const p = storage.hostPath?.path;
        if (typeof p !== "string" || !p.startsWith("/"))
            throw new InputError(`${at}.hostPath.path`, p, "give an absolute directory on the node");
        return {
            kind: "hostPath",
            rcloneConfig: local,
            files: {},
            // In the pod the node's directory is mounted; on this machine it is read where it is.
            remoteRoot: `${STORE_REMOTE}:${localStoreMount ?? p}`,
            dirInRoot: dir,
            storeUrl: `file://${localStoreMount !== undefined ? "<node>" : ""}/${storePath(p, dir)}`,
        };
    }
    const claim = storage.pvc?.claimName;
    if (localStoreMount === undefined) {
        throw new InputError(
            `${at}.pvc`,
            storage.pvc,
            "a PersistentVolumeClaim cannot be read from outside the cluster: copy the backup directory out (kubectl cp) and give { hostPath: { path } }",
        );
    }
    if (typeof claim !== "string" || claim.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(claim)) {
        throw new InputError(`${at}.pvc.claimName`, claim, 'use lower-case letters, digits and "-", at most 253 characters');
    }
    return {
        kind: "pvc",
        rcloneConfig: local,
        files: {},
        remoteRoot: `${STORE_REMOTE}:${localStoreMount}`,
        dirInRoot: dir,
        storeUrl: `pvc://${claim}/${dir}`,
    };
}

/** The rclone crypt section wrapping the store's root, or nothing (then remoteDir is the store's own). */
function renderEncryption(
    encryption: BackupEncryption<string> | undefined,
    remoteRoot: string,
    dirInRoot: string,
): { rcloneConfig: string; remoteDir?: string } {
    if (encryption === undefined) return { rcloneConfig: "" };
    if (typeof encryption !== "object" || encryption === null)
        throw new InputError("encryption", encryption, "give { password } (a Pulumi secret)");
    const password = configValue("encryption.password", encryption.password);
    const salt = encryption.salt === undefined ? undefined : configValue("encryption.salt", encryption.salt);
    return {
        rcloneConfig: rcloneSection(CRYPT_REMOTE, {
            type: "crypt",
            remote: remoteRoot,
            // Names stay readable (restores find backups by name); contents are encrypted.
            filename_encryption: "off",
            directory_name_encryption: false,
            password: rcloneObscure(password),
            password2: salt === undefined ? undefined : rcloneObscure(salt),
        }),
        remoteDir: `${CRYPT_REMOTE}:${dirInRoot}`,
    };
}

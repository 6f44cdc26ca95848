/**
 * `etcd-recovery backups ls|verify|find --store FILE --cluster NAME`: the
 * backups of an EtcdBackup store (src/backups): list them and check their
 * freshness, download and check them, and find which of them holds an object.
 * Exit codes: 0 done and all is well; 1 the store could not be read (rclone's
 * error is printed, nothing is written; also encrypted backups read without
 * the key); 2 usage error or a bad store file;
 * 3 done, but the check failed: `ls --max-age` found no sealed backup that
 * young, `verify` found a backup that fails, `find` found the object in no
 * backup or could not read one.
 */
import {
    BackupEntry,
    BackupListing,
    FindReport,
    NoSealedBackupError,
    NoSuchBackupError,
    VerifyReport,
    findInBackups,
    listBackups,
    newestSealed,
    verifyBackups,
} from "../backups";
import { isBackupObjectName } from "../backup/store";
import { InputError } from "../errors";
import { StoreSnapshotError } from "../recovery/store";
import type { CliIo } from "./recovery";
import { UsageError, loadStoreFile } from "./recovery";
import { humanBytes, renderTable } from "./snapshot";

export const BACKUPS_USAGE = `usage:
  etcd-recovery backups ls     --store FILE --cluster NAME [--prefix PREFIX] [--max-age DURATION] [--output table|json]
  etcd-recovery backups verify --store FILE --cluster NAME [--prefix PREFIX] [--object NAME | --all] [--output table|json]
  etcd-recovery backups find   --store FILE --cluster NAME [--prefix PREFIX] --kind KIND --name NAME [-n NAMESPACE]
                               [--etcd-prefix /registry] [--limit N] [--output table|json]

  ls             every backup of the cluster, newest first: sealed or not, age, size, etcd revision, whether
                 its .sha256 sidecar and .json metadata agree (nothing is downloaded)
  verify         download and check: size and SHA-256 against sidecar and metadata, the decompressed snapshot
                 against the metadata, the snapshot read whole (bbolt meta checksums, etcd's SHA-256 trailer,
                 the revision); default the newest sealed backup
  find           read each sealed backup once, newest first: does it hold the object, at which mod revision and
                 version, and where it changed from the next older backup
  --store        YAML/JSON file (keep it 0600) with EtcdBackup's store, as for fetch: { s3: {...} }, { sftp: {...} }
                 or { hostPath: { path } }, and encryption: { password, salt } for encrypted backups
  --cluster      EtcdBackup's clusterName;  --prefix  its prefix (default etcd-backup)
  --max-age      ls exits 3 when the newest sealed backup is older than this (or there is none): 26h, 90m, 2d, 1d12h
  --object       verify this backup object (sealed or not);  --all  verify every sealed backup
  --kind         a resource as kubectl names it: configmaps, secrets, deployments.apps, widgets.example.com
  -n             the object's namespace (default: default; cluster-scoped kinds need none);  --name  its name
  --etcd-prefix  kube-apiserver's --etcd-prefix (default /registry)
  --limit        find reads only the newest N sealed backups
  -o, --output   table (default) or json (stdout); progress and notes go to stderr

  exit codes: 0 all well; 1 the store cannot be read (rclone's error, or encrypted backups and no
              encryption in the store file); 2 usage error, bad store file or an
              --object the store does not have; 3 the check failed (ls --max-age: stale or no sealed backup;
              verify: a backup fails, or none is sealed; find: the object is in no backup read, a backup
              could not be read, or none is sealed)
`;

export type BackupsCommand = "ls" | "verify" | "find";

export interface BackupsArgs {
    command: BackupsCommand;
    storeFile: string;
    cluster: string;
    prefix?: string;
    output: "table" | "json";
    maxAgeSeconds?: number;
    maxAge?: string;
    object?: string;
    all: boolean;
    kind?: string;
    namespace?: string;
    name?: string;
    etcdPrefix: string;
    limit?: number;
}

const COMMANDS: BackupsCommand[] = ["ls", "verify", "find"];
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const OWNER: Record<string, BackupsCommand> = {
    "--max-age": "ls",
    "--object": "verify",
    "--all": "verify",
    "--kind": "find",
    "-n": "find",
    "--namespace": "find",
    "--name": "find",
    "--etcd-prefix": "find",
    "--limit": "find",
};

/** "26h", "90m", "2d", "1d12h", "3600s" → seconds; undefined when it is not such a duration. */
export function parseDuration(text: string): number | undefined {
    const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
    if (!m || text === "") return undefined;
    const seconds = Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
    return seconds > 0 && Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** 93784 → "1d2h", 11520 → "3h12m", 300 → "5m", 42 → "42s". */
export function formatAge(seconds: number): string {
    if (seconds < 0) return `in ${formatAge(-seconds)} (clock skew?)`;
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    if (d > 0) return `${d}d${h > 0 ? `${h}h` : ""}`;
    if (h > 0) return `${h}h${m > 0 ? `${m}m` : ""}`;
    if (m > 0) return `${m}m`;
    return `${seconds}s`;
}

/** argv after `backups`; throws UsageError naming the flag, the value and the fix. */
export function parseBackupsArgs(argv: string[]): BackupsArgs {
    const [command, ...rest] = argv;
    if (command === undefined) throw new UsageError("give a backups command: ls, verify or find");
    if (!COMMANDS.includes(command as BackupsCommand)) throw new UsageError(`unknown backups command "${command}": use ls, verify or find`);
    const args: Partial<BackupsArgs> = {};
    for (let i = 0; i < rest.length; i++) {
        const flag = rest[i]!;
        const owner = OWNER[flag];
        if (owner !== undefined && owner !== command) throw new UsageError(`${flag} belongs to backups ${owner}, not backups ${command}`);
        const valueOf = (): string => {
            const v = rest[++i];
            if (v === undefined || v.startsWith("-")) throw new UsageError(`${flag} needs a value`);
            return v;
        };
        switch (flag) {
            case "--store":
                args.storeFile = valueOf();
                break;
            case "--cluster":
                args.cluster = valueOf();
                break;
            case "--prefix":
                args.prefix = valueOf();
                break;
            case "-o":
            case "--output": {
                const output = valueOf();
                if (output !== "table" && output !== "json") throw new UsageError(`${flag} ${JSON.stringify(output)}: use table or json`);
                args.output = output;
                break;
            }
            case "--max-age": {
                const text = valueOf();
                const seconds = parseDuration(text);
                if (seconds === undefined)
                    throw new UsageError(
                        `--max-age ${JSON.stringify(text)}: give a duration above zero with units d, h, m, s, e.g. 26h, 90m, 2d or 1d12h`,
                    );
                args.maxAge = text;
                args.maxAgeSeconds = seconds;
                break;
            }
            case "--object": {
                const object = valueOf();
                if (!isBackupObjectName(object)) {
                    throw new UsageError(
                        `--object ${JSON.stringify(object)}: give a backup object name as backups ls prints it, e.g. etcd-snapshot-20260123T060000Z-rev48213.db.gz`,
                    );
                }
                args.object = object;
                break;
            }
            case "--all":
                args.all = true;
                break;
            case "--kind": {
                const kind = valueOf();
                if (args.kind !== undefined)
                    throw new UsageError(`--kind ${JSON.stringify(kind)}: find looks for one object; --kind was already ${args.kind}`);
                if (!NAME.test(kind))
                    throw new UsageError(
                        `--kind ${JSON.stringify(kind)}: give one resource as kubectl names it, e.g. configmaps or widgets.example.com`,
                    );
                args.kind = kind;
                break;
            }
            case "-n":
            case "--namespace": {
                const ns = valueOf();
                if (!NAME.test(ns))
                    throw new UsageError(`${flag} ${JSON.stringify(ns)}: not a namespace name (lower-case letters, digits and -)`);
                args.namespace = ns;
                break;
            }
            case "--name":
                args.name = valueOf();
                break;
            case "--etcd-prefix": {
                const prefix = valueOf();
                if (!prefix.startsWith("/"))
                    throw new UsageError(`--etcd-prefix ${JSON.stringify(prefix)}: kube-apiserver's prefix starts with /, e.g. /registry`);
                args.etcdPrefix = prefix;
                break;
            }
            case "--limit": {
                const text = valueOf();
                if (!/^[1-9][0-9]{0,5}$/.test(text))
                    throw new UsageError(
                        `--limit ${JSON.stringify(text)}: give how many of the newest sealed backups to read, a whole number from 1`,
                    );
                args.limit = Number(text);
                break;
            }
            default:
                throw new UsageError(
                    flag.startsWith("-")
                        ? `unknown flag ${flag} for backups ${command}`
                        : `unexpected argument ${JSON.stringify(flag)} for backups ${command} (flags only; backups --help)`,
                );
        }
    }
    if (!args.storeFile)
        throw new UsageError(`backups ${command} needs --store FILE: the store EtcdBackup writes to, as for fetch (backups --help)`);
    if (!args.cluster) throw new UsageError(`backups ${command} needs --cluster NAME: EtcdBackup's clusterName`);
    if (args.object !== undefined && args.all)
        throw new UsageError("--object and --all exclude each other: check one backup or every sealed one");
    if (command === "find" && (args.kind === undefined || args.name === undefined))
        throw new UsageError("find needs --kind KIND and --name NAME (and -n NAMESPACE for a namespaced object outside default)");
    return {
        command: command as BackupsCommand,
        storeFile: args.storeFile,
        cluster: args.cluster,
        output: args.output ?? "table",
        all: args.all ?? false,
        etcdPrefix: args.etcdPrefix ?? "/registry",
        ...(args.prefix !== undefined ? { prefix: args.prefix } : {}),
        ...(args.maxAgeSeconds !== undefined ? { maxAgeSeconds: args.maxAgeSeconds, maxAge: args.maxAge! } : {}),
        ...(args.object !== undefined ? { object: args.object } : {}),
        ...(args.kind !== undefined ? { kind: args.kind } : {}),
        ...(args.namespace !== undefined ? { namespace: args.namespace } : {}),
        ...(args.name !== undefined ? { name: args.name } : {}),
        ...(args.limit !== undefined ? { limit: args.limit } : {}),
    };
}

const SHA256_TEXT: Record<BackupEntry["sha256"], string> = {
    consistent: "sidecar=metadata",
    mismatch: "MISMATCH",
    "sidecar-only": "sidecar, no metadata",
    "metadata-only": "metadata only",
    none: "none",
};

function lsTable(listing: BackupListing): string {
    return renderTable(
        ["OBJECT", "SEALED", "AGE", "SIZE", "REVISION", "SHA256"],
        listing.backups.map((b) => [
            b.object,
            b.sealed ? "sealed" : "UNSEALED",
            formatAge(b.ageSeconds),
            humanBytes(b.sizeBytes),
            `${b.revision}${b.revisionFrom === "name" ? " (name)" : ""}`,
            SHA256_TEXT[b.sha256],
        ]),
    );
}

/** `ls`: 0, or 3 when --max-age finds the newest sealed backup older (or none). */
function reportLs(listing: BackupListing, args: BackupsArgs, io: CliIo): number {
    io.stdout(args.output === "json" ? `${JSON.stringify(listing, null, 2)}\n` : lsTable(listing));
    for (const b of listing.backups)
        for (const problem of b.problems)
            io.stderr(`WARNING: ${b.object}: ${problem} (backups verify --object ${b.object} downloads and checks it)\n`);
    const unsealed = listing.backups.filter((b) => !b.sealed).length;
    if (listing.backups.length === 0) io.stderr(`note: ${listing.storeUrl} holds no backups (check --store, --prefix and --cluster)\n`);
    else if (unsealed > 0)
        io.stderr(
            `note: ${unsealed} unsealed backup(s): their upload, read-back or restore drill failed; fetch never restores them and retention does not count them\n`,
        );
    const newest = newestSealed(listing);
    if (args.maxAgeSeconds === undefined) return 0;
    if (!newest) {
        io.stderr(`STALE: ${listing.storeUrl} has no sealed backup at all (--max-age ${args.maxAge}): exit 3\n`);
        return 3;
    }
    if (newest.ageSeconds > args.maxAgeSeconds) {
        io.stderr(
            `STALE: the newest sealed backup ${newest.object} is ${formatAge(newest.ageSeconds)} old (made ${newest.createdAt}), older than --max-age ${args.maxAge}: exit 3\n`,
        );
        return 3;
    }
    io.stderr(`fresh: the newest sealed backup ${newest.object} is ${formatAge(newest.ageSeconds)} old (--max-age ${args.maxAge})\n`);
    return 0;
}

function reportVerify(report: VerifyReport, args: BackupsArgs, io: CliIo): number {
    if (args.output === "json") io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else {
        const rows: string[][] = [];
        for (const r of report.results) {
            const failed = r.checks.filter((c) => !c.ok);
            if (failed.length === 0) rows.push([r.object, "ok", r.checks.map((c) => c.detail).join("; ")]);
            else failed.forEach((c, i) => rows.push([i === 0 ? r.object : "", i === 0 ? "FAILED" : "", `${c.check}: ${c.detail}`]));
        }
        io.stdout(renderTable(["OBJECT", "RESULT", "DETAIL"], rows));
    }
    if (report.skippedUnsealed.length > 0)
        io.stderr(
            `note: ${report.skippedUnsealed.length} unsealed backup(s) not checked (never counted as good): ${report.skippedUnsealed.join(", ")}\n`,
        );
    const failed = report.results.filter((r) => !r.ok);
    if (failed.length > 0) {
        io.stderr(
            `FAILED: ${failed.length} of ${report.results.length} backup(s) fail verification: ${failed.map((r) => r.object).join(", ")}: exit 3\n`,
        );
        return 3;
    }
    io.stderr(`ok: ${report.results.length} backup(s) verified\n`);
    return 0;
}

function findTable(report: FindReport): string {
    return renderTable(
        ["BACKUP", "MADE", "REVISION", "STATE", "MOD-REV", "VERSION", "CHANGED"],
        report.backups.map((b) => [
            b.object,
            b.createdAt,
            String(b.backupRevision),
            b.state === "deleted" ? `deleted at ${b.deletedAt}` : b.state === "error" ? `ERROR: ${b.error}` : b.state,
            b.state === "present" ? String(b.modRevision) : "",
            b.state === "present" ? String(b.version) : "",
            b.state === "error" ? "" : b.changed === undefined ? "(oldest read)" : b.changed ? "changed" : "",
        ]),
    );
}

function reportFind(report: FindReport, args: BackupsArgs, io: CliIo): number {
    io.stdout(args.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : findTable(report));
    const what = `${args.kind} ${args.namespace ? `${args.namespace}/` : ""}${args.name}`;
    if (report.notRead > 0) io.stderr(`note: ${report.notRead} older sealed backup(s) not read (--limit ${args.limit})\n`);
    const errors = report.backups.filter((b) => b.state === "error");
    for (const e of errors) io.stderr(`error: ${e.object}: ${e.error}\n`);
    const newestPresent = report.backups.find((b) => b.state === "present");
    if (!newestPresent) {
        io.stderr(
            `not found: no backup read holds ${what}${args.namespace === undefined ? " in namespace default (give -n NAMESPACE for another; cluster-scoped kinds need none)" : ""}` +
                `${args.etcdPrefix !== "/registry" ? ` under ${args.etcdPrefix}` : ""}: exit 3\n`,
        );
        return 3;
    }
    const newest = report.backups[0]!;
    if (newest !== newestPresent)
        io.stderr(
            `note: ${what} is ${newest.state === "error" ? "unreadable" : newest.state} in the newest backup; the newest that holds it is ${newestPresent.object}\n`,
        );
    const base = newestPresent.object.replace(/\.gz$/, "");
    io.stderr(
        `next: etcd-recovery fetch --store ${args.storeFile} --cluster ${args.cluster}${args.prefix !== undefined ? ` --prefix ${args.prefix}` : ""} --object ${newestPresent.object} --dir ./snapshots\n` +
            `      pulumi config set snapshotPath ./snapshots/${base}   (mod revision ${newestPresent.modRevision}, version ${newestPresent.version})\n`,
    );
    return errors.length > 0 ? 3 : 0;
}

/** Runs one `backups` command; resolves with the exit code. */
export async function runBackups(argv: string[], io: CliIo, readFile?: (file: string) => string): Promise<number> {
    if (argv.length === 0 || ["--help", "-h", "help"].includes(argv[0]!)) {
        io.stdout(BACKUPS_USAGE);
        return argv.length === 0 ? 2 : 0;
    }
    let args: BackupsArgs;
    let source: ReturnType<typeof loadStoreFile>;
    try {
        args = parseBackupsArgs(argv);
        source = loadStoreFile(args.storeFile, readFile);
    } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        io.stderr(`error: ${error.message}\n\n${BACKUPS_USAGE}`);
        return 2;
    }
    const options = {
        ...source,
        cluster: args.cluster,
        ...(args.prefix !== undefined ? { prefix: args.prefix } : {}),
        onProgress: (message: string) => io.stderr(`${args.command} ${message}\n`),
    };
    try {
        switch (args.command) {
            case "ls":
                return reportLs(await listBackups(options), args, io);
            case "verify":
                return reportVerify(
                    await verifyBackups({ ...options, ...(args.object !== undefined ? { object: args.object } : {}), all: args.all }),
                    args,
                    io,
                );
            case "find":
                return reportFind(
                    await findInBackups({
                        ...options,
                        filter: {
                            etcdPrefix: args.etcdPrefix,
                            resources: [args.kind!],
                            name: args.name!,
                            namespace: args.namespace ?? "default",
                        },
                        ...(args.limit !== undefined ? { limit: args.limit } : {}),
                    }),
                    args,
                    io,
                );
        }
    } catch (error) {
        if (error instanceof InputError) {
            // --cluster / --prefix as flags; anything else is the store file's content (a bad bucket, a relative path, a pvc).
            io.stderr(
                `error: ${error.argument === "cluster" || error.argument === "prefix" ? `--${error.message}` : `--store ${args.storeFile}: ${error.message}`}\n`,
            );
            return 2;
        }
        if (error instanceof NoSuchBackupError) {
            io.stderr(`error: --object ${args.object}: ${error.message}\n`);
            return 2;
        }
        if (error instanceof NoSealedBackupError) {
            io.stderr(`FAILED: ${error.message}: exit 3\n`);
            return 3;
        }
        if (error instanceof StoreSnapshotError) {
            io.stderr(`error: ${error.message}\n`);
            return 1;
        }
        throw error;
    }
}

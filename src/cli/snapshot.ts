/**
 * `etcd-recovery snapshot ls|get|history|stats FILE`: which snapshot still
 * holds a lost object and what it looked like, read straight from the file
 * (src/snapshot), no etcd, no containers. Namespaces as kubectl: -n NS, -A,
 * or the default namespace; cluster-scoped objects always match.
 * Exit codes: 0 done; 1 done but not all is well (the file fails its hash,
 * get found nothing or cannot print the value here); 2 usage error or a file
 * that cannot be read.
 */
import type { CliIo } from "./recovery";
import { UsageError } from "./recovery";
import {
    HashCheck,
    ObjectFilter,
    ObjectRevision,
    Snapshot,
    SnapshotFormatError,
    SnapshotStats,
    describeEncoding,
    latestObjects,
    objectHistory,
    objectValues,
    snapshotStats,
} from "../snapshot";

export const SNAPSHOT_USAGE = `usage:
  etcd-recovery snapshot ls      FILE [--kind KIND ...] [-n NAMESPACE | -A] [--name NAME] [--etcd-prefix /registry] [--output table|json]
  etcd-recovery snapshot history FILE [--kind KIND ...] [-n NAMESPACE | -A] [--name NAME] [--etcd-prefix /registry] [--output table|json]
  etcd-recovery snapshot get     FILE --kind KIND --name NAME [-n NAMESPACE] [--rev REVISION] [--etcd-prefix /registry] [--output json]
  etcd-recovery snapshot stats   FILE [--etcd-prefix /registry] [--output table|json]

  FILE           a snapshot from etcdctl snapshot save (its SHA-256 trailer is checked) or a copied member/snap/db
  ls             the latest revision of each object that is not deleted
  history        every revision the snapshot still holds, deletions included, oldest first
  get            the object's value (JSON printed as JSON; protobuf and encrypted values need a RecoveryEnvironment)
  stats          what fills the database: bytes per resource, revisions, compaction, pages, the hash check
  --kind         a resource as kubectl names it: configmaps, secrets, deployments.apps, widgets.example.com (repeat or a,b)
  -n, -A         one namespace, or all; default: the default namespace (cluster-scoped objects always match)
  --rev          get the value as of this revision (the latest one at or before it)
  --etcd-prefix  kube-apiserver's --etcd-prefix (default /registry)
  -o, --output   table (default) or json
`;

export type SnapshotCommand = "ls" | "get" | "history" | "stats";

export interface SnapshotArgs {
    command: SnapshotCommand;
    file: string;
    kinds?: string[];
    namespace?: string;
    allNamespaces: boolean;
    name?: string;
    etcdPrefix: string;
    output: "table" | "json";
    revision?: number;
}

const COMMANDS: SnapshotCommand[] = ["ls", "get", "history", "stats"];
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** argv after `snapshot`; throws UsageError naming the flag, the value and the fix. */
export function parseSnapshotArgs(argv: string[]): SnapshotArgs {
    const [command, ...rest] = argv;
    if (command === undefined) throw new UsageError("give a snapshot command: ls, get, history or stats");
    if (!COMMANDS.includes(command as SnapshotCommand))
        throw new UsageError(`unknown snapshot command "${command}": use ls, get, history or stats`);
    const args: Partial<SnapshotArgs> & { positional: string[] } = { positional: [] };
    for (let i = 0; i < rest.length; i++) {
        const flag = rest[i]!;
        const valueOf = (): string => {
            const v = rest[++i];
            if (v === undefined || (v.startsWith("-") && v !== "-")) throw new UsageError(`${flag} needs a value`);
            return v;
        };
        switch (flag) {
            case "--kind":
                for (const kind of valueOf().split(",")) {
                    if (!NAME.test(kind))
                        throw new UsageError(
                            `--kind ${JSON.stringify(kind)}: give a resource as kubectl names it, e.g. configmaps or widgets.example.com`,
                        );
                    (args.kinds ??= []).push(kind);
                }
                break;
            case "-n":
            case "--namespace": {
                const ns = valueOf();
                if (!NAME.test(ns))
                    throw new UsageError(`${flag} ${JSON.stringify(ns)}: not a namespace name (lower-case letters, digits and -)`);
                args.namespace = ns;
                break;
            }
            case "-A":
            case "--all-namespaces":
                args.allNamespaces = true;
                break;
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
            case "-o":
            case "--output": {
                const output = valueOf();
                if (output !== "table" && output !== "json") throw new UsageError(`${flag} ${output}: use table or json`);
                args.output = output;
                break;
            }
            case "--rev": {
                const value = valueOf();
                if (!/^[1-9][0-9]{0,15}$/.test(value))
                    throw new UsageError(`--rev ${value}: give a revision, a positive whole number (history lists them)`);
                args.revision = Number(value);
                break;
            }
            default:
                if (flag.startsWith("-")) throw new UsageError(`unknown flag ${flag} for snapshot ${command}`);
                args.positional.push(flag);
        }
    }
    if (args.positional.length === 0)
        throw new UsageError(`snapshot ${command} needs FILE: a snapshot from etcdctl snapshot save (or a copied member/snap/db)`);
    if (args.positional.length > 1)
        throw new UsageError(`snapshot ${command} reads one FILE; unexpected ${JSON.stringify(args.positional[1])}`);
    if (args.namespace !== undefined && args.allNamespaces) throw new UsageError("-n and -A exclude each other: give one namespace or all");
    if (command === "stats" && (args.kinds || args.namespace !== undefined || args.allNamespaces || args.name !== undefined)) {
        throw new UsageError("stats covers the whole file: leave out --kind, -n, -A and --name");
    }
    if (command === "get") {
        if (!args.kinds || args.name === undefined)
            throw new UsageError("get needs --kind KIND and --name NAME (ls lists what the snapshot holds)");
        if (args.kinds.length > 1) throw new UsageError(`get reads one kind; --kind gave ${args.kinds.join(", ")}`);
        if (args.allNamespaces) throw new UsageError("get reads one object: give -n NAMESPACE, not -A");
    }
    if (args.revision !== undefined && command !== "get")
        throw new UsageError(`--rev belongs to get; ${command} covers every revision held`);
    return {
        command: command as SnapshotCommand,
        file: args.positional[0]!,
        allNamespaces: args.allNamespaces ?? false,
        etcdPrefix: args.etcdPrefix ?? "/registry",
        output: args.output ?? "table",
        ...(args.kinds ? { kinds: args.kinds } : {}),
        ...(args.namespace !== undefined ? { namespace: args.namespace } : {}),
        ...(args.name !== undefined ? { name: args.name } : {}),
        ...(args.revision !== undefined ? { revision: args.revision } : {}),
    };
}

export function humanBytes(bytes: number): string {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
    if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
    return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** Columns padded to their widest cell; plain loops: a table may have 100k rows. */
export function renderTable(header: string[], rows: string[][]): string {
    const widths = header.map((h) => h.length);
    for (const row of rows) for (let i = 0; i < row.length; i++) if (row[i]!.length > widths[i]!) widths[i] = row[i]!.length;
    const out: string[] = [];
    for (const cells of [header, ...rows]) {
        let line = "";
        for (let i = 0; i < cells.length - 1; i++) line += cells[i]!.padEnd(widths[i]! + 2);
        out.push((line + cells[cells.length - 1]!).trimEnd());
    }
    return out.join("\n") + "\n";
}

function describeHash(hash: HashCheck): string {
    switch (hash.state) {
        case "ok":
            return "SHA-256 ok (matches the hash etcdctl snapshot save appended)";
        case "mismatch":
            return `SHA-256 MISMATCH: the file is damaged or was altered (stored ${hash.stored}, computed ${hash.computed})`;
        case "absent":
            return "no integrity hash (a copied db, not etcdctl snapshot save output): it cannot be checked";
    }
}

function where(object: { namespace?: string; name: string }): string {
    return object.namespace === undefined ? object.name : `${object.namespace}/${object.name}`;
}

function lsTable(objects: ObjectRevision[]): string {
    return renderTable(
        ["RESOURCE", "NAMESPACE", "NAME", "CREATED", "MODIFIED", "VERSION", "SIZE", "ENCODING", "KEY"],
        objects.map((o) => [
            o.resource,
            o.namespace ?? "",
            o.name,
            String(o.createRevision),
            String(o.modRevision),
            String(o.version),
            humanBytes(o.valueSize),
            describeEncoding(o.encoding),
            o.key,
        ]),
    );
}

function historyTable(revisions: ObjectRevision[]): string {
    return renderTable(
        ["REVISION", "EVENT", "RESOURCE", "NAMESPACE", "NAME", "VERSION", "SIZE", "ENCODING"],
        revisions.map((o) => [
            o.subRevision === 0 ? String(o.revision) : `${o.revision}.${o.subRevision}`,
            o.deleted ? "DELETED" : o.version === 1 ? "created" : "updated",
            o.resource,
            o.namespace ?? "",
            o.name,
            o.deleted ? "" : String(o.version),
            o.deleted ? "" : humanBytes(o.valueSize),
            o.deleted ? "" : describeEncoding(o.encoding),
        ]),
    );
}

function statsText(stats: SnapshotStats): string {
    const { pages, revisions } = stats;
    const lines = [
        `file         ${stats.file}: ${humanBytes(stats.fileSize)} (database ${humanBytes(stats.dbSize)}, page size ${stats.pageSize}, txid ${stats.txid})`,
        `integrity    ${describeHash(stats.hash)}`,
        `pages        ${pages.total} in all: ${pages.inUse} in use, ${pages.free} free${pages.freelist === undefined ? " (no freelist on disk)" : ` (${pages.freelist} on the freelist)`}`,
        `revisions    ${revisions.count === 0 ? "none" : `${revisions.oldest} … ${revisions.newest}`}: ${revisions.count} held, ${revisions.deletions} of them deletions`,
        `compaction   ${stats.compactedRevision === undefined ? "never compacted" : `compacted at revision ${stats.compactedRevision} (older revisions are gone, except each key's latest)`}` +
            (stats.scheduledCompactRevision !== undefined && stats.scheduledCompactRevision !== stats.compactedRevision
                ? `; compaction to ${stats.scheduledCompactRevision} scheduled, not finished`
                : ""),
        `keys         ${stats.keys.live} live, ${stats.keys.deleted} deleted` +
            (stats.consistentIndex !== undefined ? `; consistent index ${stats.consistentIndex}` : "") +
            (stats.term !== undefined ? `, term ${stats.term}` : ""),
        ...(stats.otherMetaProblem
            ? [`meta         using meta page ${stats.metaPage}; the other is invalid: ${stats.otherMetaProblem}`]
            : []),
        "",
    ];
    const rows = stats.resources.map((r) => [r.resource, String(r.objects), String(r.revisions), humanBytes(r.bytes)]);
    if (stats.otherKeys.revisions > 0)
        rows.push(["(other keys)", String(stats.otherKeys.keys), String(stats.otherKeys.revisions), humanBytes(stats.otherKeys.bytes)]);
    return lines.join("\n") + "\n" + renderTable(["RESOURCE", "OBJECTS", "REVISIONS", "BYTES"], rows);
}

function filterOf(args: SnapshotArgs): ObjectFilter {
    return {
        etcdPrefix: args.etcdPrefix,
        ...(args.kinds ? { resources: args.kinds } : {}),
        ...(args.name !== undefined ? { name: args.name } : {}),
        ...(args.allNamespaces ? {} : { namespace: args.namespace ?? "default" }),
    };
}

/** `get`: 0 when the value was printed, 1 when there is none or it cannot be printed here. */
function runGet(snapshot: Snapshot, args: SnapshotArgs, io: CliIo): number {
    const found = objectValues(snapshot, filterOf(args), args.revision);
    const what = `${args.kinds![0]} ${args.namespace ? `${args.namespace}/` : ""}${args.name}`;
    const at = args.revision === undefined ? "" : ` at revision ${args.revision}`;
    if (found.length === 0) {
        io.stderr(
            `error: the snapshot holds no ${what}${at}${args.namespace === undefined ? " in namespace default (cluster-scoped kinds need no -n; give -n NAMESPACE for another)" : ""}; snapshot ls lists what it holds\n`,
        );
        return 1;
    }
    if (found.length > 1) {
        io.stderr(
            `error: ${found.length} objects match ${what}: ${found.map((f) => f.object.key).join(", ")}; narrow with -n NAMESPACE or --kind\n`,
        );
        return 1;
    }
    const { object, value } = found[0]!;
    const label = `${object.resource} ${where(object)}`;
    if (object.deleted) {
        io.stderr(
            `error: ${label} was deleted at revision ${object.revision}${at ? ` (at or before revision ${args.revision})` : ""}; snapshot history shows the revisions held, get --rev REVISION prints an earlier one\n`,
        );
        return 1;
    }
    const encoding = object.encoding;
    if (encoding.type === "json") {
        let parsed: unknown;
        try {
            parsed = JSON.parse(value.toString("utf8"));
        } catch (error) {
            io.stderr(
                `error: ${label} at revision ${object.revision} looks like JSON but does not parse (${(error as Error).message}); its ${value.length} bytes are printed as stored\n`,
            );
            io.stdout(value.toString("utf8"));
            return 1;
        }
        io.stdout(
            args.output === "json" ? `${JSON.stringify({ object, value: parsed }, null, 2)}\n` : `${JSON.stringify(parsed, null, 2)}\n`,
        );
        io.stderr(`${label}: revision ${object.modRevision}, version ${object.version}\n`);
        return 0;
    }
    const recover = `bring up a RecoveryEnvironment from this snapshot and run: etcd-recovery export --kubeconfig FILE --kind ${object.resource}${object.namespace ? ` -n ${object.namespace}` : ""} --name ${object.name}`;
    if (args.output === "json") io.stdout(`${JSON.stringify({ object }, null, 2)}\n`);
    if (encoding.type === "protobuf") {
        io.stderr(
            `${label} at revision ${object.modRevision} is stored as protobuf (${encoding.apiVersion ?? "?"}/${encoding.kind ?? "?"}, ${humanBytes(value.length)})` +
                `${encoding.problem ? `, ${encoding.problem}` : ""}: a full decode needs kube-apiserver's types, so ${recover}\n`,
        );
    } else if (encoding.type === "encrypted") {
        io.stderr(
            `${label} at revision ${object.modRevision} is encrypted at rest (provider ${encoding.provider} ${encoding.providerVersion}, key "${encoding.keyName}", ${humanBytes(value.length)}); ` +
                `this reader never decrypts: ${recover} (the environment needs the cluster's EncryptionConfiguration)\n`,
        );
    } else {
        io.stderr(
            `${label} at revision ${object.modRevision} holds ${humanBytes(value.length)} that are neither JSON, protobuf nor encrypted; ${recover}\n`,
        );
    }
    return 1;
}

/** Runs one `snapshot` command; resolves with the exit code. */
export async function runSnapshot(argv: string[], io: CliIo): Promise<number> {
    if (argv.length === 0 || ["--help", "-h", "help"].includes(argv[0]!)) {
        io.stdout(SNAPSHOT_USAGE);
        return argv.length === 0 ? 2 : 0;
    }
    let args: SnapshotArgs;
    try {
        args = parseSnapshotArgs(argv);
    } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        io.stderr(`error: ${error.message}\n\n${SNAPSHOT_USAGE}`);
        return 2;
    }
    let snapshot: Snapshot;
    try {
        snapshot = Snapshot.open(args.file);
    } catch (error) {
        io.stderr(
            `error: ${error instanceof SnapshotFormatError ? error.message : `cannot read ${args.file}: ${(error as Error).message}`}\n`,
        );
        return 2;
    }
    // The hash is computed on another thread while the command walks the file; its verdict comes with the output.
    const hashing = snapshot.checkHashInBackground();
    const report = async (): Promise<number> => {
        const hash = await hashing;
        if (hash.state === "mismatch") io.stderr(`WARNING: ${args.file}: ${describeHash(hash)}; what it holds may be wrong\n`);
        if (hash.state === "absent" && args.command !== "stats") io.stderr(`note: ${args.file}: ${describeHash(hash)}\n`);
        return hash.state === "mismatch" ? 1 : 0;
    };
    try {
        switch (args.command) {
            case "ls": {
                const { objects, outsideNamespace } = latestObjects(snapshot, filterOf(args));
                const text = args.output === "json" ? `${JSON.stringify(objects, null, 2)}\n` : lsTable(objects);
                const code = await report();
                io.stdout(text);
                if (outsideNamespace > 0)
                    io.stderr(
                        `note: ${outsideNamespace} matching objects in other namespaces are not shown (-A for all, -n NAMESPACE for one)\n`,
                    );
                return code;
            }
            case "history": {
                const revisions = objectHistory(snapshot, filterOf(args));
                const code = await report();
                io.stdout(args.output === "json" ? `${JSON.stringify(revisions, null, 2)}\n` : historyTable(revisions));
                return code;
            }
            case "stats": {
                const stats = snapshotStats(snapshot, { etcdPrefix: args.etcdPrefix, hash: { state: "absent" } });
                const code = await report();
                stats.hash = await hashing;
                io.stdout(args.output === "json" ? `${JSON.stringify(stats, null, 2)}\n` : statsText(stats));
                return code;
            }
            case "get": {
                const code = await report();
                return Math.max(runGet(snapshot, args, io), code);
            }
        }
    } catch (error) {
        if (!(error instanceof SnapshotFormatError)) throw error;
        const hash = await hashing.catch(() => undefined);
        io.stderr(`error: ${error.message}${hash?.state === "mismatch" ? " (and the file fails its SHA-256 check: it is damaged)" : ""}\n`);
        return 2;
    } finally {
        snapshot.close();
    }
}

#!/usr/bin/env node
/**
 * Getting objects back from a recovery environment, from the command line:
 *
 *   npx etcd-recovery export --kubeconfig recovery.kubeconfig --kind configmaps -n shop --name app-config [-o out.yaml]
 *   npx etcd-recovery diff --kubeconfig recovery.kubeconfig --live-kubeconfig ~/.kube/config --kind configmaps -n shop
 *   npx etcd-recovery fetch --store store.yaml --cluster prod --dir ./snapshots      (then: pulumi config set snapshotPath …)
 *   npx etcd-recovery backups ls|verify|find --store store.yaml --cluster prod ...   (src/cli/backups.ts)
 *
 * Every `--kind` starts a new selection; the -n/--name/-l/-A after it refine
 * that selection. YAML goes to stdout (or -o FILE, written 0600: it may hold
 * Secrets); progress and notes go to stderr. `diff` exits 0 when snapshot and
 * live agree, 1 when they differ, 2 on an error (as diff(1) does).
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import { diffObjects, renderDiffReport } from "../recovery/diff";
import { exportObjects, Selection } from "../recovery/export";
import { FetchSnapshotOptions, fetchSnapshotFromStore } from "../recovery/store";
import { runBackups } from "./backups";
import { runSnapshot } from "./snapshot";

export const USAGE = `usage:
  etcd-recovery export --kubeconfig FILE --kind KIND [--name NAME | -l SELECTOR] [-n NAMESPACE | -A] [--kind KIND ...]
                        [--owner-references drop|keep] [-o FILE] [--kubectl PATH]
  etcd-recovery diff   --kubeconfig FILE --live-kubeconfig FILE --kind KIND [...as for export] [--kubectl PATH]
  etcd-recovery fetch  --store FILE --cluster NAME [--prefix PREFIX] [--object NAME] [--dir DIR]
  etcd-recovery snapshot ls|get|history|stats FILE [...]   read a snapshot file, no containers (snapshot --help)
  etcd-recovery backups ls|verify|find --store FILE --cluster NAME [...]   a store's backups: list, check, find an object (backups --help)

  --kubeconfig       the recovery environment's kubeconfig (pulumi stack output kubeconfig --show-secrets > FILE)
  --live-kubeconfig  the live (production) cluster's kubeconfig, read only
  --kind             a resource as kubectl names it: configmaps, secrets, deployments.apps, widgets.example.com
  -o, --output       write the YAML to FILE (mode 0600) instead of stdout
  --owner-references drop (default: owners are often re-created with a new uid) or keep
  --store            YAML/JSON file (keep it 0600) with EtcdBackup's store — { s3: {...} }, { sftp: {...} } or
                     { hostPath: { path } } — and, for encrypted backups, encryption: { password, salt }
  --cluster, --prefix  EtcdBackup's clusterName and prefix (default etcd-backup)
  --object           a backup object name; default the newest sealed one (with its .sha256 sidecar)
  --dir              where the checked, decompressed snapshot is written (default .)
`;

export class UsageError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "UsageError";
    }
}

/**
 * The --store file of fetch and backups: EtcdBackup's store ({ s3 }, { sftp } or { hostPath }) and,
 * for encrypted backups, encryption: { password, salt }. A file, so no credential is ever on a command line.
 */
export function loadStoreFile(
    file: string,
    readFile: (file: string) => string = (f) => fs.readFileSync(f, "utf8"),
): Pick<FetchSnapshotOptions, "store" | "encryption"> {
    let description: unknown;
    try {
        description = yaml.load(readFile(file));
    } catch (error) {
        throw new UsageError(`--store ${file}: not a readable YAML/JSON file (${(error as Error).message})`);
    }
    const { encryption, ...store } = (description ?? {}) as Record<string, unknown>;
    if (Object.keys(store).length !== 1) {
        throw new UsageError(`--store ${file}: give exactly one store (s3, sftp or hostPath), found ${JSON.stringify(Object.keys(store))}`);
    }
    return {
        store: store as unknown as FetchSnapshotOptions["store"],
        ...(encryption ? { encryption: encryption as FetchSnapshotOptions["encryption"] } : {}),
    };
}

/** `fetch`: the store description comes from a file, so no credential is ever on a command line. */
export function parseFetchArgs(
    argv: string[],
    readFile: (file: string) => string = (f) => fs.readFileSync(f, "utf8"),
): FetchSnapshotOptions {
    const values: Record<string, string> = {};
    const flags = ["--store", "--cluster", "--prefix", "--object", "--dir"];
    for (let i = 0; i < argv.length; i += 2) {
        const flag = argv[i]!;
        const value = argv[i + 1];
        if (!flags.includes(flag)) throw new UsageError(`unknown flag "${flag}" for fetch (${flags.join(", ")})`);
        if (value === undefined || value.startsWith("-")) throw new UsageError(`${flag} needs a value`);
        values[flag] = value;
    }
    for (const required of ["--store", "--cluster"]) if (!values[required]) throw new UsageError(`fetch needs ${required}`);
    const { store, encryption } = loadStoreFile(values["--store"]!, readFile);
    return {
        store,
        cluster: values["--cluster"]!,
        dir: values["--dir"] ?? ".",
        ...(values["--prefix"] ? { prefix: values["--prefix"] } : {}),
        ...(values["--object"] ? { object: values["--object"] } : {}),
        ...(encryption ? { encryption } : {}),
    };
}

async function runFetch(argv: string[], io: CliIo): Promise<number> {
    let options: FetchSnapshotOptions;
    try {
        options = parseFetchArgs(argv);
    } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        io.stderr(`error: ${error.message}\n\n${USAGE}`);
        return 2;
    }
    try {
        const fetched = await fetchSnapshotFromStore({ ...options, onProgress: (message) => io.stderr(`fetch ${message}\n`) });
        io.stdout(
            `${JSON.stringify({ snapshotPath: fetched.path, object: fetched.object, storeUrl: fetched.storeUrl, revision: fetched.revision, createdAt: fetched.createdAt, snapshotSha256: fetched.snapshotSha256, reused: fetched.reused }, null, 2)}\n`,
        );
        io.stderr(`next: pulumi config set snapshotPath ${fetched.path}\n`);
        return 0;
    } catch (error) {
        io.stderr(`error: ${(error as Error).message}\n`);
        return 2;
    }
}

export interface CliCommand {
    command: "export" | "diff";
    kubeconfig: string;
    liveKubeconfig?: string;
    selections: Selection[];
    output?: string;
    ownerReferences: "drop" | "keep";
    kubectl?: string;
}

/** argv without node and the script; throws UsageError naming the flag at fault. */
export function parseCliArgs(argv: string[]): CliCommand {
    const [command, ...rest] = argv;
    if (command !== "export" && command !== "diff")
        throw new UsageError(
            command === undefined ? "give a command: export, diff or fetch" : `unknown command "${command}": use export, diff or fetch`,
        );
    const selections: Selection[] = [];
    const options: Partial<CliCommand> = {};
    const current = (flag: string): Selection => {
        const last = selections[selections.length - 1];
        if (!last) throw new UsageError(`${flag} refines a selection: put --kind KIND before it`);
        return last;
    };
    for (let i = 0; i < rest.length; i++) {
        const flag = rest[i]!;
        const valueOf = (): string => {
            const v = rest[++i];
            if (v === undefined || v.startsWith("-")) throw new UsageError(`${flag} needs a value`);
            return v;
        };
        switch (flag) {
            case "--kubeconfig":
                options.kubeconfig = valueOf();
                break;
            case "--live-kubeconfig":
                options.liveKubeconfig = valueOf();
                break;
            case "--kind":
                selections.push({ kind: valueOf() });
                break;
            case "-n":
            case "--namespace":
                current(flag).namespace = valueOf();
                break;
            case "--name":
                current(flag).name = valueOf();
                break;
            case "-l":
            case "--selector":
                current(flag).labelSelector = valueOf();
                break;
            case "-A":
            case "--all-namespaces":
                current(flag).allNamespaces = true;
                break;
            case "-o":
            case "--output":
                options.output = valueOf();
                break;
            case "--owner-references": {
                const v = valueOf();
                if (v !== "drop" && v !== "keep") throw new UsageError(`--owner-references ${v}: use drop or keep`);
                options.ownerReferences = v;
                break;
            }
            case "--kubectl":
                options.kubectl = valueOf();
                break;
            default:
                throw new UsageError(`unknown flag ${flag}`);
        }
    }
    if (!options.kubeconfig) throw new UsageError("--kubeconfig FILE is required (the recovery environment's kubeconfig)");
    if (selections.length === 0) throw new UsageError("select something: --kind KIND [--name NAME | -l SELECTOR] [-n NAMESPACE | -A]");
    if (command === "diff" && !options.liveKubeconfig)
        throw new UsageError("diff needs --live-kubeconfig FILE (the live cluster to compare with)");
    if (command === "export" && options.liveKubeconfig)
        throw new UsageError("--live-kubeconfig belongs to diff; export reads the recovery environment only");
    if (command === "diff" && options.output) throw new UsageError("diff prints its report; -o belongs to export");
    return {
        command,
        kubeconfig: options.kubeconfig,
        selections,
        ownerReferences: options.ownerReferences ?? "drop",
        ...(options.liveKubeconfig ? { liveKubeconfig: options.liveKubeconfig } : {}),
        ...(options.output ? { output: options.output } : {}),
        ...(options.kubectl ? { kubectl: options.kubectl } : {}),
    };
}

export interface CliIo {
    stdout: (text: string) => void;
    stderr: (text: string) => void;
}

/** Runs one command; resolves with the exit code. */
export async function runRecoveryCli(argv: string[], io: CliIo): Promise<number> {
    if (argv.length === 1 && ["--help", "-h", "help"].includes(argv[0]!)) {
        io.stdout(USAGE);
        return 0;
    }
    if (argv[0] === "fetch") return runFetch(argv.slice(1), io);
    if (argv[0] === "snapshot") return runSnapshot(argv.slice(1), io);
    if (argv[0] === "backups") return runBackups(argv.slice(1), io);
    let cli: CliCommand;
    try {
        cli = parseCliArgs(argv);
    } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        io.stderr(`error: ${error.message}\n\n${USAGE}`);
        return 2;
    }
    const progress = (side: string) => (message: string) => io.stderr(`${side} ${message}\n`);
    const common = { selections: cli.selections, ownerReferences: cli.ownerReferences, ...(cli.kubectl ? { kubectl: cli.kubectl } : {}) };
    try {
        if (cli.command === "export") {
            const result = await exportObjects({ ...common, kubeconfigPath: cli.kubeconfig, onProgress: progress("export") });
            for (const note of result.notes) io.stderr(`note: ${note}\n`);
            if (cli.output) {
                fs.writeFileSync(cli.output, result.yaml, { mode: 0o600 });
                fs.chmodSync(cli.output, 0o600);
                io.stderr(`wrote ${result.objects.length} objects to ${cli.output}\n`);
            } else {
                io.stdout(result.yaml);
            }
            return 0;
        }
        const snapshot = await exportObjects({ ...common, kubeconfigPath: cli.kubeconfig, onProgress: progress("snapshot") });
        const live = await exportObjects({
            ...common,
            kubeconfigPath: cli.liveKubeconfig!,
            ignoreNotFound: true,
            onProgress: progress("live"),
        });
        const diffs = diffObjects(snapshot.objects, live.objects);
        io.stdout(renderDiffReport(diffs));
        return diffs.every((d) => d.state === "same") ? 0 : 1;
    } catch (error) {
        io.stderr(`error: ${(error as Error).message}\n`);
        return 2;
    }
}

if (require.main === module) {
    runRecoveryCli(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }).then(
        (code) => (process.exitCode = code),
        (error) => {
            process.stderr.write(`error: ${(error as Error).stack ?? error}\n`);
            process.exitCode = 2;
        },
    );
}

/**
 * The uploader's shell script (pure rendering). It runs in the rclone image
 * (a POSIX sh with busybox tools) after the etcd image's init container saved
 * the snapshot (`etcdctl snapshot save`); `etcdutl snapshot status` checks the
 * file in another init container, whose exit code gates sealing.
 *
 * Phases (the script's first argument):
 *   all       inspect → prepare → upload → verify → seal → retention → done
 *             (one container, after the check: any Kubernetes version)
 *   transfer  the native sidecar: inspect → prepare → upload → verify while
 *             etcdutl checks the snapshot, then the STATE marker (or FAILED
 *             with its error line), then idle until the pod stops it; with a
 *             restore drill it also leaves the read-back, decompressed copy
 *   await     (init container after the check, before the drill) waits for
 *             the sidecar's marker and removes the local snapshot
 *   finalize  waits for the marker (sidecar layout), then seal → retention → done
 *   upload    the sequential drill layout: like transfer without the sidecar
 *             parts; leaves STATE and the drill copy and exits
 * A backup counts as good only once sealed (its .sha256 sidecar on the store),
 * and only "all" and "finalize" seal: "finalize" is a main container, which
 * the kubelet starts only after every init container (the check, the drill)
 * succeeded. So nothing that failed the check, verification or the drill is
 * ever counted or kept in place of an older good one, and retention never
 * runs after a failure.
 *
 * Why the script reads the revision itself: etcdutl only prints to stdout
 * and the etcd image has no shell to redirect it, so nothing it says can
 * reach this container. The revision etcdutl reports is the main revision of
 * the last key in the bbolt bucket "key"; `snapshot_revision` reads exactly
 * that from the file with od and awk (the integration tests compare it with
 * etcdutl's on real snapshots).
 *
 * The shell itself is in src/backup/uploader/*.sh (bolt.sh: the bbolt
 * reading; retention.sh: retention_keep; uploader.sh: the steps and phases),
 * checked by shellcheck (test/unit/shellcheck.test.ts); this module only
 * prepends the settings.
 *
 * No value in here is secret: credentials are in the rclone config file that
 * rclone reads from the Secret volume named by $RCLONE_CONFIG.
 */

import * as fs from "fs";
import * as path from "path";
import { shellQuote } from "../shell/quote";

export interface BackupScriptArgs {
    clusterName: string;
    /** rclone remote path of the cluster's directory, e.g. "store:bucket/etcd-backup/prod". */
    remoteDir: string;
    /** Human form of the same place, for logs and metadata, e.g. "s3://bucket/etcd-backup/prod". */
    storeUrl: string;
    /** Keep the newest `keep` good backups (>= 1). */
    keep: number;
    /** Also keep the newest good backup of each of the newest `keepDaily` UTC days that have one. */
    keepDaily: number;
    /** Also keep the newest good backup of each of the newest `keepWeekly` ISO weeks (UTC) that have one. */
    keepWeekly: number;
    /** Where phase "upload" leaves the read-back, decompressed snapshot for the drill. */
    drillSnapshotPath: string;
    compression: "gzip" | "none";
    /** Snapshot written by the init container (in the shared emptyDir). */
    snapshotPath: string;
    /** Scratch directory (the same emptyDir). */
    workDir: string;
    etcdImage: string;
    /** The etcd endpoint the snapshot came from, or the endpoints offered to the gateway, comma separated (metadata only). */
    endpoint: string;
    /** True when REMOTE_DIR is an rclone crypt remote (metadata only: the script is the same). */
    encrypted: boolean;
    /** A restore drill follows the upload (the drill copy is made; finalize logs the drill). Default false. */
    restoreDrill?: boolean;
    /** The transfer runs as a native sidecar and finalize waits for its marker. Default false. */
    transferSidecar?: boolean;
    /** rclone --contimeout / --timeout / --retries. */
    rcloneConnectTimeoutSeconds: number;
    rcloneIoTimeoutSeconds: number;
    rcloneRetries: number;
}

/**
 * The script's parts, in src/backup/uploader/ beside this module (bin/backup/uploader/
 * once built: `npm run build` copies them), read once when this module loads.
 */
const UPLOADER_DIR = path.join(__dirname, "uploader");
const PARTS = ["bolt.sh", "retention.sh", "uploader.sh"].map((file) => fs.readFileSync(path.join(UPLOADER_DIR, file), "utf8"));

/** The whole script; its settings are plain assignments at the top. */
export function renderBackupScript(args: BackupScriptArgs): string {
    const settings: [string, string][] = [
        ["CLUSTER_NAME", args.clusterName],
        ["REMOTE_DIR", args.remoteDir],
        ["STORE_URL", args.storeUrl],
        ["KEEP", String(args.keep)],
        ["KEEP_DAILY", String(args.keepDaily)],
        ["KEEP_WEEKLY", String(args.keepWeekly)],
        ["COMPRESSION", args.compression],
        ["ENCRYPTED", args.encrypted ? "true" : "false"],
        ["SNAPSHOT", args.snapshotPath],
        ["DRILL_SNAPSHOT", args.drillSnapshotPath],
        ["WORK", args.workDir],
        ["ETCD_IMAGE", args.etcdImage],
        ["ENDPOINT", args.endpoint],
        ["RCLONE_CONNECT_TIMEOUT", `${args.rcloneConnectTimeoutSeconds}s`],
        ["RCLONE_IO_TIMEOUT", `${args.rcloneIoTimeoutSeconds}s`],
        ["RCLONE_RETRIES", String(args.rcloneRetries)],
        ["RESTORE_DRILL", args.restoreDrill ? "true" : "false"],
        ["TRANSFER_SIDECAR", args.transferSidecar ? "true" : "false"],
    ];
    return [
        "#!/bin/sh",
        // Before the first command: for the whole script. Only pipefail is beyond POSIX here.
        "# shellcheck disable=SC3040 # busybox sh, the uploader image's shell, has set -o pipefail",
        "# etcd backup uploader, rendered by etcd-recovery (src/backup/script.ts, src/backup/uploader/*.sh). Holds no secrets.",
        "set -eu",
        "set -o pipefail",
        ...settings.map(([name, value]) => `${name}=${shellQuote(value)}`),
        "",
        ...PARTS,
    ].join("\n");
}

/**
 * The uploader's shell script (pure rendering). It runs in the rclone image
 * (a POSIX sh with busybox tools) after the etcd image's init containers
 * saved the snapshot (`etcdctl snapshot save`) and checked it (`etcdutl
 * snapshot status`, whose exit code gates this container).
 *
 * Phases (the script's first argument):
 *   all       inspect → prepare → upload → verify → seal → retention → done
 *   upload    inspect → prepare → upload → verify, and leaves the read-back,
 *             decompressed snapshot at DRILL_SNAPSHOT for the restore drill
 *             (etcd image init containers, exec form) plus a state file
 *   finalize  seal → retention → done, after the drill succeeded
 * A backup counts as good only once sealed (its .sha256 sidecar on the store),
 * so nothing that failed verification or the drill is ever counted or kept in
 * place of an older good one, and retention never runs after a failure.
 *
 * Why the script reads the revision itself: etcdutl only prints to stdout
 * and the etcd image has no shell to redirect it, so nothing it says can
 * reach this container. The revision etcdutl reports is the main revision of
 * the last key in the bbolt bucket "key"; `snapshot_revision` reads exactly
 * that from the file with od and awk (the integration tests compare it with
 * etcdutl's on real snapshots).
 *
 * No value in here is secret: credentials are in the rclone config file that
 * rclone reads from the Secret volume named by $RCLONE_CONFIG.
 */

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
    /** The etcd endpoint the snapshot came from (metadata only). */
    endpoint: string;
    /** True when REMOTE_DIR is an rclone crypt remote (metadata only: the script is the same). */
    encrypted: boolean;
    /** rclone --contimeout / --timeout / --retries. */
    rcloneConnectTimeoutSeconds: number;
    rcloneIoTimeoutSeconds: number;
    rcloneRetries: number;
}

/** Single-quotes a value for POSIX sh. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

const BOLT_FUNCTIONS = String.raw`
# --- bbolt reading (etcd's snapshot format) --------------------------------
bolt_uint() { # file offset length -> unsigned little-endian integer
  od -A n -v -t u1 -j "$2" -N "$3" "$1" | awk '{for(i=1;i<=NF;i++) b[n++]=$i} END{v=0; for(i=n-1;i>=0;i--) v=v*256+b[i]; printf "%.0f\n", v}'
}
bolt_hex() { # file offset length -> hex string
  od -A n -v -t x1 -j "$2" -N "$3" "$1" | tr -d ' \n'
}
# The main revision of the last key in bucket "key": what etcdutl reports as the revision.
snapshot_revision() {
  f=$1
  [ "$(bolt_uint "$f" 16 4)" = "3977042669" ] || { echo "not a bbolt file" >&2; return 1; }
  ps=$(bolt_uint "$f" 24 4)
  tx0=$(bolt_uint "$f" 64 8); tx1=$(bolt_uint "$f" $((ps + 64)) 8)
  meta=0; [ "$tx1" -gt "$tx0" ] && meta=$ps
  page=$(( $(bolt_uint "$f" $((meta + 32)) 8) * ps ))
  while :; do # descend the root bucket to the leaf holding "key" (6b6579)
    flags=$(bolt_uint "$f" $((page + 8)) 2); count=$(bolt_uint "$f" $((page + 10)) 2)
    if [ $((flags & 1)) -eq 1 ]; then
      next=""; i=0
      while [ $i -lt "$count" ]; do
        e=$((page + 16 + i * 16)); pos=$(bolt_uint "$f" "$e" 4); ks=$(bolt_uint "$f" $((e + 4)) 4)
        k=$(bolt_hex "$f" $((e + pos)) "$ks")
        [ $i -eq 0 ] || awk -v a="$k" 'BEGIN{exit !(a <= "6b6579")}' || break
        next=$(bolt_uint "$f" $((e + 8)) 8); i=$((i + 1))
      done
      page=$((next * ps)); continue
    fi
    found=""; i=0
    while [ $i -lt "$count" ]; do
      e=$((page + 16 + i * 16)); pos=$(bolt_uint "$f" $((e + 4)) 4); ks=$(bolt_uint "$f" $((e + 8)) 4)
      if [ "$(bolt_hex "$f" $((e + pos)) "$ks")" = "6b6579" ]; then found=$((e + pos + ks)); break; fi
      i=$((i + 1))
    done
    [ -n "$found" ] || { echo "no bucket \"key\" in the snapshot" >&2; return 1; }
    break
  done
  root=$(bolt_uint "$f" "$found" 8)
  if [ "$root" = "0" ]; then page=$((found + 16)); else page=$((root * ps)); fi
  while :; do # rightmost leaf of bucket "key"
    flags=$(bolt_uint "$f" $((page + 8)) 2); count=$(bolt_uint "$f" $((page + 10)) 2)
    [ "$count" -gt 0 ] || { echo 0; return 0; }
    e=$((page + 16 + (count - 1) * 16))
    if [ $((flags & 1)) -eq 1 ]; then page=$(( $(bolt_uint "$f" $((e + 8)) 8) * ps )); continue; fi
    pos=$(bolt_uint "$f" $((e + 4)) 4)
    od -A n -v -t u1 -j $((e + pos)) -N 8 "$f" | awk '{for(i=1;i<=NF;i++) v=v*256+$i} END{printf "%.0f\n", v}'
    return 0
  done
}
`;

const MAIN = String.raw`# --- retention: which good backups to keep (mirror of retainedBackups() in retention.ts) ---
# stdin: good backup names, newest first. stdout: the names to keep. A name
# without a parsable timestamp is always kept: never delete what we cannot date.
retention_keep() {
  awk -v keep="$KEEP" -v daily="$KEEP_DAILY" -v weekly="$KEEP_WEEKLY" '
    function epoch_day(y, m, d,   era, yoe, doy) { # days since 1970-01-01 (proleptic Gregorian)
      y -= (m <= 2); era = int(y / 400); yoe = y - era * 400
      doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
      return era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
    }
    NF == 0 { next }
    {
      n++; kept = (n <= keep)
      if ($0 !~ /^etcd-snapshot-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z-/) { print; next }
      day = substr($0, 15, 8)
      dn = epoch_day(substr(day, 1, 4) + 0, substr(day, 5, 2) + 0, substr(day, 7, 2) + 0)
      week = dn - (dn + 3) % 7 # the Monday of its ISO week (1970-01-01 was a Thursday)
      if (!(day in days)) { days[day] = 1; ndays++; if (ndays <= daily) kept = 1 }
      if (!(week in weeks)) { weeks[week] = 1; nweeks++; if (nweeks <= weekly) kept = 1 }
      if (kept) print
    }'
}

# --- logging: every line says its step; a failure says step=<name> error=... ---
step=start
failed=0
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
log() { echo "$(now) step=$step $*"; }
fail() { failed=1; echo "$(now) step=$step error=\"$*\"" >&2; exit 1; }
on_exit() { rc=$?; if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then echo "$(now) step=$step error=\"exit code $rc\"" >&2; fi; }
trap on_exit EXIT
rc() { rclone --contimeout "$RCLONE_CONNECT_TIMEOUT" --timeout "$RCLONE_IO_TIMEOUT" --retries "$RCLONE_RETRIES" --low-level-retries "$RCLONE_RETRIES" "$@"; }
# busybox "wc -c" reads the whole file: stat reads the inode.
file_size() { stat -L -c %s "$1"; }
number() { case "$2" in ''|*[!0-9]*) fail "$1=$2 is not a number";; esac; }

phase=\${1:-all}
case "$phase" in all|upload|finalize) ;; *) fail "unknown phase \"$phase\" (all, upload, finalize)";; esac
[ -n "\${RCLONE_CONFIG:-}" ] && [ -r "$RCLONE_CONFIG" ] || fail "rclone config \${RCLONE_CONFIG:-unset} is not readable"
number KEEP "$KEEP"; number KEEP_DAILY "$KEEP_DAILY"; number KEEP_WEEKLY "$KEEP_WEEKLY"
[ "$KEEP" -ge 1 ] || fail "KEEP=$KEEP: at least 1 backup must be kept"
STATE="$WORK/backup-state.env"

if [ "$phase" != finalize ]; then
# Every byte of the snapshot is read once here (bbolt header pages only) and
# once in prepare (hashed, and compressed in the same pass); the object is
# read once more from the store by verify. No file is hashed twice.
step=inspect
[ -s "$SNAPSHOT" ] || fail "snapshot $SNAPSHOT is missing or empty"
snapshot_size=$(file_size "$SNAPSHOT") || fail "cannot stat $SNAPSHOT"
revision=$(snapshot_revision "$SNAPSHOT") || fail "cannot read the revision of $SNAPSHOT"
number revision "$revision"
log "size=$snapshot_size revision=$revision"

step=prepare
stamp=$(date -u +%Y%m%dT%H%M%SZ)
base="etcd-snapshot-$stamp-rev$revision"
rm -f "$WORK/snapshot.fifo" "$WORK/snapshot.sha256" "$WORK/object.sha256"
if [ "$COMPRESSION" = "gzip" ]; then
  object="$base.db.gz"
  upload="$WORK/$object"
  # One pass: tee feeds the raw bytes to sha256sum (through a fifo) and to
  # gzip, whose output is written and hashed on the way. -1: the fastest
  # level, where busybox honours levels (see README); no "gzip -t": verify
  # compares the sha256 of the stored bytes, and the drill decompresses them.
  mkfifo "$WORK/snapshot.fifo"
  sha256sum < "$WORK/snapshot.fifo" > "$WORK/snapshot.sha256" &
  snapshot_hasher=$!
  gzip_ok=true
  tee "$WORK/snapshot.fifo" < "$SNAPSHOT" | gzip -1 -c | tee "$upload" | sha256sum > "$WORK/object.sha256" || gzip_ok=false
  # A tee that never started never opens the fifo: the hasher would wait forever.
  $gzip_ok || { kill "$snapshot_hasher" 2>/dev/null || true; fail "gzip $SNAPSHOT"; }
  wait "$snapshot_hasher" || fail "sha256sum $SNAPSHOT"
  rm -f "$WORK/snapshot.fifo"
  snapshot_sha256=$(cut -d ' ' -f 1 < "$WORK/snapshot.sha256")
  sha256=$(cut -d ' ' -f 1 < "$WORK/object.sha256")
  size=$(file_size "$upload") || fail "cannot stat $upload"
  log "object=$object size=$size sha256=$sha256 snapshot_sha256=$snapshot_sha256"
else
  object="$base.db"
  upload="$SNAPSHOT"
  size=$snapshot_size
  # The object is the snapshot: hash it once, while rclone uploads it.
  sha256sum "$SNAPSHOT" > "$WORK/snapshot.sha256" &
  snapshot_hasher=$!
  log "object=$object size=$size sha256=pending"
fi

step=upload
rc copyto "$upload" "$REMOTE_DIR/$object" || fail "upload of $object to $STORE_URL failed"
if [ "$COMPRESSION" != "gzip" ]; then
  wait "$snapshot_hasher" || fail "sha256sum $SNAPSHOT"
  snapshot_sha256=$(cut -d ' ' -f 1 < "$WORK/snapshot.sha256")
  sha256=$snapshot_sha256
fi
case "$snapshot_sha256:$sha256" in *[!0-9a-f:]*|:*|*:) fail "no sha256 of $SNAPSHOT / $object";; esac
printf '%s  %s\n' "$sha256" "$object" > "$WORK/$object.sha256"
cat > "$WORK/$base.json" <<METADATA
{"cluster":"$CLUSTER_NAME","object":"$object","revision":$revision,"size":$size,"sha256":"$sha256","snapshotSize":$snapshot_size,"snapshotSha256":"$snapshot_sha256","compression":"$COMPRESSION","encrypted":$ENCRYPTED,"createdAt":"$stamp","node":"\${NODE_NAME:-}","endpoint":"$ENDPOINT","etcdImage":"$ETCD_IMAGE"}
METADATA
rc copyto "$WORK/$base.json" "$REMOTE_DIR/$base.json" || fail "upload of $base.json to $STORE_URL failed"
log "uploaded=$STORE_URL/$object sha256=$sha256"

# Read the object back from the store (through the decryption when encrypted):
# size and sha256 must be what was uploaded before anything counts as good.
step=verify
remote_size=$(rc lsf --format s "$REMOTE_DIR/$object") || fail "cannot stat $object on the store"
[ "$remote_size" = "$size" ] || fail "size on the store is $remote_size, expected $size"
if [ "$phase" = upload ]; then
  # The drill restores the copy read back from the store, not the local file.
  # One pass: the stream from the store is hashed, decompressed, written for
  # the drill and the decompressed bytes hashed, all at once.
  rm -f "$WORK/$object" "$SNAPSHOT" "$WORK/readback.fifo" "$WORK/readback.sha256" "$WORK/drill.sha256"
  mkdir -p "$(dirname "$DRILL_SNAPSHOT")"
  read_ok=true
  if [ "$COMPRESSION" = "gzip" ]; then
    mkfifo "$WORK/readback.fifo"
    sha256sum < "$WORK/readback.fifo" > "$WORK/readback.sha256" &
    readback_hasher=$!
    rc cat "$REMOTE_DIR/$object" | tee "$WORK/readback.fifo" | gunzip -c | tee "$DRILL_SNAPSHOT" | sha256sum > "$WORK/drill.sha256" || read_ok=false
    wait "$readback_hasher" || read_ok=false
    rm -f "$WORK/readback.fifo"
  else
    rc cat "$REMOTE_DIR/$object" | tee "$DRILL_SNAPSHOT" | sha256sum > "$WORK/readback.sha256" || read_ok=false
    cp "$WORK/readback.sha256" "$WORK/drill.sha256"
  fi
  remote_sha256=$(cut -d ' ' -f 1 < "$WORK/readback.sha256")
  if [ "$remote_sha256" != "$sha256" ]; then
    $read_ok || fail "cannot read $object back from the store (or decompress it)"
    fail "sha256 read back is $remote_sha256, expected $sha256"
  fi
  $read_ok || fail "gunzip of the read-back $object"
else
  remote_sha256=$(rc cat "$REMOTE_DIR/$object" | sha256sum | cut -d ' ' -f 1) || fail "cannot read $object back from the store"
  [ "$remote_sha256" = "$sha256" ] || fail "sha256 read back is $remote_sha256, expected $sha256"
fi
log "size=$remote_size sha256=$remote_sha256 verified=true"

if [ "$phase" = upload ]; then
  drill_sha256=$(cut -d ' ' -f 1 < "$WORK/drill.sha256")
  [ "$drill_sha256" = "$snapshot_sha256" ] || fail "the read-back snapshot's sha256 is $drill_sha256, expected $snapshot_sha256"
  printf "object='%s'\nbase='%s'\nrevision='%s'\nsize='%s'\nsha256='%s'\n" "$object" "$base" "$revision" "$size" "$sha256" > "$STATE"
  log "drill_snapshot=$DRILL_SNAPSHOT sha256=$drill_sha256 next=restore-drill"
  exit 0
fi
else
  step=drill
  [ -r "$STATE" ] || fail "$STATE is missing: the upload phase did not finish"
  . "$STATE"
  log "object=$object passed the restore drill"
fi

# The sidecar goes last: only a backup with a .sha256 on the store counts as good.
step=seal
rc copyto "$WORK/$object.sha256" "$REMOTE_DIR/$object.sha256" || fail "upload of $object.sha256 failed"
[ "$(rc cat "$REMOTE_DIR/$object.sha256")" = "$(cat "$WORK/$object.sha256")" ] || fail "$object.sha256 read back differs"
log "sealed=$STORE_URL/$object.sha256"

step=retention
good=$(rc lsf --files-only --include 'etcd-snapshot-*.sha256' "$REMOTE_DIR" | sed 's/\.sha256$//' | sort -r) || fail "cannot list $STORE_URL"
total=$(printf '%s\n' "$good" | grep -c . || true)
printf '%s\n' "$good" | grep -qxF "$object" || fail "the new backup $object.sha256 is not in the listing; deleting nothing"
printf '%s\n' "$good" | retention_keep > "$WORK/kept" || fail "retention selection failed; deleting nothing"
grep -qxF "$(printf '%s\n' "$good" | head -n 1)" "$WORK/kept" || fail "the newest good backup would be deleted; deleting nothing"
expired=$(printf '%s\n' "$good" | grep -vxFf "$WORK/kept" | sort || true) # oldest first
deleted=0
for old in $expired; do
  [ "$old" != "$object" ] || continue # never the backup this run made
  old_base=\${old%.gz}; old_base=\${old_base%.db}
  # Sidecar first: a half-deleted backup no longer counts as good.
  rc deletefile "$REMOTE_DIR/$old.sha256" || fail "delete $old.sha256"
  rc deletefile "$REMOTE_DIR/$old" || fail "delete $old"
  if [ -n "$(rc lsf --files-only --include "$old_base.json" "$REMOTE_DIR")" ]; then
    rc deletefile "$REMOTE_DIR/$old_base.json" || fail "delete $old_base.json"
  fi
  log "deleted=$old"
  deleted=$((deleted + 1))
done
log "good=$total keep=$KEEP keep_daily=$KEEP_DAILY keep_weekly=$KEEP_WEEKLY kept=$(grep -c . "$WORK/kept" || true) deleted=$deleted"

step=done
log "object=$STORE_URL/$object revision=$revision size=$size sha256=$sha256"
`;

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
    ];
    return [
        "#!/bin/sh",
        "# etcd backup uploader, rendered by etcd-recovery (src/backup/script.ts). Holds no secrets.",
        "set -eu",
        "set -o pipefail",
        ...settings.map(([name, value]) => `${name}=${shellQuote(value)}`),
        BOLT_FUNCTIONS,
        // String.raw keeps "\\${" (written so to stay out of TypeScript's interpolation); the shell wants "${".
        MAIN.replace(/\\\$\{/g, "${"),
    ].join("\n");
}

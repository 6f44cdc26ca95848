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
    /** A restore drill follows the upload (the drill copy is made; finalize logs the drill). Default false. */
    restoreDrill?: boolean;
    /** The transfer runs as a native sidecar and finalize waits for its marker. Default false. */
    transferSidecar?: boolean;
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
# The error line; the transfer sidecar also leaves it as the marker the other containers wait on.
report() {
  line="$(now) step=$step error=\"$*\""
  echo "$line" >&2
  if [ "$phase" = transfer ]; then printf '%s\n' "$line" > "$FAILED.tmp" && mv -f "$FAILED.tmp" "$FAILED"; fi
}
fail() { failed=1; report "$*"; exit 1; }
on_exit() { rc=$?; if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then report "exit code $rc"; fi; }
trap on_exit EXIT
rc() { rclone --contimeout "$RCLONE_CONNECT_TIMEOUT" --timeout "$RCLONE_IO_TIMEOUT" --retries "$RCLONE_RETRIES" --low-level-retries "$RCLONE_RETRIES" "$@"; }
# sha256 of a file, of a remote object (--download) or, without an argument, of stdin:
# rclone's Go hash is ~2x busybox sha256sum (which hashes the gzip streams, slower anyway).
rc_sha256() { rc hashsum sha256 "$@" | cut -d ' ' -f 1; }
# busybox "wc -c" reads the whole file: stat reads the inode.
file_size() { stat -L -c %s "$1"; }
number() { case "$2" in ''|*[!0-9]*) fail "$1=$2 is not a number";; esac; }

phase=\${1:-all}
case "$phase" in all|upload|transfer|await|finalize) ;; *) fail "unknown phase \"$phase\" (all, upload, transfer, await, finalize)";; esac
[ -n "\${RCLONE_CONFIG:-}" ] && [ -r "$RCLONE_CONFIG" ] || fail "rclone config \${RCLONE_CONFIG:-unset} is not readable"
number KEEP "$KEEP"; number KEEP_DAILY "$KEEP_DAILY"; number KEEP_WEEKLY "$KEEP_WEEKLY"
[ "$KEEP" -ge 1 ] || fail "KEEP=$KEEP: at least 1 backup must be kept"
# Markers in the shared emptyDir: STATE (written last, by rename) says the object is uploaded and
# read back; FAILED holds the error line of a failed transfer.
STATE="$WORK/backup-state.env"
FAILED="$WORK/transfer.failed"
TRANSFER_LOG="$WORK/transfer.log"
# The read-back, decompressed copy for the restore drill: phase "upload", or the sidecar with a drill.
drill_copy=false
if [ "$phase" = upload ] || { [ "$phase" = transfer ] && [ "$RESTORE_DRILL" = true ]; }; then drill_copy=true; fi

# inspect → prepare → upload → verify, then STATE. Every byte of the snapshot is
# read for the object (gzip or the upload itself) and hashed once; the object is
# read once more from the store by verify. No file is hashed twice, and none is
# read by name by rclone (see "upload": the page cache must keep the snapshot).
transfer_steps() {
step=inspect
[ -s "$SNAPSHOT" ] || fail "snapshot $SNAPSHOT is missing or empty"
snapshot_size=$(file_size "$SNAPSHOT") || fail "cannot stat $SNAPSHOT"
revision=$(snapshot_revision "$SNAPSHOT") || fail "cannot read the revision of $SNAPSHOT"
number revision "$revision"
log "size=$snapshot_size revision=$revision"

step=prepare
# A restarted sidecar uploads to the same name again instead of leaving a second object.
if [ -s "$WORK/transfer-stamp" ]; then stamp=$(cat "$WORK/transfer-stamp"); else stamp=$(date -u +%Y%m%dT%H%M%SZ); echo "$stamp" > "$WORK/transfer-stamp"; fi
base="etcd-snapshot-$stamp-rev$revision"
rm -f "$WORK/snapshot.fifo" "$WORK/object.fifo" "$WORK/size.fifo" "$WORK/snapshot.sha256" "$WORK/object.sha256" "$WORK/object.size"
if [ "$COMPRESSION" = "gzip" ]; then
  object="$base.db.gz"
  log "object=$object size=streamed sha256=pending"
else
  object="$base.db"
  size=$snapshot_size
  log "object=$object size=$size sha256=pending"
fi

step=upload
if [ "$COMPRESSION" = "gzip" ]; then
  # One pass, streamed: tee feeds the raw bytes to sha256sum (fifo) and to gzip,
  # whose output is hashed, counted and uploaded as it comes (rclone rcat); no
  # .gz is written to the work volume. -1: the fastest level where busybox
  # honours levels (see README). No "gzip -t": verify compares the sha256 of
  # the stored bytes, and the drill decompresses them.
  mkfifo "$WORK/snapshot.fifo" "$WORK/object.fifo" "$WORK/size.fifo"
  sha256sum < "$WORK/snapshot.fifo" > "$WORK/snapshot.sha256" &
  snapshot_hasher=$!
  sha256sum < "$WORK/object.fifo" > "$WORK/object.sha256" &
  object_hasher=$!
  wc -c < "$WORK/size.fifo" > "$WORK/object.size" &
  object_counter=$!
  stream_ok=true
  tee "$WORK/snapshot.fifo" < "$SNAPSHOT" | gzip -1 -c | tee "$WORK/object.fifo" "$WORK/size.fifo" | rc rcat "$REMOTE_DIR/$object" || stream_ok=false
  # A tee that never started never opens its fifos: their readers would wait forever.
  $stream_ok || { kill "$snapshot_hasher" "$object_hasher" "$object_counter" 2>/dev/null || true; fail "upload of $object to $STORE_URL failed"; }
  wait "$snapshot_hasher" || fail "sha256sum $SNAPSHOT"
  wait "$object_hasher" || fail "sha256sum of the gzip stream"
  wait "$object_counter" || fail "byte count of the gzip stream"
  rm -f "$WORK/snapshot.fifo" "$WORK/object.fifo" "$WORK/size.fifo"
  snapshot_sha256=$(cut -d ' ' -f 1 < "$WORK/snapshot.sha256")
  sha256=$(cut -d ' ' -f 1 < "$WORK/object.sha256")
  size=$(tr -d ' \n' < "$WORK/object.size")
  number size "$size"
else
  # The object is the snapshot: hashed while rclone uploads it. Both read it on stdin, not by
  # name: rclone drops the pages of a local file it reads by name from the page cache
  # (fadvise), and etcdutl snapshot status, beside or after this, reads the file at random:
  # < 1 s per GiB from the cache, 20+ s from disk.
  rc_sha256 < "$SNAPSHOT" > "$WORK/snapshot.sha256" &
  snapshot_hasher=$!
  rc rcat "$REMOTE_DIR/$object" < "$SNAPSHOT" || { kill "$snapshot_hasher" 2>/dev/null || true; fail "upload of $object to $STORE_URL failed"; }
  wait "$snapshot_hasher" || fail "sha256 of $SNAPSHOT"
  snapshot_sha256=$(cat "$WORK/snapshot.sha256")
  sha256=$snapshot_sha256
fi
case "$snapshot_sha256:$sha256" in *[!0-9a-f:]*|:*|*:) fail "no sha256 of $SNAPSHOT / $object";; esac
printf '%s  %s\n' "$sha256" "$object" > "$WORK/$object.sha256"
cat > "$WORK/$base.json" <<METADATA
{"cluster":"$CLUSTER_NAME","object":"$object","revision":$revision,"size":$size,"sha256":"$sha256","snapshotSize":$snapshot_size,"snapshotSha256":"$snapshot_sha256","compression":"$COMPRESSION","encrypted":$ENCRYPTED,"createdAt":"$stamp","node":"\${NODE_NAME:-}","endpoint":"$ENDPOINT","etcdImage":"$ETCD_IMAGE"}
METADATA
rc copyto "$WORK/$base.json" "$REMOTE_DIR/$base.json" || fail "upload of $base.json to $STORE_URL failed"
log "uploaded=$STORE_URL/$object size=$size sha256=$sha256 snapshot_sha256=$snapshot_sha256"

# Read the object back from the store (through the decryption when encrypted):
# size and sha256 must be what was uploaded before anything counts as good.
step=verify
remote_size=$(rc lsf --format s "$REMOTE_DIR/$object") || fail "cannot stat $object on the store"
[ "$remote_size" = "$size" ] || fail "size on the store is $remote_size, expected $size"
if $drill_copy; then
  # The drill restores the copy read back from the store, not the local file.
  # One pass: the stream from the store is hashed, decompressed, written for
  # the drill and the decompressed bytes hashed, all at once.
  # Phase "upload" runs after verify: the local snapshot can go to make room.
  # The sidecar leaves it to "await": verify may still be reading it.
  if [ "$phase" = upload ]; then rm -f "$SNAPSHOT"; fi
  rm -f "$WORK/readback.fifo" "$WORK/readback.sha256" "$WORK/drill.sha256"
  mkdir -p "$(dirname "$DRILL_SNAPSHOT")"
  read_ok=true
  if [ "$COMPRESSION" = "gzip" ]; then
    mkfifo "$WORK/readback.fifo"
    rc hashsum sha256 < "$WORK/readback.fifo" > "$WORK/readback.sha256" &
    readback_hasher=$!
    rc cat "$REMOTE_DIR/$object" | tee "$WORK/readback.fifo" | gunzip -c | tee "$DRILL_SNAPSHOT" | rc hashsum sha256 > "$WORK/drill.sha256" || read_ok=false
    wait "$readback_hasher" || read_ok=false
    rm -f "$WORK/readback.fifo"
  else
    rc cat "$REMOTE_DIR/$object" | tee "$DRILL_SNAPSHOT" | rc hashsum sha256 > "$WORK/readback.sha256" || read_ok=false
    cp "$WORK/readback.sha256" "$WORK/drill.sha256"
  fi
  remote_sha256=$(cut -d ' ' -f 1 < "$WORK/readback.sha256")
  if [ "$remote_sha256" != "$sha256" ]; then
    $read_ok || fail "cannot read $object back from the store (or decompress it)"
    fail "sha256 read back is $remote_sha256, expected $sha256"
  fi
  $read_ok || fail "gunzip of the read-back $object"
  drill_sha256=$(cut -d ' ' -f 1 < "$WORK/drill.sha256")
  [ "$drill_sha256" = "$snapshot_sha256" ] || fail "the read-back snapshot's sha256 is $drill_sha256, expected $snapshot_sha256"
else
  remote_sha256=$(rc_sha256 --download "$REMOTE_DIR/$object") || fail "cannot read $object back from the store"
  [ "$remote_sha256" = "$sha256" ] || fail "sha256 read back is $remote_sha256, expected $sha256"
fi
log "size=$remote_size sha256=$remote_sha256 verified=true"
if $drill_copy; then log "drill_snapshot=$DRILL_SNAPSHOT sha256=$drill_sha256 next=restore-drill"; fi
printf "object='%s'\nbase='%s'\nrevision='%s'\nsize='%s'\nsha256='%s'\n" "$object" "$base" "$revision" "$size" "$sha256" > "$STATE.tmp"
mv -f "$STATE.tmp" "$STATE"
}

# The transfer as a native sidecar: it runs beside "verify" (etcdutl snapshot
# status), leaves STATE or FAILED, then idles until the kubelet stops it after
# the pod's containers: a sidecar that exits is restarted, so it never exits on
# its own. Sealing and retention are another container's, which the kubelet
# starts only after verify passed.
transfer_sidecar() {
worker=""
idler=""
on_term() {
  trap '' TERM
  if [ -n "$worker" ] && [ ! -e "$STATE" ]; then failed=1; log "stopped by the pod before the transfer ended: nothing sealed"; exit 143; fi
  [ -z "$idler" ] || kill "$idler" 2>/dev/null || true
  exit 0
}
trap on_term TERM
if [ -e "$STATE" ] || [ -e "$FAILED" ]; then
  log "restarted after the transfer ended; nothing to do"
else
  # Its output also goes to TRANSFER_LOG, which the waiting container shows when the transfer failed.
  (trap on_exit EXIT; transfer_steps) 2>&1 | tee -a "$TRANSFER_LOG" &
  worker=$!
  wait "$worker" || true
  worker=""
  if [ ! -e "$STATE" ] && [ ! -e "$FAILED" ]; then step=upload; report "the transfer ended without a result"; fi
fi
step=idle
log "transfer ended ($([ -e "$STATE" ] && echo uploaded || echo failed)); idle until the pod stops"
while :; do
  sleep 3600 &
  idler=$!
  wait "$idler" || true
done
}

# Waits for the sidecar's marker; a failed transfer fails this container with the sidecar's lines.
wait_for_transfer() {
step=wait
if [ "$TRANSFER_SIDECAR" != true ]; then
  [ -r "$STATE" ] || fail "$STATE is missing: the upload phase did not finish"
else
  ticks=0
  until [ -e "$STATE" ] || [ -e "$FAILED" ]; do
    sleep 0.2
    ticks=$((ticks + 1))
    if [ $((ticks % 150)) -eq 0 ]; then log "waiting for the transfer sidecar ($((ticks / 5)) s)"; fi
  done
  if [ ! -e "$STATE" ]; then
    failed=1
    echo "$(now) step=wait the transfer sidecar failed; its last lines:" >&2
    tail -n 20 "$TRANSFER_LOG" >&2 2>/dev/null || true
    # The error line itself, when the sidecar's shell (not its worker) wrote it.
    grep -qxF "$(cat "$FAILED")" "$TRANSFER_LOG" 2>/dev/null || cat "$FAILED" >&2
    exit 1
  fi
fi
. "$STATE"
log "object=$object size=$size sha256=$sha256 uploaded and read back"
}

# The sidecar file goes last: only a backup with a .sha256 on the store counts as good.
seal_and_retain() {
step=seal
rc copyto "$WORK/$object.sha256" "$REMOTE_DIR/$object.sha256" || fail "upload of $object.sha256 failed"
[ "$(rc cat "$REMOTE_DIR/$object.sha256")" = "$(cat "$WORK/$object.sha256")" ] || fail "$object.sha256 read back differs"
log "sealed=$STORE_URL/$object.sha256"

# latest.json: the newest sealed backup, for monitoring without listing the
# store. Written after the seal, so it never names a backup that does not count.
step=marker
created=\${base#etcd-snapshot-}; created=\${created%-rev*}
printf '{"cluster":"%s","object":"%s","revision":%s,"sha256":"%s","createdAt":"%s","sealedAt":"%s"}\n' \
  "$CLUSTER_NAME" "$object" "$revision" "$sha256" "$created" "$(date -u +%Y%m%dT%H%M%SZ)" > "$WORK/latest.json"
rc copyto "$WORK/latest.json" "$REMOTE_DIR/latest.json" || fail "upload of latest.json failed (the backup $object is sealed)"
log "marker=$STORE_URL/latest.json"

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
}

case "$phase" in
  all) transfer_steps; seal_and_retain ;;
  upload) transfer_steps ;;
  transfer) transfer_sidecar ;;
  await)
    wait_for_transfer
    # verify has passed (this runs after it): the drill works on the copy read back from the store.
    rm -f "$SNAPSHOT"
    log "next=restore-drill" ;;
  finalize)
    wait_for_transfer
    if [ "$RESTORE_DRILL" = true ]; then step=drill; log "object=$object passed the restore drill"; fi
    seal_and_retain ;;
esac
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
        ["RESTORE_DRILL", args.restoreDrill ? "true" : "false"],
        ["TRANSFER_SIDECAR", args.transferSidecar ? "true" : "false"],
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

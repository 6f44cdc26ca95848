# shellcheck shell=sh
# The backup uploader's steps and phases (see the top of src/backup/script.ts).
# Part of the script that src/backup/script.ts renders (see bolt.sh): its
# settings (CLUSTER_NAME, REMOTE_DIR, STORE_URL, KEEP*, COMPRESSION, ENCRYPTED,
# SNAPSHOT, DRILL_SNAPSHOT, WORK, ETCD_IMAGE, ENDPOINT, RCLONE_*, RESTORE_DRILL,
# TRANSFER_SIDECAR) are set above it; snapshot_revision is bolt.sh's and
# retention_keep retention.sh's.

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
rc() {
  rclone --contimeout "$RCLONE_CONNECT_TIMEOUT" --timeout "$RCLONE_IO_TIMEOUT" \
    --retries "$RCLONE_RETRIES" --low-level-retries "$RCLONE_RETRIES" "$@"
}
# sha256 of a file, of a remote object (--download) or, without an argument, of stdin:
# rclone's Go hash is ~2x busybox sha256sum (which hashes the gzip streams, slower anyway).
rc_sha256() { rc hashsum sha256 "$@" | cut -d ' ' -f 1; }
# busybox "wc -c" reads the whole file: stat reads the inode.
file_size() { stat -L -c %s "$1"; }
number() { case "$2" in ''|*[!0-9]*) fail "$1=$2 is not a number";; esac; }

phase=${1:-all}
case "$phase" in
  all|upload|transfer|await|finalize) ;;
  *) fail "unknown phase \"$phase\" (all, upload, transfer, await, finalize)";;
esac
if [ -z "${RCLONE_CONFIG:-}" ] || [ ! -r "$RCLONE_CONFIG" ]; then
  fail "rclone config ${RCLONE_CONFIG:-unset} is not readable"
fi
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
if [ -s "$WORK/transfer-stamp" ]; then
  stamp=$(cat "$WORK/transfer-stamp")
else
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  echo "$stamp" > "$WORK/transfer-stamp"
fi
base="etcd-snapshot-$stamp-rev$revision"
rm -f "$WORK/snapshot.fifo" "$WORK/object.fifo" "$WORK/size.fifo" \
  "$WORK/snapshot.sha256" "$WORK/object.sha256" "$WORK/object.size"
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
  tee "$WORK/snapshot.fifo" < "$SNAPSHOT" | gzip -1 -c \
    | tee "$WORK/object.fifo" "$WORK/size.fifo" \
    | rc rcat "$REMOTE_DIR/$object" || stream_ok=false
  # A tee that never started never opens its fifos: their readers would wait forever.
  if ! $stream_ok; then
    kill "$snapshot_hasher" "$object_hasher" "$object_counter" 2>/dev/null || true
    fail "upload of $object to $STORE_URL failed"
  fi
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
  if ! rc rcat "$REMOTE_DIR/$object" < "$SNAPSHOT"; then
    kill "$snapshot_hasher" 2>/dev/null || true
    fail "upload of $object to $STORE_URL failed"
  fi
  wait "$snapshot_hasher" || fail "sha256 of $SNAPSHOT"
  snapshot_sha256=$(cat "$WORK/snapshot.sha256")
  sha256=$snapshot_sha256
fi
case "$snapshot_sha256:$sha256" in *[!0-9a-f:]*|:*|*:) fail "no sha256 of $SNAPSHOT / $object";; esac
printf '%s  %s\n' "$sha256" "$object" > "$WORK/$object.sha256"
# One endpoint: the member the snapshot came from. Several (comma separated): the ones offered to
# the etcd gateway, which does not log which one served, so none is named.
case "$ENDPOINT" in
  *,*) endpoint_field="\"endpoints\":[\"$(printf '%s' "$ENDPOINT" | sed 's/,/","/g')\"]";;
  *) endpoint_field="\"endpoint\":\"$ENDPOINT\"";;
esac
# One line of JSON: each backslash-newline below joins two lines of the here-document.
cat > "$WORK/$base.json" <<METADATA
{"cluster":"$CLUSTER_NAME","object":"$object","revision":$revision,"size":$size,"sha256":"$sha256",\
"snapshotSize":$snapshot_size,"snapshotSha256":"$snapshot_sha256","compression":"$COMPRESSION","encrypted":$ENCRYPTED,\
"createdAt":"$stamp","node":"${NODE_NAME:-}",$endpoint_field,"etcdImage":"$ETCD_IMAGE"}
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
    rc cat "$REMOTE_DIR/$object" | tee "$WORK/readback.fifo" | gunzip -c \
      | tee "$DRILL_SNAPSHOT" | rc hashsum sha256 > "$WORK/drill.sha256" || read_ok=false
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
printf "object='%s'\nbase='%s'\nrevision='%s'\nsize='%s'\nsha256='%s'\n" \
  "$object" "$base" "$revision" "$size" "$sha256" > "$STATE.tmp"
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
  if [ -n "$worker" ] && [ ! -e "$STATE" ]; then
    failed=1
    log "stopped by the pod before the transfer ended: nothing sealed"
    exit 143
  fi
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
# shellcheck disable=SC2209 # the step's name, not a command to run
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
# shellcheck source=/dev/null # STATE is written by transfer_steps: quoted assignments of its names
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
created=${base#etcd-snapshot-}; created=${created%-rev*}
printf '{"cluster":"%s","object":"%s","revision":%s,"sha256":"%s","createdAt":"%s","sealedAt":"%s"}\n' \
  "$CLUSTER_NAME" "$object" "$revision" "$sha256" "$created" "$(date -u +%Y%m%dT%H%M%SZ)" > "$WORK/latest.json"
rc copyto "$WORK/latest.json" "$REMOTE_DIR/latest.json" || fail "upload of latest.json failed (the backup $object is sealed)"
log "marker=$STORE_URL/latest.json"

step=retention
good=$(rc lsf --files-only --include 'etcd-snapshot-*.sha256' "$REMOTE_DIR" | sed 's/\.sha256$//' | sort -r) \
  || fail "cannot list $STORE_URL"
total=$(printf '%s\n' "$good" | grep -c . || true)
printf '%s\n' "$good" | grep -qxF "$object" || fail "the new backup $object.sha256 is not in the listing; deleting nothing"
printf '%s\n' "$good" | retention_keep > "$WORK/kept" || fail "retention selection failed; deleting nothing"
grep -qxF "$(printf '%s\n' "$good" | head -n 1)" "$WORK/kept" || fail "the newest good backup would be deleted; deleting nothing"
expired=$(printf '%s\n' "$good" | grep -vxFf "$WORK/kept" | sort || true) # oldest first
deleted=0
for old in $expired; do
  [ "$old" != "$object" ] || continue # never the backup this run made
  old_base=${old%.gz}; old_base=${old_base%.db}
  # Sidecar first: a half-deleted backup no longer counts as good.
  rc deletefile "$REMOTE_DIR/$old.sha256" || fail "delete $old.sha256"
  rc deletefile "$REMOTE_DIR/$old" || fail "delete $old"
  if [ -n "$(rc lsf --files-only --include "$old_base.json" "$REMOTE_DIR")" ]; then
    rc deletefile "$REMOTE_DIR/$old_base.json" || fail "delete $old_base.json"
  fi
  log "deleted=$old"
  deleted=$((deleted + 1))
done
kept_count=$(grep -c . "$WORK/kept" || true)
log "good=$total keep=$KEEP keep_daily=$KEEP_DAILY keep_weekly=$KEEP_WEEKLY kept=$kept_count deleted=$deleted"

# shellcheck disable=SC1010 # the step's name, not the end of a loop
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

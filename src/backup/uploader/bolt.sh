# shellcheck shell=sh
# --- bbolt reading (etcd's snapshot format) --------------------------------
# Part of the backup uploader script that src/backup/script.ts renders: its
# settings, then bolt.sh, retention.sh and uploader.sh, in that order.
bolt_uint() { # file offset length -> unsigned little-endian integer
  od -A n -v -t u1 -j "$2" -N "$3" "$1" | awk '
    { for (i = 1; i <= NF; i++) b[n++] = $i }
    END { v = 0; for (i = n - 1; i >= 0; i--) v = v * 256 + b[i]; printf "%.0f\n", v }'
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
    od -A n -v -t u1 -j $((e + pos)) -N 8 "$f" | awk '
      { for (i = 1; i <= NF; i++) v = v * 256 + $i }
      END { printf "%.0f\n", v }'
    return 0
  done
}

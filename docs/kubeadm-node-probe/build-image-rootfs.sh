#!/usr/bin/env bash
# build-image-rootfs.sh <dir> <static binaries...>: a distroless-like rootfs with the binaries in /usr/local/bin.
set -euo pipefail
R="$1"; shift
rm -rf "$R"; mkdir -p "$R"/{etc,tmp,root,usr/local/bin,var/lib}
chmod 1777 "$R/tmp"; chmod 0700 "$R/root"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' >"$R/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$R/etc/group"
echo 'hosts: files dns' >"$R/etc/nsswitch.conf"
for b in "$@"; do install -m 0755 "$(readlink -f "$b")" "$R/usr/local/bin/$(basename "$b")"; done

#!/usr/bin/env bash
# The probe node's root filesystem: merged-/usr symlinks, a few /etc files; /usr itself is the host's, bind-mounted read-only.
set -euo pipefail
R=/root/kubeprobe/rootfs/node
rm -rf "$R"; mkdir -p "$R"/{etc,usr,var/lib,var/log,run,tmp,opt,root,proc,sys,dev,home,mnt,srv}
chmod 1777 "$R/tmp"; chmod 0700 "$R/root"
ln -s usr/bin "$R/bin"; ln -s usr/sbin "$R/sbin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"
ln -s /run "$R/var/run"
for f in passwd group shadow gshadow nsswitch.conf ld.so.cache ld.so.conf login.defs profile bash.bashrc; do
  [ -e "/etc/$f" ] && cp -a "/etc/$f" "$R/etc/"
done
cp -a /etc/ld.so.conf.d /etc/alternatives "$R/etc/"
ln -s ../usr/lib/os-release "$R/etc/os-release"
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$R/etc/machine-id"; echo >>"$R/etc/machine-id"
mkdir -p "$R/etc/ssl/certs" "$R/etc/ca-certificates"

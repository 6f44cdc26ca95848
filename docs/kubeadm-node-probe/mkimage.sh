#!/usr/bin/env bash
# mkimage.sh <out.tar> <name:tag> <rootfs dir> [entrypoint json]
# Writes a one-layer docker-archive (what `docker save` writes) that `ctr images import` reads, without any daemon.
set -euo pipefail
out="$1" name="$2" rootfs="$3" entry="${4:-null}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$rootfs" -cf "$tmp/layer.tar" .
diff="$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)"
printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"kubeprobe mkimage.sh"}]}' "$entry" "$diff" >"$tmp/config.json"
cfg="$(sha256sum "$tmp/config.json" | cut -d' ' -f1)"
mv "$tmp/config.json" "$tmp/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$cfg" "$name" >"$tmp/manifest.json"
tar --numeric-owner --owner=0 --group=0 -C "$tmp" -cf "$out" manifest.json "$cfg.json" layer.tar

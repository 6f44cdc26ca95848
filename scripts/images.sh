#!/usr/bin/env bash
# Builds the local test images with `docker import` of a root filesystem
# tarball: no Dockerfile, no base image, nothing pulled. Image names and tags
# come from test/support/images.ts; a binary whose version does not match its
# tag stops the build. An image is rebuilt only when the hash of what went into
# it (binaries + this script) differs from its `etcd-recovery.source-sha256` label.
#
#   bash scripts/images.sh [all|etcd|etcd34|kube-apiserver|kube-controller-manager|kube-scheduler|pause|uploader|sshd|node|kube-node ...]
#
#   etcd            etcd 3.5 from scripts/tools.sh (static): etcd, etcdctl, etcdutl; no shell
#   etcd34          Debian's etcd 3.4 + the libraries ldd lists + the loader; no shell
#   kube-apiserver  static kube-apiserver from scripts/tools.sh; no shell
#   uploader        Debian's rclone (+ its libraries), busybox (sh, sha256sum, gzip, ...), CA certificates
#   sshd            Debian's openssh-server sshd (+ its libraries) and busybox: the SFTP store of the backup tests
#   node            sshd, busybox, pgrep, mountpoint and etcd 3.5: a control-plane node for the restore runbooks
#   kube-controller-manager, kube-scheduler   like kube-apiserver: the static pods of a kubeadm node
#   pause           tools/pause as PID 1 of pod sandboxes (the tag kubeadm asks for is set in the node)
#   kube-node       a kubeadm node: kubelet, kubeadm, kubectl and the node's configuration; containerd,
#                   runc, the CNI plugins and the rest of userland are the host's /usr, bind-mounted
#                   read-only by test/support/kube-node.ts
#   all             all of them (fails when a tool from scripts/tools.sh has not been built)
#
# Needs a running engine: bash scripts/docker.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ETCD_RECOVERY_CACHE:-$HOME/.cache/etcd-recovery}"
BIN="$CACHE/bin"
IMAGES_TS="$ROOT/test/support/images.ts"
SOURCE_LABEL=etcd-recovery.source-sha256
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$CACHE"

# ldd fails on binaries that load no shared libraries (and needs no `file` package).
is_static() { ! ldd "$1" >/dev/null 2>&1; }

die() { echo "images.sh: ERROR: $*" >&2; exit 1; }

# The string value of `export const <name> = "..."` in test/support/images.ts.
image_tag() { # <constant>
    local tag
    tag="$(sed -n "s/^export const $1 = \"\([^\"]*\)\";.*/\1/p" "$IMAGES_TS")"
    [[ -n "$tag" ]] || die "$IMAGES_TS does not define $1"
    echo "$tag"
}

# Stops when a binary's version is not the one its image tag promises.
expect_version() { # <constant> <tag> <version the binary reports>
    local want="${2##*:}"
    want="${want#rclone-}"
    local have="${3#v}"; want="${want#v}"
    # "1.60.1-DEV" is version 1.60.1; "3.5.350" is not 3.5.35.
    [[ "$have" == "$want" || "$have" == "$want"-* ]] \
        || die "the binary reports version '$3' but $1 is '$2': update $1 in $IMAGES_TS (or rebuild the binary)"
}

apt_install() { # <packages...>
    local log="$CACHE/apt.log"
    apt-get install -y --no-install-recommends "$@" </dev/null >"$log" 2>&1 && return 0
    apt-get update </dev/null >>"$log" 2>&1 || true
    apt-get install -y --no-install-recommends "$@" </dev/null >>"$log" 2>&1 \
        || { tail -n 20 "$log" >&2; die "apt-get install $* failed; log: $log"; }
}

require_command() { # <path> <debian package>
    [[ -x "$1" ]] || apt_install "$2"
    [[ -x "$1" ]] || die "$1 is missing after installing $2"
}

source_hash() { # <files...>
    { sha256sum "$@" | cut -d' ' -f1; sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1; } | sha256sum | cut -c1-32
}

image_is_current() { # <tag> <hash>
    [[ "$(docker image inspect --format "{{ index .Config.Labels \"$SOURCE_LABEL\" }}" "$1" 2>/dev/null)" == "$2" ]]
}

# ------------------------------------------------------------ root filesystem
ROOTFS=""
cleanup() { [[ -z "$ROOTFS" ]] || rm -rf "$ROOTFS"; }
trap cleanup EXIT
trap 'echo "images.sh: ERROR: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

new_rootfs() {
    cleanup
    ROOTFS="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    chmod 0755 "$ROOTFS"
    # What distroless images have: users, a world-writable /tmp, root's home.
    mkdir -p "$ROOTFS/etc" "$ROOTFS/tmp" "$ROOTFS/root"
    chmod 1777 "$ROOTFS/tmp"
    chmod 0700 "$ROOTFS/root"
    printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' >"$ROOTFS/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$ROOTFS/etc/group"
    echo 'hosts: files dns' >"$ROOTFS/etc/nsswitch.conf"
}

add_file() { # <source> <path in image> [mode]
    install -D -m "${3:-0755}" "$(readlink -f "$1")" "$ROOTFS$2"
}

# The shared libraries and the loader a dynamic binary needs, at the paths
# ldd prints (the loader's path is compiled into the binary).
add_libraries() { # <binaries...>
    local lib
    while read -r lib; do
        add_file "$lib" "$lib"
    done < <(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
}

# Imports $ROOTFS as <tag>, owned by root, with the label that says what built it.
import_rootfs() { # <tag> <hash> <docker import --change values...>
    local tag="$1" hash="$2"; shift 2
    local changes=(--change "LABEL $SOURCE_LABEL=$hash" --change "LABEL etcd-recovery.image=1")
    local change; for change in "$@"; do changes+=(--change "$change"); done
    tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$ROOTFS" -c . \
        | docker import "${changes[@]}" - "$tag" >/dev/null
    cleanup; ROOTFS=""
}

# Builds <tag> with <build function> unless it is current; prints one line.
build_image() { # <tag> <hash> <build function> [args...]
    local tag="$1" hash="$2" fn="$3" start=$SECONDS; shift 3
    if image_is_current "$tag" "$hash"; then
        printf '%-44s cached  %4ds  %s\n' "$tag" $((SECONDS - start)) "$(image_size "$tag")"
        return
    fi
    local previous; previous="$(docker image inspect --format '{{ .Id }}' "$tag" 2>/dev/null || true)"
    "$fn" "$tag" "$hash" "$@"
    # The replaced build is now untagged; drop it unless a container still uses it.
    [[ -z "$previous" ]] || docker image rm "$previous" >/dev/null 2>&1 || true
    image_is_current "$tag" "$hash" || die "building $tag did not produce an image labelled with its source hash"
    printf '%-44s built   %4ds  %s\n' "$tag" $((SECONDS - start)) "$(image_size "$tag")"
}

image_size() { # <tag>
    docker image inspect --format '{{ .Size }}' "$1" | awk '{ printf "%.1f MB", $1 / 1000000 }'
}

# ------------------------------------------------------------ images
ETCD_ENV=(
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
    "WORKDIR /"
    "EXPOSE 2379 2380"
    'CMD ["/usr/local/bin/etcd"]'
)

build_etcd35() { # <tag> <hash>
    new_rootfs
    local b; for b in etcd etcdctl etcdutl; do add_file "$BIN/$b" "/usr/local/bin/$b"; done
    mkdir -p -m 0700 "$ROOTFS/var/lib/etcd"
    import_rootfs "$1" "$2" "${ETCD_ENV[@]}"
}

image_etcd() {
    local tag; tag="$(image_tag ETCD_35_IMAGE)"
    local b; for b in etcd etcdctl etcdutl; do
        [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run bash scripts/tools.sh etcd"
    done
    is_static "$BIN/etcd" || die "$BIN/etcd is not statically linked"
    expect_version ETCD_35_IMAGE "$tag" "$("$BIN/etcd" --version | awk '/^etcd Version:/ { print $3 }')"
    build_image "$tag" "$(source_hash "$BIN/etcd" "$BIN/etcdctl" "$BIN/etcdutl")" build_etcd35
}

build_etcd34() { # <tag> <hash>
    new_rootfs
    add_file /usr/bin/etcd /usr/local/bin/etcd
    add_file /usr/bin/etcdctl /usr/local/bin/etcdctl
    add_libraries /usr/bin/etcd /usr/bin/etcdctl
    mkdir -p -m 0700 "$ROOTFS/var/lib/etcd"
    import_rootfs "$1" "$2" "${ETCD_ENV[@]}"
}

image_etcd34() {
    local tag; tag="$(image_tag ETCD_34_IMAGE)"
    require_command /usr/bin/etcd etcd-server
    require_command /usr/bin/etcdctl etcd-client
    expect_version ETCD_34_IMAGE "$tag" "$(/usr/bin/etcd --version | awk '/^etcd Version:/ { print $3 }')"
    build_image "$tag" "$(source_hash /usr/bin/etcd /usr/bin/etcdctl)" build_etcd34
}

# Like registry.k8s.io/kube-apiserver and its siblings: one static binary, no shell.
build_kube_component() { # <tag> <hash> <binary>
    new_rootfs
    add_file "$BIN/$3" "/usr/local/bin/$3"
    import_rootfs "$1" "$2" \
        "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin" \
        "WORKDIR /" \
        "ENTRYPOINT [\"/usr/local/bin/$3\"]"
}

image_kube_component() { # <constant in images.ts> <binary>
    local tag; tag="$(image_tag "$1")"
    [[ -x "$BIN/$2" ]] || die "$BIN/$2 is missing: run bash scripts/tools.sh $2"
    is_static "$BIN/$2" || die "$BIN/$2 is not statically linked"
    expect_version "$1" "$tag" "$("$BIN/$2" --version | awk '{ print $2 }')"
    build_image "$tag" "$(source_hash "$BIN/$2")" build_kube_component "$2"
}

image_kube_apiserver() { image_kube_component KUBE_APISERVER_IMAGE kube-apiserver; }
image_kube_controller_manager() { image_kube_component KUBE_CONTROLLER_MANAGER_IMAGE kube-controller-manager; }
image_kube_scheduler() { image_kube_component KUBE_SCHEDULER_IMAGE kube-scheduler; }

build_pause() { # <tag> <hash>
    new_rootfs
    add_file "$BIN/pause" /pause
    import_rootfs "$1" "$2" "WORKDIR /" 'ENTRYPOINT ["/pause"]'
}

image_pause() {
    local tag; tag="$(image_tag PAUSE_IMAGE)"
    [[ -x "$BIN/pause" ]] || die "$BIN/pause is missing: run bash scripts/tools.sh pause"
    is_static "$BIN/pause" || die "$BIN/pause is not statically linked"
    build_image "$tag" "$(source_hash "$BIN/pause")" build_pause
}

# A kubeadm node (test/support/kube-node.ts runs it, kind-like): an almost empty
# root with merged-/usr links, because /usr is the host's (containerd, runc,
# iptables, mount, the CNI plugins in /usr/lib/cni) bind-mounted read-only;
# kubelet, kubeadm and kubectl in /opt/kube/bin; the node's configuration.
# For the restore runbooks the node also has what a user's kubeadm node has
# beside kubeadm: Debian's sshd (/opt/kube/sbin/sshd, user sshd) and etcdutl +
# etcdctl 3.5, which the entrypoint puts in /usr/local/bin (a tmpfs over the
# host's, inside the node only) with a systemctl for the kubelet (no systemd).
KUBE_NODE_CONF="$ROOT/test/support/kube-node"

build_kube_node() { # <tag> <hash>
    new_rootfs
    mkdir -p "$ROOTFS"/{usr,var/lib,var/log,run,opt/kube/bin,opt/kube/conf,proc,sys,dev,home,mnt,srv}
    ln -s usr/bin "$ROOTFS/bin"; ln -s usr/sbin "$ROOTFS/sbin"; ln -s usr/lib "$ROOTFS/lib"; ln -s usr/lib64 "$ROOTFS/lib64"
    ln -s /run "$ROOTFS/var/run"
    # The host's users and loader cache: the host's dynamic binaries run in the node.
    local f; for f in passwd group shadow gshadow nsswitch.conf ld.so.cache ld.so.conf; do
        [[ -e "/etc/$f" ]] && cp -a "/etc/$f" "$ROOTFS/etc/"
    done
    cp -a /etc/ld.so.conf.d /etc/alternatives "$ROOTFS/etc/"
    ln -sfn ../usr/lib/os-release "$ROOTFS/etc/os-release"
    grep -q '^sshd:' "$ROOTFS/etc/passwd" || echo 'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin' >>"$ROOTFS/etc/passwd"
    local b; for b in kubelet kubeadm kubectl; do add_file "$BIN/$b" "/opt/kube/bin/$b"; done
    for b in etcdctl etcdutl; do add_file "$BIN/$b" "/opt/kube/local/bin/$b"; done
    add_file "$KUBE_NODE_CONF/systemctl" /opt/kube/local/bin/systemctl
    add_file "$SSHD_DEBS/root/usr/sbin/sshd" /opt/kube/sbin/sshd
    add_file "$KUBE_NODE_CONF/entrypoint.sh" /opt/kube/entrypoint.sh
    add_file "$KUBE_NODE_CONF/containerd.toml" /opt/kube/conf/containerd.toml 0644
    add_file "$KUBE_NODE_CONF/10-bridge.conflist" /opt/kube/conf/10-bridge.conflist 0644
    import_rootfs "$1" "$2" \
        "ENV PATH=/opt/kube/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        "WORKDIR /" \
        'CMD ["/usr/bin/bash", "/opt/kube/entrypoint.sh"]'
}

image_kube_node() {
    local tag; tag="$(image_tag KUBE_NODE_IMAGE)"
    local b; for b in kubelet kubeadm kubectl; do
        [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run bash scripts/tools.sh $b"
        is_static "$BIN/$b" || die "$BIN/$b is not statically linked"
    done
    for b in etcdctl etcdutl; do
        [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run bash scripts/tools.sh etcd"
    done
    # sshd is dynamic: the node runs it with the host's libraries (its /usr).
    unpack_sshd
    require_command /usr/bin/containerd containerd
    require_command /usr/sbin/runc runc
    require_command /usr/lib/cni/bridge containernetworking-plugins
    require_command /usr/sbin/iptables iptables
    expect_version KUBE_NODE_IMAGE "$tag" "$("$BIN/kubelet" --version | awk '{ print $2 }')"
    build_image "$tag" "$(source_hash "$BIN/kubelet" "$BIN/kubeadm" "$BIN/kubectl" "$BIN/etcdctl" "$BIN/etcdutl" "$SSHD_DEBS/root/usr/sbin/sshd" "$KUBE_NODE_CONF"/*)" build_kube_node
}

build_uploader() { # <tag> <hash>
    new_rootfs
    add_file /usr/bin/rclone /usr/local/bin/rclone
    add_libraries /usr/bin/rclone
    add_file /bin/busybox /bin/busybox
    # One link per applet (sh, sha256sum, gzip, ls, ...), the way busybox images do it.
    local applet
    for applet in $(/bin/busybox --list); do
        [[ -e "$ROOTFS/bin/$applet" ]] || ln -s busybox "$ROOTFS/bin/$applet"
    done
    add_file /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt 0644
    import_rootfs "$1" "$2" \
        "ENV PATH=/usr/local/bin:/bin" \
        "ENV HOME=/root" \
        "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
        "WORKDIR /root" \
        'CMD ["/bin/sh"]'
}

image_uploader() {
    local tag; tag="$(image_tag UPLOADER_IMAGE)"
    require_command /usr/bin/rclone rclone
    require_command /bin/busybox busybox-static
    is_static /bin/busybox || die "/bin/busybox is not the static build: apt-get install busybox-static"
    [[ -f /etc/ssl/certs/ca-certificates.crt ]] || apt_install ca-certificates
    expect_version UPLOADER_IMAGE "$tag" "$(/usr/bin/rclone version | awk 'NR == 1 { print $2 }')"
    build_image "$tag" "$(source_hash /usr/bin/rclone /bin/busybox /etc/ssl/certs/ca-certificates.crt)" build_uploader
}

# An SFTP server for the backup tests: Debian's sshd (internal-sftp, no
# sftp-server binary needed) + its libraries + busybox as the login shell.
# Users: root, sshd (privilege separation), backup (uid 1000, home /home/backup).
# The test supplies sshd_config, host keys, /etc/shadow and authorized keys.
SSHD_DEBS="$CACHE/debs/openssh-server"

# Debian's sshd from the package file, unpacked into the cache: installing
# openssh-server would start an sshd on this machine.
unpack_sshd() {
    if [[ ! -x "$SSHD_DEBS/root/usr/sbin/sshd" ]]; then
        rm -rf "$SSHD_DEBS"; mkdir -p "$SSHD_DEBS/root"
        (cd "$SSHD_DEBS" && apt-get download openssh-server </dev/null >"$CACHE/apt-download.log" 2>&1) \
            || { tail -n 20 "$CACHE/apt-download.log" >&2; die "apt-get download openssh-server failed"; }
        dpkg-deb -x "$SSHD_DEBS"/openssh-server_*.deb "$SSHD_DEBS/root"
    fi
    # Its shared libraries come from this machine (same Debian release): the
    # library packages the .deb depends on, installed when any is missing.
    if ldd "$SSHD_DEBS/root/usr/sbin/sshd" | grep -q 'not found'; then
        # shellcheck disable=SC2046
        apt_install $(dpkg-deb -f "$SSHD_DEBS"/openssh-server_*.deb Depends | tr ',' '\n' | awk '{ print $1 }' | grep -E '^(lib|zlib)')
    fi
    ! ldd "$SSHD_DEBS/root/usr/sbin/sshd" | grep 'not found' || die "sshd needs libraries this machine lacks"
}

build_sshd() { # <tag> <hash>
    new_rootfs
    add_file "$SSHD_DEBS/root/usr/sbin/sshd" /usr/sbin/sshd
    add_libraries "$SSHD_DEBS/root/usr/sbin/sshd"
    add_file /bin/busybox /bin/busybox
    ln -s busybox "$ROOTFS/bin/sh"
    printf '%s\n' 'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin' 'backup:x:1000:1000:backup:/home/backup:/bin/sh' >>"$ROOTFS/etc/passwd"
    echo 'backup:x:1000:' >>"$ROOTFS/etc/group"
    printf '%s\n' 'root:*:19000:0:99999:7:::' 'sshd:*:19000:0:99999:7:::' 'backup:!:19000:0:99999:7:::' >"$ROOTFS/etc/shadow"
    chmod 0640 "$ROOTFS/etc/shadow"
    mkdir -p -m 0755 "$ROOTFS/run/sshd" "$ROOTFS/etc/ssh" "$ROOTFS/var/empty"
    install -d -m 0755 -o 1000 -g 1000 "$ROOTFS/home/backup"
    import_rootfs "$1" "$2" \
        "ENV PATH=/usr/sbin:/bin" \
        "WORKDIR /" \
        'ENTRYPOINT ["/usr/sbin/sshd", "-D", "-e"]'
}

image_sshd() {
    local tag; tag="$(image_tag SSHD_IMAGE)"
    require_command /bin/busybox busybox-static
    unpack_sshd
    expect_version SSHD_IMAGE "$tag" "$(dpkg-deb -f "$SSHD_DEBS"/openssh-server_*.deb Version | sed 's/^[0-9]*://')"
    build_image "$tag" "$(source_hash "$SSHD_DEBS/root/usr/sbin/sshd" /bin/busybox)" build_sshd
}

# A "node" for the restore runbooks: Debian's sshd (+ the libraries ldd lists),
# busybox for a shell and tools, procps' pgrep and util-linux's mountpoint,
# and the etcd 3.5 binaries. Users root (shell /bin/sh, key login only), etcd
# (kubespray runs etcd as it) and sshd (privilege separation). No host keys,
# no sshd_config: tests put their own in, so every run pins fresh keys.
build_node() { # <tag> <hash>
    new_rootfs
    add_file "$SSHD_DEBS/root/usr/sbin/sshd" /usr/sbin/sshd
    add_file /usr/bin/pgrep /usr/bin/pgrep
    add_file /usr/bin/mountpoint /usr/bin/mountpoint
    add_libraries "$SSHD_DEBS/root/usr/sbin/sshd" /usr/bin/pgrep /usr/bin/mountpoint
    add_file /bin/busybox /bin/busybox
    local applet
    for applet in $(/bin/busybox --list); do
        [[ -e "$ROOTFS/bin/$applet" || -e "$ROOTFS/usr/bin/$applet" ]] || ln -s busybox "$ROOTFS/bin/$applet"
    done
    local b; for b in etcd etcdctl etcdutl; do add_file "$BIN/$b" "/usr/local/bin/$b"; done
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'sshd:x:100:65534::/run/sshd:/sbin/nologin' \
        'etcd:x:998:998:etcd:/var/lib/etcd:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' >"$ROOTFS/etc/passwd"
    printf '%s\n' 'root:x:0:' 'etcd:x:998:' 'nogroup:x:65534:' >"$ROOTFS/etc/group"
    # "*": no password, and not locked (sshd refuses key logins of locked accounts).
    printf '%s\n' 'root:*:19000:0:99999:7:::' 'sshd:*:19000:0:99999:7:::' 'etcd:*:19000:0:99999:7:::' >"$ROOTFS/etc/shadow"
    chmod 0640 "$ROOTFS/etc/shadow"
    echo 'passwd: files' >>"$ROOTFS/etc/nsswitch.conf"
    echo 'group: files' >>"$ROOTFS/etc/nsswitch.conf"
    echo 'shadow: files' >>"$ROOTFS/etc/nsswitch.conf"
    mkdir -p -m 0755 "$ROOTFS/run/sshd" "$ROOTFS/etc/ssh" "$ROOTFS/var/log" "$ROOTFS/var/lib" "$ROOTFS/usr/local/sbin"
    mkdir -p -m 0700 "$ROOTFS/root/.ssh"
    import_rootfs "$1" "$2" \
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        "WORKDIR /root" \
        "EXPOSE 22 2379 2380" \
        'CMD ["/usr/sbin/sshd", "-D", "-e"]'
}

image_node() {
    local tag; tag="$(image_tag NODE_IMAGE)"
    local b; for b in etcd etcdctl etcdutl; do
        [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run bash scripts/tools.sh etcd"
    done
    unpack_sshd
    require_command /bin/busybox busybox-static
    require_command /usr/bin/pgrep procps
    require_command /usr/bin/mountpoint util-linux
    is_static /bin/busybox || die "/bin/busybox is not the static build: apt-get install busybox-static"
    expect_version NODE_IMAGE "$tag" "$("$BIN/etcd" --version | awk '/^etcd Version:/ { print $3 }')"
    build_image "$tag" "$(source_hash "$SSHD_DEBS/root/usr/sbin/sshd" /usr/bin/pgrep /usr/bin/mountpoint /bin/busybox "$BIN/etcd" "$BIN/etcdctl" "$BIN/etcdutl")" build_node
}

# ------------------------------------------------------------ main
ALL_IMAGES=(etcd etcd34 kube-apiserver kube-controller-manager kube-scheduler pause uploader sshd node kube-node)

main() {
    local targets=("$@") started=$SECONDS
    [[ ${#targets[@]} -gt 0 ]] || targets=(all)
    [[ " ${targets[*]} " == *" all "* ]] && targets=("${ALL_IMAGES[@]}")
    local t
    for t in "${targets[@]}"; do
        declare -F "image_${t//-/_}" >/dev/null || die "unknown image '$t' (known: all ${ALL_IMAGES[*]})"
    done
    docker info >/dev/null 2>&1 || die "the Docker engine does not answer: run bash scripts/docker.sh"
    # One build at a time: parallel callers would import the same image twice.
    exec {lock}>"$CACHE/images.lock"
    flock "$lock"
    for t in "${targets[@]}"; do "image_${t//-/_}"; done
    printf '%-44s         %4ds\n' total $((SECONDS - started))
}

main "$@"

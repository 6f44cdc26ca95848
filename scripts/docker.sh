#!/usr/bin/env bash
# Makes a Docker engine available on this machine, idempotently:
#   1. installs Debian's docker.io when dockerd is missing,
#   2. starts dockerd in the background when the engine does not answer,
#      with a storage driver this kernel supports (overlay2, else
#      fuse-overlayfs, else vfs) and an iptables that works (nft, else legacy),
#   3. proves bridge networking: a user-defined bridge network with a subnet,
#      an --internal one, and a container with a static address on it (from a
#      busybox image imported locally).
# Never configures registry mirrors and never pulls: images are built locally
# by scripts/images.sh.
#
#   bash scripts/docker.sh
#
# Files: ${ETCD_RECOVERY_CACHE:-$HOME/.cache/etcd-recovery}/dockerd.log, dockerd.pid
# Overrides: DOCKER_STORAGE_DRIVER=<driver> skips the detection.
set -euo pipefail

CACHE="${ETCD_RECOVERY_CACHE:-$HOME/.cache/etcd-recovery}"
LOG="$CACHE/dockerd.log"
PIDFILE="$CACHE/dockerd.pid"
DATA_ROOT=/var/lib/docker
WAIT_SECONDS=60
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$CACHE"

# ldd fails on binaries that load no shared libraries (and needs no `file` package).
is_static() { ! ldd "$1" >/dev/null 2>&1; }

die() { echo "docker.sh: ERROR: $*" >&2; exit 1; }
note() { echo "docker.sh: $*"; }

engine_answers() { docker info >/dev/null 2>&1; }

# Installs Debian packages; refreshes the package lists only when the first try fails.
apt_install() { # <packages...>
    apt-get install -y --no-install-recommends "$@" </dev/null >"$CACHE/apt.log" 2>&1 && return 0
    apt-get update </dev/null >>"$CACHE/apt.log" 2>&1 || true
    apt-get install -y --no-install-recommends "$@" </dev/null >>"$CACHE/apt.log" 2>&1 \
        || { tail -n 20 "$CACHE/apt.log" >&2; die "apt-get install $* failed; log: $CACHE/apt.log"; }
}

ensure_installed() {
    if ! command -v dockerd >/dev/null; then
        note "dockerd missing: installing docker.io"
        apt_install docker.io
    fi
    command -v docker >/dev/null || die "no docker client on PATH after installing docker.io"
}

# True when the kernel mounts overlayfs on the filesystem that holds the data root.
overlay_mounts() {
    local probe
    mkdir -p "$DATA_ROOT"
    probe="$(mktemp -d "$DATA_ROOT/.overlay-probe.XXXXXX")"
    mkdir -p "$probe"/{lower,upper,work,merged}
    local ok=1
    if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" 2>/dev/null; then
        umount "$probe/merged" && ok=0
    fi
    rm -rf "$probe"
    return $ok
}

choose_storage_driver() {
    if [[ -n "${DOCKER_STORAGE_DRIVER:-}" ]]; then echo "$DOCKER_STORAGE_DRIVER"; return; fi
    if overlay_mounts; then echo overlay2; return; fi
    if [[ -e /dev/fuse ]]; then
        command -v fuse-overlayfs >/dev/null || apt_install fuse-overlayfs >&2
        echo fuse-overlayfs; return
    fi
    echo vfs
}

# dockerd finds iptables on PATH. When the nf_tables backend does not work in
# this kernel, put a directory first on dockerd's PATH whose iptables is legacy.
iptables_path() {
    if iptables -S >/dev/null 2>&1; then echo "$PATH"; return; fi
    if ! { command -v iptables-legacy >/dev/null && iptables-legacy -S >/dev/null 2>&1; }; then
        die "neither iptables (nft) nor iptables-legacy works: bridge networks cannot be set up"
    fi
    local shim="$CACHE/iptables-legacy-bin"
    mkdir -p "$shim"
    ln -sfn "$(command -v iptables-legacy)" "$shim/iptables"
    ln -sfn "$(command -v ip6tables-legacy)" "$shim/ip6tables"
    echo "$shim:$PATH"
}

start_engine() {
    local driver path
    driver="$(choose_storage_driver)"
    path="$(iptables_path)"
    note "starting dockerd (storage driver $driver), log: $LOG"
    # tini -s reaps the containerd shims that get orphaned: this machine's
    # PID 1 does not, and their zombies would use up the PID space.
    local reaper=()
    command -v tini >/dev/null && reaper=(tini -s --)
    {
        echo "---- $(date -u +%FT%TZ) dockerd --storage-driver=$driver"
    } >>"$LOG"
    PATH="$path" setsid nohup "${reaper[@]}" dockerd \
        --storage-driver="$driver" \
        --pidfile="$PIDFILE" \
        </dev/null >>"$LOG" 2>&1 &
    local started=$! waited=0
    until engine_answers; do
        if ! kill -0 "$started" 2>/dev/null || (( waited >= WAIT_SECONDS )); then
            echo "---- last lines of $LOG" >&2
            tail -n 40 "$LOG" >&2
            die "dockerd exited or did not answer within ${WAIT_SECONDS}s"
        fi
        sleep 1; waited=$((waited + 1))
    done
    note "dockerd answers after ${waited}s (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
}

PROBE_IMAGE=etcd-recovery/probe:busybox

# A tiny local image to prove container networking with (busybox only).
probe_image() {
    docker image inspect "$PROBE_IMAGE" >/dev/null 2>&1 && return
    if ! { [[ -x /bin/busybox ]] && is_static /bin/busybox; }; then apt_install busybox-static; fi
    local root; root="$(mktemp -d)"
    install -D -m 0755 /bin/busybox "$root/bin/busybox"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -c . \
        | docker import --change 'ENTRYPOINT ["/bin/busybox"]' --change 'LABEL etcd-recovery.image=1' - "$PROBE_IMAGE" >/dev/null
    rm -rf "$root"
}

# Bridge networks are where iptables and kernel problems show: a user-defined
# bridge with a subnet, an --internal one, and a container with a static
# address on it.
check_networking() {
    local name="etcd-recovery-probe-$$" subnet="172.31.254.0/24" address="172.31.254.42"
    docker network create --driver bridge --subnet "$subnet" --label etcd-recovery.probe=1 "$name" >/dev/null \
        || die "cannot create a bridge network with subnet $subnet; see $LOG"
    docker network rm "$name" >/dev/null
    docker network create --driver bridge --internal --subnet "$subnet" --label etcd-recovery.probe=1 "$name" >/dev/null \
        || die "cannot create an --internal bridge network; see $LOG"
    probe_image
    local shown=""
    shown="$(docker run --rm --network "$name" --ip "$address" --label etcd-recovery.probe=1 "$PROBE_IMAGE" ip -4 -o addr show eth0 2>&1)" || true
    docker network rm "$name" >/dev/null
    [[ "$shown" == *"inet $address/24"* ]] \
        || die "a container with static address $address on an --internal network did not get it: $shown"
}

main() {
    ensure_installed
    if engine_answers; then
        note "engine already answers"
    else
        start_engine
    fi
    check_networking
    note "bridge network, --internal network, static container address: ok"
    note "ready: $(docker info --format 'server {{.ServerVersion}}, storage driver {{.Driver}}, cgroup {{.CgroupVersion}}')"
}

main "$@"

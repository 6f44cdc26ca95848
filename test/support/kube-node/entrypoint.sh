#!/usr/bin/bash
# PID 1 of the test node (scripts/images.sh kube-node, test/support/kube-node.ts):
# containerd with CRI, then the kubelet, started the way kubeadm's systemd drop-in
# starts it, as soon as `kubeadm init` has written its configuration. sshd is
# started by the tests that need it, with their own keys.
# There is no systemd: a loop restarts the kubelet when it exits, as
# Restart=always does (kubeadm restarts it during init).
set -u
export PATH=/opt/kube/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /var/log /etc/cni/net.d /etc/containerd /etc/kubernetes/manifests
exec >>/var/log/node.log 2>&1

# Mounts propagate into pods (kubelet volume mounts) only on a shared root.
mount --make-rshared /
# Not --privileged (runc cannot grant CAP_SYS_RESOURCE where the host's
# bounding set lacks it): make /sys and the cgroup hierarchies writable instead.
mount -o remount,rw /sys
for d in /sys/fs/cgroup /sys/fs/cgroup/*; do
    if mountpoint -q "$d"; then mount -o remount,bind,rw "$d"; fi
done

# What a user's kubeadm node has in /usr/local/bin (etcdutl, etcdctl) and a
# systemctl for the kubelet: a tmpfs over the host's /usr/local/bin, in this
# mount namespace only (the host's /usr stays untouched, read-only).
mount -t tmpfs -o mode=0755 tmpfs /usr/local/bin
cp -a /opt/kube/local/bin/. /usr/local/bin/
mkdir -p -m 0755 /run/sshd

cp /opt/kube/conf/containerd.toml /etc/containerd/config.toml
cp /opt/kube/conf/10-bridge.conflist /etc/cni/net.d/10-bridge.conflist
containerd --config /etc/containerd/config.toml >>/var/log/containerd.log 2>&1 &

run_kubelet() {
    while :; do
        if [[ -f /var/lib/kubelet/config.yaml ]]; then
            KUBELET_KUBEADM_ARGS=""
            # shellcheck disable=SC1091 # written by kubeadm init
            [[ -f /var/lib/kubelet/kubeadm-flags.env ]] && . /var/lib/kubelet/kubeadm-flags.env
            echo "== kubelet start $(date -u +%FT%TZ)" >>/var/log/kubelet.log
            # shellcheck disable=SC2086 # KUBELET_KUBEADM_ARGS is a list of flags, as in kubeadm's drop-in
            kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
                --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml \
                $KUBELET_KUBEADM_ARGS >>/var/log/kubelet.log 2>&1
            echo "== kubelet exit $? $(date -u +%FT%TZ)" >>/var/log/kubelet.log
        fi
        sleep 1
    done
}
run_kubelet &

trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM INT
wait

#!/usr/bin/bash
# PID 1 of the probe node: containerd, then a kubelet that (re)starts once kubeadm wrote its config.
set -u
export PATH=/opt/probe/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
mount --make-rshared /
# Not --privileged (runc cannot grant CAP_SYS_RESOURCE, absent from this VM's bounding set): make /sys and the cgroup hierarchies writable.
mount -o remount,rw /sys
for d in /sys/fs/cgroup /sys/fs/cgroup/*; do mountpoint -q "$d" && mount -o remount,bind,rw "$d"; done
mkdir -p /var/log /etc/cni/net.d /etc/containerd
cp /opt/probe/conf/containerd.toml /etc/containerd/config.toml
containerd --config /etc/containerd/config.toml >>/var/log/containerd.log 2>&1 &
(
  while :; do
    if [ -f /var/lib/kubelet/config.yaml ]; then
      KUBELET_KUBEADM_ARGS=""
      [ -f /var/lib/kubelet/kubeadm-flags.env ] && . /var/lib/kubelet/kubeadm-flags.env
      echo "== kubelet start $(date -u +%FT%TZ)" >>/var/log/kubelet.log
      kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
        --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml \
        $KUBELET_KUBEADM_ARGS >>/var/log/kubelet.log 2>&1
      echo "== kubelet exit $? $(date -u +%FT%TZ)" >>/var/log/kubelet.log
    fi
    sleep 1
  done
) &
trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM INT
wait

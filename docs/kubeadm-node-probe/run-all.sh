#!/usr/bin/env bash
# From prepared binaries/images: fresh node container -> kubeadm init -> Ready node -> completed pod.
set -euo pipefail
cd /root/kubeprobe
docker rm -f kubeprobe-node >/dev/null 2>&1 || true
docker volume rm kubeprobe-var >/dev/null 2>&1 || true
docker volume create --label etcd-recovery.probe=1 kubeprobe-var >/dev/null
t0=$SECONDS
./run-node.sh >/dev/null
X() { docker exec -e KUBECONFIG=/etc/kubernetes/admin.conf kubeprobe-node "$@"; }
until X test -S /run/containerd/containerd.sock; do sleep 0.2; done
X sh -c 'for t in /opt/probe/images/*.tar; do ctr -n k8s.io images import "$t" >/dev/null; done; cp /opt/probe/conf/10-bridge.conflist /etc/cni/net.d/'
echo "node+images: $((SECONDS-t0))s"
X kubeadm init --config /opt/probe/conf/kubeadm.yaml > logs/kubeadm-init-fresh.log 2>&1
echo "kubeadm init done: $((SECONDS-t0))s"
X kubectl wait --for=condition=Ready node/kubeprobe-node --timeout=120s
until [ "$(X kubectl -n kube-system get pods --no-headers 2>/dev/null | wc -l)" -ge 4 ]; do sleep 1; done
X kubectl -n kube-system wait --for=condition=Ready pod --all --timeout=180s
echo "node Ready + 4 static pods Ready: $((SECONDS-t0))s"
X kubectl apply -f /opt/probe/conf/probe-pod.yaml >/dev/null
X kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/probe-hostnet --timeout=120s
echo "hostNetwork pod Succeeded: $((SECONDS-t0))s"
X kubectl get nodes -o wide; X kubectl get pods -A -o wide; X kubectl logs probe-hostnet

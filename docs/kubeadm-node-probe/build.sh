#!/usr/bin/env bash
set -euo pipefail
export GOMODCACHE=/root/.cache/etcd-recovery/go/mod GOCACHE=/root/.cache/etcd-recovery/go/build GOFLAGS=-mod=mod GOSUMDB=off GOTOOLCHAIN=local CGO_ENABLED=0
cd /tmp/tmp.Yhe7Bjohf8
# Same stamping as scripts/tools.sh kube_version_ldflags (copied, since sourcing tools.sh runs its main).
info="$(go mod download -json k8s.io/kubernetes@v1.34.4)"
infofile="$(node -p 'JSON.parse(require("fs").readFileSync(0)).Info' <<<"$info")"
commit="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).Origin?.Hash ?? ""' "$infofile")"
date="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).Time' "$infofile")"
LDF=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF+=" -X $pkg.gitVersion=v1.34.4 -X $pkg.gitMajor=1 -X $pkg.gitMinor=34 -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=$commit"
done
echo "ldflags: $LDF"
start=$SECONDS
go build -trimpath -ldflags "-s -w $LDF" -o /root/kubeprobe/node/bin/ k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubeadm
echo "k8s build took $((SECONDS-start))s"
start=$SECONDS
cd /root/kubeprobe/src/pause && go build -trimpath -ldflags "-s -w" -o /root/kubeprobe/node/bin/pause .
echo "pause build took $((SECONDS-start))s"

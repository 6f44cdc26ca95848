#!/usr/bin/env bash
docker run -d --name kubeprobe-node --hostname kubeprobe-node --label etcd-recovery.probe=1 \
  --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined --security-opt label=disable \
  --device-cgroup-rule 'a *:* rwm' --device /dev/kmsg \
  --cgroupns=private --network kubeprobe-net --ip 10.250.77.10 \
  --tmpfs /run:rw,exec,nosuid,nodev,mode=755 --tmpfs /tmp:rw,exec,nosuid,nodev,mode=1777 \
  -v kubeprobe-var:/var -v /usr:/usr:ro -v /root/kubeprobe/node:/opt/probe:ro -v /root/kubeprobe/node/cni:/opt/cni/bin:ro \
  etcd-recovery-probe/node:1 /usr/bin/bash /opt/probe/conf/entrypoint.sh

module github.com/etcd-recovery/tools/pause

go 1.24

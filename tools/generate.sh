#!/usr/bin/env bash
# (Re)generates the wrapper Go modules in tools/<name>/ from the pinned
# versions, copying what upstream's own go.mod needs (replace lines) from that
# go.mod instead of typing it. Run after changing a pin, then commit the
# resulting go.mod/go.sum; scripts/tools.sh only builds what is committed.
#
#   bash tools/generate.sh etcd|pulumi|kube-apiserver|kubernetes-provider|s3 ...
#
# Pins: etcd, kube-apiserver and the S3 server below; Pulumi CLI and resource
# plugins from the npm packages installed in node_modules (the engine asks for
# exactly those versions).
set -euo pipefail

ETCD_VERSION=v3.5.35
KUBERNETES_VERSION=v1.34.4
# MinIO has no semver tags; the proxy serves this one commit of it.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# The kubernetes resource plugin: the proxy refuses the provider module's tags
# but serves this pseudo-version, which is the commit tagged v4.25.0 upstream
# (its go.mod still requires sdk/v4 v4.24.0 and replaces it with ../sdk).
KUBERNETES_PROVIDER_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4
KUBERNETES_PROVIDER_VERSION=v4.0.0-20260115033456-f47bc2d6f199
KUBERNETES_PROVIDER_RELEASE=v4.25.0

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$TOOLS")"
CACHE="${ETCD_RECOVERY_CACHE:-$HOME/.cache/etcd-recovery}"
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOFLAGS=-mod=mod GOSUMDB=off GOTOOLCHAIN=local CGO_ENABLED=0

die() { echo "generate.sh: ERROR: $*" >&2; exit 1; }

npm_version() { # <package>
    node -p "require('$ROOT/node_modules/$1/package.json').version"
}

# Path of a module's go.mod in the module cache (downloads it if needed).
upstream_gomod() { # <module@version>
    go mod download -json "$1" | node -e '
        let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
            const m = JSON.parse(s);
            if (m.Error) { console.error(m.Error); process.exit(1); }
            console.log(m.GoMod);
        });'
}

# Copies upstream's replace directives that point at other modules (those
# pointing at local directories only make sense inside upstream's repo).
copy_module_replaces() { # <upstream go.mod>
    local line
    while IFS= read -r line; do
        [[ -n "$line" ]] && go mod edit "-replace=$line"
    done < <(go mod edit -json "$1" | node -e '
        let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
            for (const r of JSON.parse(s).Replace ?? []) {
                if (!r.New.Version) continue; // local path: upstream-only
                const old = r.Old.Version ? `${r.Old.Path}@${r.Old.Version}` : r.Old.Path;
                console.log(`${old}=${r.New.Path}@${r.New.Version}`);
            }
        });')
}

fresh_module() { # <dir> <module name>
    mkdir -p "$1" && cd "$1"
    rm -f go.mod go.sum
    go mod init "$2" 2>/dev/null
}

# Lowest go directive that the dependencies allow, instead of the local go's.
settle() {
    go mod edit -go=1.21
    go mod tidy
    echo "generated $(pwd)/go.mod"
}

gen_etcd() {
    fresh_module "$TOOLS/etcd" etcd-recovery/tools/etcd
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
        "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdutl/v3@$ETCD_VERSION"
    settle
}

gen_pulumi() {
    local version="v$(npm_version @pulumi/pulumi)"
    fresh_module "$TOOLS/pulumi" etcd-recovery/tools/pulumi
    copy_module_replaces "$(upstream_gomod "github.com/pulumi/pulumi/pkg/v3@$version")"
    # pkg replaces sdk with ../sdk upstream: pin the sdk of the same release.
    go get "github.com/pulumi/pulumi/sdk/v3@$version"
    go get -tool "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$version"
    settle
}

# k8s.io/kubernetes requires its staging modules (k8s.io/api, ...) at v0.0.0
# and replaces them with directories of its own repo; outside it they are the
# published modules of the matching v0.x.y release.
gen_kube_apiserver() {
    local staging="v0.${KUBERNETES_VERSION#v1.}"
    fresh_module "$TOOLS/kube-apiserver" etcd-recovery/tools/kube-apiserver
    local upstream module
    upstream="$(upstream_gomod "k8s.io/kubernetes@$KUBERNETES_VERSION")"
    copy_module_replaces "$upstream"
    for module in $(go mod edit -json "$upstream" | node -e '
        let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
            for (const r of JSON.parse(s).Replace ?? [])
                if (r.New.Path.startsWith("./staging/src/")) console.log(r.Old.Path);
        });'); do
        go mod edit "-replace=$module=$module@$staging"
    done
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION"
    settle
}

gen_s3() {
    fresh_module "$TOOLS/s3" etcd-recovery/tools/s3
    copy_module_replaces "$(upstream_gomod "github.com/minio/minio@$MINIO_VERSION")"
    go get -tool "github.com/minio/minio@$MINIO_VERSION"
    settle
}

# The provider's main package embeds files that its `go generate` writes, so it
# cannot be a `tool` of the wrapper: tools.go imports what main.go and
# generate.go import, and scripts/tools.sh builds main.go from the module cache.
gen_kubernetes_provider() {
    local npm="v$(npm_version @pulumi/kubernetes)"
    [[ "$npm" == "$KUBERNETES_PROVIDER_RELEASE" ]] ||
        die "@pulumi/kubernetes is $npm but the served provider commit is $KUBERNETES_PROVIDER_RELEASE: pin the npm package to ${KUBERNETES_PROVIDER_RELEASE#v}"
    fresh_module "$TOOLS/kubernetes-provider" etcd-recovery/tools/kubernetes-provider
    cat >tools.go <<GO
//go:build tools

// Package tools pins what the provider's main.go and generate.go import.
// Release $KUBERNETES_PROVIDER_RELEASE = $KUBERNETES_PROVIDER_MODULE@$KUBERNETES_PROVIDER_VERSION
package tools

import (
	_ "$KUBERNETES_PROVIDER_MODULE/pkg/provider"
	_ "$KUBERNETES_PROVIDER_MODULE/pkg/version"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
GO
    copy_module_replaces "$(upstream_gomod "$KUBERNETES_PROVIDER_MODULE@$KUBERNETES_PROVIDER_VERSION")"
    # Upstream replaces the sdk with ../sdk: take the sdk of the same release.
    go mod edit "-replace=github.com/pulumi/pulumi-kubernetes/sdk/v4=github.com/pulumi/pulumi-kubernetes/sdk/v4@$KUBERNETES_PROVIDER_RELEASE"
    go get "$KUBERNETES_PROVIDER_MODULE@$KUBERNETES_PROVIDER_VERSION"
    settle
}

main() {
    [[ $# -gt 0 ]] || die "usage: $0 etcd|pulumi|kube-apiserver|kubernetes-provider|s3 ..."
    local t
    for t in "$@"; do
        declare -F "gen_${t//-/_}" >/dev/null || die "unknown wrapper '$t'"
        ( "gen_${t//-/_}" )
    done
}

main "$@"

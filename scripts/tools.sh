#!/usr/bin/env bash
# Builds the project's external tools from Go modules (the only way to get them
# offline), caches them by version and links them into one bin directory.
#
#   bash scripts/tools.sh [all|etcd|pulumi|language-host|language-python|language-yaml|kube-apiserver|kubectl|kube-controller-manager|
#                          kubelet|kube-scheduler|kubeadm|pause|s3|cfssl|promtool|kubernetes-provider|plugins ...]
#
# Cache:  ${ETCD_RECOVERY_CACHE:-$HOME/.cache/etcd-recovery}/
#   <tool>-<version>/   binaries + .stamp (hash of the inputs that built them)
#   bin/                symlinks, put first on PATH by scripts/pulumi-env.sh
#   go/mod, go/build    GOMODCACHE / GOCACHE, reused by later runs
#   logs/               one build log per tool
# `kubernetes-provider` also installs the plugin into ${PULUMI_HOME:-$HOME/.pulumi}/plugins.
# `plugins` (not in `all`) checks that directory: the docker and command
# provider plugins cannot be built offline (tools/README.md says why).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ETCD_RECOVERY_CACHE:-$HOME/.cache/etcd-recovery}"
BIN="$CACHE/bin"
LOGS="$CACHE/logs"
PULUMI_PLUGINS="${PULUMI_HOME:-$HOME/.pulumi}/plugins"
mkdir -p "$BIN" "$LOGS" "$CACHE/go/mod" "$CACHE/go/build" "$PULUMI_PLUGINS"

# One Go environment for every build: our own caches, static binaries, no
# checksum database (unreachable here), never a toolchain download.
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOFLAGS=-mod=mod GOSUMDB=off GOTOOLCHAIN=local CGO_ENABLED=0

die() { echo "tools.sh: ERROR: $*" >&2; exit 1; }
command -v go >/dev/null || die "go is not on PATH"
GOARCH="$(go env GOHOSTARCH)"
export GOOS=linux GOARCH

# Version of a module as required by a wrapper module's go.mod.
required_version() { # <wrapper dir> <module path>
    local version
    version="$(awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod")"
    [[ -n "$version" ]] || die "$1/go.mod does not require $2"
    echo "$version"
}

# Version of an npm package as installed (what the Pulumi engine will ask for).
npm_version() { # <package name>
    local manifest="$ROOT/node_modules/$1/package.json"
    [[ -f "$manifest" ]] || die "$1 is not installed: run 'npm ci' in $ROOT first"
    node -p "require('$manifest').version"
}

# Hash of everything that decides what a build produces; a change rebuilds.
inputs_hash() { # <files...> then extra strings via INPUTS_EXTRA
    { cat "$@"; echo "${INPUTS_EXTRA:-}"; go version; } | sha256sum | cut -c1-16
}

# Runs <build function> into a temporary dir next to <dest> unless <dest> holds
# a build of the same inputs; then moves it in place. Prints one timing line.
# A lock keeps parallel callers from building the same tool twice.
cached_build() { # <label> <dest dir> <hash> <build function> [args...]
    local label="$1" dest="$2" fn="$4" hash
    # The build recipe itself is an input too: editing it rebuilds.
    hash="$(echo "$3 $(declare -f "$fn")" | sha256sum | cut -c1-16)"
    shift 4
    local log start=$SECONDS
    log="$LOGS/$(basename "$dest").log"
    exec {lock}>"$dest.lock"
    flock "$lock"
    if [[ -f "$dest/.stamp" && "$(cat "$dest/.stamp")" == "$hash" ]]; then
        printf '%-34s cached   %4ds  %s\n' "$label" $((SECONDS - start)) "$dest"
    else
        local tmp="$dest.tmp.$$"
        rm -rf "$tmp" && mkdir -p "$tmp"
        # Subshell outside any `if`, so `set -e` stays in force inside the build.
        local rc=0
        set +e
        ( set -e; "$fn" "$tmp" "$@" ) >"$log" 2>&1
        rc=$?
        set -e
        if [[ $rc -ne 0 ]]; then
            rm -rf "$tmp"
            tail -n 30 "$log" >&2
            die "building $label failed; full log: $log"
        fi
        echo "$hash" >"$tmp/.stamp"
        rm -rf "$dest" && mv "$tmp" "$dest"
        printf '%-34s built    %4ds  %s\n' "$label" $((SECONDS - start)) "$dest"
    fi
    flock -u "$lock"
    exec {lock}>&-
}

link() { # <target> <name in bin>
    ln -sfn "$1" "$BIN/$2"
}

# ---------------------------------------------------------------- etcd
ETCD_WRAPPER="$ROOT/tools/etcd"

build_etcd() { # <out dir> <version>
    local out="$1" version="$2"
    # Upstream stamps only the git SHA (the version is in api/v3/version); a
    # module zip has no git, so say where the build came from instead.
    local ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=go-module-$version"
    cd "$ETCD_WRAPPER"
    go build -trimpath -ldflags "$ldflags" -o "$out/etcd" go.etcd.io/etcd/server/v3
    go build -trimpath -ldflags "$ldflags" -o "$out/etcdctl" go.etcd.io/etcd/etcdctl/v3
    go build -trimpath -ldflags "$ldflags" -o "$out/etcdutl" go.etcd.io/etcd/etcdutl/v3
    "$out/etcd" --version
}

tool_etcd() {
    local version dest
    version="$(required_version "$ETCD_WRAPPER" go.etcd.io/etcd/server/v3)"
    dest="$CACHE/etcd-$version"
    cached_build "etcd $version" "$dest" "$(inputs_hash "$ETCD_WRAPPER/go.mod" "$ETCD_WRAPPER/go.sum")" build_etcd "$version"
    local b; for b in etcd etcdctl etcdutl; do link "$dest/$b" "$b"; done
}

# ---------------------------------------------------------------- pulumi
PULUMI_WRAPPER="$ROOT/tools/pulumi"

# The CLI must be the release of the installed @pulumi/pulumi SDK.
pulumi_version() {
    local version npm
    version="$(required_version "$PULUMI_WRAPPER" github.com/pulumi/pulumi/pkg/v3)"
    npm="v$(npm_version @pulumi/pulumi)"
    [[ "$version" == "$npm" ]] ||
        die "tools/pulumi pins the CLI at $version but @pulumi/pulumi is $npm: run 'bash tools/generate.sh pulumi'"
    echo "$version"
}

build_pulumi() { # <out dir> <version>
    local out="$1" version="$2"
    cd "$PULUMI_WRAPPER"
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
        -o "$out/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    # Dynamic providers run through this launcher, which the CLI release ships
    # beside its binary; the engine looks there and on PATH.
    local sdk
    sdk="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
    install -m 0755 "$sdk/nodejs/dist/pulumi-resource-pulumi-nodejs" "$out/"
    "$out/pulumi" version
}

tool_pulumi() {
    local version dest
    version="$(pulumi_version)"
    dest="$CACHE/pulumi-$version"
    cached_build "pulumi $version" "$dest" "$(inputs_hash "$PULUMI_WRAPPER/go.mod" "$PULUMI_WRAPPER/go.sum")" build_pulumi "$version"
    link "$dest/pulumi" pulumi
    link "$dest/pulumi-resource-pulumi-nodejs" pulumi-resource-pulumi-nodejs
}

# ---------------------------------------------------------------- nodejs language host
# The language host that runs Pulumi programs written in TypeScript. Its own
# module (sdk/nodejs/cmd/pulumi-language-nodejs/v3) is refused by the module
# proxy at every version; until v3.68.0 the same program lived inside the
# sdk/v3 module, which is served. The gRPC protocol between the CLI and
# language hosts is stable, and this host works with the CLI built above
# (tested by the e2e suite: up, preview, destroy, dynamic providers).
LANGUAGE_HOST_WRAPPER="$ROOT/tools/language-host"

build_language_host() { # <out dir> <version>
    local out="$1" version="$2"
    cd "$LANGUAGE_HOST_WRAPPER"
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
        -o "$out/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
    test -x "$out/pulumi-language-nodejs"
}

tool_language_host() {
    local version dest
    version="$(required_version "$LANGUAGE_HOST_WRAPPER" github.com/pulumi/pulumi/sdk/v3)"
    dest="$CACHE/pulumi-language-nodejs-$version"
    cached_build "pulumi-language-nodejs $version" "$dest" \
        "$(inputs_hash "$LANGUAGE_HOST_WRAPPER/go.mod" "$LANGUAGE_HOST_WRAPPER/go.sum")" build_language_host "$version"
    link "$dest/pulumi-language-nodejs" pulumi-language-nodejs
}

# ---------------------------------------------------------------- Python language host
# pulumi-language-python lived in the sdk/v3 module up to v3.68.0 too, so it is
# built from the same wrapper as the Node.js host (no extra module), with
# pulumi-language-python-exec, the script it runs programs with, copied from
# the module beside it. v3.68.0 runs programs (Run) but has no GeneratePackage,
# so `pulumi package gen-sdk --language python` cannot generate SDKs with it.
build_language_python() { # <out dir> <version>
    local out="$1" version="$2" src
    cd "$LANGUAGE_HOST_WRAPPER"
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
        -o "$out/pulumi-language-python" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python
    src="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
    install -m 0755 "$src/python/cmd/pulumi-language-python-exec" "$out/pulumi-language-python-exec"
    test -x "$out/pulumi-language-python"
}

tool_language_python() {
    local version dest
    version="$(required_version "$LANGUAGE_HOST_WRAPPER" github.com/pulumi/pulumi/sdk/v3)"
    dest="$CACHE/pulumi-language-python-$version"
    cached_build "pulumi-language-python $version" "$dest" \
        "$(inputs_hash "$LANGUAGE_HOST_WRAPPER/go.mod" "$LANGUAGE_HOST_WRAPPER/go.sum")" build_language_python "$version"
    link "$dest/pulumi-language-python" pulumi-language-python
    link "$dest/pulumi-language-python-exec" pulumi-language-python-exec
}

# ---------------------------------------------------------------- YAML language host
# pulumi-language-yaml runs Pulumi YAML programs (examples/yaml-pki uses this
# package's components from YAML as a source-based plugin package). Its module
# github.com/pulumi/pulumi-yaml is served at tags; stamped with the tag, as
# upstream's .goreleaser.yml does.
LANGUAGE_YAML_WRAPPER="$ROOT/tools/language-yaml"

build_language_yaml() { # <out dir> <version>
    local out="$1" version="$2"
    cd "$LANGUAGE_YAML_WRAPPER"
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=$version" \
        -o "$out/pulumi-language-yaml" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
    test -x "$out/pulumi-language-yaml"
}

tool_language_yaml() {
    local version dest
    version="$(required_version "$LANGUAGE_YAML_WRAPPER" github.com/pulumi/pulumi-yaml)"
    dest="$CACHE/pulumi-language-yaml-$version"
    cached_build "pulumi-language-yaml $version" "$dest" \
        "$(inputs_hash "$LANGUAGE_YAML_WRAPPER/go.mod" "$LANGUAGE_YAML_WRAPPER/go.sum")" build_language_yaml "$version"
    link "$dest/pulumi-language-yaml" pulumi-language-yaml
}

# ---------------------------------------------------------------- kube-apiserver
KUBE_WRAPPER="$ROOT/tools/kube-apiserver"

# One field (Time, Origin.Hash) of a module version's proxy record; empty
# when the proxy did not record it.
module_info() { # <module@version> <field path, e.g. Origin.Hash>
    local info
    info="$(go mod download -json "$1" | node -p 'JSON.parse(require("fs").readFileSync(0)).Info')"
    node -e '
        let v = JSON.parse(require("fs").readFileSync(process.argv[1]));
        for (const k of process.argv[2].split(".")) v = v?.[k];
        console.log(v ?? "");' "$info" "$2"
}

# What upstream's hack/lib/version.sh stamps, from the release's own tag.
kube_version_ldflags() { # <version>
    local version="$1" commit date minor pkg ldflags=""
    commit="$(module_info "k8s.io/kubernetes@$version" Origin.Hash)"
    date="$(module_info "k8s.io/kubernetes@$version" Time)"
    minor="$(cut -d. -f2 <<<"$version")"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        # An empty commit beats the unexpanded "$Format:%H$" placeholder.
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=$commit"
    done
    echo "$ldflags"
}

build_kube_apiserver() { # <out dir> <version>
    local out="$1" version="$2"
    cd "$KUBE_WRAPPER"
    go build -trimpath -ldflags "-s -w $(kube_version_ldflags "$version")" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    "$out/kube-apiserver" --version
}

# Another program of the same Kubernetes release (kubectl, kube-controller-manager), built in
# a copy of the wrapper module: resolving its extra packages must not rewrite the pinned go.mod/go.sum.
build_kube_program() { # <out dir> <version> <program under k8s.io/kubernetes/cmd>
    local out="$1" version="$2" program="$3" work
    work="$(mktemp -d)"
    cp "$KUBE_WRAPPER/go.mod" "$KUBE_WRAPPER/go.sum" "$work/"
    cd "$work"
    go build -trimpath -ldflags "-s -w $(kube_version_ldflags "$version")" -o "$out/$program" "k8s.io/kubernetes/cmd/$program"
    cd "$ROOT" && rm -rf "$work"
    # kubeadm has neither --version nor `version --client`.
    "$out/$program" --version 2>/dev/null || "$out/$program" version --client 2>/dev/null || "$out/$program" version -o short
}

tool_kube_program() { # <program>
    local version dest
    version="$(required_version "$KUBE_WRAPPER" k8s.io/kubernetes)"
    dest="$CACHE/$1-$version"
    cached_build "$1 $version" "$dest" "$(inputs_hash "$KUBE_WRAPPER/go.mod" "$KUBE_WRAPPER/go.sum")" build_kube_program "$version" "$1"
    link "$dest/$1" "$1"
}

tool_kubectl() { tool_kube_program kubectl; }

# The garbage collector and namespace controller of a real cluster, beside the
# tests' throw-away kube-apiserver: the kubernetes provider deletes with
# foreground propagation, which only the garbage collector completes.
tool_kube_controller_manager() { tool_kube_program kube-controller-manager; }

# A real kubeadm node for the tests (test/support/kube-node.ts): the kubelet,
# kubeadm to lay out /etc/kubernetes, and the scheduler it runs as a static pod.
tool_kubelet() { tool_kube_program kubelet; }
tool_kube_scheduler() { tool_kube_program kube-scheduler; }
tool_kubeadm() { tool_kube_program kubeadm; }

# ---------------------------------------------------------------- pause
# PID 1 of every pod sandbox (registry.k8s.io/pause cannot be pulled): our own
# 30-line program in tools/pause, which waits for a signal and reaps children.
PAUSE_SOURCE="$ROOT/tools/pause"

build_pause() { # <out dir>
    cd "$PAUSE_SOURCE"
    go build -trimpath -ldflags "-s -w" -o "$1/pause" .
    test -x "$1/pause"
}

tool_pause() {
    local dest="$CACHE/pause"
    cached_build "pause (tools/pause)" "$dest" "$(inputs_hash "$PAUSE_SOURCE/go.mod" "$PAUSE_SOURCE/main.go")" build_pause
    link "$dest/pause" pause
}

tool_kube_apiserver() {
    local version dest
    version="$(required_version "$KUBE_WRAPPER" k8s.io/kubernetes)"
    dest="$CACHE/kube-apiserver-$version"
    cached_build "kube-apiserver $version" "$dest" "$(inputs_hash "$KUBE_WRAPPER/go.mod" "$KUBE_WRAPPER/go.sum")" build_kube_apiserver "$version"
    link "$dest/kube-apiserver" kube-apiserver
}

# ---------------------------------------------------------------- s3 (MinIO)
S3_WRAPPER="$ROOT/tools/s3"

build_s3() { # <out dir> <version>
    local out="$1" version="$2"
    cd "$S3_WRAPPER"
    # MinIO versions are commit times; take it and the commit from the
    # pseudo-version (vX.0.0-YYYYMMDDhhmmss-commit) as buildscripts/gen-ldflags.go would.
    local stamp="${version#*-}" commit="${version##*-}" when tag
    stamp="${stamp%%-*}"
    when="${stamp:0:4}-${stamp:4:2}-${stamp:6:2}T${stamp:8:2}:${stamp:10:2}:${stamp:12:2}Z"
    tag="DEVELOPMENT.${when//:/-}"
    local cmd=github.com/minio/minio/cmd
    go build -tags kqueue -trimpath -ldflags "-s -w -X $cmd.Version=$when -X $cmd.ReleaseTag=$tag \
        -X $cmd.CopyrightYear=${stamp:0:4} -X $cmd.CommitID=$commit -X $cmd.ShortCommitID=$commit" \
        -o "$out/minio" github.com/minio/minio
    "$out/minio" --version
}

tool_s3() {
    local version dest
    version="$(required_version "$S3_WRAPPER" github.com/minio/minio)"
    dest="$CACHE/minio-$version"
    cached_build "s3-server (minio) ${version##*-}" "$dest" "$(inputs_hash "$S3_WRAPPER/go.mod" "$S3_WRAPPER/go.sum")" build_s3 "$version"
    link "$dest/minio" minio
    link "$dest/minio" s3-server
}

# ---------------------------------------------------------------- promtool
PROMTOOL_WRAPPER="$ROOT/tools/promtool"

# Prometheus' promtool, for the test that runs EtcdBackup's alert rules
# (promtool check rules / test rules). Module v0.3XX.Y is Prometheus 3.XX.Y.
build_promtool() { # <out dir> <version>
    local out="$1" version="$2" minor patch
    cd "$PROMTOOL_WRAPPER"
    minor="${version#v0.3}"; patch="${minor#*.}"; minor="${minor%%.*}"
    local pv=github.com/prometheus/common/version
    # remove_all_sd (upstream's tag): no service-discovery plugins, which rule
    # checks and rule tests never use; a quarter of the build time.
    go build -tags remove_all_sd -trimpath -ldflags "-s -w -X $pv.Version=3.$((10#$minor)).$patch -X $pv.Branch=module-$version" \
        -o "$out/promtool" github.com/prometheus/prometheus/cmd/promtool
    "$out/promtool" --version
}

tool_promtool() {
    local version dest
    version="$(required_version "$PROMTOOL_WRAPPER" github.com/prometheus/prometheus)"
    dest="$CACHE/promtool-$version"
    cached_build "promtool $version" "$dest" "$(inputs_hash "$PROMTOOL_WRAPPER/go.mod" "$PROMTOOL_WRAPPER/go.sum")" build_promtool "$version"
    link "$dest/promtool" promtool
}

# ---------------------------------------------------------------- cfssl
CFSSL_WRAPPER="$ROOT/tools/cfssl"

# The real cfssl, for the test that compares src/pki with it.
build_cfssl() { # <out dir> <version>
    local out="$1" version="$2"
    cd "$CFSSL_WRAPPER"
    # What upstream's Makefile stamps: the tag without its "v".
    local ldflags="-s -w -X github.com/cloudflare/cfssl/cli/version.version=${version#v}"
    go build -trimpath -ldflags "$ldflags" -o "$out/cfssl" github.com/cloudflare/cfssl/cmd/cfssl
    go build -trimpath -ldflags "$ldflags" -o "$out/cfssljson" github.com/cloudflare/cfssl/cmd/cfssljson
    "$out/cfssl" version
}

tool_cfssl() {
    local version dest
    version="$(required_version "$CFSSL_WRAPPER" github.com/cloudflare/cfssl)"
    dest="$CACHE/cfssl-$version"
    cached_build "cfssl $version" "$dest" "$(inputs_hash "$CFSSL_WRAPPER/go.mod" "$CFSSL_WRAPPER/go.sum")" build_cfssl "$version"
    local b; for b in cfssl cfssljson; do link "$dest/$b" "$b"; done
}

# ---------------------------------------------------------------- kubernetes provider
# pulumi-resource-kubernetes, from the one provider commit the module proxy
# serves (tags are refused): upstream's v4.25.0 (tools/generate.sh). Its main
# package embeds schema-embed.json and terraform-mapping-embed.json, which
# upstream's generate.go writes from the committed schema with the version in
# it, so main.go and generate.go are copied from the module cache and run in a
# copy of the wrapper module, as upstream's Makefile does (`make provider`).
KUBERNETES_PROVIDER_WRAPPER="$ROOT/tools/kubernetes-provider"
KUBERNETES_PROVIDER_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4

# The release the pinned commit is, as tools.go records it ("Release vX.Y.Z = ...").
kubernetes_provider_release() {
    local release npm
    release="$(awk '$2 == "Release" { print $3; exit }' "$KUBERNETES_PROVIDER_WRAPPER/tools.go")"
    [[ "$release" == v* ]] || die "$KUBERNETES_PROVIDER_WRAPPER/tools.go does not record the provider release"
    npm="v$(npm_version @pulumi/kubernetes)"
    # The engine asks for the plugin at the npm package's version; the schema
    # embedded in the plugin and the SDK must be the same release.
    [[ "$release" == "$npm" ]] ||
        die "tools/kubernetes-provider builds $release but @pulumi/kubernetes is $npm: pin the npm package to ${release#v}"
    echo "$release"
}

build_kubernetes_provider() { # <out dir> <release>
    local out="$1" version="${2#v}" work src cmd=cmd/pulumi-resource-kubernetes
    work="$(mktemp -d)"
    cp "$KUBERNETES_PROVIDER_WRAPPER/go.mod" "$KUBERNETES_PROVIDER_WRAPPER/go.sum" "$KUBERNETES_PROVIDER_WRAPPER/tools.go" "$work/"
    cd "$work"
    # go list -m names the module's directory only once it is downloaded (a cold cache has nothing).
    go mod download "$KUBERNETES_PROVIDER_MODULE"
    src="$(go list -m -f '{{.Dir}}' "$KUBERNETES_PROVIDER_MODULE")"
    [[ -d "$src/$cmd" ]] || die "$KUBERNETES_PROVIDER_MODULE is not in the module cache ($src)"
    mkdir -p "$cmd"
    cp "$src/$cmd/main.go" "$src/$cmd/generate.go" "$src/$cmd/schema.json" "$src/$cmd/terraform-mapping.json" "$cmd/"
    chmod u+w "$cmd"/*
    (cd "$cmd" && VERSION="$version" go run generate.go)
    go build -trimpath -ldflags "-s -w -X $KUBERNETES_PROVIDER_MODULE/pkg/version.Version=$version" \
        -o "$out/pulumi-resource-kubernetes" "./$cmd"
    cd "$ROOT" && rm -rf "$work"
    test -x "$out/pulumi-resource-kubernetes"
}

tool_kubernetes_provider() {
    local release dest
    release="$(kubernetes_provider_release)"
    dest="$CACHE/pulumi-resource-kubernetes-$release"
    cached_build "pulumi-resource-kubernetes $release" "$dest" \
        "$(inputs_hash "$KUBERNETES_PROVIDER_WRAPPER/go.mod" "$KUBERNETES_PROVIDER_WRAPPER/go.sum" "$KUBERNETES_PROVIDER_WRAPPER/tools.go")" \
        build_kubernetes_provider "$release"
    link "$dest/pulumi-resource-kubernetes" pulumi-resource-kubernetes
    # Where the engine looks with automatic plugin acquisition off.
    local installed="$PULUMI_PLUGINS/resource-kubernetes-$release/pulumi-resource-kubernetes"
    if ! cmp -s "$dest/pulumi-resource-kubernetes" "$installed"; then
        [[ -x "$BIN/pulumi" ]] || tool_pulumi
        "$BIN/pulumi" plugin install resource kubernetes "${release#v}" --file "$dest/pulumi-resource-kubernetes" >/dev/null
    fi
    cmp -s "$dest/pulumi-resource-kubernetes" "$installed" || die "pulumi plugin install did not put the plugin at $installed"
}

# ---------------------------------------------------------------- plugins
# The engine asks for the resource plugins at exactly the npm packages'
# versions. The docker and command providers' Go modules are refused by the
# module proxy at every version tried (see tools/README.md), so they cannot
# be built here: this target only checks whether they are installed (e.g.
# copied in by hand) and fails loudly when they are not. It is not part of `all`.
tool_plugins() {
    local name version missing=()
    for name in kubernetes command docker; do
        version="$(npm_version "@pulumi/$name")"
        if [[ -x "$PULUMI_PLUGINS/resource-$name-v$version/pulumi-resource-$name" ]]; then
            printf '%-34s present        %s\n' "plugin $name v$version" "$PULUMI_PLUGINS/resource-$name-v$version"
        else
            missing+=("resource-$name-v$version")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] || die "resource plugins missing from $PULUMI_PLUGINS: ${missing[*]}.
  kubernetes: 'bash scripts/tools.sh kubernetes-provider' builds it. command and docker cannot be
  built offline: the module proxy refuses their provider modules (see tools/README.md). Install them
  with 'pulumi plugin install resource NAME VERSION --file PATH' from a machine that has them."
}

# ---------------------------------------------------------------- main
ALL_TOOLS=(etcd pulumi language-host language-python language-yaml kube-apiserver kubectl kube-controller-manager kubelet kube-scheduler kubeadm pause s3 cfssl promtool kubernetes-provider)

main() {
    local tools=("$@") started=$SECONDS
    [[ ${#tools[@]} -gt 0 ]] || tools=(all)
    [[ " ${tools[*]} " == *" all "* ]] && tools=("${ALL_TOOLS[@]}")
    local t
    for t in "${tools[@]}"; do
        declare -F "tool_${t//-/_}" >/dev/null || die "unknown tool '$t' (known: all ${ALL_TOOLS[*]} plugins)"
    done
    for t in "${tools[@]}"; do "tool_${t//-/_}"; done
    printf '%-34s total    %4ds  bin: %s\n' "all requested tools" $((SECONDS - started)) "$BIN"
}

main "$@"

#!/usr/bin/env bash
# Builds etcd, the control plane (kube-apiserver, kube-controller-manager, kube-scheduler)
# and the node (kubelet, kube-proxy) from the Go module proxy at one pinned Kubernetes
# version, and caches them outside git.
#
# Why from source: these machines have no Docker engine and cannot download prebuilt
# release binaries, but the Go module proxy serves k8s.io/kubernetes and etcd.
# k8s.io/kubernetes points its staging modules at ./staging/src/...; those paths do not
# exist in the module zip, so we write one `replace` per staging module onto its
# published twin (k8s.io/api v0.36.3 for Kubernetes v1.36.3), derived from that
# version's own go.mod so a version bump needs no hand edits.
#
# Prints the directory holding the binaries on its last line. Idempotent: a cached
# build is reused. Honours KUBEBUILDER_ASSETS (envtest's convention) when it is set.
set -euo pipefail

K8S_VERSION="${MLSECRETS_K8S_VERSION:-v1.36.3}"
CACHE_ROOT="${MLSECRETS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsecrets}"
OUT="$CACHE_ROOT/k8s/$K8S_VERSION"
COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
BINARIES=(etcd "${COMMANDS[@]}")

log() { echo "[control-plane] $*" >&2; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  for b in etcd kube-apiserver; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] || { log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no $b"; exit 1; }
  done
  log "using binaries from KUBEBUILDER_ASSETS"
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

have_all() { for b in "${BINARIES[@]}"; do [ -x "$OUT/bin/$b" ] || return 1; done; }
if have_all; then
  log "reusing cached $K8S_VERSION binaries in $OUT/bin"
  echo "$OUT/bin"
  exit 0
fi

command -v go >/dev/null || { log "Go >= 1.24 is needed to build the control plane"; exit 1; }
mkdir -p "$OUT/src" "$OUT/bin"
cd "$OUT/src"
# Serialise concurrent builds (two test runs at once) on one lock.
exec 9>"$OUT/.build.lock"
flock 9
if have_all; then echo "$OUT/bin"; exit 0; fi

start=$(date +%s)
minor="${K8S_VERSION#v1.}"            # 36.3
staging_version="v0.${minor}"         # v0.36.3
export GOFLAGS="-mod=mod"
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

log "resolving k8s.io/kubernetes@$K8S_VERSION"
upstream_mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
[ -f "$upstream_mod" ] || { log "could not download k8s.io/kubernetes@$K8S_VERSION go.mod"; exit 1; }
go_directive=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream_mod")

{
  echo "module mlsecrets.local/controlplane"
  echo
  echo "go $go_directive"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  # Every `k8s.io/X => ./staging/src/k8s.io/X` becomes `k8s.io/X => k8s.io/X v0.MINOR.PATCH`.
  # sample-* modules are examples the proxy does not always serve and nothing we build imports.
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#\1#p' "$upstream_mod" |
    grep -v '^k8s.io/sample-' |
    while read -r m; do echo "	$m => $m $staging_version"; done
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

// Package tools pins the commands this module builds.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO

log "downloading modules (first run only)"
# etcd's server module is already in Kubernetes' graph (indirect) at the version Kubernetes
# tests with; pin exactly that one so `go get` upgrades nothing Kubernetes depends on.
etcd_version=$(sed -n 's#^\s*go.etcd.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$upstream_mod")
[ -n "$etcd_version" ] || { log "no etcd server version in Kubernetes' go.mod"; exit 1; }
go get "k8s.io/kubernetes@$K8S_VERSION" "go.etcd.io/etcd/server/v3@$etcd_version" >&2
log "building with $(go version) (etcd $etcd_version); this takes a while on a cold cache"

vpkg="k8s.io/component-base/version"
ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=${minor%%.*} -X $vpkg.gitTreeState=clean"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
for cmd in "${COMMANDS[@]}"; do
  # A cache from before the node was added holds the control plane already: keep it.
  [ -x "$OUT/bin/$cmd" ] && continue
  log "go build $cmd"
  go build -trimpath -ldflags "$ldflags" -o "$OUT/bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
  mv "$OUT/bin/$cmd.tmp" "$OUT/bin/$cmd"
done
[ -x "$OUT/bin/etcd" ] || {
log "go build etcd"
go build -trimpath -ldflags "-s -w" -o "$OUT/bin/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
mv "$OUT/bin/etcd.tmp" "$OUT/bin/etcd"
}

echo "{\"kubernetes\":\"$K8S_VERSION\",\"etcd\":\"$etcd_version\",\"go\":\"$(go env GOVERSION)\",\"buildSeconds\":$(( $(date +%s) - start ))}" > "$OUT/build-info.json"
log "built in $(( $(date +%s) - start ))s: $(cat "$OUT/build-info.json")"
echo "$OUT/bin"

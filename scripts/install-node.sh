#!/usr/bin/env bash
# Installs what the test node runs besides the Kubernetes binaries (scripts/build-control-plane.sh
# builds those): containerd, runc and the CNI plugins, nftables and iptables for the network and
# kube-proxy, busybox for the smallest image, and buildah and skopeo to build images without a
# Docker engine. All from Debian's packages; a second run only checks. Needs root (apt-get).
set -euo pipefail

log() { echo "[install-node] $*" >&2; }

# command or file -> Debian package
declare -A NEEDS=(
  [containerd]=containerd
  [runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins
  [nft]=nftables
  [iptables]=iptables
  [conntrack]=conntrack
  [/bin/busybox]=busybox-static
  [buildah]=buildah
  [skopeo]=skopeo
)

missing=()
for need in "${!NEEDS[@]}"; do
  if [[ $need == /* ]]; then [[ -e $need ]] && continue; else command -v "$need" >/dev/null && continue; fi
  missing+=("${NEEDS[$need]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "containerd, runc, CNI plugins, nftables, buildah: installed"
  exit 0
fi
[ "$(id -u)" = 0 ] || { log "installing ${missing[*]} needs root"; exit 1; }
log "apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq "${missing[@]}" >&2
log "installed ${missing[*]}"

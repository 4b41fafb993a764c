#!/usr/bin/env bash
# `npm run image`: the operator image, from ./Dockerfile, named mlsecrets:<the chart's
# appVersion> (the chart's default image). Where a Docker engine answers, `docker build` puts it
# in that engine; without one, buildah builds it into an OCI archive in the cache
# (scripts/build-images.sh) for `ctr -n k8s.io images import`. Prints the image's name and size.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n "s/^appVersion: *['\"]\{0,1\}\([^'\"]*\).*/\1/p" charts/mlsecrets/Chart.yaml)
name="mlsecrets:$version"

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker build -t "$name" .
  bytes=$(docker image inspect --format '{{.Size}}' "$name")
  echo "$name (docker): $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB"
else
  images=$(bash scripts/build-images.sh mlsecrets | sed -n 's/^IMAGES=//p')
  archive="$images/mlsecrets.tar"
  bytes=$(stat -c %s "$archive")
  echo "docker.io/library/$name (OCI archive $archive): $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB"
fi

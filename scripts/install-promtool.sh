#!/usr/bin/env bash
# Installs promtool (from Debian's prometheus package, extracted without installing the
# server) into the cache outside git, for the alert-rule tests. Prints its path last.
set -euo pipefail
CACHE_ROOT="${MLSECRETS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsecrets}"
DIR="$CACHE_ROOT/tools/promtool"
log() { echo "[install-promtool] $*" >&2; }

if [ -x "$DIR/promtool" ]; then
  log "reusing cached $DIR/promtool"
  echo "$DIR/promtool"
  exit 0
fi
if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
[ -x "$DIR/promtool" ] && { echo "$DIR/promtool"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download prometheus >/dev/null 2>&1; then
  log "package lists are empty or stale: apt-get update"
  apt-get update >/dev/null
  apt-get download prometheus >/dev/null
fi
dpkg-deb -x prometheus_*.deb extracted
install -m 0755 extracted/usr/bin/promtool "$DIR/promtool"
log "installed $("$DIR/promtool" --version 2>&1 | head -1)"
echo "$DIR/promtool"

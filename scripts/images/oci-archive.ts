// Writes an OCI image archive that `ctr -n k8s.io images import FILE` loads under a given name,
// without a Docker engine or a registry (scripts/build-images.sh builds the test images with it).
//
//   node scripts/images/oci-archive.ts --rootfs DIR --name REF --out FILE
//        [--entrypoint JSON] [--cmd JSON] [--env K=V ...] [--workdir DIR] [--user USER]
//     one uncompressed layer holding DIR, owners kept as numbers
//   node scripts/images/oci-archive.ts --layout DIR --name REF --out FILE
//     an existing single-image OCI layout (`buildah push IMAGE oci:DIR`), named REF; rewrites
//     DIR's index.json in place rather than copying hundreds of MiB of layers
//
// containerd 1.6 names an imported image after its io.containerd.image.name annotation; the
// standard org.opencontainers.image.ref.name alone is dropped unless it starts with ctr's
// --base-name, so both are written. A root file system packs to the same bytes on every run.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};
// The epoch: image bytes must not depend on when they were built.
const EPOCH = '1970-01-01T00:00:00Z';
const DETERMINISTIC_TAR = ['--sort=name', '--mtime=@0', '--numeric-owner', '--format=gnu'];
// The images hold this machine's binaries (node, busybox), so they are for its architecture.
const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x' };
const platform = { architecture: GOARCH[process.arch] ?? process.arch, os: 'linux' };

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

const { values: args } = parseArgs({
  options: {
    rootfs: { type: 'string' },
    layout: { type: 'string' },
    name: { type: 'string' },
    out: { type: 'string' },
    entrypoint: { type: 'string' },
    cmd: { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
    workdir: { type: 'string', default: '/' },
    user: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(`oci-archive: ${message}`);
  process.exit(2);
}

/** The tag of a reference such as localhost/pause:3.10 (a registry port is not a tag). */
function tagOf(ref: string): string {
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  return last.includes(':') ? last.slice(last.indexOf(':') + 1) : 'latest';
}

function jsonArray(flag: string, text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // reported below
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    fail(`--${flag} must be a JSON array of strings, got ${text}`);
  }
  return value;
}

function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, chunk)) > 0;) hash.update(chunk.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Stores a JSON document as a blob of the layout in `dir`. */
function putJson(dir: string, mediaType: string, doc: unknown): Descriptor {
  const bytes = Buffer.from(JSON.stringify(doc));
  const hex = createHash('sha256').update(bytes).digest('hex');
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

/** Builds the layout of a one-layer image of `rootfs` in `dir`; returns its manifest. */
function layoutFromRootfs(rootfs: string, dir: string): Descriptor {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const layerFile = path.join(dir, 'layer.tar');
  execFileSync('tar', [...DETERMINISTIC_TAR, '-cf', layerFile, '-C', rootfs, '.']);
  // Uncompressed, so the layer's digest is also its diff_id and import needs no gunzip.
  const layerHex = sha256File(layerFile);
  const layer = { mediaType: MEDIA.layer, digest: `sha256:${layerHex}`, size: fs.statSync(layerFile).size };
  fs.renameSync(layerFile, path.join(blobs, layerHex));

  const config = putJson(dir, MEDIA.config, {
    created: EPOCH,
    architecture: platform.architecture,
    os: platform.os,
    config: {
      Env: args.env,
      WorkingDir: args.workdir,
      ...(entrypoint && { Entrypoint: entrypoint }),
      ...(cmd && { Cmd: cmd }),
      ...(args.user && { User: args.user }),
    },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
    history: [{ created: EPOCH, created_by: 'scripts/images/oci-archive.ts' }],
  });
  return putJson(dir, MEDIA.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config,
    layers: [layer],
  });
}

/** The single manifest of an existing layout in `dir`. */
function manifestOfLayout(dir: string): Descriptor {
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as {
    manifests?: Descriptor[];
  };
  const manifests = index.manifests ?? [];
  if (manifests.length !== 1) fail(`${dir} holds ${manifests.length} images, expected one`);
  return manifests[0]!;
}

const { name, out } = args;
if (!name || !out || !args.rootfs === !args.layout) {
  fail('usage: oci-archive.ts (--rootfs DIR | --layout DIR) --name REF --out FILE [options]');
}
// Checked before anything is written: fail() exits without unwinding.
const entrypoint = jsonArray('entrypoint', args.entrypoint);
const cmd = jsonArray('cmd', args.cmd);
const outFile = path.resolve(out);
// Beside the output: the same file system, so the layer is renamed into place, not copied.
const scratch = args.rootfs ? fs.mkdtempSync(path.join(path.dirname(outFile), '.oci-archive-')) : undefined;
try {
  const dir = scratch ?? path.resolve(args.layout!);
  const manifest = scratch ? layoutFromRootfs(path.resolve(args.rootfs!), scratch) : manifestOfLayout(dir);
  manifest.platform ??= platform;
  manifest.annotations = {
    ...manifest.annotations,
    'io.containerd.image.name': name,
    'org.opencontainers.image.ref.name': tagOf(name),
  };
  const index = { schemaVersion: 2, mediaType: MEDIA.index, manifests: [manifest] };
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const tmp = `${outFile}.tmp`;
  const files = ['oci-layout', 'index.json', 'blobs'];
  execFileSync('tar', [...DETERMINISTIC_TAR, '--owner=0', '--group=0', '-cf', tmp, '-C', dir, ...files]);
  fs.renameSync(tmp, outFile);
  console.error(`oci-archive: ${outFile}: ${name} (manifest ${manifest.digest})`);
} finally {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
}

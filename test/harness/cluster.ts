// The harness's cluster: the control plane, and with `node` a real node that runs pods.
// Integration tests, end-to-end tests, `npm run cluster:up` and `npm run demo` start it here.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ensureControlPlaneBinaries, startControlPlane, type ControlPlane } from './control-plane.ts';
import { claimHost, NETWORK, nodeToolsMissing, nodeUnsupportedReason, releaseHost } from './node/host.ts';
import { startNode, type Node } from './node/node.ts';

export interface Cluster {
  readonly controlPlane: ControlPlane;
  /** Present when the cluster was started with a node. */
  readonly node?: Node;
  readonly kubeconfigPath: string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  repoRoot: string;
  dir: string;
  node: boolean;
  dieWithParent?: boolean;
  log?: (line: string) => void;
}

/** Where slow builds and downloads are kept between runs, outside git. */
export function cacheRoot(): string {
  return (
    process.env.MLSECRETS_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'mlsecrets')
  );
}

/** Builds or reuses the images the node runs (scripts/build-images.sh) and returns their directory. */
export function ensureImages(repoRoot: string): string {
  const out = execFileSync('bash', [path.join(repoRoot, 'scripts', 'build-images.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const line = out
    .trim()
    .split('\n')
    .findLast((l) => l.startsWith('IMAGES='));
  if (!line) throw new Error('scripts/build-images.sh printed no IMAGES= line');
  return line.slice('IMAGES='.length);
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { repoRoot, dir } = options;
  const log = options.log ?? ((line: string) => console.log(line));
  const binDir = ensureControlPlaneBinaries(repoRoot);
  if (!options.node) {
    const controlPlane = await startControlPlane({ binDir, dir, dieWithParent: options.dieWithParent, log });
    return { controlPlane, kubeconfigPath: controlPlane.kubeconfigPath, stop: () => controlPlane.stop() };
  }

  const unsupported = nodeUnsupportedReason();
  if (unsupported) throw new Error(unsupported);
  execFileSync('bash', [path.join(repoRoot, 'scripts', 'install-node.sh')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const missing = nodeToolsMissing();
  if (missing) throw new Error(missing);
  const imagesDir = ensureImages(repoRoot);
  const begin = Date.now();
  const nodeDir = path.join(dir, 'node');
  claimHost(nodeDir);
  let controlPlane: ControlPlane | undefined;
  try {
    controlPlane = await startControlPlane({
      binDir,
      dir: path.join(dir, 'control-plane'),
      dieWithParent: options.dieWithParent,
      log,
      node: { address: NETWORK.hostAddress },
    });
    const node = await startNode({
      controlPlane,
      binDir,
      imagesDir,
      dir: nodeDir,
      cacheDir: path.join(cacheRoot(), 'node'),
      dieWithParent: options.dieWithParent,
      log,
    });
    log(`[harness] cluster with node ${node.name} up in ${((Date.now() - begin) / 1000).toFixed(1)}s`);
    const cp = controlPlane;
    return {
      controlPlane: cp,
      node,
      kubeconfigPath: cp.kubeconfigPath,
      async stop() {
        await node.stop();
        // kube-apiserver serves on the bridge's address and deletes its endpoint lease through
        // it on the way out: the host network goes last.
        await cp.stop();
        releaseHost();
      },
    };
  } catch (error) {
    await controlPlane?.stop();
    releaseHost();
    throw error;
  }
}

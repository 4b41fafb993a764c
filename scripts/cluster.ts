// `npm run cluster:up` / `npm run cluster:down`: the tests' cluster in the background, for the
// demo and for developers: the control plane and, where this machine can run one (Linux, root),
// a real node that runs pods. `--no-node` starts the control plane alone, on loopback.
// Idempotent: `up` on a running cluster only prints its kubeconfig; `down` on none does nothing.
import fs from 'node:fs';
import path from 'node:path';
import { startCluster } from '../test/harness/cluster.ts';
import { removeContainers } from '../test/harness/node/containerd.ts';
import { nodeUnsupportedReason, releaseHost, setHostOwner } from '../test/harness/node/host.ts';
import { isAlive, stopPid } from '../test/harness/process.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const clusterDir = path.join(repoRoot, '.cache', 'cluster');
const stateFile = path.join(clusterDir, 'state.json');
const kubeconfigLink = path.join(repoRoot, '.cache', 'kubeconfig');

interface ClusterState {
  /** In start order: the control plane's, then the node's. */
  pids: { name: string; pid: number }[];
  apiServerUrl: string;
  /** containerd's socket, when a node runs. */
  containerdSocket?: string;
}

function readState(): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

async function up(withNode: boolean): Promise<void> {
  const state = readState();
  if (state && state.pids.every((p) => isAlive(p.pid))) {
    console.error(`cluster already running at ${state.apiServerUrl}`);
    console.log(kubeconfigLink);
    return;
  }
  if (state) await down(); // half-dead: clean up before starting afresh
  if (withNode) {
    const unsupported = nodeUnsupportedReason();
    if (unsupported) {
      console.error(`${unsupported}; run \`npm run cluster:up -- --no-node\` for the control plane alone`);
      process.exit(1);
    }
  }
  fs.rmSync(clusterDir, { recursive: true, force: true });
  const cluster = await startCluster({
    repoRoot,
    dir: clusterDir,
    node: withNode,
    dieWithParent: false,
    log: (l) => console.error(l),
  });
  const processes = [...cluster.controlPlane.processes, ...(cluster.node?.processes ?? [])];
  const next: ClusterState = {
    pids: processes.map((p) => ({ name: p.name, pid: p.pid })),
    apiServerUrl: cluster.controlPlane.apiServerUrl,
    containerdSocket: cluster.node?.containerd.socket,
  };
  // This command exits now: the node belongs to the kubelet's life, not to this process.
  const kubelet = cluster.node?.processes.find((p) => p.name === 'kubelet');
  if (kubelet) setHostOwner(kubelet.pid);
  fs.writeFileSync(stateFile, JSON.stringify(next, null, 2));
  fs.copyFileSync(cluster.kubeconfigPath, kubeconfigLink);
  fs.chmodSync(kubeconfigLink, 0o600);
  console.error(
    `cluster running at ${cluster.controlPlane.apiServerUrl}${cluster.node ? ` with node ${cluster.node.name}` : ''}; ` +
      `logs in ${clusterDir}`,
  );
  console.log(kubeconfigLink);
}

async function down(): Promise<void> {
  const state = readState();
  if (!state) {
    console.error('no cluster running');
    releaseHost(); // a node whose record was lost still gets its host settings back
    return;
  }
  const stop = async (name: string, pid: number) => {
    await stopPid(pid);
    console.error(`[harness] ${name} stopped pid=${pid}`);
  };
  const reversed = [...state.pids].reverse();
  // The node's processes first, then its containers (containerd must still answer), then the
  // control plane.
  for (const { name, pid } of reversed.filter((p) =>
    ['kube-proxy', 'kubelet', 'kube-scheduler'].includes(p.name),
  )) {
    await stop(name, pid);
  }
  if (state.containerdSocket) removeContainers(state.containerdSocket);
  for (const { name, pid } of reversed.filter(
    (p) => !['kube-proxy', 'kubelet', 'kube-scheduler'].includes(p.name),
  )) {
    await stop(name, pid);
  }
  releaseHost();
  fs.rmSync(stateFile, { force: true });
  fs.rmSync(kubeconfigLink, { force: true });
}

const [command, ...flags] = process.argv.slice(2);
if (command === 'up') await up(!flags.includes('--no-node'));
else if (command === 'down') await down();
else {
  console.error('usage: cluster.ts up [--no-node] | down');
  process.exit(2);
}

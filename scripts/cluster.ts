// `npm run cluster:up` / `npm run cluster:down`: the tests' control plane (etcd, kube-apiserver,
// kube-controller-manager) on loopback, in the background, for the demo and for developers.
// Idempotent: `up` on a running cluster only prints its kubeconfig; `down` on none does nothing.
import fs from 'node:fs';
import path from 'node:path';
import { ensureControlPlaneBinaries, startControlPlane } from '../test/harness/control-plane.ts';
import { isAlive, stopPid } from '../test/harness/process.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const clusterDir = path.join(repoRoot, '.cache', 'cluster');
const stateFile = path.join(clusterDir, 'state.json');
const kubeconfigLink = path.join(repoRoot, '.cache', 'kubeconfig');

interface ClusterState {
  pids: { name: string; pid: number }[];
  apiServerUrl: string;
}

function readState(): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

async function up(): Promise<void> {
  const state = readState();
  if (state && state.pids.every((p) => isAlive(p.pid))) {
    console.error(`control plane already running at ${state.apiServerUrl}`);
    console.log(kubeconfigLink);
    return;
  }
  if (state) await down(); // half-dead: clean up before starting afresh
  const binDir = ensureControlPlaneBinaries(repoRoot);
  fs.rmSync(clusterDir, { recursive: true, force: true });
  const cp = await startControlPlane({
    binDir,
    dir: clusterDir,
    dieWithParent: false,
    log: (l) => console.error(l),
  });
  const next: ClusterState = {
    pids: cp.processes.map((p) => ({ name: p.name, pid: p.pid })),
    apiServerUrl: cp.apiServerUrl,
  };
  fs.writeFileSync(stateFile, JSON.stringify(next, null, 2));
  fs.copyFileSync(cp.kubeconfigPath, kubeconfigLink);
  fs.chmodSync(kubeconfigLink, 0o600);
  console.error(`control plane running at ${cp.apiServerUrl}; logs in ${path.join(clusterDir, 'logs')}`);
  console.log(kubeconfigLink);
}

async function down(): Promise<void> {
  const state = readState();
  if (!state) {
    console.error('no control plane running');
    return;
  }
  for (const { name, pid } of [...state.pids].reverse()) {
    await stopPid(pid);
    console.error(`[harness] ${name} stopped pid=${pid}`);
  }
  fs.rmSync(stateFile, { force: true });
  fs.rmSync(kubeconfigLink, { force: true });
}

const command = process.argv[2];
if (command === 'up') await up();
else if (command === 'down') await down();
else {
  console.error('usage: cluster.ts up|down');
  process.exit(2);
}

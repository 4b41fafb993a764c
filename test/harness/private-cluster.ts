// A fault test's own control plane with the CRDs installed and its namespaces created: fault
// tests kill, pause or slow what they run on, so they never share it with another file.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  ensureControlPlaneBinaries,
  startControlPlane,
  type ControlPlane,
  type ControlPlaneOptions,
} from './control-plane.ts';
import { scanClusterBeforeStop } from './leak-run.ts';
import { clients, type Clients } from './resources.ts';
import { OPERATOR_NAMESPACE } from './test-env.ts';

export interface PrivateCluster {
  cp: ControlPlane;
  /** The cluster's own directory (control plane state and logs); a test may keep its logs here. */
  dir: string;
  kc: k8s.KubeConfig;
  c: Clients;
  /**
   * Records this cluster's Events and mlsecrets status for the run's leak scan (the faults
   * project's global teardown fails the run on a hit), stops the control plane and removes
   * its directory (kept, and its path printed, with KEEP_FAULT_LOGS=1 for a post-mortem).
   */
  stop(): Promise<void>;
}

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

/** Starts a control plane, applies crds/ and creates the operator's namespace and `namespaces`. */
export async function startPrivateCluster(
  namespaces: string[],
  options: Partial<Pick<ControlPlaneOptions, 'etcdProxy'>> & { prefix?: string } = {},
): Promise<PrivateCluster> {
  const { prefix = 'mlsecrets-fault-', ...controlPlane } = options;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const cp = await startControlPlane({ binDir: ensureControlPlaneBinaries(repoRoot), dir, ...controlPlane });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const c = clients(kc);
  const crds = path.join(repoRoot, 'crds');
  // Not execFileSync: a proxy of this process (etcdProxy) must keep serving meanwhile.
  const kubectl = (...args: string[]) =>
    promisify(execFile)('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args]);
  await kubectl('apply', '-f', crds);
  await kubectl('wait', '--for=condition=Established', '-f', crds);
  for (const name of [OPERATOR_NAMESPACE, ...namespaces])
    await c.core.createNamespace({ body: { metadata: { name } } });
  return {
    cp,
    dir,
    kc,
    c,
    async stop() {
      try {
        await scanClusterBeforeStop(kc, `${path.basename(dir)} cluster`);
      } finally {
        // Stopped even when the scan fails: a control plane left running keeps jest from exiting.
        await cp.stop();
        if (process.env.KEEP_FAULT_LOGS) console.log(`[fault] logs kept in ${dir}`);
        else fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

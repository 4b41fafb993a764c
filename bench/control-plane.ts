// The benchmarks' control plane: the test harness's, with kube-apiserver flags of their own.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  ensureControlPlaneBinaries,
  startControlPlane,
  type ControlPlane,
} from '../test/harness/control-plane.ts';

/** Builds (or reuses) the binaries and starts etcd, kube-apiserver and kube-controller-manager in `dir`. */
export function startBenchControlPlane(
  repoRoot: string,
  dir: string,
  log: (line: string) => void,
): Promise<ControlPlane> {
  const binDir = ensureControlPlaneBinaries(repoRoot);
  return startControlPlane({
    binDir,
    dir,
    dieWithParent: true,
    log,
    apiServerArgs: quietApiServerArgs(binDir),
  });
}

/**
 * kube-apiserver 1.34+ checks every watch cache against etcd every 5 to 7.5 minutes per
 * resource (DetectCacheInconsistency: a full list from etcd and a decode of every object, ~1
 * CPU-s per 10,000 objects here), at moments neither the floor nor the operator chooses:
 * profiled, one took a fifth of the API server's CPU in a 2.6-s rotation window. Off in the
 * bench, so each phase measures its own work; not passed to an older kube-apiserver
 * (KUBEBUILDER_ASSETS) that does not know the gate.
 */
function quietApiServerArgs(binDir: string): string[] {
  const help = execFileSync(path.join(binDir, 'kube-apiserver'), ['--help'], { encoding: 'utf8' });
  return help.includes('DetectCacheInconsistency=') ? ['--feature-gates=DetectCacheInconsistency=false'] : [];
}

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureControlPlaneBinaries, startControlPlane, type ControlPlane } from './control-plane.ts';
import { startGcpEmulator, startMoto, type Emulator } from './emulators.ts';
import { beginLeakRun } from './leak-run.ts';
import { OPERATOR_NAMESPACE, TEST_ENV } from './test-env.ts';

/** What global-teardown needs to stop; jest shares globalThis between the two. */
export interface HarnessState {
  controlPlane: ControlPlane;
  emulators: Emulator[];
  dir: string;
}

declare global {
  var mlsecretsHarness: HarnessState | undefined;
}

/**
 * Starts one control plane and one instance of each store emulator for the whole run.
 * Test files share them and isolate themselves (own namespaces, emulator reset per file);
 * workers learn the addresses from environment variables, which jest passes on.
 */
export default async function globalSetup(): Promise<void> {
  const begin = Date.now();
  console.log(`\n[harness] node ${process.version}`);
  const repoRoot = path.resolve(import.meta.dirname, '..', '..');
  const binDir = ensureControlPlaneBinaries(repoRoot);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-test-'));
  const state: HarnessState = { dir, emulators: [], controlPlane: undefined as unknown as ControlPlane };
  globalThis.mlsecretsHarness = state;
  // The suite-wide leak scan's files live in the run's directory (scanned at global teardown).
  beginLeakRun('integration', dir);
  const [controlPlane, moto, gcp] = await Promise.all([
    startControlPlane({ binDir, dir: path.join(dir, 'control-plane') }),
    startMoto(path.join(dir, 'logs')),
    startGcpEmulator(path.join(dir, 'logs')),
  ]);
  state.controlPlane = controlPlane;
  state.emulators = [moto, gcp];
  process.env[TEST_ENV.kubeconfig] = controlPlane.kubeconfigPath;
  process.env[TEST_ENV.binDir] = binDir;
  process.env[TEST_ENV.workDir] = dir;
  process.env[TEST_ENV.motoEndpoint] = moto.endpoint;
  process.env[TEST_ENV.gcpEndpoint] = gcp.endpoint;
  // CRDs and the operator's namespace, as an install would leave them.
  execFileSync(
    'kubectl',
    ['--kubeconfig', controlPlane.kubeconfigPath, 'apply', '-f', path.join(repoRoot, 'crds')],
    {
      stdio: 'ignore',
    },
  );
  execFileSync(
    'kubectl',
    ['--kubeconfig', controlPlane.kubeconfigPath, 'create', 'namespace', OPERATOR_NAMESPACE],
    {
      stdio: 'ignore',
    },
  );
  execFileSync(
    'kubectl',
    [
      '--kubeconfig',
      controlPlane.kubeconfigPath,
      'wait',
      '--for=condition=Established',
      '--timeout=30s',
      '-f',
      path.join(repoRoot, 'crds'),
    ],
    { stdio: 'ignore' },
  );
  console.log(
    `[harness] control plane and emulators ready in ${((Date.now() - begin) / 1000).toFixed(1)}s (logs: ${dir})`,
  );
}

import fs from 'node:fs';
import { clusterOutputs, finishLeakRun, isLeakRunOwner, leakDir } from './leak-run.ts';
import { testKubeConfig } from './kube.ts';

/**
 * Runs the suite-wide leak scan while the control plane still runs (Events and status of the
 * whole cluster, plus every log, audit record, scrape and error the run recorded), then stops
 * everything global-setup started and removes its working directory. A leak fails the run:
 * the error thrown here makes jest exit non-zero.
 */
export default async function globalTeardown(): Promise<void> {
  const state = globalThis.mlsecretsHarness;
  if (!state) return;
  let scanError: unknown;
  try {
    const dir = leakDir();
    if (dir && isLeakRunOwner('integration')) finishLeakRun(dir, await clusterOutputs(testKubeConfig()));
  } catch (error) {
    scanError = error;
  }
  await Promise.all(state.emulators.map((e) => e.stop()));
  await state.controlPlane?.stop();
  if (scanError) throw scanError;
  // Keep logs of a failed run for reading; a green run leaves nothing behind.
  if (process.env.MLSECRETS_KEEP_TEST_DIR !== '1') fs.rmSync(state.dir, { recursive: true, force: true });
}

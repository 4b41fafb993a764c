import fs from 'node:fs';
import { finishLeakRun, isLeakRunOwner, leakDir } from './leak-run.ts';

/** Scans everything the fault files recorded; throws (the run fails) on one leaked value. */
export default function faultsGlobalTeardown(): void {
  const dir = leakDir();
  if (!dir || !isLeakRunOwner('faults')) return;
  finishLeakRun(dir);
  if (process.env.MLSECRETS_KEEP_TEST_DIR !== '1') fs.rmSync(dir, { recursive: true, force: true });
}

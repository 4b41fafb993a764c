import fs from 'node:fs';
import { finishLeakRun, isLeakRunOwner, leakDir } from './leak-run.ts';

/** Scans everything the e2e files recorded; throws (the run fails) on one leaked value. */
export default function e2eGlobalTeardown(): void {
  const dir = leakDir();
  if (!dir || !isLeakRunOwner('e2e')) return;
  finishLeakRun(dir);
  if (process.env.MLSECRETS_KEEP_TEST_DIR !== '1') fs.rmSync(dir, { recursive: true, force: true });
}

import fs from 'node:fs';

/** Stops everything global-setup started and removes its working directory. */
export default async function globalTeardown(): Promise<void> {
  const state = globalThis.mlsecretsHarness;
  if (!state) return;
  await Promise.all(state.emulators.map((e) => e.stop()));
  await state.controlPlane?.stop();
  // Keep logs of a failed run for reading; a green run leaves nothing behind.
  if (process.env.MLSECRETS_KEEP_TEST_DIR !== '1') fs.rmSync(state.dir, { recursive: true, force: true });
}

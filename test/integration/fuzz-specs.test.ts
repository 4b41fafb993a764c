// Bad input (property-based, fast-check): a few hundred generated SecretBinding, SecretStore and
// ClusterSecretStore specs, valid and invalid, against the real API server with the operator
// running as an OS process. Each is rejected with a message naming the field, or accepted and
// given a Ready condition; the operator never crashes and writes nothing outside the namespace.
// The 10,000-object run with the RSS bound is test/faults/fuzz-volume.test.ts.
import path from 'node:path';
import { fuzzRun } from '../harness/fuzz-run.ts';
import { createTestNamespace, testKubeConfig } from '../harness/kube.ts';
import { clients } from '../harness/resources.ts';
import { testEnv } from '../harness/test-env.ts';

const CASES = Number(process.env.MLSECRETS_FUZZ_CASES ?? 300);
const SEED = Number(process.env.MLSECRETS_FUZZ_SEED ?? Date.now() % 1_000_000);

test(`${CASES} generated specs: rejected with the field named, or given a condition; no crash, nothing outside the namespace`, async () => {
  const kc = testKubeConfig();
  const c = clients(kc);
  const namespace = await createTestNamespace(c.core, 'fuzz');
  const forbiddenNamespace = await createTestNamespace(c.core, 'fuzz-forbidden');
  const result = await fuzzRun({
    kc,
    kubeconfigPath: testEnv('kubeconfig'),
    namespace,
    forbiddenNamespace,
    logDir: path.join(testEnv('workDir'), 'logs'),
    cases: CASES,
    seed: SEED,
    concurrency: 6,
    conditionTimeoutMs: 60_000,
    warmup: 30,
    settleMs: 2_000,
    log: (line) => console.log(`[fuzz seed=${SEED}] ${line}`),
  });
  expect(result.stats.failures.slice(0, 10)).toEqual([]);
  expect(result.alive).toBe(true);
  expect(result.healthAtEnd).toBe(200);
  expect(result.outside).toEqual([]);
  expect(result.crossRead).toEqual([]);
  expect(result.stats.cases).toBe(CASES);
  // Both paths were exercised.
  expect(result.stats.rejected).toBeGreaterThan(CASES / 10);
  expect(result.stats.accepted).toBeGreaterThan(CASES / 10);
  await c.core.deleteNamespace({ name: namespace });
  await c.core.deleteNamespace({ name: forbiddenNamespace });
}, 900_000);

// One fuzz run against a control plane: sets up a namespace with source Secrets and stores,
// starts the operator as an OS process on it, runs the generated cases and checks what must
// hold (no crash, health OK, nothing written outside the namespace, no cross-namespace read).
import fs from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { BINDING_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/api/labels.ts';
import {
  nested,
  newStats,
  rssMiB,
  runCases,
  sampleCases,
  summary,
  type FuzzContext,
  type FuzzStats,
} from './fuzz-specs.ts';
import { plant } from './leaks.ts';
import { startOperatorProcess, type OperatorProcess } from './operator-process.ts';
import { clients, createStore, putSourceSecret, type Clients } from './resources.ts';

export interface FuzzRunResult {
  stats: FuzzStats;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  seconds: number;
  /** Managed Secrets outside the namespace that name one of its bindings; Secrets in it holding the forbidden value. */
  outside: string[];
  crossRead: string[];
  healthAtEnd: number;
  alive: boolean;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function fuzzRun(options: {
  kc: k8s.KubeConfig;
  kubeconfigPath: string;
  namespace: string;
  forbiddenNamespace: string;
  logDir: string;
  cases: number;
  seed: number;
  concurrency: number;
  conditionTimeoutMs: number;
  /** Cases run before the first RSS reading, so start-up allocation is not counted as growth. */
  warmup: number;
  settleMs: number;
  /** Called once the source Secrets and stores exist, before the first case. */
  beforeCases?: () => Promise<unknown>;
  log: (line: string) => void;
}): Promise<FuzzRunResult> {
  const c: Clients = clients(options.kc);
  const { namespace, forbiddenNamespace } = options;
  const forbidden = plant('fuzz-forbidden');
  await putSourceSecret(c, forbiddenNamespace, 'source', { token: forbidden });
  // Source values: plain, deeply nested JSON, unicode keys, near the 1 MiB Secret limit.
  await putSourceSecret(c, namespace, 'source', {
    token: plant('fuzz-source'),
    a: JSON.stringify(nested(200)),
  });
  await putSourceSecret(c, namespace, 'nested', { a: JSON.stringify(nested(1000, { token: 'deep' })) });
  await putSourceSecret(c, namespace, 'unicode', {
    json: JSON.stringify({ ключ: 'v', '日本語🔑': 'w', '../x': 'y', '{{ t }}': 'z', '\u202e': 'rtl' }),
  });
  await putSourceSecret(c, namespace, 'big', { a: 'b'.repeat(1_000_000) });
  const clusterStore = `fz-cluster-${namespace}`;
  await createStore(c, 'SecretStore', 'fz-kube', { provider: { kubernetes: {} } }, namespace);
  await createStore(c, 'ClusterSecretStore', clusterStore, { provider: { kubernetes: { namespace } } });
  const ctx: FuzzContext = {
    namespace,
    sourceKeys: ['source', 'nested', 'unicode', 'big', 'missing'],
    stores: [
      { kind: 'SecretStore', name: 'fz-kube' },
      { kind: 'ClusterSecretStore', name: clusterStore },
      { kind: 'SecretStore', name: 'fz-absent' },
    ],
    forbiddenNamespace,
    deadEndpoint: 'http://127.0.0.1:1',
  };
  const operator: OperatorProcess = await startOperatorProcess({
    name: `fuzz-operator-${namespace}`,
    kubeconfigPath: options.kubeconfigPath,
    namespaces: [namespace],
    logDir: options.logDir,
    // The image's heap limits: growth without bound would end the process (and fail the run).
    imageHeap: true,
    // No cloud metadata probes: stores without credentials fail at once.
    env: { AWS_EC2_METADATA_DISABLED: 'true', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
  });
  let alive = true;
  void operator.exited.then(() => (alive = false));
  const stats = newStats();
  const begin = Date.now();
  try {
    await operator.ready();
    await options.beforeCases?.();
    const cases = sampleCases(ctx, 'fz', options.cases, options.seed);
    const warm = cases.slice(0, options.warmup);
    await runCases(c, ctx, warm, stats, options);
    await settle(options.settleMs);
    const rssBeforeMiB = rssMiB(operator.pid);
    options.log(`RSS after ${warm.length} warm-up cases: ${rssBeforeMiB.toFixed(1)} MiB`);
    await runCases(c, ctx, cases.slice(options.warmup), stats, {
      ...options,
      onProgress: (done) =>
        options.log(
          `${done + warm.length}/${cases.length} cases, RSS ${alive ? rssMiB(operator.pid).toFixed(1) : 'gone'} MiB, ${((Date.now() - begin) / 1000).toFixed(0)}s`,
        ),
    });
    await settle(options.settleMs);
    const rssAfterMiB = alive ? rssMiB(operator.pid) : NaN;
    const healthAtEnd = await fetch(`${operator.healthUrl}/healthz`)
      .then((r) => r.status)
      .catch(() => 0);
    // Nothing written outside the namespace: managed Secrets of its bindings elsewhere.
    const managed = await c.core.listSecretForAllNamespaces({
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    });
    const outside = managed.items
      .filter((s) => s.metadata?.namespace !== namespace)
      .filter(
        (s) =>
          (s.metadata?.annotations?.[BINDING_ANNOTATION] ?? '').startsWith(`${namespace}/`) ||
          (s.metadata?.name ?? '').startsWith('fz-'),
      )
      .map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`);
    // No SecretStore read the forbidden namespace: its value is in no Secret of this namespace.
    const inside = await c.core.listNamespacedSecret({ namespace });
    const crossRead = inside.items
      .filter((s) =>
        Object.values(s.data ?? {}).some((v) =>
          Buffer.from(v, 'base64').toString('utf8').includes(forbidden),
        ),
      )
      .map((s) => `${namespace}/${s.metadata?.name}`);
    const seconds = (Date.now() - begin) / 1000;
    options.log(summary(stats));
    options.log(
      `RSS before ${rssBeforeMiB.toFixed(1)} MiB, after ${rssAfterMiB.toFixed(1)} MiB: growth ${(rssAfterMiB - rssBeforeMiB).toFixed(1)} MiB (${(((rssAfterMiB - rssBeforeMiB) / rssBeforeMiB) * 100).toFixed(1)}%) over ${stats.cases - warm.length} cases in ${seconds.toFixed(0)}s; operator alive: ${alive}, /healthz ${healthAtEnd}`,
    );
    return { stats, rssBeforeMiB, rssAfterMiB, seconds, outside, crossRead, healthAtEnd, alive };
  } finally {
    await operator.stop();
    if (!alive || stats.failures.length > 0)
      options.log(
        `operator log: ${operator.logFile} (${fs.existsSync(operator.logFile) ? fs.statSync(operator.logFile).size : 0} bytes)`,
      );
  }
}

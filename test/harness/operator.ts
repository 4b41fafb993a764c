import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../../src/config/config.ts';
import type { Clock } from '../../src/runtime/clock.ts';
import type { AuditRecord } from '../../src/observability/audit.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { Operator } from '../../src/operator.ts';
import { testKubeConfig } from './kube.ts';
import { recordText } from './leak-run.ts';
import { freePort } from './ports.ts';
import { OPERATOR_NAMESPACE, testEnv } from './test-env.ts';

export interface TestOperator {
  operator: Operator;
  /** Every audit record, for assertions and the leak scan. */
  audit: AuditRecord[];
  /**
   * For an operator started with `webhook`: deletes the webhook configuration and lets the next
   * test file register its own. Call it in afterAll, after stop() (which leaves both in place,
   * so a test can show pods are admitted while the webhook is down).
   */
  releaseWebhook(): Promise<void>;
  /** Every log line the operator wrote, for assertions and the leak scan. */
  logs: string[];
  stop(): Promise<void>;
}

/**
 * Runs the operator in this test process against the run's control plane, watching only
 * `namespaces` so test files never see each other's bindings.
 */
export async function startTestOperator(options: {
  namespaces: string[];
  clock?: Clock;
  kubeConfig?: KubeConfig;
  serve?: boolean;
  silenceLimitMs?: number;
  workers?: number;
  /**
   * Serve the pod webhook and register it with this address (only one test file may at a time on
   * the shared control plane).
   */
  webhook?: { failurePolicy?: 'Ignore' | 'Fail'; port?: number };
  rolloutDebounceMs?: number;
  /** Elect a leader on this Lease, with short timings. */
  leaderElection?: { id: string; identity: string };
  /** The orphan lease sweep's timings. */
  leaseSweep?: { graceMs?: number; everyMs?: number };
  /** More operator flags (the access audit's). */
  args?: string[];
}): Promise<TestOperator> {
  const audit: AuditRecord[] = [];
  // The webhook configuration is one per cluster: test files that register it on the shared
  // control plane take turns. A file with a control plane of its own (kubeConfig) needs no lock.
  const releaseWebhook = options.webhook
    ? options.kubeConfig
      ? () => undefined
      : await acquireWebhookLock()
    : undefined;
  const webhookPort = options.webhook ? (options.webhook.port ?? (await freePort())) : 0;
  const logs: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const config = loadConfig(
    [
      `--namespaces=${options.namespaces.join(',')}`,
      `--operator-namespace=${OPERATOR_NAMESPACE}`,
      '--health-addr=127.0.0.1:0',
      '--metrics-addr=127.0.0.1:0',
      '--log-level=debug',
      `--workers=${options.workers ?? 4}`,
      `--webhook=${options.webhook ? 'true' : 'false'}`,
      `--leader-elect=${options.leaderElection ? 'true' : 'false'}`,
      ...(options.leaderElection
        ? [
            `--leader-election-id=${options.leaderElection.id}`,
            `--instance=${options.leaderElection.identity}`,
          ]
        : []),
      `--webhook-addr=127.0.0.1:${webhookPort}`,
      ...(options.webhook ? [`--webhook-url=https://127.0.0.1:${webhookPort}`] : []),
      `--webhook-failure-policy=${options.webhook?.failurePolicy ?? 'Ignore'}`,
      ...(options.args ?? []),
    ],
    {},
    'test-operator',
  );
  const operator = new Operator({
    config,
    kubeConfig: options.kubeConfig ?? testKubeConfig(),
    logger: createLogger('debug', stream),
    clock: options.clock,
    serve: options.serve ?? false,
    silenceLimitMs: options.silenceLimitMs,
    rolloutDebounceMs: options.rolloutDebounceMs,
    leaseSweep: options.leaseSweep,
    leaderElection: { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 },
    audit: { record: (entry) => audit.push(JSON.parse(JSON.stringify(entry)) as AuditRecord) },
  });
  await operator.start();
  let stopped = false;
  return {
    operator,
    logs,
    audit,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      // For the suite-wide leak scan: a last /metrics scrape, then every log line and audit record.
      if (operator.ports.metrics) {
        const scrape = await fetch(`http://127.0.0.1:${operator.ports.metrics}/metrics`)
          .then((r) => r.text())
          .catch(() => '');
        recordText('in-process operator /metrics', scrape);
      }
      await operator.stop();
      recordText('in-process operator logs', logs.join('\n'));
      recordText('in-process operator audit', audit.map((a) => JSON.stringify(a)).join('\n'));
    },
    releaseWebhook: async () => {
      if (!releaseWebhook) return;
      const { AdmissionregistrationV1Api } = await import('@kubernetes/client-node');
      await (options.kubeConfig ?? testKubeConfig())
        .makeApiClient(AdmissionregistrationV1Api)
        .deleteMutatingWebhookConfiguration({ name: 'mlsecrets-pod-injector' })
        .catch(() => undefined);
      releaseWebhook();
    },
  };
}

/** A cross-process lock (an atomic mkdir in the run's directory), held while a file's webhook is registered. */
export async function acquireWebhookLock(): Promise<() => void> {
  const lock = path.join(testEnv('workDir'), 'webhook.lock');
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      return () => fs.rmSync(lock, { recursive: true, force: true });
    } catch {
      if (Date.now() > deadline) throw new Error('timed out waiting for the webhook lock');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

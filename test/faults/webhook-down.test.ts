// Fault: the pod webhook is down (issue #10, fault 7). A private control plane (so no other file
// sees pods rejected), the operator's webhook registered, then the operator stopped, leaving
// the MutatingWebhookConfiguration pointing at nothing. With failurePolicy Ignore pods are
// admitted without injection; with Fail they are rejected with an error naming the webhook,
// except in the namespaces the webhook excludes (kube-system, the operator's own, and any
// labelled mlsecrets.io/injection: disabled). README "Projection into ML workloads" says so.
import net from 'node:net';
import { AdmissionregistrationV1Api, type V1Pod } from '@kubernetes/client-node';
import { INJECTED_ANNOTATION } from '../../src/api/labels.ts';
import { WEBHOOK_NAME } from '../../src/projection/webhook-registration.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import { startPrivateCluster, type PrivateCluster } from '../harness/private-cluster.ts';
import { createBinding, createStore, putSourceSecret, waitForReady } from '../harness/resources.ts';
import { OPERATOR_NAMESPACE } from '../harness/test-env.ts';

const team = 'webhook-team';
const other = 'unrelated-team';
const optedOut = 'opted-out-team';
let cluster: PrivateCluster;
let op: TestOperator | undefined;
const logs: string[] = [];
const audit: unknown[] = [];
let podCount = 0;

function pod(labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name: `p${++podCount}`, labels },
    spec: { containers: [{ name: 'main', image: 'registry.example.com/ml/trainer:1' }] },
  };
}

/** Creates a pod; resolves to the admitted pod, or to the API's error message and how long it took. */
async function admit(
  namespace: string,
  labels: Record<string, string> = {},
): Promise<{ pod?: V1Pod; error?: string; code?: number; seconds: number }> {
  const began = Date.now();
  try {
    const created = await cluster.c.core.createNamespacedPod({ namespace, body: pod(labels) });
    return { pod: created, seconds: (Date.now() - began) / 1000 };
  } catch (error) {
    const body = (error as { body?: string }).body ?? '';
    const message = (JSON.parse(body || '{}') as { message?: string }).message ?? String(error);
    return { error: message, code: (error as { code?: number }).code, seconds: (Date.now() - began) / 1000 };
  }
}

const matching = { 'mlsecrets.io/binding': 'vol' };

async function startOperator(failurePolicy: 'Ignore' | 'Fail'): Promise<void> {
  op = await startTestOperator({ namespaces: [team], kubeConfig: cluster.kc, webhook: { failurePolicy } });
  // The webhook serves: a matching pod gets its Secret (the configuration may take a moment).
  for (let attempt = 0; ; attempt++) {
    const admitted = await admit(team, matching);
    if (admitted.pod?.metadata?.annotations?.[INJECTED_ANNOTATION] === 'vol') return;
    if (attempt > 40)
      throw new Error(`the webhook never injected: ${JSON.stringify(admitted).slice(0, 500)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * A hung webhook: something accepts connections on the webhook's port and never answers (a
 * wedged replica, a black-holed network path). Returns how to take it away.
 */
async function hangWebhook(): Promise<() => Promise<void>> {
  const config = await cluster.kc
    .makeApiClient(AdmissionregistrationV1Api)
    .readMutatingWebhookConfiguration({ name: 'mlsecrets-pod-injector' });
  const port = Number(new URL(config.webhooks![0]!.clientConfig.url!).port);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
}

async function stopOperator(): Promise<void> {
  logs.push(...op!.logs);
  audit.push(...op!.audit);
  await op!.stop(); // leaves the webhook configuration in place, pointing at nothing
  op = undefined;
}

beforeAll(async () => {
  cluster = await startPrivateCluster([team, other]);
  await cluster.c.core.createNamespace({
    body: { metadata: { name: optedOut, labels: { 'mlsecrets.io/injection': 'disabled' } } },
  });
  await putSourceSecret(cluster.c, team, 'source', { token: plant('webhook') });
  await createStore(
    cluster.c,
    'SecretStore',
    'local',
    { provider: { kubernetes: { namespace: team } } },
    team,
  );
  await createBinding(cluster.c, team, 'vol', {
    storeRef: { name: 'local' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
  });
}, 180_000);

afterAll(async () => {
  if (op) await stopOperator();
  await cluster?.stop();
});

test('failurePolicy Ignore: with the operator down, a pod its binding selects is admitted, without injection', async () => {
  await startOperator('Ignore');
  await waitForReady(cluster.c, team, 'vol', {}, 30_000);
  await stopOperator();
  const admitted = await admit(team, matching);
  expect(admitted.error).toBeUndefined();
  expect(admitted.pod?.metadata?.annotations?.[INJECTED_ANNOTATION]).toBeUndefined();
  expect(admitted.pod?.spec?.volumes?.some((v) => v.secret?.secretName === 'vol')).toBeFalsy();
  const unrelated = await admit(other);
  expect(unrelated.error).toBeUndefined();
  // Hung rather than gone: admitted after the webhook's 5 s timeout.
  const unhang = await hangWebhook();
  const slow = await admit(team, matching).finally(unhang);
  expect(slow.error).toBeUndefined();
  expect(slow.pod?.metadata?.annotations?.[INJECTED_ANNOTATION]).toBeUndefined();
  expect(slow.seconds).toBeGreaterThanOrEqual(4.5);
  expect(slow.seconds).toBeLessThan(20);
  console.log(
    `[fault] webhook down, failurePolicy Ignore: matching pod admitted without injection in ${admitted.seconds.toFixed(1)}s, ` +
      `unrelated pod in ${unrelated.seconds.toFixed(1)}s; webhook hung: admitted in ${slow.seconds.toFixed(1)}s`,
  );
}, 180_000);

test('failurePolicy Fail: with the operator down, pods are rejected naming the webhook, except in excluded namespaces', async () => {
  await startOperator('Fail');
  await stopOperator();
  const rejected = await admit(team, matching);
  expect(rejected.pod).toBeUndefined();
  expect(rejected.code).toBe(500);
  expect(rejected.error).toContain(`failed calling webhook "${WEBHOOK_NAME}"`);
  // The webhook sees every pod of every namespace it does not exclude: one no binding selects,
  // in a namespace the operator does not even watch, is rejected too.
  const unrelated = await admit(other);
  expect(unrelated.error).toContain(`failed calling webhook "${WEBHOOK_NAME}"`);
  const excluded: Record<string, number> = {};
  for (const namespace of ['kube-system', OPERATOR_NAMESPACE, optedOut]) {
    const admitted = await admit(namespace, matching);
    expect({ namespace, error: admitted.error }).toEqual({ namespace, error: undefined });
    excluded[namespace] = admitted.seconds;
  }
  const unhang = await hangWebhook();
  const hung = await admit(team, matching).finally(unhang);
  expect(hung.error).toContain(`failed calling webhook "${WEBHOOK_NAME}"`);
  expect(hung.seconds).toBeGreaterThanOrEqual(4.5);
  console.log(
    `[fault] webhook hung, failurePolicy Fail: pod rejected after ${hung.seconds.toFixed(1)}s with "${hung.error}"`,
  );
  console.log(
    `[fault] webhook down, failurePolicy Fail: pod rejected in ${rejected.seconds.toFixed(1)}s with "${rejected.error}"; ` +
      `a pod no binding selects rejected too; admitted in excluded namespaces: ${JSON.stringify(excluded)}`,
  );
  // Back up: pods are admitted and injected again.
  const began = Date.now();
  await startOperator('Fail');
  console.log(
    `[fault] webhook back (Fail): injecting again ${((Date.now() - began) / 1000).toFixed(1)}s after the start`,
  );
  expect((await admit(other)).error).toBeUndefined();
}, 180_000);

test('no value leaked', async () => {
  const outputs = await operatorOutputs(cluster.c, [team, other]);
  outputs['operator logs'] = [...logs, ...(op?.logs ?? [])].join('\n');
  outputs['audit'] = JSON.stringify([...audit, ...(op?.audit ?? [])]);
  const pods = await cluster.c.core.listNamespacedPod({ namespace: team });
  outputs['pods'] = JSON.stringify(pods.items);
  expect(findLeaks(outputs)).toEqual([]);
});

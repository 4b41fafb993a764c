// Fault: etcd slow, then unavailable (issue #10, fault 3). A private control plane whose
// kube-apiserver reaches etcd through a TCP proxy of ours (added latency), then etcd frozen with
// SIGSTOP and thawed with SIGCONT. As for a kube-apiserver restart: the informers resume,
// /healthz reflects the outage, a change made during it is applied after, no Secret is lost,
// the operator does not crash, and Events do not pile up.
import type * as k8s from '@kubernetes/client-node';
import { eventually } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import { startPrivateCluster, type PrivateCluster } from '../harness/private-cluster.ts';
import {
  createBinding,
  createStore,
  eventsFor,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const namespace = 'etcd-team';
let cluster: PrivateCluster;
let op: TestOperator | undefined;
const values = { before: plant('before'), slow: plant('slow'), paused: plant('paused') };

const health = () =>
  fetch(`http://127.0.0.1:${op!.operator.ports.health}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
    (r) => r.status,
    () => 0,
  );

/** Every Event of a binding, repeats included (an Event's count). */
async function eventTotal(name: string): Promise<number> {
  return (await eventsFor(cluster.c, namespace, name)).reduce((sum, e) => sum + (e.count ?? 1), 0);
}

beforeAll(async () => {
  cluster = await startPrivateCluster([namespace], { etcdProxy: true });
  const c = cluster.c;
  await putSourceSecret(c, namespace, 'source', { token: values.before });
  await createStore(c, 'SecretStore', 'local', { provider: { kubernetes: { namespace } } }, namespace);
  op = await startTestOperator({
    namespaces: [namespace],
    kubeConfig: cluster.kc,
    serve: true,
    silenceLimitMs: 5_000,
  });
  await createBinding(c, namespace, 'survivor', {
    storeRef: { name: 'local' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
    lifetime: { ttl: '1h', refreshInterval: '5s' },
  });
  await waitForReady(c, namespace, 'survivor', {}, 60_000);
}, 180_000);

afterAll(async () => {
  cluster?.cp.resumeEtcd();
  await op?.stop();
  await cluster?.stop();
});

test('etcd slow (300 ms each way): a change is applied, /healthz stays up, nothing crashes', async () => {
  const c = cluster.c;
  cluster.cp.setEtcdLatency(300);
  const began = Date.now();
  try {
    await putSourceSecret(c, namespace, 'source', { token: values.slow });
    await eventually(
      () => secretData(c, namespace, 'survivor'),
      (d) => d?.TOKEN === values.slow,
      { what: 'the change applied with etcd slow', timeoutMs: 60_000 },
    );
    const applied = (Date.now() - began) / 1000;
    // Slow is not down: the watches carry on.
    expect(await health()).toBe(200);
    console.log(`[fault] etcd +300ms each way: a change applied in ${applied.toFixed(1)}s; /healthz 200`);
  } finally {
    cluster.cp.setEtcdLatency(0);
  }
}, 120_000);

test('etcd frozen (SIGSTOP) then thawed: /healthz fails then recovers, the change made meanwhile is applied', async () => {
  const c = cluster.c;
  const eventsBefore = await eventTotal('survivor');
  const restartsBefore = op!.operator.manager.health().reduce((sum, i) => sum + i.restarts, 0);
  cluster.cp.pauseEtcd();
  const pausedAt = Date.now();
  // A change made while etcd is frozen: kube-apiserver holds the write until etcd answers or
  // gives up (then it is made again below, once etcd is back).
  const write = putSourceSecret(c, namespace, 'source', { token: values.paused }).then(
    () => true,
    () => false,
  );
  await eventually(health, (status) => status === 503, {
    what: '/healthz failing while etcd is frozen',
    timeoutMs: 45_000,
    intervalMs: 500,
  });
  const unhealthyAfter = (Date.now() - pausedAt) / 1000;
  // Frozen for at least 25 s in all.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, pausedAt + 25_000 - Date.now())));
  cluster.cp.resumeEtcd();
  const resumedAt = Date.now();
  const outage = (resumedAt - pausedAt) / 1000;
  await eventually(health, (status) => status === 200, {
    what: '/healthz healthy again',
    timeoutMs: 60_000,
    intervalMs: 500,
  });
  const healthyAfter = (Date.now() - resumedAt) / 1000;
  const written = await write;
  if (!written) await putSourceSecret(c, namespace, 'source', { token: values.paused });
  await eventually(
    () => secretData(c, namespace, 'survivor'),
    (d) => d?.TOKEN === values.paused,
    { what: 'the change made during the freeze applied', timeoutMs: 60_000 },
  );
  const appliedAfter = (Date.now() - resumedAt) / 1000;
  const restarts = op!.operator.manager.health().reduce((sum, i) => sum + i.restarts, 0) - restartsBefore;
  // A binding created now is served: every informer and the work queue are alive.
  await createBinding(c, namespace, 'newcomer', {
    storeRef: { name: 'local' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
  });
  await waitForReady(c, namespace, 'newcomer', {}, 30_000);
  expect(await secretData(c, namespace, 'newcomer')).toEqual({ TOKEN: values.paused });
  expect(op!.operator.manager.health().every((i) => i.running && i.synced)).toBe(true);
  const eventsDuring = (await eventTotal('survivor')) - eventsBefore;
  const events = await eventsFor(c, namespace, 'survivor');
  const reasons = events.map((e) => `${e.reason}x${e.count ?? 1}`);
  console.log(
    `[fault] etcd frozen ${outage.toFixed(1)}s: /healthz 503 after ${unhealthyAfter.toFixed(1)}s; ` +
      `after SIGCONT /healthz 200 in ${healthyAfter.toFixed(1)}s, the change made meanwhile applied in ${appliedAfter.toFixed(1)}s ` +
      `(write ${written ? 'held by kube-apiserver until etcd was back' : 'refused, made again'}); ` +
      `${restarts} watch restarts; ${eventsDuring} Events on the binding (all its Events: ${reasons.join(', ')})`,
  );
  expect(restarts).toBeGreaterThan(0);
  // One Synced for the change, perhaps a Warning or two for reads that failed while frozen
  // (one per distinct failure, not per retry): no storm.
  expect(eventsDuring).toBeLessThanOrEqual(6);
  // Nobody edited the Secret: the operator's own writes, seen late, are not drift.
  expect(events.filter((e) => e.reason === 'DriftCorrected').map((e) => e.message)).toEqual([]);
}, 240_000);

test('no Secret lost, and no value leaked', async () => {
  expect(await secretData(cluster.c, namespace, 'survivor')).toEqual({ TOKEN: values.paused });
  const secrets = await cluster.c.core.listNamespacedSecret({
    namespace,
    labelSelector: 'app.kubernetes.io/managed-by=mlsecrets',
  });
  expect(secrets.items.map((s: k8s.V1Secret) => s.metadata?.name).sort()).toEqual(['newcomer', 'survivor']);
  const outputs = await operatorOutputs(cluster.c, [namespace]);
  outputs['operator logs'] = op!.logs.join('\n');
  outputs['audit'] = JSON.stringify(op!.audit);
  expect(findLeaks(outputs)).toEqual([]);
});

// status.projectedPods on a real node, the operator installed by the chart: it counts the
// running pods the webhook injected a binding into, and a pod that finishes by itself
// (Succeeded, or Failed) stops counting.
import type * as k8s from '@kubernetes/client-node';
import { installChart, podInPhase } from '../harness/chart.ts';
import { eventually } from '../harness/kube.ts';
import { plant } from '../harness/leaks.ts';
import { IMAGES, startNodeCluster, type NodeCluster, createPodNamespace } from '../harness/node-cluster.ts';
import {
  createBinding,
  createStore,
  getBinding,
  putSourceSecret,
  waitForReady,
} from '../harness/resources.ts';

const team = 'projected';
let nc: NodeCluster;

beforeAll(async () => {
  nc = await startNodeCluster('projected');
  await installChart(nc);
  await createPodNamespace(nc, team);
  await putSourceSecret(nc.c, team, 'token', { value: plant('projected') });
  await createStore(nc.c, 'SecretStore', 'source', { provider: { kubernetes: { namespace: team } } }, team);
  await createBinding(nc.c, team, 'vol', {
    storeRef: { kind: 'SecretStore', name: 'source' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'token', property: 'value' } }],
  });
  await waitForReady(nc.c, team, 'vol', {}, 60_000);
}, 300_000);
afterAll(() => nc?.stop(), 120_000);

/**
 * A pod labelled for `vol`. With `exitCode` it waits for /tmp/finish (the test creates it),
 * then exits with it; without, it keeps running.
 */
async function createPod(name: string, exitCode?: number): Promise<k8s.V1Pod> {
  const script =
    exitCode === undefined
      ? 'exec sleep 3600'
      : `until [ -e /tmp/finish ]; do sleep 0.2; done; exit ${exitCode}`;
  return nc.c.core.createNamespacedPod({
    namespace: team,
    body: {
      metadata: { name, labels: { 'mlsecrets.io/binding': 'vol' } },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'main',
            image: IMAGES.busybox,
            imagePullPolicy: 'Never',
            command: ['sh', '-c', script],
          },
        ],
      },
    },
  });
}

const projectedPods = async () => (await getBinding(nc.c, team, 'vol')).status?.projectedPods;

function waitForCount(count: number) {
  return eventually(projectedPods, (n) => n === count, { timeoutMs: 30_000, what: `projectedPods ${count}` });
}

test('status.projectedPods counts the running pods that carry the binding; a finished pod does not count', async () => {
  for (const [name, exitCode] of [
    ['steady', undefined],
    ['succeeds', 0],
    ['fails', 1],
  ] as const) {
    const created = await createPod(name, exitCode);
    expect(created.metadata?.annotations?.['mlsecrets.io/injected']).toBe('vol');
  }
  for (const name of ['steady', 'succeeds', 'fails']) await podInPhase(nc, team, name, ['Running']);
  // All three run and are counted.
  await waitForCount(3);

  await nc.kubectl('exec', '-n', team, 'succeeds', '--', 'touch', '/tmp/finish');
  expect((await podInPhase(nc, team, 'succeeds', ['Succeeded', 'Failed'])).status?.phase).toBe('Succeeded');
  await waitForCount(2);

  await nc.kubectl('exec', '-n', team, 'fails', '--', 'touch', '/tmp/finish');
  expect((await podInPhase(nc, team, 'fails', ['Succeeded', 'Failed'])).status?.phase).toBe('Failed');
  await waitForCount(1);

  // The pod still running is still counted.
  expect((await nc.c.core.readNamespacedPod({ namespace: team, name: 'steady' })).status?.phase).toBe(
    'Running',
  );
  expect(await projectedPods()).toBe(1);
}, 300_000);

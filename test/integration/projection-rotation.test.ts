// Rotation without disruption on the real control plane: a cron rotation re-issues the Secret;
// with onRotation RolloutRestart the consuming Deployment is restarted once when the data
// changed (never when it did not), and a Job consuming the same Secret is never touched.
import { AppsV1Api, BatchV1Api } from '@kubernetes/client-node';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  eventsFor,
  getBinding,
  putSourceSecret,
  secretData,
  waitForReady,
  type BindingObject,
} from '../harness/resources.ts';

const kc = testKubeConfig();
const c = clients(kc);
const apps = kc.makeApiClient(AppsV1Api);
const batch = kc.makeApiClient(BatchV1Api);
let team: string;
let op: TestOperator;
const store = `rotation-${Date.now().toString(36)}`;
const labels = { 'mlsecrets.io/binding': 'model-api' };

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'rotation');
  await putSourceSecret(c, team, 'source', { key: 'v1' });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: team } } });
  op = await startTestOperator({ namespaces: [team], rolloutDebounceMs: 300 });
  await apps.createNamespacedDeployment({
    namespace: team,
    body: {
      metadata: { name: 'inference' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'inference' } },
        template: {
          metadata: { labels: { app: 'inference', ...labels } },
          spec: { containers: [{ name: 'serve', image: 'server' }] },
        },
      },
    },
  });
  await batch.createNamespacedJob({
    namespace: team,
    body: {
      metadata: { name: 'training' },
      spec: {
        managedBy: 'example.com/test-driver',
        template: {
          metadata: { labels },
          spec: { restartPolicy: 'Never', containers: [{ name: 'train', image: 'trainer' }] },
        },
      },
    },
  });
  await createBinding(c, team, 'model-api', {
    storeRef: { kind: 'ClusterSecretStore', name: store },
    data: [{ secretKey: 'API_KEY', remoteRef: { key: 'source', property: 'key' } }],
    lifetime: { ttl: '1h', refreshInterval: '1h', rotationSchedule: '*/2 * * * * *' },
    projection: { onRotation: 'RolloutRestart' },
  });
  await waitForReady(c, team, 'model-api');
});

afterAll(async () => {
  await op?.stop();
  await deleteClusterStore(c, store).catch(() => undefined);
  await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

const restartedAt = async () =>
  (await apps.readNamespacedDeployment({ namespace: team, name: 'inference' })).spec?.template.metadata
    ?.annotations?.['mlsecrets.io/restartedAt'];

/**
 * Waits for `count` re-issues of the Secret after `from` (new status.issuedAt values: the
 * schedule re-issues every 2 s) and returns the dataHash each one carried.
 */
async function reissuesAfter(from: BindingObject, count: number): Promise<(string | undefined)[]> {
  const issued = new Map<string, string | undefined>();
  await eventually(
    () => getBinding(c, team, 'model-api'),
    (b) => {
      const at = b.status?.issuedAt;
      if (at !== undefined && at !== from.status?.issuedAt) issued.set(at, b.status?.dataHash);
      return issued.size >= count;
    },
    { what: `${count} re-issues on schedule`, timeoutMs: count * 2_000 + 6_000 },
  );
  return [...issued.values()];
}

test('the cron schedule re-issues the Secret (status.nextRotationAt set, Rotated Events)', async () => {
  const binding = await getBinding(c, team, 'model-api');
  expect(Date.parse(binding.status!.nextRotationAt!)).toBeGreaterThan(Date.now() - 5_000);
  const first = binding.status!.issuedAt;
  await eventually(
    () => getBinding(c, team, 'model-api'),
    (b) => b.status?.issuedAt !== first,
    {
      what: 'a re-issue on schedule',
      timeoutMs: 6_000,
    },
  );
  await eventually(
    () => eventsFor(c, team, 'model-api'),
    (e) => e.some((x) => x.reason === 'Rotated'),
    { what: 'a Rotated Event' },
  );
});

test('a re-issue with identical data restarts nothing', async () => {
  const before = await getBinding(c, team, 'model-api');
  const data = await secretData(c, team, 'model-api');
  // Three re-issues, all with the same data: a restart requested by the first two would have
  // been written by the time the third comes (the debounce is 300 ms, re-issues 2 s apart).
  const hashes = await reissuesAfter(before, 3);
  expect(hashes).toEqual([before.status!.dataHash, before.status!.dataHash, before.status!.dataHash]);
  expect(await secretData(c, team, 'model-api')).toEqual(data);
  expect(await restartedAt()).toBeUndefined();
});

test('changed data restarts the consuming Deployment exactly once and never touches the Job', async () => {
  const oldHash = (await getBinding(c, team, 'model-api')).status!.dataHash;
  const jobBefore = await batch.readNamespacedJob({ namespace: team, name: 'training' });
  const generationBefore = (await apps.readNamespacedDeployment({ namespace: team, name: 'inference' }))
    .metadata!.generation!;
  await putSourceSecret(c, team, 'source', { key: 'v2' });
  await eventually(
    () => secretData(c, team, 'model-api'),
    (d) => d?.API_KEY === 'v2',
    { what: 'the new value', timeoutMs: 6_000 },
  );
  await eventually(restartedAt, (at) => at !== undefined, {
    what: 'the restart annotation',
    timeoutMs: 6_000,
  });
  // More rotations pass with the same (new) data: no second restart. (Three re-issues after the
  // one that wrote the new data, as above.)
  const changed = await eventually(
    () => getBinding(c, team, 'model-api'),
    (b) => b.status?.dataHash !== undefined && b.status.dataHash !== oldHash,
    { what: 'the new data hash in the status', timeoutMs: 6_000 },
  );
  const newHash = changed.status!.dataHash;
  expect(await reissuesAfter(changed, 3)).toEqual([newHash, newHash, newHash]);
  const deployment = await apps.readNamespacedDeployment({ namespace: team, name: 'inference' });
  expect(deployment.metadata!.generation).toBe(generationBefore + 1);
  const jobAfter = await batch.readNamespacedJob({ namespace: team, name: 'training' });
  expect(jobAfter.metadata?.resourceVersion).toBe(jobBefore.metadata?.resourceVersion);
  expect(jobAfter.spec?.template.metadata?.annotations?.['mlsecrets.io/restartedAt']).toBeUndefined();
  const restarts = (await eventsFor(c, team, 'model-api')).filter((e) => e.message?.includes('restarted'));
  expect(restarts.map((e) => e.message)).toEqual([expect.stringMatching(/Deployment "inference" restarted/)]);
});

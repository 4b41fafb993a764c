// scope: PerWorkload on the real control plane: a training Job gets its own Secret, owned by
// it, next to a Shared binding's Secret, and a Job deleted while running takes its Secret with
// it. This cluster has no node, so no Job here runs or ends: the revocation when a Job
// completes or fails by itself is tested on a real node (test/e2e/per-workload.test.ts).
import { BatchV1Api } from '@kubernetes/client-node';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const kc = testKubeConfig();
const c = clients(kc);
const batch = kc.makeApiClient(BatchV1Api);
let team: string;
let op: TestOperator;
const store = `perworkload-${Date.now().toString(36)}`;
const storeRef = { kind: 'ClusterSecretStore' as const, name: store };
const token = plant('per-workload');

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'per-workload');
  await putSourceSecret(c, team, 'source', { token });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: team } } });
  op = await startTestOperator({ namespaces: [team] });
  await createBinding(c, team, 'train', {
    storeRef,
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
    projection: { scope: 'PerWorkload' },
  });
  await createBinding(c, team, 'shared', {
    storeRef,
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
  });
  await waitForReady(c, team, 'shared');
});

afterAll(async () => {
  await op?.stop();
  await deleteClusterStore(c, store).catch(() => undefined);
  await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

/** A Job whose pods select the binding; managedBy keeps the built-in controller away (it never runs here). */
async function createJob(name: string): Promise<string> {
  const job = await batch.createNamespacedJob({
    namespace: team,
    body: {
      metadata: { name },
      spec: {
        managedBy: 'example.com/test-driver',
        template: {
          metadata: { labels: { 'mlsecrets.io/binding': 'train' } },
          spec: { restartPolicy: 'Never', containers: [{ name: 'train', image: 'trainer' }] },
        },
      },
    },
  });
  return job.metadata!.uid!;
}

test('a Job gets its own Secret, owned by it and annotated with it', async () => {
  const job = 'job-running';
  const uid = await createJob(job);
  const secretName = `train-${job}`;
  await eventually(
    () => secretData(c, team, secretName),
    (d) => d?.TOKEN === token,
    { what: 'the per-job Secret' },
  );
  const secret = await c.core.readNamespacedSecret({ namespace: team, name: secretName });
  expect(secret.metadata?.ownerReferences).toEqual([
    expect.objectContaining({ apiVersion: 'batch/v1', kind: 'Job', name: job, uid }),
  ]);
  expect(secret.metadata?.annotations?.['mlsecrets.io/workload']).toBe(`Job/${job}`);
  // The Shared binding's Secret is there too, under its own name.
  expect(await secretData(c, team, 'shared')).toEqual({ TOKEN: token });
});

test('a Job deleted while running takes its Secret with it', async () => {
  await createJob('job-deleted');
  await eventually(
    () => secretData(c, team, 'train-job-deleted'),
    (d) => d !== undefined,
    { what: 'the per-job Secret' },
  );
  await batch.deleteNamespacedJob({ namespace: team, name: 'job-deleted', propagationPolicy: 'Background' });
  await eventually(
    () => secretData(c, team, 'train-job-deleted'),
    (d) => d === undefined,
    { what: 'the Secret gone' },
  );
});

test('no planted value appears in any log line, Event or status', async () => {
  const outputs = await operatorOutputs(c, [team]);
  outputs['operator logs'] = op.logs.join('\n');
  expect(findLeaks(outputs)).toEqual([]);
});

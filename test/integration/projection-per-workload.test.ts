// scope: PerWorkload on the real control plane: a training Job gets its own Secret, owned by
// it, and the Secret is revoked as soon as the Job completes or fails, while a Shared
// binding's Secret stays.
import { BatchV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  eventsFor,
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

/** A Job whose pods select the binding; managedBy keeps the built-in controller away, so the test sets its status. */
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

async function finishJob(name: string, outcome: 'Complete' | 'Failed'): Promise<void> {
  const now = new Date().toISOString();
  const conditions =
    outcome === 'Complete'
      ? [
          { type: 'SuccessCriteriaMet', status: 'True', lastTransitionTime: now, lastProbeTime: now },
          { type: 'Complete', status: 'True', lastTransitionTime: now, lastProbeTime: now },
        ]
      : [
          {
            type: 'FailureTarget',
            status: 'True',
            lastTransitionTime: now,
            lastProbeTime: now,
            reason: 'BackoffLimitExceeded',
          },
          {
            type: 'Failed',
            status: 'True',
            lastTransitionTime: now,
            lastProbeTime: now,
            reason: 'BackoffLimitExceeded',
          },
        ];
  await batch.patchNamespacedJobStatus(
    {
      namespace: team,
      name,
      body: {
        status: {
          startTime: now,
          ...(outcome === 'Complete' ? { completionTime: now, succeeded: 1 } : { failed: 1 }),
          conditions,
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

test.each([['Complete'], ['Failed']] as const)(
  'a Job gets its own Secret, owned by it, revoked within seconds once it is %s',
  async (outcome) => {
    const job = `job-${outcome.toLowerCase()}`;
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

    await finishJob(job, outcome);
    const ended = Date.now();
    await eventually(
      () => secretData(c, team, secretName),
      (d) => d === undefined,
      { what: 'the Secret revoked', timeoutMs: 5_000 },
    );
    expect(Date.now() - ended).toBeLessThan(5_000);
    await eventually(
      () => eventsFor(c, team, 'train'),
      (events) => events.some((e) => e.reason === 'Revoked' && e.message!.includes(secretName)),
      { what: 'a Revoked Event' },
    );
    // The Shared binding's Secret is untouched.
    expect(await secretData(c, team, 'shared')).toEqual({ TOKEN: token });
  },
);

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

// scope: PerWorkload on a real node, the operator installed by the chart: a Job gets its own
// Secret, owned by it and annotated with it, which its pod mounts; once the Job completes or
// fails by itself the Secret is revoked within seconds, with a Revoked Event, while a Shared
// binding's Secret stays. (test/e2e/training-job.test.ts runs a trainer that uses such a
// Secret against moto; this file checks the Secret's own lifecycle, timed by watches.)
import * as k8s from '@kubernetes/client-node';
import { fingerprint, installChart, podInPhase } from '../harness/chart.ts';
import { eventually } from '../harness/kube.ts';
import { plant } from '../harness/leaks.ts';
import { IMAGES, startNodeCluster, type NodeCluster } from '../harness/node-cluster.ts';
import {
  createBinding,
  createStore,
  eventsFor,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const team = 'per-workload';
const store = 'perworkload';
const storeRef = { kind: 'ClusterSecretStore' as const, name: store };
const token = plant('per-workload');
let nc: NodeCluster;
let batch: k8s.BatchV1Api;

beforeAll(async () => {
  nc = await startNodeCluster('per-workload');
  batch = nc.kc.makeApiClient(k8s.BatchV1Api);
  await installChart(nc);
  await nc.c.core.createNamespace({ body: { metadata: { name: team } } });
  await putSourceSecret(nc.c, team, 'source', { token });
  await createStore(nc.c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: team } } });
  await createBinding(nc.c, team, 'train', {
    storeRef,
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
    projection: { scope: 'PerWorkload' },
  });
  await createBinding(nc.c, team, 'shared', {
    storeRef,
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
  });
  await waitForReady(nc.c, team, 'shared', {}, 60_000);
}, 300_000);
afterAll(() => nc?.stop(), 120_000);

/** Every watch event on one named object, with the moment this process received it. */
interface Observed<T> {
  seen: { at: number; type: string; object: T }[];
  stop(): void;
}

async function observe<T>(path: string, name: string): Promise<Observed<T>> {
  const seen: Observed<T>['seen'] = [];
  const abort = await new k8s.Watch(nc.kc).watch(
    path,
    { fieldSelector: `metadata.name=${name}` },
    (type: string, object: T) => seen.push({ at: Date.now(), type, object }),
    () => undefined,
  );
  return { seen, stop: () => abort.abort() };
}

function jobCondition(job: k8s.V1Job): string | undefined {
  return job.status?.conditions?.find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  )?.type;
}

/**
 * A Job whose pod selects the binding, prints the fingerprint of the token it mounted, and
 * waits for /tmp/finish (the test creates it) before exiting with `exitCode`.
 */
async function createJob(name: string, exitCode: number): Promise<string> {
  const file = '/var/run/secrets/mlsecrets/train/TOKEN';
  const job = await batch.createNamespacedJob({
    namespace: team,
    body: {
      metadata: { name },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { 'mlsecrets.io/binding': 'train' } },
          spec: {
            restartPolicy: 'Never',
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'train',
                image: IMAGES.busybox,
                imagePullPolicy: 'Never',
                command: [
                  'sh',
                  '-c',
                  `printf %s "$(cat ${file})" | sha256sum; ` +
                    `until [ -e /tmp/finish ]; do sleep 0.2; done; exit ${exitCode}`,
                ],
              },
            ],
          },
        },
      },
    },
  });
  return job.metadata!.uid!;
}

test.each([
  ['Complete', 0, 'completed'],
  ['Failed', 1, 'failed'],
] as const)(
  'a Job gets its own Secret, owned by it, revoked within seconds once it is %s by itself',
  async (outcome, exitCode, why) => {
    const job = `job-${outcome.toLowerCase()}`;
    const secretName = `train-${job}`;
    const secrets = await observe<k8s.V1Secret>(`/api/v1/namespaces/${team}/secrets`, secretName);
    const jobs = await observe<k8s.V1Job>(`/apis/batch/v1/namespaces/${team}/jobs`, job);
    try {
      const uid = await createJob(job, exitCode);

      // The Job's pod runs with the Secret mounted.
      const pods = await eventually(
        () => nc.c.core.listNamespacedPod({ namespace: team, labelSelector: `job-name=${job}` }),
        (list) => list.items.length === 1,
        { timeoutMs: 60_000, what: `the pod of Job ${job}` },
      );
      const pod = pods.items[0]!.metadata!.name!;
      await podInPhase(nc, team, pod, ['Running']);
      await eventually(
        () => nc.kubectl('logs', '-n', team, pod),
        (log) => log.length >= 12,
        { timeoutMs: 30_000, what: `the fingerprint ${pod} prints` },
      );
      expect((await nc.kubectl('logs', '-n', team, pod)).slice(0, 12)).toBe(fingerprint(token));

      // While the Job runs, its Secret exists: the token, owned by the Job, annotated with it.
      expect(await secretData(nc.c, team, secretName)).toEqual({ TOKEN: token });
      const secret = await nc.c.core.readNamespacedSecret({ namespace: team, name: secretName });
      expect(secret.metadata?.ownerReferences).toEqual([
        expect.objectContaining({ apiVersion: 'batch/v1', kind: 'Job', name: job, uid }),
      ]);
      expect(secret.metadata?.annotations?.['mlsecrets.io/workload']).toBe(`Job/${job}`);
      expect(jobCondition(await batch.readNamespacedJob({ namespace: team, name: job }))).toBeUndefined();

      // The container exits by itself; the job controller marks the Job.
      const released = Date.now();
      await nc.kubectl('exec', '-n', team, pod, '--', 'touch', '/tmp/finish');
      const finished = await eventually(
        async () => jobs.seen.find((e) => jobCondition(e.object) !== undefined),
        (e) => e !== undefined,
        { timeoutMs: 90_000, intervalMs: 100, what: `Job ${job} to end` },
      );
      expect(jobCondition(finished!.object)).toBe(outcome);
      const revoked = await eventually(
        async () => secrets.seen.find((e) => e.type === 'DELETED'),
        (e) => e !== undefined,
        { timeoutMs: 30_000, intervalMs: 100, what: `${secretName} revoked` },
      );
      // The Secret was there until the pod was told to finish, and went within seconds of the
      // Job's terminal condition (both as this process's watches saw them).
      expect(secrets.seen.some((e) => e.type === 'ADDED' && e.at < released)).toBe(true);
      expect(revoked!.at).toBeGreaterThan(released);
      const afterEnd = revoked!.at - finished!.at;
      console.log(`[e2e] ${job}: ${outcome}, its Secret revoked ${(afterEnd / 1000).toFixed(2)}s after`);
      expect(afterEnd).toBeLessThan(5_000);
      expect(await secretData(nc.c, team, secretName)).toBeUndefined();

      await eventually(
        () => eventsFor(nc.c, team, 'train'),
        (events) =>
          events.some(
            (e) =>
              e.reason === 'Revoked' &&
              e.message!.includes(`Secret "${secretName}"`) &&
              e.message!.includes(`Job "${job}" ${why}`),
          ),
        { what: 'a Revoked Event' },
      );
      // The Shared binding's Secret is untouched.
      expect(await secretData(nc.c, team, 'shared')).toEqual({ TOKEN: token });
    } finally {
      secrets.stop();
      jobs.stop();
    }
  },
  240_000,
);

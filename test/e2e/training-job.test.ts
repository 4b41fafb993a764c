// A training Job on a real node, with the operator installed by the chart: the Job's pod gets
// its own S3 credentials (a PerWorkload Secret), reads its dataset from moto with them, and
// exits; the Job finishes by itself and its Secret is revoked. A Job that fails loses its
// Secret the same way. moto checks every request against IAM, so only the projected
// credentials can read the object.
import { IAMClient } from '@aws-sdk/client-iam';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as k8s from '@kubernetes/client-node';
import { fingerprint, installChart } from '../harness/chart.ts';
import { awsClientConfig, createIamUser, enableMotoAuth, type AccessKey } from '../harness/emulators.ts';
import { eventually } from '../harness/kube.ts';
import { recordPlanted } from '../harness/leak-run.ts';
import { IMAGES, startNodeCluster, type NodeCluster } from '../harness/node-cluster.ts';
import {
  createBinding,
  createStore,
  eventsFor,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const team = 'training';
const dataset = `step,loss\n${Array.from({ length: 50 }, (_, i) => `${i},${(1 / (i + 1)).toFixed(4)}`).join('\n')}\n`;
let nc: NodeCluster;
let batch: k8s.BatchV1Api;
let trainerKey: AccessKey;

/** An IAM user of moto allowed `actions`, its secret key planted for the leak scan. */
async function iamUser(iam: IAMClient, name: string, actions: string[]): Promise<AccessKey> {
  const key = await createIamUser(iam, name, actions);
  recordPlanted(key.secret);
  return key;
}

/** Seeds moto while it accepts anything, then turns its IAM checks on. */
async function seedMoto(endpoint: string): Promise<AccessKey> {
  const iam = new IAMClient(awsClientConfig(endpoint));
  const sm = new SecretsManagerClient(awsClientConfig(endpoint));
  try {
    const operator = await iamUser(iam, 'mlsecrets-operator', [
      'secretsmanager:GetSecretValue',
      'secretsmanager:BatchGetSecretValue',
      'secretsmanager:DescribeSecret',
      'secretsmanager:ListSecrets',
    ]);
    trainerKey = await iamUser(iam, 'trainer', ['s3:GetObject']);
    await sm.send(
      new CreateSecretCommand({
        Name: 'ml/training/s3',
        SecretString: JSON.stringify({
          AWS_ACCESS_KEY_ID: trainerKey.id,
          AWS_SECRET_ACCESS_KEY: trainerKey.secret,
        }),
      }),
    );
    // Unsigned S3 writes are accepted while moto's IAM checks are off.
    for (const [url, body] of [
      [`${endpoint}/datasets`, undefined],
      [`${endpoint}/datasets/finetune/train.csv`, dataset],
    ] as const) {
      const response = await fetch(url, { method: 'PUT', body });
      if (!response.ok) throw new Error(`seeding ${url}: HTTP ${response.status}`);
    }
    await enableMotoAuth(endpoint);
    return operator;
  } finally {
    iam.destroy();
    sm.destroy();
  }
}

beforeAll(async () => {
  nc = await startNodeCluster('training');
  batch = nc.kc.makeApiClient(k8s.BatchV1Api);
  const operatorKey = await seedMoto(nc.moto.endpoint);
  await installChart(nc);
  await nc.c.core.createNamespace({ body: { metadata: { name: team } } });
  await putSourceSecret(nc.c, team, 'aws-operator', {
    'access-key-id': operatorKey.id,
    'secret-access-key': operatorKey.secret,
  });
  await createStore(
    nc.c,
    'SecretStore',
    'aws',
    {
      provider: {
        aws: {
          service: 'SecretsManager',
          region: 'us-east-1',
          endpoint: nc.moto.endpoint,
          auth: {
            secretRef: {
              accessKeyID: { name: 'aws-operator', key: 'access-key-id' },
              secretAccessKey: { name: 'aws-operator', key: 'secret-access-key' },
            },
          },
        },
      },
    },
    team,
  );
  await createBinding(nc.c, team, 'train-s3', {
    storeRef: { kind: 'SecretStore', name: 'aws' },
    dataFrom: [{ extract: { key: 'ml/training/s3' } }],
    projection: { as: 'volume', scope: 'PerWorkload' },
  });
  await waitForReady(nc.c, team, 'train-s3', {}, 60_000);
}, 300_000);
afterAll(() => nc?.stop(), 120_000);

/** A trainer Job reading `datasetKey`; labelled for the binding unless `labelled` is false. */
async function createJob(name: string, datasetKey: string, labelled = true): Promise<void> {
  await batch.createNamespacedJob({
    namespace: team,
    body: {
      metadata: { name },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: labelled ? { 'mlsecrets.io/binding': 'train-s3' } : {} },
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'train',
                image: IMAGES.trainer,
                imagePullPolicy: 'Never',
                env: [
                  { name: 'S3_ENDPOINT', value: nc.moto.endpoint },
                  { name: 'S3_BUCKET', value: 'datasets' },
                  { name: 'S3_KEY', value: datasetKey },
                ],
              },
            ],
          },
        },
      },
    },
  });
}

/** The trainer's output lines (one JSON object each). */
async function trainerLog(job: string): Promise<{ event: string; [k: string]: unknown }[]> {
  const log = await nc.kubectl('logs', '-n', team, `job/${job}`);
  return log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string });
}

function jobCondition(job: k8s.V1Job): string | undefined {
  return job.status?.conditions?.find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  )?.type;
}

test.each([
  ['finetune', 'finetune/train.csv', 'Complete'],
  ['bad-data', 'finetune/missing.csv', 'Failed'],
] as const)(
  'Job %s: its pod reads the projected credentials, uses them against moto, the Job is %s by itself, and its Secret is revoked',
  async (name, key, outcome) => {
    await createJob(name, key);
    const secretName = `train-s3-${name}`;
    // The per-Job Secret exists while the Job runs, owned by it.
    const secret = await eventually(
      () => nc.c.core.readNamespacedSecret({ namespace: team, name: secretName }),
      () => true,
      { timeoutMs: 60_000, what: `the per-Job Secret ${secretName}` },
    );
    expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Job', name });

    const job = await eventually(
      () => batch.readNamespacedJob({ namespace: team, name }),
      (j) => jobCondition(j) !== undefined,
      { timeoutMs: 120_000, intervalMs: 500, what: `Job ${name} to finish` },
    );
    const lines = await trainerLog(name);
    // The trainer prints fingerprints only: its lines say why a Job ended otherwise.
    if (jobCondition(job) !== outcome) console.log(`[e2e] ${name} ended ${jobCondition(job)}:`, lines);
    expect(jobCondition(job)).toBe(outcome);
    const credential = lines.find((l) => l.event === 'credential' && l.name === 'AWS_ACCESS_KEY_ID');
    expect(credential).toMatchObject({ sha256: fingerprint(trainerKey.id) });
    expect(String(credential?.source)).toMatch(/^file:train-s3\//);
    if (outcome === 'Complete') {
      expect(lines.find((l) => l.event === 'object')).toMatchObject({
        size: dataset.length,
        sha256: fingerprint(dataset),
      });
    } else {
      expect(lines.find((l) => l.event === 'error')).toMatchObject({ name: 'NoSuchKey' });
    }

    const finished = Date.now();
    await eventually(
      () => secretData(nc.c, team, secretName),
      (d) => d === undefined,
      { timeoutMs: 30_000, what: `${secretName} revoked` },
    );
    console.log(
      `[e2e] ${name}: ${outcome}, its Secret revoked ${((Date.now() - finished) / 1000).toFixed(1)}s after`,
    );
    const events = await eventsFor(nc.c, team, 'train-s3');
    expect(events.some((e) => e.reason === 'Revoked' && e.message?.includes(name))).toBe(true);
  },
  240_000,
);

test('a pod of the Job sees no credentials without the projection: the access key is what reads the object', async () => {
  // The same trainer without the binding's label: nothing is injected, and it fails, so the
  // Jobs above read the dataset with the projected key and nothing else.
  await createJob('unlabelled', 'finetune/train.csv', false);
  const job = await eventually(
    () => batch.readNamespacedJob({ namespace: team, name: 'unlabelled' }),
    (j) => jobCondition(j) !== undefined,
    { timeoutMs: 120_000, intervalMs: 500, what: 'Job unlabelled to finish' },
  );
  expect(jobCondition(job)).toBe('Failed');
  expect((await trainerLog('unlabelled')).find((l) => l.event === 'error')?.message).toMatch(
    /no AWS credentials/,
  );
}, 180_000);

// The seed's example made real, on a real node with the operator installed by the chart: each
// training Job gets its own feature-store database user from OpenBao's database secrets engine
// (the binding of manifests/examples/vault-feature-store-per-job.yaml), queries PostgreSQL with
// it, and that user stops working within seconds of the Job's completion.
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import type { SecretBindingSpec } from '../../src/api/types.ts';
import { fingerprint, installChart } from '../harness/chart.ts';
import { eventually } from '../harness/kube.ts';
import { recordPlanted } from '../harness/leak-run.ts';
import {
  IMAGES,
  repoRoot,
  startNodeCluster,
  type NodeCluster,
  createPodNamespace,
} from '../harness/node-cluster.ts';
import { NETWORK } from '../harness/node/host.ts';
import { enableDatabaseEngine, startOpenBao, type OpenBao } from '../harness/openbao.ts';
import { startPostgres, type Postgres } from '../harness/postgres.ts';
import {
  createBinding,
  createStore,
  getBinding,
  putSourceSecret,
  waitForReady,
} from '../harness/resources.ts';

const team = 'ml-team';
const BINDING = 'feature-store-ro';
let nc: NodeCluster;
let batch: k8s.BatchV1Api;
let bao: OpenBao;
let pg: Postgres;

/** The example's SecretBinding spec: what the README points users at is what runs here. */
function exampleBindingSpec(): SecretBindingSpec {
  const file = path.join(repoRoot, 'manifests/examples/vault-feature-store-per-job.yaml');
  const docs = loadAll(fs.readFileSync(file, 'utf8')) as { kind: string; spec: unknown }[];
  return docs.find((d) => d.kind === 'SecretBinding')!.spec as SecretBindingSpec;
}

beforeAll(async () => {
  nc = await startNodeCluster('vault');
  batch = nc.kc.makeApiClient(k8s.BatchV1Api);
  // Where pods reach them: the node bridge's host address.
  [bao, pg] = await Promise.all([
    startOpenBao(path.join(nc.dir, 'logs'), { host: NETWORK.hostAddress }),
    startPostgres(nc.dir, { host: NETWORK.hostAddress, clients: NETWORK.podCidr }),
  ]);
  recordPlanted(bao.rootToken);
  await enableDatabaseEngine(bao, pg, {
    db: 'feature-store',
    role: BINDING,
    defaultTtl: '1h',
    maxTtl: '24h',
  });
  await installChart(nc);
  await createPodNamespace(nc, team);
  await putSourceSecret(nc.c, team, 'vault-token', { token: bao.rootToken });
  await createStore(
    nc.c,
    'SecretStore',
    'vault',
    {
      provider: {
        vault: { server: bao.address, auth: { tokenSecretRef: { name: 'vault-token', key: 'token' } } },
      },
    },
    team,
  );
  await createBinding(nc.c, team, BINDING, exampleBindingSpec());
  await waitForReady(nc.c, team, BINDING, {}, 60_000);
}, 300_000);
afterAll(async () => {
  await nc?.stop();
  await bao?.stop();
  await pg?.stop();
}, 120_000);

async function createJob(name: string): Promise<void> {
  await batch.createNamespacedJob({
    namespace: team,
    body: {
      metadata: { name },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { 'mlsecrets.io/binding': BINDING } },
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'train',
                image: IMAGES.trainer,
                imagePullPolicy: 'Never',
                env: [
                  { name: 'TRAINER_MODE', value: 'featurestore' },
                  { name: 'PGHOST', value: pg.host },
                  { name: 'PGPORT', value: String(pg.port) },
                ],
              },
            ],
          },
        },
      },
    },
  });
}

async function trainerLog(job: string): Promise<{ event: string; [k: string]: unknown }[]> {
  const log = await nc.kubectl('logs', '-n', team, `job/${job}`);
  return log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string });
}

test('two Jobs, two database users; each works while its Job runs and is gone seconds after it completes', async () => {
  await createJob('train-a');
  await createJob('train-b');
  const users = new Map<string, string>();
  for (const job of ['train-a', 'train-b']) {
    const secret = await eventually(
      () => nc.c.core.readNamespacedSecret({ namespace: team, name: `${BINDING}-${job}` }),
      () => true,
      { timeoutMs: 60_000, what: `the per-Job Secret of ${job}` },
    );
    const user = Buffer.from(secret.data!.username!, 'base64').toString();
    recordPlanted(Buffer.from(secret.data!.password!, 'base64').toString());
    users.set(job, user);
    // The Job's pod logged in with it (the trainer prints a fingerprint of current_user).
    await eventually(
      () => trainerLog(job),
      (lines) => lines.some((l) => l.event === 'query' && l.when === 'start'),
      { timeoutMs: 90_000, intervalMs: 500, what: `${job} querying the feature store` },
    );
    expect((await trainerLog(job)).find((l) => l.event === 'query')).toMatchObject({
      user: fingerprint(user),
    });
  }
  expect(users.get('train-a')).not.toBe(users.get('train-b'));
  const leases = (await getBinding(nc.c, team, BINDING)).status?.leases ?? [];
  expect(leases.map((l) => l.secret).sort()).toEqual([`${BINDING}-train-a`, `${BINDING}-train-b`]);

  // train-a finishes; train-b runs on.
  const pod = (await nc.c.core.listNamespacedPod({ namespace: team, labelSelector: 'job-name=train-a' }))
    .items[0]!;
  await nc.kubectl('exec', '-n', team, pod.metadata!.name!, '--', 'touch', '/tmp/finish');
  await eventually(
    () => batch.readNamespacedJob({ namespace: team, name: 'train-a' }),
    (j) => j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ?? false,
    { timeoutMs: 60_000, intervalMs: 250, what: 'train-a complete' },
  );
  const completed = Date.now();
  expect((await trainerLog('train-a')).filter((l) => l.event === 'query').map((l) => l.when)).toEqual([
    'start',
    'end',
  ]);
  await eventually(
    () => pg.roleExists(users.get('train-a')!),
    (exists) => !exists,
    { timeoutMs: 30_000, intervalMs: 200, what: "train-a's database user dropped" },
  );
  const gone = Date.now() - completed;
  console.log(`[e2e] train-a's database user was dropped ${gone} ms after its Job completed`);
  expect(gone).toBeLessThan(10_000);
  expect(await pg.roleExists(users.get('train-b')!)).toBe(true);
  expect(((await getBinding(nc.c, team, BINDING)).status?.leases ?? []).map((l) => l.secret)).toEqual([
    `${BINDING}-train-b`,
  ]);
}, 300_000);

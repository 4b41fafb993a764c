// The cost claim, counted: 200 bindings over 40 AWS Secrets Manager secrets cost at most 2
// BatchGetSecretValue calls per refresh and no GetSecretValue call, and a refresh that finds
// nothing new writes no Secret. The operator runs in-process on a manual clock, so a refresh is
// one `advance()`; the store is the run's shared moto, with this file's own name prefix.
import { randomBytes } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ManualClock } from '../../src/runtime/clock.ts';
import { awsClientConfig } from '../harness/emulators.ts';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  putSourceSecret,
  type BindingObject,
} from '../harness/resources.ts';
import { testEnv } from '../harness/test-env.ts';

const MINUTE = 60_000;
const SECRETS = 40;
const BINDINGS = 200;
const c = clients(testKubeConfig());
const endpoint = testEnv('motoEndpoint');
const p = `its-${randomBytes(4).toString('hex')}`;
const sm = new SecretsManagerClient(awsClientConfig(endpoint));
// A round start, so every 10-minute advance crosses exactly one refresh epoch. The manual clock
// only schedules the operator's work; the API server and moto keep their own time.
const clock = new ManualClock(Math.ceil(Date.now() / (10 * MINUTE)) * 10 * MINUTE + 1000);
const names = Array.from({ length: SECRETS }, (_, i) => `${p}/model-${String(i).padStart(2, '0')}`);
const values = names.map((_, i) => plant(`scale-${i}`));

let team: string;
let op: TestOperator;

async function reconcileCount(): Promise<number> {
  const metric = await op.operator.metrics.reconciles.get();
  return metric.values.filter((v) => v.labels.kind === 'SecretBinding').reduce((sum, v) => sum + v.value, 0);
}

/** Advances the clock and waits for at least `atLeast` more reconciles, then an idle queue. */
async function advance(ms: number, atLeast: number): Promise<void> {
  const before = await reconcileCount();
  clock.advance(ms);
  await eventually(reconcileCount, (n) => n >= before + atLeast, {
    timeoutMs: 60_000,
    what: `${atLeast} reconciles after advancing`,
  });
  await eventually(
    async () => op.operator.manager.queue.len() + op.operator.manager.queue.processingLen(),
    (n) => n === 0,
    { timeoutMs: 30_000, what: 'an idle queue' },
  );
}

async function calls(): Promise<{ batch: number; single: number; all: number }> {
  const metrics = op.operator.metrics;
  return {
    batch: await metrics.callCount('BatchGetSecretValue'),
    single: await metrics.callCount('GetSecretValue'),
    all: await metrics.callCount(),
  };
}

/** resourceVersion of every Secret in the namespace, by name. */
async function secretVersions(): Promise<Record<string, string | undefined>> {
  const list = await c.core.listNamespacedSecret({ namespace: team });
  return Object.fromEntries(list.items.map((s) => [s.metadata!.name!, s.metadata?.resourceVersion]));
}

async function bindings(): Promise<BindingObject[]> {
  const list = (await c.custom.listNamespacedCustomObject({
    group: 'mlsecrets.io',
    version: 'v1alpha1',
    namespace: team,
    plural: 'secretbindings',
  })) as { items: BindingObject[] };
  return list.items;
}

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'aws-scale');
  await putSourceSecret(c, team, 'aws-creds', {
    'access-key-id': 'AKIAMLSECRETSSCALE1',
    'secret-access-key': plant('aws-secret-key'),
  });
  await Promise.all(
    names.map((Name, i) => sm.send(new CreateSecretCommand({ Name, SecretString: values[i] }))),
  );
  await createStore(
    c,
    'SecretStore',
    'sm',
    {
      provider: {
        aws: {
          service: 'SecretsManager',
          region: 'us-east-1',
          endpoint,
          auth: {
            secretRef: {
              accessKeyID: { name: 'aws-creds', key: 'access-key-id' },
              secretAccessKey: { name: 'aws-creds', key: 'secret-access-key' },
            },
          },
        },
      },
      // The limiter's tokens come back only as the manual clock moves; the first sync of 200
      // bindings must not wait for an advance.
      rateLimit: { qps: 1000, burst: 10000 },
    },
    team,
  );
  op = await startTestOperator({ namespaces: [team], clock });
}, 60_000);

afterAll(async () => {
  await op?.stop();
  sm.destroy();
  if (team) await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

test(`${BINDINGS} bindings over ${SECRETS} secrets: at most 2 BatchGetSecretValue and 0 GetSecretValue per refresh, no writes`, async () => {
  const started = Date.now();
  for (let start = 0; start < BINDINGS; start += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, BINDINGS - start) }, (_, j) => {
        const i = start + j;
        return createBinding(c, team, `b-${String(i).padStart(3, '0')}`, {
          storeRef: { name: 'sm' },
          data: [{ secretKey: 'V', remoteRef: { key: names[i % SECRETS]! } }],
          lifetime: { ttl: '24h', refreshInterval: '10m' },
        });
      }),
    );
  }
  await eventually(
    bindings,
    (items) =>
      items.length === BINDINGS &&
      items.every((b) => b.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')),
    { timeoutMs: 120_000, intervalMs: 500, what: `all ${BINDINGS} bindings Ready` },
  );
  await eventually(
    async () => op.operator.manager.queue.len() + op.operator.manager.queue.processingLen(),
    (n) => n === 0,
    { timeoutMs: 30_000, what: 'an idle queue' },
  );
  const first = await calls();
  console.log(
    `[aws-scale] first sync of ${BINDINGS} bindings over ${SECRETS} secrets in ${Date.now() - started} ms: ` +
      `BatchGetSecretValue ${first.batch}, GetSecretValue ${first.single}, all provider calls ${first.all}`,
  );
  const versions = await secretVersions();
  expect(Object.keys(versions).filter((n) => n.startsWith('b-'))).toHaveLength(BINDINGS);

  let before = first;
  for (const refresh of [1, 2]) {
    await advance(10 * MINUTE, BINDINGS);
    const after = await calls();
    const delta = {
      batch: after.batch - before.batch,
      single: after.single - before.single,
      all: after.all - before.all,
    };
    console.log(
      `[aws-scale] refresh ${refresh}: BatchGetSecretValue +${delta.batch}, GetSecretValue +${delta.single}, ` +
        `all provider calls +${delta.all}`,
    );
    expect(delta.batch).toBeGreaterThanOrEqual(1); // the refresh did read the store
    expect(delta.batch).toBeLessThanOrEqual(2);
    expect(delta.single).toBe(0);
    expect(await secretVersions()).toEqual(versions);
    before = after;
  }
  const items = await bindings();
  expect(
    items.every((b) => b.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')),
  ).toBe(true);
}, 240_000);

test('no planted value appears in any Event or status', async () => {
  const outputs = await operatorOutputs(c, [team]);
  outputs['operator logs'] = op.logs.join('\n');
  expect(findLeaks(outputs)).toEqual([]);
});

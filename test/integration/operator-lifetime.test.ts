// Lifetime on the real control plane with the clock injected: renewal at 2/3 of the ttl,
// expiry per onExpiry while the store fails, and one provider read per refresh for 100
// bindings over one remote value. No test waits for real minutes to pass.
import { ManualClock } from '../../src/runtime/clock.ts';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { plant } from '../harness/leaks.ts';
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
} from '../harness/resources.ts';

const MINUTE = 60_000;
const c = clients(testKubeConfig());
// Start at a round time so refresh epochs are easy to reason about; the manual clock only
// schedules work, the API server keeps its own time.
const clock = new ManualClock(Math.ceil(Date.now() / (10 * MINUTE)) * 10 * MINUTE + 1000);
let source: string;
let team: string;
let op: TestOperator;
const store = `lifetime-${Date.now().toString(36)}`;
const token = plant('token');

beforeAll(async () => {
  source = await createTestNamespace(c.core, 'life-source');
  team = await createTestNamespace(c.core, 'life-team');
  await putSourceSecret(c, source, 'token', { value: token });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: source } } });
  op = await startTestOperator({ namespaces: [team], clock });
});

afterAll(async () => {
  await op?.stop();
  await deleteClusterStore(c, store).catch(() => undefined);
  for (const ns of [source, team]) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

function binding(onExpiry: 'Delete' | 'Retain', key = 'token') {
  return {
    storeRef: { kind: 'ClusterSecretStore' as const, name: store },
    data: [{ secretKey: 'TOKEN', remoteRef: { key, property: 'value' } }],
    lifetime: { ttl: '1h', refreshInterval: '10m', onExpiry },
  };
}

async function reconcileCount(): Promise<number> {
  const metric = await op.operator.metrics.reconciles.get();
  return metric.values.filter((v) => v.labels.kind === 'SecretBinding').reduce((sum, v) => sum + v.value, 0);
}

/** Provider reads of Secrets (the store's access checks are counted apart, as CheckAccess). */
async function secretReads(): Promise<number> {
  return op.operator.metrics.callCount('GetSecret');
}

/** Advances the clock and waits until the operator has done at least `atLeast` more reconciles. */
async function advance(ms: number, atLeast = 1): Promise<void> {
  const before = await reconcileCount();
  clock.advance(ms);
  await eventually(reconcileCount, (n) => n >= before + atLeast, {
    what: `${atLeast} reconciles after advancing`,
  });
  await eventually(
    async () => op.operator.manager.queue.len() + op.operator.manager.queue.processingLen(),
    (n) => n === 0,
    {
      what: 'an idle queue',
    },
  );
}

test('100 bindings over one remote value cost one provider read per refresh, and no writes when nothing changed', async () => {
  const names = Array.from({ length: 100 }, (_, i) => `shared-${i}`);
  for (const name of names) await createBinding(c, team, name, binding('Delete'));
  await Promise.all(names.map((name) => waitForReady(c, team, name, {}, 60_000)));
  expect(await secretReads()).toBe(1);

  const versions = async () =>
    (await c.core.listNamespacedSecret({ namespace: team })).items
      .map((s) => s.metadata?.resourceVersion)
      .sort();
  const before = await versions();
  await advance(10 * MINUTE, 100); // the next refresh epoch: every binding re-reads at once
  expect(await secretReads()).toBe(2);
  expect(await versions()).toEqual(before);
  await advance(10 * MINUTE, 100);
  expect(await secretReads()).toBe(3);
  expect(await versions()).toEqual(before);
  for (const name of names)
    await c.custom.deleteNamespacedCustomObject({
      group: 'mlsecrets.io',
      version: 'v1alpha1',
      namespace: team,
      plural: 'secretbindings',
      name,
    });
});

test('a Secret is renewed at 2/3 of its ttl', async () => {
  await createBinding(c, team, 'renewed', binding('Delete'));
  const first = await waitForReady(c, team, 'renewed');
  await advance(41 * MINUTE);
  const renewed = await eventually(
    () => getBinding(c, team, 'renewed'),
    (b) => b.status?.expiresAt !== first.status?.expiresAt,
    {
      what: 'a new expiresAt',
    },
  );
  expect(
    Date.parse(renewed.status!.expiresAt!) - Date.parse(first.status!.expiresAt!),
  ).toBeGreaterThanOrEqual(40 * MINUTE);
  await eventually(
    () => eventsFor(c, team, 'renewed'),
    (e) => e.some((x) => x.reason === 'Renewed'),
    { what: 'a Renewed Event' },
  );
});

test.each([
  ['Delete', 'deleted'],
  ['Retain', 'retained'],
] as const)(
  'onExpiry %s: the Secret is kept through an outage, then %s when the ttl passes',
  async (onExpiry, _outcome) => {
    const name = `expiry-${onExpiry.toLowerCase()}`;
    const key = `token-${onExpiry.toLowerCase()}`;
    await putSourceSecret(c, source, key, { value: token });
    await createBinding(c, team, name, binding(onExpiry, key));
    await waitForReady(c, team, name);
    await c.core.deleteNamespacedSecret({ namespace: source, name: key });

    // Past the renewal point: renewal fails, the last good Secret stays.
    await advance(41 * MINUTE);
    await waitForReady(c, team, name, { status: 'False', reason: 'RemoteKeyNotFound' });
    expect(await secretData(c, team, name)).toEqual({ TOKEN: token });

    // Past the expiry.
    await advance(20 * MINUTE);
    const expired = await waitForReady(c, team, name, { status: 'False', reason: 'Expired' });
    if (onExpiry === 'Delete') {
      await eventually(
        () => secretData(c, team, name),
        (d) => d === undefined,
        { what: 'the expired Secret deleted' },
      );
      await eventually(
        () => eventsFor(c, team, name),
        (e) => e.some((x) => x.reason === 'Expired'),
        { what: 'an Expired Event' },
      );
      // The store recovers: the next refresh issues the Secret again.
      await putSourceSecret(c, source, key, { value: token });
      await advance(10 * MINUTE);
      await waitForReady(c, team, name);
      expect(await secretData(c, team, name)).toEqual({ TOKEN: token });
    } else {
      expect(await secretData(c, team, name)).toEqual({ TOKEN: token });
      expect(expired.status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(/retained/);
    }
  },
);

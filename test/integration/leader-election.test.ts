// Two operator replicas on the real control plane elect one leader on a Lease; only the
// leader reconciles, and when it dies (no release, as in a crash) the other takes over within
// the lease duration, with no write from the old one after it lost the lease.
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
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

const c = clients(testKubeConfig());
let team: string;
const replicas: TestOperator[] = [];
const store = `leader-${Date.now().toString(36)}`;
const lease = `mlsecrets-leader-${Date.now().toString(36)}`;

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'leader');
  await putSourceSecret(c, team, 'source', { token: 'v1' });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: team } } });
  for (const identity of ['replica-a', 'replica-b']) {
    replicas.push(await startTestOperator({ namespaces: [team], leaderElection: { id: lease, identity } }));
  }
});

afterAll(async () => {
  for (const r of replicas) await r.stop();
  await deleteClusterStore(c, store).catch(() => undefined);
  await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

const reconciles = async (r: TestOperator) =>
  (await r.operator.metrics.reconciles.get()).values
    .filter((v) => v.labels.kind === 'SecretBinding')
    .reduce((s, v) => s + v.value, 0);

test('one leader reconciles; a crashed leader is replaced within the lease duration, and stays silent', async () => {
  const leader = await eventually(
    async () => replicas.filter((r) => r.operator.elector?.isLeader),
    (leaders) => leaders.length === 1,
    { what: 'exactly one leader' },
  );
  const [old] = leader;
  const other = replicas.find((r) => r !== old)!;
  await createBinding(c, team, 'elected', {
    storeRef: { kind: 'ClusterSecretStore', name: store },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
    lifetime: { ttl: '1h', refreshInterval: '1s' },
  });
  await waitForReady(c, team, 'elected');
  expect(await reconciles(other)).toBe(0); // the follower never reconciled

  // The leader dies without releasing the Lease.
  await old!.operator.elector!.stop({ release: false });
  await old!.operator.manager.stopWorkers();
  const diedAt = Date.now();
  const oldCount = await reconciles(old!);
  await eventually(
    async () => other.operator.elector?.isLeader,
    (leading) => leading === true,
    {
      what: 'the follower taking over',
      timeoutMs: 15_000,
    },
  );
  const handover = (Date.now() - diedAt) / 1000;
  console.log(`[leader-election] handover in ${handover.toFixed(1)}s (lease 3s, retry 0.5s)`);
  expect(handover).toBeLessThan(15);

  // The new leader does the work: a changed value reaches the Secret; the old one wrote nothing more.
  await putSourceSecret(c, team, 'source', { token: 'v2' });
  await eventually(
    () => secretData(c, team, 'elected'),
    (d) => d?.TOKEN === 'v2',
    { what: 'the new leader syncing' },
  );
  expect(await reconciles(other)).toBeGreaterThan(0);
  expect(await reconciles(old!)).toBe(oldCount);
});

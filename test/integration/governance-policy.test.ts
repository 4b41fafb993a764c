// Store policy on the real control plane: each rule denies and allows, a denial is
// Ready=False PolicyDenied with a Warning Event naming the rule, and policy or namespace-label
// changes take effect on existing bindings (a binding no longer admitted loses its Secret).
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { SecretStoreSpec } from '../../src/api/types.ts';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
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

const c = clients(testKubeConfig());
let source: string;
let team: string;
let op: TestOperator;
const suffix = Date.now().toString(36);
const stores: string[] = [];

beforeAll(async () => {
  source = await createTestNamespace(c.core, 'policy-source');
  team = await createTestNamespace(c.core, 'policy-team');
  await putSourceSecret(c, source, 'ml-hf', { token: 'hf' });
  await putSourceSecret(c, source, 'ml-wandb', { token: 'wandb' });
  await putSourceSecret(c, source, 'finance-db', { token: 'db' });
  op = await startTestOperator({ namespaces: [team] });
});

afterAll(async () => {
  await op?.stop();
  for (const name of stores) await deleteClusterStore(c, name).catch(() => undefined);
  for (const ns of [source, team]) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

async function store(name: string, policy: SecretStoreSpec['policy']): Promise<string> {
  const full = `${name}-${suffix}`;
  stores.push(full);
  await createStore(c, 'ClusterSecretStore', full, {
    provider: { kubernetes: { namespace: source } },
    policy,
  });
  return full;
}

async function patchStorePolicy(name: string, policy: SecretStoreSpec['policy']): Promise<void> {
  await c.custom.patchClusterCustomObject(
    {
      group: 'mlsecrets.io',
      version: 'v1alpha1',
      plural: 'clustersecretstores',
      name,
      body: { spec: { policy } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

async function expectDenied(name: string, rule: RegExp): Promise<void> {
  const binding = await waitForReady(c, team, name, { status: 'False', reason: 'PolicyDenied' });
  expect(binding.status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(rule);
  await eventually(
    () => eventsFor(c, team, name),
    (events) =>
      events.some((e) => e.type === 'Warning' && e.reason === 'PolicyDenied' && rule.test(e.message ?? '')),
    { what: `a PolicyDenied Event on ${name}` },
  );
}

const data = (key: string) => [{ secretKey: 'TOKEN', remoteRef: { key, property: 'token' } }];

test('namespaceSelector: denied until the namespace carries the label, revoked when it loses it', async () => {
  const name = await store('by-namespace', {
    namespaceSelector: { matchLabels: { 'policy-test': 'ml' } },
  } as SecretStoreSpec['policy']);
  await createBinding(c, team, 'ns-gated', {
    storeRef: { kind: 'ClusterSecretStore', name },
    data: data('ml-hf'),
  });
  await expectDenied('ns-gated', /does not admit namespace/);
  expect(await secretData(c, team, 'ns-gated')).toBeUndefined();

  const label = (value: string | null) =>
    c.core.patchNamespace(
      { name: team, body: { metadata: { labels: { 'policy-test': value } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  await label('ml');
  await waitForReady(c, team, 'ns-gated');
  expect(await secretData(c, team, 'ns-gated')).toEqual({ TOKEN: 'hf' });

  await label(null);
  await expectDenied('ns-gated', /does not admit namespace/);
  await eventually(
    () => secretData(c, team, 'ns-gated'),
    (d) => d === undefined,
    { what: 'the Secret revoked' },
  );
});

test('allowedKeys: a key outside the globs is denied; find keeps only allowed keys', async () => {
  const name = await store('by-key', { allowedKeys: ['ml-*'] });
  const storeRef = { kind: 'ClusterSecretStore' as const, name };
  await createBinding(c, team, 'key-denied', { storeRef, data: data('finance-db') });
  await expectDenied('key-denied', /remote key "finance-db" is not allowed/);
  await createBinding(c, team, 'key-allowed', { storeRef, data: data('ml-wandb') });
  await waitForReady(c, team, 'key-allowed');
  await createBinding(c, team, 'key-found', { storeRef, dataFrom: [{ find: { name: { regexp: '.*' } } }] });
  await waitForReady(c, team, 'key-found');
  expect(Object.keys((await secretData(c, team, 'key-found'))!).sort()).toEqual(['ml-hf', 'ml-wandb']);
});

test('maxTTL and minRefreshInterval deny what asks for more, and a policy change reaches existing bindings', async () => {
  const name = await store('by-lifetime', { maxTTL: '1h', minRefreshInterval: '1m' });
  const storeRef = { kind: 'ClusterSecretStore' as const, name };
  await createBinding(c, team, 'ttl-long', {
    storeRef,
    data: data('ml-hf'),
    lifetime: { ttl: '2h', refreshInterval: '1h' },
  });
  await expectDenied('ttl-long', /lifetime.ttl 2h0m0s is longer than .* \(policy.maxTTL 1h\)/);
  await createBinding(c, team, 'refresh-short', {
    storeRef,
    data: data('ml-hf'),
    lifetime: { ttl: '1h', refreshInterval: '10s' },
  });
  await expectDenied('refresh-short', /refreshInterval 10s is shorter/);
  await createBinding(c, team, 'lifetime-ok', {
    storeRef,
    data: data('ml-hf'),
    lifetime: { ttl: '30m', refreshInterval: '5m' },
  });
  await waitForReady(c, team, 'lifetime-ok');

  await patchStorePolicy(name, { maxTTL: '10m', minRefreshInterval: '1m' });
  await expectDenied('lifetime-ok', /policy.maxTTL 10m/);
  await eventually(
    () => secretData(c, team, 'lifetime-ok'),
    (d) => d === undefined,
    { what: 'the Secret revoked' },
  );
});

// The operator core on the real control plane, with the kubernetes provider: bindings become
// Ready, pick up changes, undo drift, clean up, and answer bad input with a clear status.
import { createTestNamespace, eventually, kubectl, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteBinding,
  deleteClusterStore,
  eventsFor,
  getBinding,
  patchBindingSpec,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const c = clients(testKubeConfig());
let source: string;
let team: string;
let other: string;
let op: TestOperator;
const store = `core-${Date.now().toString(36)}`;
const quietStore = `${store}-quiet`;
const hfToken = plant('hf');
const s3Key = plant('s3');

beforeAll(async () => {
  source = await createTestNamespace(c.core, 'core-source');
  team = await createTestNamespace(c.core, 'core-team');
  other = await createTestNamespace(c.core, 'core-other');
  await putSourceSecret(c, source, 'huggingface', {
    token: hfToken,
    config: JSON.stringify({ org: { name: 'acme' } }),
  });
  await putSourceSecret(c, source, 's3-training', {
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: s3Key,
  });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: source } } });
  op = await startTestOperator({ namespaces: [team, other, source] });
});

afterAll(async () => {
  await op?.stop();
  await deleteClusterStore(c, store).catch(() => undefined);
  await deleteClusterStore(c, quietStore).catch(() => undefined);
  for (const ns of [source, team, other]) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('a binding becomes Ready and its Secret holds the right keys', async () => {
  await createBinding(c, team, 'finetune', {
    storeRef: { kind: 'ClusterSecretStore', name: store },
    data: [
      { secretKey: 'HF_TOKEN', remoteRef: { key: 'huggingface', property: 'token' } },
      { secretKey: 'HF_ORG', remoteRef: { key: 'huggingface', property: 'config.org.name' } },
    ],
    dataFrom: [{ extract: { key: 's3-training' } }],
    lifetime: { ttl: '1h', refreshInterval: '2s' },
  });
  const binding = await waitForReady(c, team, 'finetune');
  expect(await secretData(c, team, 'finetune')).toEqual({
    HF_TOKEN: hfToken,
    HF_ORG: 'acme',
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: s3Key,
  });
  expect(binding.status).toMatchObject({
    secretName: 'finetune',
    observedGeneration: 1,
    dataHash: expect.stringMatching(/^hmac-sha256:[0-9a-f]{64}$/),
  });
  expect(binding.status?.sources?.map((s) => s.key)).toEqual(['huggingface', 's3-training']);
  const secret = JSON.parse(
    kubectl('get', 'secret', 'finetune', '-n', team, '-o', 'json', '--show-managed-fields'),
  ) as {
    metadata: {
      labels: Record<string, string>;
      annotations: Record<string, string>;
      ownerReferences: { kind: string }[];
      managedFields: { manager: string }[];
    };
  };
  expect(secret.metadata.labels['app.kubernetes.io/managed-by']).toBe('mlsecrets');
  expect(secret.metadata.annotations['mlsecrets.io/binding']).toBe('finetune');
  expect(
    Date.parse(secret.metadata.annotations['mlsecrets.io/expires-at']!) -
      Date.parse(secret.metadata.annotations['mlsecrets.io/issued-at']!),
  ).toBe(3600_000);
  expect(secret.metadata.annotations['mlsecrets.io/data-hash']).toBe(binding.status?.dataHash);
  expect(secret.metadata.ownerReferences[0]?.kind).toBe('SecretBinding');
  expect(secret.metadata.managedFields.map((f) => f.manager)).toContain('mlsecrets');
  const printed = kubectl('get', 'sb', 'finetune', '-n', team);
  expect(printed).toMatch(/READY\s+REASON\s+SECRET\s+EXPIRES\s+AGE/);
  expect(printed).toMatch(/finetune\s+True\s+Synced\s+finetune/);
  const events = await eventually(
    () => eventsFor(c, team, 'finetune'),
    (e) => e.length > 0,
    { what: 'an Event' },
  );
  expect(events.map((e) => e.reason)).toEqual(['Synced']);
});

test('a changed source value is picked up within one refreshInterval', async () => {
  const rotated = plant('hf-rotated');
  await putSourceSecret(c, source, 'huggingface', {
    token: rotated,
    config: JSON.stringify({ org: { name: 'acme' } }),
  });
  const changedAt = Date.now();
  await eventually(
    () => secretData(c, team, 'finetune'),
    (d) => d?.HF_TOKEN === rotated,
    { timeoutMs: 2_000 + 1_500, what: 'the new token' },
  );
  expect(Date.now() - changedAt).toBeLessThan(3_500);
  // The status and the Event of a rotation may follow the Secret (a refresh's bookkeeping waits
  // for urgent work), but they do follow: the status names the new hash, still Ready.
  const secretHash = JSON.parse(kubectl('get', 'secret', 'finetune', '-n', team, '-o', 'json')) as {
    metadata: { annotations: Record<string, string> };
  };
  const binding = await eventually(
    () => getBinding(c, team, 'finetune'),
    (b) => b?.status?.dataHash === secretHash.metadata.annotations['mlsecrets.io/data-hash'],
    { what: 'the status of the new issue' },
  );
  expect(binding?.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
  await eventually(
    () => eventsFor(c, team, 'finetune'),
    (e) => e.filter((x) => x.reason === 'Synced').length >= 2,
    { what: 'the Synced Event of the new issue' },
  );
});

test('a spec change is applied at once', async () => {
  await patchBindingSpec(c, team, 'finetune', {
    data: [{ secretKey: 'ONLY_TOKEN', remoteRef: { key: 'huggingface', property: 'token' } }],
    dataFrom: [],
    lifetime: { ttl: '1h', refreshInterval: '1h' },
  });
  const data = await eventually(
    () => secretData(c, team, 'finetune'),
    (d) => d !== undefined && 'ONLY_TOKEN' in d,
    {
      timeoutMs: 3_000,
      what: 'the new spec applied',
    },
  );
  expect(Object.keys(data!)).toEqual(['ONLY_TOKEN']);
  await eventually(
    () => getBinding(c, team, 'finetune'),
    (b) => b.status?.observedGeneration === 2,
    {
      timeoutMs: 3_000,
      what: 'status for generation 2',
    },
  );
});

test('a Secret edited or deleted by hand is restored within seconds, with DriftCorrected', async () => {
  const before = await secretData(c, team, 'finetune');
  kubectl(
    'patch',
    'secret',
    'finetune',
    '-n',
    team,
    '--type=merge',
    '-p',
    JSON.stringify({ stringData: { ONLY_TOKEN: 'tampered', EXTRA: 'x' } }),
  );
  await eventually(
    () => secretData(c, team, 'finetune'),
    (d) => JSON.stringify(d) === JSON.stringify(before),
    { timeoutMs: 3_000, what: 'edit undone' },
  );
  // Undoing that edit takes two writes (the apply, then the removal of the added key), and the
  // apply's watch event starts one more reconcile. A deletion before that reconcile has run is
  // undone by it, and its Event names the edit it saw, not the deletion (CI saw this once,
  // under load): delete only once the Secret has held still for a second.
  let version: string | undefined;
  let since = Date.now();
  await eventually(
    async () =>
      (await c.core.readNamespacedSecret({ namespace: team, name: 'finetune' })).metadata?.resourceVersion,
    (rv) => {
      if (rv !== version) [version, since] = [rv, Date.now()];
      return Date.now() - since >= 1_000;
    },
    { timeoutMs: 5_000, what: 'the restored Secret unchanged for a second' },
  );
  kubectl('delete', 'secret', 'finetune', '-n', team);
  await eventually(
    () => secretData(c, team, 'finetune'),
    (d) => JSON.stringify(d) === JSON.stringify(before),
    { timeoutMs: 3_000, what: 'deletion undone' },
  );
  const drift = await eventually(
    async () => (await eventsFor(c, team, 'finetune')).filter((e) => e.reason === 'DriftCorrected'),
    (d) => d.length >= 2,
    { timeoutMs: 3_000, what: 'two DriftCorrected Events' },
  );
  expect(drift.map((e) => e.message)).toEqual(
    expect.arrayContaining([expect.stringMatching(/data was changed/), expect.stringMatching(/was deleted/)]),
  );
});

test('a managed Secret whose labels are stripped by hand is still ours: relabelled, not a conflict', async () => {
  // It leaves the managed cache and enters the cache of unmanaged Secrets (a metadata watch).
  kubectl('label', 'secret', 'finetune', '-n', team, 'app.kubernetes.io/managed-by-');
  await eventually(
    async () => (await c.core.readNamespacedSecret({ namespace: team, name: 'finetune' })).metadata?.labels,
    (labels) => labels?.['app.kubernetes.io/managed-by'] === 'mlsecrets',
    { timeoutMs: 3_000, what: 'the managed-by label restored' },
  );
  const binding = await getBinding(c, team, 'finetune');
  expect(binding.status?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({ status: 'True' });
});

test('an unchanged refresh writes neither the Secret nor the status', async () => {
  // A store of its own, so that its provider reads are this binding's refreshes: every refresh
  // epoch (1 s) reads the remote secret once, and a read is counted as it starts.
  await createStore(c, 'ClusterSecretStore', quietStore, { provider: { kubernetes: { namespace: source } } });
  await createBinding(c, team, 'quiet', {
    storeRef: { kind: 'ClusterSecretStore', name: quietStore },
    data: [{ secretKey: 'KEY', remoteRef: { key: 's3-training', property: 'AWS_ACCESS_KEY_ID' } }],
    lifetime: { ttl: '1h', refreshInterval: '1s' },
  });
  await waitForReady(c, team, 'quiet');
  const secretVersion = () =>
    c.core.readNamespacedSecret({ namespace: team, name: 'quiet' }).then((s) => s.metadata?.resourceVersion);
  const bindingVersion = () => getBinding(c, team, 'quiet').then((b) => b.metadata.resourceVersion);
  const reads = async () =>
    (await op.operator.metrics.providerCalls.get()).values
      .filter(
        (v) => v.labels.store === `ClusterSecretStore/${quietStore}` && v.labels.operation === 'GetSecret',
      )
      .reduce((sum, v) => sum + v.value, 0);
  const [s1, b1] = [await secretVersion(), await bindingVersion()];
  const readsBefore = await reads();
  // Three refreshes done: a binding's reconciles run one at a time, so the fourth read after
  // the snapshot means the third refresh has finished, writes and all.
  await eventually(reads, (n) => n >= readsBefore + 4, { what: 'four refresh reads', timeoutMs: 10_000 });
  expect([await secretVersion(), await bindingVersion()]).toEqual([s1, b1]);
});

test('deleting the binding removes its Secret', async () => {
  await deleteBinding(c, team, 'quiet');
  await eventually(
    () => secretData(c, team, 'quiet'),
    (d) => d === undefined,
    { timeoutMs: 5_000, what: 'the Secret deleted' },
  );
  // No Event can name a deleted binding: the audit trail records the revocation.
  expect(op.audit.find((r) => r.binding === `${team}/quiet` && r.action === 'revoke')).toMatchObject({
    secret: 'quiet',
    reason: 'BindingDeleted',
  });
});

describe('bad input gets a clear answer', () => {
  async function expectFailure(namespace: string, name: string, reason: string, message: RegExp) {
    const binding = await waitForReady(c, namespace, name, { status: 'False', reason });
    const ready = binding.status?.conditions?.find((x) => x.type === 'Ready');
    expect(ready?.message).toMatch(message);
    // Events are written right after the status, without holding up the reconcile.
    await eventually(
      async () => (await eventsFor(c, namespace, name)).filter((e) => e.type === 'Warning'),
      (warnings) => warnings.length >= 1,
      { timeoutMs: 3_000, what: `a Warning Event on ${name}` },
    );
    return binding;
  }

  test('unknown store', async () => {
    await createBinding(c, team, 'no-store', {
      storeRef: { kind: 'ClusterSecretStore', name: 'does-not-exist' },
      data: [{ secretKey: 'A', remoteRef: { key: 'x' } }],
    });
    await expectFailure(team, 'no-store', 'StoreNotFound', /ClusterSecretStore "does-not-exist" not found/);
  });

  test('a SecretStore of another namespace', async () => {
    await createStore(c, 'SecretStore', 'theirs', { provider: { kubernetes: {} } }, other);
    await createBinding(c, team, 'cross-ns', {
      storeRef: { kind: 'SecretStore', name: 'theirs' },
      data: [{ secretKey: 'A', remoteRef: { key: 'x' } }],
    });
    await expectFailure(team, 'cross-ns', 'StoreNotFound', /usable only from its own namespace/);
  });

  test('a SecretStore that tries to read another namespace', async () => {
    await createStore(c, 'SecretStore', 'escape', { provider: { kubernetes: { namespace: source } } }, team);
    await createBinding(c, team, 'escape', {
      storeRef: { name: 'escape' },
      data: [{ secretKey: 'A', remoteRef: { key: 'huggingface' } }],
    });
    await expectFailure(team, 'escape', 'InvalidSpec', /may only read its own namespace/);
    expect(await secretData(c, team, 'escape')).toBeUndefined();
  });

  test('missing remote key', async () => {
    await createBinding(c, team, 'no-key', {
      storeRef: { kind: 'ClusterSecretStore', name: store },
      data: [{ secretKey: 'A', remoteRef: { key: 'nope' } }],
    });
    await expectFailure(team, 'no-key', 'RemoteKeyNotFound', /Secret "nope" not found/);
  });

  test('missing JSON property, with the last good Secret kept', async () => {
    await createBinding(c, team, 'prop', {
      storeRef: { kind: 'ClusterSecretStore', name: store },
      data: [{ secretKey: 'ORG', remoteRef: { key: 'huggingface', property: 'config.org.name' } }],
      lifetime: { ttl: '1h', refreshInterval: '1h' },
    });
    await waitForReady(c, team, 'prop');
    await patchBindingSpec(c, team, 'prop', {
      data: [{ secretKey: 'ORG', remoteRef: { key: 'huggingface', property: 'config.org.missing' } }],
    });
    await expectFailure(
      team,
      'prop',
      'PropertyNotFound',
      /no property "config.org.missing".*last good Secret is kept/,
    );
    expect(await secretData(c, team, 'prop')).toEqual({ ORG: 'acme' });
  });

  test('a property asked of a value that is not JSON', async () => {
    await createBinding(c, team, 'not-json', {
      storeRef: { kind: 'ClusterSecretStore', name: store },
      data: [{ secretKey: 'A', remoteRef: { key: 'huggingface', property: 'token.inner' } }],
    });
    const binding = await expectFailure(team, 'not-json', 'InvalidValue', /is not JSON/);
    expect(JSON.stringify(binding.status)).not.toContain('MLSECRET');
  });

  test('a value over the 1 MiB Secret limit', async () => {
    await putSourceSecret(c, source, 'big-1', { blob: 'a'.repeat(600 * 1024) });
    await putSourceSecret(c, source, 'big-2', { blob: 'b'.repeat(600 * 1024) });
    await createBinding(c, team, 'too-big', {
      storeRef: { kind: 'ClusterSecretStore', name: store },
      data: [
        { secretKey: 'ONE', remoteRef: { key: 'big-1', property: 'blob' } },
        { secretKey: 'TWO', remoteRef: { key: 'big-2', property: 'blob' } },
      ],
    });
    await expectFailure(team, 'too-big', 'SecretTooLarge', /over the Kubernetes limit/);
  });

  test('duplicate secretKeys', async () => {
    await createBinding(c, team, 'dupes', {
      storeRef: { kind: 'ClusterSecretStore', name: store },
      data: [
        { secretKey: 'A', remoteRef: { key: 'huggingface', property: 'token' } },
        { secretKey: 'A', remoteRef: { key: 's3-training', property: 'AWS_ACCESS_KEY_ID' } },
      ],
    });
    await expectFailure(team, 'dupes', 'DuplicateKey', /secretKey "A" appears more than once/);
  });

  test('a target name owned by something else is never overwritten', async () => {
    await c.core.createNamespacedSecret({
      namespace: team,
      body: { metadata: { name: 'taken' }, stringData: { mine: 'keep' } },
    });
    await createBinding(c, team, 'taken', {
      storeRef: { kind: 'ClusterSecretStore', name: store },
      data: [{ secretKey: 'A', remoteRef: { key: 'huggingface', property: 'token' } }],
    });
    await expectFailure(team, 'taken', 'SecretConflict', /not managed by this binding/);
    expect(await secretData(c, team, 'taken')).toEqual({ mine: 'keep' });
  });

  test('the operator is still alive and serving after all of it', async () => {
    await createBinding(c, team, 'after', {
      storeRef: { kind: 'ClusterSecretStore', name: store },
      data: [{ secretKey: 'A', remoteRef: { key: 's3-training', property: 'AWS_ACCESS_KEY_ID' } }],
    });
    await waitForReady(c, team, 'after');
  });
});

test('the audit trail records issue, restore and failed reads, with stores and versions', async () => {
  const finetune = op.audit.filter((r) => r.binding === `${team}/finetune`);
  const issue = finetune.find((r) => r.action === 'issue');
  expect(issue).toMatchObject({ outcome: 'success', store: `ClusterSecretStore/${store}` });
  expect(issue?.sources?.map((s) => s.key)).toEqual(['huggingface', 's3-training']);
  expect(issue?.sources?.every((s) => /^\d+$/.test(s.versionId ?? ''))).toBe(true);
  // An edit and a deletion were undone (an edit that added a key may count twice: two writes).
  expect(finetune.filter((r) => r.action === 'restore').map((r) => r.message)).toEqual(
    expect.arrayContaining([expect.stringMatching(/data was changed/), expect.stringMatching(/was deleted/)]),
  );
  expect(op.audit.find((r) => r.binding === `${team}/no-key`)).toMatchObject({
    action: 'read-failed',
    outcome: 'failure',
    reason: 'ProviderError',
  });
});

test('no planted value appears in any log line, Event or status', async () => {
  const outputs = await operatorOutputs(c, [team, other, source]);
  outputs['operator logs'] = op.logs.join('\n');
  outputs['audit trail'] = JSON.stringify(op.audit);
  expect(op.logs.length).toBeGreaterThan(10);
  expect(findLeaks(outputs)).toEqual([]);
});

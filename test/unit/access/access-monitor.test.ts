// The monitor's judgement of reads against the operator's caches: which Secrets a read touched,
// the records, and for an unexpected read the metric, the Event and the status mark.
import type { SecretRead } from '../../../src/access/audit-event.ts';
import { AccessMonitor, type NodePod } from '../../../src/access/access-monitor.ts';
import type { SecretBinding, Store } from '../../../src/api/types.ts';
import type { SecretObject } from '../../../src/kube/kube-client.ts';
import type { AuditRecord } from '../../../src/observability/audit.ts';
import { silentLogger } from '../../../src/observability/logger.ts';
import { ManualClock } from '../../../src/runtime/clock.ts';

const OPERATOR = 'system:serviceaccount:mlsecrets-system:mlsecrets';

function secret(name: string, binding: string): SecretObject {
  return {
    metadata: { namespace: 'ml', name, annotations: { 'mlsecrets.io/binding': binding } },
  } as SecretObject;
}

function binding(name: string, spec: Partial<SecretBinding['spec']> = {}): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { namespace: 'ml', name, uid: `uid-${name}` },
    spec: { storeRef: { name: 'store' }, ...spec },
    status: { sources: [{ key: 'hf/token', versionId: 'v1' }] },
  } as SecretBinding;
}

function read(overrides: Partial<SecretRead> = {}): SecretRead {
  return {
    auditID: 'a',
    at: Date.parse('2026-12-07T10:00:00.400Z'),
    verb: 'get',
    reader: { username: 'alice', groups: [] },
    namespace: 'ml',
    name: 'hf',
    allowed: true,
    sourceIPs: ['10.0.0.7'],
    ...overrides,
  };
}

function setup(options: { pods?: NodePod[]; storePolicy?: object } = {}) {
  const bindings = new Map([
    ['ml/hf', binding('hf')],
    ['ml/wandb', binding('wandb', { access: { expectedReaders: { users: ['bob'] } } })],
  ]);
  const secrets = [secret('hf', 'hf'), secret('wandb', 'wandb')];
  const addSecret = (name: string) => secrets.push(secret(name, 'hf'));
  const records: AuditRecord[] = [];
  const events: string[] = [];
  const patches: unknown[] = [];
  const unexpected: string[] = [];
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:01Z'));
  const monitor = new AccessMonitor({
    clock,
    logger: silentLogger(),
    cache: {
      getBinding: (key) => bindings.get(key),
      getManagedSecret: (ns, name) =>
        secrets.find((s) => s.metadata.namespace === ns && s.metadata.name === name),
      managedSecretsIn: (ns) => secrets.filter((s) => ns === undefined || s.metadata.namespace === ns),
      storeOf: () => ({ spec: { policy: options.storePolicy ?? {} } }) as Store,
    },
    podsOn: async () => options.pods ?? [],
    operator: () => OPERATOR,
    expectedReaders: { users: ['system:kube-controller-manager'] },
    audit: { record: (r) => records.push(r) },
    events: { emit: (_subject, type, reason, message) => events.push(`${type} ${reason}: ${message}`) },
    status: {
      patchStatus: async (_kind, ns, name, status) => void patches.push({ [`${ns}/${name}`]: status }),
    },
    observer: { read: () => undefined, unexpected: (ns, b) => unexpected.push(`${ns}/${b}`) },
    rate: { windowMs: 60_000, perConsumer: 20 },
  });
  return { monitor, records, events, patches, unexpected, clock, addSecret };
}

test('an unexpected get: a record, the metric, one Warning Event and the status mark', async () => {
  const { monitor, records, events, patches, unexpected } = setup();
  await monitor.judge(read());
  await monitor.settled();
  expect(records).toEqual([
    expect.objectContaining({
      action: 'access',
      outcome: 'success',
      binding: 'ml/hf',
      store: 'SecretStore/ml/store',
      secret: 'ml/hf',
      sources: [{ key: 'hf/token' }],
      access: expect.objectContaining({ verb: 'get', expected: false, why: 'not an expected reader' }),
    }),
  ]);
  expect(unexpected).toEqual(['ml/hf']);
  expect(events).toEqual([
    'Warning UnexpectedAccess: Secret "hf" read (get) by user alice from 10.0.0.7: not an expected reader',
  ]);
  expect(patches).toEqual([
    {
      'ml/hf': {
        access: {
          lastUnexpectedRead: {
            at: '2026-12-07T10:00:00Z',
            reader: 'user alice',
            verb: 'get',
            secret: 'hf',
            reason: 'not an expected reader',
          },
        },
      },
    },
  ]);
});

test('the Event is throttled per binding and reader; the metric counts every read', async () => {
  const { monitor, events, unexpected, clock } = setup();
  await monitor.judge(read());
  await monitor.judge(read({ auditID: 'b' }));
  expect(events).toHaveLength(1);
  clock.advance(60_000);
  await monitor.judge(read({ auditID: 'c' }));
  expect(events).toHaveLength(2);
  expect(unexpected).toHaveLength(3);
});

test('expected readers (binding, operator flag) and refused reads raise nothing', async () => {
  const { monitor, records, events, patches } = setup();
  await monitor.judge(read({ name: 'wandb', reader: { username: 'bob', groups: [] } }));
  await monitor.judge(read({ reader: { username: 'system:kube-controller-manager', groups: [] } }));
  await monitor.judge(read({ allowed: false }));
  await monitor.settled();
  expect(records.map((r) => [r.access?.expected, r.outcome])).toEqual([
    [true, 'success'],
    [true, 'success'],
    [false, 'failure'],
  ]);
  expect(events).toEqual([]);
  expect(patches).toEqual([]);
});

test('store policy names readers for every binding of the store', async () => {
  const { monitor, events } = setup({ storePolicy: { expectedReaders: { groups: ['ml-ci'] } } });
  await monitor.judge(read({ reader: { username: 'runner', groups: ['ml-ci'] } }));
  expect(events).toEqual([]);
});

test('reads of unmanaged Secrets are not judged', async () => {
  const { monitor, records } = setup();
  await monitor.judge(read({ name: 'someone-elses' }));
  expect(records).toEqual([]);
});

test('a list by an unexpected reader flags each binding; the operator’s list is one record', async () => {
  const { monitor, records, events } = setup();
  await monitor.judge(
    read({
      verb: 'list',
      name: undefined,
      reader: { username: 'system:serviceaccount:ml:lister', groups: [], serviceAccount: 'ml/lister' },
    }),
  );
  expect(events).toEqual([
    expect.stringContaining('Secret "hf" read (list) by service account ml/lister'),
    expect.stringContaining('Secret "wandb" read (list) by service account ml/lister'),
  ]);
  records.length = 0;
  await monitor.judge(
    read({
      verb: 'watch',
      name: undefined,
      namespace: undefined,
      reader: { username: OPERATOR, groups: [] },
    }),
  );
  expect(records).toEqual([
    expect.objectContaining({
      access: expect.objectContaining({ expected: true, scope: 'cluster', secrets: 2 }),
    }),
  ]);
});

test('a list by a reader expected for some Secrets: one summary record, the others flagged', async () => {
  const { monitor, records, events } = setup();
  await monitor.judge(read({ verb: 'list', name: undefined, reader: { username: 'bob', groups: [] } }));
  expect(events).toEqual([expect.stringContaining('Secret "hf" read (list) by user bob')]);
  expect(records.map((r) => [r.secret, r.access?.expected, r.access?.secrets])).toEqual([
    ['ml/hf', false, undefined],
    ['ml', true, 1],
  ]);
});

test('a kubelet is expected for a Secret a pod on its node names, and records the pods', async () => {
  const kubelet = { username: 'system:node:gpu-1', groups: ['system:nodes'], node: 'gpu-1' };
  const consuming = setup({
    pods: [
      { metadata: { name: 'train-0' }, spec: { volumes: [{ secret: { secretName: 'hf' } }] } },
      { metadata: { name: 'other' }, spec: { containers: [{ envFrom: [{ secretRef: { name: 'x' } }] }] } },
    ],
  });
  await consuming.monitor.judge(read({ reader: kubelet }));
  expect(consuming.records[0]!.access).toMatchObject({ expected: true, pods: ['ml/train-0'] });
  expect(consuming.events).toEqual([]);
  const idle = setup({ pods: [] });
  await idle.monitor.judge(read({ reader: kubelet }));
  expect(idle.events).toEqual([expect.stringContaining('node gpu-1 runs no pod that consumes it')]);
});

test('marks coalesce while one is written, and an older read never overwrites a newer mark', async () => {
  const { monitor, patches } = setup();
  const atOf = (p: unknown) =>
    (p as Record<string, { access: { lastUnexpectedRead: { at: string } } }>)['ml/hf']!.access
      .lastUnexpectedRead.at;
  await monitor.judge(read());
  await monitor.judge(read({ auditID: 'b', at: Date.parse('2026-12-07T10:00:05Z') }));
  await monitor.judge(read({ auditID: 'c', at: Date.parse('2026-12-07T10:00:03Z') })); // late
  await monitor.settled();
  // The first was being written when the second came; the late third is dropped.
  expect(patches.map(atOf)).toEqual(['2026-12-07T10:00:00Z', '2026-12-07T10:00:05Z']);
});

test('a watch by name that starts before its Secret is managed is judged once more, a little later', async () => {
  const { monitor, records, clock, addSecret } = setup();
  const kubelet = { username: 'system:node:gpu-1', groups: ['system:nodes'], node: 'gpu-1' };
  await monitor.judge(read({ name: 'hf-job-a', verb: 'watch', reader: kubelet }));
  await monitor.judge(read({ auditID: 'other', name: 'never-managed', verb: 'watch', reader: kubelet }));
  expect(records).toEqual([]);
  addSecret('hf-job-a'); // the operator writes the PerWorkload Secret
  clock.advance(3_000);
  await new Promise((resolve) => setImmediate(resolve));
  expect(records.map((r) => r.secret)).toEqual(['ml/hf-job-a']);
  // Looked at once only: the unmanaged one is not scheduled again.
  clock.advance(10_000);
  await new Promise((resolve) => setImmediate(resolve));
  expect(records).toHaveLength(1);
});

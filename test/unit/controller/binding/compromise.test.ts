// The response to an unexpected read (access audit): the Compromised condition, and what
// Record, Rotate and Revoke do, from the mark the access monitor leaves in status.
import type { SecretBinding } from '../../../../src/api/types.ts';
import { respondToAccess } from '../../../../src/controller/binding/compromise.ts';
import { compromiseOf, withCompromise } from '../../../../src/controller/binding/compromised-condition.ts';
import { BindingRecorder } from '../../../../src/controller/binding/recording.ts';
import type { SecretObject } from '../../../../src/kube/kube-client.ts';

const NOW = Date.parse('2026-12-08T10:00:00Z');
const READ = '2026-12-08T09:59:58Z';

function binding(options: {
  mode?: 'Record' | 'Rotate' | 'Revoke';
  scope?: 'Shared' | 'PerWorkload';
  respondedTo?: string;
  acknowledged?: string;
  read?: boolean;
}): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: {
      namespace: 'ml',
      name: 'hf',
      uid: 'u',
      generation: 2,
      annotations: options.acknowledged ? { 'mlsecrets.io/access-acknowledged': options.acknowledged } : {},
    },
    spec: {
      storeRef: { name: 's' },
      data: [{ secretKey: 'token', remoteRef: { key: 'hf' } }],
      ...(options.mode ? { access: { onUnexpectedRead: options.mode } } : {}),
      ...(options.scope ? { projection: { scope: options.scope } } : {}),
    },
    status: {
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok', lastTransitionTime: READ },
      ],
      ...(options.read === false
        ? {}
        : {
            access: {
              lastUnexpectedRead: {
                at: READ,
                reader: 'user alice',
                verb: 'get',
                secret: 'hf',
                reason: 'not an expected reader',
              },
              ...(options.respondedTo ? { respondedTo: options.respondedTo } : {}),
            },
          }),
    },
  } as SecretBinding;
}

function setup(secrets: string[] = ['hf']) {
  const deleted: string[] = [];
  const patches: unknown[] = [];
  const events: string[] = [];
  const retired: string[][] = [];
  const ctx = {
    cache: {
      managedSecretsOf: () =>
        secrets.map((name) => ({ metadata: { name, uid: `uid-${name}` } }) as SecretObject),
    },
    secrets: { deleteSecret: async (_ns: string, name: string) => void deleted.push(name) } as never,
    status: {
      patchStatus: async (_k: unknown, _ns: unknown, _n: unknown, status: unknown) =>
        void patches.push(status),
    },
    recorder: new BindingRecorder(
      { emit: (_s, type, reason, message) => events.push(`${type} ${reason}: ${message}`) },
      { record: () => undefined },
    ),
    leases: {
      retireAllBut: async (_b: SecretBinding, keep: readonly string[]) => void retired.push([...keep]),
    },
  };
  return { ctx, deleted, patches, events, retired };
}

test('the Compromised condition: True from the read, False once acknowledged, absent without a read', () => {
  const unread = binding({ read: false });
  expect(withCompromise(unread, unread.status!)).toBe(unread.status);
  const read = binding({});
  expect(withCompromise(read, read.status!).conditions?.find((c) => c.type === 'Compromised')).toMatchObject({
    status: 'True',
    reason: 'UnexpectedAccess',
    lastTransitionTime: READ,
    message: expect.stringContaining('read (get) by user alice at 2026-12-08T09:59:58Z'),
  });
  const acknowledged = binding({ acknowledged: '2026-12-08T10:05:00Z' });
  expect(
    withCompromise(acknowledged, acknowledged.status!).conditions?.find((c) => c.type === 'Compromised'),
  ).toMatchObject({ status: 'False', reason: 'Acknowledged', lastTransitionTime: '2026-12-08T10:05:00Z' });
  // An acknowledgement older than the read acknowledges nothing; nor does a value that is no time.
  expect(compromiseOf(binding({ acknowledged: '2026-12-08T09:00:00Z' }))?.acknowledged).toBe(false);
  expect(compromiseOf(binding({ acknowledged: 'yes' }))?.acknowledged).toBe(false);
});

test('Record does nothing more; Rotate asks for one rotation per read', async () => {
  const { ctx, deleted, patches } = setup();
  expect(await respondToAccess(ctx, binding({}), NOW)).toBe('continue');
  expect(await respondToAccess(ctx, binding({ mode: 'Rotate' }), NOW)).toBe('rotate');
  expect(await respondToAccess(ctx, binding({ mode: 'Rotate', respondedTo: READ }), NOW)).toBe('continue');
  expect(await respondToAccess(ctx, binding({ mode: 'Rotate', acknowledged: NOW_ISO() }), NOW)).toBe(
    'continue',
  );
  expect(deleted).toEqual([]);
  expect(patches).toEqual([]);
});

test('Revoke deletes every Secret, retires their leases, withholds, and says so once', async () => {
  const { ctx, deleted, patches, events, retired } = setup(['hf', 'hf-job-a']);
  expect(await respondToAccess(ctx, binding({ mode: 'Revoke' }), NOW)).toBe('withheld');
  expect(deleted).toEqual(['hf', 'hf-job-a']);
  expect(retired).toEqual([[]]);
  // The mark is the monitor's: only respondedTo is written back.
  expect(patches).toEqual([
    expect.objectContaining({
      access: { respondedTo: READ },
      conditions: expect.arrayContaining([
        expect.objectContaining({ type: 'Ready', status: 'False', reason: 'Compromised' }),
        expect.objectContaining({ type: 'Compromised', status: 'True' }),
      ]),
    }),
  ]);
  expect(events).toEqual([
    expect.stringMatching(
      /^Warning Revoked: Secret\(s\) "hf", "hf-job-a" deleted after an unexpected read by user alice; withheld until acknowledged/,
    ),
  ]);
  // Still withheld at the next reconcile, without a second Event.
  expect(await respondToAccess(ctx, binding({ mode: 'Revoke', respondedTo: READ }), NOW)).toBe('withheld');
  expect(events).toHaveLength(1);
  // Acknowledged: issued again.
  expect(
    await respondToAccess(ctx, binding({ mode: 'Revoke', respondedTo: READ, acknowledged: NOW_ISO() }), NOW),
  ).toBe('continue');
});

test('Rotate of a PerWorkload binding deletes its Secrets (issued anew) once per read', async () => {
  const { ctx, deleted, events } = setup(['hf-job-a', 'hf-job-b']);
  expect(await respondToAccess(ctx, binding({ mode: 'Rotate', scope: 'PerWorkload' }), NOW)).toBe('continue');
  expect(deleted).toEqual(['hf-job-a', 'hf-job-b']);
  expect(events).toEqual([expect.stringContaining('issued anew')]);
  expect(
    await respondToAccess(ctx, binding({ mode: 'Rotate', scope: 'PerWorkload', respondedTo: READ }), NOW),
  ).toBe('continue');
  expect(deleted).toHaveLength(2);
});

function NOW_ISO(): string {
  return new Date(NOW).toISOString();
}

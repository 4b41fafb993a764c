// The lease book: what it records in status, when it revokes, and what it keeps after a failure.
import type { SecretBinding } from '../../../../src/api/types.ts';
import { LeaseBook } from '../../../../src/controller/binding/leases.ts';
import { writeStatus } from '../../../../src/controller/binding/status.ts';
import type { StoreHandle } from '../../../../src/fetch/fetcher.ts';
import { silentLogger } from '../../../../src/observability/logger.ts';
import { ProviderError, type LeasePort } from '../../../../src/providers/provider.port.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function binding(leases?: unknown[]): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { name: 'features', namespace: 'ml', uid: 'u', generation: 1 },
    spec: { storeRef: { name: 'vault' }, generators: [{ vault: { path: 'database/creds/ro' } }] },
    ...(leases ? { status: { leases } } : {}),
  } as SecretBinding;
}

function setup() {
  const patches: unknown[] = [];
  const revoked: string[] = [];
  let failing = false;
  const port: LeasePort = {
    mint: async () => ({ data: {}, lease: { id: 'x', durationSeconds: 1, renewable: true } }),
    renew: async (id) => ({ id, durationSeconds: 1, renewable: true }),
    revoke: async (id) => {
      if (failing) throw new ProviderError('Unavailable', 'Vault: sealed (503)');
      revoked.push(id);
    },
    list: async () => [],
  };
  const handle = { label: 'SecretStore/ml/vault', provider: { leases: port } } as unknown as StoreHandle;
  const book = new LeaseBook({
    status: { patchStatus: async (_k, _ns, _n, patch) => void patches.push(patch) },
    logger: silentLogger(),
  });
  return { book, handle, patches, revoked, fail: (on: boolean) => (failing = on) };
}

const lease = (id: string, durationSeconds = 60) => ({ id, durationSeconds, renewable: true });

test('a replacement records the new lease and retires the old one after the overlap, rounded up to the second', async () => {
  const { book, patches } = setup();
  const b = binding();
  await book.replace(b, 'features', lease('db/a'), T0, 60_000);
  await book.replace(b, 'features', lease('db/b'), T0 + 10_400, 2_000);
  expect(book.active(b, 'features')?.id).toBe('db/b');
  expect(patches.at(-1)).toEqual({
    leases: [
      {
        id: 'db/a',
        secret: 'features',
        expiresAt: iso(T0 + 60_000),
        grantedSeconds: 60,
        revokeAt: iso(T0 + 13_000),
      },
      { id: 'db/b', secret: 'features', expiresAt: iso(T0 + 70_400), grantedSeconds: 60 },
    ],
  });
  expect(book.nextRevocationAt(b)).toBe(T0 + 13_000);
});

test('an old lease that ends before the overlap is over is revoked when it ends, not later', async () => {
  const { book } = setup();
  const b = binding();
  await book.replace(b, 'features', lease('db/a', 5), T0, 60_000);
  await book.replace(b, 'features', lease('db/b'), T0 + 3_000, 60_000);
  expect(book.records(b).find((r) => r.id === 'db/a')?.revokeAt).toBe(iso(T0 + 5_000));
});

test('a renewal moves the end of the active lease only', async () => {
  const { book } = setup();
  const b = binding();
  await book.replace(b, 'features', lease('db/a'), T0, 0);
  await book.replace(b, 'other', lease('db/o'), T0, 0);
  await book.renewed(b, 'features', lease('db/a', 30), T0 + 40_000);
  expect(book.records(b)).toEqual([
    { id: 'db/a', secret: 'features', expiresAt: iso(T0 + 70_000), grantedSeconds: 30 },
    { id: 'db/o', secret: 'other', expiresAt: iso(T0 + 60_000), grantedSeconds: 60 },
  ]);
});

test('settle revokes what is due, keeps a failed revocation recorded, and tries it again 30 s later', async () => {
  const { book, handle, revoked, fail } = setup();
  const b = binding();
  const settle = (now: number) =>
    book.settle(
      b,
      async () => handle,
      now,
      () => undefined,
    );
  await book.replace(b, 'job-1', lease('db/1'), T0, 0);
  await book.replace(b, 'job-2', lease('db/2'), T0, 0);
  await book.retire(b, 'job-1', T0 + 1_000);
  // Nothing due before its time: the wake-up is the revocation time.
  await settle(T0 + 500);
  expect(book.wakeAt(b, T0 + 500)).toBe(T0 + 1_000);
  expect(revoked).toEqual([]);
  // Retired during a reconcile that has settled already: a second later.
  expect(book.wakeAt(b, T0 + 1_000)).toBe(T0 + 2_000);
  fail(true);
  await settle(T0 + 1_000);
  expect(book.records(b).map((r) => r.id)).toEqual(['db/1', 'db/2']);
  // Not every second while the store is down: at the retry time.
  expect(book.wakeAt(b, T0 + 1_000)).toBe(T0 + 31_000);
  await settle(T0 + 5_000);
  fail(false);
  await settle(T0 + 10_000);
  expect(revoked).toEqual([]);
  await settle(T0 + 31_000);
  expect(revoked).toEqual(['db/1']);
  expect(book.records(b).map((r) => r.id)).toEqual(['db/2']);
  expect(book.wakeAt(b, T0 + 31_000)).toBeUndefined();
});

test('a deleted binding: every lease it recorded is revoked, as a restarted operator found them in status', async () => {
  const { book, handle, revoked } = setup();
  const recorded = [
    { id: 'db/1', secret: 'a', expiresAt: iso(T0) },
    { id: 'db/2', secret: 'a', expiresAt: iso(T0), revokeAt: iso(T0) },
  ];
  book.observe(binding(recorded));
  expect(book.heldIds()).toEqual(new Set(['db/1', 'db/2']));
  const asked: string[] = [];
  const count = await book.revokeAllOf(
    'ml/features',
    async (namespace, storeRef) => {
      asked.push(`${namespace}/${storeRef.name}`);
      return handle;
    },
    () => undefined,
  );
  expect({ count, asked, revoked }).toEqual({ count: 2, asked: ['ml/vault'], revoked: ['db/1', 'db/2'] });
  expect(book.heldIds()).toEqual(new Set());
});

test("the reconcile's status writes leave leases to the book: a stale copy never puts a revoked lease back", async () => {
  const patches: unknown[] = [];
  const writer = {
    patchStatus: async (_k: string, _ns: string | undefined, _n: string, p: unknown) => void patches.push(p),
  };
  const cached = binding([{ id: 'db/old', secret: 'features', expiresAt: iso(T0) }]);
  await writeStatus(writer, cached, { ...cached.status, leases: [], secretName: 'features' });
  expect(patches).toEqual([{ secretName: 'features' }]);
  // Only the leases differ: nothing to write.
  await writeStatus(writer, cached, { ...cached.status, leases: [] });
  expect(patches).toHaveLength(1);
});

test("a status holding a lease the book never saw (another replica wrote it) wins over the book's memory", async () => {
  const { book } = setup();
  await book.replace(binding(), 'features', lease('db/mine'), T0, 0);
  // Our own write, not yet in the cached status: the memory is what counts.
  expect(book.records(binding()).map((r) => r.id)).toEqual(['db/mine']);
  // Revoked by us, still in a cached status: not newer.
  expect(
    book.records(binding([{ id: 'db/mine', secret: 'features', expiresAt: iso(T0) }])).map((r) => r.id),
  ).toEqual(['db/mine']);
  const elsewhere = binding([
    { id: 'db/mine', secret: 'features', expiresAt: iso(T0), revokeAt: iso(T0) },
    { id: 'db/theirs', secret: 'features', expiresAt: iso(T0 + 60_000) },
  ]);
  expect(book.active(elsewhere, 'features')?.id).toBe('db/theirs');
});

test('the leases of Secrets no longer written (a Job garbage-collected while the operator was away) are retired', async () => {
  const { book } = setup();
  const b = binding();
  await book.replace(b, 'features-job-1', lease('db/1'), T0, 0);
  await book.replace(b, 'features-job-2', lease('db/2'), T0, 0);
  await book.retireAllBut(b, ['features-job-2'], T0 + 5_000);
  expect(book.records(b).map((r) => [r.id, r.revokeAt])).toEqual([
    ['db/1', iso(T0 + 5_000)],
    ['db/2', undefined],
  ]);
});

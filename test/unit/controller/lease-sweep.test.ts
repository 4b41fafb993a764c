// The orphan sweep revokes leases under the generators' paths that no binding records, once
// they are older than the grace period.
import type { SecretBinding, Store } from '../../../src/api/types.ts';
import { LeaseSweep } from '../../../src/controller/lease-sweep.ts';
import type { StoreHandle } from '../../../src/fetch/fetcher.ts';
import { silentLogger } from '../../../src/observability/logger.ts';
import type { LeasePort } from '../../../src/providers/provider.port.ts';
import { ManualClock } from '../../../src/runtime/clock.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function binding(name: string, path: string | undefined, leaseIds: string[]): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { name, namespace: 'ml' },
    spec: { storeRef: { name: 'vault' }, ...(path ? { generators: [{ vault: { path } }] } : {}) },
    status: { leases: leaseIds.map((id) => ({ id, secret: name, expiresAt: '2026-01-01T01:00:00Z' })) },
  } as SecretBinding;
}

test('unrecorded leases older than the grace are revoked; recorded and young ones are kept', async () => {
  const clock = new ManualClock(T0);
  const live = new Map([
    ['database/creds/ro/recorded', T0 - 600_000],
    ['database/creds/ro/ours-just-now', T0 - 600_000],
    ['database/creds/ro/orphan', T0 - 600_000],
    ['database/creds/ro/young', T0 - 10_000],
  ]);
  const listed: string[] = [];
  const port: LeasePort = {
    mint: async () => {
      throw new Error('not used');
    },
    renew: async () => {
      throw new Error('not used');
    },
    revoke: async (id) => void live.delete(id),
    list: async (prefix) => {
      listed.push(prefix);
      return [...live]
        .filter(([id]) => id.startsWith(`${prefix}/`))
        .map(([id, issuedAt]) => ({ id, issuedAt }));
    },
  };
  const store = {
    kind: 'SecretStore',
    metadata: { name: 'vault', namespace: 'ml' },
    spec: {},
  } as unknown as Store;
  const sweep = new LeaseSweep({
    clock,
    logger: silentLogger(),
    bindings: () => [
      binding('a', 'database/creds/ro', ['database/creds/ro/recorded']),
      binding('b', 'database/creds/ro', []),
      binding('kv-only', undefined, []),
    ],
    held: () => new Set(['database/creds/ro/ours-just-now']),
    stores: {
      storeFor: () => store,
      handleFor: async () =>
        ({ label: 'SecretStore/ml/vault', provider: { leases: port } }) as unknown as StoreHandle,
    },
    onCall: () => undefined,
    graceMs: 120_000,
  });
  const result = await sweep.sweepOnce();
  expect(result).toEqual({ revoked: 1, nextAt: T0 - 10_000 + 120_000 });
  expect(listed).toEqual(['database/creds/ro']);
  expect([...live.keys()].sort()).toEqual([
    'database/creds/ro/ours-just-now',
    'database/creds/ro/recorded',
    'database/creds/ro/young',
  ]);
  clock.advance(110_000);
  expect((await sweep.sweepOnce()).revoked).toBe(1);
  expect(live.has('database/creds/ro/young')).toBe(false);
});

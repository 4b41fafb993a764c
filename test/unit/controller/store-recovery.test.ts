// Which bindings are retried at once when one binding of a store syncs again after the store's
// outage (Manager.retryAfterStoreRecovery).
import type { Condition, SecretBinding } from '../../../src/api/types.ts';

type StoreRef = SecretBinding['spec']['storeRef'];
import { stalledByOutage } from '../../../src/controller/manager.ts';

function binding(
  name: string,
  namespace: string,
  storeRef: StoreRef,
  synced?: Pick<Condition, 'status' | 'reason'>,
): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { name, namespace, uid: `${namespace}-${name}` },
    spec: { storeRef, data: [] },
    status: synced
      ? {
          conditions: [
            { type: 'Synced', message: '', lastTransitionTime: '2026-01-01T00:00:00Z', ...synced },
          ],
        }
      : undefined,
  };
}

const down = { status: 'False', reason: 'ProviderUnavailable' } as const;
const throttled = { status: 'False', reason: 'Throttled' } as const;

test('bindings of the same SecretStore (same namespace) failing for the outage; not itself, not other failures', () => {
  const store = { kind: 'SecretStore', name: 'aws' } as const;
  const recovered = binding('a', 'team', store, down);
  const names = stalledByOutage(recovered, [
    recovered,
    binding('b', 'team', store, down),
    binding('c', 'team', store, throttled),
    binding('d', 'team', { name: 'aws' }, down), // kind defaults to SecretStore
    binding('e', 'team', store, { status: 'False', reason: 'RemoteKeyNotFound' }),
    binding('f', 'team', store, { status: 'True', reason: 'Synced' }),
    binding('g', 'team', store),
    binding('h', 'other', store, down), // another namespace's store of that name
    binding('i', 'team', { kind: 'SecretStore', name: 'gcp' }, down),
    binding('j', 'team', { kind: 'ClusterSecretStore', name: 'aws' }, down),
  ]).map((b) => b.metadata.name);
  expect(names).toEqual(['b', 'c', 'd']);
});

test('a ClusterSecretStore is shared across namespaces', () => {
  const store = { kind: 'ClusterSecretStore', name: 'shared' } as const;
  const recovered = binding('a', 'team-1', store, down);
  const names = stalledByOutage(recovered, [
    binding('b', 'team-2', store, down),
    binding('c', 'team-3', { kind: 'SecretStore', name: 'shared' }, down),
  ]).map((b) => b.metadata.name);
  expect(names).toEqual(['b']);
});

// A deleted store's provider client is closed and dropped, and the fetcher forgets its values:
// found by the 10,000-spec fuzz run (test/faults/fuzz-volume.test.ts), where every store ever
// created kept its client and RSS grew with the number of stores.
import { Writable } from 'node:stream';
import type { Store } from '../../../src/api/types.ts';
import { ManualClock } from '../../../src/runtime/clock.ts';
import { SecretStoreReconciler } from '../../../src/controller/secret-store.reconciler.ts';
import { StoreDirectory } from '../../../src/controller/stores.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { ProviderRegistry } from '../../../src/providers/registry.ts';
import type { ProviderFactory, SecretsProvider } from '../../../src/providers/provider.port.ts';
import { noTokens } from '../../harness/no-tokens.ts';

const logger = createLogger('error', new Writable({ write: (_c, _e, cb) => cb() }));

function setup() {
  const closed: string[] = [];
  const factory: ProviderFactory = {
    id: 'kubernetes',
    async create(_spec, context) {
      const provider: SecretsProvider = {
        name: 'fake',
        maxBatch: 1,
        getSecrets: async () => [],
        validate: async () => undefined,
        close: async () => void closed.push(context.store.name),
      };
      return provider;
    },
  };
  const stores = new Map<string, Store>();
  const lookup = {
    getStore: (kind: string, namespace: string | undefined, name: string) =>
      stores.get(`${kind}/${namespace ?? ''}/${name}`),
  };
  const directory = new StoreDirectory({
    lookup: lookup as never,
    registry: new ProviderRegistry([factory]),
    secrets: { readSecret: async () => undefined },
    tokens: noTokens,
    clock: new ManualClock(0),
    logger,
  });
  const store = (name: string, namespace?: string): Store => {
    const kind = namespace ? 'SecretStore' : 'ClusterSecretStore';
    const s = {
      apiVersion: 'mlsecrets.io/v1alpha1',
      kind,
      metadata: { name, namespace, uid: `uid-${name}`, generation: 1 },
      spec: { provider: { kubernetes: { namespace: 'src' } } },
    } as Store;
    stores.set(`${kind}/${namespace ?? ''}/${name}`, s);
    return s;
  };
  return { directory, closed, stores, store };
}

test('forget closes and drops the client of a deleted store and returns its cache id', async () => {
  const { directory, closed, store } = setup();
  const handle = await directory.handleFor(store('team-store', 'team'));
  const cluster = await directory.handleFor(store('shared'));
  expect(directory.forget('SecretStore', 'team', 'team-store')).toBe(handle.id);
  expect(directory.forget('ClusterSecretStore', undefined, 'shared')).toBe(cluster.id);
  await new Promise((r) => setImmediate(r));
  expect(closed.sort()).toEqual(['shared', 'team-store']);
  // Unknown, or already forgotten: nothing to do.
  expect(directory.forget('SecretStore', 'team', 'team-store')).toBeUndefined();
});

test('the store reconciler forgets a deleted store and tells the fetcher', async () => {
  const { directory, closed, stores, store } = setup();
  const s = store('gone', 'team');
  const handle = await directory.handleFor(s);
  const forgotten: string[] = [];
  const reconciler = new SecretStoreReconciler({
    clock: new ManualClock(0),
    logger,
    cache: { getStore: (kind, namespace, name) => stores.get(`${kind}/${namespace ?? ''}/${name}`) },
    stores: directory,
    onForget: (id) => forgotten.push(id),
    onProviderCall: () => undefined,
    status: { patchStatus: async () => undefined },
    events: { event: () => undefined } as never,
  });
  stores.clear();
  await reconciler.reconcile('SecretStore', 'team', 'gone');
  await new Promise((r) => setImmediate(r));
  expect(forgotten).toEqual([handle.id]);
  expect(closed).toEqual(['gone']);
});

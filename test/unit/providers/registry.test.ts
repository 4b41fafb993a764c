import { lazyFactory, ProviderRegistry } from '../../../src/providers/registry.ts';
import type {
  ProviderContext,
  ProviderFactory,
  SecretsProvider,
} from '../../../src/providers/provider.port.ts';

const context = { store: { kind: 'ClusterSecretStore', name: 's' } } as ProviderContext;
const provider = { name: 'fake' } as SecretsProvider;

describe('lazily loaded provider factories', () => {
  test('the module is loaded on the first store of its kind, once, and never for other kinds', async () => {
    const loads = { aws: 0, gcp: 0 };
    const loaded = (id: 'aws' | 'gcp'): ProviderFactory => ({ id, create: async () => provider });
    const registry = new ProviderRegistry([
      lazyFactory('aws', async () => (loads.aws++, loaded('aws'))),
      lazyFactory('gcp', async () => (loads.gcp++, loaded('gcp'))),
    ]);
    expect(loads).toEqual({ aws: 0, gcp: 0 });
    await Promise.all([
      registry.create({ aws: { region: 'eu-west-1' } }, context),
      registry.create({ aws: { region: 'eu-west-2' } }, context),
    ]);
    expect(await registry.create({ aws: { region: 'eu-west-1' } }, context)).toBe(provider);
    expect(loads).toEqual({ aws: 1, gcp: 0 });
  });

  test('a failed load is tried again by the next store instead of failing every store for good', async () => {
    let attempts = 0;
    const factory = lazyFactory('aws', async () => {
      if (++attempts === 1) throw new Error('cannot load');
      return { id: 'aws', create: async () => provider };
    });
    await expect(factory.create({ aws: { region: 'r' } }, context)).rejects.toThrow('cannot load');
    expect(await factory.create({ aws: { region: 'r' } }, context)).toBe(provider);
    expect(attempts).toBe(2);
  });
});

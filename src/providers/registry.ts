import type { StoreProvider } from '../api/types.ts';
import { awsDescriptor } from './aws/descriptor.ts';
import type { ProviderDescriptor } from './descriptor.ts';
import { gcpDescriptor } from './gcp/descriptor.ts';
import { kubernetesDescriptor } from './kubernetes/descriptor.ts';
import { vaultDescriptor } from './vault/descriptor.ts';
import {
  StoreConfigError,
  type ProviderContext,
  type ProviderFactory,
  type SecretsProvider,
} from './provider.port.ts';

/**
 * A factory whose module is imported on the first store of its kind. The SDKs are the largest
 * part of the operator's fixed memory (Google's gRPC and protobuf clients alone add ~40 MB of
 * RSS, AWS's ~25 MB), and most clusters use one provider: the others are never loaded.
 */
export function lazyFactory(
  id: ProviderFactory['id'],
  load: () => Promise<ProviderFactory>,
): ProviderFactory {
  let loading: Promise<ProviderFactory> | undefined;
  return {
    id,
    async create(spec, context) {
      // A failed import (a broken install) is tried again by the next store, not remembered.
      const factory = await (loading ??= load().catch((error: unknown) => {
        loading = undefined;
        throw error;
      }));
      return factory.create(spec, context);
    },
  };
}

/**
 * Every provider the operator knows. Adding one is a folder with its descriptor and a line here
 * (CONTRIBUTING.md, "Adding a provider").
 */
export const providers: ProviderDescriptor[] = [
  awsDescriptor,
  gcpDescriptor,
  kubernetesDescriptor,
  vaultDescriptor,
];

/** A lazily loaded factory per provider. */
export const defaultFactories: ProviderFactory[] = providers.map((p) =>
  lazyFactory(p.id as ProviderFactory['id'], p.load),
);

/** Picks the factory for the one provider a store sets. */
export class ProviderRegistry {
  private readonly factories: Map<string, ProviderFactory>;

  constructor(factories: ProviderFactory[] = defaultFactories) {
    this.factories = new Map(factories.map((f) => [f.id, f]));
  }

  create(spec: StoreProvider, context: ProviderContext): Promise<SecretsProvider> {
    const set = Object.keys(spec).filter((k) => spec[k as keyof StoreProvider] !== undefined);
    if (set.length !== 1) throw new StoreConfigError('InvalidSpec', 'set exactly one provider');
    const factory = this.factories.get(set[0]!);
    if (!factory)
      throw new StoreConfigError('InvalidSpec', `provider "${set[0]}" is not supported by this operator`);
    return factory.create(spec, context);
  }
}

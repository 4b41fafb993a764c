import type { StoreProvider } from '../api/types.ts';
import { gcpProviderFactory } from './gcp/secret-manager.provider.ts';
import { awsProviderFactory } from './aws/aws.provider.ts';
import { kubernetesProviderFactory } from './kubernetes/kubernetes.provider.ts';
import {
  StoreConfigError,
  type ProviderContext,
  type ProviderFactory,
  type SecretsProvider,
} from './provider.port.ts';

/** Every provider the operator knows. Adding one is a folder and a line here. */
export const defaultFactories: ProviderFactory[] = [
  kubernetesProviderFactory,
  gcpProviderFactory,
  awsProviderFactory,
];

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

import {
  arrayOf,
  conditions,
  duration,
  expectedReaders,
  labelSelector,
  named,
  obj,
  str,
  type Schema,
} from './common.ts';

/** A provider's block under spec.provider: its key and its schema (see src/providers/descriptor.ts). */
export interface ProviderSchema {
  /** The key under spec.provider. */
  id: string;
  schema: Schema;
}

/** The CEL rule's message, which the CLI and the tests quote. */
export function oneProviderMessage(ids: string[]): string {
  const list = ids.length > 1 ? `${ids.slice(0, -1).join(', ')} or ${ids.at(-1)}` : (ids[0] ?? '');
  return `set exactly one provider: ${list}`;
}

/** The spec shared by SecretStore and ClusterSecretStore, with one block per provider. */
export function storeSpec(cluster: boolean, providers: ProviderSchema[]): Schema {
  const ids = providers.map((p) => p.id);
  const policyProps: Record<string, Schema> = {
    allowedKeys: arrayOf(
      'Globs (* matches any run of characters, ? one) over remote keys that bindings may read. Absent: every key.',
      { type: 'string', maxLength: 1024 },
      { maxItems: 256 },
    ),
    maxTTL: duration(
      'The longest lifetime.ttl a binding may ask for; a binding asking more is denied (PolicyDenied).',
    ),
    minRefreshInterval: duration(
      'The shortest lifetime.refreshInterval a binding may ask for; shorter asks are denied (PolicyDenied).',
    ),
    expectedReaders,
  };
  if (cluster) {
    policyProps.namespaceSelector = labelSelector(
      'Namespaces whose bindings may use this store. Absent: every namespace.',
    );
  }
  return obj(
    'Where values come from and who may use them.',
    {
      provider: named(
        'StoreProvider',
        obj(
          'The external store. Set exactly one provider.',
          Object.fromEntries(providers.map((p) => [p.id, p.schema])),
          {
            'x-kubernetes-validations': [
              {
                rule: `[${ids.map((id) => `has(self.${id})`).join(', ')}].filter(x, x).size() == 1`,
                message: oneProviderMessage(ids),
              },
            ],
          },
        ),
      ),
      policy: named(
        cluster ? 'ClusterStorePolicy' : 'StorePolicy',
        obj('Rules enforced for every binding that uses this store.', policyProps),
      ),
      rateLimit: named(
        'RateLimit',
        obj('Provider calls per operator replica for this store (token bucket).', {
          qps: {
            type: 'number',
            minimum: 0.01,
            maximum: 10000,
            description: 'Sustained calls per second. Default 10.',
          },
          burst: {
            type: 'integer',
            minimum: 1,
            maximum: 10000,
            description: 'Calls allowed at once. Default 20.',
          },
        }),
      ),
    },
    { required: ['provider'] },
  );
}

export const storeStatus: Schema = obj('What the operator observed of this store.', {
  observedGeneration: { type: 'integer', format: 'int64', description: 'The generation last reconciled.' },
  conditions,
  provider: str('The provider in use, as in metrics (for example aws/SecretsManager).'),
});

// The `kubernetes` provider as the rest of the operator sees it: Secrets of one source namespace
// of this cluster.
import { named, obj, str } from '../../api/schema/common.ts';
import type { ProviderDescriptor, ProviderSpecProblem } from '../descriptor.ts';

const schema = named(
  'KubernetesProvider',
  obj(
    'Secrets of one source namespace of this cluster. Needs no cloud; good for trying mlsecrets out and for fanning one Secret out to many namespaces.',
    {
      namespace: str(
        'The source namespace. A SecretStore may only read its own namespace (the default); a ClusterSecretStore must name one.',
        { maxLength: 63 },
      ),
    },
  ),
);

export const kubernetesDescriptor: ProviderDescriptor = {
  id: 'kubernetes',
  schema,
  load: async () => (await import('./kubernetes.provider.ts')).kubernetesProviderFactory,
  credentialRefs: [],
  checkSpec(kind, spec, storeNamespace) {
    const problems: ProviderSpecProblem[] = [];
    const namespace = spec.namespace;
    if (kind === 'SecretStore' && typeof namespace === 'string' && namespace !== storeNamespace) {
      problems.push({
        path: 'namespace',
        message: `a SecretStore may only read its own namespace "${storeNamespace}", not "${namespace}"; use a ClusterSecretStore`,
      });
    }
    if (kind === 'ClusterSecretStore' && !namespace) {
      problems.push({
        path: '',
        message: 'a ClusterSecretStore with the kubernetes provider must name provider.kubernetes.namespace',
      });
    }
    return problems;
  },
  docs: [
    {
      provider: '`kubernetes`',
      fields: '`namespace` (a SecretStore: only its own)',
      key: 'Secret name',
      version: '—',
      find: 'labels (`tags`), prefix, regexp',
    },
  ],
  examples: [{}],
};

// The `vault` provider as the rest of the operator sees it: HashiCorp Vault or OpenBao (the same
// HTTP API), read from a KV engine and minting dynamic credentials (generators.vault).
import { arrayOf, enumOf, named, obj, secretKeySelector, str } from '../../api/schema/common.ts';
import type { ProviderDescriptor, ProviderSpecProblem } from '../descriptor.ts';

const mountPath = (what: string, fallback: string): ReturnType<typeof str> =>
  str(`Where the ${what} is mounted. Default "${fallback}".`, {
    pattern: '^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$',
    maxLength: 256,
  });

const schema = named(
  'VaultProvider',
  obj(
    'HashiCorp Vault or OpenBao: values from a KV engine (v2 or v1), and dynamic credentials with leases (generators.vault).',
    {
      server: str('The server address, for example https://vault.vault.svc:8200.', {
        pattern: '^https?://[^/?#]+$',
        maxLength: 2048,
      }),
      path: mountPath('KV engine', 'secret'),
      version: enumOf('The KV engine version.', ['v2', 'v1'], { default: 'v2' }),
      namespace: str('A Vault Enterprise or OpenBao namespace (the X-Vault-Namespace header).', {
        maxLength: 256,
      }),
      caBundle: str('PEM certificates (base64) to trust for the server, instead of the system roots.', {
        maxLength: 65536,
      }),
      caSecretRef: secretKeySelector('PEM certificates to trust for the server'),
      auth: obj('How the operator logs in. Set exactly one.', {
        tokenSecretRef: secretKeySelector('a Vault token'),
        appRole: obj(
          'AppRole login.',
          {
            path: mountPath('AppRole auth method', 'approle'),
            roleId: str('The role id.', { maxLength: 256 }),
            roleRef: secretKeySelector('the role id, instead of roleId'),
            secretRef: secretKeySelector('the secret id'),
          },
          { required: ['secretRef'] },
        ),
        kubernetes: obj(
          'Kubernetes login: a token of a service account, from the TokenRequest API, exchanged at the Kubernetes auth method (Vault checks it with a TokenReview).',
          {
            mountPath: mountPath('Kubernetes auth method', 'kubernetes'),
            role: str('The Vault role to log in as.', { minLength: 1, maxLength: 256 }),
            serviceAccountRef: obj(
              'The service account whose token is presented.',
              {
                name: str('Its name.', { minLength: 1, maxLength: 253 }),
                namespace: str(
                  'Its namespace. A SecretStore may only name its own namespace (the default); a ClusterSecretStore must name one.',
                  { maxLength: 63 },
                ),
                audiences: arrayOf('Audiences of the token. Default: ["vault"].', str('An audience.'), {
                  maxItems: 8,
                }),
              },
              { required: ['name'] },
            ),
          },
          { required: ['role', 'serviceAccountRef'] },
        ),
      }),
    },
    { required: ['server', 'auth'] },
  ),
);

const AUTH_METHODS = ['tokenSecretRef', 'appRole', 'kubernetes'];

export const vaultDescriptor: ProviderDescriptor = {
  id: 'vault',
  schema,
  load: async () => (await import('./vault.provider.ts')).vaultProviderFactory,
  credentialRefs: ['caSecretRef', 'auth.tokenSecretRef', 'auth.appRole.roleRef', 'auth.appRole.secretRef'],
  generators: ['vault'],
  checkSpec(kind, spec, storeNamespace) {
    const problems: ProviderSpecProblem[] = [];
    const auth = (spec.auth ?? {}) as Record<string, Record<string, unknown> | undefined>;
    const set = AUTH_METHODS.filter((m) => auth[m] !== undefined);
    if (set.length !== 1)
      problems.push({
        path: 'auth',
        message: `set exactly one of ${AUTH_METHODS.join(', ')} (found ${set.length})`,
      });
    if (auth.appRole && !auth.appRole.roleId === !auth.appRole.roleRef)
      problems.push({ path: 'auth.appRole', message: 'set exactly one of roleId or roleRef' });
    const account = auth.kubernetes?.serviceAccountRef as { namespace?: string } | undefined;
    if (account && kind === 'SecretStore' && account.namespace && account.namespace !== storeNamespace)
      problems.push({
        path: 'auth.kubernetes.serviceAccountRef.namespace',
        message: `a SecretStore may only log in as a service account of its own namespace "${storeNamespace}"`,
      });
    if (account && kind === 'ClusterSecretStore' && !account.namespace)
      problems.push({
        path: 'auth.kubernetes.serviceAccountRef.namespace',
        message: 'a ClusterSecretStore must name the namespace of its service account',
      });
    if (spec.caBundle !== undefined && spec.caSecretRef !== undefined)
      problems.push({ path: 'caBundle', message: 'set caBundle or caSecretRef, not both' });
    return problems;
  },
  docs: [
    {
      provider: '`vault` (HashiCorp Vault or OpenBao) with `version: v2` (default)',
      fields:
        '`server`, `path` (KV mount), `namespace`, `caBundle`/`caSecretRef`, `auth` (`kubernetes`, `appRole`, `tokenSecretRef`)',
      key: 'secret path under the mount',
      version: 'version number',
      find: 'path prefix (`path`), regexp, custom metadata (`tags`)',
    },
    {
      provider: '`vault` with `version: v1`',
      fields: 'as above',
      key: 'secret path under the mount',
      version: '—',
      find: 'path prefix (`path`), regexp',
    },
  ],
  // Servers on a closed loopback port: a store made from an example never leaves the machine.
  examples: [
    {
      server: 'http://127.0.0.1:9',
      auth: { kubernetes: { role: 'mlsecrets', serviceAccountRef: { name: 'mlsecrets-reader' } } },
    },
    {
      server: 'https://127.0.0.1:9',
      path: 'kv',
      version: 'v1',
      namespace: 'ml',
      auth: {
        appRole: { roleId: 'training', secretRef: { name: 'vault-approle', key: 'secret-id' } },
      },
    },
    { server: 'http://127.0.0.1:9', auth: { tokenSecretRef: { name: 'vault-token', key: 'token' } } },
  ],
};

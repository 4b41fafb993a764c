// The kubernetes provider reads only Secrets of its source namespace: a remote key that is not
// a Secret name (path traversal, encoded slashes, dot segments) never reaches a request path.
import { isValidSecretName } from '../../../../src/api/names.ts';
import { collectionPath, objectPath, pathSegment } from '../../../../src/kube/kube-client.ts';
import { kubernetesProviderFactory } from '../../../../src/providers/kubernetes/kubernetes.provider.ts';
import { ProviderError, type SecretReader } from '../../../../src/providers/provider.port.ts';

const HOSTILE_KEYS = [
  '../../victim/secrets/secret',
  '../victim/secret',
  'victim/secret',
  '%2e%2e/%2e%2e/victim/secrets/secret',
  '..%2F..%2Fvictim%2Fsecrets%2Fsecret',
  'secret?namespace=victim',
  'secret#/../x',
  '..',
  '.',
  '',
  'UPPER',
  'a'.repeat(254),
];

function reader(): SecretReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    async readSecret(namespace, name) {
      reads.push(`${namespace}/${name}`);
      return name === 'allowed' ? { data: { token: Buffer.from('v') }, resourceVersion: '1' } : undefined;
    },
  };
}

async function provider(
  secrets: SecretReader,
  kind: 'SecretStore' | 'ClusterSecretStore',
  namespace?: string,
) {
  return kubernetesProviderFactory.create({ kubernetes: { namespace } }, {
    store: { kind, name: 's', namespace: kind === 'SecretStore' ? 'team' : undefined },
    secrets,
  } as never);
}

test('a key that is not a Secret name is NotFound and is never read', async () => {
  const secrets = reader();
  const p = await provider(secrets, 'ClusterSecretStore', 'source');
  const results = await p.getSecrets(
    HOSTILE_KEYS.map((key) => ({ key })),
    () => undefined,
  );
  for (const [i, result] of results.entries()) {
    expect(result).toBeInstanceOf(ProviderError);
    expect((result as ProviderError).category).toBe('NotFound');
    expect((result as ProviderError).message).toContain('not a valid Secret name');
    expect(HOSTILE_KEYS[i]).toBeDefined();
  }
  expect(secrets.reads).toEqual([]);
  const [ok] = await p.getSecrets([{ key: 'allowed' }], () => undefined);
  expect(ok).not.toBeInstanceOf(ProviderError);
  expect(secrets.reads).toEqual(['source/allowed']);
});

test('a ClusterSecretStore source namespace that is not a namespace name is InvalidSpec', async () => {
  for (const namespace of ['../victim', 'a/b', 'UPPER', '..', 'x'.repeat(64)])
    await expect(provider(reader(), 'ClusterSecretStore', namespace)).rejects.toThrow(
      /not a valid namespace name/,
    );
});

test('paths: names are checked and encoded, never resolved', () => {
  expect(objectPath('Secret', 'team', 'db.creds')).toBe('/api/v1/namespaces/team/secrets/db.creds');
  for (const bad of ['..', '.', '', 'a/b', '../x', '%2e%2e'])
    expect(() => objectPath('Secret', 'team', bad)).toThrow(/not a valid object name/);
  expect(() => collectionPath('Secret', '../kube-system')).toThrow(/not a valid object name/);
  expect(pathSegment('a?b#c')).toBe('a%3Fb%23c');
  expect(isValidSecretName('db-creds.v1')).toBe(true);
  for (const bad of HOSTILE_KEYS) expect(isValidSecretName(bad)).toBe(false);
});

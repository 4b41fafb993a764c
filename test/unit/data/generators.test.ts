import type { SecretBinding } from '../../../src/api/types.ts';
import { hasGenerators, mintGenerated, validateGenerators } from '../../../src/data/generators.ts';
import type { LeasePort, SecretsProvider } from '../../../src/providers/provider.port.ts';

const binding = (spec: Partial<SecretBinding['spec']>) =>
  ({
    metadata: { name: 'features', namespace: 'ml' },
    spec: { storeRef: { name: 'vault' }, ...spec },
  }) as SecretBinding;

function vaultStore(data: Record<string, string>) {
  const revoked: string[] = [];
  const leases: LeasePort = {
    mint: async () => ({
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
      lease: { id: 'database/creds/ro/1', durationSeconds: 600, renewable: true },
    }),
    renew: async () => {
      throw new Error('not used');
    },
    revoke: async (id) => void revoked.push(id),
    list: async () => [],
  };
  return {
    revoked,
    handle: {
      label: 'SecretStore/ml/vault',
      provider: { name: 'vault', leases } as unknown as SecretsProvider,
    },
  };
}

test('a vault generator writes the fields it mints, and the Secret ends with the lease', async () => {
  const { handle } = vaultStore({ username: 'v-1', password: 'p' });
  const b = binding({ generators: [{ vault: { path: 'database/creds/ro' } }] });
  expect(hasGenerators(b)).toBe(true);
  const minted = await mintGenerated(b, handle, () => undefined, 1_000);
  expect(Object.keys(minted.data)).toEqual(['username', 'password']);
  expect(minted.expiresAt).toBe(601_000);
  expect(minted.lease?.id).toBe('database/creds/ro/1');
});

test('a minted key that data writes too is refused, and the credential revoked at once', async () => {
  const { handle, revoked } = vaultStore({ username: 'v-1', password: 'p' });
  const b = binding({
    data: [{ secretKey: 'password', remoteRef: { key: 'x' } }],
    generators: [{ vault: { path: 'database/creds/ro' } }],
  });
  await expect(mintGenerated(b, handle, () => undefined, 0)).rejects.toMatchObject({
    reason: 'DuplicateKey',
  });
  expect(revoked).toEqual(['database/creds/ro/1']);
});

test('a vault generator needs a store with leases; one generator per binding', async () => {
  const b = binding({ generators: [{ vault: { path: 'database/creds/ro' } }] });
  const kvOnly = { label: 'SecretStore/ml/kv', provider: { name: 'kubernetes' } as SecretsProvider };
  await expect(mintGenerated(b, kvOnly, () => undefined, 0)).rejects.toMatchObject({
    reason: 'InvalidValue',
  });
  expect(() =>
    validateGenerators(
      binding({
        generators: [{ vault: { path: 'a/b' } }, { awsSTS: { roleArn: 'arn:aws:iam::123456789012:role/r' } }],
      }),
    ),
  ).toThrow(/only one generator/);
});

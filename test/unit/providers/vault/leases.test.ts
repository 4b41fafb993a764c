import { ProviderError } from '../../../../src/providers/provider.port.ts';
import type { VaultRequest } from '../../../../src/providers/vault/client.ts';
import { isEnginePath, leasePath, vaultLeases } from '../../../../src/providers/vault/leases.ts';
import { FakeVault, fail } from './fakes.ts';

const ignore = () => undefined;

function port(vault: FakeVault) {
  return vaultLeases(<T>(request: VaultRequest) => vault.send<T>({ ...request, token: 'root' }));
}

test('mint: GET, or POST with parameters; every field of the data becomes a key', async () => {
  const vault = new FakeVault()
    .on('GET', 'database/creds/ro', () => ({
      lease_id: 'database/creds/ro/abc',
      lease_duration: 3600,
      renewable: true,
      data: { username: 'v-ro-1', password: 'p' },
    }))
    .on('POST', 'aws/sts/trainer', (r) => ({
      lease_id: 'aws/sts/trainer/xyz',
      lease_duration: Number((r.body as { ttl: string }).ttl),
      renewable: false,
      data: { access_key: 'AK', secret_key: 'SK', security_token: 'T', arn: null },
    }));
  const leases = port(vault);
  const db = await leases.mint({ path: 'database/creds/ro' }, ignore);
  expect(db.lease).toEqual({ id: 'database/creds/ro/abc', durationSeconds: 3600, renewable: true });
  expect(Object.fromEntries(Object.entries(db.data).map(([k, v]) => [k, v.toString()]))).toEqual({
    username: 'v-ro-1',
    password: 'p',
  });
  const aws = await leases.mint({ path: 'aws/sts/trainer', parameters: { ttl: '900' } }, ignore);
  expect(aws.lease).toEqual({ id: 'aws/sts/trainer/xyz', durationSeconds: 900, renewable: false });
  expect(aws.data.arn?.toString()).toBe('null');
});

test('a path without a lease is refused, and so is one outside an engine', async () => {
  const vault = new FakeVault().on('GET', 'secret/data/kv', () => ({ data: { data: {} } }));
  const leases = port(vault);
  await expect(leases.mint({ path: 'secret/data/kv' }, ignore)).rejects.toMatchObject({
    category: 'Invalid',
  });
  await expect(leases.mint({ path: 'sys/leases/lookup' }, ignore)).rejects.toMatchObject({
    category: 'Invalid',
  });
  expect(isEnginePath('database/creds/../../sys/seal')).toBe(false);
  expect(isEnginePath('database/creds/ro')).toBe(true);
});

test('renew answers what was granted; revoke of a lease already gone is not an error; a sealed server is', async () => {
  let sealed = false;
  const vault = new FakeVault()
    .on('PUT', 'sys/leases/renew', (r) => {
      const { increment } = r.body as { increment: number };
      return { lease_id: 'database/creds/ro/abc', lease_duration: Math.min(increment, 120), renewable: true };
    })
    .on('PUT', 'sys/leases/revoke', () => (sealed ? fail(503) : fail(400)));
  const leases = port(vault);
  expect((await leases.renew('database/creds/ro/abc', 3600, ignore)).durationSeconds).toBe(120);
  await expect(leases.revoke('database/creds/ro/gone', ignore)).resolves.toBeUndefined();
  sealed = true;
  const error = await leases.revoke('database/creds/ro/abc', ignore).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ProviderError);
  expect((error as ProviderError).category).toBe('Unavailable');
  // The message names the path, never the lease id.
  expect((error as ProviderError).message).not.toContain('abc');
  expect(leasePath('database/creds/ro/abc')).toBe('database/creds/ro');
});

test('list: the leases under a prefix with their issue times; none is an empty list', async () => {
  const vault = new FakeVault()
    .on('GET', 'sys/leases/lookup/database/creds/ro', () => ({ data: { keys: ['a', 'b'] } }))
    .on('PUT', 'sys/leases/lookup', (r) =>
      (r.body as { lease_id: string }).lease_id.endsWith('/b')
        ? fail(400)
        : { data: { issue_time: '2026-01-01T00:00:00Z' } },
    );
  const leases = port(vault);
  expect(await leases.list('database/creds/ro/', ignore)).toEqual([
    { id: 'database/creds/ro/a', issuedAt: Date.parse('2026-01-01T00:00:00Z') },
  ]);
  expect(await leases.list('database/creds/none', ignore)).toEqual([]);
});

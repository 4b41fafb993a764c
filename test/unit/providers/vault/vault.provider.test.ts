import type { VaultProvider } from '../../../../src/api/types.ts';
import { ProviderError, type RemoteValue } from '../../../../src/providers/provider.port.ts';
import { vaultLogin } from '../../../../src/providers/vault/auth.ts';
import { VaultHttpError } from '../../../../src/providers/vault/client.ts';
import { classify } from '../../../../src/providers/vault/errors.ts';
import { VaultKv } from '../../../../src/providers/vault/vault.provider.ts';
import { ManualClock } from '../../../../src/runtime/clock.ts';
import { FakeVault, fail } from './fakes.ts';

const ignore = () => undefined;
const tokenAuth: VaultProvider['auth'] = { tokenSecretRef: { name: 'vault', key: 'token' } };

function context(clock = new ManualClock(0), secrets: Record<string, Record<string, string>> = {}) {
  const requested: string[] = [];
  return {
    requested,
    store: { kind: 'SecretStore' as const, name: 'vault', namespace: 'team' },
    secrets: {
      readSecret: async (namespace: string, name: string) => {
        const data = secrets[`${namespace}/${name}`];
        return data
          ? {
              data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
              resourceVersion: '1',
            }
          : undefined;
      },
    },
    tokens: {
      requestToken: async (namespace: string, name: string, audiences: string[]) => {
        requested.push(`${namespace}/${name} ${audiences.join(',')}`);
        return `jwt-of-${name}`;
      },
    },
    now: () => clock.now(),
  };
}

async function kv(vault: FakeVault, config: Partial<VaultProvider> = {}) {
  const spec = { server: 'http://127.0.0.1:8200', auth: tokenAuth, ...config } as VaultProvider;
  const ctx = context(new ManualClock(0), { 'team/vault': { token: 'root\n' } });
  return new VaultKv(spec, vault, await vaultLogin(spec, ctx, vault));
}

const text = (v: RemoteValue | ProviderError) =>
  v instanceof ProviderError ? v : JSON.parse(v.value.toString());

test('KV v2: the current data as JSON with its version, a pinned version, and a deleted secret as NotFound', async () => {
  const vault = new FakeVault()
    .on('GET', 'secret/data/ml/hf', (r) =>
      r.query?.version === '1'
        ? { data: { data: { token: 'old' }, metadata: { version: 1 } } }
        : { data: { data: { token: 'new', org: 'ml' }, metadata: { version: 2 } } },
    )
    .on('GET', 'secret/data/ml/gone', () => ({ data: { data: null, metadata: { version: 3 } } }));
  const provider = await kv(vault);
  const [current, pinned, gone, missing] = await provider.getSecrets(
    [{ key: 'ml/hf' }, { key: 'ml/hf', version: '1' }, { key: 'ml/gone' }, { key: 'ml/none' }],
    ignore,
  );
  expect(text(current!)).toEqual({ token: 'new', org: 'ml' });
  expect((current as RemoteValue).versionId).toBe('2');
  expect(text(pinned!)).toEqual({ token: 'old' });
  expect((gone as ProviderError).category).toBe('NotFound');
  expect((missing as ProviderError).category).toBe('NotFound');
  expect(vault.requests.every((r) => r.token === 'root')).toBe(true);
});

test('KV v1 at another mount: the data, and no versions', async () => {
  const vault = new FakeVault().on('GET', 'kv/ml/db', () => ({ data: { user: 'u', password: 'p' } }));
  const provider = await kv(vault, { path: 'kv', version: 'v1' });
  const [value, versioned] = await provider.getSecrets(
    [{ key: 'ml/db' }, { key: 'ml/db', version: '2' }],
    ignore,
  );
  expect(text(value!)).toEqual({ user: 'u', password: 'p' });
  expect((versioned as ProviderError).category).toBe('Invalid');
});

test('a key that climbs out of the mount is never sent', async () => {
  const vault = new FakeVault();
  const provider = await kv(vault);
  const [outcome] = await provider.getSecrets([{ key: 'ml/../../sys/seal' }], ignore);
  expect((outcome as ProviderError).category).toBe('NotFound');
  expect(vault.requests).toEqual([]);
});

test('find walks the folders, filters by name and by custom metadata', async () => {
  const vault = new FakeVault()
    .on('GET', 'secret/metadata/ml', () => ({ data: { keys: ['a', 'team/'] } }))
    .on('GET', 'secret/metadata/ml/team', () => ({ data: { keys: ['b', 'c'] } }))
    .on('GET', 'secret/metadata/ml/a', () => ({ data: { custom_metadata: { team: 'vision' } } }))
    .on('GET', 'secret/metadata/ml/team/b', () => ({ data: { custom_metadata: { team: 'nlp' } } }))
    .on('GET', 'secret/metadata/ml/team/c', () => ({ data: { custom_metadata: null } }))
    .on('GET', 'secret/data/ml/a', () => ({ data: { data: { v: 'a' }, metadata: { version: 1 } } }))
    .on('GET', 'secret/data/ml/team/b', () => ({ data: { data: { v: 'b' }, metadata: { version: 1 } } }))
    .on('GET', 'secret/data/ml/team/c', () => ({ data: { data: { v: 'c' }, metadata: { version: 1 } } }));
  const provider = await kv(vault);
  expect((await provider.find({ path: 'ml' }, ignore)).map((v) => v.key)).toEqual([
    'ml/a',
    'ml/team/b',
    'ml/team/c',
  ]);
  expect((await provider.find({ path: 'ml', nameRegexp: 'team/' }, ignore)).map((v) => v.key)).toEqual([
    'ml/team/b',
    'ml/team/c',
  ]);
  expect((await provider.find({ path: 'ml', tags: { team: 'nlp' } }, ignore)).map((v) => v.key)).toEqual([
    'ml/team/b',
  ]);
  const list = vault.requests.find((r) => r.path === 'secret/metadata/ml');
  expect(list?.query).toEqual({ list: 'true' });
  const sent = vault.requests.length;
  await expect(provider.find({ path: 'ml/../../sys' }, ignore)).rejects.toMatchObject({
    category: 'Invalid',
  });
  expect(vault.requests).toHaveLength(sent);
});

test('Kubernetes login: a token of the store namespace service account, kept until 2/3 of its lifetime', async () => {
  const clock = new ManualClock(0);
  const ctx = context(clock);
  let logins = 0;
  const vault = new FakeVault().on('POST', 'auth/k8s/login', (r) => {
    logins++;
    expect(r.body).toEqual({ role: 'reader', jwt: 'jwt-of-mlsecrets' });
    vault.tokens.add(`t${logins}`);
    return { auth: { client_token: `t${logins}`, lease_duration: 3 } };
  });
  vault.on('GET', 'secret/data/a', () => ({ data: { data: { v: 1 } } }));
  const spec = {
    server: 'http://127.0.0.1:8200',
    auth: { kubernetes: { mountPath: 'k8s', role: 'reader', serviceAccountRef: { name: 'mlsecrets' } } },
  } as VaultProvider;
  const calls: string[] = [];
  const provider = new VaultKv(spec, vault, await vaultLogin(spec, ctx, vault));
  await provider.getSecrets([{ key: 'a' }], (op) => calls.push(op));
  await provider.getSecrets([{ key: 'a' }], (op) => calls.push(op));
  expect(logins).toBe(1);
  expect(calls).toEqual(['Login', 'Read', 'Read']);
  expect(ctx.requested).toEqual(['team/mlsecrets vault']);
  clock.advance(2_001);
  await provider.getSecrets([{ key: 'a' }], ignore);
  expect(logins).toBe(2);
  expect(vault.requests.at(-1)?.token).toBe('t2');
});

test('a token Vault stops accepting is dropped: one new login, and the read succeeds', async () => {
  const ctx = context();
  let logins = 0;
  const vault = new FakeVault()
    .on('POST', 'auth/approle/login', (r) => {
      expect(r.body).toEqual({ role_id: 'rid', secret_id: 'sid' });
      logins++;
      vault.tokens.add(`t${logins}`);
      return { auth: { client_token: `t${logins}`, lease_duration: 3600 } };
    })
    .on('GET', 'secret/data/a', () => ({ data: { data: { v: 1 } } }));
  const spec = {
    server: 'http://127.0.0.1:8200',
    auth: { appRole: { roleId: 'rid', secretRef: { name: 'approle', key: 'secret-id' } } },
  } as VaultProvider;
  const withSecret = {
    ...ctx,
    secrets: context(new ManualClock(0), { 'team/approle': { 'secret-id': 'sid' } }).secrets,
  };
  const provider = new VaultKv(spec, vault, await vaultLogin(spec, withSecret, vault));
  await provider.getSecrets([{ key: 'a' }], ignore);
  vault.tokens.delete('t1'); // revoked behind our back
  const [outcome] = await provider.getSecrets([{ key: 'a' }], ignore);
  expect(text(outcome!)).toEqual({ v: 1 });
  expect(logins).toBe(2);
});

test('errors are classified with messages of our own', () => {
  const call = { action: 'reading', path: 'secret/ml/x' };
  const leaky = 'permission denied for token s.hvs-SECRET';
  expect(classify(new VaultHttpError(leaky, { status: 403 }), call).category).toBe('AccessDenied');
  expect(classify(new VaultHttpError(leaky, { status: 403 }), call).message).not.toContain('hvs');
  expect(classify(new VaultHttpError('sealed', { status: 503 }), call).category).toBe('Unavailable');
  expect(classify(new VaultHttpError('slow', { status: 429, retryAfterMs: 2000 }), call).retryAfterMs).toBe(
    2000,
  );
  expect(classify(new VaultHttpError('x', { code: 'ECONNREFUSED' }), call).category).toBe('Unavailable');
  expect(classify(new VaultHttpError('x', { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), call).category).toBe(
    'Invalid',
  );
  expect(classify(new VaultHttpError('bad', { status: 400 }), call).category).toBe('Invalid');
  expect(() => fail(500)).toThrow(VaultHttpError);
});

test('login methods: exactly one, and a SecretStore may not log in as another namespace', async () => {
  const vault = new FakeVault();
  await expect(
    vaultLogin({ server: 'http://x', auth: {} } as VaultProvider, context(), vault),
  ).rejects.toMatchObject({ reason: 'InvalidSpec' });
  await expect(
    vaultLogin(
      {
        server: 'http://x',
        auth: { kubernetes: { role: 'r', serviceAccountRef: { name: 'sa', namespace: 'other' } } },
      } as VaultProvider,
      context(),
      vault,
    ),
  ).rejects.toMatchObject({ reason: 'InvalidSpec' });
  await expect(
    vaultLogin({ server: 'http://x', auth: tokenAuth } as VaultProvider, context(), vault),
  ).rejects.toMatchObject({ reason: 'StoreCredentialsMissing' });
});

test('a login token is renewed (renew-self) and kept across rebuilds of the client: leases end with their token', async () => {
  const clock = new ManualClock(0);
  const ctx = context(clock);
  let logins = 0;
  const renewals: unknown[] = [];
  const vault = new FakeVault()
    .on('POST', 'auth/kubernetes/login', () => {
      logins++;
      vault.tokens.add(`t${logins}`);
      return { auth: { client_token: `t${logins}`, lease_duration: 30, renewable: true } };
    })
    .on('POST', 'auth/token/renew-self', (r) => {
      renewals.push([r.token, r.body]);
      // The third renewal comes back short: the token's max TTL is near.
      return {
        auth: { client_token: r.token, lease_duration: renewals.length < 3 ? 30 : 10, renewable: true },
      };
    })
    .on('GET', 'secret/data/a', () => ({ data: { data: { v: 1 } } }));
  const spec = {
    server: 'http://127.0.0.1:8201',
    auth: { kubernetes: { role: 'renewing', serviceAccountRef: { name: 'mlsecrets' } } },
  } as VaultProvider;
  // Each read goes through a client built afresh, as the store directory rebuilds them.
  const read = async () => {
    const provider = new VaultKv(spec, vault, await vaultLogin(spec, ctx, vault));
    await provider.getSecrets([{ key: 'a' }], ignore);
    return vault.requests.at(-1)?.token;
  };
  expect(await read()).toBe('t1');
  for (let i = 0; i < 2; i++) {
    clock.advance(20_001);
    expect(await read()).toBe('t1');
  }
  expect(renewals).toEqual([
    ['t1', { increment: '30s' }],
    ['t1', { increment: '30s' }],
  ]);
  clock.advance(20_001);
  expect(await read()).toBe('t2');
  expect(logins).toBe(2);
});

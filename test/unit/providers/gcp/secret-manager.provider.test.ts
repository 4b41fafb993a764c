import { status } from '@grpc/grpc-js';
import { ProviderError, StoreConfigError } from '../../../../src/providers/provider.port.ts';
import { crc32c } from '../../../../src/providers/gcp/crc32c.ts';
import {
  createGcpProviderFactory,
  toRemoteValue,
} from '../../../../src/providers/gcp/secret-manager.provider.ts';
import { context, fakeApiFactory, fakeSecrets, fakeServiceAccountKey } from './fakes.ts';

const base = 'projects/ml-proj/secrets';

function payload(value: string | Buffer, version: number, checksum?: string | number | null) {
  const data = Buffer.from(value);
  return {
    name: `projects/123456/secrets/s/versions/${version}`,
    payload: { data, dataCrc32c: checksum === undefined ? String(crc32c(data)) : checksum },
  };
}

async function provider(spec: Record<string, unknown> = {}, secrets = fakeSecrets({})) {
  const fake = fakeApiFactory();
  const factory = createGcpProviderFactory(fake.make);
  const created = await factory.create(
    { gcp: { projectID: 'ml-proj', ...spec } },
    context('SecretStore', secrets),
  );
  return { ...fake, provider: created };
}

describe('the gcp provider', () => {
  test('reads latest, a number, an alias and a full resource name, one call each', async () => {
    const { api, provider: p } = await provider();
    api.versions.set(`${base}/hf/versions/latest`, payload('{"token":"t3"}', 3));
    api.versions.set(`${base}/hf/versions/1`, payload('{"token":"t1"}', 1));
    api.versions.set(`${base}/hf/versions/prod`, payload('{"token":"t2"}', 2));
    api.versions.set('projects/shared/secrets/wandb/versions/latest', payload('w', 9));
    const ops: string[] = [];
    const answers = await p.getSecrets(
      [
        { key: 'hf' },
        { key: 'hf', version: '1' },
        { key: 'hf', version: 'prod' },
        { key: 'projects/shared/secrets/wandb' },
      ],
      (op) => ops.push(op),
    );
    expect(answers).toEqual([
      { key: 'hf', value: Buffer.from('{"token":"t3"}'), versionId: '3' },
      { key: 'hf', value: Buffer.from('{"token":"t1"}'), versionId: '1' },
      { key: 'hf', value: Buffer.from('{"token":"t2"}'), versionId: '2' },
      { key: 'projects/shared/secrets/wandb', value: Buffer.from('w'), versionId: '9' },
    ]);
    expect(api.accessed).toEqual([
      `${base}/hf/versions/latest`,
      `${base}/hf/versions/1`,
      `${base}/hf/versions/prod`,
      'projects/shared/secrets/wandb/versions/latest',
    ]);
    expect(ops).toEqual(Array(4).fill('AccessSecretVersion'));
    expect(p.name).toBe('gcp');
    expect(p.maxBatch).toBe(1);
  });

  test('binary payloads stay binary', async () => {
    const { api, provider: p } = await provider();
    const bytes = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0xc3, 0x28]);
    api.versions.set(`${base}/blob/versions/latest`, payload(bytes, 1));
    const [answer] = await p.getSecrets([{ key: 'blob' }], () => undefined);
    expect((answer as { value: Buffer }).value.equals(bytes)).toBe(true);
  });

  test('each request gets its own answer: a failure does not spoil the others', async () => {
    const { api, provider: p } = await provider();
    api.versions.set(`${base}/ok/versions/latest`, payload('fine', 1));
    api.versions.set(
      `${base}/off/versions/latest`,
      Object.assign(new Error('9 FAILED_PRECONDITION: disabled'), { code: status.FAILED_PRECONDITION }),
    );
    const ops: string[] = [];
    const [ok, missing, off, bad] = await p.getSecrets(
      [{ key: 'ok' }, { key: 'missing' }, { key: 'off' }, { key: 'ml/path-like' }],
      (op) => ops.push(op),
    );
    expect(ok).toMatchObject({ value: Buffer.from('fine') });
    expect(missing).toBeInstanceOf(ProviderError);
    expect((missing as ProviderError).category).toBe('NotFound');
    expect((missing as ProviderError).message).toBe(
      'Google Secret Manager: secret "missing" in project "ml-proj" not found (NOT_FOUND)',
    );
    expect((off as ProviderError).category).toBe('Invalid');
    expect((bad as ProviderError).category).toBe('Invalid');
    // The path-like key never reached the API.
    expect(ops).toHaveLength(3);
  });

  describe('checksums', () => {
    test('a matching CRC32C passes', () => {
      expect(toRemoteValue('k', payload('hello', 1))).toMatchObject({ value: Buffer.from('hello') });
    });

    test('a mismatch is Invalid, naming the key only', () => {
      const damaged = payload('hello', 1, String((crc32c(Buffer.from('hello')) + 1) >>> 0));
      const answer = toRemoteValue('hf-token', damaged) as ProviderError;
      expect(answer).toBeInstanceOf(ProviderError);
      expect(answer.category).toBe('Invalid');
      expect(answer.message).toBe('payload checksum mismatch for "hf-token"');
    });

    test('a numeric checksum is checked too', () => {
      expect(toRemoteValue('k', payload('hello', 1, crc32c(Buffer.from('hello'))))).not.toBeInstanceOf(
        ProviderError,
      );
      expect(toRemoteValue('k', payload('hello', 1, 12345))).toBeInstanceOf(ProviderError);
    });

    test('"0" (the emulator\'s "none computed") and an absent checksum are accepted', () => {
      expect(toRemoteValue('k', payload('hello', 1, '0'))).toMatchObject({ value: Buffer.from('hello') });
      expect(toRemoteValue('k', payload('hello', 1, null))).toMatchObject({ value: Buffer.from('hello') });
      expect(
        toRemoteValue('k', { name: 'projects/p/secrets/k/versions/1', payload: { data: Buffer.from('x') } }),
      ).toMatchObject({ value: Buffer.from('x'), versionId: '1' });
    });

    test('a garbled checksum is a mismatch', () => {
      expect(toRemoteValue('k', payload('hello', 1, 'not-a-number'))).toBeInstanceOf(ProviderError);
    });
  });

  test('a response without a payload is Invalid', () => {
    const answer = toRemoteValue('k', { name: 'projects/p/secrets/k/versions/1' }) as ProviderError;
    expect(answer.category).toBe('Invalid');
    expect(answer.message).toMatch(/returned no payload for secret "k"/);
  });

  describe('validate', () => {
    test('lists one secret of the project', async () => {
      const { api, provider: p } = await provider();
      const ops: string[] = [];
      await p.validate((op) => ops.push(op));
      expect(api.listed).toEqual([{ parent: 'projects/ml-proj', pageSize: 1 }]);
      expect(ops).toEqual(['ListSecrets']);
    });

    test('a plain PERMISSION_DENIED passes: the caller was authenticated', async () => {
      const { api, provider: p } = await provider();
      api.listError = Object.assign(new Error('7 PERMISSION_DENIED'), { code: status.PERMISSION_DENIED });
      await expect(p.validate(() => undefined)).resolves.toBeUndefined();
    });

    test.each([
      [status.UNAUTHENTICATED, undefined, 'AccessDenied'],
      [status.PERMISSION_DENIED, 'SERVICE_DISABLED', 'AccessDenied'],
      [status.UNAVAILABLE, undefined, 'Unavailable'],
      [status.NOT_FOUND, undefined, 'NotFound'],
    ])('code %i (%s) fails as %s', async (code, reason, category) => {
      const { api, provider: p } = await provider();
      api.listError = Object.assign(new Error(`${code} MARKER-secret-text`), { code, reason });
      const error = (await p.validate(() => undefined).catch((e: unknown) => e)) as ProviderError;
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.category).toBe(category);
      expect(error.message).toMatch(/project "ml-proj"/);
      expect(error.message).not.toContain('MARKER');
    });
  });

  test('close() closes the client', async () => {
    const { api, provider: p } = await provider();
    await p.close();
    expect(api.closed).toBe(true);
  });
});

describe('the gcp factory', () => {
  test('without auth: no credentials (Application Default Credentials), no endpoint', async () => {
    const { built } = await provider();
    expect(built).toEqual([{ projectId: 'ml-proj', endpoint: undefined, credentials: undefined }]);
  });

  test('a loopback endpoint is plaintext, any other keeps TLS', async () => {
    const { built: local } = await provider({ endpoint: '127.0.0.1:8085' });
    expect(local[0]?.endpoint).toEqual({ host: '127.0.0.1', port: 8085, plaintext: true });
    const { built: psc } = await provider({ endpoint: 'secretmanager-psc.p.googleapis.com:443' });
    expect(psc[0]?.endpoint).toEqual({
      host: 'secretmanager-psc.p.googleapis.com',
      port: 443,
      plaintext: false,
    });
  });

  test('auth.secretRef: the key from the Secret is passed as credentials', async () => {
    const sa = fakeServiceAccountKey();
    const secrets = fakeSecrets({ team: { 'gcp-sa': { 'credentials.json': sa.json } } });
    const { built } = await provider(
      { auth: { secretRef: { name: 'gcp-sa', key: 'credentials.json' } } },
      secrets,
    );
    expect(built[0]?.credentials).toEqual({ client_email: sa.client_email, private_key: sa.private_key });
  });

  test.each([
    [{ projectID: 'a/b' }, /projectID "a\/b" is not a project id/],
    [{ endpoint: 'https://secretmanager.googleapis.com' }, /is not host:port/],
    [
      { auth: { secretRef: { name: 'gone', key: 'k' } } },
      /the credentials Secret "team\/gone" does not exist/,
    ],
  ])('bad configuration %j fails before any client is built', async (spec, message) => {
    const fake = fakeApiFactory();
    const factory = createGcpProviderFactory(fake.make);
    const error = await factory
      .create({ gcp: { projectID: 'ml-proj', ...spec } }, context('SecretStore', fakeSecrets({})))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConfigError);
    expect((error as Error).message).toMatch(message);
    expect(fake.built).toEqual([]);
  });
});

import { StoreConfigError } from '../../../../src/providers/provider.port.ts';
import { readServiceAccountKey } from '../../../../src/providers/gcp/credentials.ts';
import { context, fakeSecrets, fakeServiceAccountKey } from './fakes.ts';

const sa = fakeServiceAccountKey();

async function failure(promise: Promise<unknown>): Promise<StoreConfigError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StoreConfigError);
    return error as StoreConfigError;
  }
  throw new Error('expected a StoreConfigError');
}

describe('readServiceAccountKey', () => {
  test('a SecretStore reads its own namespace by default, and passes on only email and key', async () => {
    const secrets = fakeSecrets({ team: { 'gcp-sa': { 'credentials.json': sa.json } } });
    const key = await readServiceAccountKey(
      { name: 'gcp-sa', key: 'credentials.json' },
      context('SecretStore', secrets),
    );
    expect(key).toEqual({ client_email: sa.client_email, private_key: sa.private_key });
    expect(secrets.reads).toEqual(['team/gcp-sa']);
  });

  test('a SecretStore may name its own namespace', async () => {
    const secrets = fakeSecrets({ team: { 'gcp-sa': { k: sa.json } } });
    await expect(
      readServiceAccountKey({ name: 'gcp-sa', namespace: 'team', key: 'k' }, context('SecretStore', secrets)),
    ).resolves.toMatchObject({ client_email: sa.client_email });
  });

  test('a SecretStore may not name another namespace, and nothing is read', async () => {
    const secrets = fakeSecrets({ other: { 'gcp-sa': { k: sa.json } } });
    const error = await failure(
      readServiceAccountKey(
        { name: 'gcp-sa', namespace: 'other', key: 'k' },
        context('SecretStore', secrets),
      ),
    );
    expect(error.reason).toBe('InvalidSpec');
    expect(error.message).toMatch(/only read credentials from its own namespace "team", not "other"/);
    expect(secrets.reads).toEqual([]);
  });

  test('a ClusterSecretStore must name the namespace', async () => {
    const error = await failure(
      readServiceAccountKey({ name: 'gcp-sa', key: 'k' }, context('ClusterSecretStore', fakeSecrets({}))),
    );
    expect(error.reason).toBe('InvalidSpec');
    expect(error.message).toMatch(/must name the namespace/);
  });

  test('a ClusterSecretStore reads the namespace it names', async () => {
    const secrets = fakeSecrets({ 'mlsecrets-system': { 'gcp-sa': { k: sa.json } } });
    await expect(
      readServiceAccountKey(
        { name: 'gcp-sa', namespace: 'mlsecrets-system', key: 'k' },
        context('ClusterSecretStore', secrets),
      ),
    ).resolves.toMatchObject({ client_email: sa.client_email });
  });

  test('a missing Secret', async () => {
    const error = await failure(
      readServiceAccountKey({ name: 'gcp-sa', key: 'k' }, context('SecretStore', fakeSecrets({}))),
    );
    expect(error.reason).toBe('StoreCredentialsMissing');
    expect(error.message).toBe('the credentials Secret "team/gcp-sa" does not exist');
  });

  test('a missing key', async () => {
    const secrets = fakeSecrets({ team: { 'gcp-sa': { other: sa.json } } });
    const error = await failure(
      readServiceAccountKey({ name: 'gcp-sa', key: 'k' }, context('SecretStore', secrets)),
    );
    expect(error.reason).toBe('StoreCredentialsMissing');
    expect(error.message).toBe('the credentials Secret "team/gcp-sa" has no key "k"');
  });

  describe('malformed keys fail with InvalidSpec and no key material', () => {
    const marker = 'MARKER-key-material-77';
    test.each([
      ['not JSON', `{"private_key": "${marker}`, /is not valid JSON/],
      ['not an object', JSON.stringify([marker]), /is not a JSON object/],
      [
        'another credential type',
        JSON.stringify({ type: 'external_account', credential_source: { file: `/etc/${marker}` } }),
        /is not a service-account key/,
      ],
      ['no private_key', JSON.stringify({ client_email: marker }), /lacks "client_email" or "private_key"/],
      [
        'a private_key that is not PEM',
        JSON.stringify({ client_email: 'a@b', private_key: `-----BEGIN PRIVATE KEY-----\n${marker}\n` }),
        /"private_key" .* is not a PEM private key/,
      ],
    ])('%s', async (_name, content, message) => {
      const secrets = fakeSecrets({ team: { 'gcp-sa': { k: content } } });
      const error = await failure(
        readServiceAccountKey({ name: 'gcp-sa', key: 'k' }, context('SecretStore', secrets)),
      );
      expect(error.reason).toBe('InvalidSpec');
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/Secret "team\/gcp-sa"/);
      expect(error.message).not.toContain(marker);
    });

    test('the exact message for JSON that does not parse', async () => {
      const secrets = fakeSecrets({ team: { 'gcp-sa': { k: '{' } } });
      const error = await failure(
        readServiceAccountKey({ name: 'gcp-sa', key: 'k' }, context('SecretStore', secrets)),
      );
      expect(error.message).toBe('the service-account key in Secret "team/gcp-sa" is not valid JSON');
    });
  });
});

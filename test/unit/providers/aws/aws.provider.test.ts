import type { AwsProvider } from '../../../../src/api/types.ts';
import { createAwsProviderFactory } from '../../../../src/providers/aws/aws.provider.ts';
import {
  RENEW_BEFORE_EXPIRY_MS,
  assumedRoleCredentials,
  storeSessionName,
} from '../../../../src/providers/aws/credentials.ts';
import { ParameterStoreProvider } from '../../../../src/providers/aws/parameter-store.provider.ts';
import { SecretsManagerProvider } from '../../../../src/providers/aws/secrets-manager.provider.ts';
import { ProviderRegistry } from '../../../../src/providers/registry.ts';
import { StoreConfigError, type ProviderContext } from '../../../../src/providers/provider.port.ts';
import { FakeApis, FakeSts, sdkError, storeContext } from './fakes.ts';

const secretStore: ProviderContext['store'] = { kind: 'SecretStore', name: 'aws', namespace: 'ml-team' };
const clusterStore: ProviderContext['store'] = { kind: 'ClusterSecretStore', name: 'aws-ml' };
const keys = { 'access-key-id': 'AKIAFAKEFAKE', 'secret-access-key': 'fake-secret\n' };

function staticAuth(namespace?: string): AwsProvider['auth'] {
  return {
    secretRef: {
      accessKeyID: { name: 'aws-creds', key: 'access-key-id', ...(namespace ? { namespace } : {}) },
      secretAccessKey: { name: 'aws-creds', key: 'secret-access-key', ...(namespace ? { namespace } : {}) },
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<StoreConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreConfigError);
  return error as StoreConfigError;
}

describe('the aws provider factory', () => {
  test('picks Secrets Manager by default and Parameter Store when asked; the registry knows it', async () => {
    const apis = new FakeApis();
    const factory = createAwsProviderFactory({ apis });
    expect(factory.id).toBe('aws');
    const context = storeContext(secretStore);
    expect(await factory.create({ aws: { region: 'eu-west-1' } }, context)).toBeInstanceOf(
      SecretsManagerProvider,
    );
    expect(
      await factory.create({ aws: { region: 'eu-west-1', service: 'ParameterStore' } }, context),
    ).toBeInstanceOf(ParameterStoreProvider);
    const registry = new ProviderRegistry([factory]);
    expect((await registry.create({ aws: { region: 'eu-west-1' } }, context)).name).toBe(
      'aws/SecretsManager',
    );
  });

  test('no auth: no credentials are configured, so the SDK default chain applies', async () => {
    const apis = new FakeApis();
    await createAwsProviderFactory({ apis }).create(
      { aws: { region: 'eu-west-1' } },
      storeContext(secretStore),
    );
    for (const { config } of apis.configs) {
      expect(config).toEqual({ region: 'eu-west-1' });
      expect('credentials' in config).toBe(false);
    }
  });

  test('region and endpoint go to every client (Secrets Manager, SSM, STS)', async () => {
    const apis = new FakeApis();
    const factory = createAwsProviderFactory({ apis });
    const context = storeContext(secretStore, { 'ml-team/aws-creds': keys });
    const aws: AwsProvider = {
      region: 'ap-south-1',
      endpoint: 'http://127.0.0.1:5000',
      auth: { ...staticAuth(), roleArn: 'arn:aws:iam::123456789012:role/reader' },
    };
    await factory.create({ aws }, context);
    await factory.create({ aws: { ...aws, service: 'ParameterStore' } }, context);
    expect(apis.configs.map((c) => c.kind).sort()).toEqual(
      ['SecretsManager', 'ParameterStore', 'STS', 'STS', 'STS', 'STS'].sort(),
    );
    for (const { config } of apis.configs) {
      expect(config).toMatchObject({ region: 'ap-south-1', endpoint: 'http://127.0.0.1:5000' });
    }
  });

  test('auth.secretRef: static keys from the store’s namespace, trimmed', async () => {
    const apis = new FakeApis();
    const context = storeContext(secretStore, { 'ml-team/aws-creds': keys });
    await createAwsProviderFactory({ apis }).create(
      { aws: { region: 'us-east-1', auth: staticAuth() } },
      context,
    );
    expect(context.secrets.reads).toEqual(['ml-team/aws-creds', 'ml-team/aws-creds']);
    for (const { config } of apis.configs) {
      expect(await FakeApis.keys(config)).toEqual({
        accessKeyId: 'AKIAFAKEFAKE',
        secretAccessKey: 'fake-secret',
      });
    }
  });

  test('auth.secretRef with a session token', async () => {
    const apis = new FakeApis();
    const context = storeContext(clusterStore, { 'creds/aws': { id: 'AKIA1', secret: 's', token: 't' } });
    const ref = (key: string) => ({ name: 'aws', namespace: 'creds', key });
    await createAwsProviderFactory({ apis }).create(
      {
        aws: {
          region: 'us-east-1',
          auth: {
            secretRef: { accessKeyID: ref('id'), secretAccessKey: ref('secret'), sessionToken: ref('token') },
          },
        },
      },
      context,
    );
    expect(await FakeApis.keys(apis.configs[0]!.config)).toEqual({
      accessKeyId: 'AKIA1',
      secretAccessKey: 's',
      sessionToken: 't',
    });
  });

  test('a missing credentials Secret or key is StoreCredentialsMissing, naming where, never a value', async () => {
    const factory = createAwsProviderFactory({ apis: new FakeApis() });
    const missingSecret = await failure(
      factory.create({ aws: { region: 'us-east-1', auth: staticAuth() } }, storeContext(secretStore)),
    );
    expect(missingSecret.reason).toBe('StoreCredentialsMissing');
    expect(missingSecret.message).toBe(
      'Secret "ml-team/aws-creds" (key "access-key-id") holding the AWS access key id was not found',
    );
    const missingKey = await failure(
      factory.create(
        { aws: { region: 'us-east-1', auth: staticAuth() } },
        storeContext(secretStore, { 'ml-team/aws-creds': { 'access-key-id': 'AKIAPLANTED123' } }),
      ),
    );
    expect(missingKey.reason).toBe('StoreCredentialsMissing');
    expect(missingKey.message).toBe(
      'Secret "ml-team/aws-creds" (key "secret-access-key") holding the AWS secret access key was not found',
    );
    expect(missingKey.message).not.toContain('AKIAPLANTED123');
    const empty = await failure(
      factory.create(
        { aws: { region: 'us-east-1', auth: staticAuth() } },
        storeContext(secretStore, {
          'ml-team/aws-creds': { 'access-key-id': ' \n', 'secret-access-key': 'x' },
        }),
      ),
    );
    expect(empty.reason).toBe('StoreCredentialsMissing');
  });

  test('a SecretStore naming another namespace for its credentials is InvalidSpec', async () => {
    const context = storeContext(secretStore, { 'other/aws-creds': keys });
    const error = await failure(
      createAwsProviderFactory({ apis: new FakeApis() }).create(
        { aws: { region: 'us-east-1', auth: staticAuth('other') } },
        context,
      ),
    );
    expect(error.reason).toBe('InvalidSpec');
    expect(error.message).toMatch(/may only read credentials from its own namespace "ml-team", not "other"/);
    expect(context.secrets.reads).toEqual([]);
  });

  test('a SecretStore may name its own namespace explicitly', async () => {
    const apis = new FakeApis();
    const context = storeContext(secretStore, { 'ml-team/aws-creds': keys });
    await createAwsProviderFactory({ apis }).create(
      { aws: { region: 'us-east-1', auth: staticAuth('ml-team') } },
      context,
    );
    expect(context.secrets.reads).toEqual(['ml-team/aws-creds', 'ml-team/aws-creds']);
  });

  test('a ClusterSecretStore must name the namespace of its credentials', async () => {
    const error = await failure(
      createAwsProviderFactory({ apis: new FakeApis() }).create(
        { aws: { region: 'us-east-1', auth: staticAuth() } },
        storeContext(clusterStore, { 'ml-team/aws-creds': keys }),
      ),
    );
    expect(error.reason).toBe('InvalidSpec');
    expect(error.message).toMatch(/ClusterSecretStore must name the namespace/);
  });

  test('bad region or endpoint is InvalidSpec', async () => {
    const factory = createAwsProviderFactory({ apis: new FakeApis() });
    const context = storeContext(secretStore);
    expect((await failure(factory.create({ aws: { region: ' ' } }, context))).reason).toBe('InvalidSpec');
    expect(
      (await failure(factory.create({ aws: { region: 'us-east-1', endpoint: 'moto:5000' } }, context)))
        .reason,
    ).toBe('InvalidSpec');
  });

  test('auth.roleArn: AssumeRole with the base keys, one session shared by every client', async () => {
    const apis = new FakeApis();
    const context = storeContext(secretStore, { 'ml-team/aws-creds': keys });
    await createAwsProviderFactory({ apis }).create(
      {
        aws: {
          region: 'us-east-1',
          auth: { ...staticAuth(), roleArn: 'arn:aws:iam::123456789012:role/reader', externalID: 'ext-1' },
        },
      },
      context,
    );
    const [base, ...others] = apis.stsClients;
    expect(await FakeApis.keys(base!.config)).toEqual({
      accessKeyId: 'AKIAFAKEFAKE',
      secretAccessKey: 'fake-secret',
    });
    const sm = apis.configs.find((c) => c.kind === 'SecretsManager')!.config;
    const first = await FakeApis.keys(sm);
    const again = await FakeApis.keys(others[0]!.config);
    expect(first).toMatchObject({ accessKeyId: 'ASIAFAKE1', sessionToken: 'token-1' });
    expect(again).toEqual(first);
    expect(base!.sts.calls).toEqual([
      {
        op: 'AssumeRole',
        input: {
          RoleArn: 'arn:aws:iam::123456789012:role/reader',
          RoleSessionName: 'mlsecrets-ml-team.aws',
          ExternalId: 'ext-1',
        },
      },
    ]);
  });
});

describe('assumedRoleCredentials()', () => {
  const params = { roleArn: 'arn:aws:iam::123456789012:role/reader', sessionName: 's' };

  test('caches the session and renews it before it expires', async () => {
    let now = 1_000_000;
    const sts = new FakeSts();
    sts.now = () => now;
    const credentials = assumedRoleCredentials(sts, params, () => now);
    const first = await credentials();
    await credentials();
    expect(sts.calls).toHaveLength(1);
    now += 3600_000 - RENEW_BEFORE_EXPIRY_MS - 1000;
    expect(await credentials()).toBe(first);
    now += 2000; // within the renewal window now
    const second = await credentials();
    expect(second.accessKeyId).toBe('ASIAFAKE2');
    expect(sts.calls).toHaveLength(2);
  });

  test('concurrent callers share one AssumeRole; a failure is not cached', async () => {
    const sts = new FakeSts();
    const credentials = assumedRoleCredentials(sts, params);
    await Promise.all([credentials(), credentials(), credentials()]);
    expect(sts.calls).toHaveLength(1);

    const failing = new FakeSts();
    failing.failNext = sdkError('AccessDenied', {
      status: 403,
      message: 'MARKER arn:aws:iam::999988887777:user/x',
    });
    const denied = assumedRoleCredentials(failing, params);
    const error = await denied().catch((e: unknown) => e);
    expect(error).toMatchObject({
      category: 'AccessDenied',
      message: `AWS STS denied access while assuming role "${params.roleArn}": the IAM policy does not allow it`,
    });
    expect(await denied()).toMatchObject({ accessKeyId: 'ASIAFAKE1' });
  });

  test('storeSessionName() is within what AWS accepts', () => {
    expect(storeSessionName({ kind: 'ClusterSecretStore', name: 'aws-ml' })).toBe('mlsecrets-aws-ml');
    const long = storeSessionName({ kind: 'SecretStore', name: 'x'.repeat(80), namespace: 'ns' });
    expect(long).toHaveLength(64);
    expect(long).toMatch(/^[\w+=,.@-]+$/);
  });
});

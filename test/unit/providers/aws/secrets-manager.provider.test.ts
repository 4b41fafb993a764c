import {
  SecretsManagerProvider,
  versionSelector,
} from '../../../../src/providers/aws/secrets-manager.provider.ts';
import { StoreIdentity } from '../../../../src/providers/aws/store-identity.ts';
import {
  ProviderError,
  type RemoteRequest,
  type RemoteValue,
} from '../../../../src/providers/provider.port.ts';
import { FakeSecretsManager, FakeSts, sdkError } from './fakes.ts';

function setup() {
  const sm = new FakeSecretsManager();
  const sts = new FakeSts();
  const provider = new SecretsManagerProvider(sm, new StoreIdentity(sts));
  const ops: string[] = [];
  const onCall = (op: string) => ops.push(op);
  return { sm, sts, provider, ops, onCall };
}

function text(outcome: RemoteValue | ProviderError | undefined): string {
  if (!outcome || outcome instanceof ProviderError)
    throw new Error(`expected a value, got ${String(outcome)}`);
  return outcome.value.toString('utf8');
}

describe('versionSelector()', () => {
  test('a UUID is a version id; anything else is a staging label', () => {
    expect(versionSelector('a1b2c3d4-5678-4abc-9def-0123456789ab')).toEqual({
      VersionId: 'a1b2c3d4-5678-4abc-9def-0123456789ab',
    });
    expect(versionSelector('A1B2C3D4-5678-4ABC-9DEF-0123456789AB')).toHaveProperty('VersionId');
    expect(versionSelector('AWSCURRENT')).toEqual({ VersionStage: 'AWSCURRENT' });
    expect(versionSelector('AWSPREVIOUS')).toEqual({ VersionStage: 'AWSPREVIOUS' });
    expect(versionSelector('blue-2024')).toEqual({ VersionStage: 'blue-2024' });
    expect(versionSelector('a1b2c3d4-5678')).toEqual({ VersionStage: 'a1b2c3d4-5678' });
  });
});

describe('SecretsManagerProvider.getSecrets()', () => {
  test('45 unversioned requests are 3 BatchGetSecretValue calls of at most 20; versioned ones use GetSecretValue', async () => {
    const { sm, provider, ops, onCall } = setup();
    const requests: RemoteRequest[] = [];
    for (let i = 0; i < 45; i++) {
      sm.put(`ml/s${i}`, `value-${i}`);
      requests.push({ key: `ml/s${i}` });
    }
    sm.put('ml/s0', 'value-0-new');
    requests.push({ key: 'ml/s0', version: 'AWSPREVIOUS' });
    requests.push({ key: 'ml/s1', version: 'AWSCURRENT' }); // the batch answers AWSCURRENT too

    const outcomes = await provider.getSecrets(requests, onCall);

    const batches = sm.calls.filter((c) => c.op === 'BatchGetSecretValue');
    expect(batches.map((c) => (c.input as { SecretIdList: string[] }).SecretIdList.length)).toEqual([
      20, 20, 5,
    ]);
    expect(sm.calls.filter((c) => c.op === 'GetSecretValue').map((c) => c.input)).toEqual([
      { SecretId: 'ml/s0', VersionStage: 'AWSPREVIOUS' },
    ]);
    expect(ops.sort()).toEqual([...Array(3).fill('BatchGetSecretValue'), 'GetSecretValue'].sort());
    expect(outcomes).toHaveLength(47);
    expect(text(outcomes[0])).toBe('value-0-new');
    expect(text(outcomes[44])).toBe('value-44');
    expect(text(outcomes[45])).toBe('value-0');
    expect(text(outcomes[46])).toBe('value-1');
    expect((outcomes[0] as RemoteValue).versionId).toMatch(/^\d{8}-/);
    expect((outcomes[45] as RemoteValue).versionId).not.toBe((outcomes[0] as RemoteValue).versionId);
  });

  test('a version id is sent as VersionId', async () => {
    const { sm, provider, onCall } = setup();
    const first = sm.put('ml/db', 'one');
    sm.put('ml/db', 'two');
    const [outcome] = await provider.getSecrets([{ key: 'ml/db', version: first }], onCall);
    expect(sm.calls[0]).toEqual({ op: 'GetSecretValue', input: { SecretId: 'ml/db', VersionId: first } });
    expect(text(outcome)).toBe('one');
    expect((outcome as RemoteValue).versionId).toBe(first);
  });

  test('Errors entries of the batch become per-request ProviderErrors without the AWS message', async () => {
    const { sm, provider, onCall } = setup();
    sm.put('ml/a', 'A');
    sm.put('ml/c', 'C');
    const outcomes = await provider.getSecrets(
      [{ key: 'ml/a' }, { key: 'ml/missing' }, { key: 'ml/c' }],
      onCall,
    );
    expect(sm.ops()).toEqual(['BatchGetSecretValue']);
    expect(text(outcomes[0])).toBe('A');
    expect(text(outcomes[2])).toBe('C');
    expect(outcomes[1]).toBeInstanceOf(ProviderError);
    expect(outcomes[1]).toMatchObject({
      category: 'NotFound',
      message: 'Secret "ml/missing" was not found in AWS Secrets Manager',
    });
    expect((outcomes[1] as ProviderError).message).not.toMatch(/MARKER|999988887777/);
  });

  test('a binary secret stays binary; a string is UTF-8', async () => {
    const { sm, provider, onCall } = setup();
    const bytes = new Uint8Array([0, 1, 2, 0xfe, 0xff, 0x80]);
    sm.put('ml/model-key', bytes);
    sm.put('ml/unicode', 'héllo ✓');
    const [binary, unicode] = await provider.getSecrets(
      [{ key: 'ml/model-key' }, { key: 'ml/unicode' }],
      onCall,
    );
    expect(Buffer.isBuffer((binary as RemoteValue).value)).toBe(true);
    expect([...(binary as RemoteValue).value]).toEqual([...bytes]);
    expect(text(unicode)).toBe('héllo ✓');
    // Versioned reads of binary secrets too.
    const [pinned] = await provider.getSecrets(
      [{ key: 'ml/model-key', version: 'AWSCURRENT-ALIAS' }],
      onCall,
    );
    expect(pinned).toMatchObject({ category: 'NotFound' });
  });

  test('requests by full and partial ARN are matched to the batch answer', async () => {
    const { sm, provider, onCall } = setup();
    sm.put('ml/arn', 'by-arn');
    sm.put('ml/partial', 'by-partial');
    const arn = sm.secrets.get('ml/arn')!.arn;
    const partial = sm.secrets.get('ml/partial')!.arn.slice(0, -7);
    const outcomes = await provider.getSecrets([{ key: arn }, { key: partial }], onCall);
    expect(outcomes.map(text)).toEqual(['by-arn', 'by-partial']);
    expect(outcomes.map((o) => (o as RemoteValue).key)).toEqual([arn, partial]);
    expect(sm.ops()).toEqual(['BatchGetSecretValue']);
  });

  test('an id the batch answer does not name is read alone', async () => {
    const { sm, provider, onCall } = setup();
    sm.put('ml/x', 'X');
    const original = sm.batchGetSecretValue.bind(sm);
    sm.batchGetSecretValue = async (input) => ({ ...(await original(input)), SecretValues: [] });
    const [outcome] = await provider.getSecrets([{ key: 'ml/x' }], onCall);
    expect(sm.ops()).toEqual(['BatchGetSecretValue', 'GetSecretValue']);
    expect(text(outcome)).toBe('X');
  });

  test('a failure of the batch call is each request’s error, classified', async () => {
    const { sm, provider, onCall } = setup();
    sm.put('ml/a', 'A');
    sm.failNext.batch = sdkError('ThrottlingException', {
      status: 400,
      message: 'MARKER-throttle arn:aws:secretsmanager:us-east-1:999988887777:secret:ml/a',
    });
    const outcomes = await provider.getSecrets([{ key: 'ml/a' }, { key: 'ml/b' }], onCall);
    expect(outcomes.map((o) => (o as ProviderError).category)).toEqual(['Throttled', 'Throttled']);
    expect((outcomes[0] as ProviderError).message).toBe(
      'AWS Secrets Manager is throttling requests (while reading secret "ml/a")',
    );
    expect((outcomes[1] as ProviderError).message).toContain('"ml/b"');
  });

  test('a network failure is Unavailable', async () => {
    const { sm, provider, onCall } = setup();
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5000'), { code: 'ECONNREFUSED' });
    sm.failNext.get = refused;
    const [outcome] = await provider.getSecrets([{ key: 'ml/a', version: 'AWSPREVIOUS' }], onCall);
    expect(outcome).toMatchObject({
      category: 'Unavailable',
      message: 'AWS Secrets Manager is unavailable (while reading secret "ml/a" (version "AWSPREVIOUS"))',
    });
  });

  test('a denied BatchGetSecretValue falls back to GetSecretValue, for this and later reads', async () => {
    const { sm, provider, onCall } = setup();
    sm.put('ml/a', 'A');
    sm.put('ml/b', 'B');
    sm.batchFailure = sdkError('AccessDeniedException', { status: 400 });
    expect(provider.batchable({ key: 'ml/a' })).toBe(true);
    const outcomes = await provider.getSecrets([{ key: 'ml/a' }, { key: 'ml/b' }], onCall);
    expect(outcomes.map(text)).toEqual(['A', 'B']);
    expect(sm.ops()).toEqual(['BatchGetSecretValue', 'GetSecretValue', 'GetSecretValue']);
    expect(provider.batchable({ key: 'ml/a' })).toBe(false);
    sm.calls.length = 0;
    await provider.getSecrets([{ key: 'ml/a' }], onCall);
    expect(sm.ops()).toEqual(['GetSecretValue']);
  });

  test('bad credentials on the batch are not mistaken for a missing batch permission', async () => {
    const { sm, provider, onCall } = setup();
    sm.batchFailure = sdkError('UnrecognizedClientException', { status: 400 });
    const outcomes = await provider.getSecrets([{ key: 'ml/a' }], onCall);
    expect(outcomes[0]).toMatchObject({ category: 'AccessDenied' });
    expect(sm.ops()).toEqual(['BatchGetSecretValue']);
    expect(provider.batchable({ key: 'ml/a' })).toBe(true);
  });

  test('the same key asked twice is one id in the batch', async () => {
    const { sm, provider, onCall } = setup();
    sm.put('ml/a', 'A');
    const outcomes = await provider.getSecrets(
      [{ key: 'ml/a' }, { key: 'ml/a', version: 'AWSCURRENT' }],
      onCall,
    );
    expect((sm.calls[0]!.input as { SecretIdList: string[] }).SecretIdList).toEqual(['ml/a']);
    expect(outcomes.map(text)).toEqual(['A', 'A']);
  });
});

describe('SecretsManagerProvider', () => {
  test('batchable(): unversioned and AWSCURRENT requests only', () => {
    const { provider } = setup();
    expect(provider.maxBatch).toBe(20);
    expect(provider.batchable({ key: 'a' })).toBe(true);
    expect(provider.batchable({ key: 'a', version: 'AWSCURRENT' })).toBe(true);
    expect(provider.batchable({ key: 'a', version: 'AWSPREVIOUS' })).toBe(false);
    expect(provider.batchable({ key: 'a', version: 'a1b2c3d4-5678-4abc-9def-0123456789ab' })).toBe(false);
  });

  test('rotate() is RotateSecret with RotateImmediately', async () => {
    const { sm, provider, ops, onCall } = setup();
    sm.put('ml/db', 'x');
    await provider.rotate('ml/db', onCall);
    expect(sm.calls).toEqual([{ op: 'RotateSecret', input: { SecretId: 'ml/db', RotateImmediately: true } }]);
    expect(ops).toEqual(['RotateSecret']);
    await expect(provider.rotate('ml/none', onCall)).rejects.toMatchObject({
      category: 'NotFound',
      message: 'AWS Secrets Manager found nothing while rotating secret "ml/none"',
    });
  });

  test('validate() is STS GetCallerIdentity; a denial is AccessDenied', async () => {
    const { sts, provider, ops, onCall } = setup();
    await provider.validate(onCall);
    expect(sts.calls.map((c) => c.op)).toEqual(['GetCallerIdentity']);
    expect(ops).toEqual(['GetCallerIdentity']);
    sts.failNext = sdkError('InvalidClientTokenId', { status: 403, message: 'MARKER AKIAABCDEFGHIJKLMNOP' });
    const failure = await provider.validate(onCall).catch((e: unknown) => e);
    expect(failure).toMatchObject({
      category: 'AccessDenied',
      message:
        "AWS STS denied access while checking the store's credentials: the access key id is not recognised",
    });
  });

  test('assumeRole() returns the credentials with the asked expiry', async () => {
    const { sts, provider, ops, onCall } = setup();
    const now = Date.now();
    sts.now = () => now;
    const credentials = await provider.assumeRole(
      { roleArn: 'arn:aws:iam::123456789012:role/train', durationSeconds: 900, sessionName: 'ml-team.job-1' },
      onCall,
    );
    expect(sts.calls[0]).toEqual({
      op: 'AssumeRole',
      input: {
        RoleArn: 'arn:aws:iam::123456789012:role/train',
        RoleSessionName: 'ml-team.job-1',
        DurationSeconds: 900,
      },
    });
    expect(ops).toEqual(['AssumeRole']);
    expect(credentials).toEqual({
      accessKeyId: 'ASIAFAKE1',
      secretAccessKey: 'secret-1',
      sessionToken: 'token-1',
      expiration: new Date(now + 900_000),
    });
    sts.failNext = sdkError('AccessDenied', { status: 403, message: 'MARKER user/alice is not authorized' });
    await expect(
      provider.assumeRole(
        { roleArn: 'arn:aws:iam::123456789012:role/x', durationSeconds: 900, sessionName: 's' },
        onCall,
      ),
    ).rejects.toMatchObject({
      category: 'AccessDenied',
      message:
        'AWS STS denied access while assuming role "arn:aws:iam::123456789012:role/x": the IAM policy does not allow it',
    });
  });

  test('close() destroys the clients', async () => {
    const { sm, sts, provider } = setup();
    await provider.close();
    expect(sm.destroyed).toBe(true);
    expect(sts.destroyed).toBe(true);
  });
});

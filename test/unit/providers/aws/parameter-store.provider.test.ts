import {
  ParameterStoreProvider,
  parameterSelector,
  planCalls,
  splitSelector,
} from '../../../../src/providers/aws/parameter-store.provider.ts';
import { StoreIdentity } from '../../../../src/providers/aws/store-identity.ts';
import { ProviderError, type RemoteValue } from '../../../../src/providers/provider.port.ts';
import { FakeParameterStore, FakeSts, sdkError } from './fakes.ts';

function setup() {
  const ps = new FakeParameterStore();
  const sts = new FakeSts();
  const provider = new ParameterStoreProvider(ps, new StoreIdentity(sts));
  const ops: string[] = [];
  return { ps, sts, provider, ops, onCall: (op: string) => ops.push(op) };
}

function text(outcome: RemoteValue | ProviderError | undefined): string {
  if (!outcome || outcome instanceof ProviderError)
    throw new Error(`expected a value, got ${String(outcome)}`);
  return outcome.value.toString('utf8');
}

describe('selectors', () => {
  test('a version or label is appended as name:selector', () => {
    expect(parameterSelector({ key: '/ml/token' })).toBe('/ml/token');
    expect(parameterSelector({ key: '/ml/token', version: '3' })).toBe('/ml/token:3');
    expect(parameterSelector({ key: '/ml/token', version: 'stable' })).toBe('/ml/token:stable');
  });

  test('splitSelector() knows that ARNs hold colons', () => {
    expect(splitSelector('/ml/token')).toEqual({ base: '/ml/token' });
    expect(splitSelector('/ml/token:3')).toEqual({ base: '/ml/token', selector: '3' });
    expect(splitSelector('arn:aws:ssm:us-east-1:123456789012:parameter/ml/token')).toEqual({
      base: 'arn:aws:ssm:us-east-1:123456789012:parameter/ml/token',
    });
    expect(splitSelector('arn:aws:ssm:us-east-1:123456789012:parameter/ml/token:prod')).toEqual({
      base: 'arn:aws:ssm:us-east-1:123456789012:parameter/ml/token',
      selector: 'prod',
    });
  });

  test('planCalls(): at most 10 names a call, never one parameter twice in a call', () => {
    const names = Array.from({ length: 25 }, (_, i) => `/p/${i}`);
    expect(planCalls(names).map((c) => c.length)).toEqual([10, 10, 5]);
    expect(planCalls(['/a', '/a:1', '/a:stable', '/b'])).toEqual([['/a', '/b'], ['/a:1'], ['/a:stable']]);
  });
});

describe('ParameterStoreProvider.getSecrets()', () => {
  test('reads with GetParameters, 10 names a call, decrypted', async () => {
    const { ps, provider, ops, onCall } = setup();
    const requests = Array.from({ length: 23 }, (_, i) => {
      ps.put(`/ml/p${i}`, `v${i}`);
      return { key: `/ml/p${i}` };
    });
    const outcomes = await provider.getSecrets(requests, onCall);
    expect(ps.calls.map((c) => c.length)).toEqual([10, 10, 3]);
    expect(ops).toEqual(['GetParameters', 'GetParameters', 'GetParameters']);
    expect(outcomes.map(text)).toEqual(requests.map((_, i) => `v${i}`));
    expect((outcomes[0] as RemoteValue).versionId).toBe('1');
    expect(provider.maxBatch).toBe(10);
  });

  test('versions and labels through name:selector, with the version read as versionId', async () => {
    const { ps, provider, onCall } = setup();
    ps.put('/ml/token', 'one', ['stable']);
    ps.put('/ml/token', 'two');
    ps.put('/ml/token', 'three', ['canary']);
    const outcomes = await provider.getSecrets(
      [
        { key: '/ml/token' },
        { key: '/ml/token', version: '1' },
        { key: '/ml/token', version: 'stable' },
        { key: '/ml/token', version: 'canary' },
        { key: '/ml/token', version: '2' },
      ],
      onCall,
    );
    expect(outcomes.map(text)).toEqual(['three', 'one', 'one', 'three', 'two']);
    expect(outcomes.map((o) => (o as RemoteValue).versionId)).toEqual(['3', '1', '1', '3', '2']);
    expect(outcomes.map((o) => (o as RemoteValue).key)).toEqual(Array(5).fill('/ml/token'));
    // One parameter per call: the answer does not say which selector it answers.
    expect(ps.calls).toEqual([
      ['/ml/token'],
      ['/ml/token:1'],
      ['/ml/token:stable'],
      ['/ml/token:canary'],
      ['/ml/token:2'],
    ]);
  });

  test('InvalidParameters are NotFound per request, the others are answered', async () => {
    const { ps, provider, onCall } = setup();
    ps.put('/ml/a', 'A');
    const outcomes = await provider.getSecrets(
      [{ key: '/ml/a' }, { key: '/ml/missing' }, { key: '/ml/a', version: '9' }],
      onCall,
    );
    expect(text(outcomes[0])).toBe('A');
    expect(outcomes[1]).toMatchObject({
      category: 'NotFound',
      message: 'Parameter "/ml/missing" was not found in AWS Parameter Store',
    });
    expect(outcomes[2]).toMatchObject({
      category: 'NotFound',
      message: 'Parameter "/ml/a" (version "9") was not found in AWS Parameter Store',
    });
  });

  test('a parameter the answer names differently is read alone', async () => {
    const { ps, provider, onCall } = setup();
    ps.put('/ml/a', 'A');
    ps.put('/ml/b', 'B');
    const original = ps.getParameters.bind(ps);
    ps.getParameters = async (input) => {
      const answer = await original(input);
      // A shared parameter asked by ARN may come back under another spelling.
      return {
        ...answer,
        Parameters: answer.Parameters?.map((p) => (p.Name === '/ml/b' ? { ...p, Name: 'b', ARN: 'x' } : p)),
      };
    };
    const outcomes = await provider.getSecrets([{ key: '/ml/a' }, { key: '/ml/b' }], onCall);
    expect(outcomes.map(text)).toEqual(['A', 'B']);
    expect(ps.calls).toEqual([['/ml/a', '/ml/b'], ['/ml/b']]);
  });

  test('a failed call is each of its requests’ error, classified without the SDK text', async () => {
    const { ps, provider, onCall } = setup();
    ps.failNext = sdkError('ThrottlingException', {
      status: 400,
      message: 'MARKER Rate exceeded 999988887777',
    });
    const outcomes = await provider.getSecrets([{ key: '/ml/a' }, { key: '/ml/b', version: '2' }], onCall);
    expect(outcomes).toEqual([expect.any(ProviderError), expect.any(ProviderError)]);
    expect(outcomes.map((o) => (o as ProviderError).message)).toEqual([
      'AWS Parameter Store is throttling requests (while reading parameter "/ml/a")',
      'AWS Parameter Store is throttling requests (while reading parameter "/ml/b" (version "2"))',
    ]);
  });

  test('the same name asked twice is one name in the call', async () => {
    const { ps, provider, onCall } = setup();
    ps.put('/ml/a', 'A');
    const outcomes = await provider.getSecrets([{ key: '/ml/a' }, { key: '/ml/a' }], onCall);
    expect(ps.calls).toEqual([['/ml/a']]);
    expect(outcomes.map(text)).toEqual(['A', 'A']);
  });
});

describe('ParameterStoreProvider', () => {
  test('every request is batchable; there is no rotate()', () => {
    const { provider } = setup();
    expect(provider.batchable()).toBe(true);
    expect((provider as { rotate?: unknown }).rotate).toBeUndefined();
  });

  test('validate() is STS GetCallerIdentity and assumeRole() is STS AssumeRole', async () => {
    const { sts, provider, ops, onCall } = setup();
    await provider.validate(onCall);
    const credentials = await provider.assumeRole(
      { roleArn: 'arn:aws:iam::123456789012:role/r', durationSeconds: 1200, sessionName: 's' },
      onCall,
    );
    expect(ops).toEqual(['GetCallerIdentity', 'AssumeRole']);
    expect(sts.calls.map((c) => c.op)).toEqual(['GetCallerIdentity', 'AssumeRole']);
    expect(credentials.expiration.getTime() - Date.now()).toBeGreaterThan(1190_000);
  });
});

import {
  SecretsManagerProvider,
  serverFilters,
} from '../../../../src/providers/aws/secrets-manager.provider.ts';
import { StoreIdentity } from '../../../../src/providers/aws/store-identity.ts';
import { ProviderError, type RemoteValue } from '../../../../src/providers/provider.port.ts';
import { FakeSecretsManager, FakeSts, sdkError } from './fakes.ts';

function setup() {
  const sm = new FakeSecretsManager();
  const provider = new SecretsManagerProvider(sm, new StoreIdentity(new FakeSts()));
  const ops: string[] = [];
  return { sm, provider, ops, onCall: (op: string) => ops.push(op) };
}

function seed(sm: FakeSecretsManager, secrets: Record<string, Record<string, string>>): void {
  for (const [name, tags] of Object.entries(secrets)) {
    sm.put(name, `value of ${name}`);
    sm.tag(name, tags);
  }
}

const keys = (values: RemoteValue[]) => values.map((v) => v.key);

describe('serverFilters()', () => {
  test('a path is a name filter; one tag narrows by key and value; nothing else is sent', () => {
    expect(serverFilters({})).toEqual([]);
    expect(serverFilters({ nameRegexp: '^ml/' })).toEqual([]);
    expect(serverFilters({ path: 'ml/team-a/' })).toEqual([{ Key: 'name', Values: ['ml/team-a/'] }]);
    expect(serverFilters({ path: 'ml/', tags: { team: 'a', tier: 'gpu' } })).toEqual([
      { Key: 'name', Values: ['ml/'] },
      { Key: 'tag-key', Values: ['team'] },
      { Key: 'tag-value', Values: ['a'] },
    ]);
  });

  test('values AWS would reject or read as a negation are left to the client-side check', () => {
    expect(serverFilters({ path: '!ml/' })).toEqual([]);
    expect(serverFilters({ path: 'ml/ü/' })).toEqual([]);
    expect(serverFilters({ tags: { équipe: 'a', team: 'a' } })).toEqual([
      { Key: 'tag-key', Values: ['team'] },
      { Key: 'tag-value', Values: ['a'] },
    ]);
    expect(serverFilters({ tags: { team: '' } })).toEqual([]);
  });
});

describe('SecretsManagerProvider.find()', () => {
  test('a path: BatchGetSecretValue with a name filter, 20 a page, every page followed', async () => {
    const { sm, provider, ops, onCall } = setup();
    for (let i = 0; i < 45; i++) sm.put(`ml/team-a/s${String(i).padStart(2, '0')}`, `v${i}`);
    sm.put('ml/team-b/other', 'x');
    const found = await provider.find({ path: 'ml/team-a/' }, onCall);
    expect(ops).toEqual(Array(3).fill('BatchGetSecretValue'));
    expect(sm.calls.map((c) => c.input)).toEqual([
      { Filters: [{ Key: 'name', Values: ['ml/team-a/'] }], MaxResults: 20 },
      { Filters: [{ Key: 'name', Values: ['ml/team-a/'] }], MaxResults: 20, NextToken: '20' },
      { Filters: [{ Key: 'name', Values: ['ml/team-a/'] }], MaxResults: 20, NextToken: '40' },
    ]);
    expect(found).toHaveLength(45);
    expect(found[0]).toEqual({
      key: 'ml/team-a/s00',
      value: Buffer.from('v0'),
      versionId: expect.stringMatching(/^\d{8}-/),
    });
    expect(keys(found)).toEqual([...keys(found)].sort());
  });

  test('the path and the regexp are checked here: the name filter is only a prefix hint', async () => {
    const { sm, provider, onCall } = setup();
    seed(sm, { 'ml/team-a/hf': {}, 'ml/team-a/wandb': {}, 'ml/team-a/hf-old': {} });
    // The service may answer more than the prefix (its name filter is not exact everywhere).
    const original = sm.batchGetSecretValue.bind(sm);
    sm.put('ml/team-b/hf', 'b');
    sm.batchGetSecretValue = async (input) => {
      const answer = await original(input);
      return {
        ...answer,
        SecretValues: [...(answer.SecretValues ?? []), { Name: 'ml/team-b/hf', SecretString: 'b' }],
      };
    };
    const found = await provider.find({ path: 'ml/team-a/', nameRegexp: '(hf|wandb)$' }, onCall);
    expect(keys(found)).toEqual(['ml/team-a/hf', 'ml/team-a/wandb']);
  });

  test('a regexp alone: ListSecrets (100 a page), then only the matching secrets read in batches', async () => {
    const { sm, provider, ops, onCall } = setup();
    for (let i = 0; i < 150; i++) sm.put(`other/s${i}`, 'x');
    for (let i = 0; i < 25; i++) sm.put(`ml/llm/k${i}`, `v${i}`);
    const found = await provider.find({ nameRegexp: '^ml/llm/' }, onCall);
    expect(ops).toEqual(['ListSecrets', 'ListSecrets', 'BatchGetSecretValue', 'BatchGetSecretValue']);
    const lists = sm.calls.filter((c) => c.op === 'ListSecrets').map((c) => c.input);
    expect(lists).toEqual([{ MaxResults: 100 }, { MaxResults: 100, NextToken: '100' }]);
    const batches = sm.calls.filter((c) => c.op === 'BatchGetSecretValue');
    expect(batches.map((c) => (c.input as { SecretIdList: string[] }).SecretIdList.length).sort()).toEqual([
      20, 5,
    ]);
    expect(found).toHaveLength(25);
    expect(found.every((v) => v.key.startsWith('ml/llm/'))).toBe(true);
  });

  test('tags: listed with tag filters, matched exactly (AWS matches keys and values by prefix, independently)', async () => {
    const { sm, provider, ops, onCall } = setup();
    seed(sm, {
      'ml/hf': { team: 'a', tier: 'gpu' },
      'ml/wandb': { team: 'a' },
      'ml/value-prefix': { team: 'ab' }, // tag-value "a" matches "ab" by prefix
      'ml/key-prefix': { teams: 'a' }, // tag-key "team" matches "teams" by prefix
      'ml/crossed': { team: 'b', owner: 'a' }, // key and value matched on different tags
      'other/hf': { team: 'a', tier: 'gpu' },
    });
    const found = await provider.find({ tags: { team: 'a' } }, onCall);
    expect(keys(found)).toEqual(['ml/hf', 'ml/wandb', 'other/hf']);
    expect(sm.calls[0]).toEqual({
      op: 'ListSecrets',
      input: {
        Filters: [
          { Key: 'tag-key', Values: ['team'] },
          { Key: 'tag-value', Values: ['a'] },
        ],
        MaxResults: 100,
      },
    });
    expect(ops).toEqual(['ListSecrets', 'BatchGetSecretValue']);
    expect((sm.calls[1]!.input as { SecretIdList: string[] }).SecretIdList.sort()).toEqual([
      'ml/hf',
      'ml/wandb',
      'other/hf',
    ]);

    const both = await provider.find({ path: 'ml/', tags: { team: 'a', tier: 'gpu' } }, onCall);
    expect(keys(both)).toEqual(['ml/hf']);
    expect((sm.calls[2]!.input as { Filters: unknown[] }).Filters).toEqual([
      { Key: 'name', Values: ['ml/'] },
      { Key: 'tag-key', Values: ['team'] },
      { Key: 'tag-value', Values: ['a'] },
    ]);
  });

  test('deleted secrets are left out; one deleted between listing and read is not an error', async () => {
    const { sm, provider, onCall } = setup();
    seed(sm, { 'ml/a': { team: 'a' }, 'ml/b': { team: 'a' }, 'ml/c': { team: 'a' } });
    sm.markDeleted('ml/b');
    expect(keys(await provider.find({ tags: { team: 'a' } }, onCall))).toEqual(['ml/a', 'ml/c']);
    const original = sm.listSecrets.bind(sm);
    sm.listSecrets = async (input) => {
      const answer = await original(input);
      sm.markDeleted('ml/c');
      return answer;
    };
    expect(keys(await provider.find({ tags: { team: 'a' } }, onCall))).toEqual(['ml/a']);
  });

  test('a filtered call failed as a whole with invalid (moto, a deleted match) falls back to listing', async () => {
    const { sm, provider, ops, onCall } = setup();
    seed(sm, { 'ml/team-a/x': {}, 'ml/team-a/y': {} });
    sm.filteredFailure = sdkError('InvalidRequestException', {
      status: 400,
      message: 'MARKER marked deleted',
    });
    const found = await provider.find({ path: 'ml/team-a/' }, onCall);
    expect(keys(found)).toEqual(['ml/team-a/x', 'ml/team-a/y']);
    expect(ops).toEqual(['BatchGetSecretValue', 'ListSecrets', 'BatchGetSecretValue']);
    expect(sm.calls[1]!.input).toEqual({
      Filters: [{ Key: 'name', Values: ['ml/team-a/'] }],
      MaxResults: 100,
    });
  });

  test('a denied BatchGetSecretValue: ListSecrets and GetSecretValue, for this and later finds', async () => {
    const { sm, provider, ops, onCall } = setup();
    seed(sm, { 'ml/x': {}, 'ml/y': {} });
    sm.batchFailure = sdkError('AccessDeniedException', { status: 400 });
    expect(keys(await provider.find({ path: 'ml/' }, onCall))).toEqual(['ml/x', 'ml/y']);
    expect(ops).toEqual(['BatchGetSecretValue', 'ListSecrets', 'GetSecretValue', 'GetSecretValue']);
    ops.length = 0;
    await provider.find({ path: 'ml/' }, onCall);
    expect(ops).toEqual(['ListSecrets', 'GetSecretValue', 'GetSecretValue']);
  });

  test('a secret of the find that cannot be read fails the find, classified without the AWS text', async () => {
    const { sm, provider, onCall } = setup();
    seed(sm, { 'ml/x': {}, 'ml/y': {} });
    const original = sm.batchGetSecretValue.bind(sm);
    sm.batchGetSecretValue = async (input) => ({
      ...(await original(input)),
      Errors: [
        {
          SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:other/z-AbCdEf',
          ErrorCode: 'AccessDeniedException',
        },
        { SecretId: 'ml/gone', ErrorCode: 'ResourceNotFoundException' },
      ],
    });
    // An error for a secret the regexp does not want, and a vanished one, are ignored.
    expect(keys(await provider.find({ path: 'ml/', nameRegexp: '^ml/' }, onCall))).toEqual(['ml/x', 'ml/y']);
    sm.batchGetSecretValue = async (input) => ({
      ...(await original(input)),
      Errors: [{ SecretId: 'ml/z', ErrorCode: 'DecryptionFailure' }],
    });
    await expect(provider.find({ path: 'ml/' }, onCall)).rejects.toMatchObject({
      category: 'Invalid',
      message:
        'AWS Secrets Manager rejected the request while reading secret "ml/z": KMS could not decrypt the value',
    });
  });

  test('listing failures are classified and sanitised; throttling is not mistaken for a fallback', async () => {
    const { sm, provider, ops, onCall } = setup();
    sm.failNext.list = sdkError('ThrottlingException', { status: 400, message: 'MARKER 999988887777' });
    const failure = await provider.find({ nameRegexp: '.' }, onCall).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ProviderError);
    expect(failure).toMatchObject({
      category: 'Throttled',
      message: 'AWS Secrets Manager is throttling requests (while listing secrets)',
    });
    sm.failNext.batch = sdkError('ServiceUnavailableException', { status: 503 });
    await expect(provider.find({ path: 'ml/' }, onCall)).rejects.toMatchObject({ category: 'Unavailable' });
    expect(ops).toEqual(['ListSecrets', 'BatchGetSecretValue']);
  });

  test('an invalid regexp is Invalid, naming the pattern', async () => {
    const { provider, ops, onCall } = setup();
    await expect(provider.find({ nameRegexp: '(' }, onCall)).rejects.toMatchObject({
      category: 'Invalid',
      message: 'dataFrom.find name regexp "(" is not a valid regular expression',
    });
    expect(ops).toEqual([]);
  });

  test('a find that would page on for ever is refused; a repeated token ends the walk', async () => {
    const { sm, provider, ops, onCall } = setup();
    let n = 0;
    sm.batchGetSecretValue = async () => ({ SecretValues: [], NextToken: String(++n) });
    await expect(provider.find({ path: 'ml/' }, onCall)).rejects.toMatchObject({
      category: 'Invalid',
      message:
        'dataFrom.find needs more than 100 pages of AWS Secrets Manager values; narrow it with a path or tags',
    });
    expect(ops).toHaveLength(100);
    ops.length = 0;
    sm.batchGetSecretValue = async () => ({ SecretValues: [], NextToken: 'same' });
    expect(await provider.find({ path: 'ml/' }, onCall)).toEqual([]);
    expect(ops).toEqual(['BatchGetSecretValue', 'BatchGetSecretValue']);
  });

  test('values keep their bytes; a secret without a value is left out', async () => {
    const { sm, provider, onCall } = setup();
    sm.put('ml/bin', new Uint8Array([0, 0xff, 0x80]));
    const original = sm.batchGetSecretValue.bind(sm);
    sm.batchGetSecretValue = async (input) => {
      const answer = await original(input);
      return { ...answer, SecretValues: [...(answer.SecretValues ?? []), { Name: 'ml/empty' }] };
    };
    const found = await provider.find({ path: 'ml/' }, onCall);
    expect(keys(found)).toEqual(['ml/bin']);
    expect([...found[0]!.value]).toEqual([0, 0xff, 0x80]);
  });
});

describe('SecretsManagerProvider.getSecrets() and a whole batch answered "not found"', () => {
  test('each id is read alone, so one secret without a value does not hide the others', async () => {
    const { sm, provider, ops, onCall } = setup();
    sm.put('ml/a', 'A');
    sm.put('ml/b', 'B');
    sm.failNext.batch = sdkError('ResourceNotFoundException', { status: 400 });
    const outcomes = await provider.getSecrets(
      [{ key: 'ml/a' }, { key: 'ml/b' }, { key: 'ml/none' }],
      onCall,
    );
    expect(ops).toEqual(['BatchGetSecretValue', 'GetSecretValue', 'GetSecretValue', 'GetSecretValue']);
    expect(outcomes.slice(0, 2).map((o) => (o as RemoteValue).value.toString())).toEqual(['A', 'B']);
    expect(outcomes[2]).toMatchObject({ category: 'NotFound' });
  });
});

import {
  ParameterStoreProvider,
  describeFilters,
  findPath,
} from '../../../../src/providers/aws/parameter-store.provider.ts';
import { StoreIdentity } from '../../../../src/providers/aws/store-identity.ts';
import type { RemoteValue } from '../../../../src/providers/provider.port.ts';
import { FakeParameterStore, FakeSts, sdkError } from './fakes.ts';

function setup() {
  const ps = new FakeParameterStore();
  const provider = new ParameterStoreProvider(ps, new StoreIdentity(new FakeSts()));
  const ops: string[] = [];
  return { ps, provider, ops, onCall: (op: string) => ops.push(op) };
}

const keys = (values: RemoteValue[]) => values.map((v) => v.key);

describe('find helpers', () => {
  test('findPath(): a hierarchy starting with "/", without its trailing "/"', () => {
    expect(findPath('/ml/team-a/')).toBe('/ml/team-a');
    expect(findPath('/ml/team-a')).toBe('/ml/team-a');
    expect(findPath('/')).toBe('/');
    expect(() => findPath('ml/team-a/')).toThrow(
      'dataFrom.find path "ml/team-a/" is not a Parameter Store hierarchy: it must start with "/"',
    );
  });

  test('describeFilters(): tag:KEY Equals for each tag, Path Recursive for a path below the root', () => {
    expect(describeFilters({}, undefined)).toEqual([]);
    expect(describeFilters({ tags: { tier: 'gpu', team: 'a' } }, '/ml')).toEqual([
      { Key: 'tag:team', Option: 'Equals', Values: ['a'] },
      { Key: 'tag:tier', Option: 'Equals', Values: ['gpu'] },
      { Key: 'Path', Option: 'Recursive', Values: ['/ml'] },
    ]);
    expect(describeFilters({ tags: { team: 'a' } }, '/')).toEqual([
      { Key: 'tag:team', Option: 'Equals', Values: ['a'] },
    ]);
    expect(() => describeFilters({ tags: { team: '' } }, undefined)).toThrow(/empty value/);
  });
});

describe('ParameterStoreProvider.find()', () => {
  test('a path: GetParametersByPath, recursive and decrypted, 10 a page, every page followed', async () => {
    const { ps, provider, ops, onCall } = setup();
    for (let i = 0; i < 12; i++) ps.put(`/ml/team-a/p${String(i).padStart(2, '0')}`, `v${i}`);
    ps.put('/ml/team-a/deep/er/nested', 'deep');
    ps.put('/ml/team-ab/not-under', 'x');
    ps.put('/ml/team-b/other', 'x');
    ps.put('/ml/team-a/p00', 'v0-new');
    const found = await provider.find({ path: '/ml/team-a/' }, onCall);
    expect(ops).toEqual(['GetParametersByPath', 'GetParametersByPath']);
    expect(ps.listings.map((l) => l.input)).toEqual([
      { Path: '/ml/team-a', Recursive: true, WithDecryption: true, MaxResults: 10 },
      { Path: '/ml/team-a', Recursive: true, WithDecryption: true, MaxResults: 10, NextToken: '10' },
    ]);
    expect(keys(found)).toEqual([
      '/ml/team-a/deep/er/nested',
      ...Array.from({ length: 12 }, (_, i) => `/ml/team-a/p${String(i).padStart(2, '0')}`),
    ]);
    expect(found[1]).toEqual({ key: '/ml/team-a/p00', value: Buffer.from('v0-new'), versionId: '2' });
    expect(ps.calls).toEqual([]); // no GetParameters: the values came with the listing
  });

  test('a path and a regexp: the regexp is applied here', async () => {
    const { ps, provider, onCall } = setup();
    ps.put('/ml/a/hf', '1');
    ps.put('/ml/a/wandb', '2');
    ps.put('/ml/a/x/hf', '3');
    const found = await provider.find({ path: '/ml/a', nameRegexp: '/hf$' }, onCall);
    expect(keys(found)).toEqual(['/ml/a/hf', '/ml/a/x/hf']);
  });

  test('tags: DescribeParameters with exact tag filters (and the path), then GetParameters 10 at a time', async () => {
    const { ps, provider, ops, onCall } = setup();
    for (let i = 0; i < 14; i++) ps.put(`/ml/p${String(i).padStart(2, '0')}`, `v${i}`, [], { team: 'a' });
    ps.put('/ml/b', 'x', [], { team: 'ab' });
    ps.put('/ml/c', 'x', [], { teams: 'a' });
    ps.put('/other/d', 'x', [], { team: 'a' });
    const found = await provider.find({ path: '/ml', tags: { team: 'a' } }, onCall);
    expect(ps.listings).toEqual([
      {
        op: 'DescribeParameters',
        input: {
          ParameterFilters: [
            { Key: 'tag:team', Option: 'Equals', Values: ['a'] },
            { Key: 'Path', Option: 'Recursive', Values: ['/ml'] },
          ],
          MaxResults: 50,
        },
      },
    ]);
    expect(ops).toEqual(['DescribeParameters', 'GetParameters', 'GetParameters']);
    expect(ps.calls.map((c) => c.length)).toEqual([10, 4]);
    expect(keys(found)).toEqual(Array.from({ length: 14 }, (_, i) => `/ml/p${String(i).padStart(2, '0')}`));
    expect(found[3]).toEqual({ key: '/ml/p03', value: Buffer.from('v3'), versionId: '1' });
  });

  test('a regexp alone: DescribeParameters without filters, paged; only the matching ones read', async () => {
    const { ps, provider, ops, onCall } = setup();
    for (let i = 0; i < 60; i++) ps.put(`/other/p${i}`, 'x');
    ps.put('/ml/llm/openai', 'o');
    ps.put('/ml/llm/anthropic', 'a');
    const found = await provider.find({ nameRegexp: '^/ml/llm/' }, onCall);
    expect(ops).toEqual(['DescribeParameters', 'DescribeParameters', 'GetParameters']);
    expect(ps.listings.map((l) => l.input)).toEqual([
      { MaxResults: 50 },
      { MaxResults: 50, NextToken: '50' },
    ]);
    expect(ps.calls).toEqual([['/ml/llm/openai', '/ml/llm/anthropic']]);
    expect(found.map((v) => [v.key, v.value.toString()])).toEqual([
      ['/ml/llm/anthropic', 'a'],
      ['/ml/llm/openai', 'o'],
    ]);
  });

  test('a parameter deleted between DescribeParameters and GetParameters is left out', async () => {
    const { ps, provider, onCall } = setup();
    ps.put('/ml/a', 'A', [], { team: 'a' });
    ps.put('/ml/b', 'B', [], { team: 'a' });
    const original = ps.describeParameters.bind(ps);
    ps.describeParameters = async (input) => {
      const answer = await original(input);
      ps.parameters.delete('/ml/b');
      return answer;
    };
    expect(keys(await provider.find({ tags: { team: 'a' } }, onCall))).toEqual(['/ml/a']);
  });

  test('failures are classified without the SDK text; a path without "/" is refused before any call', async () => {
    const { ps, provider, ops, onCall } = setup();
    ps.failNext = sdkError('ThrottlingException', { status: 400, message: 'MARKER 999988887777' });
    await expect(provider.find({ path: '/ml' }, onCall)).rejects.toMatchObject({
      category: 'Throttled',
      message: 'AWS Parameter Store is throttling requests (while listing parameters)',
    });
    ps.failNext = sdkError('AccessDeniedException', { status: 400 });
    await expect(provider.find({ tags: { team: 'a' } }, onCall)).rejects.toMatchObject({
      category: 'AccessDenied',
      message: 'AWS Parameter Store denied access while listing parameters: the IAM policy does not allow it',
    });
    ps.put('/ml/x', 'x');
    ps.failNext = undefined;
    const original = ps.getParameters.bind(ps);
    ps.getParameters = async (input) => {
      if (input.Names.includes('/ml/x')) throw sdkError('ServiceUnavailable', { status: 503 });
      return original(input);
    };
    await expect(provider.find({ nameRegexp: 'x$' }, onCall)).rejects.toMatchObject({
      category: 'Unavailable',
    });
    ops.length = 0;
    await expect(provider.find({ path: 'ml' }, onCall)).rejects.toMatchObject({ category: 'Invalid' });
    expect(ops).toEqual([]);
  });
});

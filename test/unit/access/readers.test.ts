// Who may read a managed Secret, and the read-rate allowance.
import type { Reader } from '../../../src/access/audit-event.ts';
import { judgeReader, readerName, ReadRate } from '../../../src/access/readers.ts';

const user = (username: string, groups: string[] = []): Reader => ({ username, groups });
const operator = 'system:serviceaccount:mlsecrets-system:mlsecrets';

test('the operator is expected; impersonating it is not', () => {
  const self = { ...user(operator), serviceAccount: 'mlsecrets-system/mlsecrets' };
  expect(judgeReader({ reader: self, operator, named: [] })).toEqual({ expected: true, why: 'the operator' });
  expect(judgeReader({ reader: { ...self, impersonating: 'x' }, operator, named: [] }).expected).toBe(false);
});

test('a kubelet is expected only for a Secret a pod on its node consumes', () => {
  const kubelet = { ...user('system:node:gpu-1', ['system:nodes']), node: 'gpu-1' };
  expect(judgeReader({ reader: kubelet, operator, named: [], consumingPods: ['ml/train-0'] })).toEqual({
    expected: true,
    why: 'the kubelet of node gpu-1, which runs ml/train-0',
  });
  expect(judgeReader({ reader: kubelet, operator, named: [], consumingPods: [] })).toEqual({
    expected: false,
    why: 'node gpu-1 runs no pod that consumes it',
  });
});

test('users, groups and service accounts named by the binding, the store or the operator', () => {
  const ci = { ...user('system:serviceaccount:ci:deployer'), serviceAccount: 'ci/deployer' };
  const named = (readers: object, source = 'binding') => [{ source, readers }];
  expect(judgeReader({ reader: user('bob'), operator, named: named({ users: ['bob'] }) }).expected).toBe(
    true,
  );
  expect(
    judgeReader({ reader: user('eve', ['sre']), operator, named: named({ groups: ['sre'] }) }).expected,
  ).toBe(true);
  expect(
    judgeReader({ reader: ci, operator, named: named({ serviceAccounts: ['ci/deployer'] }) }).expected,
  ).toBe(true);
  expect(
    judgeReader({ reader: ci, operator, named: named({ serviceAccounts: ['ci/*'] }, 'store policy') }),
  ).toEqual({
    expected: true,
    why: 'an expected reader (store policy)',
  });
  expect(
    judgeReader({ reader: ci, operator, named: named({ serviceAccounts: ['cd/*', 'ci/other'] }) }).expected,
  ).toBe(false);
  expect(
    judgeReader({ reader: user('alice'), operator, named: [{ source: 'binding', readers: undefined }] }),
  ).toEqual({
    expected: false,
    why: 'not an expected reader',
  });
});

test('readers are named as people read them', () => {
  expect(readerName(user('alice'))).toBe('user alice');
  expect(readerName({ ...user('x'), serviceAccount: 'ci/deployer' })).toBe('service account ci/deployer');
  expect(readerName({ ...user('x'), node: 'gpu-1' })).toBe('node gpu-1');
  expect(readerName({ ...user('alice'), impersonating: 'bob' })).toBe('user alice (as bob)');
});

test('reads over the allowance per consumer are flagged once per window', () => {
  const rate = new ReadRate({ windowMs: 60_000, perConsumer: 3 });
  const flags = [0, 1, 2, 3, 4, 5].map((i) => rate.count('ml/s', 'bob', 1, 1_000 + i));
  expect(flags.slice(0, 3)).toEqual([undefined, undefined, undefined]);
  expect(flags[3]).toEqual({ reads: 4, allowed: 3 });
  expect(flags.slice(4)).toEqual([undefined, undefined]);
  // A new window starts over.
  expect(rate.count('ml/s', 'bob', 1, 61_000)).toBeUndefined();
  // A kubelet of two consuming pods is allowed twice as many; another reader counts apart.
  for (let i = 0; i < 6; i++) expect(rate.count('ml/s', 'system:node:n', 2, 1_000)).toBeUndefined();
  expect(rate.count('ml/s', 'system:node:n', 2, 1_000)).toEqual({ reads: 7, allowed: 6 });
});

test('the rate table stays bounded: ended windows go first, then new pairs go uncounted', () => {
  const rate = new ReadRate({ windowMs: 1_000, perConsumer: 1, maxKeys: 2 });
  rate.count('a', 'r', 1, 0);
  rate.count('b', 'r', 1, 0);
  rate.count('c', 'r', 1, 5_000); // a and b have ended: pruned
  expect(rate.tracked).toBe(1);
  rate.count('d', 'r', 1, 5_000);
  expect(rate.count('e', 'r', 1, 5_000)).toBeUndefined();
  expect(rate.count('e', 'r', 1, 5_000)).toBeUndefined(); // not tracked, so never over
  expect(rate.tracked).toBe(2);
});

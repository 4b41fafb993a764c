import { humanDuration, parseAge, table } from '../../../src/cli/format.ts';
import { closest, fieldPath } from '../../../src/cli/schema-check.ts';

describe('parseAge (--max-age)', () => {
  test.each([
    ['30d', 30 * 86_400_000],
    ['1d12h', 36 * 3_600_000],
    ['1.5d', 36 * 3_600_000],
    ['720h', 720 * 3_600_000],
    ['90m', 90 * 60_000],
    ['0s', 0],
    ['0d', 0],
  ])('%s', (text, ms) => {
    expect(parseAge(text)).toBe(ms);
  });

  test.each(['', 'd', '30', '30 days', '-1d', '1w', '1d1d'])('%j is rejected', (text) => {
    expect(() => parseAge(text)).toThrow(/invalid age .*expected e\.g\. "30d"/);
  });
});

describe('humanDuration', () => {
  test.each([
    [0, '0s'],
    [45_000, '45s'],
    [200_000, '3m20s'],
    [3_600_000, '1h'],
    [5 * 3_600_000 + 12 * 60_000 + 5_000, '5h12m'],
    [29 * 86_400_000 + 3 * 3_600_000 + 60_000, '29d3h'],
    [-90_000, '-1m30s'],
  ])('%d ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

test('table: columns padded to the widest cell, no trailing blanks', () => {
  expect(
    table(
      ['A', 'LONGER'],
      [
        ['wide cell', 'x'],
        ['b', ''],
      ],
    ),
  ).toBe('A           LONGER\nwide cell   x\nb\n');
});

test('fieldPath: JSON pointers as the dotted paths kubectl explain uses', () => {
  expect(fieldPath('')).toBe('');
  expect(fieldPath('/spec/data/0/secretKey')).toBe('spec.data[0].secretKey');
  expect(fieldPath('/spec/target/labels/app.kubernetes.io~1name')).toBe(
    'spec.target.labels["app.kubernetes.io/name"]',
  );
});

test('closest: a misspelt field and what it most likely meant', () => {
  expect(closest('ttll', ['ttl', 'refreshInterval'])).toBe('ttl');
  expect(closest('refreshinterval', ['ttl', 'refreshInterval'])).toBe('refreshInterval');
  expect(closest('vault', ['aws', 'gcp', 'kubernetes'])).toBeUndefined();
});

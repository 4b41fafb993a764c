import { GO_DURATION_PATTERN } from '../../../src/api/schema/common.ts';
import { formatDuration, parseDuration } from '../../../src/rotation/duration.ts';

describe('parseDuration', () => {
  test.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['24h', 86_400_000],
    ['0s', 0],
    ['1h30m', 5_400_000],
    ['1h30m15s', 5_415_000],
    ['2m500ms', 120_500],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
    ['1.25m', 75_000],
    ['1h0.5m', 3_630_000],
    ['1m1m', 120_000],
    ['1.0005s', 1_001], // rounded to the nearest ms
  ])('%s is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test.each([
    '1d',
    '',
    '5',
    '1w',
    '-1h',
    '+1h',
    '.5h',
    '1.h',
    '1 h',
    ' 1h',
    '1h ',
    'h',
    '1H',
    '1us',
    '1ns',
    '1h-30m',
  ])('rejects %j with an error naming the input', (input) => {
    expect(() => parseDuration(input)).toThrow(`invalid duration ${JSON.stringify(input)}`);
  });

  test('accepts exactly what the CRD pattern accepts', () => {
    const pattern = new RegExp(GO_DURATION_PATTERN);
    for (const input of ['1h30m', '1.5h', '500ms', '1d', '', '5', '1m1m', '-1h']) {
      const parses = (() => {
        try {
          parseDuration(input);
          return true;
        } catch {
          return false;
        }
      })();
      expect([input, parses]).toEqual([input, pattern.test(input)]);
    }
  });

  test('rejects a value too large to count in ms exactly', () => {
    expect(() => parseDuration('99999999999999999h')).toThrow('too large');
  });
});

describe('formatDuration', () => {
  test.each([
    [0, '0s'],
    [1, '1ms'],
    [500, '500ms'],
    [1_000, '1s'],
    [1_500, '1.5s'],
    [1_050, '1.05s'],
    [1_001, '1.001s'],
    [90_000, '1m30s'],
    [3_600_000, '1h0m0s'],
    [5_400_000, '1h30m0s'],
    [5_415_250, '1h30m15.25s'],
    [86_400_000, '24h0m0s'],
    [-90_000, '-1m30s'],
    [-500, '-500ms'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test('round-trips through parseDuration', () => {
    for (const ms of [0, 1, 999, 1_000, 1_001, 59_999, 60_000, 3_599_999, 3_600_000, 123_456_789]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });

  test('rejects non-finite input', () => {
    expect(() => formatDuration(Number.NaN)).toThrow(RangeError);
    expect(() => formatDuration(Infinity)).toThrow(RangeError);
  });
});

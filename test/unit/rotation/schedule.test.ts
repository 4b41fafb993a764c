import {
  expiresAt,
  InvalidScheduleError,
  nextCronAt,
  nextDueAt,
  nextRefreshAt,
  refreshEpoch,
  renewalAt,
  validateCron,
} from '../../../src/rotation/schedule.ts';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('refresh epochs', () => {
  const interval = 15 * MINUTE;

  test('two different nows in the same epoch give the same epoch', () => {
    const early = at('2025-06-01T12:00:00.000Z');
    const late = at('2025-06-01T12:14:59.999Z');
    expect(refreshEpoch(at('2025-06-01T12:01:00Z'), interval)).toBe(early);
    expect(refreshEpoch(late, interval)).toBe(early);
    expect(refreshEpoch(early, interval)).toBe(early);
    expect(refreshEpoch(at('2025-06-01T12:15:00Z'), interval)).toBe(at('2025-06-01T12:15:00Z'));
  });

  test('bindings synced at different times become due in the same instant', () => {
    const createdA = at('2025-06-01T12:01:13Z');
    const createdB = at('2025-06-01T12:09:42Z');
    expect(iso(nextRefreshAt(createdA, interval))).toBe('2025-06-01T12:15:00.000Z');
    expect(nextRefreshAt(createdB, interval)).toBe(nextRefreshAt(createdA, interval));
  });

  test('the next refresh is strictly after now, even on a boundary', () => {
    expect(iso(nextRefreshAt(at('2025-06-01T12:15:00Z'), interval))).toBe('2025-06-01T12:30:00.000Z');
  });

  test('epochs are multiples of the interval since the Unix epoch (1h: on the hour)', () => {
    expect(iso(refreshEpoch(at('2025-06-01T12:59:59Z'), HOUR))).toBe('2025-06-01T12:00:00.000Z');
    expect(refreshEpoch(at('2025-06-01T12:59:59Z'), 7 * MINUTE) % (7 * MINUTE)).toBe(0);
  });

  test('rejects a zero, negative or non-finite interval', () => {
    expect(() => refreshEpoch(0, 0)).toThrow(RangeError);
    expect(() => nextRefreshAt(0, -1)).toThrow(RangeError);
    expect(() => refreshEpoch(0, Number.NaN)).toThrow(RangeError);
  });
});

describe('renewal and expiry', () => {
  test('renewal is due at 2/3 of the ttl', () => {
    const issued = at('2025-06-01T12:00:00Z');
    expect(iso(renewalAt(issued, HOUR))).toBe('2025-06-01T12:40:00.000Z');
    expect(renewalAt(1_000, 1_000)).toBe(1_666);
  });

  test('expiry is issue time plus ttl', () => {
    expect(iso(expiresAt(at('2025-06-01T12:00:00Z'), 24 * HOUR))).toBe('2025-06-02T12:00:00.000Z');
  });
});

describe('nextCronAt', () => {
  test('follows the spring DST change in Europe/Berlin (03:00 local is 02:00Z in CET, 01:00Z in CEST)', () => {
    expect(iso(nextCronAt('0 3 * * *', at('2025-03-28T12:00:00Z'), 'Europe/Berlin'))).toBe(
      '2025-03-29T02:00:00.000Z',
    );
    expect(iso(nextCronAt('0 3 * * *', at('2025-03-29T12:00:00Z'), 'Europe/Berlin'))).toBe(
      '2025-03-30T01:00:00.000Z',
    );
  });

  test('a time skipped by the spring change still fires that day, after the gap', () => {
    // 02:30 does not exist in Berlin on 2025-03-30: clocks jump from 02:00 CET to 03:00 CEST (01:00Z).
    const next = nextCronAt('30 2 * * *', at('2025-03-29T12:00:00Z'), 'Europe/Berlin');
    expect(next).toBeGreaterThanOrEqual(at('2025-03-30T01:00:00Z'));
    expect(next).toBeLessThan(at('2025-03-30T02:00:00Z'));
  });

  test('a time repeated by the autumn change fires once', () => {
    // 2025-10-26: 03:00 CEST falls back to 02:00 CET, so 02:30 local happens twice.
    const first = nextCronAt('30 2 * * *', at('2025-10-25T12:00:00Z'), 'Europe/Berlin');
    expect(iso(first)).toBe('2025-10-26T00:30:00.000Z');
    expect(iso(nextCronAt('30 2 * * *', first, 'Europe/Berlin'))).toBe('2025-10-27T01:30:00.000Z');
  });

  test('defaults to UTC', () => {
    expect(iso(nextCronAt('0 3 * * *', at('2025-03-29T12:00:00Z')))).toBe('2025-03-30T03:00:00.000Z');
  });

  test('is strictly after the given instant', () => {
    expect(iso(nextCronAt('0 3 * * *', at('2025-06-01T03:00:00Z')))).toBe('2025-06-02T03:00:00.000Z');
    expect(iso(nextCronAt('0 3 * * *', at('2025-06-01T02:59:59.999Z')))).toBe('2025-06-01T03:00:00.000Z');
  });

  test.each([
    ['@hourly', '2025-06-01T12:34:56Z', '2025-06-01T13:00:00.000Z'],
    ['@daily', '2025-06-01T12:34:56Z', '2025-06-02T00:00:00.000Z'],
    ['@midnight', '2025-06-01T12:34:56Z', '2025-06-02T00:00:00.000Z'],
    ['@weekly', '2025-06-01T12:34:56Z', '2025-06-08T00:00:00.000Z'], // 2025-06-01 is a Sunday
    ['@monthly', '2025-06-01T12:34:56Z', '2025-07-01T00:00:00.000Z'],
    ['@yearly', '2025-06-01T12:34:56Z', '2026-01-01T00:00:00.000Z'],
    ['@annually', '2025-06-01T12:34:56Z', '2026-01-01T00:00:00.000Z'],
  ])('%s after %s is %s', (expression, after, expected) => {
    expect(iso(nextCronAt(expression, at(after)))).toBe(expected);
  });

  test('six fields put seconds first', () => {
    expect(iso(nextCronAt('*/15 * * * * *', at('2025-06-01T12:00:07Z')))).toBe('2025-06-01T12:00:15.000Z');
    expect(iso(nextCronAt('30 0 3 * * *', at('2025-06-01T12:00:00Z')))).toBe('2025-06-02T03:00:30.000Z');
  });

  test('five fields: minute hour day-of-month month day-of-week, with names and extra spaces', () => {
    expect(iso(nextCronAt('0 9 * * MON', at('2025-06-01T00:00:00Z')))).toBe('2025-06-02T09:00:00.000Z');
    expect(iso(nextCronAt('  15  4\t1 jan * ', at('2025-06-01T00:00:00Z')))).toBe('2026-01-01T04:15:00.000Z');
  });

  test('macros follow the time zone too', () => {
    expect(iso(nextCronAt('@daily', at('2025-06-01T12:00:00Z'), 'America/New_York'))).toBe(
      '2025-06-02T04:00:00.000Z',
    );
  });

  test.each([
    ['61 * * * *', 'invalid cron expression "61 * * * *"'],
    ['not a cron', 'invalid cron expression "not a cron"'],
    ['* * * *', 'expected 5 fields'],
    ['0 0 0 * * * *', 'got 7'],
    ['', 'must not be empty'],
    ['   ', 'must not be empty'],
    ['@reboot', 'unknown macro'],
    ['@DAILY', 'unknown macro'],
    ['H * * * *', 'hash (H) syntax is not supported'],
    ['0 0 30 2 *', 'invalid cron expression "0 0 30 2 *"'],
  ])('rejects %j: %s', (expression, message) => {
    expect(() => nextCronAt(expression, 0)).toThrow(InvalidScheduleError);
    expect(() => nextCronAt(expression, 0)).toThrow(message);
  });

  test('rejects an unknown or empty time zone, naming it', () => {
    expect(() => nextCronAt('0 3 * * *', 0, 'Mars/Olympus_Mons')).toThrow(InvalidScheduleError);
    expect(() => nextCronAt('0 3 * * *', 0, 'Mars/Olympus_Mons')).toThrow(
      'unknown time zone "Mars/Olympus_Mons"',
    );
    expect(() => nextCronAt('0 3 * * *', 0, '')).toThrow('time zone must not be empty');
  });
});

describe('validateCron', () => {
  test('undefined for usable schedules', () => {
    expect(validateCron('0 3 * * *', 'UTC')).toBeUndefined();
    expect(validateCron('0 3 * * *', 'Europe/Berlin')).toBeUndefined();
    expect(validateCron('*/10 * * * * *', 'UTC')).toBeUndefined();
    expect(validateCron('@hourly', 'Asia/Kolkata')).toBeUndefined();
    expect(validateCron('0 0 29 2 *')).toBeUndefined();
  });

  test('a readable problem for bad expressions and zones', () => {
    expect(validateCron('0 25 * * *', 'UTC')).toMatch(/^invalid cron expression "0 25 \* \* \*": .+/);
    expect(validateCron('0 0 31 4 *', 'UTC')).toMatch(/^invalid cron expression "0 0 31 4 \*": .+/);
    expect(validateCron('0 3 * *', 'UTC')).toContain('expected 5 fields');
    expect(validateCron('0 3 * * *', 'Europe/Atlantis')).toContain('unknown time zone "Europe/Atlantis"');
  });
});

describe('nextDueAt', () => {
  test('the earliest defined candidate', () => {
    expect(nextDueAt([undefined, 300, 100, undefined, 200])).toBe(100);
    expect(nextDueAt([0, 5])).toBe(0);
  });

  test('undefined when nothing is due; NaN and infinities are not due times', () => {
    expect(nextDueAt([])).toBeUndefined();
    expect(nextDueAt([undefined, undefined])).toBeUndefined();
    expect(nextDueAt([Number.NaN, Infinity, 50, -Infinity])).toBe(50);
  });
});

/**
 * Go-style durations as the CRDs accept them (`ttl`, `refreshInterval`, `maxTTL`, ...): the
 * schema pattern admits only unsigned, unit-suffixed parts, so this parser does the same and
 * anything the API server would reject is rejected here too (the CLI validates offline with it).
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** Mirrors GO_DURATION_PATTERN in api/schema/common.ts. */
const WHOLE = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;
/** One part; `ms` is listed before `m` so "5ms" is never read as "5m" followed by junk. */
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;

/**
 * Parses a duration such as "1h30m", "1.5h", "500ms" or "90s" into milliseconds (rounded to the
 * nearest millisecond). Days, signs, bare numbers and the empty string are rejected, as the CRD
 * pattern does.
 * @throws Error naming the bad input.
 */
export function parseDuration(s: string): number {
  if (typeof s !== 'string' || !WHOLE.test(s)) {
    throw new Error(
      `invalid duration ${JSON.stringify(s)}: expected a number with a unit (ms, s, m, h), e.g. "90s", "1h30m" or "1.5h"`,
    );
  }
  let total = 0;
  for (const match of s.matchAll(PART)) {
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) throw new Error(`invalid duration ${JSON.stringify(s)}: too large`);
  return ms;
}

/**
 * Formats milliseconds the way Go prints a time.Duration: "1h30m0s", "1m30s", "1.5s", "500ms",
 * "0s". The output parses back with {@link parseDuration} (negative values aside).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`formatDuration: not a finite number: ${ms}`);
  let rest = Math.round(Math.abs(ms));
  if (rest === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  if (rest < 1_000) return `${sign}${rest}ms`;
  const hours = Math.floor(rest / UNIT_MS.h);
  rest -= hours * UNIT_MS.h;
  const minutes = Math.floor(rest / UNIT_MS.m);
  rest -= minutes * UNIT_MS.m;
  const seconds = Math.floor(rest / UNIT_MS.s);
  const millis = rest - seconds * UNIT_MS.s;
  const fraction = millis === 0 ? '' : '.' + String(millis).padStart(3, '0').replace(/0+$/, '');
  const h = hours > 0 ? `${hours}h` : '';
  const m = hours > 0 || minutes > 0 ? `${minutes}m` : '';
  return `${sign}${h}${m}${seconds}${fraction}s`;
}

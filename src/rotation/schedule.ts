/**
 * Pure schedule maths for bindings: when to re-read the store, renew, rotate and expire. No I/O
 * and no clock: the reconciler passes `now` in epoch milliseconds and requeues for the earliest
 * answer ({@link nextDueAt}).
 */
import { CronExpressionParser } from 'cron-parser';

/** A rotation schedule or time zone that cannot be evaluated; the message names the bad input. */
export class InvalidScheduleError extends Error {
  override readonly name = 'InvalidScheduleError';
}

function assertInterval(intervalMs: number): void {
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) {
    throw new RangeError(`refresh interval must be a positive number of ms, got ${intervalMs}`);
  }
}

/**
 * The start of the refresh epoch `nowMs` falls in: `floor(now / interval) * interval`.
 *
 * Refreshes are aligned to wall-clock multiples of the interval (a 15m interval refreshes at
 * :00, :15, :30 and :45 UTC, whenever each binding was created), not counted from each
 * binding's last sync. So every binding with the same `refreshInterval` becomes due in the same
 * instant, the fetch layer serves all of them from one provider read (a cached read is good for
 * anyone whose epoch started at or before it), and N bindings over K remote secrets cost K
 * reads per epoch instead of N. Identical epochs on every replica also keep that true after a
 * leader change.
 */
export function refreshEpoch(nowMs: number, intervalMs: number): number {
  assertInterval(intervalMs);
  return Math.floor(nowMs / intervalMs) * intervalMs;
}

/** The start of the next refresh epoch: always strictly after `nowMs`. See {@link refreshEpoch}. */
export function nextRefreshAt(nowMs: number, intervalMs: number): number {
  return refreshEpoch(nowMs, intervalMs) + intervalMs;
}

/**
 * When an issued Secret is renewed: at 2/3 of its ttl, leaving a third of the lifetime to ride
 * out a store outage before the Secret expires.
 */
export function renewalAt(issuedAtMs: number, ttlMs: number): number {
  return issuedAtMs + Math.floor((ttlMs * 2) / 3);
}

/** When an issued Secret expires if it is not renewed. */
export function expiresAt(issuedAtMs: number, ttlMs: number): number {
  return issuedAtMs + ttlMs;
}

/**
 * The macros the CRD pattern admits, spelled out in five fields. cron-parser lacks `@midnight`
 * and reports unknown macros as an unreadable alias error, so they are resolved here.
 */
const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Fixed reference instant for validation, so a validation never depends on when it runs. */
const VALIDATION_REFERENCE_MS = Date.UTC(2000, 0, 1);

function problemWithTimeZone(timeZone: string): string | undefined {
  if (typeof timeZone !== 'string' || timeZone.trim() === '') return 'time zone must not be empty';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return undefined;
  } catch {
    return `unknown time zone ${JSON.stringify(timeZone)} (expected an IANA name such as "UTC" or "Europe/Berlin")`;
  }
}

/** The expression in five or six fields, or a readable problem. */
function normalise(expression: string): { fields: string } | { problem: string } {
  const quoted = JSON.stringify(expression);
  const trimmed = typeof expression === 'string' ? expression.trim() : '';
  if (trimmed === '') return { problem: 'cron expression must not be empty' };
  if (trimmed.startsWith('@')) {
    const fields = MACROS[trimmed];
    if (fields !== undefined) return { fields };
    return {
      problem: `invalid cron expression ${quoted}: unknown macro; expected one of ${Object.keys(MACROS).join(', ')}`,
    };
  }
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return {
      problem:
        `invalid cron expression ${quoted}: expected 5 fields (minute hour day-of-month month day-of-week) ` +
        `or 6 (with seconds first), got ${fields.length}`,
    };
  }
  // cron-parser's Jenkins-style H picks a random slot unless seeded, so the next rotation time
  // would move on every reconcile; standard cron has no H.
  if (fields.some((field) => field.split(',').some((part) => part.startsWith('H')))) {
    return { problem: `invalid cron expression ${quoted}: the hash (H) syntax is not supported` };
  }
  return { fields: fields.join(' ') };
}

/** Evaluates the next occurrence; assumes the time zone was checked. */
function nextOccurrence(expression: string, fields: string, afterMs: number, timeZone: string): number {
  try {
    return CronExpressionParser.parse(fields, { currentDate: afterMs, tz: timeZone }).next().getTime();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new InvalidScheduleError(`invalid cron expression ${JSON.stringify(expression)}: ${reason}`);
  }
}

/**
 * A readable problem with a rotation schedule and its time zone, or undefined when both are
 * usable. Accepts what {@link nextCronAt} accepts: 5 fields, 6 fields (seconds first), or one of
 * the macros `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
 */
export function validateCron(expression: string, timeZone = 'UTC'): string | undefined {
  const normalised = normalise(expression);
  if ('problem' in normalised) return normalised.problem;
  const zoneProblem = problemWithTimeZone(timeZone);
  if (zoneProblem !== undefined) return zoneProblem;
  try {
    nextOccurrence(expression, normalised.fields, VALIDATION_REFERENCE_MS, timeZone);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The first time strictly after `afterMs` that `expression` fires in `timeZone` (IANA name).
 * Wall-clock times follow the zone's daylight-saving changes: "0 3 * * *" in Europe/Berlin is
 * 02:00 UTC in winter and 01:00 UTC in summer.
 * @throws InvalidScheduleError for a bad expression or an unknown time zone.
 */
export function nextCronAt(expression: string, afterMs: number, timeZone = 'UTC'): number {
  const normalised = normalise(expression);
  if ('problem' in normalised) throw new InvalidScheduleError(normalised.problem);
  const zoneProblem = problemWithTimeZone(timeZone);
  if (zoneProblem !== undefined) throw new InvalidScheduleError(zoneProblem);
  return nextOccurrence(expression, normalised.fields, afterMs, timeZone);
}

/**
 * The earliest of the candidate due times (next refresh, renewal, rotation, expiry), ignoring
 * undefined and non-finite entries; undefined when nothing is due.
 */
export function nextDueAt(candidates: (number | undefined)[]): number | undefined {
  let earliest: number | undefined;
  for (const candidate of candidates) {
    if (candidate === undefined || !Number.isFinite(candidate)) continue;
    if (earliest === undefined || candidate < earliest) earliest = candidate;
  }
  return earliest;
}

// The plan of a Shared binding's reconcile, decided without a cluster: what is due, and whether
// a Secret is issued afresh or keeps its recorded issue.
import { effectiveLifetime } from '../../../../src/api/defaults.ts';
import type { SecretBinding } from '../../../../src/api/types.ts';
import type { Issue } from '../../../../src/controller/binding/managed-secret.ts';
import {
  decide,
  dueWork,
  nextDue,
  nothingDue,
  scheduledRotation,
  type Due,
} from '../../../../src/controller/binding/plan.ts';
import type { SecretObject } from '../../../../src/kube/kube-client.ts';

const HOUR = 3600_000;
const START = Date.parse('2026-01-01T00:00:00Z');

function binding(lifetime: Record<string, string> = {}, status: SecretBinding['status'] = {}): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { name: 'b', namespace: 'ns', uid: 'u', generation: 2 },
    spec: { storeRef: { name: 's' }, data: [], lifetime: { ttl: '3h', refreshInterval: '1h', ...lifetime } },
    status,
  } as SecretBinding;
}

const issued: Issue = { issuedAt: START, expiresAt: START + 3 * HOUR, dataHash: 'h' };
const secret = {} as SecretObject;

function due(b: SecretBinding, now: number, memory?: { epoch: number; generation?: number }): Due {
  return dueWork({
    binding: b,
    lifetime: effectiveLifetime(b),
    previousIssue: issued,
    memory,
    generatedLifetimeMs: Infinity,
    now,
  });
}

describe('dueWork', () => {
  test('a refresh is due once per epoch and generation; nothing else before 2/3 of the ttl', () => {
    const b = binding();
    const first = due(b, START + 10_000);
    expect(first.refreshDue).toBe(true);
    const again = due(b, START + 20_000, { epoch: first.epoch, generation: 2 });
    expect(nothingDue(again)).toBe(true);
    // A spec change (generation) is due at once, in the same epoch.
    expect(due(b, START + 20_000, { epoch: first.epoch, generation: 1 }).refreshDue).toBe(true);
    // Renewal at 2/3 of the 3h ttl: 2h after issue.
    const later = due(b, START + 2 * HOUR, { epoch: first.epoch, generation: 2 });
    expect(later.renewalDue).toBe(true);
  });

  test('a changed ttl is due; a scheduled rotation is due at its recorded time', () => {
    expect(due(binding({ ttl: '6h' }), START + 1000).ttlChanged).toBe(true);
    const scheduled = binding(
      { rotationSchedule: '0 * * * *' },
      { nextRotationAt: new Date(START + HOUR).toISOString() },
    );
    expect(due(scheduled, START + HOUR - 1).rotationDue).toBe(false);
    expect(due(scheduled, START + HOUR).rotationDue).toBe(true);
  });

  test('a rotation time remembered from our own sync wins over an older one in the cache', () => {
    const b = binding({ rotationSchedule: '0 * * * *' }, { nextRotationAt: new Date(START).toISOString() });
    const lifetime = effectiveLifetime(b);
    expect(scheduledRotation(b, lifetime, { epoch: 0, generation: 2, nextRotationAt: START + HOUR })).toBe(
      START + HOUR,
    );
    // Another generation's memory does not count.
    expect(scheduledRotation(b, lifetime, { epoch: 0, generation: 1, nextRotationAt: START + HOUR })).toBe(
      START,
    );
  });
});

describe('decide', () => {
  const lifetime = effectiveLifetime(binding());
  const base = {
    lifetime,
    previousIssue: issued,
    fetchedHash: 'h2',
    mustMint: false,
    now: START + HOUR,
    name: 'b',
  };
  const quiet: Due = { epoch: 1, refreshDue: true, renewalDue: false, ttlChanged: false, rotationDue: false };

  test('the same data keeps the recorded issue and writes nothing', () => {
    const d = decide({ ...base, existing: secret, dataChanged: false, due: quiet });
    expect(d).toEqual({ issue: issued, fresh: false, cause: { event: undefined, message: '' } });
  });

  test('new data, a renewal and a rotation issue afresh, each with its Event', () => {
    expect(decide({ ...base, existing: secret, dataChanged: true, due: quiet }).cause.event).toBe('Synced');
    expect(
      decide({ ...base, existing: secret, dataChanged: false, due: { ...quiet, renewalDue: true } }).cause
        .event,
    ).toBe('Renewed');
    const rotated = decide({
      ...base,
      existing: secret,
      dataChanged: false,
      due: { ...quiet, rotationDue: true },
    });
    expect(rotated.cause.event).toBe('Rotated');
    expect(rotated.issue).toMatchObject({ issuedAt: START + HOUR, expiresAt: START + 4 * HOUR });
  });

  test('a rotation forced by an unexpected read says so', () => {
    const rotated = decide({
      ...base,
      existing: secret,
      dataChanged: false,
      due: { ...quiet, rotationDue: true, unexpectedReader: 'user alice' },
    });
    expect(rotated.cause).toMatchObject({
      event: 'Rotated',
      message: expect.stringMatching(
        /^Secret "b" re-issued after an unexpected read by user alice; expires /,
      ),
    });
  });

  test('a Secret deleted by hand is restored without extending its life, unless it must be minted anew', () => {
    const restored = decide({ ...base, existing: undefined, dataChanged: false, due: quiet });
    expect(restored).toMatchObject({ issue: issued, fresh: false, cause: { event: 'DriftCorrected' } });
    const minted = decide({ ...base, existing: undefined, dataChanged: false, mustMint: true, due: quiet });
    expect(minted).toMatchObject({ fresh: true, cause: { event: 'DriftCorrected' } });
    const expired = decide({
      ...base,
      now: START + 4 * HOUR,
      existing: undefined,
      dataChanged: false,
      due: quiet,
    });
    expect(expired.cause.message).toContain('issued again after it expired');
  });
});

test('nextDue: the next refresh, renewal or rotation, whichever comes first', () => {
  const lifetime = effectiveLifetime(binding());
  expect(nextDue(lifetime, issued, START + 10_000)).toBe(START + HOUR);
  expect(nextDue(lifetime, issued, START + 10_000, START + 60_000)).toBe(START + 60_000);
  expect(nextDue(lifetime, issued, START + HOUR + 10)).toBe(START + 2 * HOUR);
});

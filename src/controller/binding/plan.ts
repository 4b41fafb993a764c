// What a Shared binding's reconcile has to do, decided from the binding, its Secret and the time
// alone: which work is due, whether to issue afresh or keep the recorded issue, and when to come
// back. Pure, so every rule here is tested without a cluster.
import { findCondition } from '../../api/conditions.ts';
import type { EffectiveLifetime } from '../../api/defaults.ts';
import { ConditionReason } from '../../api/reasons.ts';
import type { SecretBinding } from '../../api/types.ts';
import type { SecretObject } from '../../kube/kube-client.ts';
import { nextDueAt, nextRefreshAt, refreshEpoch, renewalAt } from '../../rotation/schedule.ts';
import { formatTime, issueOf, parseTime, type Issue } from './managed-secret.ts';

/** What the reconciler remembers of a binding's last completed sync. */
export interface SyncedMemory {
  epoch: number;
  generation?: number;
  /** The nextRotationAt that sync wrote to the status. */
  nextRotationAt?: number;
}

/** Why a Secret is (re)written, and the Event that says so. */
export type WriteCause =
  | { event: 'Synced' | 'Rotated' | 'Renewed' | 'DriftCorrected'; message: string }
  | { event: undefined; message: string };

/** Which work is due at `now`. */
export interface Due {
  /** The refresh epoch `now` falls in: one store read per binding per epoch. */
  epoch: number;
  refreshDue: boolean;
  renewalDue: boolean;
  /** The Secret was issued for another ttl than the spec's now. */
  ttlChanged: boolean;
  /** The next scheduled rotation (undefined without a schedule). */
  rotationAt?: number;
  rotationDue: boolean;
  /** A rotation forced by an unexpected read (access audit, compromise.ts): who read. */
  unexpectedReader?: string;
}

export function dueWork(input: {
  binding: SecretBinding;
  lifetime: EffectiveLifetime;
  previousIssue?: Issue;
  memory?: SyncedMemory;
  /** The shortest lifetime generated credentials give an issue (Infinity without generators). */
  generatedLifetimeMs: number;
  now: number;
}): Due {
  const { binding, lifetime, previousIssue, memory, now } = input;
  const epoch = refreshEpoch(now, lifetime.refreshMs);
  const expectedLifetime = Math.min(lifetime.ttlMs, input.generatedLifetimeMs);
  const rotationAt = scheduledRotation(binding, lifetime, memory);
  return {
    epoch,
    refreshDue: memory?.epoch !== epoch || memory.generation !== binding.metadata.generation,
    renewalDue: previousIssue !== undefined && now >= renewalOf(previousIssue),
    // Allow for the latency of an STS call that cut the issue short.
    ttlChanged:
      previousIssue !== undefined &&
      Math.abs(previousIssue.expiresAt - previousIssue.issuedAt - expectedLifetime) > 120_000,
    rotationAt,
    rotationDue: rotationAt !== undefined && now >= rotationAt,
  };
}

export function nothingDue(due: Due): boolean {
  return !due.refreshDue && !due.renewalDue && !due.rotationDue && !due.ttlChanged;
}

/**
 * Whether to issue the Secret afresh (new issued-at and expiry, generators minted) or keep
 * the recorded issue, and the Event that says why. `issue.dataHash` is filled in once the data
 * is complete.
 */
export function decide(input: {
  lifetime: EffectiveLifetime;
  existing?: SecretObject;
  previousIssue?: Issue;
  dataChanged: boolean;
  fetchedHash: string;
  due: Due;
  /** Generated credentials were lost with the Secret: a restore must mint anew. */
  mustMint: boolean;
  now: number;
  name: string;
}): { issue: Issue; fresh: boolean; cause: WriteCause } {
  const { lifetime, previousIssue, now, name, due } = input;
  const freshIssue: Issue = { issuedAt: now, expiresAt: now + lifetime.ttlMs, dataHash: input.fetchedHash };
  const expires = `expires ${formatTime(freshIssue.expiresAt)}`;
  const fresh = (event: 'Synced' | 'Rotated' | 'Renewed' | 'DriftCorrected', message: string) => ({
    issue: freshIssue,
    fresh: true,
    cause: { event, message },
  });
  if (!input.existing) {
    if (!previousIssue) return fresh('Synced', `Secret "${name}" issued; ${expires}`);
    if (previousIssue.expiresAt <= now)
      return fresh('Synced', `Secret "${name}" issued again after it expired; ${expires}`);
    const restored = `Secret "${name}" was deleted and has been restored`;
    if (input.mustMint || input.dataChanged) return fresh('DriftCorrected', restored);
    // Deleted by hand: restore it without extending its lifetime.
    return { issue: previousIssue, fresh: false, cause: { event: 'DriftCorrected', message: restored } };
  }
  if (due.rotationDue) {
    const why = due.unexpectedReader
      ? `after an unexpected read by ${due.unexpectedReader}`
      : `on schedule "${lifetime.rotationSchedule}"`;
    return fresh('Rotated', `Secret "${name}" re-issued ${why}; ${expires}`);
  }
  if (!previousIssue || input.dataChanged)
    return fresh('Synced', `Secret "${name}" updated with new data; ${expires}`);
  if (due.ttlChanged) return fresh('Synced', `Secret "${name}" re-issued for the new ttl; ${expires}`);
  if (due.renewalDue) return fresh('Renewed', `Secret "${name}" renewed; ${expires}`);
  return { issue: previousIssue, fresh: false, cause: { event: undefined, message: '' } };
}

/** When the next reconcile is due: the next refresh, renewal or scheduled rotation. */
export function nextDue(lifetime: EffectiveLifetime, issue: Issue, now: number, rotationAt?: number): number {
  return (
    nextDueAt([nextRefreshAt(now, lifetime.refreshMs), Math.max(now + 1000, renewalOf(issue)), rotationAt]) ??
    now + lifetime.refreshMs
  );
}

/**
 * When the binding's next scheduled rotation is due (undefined: no schedule): the status's
 * nextRotationAt, or the one our last sync of this generation wrote there if that is later.
 * The binding cache may not have delivered our status patch yet, and a status-only update
 * queues no reconcile: read from the cache alone, a rotation that fell due a few ms after the
 * sync found no time recorded and waited for the renewal, hours later. Another replica's
 * later write (a shard handed back) wins over our older memory.
 */
export function scheduledRotation(
  binding: SecretBinding,
  lifetime: EffectiveLifetime,
  memory: SyncedMemory | undefined,
): number | undefined {
  if (lifetime.rotationSchedule === undefined) return undefined;
  const recorded = parseTime(binding.status?.nextRotationAt);
  const remembered = memory?.generation === binding.metadata.generation ? memory?.nextRotationAt : undefined;
  if (recorded === undefined || remembered === undefined) return recorded ?? remembered;
  return Math.max(recorded, remembered);
}

/**
 * The issue on record: the status the operator wrote (annotations can be edited by anyone
 * who can edit the Secret, and must not extend its life), else the Secret's annotations.
 */
export function recordedIssue(binding: SecretBinding, existing: SecretObject | undefined): Issue | undefined {
  const status = binding.status;
  const issuedAt = parseTime(status?.issuedAt);
  const expiresAt = parseTime(status?.expiresAt);
  if (issuedAt !== undefined && expiresAt !== undefined && status?.dataHash) {
    return { issuedAt, expiresAt, dataHash: status.dataHash };
  }
  return existing ? issueOf(existing) : undefined;
}

/** Whether `secret`'s annotations record exactly `issue` (times to the second, as written). */
export function carries(secret: SecretObject, issue: Issue): boolean {
  const on = issueOf(secret);
  return (
    on !== undefined &&
    on.dataHash === issue.dataHash &&
    formatTime(on.issuedAt) === formatTime(issue.issuedAt) &&
    formatTime(on.expiresAt) === formatTime(issue.expiresAt)
  );
}

/** Renewal at 2/3 of the issue's actual lifetime (generated credentials may shorten it). */
export function renewalOf(issue: Issue): number {
  return renewalAt(issue.issuedAt, issue.expiresAt - issue.issuedAt);
}

/** Whether the binding's status says Ready: its consumers have a Secret and know it. */
export function isReady(binding: SecretBinding): boolean {
  return findCondition(binding.status?.conditions, 'Ready')?.status === 'True';
}

/** The store failures that say nothing of the binding itself: the store is down or throttling. */
const OUTAGE_REASONS: ReadonlySet<string> = new Set([
  ConditionReason.ProviderUnavailable,
  ConditionReason.Throttled,
]);

/** Whether the binding's last sync failed because its store was unavailable or throttling. */
export function failedForOutage(binding: SecretBinding): boolean {
  const synced = findCondition(binding.status?.conditions, 'Synced');
  return synced?.status === 'False' && OUTAGE_REASONS.has(synced.reason ?? '');
}

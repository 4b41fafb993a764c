// The status a binding reports, and its write: a merge patch, skipped when nothing changed.
import { setCondition } from '../../api/conditions.ts';
import { ConditionReason } from '../../api/reasons.ts';
import type { SecretBinding, SecretBindingStatus, SourceVersion } from '../../api/types.ts';
import type { StatusWriter } from '../../kube/kube-client.ts';
import { mergePatchOf, sameJson } from '../../kube/merge-patch.ts';
import { withCompromise } from './compromised-condition.ts';
import { formatTime, type Issue } from './managed-secret.ts';

/**
 * The status of a binding whose Secret holds `issue`: Ready and Synced true, the issue's times
 * and hash, the remote versions read. Pure, so the benchmark's write floor patches exactly
 * what the operator patches.
 */
export function readyStatusOf(
  binding: SecretBinding,
  input: {
    name: string;
    issue: Issue;
    keys: number;
    sources: SourceVersion[];
    nextRotationAt?: number;
    projectedPods?: number;
    /** New data was written (syncedAt moves only then). */
    dataWritten: boolean;
    /** The unexpected read this issue rotated the Secret for (compromise.ts). */
    respondedTo?: string;
    now: number;
  },
): SecretBindingStatus {
  const { name, issue, keys, now } = input;
  const previous = binding.status ?? {};
  const message = `Secret "${name}" holds ${keys} key${keys === 1 ? '' : 's'}`;
  return {
    ...previous,
    observedGeneration: binding.metadata.generation,
    conditions: syncedConditions(binding, message, now),
    secretName: name,
    syncedAt: input.dataWritten || !previous.syncedAt ? formatTime(now) : previous.syncedAt,
    issuedAt: formatTime(issue.issuedAt),
    expiresAt: formatTime(issue.expiresAt),
    nextRotationAt: input.nextRotationAt === undefined ? undefined : formatTime(input.nextRotationAt),
    projectedPods: input.projectedPods ?? previous.projectedPods,
    sources: input.sources,
    dataHash: issue.dataHash,
    ...(input.respondedTo ? { access: { ...previous.access, respondedTo: input.respondedTo } } : {}),
  };
}

/** Ready and Synced true, saying `message`. */
export function syncedConditions(binding: SecretBinding, message: string, now: number) {
  const previous = binding.status ?? {};
  const observedGeneration = binding.metadata.generation;
  const ok = { status: 'True' as const, reason: ConditionReason.Synced, message, observedGeneration };
  const conditions = setCondition(previous.conditions, { type: 'Ready', ...ok }, new Date(now));
  return setCondition(conditions, { type: 'Synced', ...ok }, new Date(now));
}

/**
 * The status of a failed reconcile: Ready false for `ready` (Expired outranks the failure when
 * the kept Secret's ttl has passed), Synced false for the failure itself; the rest is kept.
 */
export function failedStatusOf(
  binding: SecretBinding,
  ready: { reason: string; message: string },
  failure: { reason: string; message: string },
  now: number,
): SecretBindingStatus {
  const previous = binding.status ?? {};
  const observedGeneration = binding.metadata.generation;
  let conditions = setCondition(
    previous.conditions,
    { type: 'Ready', status: 'False', ...ready, observedGeneration },
    new Date(now),
  );
  conditions = setCondition(
    conditions,
    { type: 'Synced', status: 'False', ...failure, observedGeneration },
    new Date(now),
  );
  return { ...previous, observedGeneration, conditions };
}

/**
 * Writes `status` as a merge patch against the binding's status as cached; nothing when equal.
 * Two fields have other writers, so a status built from an older cached copy must not put them
 * back: `leases` (the lease book writes it alone, at once: leases.ts) and
 * `access.lastUnexpectedRead` (the access monitor of any replica). Of `access`, only
 * `respondedTo` is written here, and the server merges it into the object. Every write carries
 * the Compromised condition the binding's access calls for (compromised-condition.ts).
 */
export async function writeStatus(
  writer: StatusWriter,
  binding: SecretBinding,
  status: SecretBindingStatus,
): Promise<void> {
  const { leases: _cached, access: cachedAccess, ...previous } = binding.status ?? {};
  const { leases: _ours, access, ...next } = withCompromise(binding, status);
  const respondedTo = access?.respondedTo !== cachedAccess?.respondedTo ? access?.respondedTo : undefined;
  if (sameJson(previous, next) && respondedTo === undefined) return;
  const patch = mergePatchOf(previous, next);
  if (respondedTo !== undefined) patch.access = { respondedTo };
  await writer.patchStatus('SecretBinding', binding.metadata.namespace, binding.metadata.name!, patch);
}

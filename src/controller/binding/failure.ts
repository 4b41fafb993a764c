// A failed reconcile: the status says why, a Warning Event says it once, the last good Secret
// is kept (unless its ttl has passed and onExpiry says Delete, or a policy now denies it), and
// the retry policy decides when to come back.
import type { Logger } from 'winston';
import { findCondition } from '../../api/conditions.ts';
import type { EffectiveLifetime } from '../../api/defaults.ts';
import { ConditionReason, EventReason } from '../../api/reasons.ts';
import { objectKey, type SecretBinding } from '../../api/types.ts';
import type { SecretObject, SecretWriter, StatusWriter } from '../../kube/kube-client.ts';
import { nextDueAt, nextRefreshAt } from '../../rotation/schedule.ts';
import { RetryLater, type ReconcileResult } from '../../runtime/reconcile-result.ts';
import { ReconcileError, toReconcileError } from '../errors.ts';
import { formatTime, parseTime } from './managed-secret.ts';
import { recordedIssue } from './plan.ts';
import type { BindingListener } from './deps.ts';
import type { LeaseBook } from './leases.ts';
import type { BindingRecorder } from './recording.ts';
import { failedStatusOf, writeStatus } from './status.ts';

export interface FailureContext {
  logger: Logger;
  secrets: SecretWriter;
  status: StatusWriter;
  recorder: BindingRecorder;
  /** Told of every failed reconcile, by condition reason (a metric). */
  listener: Pick<BindingListener, 'failed'>;
  /** The lease of a deleted Secret's credential is revoked with it. */
  leases: Pick<LeaseBook, 'retire' | 'wakeAt'>;
}

/** Reports `failure` and answers with the retry it calls for (RetryLater thrown for backoff). */
export async function failed(
  ctx: FailureContext,
  binding: SecretBinding,
  existing: SecretObject | undefined,
  lifetime: EffectiveLifetime | undefined,
  failure: ReconcileError,
  now: number,
): Promise<ReconcileResult> {
  ctx.listener.failed(failure.reason);
  const previous = binding.status ?? {};
  // Expiry is judged by the operator's own record (status), not by annotations anyone can edit.
  const issue = existing ? recordedIssue(binding, existing) : undefined;
  const expired = lifetime !== undefined && issue !== undefined && now >= issue.expiresAt;
  if (failure.reason === ConditionReason.PolicyDenied && existing) {
    // The binding may no longer read this store: what it read before goes too.
    await deleteSecret(ctx, binding, existing, now);
    ctx.recorder.event(
      binding,
      'Normal',
      EventReason.Revoked,
      `Secret "${existing.metadata.name}" revoked: ${failure.message}`,
    );
  }
  let reason: string = failure.reason;
  let message = failure.message;
  if (expired && existing) {
    reason = ConditionReason.Expired;
    if (lifetime.onExpiry === 'Delete') {
      await deleteSecret(ctx, binding, existing, now);
      message = `Secret "${existing.metadata.name}" was deleted: its ttl passed without a successful renewal (${failure.reason}: ${failure.message})`;
      ctx.recorder.event(
        binding,
        'Normal',
        EventReason.Expired,
        `Secret "${existing.metadata.name}" deleted: its ttl passed without a successful renewal`,
      );
    } else {
      message = `Secret "${existing.metadata.name}" expired and is retained (onExpiry: Retain); renewal fails with ${failure.reason}: ${failure.message}`;
    }
  } else if (existing && issue && failure.reason !== ConditionReason.PolicyDenied) {
    message = `${failure.message}; the last good Secret is kept until ${formatTime(issue.expiresAt)}`;
  } else if (!existing && lifetime?.onExpiry === 'Delete' && isPast(previous.expiresAt, now)) {
    // Deleted at expiry earlier: the binding stays Expired until a renewal succeeds.
    reason = ConditionReason.Expired;
    message = `the Secret expired at ${previous.expiresAt} and was deleted; renewal fails with ${failure.reason}: ${failure.message}`;
  }
  const before = findCondition(previous.conditions, 'Ready');
  await writeStatus(
    ctx.status,
    binding,
    failedStatusOf(binding, { reason, message }, { reason: failure.reason, message: failure.message }, now),
  );
  if (before?.reason !== reason || before?.message !== message || before?.status !== 'False') {
    ctx.recorder.event(binding, 'Warning', failure.eventReason, failure.message);
  }
  ctx.logger.info('binding not synced', {
    binding: objectKey(binding.metadata),
    reason: failure.reason,
    detail: failure.message,
  });

  // Whatever the retry policy, come back when a kept Secret expires, and when a lease retired
  // with a deleted Secret (or waiting since) is due for revocation.
  const expiryWait = issue && !expired ? issue.expiresAt - now : undefined;
  const revocation = ctx.leases.wakeAt(binding, now);
  const leaseWait = revocation === undefined ? undefined : revocation - now;
  if (failure.retry === 'backoff') {
    throw new RetryLater(failure.message, {
      atLeastMs: failure.retryAfterMs,
      atMostMs: nextDueAt([expiryWait, leaseWait]),
    });
  }
  const refreshWait =
    failure.retry === 'refresh' && lifetime ? nextRefreshAt(now, lifetime.refreshMs) - now : undefined;
  const wait = nextDueAt([refreshWait, expiryWait, leaseWait]);
  return wait === undefined ? {} : { requeueAfterMs: wait };
}

/** A spec the schema let through but the operator cannot use: reported, never retried alone. */
export function invalidSpec(error: unknown): ReconcileError {
  return error instanceof ReconcileError || (error as { reason?: string }).reason
    ? toReconcileError(error)
    : new ReconcileError(ConditionReason.InvalidSpec, (error as Error).message, { retry: 'never' });
}

export function conflict(name: string): ReconcileError {
  return new ReconcileError(
    ConditionReason.SecretConflict,
    `Secret "${name}" exists and is not managed by this binding; mlsecrets never overwrites it (delete it or choose another target.name)`,
    { retry: 'refresh' },
  );
}

async function deleteSecret(
  ctx: FailureContext,
  binding: SecretBinding,
  secret: SecretObject,
  now: number,
): Promise<void> {
  await ctx.secrets.deleteSecret(secret.metadata.namespace!, secret.metadata.name!, secret.metadata.uid);
  await ctx.leases.retire(binding, secret.metadata.name!, now);
}

function isPast(time: string | undefined, now: number): boolean {
  const ms = parseTime(time);
  return ms !== undefined && ms <= now;
}

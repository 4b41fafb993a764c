import { ConditionReason, EventReason } from '../api/reasons.ts';
import { DataError } from '../data/properties.ts';
import { TemplateError } from '../data/template.ts';
import { ProviderError, StoreConfigError } from '../providers/provider.port.ts';

/**
 * When to try again after a failed reconcile:
 * - backoff: rate-limited exponential backoff with jitter (transient, or fixed elsewhere);
 * - refresh: at the next refresh (depends on what the store holds);
 * - never: wait for a change of the binding or its store (bad spec, policy denial).
 */
export type RetryPolicy = 'backoff' | 'refresh' | 'never';

/** A reconcile failure as the user sees it: a condition reason, a Warning Event, a retry policy. */
export class ReconcileError extends Error {
  readonly reason: ConditionReason;
  readonly eventReason: string;
  readonly retry: RetryPolicy;
  readonly retryAfterMs?: number;

  constructor(
    reason: ConditionReason,
    message: string,
    options: { eventReason?: string; retry: RetryPolicy; retryAfterMs?: number },
  ) {
    super(message);
    this.name = 'ReconcileError';
    this.reason = reason;
    this.eventReason = options.eventReason ?? EventReason.InvalidSpec;
    this.retry = options.retry;
    this.retryAfterMs = options.retryAfterMs;
  }
}

const providerReasons: Record<ProviderError['category'], ConditionReason> = {
  NotFound: ConditionReason.RemoteKeyNotFound,
  AccessDenied: ConditionReason.AccessDenied,
  Throttled: ConditionReason.Throttled,
  Unavailable: ConditionReason.ProviderUnavailable,
  Invalid: ConditionReason.ProviderError,
};

/**
 * Maps whatever a reconcile step threw to a ReconcileError. Unknown errors keep only their
 * class name in the message: their text may come from anywhere, values included.
 */
export function toReconcileError(error: unknown): ReconcileError {
  if (error instanceof ReconcileError) return error;
  if (error instanceof ProviderError) {
    return new ReconcileError(providerReasons[error.category], error.message, {
      eventReason: EventReason.ProviderError,
      retry: error.category === 'Invalid' ? 'refresh' : 'backoff',
      retryAfterMs: error.retryAfterMs,
    });
  }
  if (error instanceof StoreConfigError) {
    return new ReconcileError(error.reason, error.message, { retry: 'backoff' });
  }
  if (error instanceof TemplateError) {
    return new ReconcileError(ConditionReason.TemplateError, error.message, { retry: 'refresh' });
  }
  if (error instanceof DataError) {
    const specProblem = error.reason === 'DuplicateKey';
    return new ReconcileError(error.reason, error.message, {
      eventReason:
        specProblem || error.reason === 'InvalidKey' || error.reason === 'InvalidSecretType'
          ? EventReason.InvalidSpec
          : EventReason.ProviderError,
      retry: specProblem ? 'never' : 'refresh',
    });
  }
  const status = (error as { status?: number })?.status;
  const what = status
    ? `the Kubernetes API answered HTTP ${status}`
    : `an internal error (${(error as Error)?.name ?? 'unknown'})`;
  return new ReconcileError(ConditionReason.ProviderError, `reconcile failed: ${what}`, {
    eventReason: EventReason.ProviderError,
    retry: 'backoff',
  });
}

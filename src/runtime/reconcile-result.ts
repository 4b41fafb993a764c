// What a reconcile tells the worker loop: when to come back, work left for a quiet moment, or
// (thrown) that it failed transiently and wants rate-limited backoff.

/** What a reconcile asks of the work queue. */
export interface ReconcileResult {
  /** Reconcile again after this long (the next refresh, renewal, rotation or expiry). */
  requeueAfterMs?: number;
  /**
   * Bookkeeping of a write this reconcile made (a status patch, an Event), left to run when no
   * urgent work waits. The reconcile is done when this has run; it fails as the reconcile
   * would have.
   */
  followUp?: () => Promise<void>;
}

/** Thrown to ask for rate-limited backoff: a transient failure. */
export class RetryLater extends Error {
  readonly atLeastMs?: number;
  readonly atMostMs?: number;
  constructor(message: string, options: { atLeastMs?: number; atMostMs?: number } = {}) {
    super(message);
    this.name = 'RetryLater';
    this.atLeastMs = options.atLeastMs;
    this.atMostMs = options.atMostMs;
  }
}

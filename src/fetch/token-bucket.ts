import type { Clock, TimerHandle } from '../runtime/clock.ts';

/** A store's `rateLimit`, plus the clock that meters it. */
export interface TokenBucketOptions {
  /** Sustained provider calls per second (> 0). */
  qps: number;
  /** Calls allowed back to back after a quiet period (>= 1); the bucket starts full. */
  burst: number;
  clock: Clock;
}

/**
 * Token counts are fractional and refills are float maths, so "one whole token" is compared
 * with this slack; without it a refill landing at 0.9999999999 would re-arm a 0 ms timer.
 */
const EPSILON = 1e-9;

/**
 * The per-store provider rate limit (`spec.rateLimit`): `burst` calls at once, then `qps` per
 * second. Waiters are served strictly first come, first served by one timer, and a throttling
 * error from the provider closes the bucket for the retry-after the provider asked for.
 */
export class TokenBucket {
  readonly #clock: Clock;
  readonly #qps: number;
  readonly #burst: number;
  #tokens: number;
  /** Time up to which `#tokens` is accounted; in the future while a penalty runs. */
  #refilledAt: number;
  readonly #waiters: Array<() => void> = [];
  #timer: TimerHandle | undefined;

  constructor(options: TokenBucketOptions) {
    const { qps, burst, clock } = options;
    if (!(qps > 0) || !Number.isFinite(qps)) throw new RangeError(`TokenBucket: qps must be > 0, got ${qps}`);
    if (!(burst >= 1) || !Number.isFinite(burst)) {
      throw new RangeError(`TokenBucket: burst must be >= 1, got ${burst}`);
    }
    this.#clock = clock;
    this.#qps = qps;
    this.#burst = burst;
    this.#tokens = burst;
    this.#refilledAt = clock.now();
  }

  /**
   * Takes a token if one is available now. Fails while others are queued in {@link take}, so a
   * caller that polls cannot overtake one that waits.
   */
  tryTake(): boolean {
    if (this.#waiters.length > 0) return false;
    return this.#takeNow();
  }

  /**
   * Milliseconds until a token would be available to a new caller: after any penalty, and after
   * every caller already waiting in {@link take} has been served. 0 means {@link tryTake} succeeds now.
   */
  msUntilAvailable(): number {
    return this.#msUntilToken(this.#waiters.length + 1);
  }

  /** Resolves when the caller holds a token; waiters are served in the order they called. */
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#arm();
    });
  }

  /**
   * After a throttling error: no tokens until `now + ms` (the provider's retry-after). The
   * bucket then restarts from a single token instead of a full burst, so the first call after
   * the pause probes the provider rather than hitting it `burst` times at once. A shorter
   * penalty never cuts a longer one short.
   */
  penalise(ms: number): void {
    if (!(ms > 0)) return;
    const until = this.#clock.now() + ms;
    if (until <= this.#refilledAt) return;
    this.#tokens = 1;
    this.#refilledAt = until;
    if (this.#waiters.length > 0) this.#arm(true);
  }

  #refill(): void {
    const now = this.#clock.now();
    if (now <= this.#refilledAt) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) * this.#qps) / 1000);
    this.#refilledAt = now;
  }

  #takeNow(): boolean {
    this.#refill();
    if (this.#clock.now() < this.#refilledAt || this.#tokens < 1 - EPSILON) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /**
   * Time until the `nth` token from now. Tokens handed to waiters are consumed as they arrive,
   * so the burst cap never drops any of them: the `nth` needs `nth - tokens` refills.
   */
  #msUntilToken(nth: number): number {
    this.#refill();
    const start = Math.max(this.#clock.now(), this.#refilledAt);
    const missing = nth - this.#tokens;
    const ready = missing <= EPSILON ? start : start + (missing * 1000) / this.#qps;
    return Math.max(0, Math.ceil(ready - this.#clock.now() - EPSILON));
  }

  /** Keeps exactly one timer, pointed at the moment the head waiter can be served. */
  #arm(reschedule = false): void {
    if (this.#timer !== undefined) {
      if (!reschedule) return;
      this.#clock.clearTimer(this.#timer);
      this.#timer = undefined;
    }
    // At least 1 ms: a zero-delay re-arm that still finds no token would spin.
    const delay = Math.max(1, this.#msUntilToken(1));
    this.#timer = this.#clock.setTimer(() => this.#onTimer(), delay);
  }

  #onTimer(): void {
    this.#timer = undefined;
    while (this.#waiters.length > 0 && this.#takeNow()) this.#waiters.shift()!();
    if (this.#waiters.length > 0) this.#arm();
  }
}

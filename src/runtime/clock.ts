/**
 * Time as a dependency: everything that schedules (work queue delays, rate limits, renewals)
 * takes a {@link Clock}, so unit tests and in-process integration tests drive time with a
 * {@link ManualClock} instead of sleeping.
 */

/** An opaque handle for a scheduled timer; only meaningful to the clock that issued it. */
export interface TimerHandle {
  readonly id: number;
}

/** The two things schedulers need from time: the current instant and one-shot timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` once, `ms` milliseconds from now (a negative or NaN delay means as soon as possible). */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a timer that already fired or was already cleared is ignored. */
  clearTimer(handle: TimerHandle): void;
}

/** A pause on a clock that `cut()` ends early. */
export interface Pause {
  /** Resolves when the pause has passed or was cut. */
  done: Promise<void>;
  cut(): void;
}

/**
 * Waits `ms` on `clock`; `cut()` ends the wait at once. For loops that must stop without
 * waiting out a backoff or a poll, on a clock that may never move again (a ManualClock).
 */
export function pause(clock: Clock, ms: number): Pause {
  let cut: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    const timer = clock.setTimer(resolve, ms);
    cut = () => {
      clock.clearTimer(timer);
      resolve();
    };
  });
  return { done, cut };
}

/**
 * Node clamps any setTimeout delay above 2^31-1 ms (about 24.8 days) to 1 ms, so a monthly
 * rotation would fire at once. Longer waits are chained through timers of at most this length.
 */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function sanitiseDelay(ms: number): number {
  return Number.isNaN(ms) || ms < 0 ? 0 : ms;
}

/** Where a system timer currently is: re-pointed each time a long wait is chained. */
interface SystemTimerState {
  timeout: NodeJS.Timeout | undefined;
}

let nextSystemTimerId = 1;
const systemTimers = new WeakMap<TimerHandle, SystemTimerState>();

/**
 * Wall-clock time and Node timers. Timers are unref'd: a pending requeue must never keep the
 * process alive after the operator has been asked to stop.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = { id: nextSystemTimerId++ };
    const state: SystemTimerState = { timeout: undefined };
    const dueAt = Date.now() + sanitiseDelay(ms);
    const arm = (): void => {
      const remaining = Math.max(0, dueAt - Date.now());
      state.timeout =
        remaining > MAX_TIMEOUT_MS
          ? setTimeout(arm, MAX_TIMEOUT_MS)
          : setTimeout(() => {
              state.timeout = undefined;
              systemTimers.delete(handle);
              fn();
            }, remaining);
      state.timeout.unref();
    };
    arm();
    systemTimers.set(handle, state);
    return handle;
  },
  clearTimer(handle: TimerHandle): void {
    const state = systemTimers.get(handle);
    if (state?.timeout !== undefined) clearTimeout(state.timeout);
    systemTimers.delete(handle);
  },
};

interface ManualTimer {
  id: number;
  dueAt: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to. Timers fire inside {@link ManualClock.advance}, in
 * due-time order (ties in the order they were set), with `now()` reading each timer's due time
 * while it runs, exactly as if real time had passed.
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  /** Sorted by dueAt, then id (insertion order), so the next timer is always at index 0. */
  #timers: ManualTimer[] = [];

  /** @param startMs the initial `now()`; defaults to 2025-01-01T00:00:00Z so dates in tests read sensibly. */
  constructor(startMs: number = Date.UTC(2025, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { id: this.#nextId++, dueAt: this.#now + sanitiseDelay(ms), fn };
    // Binary search for the first timer due strictly later: equal due times keep set order.
    let lo = 0;
    let hi = this.#timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#timers[mid]!.dueAt <= timer.dueAt) lo = mid + 1;
      else hi = mid;
    }
    this.#timers.splice(lo, 0, timer);
    return { id: timer.id };
  }

  clearTimer(handle: TimerHandle): void {
    const index = this.#timers.findIndex((t) => t.id === handle.id);
    if (index >= 0) this.#timers.splice(index, 1);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, including timers
   * set by those timers when they fall within the window. A timer that throws stops the advance
   * at its due time (the error propagates); later timers stay pending.
   */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`ManualClock.advance: bad duration ${ms}`);
    const target = this.#now + ms;
    for (let next = this.#timers[0]; next !== undefined && next.dueAt <= target; next = this.#timers[0]) {
      this.#timers.shift();
      this.#now = Math.max(this.#now, next.dueAt);
      next.fn();
    }
    this.#now = target;
  }

  /** Number of timers set and not yet fired or cleared. */
  pending(): number {
    return this.#timers.length;
  }

  /** When the next timer is due, or undefined when none is pending (lets tests jump straight to it). */
  nextTimerAt(): number | undefined {
    return this.#timers[0]?.dueAt;
  }
}

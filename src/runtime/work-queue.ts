import type { Clock } from './clock.ts';
import { DelayedKeys } from './delayed-keys.ts';
import { Fifo } from './fifo.ts';

/**
 * `high`: never-synced objects, spec changes, drift. `medium`: routine work known to change
 * something (a refresh whose remote value has changed: a rotation to propagate). `low`: routine
 * refreshes. Every ready high key is handed out before any medium key, and every medium key
 * before any low key, so a new binding never waits behind thousands of scheduled refreshes,
 * and a rotation does not wait behind the refreshes that change nothing.
 */
export type Priority = 'high' | 'medium' | 'low';

/** Tuning for a {@link WorkQueue}; only the clock is required. */
export interface WorkQueueOptions {
  clock: Clock;
  /** First retry delay of {@link WorkQueue.addRateLimited}. Default 500 ms. */
  baseDelayMs?: number;
  /** Ceiling of the exponential backoff. Default 300,000 ms (5 minutes). */
  maxDelayMs?: number;
  /** Fraction (0..1) by which a backoff delay is spread either way. Default 0.2 (±20%). */
  jitter?: number;
  /** Source of randomness in [0, 1) for the jitter; injectable so tests are exact. Default Math.random. */
  random?: () => number;
  /**
   * No `low` key is handed out while this many `medium` and `low` keys are out. Workers beyond
   * it take only `high` and `medium` keys, so a new binding finds a free worker even while a
   * full refresh holds every other one on a provider call. Default: no limit.
   */
  maxLowInFlight?: number;
}

/** Options of {@link WorkQueue.addRateLimited}. */
export interface RateLimitedAddOptions {
  /** A lower bound on the delay, e.g. a server's retry-after. Wins over the backoff ceiling. */
  atLeastMs?: number;
  /** Priority of the retry once it falls due. Default `low`: retries should not starve fresh work. */
  priority?: Priority;
}

/** One key handed out by {@link WorkQueue.get}. */
export interface WorkItem {
  key: string;
  priority: Priority;
  /**
   * The key comes back for the rest of work it started and {@link WorkQueue.defer}red (the
   * status and Event of a Secret already written), not for a reconcile.
   */
  followUp?: true;
  /** Time from becoming ready to being handed out: the queue-wait metric. */
  waitedMs: number;
}

/** A key in the ready queue. `seq` tells a live FIFO slot from one left behind by an upgrade or removal. */
interface ReadyEntry {
  priority: Priority;
  readyAt: number;
  seq: number;
}

interface Slot {
  key: string;
  seq: number;
}

const RANK: Record<Priority, number> = { low: 0, medium: 1, high: 2 };

function higher(a: Priority, b: Priority): Priority {
  return RANK[a] >= RANK[b] ? a : b;
}

/**
 * A keyed, de-duplicating work queue with client-go / controller-runtime semantics:
 * - a key is queued at most once; adding it again only raises its priority;
 * - a key is never handed to two workers at once: re-added while being processed, it is
 *   queued again when {@link done} is called;
 * - delayed adds sit in one min-heap behind a single timer, so 100,000 scheduled refreshes cost
 *   one timer and O(log n) per add, not 100,000 timers;
 * - per-key exponential backoff with jitter for failures.
 *
 * Hand-out is deferred to a microtask, so keys added in the same synchronous burst (an informer's
 * initial list, a timer flushing many due keys) are ordered by priority before any worker sees them.
 */
export class WorkQueue {
  readonly #clock: Clock;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #maxLowInFlight: number;

  #seq = 0;
  /** Keys handed out at `medium` or `low` priority and not yet done. */
  readonly #lowInFlight = new Set<string>();
  readonly #ready = new Map<string, ReadyEntry>();
  readonly #high = new Fifo<Slot>();
  readonly #medium = new Fifo<Slot>();
  readonly #low = new Fifo<Slot>();
  /** Deferred keys ({@link defer}): still being processed, waiting for a worker to finish them. */
  readonly #followUps = new Fifo<{ key: string; priority: Priority; readyAt: number }>();
  #followUpCount = 0;
  /** Ready keys at `high` or `medium` priority. */
  #urgentReady = 0;
  /** Keys a worker holds, with the priority of a re-add that arrived meanwhile (undefined: none). */
  readonly #processing = new Map<string, Priority | undefined>();
  readonly #delayed: DelayedKeys<Priority>;
  readonly #failures = new Map<string, number>();
  readonly #waiters = new Fifo<(item: WorkItem | undefined) => void>();
  #waiterCount = 0;
  #dispatchScheduled = false;
  #shutDown = false;

  constructor(options: WorkQueueOptions) {
    const {
      clock,
      baseDelayMs = 500,
      maxDelayMs = 300_000,
      jitter = 0.2,
      random = Math.random,
      maxLowInFlight = Infinity,
    } = options;
    if (!(maxLowInFlight >= 1))
      throw new RangeError(`WorkQueue: maxLowInFlight must be >= 1, got ${maxLowInFlight}`);
    if (!(baseDelayMs >= 0) || !Number.isFinite(baseDelayMs)) {
      throw new RangeError(`WorkQueue: baseDelayMs must be a finite number >= 0, got ${baseDelayMs}`);
    }
    if (!(maxDelayMs >= baseDelayMs) || !Number.isFinite(maxDelayMs)) {
      throw new RangeError(`WorkQueue: maxDelayMs must be finite and >= baseDelayMs, got ${maxDelayMs}`);
    }
    if (!(jitter >= 0 && jitter <= 1))
      throw new RangeError(`WorkQueue: jitter must be in [0, 1], got ${jitter}`);
    this.#clock = clock;
    this.#baseDelayMs = baseDelayMs;
    this.#maxDelayMs = maxDelayMs;
    this.#jitter = jitter;
    this.#random = random;
    this.#maxLowInFlight = maxLowInFlight;
    this.#delayed = new DelayedKeys<Priority>(clock, (key, priority) => this.add(key, priority), higher);
  }

  /**
   * Makes `key` ready now. Already queued: stays one entry, raised to the higher priority.
   * Being processed: marked dirty and queued again on {@link done}. Ignored after {@link shutDown}.
   */
  add(key: string, priority: Priority = 'low'): void {
    if (this.#shutDown) return;
    if (this.#processing.has(key)) {
      const dirty = this.#processing.get(key);
      this.#processing.set(key, dirty === undefined ? priority : higher(dirty, priority));
      return;
    }
    const queued = this.#ready.get(key);
    if (queued !== undefined) {
      this.#raise(key, queued, priority);
      return;
    }
    this.#enqueue(key, priority, this.#clock.now());
  }

  /**
   * Raises `key` to `priority` if it is ready and waiting at a lower one; a key that is not
   * ready (delayed, being processed, unknown) is left as it is. For work found to matter more
   * while it waits: a due refresh whose remote value turned out to have changed.
   * @returns whether the key was raised.
   */
  promote(key: string, priority: Priority): boolean {
    const queued = this.#ready.get(key);
    return queued !== undefined && this.#raise(key, queued, priority);
  }

  /**
   * Adds `key` after `delayMs`. If the key already waits for an earlier time, that earlier time
   * wins (the priority is still raised); `delayMs <= 0` is {@link add}.
   */
  addAfter(key: string, delayMs: number, priority: Priority = 'low'): void {
    if (this.#shutDown) return;
    if (!(delayMs > 0)) {
      this.add(key, priority);
      return;
    }
    if (delayMs === Infinity) return; // "never": holding a heap node for it would only leak
    this.#delayed.schedule(key, this.#clock.now() + delayMs, priority);
  }

  /**
   * Re-adds `key` after a per-key exponential backoff: `base * 2^failures`, spread by ±jitter and
   * capped at the maximum, but never shorter than `atLeastMs` (a server's retry-after is honoured
   * even beyond the cap). Counts one more failure for the key.
   * @returns the delay used, in ms.
   */
  addRateLimited(key: string, options: RateLimitedAddOptions = {}): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2^failures stays finite however often a key fails; the cap applies right after anyway.
    const exponential = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(failures, 64));
    const spread = 1 + this.#jitter * (2 * this.#random() - 1);
    let delay = Math.round(Math.min(this.#maxDelayMs, exponential * spread));
    if (options.atLeastMs !== undefined && options.atLeastMs > delay) delay = Math.ceil(options.atLeastMs);
    this.addAfter(key, delay, options.priority ?? 'low');
    return delay;
  }

  /** Resets the failure count of `key`; call after a successful reconcile. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** How many times in a row `key` has been rate-limited since the last {@link forget}. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /**
   * The next ready key: every high before any medium, every medium before any low, FIFO
   * within a priority. The key counts as being processed until {@link done}. Resolves
   * undefined once the queue is shut down (keys still queued are dropped: reconciles are
   * level-based and the next leader redoes them).
   */
  get(): Promise<WorkItem | undefined> {
    if (this.#shutDown) return Promise.resolve(undefined);
    if (this.#waiterCount === 0) {
      const item = this.#takeNext();
      if (item !== undefined) return Promise.resolve(item);
    }
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#waiterCount++;
    });
  }

  /**
   * Puts the rest of `key`'s work off until no `high` or `medium` key is waiting: the key stays
   * in processing (re-adds mark it dirty, as ever) and is handed out again, flagged
   * {@link WorkItem.followUp}, before any `low` key; {@link done} then finishes it. For the
   * bookkeeping of a rotation (status patch, Event), so a thousand Secrets get their new value
   * before the first of those writes competes with them.
   */
  defer(key: string, priority: Priority): void {
    if (!this.#processing.has(key) || this.#shutDown) return;
    // Waiting is not working: the routine slot goes to the next key.
    this.#lowInFlight.delete(key);
    this.#followUps.push({ key, priority, readyAt: this.#clock.now() });
    this.#followUpCount++;
    this.#scheduleDispatch();
  }

  /** Marks `key` finished; if it was re-added while processing, it is queued again now. */
  done(key: string): void {
    if (!this.#processing.has(key)) return;
    const dirty = this.#processing.get(key);
    this.#processing.delete(key);
    // A low slot came free: a low key held back by the limit may go to a waiting worker.
    if (this.#lowInFlight.delete(key)) this.#scheduleDispatch();
    if (dirty !== undefined && !this.#shutDown) this.#enqueue(key, dirty, this.#clock.now());
  }

  /**
   * Forgets `key` entirely (its object was deleted): ready and delayed entries and failure count.
   * A worker still processing it finishes, but the key is not queued again afterwards.
   */
  remove(key: string): void {
    const ready = this.#ready.get(key);
    if (ready !== undefined && ready.priority !== 'low') this.#urgentReady--;
    this.#ready.delete(key);
    this.#failures.delete(key);
    if (this.#processing.has(key)) this.#processing.set(key, undefined);
    this.#delayed.remove(key);
  }

  /** Ready keys waiting for a worker: the queue-depth metric. */
  len(): number {
    return this.#ready.size;
  }

  /**
   * Ready keys at `high` or `medium` priority: work someone waits for (a new binding, a
   * rotation). Whatever can wait (Events) holds back while this is above zero.
   */
  urgentLen(): number {
    return this.#urgentReady;
  }

  /** Keys waiting for their delay to pass. */
  delayedLen(): number {
    return this.#delayed.size;
  }

  /** Deferred keys waiting to be handed out again ({@link defer}). */
  followUpLen(): number {
    return this.#followUpCount;
  }

  /** Keys handed out and not yet {@link done} (deferred ones included). */
  processingLen(): number {
    return this.#processing.size;
  }

  /** Whether {@link shutDown} has been called. */
  isShutDown(): boolean {
    return this.#shutDown;
  }

  /** Wakes every waiting {@link get} with undefined, stops the timer and ignores further adds. */
  shutDown(): void {
    if (this.#shutDown) return;
    this.#shutDown = true;
    this.#ready.clear();
    this.#urgentReady = 0;
    this.#high.clear();
    this.#medium.clear();
    this.#low.clear();
    this.#followUps.clear();
    this.#followUpCount = 0;
    this.#delayed.clear();
    for (let resolve = this.#waiters.shift(); resolve !== undefined; resolve = this.#waiters.shift()) {
      resolve(undefined);
    }
    this.#waiterCount = 0;
  }

  #enqueue(key: string, priority: Priority, readyAt: number): void {
    const seq = ++this.#seq;
    this.#ready.set(key, { priority, readyAt, seq });
    if (priority !== 'low') this.#urgentReady++;
    this.#fifo(priority).push({ key, seq });
    this.#scheduleDispatch();
  }

  /** Moves a ready key to a higher priority's FIFO; its old slot goes stale (seq mismatch). */
  #raise(key: string, queued: ReadyEntry, priority: Priority): boolean {
    if (RANK[priority] <= RANK[queued.priority]) return false;
    if (queued.priority === 'low') this.#urgentReady++;
    queued.priority = priority;
    queued.seq = ++this.#seq;
    this.#fifo(priority).push({ key, seq: queued.seq });
    return true;
  }

  #fifo(priority: Priority): Fifo<Slot> {
    return priority === 'high' ? this.#high : priority === 'medium' ? this.#medium : this.#low;
  }

  #takeNext(): WorkItem | undefined {
    const routineRoom = this.#lowInFlight.size < this.#maxLowInFlight;
    // Medium keys may take the workers kept for high ones: their values are already read (the
    // fetch layer promotes them when it has seen the change), so they hold a worker only for
    // their writes, and a high key waits at most for one of those to finish.
    let slot = this.#shiftLive(this.#high) ?? this.#shiftLive(this.#medium);
    if (slot === undefined && this.#followUpCount > 0) {
      // Bookkeeping of writes already made goes before routine work, outside its limit: it
      // holds a worker for a status patch only.
      const next = this.#followUps.shift()!;
      this.#followUpCount--;
      return {
        key: next.key,
        priority: next.priority,
        waitedMs: this.#clock.now() - next.readyAt,
        followUp: true,
      };
    }
    slot ??= routineRoom ? this.#shiftLive(this.#low) : undefined;
    if (slot === undefined) return undefined;
    const entry = this.#ready.get(slot.key)!;
    this.#ready.delete(slot.key);
    if (entry.priority !== 'low') this.#urgentReady--;
    this.#processing.set(slot.key, undefined);
    if (entry.priority !== 'high') this.#lowInFlight.add(slot.key);
    return { key: slot.key, priority: entry.priority, waitedMs: this.#clock.now() - entry.readyAt };
  }

  #shiftLive(fifo: Fifo<Slot>): Slot | undefined {
    for (let slot = fifo.shift(); slot !== undefined; slot = fifo.shift()) {
      if (this.#ready.get(slot.key)?.seq === slot.seq) return slot;
    }
    return undefined;
  }

  #scheduleDispatch(): void {
    if (this.#dispatchScheduled || this.#waiterCount === 0) return;
    this.#dispatchScheduled = true;
    queueMicrotask(() => {
      this.#dispatchScheduled = false;
      while (this.#waiterCount > 0 && !this.#shutDown) {
        const item = this.#takeNext();
        if (item === undefined) return;
        this.#waiterCount--;
        this.#waiters.shift()!(item);
      }
    });
  }
}

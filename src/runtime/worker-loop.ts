// A bounded pool of workers taking keys from the work queue: each runs the reconcile of its key,
// schedules what the result asks for (a requeue, a deferred follow-up), and backs off on errors.
import type { Logger } from 'winston';
import type { Clock } from './clock.ts';
import { RetryLater, type ReconcileResult } from './reconcile-result.ts';
import type { Priority, WorkQueue } from './work-queue.ts';

export interface WorkerLoopOptions {
  queue: WorkQueue;
  clock: Clock;
  logger: Logger;
  workers: number;
  /** Runs the reconcile of `key`; throws RetryLater for backoff. */
  dispatch(key: string, priority: Priority): Promise<ReconcileResult>;
  /** Told how long each key waited in the queue (a metric). */
  onDequeue?(waitedMs: number, priority: string): void;
}

export class WorkerLoop {
  private readonly options: WorkerLoopOptions;
  /** Deferred halves of reconciles ({@link WorkQueue.defer}), by key, with when they were due again. */
  private readonly followUps = new Map<string, { run: () => Promise<void>; dueAt?: number }>();
  private workers: Promise<void>[] = [];
  /** Sharding: which keys this replica reconciles; absent: all. */
  private ownsKey?: (key: string) => boolean;
  /** Sharding: checked before each reconcile; false holds owned work back for a second. */
  private canWork?: () => boolean;

  constructor(options: WorkerLoopOptions) {
    this.options = options;
  }

  /** Starts the workers (once; not after the queue has shut down). */
  start(): boolean {
    if (this.workers.length > 0 || this.options.queue.isShutDown()) return false;
    this.workers = Array.from({ length: this.options.workers }, () => this.work());
    return true;
  }

  /** Whether the workers are running. */
  running(): boolean {
    return this.workers.length > 0 && !this.options.queue.isShutDown();
  }

  /** Shuts the queue down and waits for the running reconciles to finish. */
  async stop(): Promise<void> {
    this.options.queue.shutDown();
    await Promise.all(this.workers);
  }

  /** Sharding: only keys `owns` holds are reconciled; `canWork` false holds them back. */
  setGates(owns: (key: string) => boolean, canWork?: () => boolean): void {
    this.ownsKey = owns;
    this.canWork = canWork;
  }

  private async work(): Promise<void> {
    const { queue, clock, logger } = this.options;
    for (;;) {
      const item = await queue.get();
      if (!item) return;
      const { key } = item;
      this.options.onDequeue?.(item.waitedMs, item.priority);
      if (this.ownsKey && !this.ownsKey(key)) {
        // Another replica's shard: dropped, not rescheduled (queued again if it comes back).
        this.followUps.delete(key);
        queue.forget(key);
        queue.done(key);
        continue;
      }
      if (this.canWork && !this.canWork()) {
        // Our membership is not current (lease renewal late): hold the key, do not write.
        queue.addAfter(key, 1000, item.priority);
        queue.done(key);
        continue;
      }
      let deferred = false;
      try {
        const followUp = item.followUp ? this.followUps.get(key) : undefined;
        this.followUps.delete(key);
        let dueAt: number | undefined;
        if (followUp) {
          await followUp.run();
          dueAt = followUp.dueAt;
        } else {
          // The reconcile measures its requeue from the clock it read as it began. Counted from
          // its end instead, every binding of a refresh boundary came due again a reconcile's
          // length after the next boundary (up to a second, waiting on the store), spread out:
          // a rotation's readers that were not due yet when the new value was read could not be
          // promoted, and waited behind the routine refreshes.
          const started = clock.now();
          const result = await this.options.dispatch(key, item.priority);
          if (logger.isDebugEnabled()) logger.debug('reconciled', { key });
          if (result.requeueAfterMs !== undefined) dueAt = started + Math.max(0, result.requeueAfterMs);
          if (result.followUp) {
            // The reconcile's main write is done; its bookkeeping waits for the urgent work to drain.
            this.followUps.set(key, { run: result.followUp, dueAt });
            queue.defer(key, item.priority);
            deferred = true;
            continue;
          }
        }
        queue.forget(key);
        if (dueAt !== undefined) queue.addAfter(key, Math.max(0, dueAt - clock.now()), 'low');
      } catch (error) {
        const delay = queue.addRateLimited(key, {
          atLeastMs: error instanceof RetryLater ? error.atLeastMs : undefined,
        });
        const atMost = error instanceof RetryLater ? error.atMostMs : undefined;
        if (atMost !== undefined && atMost < delay) queue.addAfter(key, Math.max(0, atMost), 'low');
        if (!(error instanceof RetryLater)) {
          logger.error('reconcile failed unexpectedly', {
            key,
            error: (error as Error)?.name,
            delayMs: delay,
          });
        }
      } finally {
        if (!deferred) queue.done(key);
      }
    }
  }
}

import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'winston';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { KubeHttp } from '../runtime/http.ts';

export type EventType = 'Normal' | 'Warning';

/** The object an Event is about. */
export interface EventSubject {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  uid: string;
}

export interface EventRecorder {
  /** Records an Event. `message` must never contain a secret value. */
  emit(subject: EventSubject, type: EventType, reason: string, message: string): void;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  at: number;
}

/** An Event waiting for its turn to be written, stamped with the time it happened. */
interface PendingEvent {
  subject: EventSubject;
  type: EventType;
  reason: string;
  message: string;
  at: number;
}

/**
 * Writes core/v1 Events (what `kubectl describe` and `kubectl get events` show). Like
 * client-go's correlator, a repeat of the same Event within `windowMs` bumps the count of
 * the existing one instead of creating another. Writing is fire-and-forget: an Event that
 * cannot be written is logged, never allowed to fail a reconcile.
 *
 * Like client-go's broadcaster, Events go out from a bounded queue a few at a time, stamped
 * with the time they happened: a burst (10,000 first syncs) must not put thousands of Event
 * writes on the API server alongside the Secret writes pods are waiting for. A queue that is
 * full drops new Events and says so in the log.
 *
 * With `holdWhile`, Events also wait while it says urgent work is queued (first syncs, a
 * rotation): the writes pods wait for go first, and the Events follow once it is over. The
 * hold is bounded twice: at most half the queue is held, and an Event held for `maxHoldMs`
 * goes out anyway, so a cluster that never stops creating bindings still sees its Events, a
 * minute late at most. Each keeps the time it happened.
 */
export class KubeEventRecorder implements EventRecorder {
  private readonly http: Pick<KubeHttp, 'request'>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly component: string;
  private readonly instance: string;
  private readonly windowMs: number;
  private readonly maxInFlight: number;
  private readonly maxPending: number;
  private readonly seen = new Map<string, Seen>();
  private pending: PendingEvent[] = [];
  private inFlight = 0;
  private dropped = 0;
  private prunedAt = -Infinity;
  private idleWaiters: (() => void)[] = [];
  private readonly holdWhile?: () => boolean;
  private readonly maxHoldMs: number;
  private holdTimer: TimerHandle | undefined;

  constructor(options: {
    http: Pick<KubeHttp, 'request'>;
    clock: Clock;
    logger: Logger;
    instance: string;
    windowMs?: number;
    /** Event writes at once. Default 2. */
    maxInFlight?: number;
    /** Events waiting to be written before new ones are dropped. Default 4,096; 16,384 with `holdWhile`. */
    maxPending?: number;
    /**
     * Whether urgent work waits (the work queue's high and medium keys): Events are held
     * meanwhile, until half of `maxPending` are waiting. Re-checked every 200 ms.
     */
    holdWhile?: () => boolean;
    /** How long an Event may be held. Default 60 s. */
    maxHoldMs?: number;
  }) {
    this.http = options.http;
    this.clock = options.clock;
    this.logger = options.logger;
    this.component = 'mlsecrets';
    this.instance = options.instance;
    this.windowMs = options.windowMs ?? 10 * 60_000;
    this.maxInFlight = options.maxInFlight ?? 2;
    this.holdWhile = options.holdWhile;
    // Held Events are ~350 bytes each (the subject's strings are the cached binding's): the
    // 8,192 that may be held cost ~3 MB.
    this.maxPending = options.maxPending ?? (options.holdWhile ? 16_384 : 4096);
    this.maxHoldMs = options.maxHoldMs ?? 60_000;
  }

  emit(subject: EventSubject, type: EventType, reason: string, message: string): void {
    if (this.pending.length >= this.maxPending) {
      if (this.dropped++ === 0)
        this.logger.warn('event queue full: dropping events until it drains', {
          reason,
          object: `${subject.kind}/${subject.name}`,
        });
      return;
    }
    this.pending.push({ subject, type, reason, message, at: this.clock.now() });
    this.pump();
  }

  /** Resolves once every queued Event has been written or has failed (tests, shutdown). */
  idle(): Promise<void> {
    if (this.pending.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Whether to hold the queued Events back for now (and look again shortly). */
  private holding(): boolean {
    const oldest = this.pending[0];
    if (!this.holdWhile || oldest === undefined || this.pending.length >= this.maxPending / 2) return false;
    if (this.clock.now() - oldest.at >= this.maxHoldMs) return false;
    if (!this.holdWhile()) return false;
    this.holdTimer ??= this.clock.setTimer(() => {
      this.holdTimer = undefined;
      this.pump();
    }, 200);
    return true;
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.pending.length > 0 && !this.holding()) {
      const event = this.pending.shift()!;
      this.inFlight++;
      void this.write(event)
        .catch((error: unknown) =>
          this.logger.warn('could not record event', {
            reason: event.reason,
            object: `${event.subject.kind}/${event.subject.name}`,
            error: String(error),
          }),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
    if (this.pending.length === 0 && this.inFlight === 0) {
      if (this.dropped > 0) {
        this.logger.warn('event queue drained', { dropped: this.dropped });
        this.dropped = 0;
      }
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async write({ subject, type, reason, message, at: now }: PendingEvent): Promise<void> {
    const timestamp = new Date(now).toISOString();
    // Events of cluster-scoped objects live in "default", as kubectl and client-go put them.
    const namespace = subject.namespace ?? 'default';
    // A digest, not the text: 10,000 first syncs leave 10,000 entries here for the window.
    const key = createHash('sha256')
      .update([subject.uid, type, reason, message].join('\u0000'))
      .digest('base64');
    const previous = this.seen.get(key);
    this.prune(now);
    if (previous && now - previous.at < this.windowMs) {
      previous.count++;
      previous.at = now;
      await this.http.request('PATCH', `/api/v1/namespaces/${namespace}/events/${previous.name}`, {
        body: { count: previous.count, lastTimestamp: timestamp },
        contentType: 'application/merge-patch+json',
        discardResponse: true,
      });
      return;
    }
    const name = `${subject.name}.${now.toString(16)}${randomBytes(2).toString('hex')}`;
    await this.http.request('POST', `/api/v1/namespaces/${namespace}/events`, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: subject.apiVersion,
          kind: subject.kind,
          namespace: subject.namespace,
          name: subject.name,
          uid: subject.uid,
        },
        type,
        reason,
        message,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.instance,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        count: 1,
      },
      discardResponse: true,
    });
    this.seen.set(key, { name, namespace, count: 1, at: now });
  }

  /**
   * Forgets Events older than the window: once 10,000 are remembered, and then at most once a
   * minute (a scan of all of them per Event was quadratic in a burst).
   */
  private prune(now: number): void {
    if (this.seen.size < 10_000 || now - this.prunedAt < 60_000) return;
    this.prunedAt = now;
    for (const [key, entry] of this.seen) if (now - entry.at >= this.windowMs) this.seen.delete(key);
  }
}

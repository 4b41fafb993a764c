import { randomBytes } from 'node:crypto';
import type { Logger } from 'winston';
import type { Clock } from '../controller/clock.ts';
import type { KubeHttp } from './http.ts';

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
  firstTimestamp: string;
  at: number;
}

/**
 * Writes core/v1 Events (what `kubectl describe` and `kubectl get events` show). Like
 * client-go's correlator, a repeat of the same Event within `windowMs` bumps the count of
 * the existing one instead of creating another. Writing is fire-and-forget: an Event that
 * cannot be written is logged, never allowed to fail a reconcile.
 */
export class KubeEventRecorder implements EventRecorder {
  private readonly http: KubeHttp;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly component: string;
  private readonly instance: string;
  private readonly windowMs: number;
  private readonly seen = new Map<string, Seen>();

  constructor(options: {
    http: KubeHttp;
    clock: Clock;
    logger: Logger;
    instance: string;
    windowMs?: number;
  }) {
    this.http = options.http;
    this.clock = options.clock;
    this.logger = options.logger;
    this.component = 'mlsecrets';
    this.instance = options.instance;
    this.windowMs = options.windowMs ?? 10 * 60_000;
  }

  emit(subject: EventSubject, type: EventType, reason: string, message: string): void {
    void this.write(subject, type, reason, message).catch((error: unknown) =>
      this.logger.warn('could not record event', {
        reason,
        object: `${subject.kind}/${subject.name}`,
        error: String(error),
      }),
    );
  }

  private async write(
    subject: EventSubject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const now = this.clock.now();
    const timestamp = new Date(now).toISOString();
    // Events of cluster-scoped objects live in "default", as kubectl and client-go put them.
    const namespace = subject.namespace ?? 'default';
    const key = [subject.uid, type, reason, message].join('\u0000');
    const previous = this.seen.get(key);
    this.prune(now);
    if (previous && now - previous.at < this.windowMs) {
      previous.count++;
      previous.at = now;
      await this.http.request('PATCH', `/api/v1/namespaces/${namespace}/events/${previous.name}`, {
        body: { count: previous.count, lastTimestamp: timestamp },
        contentType: 'application/merge-patch+json',
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
    });
    this.seen.set(key, { name, namespace, count: 1, firstTimestamp: timestamp, at: now });
  }

  private prune(now: number): void {
    if (this.seen.size < 10_000) return;
    for (const [key, entry] of this.seen) if (now - entry.at >= this.windowMs) this.seen.delete(key);
  }
}

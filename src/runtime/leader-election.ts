// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics. Defaults are
// a little tighter than client-go's (lease 10 s, renew deadline 7 s, retry 2 s) so that a
// crashed leader is replaced within 15 s. client-node has no helper for it.
import type { Logger } from 'winston';
import { isConflict, isNotFound, type KubeHttp, type RequestOptions } from './http.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  http: KubeHttp;
  logger: Logger;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Renewal timers, the renew deadline and Lease call timeouts (default: the system clock). */
  clock?: Clock;
  onStartedLeading: () => void;
  /** Called at once when leadership is lost: the caller must stop writing. */
  onStoppedLeading: () => void;
}

/**
 * Another candidate's lease is judged by when *we* last saw it change, never by the
 * renewTime it carries: the clocks of two replicas need not agree (client-go does the same).
 * A leader that cannot renew within renewDeadline steps down before its lease can expire, so
 * two replicas never write at once. Stepping down must not wait for the renewal that failed:
 * a hung request, or a process that was paused (SIGSTOP, a frozen VM, a long GC) and wakes up
 * with its timers all due at once, would otherwise let queued work write first. So writers ask
 * `leaseValidUntil()`, the last renewal plus renewDeadline by the local clock, before every
 * write, and abort a write not completed by then.
 */
export class LeaderElector {
  private readonly options: Required<LeaderElectionOptions>;
  private observed?: { record: string; at: number; durationMs: number };
  /** The last Lease read was held by another replica. */
  private otherHolds = false;
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  private timer?: TimerHandle;
  private deadlineTimer?: TimerHandle;

  constructor(options: LeaderElectionOptions) {
    this.options = {
      ...options,
      leaseDurationMs: options.leaseDurationMs ?? 10_000,
      renewDeadlineMs: options.renewDeadlineMs ?? 7_000,
      retryPeriodMs: options.retryPeriodMs ?? 2_000,
      clock: options.clock ?? systemClock,
    };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Whether this replica may write now: it leads and renewed the Lease less than renewDeadline
   * ago by its own clock. False from the moment the deadline passes, even before the renewal
   * loop notices (its timer may not have run yet).
   */
  holdsLease(now = this.options.clock.now()): boolean {
    return now < this.leaseValidUntil();
  }

  /** Until when (epoch ms, local clock) this replica may write: the last renewal plus renewDeadline. */
  leaseValidUntil(): number {
    return this.leading && !this.stopped ? this.lastRenew + this.options.renewDeadlineMs : -Infinity;
  }

  start(): void {
    void this.tick();
  }

  /**
   * Stops; a leader releases the lease so a successor need not wait for it to expire.
   * `release: false` stops as a crash would (tests of failover).
   */
  async stop({ release = true } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.clock.clearTimer(this.timer);
    if (this.deadlineTimer) this.options.clock.clearTimer(this.deadlineTimer);
    if (this.leading && !release) {
      this.leading = false;
      return;
    }
    if (this.leading) {
      this.leading = false;
      await this.release().catch(() => undefined);
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const now = this.options.clock.now();
    let acquired = false;
    try {
      acquired = await this.tryAcquireOrRenew(now);
    } catch (error) {
      this.options.logger.debug('leader election attempt failed', { error: (error as Error)?.message });
    }
    if (this.stopped) return;
    if (acquired) {
      this.lastRenew = now;
      if (!this.leading) {
        this.leading = true;
        this.options.logger.info('became leader', {
          lease: `${this.options.namespace}/${this.options.name}`,
        });
        this.options.onStartedLeading();
      }
      // Step down at the deadline even if the next renewal hangs.
      if (this.deadlineTimer) this.options.clock.clearTimer(this.deadlineTimer);
      this.deadlineTimer = this.options.clock.setTimer(
        () => this.checkDeadline(),
        this.options.renewDeadlineMs + 1,
      );
    } else {
      this.checkDeadline();
    }
    // (The system clock's timers are unref'd: a pending renewal never keeps the process alive.)
    this.timer = this.options.clock.setTimer(() => void this.tick(), this.nextAttemptInMs());
  }

  /**
   * The retry period; but a follower watching another's Lease comes back right when that
   * Lease would expire if it sees no renewal meanwhile, instead of up to a retry period later
   * (a crashed leader is then replaced one retry period sooner).
   */
  private nextAttemptInMs(): number {
    const { retryPeriodMs } = this.options;
    if (this.leading || !this.observed || !this.otherHolds) return retryPeriodMs;
    const expiresIn = this.observed.at + this.observed.durationMs + 1 - this.options.clock.now();
    return Math.max(10, Math.min(retryPeriodMs, expiresIn));
  }

  /** A leader past its renew deadline steps down (once). */
  private checkDeadline(): void {
    if (!this.leading || this.stopped || this.holdsLease()) return;
    this.leading = false;
    if (this.deadlineTimer) this.options.clock.clearTimer(this.deadlineTimer);
    this.options.logger.warn('lost leadership', {
      lease: `${this.options.namespace}/${this.options.name}`,
      sinceRenewalMs: this.options.clock.now() - this.lastRenew,
    });
    this.options.onStoppedLeading();
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases`;
  }

  private async tryAcquireOrRenew(now: number): Promise<boolean> {
    const { identity, leaseDurationMs } = this.options;
    const stamp = new Date(now).toISOString().replace('Z', '000Z'); // MicroTime
    let lease: Lease;
    try {
      lease = await this.bounded<Lease>('GET', `${this.path}/${this.options.name}`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await this.bounded('POST', this.path, {
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.options.name, namespace: this.options.namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: 0,
          },
        },
      });
      return true;
    }
    const record = JSON.stringify(lease.spec);
    const durationMs = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
    if (this.observed?.record !== record) this.observed = { record, at: now, durationMs };
    const holder = lease.spec.holderIdentity;
    const heldByOther = Boolean(holder && holder !== identity);
    this.otherHolds = heldByOther;
    const expired = now > this.observed.at + durationMs;
    if (heldByOther && !expired) return false;
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: holder === identity ? lease.spec.acquireTime : stamp,
      renewTime: stamp,
      leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
    };
    try {
      await this.bounded('PUT', `${this.path}/${this.options.name}`, {
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec },
      });
    } catch (error) {
      if (isConflict(error)) return false; // someone else wrote first
      throw error;
    }
    return true;
  }

  /**
   * A Lease call that never outlives the renew deadline (client-go bounds its renewals the same
   * way): aborted as AbortSignal.timeout would, but on our clock.
   */
  private async bounded<T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const controller = new AbortController();
    const timer = this.options.clock.setTimer(
      () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
      this.options.renewDeadlineMs,
    );
    try {
      return await this.options.http.request<T>(method, path, { ...options, signal: controller.signal });
    } finally {
      this.options.clock.clearTimer(timer);
    }
  }

  private async release(): Promise<void> {
    const lease = await this.options.http.request<Lease>('GET', `${this.path}/${this.options.name}`);
    if (lease.spec.holderIdentity !== this.options.identity) return;
    await this.options.http.request('PUT', `${this.path}/${this.options.name}`, {
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: lease.metadata,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 },
      },
    });
  }
}

// Sharding across replicas (--shards=auto, docs/decisions/0005-sharding.md): every replica
// holds a Lease of its own, lists its peers' Leases, and places work keys on a consistent-hash
// ring of the live members, so each binding has exactly one owner and a change of membership
// moves about 1/n of them.
import { createHash } from 'node:crypto';
import type { Logger } from 'winston';
import { isConflict, isNotFound, type KubeHttp } from './http.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';

/** The label on every member Lease; the value is always "true". */
export const SHARD_MEMBER_LABEL = 'mlsecrets.io/shard-member';
/** Member Leases are named `<prefix><instance>` (the instance made DNS-safe). */
export const SHARD_LEASE_PREFIX = 'mlsecrets-shard-';

/** A stable 32-bit hash (the first four bytes of SHA-256): the same on every replica and Node. */
export function hash32(value: string): number {
  return createHash('sha256').update(value).digest().readUInt32BE(0);
}

/**
 * A consistent-hash ring with virtual nodes: each member is placed at `vnodes` points; a key
 * belongs to the member at the first point at or after the key's hash (wrapping around).
 */
export class HashRing {
  readonly members: readonly string[];
  private readonly points: Uint32Array;
  private readonly owners: string[];

  constructor(members: Iterable<string>, vnodes = 256) {
    this.members = [...new Set(members)].sort();
    const placed: { point: number; member: string }[] = [];
    for (const member of this.members) {
      for (let i = 0; i < vnodes; i++) placed.push({ point: hash32(`${member}#${i}`), member });
    }
    // Ties (vanishingly rare) are broken by member name, so every replica builds the same ring.
    placed.sort((a, b) => a.point - b.point || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
    this.points = Uint32Array.from(placed.map((p) => p.point));
    this.owners = placed.map((p) => p.member);
  }

  /** The member that owns `key`; undefined on an empty ring. */
  ownerOf(key: string): string | undefined {
    if (this.owners.length === 0) return undefined;
    const h = hash32(key);
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === this.points.length ? 0 : lo];
  }

  /** Same members, same ring. */
  sameAs(other: HashRing | undefined): boolean {
    return (
      !!other &&
      other.members.length === this.members.length &&
      other.members.every((m, i) => m === this.members[i])
    );
  }
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
  };
}

export interface ShardMembershipOptions {
  http: KubeHttp;
  logger: Logger;
  namespace: string;
  /** This replica's identity (the Lease's holderIdentity). */
  identity: string;
  /** How long a member's Lease stays valid without renewal (default 15 s). */
  leaseDurationMs?: number;
  /** Renew and list this often (default a fifth of the lease duration). */
  retryPeriodMs?: number;
  /** Stop owning anything when our own renewal is older than this (default 2/3 of the lease). */
  renewDeadlineMs?: number;
  /**
   * How long a (re)joining member waits before it takes work, so every peer has seen its Lease
   * and dropped the keys that move to it (default: one lease duration).
   */
  joinDelayMs?: number;
  vnodes?: number;
  /** Lease validity, the join delay and the renewal timer (default: the system clock). */
  clock?: Clock;
  /** Called whenever what this replica owns may have changed (ring or own eligibility). */
  onChange: (state: ShardState) => void;
}

/** What a replica knows at one moment: the ring of live members and whether it may take work. */
export interface ShardState {
  ring: HashRing;
  /** False while joining, or when the own Lease could not be renewed in time. */
  active: boolean;
  identity: string;
}

/**
 * Keeps this replica's member Lease and the view of live members. A peer's Lease counts as
 * expired when it has not *changed* for its leaseDurationSeconds by our clock (as client-go's
 * leader election judges: replicas' clocks need not agree); a stopped replica deletes its
 * Lease so peers take over at once.
 */
export class ShardMembership {
  private readonly options: Required<ShardMembershipOptions>;
  private readonly observed = new Map<string, { record: string; at: number }>();
  private timer?: TimerHandle;
  private stopped = false;
  private lastRenew = 0;
  /** When our Lease became valid after a time without one: the join delay runs from here. */
  private joinedAt?: number;
  private current?: ShardState;
  /** Our Lease as last written (its resourceVersion makes the next renewal one PUT). */
  private own?: Lease;

  constructor(options: ShardMembershipOptions) {
    const leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.options = {
      ...options,
      leaseDurationMs,
      retryPeriodMs: options.retryPeriodMs ?? Math.max(100, Math.round(leaseDurationMs / 5)),
      renewDeadlineMs: options.renewDeadlineMs ?? Math.round((leaseDurationMs * 2) / 3),
      joinDelayMs: options.joinDelayMs ?? leaseDurationMs,
      vnodes: options.vnodes ?? 256,
      clock: options.clock ?? systemClock,
    };
  }

  get leaseName(): string {
    return shardLeaseName(this.options.identity);
  }

  get state(): ShardState | undefined {
    return this.current;
  }

  /**
   * Whether our own Lease was renewed within the renew deadline *now*: checked before each
   * reconcile, so a replica whose event loop or network stalled stops writing before its peers
   * can see its Lease expire, even if the tick that would notice has not run yet.
   */
  renewedInTime(): boolean {
    return this.lastRenew > 0 && this.options.clock.now() - this.lastRenew <= this.options.renewDeadlineMs;
  }

  /** Renews at once, then every retry period. */
  async start(): Promise<void> {
    await this.tick();
  }

  /** Stops renewing; `release` deletes the own Lease (a crash leaves it to expire). */
  async stop({ release = true } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.clock.clearTimer(this.timer);
    if (!release) return;
    await this.options.http.request('DELETE', `${this.path}/${this.leaseName}`).catch((error: unknown) => {
      if (!isNotFound(error))
        this.options.logger.debug('shard lease release failed', { error: (error as Error)?.message });
    });
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases`;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      // Validity counts from before the request: a slow write cannot stretch our lease.
      const now = this.options.clock.now();
      await this.renew();
      // Without a renewal for a whole lease, peers may have dropped us and taken our keys: we
      // join again as a new member would.
      if (this.joinedAt === undefined || now - this.lastRenew > this.options.leaseDurationMs) {
        this.joinedAt = now;
      }
      this.lastRenew = now;
    } catch (error) {
      this.options.logger.warn('shard lease renewal failed', { error: (error as Error)?.message });
    }
    try {
      await this.refresh();
    } catch (error) {
      this.options.logger.debug('shard member list failed', { error: (error as Error)?.message });
      this.publish(this.current?.ring ?? new HashRing([], this.options.vnodes));
    }
    if (this.stopped) return;
    // (The system clock's timers are unref'd: a pending renewal never keeps the process alive.)
    this.timer = this.options.clock.setTimer(() => void this.tick(), this.options.retryPeriodMs);
  }

  /**
   * One PUT on the Lease we wrote last (its resourceVersion); a GET (and a POST when absent)
   * only when that fails, so a renewal is one round trip on a busy apiserver.
   */
  private async renew(): Promise<void> {
    const stamp = new Date(this.options.clock.now()).toISOString().replace('Z', '000Z'); // MicroTime
    const spec = {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.options.leaseDurationMs / 1000)),
      renewTime: stamp,
    };
    if (this.own) {
      try {
        this.own = await this.put(this.own, spec, stamp);
        return;
      } catch (error) {
        this.own = undefined;
        if (!isConflict(error) && !isNotFound(error)) throw error;
      }
    }
    // Stopped meanwhile: the Lease was deleted on purpose and must not come back.
    if (this.stopped) return;
    let lease: Lease | undefined;
    try {
      lease = await this.options.http.request<Lease>('GET', `${this.path}/${this.leaseName}`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (lease) {
      this.own = await this.put(lease, spec, stamp);
      return;
    }
    this.own = await this.options.http.request<Lease>('POST', this.path, {
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: this.leaseName,
          namespace: this.options.namespace,
          labels: { [SHARD_MEMBER_LABEL]: 'true' },
        },
        spec: { ...spec, acquireTime: stamp },
      },
    });
  }

  private put(lease: Lease, spec: Lease['spec'], stamp: string): Promise<Lease> {
    return this.options.http.request<Lease>('PUT', `${this.path}/${this.leaseName}`, {
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          ...lease.metadata,
          labels: { ...lease.metadata.labels, [SHARD_MEMBER_LABEL]: 'true' },
        },
        spec: { ...lease.spec, ...spec, acquireTime: lease.spec.acquireTime ?? stamp },
      },
    });
  }

  private async refresh(): Promise<void> {
    const list = await this.options.http.request<{ items: Lease[] }>('GET', this.path, {
      query: { labelSelector: `${SHARD_MEMBER_LABEL}=true` },
    });
    const now = this.options.clock.now();
    const live = new Set<string>();
    const seen = new Set<string>();
    for (const lease of list.items) {
      const holder = lease.spec.holderIdentity;
      if (!holder) continue;
      seen.add(lease.metadata.name);
      const record = JSON.stringify(lease.spec);
      const before = this.observed.get(lease.metadata.name);
      if (before?.record !== record) this.observed.set(lease.metadata.name, { record, at: now });
      const at = this.observed.get(lease.metadata.name)!.at;
      if (now <= at + (lease.spec.leaseDurationSeconds ?? 15) * 1000) live.add(holder);
    }
    for (const name of this.observed.keys()) if (!seen.has(name)) this.observed.delete(name);
    // Our own Lease counts only while we renew it in time.
    if (now - this.lastRenew <= this.options.renewDeadlineMs) live.add(this.options.identity);
    else live.delete(this.options.identity);
    this.publish(new HashRing(live, this.options.vnodes));
  }

  private publish(ring: HashRing): void {
    const now = this.options.clock.now();
    const renewed = this.lastRenew > 0 && now - this.lastRenew <= this.options.renewDeadlineMs;
    const active =
      renewed &&
      this.joinedAt !== undefined &&
      now - this.joinedAt >= this.options.joinDelayMs &&
      ring.members.includes(this.options.identity);
    const before = this.current;
    if (before && before.active === active && ring.sameAs(before.ring)) return;
    this.current = { ring, active, identity: this.options.identity };
    this.options.logger.info('shard membership changed', {
      members: ring.members,
      active,
      identity: this.options.identity,
    });
    this.options.onChange(this.current);
  }
}

/** `mlsecrets-shard-<instance>`, lower-cased and cut to a valid object name. */
export function shardLeaseName(identity: string): string {
  const safe = identity
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  const name = `${SHARD_LEASE_PREFIX}${safe || 'replica'}`;
  return name.length <= 253 ? name : `${name.slice(0, 240)}-${hash32(identity).toString(16)}`;
}

/** Whether this replica should reconcile `key` (namespace/name or a store's key) now. */
export function owns(state: ShardState | undefined, key: string): boolean {
  return !!state?.active && state.ring.ownerOf(key) === state.identity;
}

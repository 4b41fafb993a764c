import winston from 'winston';
import { ManualClock } from '../../../src/runtime/clock.ts';
import { KubeApiError, type KubeHttp } from '../../../src/runtime/http.ts';
import {
  HashRing,
  SHARD_MEMBER_LABEL,
  ShardMembership,
  hash32,
  owns,
  shardLeaseName,
  type ShardState,
} from '../../../src/runtime/sharding.ts';

const keys = Array.from({ length: 10_000 }, (_, i) => `ns-${i % 7}/binding-${i}`);

function counts(ring: HashRing): Map<string, number> {
  const result = new Map<string, number>();
  for (const key of keys) {
    const owner = ring.ownerOf(key)!;
    result.set(owner, (result.get(owner) ?? 0) + 1);
  }
  return result;
}

describe('HashRing', () => {
  test('the hash is stable (same input, same number, on every replica)', () => {
    expect(hash32('ml/train')).toBe(hash32('ml/train'));
    expect(hash32('ml/train')).not.toBe(hash32('ml/train2'));
    expect(hash32('')).toBe(0xe3b0c442); // SHA-256 of nothing starts e3b0c442
  });

  test('an empty ring owns nothing; a ring of one owns everything', () => {
    expect(new HashRing([]).ownerOf('a/b')).toBeUndefined();
    expect(new Set(keys.map((k) => new HashRing(['only']).ownerOf(k)))).toEqual(new Set(['only']));
  });

  test('every replica builds the same ring whatever the order of members', () => {
    const a = new HashRing(['r-1', 'r-2', 'r-3']);
    const b = new HashRing(['r-3', 'r-1', 'r-2', 'r-1']);
    expect(b.sameAs(a)).toBe(true);
    expect(keys.every((k) => a.ownerOf(k) === b.ownerOf(k))).toBe(true);
  });

  test.each([2, 3, 5, 10])('%i members share 10,000 keys within 20%% of an even split', (n) => {
    const members = Array.from({ length: n }, (_, i) => `mlsecrets-${i}`);
    const shares = counts(new HashRing(members));
    expect([...shares.keys()].sort()).toEqual(members);
    for (const share of shares.values()) {
      expect(share).toBeGreaterThan((keys.length / n) * 0.8);
      expect(share).toBeLessThan((keys.length / n) * 1.2);
    }
  });

  test.each([1, 2, 3, 5, 9])('adding a member to %i moves about 1/(n+1) of the keys, all to it', (n) => {
    const members = Array.from({ length: n }, (_, i) => `pod-${i}`);
    const before = new HashRing(members);
    const after = new HashRing([...members, 'pod-new']);
    const moved = keys.filter((k) => before.ownerOf(k) !== after.ownerOf(k));
    expect(moved.every((k) => after.ownerOf(k) === 'pod-new')).toBe(true);
    const fraction = moved.length / keys.length;
    expect(fraction).toBeGreaterThan((1 / (n + 1)) * 0.75);
    expect(fraction).toBeLessThan((1 / (n + 1)) * 1.25);
  });

  test('removing a member moves only its keys', () => {
    const before = new HashRing(['a', 'b', 'c', 'd']);
    const after = new HashRing(['a', 'b', 'd']);
    for (const key of keys) {
      if (before.ownerOf(key) !== 'c') expect(after.ownerOf(key)).toBe(before.ownerOf(key));
      else expect(after.ownerOf(key)).not.toBe('c');
    }
  });

  test('owns(): only an active member owns, and only its own keys', () => {
    const ring = new HashRing(['a', 'b']);
    const key = keys.find((k) => ring.ownerOf(k) === 'a')!;
    const state: ShardState = { ring, active: true, identity: 'a' };
    expect(owns(state, key)).toBe(true);
    expect(owns({ ...state, identity: 'b' }, key)).toBe(false);
    expect(owns({ ...state, active: false }, key)).toBe(false);
    expect(owns(undefined, key)).toBe(false);
  });
});

describe('shardLeaseName', () => {
  test('a DNS-safe name per instance', () => {
    expect(shardLeaseName('mlsecrets-7d9f-abc')).toBe('mlsecrets-shard-mlsecrets-7d9f-abc');
    expect(shardLeaseName('Node_1:x')).toBe('mlsecrets-shard-node-1-x');
    expect(shardLeaseName('x'.repeat(300)).length).toBeLessThanOrEqual(253);
  });
});

/** Leases in memory, answering the few calls ShardMembership makes, with resourceVersions. */
class FakeLeases {
  readonly leases = new Map<string, { metadata: Record<string, unknown>; spec: Record<string, unknown> }>();
  private version = 0;
  failing = false;
  readonly calls: string[] = [];

  http(): KubeHttp {
    const request = async (
      method: string,
      path: string,
      options: { query?: Record<string, unknown>; body?: unknown } = {},
    ) => {
      const name = /\/leases\/([^/]+)$/.exec(path)?.[1];
      const body = options.body as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
      this.calls.push(`${method} ${name ?? (body?.metadata.name as string | undefined) ?? 'list'}`);
      if (this.failing) throw new KubeApiError(503, 'ServiceUnavailable', 'unavailable');
      if (method === 'GET' && !name) {
        expect(options.query?.labelSelector).toBe(`${SHARD_MEMBER_LABEL}=true`);
        return { items: [...this.leases.values()].map((l) => structuredClone(l)) };
      }
      if (method === 'GET') {
        const lease = this.leases.get(name!);
        if (!lease) throw new KubeApiError(404, 'NotFound', 'not found');
        return structuredClone(lease);
      }
      if (method === 'POST') {
        const key = body.metadata.name as string;
        if (this.leases.has(key)) throw new KubeApiError(409, 'AlreadyExists', 'exists');
        this.leases.set(key, {
          metadata: { ...body.metadata, resourceVersion: String(++this.version) },
          spec: body.spec,
        });
        return structuredClone(this.leases.get(key));
      }
      if (method === 'PUT') {
        const current = this.leases.get(name!);
        if (!current) throw new KubeApiError(404, 'NotFound', 'not found');
        if (current.metadata.resourceVersion !== body.metadata.resourceVersion)
          throw new KubeApiError(409, 'Conflict', 'conflict');
        this.leases.set(name!, {
          metadata: { ...body.metadata, resourceVersion: String(++this.version) },
          spec: body.spec,
        });
        return structuredClone(this.leases.get(name!));
      }
      if (method === 'DELETE') {
        if (!this.leases.delete(name!)) throw new KubeApiError(404, 'NotFound', 'not found');
        return {};
      }
      throw new Error(`unexpected ${method} ${path}`);
    };
    return { request } as unknown as KubeHttp;
  }

  /** A peer's lease as another replica would write it. */
  put(identity: string, renewTime: string, leaseDurationSeconds = 10): void {
    this.leases.set(shardLeaseName(identity), {
      metadata: {
        name: shardLeaseName(identity),
        resourceVersion: String(++this.version),
        labels: { [SHARD_MEMBER_LABEL]: 'true' },
      },
      spec: { holderIdentity: identity, leaseDurationSeconds, renewTime },
    });
  }
}

describe('ShardMembership', () => {
  const logger = winston.createLogger({ silent: true });
  let clock: ManualClock;
  beforeEach(() => {
    clock = new ManualClock();
  });
  const members: ShardMembership[] = [];
  afterEach(async () => {
    for (const m of members.splice(0)) await m.stop({ release: false });
  });

  function member(fake: FakeLeases, identity: string, states: ShardState[]): ShardMembership {
    const m = new ShardMembership({
      http: fake.http(),
      logger,
      namespace: 'ops',
      identity,
      leaseDurationMs: 10_000,
      retryPeriodMs: 60_000, // ticks are driven by hand below
      clock,
      onChange: (s) => states.push(s),
    });
    members.push(m);
    return m;
  }
  const tick = (m: ShardMembership) => (m as unknown as { tick(): Promise<void> }).tick();

  test('creates its own labelled Lease, and takes work only after the join delay', async () => {
    const fake = new FakeLeases();
    const states: ShardState[] = [];
    const m = member(fake, 'a', states);
    await m.start();
    const lease = fake.leases.get('mlsecrets-shard-a')!;
    expect(lease.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 10 });
    expect((lease.metadata.labels as Record<string, string>)[SHARD_MEMBER_LABEL]).toBe('true');
    expect(states.at(-1)).toMatchObject({ active: false });
    expect(states.at(-1)!.ring.members).toEqual(['a']);
    clock.advance(9_000);
    await tick(m);
    expect(m.state!.active).toBe(false);
    clock.advance(1_000);
    await tick(m);
    expect(m.state!.active).toBe(true);
  });

  test('a peer counts while its Lease changes, and is gone one lease duration after it stops', async () => {
    const fake = new FakeLeases();
    const states: ShardState[] = [];
    const m = member(fake, 'a', states);
    fake.put('b', 'T1');
    await m.start();
    expect(m.state!.ring.members).toEqual(['a', 'b']);
    clock.advance(6_000);
    fake.put('b', 'T2'); // b renews
    await tick(m);
    clock.advance(6_000); // 12 s since b was first seen, 6 s since it renewed
    await tick(m);
    expect(m.state!.ring.members).toEqual(['a', 'b']);
    clock.advance(4_500); // b silent for 10.5 s: expired
    await tick(m);
    expect(m.state!.ring.members).toEqual(['a']);
    fake.put('b', 'T3'); // b comes back
    await tick(m);
    expect(m.state!.ring.members).toEqual(['a', 'b']);
    fake.leases.delete(shardLeaseName('b')); // b stopped and released its Lease
    await tick(m);
    expect(m.state!.ring.members).toEqual(['a']);
  });

  test('a replica that cannot renew in time stops owning anything, and rejoins after the delay', async () => {
    const fake = new FakeLeases();
    const m = member(fake, 'a', []);
    await m.start();
    clock.advance(10_000);
    await tick(m);
    expect(m.state!.active).toBe(true);
    fake.failing = true;
    clock.advance(7_000); // past the renew deadline (2/3 of 10 s)
    await tick(m);
    expect(m.state!.active).toBe(false);
    clock.advance(5_000); // 12 s without renewal: peers have seen our Lease expire
    await tick(m);
    expect(m.state!.active).toBe(false);
    fake.failing = false;
    clock.advance(1_000);
    await tick(m);
    expect(m.state!.active).toBe(false); // joining again
    clock.advance(10_000);
    await tick(m);
    expect(m.state!.active).toBe(true);
  });

  test('a renewal is one PUT; a Lease deleted behind our back is created again', async () => {
    const fake = new FakeLeases();
    const m = member(fake, 'a', []);
    await m.start();
    fake.calls.length = 0;
    await tick(m);
    expect(fake.calls).toEqual(['PUT mlsecrets-shard-a', 'GET list']);
    fake.leases.delete('mlsecrets-shard-a');
    fake.calls.length = 0;
    await tick(m);
    expect(fake.calls).toEqual([
      'PUT mlsecrets-shard-a',
      'GET mlsecrets-shard-a',
      'POST mlsecrets-shard-a',
      'GET list',
    ]);
    expect(fake.leases.get('mlsecrets-shard-a')!.spec.holderIdentity).toBe('a');
  });

  test('renews on its clock, every retry period, and not once stopped', async () => {
    const settle = async () => {
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    const fake = new FakeLeases();
    const m = member(fake, 'a', []);
    await m.start();
    fake.calls.length = 0;
    clock.advance(59_999);
    await settle();
    expect(fake.calls).toEqual([]);
    clock.advance(1);
    await settle();
    expect(fake.calls).toEqual(['PUT mlsecrets-shard-a', 'GET list']);
    await m.stop({ release: false });
    fake.calls.length = 0;
    clock.advance(120_000);
    await settle();
    expect(fake.calls).toEqual([]);
    expect(clock.pending()).toBe(0);
  });

  test('stop() deletes the own Lease so peers take over at once', async () => {
    const fake = new FakeLeases();
    const m = member(fake, 'a', []);
    await m.start();
    expect(fake.leases.has('mlsecrets-shard-a')).toBe(true);
    await m.stop();
    expect(fake.leases.has('mlsecrets-shard-a')).toBe(false);
  });
});

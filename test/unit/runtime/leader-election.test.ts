// The leader's own clock decides when it must stop writing: holdsLease() turns false as soon as
// renewDeadline has passed since the last renewal, without waiting for a hung renewal or for
// the renewal loop's timer (a process paused by SIGSTOP wakes with every timer due at once).
// Time is a ManualClock: no test waits on the wall clock.
import { ManualClock } from '../../../src/runtime/clock.ts';
import { KubeApiError, type KubeHttp } from '../../../src/runtime/http.ts';
import { LeaderElector } from '../../../src/runtime/leader-election.ts';
import { silentLogger } from '../../../src/observability/logger.ts';

/** One Lease in memory; `hang` makes every later request wait forever (an API that stopped answering). */
class FakeLeaseApi {
  lease?: {
    metadata: { name: string; namespace: string; resourceVersion: string };
    spec: Record<string, unknown>;
  };
  hang = false;
  /** Requests left hanging (never answered). */
  hung = 0;
  version = 0;

  async request<T>(
    method: string,
    _path: string,
    options: { body?: { spec: Record<string, unknown> } } = {},
  ) {
    if (this.hang) {
      this.hung++;
      return new Promise<T>(() => undefined);
    }
    if (method === 'GET') {
      if (!this.lease) throw new KubeApiError(404, 'NotFound', 'not found');
      return structuredClone(this.lease) as T;
    }
    this.lease = {
      metadata: { name: 'lease', namespace: 'ns', resourceVersion: String(++this.version) },
      spec: options.body!.spec,
    };
    return this.lease as T;
  }
}

const jest = import.meta.jest;

/** Lets the fake API's answers and the elector's promise chains run; no clock time passes. */
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Moves the clock `ms` forward as the event loop would: one due timer at a time, letting the
 * work each one starts (a renewal's requests) finish before the next.
 */
async function advance(clock: ManualClock, ms: number): Promise<void> {
  const target = clock.now() + ms;
  for (let at = clock.nextTimerAt(); at !== undefined && at <= target; at = clock.nextTimerAt()) {
    clock.advance(at - clock.now());
    await settle();
  }
  clock.advance(target - clock.now());
  await settle();
}

function elector(api: FakeLeaseApi, events: string[], clock: ManualClock) {
  return new LeaderElector({
    http: api as unknown as KubeHttp,
    clock,
    logger: silentLogger(),
    namespace: 'ns',
    name: 'lease',
    identity: 'me',
    leaseDurationMs: 600,
    renewDeadlineMs: 400,
    retryPeriodMs: 50,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
  });
}

let running: LeaderElector | undefined;
afterEach(async () => {
  jest.restoreAllMocks();
  await running?.stop({ release: false });
  running = undefined;
});

async function leading(api: FakeLeaseApi, events: string[], clock: ManualClock): Promise<LeaderElector> {
  running = elector(api, events, clock);
  running.start();
  await settle();
  expect(running.holdsLease()).toBe(true);
  return running;
}

test('a leader whose renewal hangs stops holding the lease at the renew deadline, and steps down then', async () => {
  const clock = new ManualClock();
  const api = new FakeLeaseApi();
  const events: string[] = [];
  const leader = await leading(api, events, clock);
  api.hang = true;
  const hungAt = clock.now();
  for (let i = 0; i < 200 && leader.holdsLease(); i++) await advance(clock, 5);
  expect(leader.holdsLease()).toBe(false);
  // At most renewDeadline after the last renewal, which was before the hang.
  expect(clock.now() - hungAt).toBeLessThanOrEqual(400);
  expect(api.hung).toBeGreaterThan(0); // a renewal was under way, and hanging, meanwhile
  // The step-down does not wait for the hung request either.
  for (let i = 0; i < 50 && !events.includes('stopped'); i++) await advance(clock, 10);
  expect(events).toEqual(['started', 'stopped']);
  expect(leader.isLeader).toBe(false);
  expect(clock.now() - hungAt).toBeLessThanOrEqual(400 + 10);
});

test('after a pause longer than the renew deadline, holdsLease is false before any timer has run', async () => {
  const clock = new ManualClock();
  const api = new FakeLeaseApi();
  const events: string[] = [];
  const leader = await leading(api, events, clock);
  // The process wakes up 10 s later: the clock has moved, no timer has fired yet.
  const woke = clock.now() + 10_000;
  jest.spyOn(clock, 'now').mockReturnValue(woke);
  expect(leader.holdsLease()).toBe(false);
  expect(leader.isLeader).toBe(true); // the renewal loop has not noticed yet; writers must not care
});

test('a leader that keeps renewing keeps holding the lease', async () => {
  const clock = new ManualClock();
  const api = new FakeLeaseApi();
  const events: string[] = [];
  const leader = await leading(api, events, clock);
  const renewals = api.version;
  await advance(clock, 1_000);
  expect(api.version - renewals).toBeGreaterThanOrEqual(1_000 / 50); // it did renew, every retry period
  expect(leader.holdsLease()).toBe(true);
  expect(events).toEqual(['started']);
});

test('a stopped elector holds no lease', async () => {
  const clock = new ManualClock();
  const api = new FakeLeaseApi();
  const leader = await leading(api, [], clock);
  await leader.stop();
  expect(leader.holdsLease()).toBe(false);
  expect(api.lease?.spec.holderIdentity).toBe('');
});

test('a follower takes over a Lease no longer renewed right when it expires, not a retry period later', async () => {
  const clock = new ManualClock();
  const api = new FakeLeaseApi();
  // Held by another replica that has just renewed it, and then died.
  api.lease = {
    metadata: { name: 'lease', namespace: 'ns', resourceVersion: '1' },
    spec: {
      holderIdentity: 'other',
      leaseDurationSeconds: 1,
      renewTime: new Date(clock.now()).toISOString(),
    },
  };
  const events: string[] = [];
  running = new LeaderElector({
    http: api as unknown as KubeHttp,
    clock,
    logger: silentLogger(),
    namespace: 'ns',
    name: 'lease',
    identity: 'me',
    leaseDurationMs: 1_000,
    renewDeadlineMs: 900,
    retryPeriodMs: 800,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
  });
  const start = clock.now();
  running.start();
  await settle();
  while (!running.isLeader && clock.now() - start < 5_000) await advance(clock, 5);
  const took = clock.now() - start;
  // Ticks at 0, 800 and 1600 ms would take it at 1600 ms; it comes back at 1000 ms instead.
  expect(took).toBeGreaterThanOrEqual(1_000);
  expect(took).toBeLessThan(1_400);
  expect(api.lease?.spec.holderIdentity).toBe('me');
  expect(events).toEqual(['started']);
});

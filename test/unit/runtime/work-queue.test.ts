import { ManualClock } from '../../../src/runtime/clock.ts';
import { WorkQueue, type WorkItem, type WorkQueueOptions } from '../../../src/runtime/work-queue.ts';

/** Lets queued microtasks and promise callbacks run; no time passes. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The value of `promise` if it settled after a flush, else 'pending'. */
async function peek<T>(promise: Promise<T>): Promise<{ value: T } | 'pending'> {
  let result: { value: T } | 'pending' = 'pending';
  void promise.then((value) => {
    result = { value };
  });
  await flush();
  return result;
}

function setup(options: Partial<WorkQueueOptions> = {}): { clock: ManualClock; queue: WorkQueue } {
  const clock = new ManualClock(0);
  return { clock, queue: new WorkQueue({ clock, ...options }) };
}

/** Hands out and finishes every ready key, returning them in order. */
async function drain(queue: WorkQueue): Promise<WorkItem[]> {
  const items: WorkItem[] = [];
  while (queue.len() > 0) {
    const item = await queue.get();
    if (item === undefined) break;
    items.push(item);
    queue.done(item.key);
  }
  return items;
}

const keys = (items: WorkItem[]): string[] => items.map((item) => item.key);

describe('WorkQueue: adding and handing out', () => {
  test('de-duplicates a key that is already queued', async () => {
    const { queue } = setup();
    queue.add('ns/a');
    queue.add('ns/a');
    queue.add('ns/b');
    queue.add('ns/a');
    expect(queue.len()).toBe(2);
    expect(keys(await drain(queue))).toEqual(['ns/a', 'ns/b']);
  });

  test('hands out every high key before any low key, FIFO within a priority', async () => {
    const { queue } = setup();
    queue.add('low-1', 'low');
    queue.add('high-1', 'high');
    queue.add('low-2');
    queue.add('high-2', 'high');
    const items = await drain(queue);
    expect(items.map((i) => `${i.key}:${i.priority}`)).toEqual([
      'high-1:high',
      'high-2:high',
      'low-1:low',
      'low-2:low',
    ]);
  });

  test('re-adding a queued low key as high upgrades it to the high queue, still one entry', async () => {
    const { queue } = setup();
    queue.add('a', 'low');
    queue.add('b', 'low');
    queue.add('c', 'high');
    queue.add('a', 'high');
    expect(queue.len()).toBe(3);
    const items = await drain(queue);
    expect(items.map((i) => `${i.key}:${i.priority}`)).toEqual(['c:high', 'a:high', 'b:low']);
    expect(await peek(queue.get())).toBe('pending');
  });

  test('re-adding a queued high key as low does not downgrade it', async () => {
    const { queue } = setup();
    queue.add('b', 'high');
    queue.add('a', 'high');
    queue.add('a', 'low');
    expect((await drain(queue)).map((i) => `${i.key}:${i.priority}`)).toEqual(['b:high', 'a:high']);
  });

  test('waitedMs is the time from becoming ready to being handed out', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    clock.advance(250);
    queue.add('b');
    queue.add('a'); // a duplicate add does not restart the wait
    clock.advance(50);
    expect(await queue.get()).toEqual({ key: 'a', priority: 'low', waitedMs: 300 });
    expect(await queue.get()).toEqual({ key: 'b', priority: 'low', waitedMs: 50 });
  });

  test('a waiting get() is woken by the next add', async () => {
    const { queue } = setup();
    const next = queue.get();
    expect(await peek(next)).toBe('pending');
    queue.add('a', 'high');
    expect(await next).toEqual({ key: 'a', priority: 'high', waitedMs: 0 });
    expect(queue.len()).toBe(0);
  });

  test('keys added in one synchronous burst reach a waiting worker in priority order', async () => {
    const { queue } = setup();
    const first = queue.get();
    const second = queue.get();
    queue.add('routine', 'low');
    queue.add('new-binding', 'high');
    expect((await first)?.key).toBe('new-binding');
    expect((await second)?.key).toBe('routine');
  });

  test('waiting workers are served in the order they asked', async () => {
    const { queue } = setup();
    const order: string[] = [];
    const w1 = queue.get().then((item) => order.push(`w1:${item?.key}`));
    const w2 = queue.get().then((item) => order.push(`w2:${item?.key}`));
    queue.add('x');
    await flush();
    queue.add('y');
    await Promise.all([w1, w2]);
    expect(order).toEqual(['w1:x', 'w2:y']);
  });
});

describe('WorkQueue: keys being processed', () => {
  test('a key re-added while processing is not handed out again until done()', async () => {
    const { queue } = setup();
    queue.add('a');
    const first = await queue.get();
    expect(first?.key).toBe('a');
    expect(queue.processingLen()).toBe(1);

    queue.add('a');
    queue.add('a');
    expect(queue.len()).toBe(0);
    const second = queue.get();
    expect(await peek(second)).toBe('pending');

    queue.done('a');
    expect(await second).toMatchObject({ key: 'a' });
    queue.done('a');
    expect(queue.len()).toBe(0);
    expect(await peek(queue.get())).toBe('pending');
  });

  test('the re-add keeps the highest priority asked for while processing; its wait starts at done()', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    queue.add('b', 'high');
    expect((await queue.get())?.key).toBe('b');
    clock.advance(10);
    queue.add('b', 'low');
    queue.add('b', 'high');
    clock.advance(90);
    queue.done('b');
    clock.advance(5);
    expect(await queue.get()).toEqual({ key: 'b', priority: 'high', waitedMs: 5 });
  });

  test('done() without a re-add does not queue the key again; done() for an unknown key is ignored', async () => {
    const { queue } = setup();
    queue.add('a');
    await queue.get();
    queue.done('a');
    queue.done('never-seen');
    expect(queue.len()).toBe(0);
    expect(queue.processingLen()).toBe(0);
  });

  test('other keys are handed out while one is processing', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.add('b');
    await queue.get();
    queue.add('a');
    expect((await queue.get())?.key).toBe('b');
  });
});

describe('WorkQueue: workers kept for high keys (maxLowInFlight)', () => {
  test('beyond the limit, idle workers wait for high keys; a new high key is handed out at once', async () => {
    const { queue } = setup({ maxLowInFlight: 2 });
    for (let i = 0; i < 10; i++) queue.add(`refresh-${i}`, 'low');
    const workers = Array.from({ length: 4 }, () => queue.get());
    expect(await peek(workers[0]!)).toEqual({ value: expect.objectContaining({ key: 'refresh-0' }) });
    expect(await peek(workers[1]!)).toEqual({ value: expect.objectContaining({ key: 'refresh-1' }) });
    // Two low keys are out: the other two workers stay free although eight low keys wait.
    expect(await peek(workers[2]!)).toBe('pending');
    expect(await peek(workers[3]!)).toBe('pending');
    queue.add('new-binding', 'high');
    expect(await peek(workers[2]!)).toEqual({
      value: expect.objectContaining({ key: 'new-binding', priority: 'high' }),
    });
    expect(await peek(workers[3]!)).toBe('pending');
    expect(queue.processingLen()).toBe(3);
  });

  test('a low key finishing lets the next low key out to a waiting worker', async () => {
    const { queue } = setup({ maxLowInFlight: 1 });
    queue.add('a', 'low');
    queue.add('b', 'low');
    const first = await queue.get();
    const second = queue.get();
    expect(await peek(second)).toBe('pending');
    queue.done(first!.key);
    expect(await peek(second)).toEqual({ value: expect.objectContaining({ key: 'b' }) });
    // A finished high key frees no low slot: the limit counts low keys only.
    queue.add('c', 'low');
    queue.add('h', 'high');
    const third = await queue.get();
    expect(third?.key).toBe('h');
    queue.done('h');
    const fourth = queue.get();
    expect(await peek(fourth)).toBe('pending');
    queue.done('b');
    expect(await peek(fourth)).toEqual({ value: expect.objectContaining({ key: 'c' }) });
  });

  test('without the option every worker may take low keys (the default)', async () => {
    const { queue } = setup();
    for (let i = 0; i < 5; i++) queue.add(`k${i}`, 'low');
    const items = await Promise.all(Array.from({ length: 5 }, () => queue.get()));
    expect(items.map((i) => i?.priority)).toEqual(['low', 'low', 'low', 'low', 'low']);
  });

  test('rejects a limit below one', () => {
    expect(() => setup({ maxLowInFlight: 0 })).toThrow(RangeError);
  });
});

describe('WorkQueue: delayed adds', () => {
  test('addAfter makes the key ready exactly when its delay has passed', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 1_000);
    expect(queue.len()).toBe(0);
    expect(queue.delayedLen()).toBe(1);
    clock.advance(999);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(queue.delayedLen()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  test('an earlier due time for the same key wins over a later one, in either order', async () => {
    const { clock, queue } = setup();
    queue.addAfter('later-first', 5_000);
    queue.addAfter('later-first', 1_000);
    queue.addAfter('earlier-first', 1_000);
    queue.addAfter('earlier-first', 5_000);
    expect(queue.delayedLen()).toBe(2);
    clock.advance(1_000);
    expect(keys(await drain(queue))).toEqual(['later-first', 'earlier-first']);
    clock.advance(10_000);
    expect(queue.len()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  test('a delayed key arrives with its priority, raised by any add that merged into it', async () => {
    const { clock, queue } = setup();
    queue.addAfter('x', 100, 'low');
    queue.addAfter('y', 100, 'low');
    queue.addAfter('y', 500, 'high');
    queue.addAfter('z', 100, 'high');
    clock.advance(100);
    expect((await drain(queue)).map((i) => `${i.key}:${i.priority}`)).toEqual(['y:high', 'z:high', 'x:low']);
  });

  test('delayMs <= 0 (or NaN) adds now; an infinite delay schedules nothing', () => {
    const { clock, queue } = setup();
    queue.addAfter('zero', 0);
    queue.addAfter('negative', -5);
    queue.addAfter('nan', Number.NaN);
    queue.addAfter('never', Infinity);
    expect(queue.len()).toBe(3);
    expect(queue.delayedLen()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  test('a delayed add of a key being processed marks it dirty rather than handing it out twice', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    await queue.get();
    queue.addAfter('a', 100);
    clock.advance(100);
    expect(queue.len()).toBe(0);
    queue.done('a');
    expect(queue.len()).toBe(1);
  });

  test('uses one timer for the whole queue, re-pointed when an earlier key arrives', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 5_000);
    queue.addAfter('b', 9_000);
    expect(clock.pending()).toBe(1);
    expect(clock.nextTimerAt()).toBe(5_000);
    queue.addAfter('c', 1_000);
    expect(clock.pending()).toBe(1);
    expect(clock.nextTimerAt()).toBe(1_000);
    clock.advance(1_000);
    expect(clock.nextTimerAt()).toBe(5_000);
    clock.advance(8_000);
    expect(clock.pending()).toBe(0);
    expect(queue.len()).toBe(3);
  });

  test('100,000 delayed keys cost one timer and come out in due order', async () => {
    const { clock, queue } = setup();
    const n = 100_000;
    // A deterministic shuffle of due times 1..n seconds (7919 is prime, so coprime with n).
    for (let i = 0; i < n; i++) queue.addAfter(`k${i}`, (((i * 7919) % n) + 1) * 1_000);
    // Re-adding with later due times must not add timers or entries either.
    for (let i = 0; i < n; i += 10) queue.addAfter(`k${i}`, (n + 5) * 1_000);
    expect(clock.pending()).toBe(1);
    expect(queue.delayedLen()).toBe(n);

    clock.advance(1_000);
    expect(queue.len()).toBe(1);
    expect(clock.pending()).toBe(1);
    clock.advance(n * 1_000);
    expect(queue.len()).toBe(n);
    expect(queue.delayedLen()).toBe(0);
    expect(clock.pending()).toBe(0);

    const order = keys(await drain(queue)).map((key) => Number(key.slice(1)));
    const dueOf = (i: number): number => (i * 7919) % n;
    const outOfOrder = order.findIndex((key, j) => j > 0 && dueOf(key) <= dueOf(order[j - 1]!));
    expect(outOfOrder).toBe(-1);
  });

  test('re-scheduling many keys earlier again and again keeps the queue correct', () => {
    const { clock, queue } = setup();
    for (let round = 10; round >= 1; round--) {
      for (let i = 0; i < 1_000; i++) queue.addAfter(`k${i}`, round * 1_000 + i);
    }
    expect(queue.delayedLen()).toBe(1_000);
    expect(clock.pending()).toBe(1);
    clock.advance(1_000 + 499);
    expect(queue.len()).toBe(500);
    clock.advance(500);
    expect(queue.len()).toBe(1_000);
    clock.advance(20_000);
    expect(queue.len()).toBe(1_000);
    expect(clock.pending()).toBe(0);
  });
});

describe('WorkQueue: rate-limited retries', () => {
  test('backoff doubles from the base and stops at the cap (no jitter)', () => {
    const { queue } = setup({ baseDelayMs: 100, maxDelayMs: 1_000, jitter: 0 });
    const delays = Array.from({ length: 7 }, () => queue.addRateLimited('a'));
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(queue.failures('a')).toBe(7);
    expect(queue.failures('other')).toBe(0);
  });

  test('defaults: 500 ms base, 5 minute cap, ±20% jitter', () => {
    const { queue } = setup({ random: () => 0.5 });
    expect(queue.addRateLimited('a')).toBe(500);
    for (let i = 0; i < 20; i++) queue.addRateLimited('a');
    expect(queue.addRateLimited('a')).toBe(300_000);
    const low = setup({ random: () => 0 }).queue;
    expect(low.addRateLimited('a')).toBe(400);
  });

  test('jitter spreads each delay within ±jitter of the exponential value, never above the cap', () => {
    const samples = [0, 0.999999, 0.25, 0.75, 0.5, 0.1, 0.9];
    let i = 0;
    const random = (): number => samples[i++ % samples.length]!;
    const { queue } = setup({ baseDelayMs: 1_000, maxDelayMs: 20_000, jitter: 0.2, random });
    const seen: number[] = [];
    for (let failures = 0; failures < 40; failures++) {
      const exponential = Math.min(20_000, 1_000 * 2 ** failures);
      const delay = queue.addRateLimited('k');
      seen.push(delay);
      expect(delay).toBeGreaterThanOrEqual(Math.floor(exponential * 0.8));
      expect(delay).toBeLessThanOrEqual(Math.min(20_000, Math.ceil(exponential * 1.2)));
    }
    expect(seen.slice(0, 3)).toEqual([800, 2_400, 3_600]);
    expect(new Set(seen.slice(10)).size).toBeGreaterThan(1); // still spread at the cap
  });

  test('the key becomes ready once its backoff has passed', () => {
    const { clock, queue } = setup({ baseDelayMs: 100, jitter: 0 });
    expect(queue.addRateLimited('a')).toBe(100);
    clock.advance(99);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
  });

  test('atLeastMs (retry-after) is honoured over a shorter backoff, even beyond the cap', () => {
    const { clock, queue } = setup({ baseDelayMs: 100, maxDelayMs: 1_000, jitter: 0 });
    expect(queue.addRateLimited('a', { atLeastMs: 30_000 })).toBe(30_000);
    expect(queue.addRateLimited('b', { atLeastMs: 50 })).toBe(100);
    clock.advance(29_999);
    expect(queue.len()).toBe(1); // b, after its own 100 ms backoff
    clock.advance(1);
    expect(queue.len()).toBe(2);
  });

  test('a retry is low priority unless asked otherwise', async () => {
    const { clock, queue } = setup({ baseDelayMs: 100, jitter: 0 });
    queue.addRateLimited('routine');
    queue.addRateLimited('never-synced', { priority: 'high' });
    clock.advance(100);
    expect((await drain(queue)).map((i) => `${i.key}:${i.priority}`)).toEqual([
      'never-synced:high',
      'routine:low',
    ]);
  });

  test('forget resets the backoff to the base delay', () => {
    const { queue } = setup({ baseDelayMs: 100, jitter: 0 });
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    queue.addRateLimited('b');
    queue.forget('a');
    expect(queue.failures('a')).toBe(0);
    expect(queue.failures('b')).toBe(1);
    expect(queue.addRateLimited('a')).toBe(100);
  });
});

describe('WorkQueue: remove and shutDown', () => {
  test('remove drops a queued key, its delayed add and its failure count', async () => {
    const { clock, queue } = setup({ baseDelayMs: 100, jitter: 0 });
    queue.add('gone');
    queue.add('kept');
    queue.addRateLimited('gone');
    queue.addRateLimited('gone');
    queue.addAfter('kept', 5_000);
    queue.remove('gone');
    expect(queue.len()).toBe(1);
    expect(queue.delayedLen()).toBe(1);
    expect(queue.failures('gone')).toBe(0);
    clock.advance(10_000);
    expect(keys(await drain(queue))).toEqual(['kept']);
  });

  test('removing the last delayed key releases the timer', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 1_000);
    queue.remove('a');
    expect(clock.pending()).toBe(0);
  });

  test('a key removed while processing is not queued again after done()', async () => {
    const { queue } = setup();
    queue.add('a');
    await queue.get();
    queue.add('a', 'high');
    queue.remove('a');
    queue.done('a');
    expect(queue.len()).toBe(0);
    expect(queue.processingLen()).toBe(0);
    queue.add('a');
    expect(queue.len()).toBe(1);
  });

  test('shutDown wakes every waiting worker with undefined and ignores further adds', async () => {
    const { clock, queue } = setup();
    const waiters = [queue.get(), queue.get(), queue.get()];
    queue.addAfter('later', 1_000);
    queue.shutDown();
    expect(await Promise.all(waiters)).toEqual([undefined, undefined, undefined]);
    expect(queue.isShutDown()).toBe(true);
    expect(clock.pending()).toBe(0);

    queue.add('a');
    queue.addAfter('b', 10);
    queue.addRateLimited('c');
    clock.advance(10_000);
    expect(queue.len()).toBe(0);
    expect(queue.delayedLen()).toBe(0);
    expect(await queue.get()).toBeUndefined();
    queue.shutDown(); // idempotent
  });

  test('after shutDown, get() resolves undefined even if keys were queued', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.shutDown();
    expect(await queue.get()).toBeUndefined();
  });

  test('rejects nonsensical options', () => {
    const clock = new ManualClock(0);
    expect(() => new WorkQueue({ clock, jitter: 1.5 })).toThrow(RangeError);
    expect(() => new WorkQueue({ clock, baseDelayMs: -1 })).toThrow(RangeError);
    expect(() => new WorkQueue({ clock, baseDelayMs: 1_000, maxDelayMs: 10 })).toThrow(RangeError);
  });
});

describe('WorkQueue: medium priority and promote (a rotation among routine refreshes)', () => {
  test('high before medium before low, FIFO within each', async () => {
    const { queue } = setup();
    queue.add('low-1', 'low');
    queue.add('medium-1', 'medium');
    queue.add('high-1', 'high');
    queue.add('low-2', 'low');
    queue.add('medium-2', 'medium');
    expect(keys(await drain(queue))).toEqual(['high-1', 'medium-1', 'medium-2', 'low-1', 'low-2']);
  });

  test('promote raises a ready key once, and never lowers one', async () => {
    const { queue } = setup();
    for (let i = 0; i < 5; i++) queue.add(`refresh-${i}`, 'low');
    queue.add('new-binding', 'high');
    expect(queue.promote('refresh-3', 'medium')).toBe(true);
    expect(queue.promote('refresh-3', 'medium')).toBe(false);
    expect(queue.promote('new-binding', 'medium')).toBe(false);
    const items = await drain(queue);
    expect(keys(items)).toEqual([
      'new-binding',
      'refresh-3',
      'refresh-0',
      'refresh-1',
      'refresh-2',
      'refresh-4',
    ]);
    expect(items[1]!.priority).toBe('medium');
    // Handed out once: the stale low slot of the promoted key was skipped.
    expect(queue.len()).toBe(0);
  });

  test('promote leaves delayed, processing and unknown keys alone', async () => {
    const { clock, queue } = setup();
    queue.addAfter('later', 1000, 'low');
    queue.add('busy', 'low');
    const busy = await queue.get();
    expect(queue.promote('later', 'medium')).toBe(false);
    expect(queue.promote('busy', 'medium')).toBe(false);
    expect(queue.promote('nobody', 'medium')).toBe(false);
    queue.done(busy!.key);
    // Neither was queued again by the promote.
    expect(queue.len()).toBe(0);
    clock.advance(1000);
    await flush();
    const later = await queue.get();
    expect(later).toEqual(expect.objectContaining({ key: 'later', priority: 'low' }));
  });

  test('medium keys may take every worker; low keys wait while medium and low fill maxLowInFlight', async () => {
    const { queue } = setup({ maxLowInFlight: 1 });
    queue.add('m1', 'medium');
    queue.add('m2', 'medium');
    queue.add('l1', 'low');
    expect((await queue.get())?.key).toBe('m1');
    // Past the routine limit: a medium key still goes out, a low key does not.
    expect((await queue.get())?.key).toBe('m2');
    const third = queue.get();
    expect(await peek(third)).toBe('pending');
    queue.add('h', 'high');
    expect(await peek(third)).toEqual({ value: expect.objectContaining({ key: 'h' }) });
    queue.done('m1');
    queue.done('m2');
    expect(await queue.get()).toEqual(expect.objectContaining({ key: 'l1' }));
  });
});

describe('WorkQueue: defer (a rotation writes every Secret before its bookkeeping)', () => {
  test('a deferred key comes back after every high and medium key and before any low key', async () => {
    const { queue } = setup();
    queue.add('r1', 'medium');
    queue.add('r2', 'medium');
    queue.add('routine', 'low');
    const r1 = await queue.get();
    queue.defer(r1!.key, r1!.priority);
    queue.add('new', 'high');
    const order: WorkItem[] = [];
    for (let i = 0; i < 4; i++) {
      const item = (await queue.get())!;
      order.push(item);
      if (item.key === 'r2' && !item.followUp) queue.defer('r2', item.priority);
      else queue.done(item.key);
    }
    expect(order.map((item) => `${item.key}${item.followUp ? ' (follow-up)' : ''}`)).toEqual([
      'new',
      'r2',
      'r1 (follow-up)',
      'r2 (follow-up)',
    ]);
    expect(order[2]!.priority).toBe('medium');
    expect((await queue.get())?.key).toBe('routine');
    expect(queue.followUpLen()).toBe(0);
  });

  test('a deferred key is still being processed: a re-add waits for done() after the follow-up', async () => {
    const { queue } = setup();
    queue.add('k', 'medium');
    const first = await queue.get();
    queue.defer('k', first!.priority);
    expect(queue.processingLen()).toBe(1);
    queue.add('k', 'high');
    expect(queue.len()).toBe(0);
    const followUp = await queue.get();
    expect(followUp).toEqual(expect.objectContaining({ key: 'k', followUp: true }));
    const next = queue.get();
    expect(await peek(next)).toBe('pending');
    queue.done('k');
    expect(await peek(next)).toEqual({ value: expect.objectContaining({ key: 'k', priority: 'high' }) });
  });

  test('a deferred key frees its routine slot, and its follow-up ignores maxLowInFlight', async () => {
    const { queue } = setup({ maxLowInFlight: 1 });
    queue.add('a', 'low');
    queue.add('b', 'low');
    const a = await queue.get();
    const waiting = queue.get();
    expect(await peek(waiting)).toBe('pending');
    queue.defer(a!.key, a!.priority);
    // The follow-up goes first, then (the slot being free) the next routine key.
    expect(await peek(waiting)).toEqual({ value: expect.objectContaining({ key: 'a', followUp: true }) });
    expect(await queue.get()).toEqual(expect.objectContaining({ key: 'b' }));
  });

  test('defer of a key not being processed, or after shutDown, is ignored; shutDown drops follow-ups', async () => {
    const { queue } = setup();
    queue.defer('unknown', 'low');
    expect(queue.followUpLen()).toBe(0);
    queue.add('k', 'low');
    const k = await queue.get();
    queue.defer(k!.key, k!.priority);
    expect(queue.followUpLen()).toBe(1);
    queue.shutDown();
    expect(queue.followUpLen()).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });
});

describe('WorkQueue: urgentLen (what Events hold back for)', () => {
  test('counts ready high and medium keys through adds, raises, hand-outs, removals and shutDown', async () => {
    const { queue } = setup();
    queue.add('l', 'low');
    expect(queue.urgentLen()).toBe(0);
    queue.add('h', 'high');
    queue.add('m', 'medium');
    expect(queue.urgentLen()).toBe(2);
    expect(queue.promote('l', 'medium')).toBe(true);
    queue.add('m', 'high'); // medium → high: still one urgent key
    expect(queue.urgentLen()).toBe(3);
    const first = await queue.get();
    expect(first?.key).toBe('h');
    expect(queue.urgentLen()).toBe(2);
    queue.remove('l');
    expect(queue.urgentLen()).toBe(1);
    queue.add('x', 'low');
    queue.done('h');
    expect(queue.urgentLen()).toBe(1);
    queue.shutDown();
    expect(queue.urgentLen()).toBe(0);
  });
});

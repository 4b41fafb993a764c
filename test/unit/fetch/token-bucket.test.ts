import { ManualClock } from '../../../src/runtime/clock.ts';
import { TokenBucket } from '../../../src/fetch/token-bucket.ts';

/** Lets resolved promises run their callbacks; no time passes. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function setup(qps: number, burst: number): { clock: ManualClock; bucket: TokenBucket } {
  const clock = new ManualClock(0);
  return { clock, bucket: new TokenBucket({ qps, burst, clock }) };
}

function drain(bucket: TokenBucket): number {
  let taken = 0;
  while (bucket.tryTake()) taken++;
  return taken;
}

/** Starts `n` takes, recording `label@time` as each is granted. */
function startTakes(
  bucket: TokenBucket,
  clock: ManualClock,
  labels: string[],
  log: string[],
): Promise<void>[] {
  return labels.map((label) => bucket.take().then(() => void log.push(`${label}@${clock.now()}`)));
}

describe('TokenBucket', () => {
  test('starts full: a burst of calls, then none', () => {
    const { bucket } = setup(10, 5);
    expect(bucket.msUntilAvailable()).toBe(0);
    expect(drain(bucket)).toBe(5);
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.msUntilAvailable()).toBe(100);
  });

  test('refills at qps: one token per 1/qps seconds', () => {
    const { clock, bucket } = setup(10, 5);
    drain(bucket);
    clock.advance(99);
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.msUntilAvailable()).toBe(1);
    clock.advance(1);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    clock.advance(350);
    expect(drain(bucket)).toBe(3);
    // The half token left over counts towards the next one.
    expect(bucket.msUntilAvailable()).toBe(50);
  });

  test('refill never exceeds the burst', () => {
    const { clock, bucket } = setup(10, 5);
    drain(bucket);
    clock.advance(3_600_000);
    expect(drain(bucket)).toBe(5);
  });

  test('fractional qps: 0.5 calls per second is one every 2 s', () => {
    const { clock, bucket } = setup(0.5, 1);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.msUntilAvailable()).toBe(2_000);
    clock.advance(1_999);
    expect(bucket.tryTake()).toBe(false);
    clock.advance(1);
    expect(bucket.tryTake()).toBe(true);
  });

  test('take() resolves at once while tokens last', async () => {
    const { clock, bucket } = setup(1, 2);
    const log: string[] = [];
    await Promise.all(startTakes(bucket, clock, ['a', 'b'], log));
    expect(log).toEqual(['a@0', 'b@0']);
    expect(clock.pending()).toBe(0);
  });

  test('waiters are served first come, first served, at the refill rate, by one timer', async () => {
    const { clock, bucket } = setup(10, 2);
    const log: string[] = [];
    const takes = startTakes(bucket, clock, ['a', 'b', 'c', 'd', 'e'], log);
    await flush();
    expect(log).toEqual(['a@0', 'b@0']);
    expect(clock.pending()).toBe(1);
    for (let t = 0; t < 3; t++) {
      clock.advance(100);
      await flush();
    }
    await Promise.all(takes);
    expect(log).toEqual(['a@0', 'b@0', 'c@100', 'd@200', 'e@300']);
    expect(clock.pending()).toBe(0);
  });

  test('a caller using tryTake cannot overtake one waiting in take()', async () => {
    const { clock, bucket } = setup(10, 1);
    drain(bucket);
    let granted = false;
    void bucket.take().then(() => {
      granted = true;
    });
    // The waiter gets the token due at 100 ms; a newcomer's is the one after.
    expect(bucket.msUntilAvailable()).toBe(200);
    clock.advance(100);
    await flush();
    expect(granted).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    clock.advance(100);
    expect(bucket.tryTake()).toBe(true);
  });

  test('tryTake cannot steal the token a waiter is due, even in the instant before its timer runs', async () => {
    const { clock, bucket } = setup(10, 1);
    drain(bucket);
    const attempts: boolean[] = [];
    // Set before the bucket's own timer for the same instant, so it runs first (ties fire in set order).
    clock.setTimer(() => attempts.push(bucket.tryTake()), 100);
    let granted = false;
    void bucket.take().then(() => {
      granted = true;
    });
    clock.advance(100);
    await flush();
    expect(attempts).toEqual([false]);
    expect(granted).toBe(true);
  });

  test('a thousand waiters share one timer and are served in order', async () => {
    const { clock, bucket } = setup(100, 1);
    drain(bucket);
    const order: number[] = [];
    const takes = Array.from({ length: 1_000 }, (_, i) => bucket.take().then(() => void order.push(i)));
    expect(clock.pending()).toBe(1);
    clock.advance(10_000);
    await Promise.all(takes);
    expect(order).toEqual([...Array(1_000).keys()]);
    expect(clock.now()).toBe(10_000);
  });

  test('penalise: no tokens until the retry-after has passed, then a single probe, then qps', () => {
    const { clock, bucket } = setup(10, 5);
    expect(bucket.tryTake()).toBe(true);
    bucket.penalise(5_000);
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.msUntilAvailable()).toBe(5_000);
    clock.advance(4_999);
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.msUntilAvailable()).toBe(1);
    clock.advance(1);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false); // not a full burst straight after throttling
    clock.advance(100);
    expect(bucket.tryTake()).toBe(true);
  });

  test('a shorter penalty does not cut a longer one short; a longer one extends it', () => {
    const { clock, bucket } = setup(10, 5);
    bucket.penalise(5_000);
    bucket.penalise(1_000);
    clock.advance(1_000);
    expect(bucket.tryTake()).toBe(false);
    bucket.penalise(10_000); // now until 11,000
    clock.advance(9_999);
    expect(bucket.tryTake()).toBe(false);
    clock.advance(1);
    expect(bucket.tryTake()).toBe(true);
  });

  test('penalise with waiters holds them until the penalty ends, then serves them in order', async () => {
    const { clock, bucket } = setup(10, 3);
    drain(bucket);
    const log: string[] = [];
    const takes = startTakes(bucket, clock, ['a', 'b'], log);
    bucket.penalise(2_000);
    expect(clock.pending()).toBe(1);
    clock.advance(1_999);
    await flush();
    expect(log).toEqual([]);
    clock.advance(1);
    await flush();
    expect(log).toEqual(['a@2000']);
    clock.advance(100);
    await Promise.all(takes);
    expect(log).toEqual(['a@2000', 'b@2100']);
  });

  test('penalise(0) and negative penalties change nothing', () => {
    const { bucket } = setup(10, 2);
    bucket.penalise(0);
    bucket.penalise(-100);
    expect(drain(bucket)).toBe(2);
  });

  test('rejects a zero qps or a burst below one', () => {
    const clock = new ManualClock(0);
    expect(() => new TokenBucket({ qps: 0, burst: 1, clock })).toThrow(RangeError);
    expect(() => new TokenBucket({ qps: 1, burst: 0, clock })).toThrow(RangeError);
    expect(() => new TokenBucket({ qps: Number.NaN, burst: 1, clock })).toThrow(RangeError);
  });
});

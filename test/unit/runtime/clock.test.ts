import { ManualClock, pause, systemClock } from '../../../src/runtime/clock.ts';

describe('ManualClock', () => {
  test('starts at the given time and only moves on advance', () => {
    const clock = new ManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
  });

  test('defaults to a fixed, readable start time', () => {
    expect(new ManualClock().now()).toBe(Date.UTC(2025, 0, 1));
  });

  test('fires a timer exactly when it falls due, not before', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimer(() => fired.push(clock.now()), 100);
    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([100]);
    expect(clock.pending()).toBe(0);
  });

  test('fires due timers in time order, ties in the order set, each seeing its own due time', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimer(() => fired.push(`c@${clock.now()}`), 30);
    clock.setTimer(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimer(() => fired.push(`b1@${clock.now()}`), 20);
    clock.setTimer(() => fired.push(`b2@${clock.now()}`), 20);
    clock.advance(100);
    expect(fired).toEqual(['a@10', 'b1@20', 'b2@20', 'c@30']);
    expect(clock.now()).toBe(100);
  });

  test('fires timers set by fired timers when they fall inside the window, and keeps later ones', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    const tick = (): void => {
      fired.push(clock.now());
      clock.setTimer(tick, 40);
    };
    clock.setTimer(tick, 40);
    clock.advance(100);
    expect(fired).toEqual([40, 80]);
    expect(clock.pending()).toBe(1);
    expect(clock.nextTimerAt()).toBe(120);
  });

  test('a zero-delay timer set inside a timer fires in the same advance', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimer(() => {
      fired.push('outer');
      clock.setTimer(() => fired.push(`inner@${clock.now()}`), 0);
    }, 5);
    clock.advance(5);
    expect(fired).toEqual(['outer', 'inner@5']);
  });

  test('advance(0) fires timers already due; negative delays count as zero', () => {
    const clock = new ManualClock(0);
    let fired = 0;
    clock.setTimer(() => fired++, -50);
    expect(clock.nextTimerAt()).toBe(0);
    clock.advance(0);
    expect(fired).toBe(1);
  });

  test('clearTimer cancels; clearing twice or after firing is harmless', () => {
    const clock = new ManualClock(0);
    let fired = 0;
    const a = clock.setTimer(() => fired++, 10);
    const b = clock.setTimer(() => fired++, 20);
    clock.clearTimer(a);
    clock.clearTimer(a);
    expect(clock.pending()).toBe(1);
    clock.advance(30);
    clock.clearTimer(b);
    expect(fired).toBe(1);
    expect(clock.pending()).toBe(0);
    expect(clock.nextTimerAt()).toBeUndefined();
  });

  test('rejects a negative or non-finite advance', () => {
    const clock = new ManualClock(0);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(Number.NaN)).toThrow(RangeError);
  });

  test('a throwing timer stops the advance at its due time and leaves later timers pending', () => {
    const clock = new ManualClock(0);
    let later = 0;
    clock.setTimer(() => {
      throw new Error('boom');
    }, 10);
    clock.setTimer(() => later++, 20);
    expect(() => clock.advance(50)).toThrow('boom');
    expect(clock.now()).toBe(10);
    expect(later).toBe(0);
    clock.advance(10);
    expect(later).toBe(1);
  });
});

describe('systemClock', () => {
  const jest = import.meta.jest;

  afterEach(() => {
    jest.useRealTimers();
  });

  test('now() is wall-clock time', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  test('timers fire after their delay and can be cleared', () => {
    jest.useFakeTimers({ now: 0 });
    const fired: string[] = [];
    systemClock.setTimer(() => fired.push('a'), 100);
    const b = systemClock.setTimer(() => fired.push('b'), 100);
    systemClock.clearTimer(b);
    jest.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(fired).toEqual(['a']);
  });

  test('timers are unref’d so they never keep the process alive', () => {
    jest.useFakeTimers({ now: 0 });
    const setTimeoutSpy = jest.spyOn(globalThis, 'setTimeout');
    systemClock.setTimer(() => undefined, 1_000);
    const timeout = setTimeoutSpy.mock.results[0]!.value as NodeJS.Timeout;
    expect(timeout.hasRef()).toBe(false);
  });

  test('delays beyond the 24.8-day setTimeout limit are chained instead of firing at once', () => {
    jest.useFakeTimers({ now: 0 });
    const day = 86_400_000;
    let fired = 0;
    const handle = systemClock.setTimer(() => fired++, 30 * day);
    jest.advanceTimersByTime(1);
    expect(fired).toBe(0);
    jest.advanceTimersByTime(30 * day - 2);
    expect(fired).toBe(0);
    jest.advanceTimersByTime(1);
    expect(fired).toBe(1);
    systemClock.clearTimer(handle);

    // A chained timer can still be cancelled after its first leg.
    const cancelled = systemClock.setTimer(() => fired++, 40 * day);
    jest.advanceTimersByTime(26 * day);
    systemClock.clearTimer(cancelled);
    jest.advanceTimersByTime(20 * day);
    expect(fired).toBe(1);
  });
});

describe('pause', () => {
  test('ends when its time has passed on the clock, or at once when cut', async () => {
    const clock = new ManualClock(0);
    let ended = false;
    const waited = pause(clock, 1000);
    void waited.done.then(() => (ended = true));
    clock.advance(999);
    await Promise.resolve();
    expect(ended).toBe(false);
    clock.advance(1);
    await waited.done;
    expect(ended).toBe(true);

    const cut = pause(clock, 60_000);
    cut.cut();
    await cut.done; // resolves without the clock moving
    expect(clock.pending()).toBe(0); // its timer was cleared
  });
});

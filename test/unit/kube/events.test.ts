import { ManualClock } from '../../../src/runtime/clock.ts';
import { KubeEventRecorder, type EventSubject } from '../../../src/kube/events.ts';
import { collectingLogger } from '../../../src/observability/logger.ts';

/** A fake API: records requests, answers each after `release()`, tracks the most at once. */
function fakeApi() {
  const requests: { method: string; path: string; body: Record<string, unknown> }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let held: (() => void)[] = [];
  return {
    requests,
    get maxInFlight() {
      return maxInFlight;
    },
    release() {
      const now = held;
      held = [];
      for (const resolve of now) resolve();
    },
    http: {
      request: async (method: string, path: string, options: { body?: unknown } = {}) => {
        requests.push({ method, path, body: options.body as Record<string, unknown> });
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise<void>((resolve) => held.push(resolve));
        inFlight--;
        return undefined as never;
      },
    },
  };
}

const subject = (name: string): EventSubject => ({
  apiVersion: 'mlsecrets.io/v1alpha1',
  kind: 'SecretBinding',
  namespace: 'ml',
  name,
  uid: `uid-${name}`,
});

function setup(
  options: { maxInFlight?: number; maxPending?: number; holdWhile?: () => boolean; maxHoldMs?: number } = {},
) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const api = fakeApi();
  const { logger, lines: logs } = collectingLogger();
  const recorder = new KubeEventRecorder({ http: api.http, clock, logger, instance: 'test', ...options });
  return { clock, api, logs, recorder };
}

/** Answers every request as it comes until the recorder is idle. */
async function drain(api: ReturnType<typeof fakeApi>, recorder: KubeEventRecorder): Promise<void> {
  let idle = false;
  void recorder.idle().then(() => (idle = true));
  while (!idle) {
    await new Promise((resolve) => setImmediate(resolve));
    api.release();
  }
}

describe('KubeEventRecorder', () => {
  test('writes a burst of Events a few at a time, each stamped with the time it happened', async () => {
    const { clock, api, recorder } = setup({ maxInFlight: 2 });
    const emittedAt: string[] = [];
    for (let i = 0; i < 10; i++) {
      emittedAt.push(new Date(clock.now()).toISOString());
      recorder.emit(subject(`b-${i}`), 'Normal', 'Synced', `Secret "b-${i}" issued`);
      clock.advance(1000);
    }
    // Two on the wire, eight waiting: a burst of first syncs does not become 10 writes at once.
    expect(api.requests).toHaveLength(2);
    await drain(api, recorder);
    expect(api.maxInFlight).toBe(2);
    expect(api.requests.map((r) => r.method)).toEqual(Array(10).fill('POST'));
    expect(api.requests.map((r) => (r.body.involvedObject as { name: string }).name)).toEqual(
      Array.from({ length: 10 }, (_, i) => `b-${i}`),
    );
    expect(api.requests.map((r) => r.body.firstTimestamp)).toEqual(emittedAt);
  });

  test('a repeat within the window bumps the count of the Event already written', async () => {
    const { api, recorder } = setup();
    recorder.emit(subject('b'), 'Warning', 'ProviderError', 'store unreachable');
    await drain(api, recorder);
    recorder.emit(subject('b'), 'Warning', 'ProviderError', 'store unreachable');
    await drain(api, recorder);
    expect(api.requests.map((r) => r.method)).toEqual(['POST', 'PATCH']);
    expect(api.requests[1]!.body).toEqual(expect.objectContaining({ count: 2 }));
  });

  test('a full queue drops new Events and says so in the log, without their messages', async () => {
    const { api, logs, recorder } = setup({ maxInFlight: 1, maxPending: 3 });
    for (let i = 0; i < 10; i++) recorder.emit(subject(`b-${i}`), 'Normal', 'Synced', `message ${i}`);
    await drain(api, recorder);
    // One went out at once, three waited, six were dropped.
    expect(api.requests).toHaveLength(4);
    const text = logs.join('');
    expect(text).toContain('event queue full');
    expect(text).toContain('"dropped":6');
    expect(text).not.toContain('message 9');
    // After draining, Events flow again.
    recorder.emit(subject('later'), 'Normal', 'Synced', 'after');
    await drain(api, recorder);
    expect(api.requests).toHaveLength(5);
  });

  test('holdWhile: Events wait while urgent work is queued, then go out with the time they happened', async () => {
    let urgent = true;
    const { clock, api, recorder } = setup({ holdWhile: () => urgent });
    const emittedAt = new Date(clock.now()).toISOString();
    for (let i = 0; i < 5; i++)
      recorder.emit(subject(`b-${i}`), 'Normal', 'Synced', `Secret "b-${i}" issued`);
    clock.advance(1000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(api.requests).toHaveLength(0);
    // The work drains: the next look (every 200 ms) lets them out.
    urgent = false;
    clock.advance(200);
    await drain(api, recorder);
    expect(api.requests).toHaveLength(5);
    expect(api.requests.map((r) => r.body.firstTimestamp)).toEqual(Array(5).fill(emittedAt));
  });

  test('holdWhile: never more than half the queue is held, and nothing is dropped for holding', async () => {
    const { api, logs, recorder } = setup({ maxInFlight: 1, maxPending: 8, holdWhile: () => true });
    for (let i = 0; i < 3; i++) recorder.emit(subject(`b-${i}`), 'Normal', 'Synced', `message ${i}`);
    await new Promise((resolve) => setImmediate(resolve));
    expect(api.requests).toHaveLength(0);
    // The fourth fills half the queue: writing starts although urgent work still waits.
    recorder.emit(subject('b-3'), 'Normal', 'Synced', 'message 3');
    expect(api.requests).toHaveLength(1);
    // Released one by one, the queue goes back below half and holds the rest again; nothing dropped.
    api.release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(api.requests).toHaveLength(1);
    expect(logs.join('')).not.toContain('event queue full');
  });

  test('holdWhile: an Event held for maxHoldMs goes out although the burst goes on, the younger ones stay', async () => {
    const { clock, api, recorder } = setup({ maxInFlight: 2, maxHoldMs: 60_000, holdWhile: () => true });
    recorder.emit(subject('old'), 'Normal', 'Synced', 'old');
    clock.advance(30_000);
    recorder.emit(subject('young'), 'Normal', 'Synced', 'young');
    clock.advance(29_800);
    await new Promise((resolve) => setImmediate(resolve));
    expect(api.requests).toHaveLength(0);
    // The look after 60 s lets the first one out, with room for two on the wire: only one goes.
    clock.advance(200);
    expect(api.requests.map((r) => (r.body.involvedObject as { name: string }).name)).toEqual(['old']);
    api.release();
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(200);
    expect(api.requests).toHaveLength(1);
    clock.advance(30_000);
    expect(api.requests.map((r) => (r.body.involvedObject as { name: string }).name)).toEqual([
      'old',
      'young',
    ]);
  });
});

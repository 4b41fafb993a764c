// The informer never dies silently: failed or closed watches restart, 410 Gone lists again,
// and a silent watch is torn down by the watchdog.
import v8 from 'node:v8';
import { ManualClock } from '../../../src/runtime/clock.ts';
import type { KubeHttp } from '../../../src/runtime/http.ts';
import { Informer, type KubeObject } from '../../../src/runtime/informer.ts';
import { silentLogger } from '../../../src/observability/logger.ts';

type WatchScript = (
  emit: (event: { type: string; object: Record<string, unknown> }) => void,
  signal: AbortSignal,
) => Promise<void>;

/** A fake API: lists from `items`, and each watch runs the next script (then hangs until aborted). */
class FakeHttp {
  items: KubeObject[] = [];
  listVersion = 1;
  lists = 0;
  /** The Accept header of each list (undefined: the default, whole objects). */
  listAccepts: (string | undefined)[] = [];
  /** `null` items, as an empty PartialObjectMetadataList comes. */
  nullItems = false;
  watches: { resourceVersion?: string; accept?: string }[] = [];
  scripts: WatchScript[] = [];

  async request<T>(_method: string, _path: string, options: { accept?: string } = {}): Promise<T> {
    this.lists++;
    this.listAccepts.push(options.accept);
    return {
      metadata: { resourceVersion: String(this.listVersion) },
      items: this.nullItems ? null : structuredClone(this.items),
    } as T;
  }

  async watch(
    _path: string,
    query: Record<string, unknown>,
    onEvent: Parameters<KubeHttp['watch']>[2],
    signal: AbortSignal,
    accept?: string,
  ) {
    this.watches.push({ resourceVersion: query.resourceVersion as string | undefined, accept });
    const script = this.scripts.shift();
    if (script) return script(onEvent as never, signal);
    await hang(signal);
  }
}

/** Like a real watch connection: open until aborted, then it fails with the abort's reason. */
function hang(signal: AbortSignal): Promise<void> {
  return new Promise<void>((_resolve, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason ?? new Error('aborted'))),
  );
}

const object = (name: string, rv: string): KubeObject => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv },
});

function informer(http: FakeHttp, silenceLimitMs = 60_000, metadataOnly = false, clock = new ManualClock()) {
  return new Informer<KubeObject>({
    name: 'test',
    http: http as unknown as KubeHttp,
    path: '/x',
    clock,
    logger: silentLogger(),
    silenceLimitMs,
    metadataOnly,
  });
}

/** Lets the informer's pending work (all of it promise continuations of the fake) run. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Moves `clock` to its next timer (a backoff, the watchdog) and lets the informer act on it,
 * until `check` holds. Bounded: a condition never reached fails instead of spinning.
 */
async function advanceUntil(clock: ManualClock, check: () => boolean): Promise<void> {
  await flush();
  for (let step = 0; !check(); step++) {
    const next = clock.nextTimerAt();
    if (step === 20 || next === undefined) throw new Error('condition not reached');
    clock.advance(next - clock.now());
    await flush();
  }
}

test('lists, then watches from the list resourceVersion, applying events to the cache', async () => {
  const http = new FakeHttp();
  http.items = [object('a', '5')];
  http.listVersion = 7;
  http.scripts.push(async (emit, signal) => {
    emit({ type: 'ADDED', object: object('b', '8') as never });
    emit({ type: 'DELETED', object: object('a', '9') as never });
    await hang(signal);
  });
  const inf = informer(http);
  const seen: string[] = [];
  inf.on('add', (o) => seen.push(`add ${o.metadata.name}`));
  inf.on('delete', (o) => seen.push(`delete ${o.metadata.name}`));
  await inf.start();
  await flush();
  expect(seen).toEqual(['add a', 'add b', 'delete a']);
  expect(http.watches[0]?.resourceVersion).toBe('7');
  expect(inf.list().map((o) => o.metadata.name)).toEqual(['b']);
  await inf.stop();
});

test('cached objects lose their managedFields and keep fast properties', async () => {
  // V8's own check: a `delete` of managedFields made every cached metadata a hash table
  // (dictionary mode), ~350 bytes more per object across 20,000 cached bindings and Secrets.
  v8.setFlagsFromString('--allow-natives-syntax');
  const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;
  v8.setFlagsFromString('--no-allow-natives-syntax');
  const withManagedFields = (name: string, rv: string): KubeObject => ({
    metadata: {
      name,
      namespace: 'ns',
      resourceVersion: rv,
      labels: { app: 'x' },
      managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
    },
  });
  const http = new FakeHttp();
  http.items = [withManagedFields('a', '5')];
  http.scripts.push(async (emit, signal) => {
    emit({ type: 'ADDED', object: withManagedFields('b', '8') as never });
    await hang(signal);
  });
  const inf = informer(http);
  await inf.start();
  await flush();
  expect(inf.list()).toHaveLength(2);
  for (const cached of inf.list()) {
    expect(Object.keys(cached.metadata)).toEqual(['name', 'namespace', 'resourceVersion', 'labels']);
    expect(hasFastProperties(cached.metadata)).toBe(true);
  }
  await inf.stop();
});

test('a metadata-only informer asks for PartialObjectMetadata and takes an empty list of null items', async () => {
  const http = new FakeHttp();
  http.nullItems = true;
  http.scripts.push(async (emit, signal) => {
    emit({ type: 'ADDED', object: object('a', '8') as never });
    await hang(signal);
  });
  const inf = informer(http, 60_000, true);
  await inf.start();
  await flush();
  expect(inf.list()).toHaveLength(1);
  expect(http.listAccepts).toEqual(['application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1']);
  expect(http.watches[0]?.accept).toBe('application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1');
  expect(inf.status()).toMatchObject({ synced: true, restarts: 0 });
  await inf.stop();
});

test('a failed watch restarts from the last resourceVersion, counted as a restart', async () => {
  const http = new FakeHttp();
  http.scripts.push(async (emit) => {
    emit({ type: 'ADDED', object: object('a', '3') as never });
    throw new Error('connection reset');
  });
  const clock = new ManualClock();
  const inf = informer(http, 60_000, false, clock);
  await inf.start();
  await flush();
  // Not at once: after a backoff on the clock.
  expect(http.watches).toHaveLength(1);
  await advanceUntil(clock, () => http.watches.length >= 2);
  expect(http.watches[1]?.resourceVersion).toBe('3');
  expect(inf.status()).toMatchObject({ restarts: 1, lastError: 'connection reset', running: true });
  await inf.stop();
});

test('410 Gone lists again and carries on', async () => {
  const http = new FakeHttp();
  http.scripts.push(async (emit) =>
    emit({ type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old' } }),
  );
  const inf = informer(http);
  await inf.start();
  await flush();
  expect(http.lists).toBe(2);
  expect(http.watches).toHaveLength(2);
  expect(inf.status().restarts).toBe(0);
  await inf.stop();
});

test('a silent watch is torn down by the watchdog and restarted', async () => {
  const http = new FakeHttp();
  const clock = new ManualClock();
  const inf = informer(http, 50, false, clock); // bookmarks would come; none do
  await inf.start();
  await advanceUntil(clock, () => http.watches.length >= 2);
  expect(inf.status().lastError).toMatch(/no watch activity/);
  await inf.stop();
  expect(inf.status().running).toBe(false);
});

test('stop() ends a watch at once and the informer reports not running', async () => {
  const http = new FakeHttp();
  const inf = informer(http);
  await inf.start();
  const started = Date.now();
  await inf.stop();
  expect(Date.now() - started).toBeLessThan(1_000);
  expect(inf.status().running).toBe(false);
});

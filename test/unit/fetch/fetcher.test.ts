import { ManualClock } from '../../../src/runtime/clock.ts';
import { requestId } from '../../../src/data/binding-data.ts';
import {
  Fetcher,
  MAX_FIND_RESULTS,
  type FetchObserver,
  type StoreHandle,
} from '../../../src/fetch/fetcher.ts';
import { TokenBucket } from '../../../src/fetch/token-bucket.ts';
import { collectingLogger, silentLogger } from '../../../src/observability/logger.ts';
import {
  ProviderError,
  type RemoteRequest,
  type RemoteValue,
  type SecretsProvider,
} from '../../../src/providers/provider.port.ts';

/** Lets pending setImmediate callbacks and promise chains run; no clock time passes. */
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

type Answer = (request: RemoteRequest) => RemoteValue | ProviderError;

/** A provider that counts its calls and answers from a function; `hold` keeps calls pending. */
class FakeProvider implements SecretsProvider {
  readonly name = 'fake';
  readonly maxBatch: number;
  /** Unversioned requests can share a batch call (as Secrets Manager's BatchGetSecretValue). */
  batchable(request: RemoteRequest): boolean {
    return request.version === undefined;
  }
  readonly calls: RemoteRequest[][] = [];
  answer: Answer;
  /** Thrown by the next calls instead of answering (a whole-call failure). */
  throwing: unknown;
  private held: (() => void)[] = [];
  holding = false;

  constructor(maxBatch: number, answer: Answer) {
    this.maxBatch = maxBatch;
    this.answer = answer;
  }

  async getSecrets(requests: RemoteRequest[], onCall: (operation: string) => void) {
    this.calls.push(requests.map((r) => ({ ...r })));
    onCall('BatchGet');
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.throwing !== undefined) throw this.throwing;
    return requests.map((r) => this.answer(r));
  }

  release(): void {
    const held = this.held;
    this.held = [];
    for (const resolve of held) resolve();
  }

  async validate(): Promise<void> {}
  async close(): Promise<void> {}
}

let version = 0;
const valueOf: Answer = (r) => ({
  key: r.key,
  value: Buffer.from(`value-of-${r.key}@${r.version ?? 'current'}#${++version}`),
  versionId: `v${version}`,
});

function setup(
  options: {
    maxBatch?: number;
    qps?: number;
    burst?: number;
    answer?: Answer;
    valueChanged?: FetchObserver['valueChanged'];
    batchWindowMs?: number;
  } = {},
) {
  const clock = new ManualClock(Date.UTC(2025, 0, 1, 0, 0, 0));
  const provider = new FakeProvider(options.maxBatch ?? 10, options.answer ?? valueOf);
  const limiter = new TokenBucket({ qps: options.qps ?? 100, burst: options.burst ?? 100, clock });
  const store: StoreHandle = { id: 'uid-1/1', label: 'ClusterSecretStore/aws', provider, limiter };
  const { logger, lines: logs } = collectingLogger();
  const counts = { calls: 0, saved: 0, latencies: 0 };
  const observer: FetchObserver = {
    providerCall: () => void counts.calls++,
    providerLatency: () => void counts.latencies++,
    readSaved: () => void counts.saved++,
    valueChanged: options.valueChanged,
  };
  const fetcher = new Fetcher({ clock, logger, observer, batchWindowMs: options.batchWindowMs });
  return { clock, provider, limiter, store, fetcher, logs, counts };
}

const id = (key: string, version?: string) => requestId(version ? { key, version } : { key });

describe('Fetcher', () => {
  test('answers each request by its request id', async () => {
    const { fetcher, store, clock } = setup();
    const answers = await fetcher.read(store, [{ key: 'a' }, { key: 'a', version: 'prev' }], clock.now());
    expect([...answers.keys()]).toEqual([id('a'), id('a', 'prev')]);
    const current = answers.get(id('a')) as RemoteValue;
    const previous = answers.get(id('a', 'prev')) as RemoteValue;
    expect(current.value.toString()).toMatch(/^value-of-a@current#/);
    expect(previous.value.toString()).toMatch(/^value-of-a@prev#/);
  });

  test('100 concurrent reads of one remote value make exactly one provider call', async () => {
    const { fetcher, store, provider, clock, counts } = setup();
    const reads = Array.from({ length: 100 }, () => fetcher.read(store, [{ key: 'ml/hf' }], clock.now()));
    const answers = await Promise.all(reads);
    expect(provider.calls).toEqual([[{ key: 'ml/hf' }]]);
    const first = answers[0]!.get(id('ml/hf'));
    for (const answer of answers) expect(answer.get(id('ml/hf'))).toBe(first);
    expect(counts.calls).toBe(1);
    expect(counts.saved).toBe(99);
  });

  test('the same value asked twice in one read is read once', async () => {
    const { fetcher, store, provider, clock } = setup();
    await fetcher.read(store, [{ key: 'x' }, { key: 'x' }], clock.now());
    expect(provider.calls).toEqual([[{ key: 'x' }]]);
  });

  test('a value asked for after a read completed is served from the cache when it is new enough', async () => {
    const { fetcher, store, provider, clock } = setup();
    const epoch = clock.now();
    const first = await fetcher.read(store, [{ key: 'k' }], epoch);
    clock.advance(10 * 60_000);
    const second = await fetcher.read(store, [{ key: 'k' }], epoch);
    expect(provider.calls).toHaveLength(1);
    expect(second.get(id('k'))).toBe(first.get(id('k')));
  });

  test('a cached value read exactly at notOlderThan is served; one read before it is re-read', async () => {
    const { fetcher, store, provider, clock } = setup();
    const readAt = clock.now();
    const first = (await fetcher.read(store, [{ key: 'k' }], readAt)).get(id('k')) as RemoteValue;
    clock.advance(15 * 60_000);
    expect((await fetcher.read(store, [{ key: 'k' }], readAt)).get(id('k'))).toBe(first);
    expect(provider.calls).toHaveLength(1);
    const fresh = (await fetcher.read(store, [{ key: 'k' }], readAt + 1)).get(id('k')) as RemoteValue;
    expect(provider.calls).toHaveLength(2);
    expect(fresh).not.toBe(first);
    expect(fresh.value.toString()).not.toBe(first.value.toString());
    // The fresh value now serves the newer epoch.
    expect((await fetcher.read(store, [{ key: 'k' }], readAt + 1)).get(id('k'))).toBe(fresh);
    expect(provider.calls).toHaveLength(2);
  });

  test('values of different stores are never shared', async () => {
    const { fetcher, store, provider, clock } = setup();
    const other: StoreHandle = { ...store, id: 'uid-1/2' };
    await fetcher.read(store, [{ key: 'k' }], clock.now());
    await fetcher.read(other, [{ key: 'k' }], clock.now());
    expect(provider.calls).toHaveLength(2);
  });

  test('forgetStore drops the cached values of a store', async () => {
    const { fetcher, store, provider, clock } = setup();
    await fetcher.read(store, [{ key: 'k' }], clock.now());
    fetcher.forgetStore(store.id);
    await fetcher.read(store, [{ key: 'k' }], clock.now());
    expect(provider.calls).toHaveLength(2);
  });

  test('per-request errors are not cached: the next read calls again', async () => {
    let missing = true;
    const { fetcher, store, provider, clock } = setup({
      answer: (r) =>
        missing ? new ProviderError('NotFound', `remote key "${r.key}" not found`) : valueOf(r),
    });
    const first = await fetcher.read(store, [{ key: 'k' }], clock.now());
    expect(first.get(id('k'))).toBeInstanceOf(ProviderError);
    expect((first.get(id('k')) as ProviderError).category).toBe('NotFound');
    const second = await fetcher.read(store, [{ key: 'k' }], clock.now());
    expect(second.get(id('k'))).toBeInstanceOf(ProviderError);
    expect(provider.calls).toHaveLength(2);
    missing = false;
    const third = await fetcher.read(store, [{ key: 'k' }], clock.now());
    expect(third.get(id('k'))).not.toBeInstanceOf(ProviderError);
    expect(provider.calls).toHaveLength(3);
  });

  test('concurrent asks share one failing call', async () => {
    const { fetcher, store, provider, clock } = setup();
    provider.throwing = new ProviderError('Unavailable', 'store unreachable');
    provider.holding = true;
    const reads = Array.from({ length: 10 }, () => fetcher.read(store, [{ key: 'k' }], clock.now()));
    await settle();
    expect(provider.calls).toHaveLength(1);
    // Asked while the failing call is in flight: joins it.
    const late = fetcher.read(store, [{ key: 'k' }], clock.now());
    provider.release();
    const answers = await Promise.all([...reads, late]);
    expect(provider.calls).toHaveLength(1);
    for (const answer of answers) {
      expect(answer.get(id('k'))).toBe(provider.throwing);
    }
    // ...and once it is over, the error is not cached.
    provider.holding = false;
    await fetcher.read(store, [{ key: 'k' }], clock.now());
    expect(provider.calls).toHaveLength(2);
  });

  test('asks made in one tick are batched in chunks of maxBatch: 45 keys, batch 20 → 3 calls', async () => {
    const { fetcher, store, provider, clock } = setup({ maxBatch: 20 });
    const keys = Array.from({ length: 45 }, (_, i) => `key-${i}`);
    const reads = keys.map((key) => fetcher.read(store, [{ key }], clock.now()));
    const answers = await Promise.all(reads);
    expect(provider.calls.map((c) => c.length)).toEqual([20, 20, 5]);
    expect(provider.calls.flat().map((r) => r.key)).toEqual(keys);
    answers.forEach((answer, i) => {
      expect((answer.get(id(keys[i]!)) as RemoteValue).key).toBe(keys[i]);
    });
  });

  test('one read of many keys is batched too', async () => {
    const { fetcher, store, provider, clock } = setup({ maxBatch: 20 });
    const requests = Array.from({ length: 45 }, (_, i) => ({ key: `key-${i}` }));
    const answers = await fetcher.read(store, requests, clock.now());
    expect(provider.calls.map((c) => c.length)).toEqual([20, 20, 5]);
    expect(answers.size).toBe(45);
  });

  describe('read-ahead', () => {
    const EPOCH = 3600_000;
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);

    test('a full refresh of 40 values used last epoch costs 2 calls of 20, however the asks trickle in', async () => {
      const { fetcher, store, provider, clock } = setup({ maxBatch: 20 });
      // Epoch 1: each value asked on its own (bindings created one by one).
      for (const key of keys) await fetcher.read(store, [{ key }], clock.now());
      expect(provider.calls).toHaveLength(40);
      // Epoch 2: the bindings come back one at a time.
      clock.advance(EPOCH);
      const epoch2 = clock.now();
      provider.calls.length = 0;
      for (const key of keys) {
        const answer = await fetcher.read(store, [{ key }], epoch2);
        expect((answer.get(id(key)) as RemoteValue).key).toBe(key);
      }
      expect(provider.calls.map((c) => c.length)).toEqual([20, 20]);
    });

    test('a full refresh by 8 concurrent workers of 1,000 bindings over 100 values: ceil(100/20) = 5 calls', async () => {
      const { fetcher, store, provider, clock } = setup({ maxBatch: 20 });
      const slow = provider.getSecrets.bind(provider);
      // Each call takes a few turns of the event loop, as a network call would.
      provider.getSecrets = async (requests, onCall) => {
        await settle(3);
        return slow(requests, onCall);
      };
      const refresh = async (notOlderThan: number) => {
        let next = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < 1000) {
              const i = next++;
              const answer = await fetcher.read(store, [{ key: `key-${i % 100}` }], notOlderThan);
              expect((answer.get(id(`key-${i % 100}`)) as RemoteValue).key).toBe(`key-${i % 100}`);
              await settle(1); // the binding's own work between reads
            }
          }),
        );
      };
      await refresh(clock.now());
      clock.advance(EPOCH);
      provider.calls.length = 0;
      await refresh(clock.now());
      expect(provider.calls.map((c) => c.length)).toEqual([20, 20, 20, 20, 20]);
      expect(new Set(provider.calls.flat().map((r) => r.key)).size).toBe(100);
    });

    test('the first ask of a new epoch prefetches every value used last epoch, in full batches, at once', async () => {
      const { fetcher, store, provider, clock } = setup({ maxBatch: 20 });
      const used = Array.from({ length: 45 }, (_, i) => `key-${i}`);
      for (const key of used) await fetcher.read(store, [{ key }], clock.now(), { epoch: true });
      clock.advance(EPOCH);
      const epoch2 = clock.now();
      provider.calls.length = 0;
      // One binding asks; the store's other 44 values are read alongside, before anyone asks.
      await fetcher.read(store, [{ key: 'key-7' }], epoch2, { epoch: true });
      expect(provider.calls.map((c) => c.length).sort((a, b) => b - a)).toEqual([20, 20, 5]);
      for (const key of used) await fetcher.read(store, [{ key }], epoch2, { epoch: true });
      expect(provider.calls).toHaveLength(3);
    });

    test('a prefetched value nobody asked for is not prefetched again the epoch after', async () => {
      const { fetcher, store, provider, clock } = setup({ maxBatch: 2 });
      await fetcher.read(store, [{ key: 'a' }, { key: 'b' }, { key: 'c' }], clock.now(), { epoch: true });
      clock.advance(EPOCH);
      provider.calls.length = 0;
      await fetcher.read(store, [{ key: 'a' }], clock.now(), { epoch: true });
      await fetcher.read(store, [{ key: 'b' }], clock.now(), { epoch: true });
      // "c" came along (used last epoch) but no binding asked for it this epoch.
      expect(
        provider.calls
          .flat()
          .map((r) => r.key)
          .sort(),
      ).toEqual(['a', 'b', 'c']);
      clock.advance(EPOCH);
      provider.calls.length = 0;
      await fetcher.read(store, [{ key: 'a' }], clock.now(), { epoch: true });
      expect(
        provider.calls
          .flat()
          .map((r) => r.key)
          .sort(),
      ).toEqual(['a', 'b']);
    });

    test('read-ahead never adds a call, skips versioned requests, and only refreshes stale values', async () => {
      const { fetcher, store, provider, clock } = setup({ maxBatch: 20 });
      await fetcher.read(
        store,
        [{ key: 'a' }, { key: 'b', version: 'AWSPREVIOUS' }, { key: 'c' }],
        clock.now(),
      );
      clock.advance(EPOCH);
      provider.calls.length = 0;
      await fetcher.read(store, [{ key: 'a' }], clock.now());
      // "c" rides along; "b" (versioned) does not; no extra call is made for either.
      expect(provider.calls).toEqual([[{ key: 'a' }, { key: 'c' }]]);
      await fetcher.read(store, [{ key: 'c' }], clock.now());
      expect(provider.calls).toHaveLength(1);
    });
  });

  test('asks in different ticks go out separately', async () => {
    const { fetcher, store, provider, clock } = setup({ maxBatch: 20 });
    await fetcher.read(store, [{ key: 'a' }], clock.now());
    await fetcher.read(store, [{ key: 'b' }], clock.now());
    expect(provider.calls).toEqual([[{ key: 'a' }], [{ key: 'b' }]]);
  });

  test('with a batch window, asks of later turns within it share the call; later ones start another', async () => {
    const { fetcher, store, provider, clock } = setup({ maxBatch: 20, batchWindowMs: 30 });
    const first = fetcher.read(store, [{ key: 'a' }], clock.now());
    await settle();
    // A turn later, still inside the window: no call yet, and the next ask joins the batch.
    expect(provider.calls).toHaveLength(0);
    clock.advance(29);
    const second = fetcher.read(store, [{ key: 'b' }], clock.now());
    await settle();
    expect(provider.calls).toHaveLength(0);
    clock.advance(1); // the window closes
    await Promise.all([first, second]);
    expect(provider.calls).toEqual([[{ key: 'a' }, { key: 'b' }]]);
    const third = fetcher.read(store, [{ key: 'c' }], clock.now());
    await settle();
    expect(provider.calls).toHaveLength(1); // a window of its own
    clock.advance(30);
    await third;
    expect(provider.calls).toEqual([[{ key: 'a' }, { key: 'b' }], [{ key: 'c' }]]);
  });

  test('each batch takes one token: with the bucket empty the batch waits for the clock', async () => {
    const { fetcher, store, provider, clock, limiter } = setup({ qps: 1, burst: 1 });
    while (limiter.tryTake());
    let done = false;
    const read = fetcher.read(store, [{ key: 'a' }], clock.now()).then((answer) => {
      done = true;
      return answer;
    });
    await settle();
    expect(provider.calls).toHaveLength(0);
    clock.advance(1000);
    await read;
    expect(done).toBe(true);
    expect(provider.calls).toHaveLength(1);
  });

  test('a provider that throws a non-ProviderError yields Unavailable without the thrown text', async () => {
    const marker = 'THROWN-MARKER-e41f';
    const { fetcher, store, provider, clock, logs } = setup();
    provider.throwing = new TypeError(`boom ${marker}`);
    const answers = await fetcher.read(store, [{ key: 'a' }, { key: 'b' }], clock.now());
    for (const key of ['a', 'b']) {
      const error = answers.get(id(key)) as ProviderError;
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.category).toBe('Unavailable');
      expect(error.message).not.toContain(marker);
    }
    // The bug is logged by class, never by text.
    expect(logs.join('')).toContain('TypeError');
    expect(logs.join('')).not.toContain(marker);
  });

  test('a provider that answers too few entries yields Unavailable for the rest', async () => {
    const { fetcher, store, provider, clock } = setup();
    provider.getSecrets = async (requests) => [valueOf(requests[0]!)];
    const answers = await fetcher.read(store, [{ key: 'a' }, { key: 'b' }], clock.now());
    expect(answers.get(id('a'))).not.toBeInstanceOf(ProviderError);
    expect((answers.get(id('b')) as ProviderError).category).toBe('Unavailable');
  });

  test('Throttled with retry-after closes the bucket until the clock has moved that far', async () => {
    let throttle = true;
    const { fetcher, store, provider, clock } = setup({
      answer: (r) => (throttle ? new ProviderError('Throttled', 'rate exceeded', 5000) : valueOf(r)),
    });
    const first = await fetcher.read(store, [{ key: 'a' }], clock.now());
    expect((first.get(id('a')) as ProviderError).category).toBe('Throttled');
    throttle = false;

    let done = false;
    const next = fetcher.read(store, [{ key: 'b' }], clock.now()).then((answer) => {
      done = true;
      return answer;
    });
    await settle();
    expect(provider.calls).toHaveLength(1);
    clock.advance(4999);
    await settle();
    expect(done).toBe(false);
    expect(provider.calls).toHaveLength(1);
    clock.advance(1);
    const answer = await next;
    expect(done).toBe(true);
    expect(provider.calls).toHaveLength(2);
    expect(answer.get(id('b'))).not.toBeInstanceOf(ProviderError);
  });

  test('Throttled thrown for the whole call penalises the bucket too', async () => {
    const { fetcher, store, provider, clock, limiter } = setup();
    provider.throwing = new ProviderError('Throttled', 'rate exceeded', 2000);
    await fetcher.read(store, [{ key: 'a' }], clock.now());
    expect(limiter.msUntilAvailable()).toBe(2000);
  });

  test('Throttled without retry-after does not close the bucket', async () => {
    const { fetcher, store, clock, limiter } = setup({
      answer: () => new ProviderError('Throttled', 'rate exceeded'),
    });
    await fetcher.read(store, [{ key: 'a' }], clock.now());
    expect(limiter.msUntilAvailable()).toBe(0);
  });

  test('cache entries unused for longer than maxIdleMs are swept', async () => {
    const { store, provider, clock } = setup();
    const fetcher = new Fetcher({
      clock,
      logger: silentLogger(),
      maxIdleMs: 60_000,
    });
    const start = clock.now();
    await fetcher.read(store, [{ key: 'k' }], start);
    clock.advance(61_000);
    await fetcher.read(store, [{ key: 'k' }], start);
    expect(provider.calls).toHaveLength(2);
  });
});

describe('find results are bounded', () => {
  function findSetup() {
    const { clock, store, provider } = setup({ qps: 100_000, burst: 100_000 });
    const finds: string[] = [];
    (provider as unknown as { find: SecretsProvider['find'] }).find = async (query) => {
      finds.push(query.path ?? '');
      return [{ key: `k-${query.path}`, value: Buffer.from('v'), versionId: '1' }];
    };
    const fetcher = new Fetcher({
      clock,
      logger: silentLogger(),
      maxIdleMs: 60_000,
    });
    return { clock, store, fetcher, finds };
  }

  test(`at most MAX_FIND_RESULTS (${MAX_FIND_RESULTS}) queries are kept, least recently used dropped first`, async () => {
    const { clock, store, fetcher, finds } = findSetup();
    const now = clock.now();
    await fetcher.find(store, { path: 'keep' }, now);
    for (let i = 0; i < MAX_FIND_RESULTS + 10; i++) {
      await fetcher.find(store, { path: `q${i}` }, now);
      await fetcher.find(store, { path: 'keep' }, now); // used: stays
    }
    finds.length = 0;
    await fetcher.find(store, { path: 'keep' }, now);
    await fetcher.find(store, { path: `q${MAX_FIND_RESULTS + 9}` }, now);
    expect(finds).toEqual([]);
    await fetcher.find(store, { path: 'q0' }, now);
    expect(finds).toEqual(['q0']);
  });

  test('forgetStore and the idle sweep drop find results', async () => {
    const { clock, store, fetcher, finds } = findSetup();
    const start = clock.now();
    await fetcher.find(store, { path: 'a' }, start);
    fetcher.forgetStore(store.id);
    await fetcher.find(store, { path: 'a' }, start);
    expect(finds).toEqual(['a', 'a']);
    clock.advance(61_000);
    await fetcher.find(store, { path: 'b' }, start); // sweeps 'a' (idle 61 s)
    await fetcher.find(store, { path: 'a' }, start);
    expect(finds).toEqual(['a', 'a', 'b', 'a']);
  });
});

describe('Fetcher: changed values (a rotation in the store)', () => {
  test('a re-read that finds a new version reports it; an unchanged re-read and a first read do not', async () => {
    const versions: Record<string, string> = { a: 'v1', b: 'v1' };
    const changed: string[] = [];
    const { fetcher, store, clock } = setup({
      answer: (r) => ({
        key: r.key,
        value: Buffer.from(`${r.key}-${versions[r.key]}`),
        versionId: versions[r.key],
      }),
      valueChanged: (s, request) => changed.push(`${s.label}:${request.key}`),
    });
    await fetcher.read(store, [{ key: 'a' }, { key: 'b' }], clock.now());
    expect(changed).toEqual([]); // first reads: nothing to compare with
    versions.a = 'v2';
    clock.advance(60_000);
    await fetcher.read(store, [{ key: 'a' }, { key: 'b' }], clock.now());
    expect(changed).toEqual(['ClusterSecretStore/aws:a']);
  });

  test('without version ids the bytes decide', async () => {
    let value = 'one';
    const changed: string[] = [];
    const { fetcher, store, clock } = setup({
      answer: (r) => ({ key: r.key, value: Buffer.from(value) }),
      valueChanged: (_s, request) => changed.push(request.key),
    });
    await fetcher.read(store, [{ key: 'k' }], clock.now());
    clock.advance(60_000);
    await fetcher.read(store, [{ key: 'k' }], clock.now());
    expect(changed).toEqual([]);
    value = 'two';
    clock.advance(60_000);
    await fetcher.read(store, [{ key: 'k' }], clock.now());
    expect(changed).toEqual(['k']);
  });
});

// The shared read layer between reconcilers and providers (docs/architecture.md, "Stores, the
// fetch layer and providers").
import type { Logger } from 'winston';
import type { Clock } from '../runtime/clock.ts';
import { findId, requestId } from '../data/binding-data.ts';
import {
  ProviderError,
  type FindQuery,
  type RemoteRequest,
  type RemoteValue,
  type SecretsProvider,
} from '../providers/provider.port.ts';
import type { TokenBucket } from './token-bucket.ts';

/** A store's provider as the fetch layer uses it. */
export interface StoreHandle {
  /** Changes whenever the store's spec changes, so stale values are never shared across specs. */
  id: string;
  /** For metrics and logs: "SecretStore/ns/name" or "ClusterSecretStore/name". */
  label: string;
  provider: SecretsProvider;
  limiter: TokenBucket;
}

/** Counts the fetch layer reports; the metrics module turns them into series. */
export interface FetchObserver {
  providerCall(store: StoreHandle, operation: string): void;
  providerLatency(store: StoreHandle, operation: string, ms: number): void;
  readSaved(store: StoreHandle): void;
  /**
   * A read found a new value where the cache held an older one (a remote secret was rotated):
   * the bindings that read it have new data to write.
   */
  valueChanged?(store: StoreHandle, request: RemoteRequest): void;
}

type Outcome = RemoteValue | ProviderError;

interface CacheEntry {
  request: RemoteRequest;
  value: RemoteValue;
  fetchedAt: number;
  usedAt: number;
}

interface Pending {
  request: RemoteRequest;
  /** The freshness the asker needs; read-ahead refreshes entries older than this. */
  notOlderThan: number;
  resolve: (outcome: Outcome) => void;
  /** Read ahead, not asked for: refreshing it must not count as a use. */
  readAhead?: boolean;
  /** `notOlderThan` is the start of a refresh epoch (not "now", as for a rotation). */
  epoch?: boolean;
}

/**
 * One provider read serves every binding that needs the same remote value:
 * - a cache keyed by (store, remote key, version), served when the entry was read at or after
 *   the caller's `notOlderThan` (the start of its refresh epoch: bindings refresh on aligned
 *   wall-clock boundaries, so all of them accept the first read of the epoch);
 * - single flight: concurrent asks for the same value share one read;
 * - batching: asks for one store made in the same turn of the event loop go out together,
 *   in chunks of the provider's batch size, each chunk taking one token of the store's limit.
 */
/** The most find results kept (least recently used dropped first). */
export const MAX_FIND_RESULTS = 256;

export class Fetcher {
  private readonly clock: Clock;
  private readonly observer?: FetchObserver;
  private readonly logger: Logger;
  private readonly cache = new Map<string, CacheEntry>();
  /** Cache keys by store id, for read-ahead. */
  private readonly keysByStore = new Map<string, Set<string>>();
  private readonly inFlight = new Map<string, Promise<Outcome>>();
  /**
   * Find results by store and query, least recently used first. Bounded: queries come from
   * specs (any path, regexp or tags), and a result may hold many values, so results of queries
   * no binding asks any more must not stay (swept when idle, forgotten with their store, and
   * at most MAX_FIND_RESULTS kept).
   */
  private readonly found = new Map<string, { values: RemoteValue[]; fetchedAt: number; usedAt: number }>();
  private readonly finding = new Map<string, Promise<RemoteValue[]>>();
  private readonly pending = new Map<string, { store: StoreHandle; items: Pending[] }>();
  private readonly maxIdleMs: number;
  private lastSweep = 0;
  /** The refresh epoch (notOlderThan) each store was last prefetched for. */
  private readonly prefetched = new Map<string, number>();
  private readonly batchWindowMs: number;
  private readonly batchClock: Clock;

  constructor(options: {
    clock: Clock;
    logger: Logger;
    observer?: FetchObserver;
    maxIdleMs?: number;
    /**
     * How long the first ask of a batch waits for others to the same store. 0 (the default):
     * asks of the same turn of the event loop only. New bindings arrive a few per turn, so a
     * burst of first syncs made a call per binding or two; a few milliseconds make it one per
     * worker's worth.
     */
    batchWindowMs?: number;
    /**
     * The clock the batch window is timed on (default: `clock`). The operator times it on the
     * system clock whatever its own clock: the window is a few milliseconds of real time for
     * asks to gather in, so an operator run on a manual clock must not wait for the clock to
     * be moved before a first read goes out.
     */
    batchClock?: Clock;
  }) {
    this.clock = options.clock;
    this.batchWindowMs = options.batchWindowMs ?? 0;
    this.batchClock = options.batchClock ?? options.clock;
    this.logger = options.logger;
    this.observer = options.observer;
    this.maxIdleMs = options.maxIdleMs ?? 2 * 3600_000;
  }

  /**
   * Reads `requests` from `store`, each answered by a value or its classified error.
   * `epoch`: `notOlderThan` is the start of the caller's refresh epoch (the first such ask in a
   * new epoch prefetches the store's values), not a one-off "fresh as of now".
   */
  async read(
    store: StoreHandle,
    requests: RemoteRequest[],
    notOlderThan: number,
    options: { epoch?: boolean } = {},
  ): Promise<Map<string, Outcome>> {
    const now = this.clock.now();
    this.sweep(now);
    const answers = await Promise.all(
      requests.map((request) => {
        const key = cacheKey(store, request);
        const cached = this.cache.get(key);
        if (cached && cached.fetchedAt >= notOlderThan) {
          cached.usedAt = now;
          this.observer?.readSaved(store);
          return cached.value;
        }
        const flying = this.inFlight.get(key);
        if (flying) {
          this.observer?.readSaved(store);
          return flying;
        }
        return this.track(key, this.enqueue(store, request, notOlderThan, options.epoch));
      }),
    );
    return new Map(requests.map((request, i) => [requestId(request), answers[i]!]));
  }

  /**
   * The remote secrets matching a find query, listed again in every refresh epoch (so added
   * ones appear and deleted ones disappear), shared by every binding with the same query.
   */
  async find(store: StoreHandle, query: FindQuery, notOlderThan: number): Promise<RemoteValue[]> {
    if (!store.provider.find) {
      throw new ProviderError(
        'Invalid',
        `${store.provider.name} cannot list secrets, so dataFrom.find is not available`,
      );
    }
    const now = this.clock.now();
    this.sweep(now);
    const key = `${store.id}\u0002${findId(query)}`;
    const cached = this.found.get(key);
    if (cached && cached.fetchedAt >= notOlderThan) {
      this.observer?.readSaved(store);
      // Most recently used last.
      this.found.delete(key);
      this.found.set(key, { ...cached, usedAt: now });
      return cached.values;
    }
    const flying = this.finding.get(key);
    if (flying) return flying;
    const promise = (async () => {
      await store.limiter.take();
      const started = this.clock.now();
      try {
        const values = await store.provider.find!(query, (operation) =>
          this.observer?.providerCall(store, operation),
        );
        this.found.delete(key);
        this.found.set(key, { values, fetchedAt: started, usedAt: this.clock.now() });
        while (this.found.size > MAX_FIND_RESULTS) this.found.delete(this.found.keys().next().value!);
        return values;
      } catch (error) {
        if (error instanceof ProviderError) throw error;
        throw new ProviderError('Unavailable', `${store.provider.name} failed unexpectedly while listing`);
      } finally {
        this.observer?.providerLatency(store, 'find', this.clock.now() - started);
      }
    })().finally(() => this.finding.delete(key));
    this.finding.set(key, promise);
    return promise;
  }

  /** Forgets every value of a store (its spec or credentials changed). */
  forgetStore(storeId: string): void {
    for (const key of this.keysByStore.get(storeId) ?? []) this.cache.delete(key);
    this.keysByStore.delete(storeId);
    this.prefetched.delete(storeId);
    for (const key of this.found.keys()) if (key.startsWith(`${storeId}\u0002`)) this.found.delete(key);
  }

  private track(key: string, promise: Promise<Outcome>): Promise<Outcome> {
    const tracked = promise.finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, tracked);
    return tracked;
  }

  private enqueue(
    store: StoreHandle,
    request: RemoteRequest,
    notOlderThan: number,
    epoch?: boolean,
  ): Promise<Outcome> {
    return new Promise((resolve) => {
      let batch = this.pending.get(store.id);
      if (!batch) {
        batch = { store, items: [] };
        this.pending.set(store.id, batch);
        // Everything asked of this store in this turn of the event loop (or the batch window)
        // goes out together.
        const send = () => {
          this.pending.delete(store.id);
          void this.flush(batch!.store, batch!.items);
        };
        if (this.batchWindowMs > 0) this.batchClock.setTimer(send, this.batchWindowMs);
        else setImmediate(send);
      }
      batch.items.push({ request, notOlderThan, resolve, epoch });
    });
  }

  private async flush(store: StoreHandle, items: Pending[]): Promise<void> {
    const size = Math.max(1, store.provider.maxBatch);
    this.readAhead(store, items, size);
    const chunks: Pending[][] = [];
    for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
    await Promise.all(chunks.map((chunk) => this.call(store, chunk)));
  }

  private async call(store: StoreHandle, chunk: Pending[]): Promise<void> {
    await store.limiter.take();
    const started = this.clock.now();
    let outcomes: Outcome[];
    try {
      outcomes = await store.provider.getSecrets(
        chunk.map((p) => p.request),
        (operation) => this.observer?.providerCall(store, operation),
      );
    } catch (error) {
      const failure =
        error instanceof ProviderError
          ? error
          : new ProviderError('Unavailable', `${store.provider.name} failed unexpectedly`);
      if (!(error instanceof ProviderError)) {
        // An unclassified error is a bug in a provider: log its class only, never its text.
        this.logger.error('provider threw an unclassified error', {
          store: store.label,
          error: (error as Error)?.name,
        });
      }
      outcomes = chunk.map(() => failure);
    }
    const finished = this.clock.now();
    this.observer?.providerLatency(store, 'read', finished - started);
    chunk.forEach((pending, i) => {
      const outcome = outcomes[i] ?? new ProviderError('Unavailable', 'the provider gave no answer');
      if (outcome instanceof ProviderError) {
        if (outcome.category === 'Throttled' && outcome.retryAfterMs)
          store.limiter.penalise(outcome.retryAfterMs);
      } else {
        const usedAt = pending.readAhead
          ? (this.cache.get(cacheKey(store, pending.request))?.usedAt ?? started)
          : finished;
        this.remember(store, pending.request, { value: outcome, fetchedAt: started, usedAt });
      }
      pending.resolve(outcome);
    });
  }

  /**
   * Read-ahead, in two forms. The first ask of a store in a new refresh epoch reads every value
   * of that store that was used in the previous epoch and is now stale, in full batches, at
   * once: the bindings that need them are about to ask (a full refresh is due on the same
   * wall-clock boundary), so a refresh of K remote secrets costs ceil(K / batch size) calls
   * and the reconciles behind it find the cache warm instead of waiting on calls one after
   * the other. Later asks in the epoch fill the spare room of their last batch with any other
   * stale values, which never adds a call.
   */
  private readAhead(store: StoreHandle, items: Pending[], size: number): void {
    const batchable = store.provider.batchable?.bind(store.provider);
    if (size <= 1 || !batchable) return;
    const horizon = Math.max(...items.map((p) => p.notOlderThan));
    const epochStart = Math.max(...items.map((p) => (p.epoch ? p.notOlderThan : -Infinity)));
    const newEpoch = epochStart === horizon && horizon > (this.prefetched.get(store.id) ?? -Infinity);
    if (newEpoch) this.prefetched.set(store.id, horizon);
    let spare = newEpoch ? Infinity : Math.ceil(items.length / size) * size - items.length;
    if (spare === 0) return;
    const asked = new Set(items.map((p) => cacheKey(store, p.request)));
    const candidates = [...(this.keysByStore.get(store.id) ?? [])]
      .map((key) => ({ key, entry: this.cache.get(key) }))
      .filter(
        (c): c is { key: string; entry: CacheEntry } =>
          c.entry !== undefined &&
          c.entry.fetchedAt < horizon &&
          // The epoch-start prefetch takes only values some binding used since their last read.
          (!newEpoch || c.entry.usedAt >= c.entry.fetchedAt) &&
          !asked.has(c.key) &&
          !this.inFlight.has(c.key) &&
          batchable(c.entry.request),
      )
      .sort((a, b) => b.entry.usedAt - a.entry.usedAt);
    for (const { key, entry } of candidates) {
      if (spare-- <= 0) break;
      // Tracked as in flight, so a binding that asks meanwhile joins this read.
      void this.track(
        key,
        new Promise<Outcome>((resolve) =>
          items.push({ request: entry.request, notOlderThan: horizon, resolve, readAhead: true }),
        ),
      );
    }
  }

  private remember(store: StoreHandle, request: RemoteRequest, entry: Omit<CacheEntry, 'request'>): void {
    const key = cacheKey(store, request);
    const previous = this.cache.get(key)?.value;
    this.cache.set(key, { request, ...entry });
    if (previous && changed(previous, entry.value)) this.observer?.valueChanged?.(store, request);
    let keys = this.keysByStore.get(store.id);
    if (!keys) this.keysByStore.set(store.id, (keys = new Set()));
    keys.add(key);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [key, entry] of this.cache) {
      if (now - entry.usedAt <= this.maxIdleMs) continue;
      this.cache.delete(key);
      for (const keys of this.keysByStore.values()) keys.delete(key);
    }
    for (const [key, entry] of this.found) if (now - entry.usedAt > this.maxIdleMs) this.found.delete(key);
  }
}

/** A new version of a remote value: by version id where the store gives one, else by bytes. */
function changed(before: RemoteValue, after: RemoteValue): boolean {
  if (before.versionId !== undefined && after.versionId !== undefined)
    return before.versionId !== after.versionId;
  return !before.value.equals(after.value);
}

function cacheKey(store: StoreHandle, request: RemoteRequest): string {
  return `${store.id}\u0001${requestId(request)}`;
}

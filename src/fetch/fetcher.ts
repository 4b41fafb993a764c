// The shared read layer between reconcilers and providers (DESIGN.md §3 fetch/).
import type { Logger } from 'winston';
import type { Clock } from '../controller/clock.ts';
import { requestId } from '../data/binding-data.ts';
import {
  ProviderError,
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
}

type Outcome = RemoteValue | ProviderError;

interface CacheEntry {
  value: RemoteValue;
  fetchedAt: number;
  usedAt: number;
}

interface Pending {
  request: RemoteRequest;
  resolve: (outcome: Outcome) => void;
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
export class Fetcher {
  private readonly clock: Clock;
  private readonly observer?: FetchObserver;
  private readonly logger: Logger;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<Outcome>>();
  private readonly pending = new Map<string, { store: StoreHandle; items: Pending[] }>();
  private readonly maxIdleMs: number;
  private lastSweep = 0;

  constructor(options: { clock: Clock; logger: Logger; observer?: FetchObserver; maxIdleMs?: number }) {
    this.clock = options.clock;
    this.logger = options.logger;
    this.observer = options.observer;
    this.maxIdleMs = options.maxIdleMs ?? 2 * 3600_000;
  }

  /** Reads `requests` from `store`, each answered by a value or its classified error. */
  async read(
    store: StoreHandle,
    requests: RemoteRequest[],
    notOlderThan: number,
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
        const promise = this.enqueue(store, request).finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, promise);
        return promise;
      }),
    );
    return new Map(requests.map((request, i) => [requestId(request), answers[i]!]));
  }

  /** Forgets every value of a store (its spec or credentials changed). */
  forgetStore(storeIdPrefix: string): void {
    for (const key of this.cache.keys()) if (key.startsWith(storeIdPrefix)) this.cache.delete(key);
  }

  private enqueue(store: StoreHandle, request: RemoteRequest): Promise<Outcome> {
    return new Promise((resolve) => {
      let batch = this.pending.get(store.id);
      if (!batch) {
        batch = { store, items: [] };
        this.pending.set(store.id, batch);
        // Everything asked of this store in this turn of the event loop goes out together.
        setImmediate(() => {
          this.pending.delete(store.id);
          void this.flush(batch!.store, batch!.items);
        });
      }
      batch.items.push({ request, resolve });
    });
  }

  private async flush(store: StoreHandle, items: Pending[]): Promise<void> {
    const size = Math.max(1, store.provider.maxBatch);
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
        this.cache.set(cacheKey(store, pending.request), {
          value: outcome,
          fetchedAt: started,
          usedAt: finished,
        });
      }
      pending.resolve(outcome);
    });
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [key, entry] of this.cache) if (now - entry.usedAt > this.maxIdleMs) this.cache.delete(key);
  }
}

function cacheKey(store: StoreHandle, request: RemoteRequest): string {
  return `${store.id}\u0001${requestId(request)}`;
}

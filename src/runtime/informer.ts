import type { Logger } from 'winston';
import { pause, type Clock } from './clock.ts';
import { isGone, KubeApiError, type KubeHttp } from './http.ts';
import { compactStrings } from './compact-strings.ts';

/** The parts of an object every informer reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    managedFields?: unknown;
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
}

export type InformerEvent = 'add' | 'update' | 'delete';
export type Handler<T> = (object: T, previous?: T) => void;

export interface InformerOptions<T extends KubeObject> {
  /** For logs, metrics and health: "secretbindings", "managed-secrets". */
  name: string;
  http: KubeHttp;
  /** Collection path, e.g. /apis/mlsecrets.io/v1alpha1/secretbindings or /api/v1/namespaces/ns/secrets. */
  path: string;
  labelSelector?: string;
  /**
   * Lists and watches object metadata only (PartialObjectMetadata, as client-go's metadata
   * informers do): for caches that need names and labels, not the objects' content.
   */
  metadataOnly?: boolean;
  /** Trims what the cache keeps (managedFields are always dropped). */
  transform?: (object: T) => T;
  clock: Clock;
  logger: Logger;
  pageSize?: number;
  /** A watch that delivered nothing (not even a bookmark) for this long is presumed dead. */
  silenceLimitMs?: number;
}

/** What /healthz reads of an informer. */
export interface InformerHealth {
  name: string;
  running: boolean;
  synced: boolean;
  lastActivityAt: number;
  restarts: number;
  lastError?: string;
}

/**
 * List-then-watch cache of one collection, like client-go's reflector. It never dies
 * silently: a failed or closed watch is restarted (from the last resourceVersion, or with a
 * fresh list after 410 Gone) with capped exponential backoff, and a watch that has been
 * quiet longer than the bookmark interval allows is torn down and restarted.
 */
export class Informer<T extends KubeObject> {
  private readonly options: InformerOptions<T>;
  private readonly cache = new Map<string, T>();
  private readonly handlers: Record<InformerEvent, Handler<T>[]> = { add: [], update: [], delete: [] };
  private resourceVersion = '';
  private abort?: AbortController;
  private stopped = true;
  private failures = 0;
  private syncedResolve?: () => void;
  private readonly health: InformerHealth;
  private loop?: Promise<void>;
  private wake?: () => void;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.health = { name: options.name, running: false, synced: false, lastActivityAt: 0, restarts: 0 };
  }

  on(event: InformerEvent, handler: Handler<T>): void {
    this.handlers[event].push(handler);
  }

  /** Starts listing and watching; resolves once the first list is in the cache. */
  start(): Promise<void> {
    if (!this.stopped) return Promise.resolve();
    this.stopped = false;
    this.health.running = true;
    const synced = new Promise<void>((resolve) => (this.syncedResolve = resolve));
    this.loop = this.run();
    return synced;
  }

  /** Stops for good. Used at shutdown, and by tests that prove /healthz notices. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.health.running = false;
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  size(): number {
    return this.cache.size;
  }

  status(): InformerHealth {
    return { ...this.health };
  }

  private async run(): Promise<void> {
    const { logger, name } = this.options;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          if (!this.health.synced) {
            this.health.synced = true;
            this.syncedResolve?.();
          }
        }
        await this.watchOnce();
        this.failures = 0; // a clean server-side close (timeoutSeconds) is normal
      } catch (error) {
        if (this.stopped) break;
        if (isGone(error)) {
          logger.info('watch expired (410 Gone); listing again', { informer: name });
          needList = true;
          continue;
        }
        this.failures++;
        this.health.restarts++;
        this.health.lastError = error instanceof Error ? error.message : String(error);
        const delay = Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7)) * (0.8 + Math.random() * 0.4);
        logger.warn('watch failed; restarting', {
          informer: name,
          error: this.health.lastError,
          delayMs: Math.round(delay),
        });
        await this.sleep(delay);
        // After repeated failures the resourceVersion may be long compacted: list afresh.
        if (this.failures >= 3) needList = true;
      }
    }
  }

  private async relist(): Promise<void> {
    const { http, path, labelSelector, pageSize = 500, metadataOnly } = this.options;
    const seen = new Map<string, T>();
    let continueToken: string | undefined;
    let listVersion = '';
    do {
      const page = await http.request<{
        metadata: { resourceVersion: string; continue?: string };
        items: T[] | null;
      }>('GET', path, {
        query: { labelSelector, limit: pageSize, continue: continueToken },
        accept: metadataOnly ? METADATA_LIST : undefined,
      });
      // `null`, not [], in an empty PartialObjectMetadataList.
      for (const item of page.items ?? []) {
        const object = this.prepare(item);
        seen.set(keyOf(object), object);
      }
      continueToken = page.metadata.continue || undefined;
      listVersion = page.metadata.resourceVersion;
    } while (continueToken);
    this.touch();
    for (const [key, previous] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit('delete', previous);
      }
    }
    for (const [key, object] of seen) {
      const previous = this.cache.get(key);
      this.cache.set(key, object);
      if (!previous) this.emit('add', object);
      else if (previous.metadata.resourceVersion !== object.metadata.resourceVersion)
        this.emit('update', object, previous);
    }
    this.resourceVersion = listVersion;
  }

  private async watchOnce(): Promise<void> {
    const { http, path, labelSelector, silenceLimitMs = 5 * 60_000, clock } = this.options;
    const abort = new AbortController();
    this.abort = abort;
    // The watchdog: bookmarks arrive about once a minute, so silence means a dead connection.
    const check = () => {
      if (abort.signal.aborted) return;
      if (clock.now() - this.health.lastActivityAt > silenceLimitMs) {
        abort.abort(new Error(`no watch activity for ${silenceLimitMs}ms`));
        return;
      }
      watchdog = clock.setTimer(check, Math.min(silenceLimitMs, 30_000));
    };
    let watchdog = clock.setTimer(check, Math.min(silenceLimitMs, 30_000));
    this.touch();
    try {
      await http.watch(
        path,
        {
          labelSelector,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          // Spread reconnects like client-go: 5 to 10 minutes.
          timeoutSeconds: 300 + Math.floor(Math.random() * 300),
        },
        (event) => this.onWatchEvent(event),
        abort.signal,
        this.options.metadataOnly ? METADATA_OBJECT : undefined,
      );
    } catch (error) {
      if (abort.signal.aborted && !this.stopped && abort.signal.reason instanceof Error)
        throw abort.signal.reason;
      if (!this.stopped) throw error;
    } finally {
      clock.clearTimer(watchdog);
      // Release the connection however the stream ended (an ERROR event throws out of it).
      if (!abort.signal.aborted) abort.abort();
    }
  }

  private onWatchEvent(event: { type: string; object: Record<string, unknown> }): void {
    this.touch();
    if (event.type === 'ERROR') {
      const status = event.object as { code?: number; reason?: string; message?: string };
      throw new KubeApiError(
        status.code ?? 500,
        status.reason ?? 'WatchError',
        status.message ?? 'watch error',
      );
    }
    // A watch that delivers is healthy again: the next failure resumes from the last version
    // instead of listing everything (which repeated failures fall back to).
    this.failures = 0;
    const object = event.object as unknown as T;
    if (object.metadata?.resourceVersion) this.resourceVersion = object.metadata.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const prepared = this.prepare(object);
    const key = keyOf(prepared);
    const previous = this.cache.get(key);
    if (event.type === 'DELETED') {
      this.cache.delete(key);
      this.emit('delete', prepared);
    } else {
      this.cache.set(key, prepared);
      this.emit(previous ? 'update' : 'add', prepared, previous);
    }
  }

  private prepare(object: T): T {
    // A new metadata without managedFields, not `delete`: deleting a property turns the object
    // into a hash table (V8's dictionary mode), ~350 bytes more for each cached object and a
    // slower read of every field.
    const { managedFields: _dropped, ...metadata } = object.metadata;
    object.metadata = metadata;
    const kept = this.options.transform ? this.options.transform(object) : object;
    return compactStrings(kept);
  }

  private emit(event: InformerEvent, object: T, previous?: T): void {
    for (const handler of this.handlers[event]) {
      try {
        handler(object, previous);
      } catch (error) {
        this.options.logger.error('informer handler failed', {
          informer: this.options.name,
          error: String(error),
        });
      }
    }
  }

  private touch(): void {
    this.health.lastActivityAt = this.options.clock.now();
  }

  /** Backoff between watch attempts; stop() cuts it short. */
  private sleep(ms: number): Promise<void> {
    const current = pause(this.options.clock, ms);
    this.wake = current.cut;
    return current.done;
  }
}

// No fallback type is offered: every supported API server serves metadata (since 1.15), and
// one that could not would answer 406 rather than send whole objects to a names-only cache.
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const METADATA_OBJECT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** `namespace/name`, the cache key. */
export function keyOf(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name}` : (name ?? '');
}

import type { Logger } from 'winston';
import type { SecretBinding, Store, StoreKind } from '../api/types.ts';
import { ConditionReason } from '../api/reasons.ts';
import type { Clock } from '../runtime/clock.ts';
import { ReconcileError } from './errors.ts';
import type { StoreHandle } from '../fetch/fetcher.ts';
import { TokenBucket } from '../fetch/token-bucket.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { SecretReader, ServiceAccountTokens } from '../providers/provider.port.ts';

/** Reads stores from the informer caches. */
export interface StoreLookup {
  getStore(kind: StoreKind, namespace: string | undefined, name: string): Store | undefined;
}

interface CachedHandle {
  handle: StoreHandle;
  version: string;
  createdAt: number;
}

/** The store's identity plus its spec version: a changed spec must never share cached values. */
function storeVersion(store: Store): string {
  return `${store.metadata.uid}/${store.metadata.generation ?? store.metadata.resourceVersion}`;
}

/** How a store is named in metrics, audit records and the fetch layer: "SecretStore/ns/name", "ClusterSecretStore/name". */
export function labelOf(kind: StoreKind, namespace: string | undefined, name: string): string {
  return kind === 'SecretStore' ? `SecretStore/${namespace}/${name}` : `ClusterSecretStore/${name}`;
}

export function storeLabel(store: Store): string {
  return labelOf(store.kind, store.metadata.namespace, store.metadata.name!);
}

/** The label of the store a binding reads (a SecretStore is always the binding's namespace's). */
export function bindingStoreLabel(binding: SecretBinding): string {
  const ref = binding.spec.storeRef;
  return labelOf(ref.kind ?? 'SecretStore', binding.metadata.namespace, ref.name);
}

/**
 * Resolves a binding's store and keeps one provider client per store. A client is rebuilt
 * when the store's spec changes, and at least every `maxAgeMs` so that rotated credentials
 * in a referenced Secret are picked up without a watch on every credentials Secret.
 */
export class StoreDirectory {
  private readonly lookup: StoreLookup;
  private readonly registry: ProviderRegistry;
  private readonly secrets: SecretReader;
  private readonly tokens: ServiceAccountTokens;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly maxAgeMs: number;
  private readonly handles = new Map<string, CachedHandle>();
  private readonly building = new Map<string, Promise<StoreHandle>>();

  constructor(options: {
    lookup: StoreLookup;
    registry: ProviderRegistry;
    secrets: SecretReader;
    tokens: ServiceAccountTokens;
    clock: Clock;
    logger: Logger;
    maxAgeMs?: number;
  }) {
    this.lookup = options.lookup;
    this.registry = options.registry;
    this.secrets = options.secrets;
    this.tokens = options.tokens;
    this.clock = options.clock;
    this.logger = options.logger;
    this.maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
  }

  /** The store a binding names, applying the namespace rule of SecretStores. */
  storeFor(binding: SecretBinding): Store {
    const ref = binding.spec.storeRef;
    const kind: StoreKind = ref.kind ?? 'SecretStore';
    const namespace = binding.metadata.namespace;
    const store = this.lookup.getStore(kind, kind === 'SecretStore' ? namespace : undefined, ref.name);
    if (!store) {
      const where =
        kind === 'SecretStore'
          ? `SecretStore "${ref.name}" not found in namespace "${namespace}" (a SecretStore is usable only from its own namespace; use a ClusterSecretStore to share one)`
          : `ClusterSecretStore "${ref.name}" not found`;
      throw new ReconcileError(ConditionReason.StoreNotFound, where, { retry: 'never' });
    }
    return store;
  }

  /** The provider client of a store, built on first use. */
  async handleFor(store: Store): Promise<StoreHandle> {
    const key = storeLabel(store);
    const version = storeVersion(store);
    const cached = this.handles.get(key);
    if (cached && cached.version === version && this.clock.now() - cached.createdAt < this.maxAgeMs) {
      return cached.handle;
    }
    const pending = this.building.get(key);
    if (pending) return pending;
    const build = this.build(store, key, version, cached).finally(() => this.building.delete(key));
    this.building.set(key, build);
    return build;
  }

  /**
   * Drops the client of a deleted store (closing it) and returns the id its values were cached
   * under, for the fetcher to forget them: without this, every store ever created would keep
   * its provider client (an SDK client each) for the life of the process.
   */
  forget(kind: StoreKind, namespace: string | undefined, name: string): string | undefined {
    const key = labelOf(kind, namespace, name);
    const cached = this.handles.get(key);
    if (!cached) return undefined;
    this.handles.delete(key);
    void cached.handle.provider.close().catch((error: unknown) =>
      this.logger.debug('closing the client of a deleted store failed', {
        store: key,
        error: String(error),
      }),
    );
    return cached.handle.id;
  }

  private async build(
    store: Store,
    key: string,
    version: string,
    previous?: CachedHandle,
  ): Promise<StoreHandle> {
    const provider = await this.registry.create(store.spec.provider, {
      store: { kind: store.kind, name: store.metadata.name!, namespace: store.metadata.namespace },
      secrets: this.secrets,
      tokens: this.tokens,
      now: () => this.clock.now(),
    });
    const limits = store.spec.rateLimit ?? {};
    // Keep the old bucket across a rebuild for the same spec, so a rebuild cannot reset a limit.
    const limiter =
      previous && previous.version === version
        ? previous.handle.limiter
        : new TokenBucket({ qps: limits.qps ?? 10, burst: limits.burst ?? 20, clock: this.clock });
    const handle: StoreHandle = { id: version, label: key, provider, limiter };
    this.handles.set(key, { handle, version, createdAt: this.clock.now() });
    if (previous) {
      void previous.handle.provider
        .close()
        .catch((error: unknown) =>
          this.logger.debug('closing a replaced provider failed', { store: key, error: String(error) }),
        );
    }
    return handle;
  }
}

// How a binding reads its store: the store's policy first, then the shared fetch layer, with
// torn reads retried, the store-side rotation, and the warm-up that starts a read early.
import type { Logger } from 'winston';
import { effectiveLifetime, type EffectiveLifetime } from '../../api/defaults.ts';
import { ConditionReason, EventReason } from '../../api/reasons.ts';
import { objectKey, type SecretBinding, type Store } from '../../api/types.ts';
import {
  assembleData,
  findQueries,
  remoteRequests,
  tornKeys,
  type AssembledData,
} from '../../data/binding-data.ts';
import type { Fetcher, StoreHandle } from '../../fetch/fetcher.ts';
import { allowedKey, checkPolicy } from '../../policy/store-policy.ts';
import { ProviderError } from '../../providers/provider.port.ts';
import { refreshEpoch } from '../../rotation/schedule.ts';
import type { Clock } from '../../runtime/clock.ts';
import { ReconcileError } from '../errors.ts';
import type { StoreDirectory } from '../stores.ts';
import type { BindingCache, BindingListener } from './deps.ts';

/** Reads of one fetch that may see a remote secret change before the reconcile gives up for now. */
const MAX_TORN_READS = 3;

export interface StoreReaderDeps {
  clock: Clock;
  logger: Logger;
  stores: Pick<StoreDirectory, 'storeFor' | 'handleFor'>;
  fetcher: Pick<Fetcher, 'read' | 'find'>;
  cache: Pick<BindingCache, 'namespaceLabels'>;
  /** Told of provider calls made outside the fetch layer (rotation). */
  listener: Pick<BindingListener, 'providerCall'>;
}

/** A binding's store, admitted by its policy, and what that policy lets it read. */
export interface ResolvedStore {
  handle: StoreHandle;
  allowedKeys?: string[];
}

export class StoreReader {
  private readonly deps: StoreReaderDeps;

  constructor(deps: StoreReaderDeps) {
    this.deps = deps;
  }

  /**
   * Starts the store read a first sync of `binding` will need, without waiting for it: a binding
   * just created has its read made while it waits in the queue behind others. Bindings that are
   * gone, malformed, PerWorkload or on a rotation schedule (which reads fresh) are left alone.
   */
  prefetch(binding: SecretBinding | undefined, now: number): void {
    if (!binding || binding.metadata.deletionTimestamp) return;
    if (binding.spec.projection?.scope === 'PerWorkload') return;
    let lifetime: EffectiveLifetime;
    try {
      lifetime = effectiveLifetime(binding);
    } catch {
      return; // the reconcile reports it
    }
    this.warm(binding, lifetime, now);
  }

  /**
   * Starts this epoch's read of the binding's values without waiting for it; failures are left
   * to the real fetch. The fetch layer keeps the value for the reconcile, and shares and
   * batches the read, so a binding waiting in the queue has its read made beside others'.
   */
  warm(binding: SecretBinding, lifetime: EffectiveLifetime, now: number): void {
    // A rotation due reads fresh (notOlderThan = now) after rotating in the store: not here.
    if (lifetime.rotationSchedule !== undefined) return;
    const epoch = refreshEpoch(now, lifetime.refreshMs);
    void this.resolve(binding, lifetime)
      .then((store) => this.read(binding, store, epoch))
      .catch(() => undefined);
  }

  /** The binding's store and its provider, after the store's policy has admitted the binding. */
  async resolve(binding: SecretBinding, lifetime: EffectiveLifetime): Promise<ResolvedStore> {
    const store = this.admittedStore(binding, lifetime);
    return { handle: await this.deps.stores.handleFor(store), allowedKeys: store.spec.policy?.allowedKeys };
  }

  /** The binding's store, if it exists and its policy admits the binding; else throws why not. */
  admittedStore(binding: SecretBinding, lifetime: EffectiveLifetime): Store {
    const store = this.deps.stores.storeFor(binding);
    const denial = checkPolicy(
      binding,
      store,
      lifetime,
      this.deps.cache.namespaceLabels(binding.metadata.namespace!),
    );
    if (denial) {
      throw new ReconcileError(ConditionReason.PolicyDenied, denial.message, {
        eventReason: EventReason.PolicyDenied,
        retry: 'never',
      });
    }
    return store;
  }

  /** Asks the store to rotate every remote value the binding reads (rotateInStore). */
  async rotateInStore(binding: SecretBinding, handle: StoreHandle): Promise<void> {
    if (!handle.provider.rotate) {
      throw new ReconcileError(
        ConditionReason.InvalidSpec,
        `lifetime.rotateInStore: ${handle.label} (${handle.provider.name}) cannot rotate values`,
        { retry: 'never' },
      );
    }
    for (const key of new Set(remoteRequests(binding.spec).map((r) => r.key))) {
      await handle.provider.rotate(key, (operation) => this.deps.listener.providerCall(handle, operation));
    }
  }

  /**
   * Reads the remote values and builds the Secret data; found secrets outside allowedKeys are
   * left out. A fetch that saw one remote secret at two versions (a read and a listing on either
   * side of a rotation, or one of them from the shared cache) is never assembled: it is read
   * again past the caches, and after a few torn reads it fails as a transient error, keeping
   * the last good Secret. A Secret is always written from one version of each remote secret.
   */
  async read(
    binding: SecretBinding,
    { handle, allowedKeys }: ResolvedStore,
    notOlderThan: number,
    /** notOlderThan is the start of the refresh epoch (false for a rotation's fresh read). */
    atEpochStart = true,
  ): Promise<AssembledData> {
    const queries = findQueries(binding.spec);
    const requests = remoteRequests(binding.spec);
    for (let attempt = 1; ; attempt++) {
      const [outcomes, found] = await Promise.all([
        // A read again after a torn read is a fresh read, not the epoch's first ask.
        this.deps.fetcher.read(handle, requests, notOlderThan, { epoch: atEpochStart && attempt === 1 }),
        Promise.all(queries.map(({ query }) => this.deps.fetcher.find(handle, query, notOlderThan))),
      ]);
      const values = new Map();
      for (const [id, outcome] of outcomes) {
        if (outcome instanceof ProviderError) throw outcome;
        values.set(id, outcome);
      }
      const allowedFound = found.map((list) => list.filter((value) => allowedKey(allowedKeys, value.key)));
      const torn = tornKeys(requests, outcomes, allowedFound);
      if (torn.length === 0) {
        return assembleData(
          binding.spec,
          values,
          new Map(queries.map(({ id }, i) => [id, allowedFound[i]!])),
        );
      }
      const keys = torn.map((k) => `"${k}"`).join(', ');
      if (attempt >= MAX_TORN_READS) {
        throw new ProviderError(
          'Unavailable',
          `remote secret ${keys} changed while it was being read (${attempt} times); reading again later`,
        );
      }
      this.deps.logger.debug('remote secret changed between reads; reading again', {
        binding: objectKey(binding.metadata),
        keys: torn,
      });
      // Newer than anything cached or read so far.
      notOlderThan = this.deps.clock.now() + 1;
    }
  }
}

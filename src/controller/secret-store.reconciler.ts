// Reconciles SecretStores and ClusterSecretStores: is the provider configured, are the
// credentials accepted by the store? The answer is the store's Ready condition.
import type { Logger } from 'winston';
import { findCondition, setCondition } from '../api/conditions.ts';
import { ConditionReason, EventReason } from '../api/reasons.ts';
import { API_VERSION, type SecretStoreStatus, type Store, type StoreKind } from '../api/types.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { StatusWriter } from '../kube/kube-client.ts';
import type { Clock } from '../runtime/clock.ts';
import { toReconcileError } from './errors.ts';
import { mergePatchOf, sameJson } from '../kube/merge-patch.ts';
import { RetryLater, type ReconcileResult } from '../runtime/reconcile-result.ts';
import type { StoreDirectory, StoreLookup } from './stores.ts';
import type { StoreHandle } from '../fetch/fetcher.ts';

export interface SecretStoreReconcilerDeps {
  clock: Clock;
  logger: Logger;
  /** The informer cache of stores. */
  cache: StoreLookup;
  stores: Pick<StoreDirectory, 'handleFor' | 'forget'>;
  /** Told the cache id of a deleted store's values (the fetcher forgets them). */
  onForget(storeId: string): void;
  status: StatusWriter;
  events: EventRecorder;
  /** Tells the fetch metrics of the calls a credentials check makes. */
  onProviderCall(store: StoreHandle, operation: string): void;
  /** How often working credentials are checked again. */
  recheckMs?: number;
}

export class SecretStoreReconciler {
  private readonly deps: SecretStoreReconcilerDeps;

  constructor(deps: SecretStoreReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(kind: StoreKind, namespace: string | undefined, name: string): Promise<ReconcileResult> {
    const store = this.deps.cache.getStore(kind, namespace, name);
    if (!store) {
      // Deleted: its provider client and cached values go with it.
      const id = this.deps.stores.forget(kind, namespace, name);
      if (id) this.deps.onForget(id);
      return {};
    }
    const now = this.deps.clock.now();
    const previous = store.status ?? {};
    const before = findCondition(previous.conditions, 'Ready');
    const observedGeneration = store.metadata.generation;
    try {
      const handle = await this.deps.stores.handleFor(store);
      await handle.provider.validate((operation) => this.deps.onProviderCall(handle, operation));
      const conditions = setCondition(
        previous.conditions,
        {
          type: 'Ready',
          status: 'True',
          reason: ConditionReason.Valid,
          message: `${handle.provider.name} accepted the configuration and credentials`,
          observedGeneration,
        },
        new Date(now),
      );
      await this.writeStatus(store, {
        ...previous,
        observedGeneration,
        conditions,
        provider: handle.provider.name,
      });
      return { requeueAfterMs: this.deps.recheckMs ?? 10 * 60_000 };
    } catch (error) {
      const failure = toReconcileError(error);
      const conditions = setCondition(
        previous.conditions,
        {
          type: 'Ready',
          status: 'False',
          reason: failure.reason,
          message: failure.message,
          observedGeneration,
        },
        new Date(now),
      );
      await this.writeStatus(store, { ...previous, observedGeneration, conditions });
      if (
        before?.status !== 'False' ||
        before.reason !== failure.reason ||
        before.message !== failure.message
      ) {
        const eventReason =
          failure.eventReason === EventReason.ProviderError
            ? EventReason.ProviderError
            : EventReason.InvalidSpec;
        this.deps.events.emit(
          { apiVersion: API_VERSION, kind, namespace, name, uid: store.metadata.uid! },
          'Warning',
          eventReason,
          failure.message,
        );
      }
      this.deps.logger.info('store not ready', {
        store: `${kind}/${namespace ?? ''}/${name}`,
        reason: failure.reason,
      });
      throw new RetryLater(failure.message, { atLeastMs: failure.retryAfterMs });
    }
  }

  private async writeStatus(store: Store, status: SecretStoreStatus): Promise<void> {
    if (sameJson(store.status ?? {}, status)) return;
    await this.deps.status.patchStatus(
      store.kind,
      store.metadata.namespace,
      store.metadata.name!,
      mergePatchOf(store.status ?? {}, status),
    );
  }
}

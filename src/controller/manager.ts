// Informers → work queue → workers → reconcilers (docs/architecture.md, "How a reconcile
// flows"): turns cache events into work keys with a priority (never-synced bindings, spec
// changes and drift first) and hands them to the worker loop.
import type { Logger } from 'winston';
import { findCondition } from '../api/conditions.ts';
import { ACCESS_ACKNOWLEDGED_ANNOTATION, BINDING_ANNOTATION, INJECTED_ANNOTATION } from '../api/labels.ts';
import { objectKey, type SecretBinding, type Store, type StoreKind } from '../api/types.ts';
import { remoteRequests, requestId } from '../data/binding-data.ts';
import type { SecretObject } from '../kube/kube-client.ts';
import type { RemoteRequest } from '../providers/provider.port.ts';
import type { Clock } from '../runtime/clock.ts';
import type { KubeHttp } from '../runtime/http.ts';
import type { Informer, InformerHealth, KubeObject } from '../runtime/informer.ts';
import type { ReconcileResult } from '../runtime/reconcile-result.ts';
import { WorkerLoop } from '../runtime/worker-loop.ts';
import { WorkQueue, type Priority } from '../runtime/work-queue.ts';
import { failedForOutage } from './binding/plan.ts';
import { ClusterCache, jobEnded, type InjectedPod, type LeanJob } from './cluster-cache.ts';
import { bindingStoreLabel } from './stores.ts';

/** What the manager runs for each kind of work key. */
export interface Reconcilers {
  /**
   * `deferBookkeeping`: the key came from routine or rotation work (not `high`), so the status
   * and Event of a Secret it rewrites may wait for {@link ReconcileResult.followUp}.
   */
  binding(key: string, options?: { deferBookkeeping?: boolean }): Promise<ReconcileResult>;
  store(kind: StoreKind, namespace: string | undefined, name: string): Promise<ReconcileResult>;
  /** Starts the store read a new binding's first sync will need (it is not awaited). */
  prefetchBinding(key: string): void;
}

export interface ManagerOptions {
  http: KubeHttp;
  clock: Clock;
  logger: Logger;
  /** Watch only these namespaces (ClusterSecretStores are always watched). Absent: all. */
  namespaces?: string[];
  workers?: number;
  /** Told how long each key waited in the queue (a metric). */
  onDequeue?: (waitedMs: number, priority: string) => void;
  /** Owner kinds whose pods PerWorkload bindings scope to the owner. */
  workloadKinds?: string[];
  /** A watch silent for this long is restarted (bookmarks arrive about every minute). */
  silenceLimitMs?: number;
}

const BINDING = 'b:';
const STORE = 's:';
const CLUSTER_STORE = 'c:';

export class Manager {
  readonly queue: WorkQueue;
  /** The informer caches: what every reconcile reads. */
  readonly cache: ClusterCache;
  private readonly options: ManagerOptions;
  private readonly loop: WorkerLoop;
  /** When each store last had its stalled bindings retried after an outage (retryAfterStoreRecovery). */
  private readonly storeRecoveries = new Map<string, number>();
  /** Remote values found changed this turn of the event loop, by store label (promoteReadersOf). */
  private changedReads = new Map<string, Set<string>>();
  private reconcilers?: Reconcilers;
  /** Sharding: which work keys (without their kind prefix) this replica reconciles; absent: all. */
  private ownsKey?: (key: string) => boolean;

  constructor(options: ManagerOptions) {
    this.options = options;
    const workers = options.workers ?? 8;
    // A quarter of the workers (at least one, when there are two or more) never take routine
    // refreshes: a full refresh of thousands of bindings holds the others on provider calls,
    // and a new binding must not queue behind them (first sync ≤ 1 s during a refresh).
    this.queue = new WorkQueue({
      clock: options.clock,
      maxLowInFlight: Math.max(1, workers - Math.ceil(workers / 4)),
    });
    this.cache = new ClusterCache(options);
    this.loop = new WorkerLoop({
      queue: this.queue,
      clock: options.clock,
      logger: options.logger,
      workers,
      dispatch: (key, priority) => this.dispatch(key, priority),
      onDequeue: options.onDequeue,
    });
    this.wireEvents();
  }

  /** Starts the informers and waits for their first lists; work is queued but not yet done. */
  async startInformers(reconcilers: Reconcilers): Promise<void> {
    this.reconcilers = reconcilers;
    await this.cache.start();
  }

  /** Starts the workers: only the leader does this. */
  startWorkers(): void {
    if (!this.loop.start()) return;
    this.options.logger.info('manager started', {
      workers: this.options.workers ?? 8,
      namespaces: this.options.namespaces ?? 'all',
      bindings: this.cache.bindings().length,
    });
  }

  /** Stops reconciling at once (leadership lost); caches and the webhook keep running. */
  stopWorkers(): Promise<void> {
    return this.loop.stop();
  }

  async start(reconcilers: Reconcilers): Promise<void> {
    await this.startInformers(reconcilers);
    this.startWorkers();
  }

  /** Stops taking work, lets running reconciles finish, stops the informers. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.cache.stop();
  }

  health(): InformerHealth[] {
    return this.cache.health();
  }

  /** Every informer, for health checks and tests that stop one by force. */
  allInformers(): Informer<KubeObject>[] {
    return this.cache.allInformers();
  }

  /**
   * Sharding: from now on only keys for which `owns` holds are reconciled. Keys that are no
   * longer owned leave the queue (a reconcile already running finishes); keys newly owned are
   * queued, never-synced bindings first.
   */
  setOwnership(owns: (key: string) => boolean, canWork?: () => boolean): void {
    const before = this.ownsKey;
    this.ownsKey = owns;
    this.loop.setGates((key) => owns(key.slice(2)), canWork);
    for (const key of this.workKeys()) {
      const now = owns(key.slice(2));
      const was = before ? before(key.slice(2)) : true;
      if (now && !was) {
        const binding = key.startsWith(BINDING) ? this.cache.getBinding(key.slice(2)) : undefined;
        this.queue.add(key, !binding || neverSynced(binding) ? 'high' : 'low');
      } else if (!now && was) {
        this.queue.remove(key);
      }
    }
  }

  /** Bindings this replica reconciles (all of them without sharding). */
  ownedBindings(): number {
    const owns = this.ownsKey;
    if (!owns) return this.cache.bindings().length;
    return this.cache.bindings().filter((b) => owns(objectKey(b.metadata))).length;
  }

  /** Every binding and store as a work key. */
  private workKeys(): string[] {
    return [
      ...this.cache.bindings().map((b) => BINDING + objectKey(b.metadata)),
      ...[...this.cache.storeInformers.values()].flatMap((i) =>
        i.list().map((s) => STORE + objectKey(s.metadata)),
      ),
      ...this.cache.clusterStores.list().map((s) => CLUSTER_STORE + objectKey(s.metadata)),
    ];
  }

  /**
   * `recovered` synced again after an outage of its store: the other bindings of that store
   * still failing for the outage are retried now rather than at the end of their backoff, which
   * after minutes of outage is minutes long (an expired onExpiry: Delete Secret would stay gone
   * that long). If one fails again, its backoff carries on where it was. At most once per store
   * every STORE_RECOVERY_DEBOUNCE_MS: each of the bindings retried reports its own recovery, and
   * a scan of every binding per report would be quadratic for a store of 100,000 bindings.
   */
  retryAfterStoreRecovery(recovered: SecretBinding): void {
    const ref = recovered.spec.storeRef;
    const kind = ref.kind ?? 'SecretStore';
    const store = `${kind}/${kind === 'SecretStore' ? recovered.metadata.namespace : ''}/${ref.name}`;
    const now = this.options.clock.now();
    const last = this.storeRecoveries.get(store);
    if (last !== undefined && now - last < STORE_RECOVERY_DEBOUNCE_MS) return;
    this.storeRecoveries.set(store, now);
    for (const binding of stalledByOutage(recovered, this.cache.bindings()))
      this.queue.add(BINDING + objectKey(binding.metadata), 'low');
  }

  /**
   * A refresh read a new value of `request` from the store labelled `storeLabel` (a rotation in
   * the store): the bindings that read it and wait for their refresh are raised to `medium`,
   * ahead of the refreshes that change nothing, so the new value reaches every dependent
   * Secret first. Changes of one turn of the event loop share one pass over the bindings.
   * (Bindings that find the value through dataFrom.find keep their place.)
   */
  promoteReadersOf(storeLabel: string, request: RemoteRequest): void {
    let ids = this.changedReads.get(storeLabel);
    if (!ids) this.changedReads.set(storeLabel, (ids = new Set()));
    ids.add(requestId(request));
    if (this.changedReads.size === 1 && ids.size === 1) setImmediate(() => this.promoteChangedReaders());
  }

  private promoteChangedReaders(): void {
    const changed = this.changedReads;
    this.changedReads = new Map();
    for (const binding of this.cache.bindings()) {
      const ids = changed.get(bindingStoreLabel(binding));
      if (ids && remoteRequests(binding.spec).some((request) => ids.has(requestId(request))))
        this.queue.promote(BINDING + objectKey(binding.metadata), 'medium');
    }
  }

  private wireEvents(): void {
    const enqueueBinding = (binding: SecretBinding, priority: Priority) =>
      this.queue.add(BINDING + objectKey(binding.metadata), priority);
    for (const informer of this.cache.bindingInformers.values()) {
      informer.on('add', (b) => {
        const firstSync = neverSynced(b);
        enqueueBinding(b, firstSync ? 'high' : 'low');
        // A burst of new bindings queues up behind the workers: their store reads are made now,
        // side by side and batched, instead of one worker at a time when each is taken. Only
        // where this replica reconciles them (a standby or another shard would read for nothing).
        const key = objectKey(b.metadata);
        if (firstSync && this.loop.running() && (this.ownsKey?.(key) ?? true))
          this.reconcilers?.prefetchBinding(key);
      });
      // Our own status writes come back as updates: only a spec change (generation) is work, or
      // an unexpected read marked by the access monitor, or its acknowledgement (compromise.ts).
      informer.on('update', (b, old) => {
        if (b.metadata.generation !== old?.metadata.generation || accessChanged(b, old))
          enqueueBinding(b, 'high');
      });
      informer.on('delete', (b) => enqueueBinding(b, 'high'));
    }
    const onStore = (store: Store, old?: Store) => {
      if (
        old &&
        old.metadata.generation === store.metadata.generation &&
        store.metadata.deletionTimestamp === undefined
      ) {
        return;
      }
      const prefix = store.kind === 'ClusterSecretStore' ? CLUSTER_STORE : STORE;
      this.queue.add(prefix + objectKey(store.metadata), 'high');
      // Bindings on this store are re-evaluated: a store that appears or changes may fix them.
      for (const binding of this.cache.bindings()) {
        if (usesStore(binding, store.kind, store.metadata.namespace, store.metadata.name!))
          enqueueBinding(binding, 'high');
      }
    };
    for (const informer of [...this.cache.storeInformers.values(), this.cache.clusterStores]) {
      informer.on('add', (s) => onStore(s));
      informer.on('update', (s, old) => onStore(s, old));
      informer.on('delete', (s) => onStore(s));
    }
    // A managed Secret edited or deleted by hand is restored now, not at the next refresh.
    const onSecret = (secret: SecretObject) => {
      const binding = secret.metadata.annotations?.[BINDING_ANNOTATION];
      if (binding) this.queue.add(`${BINDING}${secret.metadata.namespace}/${binding}`, 'high');
    };
    // A namespace's labels decide which ClusterSecretStores its bindings may use.
    this.cache.namespaces.on('update', (ns, old) => {
      if (JSON.stringify(ns.metadata.labels ?? {}) === JSON.stringify(old?.metadata.labels ?? {})) return;
      for (const binding of this.cache.bindingsIn(ns.metadata.name!) ?? []) enqueueBinding(binding, 'high');
    });
    // Pods coming and going change a binding's projectedPods.
    const onPod = (pod: InjectedPod, old?: InjectedPod) => {
      if (
        old &&
        old.status?.phase === pod.status?.phase &&
        old.metadata.deletionTimestamp === pod.metadata.deletionTimestamp
      ) {
        return;
      }
      for (const name of (pod.metadata.annotations?.[INJECTED_ANNOTATION] ?? '').split(',').filter(Boolean)) {
        this.queue.add(`${BINDING}${pod.metadata.namespace}/${name}`, 'low');
      }
    };
    // A Job that starts or ends concerns the PerWorkload bindings of its namespace, at once.
    const onJob = (job: LeanJob, old?: LeanJob) => {
      if (old && jobEnded(old) === jobEnded(job)) return;
      for (const binding of this.cache.bindingsIn(job.metadata.namespace!) ?? []) {
        if (binding.spec.projection?.scope === 'PerWorkload') enqueueBinding(binding, 'high');
      }
    };
    for (const informer of this.cache.jobInformers.values()) {
      informer.on('add', (j) => onJob(j));
      informer.on('update', (j, old) => onJob(j, old));
      informer.on('delete', (j) => onJob(j));
    }
    for (const informer of this.cache.podInformers.values()) {
      informer.on('add', (p) => onPod(p));
      informer.on('update', (p, old) => onPod(p, old));
      informer.on('delete', (p) => onPod(p));
    }
    for (const informer of this.cache.secretInformers.values()) {
      informer.on('update', onSecret);
      informer.on('delete', onSecret);
    }
  }

  private dispatch(key: string, priority: Priority): Promise<ReconcileResult> {
    const reconcilers = this.reconcilers!;
    const rest = key.slice(2);
    if (key.startsWith(BINDING)) return reconcilers.binding(rest, { deferBookkeeping: priority !== 'high' });
    if (key.startsWith(CLUSTER_STORE)) return reconcilers.store('ClusterSecretStore', undefined, rest);
    const slash = rest.indexOf('/');
    return reconcilers.store('SecretStore', rest.slice(0, slash), rest.slice(slash + 1));
  }
}

function neverSynced(binding: SecretBinding): boolean {
  const ready = findCondition(binding.status?.conditions, 'Ready');
  return ready?.status !== 'True' || ready.observedGeneration !== binding.metadata.generation;
}

/** How long after retrying a recovered store's bindings another recovery of it is ignored. */
export const STORE_RECOVERY_DEBOUNCE_MS = 30_000;

/** The bindings other than `recovered` that read its store and last failed for the store's outage. */
export function stalledByOutage(recovered: SecretBinding, bindings: SecretBinding[]): SecretBinding[] {
  const ref = recovered.spec.storeRef;
  const kind = ref.kind ?? 'SecretStore';
  const namespace = kind === 'SecretStore' ? recovered.metadata.namespace : undefined;
  return bindings.filter(
    (b) =>
      b.metadata.uid !== recovered.metadata.uid &&
      usesStore(b, kind, namespace, ref.name) &&
      failedForOutage(b),
  );
}

/** Whether `binding` reads the store of this kind, namespace (SecretStore only) and name. */
function usesStore(
  binding: SecretBinding,
  kind: StoreKind,
  namespace: string | undefined,
  name: string,
): boolean {
  const ref = binding.spec.storeRef;
  if (ref.name !== name || (ref.kind ?? 'SecretStore') !== kind) return false;
  return kind !== 'SecretStore' || binding.metadata.namespace === namespace;
}

function accessChanged(binding: SecretBinding, old: SecretBinding | undefined): boolean {
  return (
    binding.status?.access?.lastUnexpectedRead?.at !== old?.status?.access?.lastUnexpectedRead?.at ||
    binding.metadata.annotations?.[ACCESS_ACKNOWLEDGED_ANNOTATION] !==
      old?.metadata.annotations?.[ACCESS_ACKNOWLEDGED_ANNOTATION]
  );
}

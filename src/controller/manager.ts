// Informers → work queue → workers → reconcilers (docs/architecture.md, "How a reconcile
// flows").
import type { Logger } from 'winston';
import { findCondition } from '../api/conditions.ts';
import { BINDING_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../api/labels.ts';
import {
  DEFAULT_WORKLOAD_KINDS,
  INJECTED_ANNOTATION,
  INJECTED_LABEL,
  projectionSelector,
} from '../projection/pod-mutator.ts';
import { selectorMatches } from '../api/selectors.ts';
import type { Workload } from './per-workload.reconciler.ts';
import { objectKey, type SecretBinding, type Store, type StoreKind } from '../api/types.ts';
import type { KubeHttp } from '../runtime/http.ts';
import { Informer, type InformerHealth, type InformerOptions, type KubeObject } from '../runtime/informer.ts';
import { collectionPath, type SecretObject } from '../kube/kube-client.ts';
import { remoteRequests, requestId } from '../data/binding-data.ts';
import type { RemoteRequest } from '../providers/provider.port.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import { failedForOutage, RetryLater, type ReconcileResult } from './secret-binding.reconciler.ts';
import { bindingStoreLabel } from './stores.ts';
import { WorkQueue, type Priority } from '../runtime/work-queue.ts';

/** What the manager runs for each kind of work key. */
export interface Reconcilers {
  /**
   * `deferBookkeeping`: the key came from routine or rotation work (not `high`), so the status
   * and Event of a Secret it rewrites may wait for {@link ReconcileResult.followUp}.
   */
  binding(key: string, options?: { deferBookkeeping?: boolean }): Promise<ReconcileResult>;
  store(kind: StoreKind, namespace: string | undefined, name: string): Promise<ReconcileResult>;
  /** Starts the store read a new binding's first sync will need (it is not awaited). */
  prefetchBinding?(key: string): void;
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

/**
 * Keeps the informer caches, turns their events into work keys (with priority: never-synced
 * bindings, spec changes and drift first), and runs a bounded pool of workers that call the
 * reconcilers and schedule what they ask for.
 */
export class Manager {
  readonly queue: WorkQueue;
  private readonly options: ManagerOptions;
  private readonly bindingInformers = new Map<string, Informer<SecretBinding & KubeObject>>();
  private readonly storeInformers = new Map<string, Informer<Store & KubeObject>>();
  private readonly clusterStores: Informer<Store & KubeObject>;
  private readonly secretInformers = new Map<string, Informer<SecretObject>>();
  /** Names of the Secrets mlsecrets does not manage (metadata only): see unmanagedSecretExists. */
  private readonly unmanagedSecretInformers = new Map<string, Informer<KubeObject>>();
  /** Pods the webhook injected into (labelled), to count them and find their workloads. */
  private readonly podInformers = new Map<string, Informer<InjectedPod>>();
  /** Jobs, for PerWorkload bindings: a Secret per running Job, revoked when it ends. */
  private readonly jobInformers = new Map<string, Informer<LeanJob>>();
  private readonly workloadKinds: string[];
  /** When each store last had its stalled bindings retried after an outage (retryAfterStoreRecovery). */
  private readonly storeRecoveries = new Map<string, number>();
  /** Remote values found changed this turn of the event loop, by store label (promoteReadersOf). */
  private changedReads = new Map<string, Set<string>>();
  /** Namespace labels, for ClusterSecretStore namespaceSelectors. */
  private readonly namespaces: Informer<KubeObject>;
  private reconcilers?: Reconcilers;
  /** Deferred halves of reconciles ({@link WorkQueue.defer}), by key, with when they were due again. */
  private readonly followUps = new Map<string, { run: () => Promise<void>; dueAt?: number }>();
  private workers: Promise<void>[] = [];
  /** Sharding: which work keys (without their kind prefix) this replica reconciles; absent: all. */
  private ownsKey?: (key: string) => boolean;
  /** Sharding: checked before each reconcile; false holds owned work back for a second. */
  private canWork?: () => boolean;

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
    const scopes = options.namespaces?.length ? options.namespaces : [''];
    for (const ns of scopes) {
      const namespace = ns || undefined;
      const seeingWrites = bindingWriteInformers(ns);
      this.bindingInformers.set(ns, this.informer(seeingWrites.bindings));
      this.storeInformers.set(
        ns,
        this.informer({
          name: `secretstores${ns ? `@${ns}` : ''}`,
          path: collectionPath('SecretStore', namespace),
        }),
      );
      this.secretInformers.set(ns, this.informer(seeingWrites.managedSecrets));
      this.unmanagedSecretInformers.set(ns, this.informer(seeingWrites.unmanagedSecrets));
    }
    this.workloadKinds = options.workloadKinds ?? DEFAULT_WORKLOAD_KINDS;
    for (const ns of scopes) {
      const jobsPath = ns ? `/apis/batch/v1/namespaces/${ns}/jobs` : '/apis/batch/v1/jobs';
      this.jobInformers.set(
        ns,
        this.informer<LeanJob>({ name: `jobs${ns ? `@${ns}` : ''}`, path: jobsPath, transform: leanJob }),
      );
    }
    for (const ns of scopes) {
      const podsPath = ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods';
      this.podInformers.set(
        ns,
        this.informer<InjectedPod>({
          name: `injected-pods${ns ? `@${ns}` : ''}`,
          path: podsPath,
          labelSelector: `${INJECTED_LABEL}=true`,
          transform: leanPod,
        }),
      );
    }
    this.clusterStores = this.informer({
      name: 'clustersecretstores',
      path: collectionPath('ClusterSecretStore'),
    });
    this.namespaces = this.informer<KubeObject>({
      name: 'namespaces',
      path: '/api/v1/namespaces',
      transform: (ns) => ({
        metadata: {
          name: ns.metadata.name,
          uid: ns.metadata.uid,
          resourceVersion: ns.metadata.resourceVersion,
          labels: ns.metadata.labels,
        },
      }),
    });
    this.wireEvents();
  }

  /** Starts the informers, waits for their first lists, then starts the workers. */
  /** Starts the informers and waits for their first lists; work is queued but not yet done. */
  async startInformers(reconcilers: Reconcilers): Promise<void> {
    this.reconcilers = reconcilers;
    await Promise.all(this.allInformers().map((i) => i.start()));
  }

  /** Starts the workers: only the leader does this. */
  startWorkers(): void {
    if (this.workers.length > 0 || this.queue.isShutDown()) return;
    const count = this.options.workers ?? 8;
    this.workers = Array.from({ length: count }, () => this.work());
    this.options.logger.info('manager started', {
      workers: count,
      namespaces: this.options.namespaces ?? 'all',
      bindings: this.bindings().length,
    });
  }

  /** Whether this replica's workers are running (it leads, or runs without election). */
  private reconciling(): boolean {
    return this.workers.length > 0 && !this.queue.isShutDown();
  }

  /** Stops reconciling at once (leadership lost); caches and the webhook keep running. */
  stopWorkers(): Promise<void> {
    this.queue.shutDown();
    return Promise.all(this.workers).then(() => undefined);
  }

  async start(reconcilers: Reconcilers): Promise<void> {
    await this.startInformers(reconcilers);
    this.startWorkers();
  }

  /** Stops taking work, lets running reconciles finish, stops the informers. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.workers);
    await Promise.all(this.allInformers().map((i) => i.stop()));
  }

  /**
   * Sharding: from now on only keys for which `owns` holds are reconciled. Keys that are no
   * longer owned leave the queue (a reconcile already running finishes); keys newly owned are
   * queued, never-synced bindings first.
   */
  setOwnership(owns: (key: string) => boolean, canWork?: () => boolean): void {
    const before = this.ownsKey;
    this.ownsKey = owns;
    this.canWork = canWork;
    for (const key of this.workKeys()) {
      const now = owns(key.slice(2));
      const was = before ? before(key.slice(2)) : true;
      if (now && !was) {
        const binding = key.startsWith(BINDING) ? this.getBinding(key.slice(2)) : undefined;
        this.queue.add(key, !binding || neverSynced(binding) ? 'high' : 'low');
      } else if (!now && was) {
        this.queue.remove(key);
      }
    }
  }

  /** Bindings this replica reconciles (all of them without sharding). */
  ownedBindings(): number {
    const owns = this.ownsKey;
    if (!owns) return this.bindings().length;
    return this.bindings().filter((b) => owns(objectKey(b.metadata))).length;
  }

  /** Every binding and store as a work key. */
  private workKeys(): string[] {
    return [
      ...this.bindings().map((b) => BINDING + objectKey(b.metadata)),
      ...[...this.storeInformers.values()].flatMap((i) => i.list().map((s) => STORE + objectKey(s.metadata))),
      ...this.clusterStores.list().map((s) => CLUSTER_STORE + objectKey(s.metadata)),
    ];
  }

  health(): InformerHealth[] {
    return this.allInformers().map((i) => i.status());
  }

  /** Every informer, for health checks and tests that stop one by force. */
  allInformers(): Informer<KubeObject>[] {
    return [
      ...this.bindingInformers.values(),
      ...this.storeInformers.values(),
      ...this.secretInformers.values(),
      ...this.unmanagedSecretInformers.values(),
      ...this.podInformers.values(),
      ...this.jobInformers.values(),
      this.clusterStores,
      this.namespaces,
    ] as Informer<KubeObject>[];
  }

  getBinding(key: string): SecretBinding | undefined {
    const namespace = key.slice(0, key.indexOf('/'));
    return this.scoped(this.bindingInformers, namespace)?.get(key);
  }

  bindings(): SecretBinding[] {
    return [...this.bindingInformers.values()].flatMap((i) => i.list());
  }

  /** Bindings of one namespace; undefined when this operator does not watch it. */
  bindingsIn(namespace: string): SecretBinding[] | undefined {
    const informer = this.scoped(this.bindingInformers, namespace);
    if (!informer) return undefined;
    return informer.list().filter((b) => b.metadata.namespace === namespace);
  }

  getStore(kind: StoreKind, namespace: string | undefined, name: string): Store | undefined {
    if (kind === 'ClusterSecretStore') return this.clusterStores.get(name);
    return this.scoped(this.storeInformers, namespace ?? '')?.get(`${namespace}/${name}`);
  }

  getManagedSecret(namespace: string, name: string): SecretObject | undefined {
    return this.scoped(this.secretInformers, namespace)?.get(`${namespace}/${name}`);
  }

  /**
   * Whether a Secret by this name exists without the managed-by label: someone else's Secret,
   * or ours with its labels stripped. A new binding's reconcile asks this instead of the API
   * server, whose answer (from its watch cache) would be no fresher.
   */
  unmanagedSecretExists(namespace: string, name: string): boolean {
    return this.scoped(this.unmanagedSecretInformers, namespace)?.get(`${namespace}/${name}`) !== undefined;
  }

  /** Every managed Secret in the cache (for the expiry metric). */
  managedSecrets(): SecretObject[] {
    return [...this.secretInformers.values()].flatMap((i) => i.list());
  }

  managedSecretsOf(namespace: string, bindingName: string): SecretObject[] {
    const informer = this.scoped(this.secretInformers, namespace);
    return (informer?.list() ?? []).filter(
      (s) =>
        s.metadata.namespace === namespace && s.metadata.annotations?.[BINDING_ANNOTATION] === bindingName,
    );
  }

  /**
   * The workloads a PerWorkload binding serves: Jobs whose pod template it selects, and the
   * workloads (listed owner kinds, or bare pods) of pods the webhook injected it into.
   */
  workloadsFor(binding: SecretBinding): Workload[] {
    const namespace = binding.metadata.namespace!;
    const selector = projectionSelector(binding);
    const found = new Map<string, Workload>();
    for (const job of this.scoped(this.jobInformers, namespace)?.list() ?? []) {
      if (job.metadata.namespace !== namespace || job.metadata.deletionTimestamp) continue;
      if (!selectorMatches(selector, job.spec?.template?.metadata?.labels ?? {})) continue;
      found.set(job.metadata.uid!, {
        apiVersion: 'batch/v1',
        kind: 'Job',
        name: job.metadata.name!,
        uid: job.metadata.uid!,
        ended: jobEnded(job),
      });
    }
    const pods = (this.scoped(this.podInformers, namespace)?.list() ?? []).filter(
      (p) =>
        p.metadata.namespace === namespace &&
        (p.metadata.annotations?.[INJECTED_ANNOTATION] ?? '').split(',').includes(binding.metadata.name!),
    );
    for (const pod of pods) {
      const owner = (pod.metadata.ownerReferences ?? []).find((o) => o.controller);
      if (owner && this.workloadKinds.includes(owner.kind)) {
        if (found.has(owner.uid)) continue;
        // A workload of another kind ends when none of its injected pods is running any more.
        const siblings = pods.filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === owner.uid));
        const running = siblings.some((p) => !isFinished(p));
        found.set(owner.uid, {
          apiVersion: owner.apiVersion,
          kind: owner.kind,
          name: owner.name,
          uid: owner.uid,
          ended: running ? undefined : 'has no running pods',
        });
      } else if (!owner) {
        const ended = pod.metadata.deletionTimestamp
          ? 'is being deleted'
          : isFinished(pod)
            ? `has ${pod.status?.phase?.toLowerCase()}`
            : undefined;
        found.set(pod.metadata.uid!, {
          apiVersion: 'v1',
          kind: 'Pod',
          name: pod.metadata.name!,
          uid: pod.metadata.uid!,
          ended,
        });
      }
    }
    return [...found.values()];
  }

  namespaceLabels(namespace: string): Record<string, string> | undefined {
    return this.namespaces.get(namespace)?.metadata.labels;
  }

  /** Running pods that carry a binding (injected by the webhook). */
  projectedPods(namespace: string, bindingName: string): InjectedPod[] {
    const informer = this.scoped(this.podInformers, namespace);
    return (informer?.list() ?? []).filter(
      (p) =>
        p.metadata.namespace === namespace &&
        !p.metadata.deletionTimestamp &&
        p.status?.phase !== 'Succeeded' &&
        p.status?.phase !== 'Failed' &&
        (p.metadata.annotations?.[INJECTED_ANNOTATION] ?? '').split(',').includes(bindingName),
    );
  }

  private scoped<T extends KubeObject>(
    informers: Map<string, Informer<T>>,
    namespace: string,
  ): Informer<T> | undefined {
    return informers.get(namespace) ?? informers.get('');
  }

  private informer<T extends KubeObject>(spec: InformerSpec<T>): Informer<T> {
    return new Informer<T>({
      ...spec,
      http: this.options.http,
      // Watches live in real time whatever clock schedules the work: a manual clock in a test
      // must not stall a watch's backoff or trip its watchdog.
      clock: systemClock,
      logger: this.options.logger,
      silenceLimitMs: this.options.silenceLimitMs,
    });
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
    for (const binding of stalledByOutage(recovered, this.bindings()))
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
    for (const binding of this.bindings()) {
      const ids = changed.get(bindingStoreLabel(binding));
      if (ids && remoteRequests(binding.spec).some((request) => ids.has(requestId(request))))
        this.queue.promote(BINDING + objectKey(binding.metadata), 'medium');
    }
  }

  private wireEvents(): void {
    const enqueueBinding = (binding: SecretBinding, priority: Priority) =>
      this.queue.add(BINDING + objectKey(binding.metadata), priority);
    for (const informer of this.bindingInformers.values()) {
      informer.on('add', (b) => {
        const firstSync = neverSynced(b);
        enqueueBinding(b, firstSync ? 'high' : 'low');
        // A burst of new bindings queues up behind the workers: their store reads are made now,
        // side by side and batched, instead of one worker at a time when each is taken. Only
        // where this replica reconciles them (a standby or another shard would read for nothing).
        const key = objectKey(b.metadata);
        if (firstSync && this.reconciling() && (this.ownsKey?.(key) ?? true))
          this.reconcilers?.prefetchBinding?.(key);
      });
      // Our own status writes come back as updates: only a spec change (generation) is work.
      informer.on('update', (b, old) => {
        if (b.metadata.generation !== old?.metadata.generation) enqueueBinding(b, 'high');
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
      for (const binding of this.bindings()) {
        if (usesStore(binding, store.kind, store.metadata.namespace, store.metadata.name!))
          enqueueBinding(binding, 'high');
      }
    };
    for (const informer of [...this.storeInformers.values(), this.clusterStores]) {
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
    this.namespaces.on('update', (ns, old) => {
      if (JSON.stringify(ns.metadata.labels ?? {}) === JSON.stringify(old?.metadata.labels ?? {})) return;
      for (const binding of this.bindingsIn(ns.metadata.name!) ?? []) enqueueBinding(binding, 'high');
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
      for (const binding of this.bindingsIn(job.metadata.namespace!) ?? []) {
        if (binding.spec.projection?.scope === 'PerWorkload') enqueueBinding(binding, 'high');
      }
    };
    for (const informer of this.jobInformers.values()) {
      informer.on('add', (j) => onJob(j));
      informer.on('update', (j, old) => onJob(j, old));
      informer.on('delete', (j) => onJob(j));
    }
    for (const informer of this.podInformers.values()) {
      informer.on('add', (p) => onPod(p));
      informer.on('update', (p, old) => onPod(p, old));
      informer.on('delete', (p) => onPod(p));
    }
    for (const informer of this.secretInformers.values()) {
      informer.on('update', onSecret);
      informer.on('delete', onSecret);
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const item = await this.queue.get();
      if (!item) return;
      const { key } = item;
      this.options.onDequeue?.(item.waitedMs, item.priority);
      if (this.ownsKey && !this.ownsKey(key.slice(2))) {
        // Another replica's shard: dropped, not rescheduled (queued again if it comes back).
        this.followUps.delete(key);
        this.queue.forget(key);
        this.queue.done(key);
        continue;
      }
      if (this.canWork && !this.canWork()) {
        // Our membership is not current (lease renewal late): hold the key, do not write.
        this.queue.addAfter(key, 1000, item.priority);
        this.queue.done(key);
        continue;
      }
      let deferred = false;
      try {
        const followUp = item.followUp ? this.followUps.get(key) : undefined;
        this.followUps.delete(key);
        let dueAt: number | undefined;
        if (followUp) {
          await followUp.run();
          dueAt = followUp.dueAt;
        } else {
          // The reconcile measures its requeue from the clock it read as it began. Counted from
          // its end instead, every binding of a refresh boundary came due again a reconcile's
          // length after the next boundary (up to a second, waiting on the store), spread out:
          // a rotation's readers that were not due yet when the new value was read could not be
          // promoted, and waited behind the routine refreshes.
          const started = this.options.clock.now();
          const result = await this.dispatch(key, item.priority);
          if (this.options.logger.isDebugEnabled()) this.options.logger.debug('reconciled', { key });
          if (result.requeueAfterMs !== undefined) dueAt = started + Math.max(0, result.requeueAfterMs);
          if (result.followUp) {
            // The Secret is written; its status and Event wait for the urgent work to drain.
            this.followUps.set(key, { run: result.followUp, dueAt });
            this.queue.defer(key, item.priority);
            deferred = true;
            continue;
          }
        }
        this.queue.forget(key);
        if (dueAt !== undefined)
          this.queue.addAfter(key, Math.max(0, dueAt - this.options.clock.now()), 'low');
      } catch (error) {
        const delay = this.queue.addRateLimited(key, {
          atLeastMs: error instanceof RetryLater ? error.atLeastMs : undefined,
        });
        const atMost = error instanceof RetryLater ? error.atMostMs : undefined;
        if (atMost !== undefined && atMost < delay) this.queue.addAfter(key, Math.max(0, atMost), 'low');
        if (!(error instanceof RetryLater)) {
          this.options.logger.error('reconcile failed unexpectedly', {
            key,
            error: (error as Error)?.name,
            delayMs: delay,
          });
        }
      } finally {
        if (!deferred) this.queue.done(key);
      }
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

/** What the operator keeps of an injected pod: metadata and phase, not its spec. */
export interface InjectedPod extends KubeObject {
  status?: { phase?: string };
}

/** What the operator keeps of a Job: identity, pod template labels, and whether it ended. */
export interface LeanJob extends KubeObject {
  spec?: { template?: { metadata?: { labels?: Record<string, string> } } };
  status?: { conditions?: { type: string; status: string }[] };
}

/** What an informer is built from, less what all of the manager's share (connection, clock, logger). */
export type InformerSpec<T extends KubeObject> = Pick<
  InformerOptions<T>,
  'name' | 'path' | 'labelSelector' | 'metadataOnly' | 'transform'
>;

/**
 * The informers of one watched namespace ('' for all) that a binding's sync writes reach: the
 * bindings (created, then the status patch), the managed Secrets (full: drift is checked by
 * the data's hash) and the names of the other Secrets (see unmanagedSecretExists). Exported for
 * the benchmark, whose floor runs the same watches (bench/floor.ts).
 */
export function bindingWriteInformers(ns: string): {
  bindings: InformerSpec<SecretBinding & KubeObject>;
  managedSecrets: InformerSpec<SecretObject>;
  unmanagedSecrets: InformerSpec<KubeObject>;
} {
  const namespace = ns || undefined;
  const at = ns ? `@${ns}` : '';
  return {
    bindings: { name: `secretbindings${at}`, path: collectionPath('SecretBinding', namespace) },
    managedSecrets: {
      name: `managed-secrets${at}`,
      path: collectionPath('Secret', namespace),
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    },
    unmanagedSecrets: {
      name: `unmanaged-secrets${at}`,
      path: collectionPath('Secret', namespace),
      labelSelector: `${MANAGED_BY_LABEL}!=${MANAGED_BY_VALUE}`,
      metadataOnly: true,
      transform: nameOnly,
    },
  };
}

/** An unmanaged Secret's cache entry: its name and version, nothing of its content or labels. */
function nameOnly(secret: KubeObject): KubeObject {
  const { name, namespace, resourceVersion } = secret.metadata;
  return { metadata: { name, namespace, resourceVersion } };
}

function leanJob(job: LeanJob): LeanJob {
  const { name, namespace, uid, resourceVersion, labels, deletionTimestamp } = job.metadata;
  return {
    metadata: { name, namespace, uid, resourceVersion, labels, deletionTimestamp },
    spec: { template: { metadata: { labels: job.spec?.template?.metadata?.labels } } },
    status: { conditions: (job.status?.conditions ?? []).map(({ type, status }) => ({ type, status })) },
  };
}

/** "completed" or "failed" once the Job's terminal condition is True. */
function jobEnded(job: LeanJob): string | undefined {
  const conditions = job.status?.conditions ?? [];
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return 'completed';
  if (conditions.some((c) => c.type === 'Failed' && c.status === 'True')) return 'failed';
  return undefined;
}

function isFinished(pod: InjectedPod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function leanPod(pod: InjectedPod): InjectedPod {
  const { name, namespace, uid, resourceVersion, labels, annotations, ownerReferences, deletionTimestamp } =
    pod.metadata;
  return {
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      labels,
      annotations,
      ownerReferences,
      deletionTimestamp,
    },
    status: { phase: pod.status?.phase },
  };
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

// Assembles the operator from its parts. main.ts calls it with real settings; integration
// tests call it in-process, with their own namespaces and sometimes a manual clock.
import type http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { parseAddress, type OperatorConfig } from './config/config.ts';
import { systemClock, type Clock } from './runtime/clock.ts';
import { LeaderElector } from './runtime/leader-election.ts';
import { LeaseSweep } from './controller/lease-sweep.ts';
import { Manager } from './controller/manager.ts';
import { owns, ShardMembership } from './runtime/sharding.ts';
import { SecretBindingReconciler } from './controller/binding/reconcile.ts';
import { SecretStoreReconciler } from './controller/secret-store.reconciler.ts';
import { bindingStoreLabel, StoreDirectory } from './controller/stores.ts';
import { DataHasher } from './data/data-hash.ts';
import { Fetcher } from './fetch/fetcher.ts';
import { KubeEventRecorder, type EventRecorder } from './kube/events.ts';
import { EXPIRES_AT_ANNOTATION, ISSUED_AT_ANNOTATION } from './api/labels.ts';
import type { KubeConnection } from './runtime/connection.ts';
import { KubeHttp } from './runtime/http.ts';
import { loadInstallKey } from './kube/install-key.ts';
import { KubeClient } from './kube/kube-client.ts';
import { informersLive, informersSynced, serveHealth, webhookServing } from './observability/health.ts';
import { OperatorMetrics, serveMetrics } from './observability/metrics.ts';
import { createAuditLog, type AuditSink } from './observability/audit.ts';
import { recordInjections } from './projection/injection-record.ts';
import { PodRefresher } from './projection/pod-refresher.ts';
import { RolloutRestarter } from './projection/rollout-restarter.ts';
import type { PodWebhook } from './projection/webhook.ts';
import { ProviderRegistry, defaultFactories } from './providers/registry.ts';
import type { ProviderFactory } from './providers/provider.port.ts';

export interface OperatorOptions {
  config: OperatorConfig;
  /** client-node's KubeConfig, or a connection built without it (main.ts). */
  kubeConfig: KubeConfig | KubeConnection;
  logger: Logger;
  clock?: Clock;
  providers?: ProviderFactory[];
  /** Serve /healthz, /readyz and /metrics (off for tests that do not read them). */
  serve?: boolean;
  /** Lease timings (tests shorten them); client-go's defaults otherwise. */
  leaderElection?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** Shard membership timings (tests shorten them); see ShardMembershipOptions. */
  sharding?: { retryPeriodMs?: number; renewDeadlineMs?: number; joinDelayMs?: number };
  /** Called when leadership is lost; main.ts exits so the pod restarts as a follower. */
  onLostLeadership?: () => void;
  /** The audit trail; default: a JSON-lines log at config.auditLog. */
  audit?: AuditSink;
  /** Rotation changes within this window cause one rollout restart (tests shorten it). */
  rolloutDebounceMs?: number;
  /** With config.refreshMountedPods: data changes within this window cause one patch per pod. */
  podRefreshDebounceMs?: number;
  /** How long a quiet watch is trusted (tests shorten it). */
  silenceLimitMs?: number;
  /** The orphan lease sweep's timings (tests shorten them); see LeaseSweepOptions. */
  leaseSweep?: { graceMs?: number; everyMs?: number };
}

/** A running operator: its manager, its metrics, and how to stop it. */
export class Operator {
  readonly manager: Manager;
  readonly metrics: OperatorMetrics;
  readonly kube: KubeClient;
  private readonly options: OperatorOptions;
  private readonly servers: http.Server[] = [];
  /** Ports actually bound (":0" picks a free one). */
  readonly ports: { health?: number; metrics?: number; webhook?: number } = {};
  webhook?: PodWebhook;
  private closeAudit?: () => Promise<void>;
  elector?: LeaderElector;
  shards?: ShardMembership;
  private restarter!: RolloutRestarter;
  private sweep?: LeaseSweep;
  private refresher!: PodRefresher;

  constructor(options: OperatorOptions) {
    this.options = options;
    const clock = options.clock ?? systemClock;
    // The reconcilers' writes: refused once this replica no longer holds the Lease.
    const http = new KubeHttp(options.kubeConfig, { writableUntil: () => this.writableUntil(), clock });
    this.kube = new KubeClient(http);
    this.metrics = new OperatorMetrics({ defaultMetrics: options.serve ?? true });
    this.manager = new Manager({
      http,
      clock,
      logger: options.logger,
      namespaces: options.config.namespaces,
      workers: options.config.workers,
      workloadKinds: options.config.workloadKinds,
      onDequeue: (waitedMs, priority) => this.metrics.queueWait.observe({ priority }, waitedMs / 1000),
      silenceLimitMs: options.silenceLimitMs,
    });
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const clock = this.options.clock ?? systemClock;
    // Every replica's own writes (install key, Lease, webhook certificate and configuration).
    const http = new KubeHttp(this.options.kubeConfig);
    // What only the leader writes: Events of reconciles, rollout restarts, pod refreshes.
    const leaderHttp = new KubeHttp(this.options.kubeConfig, {
      writableUntil: () => this.writableUntil(),
      clock,
    });
    const silenceBound = 2 * (this.options.silenceLimitMs ?? 5 * 60_000);
    if (this.options.serve ?? true) {
      const live = informersLive(
        () => this.manager.health(),
        () => clock.now(),
        silenceBound,
      );
      const health = await serveHealth(parseAddress(config.healthAddress), {
        live: [live],
        ready: [
          informersSynced(() => this.manager.health()),
          webhookServing(config.webhook, () => this.ports.webhook !== undefined),
        ],
      });
      const metrics = await serveMetrics(parseAddress(config.metricsAddress), this.metrics.registry);
      this.servers.push(health.server, metrics.server);
      this.ports.health = health.port;
      this.ports.metrics = metrics.port;
    }
    const hasher = new DataHasher(await loadInstallKey(http, config.operatorNamespace));
    const ownAudit = this.options.audit ? undefined : createAuditLog(config.auditLog, config.instance, clock);
    this.closeAudit = ownAudit?.close;
    const audit = this.options.audit ?? ownAudit!;
    const counted = (recorder: EventRecorder): EventRecorder => ({
      emit: (subject, type, reason, message) => {
        this.metrics.events.inc({ type, reason });
        recorder.emit(subject, type, reason, message);
      },
    });
    const events = counted(
      new KubeEventRecorder({
        http: leaderHttp,
        clock,
        logger,
        instance: config.instance,
        // First syncs and rotations first: their Events follow once the queue has caught up.
        // (Not "until none came for a second": where new bindings or spec changes come once a
        // second or more, every Event, Warnings included, would wait the minute of maxHoldMs.)
        holdWhile: () => this.manager.queue.urgentLen() > 0,
      }),
    );
    // Every replica serves the webhook, and records its denials whether it leads or not.
    const webhookEvents = counted(new KubeEventRecorder({ http, clock, logger, instance: config.instance }));
    this.metrics.observe({
      expiries: () =>
        this.manager.cache
          .managedSecrets()
          .map((s) => Date.parse(s.metadata.annotations?.[EXPIRES_AT_ANNOTATION] ?? ''))
          .filter((t) => !Number.isNaN(t)),
      lifetimes: () =>
        this.manager.cache.managedSecrets().flatMap((s) => {
          const issuedAt = Date.parse(s.metadata.annotations?.[ISSUED_AT_ANNOTATION] ?? '');
          const expiresAt = Date.parse(s.metadata.annotations?.[EXPIRES_AT_ANNOTATION] ?? '');
          return Number.isNaN(issuedAt) || Number.isNaN(expiresAt) ? [] : [{ issuedAt, expiresAt }];
        }),
      bindings: () =>
        this.manager.cache.bindings().map((b) => {
          const ready = b.status?.conditions?.find((c) => c.type === 'Ready');
          return {
            ready: ready?.status ?? 'Unknown',
            reason: ready?.reason ?? 'Pending',
            store: bindingStoreLabel(b),
          };
        }),
      informers: () => this.manager.health(),
      now: () => clock.now(),
    });
    const stores = new StoreDirectory({
      lookup: this.manager.cache,
      registry: new ProviderRegistry(this.options.providers ?? defaultFactories),
      secrets: this.kube,
      tokens: this.kube,
      clock,
      logger,
    });
    const metrics = this.metrics;
    const fetcher = new Fetcher({
      clock,
      logger,
      // A first sync waits 10 ms more; a burst of them makes a call per worker's worth of asks.
      batchWindowMs: 10,
      // Real milliseconds, even when a test drives `clock` by hand (see Fetcher's batchClock).
      batchClock: systemClock,
      observer: {
        providerCall: (store, operation) => metrics.providerCall(store, operation),
        providerLatency: (store, operation, ms) => metrics.providerLatency(store, operation, ms),
        readSaved: (store) => metrics.readSaved(store),
        // A rotated remote value: its bindings' refreshes go before the ones that change nothing.
        valueChanged: (store, request) => this.manager.promoteReadersOf(store.label, request),
      },
    });
    this.restarter = new RolloutRestarter({
      http: leaderHttp,
      clock,
      logger,
      events,
      debounceMs: this.options.rolloutDebounceMs,
    });
    this.refresher = new PodRefresher({
      enabled: config.refreshMountedPods,
      http: leaderHttp,
      clock,
      logger,
      events,
      onOutcome: (outcome) => this.metrics.podRefreshes.inc({ outcome }),
      debounceMs: this.options.podRefreshDebounceMs,
    });
    const bindings = new SecretBindingReconciler({
      clock,
      logger,
      cache: this.manager.cache,
      listener: {
        failed: (reason) => this.metrics.reconcileErrors.inc({ kind: 'SecretBinding', reason }),
        newData: (binding, secretName) => this.refresher.request(binding, secretName),
        rolloutRestart: (binding, secretName) => this.restarter.request(binding, secretName),
        storeRecovered: (binding) => this.manager.retryAfterStoreRecovery(binding),
        providerCall: (handle, operation) => this.metrics.providerCall(handle, operation),
      },
      stores,
      fetcher,
      secrets: this.kube,
      status: this.kube,
      events,
      audit,
      hasher,
    });
    this.sweep = new LeaseSweep({
      clock,
      logger,
      bindings: () => this.manager.cache.bindings(),
      held: () => bindings.heldLeaseIds(),
      stores,
      onCall: (handle, operation) => this.metrics.providerCall(handle, operation),
      ...this.options.leaseSweep,
    });
    const storeReconciler = new SecretStoreReconciler({
      clock,
      logger,
      cache: this.manager.cache,
      stores,
      onForget: (storeId) => fetcher.forgetStore(storeId),
      status: this.kube,
      events,
      // The credentials check (STS GetCallerIdentity, …) is a provider call like any other.
      onProviderCall: (handle, operation) => this.metrics.providerCall(handle, operation),
    });
    // Any replica may receive the API server's audit events: its marks and Events are its own writes.
    const { cache } = this.manager;
    const accessDeps = { config, http, clock, logger, cache, audit, metrics: this.metrics };
    const access =
      config.webhook && config.accessAudit.enabled
        ? await (
            await import('./access/access-audit.ts')
          ).accessAudit({ ...accessDeps, events: webhookEvents, status: new KubeClient(http) })
        : undefined;
    if (config.webhook) {
      // Loaded only when served: its certificate code (node-forge) costs ~10 MiB of memory.
      const { PodWebhook } = await import('./projection/webhook.ts');
      this.webhook = new PodWebhook({
        http,
        clock,
        logger,
        address: parseAddress(config.webhookAddress),
        operatorNamespace: config.operatorNamespace,
        service: config.webhookService,
        url: config.webhookUrl,
        failurePolicy: config.webhookFailurePolicy,
        workloadKinds: config.workloadKinds,
        bindingsIn: (namespace) => this.manager.cache.bindingsIn(namespace),
        events: webhookEvents,
        routes: access?.routes,
        onCaBundle: access?.publish,
        onDecision: recordInjections(audit, this.metrics, config.workloadKinds),
      });
    }
    await this.manager.startInformers({
      binding: (key, options) => this.counted('SecretBinding', bindings.reconcile(key, options)),
      store: (kind, ns, name) => this.counted(kind, storeReconciler.reconcile(kind, ns, name)),
      prefetchBinding: (key) => bindings.prefetch(key),
    });
    // After the caches are synced, so the first pod admitted already sees every binding.
    if (this.webhook) {
      await this.webhook.start();
      this.ports.webhook = this.webhook.port;
    }
    this.metrics.ownedBindings = () => this.manager.ownedBindings();
    if (config.shards === 'auto') {
      // No leader: every replica reconciles its own shard (docs/decisions/0005-sharding.md).
      // Nothing is owned until the membership says so, after one lease period.
      this.manager.setOwnership(() => false);
      this.startWorking();
      this.shards = new ShardMembership({
        http,
        clock,
        logger,
        namespace: config.operatorNamespace,
        identity: config.instance,
        leaseDurationMs: config.shardLeaseDurationMs,
        ...this.options.sharding,
        onChange: (state) => {
          this.metrics.shardMembers.set(state.ring.members.length);
          this.manager.setOwnership(
            (key) => owns(state, key),
            () => this.shards!.renewedInTime(),
          );
        },
      });
      await this.shards.start();
    } else if (config.leaderElect) {
      this.elector = new LeaderElector({
        http,
        clock,
        logger,
        namespace: config.operatorNamespace,
        name: config.leaderElectionId,
        identity: config.instance,
        leaseDurationMs: config.leaderElectionLeaseDurationMs,
        renewDeadlineMs: config.leaderElectionRenewDeadlineMs,
        retryPeriodMs: config.leaderElectionRetryPeriodMs,
        ...this.options.leaderElection,
        onStartedLeading: () => this.startWorking(),
        onStoppedLeading: () => {
          this.sweep?.stop();
          void this.manager.stopWorkers();
          this.options.onLostLeadership?.();
        },
      });
      this.elector.start();
    } else {
      this.startWorking();
    }
    logger.info('operator started', {
      instance: config.instance,
      namespaces: config.namespaces.length ? config.namespaces : 'all',
      shards: config.shards,
    });
  }

  /** The workers, and the orphan lease sweep (which revokes, so runs only where reconciles may write). */
  private startWorking(): void {
    this.manager.startWorkers();
    this.sweep?.start();
  }

  /**
   * Reconcilers may write: always without leader election, else only while the Lease is held.
   * Sharded replicas elect no leader (`--leader-elect` is ignored): each holds its work itself
   * while its own member Lease renewal is late (ShardMembership.renewedInTime).
   */
  private writableUntil(): number {
    if (this.options.config.shards === 'auto' || !this.options.config.leaderElect) return Infinity;
    return this.elector?.leaseValidUntil() ?? -Infinity;
  }

  async stop(): Promise<void> {
    this.sweep?.stop();
    await this.manager.stopWorkers();
    await this.elector?.stop();
    await this.shards?.stop();
    await this.webhook?.stop();
    await this.restarter?.stop();
    await this.refresher?.stop();
    await this.manager.stop();
    await this.closeAudit?.();
    await Promise.all(this.servers.map((s) => new Promise((resolve) => s.close(resolve))));
    this.options.logger.info('operator stopped');
  }

  private async counted<T extends { followUp?: () => Promise<void> }>(
    kind: string,
    work: Promise<T>,
  ): Promise<T> {
    try {
      return await this.metrics.countReconcile(kind, work);
    } finally {
      this.metrics.queueDepth.set(this.manager.queue.len());
    }
  }
}

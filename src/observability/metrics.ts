import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FetchObserver, StoreHandle } from '../fetch/fetcher.ts';

/**
 * The operator's Prometheus series. Labels are low-cardinality by design: store, provider,
 * operation, kind and reason — never a secret key, binding name or value.
 */
export class OperatorMetrics implements FetchObserver {
  readonly registry = new Registry();
  readonly providerCalls = new Counter({
    name: 'mlsecrets_provider_calls_total',
    help: 'Provider API calls by store, provider and operation (the cost figure).',
    labelNames: ['store', 'provider', 'operation'] as const,
    registers: [this.registry],
  });
  readonly readsSaved = new Counter({
    name: 'mlsecrets_provider_reads_saved_total',
    help: 'Remote reads served from the shared cache or an in-flight read instead of a provider call.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });
  readonly providerLatencyHistogram = new Histogram({
    name: 'mlsecrets_provider_request_duration_seconds',
    help: 'Provider call latency.',
    labelNames: ['store', 'operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: 'mlsecrets_reconcile_total',
    help: 'Reconciles by kind and outcome.',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'mlsecrets_workqueue_depth',
    help: 'Keys ready to be reconciled.',
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'mlsecrets_workqueue_wait_seconds',
    help: 'Time a key waited in the work queue, by priority.',
    labelNames: ['priority'] as const,
    buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'mlsecrets_reconcile_errors_total',
    help: 'Failed reconciles by kind and condition reason.',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: 'mlsecrets_events_total',
    help: 'Kubernetes Events emitted, by type and reason (Synced, Rotated, Renewed, Expired, Revoked, InjectionDenied, …).',
    labelNames: ['type', 'reason'] as const,
    registers: [this.registry],
  });
  readonly accessReads = new Counter({
    name: 'mlsecrets_access_reads_total',
    help: 'Reads of managed Secrets reported by the API server audit webhook, by whether they were expected.',
    labelNames: ['expected'] as const,
    registers: [this.registry],
  });
  /** Namespace and binding as labels: the alert names the binding (few ever appear). */
  readonly unexpectedAccess = new Counter({
    name: 'mlsecrets_unexpected_access_total',
    help: 'Unexpected reads of a managed Secret (by a reader not expected, or over its read allowance).',
    labelNames: ['namespace', 'binding'] as const,
    registers: [this.registry],
  });
  readonly auditReceived = new Counter({
    name: 'mlsecrets_access_audit_reads_received_total',
    help: 'Secret reads received from the API server audit webhook.',
    registers: [this.registry],
  });
  readonly auditDropped = new Counter({
    name: 'mlsecrets_access_audit_dropped_total',
    help: 'Secret reads dropped because the judging queue was full (never judged, never recorded).',
    registers: [this.registry],
  });
  readonly auditRejected = new Counter({
    name: 'mlsecrets_access_audit_rejected_total',
    help: 'Audit webhook requests refused, by reason (unauthorized, malformed, too-large).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly auditQueueDepth = new Gauge({
    name: 'mlsecrets_access_audit_queue_depth',
    help: 'Secret reads waiting to be judged.',
    registers: [this.registry],
  });
  readonly injections = new Counter({
    name: 'mlsecrets_injections_total',
    help: 'Pod webhook decisions per binding match: injected, skipped (gate failed, pod admitted) or denied.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly podRefreshes = new Counter({
    name: 'mlsecrets_pod_refreshes_total',
    help: 'Pods annotated so their kubelet remounts a changed Secret at once (--refresh-mounted-pods): refreshed, gone (deleted first) or failed.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly shardMembers = new Gauge({
    name: 'mlsecrets_shard_members',
    help: 'Live shard members (replicas) this replica sees with --shards=auto; 0 when sharding is off.',
    registers: [this.registry],
  });
  /** Where the owned-bindings figure comes from (set by the operator). */
  ownedBindings: () => number = () => 0;
  readonly shardOwnedBindings = new Gauge({
    name: 'mlsecrets_shard_owned_bindings',
    help: 'SecretBindings this replica reconciles: its shard with --shards=auto (0 while joining), else all.',
    registers: [this.registry],
    collect: () => {
      this.shardOwnedBindings.set(this.ownedBindings());
    },
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  providerCall(store: StoreHandle, operation: string): void {
    this.providerCalls.inc({ store: store.label, provider: store.provider.name, operation });
  }

  providerLatency(store: StoreHandle, operation: string, ms: number): void {
    this.providerLatencyHistogram.observe({ store: store.label, operation }, ms / 1000);
  }

  readSaved(store: StoreHandle): void {
    this.readsSaved.inc({ store: store.label });
  }

  /**
   * Series computed at scrape time from the operator's caches: managed Secrets by time to
   * expiry (cumulative buckets, like a histogram's), and informer health and restarts.
   */
  observe(sources: {
    expiries: () => number[];
    /** Issued/expiry pairs of managed Secrets, for the "renewal overdue" gauge. */
    lifetimes: () => { issuedAt: number; expiresAt: number }[];
    /** Ready status and reason of every binding, and the store it uses. */
    bindings: () => { ready: string; reason: string; store: string }[];
    informers: () => { name: string; running: boolean; synced: boolean; restarts: number }[];
    now: () => number;
  }): void {
    const bounds: [string, number][] = [
      ['600', 600],
      ['3600', 3600],
      ['21600', 21600],
      ['86400', 86400],
      ['+Inf', Infinity],
    ];
    new Gauge({
      name: 'mlsecrets_managed_secrets_expiring',
      help: 'Managed Secrets that expire within `le` seconds (cumulative; expired ones count as 0 seconds).',
      labelNames: ['le'] as const,
      registers: [this.registry],
      collect() {
        const left = sources.expiries().map((at) => Math.max(0, (at - sources.now()) / 1000));
        for (const [label, bound] of bounds) this.set({ le: label }, left.filter((s) => s <= bound).length);
      },
    });
    new Gauge({
      name: 'mlsecrets_managed_secrets_renewal_overdue',
      help: 'Managed Secrets with less than 10% of their lifetime left: renewal (due at 2/3) has failed.',
      registers: [this.registry],
      collect() {
        const now = sources.now();
        this.set(
          sources
            .lifetimes()
            .filter(({ issuedAt, expiresAt }) => expiresAt - now < 0.1 * (expiresAt - issuedAt)).length,
        );
      },
    });
    new Gauge({
      name: 'mlsecrets_bindings',
      help: 'SecretBindings by Ready status and reason.',
      labelNames: ['ready', 'reason'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const b of sources.bindings()) this.inc({ ready: b.ready, reason: b.reason });
      },
    });
    new Gauge({
      name: 'mlsecrets_store_bindings',
      help: 'SecretBindings per store (the denominator of reads per binding).',
      labelNames: ['store'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const b of sources.bindings()) this.inc({ store: b.store });
      },
    });
    new Gauge({
      name: 'mlsecrets_informer_healthy',
      help: '1 when the informer is running and synced, else 0.',
      labelNames: ['informer'] as const,
      registers: [this.registry],
      collect() {
        for (const i of sources.informers()) this.set({ informer: i.name }, i.running && i.synced ? 1 : 0);
      },
    });
    new Gauge({
      name: 'mlsecrets_informer_restarts',
      help: 'Watch restarts after failures, per informer, since the operator started.',
      labelNames: ['informer'] as const,
      registers: [this.registry],
      collect() {
        for (const i of sources.informers()) this.set({ informer: i.name }, i.restarts);
      },
    });
  }

  /** Total provider calls, optionally for one operation: the figure tests and the bench read. */
  async callCount(operation?: string): Promise<number> {
    const metric = await this.providerCalls.get();
    return metric.values
      .filter((v) => !operation || v.labels.operation === operation)
      .reduce((sum, v) => sum + v.value, 0);
  }

  /**
   * Counts the outcome of a reconcile. One that deferred its bookkeeping (a Secret rewritten
   * first, its status patch and Event later) is counted once that has run: a status patch that
   * fails after the write is a failed reconcile, and is retried as one.
   */
  async countReconcile<T extends { followUp?: () => Promise<void> }>(
    kind: string,
    work: Promise<T>,
  ): Promise<T> {
    let result: T;
    try {
      result = await work;
    } catch (error) {
      this.reconciles.inc({ kind, outcome: 'error' });
      throw error;
    }
    const followUp = result.followUp;
    if (!followUp) {
      this.reconciles.inc({ kind, outcome: 'success' });
      return result;
    }
    return {
      ...result,
      followUp: async () => {
        try {
          await followUp();
        } catch (error) {
          this.reconciles.inc({ kind, outcome: 'error' });
          throw error;
        }
        this.reconciles.inc({ kind, outcome: 'success' });
      },
    };
  }
}

/** Serves /metrics in the Prometheus text format; resolves with the bound port. */
export async function serveMetrics(
  address: { host?: string; port: number },
  registry: Registry,
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
      .catch(() => res.writeHead(500).end('metrics unavailable\n'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

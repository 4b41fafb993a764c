import { parseArgs } from 'node:util';
import type { LogLevel } from '../observability/logger.ts';
import { parseDuration } from '../rotation/duration.ts';

/** The operator's settings, from flags with environment equivalents. Parsing has no side effects. */
export interface OperatorConfig {
  kubeconfig?: string;
  metricsAddress: string;
  healthAddress: string;
  webhookAddress: string;
  /** Watch only these namespaces; empty: all. */
  namespaces: string[];
  /** Where the operator keeps its own state (the data-hash key, webhook certificate, Leases). */
  operatorNamespace: string;
  /**
   * Outside a cluster (a kubeconfig given, no pod service account): create the operator
   * namespace at start when it is missing. Inside a cluster (the chart's pod) it never is.
   */
  createOperatorNamespace: boolean;
  logLevel: LogLevel;
  workers: number;
  /** Identity of this replica, for Events and the audit trail. */
  instance: string;
  /** Serve the pod webhook (every replica does). */
  webhook: boolean;
  /** Outside a cluster: the address kube-apiserver calls; the operator then writes the whole MutatingWebhookConfiguration. */
  webhookUrl?: string;
  webhookFailurePolicy: 'Ignore' | 'Fail';
  /** The Service in front of the webhook, for the serving certificate's names. */
  webhookService: string;
  /** Owner kinds whose pods PerWorkload bindings scope to the owner (Job, PyTorchJob, …). */
  workloadKinds: string[];
  /** Where the audit trail goes: stdout, stderr or a file path. */
  auditLog: string;
  /** Reconcile only while holding the Lease (every replica serves the webhook and metrics). */
  leaderElect: boolean;
  leaderElectionId: string;
  /** How long a Lease holds without renewal; a follower takes over after it (client-go's LeaseDuration). */
  leaderElectionLeaseDurationMs: number;
  /** A leader that has not renewed for this long stops writing and exits; less than the lease duration. */
  leaderElectionRenewDeadlineMs: number;
  /** How often each replica tries to acquire or renew the Lease. */
  leaderElectionRetryPeriodMs: number;
  /** `auto`: replicas share the bindings by consistent hashing, membership in Leases (no leader). */
  shards: 'off' | 'auto';
  /** How long a shard member's Lease lives without renewal. */
  shardLeaseDurationMs: number;
  /** After a Secret's data changes, annotate the running pods mounting it: their kubelet remounts it at once. */
  refreshMountedPods: boolean;
  /** The access audit (docs/access-audit.md); off unless the API server's audit webhook is wired to it. */
  accessAudit: {
    enabled: boolean;
    /** The address kube-apiserver posts to, for the published kubeconfig; default derived. */
    url?: string;
    /** Readers of every managed Secret besides the operator and consumers' kubelets. */
    expectedReaders: { users: string[]; groups: string[]; serviceAccounts: string[] };
    readWindowMs: number;
    readsPerConsumer: number;
    queueCapacity: number;
  };
}

/** A flag, its environment variable, its default and what it means: the README's reference table. */
export const FLAGS = {
  kubeconfig: { env: 'KUBECONFIG', default: '', help: 'kubeconfig file; empty: in-cluster config' },
  'metrics-addr': { env: 'MLSECRETS_METRICS_ADDR', default: ':8080', help: 'address of /metrics' },
  'health-addr': { env: 'MLSECRETS_HEALTH_ADDR', default: ':8081', help: 'address of /healthz and /readyz' },
  'webhook-addr': {
    env: 'MLSECRETS_WEBHOOK_ADDR',
    default: ':9443',
    help: 'address of the pod webhook (TLS)',
  },
  namespaces: {
    env: 'MLSECRETS_NAMESPACES',
    default: '',
    help: 'comma-separated namespaces to watch; empty: all',
  },
  'operator-namespace': {
    env: 'POD_NAMESPACE',
    default: 'mlsecrets-system',
    help: "the operator's own namespace (its data-hash key, webhook certificate and Leases); created when missing if run with a kubeconfig",
  },
  'log-level': { env: 'MLSECRETS_LOG_LEVEL', default: 'info', help: 'error, warn, info or debug' },
  workers: { env: 'MLSECRETS_WORKERS', default: '8', help: 'concurrent reconciles' },
  instance: {
    env: 'POD_NAME',
    default: '',
    help: 'replica name for Events and audit; default: the host name',
  },
  webhook: { env: 'MLSECRETS_WEBHOOK', default: 'true', help: 'serve the pod webhook (true or false)' },
  'webhook-url': {
    env: 'MLSECRETS_WEBHOOK_URL',
    default: '',
    help: 'outside a cluster: the https address kube-apiserver calls; the operator then writes the webhook configuration itself',
  },
  'webhook-failure-policy': {
    env: 'MLSECRETS_WEBHOOK_FAILURE_POLICY',
    default: 'Ignore',
    help: 'Ignore (a down webhook never blocks pods) or Fail',
  },
  'webhook-service': {
    env: 'MLSECRETS_WEBHOOK_SERVICE',
    default: 'mlsecrets-webhook',
    help: "the webhook's Service name, for its certificate",
  },
  'leader-elect': {
    env: 'MLSECRETS_LEADER_ELECT',
    default: 'true',
    help: 'reconcile only while holding the Lease <leader-election-id> in the operator namespace',
  },
  'leader-election-id': {
    env: 'MLSECRETS_LEADER_ELECTION_ID',
    default: 'mlsecrets-leader',
    help: 'name of the leader-election Lease',
  },
  'leader-election-lease-duration': {
    env: 'MLSECRETS_LEADER_ELECTION_LEASE_DURATION',
    default: '10s',
    help: 'how long a Lease holds without renewal before a follower takes over',
  },
  'leader-election-renew-deadline': {
    env: 'MLSECRETS_LEADER_ELECTION_RENEW_DEADLINE',
    default: '7s',
    help: 'a leader that has not renewed for this long stops writing and exits (less than the lease duration)',
  },
  'leader-election-retry-period': {
    env: 'MLSECRETS_LEADER_ELECTION_RETRY_PERIOD',
    default: '2s',
    help: 'how often replicas try to acquire or renew the Lease',
  },
  shards: {
    env: 'MLSECRETS_SHARDS',
    default: 'off',
    help: 'off (one leader reconciles) or auto (replicas share the bindings by consistent hashing; membership in Leases; leader election is not used)',
  },
  'shard-lease-duration': {
    env: 'MLSECRETS_SHARD_LEASE_DURATION',
    default: '15s',
    help: "how long a replica's shard Lease lives without renewal; its bindings move to the others after that",
  },
  'audit-log': {
    env: 'MLSECRETS_AUDIT_LOG',
    default: 'stdout',
    help: 'audit trail destination: stdout, stderr or a file path (JSON lines)',
  },
  'access-audit': {
    env: 'MLSECRETS_ACCESS_AUDIT',
    default: 'false',
    help: "judge the API server's audit events of Secret reads (POST /audit on the webhook's port) and publish the audit webhook kubeconfig (true or false)",
  },
  'access-audit-url': {
    env: 'MLSECRETS_ACCESS_AUDIT_URL',
    default: '',
    help: "the https address kube-apiserver posts audit events to, for the published kubeconfig; default: the webhook Service's cluster IP, or --webhook-url's host",
  },
  'access-expected-users': {
    env: 'MLSECRETS_ACCESS_EXPECTED_USERS',
    default: 'system:kube-controller-manager',
    help: 'users expected to read every managed Secret (comma-separated)',
  },
  'access-expected-groups': {
    env: 'MLSECRETS_ACCESS_EXPECTED_GROUPS',
    default: '',
    help: 'groups expected to read every managed Secret (comma-separated)',
  },
  'access-expected-service-accounts': {
    env: 'MLSECRETS_ACCESS_EXPECTED_SERVICE_ACCOUNTS',
    default: 'kube-system/generic-garbage-collector,kube-system/namespace-controller',
    help: 'service accounts ("namespace/name" or "namespace/*") expected to read every managed Secret',
  },
  'access-read-window': {
    env: 'MLSECRETS_ACCESS_READ_WINDOW',
    default: '5m',
    help: 'the window of the read-rate check',
  },
  'access-reads-per-consumer': {
    env: 'MLSECRETS_ACCESS_READS_PER_CONSUMER',
    default: '20',
    help: 'reads of one Secret by one reader per window that each of its consumers explains; more is an unexpected read',
  },
  'access-audit-queue': {
    env: 'MLSECRETS_ACCESS_AUDIT_QUEUE',
    default: '10000',
    help: 'reads held for judging; more are dropped and counted (mlsecrets_access_audit_dropped_total)',
  },
  'workload-kinds': {
    env: 'MLSECRETS_WORKLOAD_KINDS',
    default: 'Job,PyTorchJob,TFJob,MPIJob,XGBoostJob,PaddleJob,JAXJob,TrainJob',
    help: 'owner kinds a PerWorkload Secret is scoped to',
  },
  'refresh-mounted-pods': {
    env: 'MLSECRETS_REFRESH_MOUNTED_PODS',
    default: 'false',
    help: "after a Secret's data changes, annotate the running pods that mount it so their kubelet updates the files within seconds, not at its next sync (needs patch on pods)",
  },
} as const;

type FlagName = keyof typeof FLAGS;

/** Parses argv and env; throws an Error naming the bad flag. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv, hostname: string): OperatorConfig {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: 'string' as const }])),
    strict: true,
    allowPositionals: false,
  });
  // An empty environment variable counts as unset, as in most tools.
  const get = (name: FlagName): string =>
    (values[name] as string | undefined) ?? (env[FLAGS[name].env] || FLAGS[name].default);
  const logLevel = get('log-level');
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) {
    throw new Error(`--log-level must be error, warn, info or debug, not "${logLevel}"`);
  }
  const workers = Number(get('workers'));
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    throw new Error(`--workers must be a whole number from 1 to 256, not "${get('workers')}"`);
  }
  for (const name of ['metrics-addr', 'health-addr', 'webhook-addr'] as const) parseAddress(get(name), name);
  const leaderElect = get('leader-elect');
  if (leaderElect !== 'true' && leaderElect !== 'false') {
    throw new Error(`--leader-elect must be true or false, not "${leaderElect}"`);
  }
  const duration = (name: FlagName): number => {
    let ms: number;
    try {
      ms = parseDuration(get(name));
    } catch {
      throw new Error(`--${name} must be a duration such as "10s" or "1500ms", not "${get(name)}"`);
    }
    if (ms < 100) throw new Error(`--${name} must be at least 100ms, not "${get(name)}"`);
    return ms;
  };
  const leaseDuration = duration('leader-election-lease-duration');
  const renewDeadline = duration('leader-election-renew-deadline');
  const retryPeriod = duration('leader-election-retry-period');
  // client-go's rules: the leader gives up before its Lease can expire, and retries before giving up.
  if (renewDeadline >= leaseDuration) {
    throw new Error('--leader-election-renew-deadline must be less than --leader-election-lease-duration');
  }
  if (retryPeriod >= renewDeadline) {
    throw new Error('--leader-election-retry-period must be less than --leader-election-renew-deadline');
  }
  const webhook = get('webhook');
  if (webhook !== 'true' && webhook !== 'false')
    throw new Error(`--webhook must be true or false, not "${webhook}"`);
  const failurePolicy = get('webhook-failure-policy');
  if (failurePolicy !== 'Ignore' && failurePolicy !== 'Fail') {
    throw new Error(`--webhook-failure-policy must be Ignore or Fail, not "${failurePolicy}"`);
  }
  const webhookUrl = get('webhook-url') || undefined;
  if (webhookUrl && !/^https:\/\/[^/]+/.test(webhookUrl)) {
    throw new Error(`--webhook-url must be an https:// address, not "${webhookUrl}"`);
  }
  const refreshMountedPods = get('refresh-mounted-pods');
  if (refreshMountedPods !== 'true' && refreshMountedPods !== 'false') {
    throw new Error(`--refresh-mounted-pods must be true or false, not "${refreshMountedPods}"`);
  }
  const shards = get('shards');
  if (shards !== 'off' && shards !== 'auto') throw new Error(`--shards must be off or auto, not "${shards}"`);
  // A Lease records whole seconds (leaseDurationSeconds).
  const shardLeaseMs = duration('shard-lease-duration');
  if (shardLeaseMs % 1000 !== 0 || shardLeaseMs < 1000 || shardLeaseMs > 3_600_000) {
    throw new Error(
      `--shard-lease-duration must be whole seconds from 1s to 1h, not "${get('shard-lease-duration')}"`,
    );
  }
  const accessAudit = get('access-audit');
  if (accessAudit !== 'true' && accessAudit !== 'false')
    throw new Error(`--access-audit must be true or false, not "${accessAudit}"`);
  const accessAuditUrl = get('access-audit-url') || undefined;
  if (accessAuditUrl && !/^https:\/\/[^/]+/.test(accessAuditUrl))
    throw new Error(`--access-audit-url must be an https:// address, not "${accessAuditUrl}"`);
  const whole = (name: FlagName, min: number): number => {
    const n = Number(get(name));
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} must be a whole number of at least ${min}, not "${get(name)}"`);
    return n;
  };
  const operatorNamespace = get('operator-namespace');
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(operatorNamespace)) {
    throw new Error(
      `--operator-namespace must be a namespace name (a DNS label), not "${operatorNamespace}"`,
    );
  }
  const kubeconfig = get('kubeconfig') || undefined;
  // `npm start` on a fresh cluster: controller-runtime would turn leader election off outside a
  // cluster, but that alone would not start: the data-hash key Secret and the webhook
  // certificate live in the operator namespace too. So outside a cluster the operator creates
  // that namespace (as `helm install --create-namespace` does), and everything that needs it
  // (key, certificate, Lease, shard Leases) works as in a pod. Leader election stays on by
  // default: a local `npm start` against a cluster where the chart already runs in that
  // namespace then waits as a follower instead of writing alongside the in-cluster leader.
  // In a pod (no kubeconfig) the chart made the namespace and grants no right to create one:
  // nothing is created there.
  const createOperatorNamespace = kubeconfig !== undefined;
  const list = (value: string) =>
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return {
    kubeconfig,
    metricsAddress: get('metrics-addr'),
    healthAddress: get('health-addr'),
    webhookAddress: get('webhook-addr'),
    namespaces: list(get('namespaces')),
    operatorNamespace,
    createOperatorNamespace,
    logLevel: logLevel as LogLevel,
    workers,
    instance: get('instance') || hostname,
    webhook: webhook === 'true',
    webhookUrl,
    webhookFailurePolicy: failurePolicy,
    webhookService: get('webhook-service'),
    workloadKinds: list(get('workload-kinds')),
    auditLog: get('audit-log'),
    leaderElect: leaderElect === 'true',
    leaderElectionId: get('leader-election-id'),
    leaderElectionLeaseDurationMs: leaseDuration,
    leaderElectionRenewDeadlineMs: renewDeadline,
    leaderElectionRetryPeriodMs: retryPeriod,
    shards,
    shardLeaseDurationMs: shardLeaseMs,
    refreshMountedPods: refreshMountedPods === 'true',
    accessAudit: {
      enabled: accessAudit === 'true',
      url: accessAuditUrl,
      expectedReaders: {
        users: list(get('access-expected-users')),
        groups: list(get('access-expected-groups')),
        serviceAccounts: list(get('access-expected-service-accounts')),
      },
      readWindowMs: duration('access-read-window'),
      readsPerConsumer: whole('access-reads-per-consumer', 1),
      queueCapacity: whole('access-audit-queue', 1),
    },
  };
}

/** ":8080" or "127.0.0.1:8080" into host and port ("0" picks a free port). */
export function parseAddress(address: string, flag = 'address'): { host?: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(address);
  const port = Number(match?.[2]);
  if (!match || port > 65535)
    throw new Error(`--${flag} must look like ":8080" or "127.0.0.1:8080", not "${address}"`);
  return { host: match[1] || undefined, port };
}

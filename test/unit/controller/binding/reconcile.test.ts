import {
  BINDING_ANNOTATION,
  DATA_HASH_ANNOTATION,
  EXPIRES_AT_ANNOTATION,
  ISSUED_AT_ANNOTATION,
  MANAGED_BY_LABEL,
} from '../../../../src/api/labels.ts';
import type {
  Condition,
  SecretBinding,
  SecretBindingSpec,
  SecretBindingStatus,
  Store,
} from '../../../../src/api/types.ts';
import { ManualClock } from '../../../../src/runtime/clock.ts';
import type { Workload } from '../../../../src/controller/binding/deps.ts';
import { SecretBindingReconciler } from '../../../../src/controller/binding/reconcile.ts';
import { RetryLater, type ReconcileResult } from '../../../../src/runtime/reconcile-result.ts';
import { DataHasher } from '../../../../src/data/data-hash.ts';
import { Fetcher, type StoreHandle } from '../../../../src/fetch/fetcher.ts';
import { TokenBucket } from '../../../../src/fetch/token-bucket.ts';
import type { EventRecorder, EventSubject, EventType } from '../../../../src/kube/events.ts';
import type { SecretObject, SecretWriter, StatusWriter } from '../../../../src/kube/kube-client.ts';
import type { AuditRecord } from '../../../../src/observability/audit.ts';
import { collectingLogger } from '../../../../src/observability/logger.ts';
import {
  ProviderError,
  type FindQuery,
  type RemoteRequest,
  type RemoteValue,
  type SecretsProvider,
} from '../../../../src/providers/provider.port.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const NS = 'ml-team';
const NAME = 'finetune';
const KEY = `${NS}/${NAME}`;
const START = Date.parse('2025-01-01T00:01:00Z');
const HASH_KEY = Buffer.alloc(32, 42);

// ---------------------------------------------------------------------------------------------
// Fakes behind our own interfaces.

/** Every value a test hands the provider; none may show up in status, Events or logs. */
const planted = new Set<string>();

/** A store: values by remote key (string, or a ProviderError to answer with), versioned. */
class FakeProvider implements SecretsProvider {
  readonly name = 'fake';
  readonly maxBatch = 20;
  readonly calls: RemoteRequest[][] = [];
  private readonly values = new Map<string, { value: string | ProviderError; version: number }>();
  /** When set, the whole call throws this. */
  throwing: unknown;

  set(key: string, value: string | ProviderError): void {
    if (typeof value === 'string') planted.add(value);
    const previous = this.values.get(key);
    this.values.set(key, { value, version: (previous?.version ?? 0) + 1 });
  }

  /** A JSON value; every string leaf is planted. */
  setJson(key: string, value: Record<string, unknown>): void {
    const walk = (v: unknown): void => {
      if (typeof v === 'string') planted.add(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(value);
    this.set(key, JSON.stringify(value));
  }

  async getSecrets(requests: RemoteRequest[], onCall: (operation: string) => void) {
    this.calls.push(requests.map((r) => ({ ...r })));
    onCall('BatchGetSecretValue');
    if (this.throwing !== undefined) throw this.throwing;
    return requests.map((r): RemoteValue | ProviderError => {
      const entry = this.values.get(r.key);
      if (!entry) return new ProviderError('NotFound', `remote key "${r.key}" was not found`);
      if (entry.value instanceof ProviderError) return entry.value;
      return { key: r.key, value: Buffer.from(entry.value, 'utf8'), versionId: `v${entry.version}` };
    });
  }

  /** Called after each listing has been answered (a test rotates a value there). */
  afterFind?: () => void;
  readonly finds: FindQuery[] = [];

  /** dataFrom.find: every value whose key matches the name regexp, at its current version. */
  async find(query: FindQuery, onCall: (operation: string) => void): Promise<RemoteValue[]> {
    this.finds.push(query);
    onCall('ListSecrets');
    const pattern = new RegExp(query.nameRegexp ?? '.*');
    const out = [...this.values]
      .filter(([key, entry]) => pattern.test(key) && typeof entry.value === 'string')
      .map(([key, entry]) => ({
        key,
        value: Buffer.from(entry.value as string, 'utf8'),
        versionId: `v${entry.version}`,
      }));
    this.afterFind?.();
    return out;
  }

  async validate(): Promise<void> {}
  async close(): Promise<void> {}
}

/** An HTTP-like error the fake API raises, as KubeApiError would carry it. */
function apiError(status: number, message: string): Error {
  return Object.assign(new Error(message), { status });
}

/**
 * The cluster's Secrets. Apply behaves like server-side apply with one field manager: the
 * data keys it applied before and no longer sends are removed, keys others added are kept,
 * labels and annotations are merged; the type is immutable, as in Kubernetes.
 */
class FakeCluster implements SecretWriter {
  readonly secrets = new Map<string, SecretObject>();
  private readonly ownedKeys = new Map<string, Set<string>>();
  readonly applies: SecretObject[] = [];
  readonly deletes: { namespace: string; name: string; uid?: string }[] = [];
  readonly removals: { namespace: string; name: string; keys: string[] }[] = [];
  readonly gets: string[] = [];
  private nextUid = 1;
  private resourceVersion = 100;
  /** Errors to throw from the next applies, in order. */
  failApplies: Error[] = [];

  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    this.gets.push(`${namespace}/${name}`);
    const secret = this.secrets.get(`${namespace}/${name}`);
    return secret ? structuredClone(secret) : undefined;
  }

  async applySecret(secret: SecretObject): Promise<void> {
    const failure = this.failApplies.shift();
    if (failure) throw failure;
    const id = `${secret.metadata.namespace}/${secret.metadata.name}`;
    const existing = this.secrets.get(id);
    if (existing && (existing.type ?? 'Opaque') !== (secret.type ?? 'Opaque')) {
      throw apiError(422, 'Secret is invalid: type: Invalid value: field is immutable');
    }
    this.applies.push(structuredClone(secret));
    const previouslyOwned = this.ownedKeys.get(id) ?? new Set<string>();
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(existing?.data ?? {})) {
      if (!previouslyOwned.has(k)) data[k] = v;
    }
    Object.assign(data, secret.data ?? {});
    this.ownedKeys.set(id, new Set(Object.keys(secret.data ?? {})));
    const owners = new Map(
      [...(existing?.metadata.ownerReferences ?? []), ...(secret.metadata.ownerReferences ?? [])].map((r) => [
        r.uid,
        r,
      ]),
    );
    const stored: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: secret.metadata.name,
        namespace: secret.metadata.namespace,
        uid: existing?.metadata.uid ?? `secret-uid-${this.nextUid++}`,
        resourceVersion: String(++this.resourceVersion),
        labels: { ...existing?.metadata.labels, ...secret.metadata.labels },
        annotations: { ...existing?.metadata.annotations, ...secret.metadata.annotations },
        ownerReferences: [...owners.values()],
      },
      type: secret.type ?? 'Opaque',
      data,
    };
    this.secrets.set(id, stored);
  }

  async removeSecretKeys(namespace: string, name: string, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    this.removals.push({ namespace, name, keys: [...keys] });
    const secret = this.secrets.get(`${namespace}/${name}`);
    if (!secret) throw apiError(404, 'not found');
    for (const key of keys) delete secret.data?.[key];
    secret.metadata.resourceVersion = String(++this.resourceVersion);
  }

  async deleteSecret(namespace: string, name: string, uid?: string): Promise<void> {
    this.deletes.push({ namespace, name, uid });
    const secret = this.secrets.get(`${namespace}/${name}`);
    if (!secret) return;
    if (uid && secret.metadata.uid !== uid) throw apiError(409, 'precondition failed: uid');
    this.secrets.delete(`${namespace}/${name}`);
    this.ownedKeys.delete(`${namespace}/${name}`);
  }

  /** What the managed-Secret informer sees: Secrets labelled as managed by mlsecrets. */
  managed(namespace: string, name: string): SecretObject | undefined {
    const secret = this.secrets.get(`${namespace}/${name}`);
    return secret?.metadata.labels?.[MANAGED_BY_LABEL] === 'mlsecrets' ? structuredClone(secret) : undefined;
  }

  /** Edits a Secret as `kubectl edit` would. */
  edit(name: string, change: (secret: SecretObject) => void): void {
    const secret = this.secrets.get(`${NS}/${name}`);
    if (!secret) throw new Error(`no Secret ${name}`);
    change(secret);
    secret.metadata.resourceVersion = String(++this.resourceVersion);
  }
}

/** RFC 7386 JSON merge patch, as the API server applies status patches. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

interface RecordedEvent {
  subject: EventSubject;
  type: EventType;
  reason: string;
  message: string;
}

interface Harness {
  clock: ManualClock;
  provider: FakeProvider;
  cluster: FakeCluster;
  bindings: Map<string, SecretBinding>;
  statusPatches: unknown[];
  events: RecordedEvent[];
  /** The audit trail, record by record. */
  audit: AuditRecord[];
  logs: string[];
  hasher: DataHasher;
  /** Bindings the reconciler reported as synced again after their store's outage. */
  recovered: string[];
  /** Errors to throw from the next status patches, in order. */
  failStatus: Error[];
  /** "binding/secret" per onNewData (pod refresh) and onDataChanged (rollout restart) call. */
  newData: string[];
  restarts: string[];
  /** What workloadsFor answers for PerWorkload bindings (tests change it as Jobs start and end). */
  workloads: Workload[];
  reconciler: SecretBindingReconciler;
  reconcile(key?: string): Promise<ReconcileResult>;
  /** A new reconciler over the same cluster and store, as after an operator restart. */
  restart(): void;
  binding(key?: string): SecretBinding;
  secret(name?: string): SecretObject | undefined;
  /** Replaces the binding's spec as `kubectl apply` would: generation + 1. */
  updateSpec(change: (spec: SecretBindingSpec) => void): void;
  /** Counts of everything written to the cluster so far. */
  writes(): { applies: number; deletes: number; removals: number; statusPatches: number; events: number };
}

const harnesses: Harness[] = [];

function baseSpec(): SecretBindingSpec {
  return {
    storeRef: { kind: 'ClusterSecretStore', name: 'aws-ml' },
    data: [
      { secretKey: 'HF_TOKEN', remoteRef: { key: 'ml/huggingface', property: 'token' } },
      { secretKey: 'WANDB_API_KEY', remoteRef: { key: 'ml/wandb' } },
    ],
    lifetime: { ttl: '1h', refreshInterval: '15m' },
  };
}

function makeBinding(spec: SecretBindingSpec, name = NAME, uid = 'binding-uid-1'): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { name, namespace: NS, uid, generation: 1, resourceVersion: '1' },
    spec,
  };
}

function setup(
  options: {
    spec?: SecretBindingSpec;
    seed?: boolean;
    bindings?: SecretBinding[];
    /** Give the reconciler the operator's cache of unmanaged Secrets' names. */
    unmanagedIndex?: boolean;
  } = {},
): Harness {
  const clock = new ManualClock(START);
  const provider = new FakeProvider();
  if (options.seed !== false) {
    provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_1' });
    provider.set('ml/wandb', 'wandb-PLANTED-key-1');
  }
  const cluster = new FakeCluster();
  const bindings = new Map<string, SecretBinding>();
  for (const b of options.bindings ?? [makeBinding(options.spec ?? baseSpec())]) {
    bindings.set(`${b.metadata.namespace}/${b.metadata.name}`, b);
  }
  const statusPatches: unknown[] = [];
  const events: RecordedEvent[] = [];
  const audit: AuditRecord[] = [];
  const workloads: Workload[] = [];
  const { logger, lines: logs } = collectingLogger();
  const failStatus: Error[] = [];
  const status: StatusWriter = {
    async patchStatus(kind, namespace, name, patch) {
      expect(kind).toBe('SecretBinding');
      const failure = failStatus.shift();
      if (failure) throw failure;
      // Exactly what goes over the wire: JSON, so undefined fields vanish.
      const wire = JSON.parse(JSON.stringify(patch)) as SecretBindingStatus;
      statusPatches.push(wire);
      const binding = bindings.get(`${namespace}/${name}`);
      if (!binding) throw apiError(404, 'not found');
      binding.status = mergePatch(binding.status ?? {}, wire) as SecretBindingStatus;
      binding.metadata.resourceVersion = String(Number(binding.metadata.resourceVersion) + 1);
    },
  };
  const events_: EventRecorder = {
    emit(subject, type, reason, message) {
      events.push({ subject, type, reason, message });
    },
  };
  const limiter = new TokenBucket({ qps: 100, burst: 100, clock });
  const handle: StoreHandle = { id: 'store-uid/1', label: 'ClusterSecretStore/aws-ml', provider, limiter };
  const store: Store = {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'ClusterSecretStore',
    metadata: { name: 'aws-ml', uid: 'store-uid', generation: 1 },
    spec: { provider: { kubernetes: { namespace: 'src' } } },
  };
  const stores = {
    storeFor: () => store,
    handleFor: async () => handle,
  };
  const hasher = new DataHasher(HASH_KEY);
  const recovered: string[] = [];
  const newData: string[] = [];
  const restarts: string[] = [];
  const build = () =>
    new SecretBindingReconciler({
      clock,
      logger,
      cache: {
        getBinding: (key) => {
          const b = bindings.get(key);
          return b ? structuredClone(b) : undefined;
        },
        getManagedSecret: (namespace, name) => cluster.managed(namespace, name),
        unmanagedSecretExists: (namespace, name) =>
          options.unmanagedIndex
            ? cluster.secrets.has(`${namespace}/${name}`) && cluster.managed(namespace, name) === undefined
            : undefined,
        managedSecretsOf: (namespace, bindingName) =>
          [...cluster.secrets.values()]
            .filter(
              (s) =>
                s.metadata.namespace === namespace &&
                s.metadata.labels?.[MANAGED_BY_LABEL] === 'mlsecrets' &&
                s.metadata.annotations?.[BINDING_ANNOTATION] === bindingName,
            )
            .map((s) => structuredClone(s)),
        workloadsFor: () => workloads.map((w) => ({ ...w })),
        projectedPodCount: () => undefined,
        namespaceLabels: () => undefined,
      },
      listener: {
        failed: () => undefined,
        providerCall: () => undefined,
        storeRecovered: (b) => recovered.push(`${b.metadata.namespace}/${b.metadata.name}`),
        newData: (b, secretName) => newData.push(`${b.metadata.name}/${secretName}`),
        rolloutRestart: (b, secretName) => restarts.push(`${b.metadata.name}/${secretName}`),
      },
      stores,
      fetcher: new Fetcher({ clock, logger }),
      secrets: cluster,
      status,
      events: events_,
      audit: { record: (entry) => audit.push(structuredClone(entry)) },
      hasher,
    });
  const harness: Harness = {
    clock,
    provider,
    cluster,
    bindings,
    statusPatches,
    events,
    audit,
    logs,
    hasher,
    recovered,
    failStatus,
    newData,
    restarts,
    workloads,
    reconciler: build(),
    reconcile: (key = KEY) => harness.reconciler.reconcile(key),
    restart: () => {
      harness.reconciler = build();
    },
    binding: (key = KEY) => bindings.get(key)!,
    secret: (name = NAME) => cluster.secrets.get(`${NS}/${name}`),
    updateSpec(change) {
      const b = bindings.get(KEY)!;
      change(b.spec);
      b.metadata.generation = (b.metadata.generation ?? 1) + 1;
    },
    writes: () => ({
      applies: cluster.applies.length,
      deletes: cluster.deletes.length,
      removals: cluster.removals.length,
      statusPatches: statusPatches.length,
      events: events.length,
    }),
  };
  harnesses.push(harness);
  return harness;
}

/** The Secret's data, decoded. */
function decoded(secret: SecretObject | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

function condition(h: Harness, type: string): Condition | undefined {
  return h.binding().status?.conditions?.find((c) => c.type === type);
}

/** Runs the reconcile and returns what it threw (fails when it did not throw). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the reconcile to throw');
}

/** Plays the work queue: reconciles whenever the previous result asks to, up to `until`. */
async function followRequeues(h: Harness, until: number, first?: ReconcileResult): Promise<number[]> {
  const times: number[] = [];
  let result = first ?? (await h.reconcile());
  if (!first) times.push(h.clock.now());
  for (;;) {
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    const next = h.clock.now() + result.requeueAfterMs!;
    if (next > until) return times;
    h.clock.advance(next - h.clock.now());
    times.push(h.clock.now());
    result = await h.reconcile();
  }
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

afterEach(() => {
  // No planted value (nor its base64) may appear in a status patch, an Event, an audit record
  // or a log line.
  const needles = [...planted].flatMap((v) => [v, Buffer.from(v).toString('base64')]);
  for (const h of harnesses) {
    const haystacks = [
      ...h.statusPatches.map((p) => JSON.stringify(p)),
      ...[...h.bindings.values()].map((b) => JSON.stringify(b.status ?? {})),
      ...h.events.map((e) => `${e.reason} ${e.message}`),
      ...h.audit.map((r) => JSON.stringify(r)),
      ...h.logs,
    ];
    for (const haystack of haystacks) {
      for (const needle of needles) {
        if (haystack.includes(needle)) throw new Error(`a planted secret value leaked into: ${haystack}`);
      }
    }
  }
  harnesses.length = 0;
  planted.clear();
});

// ---------------------------------------------------------------------------------------------

describe('SecretBindingReconciler: first sync', () => {
  test('creates the Secret with the data, annotations and owner; Ready=True; one Synced Event', async () => {
    const h = setup();
    const result = await h.reconcile();

    expect(h.cluster.applies).toHaveLength(1);
    const secret = h.secret()!;
    expect(secret.data).toEqual({
      HF_TOKEN: Buffer.from('hf_PLANTED_token_1').toString('base64'),
      WANDB_API_KEY: Buffer.from('wandb-PLANTED-key-1').toString('base64'),
    });
    expect(secret.type).toBe('Opaque');
    expect(secret.metadata.labels).toEqual({ [MANAGED_BY_LABEL]: 'mlsecrets' });
    const expectedHash = h.hasher.hash({
      HF_TOKEN: Buffer.from('hf_PLANTED_token_1'),
      WANDB_API_KEY: Buffer.from('wandb-PLANTED-key-1'),
    });
    expect(secret.metadata.annotations).toEqual({
      [BINDING_ANNOTATION]: NAME,
      [ISSUED_AT_ANNOTATION]: '2025-01-01T00:01:00Z',
      [EXPIRES_AT_ANNOTATION]: '2025-01-01T01:01:00Z',
      [DATA_HASH_ANNOTATION]: expectedHash,
      // No generator or template: what was read is what is written.
      'mlsecrets.io/source-hash': expectedHash,
    });
    expect(secret.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'mlsecrets.io/v1alpha1',
        kind: 'SecretBinding',
        name: NAME,
        uid: 'binding-uid-1',
        controller: true,
      },
    ]);

    const status = h.binding().status!;
    expect(status).toMatchObject({
      observedGeneration: 1,
      secretName: NAME,
      syncedAt: '2025-01-01T00:01:00Z',
      expiresAt: '2025-01-01T01:01:00Z',
      dataHash: expectedHash,
      sources: [
        { key: 'ml/huggingface', versionId: 'v1' },
        { key: 'ml/wandb', versionId: 'v1' },
      ],
    });
    expect(status.nextRotationAt).toBeUndefined();
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True', reason: 'Synced', observedGeneration: 1 });
    expect(condition(h, 'Synced')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(h.statusPatches).toHaveLength(1);

    expect(h.events).toHaveLength(1);
    expect(h.events[0]).toMatchObject({
      type: 'Normal',
      reason: 'Synced',
      subject: { kind: 'SecretBinding', name: NAME, namespace: NS, uid: 'binding-uid-1' },
    });
    expect(h.events[0]!.message).toContain('2025-01-01T01:01:00Z');
    expect(h.provider.calls).toEqual([[{ key: 'ml/huggingface' }, { key: 'ml/wandb' }]]);

    // Next: the aligned refresh at 00:15.
    expect(result).toEqual({ requeueAfterMs: 14 * MIN });
  });

  test('target name, type, labels and annotations are honoured', async () => {
    const spec = baseSpec();
    spec.target = {
      name: 'creds',
      type: 'example.com/ml-creds',
      labels: { team: 'a' },
      annotations: { x: 'y' },
    };
    const h = setup({ spec });
    await h.reconcile();
    const secret = h.secret('creds')!;
    expect(secret.type).toBe('example.com/ml-creds');
    expect(secret.metadata.labels).toEqual({ team: 'a', [MANAGED_BY_LABEL]: 'mlsecrets' });
    expect(secret.metadata.annotations).toMatchObject({ x: 'y', [BINDING_ANNOTATION]: NAME });
    expect(h.binding().status?.secretName).toBe('creds');
    expect(h.secret()).toBeUndefined();
  });

  test('a second reconcile in the same refresh epoch with nothing changed writes nothing', async () => {
    const h = setup();
    await h.reconcile();
    const before = h.writes();
    const statusBefore = structuredClone(h.binding().status);

    h.clock.advance(5 * MIN); // 00:06, still in the 00:00–00:15 epoch
    const result = await h.reconcile();

    expect(h.writes()).toEqual(before);
    expect(h.binding().status).toEqual(statusBefore);
    expect(h.provider.calls).toHaveLength(1);
    expect(result).toEqual({ requeueAfterMs: 9 * MIN });
  });

  test('a refresh in the next epoch that finds nothing new reads once and writes nothing', async () => {
    const h = setup();
    await h.reconcile();
    const before = h.writes();
    h.clock.advance(15 * MIN); // 00:16
    const result = await h.reconcile();
    expect(h.provider.calls).toHaveLength(2);
    expect(h.writes()).toEqual(before);
    expect(result).toEqual({ requeueAfterMs: 14 * MIN });
  });

  test('after a restart, one read and no write', async () => {
    const h = setup();
    await h.reconcile();
    const before = h.writes();
    h.restart();
    h.clock.advance(MIN);
    await h.reconcile();
    expect(h.provider.calls).toHaveLength(2);
    expect(h.writes()).toEqual(before);
  });

  test('two bindings of the same remote values in one epoch cost one provider read', async () => {
    const other = makeBinding(baseSpec(), 'other', 'binding-uid-2');
    const h = setup({ bindings: [makeBinding(baseSpec()), other] });
    await Promise.all([h.reconcile(), h.reconcile(`${NS}/other`)]);
    expect(h.provider.calls).toHaveLength(1);
    expect(decoded(h.secret('other'))).toEqual(decoded(h.secret()));
  });
});

describe('SecretBindingReconciler: changes', () => {
  test('a value changed in the store is picked up in the next epoch: one apply, one Synced Event', async () => {
    const h = setup();
    await h.reconcile();
    const before = h.writes();
    h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_2' });

    h.clock.advance(5 * MIN); // same epoch: the cached value still serves
    await h.reconcile();
    expect(decoded(h.secret()).HF_TOKEN).toBe('hf_PLANTED_token_1');
    expect(h.writes()).toEqual(before);

    h.clock.advance(10 * MIN); // 00:16, next epoch
    const result = await h.reconcile();
    expect(decoded(h.secret())).toEqual({
      HF_TOKEN: 'hf_PLANTED_token_2',
      WANDB_API_KEY: 'wandb-PLANTED-key-1',
    });
    expect(h.cluster.applies).toHaveLength(before.applies + 1);
    expect(h.events.slice(before.events).map((e) => [e.type, e.reason])).toEqual([['Normal', 'Synced']]);
    const status = h.binding().status!;
    expect(status.syncedAt).toBe('2025-01-01T00:16:00Z');
    expect(status.dataHash).toBe(h.secret()!.metadata.annotations![DATA_HASH_ANNOTATION]);
    expect(status.sources).toContainEqual({ key: 'ml/huggingface', versionId: 'v2' });
    expect(h.secret()!.metadata.annotations![ISSUED_AT_ANNOTATION]).toBe('2025-01-01T00:16:00Z');
    expect(result).toEqual({ requeueAfterMs: 14 * MIN });
  });

  test('new data is told for pod refreshes whatever onRotation says; rollout restarts only with RolloutRestart', async () => {
    for (const onRotation of [undefined, 'RolloutRestart'] as const) {
      const spec = baseSpec();
      if (onRotation) spec.projection = { onRotation };
      const h = setup({ spec });
      await h.reconcile();
      // A first sync: no consumer had the Secret before.
      expect([h.newData, h.restarts]).toEqual([[], []]);
      h.clock.advance(15 * MIN); // next epoch, nothing changed in the store: nothing written
      await h.reconcile();
      expect(h.newData).toEqual([]);
      h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_2' });
      h.clock.advance(15 * MIN);
      await h.reconcile();
      expect(h.newData).toEqual([`${NAME}/${NAME}`]);
      expect(h.restarts).toEqual(onRotation ? [`${NAME}/${NAME}`] : []);
    }
  });

  test('deferBookkeeping: a rotation writes the Secret now and leaves its status and Event to the follow-up', async () => {
    const h = setup();
    await h.reconcile();
    const before = h.writes();
    const statusBefore = structuredClone(h.binding().status);
    h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_2' });
    h.clock.advance(15 * MIN); // 00:16, next epoch

    const result = await h.reconciler.reconcile(KEY, { deferBookkeeping: true });
    expect(decoded(h.secret()).HF_TOKEN).toBe('hf_PLANTED_token_2');
    expect(h.cluster.applies).toHaveLength(before.applies + 1);
    // Nothing else yet: the status still says Ready from the last sync, no Event.
    expect(h.writes().statusPatches).toBe(before.statusPatches);
    expect(h.writes().events).toBe(before.events);
    expect(h.binding().status).toEqual(statusBefore);
    expect(result.requeueAfterMs).toBe(14 * MIN);
    expect(result.followUp).toBeInstanceOf(Function);

    await result.followUp!();
    expect(h.events.slice(before.events).map((e) => [e.type, e.reason])).toEqual([['Normal', 'Synced']]);
    expect(h.binding().status!.sources).toContainEqual({ key: 'ml/huggingface', versionId: 'v2' });
    expect(h.binding().status!.syncedAt).toBe('2025-01-01T00:16:00Z');
    // The epoch is done: another reconcile in it writes nothing.
    const after = h.writes();
    expect(await h.reconciler.reconcile(KEY, { deferBookkeeping: true })).toEqual({
      requeueAfterMs: 14 * MIN,
    });
    expect(h.writes()).toEqual(after);
  });

  test('deferBookkeeping: a first sync, a binding not Ready, or nothing to write is never deferred', async () => {
    const h = setup();
    // First sync: the status is what makes the binding Ready.
    const first = await h.reconciler.reconcile(KEY, { deferBookkeeping: true });
    expect(first.followUp).toBeUndefined();
    expect(condition(h, 'Ready')?.status).toBe('True');
    // Nothing changed in the next epoch: no write, nothing to defer.
    h.clock.advance(15 * MIN);
    expect((await h.reconciler.reconcile(KEY, { deferBookkeeping: true })).followUp).toBeUndefined();
    // A binding whose status is not Ready (a sync failed since) gets its status with the write.
    const binding = h.binding();
    h.bindings.set(KEY, {
      ...binding,
      status: {
        ...binding.status,
        conditions: binding.status!.conditions!.map((c) =>
          c.type === 'Ready' ? { ...c, status: 'False' } : c,
        ),
      },
    });
    h.provider.set('ml/wandb', 'wandb-PLANTED-key-2');
    h.clock.advance(15 * MIN);
    const recovered = await h.reconciler.reconcile(KEY, { deferBookkeeping: true });
    expect(recovered.followUp).toBeUndefined();
    expect(decoded(h.secret()).WANDB_API_KEY).toBe('wandb-PLANTED-key-2');
    expect(condition(h, 'Ready')?.status).toBe('True');
  });

  test('deferBookkeeping: a follow-up for a binding deleted meanwhile writes nothing', async () => {
    const h = setup();
    await h.reconcile();
    h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_2' });
    h.clock.advance(15 * MIN);
    const result = await h.reconciler.reconcile(KEY, { deferBookkeeping: true });
    const before = h.writes();
    h.bindings.delete(KEY);
    await result.followUp!();
    expect(h.writes()).toEqual(before);
  });

  test('a spec change re-issues with a Synced Event even when the data is the same', async () => {
    const h = setup();
    await h.reconcile();
    h.clock.advance(MIN);
    h.updateSpec((spec) => {
      spec.target = { labels: { team: 'a' } };
    });
    await h.reconcile();
    expect(h.secret()!.metadata.labels).toMatchObject({ team: 'a' });
    expect(h.events.map((e) => e.reason)).toEqual(['Synced', 'Synced']);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True', observedGeneration: 2 });
    expect(h.binding().status?.observedGeneration).toBe(2);
  });

  test('a removed data item removes its key from the Secret', async () => {
    const h = setup();
    await h.reconcile();
    h.clock.advance(MIN);
    h.updateSpec((spec) => {
      spec.data = spec.data!.filter((d) => d.secretKey !== 'WANDB_API_KEY');
    });
    await h.reconcile();
    expect(Object.keys(h.secret()!.data!)).toEqual(['HF_TOKEN']);
  });

  test('a changed target type replaces the Secret (the type is immutable)', async () => {
    const h = setup();
    await h.reconcile();
    const firstUid = h.secret()!.metadata.uid;
    h.clock.advance(MIN);
    h.updateSpec((spec) => {
      spec.target = { type: 'example.com/ml-creds' };
    });
    await h.reconcile();
    expect(h.cluster.deletes).toEqual([{ namespace: NS, name: NAME, uid: firstUid }]);
    expect(h.secret()!.type).toBe('example.com/ml-creds');
    expect(h.secret()!.metadata.uid).not.toBe(firstUid);
  });
});

describe('SecretBindingReconciler: PerWorkload', () => {
  const perWorkload = (): SecretBindingSpec => ({ ...baseSpec(), projection: { scope: 'PerWorkload' } });
  const job = (name: string, ended?: string): Workload => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    name,
    uid: `${name}-uid`,
    ...(ended ? { ended } : {}),
  });
  const pick = (r: AuditRecord) => ({
    action: r.action,
    outcome: r.outcome,
    binding: r.binding,
    secret: r.secret,
    workload: r.workload,
  });

  test('issue, renewal and revocation audit records name the workload and its Secret', async () => {
    const h = setup({ spec: perWorkload() });
    h.workloads.push(job('train-1'), job('train-2'));
    await h.reconcile();
    expect(h.audit.map(pick)).toEqual([
      {
        action: 'issue',
        outcome: 'success',
        binding: KEY,
        secret: 'finetune-train-1',
        workload: { kind: 'Job', name: 'train-1' },
      },
      {
        action: 'issue',
        outcome: 'success',
        binding: KEY,
        secret: 'finetune-train-2',
        workload: { kind: 'Job', name: 'train-2' },
      },
    ]);
    // What the shared path's records carry as well: the store and the versions read.
    expect(h.audit[0]).toMatchObject({
      store: 'ClusterSecretStore/aws-ml',
      sources: [
        { key: 'ml/huggingface', versionId: 'v1' },
        { key: 'ml/wandb', versionId: 'v1' },
      ],
      message: expect.stringMatching(/^Secret "finetune-train-1" issued for Job "train-1"/),
    });

    // Renewed at 2/3 of the 1h ttl.
    h.audit.length = 0;
    h.clock.advance(40 * MIN);
    await h.reconcile();
    expect(h.audit.map(pick)).toEqual([
      {
        action: 'renew',
        outcome: 'success',
        binding: KEY,
        secret: 'finetune-train-1',
        workload: { kind: 'Job', name: 'train-1' },
      },
      {
        action: 'renew',
        outcome: 'success',
        binding: KEY,
        secret: 'finetune-train-2',
        workload: { kind: 'Job', name: 'train-2' },
      },
    ]);

    // One Job completes, the other is deleted: both Secrets go, each record naming its Job.
    h.audit.length = 0;
    h.workloads.splice(0, 2, job('train-1', 'completed'));
    h.clock.advance(MIN);
    await h.reconcile();
    expect(h.audit.map(pick)).toEqual([
      {
        action: 'revoke',
        outcome: 'success',
        binding: KEY,
        secret: 'finetune-train-1',
        workload: { kind: 'Job', name: 'train-1' },
      },
      {
        action: 'revoke',
        outcome: 'success',
        binding: KEY,
        secret: 'finetune-train-2',
        workload: { kind: 'Job', name: 'train-2' },
      },
    ]);
    expect(h.audit.map((r) => r.message)).toEqual([
      'Secret "finetune-train-1" revoked: Job "train-1" completed',
      'Secret "finetune-train-2" revoked: Job "train-2" is gone',
    ]);
  });

  test("a changed target type replaces each workload's Secret (the type is immutable)", async () => {
    const h = setup({ spec: perWorkload() });
    h.workloads.push(job('train-1'), job('train-2'));
    await h.reconcile();
    const names = ['finetune-train-1', 'finetune-train-2'];
    const before = names.map((name) => structuredClone(h.secret(name)!));
    expect(before.map((s) => s.type)).toEqual(['Opaque', 'Opaque']);

    h.clock.advance(MIN);
    h.updateSpec((spec) => {
      spec.target = { type: 'example.com/ml-creds' };
    });
    await h.reconcile();
    // Deleted by uid (only the incarnation that was read), then written with the new type.
    expect(h.cluster.deletes).toEqual(
      before.map((s) => ({ namespace: NS, name: s.metadata.name, uid: s.metadata.uid })),
    );
    for (const [i, name] of names.entries()) {
      const after = h.secret(name)!;
      expect(after.type).toBe('example.com/ml-creds');
      expect(after.metadata.uid).not.toBe(before[i]!.metadata.uid);
      expect(decoded(after)).toEqual(decoded(before[i]));
    }
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True', observedGeneration: 2 });
  });
});

describe('SecretBindingReconciler: drift', () => {
  test('hand-edited data is restored with a DriftCorrected Event, without a provider read', async () => {
    const h = setup();
    await h.reconcile();
    const before = h.writes();
    h.cluster.edit(NAME, (s) => {
      s.data!.HF_TOKEN = Buffer.from('tampered').toString('base64');
    });
    h.clock.advance(MIN);
    await h.reconcile();
    expect(decoded(h.secret()).HF_TOKEN).toBe('hf_PLANTED_token_1');
    expect(h.cluster.applies).toHaveLength(before.applies + 1);
    expect(h.events.slice(before.events).map((e) => [e.type, e.reason])).toEqual([
      ['Normal', 'DriftCorrected'],
    ]);
    expect(h.events.at(-1)!.message).toContain('data');
    expect(h.provider.calls).toHaveLength(1);
    // A restore is not a new issue: same lifetime, status unchanged.
    expect(h.secret()!.metadata.annotations![EXPIRES_AT_ANNOTATION]).toBe('2025-01-01T01:01:00Z');
    expect(h.statusPatches).toHaveLength(before.statusPatches);

    // And once restored, quiet again.
    const after = h.writes();
    await h.reconcile();
    expect(h.writes()).toEqual(after);
  });

  test('a data key added by hand is removed', async () => {
    const h = setup();
    await h.reconcile();
    h.cluster.edit(NAME, (s) => {
      s.data!.EXTRA = Buffer.from('added').toString('base64');
    });
    await h.reconcile();
    expect(h.cluster.removals).toEqual([{ namespace: NS, name: NAME, keys: ['EXTRA'] }]);
    expect(Object.keys(h.secret()!.data!).sort()).toEqual(['HF_TOKEN', 'WANDB_API_KEY']);
    expect(h.events.at(-1)!.reason).toBe('DriftCorrected');
  });

  test('a changed binding annotation or target annotation is restored', async () => {
    const spec = baseSpec();
    spec.target = { annotations: { owner: 'team-a' } };
    const h = setup({ spec });
    await h.reconcile();
    h.cluster.edit(NAME, (s) => {
      s.metadata.annotations![BINDING_ANNOTATION] = 'other';
      s.metadata.annotations!.owner = 'me';
    });
    await h.reconcile();
    expect(h.secret()!.metadata.annotations).toMatchObject({ [BINDING_ANNOTATION]: NAME, owner: 'team-a' });
    expect(h.events.map((e) => e.reason)).toEqual(['Synced', 'DriftCorrected']);
  });

  // Bug: the issue (issued-at, expires-at, data-hash) is read back from the Secret's own
  // annotations and the drift check compares the Secret with a desired Secret built from that
  // same issue, so a hand-edited expires-at (or issued-at) is never seen as drift.
  test('a hand-edited expires-at annotation is restored', async () => {
    const h = setup();
    await h.reconcile();
    h.cluster.edit(NAME, (s) => {
      s.metadata.annotations![EXPIRES_AT_ANNOTATION] = '2099-01-01T00:00:00Z';
    });
    await h.reconcile();
    expect(h.secret()!.metadata.annotations![EXPIRES_AT_ANNOTATION]).toBe('2025-01-01T01:01:00Z');
    expect(h.events.at(-1)!.reason).toBe('DriftCorrected');
  });

  // ...and its consequence: onExpiry Delete judges expiry by that annotation, so a credential
  // whose expires-at was pushed out by hand outlives its ttl during an outage (fails open).
  test('a hand-edited expires-at does not keep a Secret past its ttl during an outage', async () => {
    const h = setup();
    await h.reconcile();
    h.cluster.edit(NAME, (s) => {
      s.metadata.annotations![EXPIRES_AT_ANNOTATION] = '2099-01-01T00:00:00Z';
    });
    h.provider.throwing = new ProviderError('Unavailable', 'down');
    h.clock.advance(HOUR); // 01:01:00, the real expiry
    await rejection(h.reconcile());
    expect(h.secret()).toBeUndefined();
  });

  test('a removed managed-by label (the Secret leaves the managed cache) is restored', async () => {
    const h = setup();
    await h.reconcile();
    h.cluster.edit(NAME, (s) => {
      delete s.metadata.labels![MANAGED_BY_LABEL];
    });
    await h.reconcile();
    expect(h.secret()!.metadata.labels![MANAGED_BY_LABEL]).toBe('mlsecrets');
    expect(h.events.map((e) => e.reason)).toEqual(['Synced', 'DriftCorrected']);
  });

  test('a deleted Secret is restored with a DriftCorrected Event, keeping its expiry', async () => {
    const h = setup();
    await h.reconcile();
    await h.cluster.deleteSecret(NS, NAME);
    h.clock.advance(2 * MIN);
    await h.reconcile();
    expect(decoded(h.secret())).toEqual({
      HF_TOKEN: 'hf_PLANTED_token_1',
      WANDB_API_KEY: 'wandb-PLANTED-key-1',
    });
    expect(h.events.map((e) => [e.type, e.reason])).toEqual([
      ['Normal', 'Synced'],
      ['Normal', 'DriftCorrected'],
    ]);
    expect(h.secret()!.metadata.annotations![EXPIRES_AT_ANNOTATION]).toBe('2025-01-01T01:01:00Z');
    expect(h.provider.calls).toHaveLength(1);
  });
});

describe('SecretBindingReconciler: one version of each remote secret', () => {
  // A read and a listing of the same remote secret, on either side of a rotation in the store.
  const tornSpec = (): SecretBindingSpec => ({
    storeRef: { kind: 'ClusterSecretStore', name: 'aws-ml' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'ml/rotating', property: 'token' } }],
    dataFrom: [{ find: { name: { regexp: '^ml/rotating$' } } }],
    lifetime: { ttl: '1h', refreshInterval: '15m' },
  });

  test('a listing and a read that saw different versions are read again; the Secret is whole', async () => {
    const h = setup({ spec: tornSpec(), seed: false });
    h.provider.setJson('ml/rotating', { token: 'PLANTED-v1' });
    // The listing answers with version 1, then the store rotates before the read is answered.
    h.provider.afterFind = () => {
      h.provider.afterFind = undefined;
      h.provider.setJson('ml/rotating', { token: 'PLANTED-v2' });
    };
    await h.reconcile();
    expect(decoded(h.secret())).toEqual({ TOKEN: 'PLANTED-v2', ml_rotating: '{"token":"PLANTED-v2"}' });
    expect(h.cluster.applies).toHaveLength(1);
    expect(h.provider.finds).toHaveLength(2);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True' });
  });

  test('a remote secret that keeps changing between reads fails for now, writing nothing mixed', async () => {
    const h = setup({ spec: tornSpec(), seed: false });
    h.provider.setJson('ml/rotating', { token: 'PLANTED-v1' });
    let version = 1;
    h.provider.afterFind = () => h.provider.setJson('ml/rotating', { token: `PLANTED-v${++version}` });
    const error = await rejection(h.reconcile());
    expect(error).toBeInstanceOf(RetryLater);
    expect(h.cluster.applies).toHaveLength(0);
    expect(h.provider.finds).toHaveLength(3);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'ProviderUnavailable' });
    expect(condition(h, 'Ready')!.message).toContain('"ml/rotating" changed while it was being read');

    // The store settles: the next attempt syncs.
    h.provider.afterFind = undefined;
    h.clock.advance(10_000);
    await h.reconcile();
    expect(decoded(h.secret()).TOKEN).toBe(`PLANTED-v${version}`);
  });
});

describe('SecretBindingReconciler: failures', () => {
  test('a missing remote key: Ready=False RemoteKeyNotFound, one Warning, RetryLater; no Secret', async () => {
    const h = setup({ seed: false });
    h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_1' });
    const error = await rejection(h.reconcile());
    expect(error).toBeInstanceOf(RetryLater);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'RemoteKeyNotFound' });
    expect(condition(h, 'Ready')!.message).toContain('ml/wandb');
    expect(condition(h, 'Synced')).toMatchObject({ status: 'False', reason: 'RemoteKeyNotFound' });
    expect(h.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'ProviderError']]);
    expect(h.cluster.applies).toHaveLength(0);
    expect(h.secret()).toBeUndefined();

    // The same failure again: another read (errors are not cached), but no new Event or status write.
    const before = h.writes();
    h.clock.advance(10_000);
    expect(await rejection(h.reconcile())).toBeInstanceOf(RetryLater);
    expect(h.provider.calls).toHaveLength(2);
    expect(h.writes()).toEqual(before);
  });

  test('once the key appears, the binding syncs and becomes Ready', async () => {
    const h = setup({ seed: false });
    h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_1' });
    await rejection(h.reconcile());
    h.provider.set('ml/wandb', 'wandb-PLANTED-key-1');
    h.clock.advance(10_000);
    await h.reconcile();
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(h.events.map((e) => e.reason)).toEqual(['ProviderError', 'Synced']);
  });

  test('Throttled: RetryLater honours the retry-after', async () => {
    const h = setup();
    h.provider.set('ml/wandb', new ProviderError('Throttled', 'rate exceeded', 7000));
    const error = (await rejection(h.reconcile())) as RetryLater;
    expect(error).toBeInstanceOf(RetryLater);
    expect(error.atLeastMs).toBe(7000);
    expect(condition(h, 'Ready')?.reason).toBe('Throttled');
  });

  test('a property missing from the value: PropertyNotFound, retried at the next refresh (no throw)', async () => {
    const spec = baseSpec();
    spec.data![0]!.remoteRef.property = 'nope';
    const h = setup({ spec });
    const result = await h.reconcile();
    expect(result).toEqual({ requeueAfterMs: 14 * MIN });
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'PropertyNotFound' });
    expect(h.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'ProviderError']]);
  });

  test('an extracted field that is not a valid key: InvalidKey naming the field', async () => {
    const h = setup({ spec: { storeRef: { name: 's' }, dataFrom: [{ extract: { key: 'ml/bad' } }] } });
    h.provider.setJson('ml/bad', { 'bad key!': 'PLANTED-bad-key-value', good: 'PLANTED-good' });
    await h.reconcile();
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidKey' });
    expect(condition(h, 'Ready')!.message).toContain('"bad key!"');
    expect(h.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'InvalidSpec']]);
    expect(h.cluster.applies).toHaveLength(0);
  });

  test('a duplicate secretKey: DuplicateKey, no fetch, no Secret, waits for a spec change', async () => {
    const spec = baseSpec();
    spec.data!.push({ secretKey: 'HF_TOKEN', remoteRef: { key: 'ml/wandb' } });
    const h = setup({ spec });
    const result = await h.reconcile();
    expect(result).toEqual({});
    expect(h.provider.calls).toHaveLength(0);
    expect(h.cluster.applies).toHaveLength(0);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'DuplicateKey' });
    expect(condition(h, 'Ready')!.message).toContain('"HF_TOKEN"');
    expect(h.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'InvalidSpec']]);
  });

  test('a lifetime the schema let through (ttl < refreshInterval): InvalidSpec, no fetch', async () => {
    const spec = baseSpec();
    spec.lifetime = { ttl: '10m', refreshInterval: '15m' };
    const h = setup({ spec });
    expect(await h.reconcile()).toEqual({});
    expect(h.provider.calls).toHaveLength(0);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
  });

  test('a Secret of the target name not owned by the binding is never written: SecretConflict', async () => {
    const h = setup();
    h.cluster.secrets.set(`${NS}/${NAME}`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: NAME, namespace: NS, uid: 'foreign-uid', labels: { app: 'mine' } },
      type: 'Opaque',
      data: { mine: Buffer.from('PLANTED-foreign').toString('base64') },
    });
    planted.add('PLANTED-foreign');
    const foreign = structuredClone(h.secret());
    const result = await h.reconcile();
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    expect(h.cluster.applies).toHaveLength(0);
    expect(h.cluster.deletes).toHaveLength(0);
    expect(h.secret()).toEqual(foreign);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretConflict' });
    expect(h.events.map((e) => e.type)).toEqual(['Warning']);

    // Still never written on the next epochs.
    h.clock.advance(15 * MIN);
    await h.reconcile();
    expect(h.cluster.applies).toHaveLength(0);
    expect(h.secret()).toEqual(foreign);
  });

  test('with the cache of unmanaged Secrets, a new binding is written without asking the API for its Secret', async () => {
    const h = setup({ unmanagedIndex: true });
    await h.reconcile();
    expect(h.cluster.gets).toHaveLength(0);
    expect(h.cluster.applies).toHaveLength(1);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True' });
  });

  test('with the cache of unmanaged Secrets, a foreign Secret it knows is read and never written', async () => {
    const h = setup({ unmanagedIndex: true });
    h.cluster.secrets.set(`${NS}/${NAME}`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: NAME, namespace: NS, uid: 'foreign-uid' },
      type: 'Opaque',
      data: { mine: Buffer.from('foreign').toString('base64') },
    });
    await h.reconcile();
    expect(h.cluster.gets).toEqual([`${NS}/${NAME}`]);
    expect(h.cluster.applies).toHaveLength(0);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretConflict' });
  });

  test('with the cache of unmanaged Secrets, a Secret this process wrote but the managed cache lacks is read, not taken as deleted', async () => {
    const h = setup({ unmanagedIndex: true });
    await h.reconcile();
    // The managed cache lags behind the write (a watch catching up): the API is asked.
    const managed = h.cluster.managed.bind(h.cluster);
    h.cluster.managed = () => undefined;
    h.updateSpec((spec) => (spec.target = { ...spec.target, labels: { team: 'ml' } }));
    await h.reconcile();
    expect(h.cluster.gets).toEqual([`${NS}/${NAME}`]);
    expect(h.events.map((e) => e.reason)).not.toContain('DriftCorrected');
    h.cluster.managed = managed;
  });

  test('a new binding reads its values while the lookup of a Secret outside the cache is in flight', async () => {
    const h = setup();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const get = h.cluster.getSecret.bind(h.cluster);
    h.cluster.getSecret = async (namespace, name) => {
      await gate;
      return get(namespace, name);
    };
    const reconciled = h.reconcile();
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    // The GET has not answered, and the store read is already out.
    expect(h.cluster.gets).toHaveLength(0);
    expect(h.provider.calls).toHaveLength(1);
    release();
    await reconciled;
    // The reconcile's own fetch was served by that read: still one call.
    expect(h.provider.calls).toHaveLength(1);
    expect(h.cluster.applies).toHaveLength(1);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True' });
  });

  test('a managed Secret of the target name owned by another binding is a conflict too, found without a read', async () => {
    const h = setup();
    h.cluster.secrets.set(`${NS}/${NAME}`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: NAME,
        namespace: NS,
        uid: 'other-secret',
        labels: { [MANAGED_BY_LABEL]: 'mlsecrets' },
        annotations: { [BINDING_ANNOTATION]: 'someone-else' },
        ownerReferences: [
          { apiVersion: 'mlsecrets.io/v1alpha1', kind: 'SecretBinding', name: 'x', uid: 'other-uid' },
        ],
      },
      type: 'Opaque',
      data: {},
    });
    await h.reconcile();
    expect(h.provider.calls).toHaveLength(0);
    expect(h.cluster.applies).toHaveLength(0);
    expect(condition(h, 'Ready')?.reason).toBe('SecretConflict');
  });

  test('a provider that throws unexpectedly never leaks its text', async () => {
    const h = setup();
    h.provider.throwing = new Error('connection reset while sending hf_PLANTED_token_1');
    const error = await rejection(h.reconcile());
    expect(error).toBeInstanceOf(RetryLater);
    expect((error as Error).message).not.toContain('hf_PLANTED_token_1');
    expect(condition(h, 'Ready')?.reason).toBe('ProviderUnavailable');
  });

  test('a value that is not JSON when a property is asked: InvalidValue without the value', async () => {
    const h = setup();
    h.provider.set('ml/huggingface', 'PLANTED-not-json {');
    await h.reconcile();
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidValue' });
    expect(condition(h, 'Ready')!.message).toContain('ml/huggingface');
  });
});

describe('SecretBindingReconciler: outage and expiry', () => {
  async function syncedThenOutage(onExpiry?: 'Delete' | 'Retain') {
    const spec = baseSpec();
    if (onExpiry) spec.lifetime!.onExpiry = onExpiry;
    const h = setup({ spec });
    await h.reconcile();
    h.provider.throwing = new ProviderError('Unavailable', 'the store did not answer');
    return h;
  }

  test('the last good Secret is kept while the provider is unavailable', async () => {
    const h = await syncedThenOutage();
    h.clock.advance(15 * MIN); // 00:16, next epoch: a refresh that fails
    const error = (await rejection(h.reconcile())) as RetryLater;
    expect(error).toBeInstanceOf(RetryLater);
    expect(error.atMostMs).toBe(45 * MIN); // come back no later than expiry at 01:01
    expect(h.cluster.deletes).toHaveLength(0);
    expect(decoded(h.secret()).HF_TOKEN).toBe('hf_PLANTED_token_1');
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'ProviderUnavailable' });
    expect(condition(h, 'Ready')!.message).toContain('kept until 2025-01-01T01:01:00Z');
    expect(h.events.map((e) => [e.type, e.reason])).toEqual([
      ['Normal', 'Synced'],
      ['Warning', 'ProviderError'],
    ]);
  });

  test('onExpiry Delete (default): deleted with an Expired Event once expires-at passes', async () => {
    const h = await syncedThenOutage();
    const uid = h.secret()!.metadata.uid;
    h.clock.advance(15 * MIN);
    await rejection(h.reconcile());
    h.clock.advance(40 * MIN); // 00:56: renewal due, still failing, not yet expired
    await rejection(h.reconcile());
    expect(h.secret()).toBeDefined();

    h.clock.advance(5 * MIN); // 01:01:00 = expires-at
    await rejection(h.reconcile());
    expect(h.secret()).toBeUndefined();
    expect(h.cluster.deletes).toEqual([{ namespace: NS, name: NAME, uid }]);
    expect(h.events.filter((e) => e.reason === 'Expired').map((e) => e.type)).toEqual(['Normal']);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'Expired' });

    // Still failing later: the binding stays Expired, nothing more is deleted.
    h.clock.advance(MIN);
    await rejection(h.reconcile());
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'Expired' });
    expect(h.cluster.deletes).toHaveLength(1);
    expect(h.events.filter((e) => e.reason === 'Expired')).toHaveLength(1);
  });

  test('onExpiry Retain: kept, Ready=False reason Expired', async () => {
    const h = await syncedThenOutage('Retain');
    h.clock.advance(HOUR); // 01:01:00
    await rejection(h.reconcile());
    expect(h.cluster.deletes).toHaveLength(0);
    expect(decoded(h.secret()).HF_TOKEN).toBe('hf_PLANTED_token_1');
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'Expired' });
    expect(condition(h, 'Ready')!.message).toContain('Retain');
    expect(h.events.some((e) => e.reason === 'Expired')).toBe(false);

    // Nothing new to say on the next failure.
    const before = h.writes();
    h.clock.advance(MIN);
    await rejection(h.reconcile());
    expect(h.writes()).toEqual(before);
  });

  test('recovery after an outage re-issues and Ready returns to True', async () => {
    const h = await syncedThenOutage();
    h.clock.advance(15 * MIN);
    await rejection(h.reconcile());
    h.provider.throwing = undefined;
    h.clock.advance(MIN);
    await h.reconcile();
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True', reason: 'Synced' });
  });

  // Bug: "generation changed" is derived from Ready=True at the current generation, and every
  // failure sets Ready=False, so the first success after any transient failure is taken for a
  // spec change: the Secret is re-issued (new issued-at/expires-at, one apply per binding of the
  // store) with a Synced Event saying "re-issued for the changed spec" though nothing changed.
  test('recovery from a short outage with unchanged data and spec re-issues nothing', async () => {
    const h = await syncedThenOutage();
    h.clock.advance(15 * MIN);
    await rejection(h.reconcile());
    h.provider.throwing = undefined;
    h.clock.advance(MIN);
    await h.reconcile();
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(h.cluster.applies).toHaveLength(1);
    expect(h.secret()!.metadata.annotations![ISSUED_AT_ANNOTATION]).toBe('2025-01-01T00:01:00Z');
    expect(h.events.map((e) => e.reason)).toEqual(['Synced', 'ProviderError']);
  });

  // Bug found by the provider-outage fault test: each binding waited out its own backoff after
  // the store came back (a minute or more after a minute of outage), so an onExpiry: Delete
  // Secret stayed deleted that long though its neighbours had recovered. The first binding to
  // sync again now says so, and the manager retries the others of the store at once.
  test('the first sync after an outage reports the store recovered; routine syncs and other failures do not', async () => {
    const h = await syncedThenOutage();
    expect(h.recovered).toEqual([]);
    h.clock.advance(15 * MIN);
    await rejection(h.reconcile());
    h.provider.throwing = undefined;
    h.clock.advance(MIN);
    await h.reconcile();
    expect(h.recovered).toEqual([KEY]);
    h.clock.advance(15 * MIN);
    await h.reconcile();
    expect(h.recovered).toEqual([KEY]); // once per recovery
    // A failure of the binding's own (a missing key) is not an outage of the store.
    h.provider.set('ml/wandb', new ProviderError('NotFound', 'remote key "ml/wandb" was not found'));
    h.clock.advance(15 * MIN);
    await rejection(h.reconcile());
    h.provider.set('ml/wandb', 'wandb-PLANTED-key-2');
    h.clock.advance(MIN);
    await h.reconcile();
    expect(h.recovered).toEqual([KEY]);
  });

  test('throttling counts as an outage too', async () => {
    const h = await syncedThenOutage();
    h.provider.throwing = new ProviderError('Throttled', 'the store throttled the read');
    h.clock.advance(15 * MIN);
    await rejection(h.reconcile());
    h.provider.throwing = undefined;
    h.clock.advance(MIN);
    await h.reconcile();
    expect(h.recovered).toEqual([KEY]);
  });

  // Contract (docs/api.md, "Events"): DriftCorrected is for a Secret "changed or deleted by
  // hand". A Secret the operator itself deleted on expiry and issues again after the outage is
  // a new issue.
  test('a Secret deleted on expiry and issued again after recovery is Synced, not DriftCorrected', async () => {
    const h = await syncedThenOutage();
    h.clock.advance(HOUR);
    await rejection(h.reconcile());
    expect(h.secret()).toBeUndefined();
    h.provider.throwing = undefined;
    h.clock.advance(MIN);
    await h.reconcile();
    expect(h.secret()).toBeDefined();
    expect(h.events.at(-1)!.reason).toBe('Synced');
  });
});

describe('SecretBindingReconciler: renewal and rotation', () => {
  test('renewed at 2/3 of the ttl with a new expires-at and a Renewed Event; quiet refreshes before', async () => {
    const h = setup();
    const times = await followRequeues(h, Date.parse('2025-01-01T00:50:00Z'));
    expect(times.map(iso)).toEqual([
      '2025-01-01T00:01:00Z',
      '2025-01-01T00:15:00Z',
      '2025-01-01T00:30:00Z',
      '2025-01-01T00:41:00Z',
      '2025-01-01T00:45:00Z',
    ]);
    expect(h.events.map((e) => e.reason)).toEqual(['Synced', 'Renewed']);
    expect(h.events[1]!.message).toContain('2025-01-01T01:41:00Z');
    expect(h.cluster.applies).toHaveLength(2);
    expect(h.secret()!.metadata.annotations).toMatchObject({
      [ISSUED_AT_ANNOTATION]: '2025-01-01T00:41:00Z',
      [EXPIRES_AT_ANNOTATION]: '2025-01-01T01:41:00Z',
    });
    expect(h.binding().status?.expiresAt).toBe('2025-01-01T01:41:00Z');
    // The data did not change: syncedAt says when the data was written.
    expect(h.binding().status?.syncedAt).toBe('2025-01-01T00:01:00Z');
  });

  test('a rotationSchedule sets nextRotationAt and re-issues then with a Rotated Event', async () => {
    const spec = baseSpec();
    spec.lifetime = { ttl: '24h', refreshInterval: '1h', rotationSchedule: '0 3 * * *' };
    const h = setup({ spec });
    const first = await h.reconcile();
    expect(h.binding().status?.nextRotationAt).toBe('2025-01-01T03:00:00Z');
    expect(first).toEqual({ requeueAfterMs: 59 * MIN });

    const times = await followRequeues(h, Date.parse('2025-01-01T03:30:00Z'), first);
    expect(times.map(iso)).toEqual(['2025-01-01T01:00:00Z', '2025-01-01T02:00:00Z', '2025-01-01T03:00:00Z']);
    expect(h.events.map((e) => e.reason)).toEqual(['Synced', 'Rotated']);
    expect(h.events[1]!.message).toContain('0 3 * * *');
    expect(h.secret()!.metadata.annotations).toMatchObject({
      [ISSUED_AT_ANNOTATION]: '2025-01-01T03:00:00Z',
      [EXPIRES_AT_ANNOTATION]: '2025-01-02T03:00:00Z',
    });
    expect(h.binding().status?.nextRotationAt).toBe('2025-01-02T03:00:00Z');
    expect(h.cluster.applies).toHaveLength(2);
  });

  test('rotation re-reads the store even within a refresh epoch', async () => {
    const spec = baseSpec();
    spec.lifetime = { ttl: '24h', refreshInterval: '24h', rotationSchedule: '0 3 * * *' };
    const h = setup({ spec });
    await h.reconcile();
    h.provider.set('ml/wandb', 'wandb-PLANTED-key-2');
    h.clock.advance(Date.parse('2025-01-01T03:00:00Z') - h.clock.now());
    await h.reconcile();
    expect(decoded(h.secret()).WANDB_API_KEY).toBe('wandb-PLANTED-key-2');
    expect(h.events.at(-1)!.reason).toBe('Rotated');
  });

  // Bug (the governance-audit integration test, once in CI): the first sync wrote nextRotationAt
  // a few ms before it fell due; the binding cache had not delivered that status patch when the
  // requeue fired, so the reconcile saw no rotation scheduled, found nothing due and requeued
  // for the renewal, 16 hours later. A status-only update queues no reconcile: the rotation was
  // lost, not late.
  test('a binding cache behind our status patch: the scheduled rotation still happens on time', async () => {
    const spec = baseSpec();
    spec.lifetime = { ttl: '24h', refreshInterval: '24h', rotationSchedule: '0 3 * * *' };
    const h = setup({ spec });
    const first = await h.reconcile();
    expect(first).toEqual({ requeueAfterMs: Date.parse('2025-01-01T03:00:00Z') - START });
    delete h.binding().status; // the informer has not delivered the first sync's status patch
    h.clock.advance(first.requeueAfterMs!);
    const second = await h.reconcile();
    expect(h.events.map((e) => e.reason)).toEqual(['Synced', 'Rotated']);
    expect(h.binding().status?.nextRotationAt).toBe('2025-01-02T03:00:00Z');
    // Next due: the renewal at 2/3 of the new issue's ttl.
    expect(second).toEqual({ requeueAfterMs: 16 * HOUR });
  });

  test('a binding cache behind our status patch: nothing due before the rotation, requeued for it', async () => {
    const spec = baseSpec();
    spec.lifetime = { ttl: '24h', refreshInterval: '24h', rotationSchedule: '0 3 * * *' };
    const h = setup({ spec });
    await h.reconcile();
    delete h.binding().status;
    h.clock.advance(HOUR); // 01:01: nothing due yet
    const before = h.writes();
    const requeue = await h.reconcile();
    expect(h.writes()).toEqual(before);
    expect(requeue).toEqual({ requeueAfterMs: Date.parse('2025-01-01T03:00:00Z') - h.clock.now() });
  });

  // Bug: the status is merge-patched, and a field that is dropped (undefined) is simply absent
  // from the patch, so the server keeps the old nextRotationAt; every later refresh then sees a
  // status that differs from the one it computes and patches it again, each epoch, forever.
  test('removing the rotationSchedule clears nextRotationAt and later refreshes write nothing', async () => {
    const spec = baseSpec();
    spec.lifetime = { ttl: '24h', refreshInterval: '1h', rotationSchedule: '0 3 * * *' };
    const h = setup({ spec });
    await h.reconcile();
    h.clock.advance(MIN);
    h.updateSpec((s) => {
      delete s.lifetime!.rotationSchedule;
    });
    await h.reconcile();
    const before = h.writes();
    h.clock.advance(HOUR); // next epoch, nothing changed
    await h.reconcile();
    expect(h.binding().status?.nextRotationAt).toBeUndefined();
    expect(h.writes()).toEqual(before);
  });

  // Bug: a failed reconcile records observedGeneration of the new spec, and readyStatus decides
  // "schedule changed" from observedGeneration, so a schedule changed during an outage keeps the
  // old nextRotationAt (and rotates at the old time) once the store is back.
  test('a schedule changed while the store is down takes effect when it is back', async () => {
    const spec = baseSpec();
    spec.lifetime = { ttl: '24h', refreshInterval: '1h', rotationSchedule: '0 3 * * *' };
    const h = setup({ spec });
    await h.reconcile();
    expect(h.binding().status?.nextRotationAt).toBe('2025-01-01T03:00:00Z');
    h.clock.advance(HOUR); // 01:01, a new epoch: the cached values no longer serve
    h.updateSpec((s) => {
      s.lifetime!.rotationSchedule = '0 5 * * *';
    });
    h.provider.throwing = new ProviderError('Unavailable', 'down');
    await rejection(h.reconcile());
    h.provider.throwing = undefined;
    h.clock.advance(MIN);
    await h.reconcile();
    expect(h.binding().status?.nextRotationAt).toBe('2025-01-01T05:00:00Z');
  });
});

describe('SecretBindingReconciler: write failures', () => {
  // Bug: the refresh epoch is recorded as synced as soon as the fetch succeeds, before the
  // Secret is applied. When the apply fails (a transient API error) the retry takes the
  // "nothing due, looks intact" shortcut and writes nothing until the next epoch, so the new
  // value is not delivered although the reconcile asked for a retry.
  test('a failed apply of new data is retried, not skipped until the next epoch', async () => {
    const h = setup();
    await h.reconcile();
    h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_2' });
    h.clock.advance(15 * MIN);
    h.cluster.failApplies.push(apiError(500, 'etcdserver: request timed out'));
    await rejection(h.reconcile());
    h.clock.advance(1000); // the backoff retry
    await h.reconcile();
    expect(decoded(h.secret()).HF_TOKEN).toBe('hf_PLANTED_token_2');
  });
});

// Bug found by the etcd fault test: after etcd was frozen, the Secret the operator had just
// written (its status patch failed, or the binding cache was behind the Secret cache) was
// taken for a hand edit: "DriftCorrected: its annotations were changed", three times, each
// time rewriting the Secret with the older issue's times.
describe('SecretBindingReconciler: its own write is not drift', () => {
  test('a status patch that failed after the write: the next reconcile adopts the issue written, no DriftCorrected', async () => {
    const h = setup();
    await h.reconcile();
    h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_2' });
    h.clock.advance(15 * MIN);
    h.failStatus.push(apiError(504, 'etcd timed out'));
    await rejection(h.reconcile());
    expect(decoded(h.secret()).HF_TOKEN).toBe('hf_PLANTED_token_2');
    const applies = h.cluster.applies.length;
    h.clock.advance(1_000);
    await h.reconcile();
    expect(h.events.map((e) => e.reason)).not.toContain('DriftCorrected');
    expect(h.cluster.applies).toHaveLength(applies);
    expect(h.binding().status?.issuedAt).toBe(h.secret()!.metadata.annotations![ISSUED_AT_ANNOTATION]);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True' });
  });

  test('a binding cache behind the Secret cache: no drift, nothing written', async () => {
    const h = setup();
    await h.reconcile();
    const stale = structuredClone(h.binding().status);
    h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_2' });
    h.clock.advance(15 * MIN);
    await h.reconcile();
    const before = h.writes();
    h.binding().status = stale; // the informer has not delivered our status patch yet
    h.clock.advance(1_000);
    await h.reconcile();
    expect(h.events.map((e) => e.reason)).not.toContain('DriftCorrected');
    expect(h.writes().applies).toBe(before.applies);
  });

  test('a real hand edit of the issue annotations is still restored', async () => {
    const h = setup();
    await h.reconcile();
    h.secret()!.metadata.annotations![EXPIRES_AT_ANNOTATION] = '2099-01-01T00:00:00Z';
    h.clock.advance(1_000);
    await h.reconcile();
    expect(h.events.at(-1)).toMatchObject({ reason: 'DriftCorrected' });
    expect(h.secret()!.metadata.annotations![EXPIRES_AT_ANNOTATION]).toBe('2025-01-01T01:01:00Z');
  });
});

describe('SecretBindingReconciler: prefetch', () => {
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  test("a new binding's store read starts before its reconcile, which then makes no call of its own", async () => {
    const h = setup();
    h.reconciler.prefetch(KEY);
    await settle();
    expect(h.provider.calls).toHaveLength(1);
    expect(h.writes()).toEqual({ applies: 0, deletes: 0, removals: 0, statusPatches: 0, events: 0 });
    await h.reconcile();
    expect(h.provider.calls).toHaveLength(1);
    expect(decoded(h.secret()).HF_TOKEN).toBe('hf_PLANTED_token_1');
    expect(condition(h, 'Ready')).toMatchObject({ status: 'True' });
  });

  test('nothing is read for a binding on a rotation schedule, a malformed one or one that is gone', async () => {
    const scheduled = baseSpec();
    scheduled.lifetime = { ttl: '24h', refreshInterval: '1h', rotationSchedule: '0 3 * * *' };
    const malformed = baseSpec();
    malformed.lifetime = { ttl: '1m', refreshInterval: '1h' }; // refresh longer than the ttl
    for (const spec of [scheduled, malformed]) {
      const h = setup({ spec });
      h.reconciler.prefetch(KEY);
      h.reconciler.prefetch(`${NS}/no-such-binding`);
      await settle();
      expect(h.provider.calls).toHaveLength(0);
    }
  });
});

describe('SecretBindingReconciler: deletion', () => {
  test('a deleted binding has its managed Secrets deleted, by uid', async () => {
    const h = setup();
    await h.reconcile();
    const uid = h.secret()!.metadata.uid;
    h.bindings.delete(KEY);
    expect(await h.reconcile()).toEqual({});
    expect(h.cluster.deletes).toEqual([{ namespace: NS, name: NAME, uid }]);
    expect(h.secret()).toBeUndefined();
    // The audit trail says the Secret went with its binding (no Event: the binding is gone).
    expect(h.audit.at(-1)).toMatchObject({
      action: 'revoke',
      outcome: 'success',
      binding: KEY,
      secret: NAME,
      reason: 'BindingDeleted',
    });
  });

  test('a binding being deleted is left alone', async () => {
    const h = setup();
    h.binding().metadata.deletionTimestamp = new Date('2025-01-01T00:00:00Z');
    expect(await h.reconcile()).toEqual({});
    expect(h.writes()).toEqual({ applies: 0, deletes: 0, removals: 0, statusPatches: 0, events: 0 });
    expect(h.provider.calls).toHaveLength(0);
  });
});

describe('SecretBindingReconciler: never a value', () => {
  test('a full life (sync, change, drift, outage, expiry, recovery) leaks no value anywhere', async () => {
    const h = setup();
    await h.reconcile();
    h.provider.setJson('ml/huggingface', { token: 'hf_PLANTED_token_2' });
    h.clock.advance(15 * MIN);
    await h.reconcile();
    h.cluster.edit(NAME, (s) => {
      s.data!.WANDB_API_KEY = Buffer.from('PLANTED-hand-edit').toString('base64');
    });
    planted.add('PLANTED-hand-edit');
    await h.reconcile();
    h.provider.throwing = new ProviderError('Unavailable', 'down');
    h.clock.advance(15 * MIN);
    await rejection(h.reconcile());
    h.clock.advance(HOUR);
    await rejection(h.reconcile());
    h.provider.throwing = undefined;
    h.clock.advance(MIN);
    await h.reconcile();
    expect(h.events.length).toBeGreaterThanOrEqual(5);
    expect(h.logs.length).toBeGreaterThan(0);
    // The scan itself runs in afterEach over every status patch, Event and log line; make sure
    // it would catch a leak by checking the planted set is not empty.
    expect(planted.size).toBeGreaterThanOrEqual(4);
  });
});

// Reconciles a SecretBinding into its managed Secret (docs/architecture.md, "The SecretBinding
// reconciler").
import type { Logger } from 'winston';
import { findCondition, setCondition } from '../api/conditions.ts';
import { effectiveLifetime, targetName, type EffectiveLifetime } from '../api/defaults.ts';
import { DATA_HASH_ANNOTATION, SOURCE_HASH_ANNOTATION } from '../api/labels.ts';
import { ConditionReason, EventReason } from '../api/reasons.ts';
import { shapeData } from '../data/template.ts';
import {
  bindingEventSubject,
  objectKey,
  splitKey,
  type SecretBinding,
  type SecretBindingStatus,
  type SourceVersion,
  type Store,
} from '../api/types.ts';
import {
  assembleData,
  checkSize,
  findQueries,
  remoteRequests,
  tornKeys,
  validateBindingSpec,
  type AssembledData,
} from '../data/binding-data.ts';
import type { DataHasher } from '../data/data-hash.ts';
import type { Fetcher, StoreHandle } from '../fetch/fetcher.ts';
import { generatedKeys, generatedLifetimeMs, mintGenerated, validateGenerators } from '../data/generators.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { SecretObject, SecretWriter, StatusWriter } from '../kube/kube-client.ts';
import { ProviderError } from '../providers/provider.port.ts';
import { nextCronAt, nextDueAt, nextRefreshAt, refreshEpoch, renewalAt } from '../rotation/schedule.ts';
import type { Clock } from '../runtime/clock.ts';
import { ReconcileError, toReconcileError } from './errors.ts';
import {
  desiredSecret,
  driftOf,
  formatTime,
  issueOf,
  ownedBy,
  parseTime,
  writeSecret,
  type Issue,
} from './managed-secret.ts';
import { reconcilePerWorkload, type Workload } from './per-workload.reconciler.ts';
import { bindingStoreLabel, type StoreDirectory } from './stores.ts';
import type { AuditAction, AuditRecord, AuditSink } from '../observability/audit.ts';
import { allowedKey, checkPolicy } from '../policy/store-policy.ts';

/** What a reconcile asks of the work queue. */
export interface ReconcileResult {
  /** Reconcile again after this long (the next refresh, renewal, rotation or expiry). */
  requeueAfterMs?: number;
  /**
   * The status patch and Event of a Secret this reconcile has written, left to run when no
   * urgent work waits (only with {@link ReconcileOptions.deferBookkeeping}). The reconcile is
   * done when this has run; it fails as the reconcile would have.
   */
  followUp?: () => Promise<void>;
}

export interface ReconcileOptions {
  /**
   * For routine and rotation work: when a binding that is already Ready gets its Secret
   * rewritten (a rotation, a renewal), hand its status patch and Event back as
   * {@link ReconcileResult.followUp}. The Secret is what pods read; of the three writes it is
   * also the cheapest for the API server (a CRD status patch is decoded, coerced and validated
   * against the schema), so a rotation of 1,000 bindings reaches every Secret in about a third
   * of the time when their bookkeeping waits. The status stays Ready meanwhile.
   */
  deferBookkeeping?: boolean;
}

/** Thrown to ask for rate-limited backoff: a transient failure. */
export class RetryLater extends Error {
  readonly atLeastMs?: number;
  readonly atMostMs?: number;
  constructor(message: string, options: { atLeastMs?: number; atMostMs?: number } = {}) {
    super(message);
    this.name = 'RetryLater';
    this.atLeastMs = options.atLeastMs;
    this.atMostMs = options.atMostMs;
  }
}

export interface SecretBindingReconcilerDeps {
  clock: Clock;
  logger: Logger;
  getBinding(key: string): SecretBinding | undefined;
  /** A managed Secret from the informer cache. */
  getManagedSecret(namespace: string, name: string): SecretObject | undefined;
  /**
   * Whether a Secret outside the managed cache exists by this name (a metadata-only cache of
   * unmanaged Secrets). Without it, a Secret missing from the managed cache is looked up in the
   * API.
   */
  unmanagedSecretExists?(namespace: string, name: string): boolean;
  /** Managed Secrets whose binding annotation names `bindingName` in `namespace`. */
  managedSecretsOf(namespace: string, bindingName: string): SecretObject[];
  stores: Pick<StoreDirectory, 'storeFor' | 'handleFor'>;
  fetcher: Pick<Fetcher, 'read' | 'find'>;
  secrets: SecretWriter;
  status: StatusWriter;
  events: EventRecorder;
  hasher: DataHasher;
  /** The audit trail (required: left unwired, every record would be dropped without a word). */
  audit: AuditSink;
  /** Told of every failed reconcile, by condition reason (a metric). */
  onFailure?(reason: string): void;
  /** Labels of a namespace, for a ClusterSecretStore's namespaceSelector. */
  namespaceLabels?(namespace: string): Record<string, string> | undefined;
  /** Told when a Secret that consumers already had gets new data (onRotation: RolloutRestart). */
  onDataChanged?(binding: SecretBinding, secretName: string): void;
  /**
   * Told when a Secret that consumers already had gets new data, whatever onRotation says and
   * PerWorkload Secrets included: pods mounting it may be refreshed (--refresh-mounted-pods).
   */
  onNewData?(binding: SecretBinding, secretName: string): void;
  /** Workloads a PerWorkload binding serves (Jobs whose pods it selects, injected pods' owners). */
  workloadsFor?(binding: SecretBinding): Workload[];
  /** How many running pods carry the binding (webhook injections). */
  projectedPods?(namespace: string, bindingName: string): number;
  /** Counts provider calls made outside the fetch layer (rotation, generators) for the metrics. */
  onProviderCall?: (handle: StoreHandle, operation: string) => void;
  /**
   * Told when a binding syncs again after its store was unavailable or throttling: the store is
   * back, and the other bindings backing off from the same outage need not wait out their backoff.
   */
  onStoreRecovered?(binding: SecretBinding): void;
}

/** What an Event's audit record says beyond the binding and the store. */
interface AuditSubject {
  /** The remote versions the Secret was written from. */
  sources?: SourceVersion[];
  /** A PerWorkload Secret, and the workload it is (or was) issued for. */
  secret?: string;
  workload?: AuditRecord['workload'];
}

/** Why a Secret is (re)written, and the Event that says so. */
type WriteCause =
  | { event: 'Synced'; message: string }
  | { event: 'Rotated' | 'Renewed' | 'DriftCorrected'; message: string }
  | { event: undefined; message: string };

export class SecretBindingReconciler {
  private readonly deps: SecretBindingReconcilerDeps;
  /**
   * The refresh epoch and generation each binding last synced, and the nextRotationAt that sync
   * recorded (memory only: after a restart every binding re-reads once, and writes nothing when
   * nothing changed).
   */
  private readonly synced = new Map<string, SyncedMemory>();
  /**
   * The issue of the last Secret each binding wrote (memory only, so nobody can forge it). A
   * Secret that carries exactly it is ours even when the status or the cache does not show it
   * yet, and is not taken for drift.
   */
  private readonly written = new Map<string, Issue>();

  constructor(deps: SecretBindingReconcilerDeps) {
    this.deps = deps;
  }

  /**
   * Starts the store read a first sync of `key` will need, without waiting for it (the fetch
   * layer keeps the value for the reconcile, and shares and batches the read). For a binding
   * just created: while it waits in the queue behind others, its read is made beside theirs,
   * so the worker that takes it does not sit through a provider call. Bindings that are gone,
   * malformed, PerWorkload or on a rotation schedule (which reads fresh) are left alone.
   */
  prefetch(key: string): void {
    const binding = this.deps.getBinding(key);
    if (!binding || binding.metadata.deletionTimestamp) return;
    if (binding.spec.projection?.scope === 'PerWorkload') return;
    let lifetime: EffectiveLifetime;
    try {
      lifetime = effectiveLifetime(binding);
    } catch {
      return; // the reconcile reports it
    }
    this.warm(binding, lifetime, this.deps.clock.now());
  }

  async reconcile(key: string, options: ReconcileOptions = {}): Promise<ReconcileResult> {
    const binding = this.deps.getBinding(key);
    if (!binding) {
      this.synced.delete(key);
      this.written.delete(key);
      await this.removeSecretsOf(key);
      return {};
    }
    if (binding.metadata.deletionTimestamp) return {};
    const now = this.deps.clock.now();

    let lifetime: EffectiveLifetime;
    try {
      lifetime = effectiveLifetime(binding);
      validateBindingSpec(binding.spec);
      validateGenerators(binding);
    } catch (error) {
      const failure =
        error instanceof ReconcileError || (error as { reason?: string }).reason
          ? toReconcileError(error)
          : new ReconcileError(ConditionReason.InvalidSpec, (error as Error).message, { retry: 'never' });
      return this.failed(binding, undefined, undefined, failure, now);
    }

    if (binding.spec.projection?.scope === 'PerWorkload')
      return this.reconcilePerWorkload(binding, lifetime, now);

    const name = targetName(binding);
    const namespace = binding.metadata.namespace!;
    let existing = this.deps.getManagedSecret(namespace, name);
    const ownWrite = this.written.get(key);
    if (existing && ownWrite && !carries(existing, ownWrite)) {
      // The cache may lag behind our own last write (watches catching up after an API or etcd
      // outage): read the Secret itself rather than take the lag for a hand edit.
      existing = await this.deps.secrets.getSecret(namespace, name);
    }
    if (!existing) {
      // Outside the managed cache: foreign (never overwritten) or ours with its labels stripped,
      // or (most often) a new binding's Secret that does not exist yet. The store is read
      // meanwhile, so a first sync waits for one round trip, not two; the read goes through
      // the shared fetch layer (policy checked, batched), which the fetch below then joins.
      // A conflict found by the GET writes nothing, the value stays in the fetch cache only.
      // The API server's watch cache answers: no etcd read for every first sync, and a Secret
      // created a moment ago could as well be created right after a fresh read; for the same
      // reason our own cache of unmanaged Secrets' names does as well, with no call at all.
      // Asking the API is skipped when the unmanaged cache knows no such Secret and this
      // process never wrote it (a Secret we just wrote may not be in the managed cache yet).
      this.warm(binding, lifetime, now);
      const unknown = !ownWrite && this.deps.unmanagedSecretExists?.(namespace, name) === false;
      if (!unknown) existing = await this.deps.secrets.getSecret(namespace, name, { watchCache: true });
    }
    if (existing && !ownedBy(existing, binding))
      return this.failed(binding, undefined, lifetime, conflict(name), now);
    // Cheap (caches only) and checked even when nothing else is due: a deleted store or a
    // tightened policy must reach a binding that is otherwise in sync.
    try {
      this.admittedStore(binding, lifetime);
    } catch (error) {
      return this.failed(binding, existing, lifetime, toReconcileError(error), now);
    }

    // Our own last write when the status does not show it yet (a status patch that failed after
    // the write, or a binding cache behind the Secret cache): the Secret carries exactly the
    // issue we wrote, so that is the issue on record, not drift to undo.
    const previousIssue =
      existing && ownWrite && carries(existing, ownWrite)
        ? (issueOf(existing) ?? recordedIssue(binding, existing))
        : recordedIssue(binding, existing);
    const generation = binding.metadata.generation;
    const epoch = refreshEpoch(now, lifetime.refreshMs);
    const memory = this.synced.get(key);
    const refreshDue = memory?.epoch !== epoch || memory.generation !== generation;
    const renewalDue = previousIssue !== undefined && now >= renewalOf(previousIssue);
    // Generated credentials may cut an issue short of the ttl; allow for the STS call's latency.
    const expectedLifetime = Math.min(lifetime.ttlMs, generatedLifetimeMs(binding) ?? Infinity);
    const ttlChanged =
      previousIssue !== undefined &&
      Math.abs(previousIssue.expiresAt - previousIssue.issuedAt - expectedLifetime) > 120_000;
    const rotationAt = scheduledRotation(binding, lifetime, memory);
    const rotationDue = rotationAt !== undefined && now >= rotationAt;
    if (existing && previousIssue && !refreshDue && !renewalDue && !rotationDue && !ttlChanged) {
      // Nothing is due: only drift (checked without the values, by hash) would need a write.
      const drift = driftOf(existing, desiredSecret(binding, name, {}, previousIssue), this.deps.hasher);
      if (!drift) {
        const status = binding.status ?? {};
        const projectedPods = this.deps.projectedPods?.(namespace, binding.metadata.name!);
        if (projectedPods !== undefined && projectedPods !== status.projectedPods) {
          await this.writeStatus(binding, { ...status, projectedPods });
        }
        return { requeueAfterMs: this.nextDue(lifetime, previousIssue, now, rotationAt) - now };
      }
    }

    let assembled: AssembledData;
    let handle: StoreHandle;
    let allowedKeys: string[] | undefined;
    try {
      const resolved = await this.resolveStore(binding, lifetime);
      handle = resolved.handle;
      allowedKeys = resolved.allowedKeys;
      if (rotationDue && lifetime.rotateInStore) await this.rotateInStore(binding, handle);
      assembled = await this.fetch(binding, handle, rotationDue ? now : epoch, allowedKeys, !rotationDue);
    } catch (error) {
      return this.failed(binding, existing, lifetime, toReconcileError(error), now);
    }
    const generated = generatedKeys(binding);
    // What was read decides "changed"; generated credentials differ at every mint and templates
    // may hide the raw keys, so the hash of the reads is kept apart (source-hash annotation).
    const sourceHash = this.deps.hasher.hash(assembled.data);
    const shapedByUs = generated.length > 0 || binding.spec.target?.template?.data !== undefined;
    const previousSourceHash =
      existing?.metadata.annotations?.[SOURCE_HASH_ANNOTATION] ??
      // Without generators or templates the Secret data is what was read.
      (shapedByUs ? undefined : previousIssue?.dataHash);
    // Only generators need it: an HMAC of the Secret per reconcile is not free at 10,000 bindings.
    const existingIntact = (): boolean =>
      existing !== undefined &&
      this.deps.hasher.hashEncoded(existing.data) === existing.metadata.annotations?.[DATA_HASH_ANNOTATION];
    const decision = this.decide({
      binding,
      lifetime,
      existing,
      previousIssue,
      dataChanged: previousSourceHash !== sourceHash,
      fetchedHash: sourceHash,
      ttlChanged,
      renewalDue,
      rotationDue,
      // Minted credentials live only in the Secret: lost or edited, they are minted anew.
      mustMint: generated.length > 0 && !existingIntact(),
      now,
      name,
    });
    const { cause } = decision;
    let issue: Issue = { ...decision.issue, sourceHash };
    let data: Record<string, Buffer>;
    try {
      if (generated.length > 0 && !decision.fresh) {
        // Same reads, same credentials: the Secret as it stands is what the spec makes.
        data = decodeData(existing!.data);
      } else {
        let input = assembled.data;
        if (generated.length > 0) {
          const minted = await mintGenerated(binding, handle, (operation) =>
            this.deps.onProviderCall?.(handle, operation),
          );
          input = { ...input, ...minted.data };
          // Never let the Secret outlive the credentials it carries.
          if (minted.expiresAt !== undefined)
            issue = { ...issue, expiresAt: Math.min(issue.expiresAt, minted.expiresAt) };
        }
        data = await shapeData(binding.spec, input);
        checkSize(data);
      }
    } catch (error) {
      return this.failed(binding, existing, lifetime, toReconcileError(error), now);
    }
    issue = { ...issue, dataHash: this.deps.hasher.hash(data) };
    const desired = desiredSecret(binding, name, data, issue);
    const drift = existing ? driftOf(existing, desired, this.deps.hasher) : undefined;
    const rewrite = cause.event !== undefined || drift !== undefined;
    if (rewrite) {
      try {
        await writeSecret(this.deps.secrets, existing, desired);
        this.written.set(key, issue);
      } catch (error) {
        return this.failed(binding, existing, lifetime, writeFailed(name, error), now);
      }
    }
    const dataWritten = previousIssue?.dataHash !== issue.dataHash;
    // Consumers had the old data only if a Secret existed before this issue.
    if (dataWritten && previousIssue) {
      this.deps.onNewData?.(binding, name);
      if (binding.spec.projection?.onRotation === 'RolloutRestart') this.deps.onDataChanged?.(binding, name);
    }
    const status = this.readyStatus(binding, lifetime, name, issue, assembled, dataWritten, now);
    // A separate method, so a deferred follow-up keeps only what it records (not the old
    // Secret, the values read or the new data).
    const bookkeeping = this.bookkeeping(key, binding, status, {
      event: cause.event ? { reason: cause.event, message: cause.message } : undefined,
      drift,
      specChanged: (memory?.generation ?? binding.status?.observedGeneration) !== generation,
      synced: { epoch, generation, nextRotationAt: parseTime(status.nextRotationAt) },
    });
    const requeueAfterMs = this.nextDue(lifetime, issue, now, parseTime(status.nextRotationAt)) - now;
    if (options.deferBookkeeping && rewrite && existing && isReady(binding))
      return { requeueAfterMs, followUp: bookkeeping };
    await bookkeeping();
    return { requeueAfterMs };
  }

  /**
   * What follows a Secret write: the status patch, the Event that says why, and the mark that
   * this refresh epoch is done (only then: a failed write or status patch is retried in full).
   */
  private bookkeeping(
    key: string,
    binding: SecretBinding,
    status: SecretBindingStatus,
    done: {
      event?: { reason: string; message: string };
      drift?: string;
      specChanged: boolean;
      synced: SyncedMemory;
    },
  ): () => Promise<void> {
    return async () => {
      // Deferred, the binding may have been deleted meanwhile: nothing left to record.
      if (!this.deps.getBinding(key)) return;
      await this.writeStatus(binding, status);
      if (failedForOutage(binding)) this.deps.onStoreRecovered?.(binding);
      const name = targetName(binding);
      if (done.event) {
        this.event(binding, 'Normal', done.event.reason, done.event.message, { sources: status.sources });
      } else if (done.drift) {
        // A spec change (labels, type, annotations of the target) is not drift.
        if (done.specChanged)
          this.event(binding, 'Normal', EventReason.Synced, `Secret "${name}" updated for the changed spec`);
        else
          this.event(
            binding,
            'Normal',
            EventReason.DriftCorrected,
            `Secret "${name}" was restored: ${done.drift}`,
          );
      }
      this.synced.set(key, done.synced);
    };
  }

  private async reconcilePerWorkload(
    binding: SecretBinding,
    lifetime: EffectiveLifetime,
    now: number,
  ): Promise<ReconcileResult> {
    try {
      const next = await reconcilePerWorkload({
        binding,
        lifetime,
        now,
        workloads: this.deps.workloadsFor?.(binding) ?? [],
        secrets: this.deps.managedSecretsOf(binding.metadata.namespace!, binding.metadata.name!),
        writer: this.deps.secrets,
        hasher: this.deps.hasher,
        read: async () => {
          const { handle, allowedKeys } = await this.resolveStore(binding, lifetime);
          const epoch = refreshEpoch(now, lifetime.refreshMs);
          return { handle, assembled: await this.fetch(binding, handle, epoch, allowedKeys) };
        },
        event: (type, reason, message, about) =>
          this.event(binding, type, reason, message, {
            sources: about.sources,
            secret: about.secret,
            // Named as the webhook's inject records name it, so a workload's records match.
            workload: { kind: about.workload.kind, name: about.workload.name },
          }),
        writeStatus: (status) => this.writeStatus(binding, status),
        onProviderCall: (handle, operation) => this.deps.onProviderCall?.(handle, operation),
        onNewData: (secretName) => this.deps.onNewData?.(binding, secretName),
      });
      return { requeueAfterMs: next - now };
    } catch (error) {
      return this.failed(binding, undefined, lifetime, toReconcileError(error), now);
    }
  }

  /** Asks the store to rotate every remote value the binding reads (rotateInStore). */
  private async rotateInStore(binding: SecretBinding, handle: StoreHandle): Promise<void> {
    if (!handle.provider.rotate) {
      throw new ReconcileError(
        ConditionReason.InvalidSpec,
        `lifetime.rotateInStore: ${handle.label} (${handle.provider.name}) cannot rotate values`,
        { retry: 'never' },
      );
    }
    for (const key of new Set(remoteRequests(binding.spec).map((r) => r.key))) {
      await handle.provider.rotate(key, (operation) => this.deps.onProviderCall?.(handle, operation));
    }
  }

  /** The binding's store and its provider, after the store's policy has admitted the binding. */
  /** Starts this epoch's read of the binding's values; failures are left to the real fetch. */
  private warm(binding: SecretBinding, lifetime: EffectiveLifetime, now: number): void {
    // A rotation due reads fresh (notOlderThan = now) after rotating in the store: not here.
    if (lifetime.rotationSchedule !== undefined) return;
    const epoch = refreshEpoch(now, lifetime.refreshMs);
    void this.resolveStore(binding, lifetime)
      .then(({ handle, allowedKeys }) => this.fetch(binding, handle, epoch, allowedKeys))
      .catch(() => undefined);
  }

  private async resolveStore(
    binding: SecretBinding,
    lifetime: EffectiveLifetime,
  ): Promise<{ handle: StoreHandle; allowedKeys?: string[] }> {
    const store = this.admittedStore(binding, lifetime);
    return { handle: await this.deps.stores.handleFor(store), allowedKeys: store.spec.policy?.allowedKeys };
  }

  /** The binding's store, if it exists and its policy admits the binding; else throws why not. */
  private admittedStore(binding: SecretBinding, lifetime: EffectiveLifetime): Store {
    const store = this.deps.stores.storeFor(binding);
    const denial = checkPolicy(
      binding,
      store,
      lifetime,
      this.deps.namespaceLabels?.(binding.metadata.namespace!),
    );
    if (denial) {
      throw new ReconcileError(ConditionReason.PolicyDenied, denial.message, {
        eventReason: EventReason.PolicyDenied,
        retry: 'never',
      });
    }
    return store;
  }

  /**
   * Reads the remote values and builds the Secret data; found secrets outside allowedKeys are
   * left out. A fetch that saw one remote secret at two versions (a read and a listing on either
   * side of a rotation, or one of them from the shared cache) is never assembled: it is read
   * again past the caches, and after a few torn reads it fails as a transient error, keeping
   * the last good Secret. A Secret is always written from one version of each remote secret.
   */
  private async fetch(
    binding: SecretBinding,
    handle: StoreHandle,
    notOlderThan: number,
    allowedKeys?: string[],
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

  /**
   * Whether to issue the Secret afresh (new issued-at and expiry, generators minted) or keep
   * the recorded issue, and the Event that says why. `issue.dataHash` is filled in by the caller
   * once the data is complete.
   */
  private decide(input: {
    binding: SecretBinding;
    lifetime: EffectiveLifetime;
    existing?: SecretObject;
    previousIssue?: Issue;
    dataChanged: boolean;
    fetchedHash: string;
    ttlChanged: boolean;
    renewalDue: boolean;
    rotationDue: boolean;
    /** Generated credentials were lost with the Secret: a restore must mint anew. */
    mustMint: boolean;
    now: number;
    name: string;
  }): { issue: Issue; fresh: boolean; cause: WriteCause } {
    const { lifetime, previousIssue, now, name } = input;
    const freshIssue: Issue = { issuedAt: now, expiresAt: now + lifetime.ttlMs, dataHash: input.fetchedHash };
    const expires = `expires ${formatTime(freshIssue.expiresAt)}`;
    const fresh = (event: 'Synced' | 'Rotated' | 'Renewed' | 'DriftCorrected', message: string) => ({
      issue: freshIssue,
      fresh: true,
      cause: { event, message },
    });
    if (!input.existing) {
      if (!previousIssue) return fresh('Synced', `Secret "${name}" issued; ${expires}`);
      if (previousIssue.expiresAt <= now)
        return fresh('Synced', `Secret "${name}" issued again after it expired; ${expires}`);
      const restored = `Secret "${name}" was deleted and has been restored`;
      if (input.mustMint || input.dataChanged) return fresh('DriftCorrected', restored);
      // Deleted by hand: restore it without extending its lifetime.
      return { issue: previousIssue, fresh: false, cause: { event: 'DriftCorrected', message: restored } };
    }
    if (input.rotationDue) {
      return fresh(
        'Rotated',
        `Secret "${name}" re-issued on schedule "${lifetime.rotationSchedule}"; ${expires}`,
      );
    }
    if (!previousIssue || input.dataChanged)
      return fresh('Synced', `Secret "${name}" updated with new data; ${expires}`);
    if (input.ttlChanged) return fresh('Synced', `Secret "${name}" re-issued for the new ttl; ${expires}`);
    if (input.renewalDue) return fresh('Renewed', `Secret "${name}" renewed; ${expires}`);
    return { issue: previousIssue, fresh: false, cause: { event: undefined, message: '' } };
  }

  private readyStatus(
    binding: SecretBinding,
    lifetime: EffectiveLifetime,
    name: string,
    issue: Issue,
    assembled: AssembledData,
    dataWritten: boolean,
    now: number,
  ): SecretBindingStatus {
    return readyStatusOf(binding, {
      name,
      issue,
      keys: Object.keys(assembled.data).length,
      sources: assembled.sources,
      // The next occurrence after now: equal to the recorded one while the schedule is unchanged,
      // and right at once after a schedule change (even one made while the store was down).
      nextRotationAt: lifetime.rotationSchedule
        ? nextCronAt(lifetime.rotationSchedule, now, lifetime.timeZone)
        : undefined,
      projectedPods: this.deps.projectedPods?.(binding.metadata.namespace!, binding.metadata.name!),
      dataWritten,
      now,
    });
  }

  /**
   * A failed reconcile: status says why, a Warning Event (only when the reason or message
   * changed), the last good Secret kept, unless its ttl has passed and onExpiry says Delete.
   */
  private async failed(
    binding: SecretBinding,
    existing: SecretObject | undefined,
    lifetime: EffectiveLifetime | undefined,
    failure: ReconcileError,
    now: number,
  ): Promise<ReconcileResult> {
    this.deps.onFailure?.(failure.reason);
    const previous = binding.status ?? {};
    // Expiry is judged by the operator's own record (status), not by annotations anyone can edit.
    const issue = existing ? recordedIssue(binding, existing) : undefined;
    const expired = lifetime !== undefined && issue !== undefined && now >= issue.expiresAt;
    if (failure.reason === ConditionReason.PolicyDenied && existing) {
      // The binding may no longer read this store: what it read before goes too.
      await this.deps.secrets.deleteSecret(
        existing.metadata.namespace!,
        existing.metadata.name!,
        existing.metadata.uid,
      );
      this.event(
        binding,
        'Normal',
        EventReason.Revoked,
        `Secret "${existing.metadata.name}" revoked: ${failure.message}`,
      );
    }
    let reason: string = failure.reason;
    let message = failure.message;
    if (expired && existing) {
      reason = ConditionReason.Expired;
      if (lifetime.onExpiry === 'Delete') {
        await this.deps.secrets.deleteSecret(
          existing.metadata.namespace!,
          existing.metadata.name!,
          existing.metadata.uid,
        );
        message = `Secret "${existing.metadata.name}" was deleted: its ttl passed without a successful renewal (${failure.reason}: ${failure.message})`;
        this.event(
          binding,
          'Normal',
          EventReason.Expired,
          `Secret "${existing.metadata.name}" deleted: its ttl passed without a successful renewal`,
        );
      } else {
        message = `Secret "${existing.metadata.name}" expired and is retained (onExpiry: Retain); renewal fails with ${failure.reason}: ${failure.message}`;
      }
    } else if (existing && issue && failure.reason !== ConditionReason.PolicyDenied) {
      message = `${failure.message}; the last good Secret is kept until ${formatTime(issue.expiresAt)}`;
    } else if (!existing && lifetime?.onExpiry === 'Delete' && isPast(previous.expiresAt, now)) {
      // Deleted at expiry earlier: the binding stays Expired until a renewal succeeds.
      reason = ConditionReason.Expired;
      message = `the Secret expired at ${previous.expiresAt} and was deleted; renewal fails with ${failure.reason}: ${failure.message}`;
    }
    const before = findCondition(previous.conditions, 'Ready');
    const observedGeneration = binding.metadata.generation;
    let conditions = setCondition(
      previous.conditions,
      { type: 'Ready', status: 'False', reason, message, observedGeneration },
      new Date(now),
    );
    conditions = setCondition(
      conditions,
      {
        type: 'Synced',
        status: 'False',
        reason: failure.reason,
        message: failure.message,
        observedGeneration,
      },
      new Date(now),
    );
    await this.writeStatus(binding, {
      ...previous,
      observedGeneration: binding.metadata.generation,
      conditions,
    });
    if (before?.reason !== reason || before?.message !== message || before?.status !== 'False') {
      this.event(binding, 'Warning', failure.eventReason, failure.message);
    }
    this.deps.logger.info('binding not synced', {
      binding: objectKey(binding.metadata),
      reason: failure.reason,
      detail: failure.message,
    });

    // Whatever the retry policy, come back when a kept Secret expires.
    const expiryWait = issue && !expired ? issue.expiresAt - now : undefined;
    if (failure.retry === 'backoff') {
      throw new RetryLater(failure.message, { atLeastMs: failure.retryAfterMs, atMostMs: expiryWait });
    }
    const refreshWait =
      failure.retry === 'refresh' && lifetime ? nextRefreshAt(now, lifetime.refreshMs) - now : undefined;
    const wait = nextDueAt([refreshWait, expiryWait]);
    return wait === undefined ? {} : { requeueAfterMs: wait };
  }

  private nextDue(lifetime: EffectiveLifetime, issue: Issue, now: number, rotationAt?: number): number {
    return (
      nextDueAt([
        nextRefreshAt(now, lifetime.refreshMs),
        Math.max(now + 1000, renewalOf(issue)),
        rotationAt,
      ]) ?? now + lifetime.refreshMs
    );
  }

  private async writeStatus(binding: SecretBinding, status: SecretBindingStatus): Promise<void> {
    if (sameJson(binding.status ?? {}, status)) return;
    await this.deps.status.patchStatus(
      'SecretBinding',
      binding.metadata.namespace,
      binding.metadata.name!,
      mergePatchOf(binding.status ?? {}, status),
    );
  }

  private async removeSecretsOf(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    if (!namespace) return;
    for (const secret of this.deps.managedSecretsOf(namespace, name)) {
      await this.deps.secrets.deleteSecret(namespace, secret.metadata.name!, secret.metadata.uid);
    }
  }

  private event(
    binding: SecretBinding,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    about: AuditSubject = {},
  ): void {
    this.deps.events.emit(bindingEventSubject(binding), type, reason, message);
    this.audit(binding, reason, type, message, about);
  }

  /**
   * Every Event of the binding's life has its audit record, with the store and the versions
   * read, and for a PerWorkload Secret the Secret and its workload.
   */
  private audit(
    binding: SecretBinding,
    reason: string,
    type: 'Normal' | 'Warning',
    message: string,
    { sources, secret, workload }: AuditSubject,
  ): void {
    const action = AUDIT_ACTIONS[reason] ?? (type === 'Warning' ? 'read-failed' : undefined);
    if (!action) return;
    const store = bindingStoreLabel(binding);
    this.deps.audit.record({
      action,
      outcome: type === 'Normal' ? 'success' : 'failure',
      binding: `${binding.metadata.namespace}/${binding.metadata.name}`,
      store,
      ...(secret ? { secret } : {}),
      ...(workload ? { workload } : {}),
      reason,
      message,
      ...(sources ? { sources: sources.map((x) => ({ key: x.key ?? '', versionId: x.versionId })) } : {}),
    });
  }
}

/** Reads of one fetch that may see a remote secret change before the reconcile gives up for now. */
const MAX_TORN_READS = 3;

/** The store failures that say nothing of the binding itself: the store is down or throttling. */
const OUTAGE_REASONS: ReadonlySet<string> = new Set([
  ConditionReason.ProviderUnavailable,
  ConditionReason.Throttled,
]);

/** Whether the binding's last sync failed because its store was unavailable or throttling. */
export function failedForOutage(binding: SecretBinding): boolean {
  const synced = findCondition(binding.status?.conditions, 'Synced');
  return synced?.status === 'False' && OUTAGE_REASONS.has(synced.reason ?? '');
}

/** Whether the binding's status says Ready: its consumers have a Secret and know it. */
function isReady(binding: SecretBinding): boolean {
  return findCondition(binding.status?.conditions, 'Ready')?.status === 'True';
}

/** Renewal at 2/3 of the issue's actual lifetime (generated credentials may shorten it). */
function renewalOf(issue: Issue): number {
  return renewalAt(issue.issuedAt, issue.expiresAt - issue.issuedAt);
}

function decodeData(data: Record<string, string> | undefined): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

/** What the reconciler remembers of a binding's last completed sync. */
interface SyncedMemory {
  epoch: number;
  generation?: number;
  /** The nextRotationAt that sync wrote to the status. */
  nextRotationAt?: number;
}

/**
 * When the binding's next scheduled rotation is due (undefined: no schedule): the status's
 * nextRotationAt, or the one our last sync of this generation wrote there if that is later.
 * The binding cache may not have delivered our status patch yet, and a status-only update
 * queues no reconcile: read from the cache alone, a rotation that fell due a few ms after the
 * sync found no time recorded and waited for the renewal, hours later. Another replica's
 * later write (a shard handed back) wins over our older memory.
 */
function scheduledRotation(
  binding: SecretBinding,
  lifetime: EffectiveLifetime,
  memory: SyncedMemory | undefined,
): number | undefined {
  if (lifetime.rotationSchedule === undefined) return undefined;
  const recorded = parseTime(binding.status?.nextRotationAt);
  const remembered = memory?.generation === binding.metadata.generation ? memory?.nextRotationAt : undefined;
  if (recorded === undefined || remembered === undefined) return recorded ?? remembered;
  return Math.max(recorded, remembered);
}

/** Whether `secret`'s annotations record exactly `issue` (times to the second, as written). */
function carries(secret: SecretObject, issue: Issue): boolean {
  const on = issueOf(secret);
  return (
    on !== undefined &&
    on.dataHash === issue.dataHash &&
    formatTime(on.issuedAt) === formatTime(issue.issuedAt) &&
    formatTime(on.expiresAt) === formatTime(issue.expiresAt)
  );
}

/**
 * The issue on record: the status the operator wrote (annotations can be edited by anyone
 * who can edit the Secret, and must not extend its life), else the Secret's annotations.
 */
function recordedIssue(binding: SecretBinding, existing: SecretObject | undefined): Issue | undefined {
  const status = binding.status;
  const issuedAt = parseTime(status?.issuedAt);
  const expiresAt = parseTime(status?.expiresAt);
  if (issuedAt !== undefined && expiresAt !== undefined && status?.dataHash) {
    return { issuedAt, expiresAt, dataHash: status.dataHash };
  }
  return existing ? issueOf(existing) : undefined;
}

/**
 * The status of a binding whose Secret holds `issue`: Ready and Synced true, the issue's times
 * and hash, the remote versions read. Pure, so the benchmark's write floor patches exactly
 * what the operator patches.
 */
export function readyStatusOf(
  binding: SecretBinding,
  input: {
    name: string;
    issue: Issue;
    keys: number;
    sources: SourceVersion[];
    nextRotationAt?: number;
    projectedPods?: number;
    /** New data was written (syncedAt moves only then). */
    dataWritten: boolean;
    now: number;
  },
): SecretBindingStatus {
  const { name, issue, keys, now } = input;
  const previous = binding.status ?? {};
  const message = `Secret "${name}" holds ${keys} key${keys === 1 ? '' : 's'}`;
  const observedGeneration = binding.metadata.generation;
  const ok = { status: 'True' as const, reason: ConditionReason.Synced, message, observedGeneration };
  let conditions = setCondition(previous.conditions, { type: 'Ready', ...ok }, new Date(now));
  conditions = setCondition(conditions, { type: 'Synced', ...ok }, new Date(now));
  return {
    ...previous,
    observedGeneration,
    conditions,
    secretName: name,
    syncedAt: input.dataWritten || !previous.syncedAt ? formatTime(now) : previous.syncedAt,
    issuedAt: formatTime(issue.issuedAt),
    expiresAt: formatTime(issue.expiresAt),
    nextRotationAt: input.nextRotationAt === undefined ? undefined : formatTime(input.nextRotationAt),
    projectedPods: input.projectedPods ?? previous.projectedPods,
    sources: input.sources,
    dataHash: issue.dataHash,
  };
}

/** A JSON merge patch from `previous` to `next`: fields that disappear are set to null. */
export function mergePatchOf(previous: object, next: object): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...next };
  for (const key of Object.keys(previous)) {
    if ((next as Record<string, unknown>)[key] === undefined) patch[key] = null;
  }
  return patch;
}

function writeFailed(name: string, error: unknown): ReconcileError {
  const status = (error as { status?: number }).status;
  return new ReconcileError(
    ConditionReason.SecretWriteFailed,
    `writing Secret "${name}" failed${status ? ` (the Kubernetes API answered HTTP ${status})` : ''}`,
    { eventReason: EventReason.ProviderError, retry: 'backoff' },
  );
}

const AUDIT_ACTIONS: Record<string, AuditAction> = {
  Synced: 'issue',
  Renewed: 'renew',
  Rotated: 'rotate',
  DriftCorrected: 'restore',
  Expired: 'expire',
  Revoked: 'revoke',
  PolicyDenied: 'policy-deny',
};

function isPast(time: string | undefined, now: number): boolean {
  const ms = parseTime(time);
  return ms !== undefined && ms <= now;
}

function conflict(name: string): ReconcileError {
  return new ReconcileError(
    ConditionReason.SecretConflict,
    `Secret "${name}" exists and is not managed by this binding; mlsecrets never overwrites it (delete it or choose another target.name)`,
    { retry: 'refresh' },
  );
}

/**
 * Deep equality of JSON-shaped values with key order ignored; undefined fields count as absent.
 * Walks both values instead of serialising them: every no-op refresh compares a status, and at
 * 10,000 bindings two canonical strings per compare were a measurable share of the garbage.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  let leftKeys = 0;
  for (const key in left) {
    if (left[key] === undefined) continue;
    leftKeys++;
    if (!sameJson(left[key], right[key])) return false;
  }
  let rightKeys = 0;
  for (const key in right) if (right[key] !== undefined) rightKeys++;
  return leftKeys === rightKeys;
}

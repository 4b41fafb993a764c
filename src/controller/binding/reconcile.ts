// Reconciles a SecretBinding into its managed Secret (docs/architecture.md, "The SecretBinding
// reconciler"). The story reads top-down here; each step's rules live in one module beside it:
// plan (what is due), store-read (policy and reads), issue (mint, shape, write), failure,
// status, recording (Events and audit) and memory (our own writes).
import type { Logger } from 'winston';
import { effectiveLifetime, targetName, type EffectiveLifetime } from '../../api/defaults.ts';
import { SOURCE_HASH_ANNOTATION, DATA_HASH_ANNOTATION } from '../../api/labels.ts';
import { validateBindingSpec } from '../../data/binding-data.ts';
import type { DataHasher } from '../../data/data-hash.ts';
import { generatedLifetimeMs, hasGenerators, validateGenerators } from '../../data/generators.ts';
import type { Fetcher } from '../../fetch/fetcher.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { SecretObject, SecretWriter, StatusWriter } from '../../kube/kube-client.ts';
import type { AuditSink } from '../../observability/audit.ts';
import { nextCronAt } from '../../rotation/schedule.ts';
import type { Clock } from '../../runtime/clock.ts';
import type { ReconcileResult } from '../../runtime/reconcile-result.ts';
import { toReconcileError } from '../errors.ts';
import type { StoreDirectory } from '../stores.ts';
import type { BindingCache, BindingListener } from './deps.ts';
import { conflict, failed, invalidSpec } from './failure.ts';
import { respondToAccess } from './compromise.ts';
import { withdrawDeleted } from './withdraw.ts';
import { issueSecret } from './issue.ts';
import { LeaseBook } from './leases.ts';
import { desiredSecret, driftOf, issueOf, ownedBy, parseTime } from './managed-secret.ts';
import { OwnWrites } from './memory.ts';
import { reconcilePerWorkload, workloadContext } from './per-workload.ts';
import { currentSecret } from './current-secret.ts';
import { bookkeeping } from './bookkeeping.ts';
import { carries, decide, dueWork, isReady, nextDue, nothingDue, recordedIssue } from './plan.ts';
import { BindingRecorder } from './recording.ts';
import { readyStatusOf, writeStatus } from './status.ts';
import { StoreReader } from './store-read.ts';

export interface ReconcileOptions {
  /**
   * Routine and rotation work: a Ready binding whose Secret is rewritten hands its status patch
   * and Event back as {@link ReconcileResult.followUp}, to run when no urgent work waits
   * (bookkeeping.ts says why).
   */
  deferBookkeeping?: boolean;
}

export interface SecretBindingReconcilerDeps {
  clock: Clock;
  logger: Logger;
  cache: BindingCache;
  listener: BindingListener;
  stores: Pick<StoreDirectory, 'storeFor' | 'handleFor'>;
  fetcher: Pick<Fetcher, 'read' | 'find'>;
  secrets: SecretWriter;
  status: StatusWriter;
  events: EventRecorder;
  audit: AuditSink;
  hasher: DataHasher;
}

export class SecretBindingReconciler {
  private readonly deps: SecretBindingReconcilerDeps;
  /** The dependencies with the step modules' parts: each step takes what it needs of them. */
  private readonly parts: SecretBindingReconcilerDeps & {
    memory: OwnWrites;
    reader: StoreReader;
    recorder: BindingRecorder;
    leases: LeaseBook;
  };

  constructor(deps: SecretBindingReconcilerDeps) {
    this.deps = deps;
    this.parts = {
      ...deps,
      memory: new OwnWrites(),
      reader: new StoreReader(deps),
      recorder: new BindingRecorder(deps.events, deps.audit),
      leases: new LeaseBook(deps),
    };
  }

  /** Lease ids the bindings record, for the orphan sweep. */
  heldLeaseIds(): Set<string> {
    return this.parts.leases.heldIds();
  }

  /** Starts the store read a first sync of `key` will need (see StoreReader.prefetch). */
  prefetch(key: string): void {
    this.parts.reader.prefetch(this.deps.cache.getBinding(key), this.deps.clock.now());
  }

  async reconcile(key: string, options: ReconcileOptions = {}): Promise<ReconcileResult> {
    const { cache, hasher } = this.deps;
    const binding = cache.getBinding(key);
    if (!binding) {
      this.parts.memory.forget(key);
      await withdrawDeleted(this.parts, key);
      return {};
    }
    if (binding.metadata.deletionTimestamp) return {};
    const now = this.deps.clock.now();
    // Leases of replaced or ended credentials, revoked when due (leases.ts).
    await this.parts.leases.settle(
      binding,
      () => this.deps.stores.handleFor(this.deps.stores.storeFor(binding)),
      now,
      (handle, op) => this.deps.listener.providerCall(handle, op),
    );
    // Leases retired during this reconcile (a replacement, an ended Job) are due later.
    const after = (at: number) => Math.min(at, this.parts.leases.wakeAt(binding, now) ?? Infinity) - now;
    const fail = (
      existing: SecretObject | undefined,
      lifetime: EffectiveLifetime | undefined,
      error: unknown,
    ) => failed(this.parts, binding, existing, lifetime, toReconcileError(error), now);

    // 1. The spec: what the schema cannot say (durations, generators, data keys).
    let lifetime: EffectiveLifetime;
    try {
      lifetime = effectiveLifetime(binding);
      validateBindingSpec(binding.spec);
      validateGenerators(binding);
    } catch (error) {
      return fail(undefined, undefined, invalidSpec(error));
    }
    // 1b. An unexpected read of its Secrets (access audit): Revoke withholds them until a person
    // acknowledges it, Rotate issues them anew (compromise.ts).
    let response;
    try {
      response = await respondToAccess(this.parts, binding, now);
    } catch (error) {
      return fail(undefined, lifetime, error);
    }
    if (response === 'withheld') return { requeueAfterMs: after(Infinity) };
    if (binding.spec.projection?.scope === 'PerWorkload') {
      try {
        const next = await reconcilePerWorkload(workloadContext(this.parts, binding, lifetime, now));
        return { requeueAfterMs: after(next) };
      } catch (error) {
        return fail(undefined, lifetime, error);
      }
    }

    // 2. The Secret as it is, and whether it is ours to write.
    const name = targetName(binding);
    await this.parts.leases.retireAllBut(binding, [name], now);
    const existing = await currentSecret(this.parts, key, binding, lifetime, name, now);
    if (existing && !ownedBy(existing, binding)) return fail(undefined, lifetime, conflict(name));
    // Cheap (caches only) and checked even when nothing else is due: a deleted store or a
    // tightened policy must reach a binding that is otherwise in sync.
    try {
      this.parts.reader.admittedStore(binding, lifetime);
    } catch (error) {
      return fail(existing, lifetime, error);
    }

    // 3. What is due. Our own last write, when the status does not show it yet (a status patch
    // that failed after the write, or a binding cache behind the Secret cache), is the issue on
    // record, not drift to undo.
    const ownWrite = this.parts.memory.lastWrite(key);
    const previousIssue =
      existing && ownWrite && carries(existing, ownWrite)
        ? (issueOf(existing) ?? recordedIssue(binding, existing))
        : recordedIssue(binding, existing);
    const memory = this.parts.memory.lastSync(key);
    const due = dueWork({
      binding,
      lifetime,
      previousIssue,
      memory,
      generatedLifetimeMs:
        generatedLifetimeMs(binding) ??
        (this.parts.leases.active(binding, name)?.grantedSeconds ?? Infinity) * 1000,
      now,
    });
    if (response === 'rotate')
      Object.assign(due, {
        rotationDue: true,
        unexpectedReader: binding.status?.access?.lastUnexpectedRead?.reader,
      });
    if (existing && previousIssue && nothingDue(due)) {
      // Only drift (checked without the values, by hash) would need a write.
      if (!driftOf(existing, desiredSecret(binding, name, {}, previousIssue), hasher)) {
        const status = binding.status ?? {};
        const projectedPods = cache.projectedPodCount(binding.metadata.namespace!, binding.metadata.name!);
        if ((projectedPods !== undefined && projectedPods !== status.projectedPods) || status.access) {
          await writeStatus(this.deps.status, binding, { ...status, projectedPods });
        }
        return { requeueAfterMs: after(nextDue(lifetime, previousIssue, now, due.rotationAt)) };
      }
    }

    // 4. Read the store (after rotating the values in it, when a scheduled rotation says so).
    let read;
    let store;
    try {
      store = await this.parts.reader.resolve(binding, lifetime);
      if (due.rotationDue && lifetime.rotateInStore)
        await this.parts.reader.rotateInStore(binding, store.handle);
      read = await this.parts.reader.read(
        binding,
        store,
        due.rotationDue ? now : due.epoch,
        !due.rotationDue,
      );
    } catch (error) {
      return fail(existing, lifetime, error);
    }

    // 5. Decide: a new issue, or the recorded one. What was read decides "changed"; generated
    // credentials differ at every mint and templates may hide the raw keys, so the hash of the
    // reads is kept apart (source-hash annotation).
    const generated = hasGenerators(binding);
    const sourceHash = hasher.hash(read.data);
    const shapedByUs = generated || binding.spec.target?.template?.data !== undefined;
    const previousSourceHash =
      existing?.metadata.annotations?.[SOURCE_HASH_ANNOTATION] ??
      // Without generators or templates the Secret data is what was read.
      (shapedByUs ? undefined : previousIssue?.dataHash);
    const decision = decide({
      lifetime,
      existing,
      previousIssue,
      dataChanged: previousSourceHash !== sourceHash,
      fetchedHash: sourceHash,
      due,
      // Minted credentials live only in the Secret: lost or edited, they are minted anew. (Only
      // then is the Secret's own hash checked: an HMAC per reconcile is not free at 10,000.)
      mustMint:
        generated &&
        (existing === undefined ||
          hasher.hashEncoded(existing.data) !== existing.metadata.annotations?.[DATA_HASH_ANNOTATION]),
      now,
      name,
    });

    // 6. Issue: mint, shape and write the Secret when the decision or drift calls for it.
    let issued;
    try {
      issued = await issueSecret(this.parts, {
        binding,
        name,
        existing,
        issue: { ...decision.issue, sourceHash },
        fresh: decision.fresh,
        values: read.data,
        handle: store.handle,
        force: decision.cause.event !== undefined,
        renewal: decision.cause.event === 'Renewed',
        revokeReplacedNow: response === 'rotate',
        now,
      });
    } catch (error) {
      return fail(existing, lifetime, error);
    }
    const { issue, drift } = issued;
    if (issued.written) this.parts.memory.recordWrite(key, issue);
    const dataWritten = previousIssue?.dataHash !== issue.dataHash;
    // Consumers had the old data only if a Secret existed before this issue.
    if (dataWritten && previousIssue) {
      this.deps.listener.newData(binding, name);
      if (binding.spec.projection?.onRotation === 'RolloutRestart')
        this.deps.listener.rolloutRestart(binding, name);
    }

    // 7. Bookkeeping: status, the Event that says why, and the mark that this epoch is done.
    const status = readyStatusOf(binding, {
      name,
      issue,
      keys: issued.keys,
      sources: read.sources,
      // The next occurrence after now: equal to the recorded one while the schedule is unchanged,
      // and right at once after a schedule change (even one made while the store was down).
      nextRotationAt: lifetime.rotationSchedule
        ? nextCronAt(lifetime.rotationSchedule, now, lifetime.timeZone)
        : undefined,
      projectedPods: cache.projectedPodCount(binding.metadata.namespace!, binding.metadata.name!),
      dataWritten,
      respondedTo: response === 'rotate' ? binding.status?.access?.lastUnexpectedRead?.at : undefined,
      now,
    });
    const nextRotationAt = parseTime(status.nextRotationAt);
    const followUp = bookkeeping(this.parts, key, binding, status, {
      event: decision.cause.event
        ? { reason: decision.cause.event, message: decision.cause.message }
        : undefined,
      drift,
      specChanged: (memory?.generation ?? binding.status?.observedGeneration) !== binding.metadata.generation,
      synced: { epoch: due.epoch, generation: binding.metadata.generation, nextRotationAt },
    });
    const requeueAfterMs = after(nextDue(lifetime, issue, now, nextRotationAt));
    if (options.deferBookkeeping && issued.written && existing && isReady(binding))
      return { requeueAfterMs, followUp };
    await followUp();
    return { requeueAfterMs };
  }
}

// What follows a Secret write: the status patch, the Event that says why, and the mark that the
// refresh epoch is done. Run at once, or deferred until no urgent work waits (a rotation of
// 1,000 bindings reaches every Secret in about a third of the time when this waits: see
// docs/decisions/0009-hot-path-pieces.md).
import { targetName } from '../../api/defaults.ts';
import { EventReason } from '../../api/reasons.ts';
import type { SecretBinding, SecretBindingStatus } from '../../api/types.ts';
import type { StatusWriter } from '../../kube/kube-client.ts';
import type { BindingCache, BindingListener } from './deps.ts';
import type { OwnWrites } from './memory.ts';
import { failedForOutage, type SyncedMemory } from './plan.ts';
import type { BindingRecorder } from './recording.ts';
import { writeStatus } from './status.ts';

export interface BookkeepingContext {
  cache: Pick<BindingCache, 'getBinding'>;
  status: StatusWriter;
  listener: Pick<BindingListener, 'storeRecovered'>;
  recorder: BindingRecorder;
  memory: OwnWrites;
}

/** What a sync did, as its bookkeeping records it. */
export interface SyncOutcome {
  /** The Event of a new issue (Synced, Rotated, Renewed, DriftCorrected). */
  event?: { reason: string; message: string };
  /** How the Secret had drifted, when it was rewritten without a new issue. */
  drift?: string;
  /** The spec's generation moved since the last sync (a target change is not drift). */
  specChanged: boolean;
  synced: SyncedMemory;
}

/**
 * The bookkeeping of one sync, as a closure over what it records only (not the old Secret, the
 * values read or the new data): a deferred follow-up keeps it until the queue is quiet. A failed
 * status patch leaves the epoch unmarked, so the sync is retried in full.
 */
export function bookkeeping(
  ctx: BookkeepingContext,
  key: string,
  binding: SecretBinding,
  status: SecretBindingStatus,
  outcome: SyncOutcome,
): () => Promise<void> {
  return async () => {
    // Deferred, the binding may have been deleted meanwhile: nothing left to record.
    if (!ctx.cache.getBinding(key)) return;
    await writeStatus(ctx.status, binding, status);
    if (failedForOutage(binding)) ctx.listener.storeRecovered(binding);
    const name = targetName(binding);
    if (outcome.event) {
      ctx.recorder.event(binding, 'Normal', outcome.event.reason, outcome.event.message, {
        sources: status.sources,
      });
    } else if (outcome.drift) {
      if (outcome.specChanged)
        ctx.recorder.event(
          binding,
          'Normal',
          EventReason.Synced,
          `Secret "${name}" updated for the changed spec`,
        );
      else
        ctx.recorder.event(
          binding,
          'Normal',
          EventReason.DriftCorrected,
          `Secret "${name}" was restored: ${outcome.drift}`,
        );
    }
    ctx.memory.recordSync(key, outcome.synced);
  };
}

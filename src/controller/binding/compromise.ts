// A binding's response to an unexpected read of its Secret (access audit, docs/access-audit.md).
// The access monitor marks the read in status.access.lastUnexpectedRead; here the reconcile
// holds the Compromised condition until a person acknowledges the read and, as
// spec.access.onUnexpectedRead says, issues the Secret anew (Rotate) or withholds it (Revoke).
import { setCondition } from '../../api/conditions.ts';
import { ACCESS_ACKNOWLEDGED_ANNOTATION } from '../../api/labels.ts';
import { ConditionReason, EventReason } from '../../api/reasons.ts';
import type { SecretBinding, SecretBindingStatus } from '../../api/types.ts';
import type { SecretWriter, StatusWriter } from '../../kube/kube-client.ts';
import { compromiseOf } from './compromised-condition.ts';
import type { BindingCache } from './deps.ts';
import { withdrawAll } from './withdraw.ts';
import type { LeaseBook } from './leases.ts';
import type { BindingRecorder } from './recording.ts';
import { writeStatus } from './status.ts';

export interface CompromiseContext {
  cache: Pick<BindingCache, 'managedSecretsOf'>;
  secrets: SecretWriter;
  status: StatusWriter;
  recorder: BindingRecorder;
  leases: Pick<LeaseBook, 'retireAllBut'>;
}

/**
 * What the reconcile does about an unexpected read: 'withheld' (Revoke, not acknowledged: the
 * Secrets are deleted and their leases retired, nothing is issued), 'rotate' (Rotate, a Shared
 * Secret not yet rotated for this read: the caller forces a rotation) or 'continue'. A
 * PerWorkload binding's Rotate deletes its Secrets and retires their leases here: they are
 * issued anew, minted afresh, at once.
 */
export async function respondToAccess(
  ctx: CompromiseContext,
  binding: SecretBinding,
  now: number,
): Promise<'withheld' | 'rotate' | 'continue'> {
  const compromise = compromiseOf(binding);
  if (!compromise || compromise.mode === 'Record' || compromise.acknowledged) return 'continue';
  const perWorkload = binding.spec.projection?.scope === 'PerWorkload';
  if (compromise.mode === 'Rotate' && !perWorkload) return compromise.pending ? 'rotate' : 'continue';
  if (!compromise.pending && compromise.mode === 'Rotate') return 'continue';
  const withheld = compromise.mode === 'Revoke';
  const deleted = await withdrawAll(ctx, binding, now);
  const status: SecretBindingStatus = {
    ...binding.status,
    observedGeneration: binding.metadata.generation,
    access: { ...binding.status?.access, respondedTo: compromise.read.at },
  };
  if (withheld) {
    status.conditions = setCondition(
      status.conditions,
      {
        type: 'Ready',
        status: 'False',
        reason: ConditionReason.Compromised,
        message: `Secret withheld after an unexpected read by ${compromise.read.reader} (onUnexpectedRead Revoke) until the read is acknowledged`,
        observedGeneration: binding.metadata.generation,
      },
      new Date(now),
    );
  }
  await writeStatus(ctx.status, binding, status);
  if (compromise.pending) {
    const what =
      deleted.length > 0
        ? `Secret(s) ${deleted.map((s) => `"${s}"`).join(', ')} deleted`
        : 'no Secret to delete';
    ctx.recorder.event(
      binding,
      'Warning',
      EventReason.Revoked,
      withheld
        ? `${what} after an unexpected read by ${compromise.read.reader}; withheld until acknowledged (${ACCESS_ACKNOWLEDGED_ANNOTATION})`
        : `${what} after an unexpected read by ${compromise.read.reader}; issued anew`,
      {},
    );
  }
  return withheld ? 'withheld' : 'continue';
}

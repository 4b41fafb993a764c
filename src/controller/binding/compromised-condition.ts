// The Compromised condition of a binding whose Secret had an unexpected read (access audit):
// derived from status.access and the acknowledgement annotation alone, so that every status
// write (status.ts) carries the same condition. The response itself is compromise.ts.
import { setCondition } from '../../api/conditions.ts';
import { ACCESS_ACKNOWLEDGED_ANNOTATION } from '../../api/labels.ts';
import { ConditionReason } from '../../api/reasons.ts';
import type { SecretBinding, SecretBindingStatus, UnexpectedRead } from '../../api/types.ts';

export interface Compromise {
  read: Required<Pick<UnexpectedRead, 'at'>> & UnexpectedRead;
  mode: 'Record' | 'Rotate' | 'Revoke';
  /** A person acknowledged this read (the annotation's time is at or after it). */
  acknowledged: boolean;
  /** The response has not been made yet. */
  pending: boolean;
}

/** The binding's last unexpected read, if it has one. */
export function compromiseOf(binding: SecretBinding): Compromise | undefined {
  const read = binding.status?.access?.lastUnexpectedRead;
  const at = Date.parse(read?.at ?? '');
  if (!read || Number.isNaN(at)) return undefined;
  const acknowledgedAt = Date.parse(binding.metadata.annotations?.[ACCESS_ACKNOWLEDGED_ANNOTATION] ?? '');
  return {
    read: { ...read, at: read.at! },
    mode: binding.spec.access?.onUnexpectedRead ?? 'Record',
    acknowledged: !Number.isNaN(acknowledgedAt) && acknowledgedAt >= at,
    pending: binding.status?.access?.respondedTo !== read.at,
  };
}

/**
 * The Compromised condition `binding` should show: True from an unacknowledged unexpected read,
 * False once acknowledged. Its times are the read's and the acknowledgement's, so every status
 * write computes the same condition without a clock. Unchanged without an unexpected read.
 */
export function withCompromise(binding: SecretBinding, status: SecretBindingStatus): SecretBindingStatus {
  const compromise = compromiseOf(binding);
  if (!compromise) return status;
  const { read, acknowledged } = compromise;
  const conditions = setCondition(
    status.conditions,
    acknowledged
      ? {
          type: 'Compromised',
          status: 'False',
          reason: ConditionReason.Acknowledged,
          message: `the read of ${read.at} by ${read.reader} was acknowledged`,
        }
      : {
          type: 'Compromised',
          status: 'True',
          reason: ConditionReason.UnexpectedAccess,
          message: `Secret "${read.secret}" was read (${read.verb}) by ${read.reader} at ${read.at}: ${read.reason}; acknowledge with the annotation ${ACCESS_ACKNOWLEDGED_ANNOTATION}=<time>`,
        },
    new Date(
      acknowledged
        ? Date.parse(binding.metadata.annotations![ACCESS_ACKNOWLEDGED_ANNOTATION]!)
        : Date.parse(read.at),
    ),
  );
  return { ...status, conditions };
}

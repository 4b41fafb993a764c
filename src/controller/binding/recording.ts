// Every Event of a binding's life, with its audit record: the store, the versions read, and for
// a PerWorkload Secret the Secret and its workload.
import { bindingEventSubject, type SecretBinding, type SourceVersion } from '../../api/types.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { AuditAction, AuditRecord, AuditSink } from '../../observability/audit.ts';
import { bindingStoreLabel } from '../stores.ts';

/** What an Event's audit record says beyond the binding and the store. */
export interface AuditSubject {
  /** The remote versions the Secret was written from. */
  sources?: SourceVersion[];
  /** A PerWorkload Secret, and the workload it is (or was) issued for. */
  secret?: string;
  workload?: AuditRecord['workload'];
}

/** The Event reasons that are audited, and as what. Warnings not listed are failed reads. */
const AUDIT_ACTIONS: Record<string, AuditAction> = {
  Synced: 'issue',
  Renewed: 'renew',
  Rotated: 'rotate',
  DriftCorrected: 'restore',
  Expired: 'expire',
  Revoked: 'revoke',
  PolicyDenied: 'policy-deny',
};

export class BindingRecorder {
  private readonly events: EventRecorder;
  /** Required: left unwired, every record would be dropped without a word. */
  private readonly audit: AuditSink;

  constructor(events: EventRecorder, audit: AuditSink) {
    this.events = events;
    this.audit = audit;
  }

  /** A Secret deleted with its binding: an audit record only, as no Event can name the binding any more. */
  revokedWithBinding(bindingKey: string, secret: string): void {
    this.audit.record({
      action: 'revoke',
      outcome: 'success',
      binding: bindingKey,
      secret,
      reason: 'BindingDeleted',
      message: `Secret "${secret}" revoked: its SecretBinding was deleted`,
    });
  }

  event(
    binding: SecretBinding,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    { sources, secret, workload }: AuditSubject = {},
  ): void {
    this.events.emit(bindingEventSubject(binding), type, reason, message);
    const action = AUDIT_ACTIONS[reason] ?? (type === 'Warning' ? 'read-failed' : undefined);
    if (!action) return;
    this.audit.record({
      action,
      outcome: type === 'Normal' ? 'success' : 'failure',
      binding: `${binding.metadata.namespace}/${binding.metadata.name}`,
      store: bindingStoreLabel(binding),
      ...(secret ? { secret } : {}),
      ...(workload ? { workload } : {}),
      reason,
      message,
      ...(sources ? { sources: sources.map((x) => ({ key: x.key ?? '', versionId: x.versionId })) } : {}),
    });
  }
}

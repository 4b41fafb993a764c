// What each admission decision leaves behind: the injections metric and one audit record naming
// the pod's workload, service account and node (never a value).
import type { AuditSink } from '../observability/audit.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import type { PodLike } from './pod.ts';
import { workloadOf, type Injection } from './pod-mutator.ts';
import type { WebhookDeps } from './webhook-server.ts';

export function recordInjections(
  audit: AuditSink,
  metrics: Pick<OperatorMetrics, 'injections'>,
  workloadKinds: string[],
): NonNullable<WebhookDeps['onDecision']> {
  return (pod: PodLike, namespace: string, injection: Injection, dryRun: boolean) => {
    if (dryRun) return;
    metrics.injections.inc({
      outcome: injection.injected ? 'injected' : injection.deny ? 'denied' : 'skipped',
    });
    audit.record({
      action: injection.injected ? 'inject' : 'inject-deny',
      outcome: injection.injected ? 'success' : 'failure',
      binding: `${namespace}/${injection.binding.metadata.name}`,
      secret: injection.injected ? injection.secretName : undefined,
      workload: workloadOf(pod, workloadKinds) ?? { kind: 'Pod', name: pod.metadata.generateName ?? '' },
      serviceAccount: pod.spec.serviceAccountName || 'default',
      node: (pod.spec as { nodeName?: string }).nodeName,
      message: injection.injected ? undefined : injection.reason,
    });
  };
}

// Assembles the access audit (docs/access-audit.md): the /audit endpoint on the webhook's
// listener, the monitor that judges each read, and the published audit webhook kubeconfig.
import type { Logger } from 'winston';
import type { OperatorConfig } from '../config/config.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { StatusWriter } from '../kube/kube-client.ts';
import type { AuditSink } from '../observability/audit.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import type { Clock } from '../runtime/clock.ts';
import type { KubeHttp } from '../runtime/http.ts';
import { AccessMonitor, type AccessCache, type NodePod } from './access-monitor.ts';
import { AuditReceiver } from './audit-receiver.ts';
import {
  AUDIT_PATH,
  AuditToken,
  auditWebhookAddress,
  auditWebhookKubeconfig,
  ownUserName,
  publishAuditKubeconfig,
} from './audit-webhook.ts';

export interface AccessAudit {
  monitor: AccessMonitor;
  receiver: AuditReceiver;
  /** The webhook server's extra route. */
  routes: Record<string, AuditReceiver['handle']>;
  /** Publishes the kubeconfig with the webhook's CA bundle (at start and on a CA change). */
  publish(caBundle: string): Promise<void>;
}

export async function accessAudit(deps: {
  config: OperatorConfig;
  http: KubeHttp;
  clock: Clock;
  logger: Logger;
  cache: AccessCache;
  audit: AuditSink;
  events: EventRecorder;
  status: StatusWriter;
  metrics: OperatorMetrics;
}): Promise<AccessAudit> {
  const { config, http, logger, metrics } = deps;
  const settings = config.accessAudit;
  const operator = await ownUserName(http);
  const token = new AuditToken(http, config.operatorNamespace, deps.clock);
  await token.get();
  const monitor = new AccessMonitor({
    clock: deps.clock,
    logger,
    cache: deps.cache,
    podsOn: async (namespace, node) =>
      (
        await http.request<{ items: NodePod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`, {
          query: { fieldSelector: `spec.nodeName=${node}` },
        })
      ).items,
    operator: () => operator,
    expectedReaders: settings.expectedReaders,
    audit: deps.audit,
    events: deps.events,
    status: deps.status,
    observer: {
      read: (expected) => metrics.accessReads.inc({ expected: String(expected) }),
      unexpected: (namespace, binding) => metrics.unexpectedAccess.inc({ namespace, binding }),
    },
    rate: { windowMs: settings.readWindowMs, perConsumer: settings.readsPerConsumer },
  });
  const receiver = new AuditReceiver({
    token: () => token.get(),
    judge: (read) => monitor.judge(read),
    capacity: settings.queueCapacity,
    observer: {
      received: (n) => metrics.auditReceived.inc(n),
      dropped: (n) => metrics.auditDropped.inc(n),
      rejected: (reason) => metrics.auditRejected.inc({ reason }),
      queued: (depth) => metrics.auditQueueDepth.set(depth),
      failed: (error) =>
        logger.error('access audit: judging a read failed', { error: (error as Error)?.message }),
    },
  });
  logger.info('access audit on', { operator, path: AUDIT_PATH });
  return {
    monitor,
    receiver,
    routes: { [AUDIT_PATH]: (req, res) => receiver.handle(req, res) },
    async publish(caBundle) {
      try {
        const address = await auditWebhookAddress(http, {
          url: settings.url,
          webhookUrl: config.webhookUrl,
          namespace: config.operatorNamespace,
          service: config.webhookService,
        });
        const kubeconfig = auditWebhookKubeconfig({ ...address, caBundle, token: await token.get() });
        await publishAuditKubeconfig(http, config.operatorNamespace, kubeconfig);
      } catch (error) {
        logger.warn('access audit: could not publish the audit webhook kubeconfig', {
          error: (error as Error)?.message,
        });
      }
    },
  };
}

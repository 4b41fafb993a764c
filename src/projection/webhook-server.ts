// The pod webhook: kube-apiserver sends each new pod here over TLS; the answer adds the
// Secrets of the bindings that select it, or (attestation gate, enforcement Deny) refuses it.
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';
import { EventReason } from '../api/reasons.ts';
import { bindingEventSubject, type SecretBinding } from '../api/types.ts';
import type { EventRecorder } from '../kube/events.ts';
import { decideInjections, podPatch, type Injection } from './pod-mutator.ts';
import type { PodLike } from './pod.ts';
import type { WebhookTls } from './webhook-certificates.ts';
import { WEBHOOK_PATH } from './webhook-registration.ts';

const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface WebhookDeps {
  /** Bindings of a namespace; undefined when this operator does not watch the namespace. */
  bindingsIn(namespace: string): SecretBinding[] | undefined;
  events: EventRecorder;
  logger: Logger;
  workloadKinds?: string[];
  /** Told of every decision (audit trail, metrics). */
  onDecision?(pod: PodLike, namespace: string, injection: Injection, dryRun: boolean): void;
  /** More POST endpoints on the same listener and certificate (the access audit's /audit). */
  routes?: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>;
}

interface AdmissionRequest {
  uid: string;
  namespace?: string;
  operation?: string;
  dryRun?: boolean;
  object?: PodLike;
}

export interface WebhookServer {
  port: number;
  /** Serves a renewed certificate to new connections. */
  updateTls(tls: WebhookTls): void;
  close(): Promise<void>;
}

export async function serveWebhook(
  address: { host?: string; port: number },
  tls: WebhookTls,
  deps: WebhookDeps,
): Promise<WebhookServer> {
  const server = https.createServer(
    { cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' },
    (req, res) => {
      const route = req.method === 'POST' ? deps.routes?.[(req.url ?? '').split('?')[0]!] : undefined;
      if (route) {
        route(req, res);
        return;
      }
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== WEBHOOK_PATH) {
        res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy();
        else chunks.push(chunk);
      });
      req.on('end', () => {
        let request: AdmissionRequest | undefined;
        try {
          request = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: AdmissionRequest })
            .request;
        } catch {
          res.writeHead(400).end('not an AdmissionReview');
          return;
        }
        const response = request ? admit(request, deps) : { uid: '', allowed: true };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    updateTls: (next) => server.setSecureContext({ cert: next.certPem, key: next.keyPem }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** One admission decision. Anything unexpected admits the pod unchanged: the webhook must never block a cluster. */
export function admit(request: AdmissionRequest, deps: WebhookDeps) {
  const allow = { uid: request.uid, allowed: true };
  const pod = request.object;
  const namespace = request.namespace ?? pod?.metadata.namespace;
  if (request.operation !== 'CREATE' || !pod?.spec || !namespace) return allow;
  try {
    // A binding its store's policy denies gets nothing injected either.
    const bindings = deps
      .bindingsIn(namespace)
      ?.filter((b) => b.status?.conditions?.find((c) => c.type === 'Ready')?.reason !== 'PolicyDenied');
    if (!bindings || bindings.length === 0) return allow;
    const injections = decideInjections(pod, bindings, deps.workloadKinds);
    const dryRun = request.dryRun === true;
    for (const injection of injections) {
      deps.onDecision?.(pod, namespace, injection, dryRun);
      if (!injection.injected && !dryRun) {
        const podName = pod.metadata.name || `${pod.metadata.generateName ?? ''}*`;
        deps.events.emit(
          bindingEventSubject(injection.binding, namespace),
          'Warning',
          EventReason.InjectionDenied,
          `pod "${podName}" ${injection.deny ? 'rejected' : 'admitted without the Secret'}: ${injection.reason}`,
        );
      }
    }
    const denied = injections.find(
      (i): i is Extract<Injection, { injected: false }> => !i.injected && i.deny,
    );
    if (denied) {
      return {
        uid: request.uid,
        allowed: false,
        status: {
          code: 403,
          reason: 'Forbidden',
          message: `mlsecrets: SecretBinding "${denied.binding.metadata.name}" requires it: ${denied.reason}`,
        },
      };
    }
    const patch = podPatch(pod, injections);
    if (patch.length === 0) return allow;
    return { ...allow, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') };
  } catch (error) {
    deps.logger.error('pod webhook failed; admitting the pod unchanged', {
      namespace,
      error: (error as Error)?.name,
    });
    return allow;
  }
}

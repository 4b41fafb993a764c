// What a cluster admin needs to point kube-apiserver's audit webhook at the operator: a bearer
// token the operator checks, and a ready kubeconfig (address, CA, token) published in the
// Secret `mlsecrets-audit-webhook` of the operator namespace (docs/access-audit.md, "Wiring").
import { randomBytes } from 'node:crypto';
import { dump } from 'js-yaml';
import type { Clock } from '../runtime/clock.ts';
import { ownSecretValue } from '../kube/install-key.ts';
import type { KubeHttp } from '../runtime/http.ts';

export const AUDIT_WEBHOOK_SECRET = 'mlsecrets-audit-webhook';
export const AUDIT_PATH = '/audit';
/** A token changed in the Secret (rotated by hand) is picked up within this long. */
const TOKEN_REREAD_MS = 60_000;

/** The bearer token kube-apiserver presents: created once, re-read now and then (rotation). */
export class AuditToken {
  private value?: string;
  private readAt = -Infinity;
  private readonly http: KubeHttp;
  private readonly namespace: string;
  private readonly clock: Clock;

  constructor(http: KubeHttp, namespace: string, clock: Clock) {
    this.http = http;
    this.namespace = namespace;
    this.clock = clock;
  }

  async get(): Promise<string> {
    if (this.value === undefined || this.clock.now() - this.readAt >= TOKEN_REREAD_MS) {
      const encoded = await ownSecretValue(
        this.http,
        this.namespace,
        AUDIT_WEBHOOK_SECRET,
        'token',
        'audit-webhook',
        () => Buffer.from(randomBytes(32).toString('base64url')).toString('base64'),
      );
      this.value = Buffer.from(encoded, 'base64').toString('utf8');
      this.readAt = this.clock.now();
    }
    return this.value;
  }
}

/** The kubeconfig kube-apiserver's --audit-webhook-config-file takes. */
export function auditWebhookKubeconfig(input: {
  url: string;
  caBundle: string;
  /** The name the serving certificate carries, when `url` addresses an IP (a Service's cluster IP). */
  serverName?: string;
  token: string;
}): string {
  return dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'mlsecrets',
        cluster: {
          server: input.url,
          'certificate-authority-data': Buffer.from(input.caBundle).toString('base64'),
          ...(input.serverName ? { 'tls-server-name': input.serverName } : {}),
        },
      },
    ],
    users: [{ name: 'kube-apiserver', user: { token: input.token } }],
    contexts: [{ name: 'mlsecrets', context: { cluster: 'mlsecrets', user: 'kube-apiserver' } }],
    'current-context': 'mlsecrets',
  });
}

/**
 * Where kube-apiserver reaches the endpoint: --access-audit-url; else --webhook-url's host
 * (outside a cluster); else the webhook Service's cluster IP, with its DNS name for TLS (a
 * control-plane host resolves no cluster names, but kube-proxy routes cluster IPs).
 */
export async function auditWebhookAddress(
  http: KubeHttp,
  options: { url?: string; webhookUrl?: string; namespace: string; service: string },
): Promise<{ url: string; serverName?: string }> {
  if (options.url) return { url: options.url };
  if (options.webhookUrl) return { url: new URL(AUDIT_PATH, options.webhookUrl).toString() };
  const service = await http.request<{ spec?: { clusterIP?: string; ports?: { port: number }[] } }>(
    'GET',
    `/api/v1/namespaces/${options.namespace}/services/${options.service}`,
  );
  const ip = service.spec?.clusterIP;
  if (!ip || ip === 'None')
    throw new Error(`Service ${options.namespace}/${options.service} has no cluster IP`);
  const port = service.spec?.ports?.[0]?.port ?? 443;
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return {
    url: `https://${host}:${port}${AUDIT_PATH}`,
    serverName: `${options.service}.${options.namespace}.svc`,
  };
}

/** Writes the kubeconfig into the Secret beside the token, when it changed. */
export async function publishAuditKubeconfig(
  http: KubeHttp,
  namespace: string,
  kubeconfig: string,
): Promise<void> {
  const path = `/api/v1/namespaces/${namespace}/secrets/${AUDIT_WEBHOOK_SECRET}`;
  const secret = await http.request<{ data?: Record<string, string> }>('GET', path);
  const encoded = Buffer.from(kubeconfig).toString('base64');
  if (secret.data?.kubeconfig === encoded) return;
  await http.request('PATCH', path, {
    contentType: 'application/merge-patch+json',
    body: { data: { kubeconfig: encoded } },
  });
}

/** The operator's own user name as the API server authenticates it (a SelfSubjectReview). */
export async function ownUserName(http: KubeHttp): Promise<string> {
  let review: { status?: { userInfo?: { username?: string } } };
  try {
    review = await http.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: {} },
    });
  } catch (error) {
    // Without its own name the operator would flag its own reads: it does not start so.
    throw new Error(
      `--access-audit: the operator could not learn its user name (SelfSubjectReview, Kubernetes 1.28 and later): ${(error as Error).message}`,
    );
  }
  const name = review.status?.userInfo?.username;
  if (!name) throw new Error('SelfSubjectReview returned no user name');
  return name;
}

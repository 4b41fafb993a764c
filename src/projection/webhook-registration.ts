// The MutatingWebhookConfiguration the operator owns the caBundle of (docs/architecture.md,
// "The pod webhook and attestation").
import { isNotFound, type KubeHttp } from '../runtime/http.ts';

export const WEBHOOK_CONFIGURATION = 'mlsecrets-pod-injector';
export const WEBHOOK_NAME = 'pods.mlsecrets.io';
export const WEBHOOK_PATH = '/mutate-pods';
/** A namespace labelled with this (value "disabled") is never injected into. */
export const INJECTION_OPT_OUT_LABEL = 'mlsecrets.io/injection';

const PATH = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations`;

export interface RegistrationOptions {
  http: KubeHttp;
  caBundle: string;
  operatorNamespace: string;
  failurePolicy: 'Ignore' | 'Fail';
  /** Outside a cluster: the address kube-apiserver calls (https://127.0.0.1:9443). */
  url?: string;
}

/**
 * Outside a cluster (`url` set) the operator writes the whole configuration. In a cluster the
 * chart creates it pointing at the operator's Service, and the operator only keeps its
 * caBundle current. The webhook can never block the cluster: `Ignore` by default, a short
 * timeout, and kube-system and the operator's own namespace excluded.
 */
export async function registerWebhook(
  options: RegistrationOptions,
): Promise<'created' | 'updated' | 'caBundle' | 'missing'> {
  const caBundle = Buffer.from(options.caBundle).toString('base64');
  let existing:
    | {
        metadata: { resourceVersion: string };
        webhooks?: { name: string; clientConfig: Record<string, unknown> }[];
      }
    | undefined;
  try {
    existing = await options.http.request('GET', `${PATH}/${WEBHOOK_CONFIGURATION}`);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  if (options.url) {
    const body = desiredConfiguration(options, caBundle);
    if (existing) {
      await options.http.request('PUT', `${PATH}/${WEBHOOK_CONFIGURATION}`, {
        body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata.resourceVersion } },
      });
      return 'updated';
    }
    await options.http.request('POST', PATH, { body });
    return 'created';
  }
  if (!existing) return 'missing';
  const webhooks = (existing.webhooks ?? []).map((w) => ({
    ...w,
    clientConfig: { ...w.clientConfig, caBundle },
  }));
  await options.http.request('PATCH', `${PATH}/${WEBHOOK_CONFIGURATION}`, {
    body: { webhooks },
    contentType: 'application/merge-patch+json',
  });
  return 'caBundle';
}

function desiredConfiguration(options: RegistrationOptions, caBundle: string) {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: WEBHOOK_CONFIGURATION,
      labels: { 'app.kubernetes.io/name': 'mlsecrets', 'app.kubernetes.io/managed-by': 'mlsecrets' },
    },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        admissionReviewVersions: ['v1'],
        // InjectionDenied Events are side effects; none are made for dry-run requests.
        sideEffects: 'NoneOnDryRun',
        failurePolicy: options.failurePolicy,
        timeoutSeconds: 5,
        reinvocationPolicy: 'Never',
        matchPolicy: 'Equivalent',
        rules: [
          {
            operations: ['CREATE'],
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['pods'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: {
          matchExpressions: [
            {
              key: 'kubernetes.io/metadata.name',
              operator: 'NotIn',
              values: ['kube-system', options.operatorNamespace],
            },
            { key: INJECTION_OPT_OUT_LABEL, operator: 'NotIn', values: ['disabled'] },
          ],
        },
        clientConfig: { url: `${options.url!.replace(/\/$/, '')}${WEBHOOK_PATH}`, caBundle },
      },
    ],
  };
}

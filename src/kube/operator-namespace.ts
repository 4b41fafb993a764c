// The operator's own namespace (its data-hash key, webhook certificate and Leases), made sure of
// at start when the operator runs outside a cluster; see createOperatorNamespace in config.ts.
import type { Logger } from 'winston';
import { isConflict, isNotFound, KubeApiError, type KubeHttp } from '../runtime/http.ts';

/**
 * Creates `namespace` if it does not exist. Fails with one message naming the namespace and
 * --operator-namespace when it is being deleted or cannot be created. A kubeconfig that may not
 * read namespaces is let through: the namespace may well exist, and the data-hash key, the
 * first thing stored in it, reports it if not.
 */
export async function ensureOperatorNamespace(
  http: KubeHttp,
  namespace: string,
  logger: Logger,
): Promise<void> {
  const path = '/api/v1/namespaces';
  let phase: string | undefined;
  try {
    const existing = await http.request<{ status?: { phase?: string } }>('GET', `${path}/${namespace}`);
    phase = existing.status?.phase ?? 'Active';
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 403) {
      logger.debug('may not read the operator namespace; not creating it', { namespace });
      return;
    }
    if (!isNotFound(error)) throw error;
  }
  if (phase === 'Terminating') {
    throw new Error(
      `namespace "${namespace}" (the operator namespace) is being deleted: wait until it is gone, or set --operator-namespace`,
    );
  }
  if (phase) return;
  try {
    await http.request('POST', path, {
      body: {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': 'mlsecrets' } },
      },
      discardResponse: true,
    });
  } catch (error) {
    if (isConflict(error)) return; // created meanwhile (another replica, or a person)
    const why = error instanceof KubeApiError ? `${error.status} ${error.reason}` : (error as Error)?.message;
    throw new Error(
      `namespace "${namespace}" (the operator namespace) does not exist and could not be created (${why}): ` +
        `create it (kubectl create namespace ${namespace}), or set --operator-namespace to an existing namespace`,
    );
  }
  logger.info('created the operator namespace (running outside a cluster)', { namespace });
}

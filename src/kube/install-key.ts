import { randomBytes } from 'node:crypto';
import { isConflict, isNotFound, type KubeHttp } from '../runtime/http.ts';

export const INSTALL_KEY_SECRET = 'mlsecrets-data-hash-key';

/**
 * The per-install HMAC key, kept in a Secret of the operator's namespace so that every
 * replica, and every restart, hashes alike. Created on first start; replicas racing to
 * create it all end up reading the one that won.
 */
export async function loadInstallKey(http: KubeHttp, namespace: string): Promise<Buffer> {
  const key = await ownSecretValue(http, namespace, INSTALL_KEY_SECRET, 'key', 'data-hash-key', () =>
    randomBytes(32).toString('base64'),
  );
  return Buffer.from(key, 'base64');
}

/**
 * One key of one of the operator's own Secrets, created with `generate()` (base64) when the
 * Secret is missing. Replicas racing to create it all end up reading the one that won; a
 * Secret made beforehand (by a person, or a test) is used as it is.
 */
export async function ownSecretValue(
  http: KubeHttp,
  namespace: string,
  name: string,
  key: string,
  component: string,
  generate: () => string,
): Promise<string> {
  const path = `/api/v1/namespaces/${namespace}/secrets`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const secret = await http.request<{ data?: Record<string, string> }>('GET', `${path}/${name}`);
      const value = secret.data?.[key];
      if (!value) throw new Error(`Secret ${namespace}/${name} has no "${key}"`);
      return value;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    try {
      await http.request('POST', path, {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name,
            namespace,
            labels: { 'app.kubernetes.io/name': 'mlsecrets', 'app.kubernetes.io/component': component },
          },
          type: 'Opaque',
          data: { [key]: generate() },
        },
      });
    } catch (error) {
      if (isNotFound(error)) {
        throw new Error(`namespace "${namespace}" does not exist: create it, or set --operator-namespace`);
      }
      if (!isConflict(error)) throw error;
    }
  }
  throw new Error(`could not read or create Secret ${namespace}/${name}`);
}

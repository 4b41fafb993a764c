import { randomBytes } from 'node:crypto';
import { isConflict, isNotFound, type KubeHttp } from '../runtime/http.ts';

export const INSTALL_KEY_SECRET = 'mlsecrets-data-hash-key';

/**
 * The per-install HMAC key, kept in a Secret of the operator's namespace so that every
 * replica, and every restart, hashes alike. Created on first start; replicas racing to
 * create it all end up reading the one that won.
 */
export async function loadInstallKey(http: KubeHttp, namespace: string): Promise<Buffer> {
  const path = `/api/v1/namespaces/${namespace}/secrets`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const secret = await http.request<{ data?: Record<string, string> }>(
        'GET',
        `${path}/${INSTALL_KEY_SECRET}`,
      );
      const key = secret.data?.key;
      if (!key) throw new Error(`Secret ${namespace}/${INSTALL_KEY_SECRET} has no "key"`);
      return Buffer.from(key, 'base64');
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    try {
      await http.request('POST', path, {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: INSTALL_KEY_SECRET,
            namespace,
            labels: { 'app.kubernetes.io/name': 'mlsecrets', 'app.kubernetes.io/component': 'data-hash-key' },
          },
          type: 'Opaque',
          data: { key: randomBytes(32).toString('base64') },
        },
      });
    } catch (error) {
      if (isNotFound(error)) {
        throw new Error(`namespace "${namespace}" does not exist: create it, or set --operator-namespace`);
      }
      if (!isConflict(error)) throw error;
    }
  }
  throw new Error(`could not read or create Secret ${namespace}/${INSTALL_KEY_SECRET}`);
}

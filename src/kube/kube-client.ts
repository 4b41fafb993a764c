// The writes and direct reads the operator makes, as narrow interfaces (reconcilers get fakes
// in unit tests) and one implementation over KubeHttp.
import { API_VERSION, PLURALS, type StoreKind } from '../api/types.ts';
import { FIELD_MANAGER } from '../api/labels.ts';
import { isValidSecretName } from '../api/names.ts';
import { isNotFound, KubeApiError, type KubeHttp } from '../runtime/http.ts';
import type { KubeObject } from '../runtime/informer.ts';

/** A Secret as the API serves it (data base64-encoded). */
export interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  immutable?: boolean;
}

export interface SecretWriter {
  /**
   * A direct read, for the rare Secret that is not in the managed-Secret cache. With
   * `watchCache`, the API server answers from its watch cache (resourceVersion "0": no etcd
   * read, at most a moment behind), enough to ask whether a Secret exists at all.
   */
  getSecret(
    namespace: string,
    name: string,
    options?: { watchCache?: boolean },
  ): Promise<SecretObject | undefined>;
  /** Server-side apply with field manager "mlsecrets", taking over conflicting fields. */
  applySecret(secret: SecretObject): Promise<void>;
  /** Removes data keys that others added to a managed Secret (apply does not remove what it does not own). */
  removeSecretKeys(namespace: string, name: string, keys: string[]): Promise<void>;
  /** Deletes a Secret; with `uid`, only that incarnation of it. */
  deleteSecret(namespace: string, name: string, uid?: string): Promise<void>;
}

export interface StatusWriter {
  /** Merge-patches the status subresource of a mlsecrets resource. */
  patchStatus(
    kind: 'SecretBinding' | StoreKind,
    namespace: string | undefined,
    name: string,
    status: unknown,
  ): Promise<void>;
}

/**
 * A name or namespace as one segment of an API path. Names come from specs (a remote key of the
 * kubernetes provider, a target or credentials Secret name): unchecked, "../../other/secrets/x"
 * would climb out of the namespace (URL resolution removes the dot segments) and "." or ".."
 * would address the collection or the namespace. No Kubernetes object can have such a name, so
 * one is refused here (HTTP 422, as the API would answer a create) and the rest is encoded.
 */
export function pathSegment(value: string): string {
  if (value === '' || value === '.' || value === '..' || value.includes('/') || value.includes('%'))
    throw new KubeApiError(422, 'Invalid', `"${value}" is not a valid object name`);
  return encodeURIComponent(value);
}

/** The collection path of a kind, optionally in one namespace. */
export function collectionPath(kind: 'SecretBinding' | StoreKind | 'Secret', namespace?: string): string {
  const ns = namespace ? pathSegment(namespace) : undefined;
  if (kind === 'Secret') return ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets';
  const base = `/apis/${API_VERSION}`;
  return ns ? `${base}/namespaces/${ns}/${PLURALS[kind]}` : `${base}/${PLURALS[kind]}`;
}

/** The path of one object: its collection and its name, both checked and encoded. */
export function objectPath(
  kind: 'SecretBinding' | StoreKind | 'Secret',
  namespace: string | undefined,
  name: string,
): string {
  return `${collectionPath(kind, namespace)}/${pathSegment(name)}`;
}

export class KubeClient implements SecretWriter, StatusWriter {
  private readonly http: KubeHttp;

  constructor(http: KubeHttp) {
    this.http = http;
  }

  async getSecret(
    namespace: string,
    name: string,
    options: { watchCache?: boolean } = {},
  ): Promise<SecretObject | undefined> {
    try {
      // No Secret can have an invalid name: it does not exist (and is never put in a path).
      if (!isValidSecretName(name)) return undefined;
      return await this.http.request<SecretObject>('GET', objectPath('Secret', namespace, name), {
        query: options.watchCache ? { resourceVersion: '0' } : undefined,
      });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async readSecret(namespace: string, name: string) {
    const secret = await this.getSecret(namespace, name);
    if (!secret) return undefined;
    const data = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    );
    return { data, resourceVersion: secret.metadata.resourceVersion ?? '' };
  }

  async listSecrets(namespace: string, labelSelector?: string) {
    const list = await this.http.request<{ items: SecretObject[] }>(
      'GET',
      collectionPath('Secret', namespace),
      {
        query: { labelSelector },
      },
    );
    return list.items.map((secret) => ({
      name: secret.metadata.name!,
      data: Object.fromEntries(
        Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
      ),
      resourceVersion: secret.metadata.resourceVersion ?? '',
    }));
  }

  /** A service account's token from the TokenRequest API (a store's Kubernetes login to Vault). */
  async requestToken(
    namespace: string,
    name: string,
    audiences: string[],
    expirationSeconds: number,
  ): Promise<string> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`;
    const answer = await this.http.request<{ status?: { token?: string } }>('POST', path, {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences, expirationSeconds },
      },
    });
    if (!answer.status?.token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
    return answer.status.token;
  }

  async applySecret(secret: SecretObject): Promise<void> {
    const { namespace, name } = secret.metadata;
    await this.http.request('PATCH', objectPath('Secret', namespace, name ?? ''), {
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: { apiVersion: 'v1', kind: 'Secret', ...secret },
      contentType: 'application/apply-patch+yaml',
      discardResponse: true,
    });
  }

  async removeSecretKeys(namespace: string, name: string, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.http.request('PATCH', objectPath('Secret', namespace, name), {
      body: { data: Object.fromEntries(keys.map((k) => [k, null])) },
      contentType: 'application/merge-patch+json',
      discardResponse: true,
    });
  }

  async deleteSecret(namespace: string, name: string, uid?: string): Promise<void> {
    try {
      await this.http.request('DELETE', objectPath('Secret', namespace, name), {
        body: uid ? { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid } } : undefined,
        discardResponse: true,
      });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async patchStatus(
    kind: 'SecretBinding' | StoreKind,
    namespace: string | undefined,
    name: string,
    status: unknown,
  ) {
    await this.http.request('PATCH', `${objectPath(kind, namespace, name)}/status`, {
      body: { status },
      contentType: 'application/merge-patch+json',
      discardResponse: true,
    });
  }
}

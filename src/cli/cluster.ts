// The CLI's view of a cluster: kubeconfig loading and the few reads and dry runs the commands make.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import type { SecretBinding, Store, StoreKind } from '../api/types.ts';
import { API_VERSION } from '../api/types.ts';
import { isNotFound, KubeApiError, KubeHttp, type RequestOptions } from '../runtime/http.ts';
import { collectionPath } from '../kube/kube-client.ts';
import { UsageError } from './cli-io.ts';

/** The field manager of the CLI's dry-run applies (never persisted: every apply is a dry run). */
export const CLI_FIELD_MANAGER = 'mlsecrets-cli';

/**
 * Loads the kubeconfig as kubectl does: `--kubeconfig`, else `$KUBECONFIG` (the first file of
 * the list that exists), else `~/.kube/config`, else the in-cluster service account.
 * @throws UsageError when none is usable.
 */
export function loadKubeConfig(
  explicit: string | undefined,
  env: Record<string, string | undefined>,
): KubeConfig {
  const kubeConfig = new KubeConfig();
  const fromFile = (file: string) => {
    try {
      kubeConfig.loadFromFile(file);
    } catch (error) {
      throw new UsageError(`cannot load kubeconfig ${file}: ${(error as Error).message}`);
    }
  };
  if (explicit) {
    if (!existsSync(explicit)) throw new UsageError(`kubeconfig ${explicit} does not exist`);
    fromFile(explicit);
  } else if (env.KUBECONFIG) {
    const file = env.KUBECONFIG.split(path.delimiter).find((f) => f !== '' && existsSync(f));
    if (!file) throw new UsageError(`no file of KUBECONFIG=${env.KUBECONFIG} exists`);
    fromFile(file);
  } else if (env.HOME && existsSync(path.join(env.HOME, '.kube', 'config'))) {
    fromFile(path.join(env.HOME, '.kube', 'config'));
  } else if (env.KUBERNETES_SERVICE_HOST) {
    kubeConfig.loadFromCluster();
  } else {
    throw new UsageError('no kubeconfig: pass --kubeconfig PATH, set KUBECONFIG, or create ~/.kube/config');
  }
  if (!kubeConfig.getCurrentCluster())
    throw new UsageError('the kubeconfig has no current context or cluster');
  return kubeConfig;
}

/** A Secret without its data: the CLI never needs, and so never receives, a value. */
export interface SecretSummary {
  namespace: string;
  name: string;
  type: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  creationTimestamp?: string;
}

interface ListOf<T> {
  items: T[];
  metadata?: { continue?: string };
}

interface TableResponse {
  columnDefinitions?: { name: string }[];
  rows?: {
    cells: unknown[];
    object?: {
      metadata?: {
        name?: string;
        namespace?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
        creationTimestamp?: string;
      };
    };
  }[];
  metadata?: { continue?: string };
}

const PAGE = 500;

/** Reads and dry runs against one cluster, over the operator's JSON client. */
export class Cluster {
  readonly server: string;
  private readonly kubeConfig: KubeConfig;
  private readonly http: KubeHttp;

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = kubeConfig;
    this.http = new KubeHttp(kubeConfig);
    this.server = kubeConfig.getCurrentCluster()!.server;
  }

  /** The namespace of the kubeconfig's current context, as kubectl uses it by default. */
  defaultNamespace(): string {
    return this.kubeConfig.getContextObject(this.kubeConfig.getCurrentContext())?.namespace || 'default';
  }

  /** Whether the API server serves the mlsecrets CRDs. */
  async servesMlsecrets(): Promise<boolean> {
    return (await this.getOrUndefined(`/apis/${API_VERSION}`)) !== undefined;
  }

  /** A namespace's labels; undefined when it does not exist. */
  async namespaceLabels(namespace: string): Promise<Record<string, string> | undefined> {
    const ns = await this.getOrUndefined<{ metadata?: { labels?: Record<string, string> } }>(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}`,
    );
    return ns ? (ns.metadata?.labels ?? {}) : undefined;
  }

  async getStore(kind: StoreKind, namespace: string | undefined, name: string): Promise<Store | undefined> {
    return this.getOrUndefined<Store>(`${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`);
  }

  /**
   * A server-side apply with dryRun=All and strict field validation: admission, the schema and
   * its CEL rules run as for a real `kubectl apply --server-side`, and nothing is stored.
   * Resolves the API server's objection, or undefined when it accepts the object.
   */
  async dryRunApply(
    kind: 'SecretBinding' | StoreKind,
    namespace: string | undefined,
    object: Record<string, unknown>,
  ): Promise<string | undefined> {
    const metadata = object.metadata as { name: string };
    try {
      await this.request('PATCH', `${collectionPath(kind, namespace)}/${encodeURIComponent(metadata.name)}`, {
        query: { dryRun: 'All', fieldManager: CLI_FIELD_MANAGER, force: true, fieldValidation: 'Strict' },
        body: object,
        contentType: 'application/apply-patch+yaml',
      });
      return undefined;
    } catch (error) {
      if (error instanceof KubeApiError) return error.message;
      throw error;
    }
  }

  /**
   * The logs of the pods a label selector finds in a namespace, since `sinceSeconds` ago (the
   * operator's, whose audit trail goes to stdout by default).
   */
  async podLogs(namespace: string, labelSelector: string, sinceSeconds: number): Promise<string[]> {
    const pods = await this.listAll<{ metadata: { name: string } }>(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      { labelSelector },
    );
    return Promise.all(
      pods.map((pod) =>
        this.request<string>(
          'GET',
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod.metadata.name)}/log`,
          {
            query: { sinceSeconds },
            text: true,
          },
        ),
      ),
    );
  }

  async listBindings(namespace?: string): Promise<SecretBinding[]> {
    return this.listAll<SecretBinding>(collectionPath('SecretBinding', namespace));
  }

  /** SecretStores (of one namespace, or all) and every ClusterSecretStore. */
  async listStores(namespace?: string): Promise<Store[]> {
    const [namespaced, cluster] = await Promise.all([
      this.listAll<Store>(collectionPath('SecretStore', namespace)),
      this.listAll<Store>(collectionPath('ClusterSecretStore')),
    ]);
    return [
      ...namespaced.map((s) => ({ ...s, kind: 'SecretStore' as const })),
      ...cluster.map((s) => ({ ...s, kind: 'ClusterSecretStore' as const })),
    ];
  }

  /**
   * Secrets of one namespace (or all), without their data: requested as a server-side Table
   * with metadata-only objects, so no secret value ever reaches the CLI, its memory or a
   * debugging proxy, while the Secret type still comes along (it is not part of metadata).
   */
  async listSecretSummaries(namespace?: string): Promise<SecretSummary[]> {
    const out: SecretSummary[] = [];
    let next: string | undefined;
    do {
      const table = await this.table(collectionPath('Secret', namespace), {
        includeObject: 'Metadata',
        limit: PAGE,
        continue: next,
      });
      const typeColumn = (table.columnDefinitions ?? []).findIndex((c) => c.name.toLowerCase() === 'type');
      for (const row of table.rows ?? []) {
        const metadata = row.object?.metadata ?? {};
        out.push({
          namespace: metadata.namespace ?? '',
          name: metadata.name ?? '',
          type: typeColumn >= 0 ? String(row.cells[typeColumn] ?? '') : '',
          labels: metadata.labels ?? {},
          annotations: metadata.annotations ?? {},
          creationTimestamp: metadata.creationTimestamp,
        });
      }
      next = table.metadata?.continue || undefined;
    } while (next);
    return out;
  }

  private async listAll<T>(collection: string, query: Record<string, string> = {}): Promise<T[]> {
    const items: T[] = [];
    let next: string | undefined;
    do {
      const list = await this.request<ListOf<T>>('GET', collection, {
        query: { ...query, limit: PAGE, continue: next },
      });
      items.push(...list.items);
      next = list.metadata?.continue || undefined;
    } while (next);
    return items;
  }

  private async getOrUndefined<T>(apiPath: string): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', apiPath);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async request<T>(
    method: keyof typeof HttpMethod,
    apiPath: string,
    options: RequestOptions = {},
  ): Promise<T> {
    try {
      return await this.http.request<T>(method, apiPath, options);
    } catch (error) {
      throw this.unreachable(error);
    }
  }

  /** KubeHttp asks for plain JSON; a Table needs its own Accept header, so this one request is made here. */
  private async table(
    apiPath: string,
    query: Record<string, string | number | undefined>,
  ): Promise<TableResponse> {
    const url = new URL(this.server.replace(/\/$/, '') + apiPath);
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(key, String(value));
    const context = new RequestContext(url.toString(), HttpMethod.GET);
    await this.kubeConfig.applySecurityAuthentication(context);
    let response;
    try {
      response = await fetch(url, {
        method: 'GET',
        headers: { ...context.getHeaders(), accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
        dispatcher: context.getDispatcher(),
      });
    } catch (error) {
      throw this.unreachable(error);
    }
    const text = await response.text();
    if (!response.ok) {
      let parsed: { reason?: string; message?: string } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        // not a Status object: the text itself is the message
      }
      throw new KubeApiError(
        response.status,
        parsed.reason ?? 'Unknown',
        parsed.message ?? (text.slice(0, 500) || `HTTP ${response.status}`),
      );
    }
    return JSON.parse(text) as TableResponse;
  }

  /** Connection failures say which server could not be reached, not just "fetch failed". */
  private unreachable(error: unknown): unknown {
    // fetch() reports every network failure as TypeError("fetch failed") with the reason as its
    // cause; undici's request() (KubeHttp) rejects with the network error itself.
    const fetchFailed = error instanceof TypeError && error.message === 'fetch failed';
    const cause = (fetchFailed ? (error as Error & { cause?: unknown }).cause : error) as
      { code?: unknown; message?: string } | undefined;
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    const network = code !== undefined && (/^E[A-Z]+$/.test(code) || code.startsWith('UND_ERR_'));
    if (!fetchFailed && !network) return error;
    const why = code ?? cause?.message ?? (error as Error).message;
    return new UsageError(`cannot reach the Kubernetes API at ${this.server}: ${why}`);
  }
}

import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { clientNodeConnection, type KubeConnection } from './connection.ts';

/** A failed Kubernetes API call: the HTTP status and the API's own reason and message. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 404;
}
export function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 409;
}
export function isGone(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 410;
}

/** The HTTP methods the operator uses. */
export type HttpVerb = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | 'CONNECT' | 'TRACE';

export type ContentType =
  | 'application/json'
  | 'application/merge-patch+json'
  | 'application/apply-patch+yaml'
  | 'application/json-patch+json';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: ContentType;
  signal?: AbortSignal;
}

/**
 * Plain JSON over the Kubernetes API, with a KubeConnection (connection.ts) doing
 * authentication and TLS over one shared connection pool. The generated typed clients convert every object through a serializer (dates into
 * Date objects and back), which is measurable at 10,000 objects; the operator only needs JSON.
 */
export class KubeHttp {
  private readonly connection: Promise<KubeConnection>;

  /**
   * From a connection (what the operator's main builds, see connection.ts), or from
   * client-node's KubeConfig (tests, the CLI, the benchmark: any kubeconfig at all).
   */
  constructor(source: KubeConfig | KubeConnection) {
    if ('authenticate' in source) {
      this.connection = Promise.resolve(source);
    } else {
      if (!source.getCurrentCluster()) throw new Error('the kubeconfig has no current cluster');
      this.connection = clientNodeConnection(source);
      // Reported to the first request that awaits it, not as an unhandled rejection.
      this.connection.catch(() => undefined);
    }
  }

  /** One request; resolves the decoded JSON body, rejects with KubeApiError on a non-2xx. */
  async request<T>(method: HttpVerb, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await response.text();
    if (!response.ok) throw apiError(response.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * A watch: calls `onEvent` per line until the server closes the stream, the signal aborts,
   * or the connection fails. Resolves on a clean end, rejects on failure.
   */
  async watch(
    path: string,
    query: RequestOptions['query'],
    onEvent: (event: { type: string; object: Record<string, unknown> }) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const response = await this.send('GET', path, { query: { ...query, watch: true }, signal });
    if (!response.ok || !response.body) throw apiError(response.status, await response.text());
    const body = Readable.fromWeb(response.body as never);
    // When the caller aborts (or stops reading after an ERROR event) the body stream errors;
    // with no listener that error would be thrown as an uncaught exception and end the process.
    let streamError: unknown;
    body.on('error', (error) => (streamError ??= error));
    const lines = createInterface({ input: body, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        onEvent(JSON.parse(line) as { type: string; object: Record<string, unknown> });
      }
    } finally {
      lines.close();
      body.destroy();
    }
    // A stream that ended in an error (a reset connection) is a failed watch, not a clean close.
    if (streamError && !signal.aborted) throw streamError;
  }

  private async send(method: HttpVerb, path: string, options: RequestOptions) {
    const connection = await this.connection;
    const url = new URL(connection.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const auth = await connection.authenticate(method, url.toString());
    const headers: Record<string, string> = { ...auth.headers, accept: 'application/json' };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      body = JSON.stringify(options.body);
    }
    return fetch(url, { method, headers, body, dispatcher: auth.dispatcher, signal: options.signal });
  }
}

function apiError(status: number, text: string): KubeApiError {
  try {
    const parsed = JSON.parse(text) as { reason?: string; message?: string };
    return new KubeApiError(status, parsed.reason ?? 'Unknown', parsed.message ?? text);
  } catch {
    return new KubeApiError(status, 'Unknown', text.slice(0, 500) || `HTTP ${status}`);
  }
}

import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { getGlobalDispatcher, request as undiciRequest, type Dispatcher } from 'undici';
import { systemClock, type Clock } from './clock.ts';
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

/**
 * A write refused before it was sent: this replica no longer holds the leader Lease (see
 * LeaderElector.leaseValidUntil). Carries no status: nothing reached the API server.
 */
export class NotLeaderError extends Error {
  constructor(method: string) {
    super(`${method} refused: this replica does not hold the leader Lease`);
    this.name = 'NotLeaderError';
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
  /**
   * The caller has no use for the response: it is discarded unread (a write returns the whole
   * object, ~2 KB of JSON for a Secret or binding, which would be parsed only to be dropped).
   */
  discardResponse?: boolean;
  /** The Accept header; `application/json` unless a caller asks for object metadata only. */
  accept?: string;
  /** Resolve the body as text, not JSON (a pod's log). */
  text?: boolean;
}

/**
 * Plain JSON over the Kubernetes API, with a KubeConnection (connection.ts) doing
 * authentication and TLS over one shared connection pool. The generated typed clients convert every object through a serializer (dates into
 * Date objects and back), which is measurable at 10,000 objects; the operator only needs JSON.
 */
export class KubeHttp {
  private readonly connection: Promise<KubeConnection>;
  private readonly writableUntil?: () => number;
  /** What `writableUntil` is compared with: the clock the time it answers comes from. */
  private readonly clock: Clock;

  /**
   * From a connection (what the operator's main builds, see connection.ts), or from
   * client-node's KubeConfig (tests, the CLI, the benchmark: any kubeconfig at all).
   *
   * `writableUntil`, when given, is asked right before every request that is not a GET: the
   * time (epoch ms) until which this client may write. Past it the request is refused with
   * NotLeaderError; before it the request is aborted if it has not completed by then, so that
   * a write decided in time cannot go out later (a process paused while it was connecting
   * wakes with its timers first: the abort runs before the request could be sent).
   * The reconcilers' writes of a leader-elected replica: see LeaderElector.leaseValidUntil.
   * `clock` (default: the system clock) is the one `writableUntil` reads its time from, such
   * as the leader elector's: the time it answers is compared with this clock's now().
   */
  constructor(
    source: KubeConfig | KubeConnection,
    options: { writableUntil?: () => number; clock?: Clock } = {},
  ) {
    this.writableUntil = options.writableUntil;
    this.clock = options.clock ?? systemClock;
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
    if (options.discardResponse && ok(response.statusCode)) {
      await response.body.dump();
      return undefined as T;
    }
    const text = await response.body.text();
    if (!ok(response.statusCode)) throw apiError(response.statusCode, text);
    if (options.text) return text as T;
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
    accept?: string,
  ): Promise<void> {
    const response = await this.send('GET', path, { query: { ...query, watch: true }, signal, accept });
    if (!ok(response.statusCode)) throw apiError(response.statusCode, await response.body.text());
    const body: Readable = response.body;
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

  private async send(
    method: HttpVerb,
    path: string,
    options: RequestOptions,
  ): Promise<Dispatcher.ResponseData> {
    const connection = await this.connection;
    const url = new URL(connection.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const auth = await connection.authenticate(method, url.toString());
    const headers: Record<string, string> = { ...auth.headers, accept: options.accept ?? 'application/json' };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      body = JSON.stringify(options.body);
    }
    // Checked last, after every await, so that nothing can pass between the check and the send.
    let signal = options.signal;
    let dispatcher: Dispatcher | undefined = auth.dispatcher;
    if (method !== 'GET' && this.writableUntil) {
      const writableUntil = this.writableUntil;
      const clock = this.clock;
      const left = writableUntil() - clock.now();
      if (!(left > 0)) throw new NotLeaderError(method);
      if (Number.isFinite(left)) {
        const deadline = AbortSignal.timeout(Math.ceil(left));
        signal = signal ? AbortSignal.any([signal, deadline]) : deadline;
      }
      // And once more right before the first byte goes out: a request can wait for a
      // connection (a TLS handshake) through a pause of the whole process, and a process woken
      // from SIGSTOP handles its sockets before its timers. compose() wraps the shared pool,
      // it opens no connection of its own.
      dispatcher = (dispatcher ?? getGlobalDispatcher()).compose((dispatch) => (opts, handler) => {
        const start = handler.onRequestStart?.bind(handler);
        handler.onRequestStart = (controller, ctx) => {
          if (writableUntil() <= clock.now()) return controller.abort(new NotLeaderError(method));
          return start?.(controller, ctx);
        };
        return dispatch(opts, handler);
      });
    }
    // undici's request(), not fetch(): a fraction of fetch's CPU per call (no WHATWG streams,
    // watches read as a Node stream), and writes go out in one piece: fetch streams a body
    // after its headers, so a process paused in between would send the rest (and the API
    // server apply it) once it wakes up, whatever it checked before.
    return undiciRequest(url, { method, headers, body, dispatcher, signal });
  }
}

function ok(status: number): boolean {
  return status >= 200 && status < 300;
}

function apiError(status: number, text: string): KubeApiError {
  try {
    const parsed = JSON.parse(text) as { reason?: string; message?: string };
    return new KubeApiError(status, parsed.reason ?? 'Unknown', parsed.message ?? text);
  } catch {
    return new KubeApiError(status, 'Unknown', text.slice(0, 500) || `HTTP ${status}`);
  }
}

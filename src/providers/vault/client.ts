// Vault's HTTP API (OpenBao serves the same): JSON over HTTP(S), a token header, an optional
// namespace header. Answers that are not 2xx become a VaultHttpError carrying only the status
// and Vault's error strings, which classify() turns into a message of our own.
import http from 'node:http';
import https from 'node:https';

/** A Vault answer that was not 2xx, or a request that never got one. */
export class VaultHttpError extends Error {
  readonly status?: number;
  /** The transport's error code (ECONNREFUSED, CERT_HAS_EXPIRED, …) when no answer came. */
  readonly code?: string;
  readonly retryAfterMs?: number;
  constructor(message: string, options: { status?: number; code?: string; retryAfterMs?: number }) {
    super(message);
    this.name = 'VaultHttpError';
    this.status = options.status;
    this.code = options.code;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export interface VaultRequest {
  /** Vault's LIST is GET with ?list=true, which proxies pass unchanged. */
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Under /v1/, without the leading slash: "secret/data/ml/token". */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  token?: string;
}

/** The transport; a port so that unit tests can answer without a server. */
export interface VaultTransport {
  send<T>(request: VaultRequest): Promise<T | undefined>;
  close(): void;
}

const TIMEOUT_MS = 10_000;

export function httpTransport(options: { server: string; namespace?: string; ca?: string }): VaultTransport {
  const base = new URL(options.server);
  const secure = base.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, ...(options.ca ? { ca: options.ca } : {}) })
    : new http.Agent({ keepAlive: true });
  return {
    send<T>(request: VaultRequest): Promise<T | undefined> {
      const url = new URL(`/v1/${request.path}`, base);
      for (const [k, v] of Object.entries(request.query ?? {})) url.searchParams.set(k, v);
      const body = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body));
      const headers: Record<string, string> = { 'X-Vault-Request': 'true' };
      if (request.token) headers['X-Vault-Token'] = request.token;
      if (options.namespace) headers['X-Vault-Namespace'] = options.namespace;
      if (body) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(body.length);
      }
      return new Promise<T | undefined>((resolve, reject) => {
        const req = (secure ? https : http).request(
          url,
          { method: request.method, headers, agent, timeout: TIMEOUT_MS },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', (e: NodeJS.ErrnoException) =>
              reject(new VaultHttpError('the answer was cut off', { code: e.code ?? 'ECONNRESET' })),
            );
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              const status = res.statusCode ?? 0;
              let parsed: unknown;
              try {
                parsed = text ? JSON.parse(text) : undefined;
              } catch {
                parsed = undefined;
              }
              if (status >= 200 && status < 300) return resolve(parsed as T | undefined);
              const errors = (parsed as { errors?: unknown } | undefined)?.errors;
              const retryAfter = Number(res.headers['retry-after']);
              reject(
                new VaultHttpError(Array.isArray(errors) ? errors.map(String).join('; ') : `HTTP ${status}`, {
                  status,
                  retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
                }),
              );
            });
          },
        );
        req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
        req.on('error', (e: NodeJS.ErrnoException) =>
          reject(new VaultHttpError(e.code ?? 'request failed', { code: e.code ?? 'ECONNRESET' })),
        );
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}

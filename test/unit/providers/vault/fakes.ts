// A Vault that answers from memory, behind our VaultTransport port.
import {
  VaultHttpError,
  type VaultRequest,
  type VaultTransport,
} from '../../../../src/providers/vault/client.ts';

type Handler = (request: VaultRequest) => unknown;

export class FakeVault implements VaultTransport {
  readonly requests: VaultRequest[] = [];
  /** Tokens Vault accepts. */
  readonly tokens = new Set<string>(['root']);
  private readonly routes = new Map<string, Handler>();
  closed = false;

  on(method: VaultRequest['method'], path: string, handler: Handler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  async send<T>(request: VaultRequest): Promise<T | undefined> {
    this.requests.push(request);
    const handler = this.routes.get(`${request.method} ${request.path}`);
    const open = request.path.startsWith('auth/') && request.path.endsWith('/login');
    if (!open && (!request.token || !this.tokens.has(request.token)))
      throw new VaultHttpError('permission denied', { status: 403 });
    if (!handler) throw new VaultHttpError('not found', { status: 404 });
    return handler(request) as T;
  }

  close(): void {
    this.closed = true;
  }
}

export function fail(status: number): never {
  throw new VaultHttpError(`HTTP ${status}`, { status });
}

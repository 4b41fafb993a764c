// Values from a Vault (or OpenBao) KV engine, v2 or v1. A secret's data is a JSON object: the
// data layer picks properties from it as from any JSON value.
import type { VaultProvider as VaultSpec } from '../../api/types.ts';
import { readCredential } from '../credential-secret.ts';
import {
  ProviderError,
  StoreConfigError,
  type FindQuery,
  type LeasePort,
  type ProviderContext,
  type ProviderFactory,
  type RemoteRequest,
  type RemoteValue,
  type SecretsProvider,
} from '../provider.port.ts';
import { httpTransport, type VaultRequest, type VaultTransport } from './client.ts';
import { classify } from './errors.ts';
import { vaultLogin, type VaultLogin } from './auth.ts';
import { vaultLeases } from './leases.ts';

/** The most secrets one find lists and reads: a mount is walked one folder per call. */
const FIND_LIMIT = 500;

export const vaultProviderFactory: ProviderFactory = {
  id: 'vault',
  async create(spec, context) {
    const config = spec.vault!;
    if (!/^https?:\/\/[^/?#]+$/.test(config.server))
      throw new StoreConfigError('InvalidSpec', 'provider.vault.server must be http(s)://host[:port]');
    const transport = httpTransport({
      server: config.server,
      namespace: config.namespace,
      ca: await trustedCertificates(config, context),
    });
    try {
      return new VaultKv(config, transport, await vaultLogin(config, context, transport));
    } catch (error) {
      transport.close();
      throw error;
    }
  },
};

async function trustedCertificates(config: VaultSpec, context: ProviderContext): Promise<string | undefined> {
  if (config.caBundle) return Buffer.from(config.caBundle, 'base64').toString('utf8');
  if (config.caSecretRef)
    return readCredential(config.caSecretRef, context, 'provider.vault.caSecretRef', 'the CA certificates');
  return undefined;
}

interface KvV2Answer {
  data?: { data?: Record<string, unknown> | null; metadata?: { version?: number } };
}
interface KvV1Answer {
  data?: Record<string, unknown>;
}
interface ListAnswer {
  data?: { keys?: string[] };
}
interface MetadataAnswer {
  data?: { custom_metadata?: Record<string, string> | null };
}

export class VaultKv implements SecretsProvider {
  readonly name = 'vault';
  readonly maxBatch = 1;
  private readonly mount: string;
  private readonly v1: boolean;
  private readonly transport: VaultTransport;
  private readonly login: VaultLogin;
  /** generators.vault: leased credentials of any dynamic secrets engine of this server. */
  readonly leases: LeasePort;

  constructor(config: VaultSpec, transport: VaultTransport, login: VaultLogin) {
    this.mount = config.path ?? 'secret';
    this.v1 = config.version === 'v1';
    this.transport = transport;
    this.login = login;
    this.leases = vaultLeases((request, operation, onCall) => this.send(request, operation, onCall));
  }

  getSecrets(requests: RemoteRequest[], onCall: (operation: string) => void) {
    return Promise.all(
      requests.map((r) =>
        this.read(r, onCall).catch((e: unknown) => classify(e, this.call('reading', r.key))),
      ),
    );
  }

  async validate(onCall: (operation: string) => void): Promise<void> {
    await this.send({ method: 'GET', path: 'auth/token/lookup-self' }, 'LookupSelf', onCall).catch(
      (e: unknown) => {
        throw classify(e, { action: 'checking the token at', path: 'auth/token/lookup-self' });
      },
    );
  }

  async close(): Promise<void> {
    this.transport.close();
  }

  async find(query: FindQuery, onCall: (operation: string) => void): Promise<RemoteValue[]> {
    const pattern = query.nameRegexp === undefined ? undefined : new RegExp(query.nameRegexp);
    const prefix = trimSlashes(query.path ?? '');
    // A folder under the mount, never a way out of it (URLs resolve "..").
    if (prefix.split('/').some((s) => s === '..' || s === '.'))
      throw new ProviderError('Invalid', `find.path "${query.path}" is not a folder under the mount`);
    const names = (await this.list(prefix, onCall)).filter((n) => !pattern || pattern.test(n));
    const out: RemoteValue[] = [];
    for (const name of names) {
      if (query.tags && Object.keys(query.tags).length > 0) {
        if (this.v1)
          throw new ProviderError('Invalid', 'Vault KV v1 has no metadata: find by tags needs version v2');
        const metadata = await this.send<MetadataAnswer>(
          { method: 'GET', path: `${this.mount}/metadata/${name}` },
          'ReadMetadata',
          onCall,
        ).catch((e: unknown) => {
          throw classify(e, this.call('reading the metadata of', name));
        });
        const custom = metadata?.data?.custom_metadata ?? {};
        if (!Object.entries(query.tags).every(([k, v]) => custom[k] === v)) continue;
      }
      const value = await this.read({ key: name }, onCall).catch((e: unknown) => {
        throw classify(e, this.call('reading', name));
      });
      out.push(value);
    }
    return out;
  }

  /** Every secret path under `prefix`, recursively, up to FIND_LIMIT. */
  private async list(prefix: string, onCall: (operation: string) => void): Promise<string[]> {
    const found: string[] = [];
    const folders = [prefix];
    while (folders.length > 0 && found.length < FIND_LIMIT) {
      const folder = folders.shift()!;
      const path = this.v1 ? `${this.mount}/${folder}` : `${this.mount}/metadata/${folder}`;
      let answer: ListAnswer | undefined;
      try {
        answer = await this.send<ListAnswer>(
          { method: 'GET', path: trimSlashes(path), query: { list: 'true' } },
          'List',
          onCall,
        );
      } catch (error) {
        const classified = classify(error, this.call('listing', folder || '/'));
        if (classified.category === 'NotFound') continue; // an empty folder
        throw classified;
      }
      for (const key of answer?.data?.keys ?? []) {
        const full = folder ? `${trimSlashes(folder)}/${key}` : key;
        if (key.endsWith('/')) folders.push(full);
        else found.push(full);
      }
    }
    return found.slice(0, FIND_LIMIT);
  }

  private async read(request: RemoteRequest, onCall: (operation: string) => void): Promise<RemoteValue> {
    const key = trimSlashes(request.key);
    // A key is a path under the mount, never a way out of it.
    if (!key || key.split('/').some((s) => s === '..' || s === '.' || s === ''))
      throw new ProviderError('NotFound', `"${request.key}" is not a secret path`);
    if (this.v1) {
      if (request.version)
        throw new ProviderError('Invalid', `Vault KV v1 has no versions (asked for "${request.version}")`);
      const answer = await this.send<KvV1Answer>(
        { method: 'GET', path: `${this.mount}/${key}` },
        'Read',
        onCall,
      );
      return { key: request.key, value: Buffer.from(JSON.stringify(answer?.data ?? {})) };
    }
    if (request.version !== undefined && !/^[1-9][0-9]*$/.test(request.version))
      throw new ProviderError('Invalid', `Vault KV v2 versions are numbers (asked for "${request.version}")`);
    const answer = await this.send<KvV2Answer>(
      {
        method: 'GET',
        path: `${this.mount}/data/${key}`,
        ...(request.version ? { query: { version: request.version } } : {}),
      },
      'Read',
      onCall,
    );
    const data = answer?.data?.data;
    // A deleted (not destroyed) version answers 404 with its metadata, or data null.
    if (!data)
      throw new ProviderError('NotFound', `Vault: ${this.mount}/${key} has no current data (deleted)`);
    const version = answer?.data?.metadata?.version;
    return {
      key: request.key,
      value: Buffer.from(JSON.stringify(data)),
      ...(version !== undefined ? { versionId: String(version) } : {}),
    };
  }

  /** One call with the login's token; a token Vault refuses is dropped and the call made once more. */
  private async send<T>(
    request: VaultRequest,
    operation: string,
    onCall: (operation: string) => void,
  ): Promise<T | undefined> {
    const attempt = async () => {
      const token = await this.login.token(onCall);
      onCall(operation);
      return this.transport.send<T>({ ...request, token });
    };
    try {
      return await attempt();
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status !== 403 && status !== 401) throw error;
      this.login.forget();
      return attempt();
    }
  }

  private call(action: string, key: string) {
    return { action, path: `${this.mount}/${trimSlashes(key)}` };
  }
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

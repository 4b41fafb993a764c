// Fakes for the gcp provider's unit tests: a Secret Manager API that answers from a map, and
// a Secret reader over an in-memory namespace → name → data map.
import { generateKeyPairSync } from 'node:crypto';
import type { ProviderContext, SecretReader } from '../../../../src/providers/provider.port.ts';
import type {
  AccessSecretVersionResponse,
  ApiSettings,
  ListedSecret,
  ListSecretsPage,
  ListSecretsRequest,
  SecretManagerApi,
} from '../../../../src/providers/gcp/secret-manager.api.ts';
import { frozenNow, noTokens } from '../../../harness/no-tokens.ts';

/**
 * Answers accessSecretVersion from `versions` (full version name → response, or an error to
 * throw) and listSecrets from `secrets`, paged with numeric tokens. The filter is read as the
 * emulator reads it: one `labels.KEY=VALUE` term; anything else lists every secret.
 */
export class FakeSecretManager implements SecretManagerApi {
  readonly accessed: string[] = [];
  readonly listed: ListSecretsRequest[] = [];
  readonly versions = new Map<string, AccessSecretVersionResponse | Error>();
  /** The project's secrets, listed in this order (the emulator lists newest first). */
  readonly secrets: ListedSecret[] = [];
  /** Lists every secret whatever the filter, as a server that cannot read it would. */
  ignoreFilter = false;
  listError: Error | undefined;
  /** Fails only the page at this index (0-based), to test failures mid-listing. */
  listErrorOnPage: { page: number; error: Error } | undefined;
  /** Accesses in flight now, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;
  closed = false;

  async accessSecretVersion(name: string): Promise<AccessSecretVersionResponse> {
    this.accessed.push(name);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // A turn of the event loop, so parallel calls really overlap.
      await new Promise((resolve) => setImmediate(resolve));
      const answer = this.versions.get(name);
      if (answer instanceof Error) throw answer;
      if (!answer) throw Object.assign(new Error('5 NOT_FOUND: fake'), { code: 5 });
      return answer;
    } finally {
      this.inFlight--;
    }
  }

  async listSecrets(request: ListSecretsRequest): Promise<ListSecretsPage> {
    this.listed.push(request);
    if (this.listError) throw this.listError;
    const start = request.pageToken ? Number(request.pageToken) : 0;
    if (this.listErrorOnPage && start / request.pageSize === this.listErrorOnPage.page) {
      throw this.listErrorOnPage.error;
    }
    const term = this.ignoreFilter ? null : /^labels\.([^=]+)=(.*)$/.exec(request.filter?.trim() ?? '');
    // A missing label reads as "", as in the emulator (a Go map lookup).
    const all = term ? this.secrets.filter((s) => (s.labels[term[1]!] ?? '') === term[2]) : this.secrets;
    const end = start + request.pageSize;
    return {
      secrets: all.slice(start, end),
      nextPageToken: end < all.length ? String(end) : undefined,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A factory that hands out one fake and remembers the settings it was built with. */
export function fakeApiFactory(api = new FakeSecretManager()) {
  const built: ApiSettings[] = [];
  return {
    api,
    built,
    make: (settings: ApiSettings) => {
      built.push(settings);
      return api;
    },
  };
}

export function fakeSecrets(secrets: Record<string, Record<string, Record<string, string>>>): SecretReader & {
  reads: string[];
} {
  const reads: string[] = [];
  return {
    reads,
    async readSecret(namespace, name) {
      reads.push(`${namespace}/${name}`);
      const data = secrets[namespace]?.[name];
      if (!data) return undefined;
      return {
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
        resourceVersion: '1',
      };
    },
  };
}

export function context(
  kind: 'SecretStore' | 'ClusterSecretStore',
  secrets: SecretReader,
  namespace = 'team',
): ProviderContext {
  return {
    store: { kind, name: 'gcp', namespace: kind === 'SecretStore' ? namespace : undefined },
    secrets,
    tokens: noTokens,
    now: frozenNow,
  };
}

/** A syntactically valid service-account key with a real (throwaway) RSA key. */
export function fakeServiceAccountKey(): { client_email: string; private_key: string; json: string } {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const key = {
    type: 'service_account',
    project_id: 'ml-proj',
    private_key_id: 'abc123',
    private_key: privateKey,
    client_email: 'mlsecrets@ml-proj.iam.gserviceaccount.com',
    client_id: '1234567890',
    token_uri: 'https://oauth2.googleapis.com/token',
  };
  return { client_email: key.client_email, private_key: key.private_key, json: JSON.stringify(key) };
}

// Fakes for the gcp provider's unit tests: a Secret Manager API that answers from a map, and
// a Secret reader over an in-memory namespace → name → data map.
import { generateKeyPairSync } from 'node:crypto';
import type { ProviderContext, SecretReader } from '../../../../src/providers/provider.port.ts';
import type {
  AccessSecretVersionResponse,
  ApiSettings,
  SecretManagerApi,
} from '../../../../src/providers/gcp/secret-manager.api.ts';

/** Answers accessSecretVersion from `versions` (full version name → response, or an error to throw). */
export class FakeSecretManager implements SecretManagerApi {
  readonly accessed: string[] = [];
  readonly listed: { parent: string; pageSize: number }[] = [];
  readonly versions = new Map<string, AccessSecretVersionResponse | Error>();
  listError: Error | undefined;
  closed = false;

  async accessSecretVersion(name: string): Promise<AccessSecretVersionResponse> {
    this.accessed.push(name);
    const answer = this.versions.get(name);
    if (answer instanceof Error) throw answer;
    if (!answer) throw Object.assign(new Error('5 NOT_FOUND: fake'), { code: 5 });
    return answer;
  }

  async listSecrets(parent: string, pageSize: number): Promise<void> {
    this.listed.push({ parent, pageSize });
    if (this.listError) throw this.listError;
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

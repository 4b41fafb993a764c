// The narrow slice of Google Secret Manager the provider uses, and its implementation over the
// official client. Unit tests replace the implementation with a fake; integration tests run
// this one against the emulator.
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { credentials as grpcCredentials, status as grpcStatus } from '@grpc/grpc-js';
import { JWT } from 'google-auth-library';
import { StoreConfigError } from '../provider.port.ts';
import type { ServiceAccountKey } from './credentials.ts';
import { CALL_TIMEOUT_MS } from './errors.ts';

/** The answer of AccessSecretVersion, as loose as the SDK's own type. */
export interface AccessSecretVersionResponse {
  /** The version's full name; the version number even when an alias or `latest` was asked for. */
  name?: string | null;
  payload?: {
    data?: Uint8Array | string | null;
    /** int64 in the proto: a decimal string from google-gax, a number from other loaders. */
    dataCrc32c?: string | number | null;
  } | null;
}

/** One page of ListSecrets to ask for. */
export interface ListSecretsRequest {
  /** `projects/<project>`. */
  parent: string;
  pageSize: number;
  /** The `nextPageToken` of the previous page; absent for the first. */
  pageToken?: string;
  /** Google's list filter syntax (`labels.team=a`); absent lists every secret. */
  filter?: string;
}

/** A listed secret: only what `find` matches on. */
export interface ListedSecret {
  /** `projects/<project>/secrets/<id>`; real Google names the project by number here. */
  name: string;
  labels: Record<string, string>;
}

/** One page of ListSecrets. */
export interface ListSecretsPage {
  secrets: ListedSecret[];
  /** Absent (or empty) on the last page. */
  nextPageToken?: string;
}

/** What the provider needs of Secret Manager. */
export interface SecretManagerApi {
  accessSecretVersion(name: string): Promise<AccessSecretVersionResponse>;
  /** One page of the secrets of `request.parent` (no paging of the SDK's own). */
  listSecrets(request: ListSecretsRequest): Promise<ListSecretsPage>;
  close(): Promise<void>;
}

/** Where and as whom to connect. */
export interface ApiSettings {
  projectId: string;
  endpoint?: Endpoint;
  /** Absent: Application Default Credentials (workload identity on GKE). */
  credentials?: ServiceAccountKey;
}

/** An endpoint override, parsed. */
export interface Endpoint {
  host: string;
  port: number;
  /** Plaintext gRPC: only for loopback hosts (an emulator next to the operator). */
  plaintext: boolean;
}

export type SecretManagerApiFactory = (settings: ApiSettings) => SecretManagerApi;

/**
 * Parses `provider.gcp.endpoint` ("host:port", "[::1]:port", or "host" for port 443).
 * Loopback hosts get plaintext gRPC: emulators serve no TLS, and traffic that never leaves
 * the machine gains nothing from it. Every other host keeps TLS (a Private Service Connect
 * endpoint, a regional endpoint): credentials must never cross a network in the clear.
 */
export function parseEndpoint(value: string): Endpoint {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value.trim());
  const port = match?.[2] === undefined ? 443 : Number(match[2]);
  if (!match || port < 1 || port > 65535) {
    throw new StoreConfigError(
      'InvalidSpec',
      `provider.gcp.endpoint "${value}" is not host:port (no scheme: gRPC, with TLS unless the host is loopback)`,
    );
  }
  const host = match[1]!;
  return { host, port, plaintext: isLoopback(host) };
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare);
}

type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

/** The options of the official client for `settings`. */
export function clientOptions(settings: ApiSettings): ClientOptions {
  const options: ClientOptions = {
    projectId: settings.projectId,
    // gRPC's reconnect backoff grows to 120 s by default: a store that came back would go on
    // failing long after our own backoff says to try again. Our work queue paces the calls.
    'grpc.max_reconnect_backoff_ms': 5_000,
  };
  if (settings.credentials) {
    const { client_email, private_key } = settings.credentials;
    // A JWT client built from the key, not the `credentials` option: google-auth deprecates
    // that option and prints a warning each time a client is built from it. An explicit
    // scope makes the self-signed JWT carry it instead of an audience derived from the
    // endpoint host, which a Private Service Connect host would not match.
    options.authClient = new JWT({
      email: client_email,
      key: private_key,
      scopes: SecretManagerServiceClient.scopes,
    });
  }
  const endpoint = settings.endpoint;
  if (endpoint) {
    options.apiEndpoint = endpoint.host;
    options.port = endpoint.port;
    if (endpoint.plaintext) {
      // With sslCreds given, google-gax uses the channel as is and attaches no token (gRPC
      // never sends call credentials over plaintext); the key, if any, is read and checked
      // but not used on the wire. Naming the universe spares google-auth its search for
      // default credentials, which would probe the metadata server outside Google Cloud.
      options.sslCreds = grpcCredentials.createInsecure();
      if (!settings.credentials) options.universeDomain = 'googleapis.com';
    }
  }
  return options;
}

/**
 * The official client behind SecretManagerApi. Every call has a deadline and no retries of
 * the SDK's own (its default for AccessSecretVersion retries for up to 10 minutes): a dead
 * endpoint must surface as Unavailable within seconds, and the work queue already retries
 * with backoff and jitter, per store.
 *
 * The client is set up (credentials found, channel built) by awaiting its initialize() before
 * any call. Each method of the SDK also calls initialize() itself and rethrows its failure
 * from a detached `.catch`, an unhandled rejection that would end the process (no default
 * credentials is enough). Awaited here first, a failure is ours to classify, and the methods
 * are only called once initialize() has succeeded. A client whose set-up failed keeps the
 * failure for good, so it is dropped and the next call builds a new one (workload identity
 * may become ready later).
 *
 * A call that fails UNAVAILABLE drops the client too: its channel would wait out gRPC's own
 * reconnect backoff, so the first retry after the store came back would fail again and wait a
 * whole backoff of ours more. A fresh channel dials at once. The old one is closed once calls
 * still in flight on it have had their deadline.
 */
export const sdkSecretManagerApi: SecretManagerApiFactory = (settings) => {
  const options = clientOptions(settings);
  const call = { timeout: CALL_TIMEOUT_MS, retry: null };
  let client: SecretManagerServiceClient | undefined;
  let closed = false;
  const ready = async (): Promise<SecretManagerServiceClient> => {
    if (closed) throw new Error('the Secret Manager client is closed');
    client ??= new SecretManagerServiceClient(options);
    const current = client;
    try {
      await current.initialize();
    } catch (error) {
      if (client === current) client = undefined;
      throw error;
    }
    return current;
  };
  const dropIfUnavailable = (current: SecretManagerServiceClient, error: unknown): void => {
    if ((error as { code?: unknown }).code !== grpcStatus.UNAVAILABLE || client !== current) return;
    client = undefined;
    setTimeout(() => void current.close().catch(() => undefined), CALL_TIMEOUT_MS).unref();
  };
  const using = async <T>(use: (current: SecretManagerServiceClient) => Promise<T>): Promise<T> => {
    const current = await ready();
    try {
      return await use(current);
    } catch (error) {
      dropIfUnavailable(current, error);
      throw error;
    }
  };
  return {
    async accessSecretVersion(name) {
      const [response] = await using((current) => current.accessSecretVersion({ name }, call));
      return { name: response.name, payload: response.payload } as AccessSecretVersionResponse;
    },
    async listSecrets(request) {
      // autoPaginate off: one call per page, each counted and under its own deadline, and the
      // token kept by the caller (the SDK's pager would hide how many calls a listing took).
      const [secrets, , response] = await using((current) =>
        current.listSecrets(request, { ...call, autoPaginate: false }),
      );
      return {
        secrets: secrets.map((secret) => ({ name: secret.name ?? '', labels: { ...secret.labels } })),
        nextPageToken: response?.nextPageToken || undefined,
      };
    },
    async close() {
      closed = true;
      // Rejects when set-up failed: then there is nothing to release.
      await client?.close().catch(() => undefined);
    },
  };
};

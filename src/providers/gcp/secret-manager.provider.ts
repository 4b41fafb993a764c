// Google Secret Manager (spec.provider.gcp): reads secret versions with AccessSecretVersion.
import {
  ProviderError,
  StoreConfigError,
  type ProviderFactory,
  type RemoteRequest,
  type RemoteValue,
  type SecretsProvider,
} from '../provider.port.ts';
import { crc32c } from './crc32c.ts';
import { readServiceAccountKey } from './credentials.ts';
import { classify, isPlainPermissionDenied } from './errors.ts';
import { isValidProjectID, secretVersionName, versionIdOf } from './resource-names.ts';
import {
  parseEndpoint,
  sdkSecretManagerApi,
  type AccessSecretVersionResponse,
  type SecretManagerApi,
  type SecretManagerApiFactory,
} from './secret-manager.api.ts';

/** Builds the gcp factory over `makeApi`; tests pass a fake, the registry the real client. */
export function createGcpProviderFactory(makeApi: SecretManagerApiFactory): ProviderFactory {
  return {
    id: 'gcp',
    async create(spec, context) {
      const config = spec.gcp!;
      if (!isValidProjectID(config.projectID)) {
        throw new StoreConfigError(
          'InvalidSpec',
          `provider.gcp.projectID "${config.projectID}" is not a project id or number`,
        );
      }
      const endpoint = config.endpoint ? parseEndpoint(config.endpoint) : undefined;
      // Absent auth: Application Default Credentials, configured nowhere here on purpose.
      const credentials = config.auth?.secretRef
        ? await readServiceAccountKey(config.auth.secretRef, context)
        : undefined;
      const api = makeApi({ projectId: config.projectID, endpoint, credentials });
      return new SecretManagerProvider(config.projectID, api);
    },
  };
}

/** The gcp factory the operator registers. */
export const gcpProviderFactory: ProviderFactory = createGcpProviderFactory(sdkSecretManagerApi);

/**
 * One AccessSecretVersion per request. Secret Manager has no batch read, so `maxBatch` is 1:
 * the fetch layer then sends every request of a turn as its own chunk, in parallel, and each
 * takes one token of the store's rate limit, which is what the limit counts (API calls; a
 * larger batch would let N calls through on one token).
 */
export class SecretManagerProvider implements SecretsProvider {
  readonly name = 'gcp';
  readonly maxBatch = 1;
  private readonly projectID: string;
  private readonly api: SecretManagerApi;

  constructor(projectID: string, api: SecretManagerApi) {
    this.projectID = projectID;
    this.api = api;
  }

  getSecrets(requests: RemoteRequest[], onCall: (operation: string) => void) {
    return Promise.all(requests.map((request) => this.read(request, onCall)));
  }

  private async read(
    request: RemoteRequest,
    onCall: (operation: string) => void,
  ): Promise<RemoteValue | ProviderError> {
    const { key, version } = request;
    let name: string;
    try {
      name = secretVersionName(this.projectID, key, version);
    } catch (error) {
      if (error instanceof ProviderError) return error;
      throw error;
    }
    onCall('AccessSecretVersion');
    let response: AccessSecretVersionResponse;
    try {
      response = await this.api.accessSecretVersion(name);
    } catch (error) {
      return classify(error, { project: this.projectID, key, version });
    }
    return toRemoteValue(key, response);
  }

  /**
   * Lists one secret of the project: proves the endpoint answers and the credentials are
   * accepted. PERMISSION_DENIED passes: the server authenticated the caller, and the role
   * most stores are given (Secret Accessor, often granted per secret) has no list permission;
   * each binding then reports its own access errors. UNAUTHENTICATED, a disabled API or an
   * unusable project fail.
   */
  async validate(onCall: (operation: string) => void): Promise<void> {
    onCall('ListSecrets');
    try {
      await this.api.listSecrets(`projects/${this.projectID}`, 1);
    } catch (error) {
      if (isPlainPermissionDenied(error)) return;
      throw classify(error, { project: this.projectID });
    }
  }

  close(): Promise<void> {
    return this.api.close();
  }
}

/**
 * The payload as a RemoteValue, its checksum verified. Google computes a CRC-32C for every
 * version and returns it with every access, so a mismatch means the bytes were damaged on the
 * way. The emulator returns 0 when the writer sent no checksum (real Google never does), so 0
 * means "none" and is not checked; the one real payload whose CRC-32C is 0 goes unchecked,
 * which is harmless.
 */
export function toRemoteValue(
  key: string,
  response: AccessSecretVersionResponse,
): RemoteValue | ProviderError {
  const data = response.payload?.data;
  if (data === undefined || data === null) {
    return new ProviderError('Invalid', `Google Secret Manager returned no payload for secret "${key}"`);
  }
  const value = typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data);
  const expected = response.payload?.dataCrc32c;
  if (expected !== undefined && expected !== null && Number(expected) !== 0) {
    if (Number(expected) !== crc32c(value)) {
      return new ProviderError('Invalid', `payload checksum mismatch for "${key}"`);
    }
  }
  return { key, value, versionId: versionIdOf(response.name) };
}

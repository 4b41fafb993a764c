// Google Secret Manager (spec.provider.gcp): reads secret versions with AccessSecretVersion,
// and finds secrets (dataFrom.find) with ListSecrets.
import { status } from '@grpc/grpc-js';
import {
  ProviderError,
  StoreConfigError,
  type FindQuery,
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
  type ListedSecret,
  type SecretManagerApi,
  type SecretManagerApiFactory,
} from './secret-manager.api.ts';

/** Secrets per ListSecrets page when finding: few calls for large projects, small answers. */
export const FIND_PAGE_SIZE = 250;
/** AccessSecretVersion calls a find keeps in flight at once. */
export const FIND_CONCURRENCY = 10;

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
   * dataFrom.find: lists the project's secrets (every page), keeps those whose id is under
   * `path`, matches `nameRegexp` and carries every tag as a label, sorted by id, and reads
   * `latest` of each. A secret without an enabled version has nothing to give and is left
   * out; any other failure fails the whole find, so a binding never loses keys silently.
   */
  async find(query: FindQuery, onCall: (operation: string) => void): Promise<RemoteValue[]> {
    const pattern = compileNameRegexp(query.nameRegexp);
    const tags = Object.entries(query.tags ?? {});
    const matches = (await this.listAll(labelFilter(tags), onCall))
      .map((secret) => ({ secret, id: secretIdOf(secret.name) }))
      .filter(
        (s): s is { secret: ListedSecret; id: string } =>
          s.id !== undefined &&
          (!query.path || s.id.startsWith(query.path)) &&
          (!pattern || pattern.test(s.id)) &&
          // Every tag, the one sent in the filter too: the emulator ignores filters it cannot read.
          tags.every(([k, v]) => Object.hasOwn(s.secret.labels, k) && s.secret.labels[k] === v),
      )
      // Code-unit order, not localeCompare: the same on every replica whatever its locale, and
      // the order decides which of two ids rewritten to the same key wins.
      .sort((a, b) => compare(a.id, b.id));
    const values = await mapBounded(matches, FIND_CONCURRENCY, ({ secret, id }) =>
      this.readLatest(secret.name, id, onCall),
    );
    return values.filter((v): v is RemoteValue => v !== undefined);
  }

  private async listAll(
    filter: string | undefined,
    onCall: (operation: string) => void,
  ): Promise<ListedSecret[]> {
    const parent = `projects/${this.projectID}`;
    const secrets: ListedSecret[] = [];
    const seen = new Set<string>();
    let pageToken: string | undefined;
    do {
      onCall('ListSecrets');
      let page;
      try {
        page = await this.api.listSecrets({
          parent,
          pageSize: FIND_PAGE_SIZE,
          ...(pageToken ? { pageToken } : {}),
          ...(filter ? { filter } : {}),
        });
      } catch (error) {
        throw classify(error, { project: this.projectID });
      }
      secrets.push(...page.secrets);
      pageToken = page.nextPageToken || undefined;
      // A server handing back a token it gave before would keep us listing (and paying) forever.
      if (pageToken !== undefined) {
        if (seen.has(pageToken)) {
          throw new ProviderError(
            'Unavailable',
            `Google Secret Manager: listing the secrets of project "${this.projectID}" did not end (a page token repeated)`,
          );
        }
        seen.add(pageToken);
      }
    } while (pageToken !== undefined);
    return secrets;
  }

  /** `latest` of a listed secret; undefined when it has no enabled version (or is gone since). */
  private async readLatest(
    name: string,
    id: string,
    onCall: (operation: string) => void,
  ): Promise<RemoteValue | undefined> {
    onCall('AccessSecretVersion');
    let response: AccessSecretVersionResponse;
    try {
      // The listed name as is: real Google names the project by number there, and that name
      // certainly reaches the secret that was listed.
      response = await this.api.accessSecretVersion(`${name}/versions/latest`);
    } catch (error) {
      if (hasNoEnabledVersion(error)) return undefined;
      throw classify(error, { project: this.projectID, key: id, version: 'latest' });
    }
    const value = toRemoteValue(id, response);
    if (value instanceof ProviderError) throw value;
    return value;
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
      await this.api.listSecrets({ parent: `projects/${this.projectID}`, pageSize: 1 });
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

/**
 * Google's answers for `latest` of a secret that has nothing to read: NOT_FOUND when it has no
 * enabled version (or was deleted after the listing), FAILED_PRECONDITION when its newest
 * version is disabled or destroyed. A find skips such secrets, as it would not list them.
 */
function hasNoEnabledVersion(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === status.NOT_FOUND || code === status.FAILED_PRECONDITION;
}

/** Label keys and values that need no quoting in a list filter (Google's own label charset). */
const plainLabelKey = /^[a-z][a-z0-9_-]{0,62}$/;
const plainLabelValue = /^[a-z0-9_-]{1,63}$/;

/**
 * The server-side filter for `tags`: one `labels.KEY=VALUE` term, for the first tag (by key)
 * that needs no quoting; absent when none does. One term only: the emulator reads a filter as
 * a single term and would match nothing for two. The filter only narrows the listing; every
 * tag is checked on our side anyway, so a server that ignores the filter still gives the
 * right answer.
 */
export function labelFilter(tags: [string, string][]): string | undefined {
  const term = [...tags]
    .sort(([a], [b]) => compare(a, b))
    .find(([k, v]) => plainLabelKey.test(k) && plainLabelValue.test(v));
  return term ? `labels.${term[0]}=${term[1]}` : undefined;
}

/**
 * The secret id of a listed name (`projects/<project>/secrets/<id>`); undefined for any other
 * shape. The project segment is not compared: real Google names the store's project by number.
 */
function secretIdOf(name: string): string | undefined {
  return /^projects\/[^/]+\/secrets\/([^/]+)$/.exec(name)?.[1];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compileNameRegexp(source: string | undefined): RegExp | undefined {
  if (!source) return undefined;
  try {
    return new RegExp(source);
  } catch {
    // The engine's message quotes the pattern back with details of its own: ours is stable.
    const shown = source.length > 100 ? `${source.slice(0, 100)}…` : source;
    throw new ProviderError(
      'Invalid',
      `dataFrom.find name.regexp "${shown}" is not a valid regular expression`,
    );
  }
}

/** `fn` over `items` with at most `limit` in flight, results in the order of `items`. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    // After a failure the find fails anyway: start no more calls, only let those in flight end.
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

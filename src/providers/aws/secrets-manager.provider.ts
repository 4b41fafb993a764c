// AWS Secrets Manager: unversioned reads in batches of 20 (BatchGetSecretValue), pinned
// versions one by one (GetSecretValue), dataFrom.find through BatchGetSecretValue with Filters
// or ListSecrets.
import {
  ProviderError,
  type AssumeRoleInput,
  type FindQuery,
  type RemoteRequest,
  type RemoteValue,
  type SecretsProvider,
  type TemporaryCredentials,
} from '../provider.port.ts';
import type { SecretValueEntry, SecretsManagerApi, SecretsManagerFilter } from './aws-api.ts';
import { categorise, classify, classifyCode, type ErrorContext } from './errors.ts';
import { byKey, compileNameRegexp, hasTags } from './find-match.ts';
import { pages } from './paging.ts';
import type { StoreIdentity } from './store-identity.ts';

type Outcome = RemoteValue | ProviderError;
type OnCall = (operation: string) => void;

/** BatchGetSecretValue takes at most 20 ids per call. */
export const SECRETS_MANAGER_BATCH = 20;

const MAX_PAGES = 10;

/** ListSecrets answers at most 100 secrets a page. */
const LIST_PAGE = 100;

/**
 * What AWS accepts as a filter value. A value starting with "!" is a negation there, so such a
 * path or tag is left to the client-side check instead of being sent.
 */
const FILTER_VALUE = /^[a-zA-Z0-9 :_@/+=.\-!]{1,512}$/;

function filterable(value: string): boolean {
  return !value.startsWith('!') && FILTER_VALUE.test(value);
}

/**
 * The filters that narrow a find on the server. AWS matches `name`, `tag-key` and `tag-value`
 * by prefix, and tag keys and values independently of each other (a secret tagged team=b,
 * owner=a passes tag-key "team" with tag-value "a"), so they only narrow: every answer is
 * checked exactly on this side. One tag is enough to narrow; the others are checked here,
 * without relying on the service taking the same filter key twice.
 */
export function serverFilters(query: FindQuery): SecretsManagerFilter[] {
  const filters: SecretsManagerFilter[] = [];
  if (query.path && filterable(query.path)) filters.push({ Key: 'name', Values: [query.path] });
  const tag = Object.entries(query.tags ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .find(([key, value]) => filterable(key) && filterable(value));
  if (tag) filters.push({ Key: 'tag-key', Values: [tag[0]] }, { Key: 'tag-value', Values: [tag[1]] });
  return filters;
}

/** The secret name in an id that may be an ARN (`…:secret:NAME-AbCdEf`). */
function nameOf(id: string): string {
  const at = id.startsWith('arn:') ? id.indexOf(':secret:') : -1;
  return at < 0 ? id : id.slice(at + ':secret:'.length, -7);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * How a `remoteRef.version` is sent. Secrets Manager makes version ids UUIDs (the SDKs generate
 * one as ClientRequestToken for every new version), while a staging label is any other string
 * (AWSCURRENT, AWSPREVIOUS, custom labels). So a UUID is a VersionId and anything else a
 * VersionStage. A version created with a hand-picked non-UUID ClientRequestToken can only be
 * pinned through a staging label.
 */
export function versionSelector(version: string): { VersionId: string } | { VersionStage: string } {
  return UUID.test(version) ? { VersionId: version } : { VersionStage: version };
}

/** Reads that BatchGetSecretValue can serve: it returns the AWSCURRENT version only. */
function current(request: RemoteRequest): boolean {
  return request.version === undefined || request.version === 'AWSCURRENT';
}

/** Values from AWS Secrets Manager. */
export class SecretsManagerProvider implements SecretsProvider {
  readonly name = 'aws/SecretsManager';
  readonly maxBatch = SECRETS_MANAGER_BATCH;
  private readonly api: SecretsManagerApi;
  private readonly identity: StoreIdentity;
  /**
   * Set once BatchGetSecretValue is denied: many IAM policies grant GetSecretValue only (the
   * batch call needs secretsmanager:BatchGetSecretValue as well), and such a store should work,
   * one call per secret.
   */
  private batchDenied = false;

  constructor(api: SecretsManagerApi, identity: StoreIdentity) {
    this.api = api;
    this.identity = identity;
  }

  batchable(request: RemoteRequest): boolean {
    return !this.batchDenied && current(request);
  }

  async getSecrets(requests: RemoteRequest[], onCall: OnCall): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array<Outcome>(requests.length);
    const batched: number[] = [];
    const work: Promise<void>[] = [];
    requests.forEach((request, i) => {
      if (this.batchable(request)) batched.push(i);
      else work.push(this.readOne(request, onCall).then((outcome) => void (outcomes[i] = outcome)));
    });
    // Chunks of distinct ids: the same secret asked twice (unversioned and AWSCURRENT) is one id.
    const ids = [...new Set(batched.map((i) => requests[i]!.key))];
    for (let start = 0; start < ids.length; start += SECRETS_MANAGER_BATCH) {
      const chunk = ids.slice(start, start + SECRETS_MANAGER_BATCH);
      work.push(
        this.readBatch(chunk, onCall).then((byId) => {
          for (const i of batched) {
            const found = byId.get(requests[i]!.key);
            if (found) outcomes[i] = found;
          }
        }),
      );
    }
    await Promise.all(work);
    return outcomes;
  }

  /** One BatchGetSecretValue (following NextToken), answered per id. */
  private async readBatch(ids: string[], onCall: OnCall): Promise<Map<string, Outcome>> {
    const answers = new Map<string, Outcome>();
    const entries: SecretValueEntry[] = [];
    const errors = new Map<string, string | undefined>();
    try {
      let token: string | undefined;
      // A list of ids fits one page; NextToken is followed in case the service splits it anyway.
      for (let page = 0; page < MAX_PAGES; page++) {
        onCall('BatchGetSecretValue');
        const answer = await this.api.batchGetSecretValue({
          SecretIdList: ids,
          ...(token ? { NextToken: token } : {}),
        });
        entries.push(...(answer.SecretValues ?? []));
        for (const error of answer.Errors ?? [])
          if (error.SecretId) errors.set(error.SecretId, error.ErrorCode);
        token = answer.NextToken;
        if (!token) break;
      }
    } catch (error) {
      if ((error as { name?: string }).name === 'AccessDeniedException') {
        this.batchDenied = true;
        await Promise.all(ids.map(async (key) => answers.set(key, await this.readOne({ key }, onCall))));
        return answers;
      }
      if (categorise(error) === 'NotFound' && ids.length > 1) {
        // A missing id is an Errors entry, so a whole call answered "not found" was spoilt by
        // one secret (moto fails it for a secret without a value): the others must not be
        // reported missing with it.
        await Promise.all(ids.map(async (key) => answers.set(key, await this.readOne({ key }, onCall))));
        return answers;
      }
      for (const key of ids) answers.set(key, classify(error, this.context(key)));
      return answers;
    }
    const unanswered: string[] = [];
    for (const key of ids) {
      const entry = findEntry(entries, key);
      if (entry) answers.set(key, toValue(entry, key));
      else if (errors.has(key)) answers.set(key, classifyCode(errors.get(key), this.context(key)));
      else unanswered.push(key);
    }
    // An id the answer names differently (an ARN form we could not match): ask for it alone.
    await Promise.all(unanswered.map(async (key) => answers.set(key, await this.readOne({ key }, onCall))));
    return answers;
  }

  private async readOne(request: RemoteRequest, onCall: OnCall): Promise<Outcome> {
    onCall('GetSecretValue');
    try {
      const entry = await this.api.getSecretValue({
        SecretId: request.key,
        ...(request.version !== undefined ? versionSelector(request.version) : {}),
      });
      return toValue(entry, request.key);
    } catch (error) {
      return classify(error, this.context(request.key, request.version));
    }
  }

  /**
   * dataFrom.find. Without tags, a path (or another server filter) is one BatchGetSecretValue
   * with Filters per 20 secrets: the listing and the values come in the same paged call. With
   * tags, or nothing to filter on, the secrets are listed (ListSecrets, which carries the tags
   * that BatchGetSecretValue's answer lacks) and only the matching ones read, 20 a call. The
   * path, the regexp and the tags are checked here as well, exactly. `key` of each value is the
   * secret's name.
   */
  async find(query: FindQuery, onCall: OnCall): Promise<RemoteValue[]> {
    const pattern = compileNameRegexp(query);
    const wanted = (name: string) =>
      (query.path === undefined || name.startsWith(query.path)) && (pattern?.test(name) ?? true);
    const filters = serverFilters(query);
    if (query.tags === undefined && filters.length > 0 && !this.batchDenied) {
      const found = await this.findByFilters(filters, wanted, onCall);
      if (found) return byKey(found);
    }
    const names = await this.listNames(filters, query.tags, wanted, onCall);
    const outcomes = await this.getSecrets(
      names.map((key) => ({ key })),
      onCall,
    );
    const found: RemoteValue[] = [];
    for (const outcome of outcomes) {
      if (!(outcome instanceof ProviderError)) found.push(outcome);
      // Deleted (or emptied) between the listing and the read: it is simply no longer there.
      else if (outcome.category !== 'NotFound') throw outcome;
    }
    return byKey(found);
  }

  /**
   * The values of the secrets `filters` select, through BatchGetSecretValue. Undefined when the
   * call cannot serve this store and the caller should list instead: denied (the IAM policy
   * may grant ListSecrets and GetSecretValue only), or failed as a whole with "invalid" or "not
   * found", which is how moto 5.2.5 answers a filter matching a secret scheduled for deletion
   * or one without a value, where AWS reports per-secret problems in Errors. ListSecrets leaves
   * deleted secrets out, and a filter AWS truly rejects fails the listing too, so nothing is
   * hidden by falling back.
   */
  private async findByFilters(
    filters: SecretsManagerFilter[],
    wanted: (name: string) => boolean,
    onCall: OnCall,
  ): Promise<RemoteValue[] | undefined> {
    const found: RemoteValue[] = [];
    try {
      const answers = pages((token) => {
        onCall('BatchGetSecretValue');
        return this.api.batchGetSecretValue({
          Filters: filters,
          MaxResults: SECRETS_MANAGER_BATCH,
          ...(token ? { NextToken: token } : {}),
        });
      }, 'AWS Secrets Manager values');
      for await (const answer of answers) {
        for (const entry of answer.SecretValues ?? []) {
          if (!entry.Name || !wanted(entry.Name)) continue;
          const value = toValue(entry, entry.Name);
          // A secret without any value has nothing to contribute.
          if (!(value instanceof ProviderError)) found.push(value);
        }
        for (const error of answer.Errors ?? []) {
          const name = error.SecretId === undefined ? undefined : nameOf(error.SecretId);
          if (name !== undefined && !wanted(name)) continue;
          const failure = classifyCode(error.ErrorCode, this.context(name ?? ''));
          // Deleted between the listing and the read inside the call: no longer there.
          if (failure.category !== 'NotFound') throw failure;
        }
      }
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      if ((error as { name?: string }).name === 'AccessDeniedException') {
        this.batchDenied = true;
        return undefined;
      }
      const failure = classify(error, this.listContext());
      if (failure.category === 'Invalid' || failure.category === 'NotFound') return undefined;
      throw failure;
    }
    return found;
  }

  /** The names of the matching secrets, through ListSecrets (which leaves out deleted ones). */
  private async listNames(
    filters: SecretsManagerFilter[],
    tags: Record<string, string> | undefined,
    wanted: (name: string) => boolean,
    onCall: OnCall,
  ): Promise<string[]> {
    const names: string[] = [];
    try {
      const answers = pages((token) => {
        onCall('ListSecrets');
        return this.api.listSecrets({
          ...(filters.length > 0 ? { Filters: filters } : {}),
          MaxResults: LIST_PAGE,
          ...(token ? { NextToken: token } : {}),
        });
      }, 'AWS Secrets Manager secrets');
      for await (const answer of answers) {
        for (const secret of answer.SecretList ?? []) {
          if (secret.Name && !secret.DeletedDate && wanted(secret.Name) && hasTags(secret.Tags, tags))
            names.push(secret.Name);
        }
      }
    } catch (error) {
      throw classify(error, this.listContext());
    }
    return names;
  }

  async rotate(key: string, onCall: OnCall): Promise<void> {
    onCall('RotateSecret');
    try {
      await this.api.rotateSecret({ SecretId: key, RotateImmediately: true });
    } catch (error) {
      throw classify(error, { service: 'SecretsManager', action: 'rotate', key });
    }
  }

  validate(onCall: OnCall): Promise<void> {
    return this.identity.check(onCall);
  }

  assumeRole(input: AssumeRoleInput, onCall: OnCall): Promise<TemporaryCredentials> {
    return this.identity.assumeRole(input, onCall);
  }

  async close(): Promise<void> {
    this.api.destroy();
    this.identity.close();
  }

  private listContext(): ErrorContext {
    return { service: 'SecretsManager', action: 'list' };
  }

  private context(key: string, version?: string): ErrorContext {
    return { service: 'SecretsManager', action: 'read', key, ...(version !== undefined ? { version } : {}) };
  }
}

/**
 * The entry answering `key`: by name, by full ARN, or by partial ARN (an ARN without the six
 * random characters Secrets Manager appends to the name).
 */
function findEntry(entries: SecretValueEntry[], key: string): SecretValueEntry | undefined {
  return (
    entries.find((e) => e.Name === key || e.ARN === key) ??
    entries.find(
      (e) => key.startsWith('arn:') && e.ARN?.length === key.length + 7 && e.ARN.startsWith(`${key}-`),
    )
  );
}

function toValue(entry: SecretValueEntry, key: string): Outcome {
  // Binary secrets stay binary; strings are UTF-8 (Secrets Manager stores them as such).
  const value =
    entry.SecretBinary !== undefined
      ? Buffer.from(entry.SecretBinary)
      : entry.SecretString !== undefined
        ? Buffer.from(entry.SecretString, 'utf8')
        : undefined;
  if (!value) return new ProviderError('Invalid', `Secret "${key}" has no value in AWS Secrets Manager`);
  return { key, value, ...(entry.VersionId ? { versionId: entry.VersionId } : {}) };
}

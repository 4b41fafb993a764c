// AWS Secrets Manager: unversioned reads in batches of 20 (BatchGetSecretValue), pinned
// versions one by one (GetSecretValue).
import {
  ProviderError,
  type AssumeRoleInput,
  type RemoteRequest,
  type RemoteValue,
  type SecretsProvider,
  type TemporaryCredentials,
} from '../provider.port.ts';
import type { SecretValueEntry, SecretsManagerApi } from './aws-api.ts';
import { classify, classifyCode, type ErrorContext } from './errors.ts';
import type { StoreIdentity } from './store-identity.ts';

type Outcome = RemoteValue | ProviderError;
type OnCall = (operation: string) => void;

/** BatchGetSecretValue takes at most 20 ids per call. */
export const SECRETS_MANAGER_BATCH = 20;

const MAX_PAGES = 10;

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

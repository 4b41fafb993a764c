// Fakes behind the AWS providers' narrow interfaces: an in-memory Secrets Manager, Parameter
// Store and STS that record every call.
import type {
  AwsApis,
  AwsClientConfig,
  AwsKeys,
  ParameterEntry,
  ParameterFilter,
  ParameterStoreApi,
  SecretListEntry,
  SecretValueEntry,
  SecretsManagerApi,
  SecretsManagerFilter,
  StsApi,
} from '../../../../src/providers/aws/aws-api.ts';
import type { ProviderContext, SecretReader } from '../../../../src/providers/provider.port.ts';
import { frozenNow, noTokens } from '../../../harness/no-tokens.ts';

/** An SDK-shaped error; `message` is what the fake "server" says (tests plant markers in it). */
export function sdkError(
  name: string,
  options: {
    status?: number;
    message?: string;
    code?: string;
    throttling?: boolean;
    headers?: Record<string, string>;
  } = {},
): Error {
  const error = new Error(options.message ?? `${name} from the fake`) as Error & Record<string, unknown>;
  error.name = name;
  if (options.status !== undefined) error.$metadata = { httpStatusCode: options.status };
  if (options.code) error.code = options.code;
  if (options.throttling) error.$retryable = { throttling: true };
  if (options.headers) error.$response = { statusCode: options.status, headers: options.headers };
  return error;
}

interface StoredSecret {
  arn: string;
  versions: { id: string; stages: string[]; string?: string; binary?: Uint8Array }[];
  tags: Record<string, string>;
  deleted?: boolean;
}

/** A numeric NextToken over `items`, `size` a page, as moto pages. */
function page<T>(items: T[], size: number, token: string | undefined): { items: T[]; NextToken?: string } {
  const start = Number(token ?? 0);
  const end = start + size;
  return { items: items.slice(start, end), ...(end < items.length ? { NextToken: String(end) } : {}) };
}

/** AWS's prefix semantics of ListSecrets / BatchGetSecretValue filters, "!" negating. */
function prefixMatch(values: string[], candidates: string[]): boolean {
  return values.some((v) =>
    v.startsWith('!')
      ? candidates.every((c) => !c.startsWith(v.slice(1)))
      : candidates.some((c) => c.startsWith(v)),
  );
}

/** An in-memory Secrets Manager. */
export class FakeSecretsManager implements SecretsManagerApi {
  readonly secrets = new Map<string, StoredSecret>();
  readonly calls: { op: string; input: unknown }[] = [];
  /** Thrown by the next call of that operation. */
  failNext: Partial<Record<'batch' | 'get' | 'rotate' | 'list', unknown>> = {};
  /** BatchGetSecretValue always fails with this (e.g. AccessDeniedException). */
  batchFailure: unknown;
  /** BatchGetSecretValue with Filters always fails with this (moto's answer to a deleted match). */
  filteredFailure: unknown;
  destroyed = false;
  private counter = 0;

  put(name: string, value: string | Uint8Array, stages = ['AWSCURRENT']): string {
    const id = `${String(++this.counter).padStart(8, '0')}-0000-4000-8000-000000000000`;
    const secret = this.secrets.get(name) ?? {
      arn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`,
      versions: [],
      tags: {},
    };
    if (stages.includes('AWSCURRENT')) {
      for (const v of secret.versions) {
        v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
        if (v.stages.includes('AWSCURRENT'))
          v.stages = [...v.stages.filter((s) => s !== 'AWSCURRENT'), 'AWSPREVIOUS'];
      }
    }
    secret.versions.push({
      id,
      stages,
      ...(typeof value === 'string' ? { string: value } : { binary: value }),
    });
    this.secrets.set(name, secret);
    return id;
  }

  /** Sets the tags of a secret (replacing them). */
  tag(name: string, tags: Record<string, string>): void {
    this.secrets.get(name)!.tags = { ...tags };
  }

  /** Schedules a secret for deletion: listings leave it out, reads fail. */
  markDeleted(name: string): void {
    this.secrets.get(name)!.deleted = true;
  }

  async batchGetSecretValue(input: {
    SecretIdList?: string[];
    Filters?: SecretsManagerFilter[];
    MaxResults?: number;
    NextToken?: string;
  }): ReturnType<SecretsManagerApi['batchGetSecretValue']> {
    this.calls.push({ op: 'BatchGetSecretValue', input });
    this.throwIf('batch');
    if (this.batchFailure) throw this.batchFailure;
    if (input.Filters) {
      if (input.SecretIdList) throw sdkError('InvalidParameterException', { status: 400 });
      if ((input.MaxResults ?? 20) > 20) throw sdkError('InvalidParameterException', { status: 400 });
      if (this.filteredFailure) throw this.filteredFailure;
      const matching = this.matching(input.Filters).map(([name]) => this.find(name, 'AWSCURRENT')!);
      const { items, NextToken } = page(matching, input.MaxResults ?? 20, input.NextToken);
      return { SecretValues: items, Errors: [], ...(NextToken ? { NextToken } : {}) };
    }
    const ids = input.SecretIdList ?? [];
    if (ids.length > 20 || input.MaxResults !== undefined)
      throw sdkError('InvalidParameterException', { status: 400 });
    const SecretValues: SecretValueEntry[] = [];
    const Errors: { SecretId?: string; ErrorCode?: string; Message?: string }[] = [];
    for (const id of ids) {
      const entry = this.find(id, 'AWSCURRENT');
      if (entry) SecretValues.push(entry);
      else
        Errors.push({
          SecretId: id,
          ErrorCode: 'ResourceNotFoundException',
          Message: `can't find ${id} MARKER-batch-message arn:aws:iam::999988887777:user/x`,
        });
    }
    return { SecretValues, Errors };
  }

  async listSecrets(input: { Filters?: SecretsManagerFilter[]; MaxResults?: number; NextToken?: string }) {
    this.calls.push({ op: 'ListSecrets', input });
    this.throwIf('list');
    if ((input.MaxResults ?? 100) > 100) throw sdkError('InvalidParameterException', { status: 400 });
    const listed: SecretListEntry[] = this.matching(input.Filters ?? []).map(([name, secret]) => ({
      ARN: secret.arn,
      Name: name,
      Tags: Object.entries(secret.tags).map(([Key, Value]) => ({ Key, Value })),
    }));
    const { items, NextToken } = page(listed, input.MaxResults ?? 100, input.NextToken);
    return { SecretList: items, ...(NextToken ? { NextToken } : {}) };
  }

  async getSecretValue(input: { SecretId: string; VersionId?: string; VersionStage?: string }) {
    this.calls.push({ op: 'GetSecretValue', input });
    this.throwIf('get');
    const entry = this.find(input.SecretId, input.VersionStage ?? 'AWSCURRENT', input.VersionId);
    if (!entry) throw sdkError('ResourceNotFoundException', { status: 400 });
    return entry;
  }

  async rotateSecret(input: { SecretId: string; RotateImmediately: boolean }) {
    this.calls.push({ op: 'RotateSecret', input });
    this.throwIf('rotate');
    if (!this.secrets.has(input.SecretId)) throw sdkError('ResourceNotFoundException', { status: 400 });
    return {};
  }

  destroy(): void {
    this.destroyed = true;
  }

  ops(): string[] {
    return this.calls.map((c) => c.op);
  }

  /** Live secrets the filters select (every filter must match), in insertion order. */
  private matching(filters: SecretsManagerFilter[]): [string, StoredSecret][] {
    return [...this.secrets].filter(
      ([name, secret]) =>
        !secret.deleted &&
        filters.every((f) =>
          prefixMatch(
            f.Values,
            f.Key === 'name'
              ? [name]
              : f.Key === 'tag-key'
                ? Object.keys(secret.tags)
                : Object.values(secret.tags),
          ),
        ),
    );
  }

  private throwIf(op: 'batch' | 'get' | 'rotate' | 'list'): void {
    const failure = this.failNext[op];
    if (failure) {
      delete this.failNext[op];
      throw failure;
    }
  }

  private find(id: string, stage: string, versionId?: string): SecretValueEntry | undefined {
    for (const [name, secret] of this.secrets) {
      // By name, full ARN, or partial ARN (without the random suffix), as AWS does.
      if (id !== name && id !== secret.arn && id !== secret.arn.slice(0, -7)) continue;
      if (secret.deleted) return undefined;
      const version = secret.versions.find((v) =>
        versionId ? v.id === versionId : v.stages.includes(stage),
      );
      if (!version) return undefined;
      return {
        ARN: secret.arn,
        Name: name,
        VersionId: version.id,
        ...(version.string !== undefined ? { SecretString: version.string } : {}),
        ...(version.binary !== undefined ? { SecretBinary: version.binary } : {}),
      };
    }
    return undefined;
  }
}

/** An in-memory Parameter Store (versions numbered from 1, labels per version). */
export class FakeParameterStore implements ParameterStoreApi {
  readonly parameters = new Map<string, { value: string; labels: string[] }[]>();
  readonly tags = new Map<string, Record<string, string>>();
  /** The names of every GetParameters call. */
  readonly calls: string[][] = [];
  /** Every call of the listing operations, with its input. */
  readonly listings: { op: string; input: unknown }[] = [];
  failNext: unknown;
  destroyed = false;

  put(name: string, value: string, labels: string[] = [], tags?: Record<string, string>): number {
    const versions = this.parameters.get(name) ?? [];
    versions.push({ value, labels });
    this.parameters.set(name, versions);
    if (tags) this.tags.set(name, { ...tags });
    return versions.length;
  }

  async getParametersByPath(input: {
    Path: string;
    Recursive: boolean;
    WithDecryption: boolean;
    MaxResults?: number;
    NextToken?: string;
  }) {
    this.listings.push({ op: 'GetParametersByPath', input });
    this.throwIf();
    if ((input.MaxResults ?? 10) > 10) throw sdkError('ValidationException', { status: 400 });
    if (!input.WithDecryption) throw new Error('the provider must ask for decryption');
    const base = input.Path === '/' ? '/' : `${input.Path.replace(/\/+$/, '')}/`;
    const under = [...this.parameters.keys()].filter(
      (name) => name.startsWith(base) && (input.Recursive || !name.slice(base.length).includes('/')),
    );
    const { items, NextToken } = page(under, input.MaxResults ?? 10, input.NextToken);
    return { Parameters: items.map((name) => this.entry(name)), ...(NextToken ? { NextToken } : {}) };
  }

  async describeParameters(input: {
    ParameterFilters?: ParameterFilter[];
    MaxResults?: number;
    NextToken?: string;
  }) {
    this.listings.push({ op: 'DescribeParameters', input });
    this.throwIf();
    if ((input.MaxResults ?? 50) > 50) throw sdkError('ValidationException', { status: 400 });
    const matching = [...this.parameters.keys()].filter((name) =>
      (input.ParameterFilters ?? []).every((f) => {
        if (f.Key === 'Path') return name.startsWith(`${f.Values[0]!.replace(/\/+$/, '')}/`);
        if (f.Key.startsWith('tag:')) {
          const value = this.tags.get(name)?.[f.Key.slice(4)];
          return value !== undefined && f.Values.includes(value);
        }
        throw sdkError('InvalidFilterKey', { status: 400 });
      }),
    );
    const { items, NextToken } = page(matching, input.MaxResults ?? 50, input.NextToken);
    return { Parameters: items.map((Name) => ({ Name })), ...(NextToken ? { NextToken } : {}) };
  }

  private entry(name: string): ParameterEntry {
    const versions = this.parameters.get(name)!;
    return {
      Name: name,
      ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${name.startsWith('/') ? '' : '/'}${name}`,
      Value: versions[versions.length - 1]!.value,
      Version: versions.length,
    };
  }

  private throwIf(): void {
    if (this.failNext) {
      const failure = this.failNext;
      this.failNext = undefined;
      throw failure;
    }
  }

  async getParameters(input: { Names: string[]; WithDecryption: boolean }) {
    this.calls.push([...input.Names]);
    if (this.failNext) {
      const failure = this.failNext;
      this.failNext = undefined;
      throw failure;
    }
    if (input.Names.length > 10) throw sdkError('ValidationException', { status: 400 });
    if (!input.WithDecryption) throw new Error('the provider must ask for decryption');
    const Parameters: ParameterEntry[] = [];
    const InvalidParameters: string[] = [];
    for (const full of input.Names) {
      const colon = full.indexOf(':');
      const name = colon < 0 ? full : full.slice(0, colon);
      const selector = colon < 0 ? undefined : full.slice(colon + 1);
      const versions = this.parameters.get(name);
      const index =
        versions === undefined
          ? -1
          : selector === undefined
            ? versions.length - 1
            : /^\d+$/.test(selector)
              ? Number(selector) - 1
              : versions.findIndex((v) => v.labels.includes(selector));
      const version = versions?.[index];
      if (!version) InvalidParameters.push(full);
      else
        Parameters.push({
          Name: name,
          ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${name.startsWith('/') ? '' : '/'}${name}`,
          Value: version.value,
          Version: index + 1,
        });
    }
    return { Parameters, InvalidParameters };
  }

  destroy(): void {
    this.destroyed = true;
  }
}

/** A fake STS: GetCallerIdentity and AssumeRole, with credentials valid for DurationSeconds. */
export class FakeSts implements StsApi {
  readonly calls: { op: string; input?: unknown }[] = [];
  failNext: unknown;
  now: () => number = () => Date.now();
  destroyed = false;
  private issued = 0;

  async getCallerIdentity() {
    this.calls.push({ op: 'GetCallerIdentity' });
    this.throwIf();
    return { Arn: 'arn:aws:iam::123456789012:user/fake' };
  }

  async assumeRole(input: { RoleArn: string; RoleSessionName: string; DurationSeconds?: number }) {
    this.calls.push({ op: 'AssumeRole', input });
    this.throwIf();
    this.issued++;
    return {
      Credentials: {
        AccessKeyId: `ASIAFAKE${this.issued}`,
        SecretAccessKey: `secret-${this.issued}`,
        SessionToken: `token-${this.issued}`,
        Expiration: new Date(this.now() + (input.DurationSeconds ?? 3600) * 1000),
      },
    };
  }

  destroy(): void {
    this.destroyed = true;
  }

  private throwIf(): void {
    if (this.failNext) {
      const failure = this.failNext;
      this.failNext = undefined;
      throw failure;
    }
  }
}

/** AwsApis over the fakes, remembering the config each client was built with. */
export class FakeApis implements AwsApis {
  readonly sm = new FakeSecretsManager();
  readonly ps = new FakeParameterStore();
  readonly stsClients: { config: AwsClientConfig; sts: FakeSts }[] = [];
  readonly configs: { kind: string; config: AwsClientConfig }[] = [];

  secretsManager(config: AwsClientConfig): SecretsManagerApi {
    this.configs.push({ kind: 'SecretsManager', config });
    return this.sm;
  }

  parameterStore(config: AwsClientConfig): ParameterStoreApi {
    this.configs.push({ kind: 'ParameterStore', config });
    return this.ps;
  }

  sts(config: AwsClientConfig): StsApi {
    this.configs.push({ kind: 'STS', config });
    const sts = new FakeSts();
    this.stsClients.push({ config, sts });
    return sts;
  }

  /** The credentials a client was built with, resolved. */
  static async keys(config: AwsClientConfig): Promise<AwsKeys | undefined> {
    const c = config.credentials;
    return typeof c === 'function' ? c() : c;
  }
}

/** A SecretReader over a plain map of `namespace/name` → data. */
export function secretReader(secrets: Record<string, Record<string, string>>): SecretReader & {
  reads: string[];
} {
  const reads: string[] = [];
  return {
    reads,
    async readSecret(namespace, name) {
      reads.push(`${namespace}/${name}`);
      const data = secrets[`${namespace}/${name}`];
      if (!data) return undefined;
      return {
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
        resourceVersion: '1',
      };
    },
  };
}

export function storeContext(
  store: ProviderContext['store'],
  secrets: Record<string, Record<string, string>> = {},
): ProviderContext & { secrets: ReturnType<typeof secretReader> } {
  return { store, secrets: secretReader(secrets), tokens: noTokens, now: frozenNow };
}

// Fakes behind the AWS providers' narrow interfaces: an in-memory Secrets Manager, Parameter
// Store and STS that record every call.
import type {
  AwsApis,
  AwsClientConfig,
  AwsKeys,
  ParameterEntry,
  ParameterStoreApi,
  SecretValueEntry,
  SecretsManagerApi,
  StsApi,
} from '../../../../src/providers/aws/aws-api.ts';
import type { ProviderContext, SecretReader } from '../../../../src/providers/provider.port.ts';

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
}

/** An in-memory Secrets Manager. */
export class FakeSecretsManager implements SecretsManagerApi {
  readonly secrets = new Map<string, StoredSecret>();
  readonly calls: { op: string; input: unknown }[] = [];
  /** Thrown by the next call of that operation. */
  failNext: Partial<Record<'batch' | 'get' | 'rotate', unknown>> = {};
  /** BatchGetSecretValue always fails with this (e.g. AccessDeniedException). */
  batchFailure: unknown;
  destroyed = false;
  private counter = 0;

  put(name: string, value: string | Uint8Array, stages = ['AWSCURRENT']): string {
    const id = `${String(++this.counter).padStart(8, '0')}-0000-4000-8000-000000000000`;
    const secret = this.secrets.get(name) ?? {
      arn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`,
      versions: [],
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

  async batchGetSecretValue(input: { SecretIdList: string[]; NextToken?: string }) {
    this.calls.push({ op: 'BatchGetSecretValue', input });
    this.throwIf('batch');
    if (this.batchFailure) throw this.batchFailure;
    if (input.SecretIdList.length > 20) throw sdkError('InvalidParameterException', { status: 400 });
    const SecretValues: SecretValueEntry[] = [];
    const Errors: { SecretId?: string; ErrorCode?: string; Message?: string }[] = [];
    for (const id of input.SecretIdList) {
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

  private throwIf(op: 'batch' | 'get' | 'rotate'): void {
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
  readonly calls: string[][] = [];
  failNext: unknown;
  destroyed = false;

  put(name: string, value: string, labels: string[] = []): number {
    const versions = this.parameters.get(name) ?? [];
    versions.push({ value, labels });
    this.parameters.set(name, versions);
    return versions.length;
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
  return { store, secrets: secretReader(secrets) };
}

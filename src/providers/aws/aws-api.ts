// The narrow interfaces the AWS providers use, and their implementations over the real AWS SDK
// v3 clients. Unit tests put fakes behind these interfaces; integration tests use the SDK
// against moto.
import {
  BatchGetSecretValueCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';

/** One secret value as Secrets Manager returns it. */
export interface SecretValueEntry {
  ARN?: string;
  Name?: string;
  VersionId?: string;
  SecretString?: string;
  SecretBinary?: Uint8Array;
}

/**
 * A ListSecrets / BatchGetSecretValue filter. AWS matches every key by prefix, tag keys and tag
 * values independently of each other; a value starting with "!" negates.
 */
export interface SecretsManagerFilter {
  Key: 'name' | 'tag-key' | 'tag-value';
  Values: string[];
}

/** One secret as ListSecrets describes it (no value). */
export interface SecretListEntry {
  ARN?: string;
  Name?: string;
  Tags?: { Key?: string; Value?: string }[];
  /** Set when the secret is scheduled for deletion. */
  DeletedDate?: Date;
}

/** The part of Secrets Manager the provider uses. */
export interface SecretsManagerApi {
  /** Either `SecretIdList` or `Filters` (with `MaxResults`), never both. */
  batchGetSecretValue(input: {
    SecretIdList?: string[];
    Filters?: SecretsManagerFilter[];
    MaxResults?: number;
    NextToken?: string;
  }): Promise<{
    SecretValues?: SecretValueEntry[];
    Errors?: { SecretId?: string; ErrorCode?: string }[];
    NextToken?: string;
  }>;
  listSecrets(input: {
    Filters?: SecretsManagerFilter[];
    MaxResults?: number;
    NextToken?: string;
  }): Promise<{ SecretList?: SecretListEntry[]; NextToken?: string }>;
  getSecretValue(input: {
    SecretId: string;
    VersionId?: string;
    VersionStage?: string;
  }): Promise<SecretValueEntry>;
  rotateSecret(input: { SecretId: string; RotateImmediately: boolean }): Promise<unknown>;
  destroy(): void;
}

/** One parameter as Parameter Store returns it. */
export interface ParameterEntry {
  Name?: string;
  ARN?: string;
  Value?: string;
  Version?: number;
  Selector?: string;
}

/** A DescribeParameters filter: `tag:KEY` (Equals: exact value), or `Path` (Recursive). */
export interface ParameterFilter {
  Key: string;
  Option?: 'Equals' | 'Recursive';
  Values: string[];
}

/** The part of Systems Manager Parameter Store the provider uses. */
export interface ParameterStoreApi {
  getParameters(input: { Names: string[]; WithDecryption: boolean }): Promise<{
    Parameters?: ParameterEntry[];
    InvalidParameters?: string[];
  }>;
  getParametersByPath(input: {
    Path: string;
    Recursive: boolean;
    WithDecryption: boolean;
    MaxResults?: number;
    NextToken?: string;
  }): Promise<{ Parameters?: ParameterEntry[]; NextToken?: string }>;
  /** Names and metadata only, no values. */
  describeParameters(input: {
    ParameterFilters?: ParameterFilter[];
    MaxResults?: number;
    NextToken?: string;
  }): Promise<{ Parameters?: { Name?: string }[]; NextToken?: string }>;
  destroy(): void;
}

/** Temporary credentials as STS returns them. */
export interface StsCredentials {
  AccessKeyId?: string;
  SecretAccessKey?: string;
  SessionToken?: string;
  Expiration?: Date;
}

/** The part of STS the providers use. */
export interface StsApi {
  getCallerIdentity(): Promise<unknown>;
  assumeRole(input: {
    RoleArn: string;
    RoleSessionName: string;
    DurationSeconds?: number;
    ExternalId?: string;
  }): Promise<{ Credentials?: StsCredentials }>;
  destroy(): void;
}

/** AWS credentials, in the shape the SDK takes them. Values: never logged. */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials stop working; the SDK asks again before then. */
  expiration?: Date;
}

/** What every AWS client of a store is built with. */
export interface AwsClientConfig {
  region: string;
  endpoint?: string;
  /** Absent: the SDK's default chain (IRSA, pod identity, instance role, environment). */
  credentials?: AwsKeys | (() => Promise<AwsKeys>);
}

/** Builds the clients of a store; the factory takes another in unit tests. */
export interface AwsApis {
  secretsManager(config: AwsClientConfig): SecretsManagerApi;
  parameterStore(config: AwsClientConfig): ParameterStoreApi;
  sts(config: AwsClientConfig): StsApi;
}

/** Timeouts of every AWS call. */
export interface AwsTimeouts {
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
}

/** A hung endpoint costs a worker at most two attempts of ten seconds. */
export const DEFAULT_TIMEOUTS: AwsTimeouts = { connectionTimeoutMs: 3_000, requestTimeoutMs: 10_000 };

/**
 * SDK settings every client gets. Two attempts: an outage surfaces within seconds and our work
 * queue does the backoff (with jitter, per binding), instead of the SDK retrying inside one
 * worker. Timeouts: a hung endpoint must never hold a worker forever; the SDK only warns about
 * a request timeout unless told to throw.
 */
function sdkConfig(config: AwsClientConfig, timeouts: AwsTimeouts) {
  return {
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    maxAttempts: 2,
    requestHandler: {
      connectionTimeout: timeouts.connectionTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  };
}

/**
 * Takes the SDK's logger middleware out of a client's stack. We never give the SDK a logger,
 * yet that middleware filters every response for sensitive fields before handing it to the
 * no-op logger: a walk of every BatchGetSecretValue answer (~5 % of the operator's CPU at
 * 10,000 bindings, profiled). Nothing else is lost: the SDK logs only through it.
 */
export function withoutSdkLogging<T extends { middlewareStack: { remove(name: string): boolean } }>(
  client: T,
): T {
  client.middlewareStack.remove('loggerMiddleware');
  return client;
}

/** The real AWS SDK v3 clients, with the given timeouts. */
export function sdkApisWith(timeouts: AwsTimeouts): AwsApis {
  return {
    secretsManager(config) {
      const client = withoutSdkLogging(new SecretsManagerClient(sdkConfig(config, timeouts)));
      return {
        batchGetSecretValue: (input) => client.send(new BatchGetSecretValueCommand(input)),
        getSecretValue: (input) => client.send(new GetSecretValueCommand(input)),
        listSecrets: (input) => client.send(new ListSecretsCommand(input)),
        rotateSecret: (input) => client.send(new RotateSecretCommand(input)),
        destroy: () => client.destroy(),
      };
    },
    parameterStore(config) {
      // The SSM client is loaded with the first Parameter Store store: ~13 MiB of memory that
      // installations reading only Secrets Manager never need.
      const ssm = import('@aws-sdk/client-ssm').then((sdk) => ({
        sdk,
        client: withoutSdkLogging(new sdk.SSMClient(sdkConfig(config, timeouts))),
      }));
      ssm.catch(() => undefined); // a failed load is reported by the calls that await it
      return {
        getParameters: async (input) => {
          const { sdk, client } = await ssm;
          return client.send(new sdk.GetParametersCommand(input));
        },
        getParametersByPath: async (input) => {
          const { sdk, client } = await ssm;
          return client.send(new sdk.GetParametersByPathCommand(input));
        },
        describeParameters: async (input) => {
          const { sdk, client } = await ssm;
          return client.send(new sdk.DescribeParametersCommand(input));
        },
        destroy: () => void ssm.then(({ client }) => client.destroy()).catch(() => undefined),
      };
    },
    sts(config) {
      const client = withoutSdkLogging(new STSClient(sdkConfig(config, timeouts)));
      return {
        getCallerIdentity: () => client.send(new GetCallerIdentityCommand({})),
        assumeRole: (input) => client.send(new AssumeRoleCommand(input)),
        destroy: () => client.destroy(),
      };
    },
  };
}

/** The real AWS SDK v3 clients. */
export const sdkApis: AwsApis = sdkApisWith(DEFAULT_TIMEOUTS);

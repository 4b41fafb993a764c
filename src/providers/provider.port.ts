// The provider port: what every external store implements, and the errors it may raise.
import type { StoreProvider } from '../api/types.ts';

/** How a provider call failed; the reconciler picks retry policy and condition reason from it. */
export type ProviderErrorCategory = 'NotFound' | 'AccessDenied' | 'Throttled' | 'Unavailable' | 'Invalid';

/**
 * A classified provider failure. The message is sanitised (no request ids, account ids,
 * credentials or values) and stable between retries, so it can go to status and Events
 * as is. The SDK's own error is deliberately not kept: it may carry any of those.
 */
export class ProviderError extends Error {
  readonly category: ProviderErrorCategory;
  /** The server's hint (Retry-After) for throttled and unavailable errors. */
  readonly retryAfterMs?: number;

  constructor(category: ProviderErrorCategory, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'ProviderError';
    this.category = category;
    this.retryAfterMs = retryAfterMs;
  }

  /** Throttled and unavailable errors pass by themselves; the others need a change somewhere. */
  get transient(): boolean {
    return this.category === 'Throttled' || this.category === 'Unavailable';
  }
}

/** A store configuration that cannot work (bad field, credentials Secret missing). */
export class StoreConfigError extends Error {
  readonly reason: 'InvalidSpec' | 'StoreCredentialsMissing';
  constructor(reason: 'InvalidSpec' | 'StoreCredentialsMissing', message: string) {
    super(message);
    this.name = 'StoreConfigError';
    this.reason = reason;
  }
}

/** One remote value to read. */
export interface RemoteRequest {
  key: string;
  /** Version id or stage/label; absent means the provider's current version. */
  version?: string;
}

/** A remote value as read, before properties are picked or values decoded. */
export interface RemoteValue {
  key: string;
  /** The bytes of the whole value. */
  value: Buffer;
  /** For stores whose values are maps already (a Kubernetes Secret): its fields. */
  fields?: Record<string, Buffer>;
  /** The store's version id of what was read, for status.sources and the audit trail. */
  versionId?: string;
}

/** An external secret store, as the fetch layer sees it. */
export interface SecretsProvider {
  /** For logs and metrics: "kubernetes", "aws/SecretsManager", "gcp". */
  readonly name: string;
  /** Largest number of requests `getSecrets` sends in one call; the fetch layer batches up to it. */
  readonly maxBatch: number;
  /**
   * Reads values. The answer has one entry per request, in the same order: the value or the
   * classified error of that request. A failure of the whole call throws a ProviderError.
   * `onCall` is told of every API operation made, for the cost metrics.
   */
  getSecrets(
    requests: RemoteRequest[],
    onCall: (operation: string) => void,
  ): Promise<(RemoteValue | ProviderError)[]>;
  /** Checks the configuration and credentials against the store; throws ProviderError or StoreConfigError. */
  validate(onCall: (operation: string) => void): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
  /**
   * Whether `getSecrets` reads this request together with others in one API call (AWS
   * BatchGetSecretValue, GetParameters). The fetch layer may read such requests ahead, since
   * adding one to a call costs nothing; absent means none is.
   */
  batchable?(request: RemoteRequest): boolean;
  /**
   * Asks the store to rotate the secret now (AWS RotateSecret), for `rotateInStore`. Throws a
   * ProviderError; absent when the store cannot rotate.
   */
  rotate?(key: string, onCall: (operation: string) => void): Promise<void>;
  /**
   * Mints short-lived credentials for a role with the store's own credentials (AWS STS
   * AssumeRole), for `generators.awsSTS`. Throws a ProviderError; absent when the store has no
   * such thing.
   */
  assumeRole?(input: AssumeRoleInput, onCall: (operation: string) => void): Promise<TemporaryCredentials>;
  /**
   * Dynamic credentials under a lease (Vault's database, AWS and other engines), for
   * `generators.vault`; absent when the store has no leases.
   */
  leases?: LeasePort;
  /**
   * Every remote secret that matches, with its current value (dataFrom.find). `key` of each
   * value is the remote name. Absent when the store cannot list.
   */
  find?(query: FindQuery, onCall: (operation: string) => void): Promise<RemoteValue[]>;
}

/** dataFrom.find: remote secrets by name and/or tags, optionally under a path. */
export interface FindQuery {
  /** Only names under this prefix (Parameter Store: a path, searched recursively). */
  path?: string;
  /** A regular expression (JavaScript syntax) the name must match. */
  nameRegexp?: string;
  /** Tags (Google: labels; Kubernetes: labels) that must all be present with these values. */
  tags?: Record<string, string>;
}

/** A credential a secrets engine minted under a lease. `data` is values, never to be logged. */
export interface LeasedCredential {
  data: Record<string, Buffer>;
  lease: LeaseInfo;
}

/** A lease as the store reports it. The id is not a secret, but is never logged with a value. */
export interface LeaseInfo {
  id: string;
  /** Seconds the lease has left from now. */
  durationSeconds: number;
  renewable: boolean;
}

/** Minting, renewing and revoking leased credentials; errors are ProviderErrors. */
export interface LeasePort {
  /** Mints a credential at `path` (GET, or POST with `parameters`). */
  mint(
    request: { path: string; parameters?: Record<string, string> },
    onCall: (operation: string) => void,
  ): Promise<LeasedCredential>;
  /** Asks for `incrementSeconds` more from now; answers what the store granted (less at its max TTL). */
  renew(id: string, incrementSeconds: number, onCall: (operation: string) => void): Promise<LeaseInfo>;
  /** Revokes a lease; a lease already gone is not an error. */
  revoke(id: string, onCall: (operation: string) => void): Promise<void>;
  /** Ids and issue times of the live leases under `prefix` (the orphan sweep). */
  list(prefix: string, onCall: (operation: string) => void): Promise<{ id: string; issuedAt: number }[]>;
}

/** What `SecretsProvider.assumeRole` is asked for. */
export interface AssumeRoleInput {
  roleArn: string;
  /** Lifetime of the credentials; the store bounds it (AWS: 900 s up to the role's maximum). */
  durationSeconds: number;
  /** Shows in the cloud's audit trail (CloudTrail) as who used the credentials. */
  sessionName: string;
}

/** Credentials minted by `SecretsProvider.assumeRole`: values, never to be logged. */
export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** Reads Kubernetes Secrets, for providers that take credentials or values from them. */
export interface SecretReader {
  /** Secrets of a namespace, optionally by label selector, with their data. */
  listSecrets?(
    namespace: string,
    labelSelector?: string,
  ): Promise<{ name: string; data: Record<string, Buffer>; resourceVersion: string }[]>;
  /** The data of a Secret, or undefined when it does not exist. */
  readSecret(
    namespace: string,
    name: string,
  ): Promise<{ data: Record<string, Buffer>; resourceVersion: string } | undefined>;
}

/** Issues tokens of Kubernetes service accounts (the TokenRequest API), for stores that log in with one. */
export interface ServiceAccountTokens {
  /** A token of `namespace/name` for `audiences`, valid `expirationSeconds`: a credential, never to be logged. */
  requestToken(
    namespace: string,
    name: string,
    audiences: string[],
    expirationSeconds: number,
  ): Promise<string>;
}

/** What a provider is built from. */
export interface ProviderContext {
  store: { kind: 'SecretStore' | 'ClusterSecretStore'; name: string; namespace?: string };
  secrets: SecretReader;
  tokens: ServiceAccountTokens;
  /** The operator's clock (milliseconds), for token lifetimes. */
  now(): number;
}

/** Builds providers of one kind; one registry line per provider. */
export interface ProviderFactory {
  /** The field under spec.provider this factory handles. */
  readonly id: keyof StoreProvider;
  create(spec: StoreProvider, context: ProviderContext): Promise<SecretsProvider>;
}

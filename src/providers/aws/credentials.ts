// Where a store's AWS credentials come from: the SDK default chain, static keys in a Kubernetes
// Secret, and optionally an assumed role on top.
import type { AwsProvider } from '../../api/types.ts';
import { readCredential } from '../credential-secret.ts';
import type { ProviderContext } from '../provider.port.ts';
import type { AwsKeys, StsApi } from './aws-api.ts';
import { classify } from './errors.ts';

/** Renew an assumed-role session this long before it expires, so no call ever uses a dead one. */
export const RENEW_BEFORE_EXPIRY_MS = 5 * 60_000;

type StoreRef = ProviderContext['store'];

/** Static keys from the Kubernetes Secret(s) `auth.secretRef` names. */
export async function readStaticKeys(
  secretRef: NonNullable<NonNullable<AwsProvider['auth']>['secretRef']>,
  context: ProviderContext,
): Promise<AwsKeys> {
  const field = 'provider.aws.auth.secretRef';
  // One after the other, so a store missing both is always told about the first one.
  const accessKeyId = await readCredential(
    secretRef.accessKeyID,
    context,
    `${field}.accessKeyID`,
    'the AWS access key id',
  );
  const secretAccessKey = await readCredential(
    secretRef.secretAccessKey,
    context,
    `${field}.secretAccessKey`,
    'the AWS secret access key',
  );
  const sessionToken = secretRef.sessionToken
    ? await readCredential(secretRef.sessionToken, context, `${field}.sessionToken`, 'the AWS session token')
    : undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/**
 * Credentials of an assumed role, obtained with `sts` (a client holding the base credentials).
 * One session serves every client of the store; it is renewed RENEW_BEFORE_EXPIRY_MS before it
 * expires, and concurrent callers share one AssumeRole call. A failure is not cached: the next
 * call tries again.
 */
export function assumedRoleCredentials(
  sts: StsApi,
  params: { roleArn: string; sessionName: string; externalId?: string },
  now: () => number = Date.now,
): () => Promise<AwsKeys> {
  let session: Promise<AwsKeys> | undefined;
  const fresh = async (): Promise<AwsKeys> => {
    let answer;
    try {
      answer = await sts.assumeRole({
        RoleArn: params.roleArn,
        RoleSessionName: params.sessionName,
        ...(params.externalId ? { ExternalId: params.externalId } : {}),
      });
    } catch (error) {
      throw classify(error, { service: 'STS', action: 'assume', key: params.roleArn });
    }
    return toKeys(answer.Credentials, params.roleArn);
  };
  return async () => {
    if (session) {
      const current = await session.catch(() => undefined);
      const expires = current?.expiration?.getTime();
      if (current && (expires === undefined || expires - now() > RENEW_BEFORE_EXPIRY_MS)) return current;
      session = undefined;
    }
    const attempt = fresh();
    session = attempt;
    attempt.catch(() => {
      if (session === attempt) session = undefined;
    });
    return attempt;
  };
}

/** STS credentials in SDK shape; STS answering without them is a broken answer, not a denial. */
export function toKeys(
  credentials:
    { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date } | undefined,
  roleArn: string,
): AwsKeys & { sessionToken: string; expiration: Date } {
  if (
    !credentials?.AccessKeyId ||
    !credentials.SecretAccessKey ||
    !credentials.SessionToken ||
    !credentials.Expiration
  ) {
    throw classify(
      { name: 'IncompleteAnswer', $metadata: { httpStatusCode: 502 } },
      {
        service: 'STS',
        action: 'assume',
        key: roleArn,
      },
    );
  }
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    sessionToken: credentials.SessionToken,
    expiration: credentials.Expiration,
  };
}

/** A role session name for the store's own AssumeRole: what CloudTrail shows as the caller. */
export function storeSessionName(store: StoreRef): string {
  const raw = `mlsecrets-${store.namespace ? `${store.namespace}.` : ''}${store.name}`;
  // AWS allows [\w+=,.@-]{2,64}.
  return raw.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}

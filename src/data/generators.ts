// Dynamic credentials minted at each issue of a Secret (spec.generators).
import type { SecretBinding } from '../api/types.ts';
import type { SecretsProvider } from '../providers/provider.port.ts';
import { DataError } from './properties.ts';

/** The keys an awsSTS generator writes. */
export const AWS_STS_KEYS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
];

const DEFAULT_STS_SECONDS = 3600;

/** The keys the binding's generators write (they are minted, not read, so never compared). */
export function generatedKeys(binding: SecretBinding): string[] {
  return (binding.spec.generators ?? []).length > 0 ? AWS_STS_KEYS : [];
}

/** Problems a schema cannot see: two generators would write the same keys. */
export function validateGenerators(binding: SecretBinding): void {
  const generators = binding.spec.generators ?? [];
  if (generators.length > 1) {
    throw new DataError(
      'DuplicateKey',
      'only one awsSTS generator per binding: each writes the same AWS_* keys',
    );
  }
  const keys = new Set((binding.spec.data ?? []).map((d) => d.secretKey));
  const clash = generatedKeys(binding).find((k) => keys.has(k));
  if (clash)
    throw new DataError('DuplicateKey', `secretKey "${clash}" is also written by the awsSTS generator`);
}

/** The longest a generated credential may live, for the expiry; undefined without generators. */
export function generatedLifetimeMs(binding: SecretBinding): number | undefined {
  const sts = binding.spec.generators?.[0]?.awsSTS;
  return sts ? (sts.durationSeconds ?? DEFAULT_STS_SECONDS) * 1000 : undefined;
}

/** Mints the generators' credentials with the store's provider. */
export async function mintGenerated(
  binding: SecretBinding,
  handle: { label: string; provider: SecretsProvider },
  onCall: (operation: string) => void,
): Promise<{ data: Record<string, Buffer>; expiresAt?: number }> {
  const sts = binding.spec.generators?.[0]?.awsSTS;
  if (!sts) return { data: {} };
  if (!handle.provider.assumeRole) {
    throw new DataError(
      'InvalidValue',
      `generators.awsSTS needs an aws store; ${handle.label} is ${handle.provider.name}`,
    );
  }
  const sessionName = (
    sts.sessionName ?? `mlsecrets-${binding.metadata.namespace}-${binding.metadata.name}`
  ).slice(0, 64);
  const credentials = await handle.provider.assumeRole(
    { roleArn: sts.roleArn, durationSeconds: sts.durationSeconds ?? DEFAULT_STS_SECONDS, sessionName },
    onCall,
  );
  const expiration = credentials.expiration.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    data: {
      AWS_ACCESS_KEY_ID: Buffer.from(credentials.accessKeyId),
      AWS_SECRET_ACCESS_KEY: Buffer.from(credentials.secretAccessKey),
      AWS_SESSION_TOKEN: Buffer.from(credentials.sessionToken),
      AWS_CREDENTIAL_EXPIRATION: Buffer.from(expiration),
    },
    expiresAt: credentials.expiration.getTime(),
  };
}

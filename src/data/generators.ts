// Dynamic credentials minted at each issue of a Secret (spec.generators): temporary AWS keys
// (awsSTS) and leased credentials of a Vault or OpenBao secrets engine (vault).
import type { SecretBinding } from '../api/types.ts';
import type { LeaseInfo, SecretsProvider } from '../providers/provider.port.ts';
import { DataError } from './properties.ts';

/** The keys an awsSTS generator writes. */
export const AWS_STS_KEYS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
];

const DEFAULT_STS_SECONDS = 3600;

/** Whether the binding mints credentials (they live only in the Secret, so are never compared). */
export function hasGenerators(binding: SecretBinding): boolean {
  return (binding.spec.generators ?? []).length > 0;
}

/** The vault generator of the binding, if it has one. */
export function vaultGenerator(binding: SecretBinding) {
  return binding.spec.generators?.find((g) => g.vault)?.vault;
}

/** Problems a schema cannot see: two generators, or a generator writing a key `data` writes too. */
export function validateGenerators(binding: SecretBinding): void {
  const generators = binding.spec.generators ?? [];
  if (generators.length > 1) {
    throw new DataError('DuplicateKey', 'only one generator per binding: a Secret holds one credential');
  }
  const keys = new Set((binding.spec.data ?? []).map((d) => d.secretKey));
  const clash = generators[0]?.awsSTS ? AWS_STS_KEYS.find((k) => keys.has(k)) : undefined;
  if (clash)
    throw new DataError('DuplicateKey', `secretKey "${clash}" is also written by the awsSTS generator`);
}

/** The longest an awsSTS credential may live, for the expiry; undefined otherwise (a lease says it when minted). */
export function generatedLifetimeMs(binding: SecretBinding): number | undefined {
  const sts = binding.spec.generators?.[0]?.awsSTS;
  return sts ? (sts.durationSeconds ?? DEFAULT_STS_SECONDS) * 1000 : undefined;
}

/** What a generator minted: the keys it writes, when they stop working, and the lease that holds them. */
export interface Minted {
  data: Record<string, Buffer>;
  expiresAt?: number;
  lease?: LeaseInfo;
}

/** Mints the generators' credentials with the store's provider. */
export async function mintGenerated(
  binding: SecretBinding,
  handle: { label: string; provider: SecretsProvider },
  onCall: (operation: string) => void,
  now: number,
): Promise<Minted> {
  const generator = binding.spec.generators?.[0];
  if (generator?.vault) return mintLeased(binding, generator.vault, handle, onCall, now);
  const sts = generator?.awsSTS;
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

async function mintLeased(
  binding: SecretBinding,
  vault: NonNullable<ReturnType<typeof vaultGenerator>>,
  handle: { label: string; provider: SecretsProvider },
  onCall: (operation: string) => void,
  now: number,
): Promise<Minted> {
  const leases = handle.provider.leases;
  if (!leases) {
    throw new DataError(
      'InvalidValue',
      `generators.vault needs a vault store; ${handle.label} is ${handle.provider.name}`,
    );
  }
  const parameters = vault.parameters
    ? Object.fromEntries(
        Object.entries(vault.parameters).filter((e): e is [string, string] => e[1] !== undefined),
      )
    : undefined;
  const minted = await leases.mint({ path: vault.path, parameters }, onCall);
  const keys = new Set((binding.spec.data ?? []).map((d) => d.secretKey));
  const clash = Object.keys(minted.data).find((k) => keys.has(k));
  if (clash) {
    // Never left live: the credential was minted for a Secret that will not be written.
    await leases.revoke(minted.lease.id, onCall);
    throw new DataError(
      'DuplicateKey',
      `secretKey "${clash}" is also written by the vault generator (${vault.path})`,
    );
  }
  return {
    data: minted.data,
    lease: minted.lease,
    ...(minted.lease.durationSeconds > 0 ? { expiresAt: now + minted.lease.durationSeconds * 1000 } : {}),
  };
}

// Classification of Vault (and OpenBao) failures into our categories, with messages of our own
// built from the status, the operation and the path. Vault's own error strings are not used:
// they may echo request data, and a message that changes between attempts churns status.
import { ProviderError } from '../provider.port.ts';
import { VaultHttpError } from './client.ts';

const TLS_CODES =
  /^(CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME)/;

/** What was being done: the only facts a message may name. */
export interface VaultCall {
  /** "reading", "listing", "logging in at", "minting", "renewing a lease of", "revoking a lease of". */
  action: string;
  /** The API path, without values: "secret/data/ml/token", "database/creds/feature-store". */
  path: string;
}

export function classify(error: unknown, call: VaultCall): ProviderError {
  if (error instanceof ProviderError) return error;
  const subject = `${call.action} ${call.path}`;
  if (!(error instanceof VaultHttpError)) {
    return new ProviderError('Unavailable', `Vault: ${subject} failed (unexpected error)`);
  }
  if (error.status === undefined) {
    if (error.code && TLS_CODES.test(error.code)) {
      return new ProviderError(
        'Invalid',
        `Vault: TLS verification failed ${subject} (${error.code}); check the server address and caBundle/caSecretRef`,
      );
    }
    return new ProviderError(
      'Unavailable',
      `Vault could not be reached ${subject} (${error.code ?? 'network error'})`,
    );
  }
  const status = error.status;
  if (status === 404) return new ProviderError('NotFound', `Vault: nothing at ${call.path} (404)`);
  if (status === 401 || status === 403) {
    return new ProviderError(
      'AccessDenied',
      `Vault: permission denied ${subject} (${status}); check the policies of the role the store logs in with`,
    );
  }
  if (status === 429) {
    return new ProviderError('Throttled', `Vault: rate limited ${subject} (429)`, error.retryAfterMs);
  }
  if (status === 503) {
    return new ProviderError(
      'Unavailable',
      `Vault: sealed, in standby or under maintenance ${subject} (503)`,
      error.retryAfterMs,
    );
  }
  if (status >= 500 || status === 412) {
    return new ProviderError('Unavailable', `Vault: server error ${subject} (${status})`, error.retryAfterMs);
  }
  return new ProviderError('Invalid', `Vault: the request was refused ${subject} (${status})`);
}

// Google Secret Manager resource names, built from a store's project and a binding's remote
// reference. Checked here rather than left to the API: a key such as "ml/huggingface" (fine
// for AWS) can never name a Google secret, and saying so costs no call and no quota.
import { ProviderError } from '../provider.port.ts';

/** Secret ids: letters, digits, `_` and `-`, at most 255 characters (the API's own rule). */
const secretId = /^[A-Za-z0-9_-]{1,255}$/;
/** A full secret name, possibly in another project than the store's (the credentials decide). */
const fullSecretName = /^projects\/([^/\s]+)\/secrets\/([^/]+)$/;
/**
 * `latest`, a version number, or an alias. Aliases are stricter in the API (lowercase, starting
 * with a letter); this only keeps a version from reaching into the resource path.
 */
const versionPattern = /^(latest|[1-9][0-9]{0,18}|[A-Za-z][A-Za-z0-9_-]{0,62})$/;
/** The version a remoteRef without `version` reads. */
export const DEFAULT_VERSION = 'latest';

/**
 * `projects/<project>/secrets/<secret>/versions/<version>` for `key` (a secret id, or a full
 * name `projects/p/secrets/s`) and `version` (default `latest`). Throws an Invalid
 * ProviderError for a key or version the API could never accept.
 */
export function secretVersionName(projectID: string, key: string, version?: string): string {
  const wanted = version ?? DEFAULT_VERSION;
  if (!versionPattern.test(wanted)) {
    throw new ProviderError(
      'Invalid',
      `Google Secret Manager: version "${wanted}" of secret "${key}" is not "latest", a version number or an alias`,
    );
  }
  return `${secretName(projectID, key)}/versions/${wanted}`;
}

/** `projects/<project>/secrets/<secret>` for a secret id or a full secret name. */
export function secretName(projectID: string, key: string): string {
  const full = fullSecretName.exec(key);
  if (full) {
    if (!secretId.test(full[2]!)) throw invalidKey(key);
    return key;
  }
  if (!secretId.test(key)) throw invalidKey(key);
  return `projects/${projectID}/secrets/${key}`;
}

/** The version number at the end of a version name the API returned ("…/versions/3" → "3"). */
export function versionIdOf(name: string | null | undefined): string | undefined {
  const match = /\/versions\/([^/]+)$/.exec(name ?? '');
  return match?.[1];
}

/** Project ids, numbers and domain-scoped ids ("example.com:proj"): anything without `/` or spaces. */
export function isValidProjectID(projectID: string): boolean {
  return /^[^/\s]{1,100}$/.test(projectID);
}

function invalidKey(key: string): ProviderError {
  return new ProviderError(
    'Invalid',
    `Google Secret Manager: "${key}" is not a secret id (letters, digits, "_" and "-", at most 255) nor a name "projects/<project>/secrets/<id>"`,
  );
}

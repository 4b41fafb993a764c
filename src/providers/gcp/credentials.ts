// The service-account key a store names in provider.gcp.auth.secretRef, read from a Kubernetes
// Secret. Messages name the Secret and the problem, never any part of its content.
import { createPrivateKey } from 'node:crypto';
import type { SecretKeySelector } from '../../api/types.ts';
import { credentialsNamespace } from '../credential-secret.ts';
import { StoreConfigError, type ProviderContext } from '../provider.port.ts';

/**
 * The two fields of a service-account key the client needs. Only these are passed on: a key
 * file of another `type` (external_account, impersonated_service_account) would make the
 * auth library read files or call URLs named in it, on the operator's behalf.
 */
export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
}

/**
 * Reads and checks the service-account key JSON `ref` points at, in the namespace
 * `credentialsNamespace` allows.
 */
export async function readServiceAccountKey(
  ref: SecretKeySelector,
  context: ProviderContext,
): Promise<ServiceAccountKey> {
  const namespace = credentialsNamespace(ref, context.store, 'provider.gcp.auth.secretRef');
  const where = `Secret "${namespace}/${ref.name}"`;
  const secret = await context.secrets.readSecret(namespace, ref.name);
  if (!secret) {
    throw new StoreConfigError('StoreCredentialsMissing', `the credentials ${where} does not exist`);
  }
  const raw = secret.data[ref.key];
  if (raw === undefined) {
    throw new StoreConfigError('StoreCredentialsMissing', `the credentials ${where} has no key "${ref.key}"`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    // The parser's message quotes the text around the error: key material.
    throw new StoreConfigError('InvalidSpec', `the service-account key in ${where} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new StoreConfigError('InvalidSpec', `the service-account key in ${where} is not a JSON object`);
  }
  const key = parsed as Record<string, unknown>;
  if (key.type !== undefined && key.type !== 'service_account') {
    throw new StoreConfigError(
      'InvalidSpec',
      `the key in ${where} is not a service-account key (its "type" is not "service_account")`,
    );
  }
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string') {
    throw new StoreConfigError(
      'InvalidSpec',
      `the service-account key in ${where} lacks "client_email" or "private_key"`,
    );
  }
  try {
    // Found now rather than at the first call, where a signing failure looks like an outage.
    createPrivateKey(key.private_key);
  } catch {
    throw new StoreConfigError(
      'InvalidSpec',
      `the "private_key" of the service-account key in ${where} is not a PEM private key`,
    );
  }
  return { client_email: key.client_email, private_key: key.private_key };
}

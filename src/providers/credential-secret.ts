// Credentials a store names in a Kubernetes Secret (provider.<id>.auth...). Messages name the
// Secret and the field, never any part of the content.
import type { SecretKeySelector } from '../api/types.ts';
import { StoreConfigError, type ProviderContext } from './provider.port.ts';

type StoreRef = ProviderContext['store'];

/**
 * The namespace a credentials Secret is read from. A SecretStore may only read its own
 * namespace: otherwise anyone allowed to create a SecretStore could make the operator use (and
 * thereby prove or misuse) credentials kept in another namespace.
 */
export function credentialsNamespace(selector: SecretKeySelector, store: StoreRef, field: string): string {
  if (store.kind === 'SecretStore') {
    if (selector.namespace && selector.namespace !== store.namespace) {
      throw new StoreConfigError(
        'InvalidSpec',
        `a SecretStore may only read credentials from its own namespace "${store.namespace}", not "${selector.namespace}" (${field}); use a ClusterSecretStore`,
      );
    }
    return store.namespace!;
  }
  if (!selector.namespace) {
    throw new StoreConfigError(
      'InvalidSpec',
      `a ClusterSecretStore must name the namespace of its credentials Secret (${field}.namespace)`,
    );
  }
  return selector.namespace;
}

/** One credential, trimmed (keys written from files often end in a newline). */
export async function readCredential(
  selector: SecretKeySelector,
  context: ProviderContext,
  field: string,
  what: string,
): Promise<string> {
  const namespace = credentialsNamespace(selector, context.store, field);
  const secret = await context.secrets.readSecret(namespace, selector.name);
  const value = secret?.data[selector.key]?.toString('utf8').trim();
  if (!value) {
    throw new StoreConfigError(
      'StoreCredentialsMissing',
      `Secret "${namespace}/${selector.name}" (key "${selector.key}") holding ${what} was not found`,
    );
  }
  return value;
}

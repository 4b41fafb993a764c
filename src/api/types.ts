// The resources as the operator handles them: generated spec/status types plus object metadata.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type {
  ClusterSecretStoreSpec,
  SecretBindingSpec,
  SecretBindingStatus,
  SecretStoreSpec,
  SecretStoreStatus,
} from './types.generated.ts';

export type * from './types.generated.ts';
import { API_VERSION } from './schema/crds.ts';
export { API_VERSION, GROUP, VERSION } from './schema/crds.ts';

export interface SecretBinding {
  apiVersion: 'mlsecrets.io/v1alpha1';
  kind: 'SecretBinding';
  metadata: V1ObjectMeta;
  spec: SecretBindingSpec;
  status?: SecretBindingStatus;
}

/**
 * The binding as the object an Event is about (kubectl describe sb lists the Events under it);
 * `namespace` is given where the binding object may not carry it (a webhook's cached copy).
 */
export function bindingEventSubject(
  binding: SecretBinding,
  namespace = binding.metadata.namespace,
): { apiVersion: string; kind: 'SecretBinding'; namespace?: string; name: string; uid: string } {
  return {
    apiVersion: API_VERSION,
    kind: 'SecretBinding',
    namespace,
    name: binding.metadata.name!,
    uid: binding.metadata.uid!,
  };
}

export type StoreKind = 'SecretStore' | 'ClusterSecretStore';

/** A SecretStore or ClusterSecretStore: the same spec but for the cluster store's namespaceSelector. */
export interface Store {
  apiVersion: 'mlsecrets.io/v1alpha1';
  kind: StoreKind;
  metadata: V1ObjectMeta;
  spec: SecretStoreSpec | ClusterSecretStoreSpec;
  status?: SecretStoreStatus;
}

/** Plural resource names, for API paths. */
export const PLURALS = {
  SecretBinding: 'secretbindings',
  SecretStore: 'secretstores',
  ClusterSecretStore: 'clustersecretstores',
} as const;

/** `namespace/name`, or `name` for cluster-scoped objects: the work-queue key. */
export function objectKey(meta: { namespace?: string; name?: string }): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : (meta.name ?? '');
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

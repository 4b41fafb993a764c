// Small helpers to create and read mlsecrets resources in tests, through client-node's own
// clients (not the operator's code), so a test checks the operator from the outside.
import * as k8s from '@kubernetes/client-node';
import type {
  SecretBindingSpec,
  SecretBindingStatus,
  SecretStoreSpec,
  SecretStoreStatus,
} from '../../src/api/types.ts';
import { eventually, isStatus } from './kube.ts';

const group = 'mlsecrets.io';
const version = 'v1alpha1';

export interface Clients {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
}

export function clients(kc: k8s.KubeConfig): Clients {
  return { core: kc.makeApiClient(k8s.CoreV1Api), custom: kc.makeApiClient(k8s.CustomObjectsApi) };
}

export interface BindingObject {
  metadata: k8s.V1ObjectMeta;
  spec: SecretBindingSpec;
  status?: SecretBindingStatus;
}

export async function createBinding(
  c: Clients,
  namespace: string,
  name: string,
  spec: SecretBindingSpec,
): Promise<void> {
  await c.custom.createNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: 'secretbindings',
    body: { apiVersion: `${group}/${version}`, kind: 'SecretBinding', metadata: { name, namespace }, spec },
  });
}

export async function getBinding(c: Clients, namespace: string, name: string): Promise<BindingObject> {
  return (await c.custom.getNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: 'secretbindings',
    name,
  })) as BindingObject;
}

/** Replaces the binding's spec (a JSON merge patch of `spec`). */
export async function patchBindingSpec(
  c: Clients,
  namespace: string,
  name: string,
  spec: Partial<SecretBindingSpec>,
) {
  await c.custom.patchNamespacedCustomObject(
    { group, version, namespace, plural: 'secretbindings', name, body: { spec } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

export async function deleteBinding(c: Clients, namespace: string, name: string): Promise<void> {
  await c.custom.deleteNamespacedCustomObject({ group, version, namespace, plural: 'secretbindings', name });
}

export async function createStore(
  c: Clients,
  kind: 'SecretStore' | 'ClusterSecretStore',
  name: string,
  spec: SecretStoreSpec,
  namespace?: string,
): Promise<void> {
  const body = { apiVersion: `${group}/${version}`, kind, metadata: { name, namespace }, spec };
  if (kind === 'SecretStore') {
    await c.custom.createNamespacedCustomObject({
      group,
      version,
      namespace: namespace!,
      plural: 'secretstores',
      body,
    });
  } else {
    await c.custom.createClusterCustomObject({ group, version, plural: 'clustersecretstores', body });
  }
}

export async function getStoreStatus(
  c: Clients,
  kind: 'SecretStore' | 'ClusterSecretStore',
  name: string,
  namespace?: string,
): Promise<SecretStoreStatus | undefined> {
  const object = (
    kind === 'SecretStore'
      ? await c.custom.getNamespacedCustomObject({
          group,
          version,
          namespace: namespace!,
          plural: 'secretstores',
          name,
        })
      : await c.custom.getClusterCustomObject({ group, version, plural: 'clustersecretstores', name })
  ) as { status?: SecretStoreStatus };
  return object.status;
}

export async function deleteClusterStore(c: Clients, name: string): Promise<void> {
  await c.custom.deleteClusterCustomObject({ group, version, plural: 'clustersecretstores', name });
}

/** Waits until the binding's Ready condition has `status` (and `reason`, if given). */
export async function waitForReady(
  c: Clients,
  namespace: string,
  name: string,
  want: { status?: 'True' | 'False'; reason?: string } = {},
  timeoutMs = 20_000,
): Promise<BindingObject> {
  const status = want.status ?? 'True';
  return eventually(
    () => getBinding(c, namespace, name),
    (b) => {
      const ready = b.status?.conditions?.find((x) => x.type === 'Ready');
      return ready?.status === status && (want.reason === undefined || ready.reason === want.reason);
    },
    { timeoutMs, what: `${namespace}/${name} Ready=${status}${want.reason ? ` (${want.reason})` : ''}` },
  );
}

/** A Secret's data, decoded to strings; undefined when it does not exist. */
export async function secretData(
  c: Clients,
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  try {
    const secret = await c.core.readNamespacedSecret({ namespace, name });
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}

/** Events about one object, oldest first. */
export async function eventsFor(c: Clients, namespace: string, name: string): Promise<k8s.CoreV1Event[]> {
  const list = await c.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return list.items.sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
}

export async function putSourceSecret(
  c: Clients,
  namespace: string,
  name: string,
  stringData: Record<string, string>,
): Promise<void> {
  try {
    await c.core.replaceNamespacedSecret({
      namespace,
      name,
      body: { metadata: { name, namespace }, stringData },
    });
  } catch (error) {
    if (!isStatus(error, 404)) throw error;
    await c.core.createNamespacedSecret({ namespace, body: { metadata: { name, namespace }, stringData } });
  }
}

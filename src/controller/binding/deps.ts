// What a binding's reconcile reads from the cluster and whom it tells what it did. Both are
// required as a whole: an optional callback left unwired fails silently.
import type { SecretBinding } from '../../api/types.ts';
import type { StoreHandle } from '../../fetch/fetcher.ts';
import type { SecretObject } from '../../kube/kube-client.ts';

/** A workload that may hold a PerWorkload Secret. */
export interface Workload {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  /** Why it is over ("completed", "failed", "succeeded"), or undefined while it runs. */
  ended?: string;
}

/** The cluster as the informer caches hold it: read without API calls. */
export interface BindingCache {
  getBinding(key: string): SecretBinding | undefined;
  /** A managed Secret. */
  getManagedSecret(namespace: string, name: string): SecretObject | undefined;
  /**
   * Whether a Secret outside the managed cache exists by this name (a metadata-only cache of
   * unmanaged Secrets); undefined when not known, and the API is asked.
   */
  unmanagedSecretExists(namespace: string, name: string): boolean | undefined;
  /** Managed Secrets whose binding annotation names `bindingName` in `namespace`. */
  managedSecretsOf(namespace: string, bindingName: string): SecretObject[];
  /** Workloads a PerWorkload binding serves (Jobs whose pods it selects, injected pods' owners). */
  workloadsFor(binding: SecretBinding): Workload[];
  /** How many running pods carry the binding (webhook injections); undefined when not watched. */
  projectedPodCount(namespace: string, bindingName: string): number | undefined;
  /** Labels of a namespace, for a ClusterSecretStore's namespaceSelector. */
  namespaceLabels(namespace: string): Record<string, string> | undefined;
}

/** Told what a reconcile did, for metrics, restarts, pod refreshes and the work queue. */
export interface BindingListener {
  /** A reconcile failed, by condition reason. */
  failed(reason: string): void;
  /**
   * A Secret that consumers already had got new data, whatever onRotation says and PerWorkload
   * Secrets included: pods mounting it may be refreshed (--refresh-mounted-pods).
   */
  newData(binding: SecretBinding, secretName: string): void;
  /** As newData, for a binding whose onRotation is RolloutRestart. */
  rolloutRestart(binding: SecretBinding, secretName: string): void;
  /**
   * A binding synced again after its store was unavailable or throttling: the other bindings
   * backing off from the same outage need not wait out their backoff.
   */
  storeRecovered(binding: SecretBinding): void;
  /** A provider call made outside the fetch layer (rotation, generators). */
  providerCall(handle: StoreHandle, operation: string): void;
}

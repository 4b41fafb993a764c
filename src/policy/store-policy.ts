// spec.policy of a store, enforced for every binding that uses it (least privilege).
import type { EffectiveLifetime } from '../api/defaults.ts';
import type { ClusterStorePolicy, SecretBinding, Store } from '../api/types.ts';
import { globMatches, selectorMatches } from '../api/selectors.ts';
import { parseDuration } from '../rotation/duration.ts';
import { formatDuration } from '../rotation/duration.ts';

/** Why a binding may not use a store: the rule and what broke it, for status, Events and audit. */
export interface PolicyDenial {
  rule: 'namespaceSelector' | 'allowedKeys' | 'maxTTL' | 'minRefreshInterval';
  message: string;
}

/**
 * Checks a binding against its store's policy. `namespaceLabels` are the labels of the
 * binding's namespace (for a ClusterSecretStore's namespaceSelector). Remote keys found by
 * dataFrom.find are not known yet; `allowedKeys` filters those when they are (see allowedKey).
 * maxTTL and minRefreshInterval deny rather than clamp: a binding silently given less than
 * it asks for would surprise its owner at 3 a.m.
 */
export function checkPolicy(
  binding: SecretBinding,
  store: Store,
  lifetime: EffectiveLifetime,
  namespaceLabels: Record<string, string> | undefined,
): PolicyDenial | undefined {
  const policy = (store.spec.policy ?? {}) as ClusterStorePolicy;
  const storeName = `${store.kind} "${store.metadata.name}"`;
  if (store.kind === 'ClusterSecretStore' && policy.namespaceSelector) {
    if (!namespaceLabels || !selectorMatches(policy.namespaceSelector, namespaceLabels)) {
      return {
        rule: 'namespaceSelector',
        message: `${storeName} does not admit namespace "${binding.metadata.namespace}" (policy.namespaceSelector)`,
      };
    }
  }
  const allowed = policy.allowedKeys ?? [];
  if (allowed.length > 0) {
    const keys = [
      ...(binding.spec.data ?? []).map((d) => d.remoteRef.key),
      ...(binding.spec.dataFrom ?? []).flatMap((d) => (d.extract ? [d.extract.key] : [])),
    ];
    const denied = keys.find((key) => !allowedKey(allowed, key));
    if (denied) {
      return {
        rule: 'allowedKeys',
        message: `remote key "${denied}" is not allowed by ${storeName} (policy.allowedKeys)`,
      };
    }
  }
  if (policy.maxTTL && lifetime.ttlMs > parseDuration(policy.maxTTL)) {
    return {
      rule: 'maxTTL',
      message: `lifetime.ttl ${formatDuration(lifetime.ttlMs)} is longer than ${storeName} allows (policy.maxTTL ${policy.maxTTL})`,
    };
  }
  if (policy.minRefreshInterval && lifetime.refreshMs < parseDuration(policy.minRefreshInterval)) {
    return {
      rule: 'minRefreshInterval',
      message: `lifetime.refreshInterval ${formatDuration(lifetime.refreshMs)} is shorter than ${storeName} allows (policy.minRefreshInterval ${policy.minRefreshInterval})`,
    };
  }
  return undefined;
}

/** Whether a remote key matches one of the allowed globs (none given: every key). */
export function allowedKey(allowed: string[] | undefined, key: string): boolean {
  return !allowed || allowed.length === 0 || allowed.some((pattern) => globMatches(pattern, key));
}

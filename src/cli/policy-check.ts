// A binding against its store's policy, with the store and namespace taken from the files
// being validated first and the cluster second: validating a changed store together with the
// bindings that use it shows what the change would deny before it is rolled out.
import { effectiveLifetime } from '../api/defaults.ts';
import type { ClusterStorePolicy, SecretBinding, Store, StoreKind } from '../api/types.ts';
import { providers } from '../providers/registry.ts';
import { checkPolicy } from '../policy/store-policy.ts';

/** A store found for a binding, and where it came from (for the reader of a denial). */
export interface FoundStore {
  store: Store;
  /** `the one in FILE:INDEX` for a store from the files, `the cluster's` otherwise. */
  from: string;
  /** False when the store's own document has problems: its policy cannot be judged. */
  usable: boolean;
}

export interface PolicyLookup {
  store(kind: StoreKind, namespace: string | undefined, name: string): Promise<FoundStore | undefined>;
  /** A namespace's labels; undefined when the namespace is unknown. */
  namespaceLabels(namespace: string): Promise<Record<string, string> | undefined>;
  /** Whether a cluster is consulted: only then is a store that cannot be found a problem. */
  cluster: boolean;
}

export interface PolicyOutcome {
  problems: string[];
  notes: string[];
}

/**
 * Checks one binding (already free of spec problems, its namespace resolved) against the
 * policy of the store it names, with the operator's own checkPolicy.
 */
export async function checkBindingPolicy(
  binding: SecretBinding,
  lookup: PolicyLookup,
): Promise<PolicyOutcome> {
  const outcome: PolicyOutcome = { problems: [], notes: [] };
  const ref = binding.spec.storeRef;
  const kind: StoreKind = ref.kind ?? 'SecretStore';
  const namespace = binding.metadata.namespace!;
  const found = await lookup.store(kind, kind === 'SecretStore' ? namespace : undefined, ref.name);
  if (!found) {
    if (lookup.cluster) {
      outcome.problems.push(
        kind === 'SecretStore'
          ? `StoreNotFound: SecretStore "${ref.name}" is neither in the files nor in namespace "${namespace}" of the cluster (a SecretStore is usable only from its own namespace; use a ClusterSecretStore to share one)`
          : `StoreNotFound: ClusterSecretStore "${ref.name}" is neither in the files nor in the cluster`,
      );
    } else {
      outcome.notes.push(
        `${kind} "${ref.name}" is not in the files: its policy was not checked (use --cluster)`,
      );
    }
    return outcome;
  }
  if (!found.usable) {
    outcome.notes.push(`${kind} "${ref.name}" has problems (${found.from}): its policy was not checked`);
    return outcome;
  }
  let store = found.store;
  let labels: Record<string, string> | undefined;
  const policy = (store.spec.policy ?? {}) as ClusterStorePolicy;
  if (kind === 'ClusterSecretStore' && policy.namespaceSelector) {
    labels = await lookup.namespaceLabels(namespace);
    if (!labels) {
      // Unknown labels would read as a denial; say what was not checked instead.
      outcome.notes.push(
        `the namespaceSelector of ClusterSecretStore "${ref.name}" was not checked: namespace "${namespace}" is not in the files${lookup.cluster ? ' nor in the cluster' : ' (use --cluster)'}`,
      );
      const { namespaceSelector: _ignored, ...rest } = policy;
      store = { ...store, spec: { ...store.spec, policy: rest } };
    }
  }
  const denial = checkPolicy(binding, store, effectiveLifetime(binding), labels);
  if (denial) outcome.problems.push(`PolicyDenied: ${denial.message}; the store is ${found.from}`);
  const provider = store.spec.provider as Record<string, unknown> | undefined;
  for (const generator of new Set((binding.spec.generators ?? []).flatMap((g) => Object.keys(g)))) {
    const minters = providers.filter((p) => p.generators?.includes(generator));
    if (!provider || minters.some((p) => provider[p.id] !== undefined)) continue;
    outcome.problems.push(
      `spec.generators: ${generator} needs a store with the ${minters.map((p) => p.id).join(' or ')} provider; ${kind} "${ref.name}" (${found.from}) has ${Object.keys(provider).join(', ')}`,
    );
  }
  return outcome;
}

// Cached objects share their repeated strings. JSON.parse makes a new string for every value, so
// 10,000 cached bindings held 10,000 copies of "mlsecrets.io/v1alpha1", of their namespace, of
// "True" and "Synced", and each binding two copies of its condition message and times.

/** Fields whose values repeat across objects (few distinct values), shared through one table. */
const SHARED_FIELDS: ReadonlySet<string> = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'type',
  'status',
  'reason',
  'ttl',
  'refreshInterval',
  'key',
  'secretKey',
  'controller',
  'app.kubernetes.io/managed-by',
]);

/** The most strings the shared table holds; past it values are only de-duplicated per object. */
const MAX_SHARED = 50_000;
/** Longer strings are left alone: long values rarely repeat and are cheap to keep once. */
const MAX_LENGTH = 256;

const shared = new Map<string, string>();

/**
 * Replaces, in place, equal strings of `object` by one instance: values of SHARED_FIELDS with
 * the instance every cached object uses, any other string with its first occurrence in this
 * object (a condition message and time repeated in Ready and Synced). Returns `object`.
 */
export function compactStrings<T>(object: T): T {
  const local = new Map<string, string>();
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const value: unknown = node[i];
        if (typeof value === 'string') node[i] = once(local, value);
        else visit(value);
      }
      return;
    }
    const record = node as Record<string, unknown>;
    for (const field of Object.keys(record)) {
      const value = record[field];
      if (typeof value === 'string') {
        record[field] = SHARED_FIELDS.has(field) ? sharedInstance(value) : once(local, value);
      } else {
        visit(value);
      }
    }
  };
  visit(object);
  return object;
}

function once(local: Map<string, string>, value: string): string {
  if (value.length > MAX_LENGTH) return value;
  const seen = local.get(value);
  if (seen !== undefined) return seen;
  local.set(value, value);
  return value;
}

function sharedInstance(value: string): string {
  if (value.length > MAX_LENGTH) return value;
  const seen = shared.get(value);
  if (seen !== undefined) return seen;
  if (shared.size < MAX_SHARED) shared.set(value, value);
  return value;
}

// Status writes as JSON merge patches, skipped when nothing changed.

/** A JSON merge patch from `previous` to `next`: fields that disappear are set to null. */
export function mergePatchOf(previous: object, next: object): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...next };
  for (const key of Object.keys(previous)) {
    if ((next as Record<string, unknown>)[key] === undefined) patch[key] = null;
  }
  return patch;
}

/**
 * Deep equality of JSON-shaped values with key order ignored; undefined fields count as absent.
 * Walks both values instead of serialising them: every no-op refresh compares a status, and at
 * 10,000 bindings two canonical strings per compare were a measurable share of the garbage.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  let leftKeys = 0;
  for (const key in left) {
    if (left[key] === undefined) continue;
    leftKeys++;
    if (!sameJson(left[key], right[key])) return false;
  }
  let rightKeys = 0;
  for (const key in right) if (right[key] !== undefined) rightKeys++;
  return leftKeys === rightKeys;
}

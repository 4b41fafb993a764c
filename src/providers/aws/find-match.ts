// The parts of dataFrom.find that both AWS services leave to the client: the name regexp, and
// exact tag matching where the service matches by prefix.
import { ProviderError, type FindQuery } from '../provider.port.ts';

/**
 * The query's name regexp, compiled. An invalid one is the user's to fix, so it is an Invalid
 * ProviderError (with the pattern, never a value) rather than an unclassified SyntaxError.
 */
export function compileNameRegexp(query: FindQuery): RegExp | undefined {
  if (query.nameRegexp === undefined) return undefined;
  try {
    return new RegExp(query.nameRegexp);
  } catch {
    const shown = query.nameRegexp.length > 64 ? `${query.nameRegexp.slice(0, 64)}…` : query.nameRegexp;
    throw new ProviderError(
      'Invalid',
      `dataFrom.find name regexp "${shown}" is not a valid regular expression`,
    );
  }
}

/** Whether `tags` holds every wanted tag with exactly its value. */
export function hasTags(
  tags: { Key?: string; Value?: string }[] | undefined,
  wanted: Record<string, string> | undefined,
): boolean {
  return Object.entries(wanted ?? {}).every(([key, value]) =>
    (tags ?? []).some((tag) => tag.Key === key && tag.Value === value),
  );
}

/** Sorted by key, so the Secret's data and status.sources come out in a stable order. */
export function byKey<T extends { key: string }>(values: T[]): T[] {
  return values.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

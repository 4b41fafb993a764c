// Turns a binding's spec and the remote values it needs into the data of its Secret.
import type { DataFromItem, SecretBindingSpec, SourceVersion } from '../api/types.ts';
import type { FindQuery, RemoteRequest, RemoteValue } from '../providers/provider.port.ts';
import { DataError, decode, extractFields, selectProperty, type DecodingStrategy } from './properties.ts';

/** The Kubernetes limit on the total size of a Secret's data. */
export const MAX_SECRET_DATA_BYTES = 1024 * 1024;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/** Identifies a remote request; the same key at the same version is read once. */
export function requestId(request: RemoteRequest): string {
  return `${request.key}\u0000${request.version ?? ''}`;
}

/** Spec problems a schema cannot express; thrown before anything is read. */
export function validateBindingSpec(spec: SecretBindingSpec): void {
  const seen = new Set<string>();
  for (const item of spec.data ?? []) {
    if (seen.has(item.secretKey)) {
      throw new DataError(
        'DuplicateKey',
        `secretKey "${item.secretKey}" appears more than once in spec.data`,
      );
    }
    seen.add(item.secretKey);
  }
}

/** The distinct remote values a binding reads (data and dataFrom.extract). */
export function remoteRequests(spec: SecretBindingSpec): RemoteRequest[] {
  const requests = new Map<string, RemoteRequest>();
  const add = (key: string, version?: string) => {
    const request: RemoteRequest = version ? { key, version } : { key };
    requests.set(requestId(request), request);
  };
  for (const item of spec.data ?? []) add(item.remoteRef.key, item.remoteRef.version);
  for (const item of spec.dataFrom ?? []) if (item.extract) add(item.extract.key, item.extract.version);
  return [...requests.values()];
}

/**
 * Remote secrets the binding saw at two different versions in one fetch: a read and a
 * listing (dataFrom.find) of the same secret, or two listings, answered before and after a
 * rotation in the store (or one of them from the shared cache). Assembling such a fetch would
 * write a Secret mixing old and new keys. Reads that ask for a version are left out: they
 * are meant to differ.
 */
export function tornKeys(
  requests: RemoteRequest[],
  read: Map<string, RemoteValue | Error>,
  found: RemoteValue[][],
): string[] {
  const versions = new Map<string, Set<string>>();
  const note = (value: RemoteValue) => {
    if (value.versionId === undefined) return;
    let set = versions.get(value.key);
    if (!set) versions.set(value.key, (set = new Set()));
    set.add(value.versionId);
  };
  for (const request of requests) {
    const value = read.get(requestId(request));
    if (!request.version && value && !(value instanceof Error)) note(value);
  }
  for (const list of found) list.forEach(note);
  return [...versions].filter(([, set]) => set.size > 1).map(([key]) => key);
}

export interface AssembledData {
  data: Record<string, Buffer>;
  sources: SourceVersion[];
}

/**
 * Builds the Secret data. dataFrom comes first and data after it, so an explicit
 * spec.data key wins over the same key extracted from a JSON value.
 */
/** The find queries of a binding, each with the id its results are kept under. */
export function findQueries(spec: SecretBindingSpec): { id: string; query: FindQuery }[] {
  const out = new Map<string, FindQuery>();
  for (const item of spec.dataFrom ?? []) {
    if (!item.find) continue;
    const query = toQuery(item.find);
    out.set(findId(query), query);
  }
  return [...out].map(([id, query]) => ({ id, query }));
}

function toQuery(find: NonNullable<DataFromItem['find']>): FindQuery {
  return {
    ...(find.path ? { path: find.path } : {}),
    ...(find.name?.regexp ? { nameRegexp: find.name.regexp } : {}),
    ...(find.tags && Object.keys(find.tags).length > 0 ? { tags: find.tags as Record<string, string> } : {}),
  };
}

export function findId(query: FindQuery): string {
  return JSON.stringify([query.path ?? '', query.nameRegexp ?? '', Object.entries(query.tags ?? {}).sort()]);
}

/** Renames a key with the rewrites in order, then replaces what a Secret key cannot hold with "_". */
export function rewriteKey(key: string, rewrites: DataFromItem['rewrite']): string {
  let out = key;
  for (const { regexp } of rewrites ?? []) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(regexp.source);
    } catch {
      throw new DataError(
        'InvalidKey',
        `rewrite regexp "${truncate(regexp.source)}" is not a valid regular expression`,
      );
    }
    // Go-style ${1} as well as $1.
    out = out.replace(pattern, regexp.target.replace(/\$\{(\d+)\}/g, '$$$1'));
  }
  return out.replace(/[^-._a-zA-Z0-9]/g, '_');
}

export function assembleData(
  spec: SecretBindingSpec,
  values: Map<string, RemoteValue>,
  found: Map<string, RemoteValue[]> = new Map(),
): AssembledData {
  // No prototype: a field named "__proto__" must become a key, not replace the prototype.
  const data: Record<string, Buffer> = Object.create(null) as Record<string, Buffer>;
  const lookup = (key: string, version?: string): RemoteValue => {
    const value = values.get(requestId(version ? { key, version } : { key }));
    if (!value) throw new Error(`internal: remote value "${key}" was not fetched`);
    return value;
  };
  const foundSources: RemoteValue[] = [];
  for (const item of spec.dataFrom ?? []) {
    if (item.find) {
      const values = found.get(findId(toQuery(item.find))) ?? [];
      for (const remote of values) {
        const name = rewriteKey(remote.key, item.rewrite);
        if (name === '' || name.length > 253) {
          throw new DataError(
            'InvalidKey',
            `found secret "${truncate(remote.key)}" gives no valid Secret key; add a rewrite`,
          );
        }
        data[name] = decode(
          remote.value,
          item.find.decodingStrategy as DecodingStrategy | undefined,
          `"${remote.key}"`,
        );
        foundSources.push(remote);
      }
      continue;
    }
    if (!item.extract) continue;
    const { key, version, property, decodingStrategy } = item.extract;
    for (const [extracted, raw] of Object.entries(extractFields(lookup(key, version), property))) {
      const field = item.rewrite?.length ? rewriteKey(extracted, item.rewrite) : extracted;
      if (!SECRET_KEY.test(field) || field.length > 253) {
        throw new DataError(
          'InvalidKey',
          `field "${truncate(field)}" of "${key}" is not a valid Secret key (letters, digits, "-", "_", "." only); rename it with a rewrite or pick it with spec.data`,
        );
      }
      data[field] = decode(
        raw,
        decodingStrategy as DecodingStrategy | undefined,
        `field "${field}" of "${key}"`,
      );
    }
  }
  for (const item of spec.data ?? []) {
    const { key, version, property, decodingStrategy } = item.remoteRef;
    const remote = lookup(key, version);
    const raw = property === undefined ? remote.value : selectProperty(remote, property);
    data[item.secretKey] = decode(
      raw,
      decodingStrategy as DecodingStrategy | undefined,
      `the value for "${item.secretKey}"`,
    );
  }
  checkSize(data);
  const sources = [...values.values(), ...foundSources]
    .map((v) => (v.versionId ? { key: v.key, versionId: v.versionId } : { key: v.key }))
    .sort((a, b) => a.key.localeCompare(b.key));
  return { data, sources };
}

/** The Kubernetes limit: keys and values of a Secret's data together at most 1 MiB. */
export function checkSize(data: Record<string, Buffer>): void {
  const size = Object.entries(data).reduce((sum, [k, v]) => sum + k.length + v.length, 0);
  if (size > MAX_SECRET_DATA_BYTES) {
    throw new DataError(
      'SecretTooLarge',
      `the Secret data would be ${size} bytes, over the Kubernetes limit of ${MAX_SECRET_DATA_BYTES}`,
    );
  }
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

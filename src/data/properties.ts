// The shared base every provider's values go through: pick a property, decode, extract fields.
// Providers only read bytes; everything a user's `property` or `decodingStrategy` means lives here.
import type { RemoteValue } from '../providers/provider.port.ts';

/** A value that cannot be shaped as the binding asks; the reason names the condition reason. */
export class DataError extends Error {
  readonly reason:
    | 'PropertyNotFound'
    | 'InvalidValue'
    | 'InvalidKey'
    | 'DuplicateKey'
    | 'SecretTooLarge'
    | 'InvalidSecretType';
  constructor(reason: DataError['reason'], message: string) {
    super(message);
    this.name = 'DataError';
    this.reason = reason;
  }
}

export type DecodingStrategy = 'None' | 'Base64' | 'Base64URL' | 'Auto';

/**
 * Picks `property` from a remote value. Stores whose values are maps (Kubernetes Secrets)
 * match a field name first; otherwise the value is JSON and `property` is a dotted path with
 * numeric array indices. A string is returned exactly; numbers and booleans as JSON text;
 * objects and arrays as compact JSON.
 */
export function selectProperty(remote: RemoteValue, property: string): Buffer {
  if (remote.fields) {
    // Own fields only: "constructor" or "__proto__" must not reach Object.prototype.
    const own = (name: string) => (Object.hasOwn(remote.fields!, name) ? remote.fields![name] : undefined);
    const field = own(property);
    if (field !== undefined) return field;
    const dot = property.indexOf('.');
    const head = dot > 0 ? own(property.slice(0, dot)) : undefined;
    if (head === undefined)
      throw new DataError('PropertyNotFound', `key "${remote.key}" has no field "${property}"`);
    return pickJsonPath(parseJson(head, remote.key), property.slice(dot + 1), remote.key, property);
  }
  return pickJsonPath(parseJson(remote.value, remote.key), property, remote.key, property);
}

/** Every top-level field of a value, for dataFrom.extract. Nested objects become JSON text. */
export function extractFields(remote: RemoteValue, property?: string): Record<string, Buffer> {
  if (remote.fields && property === undefined) return { ...remote.fields };
  const source = property === undefined ? remote.value : selectProperty(remote, property);
  const parsed = parseJson(source, remote.key);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DataError(
      'InvalidValue',
      `key "${remote.key}" is not a JSON object, so its fields cannot be extracted`,
    );
  }
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, render(v)]));
}

/** Applies a decoding strategy. `Auto` decodes only what is valid base64 and leaves the rest. */
export function decode(value: Buffer, strategy: DecodingStrategy | undefined, what: string): Buffer {
  switch (strategy ?? 'None') {
    case 'None':
      return value;
    case 'Base64':
    case 'Base64URL': {
      const text = value.toString('utf8').trim();
      const pattern = strategy === 'Base64' ? /^[A-Za-z0-9+/]*={0,2}$/ : /^[A-Za-z0-9_-]*={0,2}$/;
      if (!pattern.test(text)) throw new DataError('InvalidValue', `${what} is not valid ${strategy}`);
      return Buffer.from(text, strategy === 'Base64' ? 'base64' : 'base64url');
    }
    case 'Auto': {
      const text = value.toString('utf8').trim();
      if (text.length > 0 && text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text))
        return Buffer.from(text, 'base64');
      // Like ESO: base64url only when padded to whole quanta, so "my-api-key" stays text.
      if (text.length > 0 && text.length % 4 === 0 && /^[A-Za-z0-9_-]+={0,2}$/.test(text))
        return Buffer.from(text, 'base64url');
      return value;
    }
    default:
      throw new DataError('InvalidValue', `unknown decodingStrategy "${String(strategy)}"`);
  }
}

function parseJson(value: Buffer, key: string): unknown {
  try {
    return JSON.parse(value.toString('utf8'));
  } catch {
    // Never quote the value: it is the secret.
    throw new DataError('InvalidValue', `key "${key}" is not JSON, so a property cannot be read from it`);
  }
}

function pickJsonPath(root: unknown, path: string, key: string, property: string): Buffer {
  let current: unknown = root;
  let rest = path;
  while (rest !== '') {
    if (current === null || typeof current !== 'object') break;
    const record = current as Record<string, unknown>;
    // A field whose own name contains dots wins over descending (ESO's behaviour too).
    if (Object.hasOwn(record, rest)) {
      current = record[rest];
      rest = '';
      break;
    }
    const dot = rest.indexOf('.');
    const segment = dot < 0 ? rest : rest.slice(0, dot);
    if (!Object.hasOwn(record, segment)) {
      current = undefined;
      break;
    }
    current = record[segment];
    rest = dot < 0 ? '' : rest.slice(dot + 1);
  }
  if (rest !== '' || current === undefined) {
    throw new DataError('PropertyNotFound', `key "${key}" has no property "${property}"`);
  }
  return render(current);
}

function render(value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(JSON.stringify(value), 'utf8');
}

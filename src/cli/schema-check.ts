// Checks mlsecrets documents against the CRDs' openAPIV3Schema, offline, with ajv.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formatsPlugin from 'ajv-formats';
import { GO_DURATION_PATTERN, SECRET_KEY_PATTERN, TS_NAME, type Schema } from '../api/schema/common.ts';
import { customResourceDefinitions } from '../api/schema/crds.ts';
import { providers } from '../providers/registry.ts';
import type { StoreKind } from '../api/types.ts';

export type MlsecretsKind = 'SecretBinding' | StoreKind;

/** A problem at a field of a document; `path` is dotted (`spec.data[0].secretKey`), empty for the whole. */
export interface FieldProblem {
  path: string;
  message: string;
}

const validators = new Map<string, ValidateFunction>();

/**
 * Validates a document against its kind's CRD schema. `status` is not checked: the API server
 * ignores it on create and update (it is a subresource), so exported manifests pass.
 */
export function checkSchema(kind: MlsecretsKind, document: Record<string, unknown>): FieldProblem[] {
  const validate = validatorFor(kind);
  const { status: _status, ...rest } = document;
  if (validate(rest)) return [];
  const problems = (validate.errors ?? []).map(describe);
  // allErrors reports some failures twice (a value failing pattern and maxLength is one problem to a reader).
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function validatorFor(kind: MlsecretsKind): ValidateFunction {
  let validate = validators.get(kind);
  if (!validate) {
    const crd = customResourceDefinitions(providers).find(
      (c) => (c.spec as { names: { kind: string } }).names.kind === kind,
    );
    if (!crd) throw new Error(`internal: no CRD for ${kind}`);
    const version = (crd.spec as { versions: { schema: { openAPIV3Schema: Schema } }[] }).versions[0]!;
    validate = ajv().compile(toJsonSchema(version.schema.openAPIV3Schema));
    validators.set(kind, validate);
  }
  return validate;
}

let instance: Ajv | undefined;
function ajv(): Ajv {
  if (!instance) {
    instance = new Ajv({ allErrors: true, verbose: true, strict: true });
    // ajv-formats is CommonJS: depending on the loader its default import is the plugin or
    // the module object carrying it.
    const plugin = formatsPlugin as unknown as { default?: typeof formatsPlugin } & typeof formatsPlugin;
    (plugin.default ?? plugin)(instance);
  }
  return instance;
}

/**
 * Turns a structural CRD schema into plain JSON Schema: drops the `x-kubernetes-*` keywords
 * (CEL rules and list/map types, which ajv does not know; the CEL rules are mirrored in
 * spec-checks.ts) and our type-name marks, and closes every object that lists its properties,
 * because the API server prunes (or, with strict field validation, rejects) unknown fields:
 * a misspelt field would otherwise be silently lost.
 */
export function toJsonSchema(schema: Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === TS_NAME) continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, Schema>).map(([name, sub]) => [name, toJsonSchema(sub)]),
      );
    } else if ((key === 'items' || key === 'additionalProperties') && isSchema(value)) {
      out[key] = toJsonSchema(value);
    } else {
      out[key] = value;
    }
  }
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (out.properties && out.additionalProperties === undefined && !preserve) out.additionalProperties = false;
  return out;
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `/spec/data/0/secretKey` → `spec.data[0].secretKey`; odd keys (label names) in brackets. */
export function fieldPath(pointer: string): string {
  if (pointer === '') return '';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^[0-9]+$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** The dotted path of a field below a JSON pointer. */
function child(pointer: string, field: string): string {
  return fieldPath(`${pointer}/${field.replace(/~/g, '~0').replace(/\//g, '~1')}`);
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

const EXPECTED: Record<string, string> = {
  object: 'an object',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
};

/** One ajv error as a sentence a manifest author understands. */
function describe(error: ErrorObject): FieldProblem {
  const path = fieldPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const at = (message: string) => ({ path, message: path ? `${path}: ${message}` : message });
  switch (error.keyword) {
    case 'additionalProperty':
    case 'additionalProperties': {
      const unknown = String(params.additionalProperty);
      const field = child(error.instancePath, unknown);
      const known = Object.keys(
        (error.parentSchema?.properties as Record<string, unknown> | undefined) ?? {},
      );
      const guess = closest(unknown, known);
      return {
        path: field,
        message: `unknown field "${field}"${guess ? ` (did you mean "${guess}"?)` : ''}`,
      };
    }
    case 'required': {
      const field = child(error.instancePath, String(params.missingProperty));
      return { path: field, message: `missing required field "${field}"` };
    }
    case 'type':
      return at(
        `must be ${EXPECTED[String(params.type)] ?? String(params.type)}, not ${typeName(error.data)}`,
      );
    case 'enum':
      return at(
        `${show(error.data)} is not one of ${(params.allowedValues as unknown[]).map((v) => String(v)).join(', ')}`,
      );
    case 'pattern':
      return at(patternMessage(String(params.pattern), error.data));
    case 'format':
      return at(`${show(error.data)} is not a valid ${String(params.format)}`);
    case 'maxLength':
      return at(`must be at most ${String(params.limit)} characters long`);
    case 'minLength':
      return at(
        Number(params.limit) === 1
          ? 'must not be empty'
          : `must be at least ${String(params.limit)} characters long`,
      );
    case 'maxItems':
      return at(`must have at most ${String(params.limit)} items`);
    case 'minItems':
      return at(`must have at least ${String(params.limit)} items`);
    case 'minimum':
    case 'maximum':
      return at(
        `${show(error.data)} ${error.keyword === 'minimum' ? 'is below the minimum' : 'is above the maximum'} ${String(params.limit)}`,
      );
    default:
      return at(error.message ?? `fails ${error.keyword}`);
  }
}

function patternMessage(pattern: string, value: unknown): string {
  if (pattern === GO_DURATION_PATTERN) {
    return `${show(value)} is not a duration: expected a number with a unit (ms, s, m, h), e.g. "90s", "1h30m" or "1.5h" (no days: "48h")`;
  }
  if (pattern === SECRET_KEY_PATTERN) {
    return `${show(value)} is not a valid Secret key: use letters, digits, "-", "_" and "."`;
  }
  if (pattern.includes('arn:'))
    return `${show(value)} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)`;
  if (pattern.includes('@(yearly')) {
    return `${show(value)} is not a cron expression: expected 5 or 6 fields, or @daily, @hourly and the like`;
  }
  if (pattern === '^/.*') return `${show(value)} must be an absolute path`;
  return `${show(value)} does not match ${pattern}`;
}

/** The known field a misspelt one most likely meant: case-insensitive, at most two edits away. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}

// target.template: shape the Secret from the fetched values with Liquid (liquidjs), sandboxed.
import { createHash } from 'node:crypto';
import type { Liquid, LiquidError } from 'liquidjs';
import type { SecretBindingSpec } from '../api/types.ts';
import { DataError } from './properties.ts';

/** A template that cannot be parsed or rendered. The message names the key and position, never a value. */
export class TemplateError extends Error {
  readonly reason = 'TemplateError';
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/**
 * The engine: no file system (includes and layouts resolve against an empty in-memory set),
 * no prototype access (`ownPropertyOnly`), unknown filters are errors, and parse/render time
 * and memory are bounded so a hostile template cannot stall a worker. Templates see only the
 * fetched keys; nothing of the environment or the process is in scope. Built on the first
 * template: liquidjs costs ~9 MiB of memory that installations without templates never need.
 */
let engine: Promise<Liquid> | undefined;

function templateEngine(): Promise<Liquid> {
  engine ??= import('liquidjs').then(({ Liquid }) => {
    const liquid = new Liquid({
      templates: {},
      ownPropertyOnly: true,
      strictFilters: true,
      strictVariables: false,
      parseLimit: 1e6,
      renderLimit: 1000,
      memoryLimit: 64 * 1024 * 1024,
      cache: 512,
    });
    liquid.registerFilter('base64_encode', (value: unknown) =>
      Buffer.from(String(value ?? ''), 'utf8').toString('base64'),
    );
    liquid.registerFilter('base64_decode', (value: unknown) =>
      Buffer.from(String(value ?? ''), 'base64').toString('utf8'),
    );
    liquid.registerFilter('json', (value: unknown) => JSON.stringify(value ?? null));
    liquid.registerFilter('sha256', (value: unknown) =>
      createHash('sha256')
        .update(String(value ?? ''))
        .digest('hex'),
    );
    return liquid;
  });
  return engine;
}

/** Keys the Kubernetes API requires for each Secret type, and which of them must be JSON. */
const REQUIRED_KEYS: Record<string, { all?: string[]; any?: string[]; json?: string[] }> = {
  'kubernetes.io/dockerconfigjson': { all: ['.dockerconfigjson'], json: ['.dockerconfigjson'] },
  'kubernetes.io/dockercfg': { all: ['.dockercfg'], json: ['.dockercfg'] },
  'kubernetes.io/tls': { all: ['tls.crt', 'tls.key'] },
  'kubernetes.io/ssh-auth': { all: ['ssh-privatekey'] },
  'kubernetes.io/basic-auth': { any: ['username', 'password'] },
};

/** The Secret's type, labels and annotations from target and target.template (without ours). */
export function shapeMetadata(spec: SecretBindingSpec): {
  type: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  const target = spec.target ?? {};
  const template = target.template;
  return {
    type: template?.type ?? target.type ?? 'Opaque',
    labels: { ...target.labels, ...template?.metadata?.labels } as Record<string, string>,
    annotations: { ...target.annotations, ...template?.metadata?.annotations } as Record<string, string>,
  };
}

/** Applies target.template (if any) to the data and checks the Secret type's required keys. */
export async function shapeData(
  spec: SecretBindingSpec,
  data: Record<string, Buffer>,
): Promise<Record<string, Buffer>> {
  const template = spec.target?.template;
  const { type } = shapeMetadata(spec);
  let shaped: Record<string, Buffer> = data;
  if (template?.data && Object.keys(template.data).length > 0) {
    const scope = templateScope(data);
    const rendered: Record<string, Buffer> = {};
    for (const [key, source] of Object.entries(template.data as Record<string, string>)) {
      rendered[key] = Buffer.from(await render(key, source, scope), 'utf8');
    }
    shaped = (template.mergePolicy ?? 'Replace') === 'Merge' ? { ...data, ...rendered } : rendered;
  }
  checkType(type, shaped);
  return shaped;
}

/** Every fetched key as a variable, and all of them under `data` for keys that are not identifiers ("tls.crt"). */
function templateScope(data: Record<string, Buffer>): Record<string, unknown> {
  const values: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(data)) values[key] = value.toString('utf8');
  return { ...values, data: values };
}

async function render(key: string, source: string, scope: Record<string, unknown>): Promise<string> {
  try {
    return String(await (await templateEngine()).parseAndRender(source, scope));
  } catch (error) {
    throw new TemplateError(`template for key "${key}": ${describe(error)}`);
  }
}

/** liquidjs says what and where; keep its first line (it names tokens of the template, not values). */
function describe(error: unknown): string {
  const liquid = error as Partial<LiquidError> & { message?: string };
  const firstLine = String(liquid.message ?? 'cannot be rendered').split('\n')[0]!;
  return firstLine.length > 300 ? `${firstLine.slice(0, 300)}…` : firstLine;
}

function checkType(type: string, data: Record<string, Buffer>): void {
  const rule = REQUIRED_KEYS[type];
  if (!rule) return;
  const missing = (rule.all ?? []).filter((k) => !(k in data));
  if (missing.length > 0) {
    throw new DataError(
      'InvalidSecretType',
      `a ${type} Secret needs the key${missing.length > 1 ? 's' : ''} ${missing.map((k) => `"${k}"`).join(', ')}`,
    );
  }
  if (rule.any && !rule.any.some((k) => k in data)) {
    throw new DataError(
      'InvalidSecretType',
      `a ${type} Secret needs at least one of ${rule.any.map((k) => `"${k}"`).join(', ')}`,
    );
  }
  for (const key of rule.json ?? []) {
    try {
      JSON.parse(data[key]!.toString('utf8'));
    } catch {
      throw new DataError('InvalidSecretType', `key "${key}" of a ${type} Secret must be valid JSON`);
    }
  }
}

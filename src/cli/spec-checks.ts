// Offline checks of what a CRD schema cannot express (its CEL rules, and what the operator
// would reject as InvalidSpec), so `mlsecrets validate` catches them without a cluster.
import { DEFAULT_REFRESH_MS, DEFAULT_TTL_MS, effectiveLifetime } from '../api/defaults.ts';
import { oneProviderMessage } from '../api/schema/secret-store.ts';
import type { SecretBinding, SecretBindingSpec } from '../api/types.ts';
import { validateBindingSpec } from '../data/binding-data.ts';
import { validateGenerators } from '../data/generators.ts';
import { formatDuration, parseDuration } from '../rotation/duration.ts';
import { providers } from '../providers/registry.ts';
import { validateCron } from '../rotation/schedule.ts';
import type { FieldProblem, MlsecretsKind } from './schema-check.ts';

/** Whether the schema check already reported a problem at or below a path (a second report would be noise). */
export type Flagged = (path: string) => boolean;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** metadata: what the API server checks before it looks at the spec. */
export function checkMetadata(kind: MlsecretsKind, document: Record<string, unknown>): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const metadata = document.metadata;
  if (!isObject(metadata)) {
    return [{ path: 'metadata', message: 'missing required field "metadata.name"' }];
  }
  const { name, namespace } = metadata;
  if (name === undefined) {
    problems.push({ path: 'metadata.name', message: 'missing required field "metadata.name"' });
  } else if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    problems.push({
      path: 'metadata.name',
      message: `metadata.name: ${JSON.stringify(name)} is not a valid name: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit, at most 253 characters`,
    });
  }
  if (kind !== 'ClusterSecretStore' && namespace !== undefined) {
    if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace)) {
      problems.push({
        path: 'metadata.namespace',
        message: `metadata.namespace: ${JSON.stringify(namespace)} is not a valid namespace name`,
      });
    }
  }
  for (const field of ['labels', 'annotations'] as const) {
    const map = metadata[field];
    if (map === undefined) continue;
    if (!isObject(map) || Object.values(map).some((v) => typeof v !== 'string')) {
      problems.push({
        path: `metadata.${field}`,
        message: `metadata.${field}: must map names to strings (quote numbers and booleans)`,
      });
    }
  }
  return problems;
}

/** The SecretBinding rules: the CRD's CEL rules and the operator's spec validation. */
export function checkBindingSpec(document: Record<string, unknown>, flagged: Flagged): FieldProblem[] {
  const spec = document.spec;
  if (!isObject(spec)) return [];
  const problems: FieldProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message: `${path}: ${message}` });
  const nonEmpty = (value: unknown) => Array.isArray(value) && value.length > 0;

  const sources = ['data', 'dataFrom', 'generators'];
  // A source of the wrong type is already reported; "set at least one" would only repeat it.
  if (!sources.some((field) => nonEmpty(spec[field]) || flagged(`spec.${field}`))) {
    add('spec', 'set at least one of data, dataFrom or generators');
  }
  if (Array.isArray(spec.dataFrom)) {
    spec.dataFrom.forEach((item: unknown, i) => {
      if (!isObject(item)) return;
      const path = `spec.dataFrom[${i}]`;
      const set = ['extract', 'find'].filter((k) => item[k] !== undefined && item[k] !== null);
      if (set.length !== 1) {
        add(
          path,
          set.length === 0 ? 'set one of extract or find' : 'set exactly one of extract or find, not both',
        );
      }
      const find = item.find;
      if (isObject(find) && isObject(find.name) && typeof find.name.regexp === 'string') {
        const problem = regexpProblem(find.name.regexp);
        if (problem) add(`${path}.find.name.regexp`, problem);
      }
      if (Array.isArray(item.rewrite)) {
        item.rewrite.forEach((rewrite: unknown, j) => {
          if (!isObject(rewrite) || !isObject(rewrite.regexp) || typeof rewrite.regexp.source !== 'string')
            return;
          const problem = regexpProblem(rewrite.regexp.source);
          if (problem) add(`${path}.rewrite[${j}].regexp.source`, problem);
        });
      }
    });
  }
  problems.push(...duplicateKeys(spec));
  problems.push(...lifetimeProblems(spec, flagged));
  return problems;
}

function regexpProblem(source: string): string | undefined {
  try {
    new RegExp(source);
    return undefined;
  } catch (error) {
    // V8 repeats the pattern in its message ("Invalid regular expression: /x/: reason"); keep the reason.
    const reason = (error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    return `${JSON.stringify(source)} is not a valid regular expression: ${reason}`;
  }
}

/** Duplicate secretKeys, with the operator's own checks and so its own words (DuplicateKey). */
function duplicateKeys(spec: Record<string, unknown>): FieldProblem[] {
  const items = (value: unknown) => value === undefined || (Array.isArray(value) && value.every(isObject));
  if (!items(spec.data) || !items(spec.generators)) return [];
  const problems: FieldProblem[] = [];
  const binding = { spec: spec as unknown as SecretBindingSpec, metadata: {} } as SecretBinding;
  try {
    validateBindingSpec(binding.spec);
  } catch (error) {
    problems.push({ path: 'spec.data', message: `spec.data: ${(error as Error).message}` });
  }
  try {
    validateGenerators(binding);
  } catch (error) {
    problems.push({ path: 'spec.generators', message: `spec.generators: ${(error as Error).message}` });
  }
  return problems;
}

function lifetimeProblems(spec: Record<string, unknown>, flagged: Flagged): FieldProblem[] {
  const lifetime = isObject(spec.lifetime) ? spec.lifetime : {};
  const problems: FieldProblem[] = [];
  const usable = (field: string) =>
    lifetime[field] === undefined ||
    (typeof lifetime[field] === 'string' && !flagged(`spec.lifetime.${field}`));
  if (usable('ttl') && usable('refreshInterval')) {
    const ttl = lifetime.ttl as string | undefined;
    const refreshInterval = lifetime.refreshInterval as string | undefined;
    try {
      effectiveLifetime({ metadata: {}, spec: { lifetime: { ttl, refreshInterval } } } as SecretBinding);
    } catch (error) {
      problems.push({
        path: 'spec.lifetime',
        message: `spec.${(error as Error).message}${effectiveValues(ttl, refreshInterval)}`,
      });
    }
  }
  let timeZone = 'UTC';
  if (typeof lifetime.timeZone === 'string' && !flagged('spec.lifetime.timeZone')) {
    // Checked on its own (with a schedule that is always valid) so a bad zone is reported even without a schedule.
    const problem = validateCron('@daily', lifetime.timeZone);
    if (problem)
      problems.push({ path: 'spec.lifetime.timeZone', message: `spec.lifetime.timeZone: ${problem}` });
    else timeZone = lifetime.timeZone;
  }
  if (typeof lifetime.rotationSchedule === 'string' && !flagged('spec.lifetime.rotationSchedule')) {
    const problem = validateCron(lifetime.rotationSchedule, timeZone);
    if (problem) {
      problems.push({
        path: 'spec.lifetime.rotationSchedule',
        message: `spec.lifetime.rotationSchedule: ${problem}`,
      });
    }
  }
  return problems;
}

/** " (ttl 10m0s, refreshInterval 15m0s)" when the defaults make ttl < refreshInterval, so the reader sees why. */
function effectiveValues(ttl: string | undefined, refreshInterval: string | undefined): string {
  try {
    const ttlMs = ttl ? parseDuration(ttl) : DEFAULT_TTL_MS;
    const refreshMs = refreshInterval ? parseDuration(refreshInterval) : Math.min(DEFAULT_REFRESH_MS, ttlMs);
    if (refreshMs <= ttlMs || ttlMs < 1000) return '';
    const ttlText = ttl ? formatDuration(ttlMs) : `${formatDuration(ttlMs)} (the default)`;
    return ` (ttl ${ttlText}, refreshInterval ${formatDuration(refreshMs)})`;
  } catch {
    return '';
  }
}

/**
 * SecretStore and ClusterSecretStore rules: one provider (the CEL rule), the namespace rules the
 * operator enforces as InvalidSpec, and a policy that no binding could satisfy.
 */
export function checkStoreSpec(
  kind: 'SecretStore' | 'ClusterSecretStore',
  document: Record<string, unknown>,
  storeNamespace: string | undefined,
  flagged: Flagged,
): FieldProblem[] {
  const spec = document.spec;
  if (!isObject(spec)) return [];
  const problems: FieldProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message: `${path}: ${message}` });
  const provider = spec.provider;
  if (isObject(provider)) {
    const set = providers.filter((p) => provider[p.id] !== undefined && provider[p.id] !== null);
    if (set.length !== 1) {
      add(
        'spec.provider',
        `${oneProviderMessage(providers.map((p) => p.id))} (${set.length === 0 ? 'none is set' : `${set.map((p) => p.id).join(' and ')} are set`})`,
      );
    }
    for (const descriptor of set) {
      const block = provider[descriptor.id];
      if (!isObject(block)) continue;
      for (const problem of descriptor.checkSpec?.(kind, block, storeNamespace) ?? []) {
        const path = `spec.provider.${descriptor.id}${problem.path ? `.${problem.path}` : ''}`;
        add(path, problem.message);
      }
    }
    for (const [path, selector] of credentialSelectors(provider)) {
      const namespace = selector.namespace;
      if (kind === 'SecretStore' && typeof namespace === 'string' && namespace !== storeNamespace) {
        add(
          `${path}.namespace`,
          `a SecretStore may only read credentials from its own namespace "${storeNamespace}", not "${namespace}"; use a ClusterSecretStore`,
        );
      }
      if (kind === 'ClusterSecretStore' && !namespace) {
        add(path, 'a ClusterSecretStore must name the namespace of its credentials Secret (namespace)');
      }
    }
  }
  const policy = spec.policy;
  if (isObject(policy)) {
    const { maxTTL, minRefreshInterval } = policy;
    const maxMs = !flagged('spec.policy.maxTTL') ? safeDuration(maxTTL) : undefined;
    const minMs = !flagged('spec.policy.minRefreshInterval') ? safeDuration(minRefreshInterval) : undefined;
    if (maxMs !== undefined && minMs !== undefined && maxMs < minMs) {
      add(
        'spec.policy',
        `maxTTL ${String(maxTTL)} is shorter than minRefreshInterval ${String(minRefreshInterval)}: no binding can satisfy both (a ttl is at least its refreshInterval)`,
      );
    }
  }
  return problems;
}

function safeDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseDuration(value);
  } catch {
    return undefined;
  }
}

/** The Kubernetes Secret references a provider reads its credentials from, with their paths. */
function credentialSelectors(provider: Record<string, unknown>): [string, Record<string, unknown>][] {
  const out: [string, Record<string, unknown>][] = [];
  for (const descriptor of providers) {
    for (const refPath of descriptor.credentialRefs) {
      let value: unknown = provider[descriptor.id];
      for (const field of refPath.split('.')) value = isObject(value) ? value[field] : undefined;
      if (isObject(value)) out.push([`spec.provider.${descriptor.id}.${refPath}`, value]);
    }
  }
  return out;
}

// Property-based bad input (fast-check): SecretBinding, SecretStore and ClusterSecretStore
// specs, valid and invalid, applied to a real API server. Each one is either rejected by the
// CRD schema/CEL with a message that names the field, or accepted and ends with a Ready
// condition (True or False, with a reason). Shared by the integration run (a few hundred) and
// the fault suite's volume run (10,000).
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import * as k8s from '@kubernetes/client-node';
import { oneProviderMessage } from '../../src/api/schema/secret-store.ts';
import { providers } from '../../src/providers/registry.ts';
import type { Clients } from './resources.ts';

const group = 'mlsecrets.io';
const version = 'v1alpha1';

/** Strings an attacker or a careless user would try, in names, keys and properties. */
export const HOSTILE = [
  '../',
  '../../etc/passwd',
  '..%2f..%2f',
  '/var/run/secrets/kubernetes.io/serviceaccount/token',
  'other-ns/secret',
  '{{ secret }}',
  '{{ "x" | append: TOKEN }}',
  '{% for i in (1..100000000) %}x{% endfor %}',
  '{% include "/etc/passwd" %}',
  '{%- raw -%}',
  'a\u0000b',
  '\u0000',
  '\u202eevil\u202c',
  '\u200b',
  'ключ',
  '日本語🔑',
  '$(id)',
  '`id`',
  '${HOME}',
  "'; DROP TABLE x; --",
  '<script>alert(1)</script>',
  'a'.repeat(253),
  'a'.repeat(254),
  'A'.repeat(64),
  '',
  ' ',
  '.',
  '..',
  '-',
  'key\nwith\nnewlines',
  '\\u0000',
  '%s%s%n',
  'http://169.254.169.254/latest/meta-data/',
];

const hostile = fc.constantFrom(...HOSTILE);
const unicode = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
const anyString = fc.oneof(
  { weight: 3, arbitrary: hostile },
  { weight: 2, arbitrary: unicode },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
);

/** A JSON value nested `depth` levels deep (objects and arrays alternating). */
export function nested(depth: number, leaf: unknown = 'leaf'): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

/** Values of the wrong type for any field. */
const wrongType = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(unicode, fc.string(), { maxKeys: 3 }),
  fc.integer({ min: 1, max: 300 }).map((d) => nested(d)),
);

/** Mostly `valid`, sometimes a hostile string or a value of the wrong type (for specs meant to be bad). */
function anyBad<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 16, arbitrary: valid },
    { weight: 1, arbitrary: anyString },
    { weight: 1, arbitrary: wrongType },
  );
}

/** For specs meant to pass the schema: the valid arbitrary as is. */
function keep<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return valid;
}

/** Drops keys whose value is undefined (fast-check records with optional keys leave none, but merges may). */
function optional<T extends Record<string, fc.Arbitrary<unknown>>>(model: T) {
  return fc.record(model, { requiredKeys: [] });
}

export interface FuzzContext {
  /** The namespace the bindings and SecretStores go to (the operator watches it). */
  namespace: string;
  /** Keys of Secrets in the namespace (for the kubernetes store), valid targets of remoteRef.key. */
  sourceKeys: string[];
  /** Stores that exist: SecretStore names in the namespace and ClusterSecretStore names. */
  stores: { kind: 'SecretStore' | 'ClusterSecretStore'; name: string }[];
  /** A namespace a SecretStore must never read from (it holds a planted value). */
  forbiddenNamespace: string;
  /** An endpoint that fails fast (AWS/GCP stores point there: no cloud is ever called). */
  deadEndpoint: string;
}

export interface FuzzCase {
  kind: 'SecretBinding' | 'SecretStore' | 'ClusterSecretStore';
  name: string;
  spec: unknown;
  /** What the generator meant: a spec the schema should accept ('valid') or one it may refuse ('bad'). */
  intent: 'valid' | 'bad';
  /** Extra fields on the object, next to spec (a wrong-typed or unknown top level). */
  extra?: Record<string, unknown>;
}

/** Values the schema accepts, plus (for specs meant to be bad) values it must refuse. */
function pick<T>(bad: boolean, valid: T[], invalid: T[]): fc.Arbitrary<T> {
  return fc.constantFrom(...(bad ? [...valid, ...invalid] : valid));
}

const VALID_DURATIONS = ['1h', '30m', '24h', '10s', '1h30m', '87600h'];
const BAD_DURATIONS = ['0s', '-1h', '1y', 'forever', '1s'];

function bindingSpec(ctx: FuzzContext, bad: boolean): fc.Arbitrary<unknown> {
  const durations = pick(bad, VALID_DURATIONS, BAD_DURATIONS);
  const maybeBad = bad ? anyBad : keep;
  const orWrong = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
    bad ? fc.oneof({ weight: 8, arbitrary: a }, { weight: 1, arbitrary: wrongType }) : a;
  const key = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ctx.sourceKeys) },
    { weight: 2, arbitrary: bad ? anyString : anyString.filter((k) => k.length >= 1 && k.length <= 2048) },
  );
  const property = fc.oneof(
    fc.constantFrom('token', 'a', 'a.a', 'a.0.a', '0', 'db.hosts.0', 'x'.repeat(1024), 'x'.repeat(1025)),
    anyString,
  );
  const remoteRef = fc.record(
    {
      key: maybeBad(key),
      property: maybeBad(property),
      version: maybeBad(fc.constantFrom('latest', 'AWSCURRENT', '1')),
      decodingStrategy: maybeBad(pick(bad, ['None', 'Base64', 'Base64URL', 'Auto'], ['Rot13'])),
    },
    { requiredKeys: bad ? [] : ['key'] },
  );
  const secretKey = fc.oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[-._a-zA-Z0-9]{1,40}$/) },
    { weight: bad ? 1 : 0, arbitrary: anyString },
  );
  const dataItem = maybeBad(
    fc.record(
      { secretKey: maybeBad(secretKey), remoteRef: maybeBad(remoteRef) },
      { requiredKeys: bad ? [] : ['secretKey', 'remoteRef'] },
    ),
  );
  const data = orWrong(
    fc.oneof(
      { weight: 12, arbitrary: fc.array(dataItem, { minLength: bad ? 0 : 1, maxLength: 5 }) },
      // Huge arrays: at the limit (256) and, for bad specs, over it.
      {
        weight: 1,
        arbitrary: fc
          .constantFrom(...(bad ? [256, 257, 1000] : [256]))
          .chain((n) => fc.array(dataItem, { minLength: n, maxLength: n })),
      },
    ),
  );
  const extract = optional({ key: maybeBad(key), property: maybeBad(property) });
  const find = optional({
    path: maybeBad(anyString),
    name: optional({ regexp: maybeBad(fc.constantFrom('.*', '(a+)+$', '[', '^x$', '(?<n>a)', '\\')) }),
    tags: maybeBad(fc.dictionary(anyString, anyString, { maxKeys: 3 })),
  });
  const rewrite = fc.array(
    maybeBad(
      fc.record({
        regexp: maybeBad(
          fc.record({
            source: maybeBad(fc.constantFrom('^(.*)$', '(a+)+b', '[', '.*')),
            target: maybeBad(fc.constantFrom('$1', 'x', '', '../$1', '{{ $1 }}')),
          }),
        ),
      }),
    ),
    { maxLength: 3 },
  );
  const dataFrom = fc.array(
    bad
      ? maybeBad(optional({ extract: maybeBad(extract), find: maybeBad(find), rewrite }))
      : fc.oneof(
          fc.record({ extract: extract.map((e) => ({ key: 'source', ...e })), rewrite }),
          fc.record({ find, rewrite }),
        ),
    {
      maxLength: 3,
    },
  );
  const stringMap = maybeBad(fc.dictionary(anyString, anyString, { maxKeys: 4 }));
  // Values near 1 MiB (the Secret size limit) in a template: rare, they are slow to write.
  const bigValue = fc.constantFrom(1_000_000, 1_048_576 - 200, 1_200_000).map((n) => 'x'.repeat(n));
  const templateData = orWrong(
    fc.oneof(
      {
        weight: 20,
        arbitrary: fc.dictionary(
          fc.stringMatching(/^[a-z]{1,8}$/),
          fc.oneof(
            hostile,
            fc.constantFrom('{{ token }}', '{{ TOKEN | base64_encode }}', '{% if x %}y{% endif %}'),
          ),
        ),
      },
      { weight: 1, arbitrary: bigValue.map((v) => ({ big: v })) },
    ),
  );
  const target = optional({
    name: maybeBad(fc.oneof(fc.constantFrom('fz-target', 'a'.repeat(253)), hostile)),
    type: maybeBad(fc.constantFrom('Opaque', 'kubernetes.io/dockerconfigjson', 'kubernetes.io/tls', 'x/y')),
    labels: stringMap,
    annotations: stringMap,
    template: maybeBad(
      optional({
        type: maybeBad(fc.constantFrom('Opaque', 'kubernetes.io/dockerconfigjson')),
        data: templateData,
        mergePolicy: maybeBad(pick(bad, ['Replace', 'Merge'], ['Append'])),
        metadata: maybeBad(optional({ labels: stringMap, annotations: stringMap })),
      }),
    ),
  });
  const lifetime = optional({
    ttl: maybeBad(durations),
    refreshInterval: maybeBad(durations),
    rotationSchedule: maybeBad(pick(bad, ['@daily', '*/5 * * * *', '61 * * * *'], ['* * * *', '@never'])),
    timeZone: maybeBad(fc.constantFrom('UTC', 'Europe/Paris', 'Mars/Olympus', '../../etc/localtime')),
    onExpiry: maybeBad(pick(bad, ['Delete', 'Retain'], ['Explode'])),
  });
  const projection = optional({
    selector: maybeBad(optional({ matchLabels: stringMap })),
    as: maybeBad(pick(bad, ['volume', 'env'], ['file'])),
    mountPath: maybeBad(
      pick(bad, ['/etc/x', '/', '/../../etc', '/var/run/secrets/kubernetes.io'], ['relative']),
    ),
    scope: maybeBad(pick(bad, ['Shared', 'PerWorkload'], ['Global'])),
  });
  const storeRef = optional({
    kind: maybeBad(fc.constantFrom('SecretStore', 'ClusterSecretStore', 'Vault')),
    name: maybeBad(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...ctx.stores.map((s) => s.name)) },
        { weight: 1, arbitrary: anyString },
      ),
    ),
  });
  // storeRef kind and name must agree with an existing store for the valid path to matter.
  const validStoreRef = fc.constantFrom(...ctx.stores).map((s) => ({ kind: s.kind, name: s.name }));
  const spec = fc
    .record(
      {
        storeRef: bad
          ? fc.oneof({ weight: 4, arbitrary: validStoreRef }, { weight: 1, arbitrary: maybeBad(storeRef) })
          : validStoreRef,
        data: data,
        dataFrom: maybeBad(dataFrom),
        target: maybeBad(target),
        lifetime: maybeBad(lifetime),
        projection: maybeBad(projection),
        generators: fc.oneof(
          { weight: 8, arbitrary: fc.constant(undefined) },
          {
            weight: 1,
            arbitrary: fc.array(
              maybeBad(
                fc.record({
                  awsSTS: maybeBad(
                    optional({
                      roleArn: maybeBad(
                        fc.constantFrom('arn:aws:iam::123456789012:role/x', 'arn:aws:iam::1:role/x'),
                      ),
                      durationSeconds: maybeBad(pick(bad, [900, 43200, 3600], [899, 43201])),
                    }),
                  ),
                }),
              ),
              { maxLength: 9 },
            ),
          },
        ),
      },
      { requiredKeys: bad ? [] : ['storeRef'] },
    )
    .map((spec) => JSON.parse(JSON.stringify(spec)) as Record<string, unknown>);
  // A valid spec has a store and at least one data item (the CEL rule); a bad one may not.
  return bad
    ? spec
    : spec.map((s) => ({
        ...s,
        storeRef: s.storeRef,
        data: s.data ?? [{ secretKey: 'k', remoteRef: { key: 'source' } }],
      }));
}

function storeSpec(ctx: FuzzContext, cluster: boolean, bad: boolean): fc.Arbitrary<unknown> {
  const durations = pick(bad, VALID_DURATIONS, BAD_DURATIONS);
  const maybeBad = bad ? anyBad : keep;
  // A SecretStore may try any namespace (the forbidden one included: it must be refused); a
  // ClusterSecretStore may read any namespace, so it never names the forbidden one here.
  const sourceNamespace = fc.oneof(
    fc.constant(ctx.namespace),
    cluster ? fc.constant('default') : fc.constant(ctx.forbiddenNamespace),
    hostile.filter((h) => !h.includes(ctx.forbiddenNamespace) && (bad || h.length <= 63)),
  );
  const kubernetes = optional({ namespace: maybeBad(sourceNamespace) });
  const aws = optional({
    region: maybeBad(pick(bad, ['us-east-1', 'mars-north-1'], [''])),
    endpoint: maybeBad(fc.constantFrom(ctx.deadEndpoint, 'not a url', 'file:///etc/passwd')),
    service: maybeBad(pick(bad, ['SecretsManager', 'ParameterStore'], ['S3'])),
    auth: maybeBad(
      optional({
        secretRef: maybeBad(
          optional({
            accessKeyID: maybeBad(
              optional({
                name: maybeBad(fc.constantFrom('aws-creds', '../x')),
                key: maybeBad(fc.constantFrom('id', 'a/b')),
              }),
            ),
            secretAccessKey: maybeBad(
              optional({
                name: maybeBad(fc.constantFrom('aws-creds')),
                key: maybeBad(fc.constantFrom('secret')),
              }),
            ),
          }),
        ),
      }),
    ),
  });
  const gcp = optional({
    projectID: maybeBad(fc.constantFrom(...(bad ? ['demo', 'p'.repeat(129)] : ['demo', 'my-project']))),
    endpoint: maybeBad(fc.constantFrom(ctx.deadEndpoint, 'not a url')),
  });
  // Every registered provider takes part: from its descriptor's examples, and for the ones
  // below also field by field (a provider added later is fuzzed from its examples at once).
  const byField: Record<string, { weight: number; arbitrary: fc.Arbitrary<unknown> }> = {
    kubernetes: { weight: 6, arbitrary: kubernetes },
    aws: { weight: 2, arbitrary: aws.map((a) => ({ region: 'us-east-1', ...a })) },
    gcp: { weight: 2, arbitrary: gcp.map((g) => ({ projectID: 'demo', ...g })) },
  };
  const validProvider = fc.oneof(
    ...providers.map((p) => {
      const examples = fc.constantFrom(...p.examples);
      const fields = byField[p.id];
      const block = fields ? fc.oneof({ weight: 3, arbitrary: fields.arbitrary }, examples) : examples;
      return { weight: fields?.weight ?? 2, arbitrary: block.map((b) => ({ [p.id]: b })) };
    }),
  );
  const provider = bad
    ? fc.oneof(
        { weight: 10, arbitrary: validProvider },
        { weight: 1, arbitrary: fc.record({ kubernetes, aws }) },
        { weight: 1, arbitrary: fc.constant({}) },
        { weight: 1, arbitrary: wrongType },
      )
    : validProvider;
  const selector = maybeBad(
    optional({
      matchLabels: maybeBad(fc.dictionary(fc.constantFrom('team', 'a/b', '日本'), anyString, { maxKeys: 2 })),
      matchExpressions: maybeBad(
        fc.array(
          optional({
            key: maybeBad(fc.constantFrom('team', '')),
            operator: maybeBad(pick(bad, ['In', 'NotIn', 'Exists', 'DoesNotExist'], ['Matches'])),
            values: maybeBad(fc.array(anyString, { maxLength: 3 })),
          }),
          { maxLength: 2 },
        ),
      ),
    }),
  );
  const policy = optional({
    allowedKeys: maybeBad(fc.array(anyString, { maxLength: 5 })),
    maxTTL: maybeBad(durations),
    minRefreshInterval: maybeBad(durations),
    ...(cluster ? { namespaceSelector: selector } : {}),
  });
  return fc
    .record(
      {
        provider: bad
          ? fc.oneof({ weight: 8, arbitrary: provider }, { weight: 1, arbitrary: fc.constant(undefined) })
          : provider,
        policy: maybeBad(policy),
        rateLimit: maybeBad(
          optional({
            qps: maybeBad(pick(bad, [0.01, 10], [0, 10001, -1])),
            burst: maybeBad(pick(bad, [1, 20], [0, 10001, 1.5])),
          }),
        ),
      },
      { requiredKeys: bad ? [] : ['provider'] },
    )
    .map((spec) => JSON.parse(JSON.stringify(spec)) as Record<string, unknown>);
}

/** Object names: mostly valid and unique; sometimes hostile (the API server must refuse most). */
function objectName(prefix: string, bad: boolean): fc.Arbitrary<string> {
  return fc
    .oneof(
      { weight: bad ? 6 : 1000, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: hostile },
      { weight: 1, arbitrary: fc.constantFrom('a'.repeat(240), 'UPPER', 'dots.in.name', '-lead', 'ü') },
    )
    .map((raw) => {
      const unique = `${prefix}-${randomBytes(4).toString('hex')}`;
      if (raw === '') return unique;
      // 253 characters exactly (the longest valid name) for the long one.
      if (raw === 'a'.repeat(240)) return `${unique}-${'a'.repeat(253 - unique.length - 1)}`;
      return `${raw}${unique}`;
    });
}

export function fuzzCase(ctx: FuzzContext, prefix: string): fc.Arbitrary<FuzzCase> {
  const tagged = (spec: fc.Arbitrary<unknown>, intent: 'valid' | 'bad') =>
    spec.map((s) => ({ spec: s, intent }));
  const ofKind = (
    kind: FuzzCase['kind'],
    weight: number,
    valid: fc.Arbitrary<unknown>,
    bad: fc.Arbitrary<unknown>,
  ) => ({
    weight,
    arbitrary: fc
      .oneof(
        fc.record({ name: objectName(prefix, false), body: tagged(valid, 'valid') }),
        fc.record({ name: objectName(prefix, true), body: tagged(bad, 'bad') }),
      )
      .map(({ name, body }): FuzzCase => ({ kind, name, spec: body.spec, intent: body.intent })),
  });
  return fc.oneof(
    ofKind(
      'SecretBinding',
      6,
      bindingSpec(ctx, false),
      fc.oneof({ weight: 8, arbitrary: bindingSpec(ctx, true) }, { weight: 1, arbitrary: wrongType }),
    ),
    ofKind('SecretStore', 2, storeSpec(ctx, false, false), storeSpec(ctx, false, true)),
    ofKind('ClusterSecretStore', 1, storeSpec(ctx, true, false), storeSpec(ctx, true, true)),
  );
}

function pluralOf(kind: FuzzCase['kind']): string {
  return kind === 'SecretBinding'
    ? 'secretbindings'
    : kind === 'SecretStore'
      ? 'secretstores'
      : 'clustersecretstores';
}

/** The messages the CRD validations give, which name the fields they are about. */
const CEL_MESSAGES = [
  'set at least one of data, dataFrom or generators',
  oneProviderMessage(providers.map((p) => p.id)),
  'ttl must be at least refreshInterval',
  'set exactly one of extract or find',
];

/** True when a rejection message says which field is wrong (or why the whole request is refused). */
export function namesTheField(message: string): boolean {
  if (/\b(spec|metadata|status|apiVersion|kind)(\.[\w[\]-]+)*(\[[^\]]*\])?(\.[\w[\]-]+)*: /.test(message))
    return true;
  if (
    /\bmetadata\.name\b|\bspec\b/.test(message) &&
    /Invalid value|Required value|Unsupported value|Too many|Too long|must /.test(message)
  )
    return true;
  if (CEL_MESSAGES.some((m) => message.includes(m))) return true;
  // The request as a whole: over the API server's or etcd's size limit.
  return /request is too large|Request entity too large|too large/i.test(message);
}

export interface FuzzStats {
  cases: number;
  /** Cases generated as valid, and how many of those the API server accepted. */
  meantValid: number;
  validAccepted: number;
  rejected: number;
  /** Creates the API server timed out on (504) and did not store: no answer about the spec. */
  apiTimeouts: number;
  accepted: number;
  readyTrue: number;
  readyFalse: number;
  /** Ready=False reasons and rejected fields, with counts. */
  reasons: Map<string, number>;
  rejectedFields: Map<string, number>;
  /** What went wrong (a case accepted but never given a condition, an unclear rejection…). */
  failures: string[];
}

export function newStats(): FuzzStats {
  return {
    cases: 0,
    meantValid: 0,
    validAccepted: 0,
    rejected: 0,
    apiTimeouts: 0,
    accepted: 0,
    readyTrue: 0,
    readyFalse: 0,
    reasons: new Map(),
    rejectedFields: new Map(),
    failures: [],
  };
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function describe(c: FuzzCase): string {
  const text = JSON.stringify({ kind: c.kind, name: c.name, spec: c.spec });
  return text.length > 400 ? `${text.slice(0, 400)}… (${text.length} chars)` : text;
}

function errorMessage(error: unknown): string {
  if (error instanceof k8s.ApiException) {
    try {
      const body = JSON.parse(String(error.body)) as { message?: string };
      return body.message ?? String(error.body);
    } catch {
      return String(error.body);
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Applies one case and, when accepted, waits until the operator gives it a Ready condition with
 * a reason; then deletes it (etcd stays small). Counts into `stats`.
 */
export async function runCase(
  c: Clients,
  ctx: FuzzContext,
  fuzz: FuzzCase,
  stats: FuzzStats,
  conditionTimeoutMs: number,
): Promise<void> {
  stats.cases++;
  if (fuzz.intent === 'valid') stats.meantValid++;
  const plural = pluralOf(fuzz.kind);
  const namespaced = fuzz.kind !== 'ClusterSecretStore';
  const body = {
    apiVersion: `${group}/${version}`,
    kind: fuzz.kind,
    metadata: { name: fuzz.name, ...(namespaced ? { namespace: ctx.namespace } : {}) },
    spec: fuzz.spec,
  };
  try {
    if (namespaced)
      await c.custom.createNamespacedCustomObject({ group, version, namespace: ctx.namespace, plural, body });
    else await c.custom.createClusterCustomObject({ group, version, plural, body });
  } catch (error) {
    const message = errorMessage(error);
    const code = error instanceof k8s.ApiException ? error.code : 0;
    // A huge object on a loaded machine can time out in the API server (504): it may or may not
    // have been stored. Not an answer about the spec: counted apart, and followed up if stored.
    if (code === 504 || (code === 500 && /timeout/i.test(message))) {
      const stored = await (
        namespaced
          ? c.custom.getNamespacedCustomObject({
              group,
              version,
              namespace: ctx.namespace,
              plural,
              name: fuzz.name,
            })
          : c.custom.getClusterCustomObject({ group, version, plural, name: fuzz.name })
      ).then(
        () => true,
        () => false,
      );
      if (!stored) {
        stats.apiTimeouts++;
        return;
      }
    } else {
      stats.rejected++;
      if (![400, 413, 422].includes(code) || !namesTheField(message)) {
        stats.failures.push(
          `rejected without naming the field (HTTP ${code}): ${message.slice(0, 300)} — ${describe(fuzz)}`,
        );
        return;
      }
      const field =
        /\b((?:spec|metadata)[\w.[\]-]*)/.exec(message)?.[1]?.replace(/\[\d+\]/g, '[]') ??
        message.slice(0, 60);
      bump(stats.rejectedFields, `${field}${fuzz.intent === 'valid' ? ' (meant valid)' : ''}`);
      return;
    }
  }
  stats.accepted++;
  if (fuzz.intent === 'valid') stats.validAccepted++;
  const read = async () =>
    (namespaced
      ? await c.custom.getNamespacedCustomObject({
          group,
          version,
          namespace: ctx.namespace,
          plural,
          name: fuzz.name,
        })
      : await c.custom.getClusterCustomObject({ group, version, plural, name: fuzz.name })) as {
      status?: { conditions?: { type: string; status: string; reason?: string }[] };
    };
  const deadline = Date.now() + conditionTimeoutMs;
  let ready: { type: string; status: string; reason?: string } | undefined;
  while (Date.now() < deadline) {
    ready = (await read()).status?.conditions?.find((x) => x.type === 'Ready');
    if (ready && (ready.status === 'True' || ready.status === 'False') && ready.reason) break;
    ready = undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready)
    stats.failures.push(`accepted but no Ready condition within ${conditionTimeoutMs}ms: ${describe(fuzz)}`);
  else if (ready.status === 'True') stats.readyTrue++;
  else {
    stats.readyFalse++;
    bump(stats.reasons, `${fuzz.kind} ${ready.reason}`);
  }
  const del = namespaced
    ? c.custom.deleteNamespacedCustomObject({
        group,
        version,
        namespace: ctx.namespace,
        plural,
        name: fuzz.name,
      })
    : c.custom.deleteClusterCustomObject({ group, version, plural, name: fuzz.name });
  await del.catch(() => undefined);
}

/** Runs `cases` with at most `concurrency` in flight. */
export async function runCases(
  c: Clients,
  ctx: FuzzContext,
  cases: FuzzCase[],
  stats: FuzzStats,
  options: { concurrency: number; conditionTimeoutMs: number; onProgress?: (done: number) => void },
): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < cases.length) {
      const fuzz = cases[next++]!;
      await runCase(c, ctx, fuzz, stats, options.conditionTimeoutMs);
      done++;
      if (done % 500 === 0) options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
}

/** Generates `n` cases from a seed (printed, so a failing run can be replayed). */
export function sampleCases(ctx: FuzzContext, prefix: string, n: number, seed: number): FuzzCase[] {
  return fc.sample(fuzzCase(ctx, prefix), { numRuns: n, seed });
}

export function summary(stats: FuzzStats): string {
  const top = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ');
  return (
    `specs fuzzed: ${stats.cases} (rejected by the API server: ${stats.rejected}, accepted: ${stats.accepted}: ` +
    `Ready=True ${stats.readyTrue}, Ready=False ${stats.readyFalse}); generated as valid: ${stats.meantValid}, of which accepted: ${stats.validAccepted}; API server timeouts (not stored): ${stats.apiTimeouts}; failures: ${stats.failures.length}\n` +
    `  top rejected fields: ${top(stats.rejectedFields)}\n  top Ready=False reasons: ${top(stats.reasons)}`
  );
}

/** VmRSS of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const fs = process.getBuiltinModule('node:fs');
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

// `mlsecrets validate FILE…`: schema and policy checks of manifests, offline or against a cluster.
import type { SecretBinding, Store, StoreKind } from '../api/types.ts';
import { API_VERSION, GROUP } from '../api/types.ts';
import { EXIT, type CliIo } from './cli-io.ts';
import type { Cluster } from './cluster.ts';
import { plural } from './format.ts';
import { readManifests, type ManifestDocument } from './manifests.ts';
import { checkBindingPolicy, type FoundStore, type PolicyLookup } from './policy-check.ts';
import { checkSchema, type FieldProblem, type MlsecretsKind } from './schema-check.ts';
import { checkBindingSpec, checkMetadata, checkStoreSpec, isObject } from './spec-checks.ts';

export interface ValidateOptions {
  /** Also dry-run against the cluster and look stores and namespaces up there. */
  cluster: boolean;
  output: 'text' | 'json';
}

/** One finding about one document, as printed and as `-o json` lists it. */
export interface Finding {
  file: string;
  /** 1-based document number within the file. */
  index: number;
  /** Empty when the document did not parse. */
  kind: string;
  name: string;
  /** The namespace the object lands in (the default applied); null for cluster-scoped or unparsed. */
  namespace: string | null;
  message: string;
}

export interface ValidateResult {
  problems: Finding[];
  /** mlsecrets documents checked (and documents that did not parse). */
  checked: number;
  /** Skipped documents and checks that could not be made. */
  notes: Finding[];
}

const KINDS: readonly MlsecretsKind[] = ['SecretBinding', 'SecretStore', 'ClusterSecretStore'];

/** An mlsecrets document being validated. */
interface Entry {
  doc: ManifestDocument;
  kind: MlsecretsKind;
  object: Record<string, unknown>;
  name: string;
  /** Resolved namespace (namespaced kinds only). */
  namespace: string | undefined;
  problems: string[];
  notes: string[];
}

/** Runs the command; resolves the exit code. */
export async function validateCommand(
  paths: string[],
  options: ValidateOptions,
  io: CliIo,
  connect: () => Cluster,
): Promise<number> {
  const documents = await readManifests(paths, io);
  const cluster = options.cluster ? connect() : undefined;
  const result = await validateDocuments(documents, cluster);
  if (options.output === 'json') {
    io.stdout(JSON.stringify(result, null, 2) + '\n');
  } else {
    for (const note of result.notes) io.stderr(`note: ${line(note)}\n`);
    for (const problem of result.problems) io.stdout(`${line(problem)}\n`);
    io.stdout(summary(result, documents.length, options.cluster) + '\n');
  }
  return result.problems.length > 0 ? EXIT.problems : EXIT.ok;
}

/** Validates parsed documents; with a cluster, also against it. */
export async function validateDocuments(
  documents: ManifestDocument[],
  cluster?: Cluster,
): Promise<ValidateResult> {
  const sorted = classify(documents, cluster?.defaultNamespace() ?? 'default');
  const { entries, namespacesInFiles } = sorted;
  for (const entry of entries) offlineChecks(entry);

  const served = cluster ? await cluster.servesMlsecrets() : false;
  const clusterNamespaces = new Map<string, Promise<Record<string, string> | undefined>>();
  const inCluster = (namespace: string) => {
    let labels = clusterNamespaces.get(namespace);
    if (!labels) {
      labels = cluster!.namespaceLabels(namespace);
      clusterNamespaces.set(namespace, labels);
    }
    return labels;
  };
  // Stores and namespaces of the files take precedence over the cluster's: that is the simulation.
  const storesInFiles = storesOf(entries);
  const lookup: PolicyLookup = {
    cluster: served,
    async store(kind: StoreKind, namespace: string | undefined, name: string) {
      const local = storesInFiles.get(storeKey(kind, namespace, name));
      if (local || !served) return local;
      const store = await cluster!.getStore(kind, namespace, name);
      return store ? { store: { ...store, kind }, from: "the cluster's", usable: true } : undefined;
    },
    async namespaceLabels(namespace: string) {
      const local = namespacesInFiles.get(namespace);
      if (local || !cluster) return local;
      return inCluster(namespace);
    },
  };
  for (const entry of entries) {
    if (entry.kind !== 'SecretBinding' || entry.problems.length > 0) continue;
    const outcome = await checkBindingPolicy(withNamespace(entry) as unknown as SecretBinding, lookup);
    entry.problems.push(...outcome.problems);
    entry.notes.push(...outcome.notes);
  }

  if (cluster) {
    for (const entry of entries) {
      await clusterChecks(entry, cluster, served, (ns) => namespacesInFiles.has(ns), inCluster);
    }
  }
  return collect(documents, sorted);
}

interface Classified {
  entries: Entry[];
  /** Findings about documents that are not entries (unparsed, unknown mlsecrets kinds, skipped). */
  problems: Finding[];
  notes: Finding[];
  /** Labels of the Namespaces the files create. */
  namespacesInFiles: Map<string, Record<string, string>>;
  checked: number;
}

/** Sorts documents into mlsecrets entries (namespace resolved), Namespaces, and the rest. */
function classify(documents: ManifestDocument[], defaultNamespace: string): Classified {
  const out: Classified = { entries: [], problems: [], notes: [], namespacesInFiles: new Map(), checked: 0 };
  const finding = (
    doc: ManifestDocument,
    message: string,
    kind = '',
    name = '',
    namespace: unknown = null,
  ) => ({
    file: doc.file,
    index: doc.index,
    kind,
    name,
    namespace: typeof namespace === 'string' ? namespace : null,
    message,
  });
  for (const doc of documents) {
    if (doc.parseError !== undefined) {
      out.checked++;
      out.problems.push(finding(doc, doc.parseError));
      continue;
    }
    const value = doc.value;
    if (!isObject(value) || typeof value.apiVersion !== 'string' || typeof value.kind !== 'string') {
      out.notes.push(finding(doc, 'skipped (not a Kubernetes object: no apiVersion and kind)'));
      continue;
    }
    const meta = isObject(value.metadata) ? value.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : '';
    if (!value.apiVersion.startsWith(`${GROUP}/`)) {
      if (value.apiVersion === 'v1' && value.kind === 'Namespace' && name) {
        out.namespacesInFiles.set(name, isObject(meta.labels) ? (meta.labels as Record<string, string>) : {});
      }
      const message = `skipped (${value.apiVersion} ${value.kind}: not an mlsecrets resource)`;
      out.notes.push(finding(doc, message, value.kind, name, meta.namespace));
      continue;
    }
    out.checked++;
    const kind = value.kind as MlsecretsKind;
    if (value.apiVersion !== API_VERSION || !KINDS.includes(kind)) {
      const message =
        value.apiVersion !== API_VERSION
          ? `unknown apiVersion "${value.apiVersion}": this version of mlsecrets serves ${API_VERSION}`
          : `unknown kind "${value.kind}": expected one of ${KINDS.join(', ')}`;
      out.problems.push(finding(doc, message, value.kind, name, meta.namespace));
      continue;
    }
    const namespace =
      kind === 'ClusterSecretStore'
        ? undefined
        : typeof meta.namespace === 'string' && meta.namespace !== ''
          ? meta.namespace
          : defaultNamespace;
    out.entries.push({ doc, kind, object: value, name, namespace, problems: [], notes: [] });
  }
  return out;
}

/** The object with its namespace resolved, as the operator would see it. */
function withNamespace(entry: Entry): Record<string, unknown> {
  return { ...entry.object, metadata: { ...(entry.object.metadata as object), namespace: entry.namespace } };
}

function storesOf(entries: Entry[]): Map<string, FoundStore> {
  const stores = new Map<string, FoundStore>();
  for (const entry of entries) {
    if (entry.kind === 'SecretBinding' || !entry.name) continue;
    stores.set(storeKey(entry.kind, entry.namespace, entry.name), {
      store: withNamespace(entry) as unknown as Store,
      from: `the one in ${entry.doc.file}:${entry.doc.index}`,
      usable: entry.problems.length === 0,
    });
  }
  return stores;
}

/** The CRDs are served, the namespace exists, and the API server accepts a dry-run apply. */
async function clusterChecks(
  entry: Entry,
  cluster: Cluster,
  served: boolean,
  createdByFiles: (namespace: string) => boolean,
  inCluster: (namespace: string) => Promise<Record<string, string> | undefined>,
): Promise<void> {
  if (!served) {
    entry.problems.push(
      `the cluster at ${cluster.server} does not serve ${API_VERSION}: install the CRDs first (kubectl apply -f crds/)`,
    );
    return;
  }
  if (entry.namespace !== undefined && (await inCluster(entry.namespace)) === undefined) {
    if (createdByFiles(entry.namespace)) {
      entry.notes.push(
        `server-side dry run skipped: namespace "${entry.namespace}" is created by these files and does not exist in the cluster yet`,
      );
    } else {
      entry.problems.push(`namespace "${entry.namespace}" exists neither in the cluster nor in the files`);
    }
    return;
  }
  // A document the offline checks reject would only be rejected again, in other words.
  if (entry.problems.length > 0) return;
  const objection = await cluster.dryRunApply(entry.kind, entry.namespace, applyBody(entry));
  if (objection) entry.problems.push(`rejected by the API server (dry run): ${withoutPreamble(objection)}`);
}

/** All findings, in the order of the documents. */
function collect(documents: ManifestDocument[], sorted: Classified): ValidateResult {
  const problems = [...sorted.problems];
  const notes = [...sorted.notes];
  for (const entry of sorted.entries) {
    const finding = (message: string): Finding => ({
      file: entry.doc.file,
      index: entry.doc.index,
      kind: entry.kind,
      name: entry.name,
      namespace: entry.namespace ?? null,
      message,
    });
    problems.push(...entry.problems.map(finding));
    notes.push(...entry.notes.map(finding));
  }
  const order = new Map(documents.map((d, i) => [`${d.file}\u0000${d.index}`, i]));
  const byPosition = (a: Finding, b: Finding) =>
    (order.get(`${a.file}\u0000${a.index}`) ?? 0) - (order.get(`${b.file}\u0000${b.index}`) ?? 0);
  return { problems: problems.sort(byPosition), checked: sorted.checked, notes: notes.sort(byPosition) };
}

function offlineChecks(entry: Entry): void {
  const schema = checkSchema(entry.kind, entry.object);
  const flagged = (path: string) =>
    schema.some((p) => p.path === path || p.path.startsWith(`${path}.`) || p.path.startsWith(`${path}[`));
  const more: FieldProblem[] = [...checkMetadata(entry.kind, entry.object)];
  if (entry.kind === 'SecretBinding') more.push(...checkBindingSpec(entry.object, flagged));
  else more.push(...checkStoreSpec(entry.kind, entry.object, entry.namespace, flagged));
  const messages = [...schema, ...more].map((p) => p.message);
  entry.problems.push(...new Set(messages));
}

function storeKey(kind: StoreKind, namespace: string | undefined, name: string): string {
  return `${kind}/${kind === 'SecretStore' ? (namespace ?? '') : ''}/${name}`;
}

/** What is applied: the object as a user would write it, without server-set fields or status. */
function applyBody(entry: Entry): Record<string, unknown> {
  const meta = entry.object.metadata as Record<string, unknown>;
  return {
    apiVersion: entry.object.apiVersion,
    kind: entry.kind,
    metadata: {
      name: entry.name,
      ...(entry.namespace !== undefined ? { namespace: entry.namespace } : {}),
      ...(meta.labels ? { labels: meta.labels } : {}),
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
    },
    spec: entry.object.spec,
  };
}

/** `SecretBinding.mlsecrets.io "x" is invalid: ` repeats what the line already says. */
function withoutPreamble(message: string): string {
  return message.replace(/^\S+ "[^"]*" is invalid: /, '');
}

function line(finding: Finding): string {
  const where = `${finding.file}:${finding.index}`;
  if (!finding.kind) return `${where}: ${finding.message}`;
  const ref = [finding.kind, finding.namespace, finding.name || '(unnamed)']
    .filter((p) => p !== null)
    .join('/');
  return `${where} ${ref}: ${finding.message}`;
}

function summary(result: ValidateResult, total: number, cluster: boolean): string {
  const skipped = total - result.checked;
  const scope = cluster
    ? 'schema, spec rules, store policy, server-side dry run'
    : 'offline: schema, spec rules, store policy';
  const tail = skipped > 0 ? `; ${plural(skipped, 'other document')} skipped` : '';
  if (result.problems.length === 0) {
    return `${plural(result.checked, 'mlsecrets document')} checked (${scope}): no problems${tail}`;
  }
  const documents = new Set(result.problems.map((p) => `${p.file}\u0000${p.index}`)).size;
  return `${plural(result.problems.length, 'problem')} in ${plural(documents, 'document')} of ${result.checked} checked (${scope})${tail}`;
}

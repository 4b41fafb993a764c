// The suite-wide leak scan. Every planted value, every operator log line and audit record,
// every /metrics scrape and every error message the harness sees is appended to files in one
// directory per jest run (the "leak dir", named by an environment variable that globalSetup
// sets and jest passes on to workers). globalTeardown scans those files, plus what the
// operator wrote into the cluster (Events, status), and fails the run on one hit.
//
// Files in the leak dir:
//   planted.txt        one planted value per line (appended by plant() in any worker)
//   texts/<pid>.jsonl  {"where","text"} records (logs, audit, metrics, errors, cluster outputs)
//   files/             copies of operator process log files, taken when the process exits
//   files.txt          paths of log files elsewhere, scanned if they still exist at the end
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';

export const LEAK_DIR_ENV = 'MLSECRETS_LEAK_DIR';
/** Set by the globalSetup that created the leak dir: only that one scans and removes it. */
const LEAK_OWNER_ENV = 'MLSECRETS_LEAK_DIR_OWNER';

/** The run's leak dir, or undefined outside a jest run with a leak-scan globalSetup (unit tests). */
export function leakDir(): string | undefined {
  return process.env[LEAK_DIR_ENV] || undefined;
}

/**
 * Creates the leak dir for this run (under `parent`, or the system temp dir) and publishes it
 * to workers. When another project's globalSetup of the same jest run already made one, reuses
 * it and returns owner=false: the first one scans it at its teardown.
 */
export function beginLeakRun(project: string, parent = os.tmpdir()): { dir: string; owner: boolean } {
  const existing = leakDir();
  if (existing && fs.existsSync(existing)) return { dir: existing, owner: false };
  const dir = fs.mkdtempSync(path.join(parent, `mlsecrets-leaks-${project}-`));
  for (const sub of ['texts', 'files']) fs.mkdirSync(path.join(dir, sub));
  fs.writeFileSync(path.join(dir, 'planted.txt'), '');
  process.env[LEAK_DIR_ENV] = dir;
  process.env[LEAK_OWNER_ENV] = project;
  return { dir, owner: true };
}

export function isLeakRunOwner(project: string): boolean {
  return process.env[LEAK_OWNER_ENV] === project;
}

/** Remembers a planted value for the suite-wide scan (no-op outside a leak run). */
export function recordPlanted(value: string): void {
  const dir = leakDir();
  if (dir) fs.appendFileSync(path.join(dir, 'planted.txt'), `${value}\n`);
}

/** Remembers a text the operator produced (a log line, an audit record, a scrape, an error message). */
export function recordText(where: string, text: string): void {
  const dir = leakDir();
  if (!dir || text === '') return;
  fs.mkdirSync(path.join(dir, 'texts'), { recursive: true });
  fs.appendFileSync(path.join(dir, 'texts', `${process.pid}.jsonl`), `${JSON.stringify({ where, text })}\n`);
}

/** Remembers a log file: its path now, and a copy when `done` resolves (the process exited). */
export function recordLogFile(file: string, done?: Promise<unknown>): void {
  const dir = leakDir();
  if (!dir) return;
  fs.appendFileSync(path.join(dir, 'files.txt'), `${file}\n`);
  void done?.then(() => {
    try {
      fs.mkdirSync(path.join(dir, 'files'), { recursive: true });
      const copy = path.join(dir, 'files', `${process.pid}-${Date.now()}-${path.basename(file)}`);
      fs.copyFileSync(file, copy);
    } catch {
      // the log file went away with its directory: files.txt still names it
    }
  });
}

/** Every form in which a planted value would count as leaked: as is, and in base64 at each alignment. */
function needles(value: string): { form: string; needle: string }[] {
  const out = [{ form: 'plain', needle: value }];
  const bytes = Buffer.from(value);
  for (const offset of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]);
    for (const [form, text] of [
      ['base64', encoded.toString('base64')],
      ['base64url', encoded.toString('base64url')],
    ] as const) {
      // Drop the 4-character group the padding bytes share, and the last (possibly partial) group.
      const stable = text.slice(offset === 0 ? 0 : 4, text.length - 4);
      if (stable.length >= 16) out.push({ form, needle: stable });
    }
  }
  return out;
}

/** Undoes JSON string escaping of any depth (\uXXXX and backslash escapes) so an escaped value still matches. */
function unescaped(text: string): string {
  let current = text;
  for (let i = 0; i < 4 && current.includes('\\'); i++) {
    current = current
      .replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
      .replace(/\\(["\\/])/g, '$1');
  }
  return current;
}

export interface LeakHit {
  where: string;
  form: string;
  /** The planted value's label (never the value itself: the scan must not print what it finds). */
  label: string;
}

/** The scan itself: every place where a planted value appears in one of `texts`. */
export function scanForLeaks(planted: Iterable<string>, texts: Iterable<[string, string]>): LeakHit[] {
  const values = [...new Set(planted)].filter((v) => v.length > 0);
  const forms = values.map((value) => ({ label: labelOf(value), needles: needles(value) }));
  const hits: LeakHit[] = [];
  for (const [where, raw] of texts) {
    const variants = raw.includes('\\') ? [raw, unescaped(raw)] : [raw];
    for (const { label, needles: list } of forms) {
      const hit = list.find(({ needle }) => variants.some((text) => text.includes(needle)));
      if (hit) hits.push({ where, form: hit.form, label });
    }
  }
  return hits;
}

function labelOf(value: string): string {
  const match = /^MLSECRET-(.*)-[0-9a-f]+$/.exec(value);
  return match ? match[1]! : `(unlabelled value of ${value.length} chars)`;
}

/** Everything recorded in the leak dir, as [where, text] pairs. */
export function recordedTexts(dir: string): [string, string][] {
  const texts: [string, string][] = [];
  const textsDir = path.join(dir, 'texts');
  for (const file of fs.existsSync(textsDir) ? fs.readdirSync(textsDir) : []) {
    for (const line of fs.readFileSync(path.join(textsDir, file), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        const record = JSON.parse(line) as { where: string; text: string };
        texts.push([record.where, record.text]);
      } catch {
        texts.push([`texts/${file} (a line that is not JSON)`, line]);
      }
    }
  }
  const files = new Set<string>();
  const filesDir = path.join(dir, 'files');
  for (const file of fs.existsSync(filesDir) ? fs.readdirSync(filesDir) : [])
    files.add(path.join(filesDir, file));
  const listed = path.join(dir, 'files.txt');
  if (fs.existsSync(listed))
    for (const file of fs.readFileSync(listed, 'utf8').split('\n'))
      if (file && fs.existsSync(file)) files.add(file);
  for (const file of files) texts.push([`log file ${file}`, fs.readFileSync(file, 'utf8')]);
  return texts;
}

export function recordedPlanted(dir: string): string[] {
  const file = path.join(dir, 'planted.txt');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

const group = 'mlsecrets.io';
const version = 'v1alpha1';

/**
 * What the operator wrote into a cluster, cluster-wide: every Event in every namespace and the
 * status of every SecretBinding, SecretStore and ClusterSecretStore.
 */
export async function clusterOutputs(kc: k8s.KubeConfig, label = 'cluster'): Promise<[string, string][]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const out: [string, string][] = [];
  const events = await whenServing(() => core.listEventForAllNamespaces({}));
  for (const e of events.items)
    out.push([
      `${label}: Event ${e.metadata?.namespace}/${e.metadata?.name}`,
      JSON.stringify([e.reason, e.message, e.involvedObject?.name]),
    ]);
  for (const plural of ['secretbindings', 'secretstores', 'clustersecretstores']) {
    let items: { metadata?: k8s.V1ObjectMeta; status?: unknown }[] = [];
    try {
      items = (
        (await whenServing(() => custom.listClusterCustomObject({ group, version, plural }))) as {
          items: { metadata?: k8s.V1ObjectMeta; status?: unknown }[];
        }
      ).items;
    } catch (error) {
      // No CRDs in this cluster: nothing of ours to scan.
      if (!(error instanceof k8s.ApiException && error.code === 404)) throw error;
    }
    for (const item of items)
      out.push([
        `${label}: ${plural} ${item.metadata?.namespace ?? ''}/${item.metadata?.name} status`,
        JSON.stringify(item.status ?? null),
      ]);
  }
  return out;
}

/**
 * Retries `call` while the API server is not serving yet: a fault test may have restarted it
 * just before its scan ("storage is (re)initializing", 429), or it may still be starting (5xx,
 * connection refused). Other errors, and any error after a minute, are thrown.
 */
async function whenServing<T>(call: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const code = error instanceof k8s.ApiException ? error.code : undefined;
      const transient =
        code === undefined ? !(error instanceof k8s.ApiException) : code === 429 || code >= 500;
      if (!transient || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/**
 * For test files with their own control plane (the faults project): scans the cluster's
 * Events and status before the control plane stops, records them for the run's scan and
 * returns the hits against every value planted so far.
 */
export async function scanClusterBeforeStop(kc: k8s.KubeConfig, label: string): Promise<LeakHit[]> {
  const texts = await clusterOutputs(kc, label);
  for (const [where, text] of texts) recordText(where, text);
  const dir = leakDir();
  return scanForLeaks(dir ? recordedPlanted(dir) : [], texts);
}

/**
 * The end-of-run scan: the leak dir plus `extra` texts (the cluster's outputs). Prints the
 * figure and throws on any hit (jest then exits non-zero).
 */
export function finishLeakRun(dir: string, extra: [string, string][] = []): void {
  const planted = recordedPlanted(dir);
  const texts = [...recordedTexts(dir), ...extra];
  const hits = scanForLeaks(planted, texts);
  const summary = `leak scan: ${new Set(planted).size} planted values, ${texts.length} texts scanned, ${hits.length} hits`;
  console.log(`\n[harness] ${summary}`);
  if (hits.length > 0) {
    const lines = hits.slice(0, 50).map((h) => `  ${h.where}: planted value '${h.label}' (${h.form})`);
    throw new Error(`${summary}\n${lines.join('\n')}\n(leak dir kept for reading: ${dir})`);
  }
}

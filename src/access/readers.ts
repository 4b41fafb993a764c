// Who may read a managed Secret (docs/access-audit.md, "Expected readers"): the operator, the
// kubelet of a node running a pod that consumes it, and the readers the binding, its store's
// policy or the operator's configuration name. Pure: the monitor gathers the facts.
import type { Reader } from './audit-event.ts';

/** Readers named by a binding (spec.access), a store (spec.policy) or the operator's flags. */
export interface ExpectedReaders {
  users?: string[];
  groups?: string[];
  /** "namespace/name"; "namespace/*" for every account of a namespace. */
  serviceAccounts?: string[];
}

export interface NamedReaders {
  /** Where the list comes from, for the record: "binding", "store policy", "operator". */
  source: string;
  readers: ExpectedReaders | undefined;
}

export interface Judgement {
  expected: boolean;
  /** Why, in words for the audit record and the Event. */
  why: string;
}

/**
 * Judges one reader of one Secret. `consumingPods` are the pods on the reader's node that
 * consume the Secret (asked only for kubelets).
 */
export function judgeReader(input: {
  reader: Reader;
  operator: string;
  named: NamedReaders[];
  consumingPods?: string[];
}): Judgement {
  const { reader } = input;
  if (reader.username === input.operator && !reader.impersonating)
    return { expected: true, why: 'the operator' };
  if (reader.node) {
    const pods = input.consumingPods ?? [];
    return pods.length > 0
      ? { expected: true, why: `the kubelet of node ${reader.node}, which runs ${pods.join(', ')}` }
      : { expected: false, why: `node ${reader.node} runs no pod that consumes it` };
  }
  for (const { source, readers } of input.named) {
    if (readers && listed(readers, reader)) return { expected: true, why: `an expected reader (${source})` };
  }
  return { expected: false, why: 'not an expected reader' };
}

function listed(readers: ExpectedReaders, reader: Reader): boolean {
  if (readers.users?.includes(reader.username)) return true;
  if (readers.groups?.some((g) => reader.groups.includes(g))) return true;
  const account = reader.serviceAccount;
  if (!account) return false;
  const namespace = account.slice(0, account.indexOf('/'));
  return readers.serviceAccounts?.some((s) => s === account || s === `${namespace}/*`) ?? false;
}

/** The reader's name as people read it: the service account, node or user, and whom it impersonated. */
export function readerName(reader: Reader): string {
  const who = reader.serviceAccount
    ? `service account ${reader.serviceAccount}`
    : reader.node
      ? `node ${reader.node}`
      : `user ${reader.username}`;
  return reader.impersonating ? `${who} (as ${reader.impersonating})` : who;
}

/**
 * Reads per (Secret, reader) in fixed windows that start at the first read: more than
 * `perConsumer` reads per consumer in one window is more than the consumers explain. A
 * kubelet's consumers are the pods on its node that consume the Secret; anyone else is one.
 * Bounded: at `maxKeys` tracked pairs, windows that have ended are dropped first, then new
 * pairs go uncounted until some end.
 */
export class ReadRate {
  private readonly windows = new Map<string, { start: number; reads: number; flagged: boolean }>();
  private readonly windowMs: number;
  private readonly perConsumer: number;
  private readonly maxKeys: number;

  constructor(options: { windowMs: number; perConsumer: number; maxKeys?: number }) {
    this.windowMs = options.windowMs;
    this.perConsumer = options.perConsumer;
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  /**
   * Counts one read at `at`. Returns the count and the allowance the first time a window goes
   * over it; undefined otherwise (once per window, so one burst is one anomaly).
   */
  count(
    secret: string,
    reader: string,
    consumers: number,
    at: number,
  ): { reads: number; allowed: number } | undefined {
    const key = `${secret}\u0000${reader}`;
    let window = this.windows.get(key);
    if (!window || at - window.start >= this.windowMs) {
      if (!window && this.windows.size >= this.maxKeys) this.prune(at);
      if (!window && this.windows.size >= this.maxKeys) return undefined;
      window = { start: at, reads: 0, flagged: false };
      this.windows.set(key, window);
    }
    window.reads++;
    const allowed = this.perConsumer * Math.max(1, consumers);
    if (window.reads <= allowed || window.flagged) return undefined;
    window.flagged = true;
    return { reads: window.reads, allowed };
  }

  get tracked(): number {
    return this.windows.size;
  }

  private prune(now: number): void {
    for (const [key, window] of this.windows) {
      if (now - window.start >= this.windowMs) this.windows.delete(key);
    }
  }
}

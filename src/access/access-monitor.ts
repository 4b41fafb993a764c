// Judges each Secret read the API server reports (audit-receiver.ts): which managed Secrets it
// touched, whether its reader was expected (readers.ts), and for an unexpected one the Warning
// Event, the metric and the mark in the binding's status that its reconcile responds to
// (controller/binding/compromise.ts). Every replica judges what it receives; only the mark
// crosses to the binding's owner.
import type { Logger } from 'winston';
import { BINDING_ANNOTATION } from '../api/labels.ts';
import { EventReason } from '../api/reasons.ts';
import { bindingEventSubject, type SecretBinding, type Store } from '../api/types.ts';
import { bindingStoreLabel } from '../controller/stores.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { SecretObject, StatusWriter } from '../kube/kube-client.ts';
import type { AccessDetail, AuditSink } from '../observability/audit.ts';
import { referencesSecret, type SecretReferences } from '../projection/pod.ts';
import { formatDuration } from '../rotation/duration.ts';
import type { Clock } from '../runtime/clock.ts';
import type { SecretRead } from './audit-event.ts';
import { judgeReader, readerName, ReadRate, type ExpectedReaders, type Judgement } from './readers.ts';

/** What the monitor reads of the operator's caches. */
export interface AccessCache {
  getBinding(key: string): SecretBinding | undefined;
  getManagedSecret(namespace: string, name: string): SecretObject | undefined;
  /** Managed Secrets of a namespace, or of every watched namespace. */
  managedSecretsIn(namespace?: string): SecretObject[];
  storeOf(binding: SecretBinding): Store | undefined;
}

/** A pod as the monitor sees it: its name and the Secrets its spec names. */
export interface NodePod {
  metadata: { name?: string };
  spec?: SecretReferences;
}

export interface AccessMonitorDeps {
  clock: Clock;
  logger: Logger;
  cache: AccessCache;
  /** The pods of a namespace bound to a node, from the API (a kubelet's read is rare). */
  podsOn(namespace: string, node: string): Promise<NodePod[]>;
  /** The operator's own user name, as the API server authenticates it. */
  operator(): string;
  /** Readers every managed Secret may have (--access-expected-*). */
  expectedReaders: ExpectedReaders;
  audit: AuditSink;
  events: EventRecorder;
  status: StatusWriter;
  observer?: {
    read(expected: boolean): void;
    unexpected(namespace: string, binding: string): void;
  };
  /** The read-rate window and allowance per consumer (readers.ts, ReadRate). */
  rate: { windowMs: number; perConsumer: number };
  /** One Warning Event per binding and reader in this window; the metric counts every read. */
  eventEveryMs?: number;
}

/** The mark a flagged read leaves in status.access (its reconcile responds to it). */
export interface UnexpectedReadMark {
  at: string;
  reader: string;
  verb: string;
  secret: string;
  reason: string;
}

/** How long after a read of a Secret not yet managed it is looked at again, once. */
const RECHECK_AFTER_MS = 3_000;
/** Reads waiting for that second look at most (the rest are not looked at again). */
const MAX_RECHECKS = 1_000;

export class AccessMonitor {
  private readonly deps: AccessMonitorDeps;
  private readonly rate: ReadRate;
  private readonly lastEvent = new Map<string, number>();
  private readonly marks = new Map<string, { binding: SecretBinding; mark: UnexpectedReadMark }>();
  /** Named reads of Secrets not (yet) managed, looked at again RECHECK_AFTER_MS later. */
  private rechecks: SecretRead[] = [];
  /** The reads of the last recheck: not rescheduled a second time. */
  private readonly rechecked = new Set<string>();
  /** The newest mark set per binding (written or waiting), so a late older read never replaces it. */
  private readonly newestMark = new Map<string, string>();
  /** The marks being written, while they are. */
  private marking?: Promise<void>;

  constructor(deps: AccessMonitorDeps) {
    this.deps = deps;
    this.rate = new ReadRate(deps.rate);
  }

  async judge(read: SecretRead): Promise<void> {
    const targets = this.targets(read);
    if (targets.length === 0) {
      // Reads of unmanaged Secrets are not ours to judge. But a watch by name may start before
      // its Secret is written (a kubelet whose pod was admitted just before its PerWorkload
      // Secret): it delivers the Secret when it comes, so look again once, a little later.
      if (read.name && read.allowed && !this.rechecked.has(read.auditID)) this.recheckLater(read);
      return;
    }
    const operator = this.deps.operator();
    const scope = read.name ? undefined : read.namespace ? ('namespace' as const) : ('cluster' as const);
    // The operator's own informers list and watch every managed Secret: one record, no loop.
    if (scope && read.reader.username === operator && !read.reader.impersonating) {
      this.deps.observer?.read(true);
      this.record(
        read,
        undefined,
        { expected: true, why: 'the operator' },
        { scope, secrets: targets.length },
      );
      return;
    }
    let summarised = 0;
    for (const secret of targets) {
      const binding = this.bindingOf(secret);
      const pods = read.reader.node ? await this.consumers(secret, read.reader.node) : undefined;
      const judgement = judgeReader({
        reader: read.reader,
        operator,
        named: [
          { source: 'binding', readers: binding?.spec.access?.expectedReaders },
          {
            source: 'store policy',
            readers: binding && this.deps.cache.storeOf(binding)?.spec.policy?.expectedReaders,
          },
          { source: 'operator', readers: this.deps.expectedReaders },
        ],
        consumingPods: pods,
      });
      const overRate =
        read.allowed && read.reader.username !== operator
          ? this.rate.count(keyOf(secret), read.reader.username, pods?.length ?? 1, read.at)
          : undefined;
      const flagged = read.allowed && (!judgement.expected || overRate !== undefined);
      this.deps.observer?.read(!flagged);
      if (scope && !flagged) {
        summarised++;
        continue;
      }
      const rate = overRate && { ...overRate, window: formatDuration(this.deps.rate.windowMs) };
      this.record(
        read,
        secret,
        flagged ? { expected: false, why: rate ? overRateWhy(rate) : judgement.why } : judgement,
        {
          scope,
          pods,
          rate,
        },
      );
      if (flagged && binding) this.flag(read, secret, binding, rate ? overRateWhy(rate) : judgement.why);
    }
    if (summarised > 0)
      this.record(
        read,
        undefined,
        { expected: true, why: 'expected for these Secrets' },
        { scope, secrets: summarised },
      );
  }

  private recheckLater(read: SecretRead): void {
    if (this.rechecks.length >= MAX_RECHECKS) return;
    this.rechecks.push(read);
    if (this.rechecks.length > 1) return;
    this.deps.clock.setTimer(() => {
      const due = this.rechecks.splice(0);
      this.rechecked.clear();
      for (const late of due) this.rechecked.add(late.auditID);
      void (async () => {
        for (const late of due) await this.judge(late);
      })().catch((error: unknown) =>
        this.deps.logger.error('access audit: judging a late read failed', {
          error: (error as Error)?.message,
        }),
      );
    }, RECHECK_AFTER_MS);
  }

  /** Resolves once the status marks queued so far are written (tests). */
  async settled(): Promise<void> {
    while (this.marking) await this.marking;
  }

  private targets(read: SecretRead): SecretObject[] {
    const { cache } = this.deps;
    if (read.name) {
      const secret = read.namespace ? cache.getManagedSecret(read.namespace, read.name) : undefined;
      return secret ? [secret] : [];
    }
    return cache.managedSecretsIn(read.namespace);
  }

  private bindingOf(secret: SecretObject): SecretBinding | undefined {
    const name = secret.metadata.annotations?.[BINDING_ANNOTATION];
    return name ? this.deps.cache.getBinding(`${secret.metadata.namespace}/${name}`) : undefined;
  }

  /** The pods on `node` whose spec names the Secret. */
  private async consumers(secret: SecretObject, node: string): Promise<string[]> {
    const namespace = secret.metadata.namespace!;
    try {
      const pods = await this.deps.podsOn(namespace, node);
      return pods
        .filter((p) => p.spec && referencesSecret(p.spec, secret.metadata.name!))
        .map((p) => `${namespace}/${p.metadata.name}`);
    } catch (error) {
      // Unknown is not "none": the kubelet passed the Node authorizer, which checks the same.
      this.deps.logger.warn('access audit: could not list the pods of a node', {
        namespace,
        node,
        error: (error as Error)?.message,
      });
      return [`(pods of node ${node} not listed)`];
    }
  }

  private record(
    read: SecretRead,
    secret: SecretObject | undefined,
    judgement: Judgement,
    extra: Pick<AccessDetail, 'scope' | 'secrets' | 'pods' | 'rate'>,
  ): void {
    const binding = secret?.metadata.annotations?.[BINDING_ANNOTATION];
    const bound =
      secret && binding ? this.deps.cache.getBinding(`${secret.metadata.namespace}/${binding}`) : undefined;
    this.deps.audit.record({
      action: 'access',
      outcome: read.allowed ? 'success' : 'failure',
      binding: binding ? `${secret!.metadata.namespace}/${binding}` : undefined,
      store: bound ? bindingStoreLabel(bound) : undefined,
      sources: bound?.status?.sources?.flatMap((s) => (s.key ? [{ key: s.key }] : [])),
      secret: secret ? `${secret.metadata.namespace}/${secret.metadata.name}` : read.namespace,
      access: {
        auditID: read.auditID,
        readAt: new Date(read.at).toISOString(),
        verb: read.verb,
        reader: { ...read.reader },
        sourceIPs: read.sourceIPs,
        userAgent: read.userAgent,
        expected: judgement.expected,
        why: judgement.why,
        ...definedOnly(extra),
      },
    });
  }

  /** An unexpected read: metric, Warning Event (throttled per reader), and the status mark. */
  private flag(read: SecretRead, secret: SecretObject, binding: SecretBinding, why: string): void {
    const namespace = binding.metadata.namespace!;
    const name = binding.metadata.name!;
    this.deps.observer?.unexpected(namespace, name);
    const who = readerName(read.reader);
    const from = read.sourceIPs.length > 0 ? ` from ${read.sourceIPs.join(', ')}` : '';
    const message = `Secret "${secret.metadata.name}" read (${read.verb}) by ${who}${from}: ${why}`;
    const now = this.deps.clock.now();
    const eventKey = `${namespace}/${name}\u0000${read.reader.username}`;
    if (now - (this.lastEvent.get(eventKey) ?? -Infinity) >= (this.deps.eventEveryMs ?? 60_000)) {
      if (this.lastEvent.size > 10_000) this.lastEvent.clear();
      this.lastEvent.set(eventKey, now);
      this.deps.events.emit(bindingEventSubject(binding), 'Warning', EventReason.UnexpectedAccess, message);
    }
    const mark: UnexpectedReadMark = {
      at: new Date(read.at - (read.at % 1000)).toISOString().replace('.000Z', 'Z'),
      reader: who,
      verb: read.verb,
      secret: secret.metadata.name!,
      reason: why,
    };
    // Reads may arrive out of order (batches, replicas): a mark only ever moves forward.
    const key = `${namespace}/${name}`;
    const newest = this.newestMark.get(key) ?? binding.status?.access?.lastUnexpectedRead?.at;
    if (newest && Date.parse(newest) >= Date.parse(mark.at)) return;
    if (this.newestMark.size > 10_000) this.newestMark.clear();
    this.newestMark.set(key, mark.at);
    this.marks.set(key, { binding, mark });
    this.startMarking();
  }

  private startMarking(): void {
    this.marking ??= this.writeMarks().finally(() => {
      this.marking = undefined;
      // A mark set after the loop's last look, before this ran, still gets written.
      if (this.marks.size > 0) this.startMarking();
    });
  }

  /** Writes the latest mark of each binding; marks that come meanwhile coalesce. */
  private async writeMarks(): Promise<void> {
    while (this.marks.size > 0) {
      const [key, { binding, mark }] = this.marks.entries().next().value!;
      this.marks.delete(key);
      try {
        await this.deps.status.patchStatus(
          'SecretBinding',
          binding.metadata.namespace,
          binding.metadata.name!,
          {
            access: { lastUnexpectedRead: mark },
          },
        );
      } catch (error) {
        this.deps.logger.warn('access audit: could not mark the binding', {
          binding: key,
          error: (error as Error)?.message,
        });
      }
    }
  }
}

function overRateWhy(rate: { reads: number; allowed: number; window: string }): string {
  return `read ${rate.reads} times within ${rate.window}, more than its consumers explain (${rate.allowed})`;
}

function keyOf(secret: SecretObject): string {
  return `${secret.metadata.namespace}/${secret.metadata.name}`;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

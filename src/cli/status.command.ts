// `mlsecrets status`: SecretBindings and stores summarised by their Ready condition.
import type { Condition, SecretBinding, Store } from '../api/types.ts';
import { EXIT, type CliIo } from './cli-io.ts';
import type { Cluster } from './cluster.ts';
import { humanDuration, table } from './format.ts';

/** The reason shown for an object the operator has not reported on yet. */
export const NOT_RECONCILED = 'NotReconciled';

export interface NotReadyRow {
  kind: string;
  namespace: string | null;
  name: string;
  status: string;
  reason: string;
  message: string;
  /** When Ready last changed. */
  since: string | null;
}

export interface KindSummary {
  total: number;
  ready: number;
  /** Counts per Ready reason, most frequent first. */
  byReason: Record<string, number>;
  notReady: NotReadyRow[];
}

export interface StatusReport {
  /** null: all namespaces. */
  namespace: string | null;
  bindings: KindSummary;
  stores: KindSummary;
}

export interface StatusOptions {
  namespace?: string;
  output: 'table' | 'json';
}

export async function statusCommand(options: StatusOptions, io: CliIo, cluster: Cluster): Promise<number> {
  const [bindings, stores] = await Promise.all([
    cluster.listBindings(options.namespace),
    cluster.listStores(options.namespace),
  ]);
  const report = summariseStatus(bindings, stores, options.namespace ?? null);
  io.stdout(
    options.output === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderStatus(report, io.now()),
  );
  return report.bindings.notReady.length + report.stores.notReady.length > 0 ? EXIT.problems : EXIT.ok;
}

type Resource = Pick<SecretBinding | Store, 'kind' | 'metadata'> & {
  status?: { conditions?: Condition[]; observedGeneration?: number };
};

/** Groups resources by their Ready condition (pure, for tests). */
export function summarise(resources: Resource[]): KindSummary {
  const byReason = new Map<string, number>();
  const notReady: NotReadyRow[] = [];
  let ready = 0;
  for (const resource of resources) {
    const condition = resource.status?.conditions?.find((c) => c.type === 'Ready');
    const reason = condition?.reason || (condition ? condition.status : NOT_RECONCILED);
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    if (condition?.status === 'True') {
      ready++;
      continue;
    }
    notReady.push({
      kind: resource.kind,
      namespace: resource.metadata.namespace ?? null,
      name: resource.metadata.name ?? '',
      status: condition?.status ?? 'Unknown',
      reason,
      message:
        condition?.message ??
        'the operator has not reported on it yet (is it running, and watching this namespace?)',
      since: condition?.lastTransitionTime ?? null,
    });
  }
  notReady.sort(
    (a, b) =>
      a.reason.localeCompare(b.reason) ||
      (a.namespace ?? '').localeCompare(b.namespace ?? '') ||
      a.name.localeCompare(b.name),
  );
  const sorted = [...byReason].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return { total: resources.length, ready, byReason: Object.fromEntries(sorted), notReady };
}

export function summariseStatus(
  bindings: SecretBinding[],
  stores: Store[],
  namespace: string | null,
): StatusReport {
  return { namespace, bindings: summarise(bindings), stores: summarise(stores) };
}

export function renderStatus(report: StatusReport, nowMs: number): string {
  const out: string[] = [];
  const section = (title: string, summary: KindSummary, withKind: boolean) => {
    out.push(`${title}: ${summary.total}, Ready ${summary.ready}`);
    if (summary.total > 0) {
      out.push(
        table(
          ['REASON', 'COUNT'],
          Object.entries(summary.byReason).map(([r, n]) => [r, String(n)]),
        ).trimEnd(),
      );
    }
    if (summary.notReady.length > 0) {
      out.push('');
      out.push(`Not Ready ${title.toLowerCase()}:`);
      const since = (t: string | null) => {
        const ms = t ? Date.parse(t) : NaN;
        return Number.isNaN(ms) ? '-' : humanDuration(nowMs - ms);
      };
      out.push(
        table(
          [...(withKind ? ['KIND'] : []), 'NAMESPACE', 'NAME', 'REASON', 'SINCE', 'MESSAGE'],
          summary.notReady.map((r) => [
            ...(withKind ? [r.kind] : []),
            r.namespace ?? '-',
            r.name,
            r.reason,
            since(r.since),
            r.message,
          ]),
        ).trimEnd(),
      );
    }
    out.push('');
  };
  section('SecretBindings', report.bindings, false);
  section('Stores', report.stores, true);
  const notReady = report.bindings.notReady.length + report.stores.notReady.length;
  const scope = report.namespace ? `namespace ${report.namespace}` : 'all namespaces';
  out.push(notReady === 0 ? `everything Ready in ${scope}` : `${notReady} not Ready in ${scope}`);
  return out.join('\n') + '\n';
}

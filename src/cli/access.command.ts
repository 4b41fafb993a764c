// `mlsecrets audit --access`: recent reads of managed Secrets by Secret and reader, unexpected
// ones first, from the operator's audit records (action "access", docs/access-audit.md). The
// records come from the operator pods' logs (the chart's default audit destination, stdout),
// or from a file of them (--audit-log).
import type { AuditRecord } from '../observability/audit.ts';
import { EXIT, type CliIo } from './cli-io.ts';
import { humanDuration, plural, table } from './format.ts';

export interface AccessRow {
  /** "namespace/name", or "namespace/*" for a list or watch of a whole namespace. */
  secret: string;
  binding: string | null;
  reader: string;
  expected: boolean;
  verbs: string[];
  reads: number;
  firstAt: string;
  lastAt: string;
  sourceIPs: string[];
  why: string;
}

export interface AccessReport {
  since: string;
  /** Access records read. */
  records: number;
  /** Reads that were not expected. */
  unexpected: number;
  rows: AccessRow[];
}

export interface AccessOptions {
  /** Only reads of Secrets in these namespaces; empty: all. */
  namespaces: string[];
  /** A file of audit records, "-" for stdin; absent: the operator pods' logs. */
  auditLog?: string;
  since: string;
  sinceMs: number;
  operatorNamespace: string;
  operatorSelector: string;
  output: 'table' | 'json';
}

export interface AccessSource {
  podLogs(namespace: string, labelSelector: string, sinceSeconds: number): Promise<string[]>;
}

export async function accessCommand(
  options: AccessOptions,
  io: CliIo,
  source: () => AccessSource,
  readFile: (path: string) => string,
): Promise<number> {
  const texts = options.auditLog
    ? [options.auditLog === '-' ? await io.readStdin() : readFile(options.auditLog)]
    : await source().podLogs(
        options.operatorNamespace,
        options.operatorSelector,
        Math.ceil(options.sinceMs / 1000),
      );
  const report = accessReport(
    texts.join('\n').split('\n'),
    io.now() - options.sinceMs,
    options.since,
    options.namespaces,
  );
  io.stdout(
    options.output === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderAccess(report, io.now()),
  );
  return report.unexpected > 0 ? EXIT.problems : EXIT.ok;
}

/** Groups access records by Secret, reader and verdict (pure, for tests); other lines are skipped. */
export function accessReport(
  lines: string[],
  sinceMs: number,
  since: string,
  namespaces: string[] = [],
): AccessReport {
  const rows = new Map<string, AccessRow>();
  let records = 0;
  let unexpected = 0;
  for (const line of lines) {
    const record = parseRecord(line);
    const access = record?.access;
    if (!record || !access) continue;
    const at = Date.parse(access.readAt);
    if (Number.isNaN(at) || at < sinceMs) continue;
    // A summary record's secret is its namespace; a cluster-wide one has none and always counts.
    const namespace = record.secret?.split('/')[0];
    if (namespaces.length > 0 && namespace !== undefined && !namespaces.includes(namespace)) continue;
    records++;
    if (!access.expected) unexpected++;
    const secret =
      access.scope === 'cluster'
        ? '*/*'
        : access.scope === 'namespace'
          ? `${record.secret}/*`
          : (record.secret ?? '');
    const reader = access.reader.impersonating
      ? `${access.reader.username} (as ${access.reader.impersonating})`
      : access.reader.username;
    const key = `${secret}\u0000${reader}\u0000${access.expected}`;
    const row = rows.get(key) ?? {
      secret,
      binding: record.binding ?? null,
      reader,
      expected: access.expected,
      verbs: [],
      reads: 0,
      firstAt: access.readAt,
      lastAt: access.readAt,
      sourceIPs: [],
      why: access.why,
    };
    row.reads++;
    if (!row.verbs.includes(access.verb)) row.verbs.push(access.verb);
    for (const ip of access.sourceIPs) if (!row.sourceIPs.includes(ip)) row.sourceIPs.push(ip);
    if (access.readAt < row.firstAt) row.firstAt = access.readAt;
    if (access.readAt > row.lastAt) {
      row.lastAt = access.readAt;
      row.why = access.why;
    }
    rows.set(key, row);
  }
  const sorted = [...rows.values()].sort(
    (a, b) => Number(a.expected) - Number(b.expected) || b.lastAt.localeCompare(a.lastAt),
  );
  return { since, records, unexpected, rows: sorted };
}

function parseRecord(line: string): AuditRecord | undefined {
  if (!line.includes('"access"')) return undefined;
  try {
    const value = JSON.parse(line) as AuditRecord & { audit?: string };
    return value.action === 'access' ? value : undefined;
  } catch {
    return undefined; // an ordinary log line
  }
}

function renderAccess(report: AccessReport, nowMs: number): string {
  const head = `${plural(report.records, 'read')} of managed Secrets in the last ${report.since}; ${plural(report.unexpected, 'unexpected read')}\n`;
  if (report.rows.length === 0) return head;
  return (
    head +
    '\n' +
    table(
      ['EXPECTED', 'SECRET', 'READER', 'VERBS', 'READS', 'LAST', 'FROM', 'WHY'],
      report.rows.map((r) => [
        r.expected ? 'yes' : 'NO',
        r.secret,
        r.reader,
        r.verbs.join(','),
        String(r.reads),
        `${humanDuration(nowMs - Date.parse(r.lastAt))} ago`,
        r.sourceIPs.join(','),
        r.why,
      ]),
    )
  );
}

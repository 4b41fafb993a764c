// `mlsecrets audit`: managed Secrets by age and expiry, and the long-lived Secrets no binding manages.
import {
  BINDING_ANNOTATION,
  EXPIRES_AT_ANNOTATION,
  ISSUED_AT_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  WORKLOAD_ANNOTATION,
} from '../api/labels.ts';
import { EXIT, type CliIo } from './cli-io.ts';
import type { Cluster, SecretSummary } from './cluster.ts';
import { humanDuration, plural, table } from './format.ts';

/**
 * Secret types that are not the long-lived credentials the audit is about: service-account
 * tokens (legacy, but Kubernetes' own), Helm's release records, and bootstrap tokens (which
 * carry their own expiration).
 */
export const NOT_CREDENTIAL_TYPES: readonly string[] = [
  'kubernetes.io/service-account-token',
  'helm.sh/release.v1',
  'bootstrap.kubernetes.io/token',
];

/** The operator's own Secrets (data-hash key, webhook TLS) carry this label: they are not workload credentials. */
const OPERATOR_NAME_LABEL = 'app.kubernetes.io/name';

export interface ManagedSecretRow {
  namespace: string;
  name: string;
  binding: string;
  /** A PerWorkload Secret's workload, "Kind/name". */
  workload: string | null;
  createdAt: string | null;
  ageSeconds: number | null;
  /** Last issue: creation, renewal or rotation. */
  issuedAt: string | null;
  expiresAt: string | null;
  secondsLeft: number | null;
  expired: boolean;
}

export interface LongLivedSecretRow {
  namespace: string;
  name: string;
  type: string;
  createdAt: string | null;
  ageSeconds: number | null;
}

export interface AuditReport {
  /** The namespaces audited; null for all. */
  namespaces: string[] | null;
  maxAge: string;
  managed: ManagedSecretRow[];
  /** Secrets no binding manages, older than maxAge. */
  longLived: LongLivedSecretRow[];
  /** longLived plus expired managed Secrets: non-zero means exit code 1. */
  flagged: number;
}

export interface AuditOptions {
  namespaces: string[];
  allNamespaces: boolean;
  maxAge: string;
  maxAgeMs: number;
  output: 'table' | 'json';
}

export async function auditCommand(options: AuditOptions, io: CliIo, cluster: Cluster): Promise<number> {
  const namespaces = options.allNamespaces
    ? null
    : options.namespaces.length > 0
      ? [...new Set(options.namespaces)]
      : [cluster.defaultNamespace()];
  const secrets = namespaces
    ? (await Promise.all(namespaces.map((ns) => cluster.listSecretSummaries(ns)))).flat()
    : await cluster.listSecretSummaries();
  const report = auditSecrets(secrets, io.now(), options.maxAgeMs, options.maxAge, namespaces);
  io.stdout(options.output === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderAudit(report));
  return report.flagged > 0 ? EXIT.problems : EXIT.ok;
}

function time(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Classifies Secrets (pure, for tests): managed ones with their lifetimes, and flagged long-lived ones. */
export function auditSecrets(
  secrets: SecretSummary[],
  nowMs: number,
  maxAgeMs: number,
  maxAge: string,
  namespaces: string[] | null,
): AuditReport {
  const managed: ManagedSecretRow[] = [];
  const longLived: LongLivedSecretRow[] = [];
  for (const secret of secrets) {
    const created = time(secret.creationTimestamp);
    const ageMs = created === undefined ? undefined : nowMs - created;
    const ageSeconds = ageMs === undefined ? null : Math.floor(ageMs / 1000);
    if (secret.labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) {
      const expires = time(secret.annotations[EXPIRES_AT_ANNOTATION]);
      managed.push({
        namespace: secret.namespace,
        name: secret.name,
        binding: secret.annotations[BINDING_ANNOTATION] ?? '',
        workload: secret.annotations[WORKLOAD_ANNOTATION] ?? null,
        createdAt: secret.creationTimestamp ?? null,
        ageSeconds,
        issuedAt: secret.annotations[ISSUED_AT_ANNOTATION] ?? null,
        expiresAt: secret.annotations[EXPIRES_AT_ANNOTATION] ?? null,
        secondsLeft: expires === undefined ? null : Math.floor((expires - nowMs) / 1000),
        expired: expires !== undefined && expires <= nowMs,
      });
      continue;
    }
    if (NOT_CREDENTIAL_TYPES.includes(secret.type)) continue;
    if (secret.labels[OPERATOR_NAME_LABEL] === 'mlsecrets') continue;
    // With --max-age 0s every such Secret counts, even one created this very second.
    if (ageMs !== undefined && (ageMs >= maxAgeMs || maxAgeMs === 0)) {
      longLived.push({
        namespace: secret.namespace,
        name: secret.name,
        type: secret.type,
        createdAt: secret.creationTimestamp ?? null,
        ageSeconds,
      });
    }
  }
  // Soonest expiry first, oldest first: what needs attention heads each list.
  managed.sort((a, b) => (a.secondsLeft ?? Infinity) - (b.secondsLeft ?? Infinity));
  longLived.sort((a, b) => (b.ageSeconds ?? 0) - (a.ageSeconds ?? 0));
  return {
    namespaces,
    maxAge,
    managed,
    longLived,
    flagged: longLived.length + managed.filter((m) => m.expired).length,
  };
}

export function renderAudit(report: AuditReport): string {
  const out: string[] = [];
  const age = (seconds: number | null) => (seconds === null ? '-' : humanDuration(seconds * 1000));
  out.push(`Managed Secrets (label ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}): ${report.managed.length}`);
  if (report.managed.length > 0) {
    out.push(
      table(
        ['NAMESPACE', 'NAME', 'BINDING', 'AGE', 'ISSUED-AT', 'EXPIRES-AT', 'LEFT'],
        report.managed.map((m) => [
          m.namespace,
          m.name,
          m.workload ? `${m.binding} (${m.workload})` : m.binding || '-',
          age(m.ageSeconds),
          m.issuedAt ?? '-',
          m.expiresAt ?? '-',
          m.secondsLeft === null ? '-' : m.expired ? 'EXPIRED' : humanDuration(m.secondsLeft * 1000),
        ]),
      ).trimEnd(),
    );
  }
  out.push('');
  out.push(`Long-lived Secrets no binding manages (older than ${report.maxAge}): ${report.longLived.length}`);
  if (report.longLived.length > 0) {
    out.push(
      table(
        ['NAMESPACE', 'NAME', 'TYPE', 'AGE'],
        report.longLived.map((s) => [s.namespace, s.name, s.type || '-', age(s.ageSeconds)]),
      ).trimEnd(),
    );
  }
  out.push('');
  const expired = report.managed.filter((m) => m.expired).length;
  const scope = report.namespaces
    ? `namespace${report.namespaces.length === 1 ? '' : 's'} ${report.namespaces.join(', ')}`
    : 'all namespaces';
  if (report.flagged === 0) {
    out.push(`nothing flagged in ${scope}`);
  } else {
    const parts = [
      ...(report.longLived.length > 0
        ? [
            `${plural(report.longLived.length, 'long-lived Secret')} no binding manages: move ${report.longLived.length === 1 ? 'it' : 'them'} into the external store and bind ${report.longLived.length === 1 ? 'it' : 'them'} with a ttl`,
          ]
        : []),
      ...(expired > 0 ? [`${plural(expired, 'managed Secret')} past expires-at`] : []),
    ];
    out.push(`${plural(report.flagged, 'Secret')} flagged in ${scope}: ${parts.join('; ')}`);
  }
  return out.join('\n') + '\n';
}

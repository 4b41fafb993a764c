// The audit trail: one JSON line per read, issue, renewal, rotation, expiry, revocation,
// injection and denial, on a logger of its own (its own destination), never with a value.
import { systemClock, type Clock } from '../runtime/clock.ts';
import winston from 'winston';

export type AuditAction =
  | 'issue'
  | 'renew'
  | 'rotate'
  | 'restore'
  | 'expire'
  | 'revoke'
  | 'read-failed'
  | 'policy-deny'
  | 'inject'
  | 'inject-deny'
  | 'access';

/** One audit record. `dataHash` may appear (an HMAC); a value never does. */
export interface AuditRecord {
  action: AuditAction;
  outcome: 'success' | 'failure';
  /** namespace/name of the SecretBinding. */
  binding?: string;
  /** The store, as "ClusterSecretStore/name" or "SecretStore/ns/name". */
  store?: string;
  /** Remote keys with the version ids read. */
  sources?: { key: string; versionId?: string }[];
  /** The managed Secret concerned. */
  secret?: string;
  dataHash?: string;
  workload?: { kind: string; name: string; uid?: string };
  serviceAccount?: string;
  node?: string;
  reason?: string;
  message?: string;
  /** action "access": one read of a managed Secret reported by the API server's audit webhook. */
  access?: AccessDetail;
}

/** Who read a managed Secret, how, from where, and whether it was expected (docs/access-audit.md). */
export interface AccessDetail {
  auditID: string;
  /** When the API server received the request. */
  readAt: string;
  verb: 'get' | 'list' | 'watch';
  reader: {
    username: string;
    groups: string[];
    serviceAccount?: string;
    node?: string;
    impersonating?: string;
  };
  sourceIPs: string[];
  userAgent?: string;
  expected: boolean;
  /** Why it was (not) expected. */
  why: string;
  /** For a kubelet: the pods on its node that consume the Secret. */
  pods?: string[];
  /** A list or watch of a whole namespace ("namespace") or cluster ("cluster"). */
  scope?: 'namespace' | 'cluster';
  /** For a list or watch by an expected reader: how many managed Secrets it read (one record). */
  secrets?: number;
  /** Set when the reader went over its read allowance (see ReadRate). */
  rate?: { reads: number; allowed: number; window: string };
}

export interface AuditSink {
  record(entry: AuditRecord): void;
}

/**
 * Writes records as JSON lines to `destination`: "stdout", "stderr", or a file path (appended).
 * Each line also carries the time and the operator replica.
 */
export function createAuditLog(
  destination: string,
  replica: string,
  clock: Clock = systemClock,
): AuditSink & { close(): Promise<void> } {
  const transport =
    destination === 'stdout' || destination === 'stderr'
      ? new winston.transports.Stream({ stream: destination === 'stdout' ? process.stdout : process.stderr })
      : new winston.transports.File({ filename: destination });
  return auditLogOn(transport, replica, clock);
}

/** The same over any winston transport (tests pass a stream). */
export function auditLogOn(
  transport: winston.transport,
  replica: string,
  /** The time each record carries (the operator's clock). */
  clock: Clock = systemClock,
): AuditSink & { close(): Promise<void> } {
  // The audit schema is ours: time first, no log level, the message as given.
  const shape = winston.format((info) => {
    const { level: _level, ...rest } = info;
    return {
      time: new Date(clock.now()).toISOString(),
      ...rest,
    } as unknown as winston.Logform.TransformableInfo;
  });
  const logger = winston.createLogger({
    level: 'info',
    format: winston.format.combine(shape(), winston.format.json()),
    defaultMeta: { audit: 'mlsecrets', replica },
    transports: [transport],
  });
  return {
    record: (entry) => logger.log({ level: 'info', ...entry, message: entry.message ?? '' }),
    close: () =>
      new Promise<void>((resolve) => {
        logger.on('finish', () => resolve());
        logger.end();
      }),
  };
}

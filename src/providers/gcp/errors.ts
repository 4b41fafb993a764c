// Classification of Google Secret Manager failures, kept apart from retry policy (the work
// queue decides when to try again from the category). Like ESO's SanitizeErr, but stricter:
// the SDK's message is never used. gRPC messages carry resource names of other projects,
// request details and, for credential failures, text from the token endpoint; and a message
// that differs between attempts would churn status and Events. Ours are built only from the
// category, the gRPC code name, the project and the remote key.
import { status } from '@grpc/grpc-js';
import { ProviderError, type ProviderErrorCategory } from '../provider.port.ts';

/** What was being done when the call failed: the only facts a message may name. */
export interface CallContext {
  project: string;
  /** The remote key as the binding wrote it; absent for project-wide calls (validate). */
  key?: string;
  version?: string;
}

/** The deadline of every call (also named in the DEADLINE_EXCEEDED message). */
export const CALL_TIMEOUT_MS = 10_000;

const SERVICE = 'Google Secret Manager';

/** A failed gRPC call as google-gax reports it; everything optional, nothing trusted. */
interface GaxLikeError {
  code?: unknown;
  details?: unknown;
  message?: unknown;
  reason?: unknown;
  metadata?: { get?: (key: string) => unknown[] };
  statusDetails?: unknown;
}

/** Maps any error of a Secret Manager call to a ProviderError with a message of our own. */
export function classify(error: unknown, context: CallContext): ProviderError {
  const e = (error ?? {}) as GaxLikeError;
  const subject = describe(context);
  const credentialFailure = credentialProblem(e);
  if (credentialFailure === 'rejected') {
    return new ProviderError(
      'AccessDenied',
      `${SERVICE}: the service-account credentials were rejected when asking for ${subject}`,
    );
  }
  if (credentialFailure === 'no-credentials') {
    return new ProviderError(
      'AccessDenied',
      `${SERVICE}: no Application Default Credentials could be found or loaded for ${subject}; set provider.gcp.auth.secretRef or configure workload identity`,
    );
  }
  if (credentialFailure === 'unavailable') {
    return new ProviderError(
      'Unavailable',
      `${SERVICE}: could not obtain an access token for ${subject} (the token endpoint or metadata server did not answer)`,
    );
  }
  if (typeof e.code !== 'number') {
    // No gRPC status: a socket, DNS or TLS failure before any call was made.
    return new ProviderError('Unavailable', `${SERVICE} could not be reached for ${subject} (network error)`);
  }
  const code = e.code;
  const codeName = grpcCodeName(code);
  const category = categoryOf(code);
  switch (category) {
    case 'NotFound':
      return new ProviderError('NotFound', `${SERVICE}: ${subject} not found (${codeName})`);
    case 'AccessDenied':
      return new ProviderError(
        'AccessDenied',
        code === status.UNAUTHENTICATED
          ? `${SERVICE} did not accept the credentials for ${subject} (${codeName})`
          : `${SERVICE} denied access to ${subject} (${codeName})`,
      );
    case 'Throttled':
      return new ProviderError(
        'Throttled',
        `${SERVICE} is throttling requests for ${subject} (${codeName})`,
        retryAfterMs(e),
      );
    case 'Invalid':
      return new ProviderError(
        'Invalid',
        code === status.FAILED_PRECONDITION
          ? `${SERVICE}: ${subject} cannot be read; the version may be disabled or destroyed (${codeName})`
          : `${SERVICE} rejected the request for ${subject} (${codeName})`,
      );
    case 'Unavailable':
      return new ProviderError(
        'Unavailable',
        code === status.DEADLINE_EXCEEDED
          ? `${SERVICE} did not answer within ${CALL_TIMEOUT_MS / 1000}s for ${subject} (${codeName})`
          : `${SERVICE} did not answer for ${subject} (${codeName})`,
        retryAfterMs(e),
      );
  }
}

/** The category of a gRPC status code. */
export function categoryOf(code: number): ProviderErrorCategory {
  switch (code) {
    case status.NOT_FOUND:
      return 'NotFound';
    case status.PERMISSION_DENIED:
    case status.UNAUTHENTICATED:
      return 'AccessDenied';
    case status.RESOURCE_EXHAUSTED:
      return 'Throttled';
    case status.INVALID_ARGUMENT:
    case status.FAILED_PRECONDITION:
    case status.OUT_OF_RANGE:
    case status.UNIMPLEMENTED:
    case status.ALREADY_EXISTS:
    case status.DATA_LOSS:
      return 'Invalid';
    default:
      // UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, CANCELLED, ABORTED: pass by themselves.
      return 'Unavailable';
  }
}

/**
 * True when a failed call still proves the credentials work: the server authenticated the
 * caller and only refused the permission, and not because the API is switched off or the
 * project is unusable (those come with an ErrorInfo reason, which google-gax puts on `reason`).
 */
export function isPlainPermissionDenied(error: unknown): boolean {
  const e = (error ?? {}) as GaxLikeError;
  if (e.code !== status.PERMISSION_DENIED || credentialProblem(e) !== undefined) return false;
  return !(typeof e.reason === 'string' && projectProblems.has(e.reason));
}

const projectProblems = new Set([
  'SERVICE_DISABLED',
  'CONSUMER_INVALID',
  'BILLING_DISABLED',
  'USER_PROJECT_DENIED',
]);

/** "secret "k" version "3" in project "p"" or "project "p"". */
function describe(context: CallContext): string {
  if (context.key === undefined) return `project "${context.project}"`;
  const version = context.version ? ` version "${context.version}"` : '';
  const where = context.key.startsWith('projects/') ? '' : ` in project "${context.project}"`;
  return `secret "${context.key}"${version}${where}`;
}

/**
 * grpc-js reports a failure of the call credentials (getting a token) as UNAVAILABLE with
 * "Getting metadata from plugin failed…". Telling these apart matters: a bad key will not fix
 * itself with retries, a token endpoint that did not answer will. The text is read to classify
 * only; it never reaches a message.
 */
function credentialProblem(e: GaxLikeError): 'rejected' | 'no-credentials' | 'unavailable' | undefined {
  const text = `${typeof e.details === 'string' ? e.details : ''} ${typeof e.message === 'string' ? e.message : ''}`;
  if (/Could not load the default credentials|Unable to read the credential file/i.test(text))
    return 'no-credentials';
  if (!/Getting metadata from plugin failed/i.test(text)) return undefined;
  if (
    /invalid_grant|invalid_client|unauthorized_client|account not found|DECODER|PEM|private key/i.test(text)
  )
    return 'rejected';
  return 'unavailable';
}

/** The server's retry hint: RetryInfo in the status details, or a retry-delay/retry-after header. */
function retryAfterMs(e: GaxLikeError): number | undefined {
  if (Array.isArray(e.statusDetails)) {
    for (const detail of e.statusDetails as { retryDelay?: { seconds?: unknown; nanos?: unknown } }[]) {
      const delay = detail?.retryDelay;
      if (!delay) continue;
      const ms = toNumber(delay.seconds) * 1000 + toNumber(delay.nanos ?? 0) / 1e6;
      if (Number.isFinite(ms) && ms > 0) return Math.ceil(ms);
    }
  }
  for (const header of ['retry-delay', 'retry-after']) {
    const value = e.metadata?.get?.(header)?.[0];
    const seconds = Number(typeof value === 'string' ? value : value?.toString());
    if (Number.isFinite(seconds) && seconds > 0) return Math.ceil(seconds * 1000);
  }
  return undefined;
}

/** Protobuf int64s arrive as numbers, strings or Long objects depending on the loader. */
function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' || typeof value === 'bigint') return Number(value);
  if (value && typeof (value as { toNumber?: unknown }).toNumber === 'function')
    return (value as { toNumber(): number }).toNumber();
  return Number.NaN;
}

function grpcCodeName(code: number): string {
  return (status as unknown as Record<number, string>)[code] ?? `gRPC code ${code}`;
}

// Classifies AWS SDK errors into the port's categories, with messages of our own. Kept apart
// from retry policy (docs/architecture.md, "Stores, the fetch layer and providers"): this says
// what happened, the work queue decides when to try again.
import { ProviderError, type ProviderErrorCategory } from '../provider.port.ts';

/** The AWS services the providers talk to. */
export type AwsService = 'SecretsManager' | 'ParameterStore' | 'STS';

/** What was being done when an error happened: the only facts a message may carry. */
export interface ErrorContext {
  service: AwsService;
  /**
   * read: a value; list: the listing of dataFrom.find; rotate: RotateSecret; assume: AssumeRole
   * of `key` (a role ARN); check: credentials.
   */
  action: 'read' | 'list' | 'rotate' | 'assume' | 'check';
  /** The remote key (or role ARN) as the user wrote it in the spec. */
  key?: string;
  version?: string;
}

const serviceNames: Record<AwsService, string> = {
  SecretsManager: 'AWS Secrets Manager',
  ParameterStore: 'AWS Parameter Store',
  STS: 'AWS STS',
};

// Error names (the SDK's `name`, AWS's error code) by category. Query-protocol services (STS)
// use the short forms (AccessDenied, Throttling), JSON-protocol ones the *Exception forms.
const byName: Record<string, ProviderErrorCategory> = {
  ResourceNotFoundException: 'NotFound',
  ParameterNotFound: 'NotFound',
  ParameterVersionNotFound: 'NotFound',
  AccessDeniedException: 'AccessDenied',
  AccessDenied: 'AccessDenied',
  UnrecognizedClientException: 'AccessDenied',
  InvalidSignatureException: 'AccessDenied',
  SignatureDoesNotMatch: 'AccessDenied',
  IncompleteSignature: 'AccessDenied',
  MissingAuthenticationToken: 'AccessDenied',
  ExpiredTokenException: 'AccessDenied',
  ExpiredToken: 'AccessDenied',
  InvalidClientTokenId: 'AccessDenied',
  // No credentials anywhere in the SDK's default chain: nothing to retry until someone acts.
  CredentialsProviderError: 'AccessDenied',
  ThrottlingException: 'Throttled',
  Throttling: 'Throttled',
  TooManyRequestsException: 'Throttled',
  RequestLimitExceeded: 'Throttled',
  InternalServiceError: 'Unavailable',
  InternalServiceErrorException: 'Unavailable',
  InternalFailure: 'Unavailable',
  InternalServerError: 'Unavailable',
  ServiceUnavailable: 'Unavailable',
  ServiceUnavailableException: 'Unavailable',
  TimeoutError: 'Unavailable',
  RequestTimeout: 'Unavailable',
  RequestTimeoutException: 'Unavailable',
  InvalidParameterException: 'Invalid',
  InvalidRequestException: 'Invalid',
  DecryptionFailure: 'Invalid',
  ValidationException: 'Invalid',
  ValidationError: 'Invalid',
  InvalidKeyId: 'Invalid',
  RegionDisabledException: 'Invalid',
};

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

// Fixed hints for codes where saying which kind of denial helps the user; our words, not AWS's.
const hints: Record<string, string> = {
  AccessDeniedException: 'the IAM policy does not allow it',
  AccessDenied: 'the IAM policy does not allow it',
  UnrecognizedClientException: 'the access key id is not recognised',
  InvalidClientTokenId: 'the access key id is not recognised',
  InvalidSignatureException: 'the secret access key does not match',
  SignatureDoesNotMatch: 'the secret access key does not match',
  ExpiredTokenException: 'the session token has expired',
  ExpiredToken: 'the session token has expired',
  CredentialsProviderError: 'no AWS credentials were found in the SDK default chain',
  DecryptionFailure: 'KMS could not decrypt the value',
};

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

/** The category an AWS SDK error (or an entry of BatchGetSecretValue's `Errors`) falls in. */
export function categorise(error: unknown): ProviderErrorCategory {
  const e = (error ?? {}) as SdkErrorShape;
  const named = e.name ? byName[e.name] : undefined;
  if (named) return named;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  // Authentication failures arrive as 403 whatever the body: moto, for one, answers them in XML
  // even for JSON-protocol services, which the SDK then reports as a SyntaxError.
  if (status === 401 || status === 403) return 'AccessDenied';
  if (status === 429 || e.$retryable?.throttling) return 'Throttled';
  if (status !== undefined && status >= 500) return 'Unavailable';
  if ((e.code && networkCodes.has(e.code)) || /socket hang up/i.test(e.message ?? '')) return 'Unavailable';
  if (status !== undefined && status >= 400) return 'Invalid';
  // No HTTP answer at all (or one we could not read): the endpoint is not usable right now.
  return 'Unavailable';
}

/**
 * Turns an AWS SDK error into a ProviderError. The message is built from the category, the
 * service and the context (the key as the user wrote it) only, never from the SDK's message:
 * that can carry ARNs with account ids, request ids or credentials, and it would make status
 * churn between retries.
 */
export function classify(error: unknown, context: ErrorContext, now: number = Date.now()): ProviderError {
  // Already ours: a failed AssumeRole inside the SDK's credential resolution, say.
  if (error instanceof ProviderError) return error;
  const category = categorise(error);
  const name = (error as SdkErrorShape | undefined)?.name;
  const retryAfterMs =
    category === 'Throttled' || category === 'Unavailable' ? retryAfter(error, now) : undefined;
  return new ProviderError(category, message(category, context, name), retryAfterMs);
}

/** A ProviderError for an error code alone (BatchGetSecretValue's per-secret `Errors`). */
export function classifyCode(code: string | undefined, context: ErrorContext): ProviderError {
  return classify({ name: code ?? 'UnknownError', $metadata: { httpStatusCode: 400 } }, context);
}

function message(category: ProviderErrorCategory, context: ErrorContext, name?: string): string {
  const service = serviceNames[context.service];
  const hint = name && Object.hasOwn(hints, name) ? hints[name] : undefined;
  const subject = describe(context);
  switch (category) {
    case 'NotFound':
      return context.action === 'read' && context.key !== undefined
        ? `${capitalise(subject)} was not found in ${service}`
        : `${service} found nothing while ${gerund(context)}`;
    case 'AccessDenied':
      return `${service} denied access while ${gerund(context)}${hint ? `: ${hint}` : ''}`;
    case 'Throttled':
      return `${service} is throttling requests (while ${gerund(context)})`;
    case 'Unavailable':
      return `${service} is unavailable (while ${gerund(context)})`;
    case 'Invalid':
      return `${service} rejected the request while ${gerund(context)}${hint ? `: ${hint}` : ' as invalid'}`;
  }
}

function noun(context: ErrorContext): string {
  return context.service === 'ParameterStore' ? 'parameter' : 'secret';
}

function describe(context: ErrorContext): string {
  const version = context.version !== undefined ? ` (version "${context.version}")` : '';
  return `${noun(context)} "${context.key ?? ''}"${version}`;
}

function gerund(context: ErrorContext): string {
  switch (context.action) {
    case 'read':
      return `reading ${context.key === undefined ? `${noun(context)}s` : describe(context)}`;
    case 'list':
      return `listing ${noun(context)}s`;
    case 'rotate':
      return `rotating secret "${context.key ?? ''}"`;
    case 'assume':
      return `assuming role "${context.key ?? ''}"`;
    case 'check':
      return "checking the store's credentials";
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The server's Retry-After (seconds or an HTTP date), when the SDK kept the response. */
function retryAfter(error: unknown, now: number): number | undefined {
  const headers = (error as SdkErrorShape | undefined)?.$response?.headers;
  if (!headers) return undefined;
  const raw = Object.entries(headers)
    .find(([k]) => k.toLowerCase() === 'retry-after')?.[1]
    ?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

import { Metadata, status } from '@grpc/grpc-js';
import { classify, isPlainPermissionDenied } from '../../../../src/providers/gcp/errors.ts';

// Text that must never reach a message: it stands for request ids, resource names of other
// projects and token-endpoint answers in the SDK's own error.
const marker = 'MARKER-sdk-text-4f2a';

/** An error shaped like google-gax's GoogleError, its text full of the marker. */
function grpcError(code: number, extra: Record<string, unknown> = {}): Error {
  const error = new Error(`${code} ${status[code]}: ${marker} projects/other/secrets/x request-id ${marker}`);
  return Object.assign(error, { code, details: `${marker} details`, metadata: new Metadata(), ...extra });
}

const context = { project: 'ml-proj', key: 'hf-token', version: '3' };

describe('classify', () => {
  test.each([
    [
      status.NOT_FOUND,
      'NotFound',
      /secret "hf-token" version "3" in project "ml-proj" not found \(NOT_FOUND\)/,
    ],
    [status.PERMISSION_DENIED, 'AccessDenied', /denied access to secret "hf-token".*\(PERMISSION_DENIED\)/],
    [status.UNAUTHENTICATED, 'AccessDenied', /did not accept the credentials.*\(UNAUTHENTICATED\)/],
    [
      status.RESOURCE_EXHAUSTED,
      'Throttled',
      /is throttling requests for secret "hf-token".*RESOURCE_EXHAUSTED/,
    ],
    [status.UNAVAILABLE, 'Unavailable', /did not answer for secret "hf-token".*\(UNAVAILABLE\)/],
    [status.DEADLINE_EXCEEDED, 'Unavailable', /did not answer within 10s.*\(DEADLINE_EXCEEDED\)/],
    [status.INTERNAL, 'Unavailable', /\(INTERNAL\)/],
    [status.UNKNOWN, 'Unavailable', /\(UNKNOWN\)/],
    [status.CANCELLED, 'Unavailable', /\(CANCELLED\)/],
    [status.ABORTED, 'Unavailable', /\(ABORTED\)/],
    [status.INVALID_ARGUMENT, 'Invalid', /rejected the request for secret "hf-token".*\(INVALID_ARGUMENT\)/],
    [status.FAILED_PRECONDITION, 'Invalid', /may be disabled or destroyed \(FAILED_PRECONDITION\)/],
    [status.OUT_OF_RANGE, 'Invalid', /\(OUT_OF_RANGE\)/],
    [status.UNIMPLEMENTED, 'Invalid', /\(UNIMPLEMENTED\)/],
  ])('gRPC code %i → %s, in our own words', (code, category, message) => {
    const classified = classify(grpcError(code), context);
    expect(classified.category).toBe(category);
    expect(classified.message).toMatch(message);
    expect(classified.message).toMatch(/Google Secret Manager/);
    expect(classified.message).not.toContain(marker);
    expect(classified.message).not.toContain('request-id');
    expect(classified.message).not.toContain('projects/other');
  });

  test('the same failure gives the same message every time', () => {
    const a = classify(grpcError(status.UNAVAILABLE, { message: `${marker} attempt 1` }), context);
    const b = classify(grpcError(status.UNAVAILABLE, { message: `${marker} attempt 2` }), context);
    expect(a.message).toBe(b.message);
  });

  test('a network error without a gRPC code is Unavailable', () => {
    const error = Object.assign(new Error(`connect ECONNREFUSED ${marker}`), { code: 'ECONNREFUSED' });
    const classified = classify(error, context);
    expect(classified.category).toBe('Unavailable');
    expect(classified.message).toMatch(/could not be reached.*network error/);
    expect(classified.message).not.toContain(marker);
    expect(classify(undefined, context).category).toBe('Unavailable');
  });

  test('project-wide calls name the project only; full names are not given a project twice', () => {
    expect(classify(grpcError(status.NOT_FOUND), { project: 'ml-proj' }).message).toBe(
      'Google Secret Manager: project "ml-proj" not found (NOT_FOUND)',
    );
    expect(
      classify(grpcError(status.NOT_FOUND), { project: 'ml-proj', key: 'projects/shared/secrets/s' }).message,
    ).toBe('Google Secret Manager: secret "projects/shared/secrets/s" not found (NOT_FOUND)');
  });

  describe('retry hints of throttled calls', () => {
    test('RetryInfo in the status details (seconds as a string, as google-gax decodes int64)', () => {
      const error = grpcError(status.RESOURCE_EXHAUSTED, {
        statusDetails: [
          { reason: 'RATE_LIMIT_EXCEEDED' },
          { retryDelay: { seconds: '7', nanos: 500_000_000 } },
        ],
      });
      expect(classify(error, context).retryAfterMs).toBe(7_500);
    });

    test('RetryInfo seconds as a Long-like object', () => {
      const error = grpcError(status.RESOURCE_EXHAUSTED, {
        statusDetails: [{ retryDelay: { seconds: { toNumber: () => 3 }, nanos: 0 } }],
      });
      expect(classify(error, context).retryAfterMs).toBe(3_000);
    });

    test.each(['retry-delay', 'retry-after'])('a %s header in the trailers', (header) => {
      const metadata = new Metadata();
      metadata.set(header, '2');
      expect(classify(grpcError(status.RESOURCE_EXHAUSTED, { metadata }), context).retryAfterMs).toBe(2_000);
    });

    test('none when the server gave none', () => {
      expect(classify(grpcError(status.RESOURCE_EXHAUSTED), context).retryAfterMs).toBeUndefined();
    });
  });

  describe('failures to get a token', () => {
    const plugin = (text: string) =>
      grpcError(status.UNAVAILABLE, {
        details: `Getting metadata from plugin failed with error: ${text} ${marker}`,
      });

    test('credentials the token endpoint rejects are AccessDenied, not an outage', () => {
      const classified = classify(plugin('invalid_grant: Invalid JWT Signature.'), context);
      expect(classified.category).toBe('AccessDenied');
      expect(classified.message).toMatch(/service-account credentials were rejected/);
      expect(classified.message).not.toContain(marker);
      expect(classified.message).not.toContain('JWT');
    });

    test('no default credentials at all is AccessDenied with a hint', () => {
      const error = new Error(`Could not load the default credentials. ${marker}`);
      const classified = classify(error, context);
      expect(classified.category).toBe('AccessDenied');
      expect(classified.message).toMatch(
        /no Application Default Credentials could be found.*auth\.secretRef/,
      );
      expect(classified.message).not.toContain(marker);
    });

    test('a GOOGLE_APPLICATION_CREDENTIALS file that cannot be read likewise', () => {
      const error = new Error(
        `Unable to read the credential file specified by the GOOGLE_APPLICATION_CREDENTIALS environment variable: ${marker}`,
      );
      const classified = classify(error, context);
      expect(classified.category).toBe('AccessDenied');
      expect(classified.message).not.toContain(marker);
    });

    test('a token endpoint that did not answer is Unavailable', () => {
      const classified = classify(plugin('request to https://oauth2.googleapis.com/token failed'), context);
      expect(classified.category).toBe('Unavailable');
      expect(classified.message).toMatch(/could not obtain an access token/);
      expect(classified.message).not.toContain('oauth2');
    });
  });
});

describe('isPlainPermissionDenied', () => {
  test('PERMISSION_DENIED alone: the caller was authenticated', () => {
    expect(isPlainPermissionDenied(grpcError(status.PERMISSION_DENIED))).toBe(true);
  });
  test.each(['SERVICE_DISABLED', 'CONSUMER_INVALID', 'BILLING_DISABLED'])(
    'not when ErrorInfo says %s',
    (reason) => {
      expect(isPlainPermissionDenied(grpcError(status.PERMISSION_DENIED, { reason }))).toBe(false);
    },
  );
  test('not for other codes', () => {
    expect(isPlainPermissionDenied(grpcError(status.UNAUTHENTICATED))).toBe(false);
    expect(isPlainPermissionDenied(new Error('x'))).toBe(false);
  });
});

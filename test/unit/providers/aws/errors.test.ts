import { classify, classifyCode, type ErrorContext } from '../../../../src/providers/aws/errors.ts';
import { ProviderError } from '../../../../src/providers/provider.port.ts';
import { sdkError } from './fakes.ts';

const read: ErrorContext = { service: 'SecretsManager', action: 'read', key: 'ml/huggingface' };
// What an SDK message may carry: an ARN with an account id, a request id, a key id.
const marker = 'MARKER-sdk-text arn:aws:iam::999988887777:user/alice RequestId 1a2b3c4d AKIAABCDEFGHIJKLMNOP';

function networkError(code: string, message = `connect ${code} 10.0.0.1:443 ${marker}`): Error {
  const error = new Error(message) as Error & { code: string };
  error.code = code;
  return error;
}

describe('classify()', () => {
  test.each([
    ['ResourceNotFoundException', 400, 'NotFound'],
    ['ParameterNotFound', 400, 'NotFound'],
    ['ParameterVersionNotFound', 400, 'NotFound'],
    ['AccessDeniedException', 400, 'AccessDenied'],
    ['AccessDenied', 403, 'AccessDenied'],
    ['UnrecognizedClientException', 400, 'AccessDenied'],
    ['InvalidSignatureException', 400, 'AccessDenied'],
    ['SignatureDoesNotMatch', 403, 'AccessDenied'],
    ['ExpiredTokenException', 400, 'AccessDenied'],
    ['InvalidClientTokenId', 403, 'AccessDenied'],
    ['ThrottlingException', 400, 'Throttled'],
    ['TooManyRequestsException', 400, 'Throttled'],
    ['InternalServiceError', 500, 'Unavailable'],
    ['InternalServiceErrorException', 500, 'Unavailable'],
    ['InvalidParameterException', 400, 'Invalid'],
    ['InvalidRequestException', 400, 'Invalid'],
    ['DecryptionFailure', 400, 'Invalid'],
    ['ValidationException', 400, 'Invalid'],
  ])('%s (HTTP %i) is %s', (name, status, category) => {
    const error = classify(sdkError(name, { status, message: marker }), read);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.category).toBe(category);
  });

  test.each([
    [401, 'AccessDenied'],
    [403, 'AccessDenied'],
    [429, 'Throttled'],
    [500, 'Unavailable'],
    [502, 'Unavailable'],
    [503, 'Unavailable'],
    [404, 'Invalid'],
    [400, 'Invalid'],
  ])('an unknown error with HTTP %i is %s', (status, category) => {
    expect(classify(sdkError('SomethingNew', { status, message: marker }), read).category).toBe(category);
  });

  test('a 403 whose body the SDK could not parse (moto under IAM auth) is AccessDenied', () => {
    expect(classify(sdkError('SyntaxError', { status: 403, message: marker }), read).category).toBe(
      'AccessDenied',
    );
  });

  test('$retryable.throttling is Throttled whatever the name', () => {
    expect(classify(sdkError('SlowDown', { throttling: true, message: marker }), read).category).toBe(
      'Throttled',
    );
  });

  test.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND'])(
    'network error %s is Unavailable',
    (code) => {
      expect(classify(networkError(code), read).category).toBe('Unavailable');
    },
  );

  test('a request timeout and a socket hang up are Unavailable', () => {
    expect(classify(sdkError('TimeoutError', { message: marker }), read).category).toBe('Unavailable');
    expect(classify(new Error(`socket hang up ${marker}`), read).category).toBe('Unavailable');
  });

  test('the Retry-After header of a throttled answer becomes retryAfterMs', () => {
    const seconds = classify(
      sdkError('ThrottlingException', { status: 400, headers: { 'retry-after': '7' } }),
      read,
    );
    expect(seconds.retryAfterMs).toBe(7000);
    const now = Date.parse('2030-01-01T00:00:00Z');
    const date = classify(
      sdkError('ServiceUnavailable', {
        status: 503,
        headers: { 'Retry-After': 'Tue, 01 Jan 2030 00:00:30 GMT' },
      }),
      read,
      now,
    );
    expect(date.retryAfterMs).toBe(30_000);
    expect(classify(sdkError('ThrottlingException', { status: 400 }), read).retryAfterMs).toBeUndefined();
    // A retry hint on a denial means nothing: no retryAfterMs.
    expect(
      classify(sdkError('AccessDeniedException', { status: 400, headers: { 'retry-after': '7' } }), read)
        .retryAfterMs,
    ).toBeUndefined();
  });

  test('messages are ours: category, service and key only, never the SDK text', () => {
    const contexts: ErrorContext[] = [
      read,
      { service: 'ParameterStore', action: 'read', key: '/ml/token', version: '3' },
      { service: 'SecretsManager', action: 'rotate', key: 'ml/db' },
      { service: 'STS', action: 'check' },
      { service: 'STS', action: 'assume', key: 'arn:aws:iam::123456789012:role/train' },
    ];
    const errors = [
      sdkError('ResourceNotFoundException', { status: 400, message: marker }),
      sdkError('AccessDeniedException', { status: 400, message: marker }),
      sdkError('ThrottlingException', { status: 400, message: marker }),
      sdkError('InternalServiceError', { status: 500, message: marker }),
      sdkError('ValidationException', { status: 400, message: marker }),
      sdkError('SyntaxError', { status: 403, message: marker }),
      networkError('ECONNREFUSED'),
    ];
    for (const context of contexts) {
      for (const error of errors) {
        const classified = classify(error, context);
        expect(classified.message).not.toMatch(/MARKER|999988887777|1a2b3c4d|AKIA/);
        // Stable: the same failure gives the same text on every retry.
        expect(classify(error, context).message).toBe(classified.message);
        if (context.key) expect(classified.message).toContain(context.key);
      }
    }
    expect(classify(errors[0], read).message).toBe(
      'Secret "ml/huggingface" was not found in AWS Secrets Manager',
    );
    expect(
      classify(errors[0], { service: 'ParameterStore', action: 'read', key: '/ml/token', version: '3' })
        .message,
    ).toBe('Parameter "/ml/token" (version "3") was not found in AWS Parameter Store');
    expect(classify(errors[1], read).message).toBe(
      'AWS Secrets Manager denied access while reading secret "ml/huggingface": the IAM policy does not allow it',
    );
    expect(classify(networkError('ECONNREFUSED'), { service: 'STS', action: 'check' }).message).toBe(
      "AWS STS is unavailable (while checking the store's credentials)",
    );
  });

  test('a ProviderError passes through unchanged', () => {
    const ours = new ProviderError('AccessDenied', 'AWS STS denied access while assuming role "r"');
    expect(classify(ours, read)).toBe(ours);
  });

  test('classifyCode() maps BatchGetSecretValue error codes', () => {
    expect(classifyCode('ResourceNotFoundException', read).category).toBe('NotFound');
    expect(classifyCode('AccessDeniedException', read).category).toBe('AccessDenied');
    expect(classifyCode('DecryptionFailure', read)).toMatchObject({
      category: 'Invalid',
      message: expect.stringContaining('KMS could not decrypt'),
    });
    expect(classifyCode('InternalServiceError', read).category).toBe('Unavailable');
  });
});

import { ConditionReason, EventReason } from '../../../src/api/reasons.ts';
import { ReconcileError, toReconcileError } from '../../../src/controller/errors.ts';
import { DataError } from '../../../src/data/properties.ts';
import { ProviderError, StoreConfigError } from '../../../src/providers/provider.port.ts';

const MARKER = 'LEAK-MARKER-7c1d0e';

describe('toReconcileError', () => {
  test('a ReconcileError passes through as the same object', () => {
    const error = new ReconcileError(ConditionReason.PolicyDenied, 'no', { retry: 'never' });
    expect(toReconcileError(error)).toBe(error);
  });

  test.each([
    ['NotFound', ConditionReason.RemoteKeyNotFound, 'backoff'],
    ['AccessDenied', ConditionReason.AccessDenied, 'backoff'],
    ['Throttled', ConditionReason.Throttled, 'backoff'],
    ['Unavailable', ConditionReason.ProviderUnavailable, 'backoff'],
    ['Invalid', ConditionReason.ProviderError, 'refresh'],
  ] as const)('ProviderError %s → reason %s, retry %s, Event ProviderError', (category, reason, retry) => {
    const result = toReconcileError(new ProviderError(category, `remote key "ml/x": ${category}`, 1500));
    expect(result).toBeInstanceOf(ReconcileError);
    expect(result.reason).toBe(reason);
    expect(result.retry).toBe(retry);
    expect(result.eventReason).toBe(EventReason.ProviderError);
    expect(result.message).toBe(`remote key "ml/x": ${category}`);
    expect(result.retryAfterMs).toBe(1500);
  });

  test('a ProviderError without retry-after has none', () => {
    expect(toReconcileError(new ProviderError('Throttled', 'slow down')).retryAfterMs).toBeUndefined();
  });

  test.each(['InvalidSpec', 'StoreCredentialsMissing'] as const)(
    'StoreConfigError %s keeps its reason, retries with backoff, Event InvalidSpec',
    (reason) => {
      const result = toReconcileError(
        new StoreConfigError(reason, 'credentials Secret "aws-creds" not found'),
      );
      expect(result.reason).toBe(reason);
      expect(result.retry).toBe('backoff');
      expect(result.eventReason).toBe(EventReason.InvalidSpec);
      expect(result.message).toBe('credentials Secret "aws-creds" not found');
    },
  );

  test.each([
    ['DuplicateKey', 'never', EventReason.InvalidSpec],
    ['InvalidKey', 'refresh', EventReason.InvalidSpec],
    ['PropertyNotFound', 'refresh', EventReason.ProviderError],
    ['InvalidValue', 'refresh', EventReason.ProviderError],
    ['SecretTooLarge', 'refresh', EventReason.ProviderError],
  ] as const)('DataError %s → retry %s, Event %s', (reason, retry, eventReason) => {
    const result = toReconcileError(new DataError(reason, `problem ${reason}`));
    expect(result.reason).toBe(reason);
    expect(result.retry).toBe(retry);
    expect(result.eventReason).toBe(eventReason);
    expect(result.message).toBe(`problem ${reason}`);
  });

  test('an unknown Error keeps only its class name, never its text', () => {
    const result = toReconcileError(new TypeError(`Cannot read ${MARKER}`));
    expect(result.reason).toBe(ConditionReason.ProviderError);
    expect(result.eventReason).toBe(EventReason.ProviderError);
    expect(result.retry).toBe('backoff');
    expect(result.message).toBe('reconcile failed: an internal error (TypeError)');
    expect(result.message).not.toContain(MARKER);
  });

  test('an error with an HTTP status names the status only', () => {
    const apiError = Object.assign(new Error(`Secret is invalid: ${MARKER}`), { status: 422 });
    const result = toReconcileError(apiError);
    expect(result.message).toBe('reconcile failed: the Kubernetes API answered HTTP 422');
    expect(result.message).not.toContain(MARKER);
    expect(result.retry).toBe('backoff');
  });

  test.each([
    ['a thrown string', MARKER],
    ['a plain object', { message: MARKER }],
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
  ])('%s does not leak and does not crash', (_what, thrown) => {
    const result = toReconcileError(thrown);
    expect(result).toBeInstanceOf(ReconcileError);
    expect(result.message).not.toContain(MARKER);
    expect(result.reason).toBe(ConditionReason.ProviderError);
  });
});

describe('ReconcileError', () => {
  test('defaults its Event reason to InvalidSpec', () => {
    const error = new ReconcileError(ConditionReason.InvalidSpec, 'bad', { retry: 'never' });
    expect(error.eventReason).toBe(EventReason.InvalidSpec);
    expect(error.name).toBe('ReconcileError');
    expect(error).toBeInstanceOf(Error);
  });
});

import type { ReconcileResult } from '../../../src/runtime/reconcile-result.ts';
import { OperatorMetrics } from '../../../src/observability/metrics.ts';

async function outcomes(metrics: OperatorMetrics): Promise<Record<string, number>> {
  const counted = await metrics.reconciles.get();
  return Object.fromEntries(counted.values.map((v) => [String(v.labels.outcome), v.value]));
}

describe('OperatorMetrics.countReconcile', () => {
  test('counts a reconcile as it returns or throws', async () => {
    const metrics = new OperatorMetrics();
    await metrics.countReconcile('SecretBinding', Promise.resolve<ReconcileResult>({ requeueAfterMs: 1000 }));
    await expect(metrics.countReconcile('SecretBinding', Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    expect(await outcomes(metrics)).toEqual({ success: 1, error: 1 });
  });

  test('a reconcile with deferred bookkeeping is counted once that has run: a failed status patch is an error', async () => {
    const metrics = new OperatorMetrics();
    const patched = await metrics.countReconcile(
      'SecretBinding',
      Promise.resolve({ followUp: async () => {} }),
    );
    const failing = await metrics.countReconcile(
      'SecretBinding',
      Promise.resolve({
        followUp: async () => {
          throw new Error('status patch refused');
        },
      }),
    );
    // Nothing counted while the bookkeeping waits in the queue.
    expect(await outcomes(metrics)).toEqual({});
    await patched.followUp!();
    await expect(failing.followUp!()).rejects.toThrow('status patch refused');
    expect(await outcomes(metrics)).toEqual({ success: 1, error: 1 });
  });
});

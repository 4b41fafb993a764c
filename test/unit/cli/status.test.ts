import type { SecretBinding, Store } from '../../../src/api/types.ts';
import { renderStatus, summariseStatus } from '../../../src/cli/status.command.ts';

const now = Date.parse('2026-01-15T12:00:00Z');

function binding(
  name: string,
  ready?: { status: 'True' | 'False'; reason: string; message?: string },
): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { name, namespace: 'ml' },
    spec: { storeRef: { name: 's' } },
    status: ready
      ? {
          conditions: [
            { type: 'Ready', ...ready, lastTransitionTime: new Date(now - 300_000).toISOString() },
          ],
        }
      : undefined,
  };
}

const store = (name: string, status: 'True' | 'False', reason: string): Store => ({
  apiVersion: 'mlsecrets.io/v1alpha1',
  kind: 'ClusterSecretStore',
  metadata: { name },
  spec: { provider: { kubernetes: { namespace: 'src' } } },
  status: { conditions: [{ type: 'Ready', status, reason, message: `${name} is ${reason}` }] },
});

const report = summariseStatus(
  [
    binding('a', { status: 'True', reason: 'Synced' }),
    binding('b', { status: 'True', reason: 'Synced' }),
    binding('c', {
      status: 'False',
      reason: 'PolicyDenied',
      message: 'lifetime.ttl 48h0m0s is longer than allowed',
    }),
    binding('d'),
  ],
  [store('ok', 'True', 'Valid'), store('broken', 'False', 'StoreCredentialsMissing')],
  null,
);

test('counts by Ready reason, most frequent first; not-Ready ones with their messages', () => {
  expect(report.bindings).toEqual({
    total: 4,
    ready: 2,
    byReason: { Synced: 2, NotReconciled: 1, PolicyDenied: 1 },
    notReady: [
      expect.objectContaining({ name: 'd', reason: 'NotReconciled', status: 'Unknown', since: null }),
      expect.objectContaining({
        name: 'c',
        reason: 'PolicyDenied',
        message: 'lifetime.ttl 48h0m0s is longer than allowed',
      }),
    ],
  });
  expect(report.stores.byReason).toEqual({ StoreCredentialsMissing: 1, Valid: 1 });
  expect(report.stores.notReady).toEqual([
    expect.objectContaining({
      kind: 'ClusterSecretStore',
      namespace: null,
      name: 'broken',
      reason: 'StoreCredentialsMissing',
    }),
  ]);
});

test('the table', () => {
  const text = renderStatus(report, now);
  expect(text).toMatch(/^SecretBindings: 4, Ready 2\nREASON +COUNT\nSynced +2\n/);
  expect(text).toMatch(/ml +c +PolicyDenied +5m +lifetime\.ttl 48h0m0s is longer than allowed/);
  expect(text).toMatch(/ClusterSecretStore +- +broken +StoreCredentialsMissing/);
  expect(text.trimEnd().split('\n').at(-1)).toBe('3 not Ready in all namespaces');
});

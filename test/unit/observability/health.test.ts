import { informersSynced, webhookServing } from '../../../src/observability/health.ts';

test('readiness waits for the pod webhook to serve when it is enabled, and ignores it when it is not', () => {
  let serving = false;
  const check = webhookServing(true, () => serving);
  expect(check()).toBe('pod webhook not serving yet');
  serving = true;
  expect(check()).toBeUndefined();
  expect(webhookServing(false, () => false)()).toBeUndefined();
});

test('readiness names the informers not synced yet', () => {
  const health = [
    { name: 'secretbindings@a', synced: true },
    { name: 'secrets@a', synced: false },
  ];
  const check = informersSynced(() => health as never);
  expect(check()).toBe('caches not synced: secrets@a');
  health[1]!.synced = true;
  expect(check()).toBeUndefined();
});

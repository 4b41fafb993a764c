import { auditSecrets, renderAudit } from '../../../src/cli/audit.command.ts';
import type { SecretSummary } from '../../../src/cli/cluster.ts';
import { cli } from './run-cli.ts';

const now = Date.parse('2026-01-15T12:00:00Z');
const daysAgo = (d: number) => new Date(now - d * 86_400_000).toISOString();
const DAY = 86_400_000;

function secret(name: string, fields: Partial<SecretSummary> = {}): SecretSummary {
  return {
    namespace: 'ml',
    name,
    type: 'Opaque',
    labels: {},
    annotations: {},
    creationTimestamp: daysAgo(1),
    ...fields,
  };
}

const managed = (name: string, expiresAt: string, extra: Record<string, string> = {}) =>
  secret(name, {
    labels: { 'app.kubernetes.io/managed-by': 'mlsecrets' },
    creationTimestamp: daysAgo(90),
    annotations: {
      'mlsecrets.io/binding': name,
      'mlsecrets.io/issued-at': daysAgo(0.5),
      'mlsecrets.io/expires-at': expiresAt,
      ...extra,
    },
  });

describe('auditSecrets', () => {
  const secrets: SecretSummary[] = [
    managed('fresh', new Date(now + 2 * 3_600_000).toISOString()),
    managed('lapsed', new Date(now - 60_000).toISOString()),
    managed('per-job', new Date(now + 3_600_000).toISOString(), { 'mlsecrets.io/workload': 'Job/train-1' }),
    secret('old-hf-token', { creationTimestamp: daysAgo(400) }),
    secret('old-registry', { type: 'kubernetes.io/dockerconfigjson', creationTimestamp: daysAgo(45) }),
    secret('old-ssh', { type: 'kubernetes.io/ssh-auth', creationTimestamp: daysAgo(31) }),
    secret('recent', { creationTimestamp: daysAgo(3) }),
    secret('sa-token', { type: 'kubernetes.io/service-account-token', creationTimestamp: daysAgo(400) }),
    secret('sh.helm.release.v1.app.v1', { type: 'helm.sh/release.v1', creationTimestamp: daysAgo(400) }),
    secret('mlsecrets-data-hash-key', {
      labels: { 'app.kubernetes.io/name': 'mlsecrets' },
      creationTimestamp: daysAgo(400),
    }),
  ];
  const report = auditSecrets(secrets, now, 30 * DAY, '30d', ['ml']);

  test('managed Secrets, soonest expiry first, with time left and expiry flagged', () => {
    expect(report.managed.map((m) => [m.name, m.secondsLeft, m.expired])).toEqual([
      ['lapsed', -60, true],
      ['per-job', 3600, false],
      ['fresh', 7200, false],
    ]);
    expect(report.managed[1]).toMatchObject({
      binding: 'per-job',
      workload: 'Job/train-1',
      ageSeconds: 90 * 86_400,
    });
  });

  test('unmanaged credentials older than max-age, oldest first; tokens, Helm records and operator Secrets are not counted', () => {
    expect(report.longLived.map((s) => [s.name, s.type, s.ageSeconds! / 86_400])).toEqual([
      ['old-hf-token', 'Opaque', 400],
      ['old-registry', 'kubernetes.io/dockerconfigjson', 45],
      ['old-ssh', 'kubernetes.io/ssh-auth', 31],
    ]);
    expect(report.flagged).toBe(4);
  });

  test('max-age 0s flags every unmanaged credential, even one created this second', () => {
    const zero = auditSecrets(
      [secret('new', { creationTimestamp: new Date(now).toISOString() })],
      now,
      0,
      '0s',
      null,
    );
    expect(zero.longLived.map((s) => s.name)).toEqual(['new']);
  });

  test('the table lists both and ends with what was flagged', () => {
    const text = renderAudit(report);
    expect(text).toMatch(/NAMESPACE +NAME +BINDING +AGE +ISSUED-AT +EXPIRES-AT +LEFT/);
    expect(text).toMatch(/ml +lapsed +lapsed +90d .* EXPIRED/);
    expect(text).toMatch(/ml +per-job +per-job \(Job\/train-1\) +90d .* 1h\n/);
    expect(text).toMatch(/ml +old-hf-token +Opaque +400d/);
    expect(text.trimEnd().split('\n').at(-1)).toBe(
      '4 Secrets flagged in namespace ml: 3 long-lived Secrets no binding manages: move them into the external store and bind them with a ttl; 1 managed Secret past expires-at',
    );
  });

  test('nothing to flag', () => {
    const clean = auditSecrets([secret('recent')], now, 30 * DAY, '30d', null);
    expect(clean.flagged).toBe(0);
    expect(renderAudit(clean).trimEnd().split('\n').at(-1)).toBe('nothing flagged in all namespaces');
  });
});

describe('audit usage', () => {
  test('a bad --max-age is a usage error, before any cluster is needed', async () => {
    const run = await cli(['audit', '--max-age', '30 days']);
    expect(run.stderr).toMatch(/error: --max-age: invalid age "30 days"/);
    expect(run.code).toBe(2);
  });

  test('--namespace and --all-namespaces exclude each other', async () => {
    const run = await cli(['audit', '-n', 'ml', '-A']);
    expect(run.stderr).toMatch(/cannot be used with/);
    expect(run.code).toBe(2);
  });
});

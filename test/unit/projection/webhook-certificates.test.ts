import { ManualClock } from '../../../src/runtime/clock.ts';
import { KubeApiError, type KubeHttp } from '../../../src/runtime/http.ts';
import { silentLogger } from '../../../src/observability/logger.ts';
import { certificateNotAfter, certificateNotBefore } from '../../../src/projection/certificates.ts';
import { WebhookCertificates } from '../../../src/projection/webhook-certificates.ts';

const DAY = 24 * 3600_000;

/** Stores one Secret, with resourceVersion checks like the API server's. */
class FakeSecrets {
  secret?: { metadata: { resourceVersion: string }; data: Record<string, string> };
  writes = 0;

  async request<T>(
    method: string,
    _path: string,
    options: { body?: { metadata: { resourceVersion?: string }; data: Record<string, string> } } = {},
  ): Promise<T> {
    if (method === 'GET') {
      if (!this.secret) throw new KubeApiError(404, 'NotFound', 'not found');
      return structuredClone(this.secret) as T;
    }
    const body = options.body!;
    if (method === 'POST' && this.secret) throw new KubeApiError(409, 'AlreadyExists', 'exists');
    if (method === 'PUT' && body.metadata.resourceVersion !== this.secret?.metadata.resourceVersion) {
      throw new KubeApiError(409, 'Conflict', 'conflict');
    }
    this.writes++;
    this.secret = { metadata: { resourceVersion: String(this.writes) }, data: body.data };
    return this.secret as T;
  }
}

function certificates(http: FakeSecrets, clock: ManualClock) {
  return new WebhookCertificates({
    http: http as unknown as KubeHttp,
    clock,
    logger: silentLogger(),
    namespace: 'mlsecrets-system',
    dnsNames: ['mlsecrets-webhook.mlsecrets-system.svc'],
    ipAddresses: ['127.0.0.1'],
  });
}

test('issued once, reused while valid, renewed when a third of its life is left, CA kept', async () => {
  const http = new FakeSecrets();
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const first = await certificates(http, clock).ensure();
  expect(await certificates(http, clock).ensure()).toEqual(first);
  expect(http.writes).toBe(1);
  clock.advance(61 * DAY);
  const renewed = await certificates(http, clock).ensure();
  expect(http.writes).toBe(2);
  expect(renewed.certPem).not.toBe(first.certPem);
  expect(renewed.caBundle).toBe(first.caBundle);
  expect(certificateNotAfter(renewed.certPem).getTime()).toBeGreaterThan(
    certificateNotAfter(first.certPem).getTime(),
  );
});

test('a certificate not valid yet by this replica clock (written by one whose clock runs ahead) is issued again', async () => {
  const http = new FakeSecrets();
  const ahead = new ManualClock(Date.UTC(2026, 0, 1) + 30 * DAY);
  await certificates(http, ahead).ensure();
  const now = new ManualClock(Date.UTC(2026, 0, 1));
  const reissued = await certificates(http, now).ensure();
  expect(http.writes).toBe(2);
  expect(certificateNotBefore(reissued.certPem).getTime()).toBeLessThanOrEqual(now.now());
});

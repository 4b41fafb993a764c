// The audit webhook endpoint: authenticates, answers at once, queues within a bound and counts
// what it drops.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecretRead } from '../../../src/access/audit-event.ts';
import { AuditReceiver, sameSecret } from '../../../src/access/audit-receiver.ts';

const event = (i: number) => ({
  auditID: `id-${i}`,
  stage: 'ResponseComplete',
  verb: 'get',
  user: { username: 'alice', groups: [] },
  objectRef: { resource: 'secrets', namespace: 'ml', name: 's' },
  responseStatus: { code: 200 },
  requestReceivedTimestamp: '2026-12-07T10:00:00Z',
});

function setup(options: { capacity?: number; judge?: (read: SecretRead) => Promise<void> | void } = {}) {
  const counts = { received: 0, dropped: 0, rejected: [] as string[], maxDepth: 0 };
  const judged: string[] = [];
  const receiver = new AuditReceiver({
    token: async () => 'the-token',
    judge: options.judge ?? ((read) => void judged.push(read.auditID)),
    capacity: options.capacity,
    observer: {
      received: (n) => (counts.received += n),
      dropped: (n) => (counts.dropped += n),
      rejected: (reason) => counts.rejected.push(reason),
      queued: (depth) => (counts.maxDepth = Math.max(counts.maxDepth, depth)),
      failed: () => undefined,
    },
  });
  return { receiver, counts, judged };
}

async function serve(receiver: AuditReceiver) {
  const server = http.createServer((req, res) => receiver.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/audit`;
  const post = (body: string, token?: string) =>
    fetch(url, { method: 'POST', body, headers: token ? { authorization: `Bearer ${token}` } : {} }).then(
      (r) => r.status,
    );
  return { post, close: () => new Promise((resolve) => server.close(resolve)) };
}

test('a batch with the right token is accepted and every read judged', async () => {
  const { receiver, counts, judged } = setup();
  const { post, close } = await serve(receiver);
  expect(await post(JSON.stringify({ kind: 'EventList', items: [event(1), event(2)] }), 'the-token')).toBe(
    200,
  );
  await receiver.drained();
  expect(judged).toEqual(['id-1', 'id-2']);
  expect(counts).toMatchObject({ received: 2, dropped: 0, rejected: [] });
  await close();
});

test('no token, a wrong token and a malformed body are refused and counted', async () => {
  const { receiver, counts, judged } = setup();
  const { post, close } = await serve(receiver);
  const body = JSON.stringify({ items: [event(1)] });
  expect(await post(body)).toBe(401);
  expect(await post(body, 'the-tokeN')).toBe(401);
  expect(await post('{not json', 'the-token')).toBe(400);
  expect(counts.rejected).toEqual(['unauthorized', 'unauthorized', 'malformed']);
  expect(judged).toEqual([]);
  await close();
});

test('the answer does not wait for judging, and overflow is dropped and counted', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const judged: string[] = [];
  const { receiver, counts } = setup({
    capacity: 3,
    judge: async (read) => {
      await gate; // a slow judge: the queue fills behind it
      judged.push(read.auditID);
    },
  });
  const { post, close } = await serve(receiver);
  const items = Array.from({ length: 5 }, (_, i) => event(i));
  expect(await post(JSON.stringify({ items }), 'the-token')).toBe(200);
  expect(counts).toMatchObject({ received: 5, dropped: 2, maxDepth: 3 });
  expect(receiver.queueDepth).toBeGreaterThan(0);
  release();
  await receiver.drained();
  expect(judged).toEqual(['id-0', 'id-1', 'id-2']);
  expect(receiver.queueDepth).toBe(0);
  await close();
});

test('tokens are compared whole, whatever their lengths', () => {
  expect(sameSecret('abc', 'abc')).toBe(true);
  expect(sameSecret('abc', 'abcd')).toBe(false);
  expect(sameSecret('', 'abc')).toBe(false);
});

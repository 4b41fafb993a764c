// KubeHttp's write guard: a replica that lost the Lease sends no write at all, reads still go.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { ManualClock } from '../../../src/runtime/clock.ts';
import { KubeHttp, NotLeaderError } from '../../../src/runtime/http.ts';

let server: http.Server;
const seen: string[] = [];
let kubeConfig: KubeConfig;
/** Answers to "/slow" requests, held until the test releases them, by "METHOD /slow". */
const held = new Map<string, http.ServerResponse>();
/** Resolvers of {@link arrival}, by "METHOD /slow". */
const arrivals = new Map<string, () => void>();

/** Resolves once a request for "/slow" with `method` has reached the server (and is held). */
function arrival(method: string): Promise<void> {
  const key = `${method} /slow`;
  if (held.has(key)) return Promise.resolve();
  return new Promise((resolve) => arrivals.set(key, resolve));
}

beforeAll(async () => {
  // Records what reaches it; the guard is about what is sent, not about the API's answers.
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    if (req.url !== '/slow') return void res.end('{}');
    // "/slow" answers only when the test releases it.
    const key = `${req.method} ${req.url}`;
    held.set(key, res);
    arrivals.get(key)?.();
    arrivals.delete(key);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
});

afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => (seen.length = 0));
afterEach(() => {
  for (const res of held.values()) res.end('{}');
  held.clear();
});

test('past writableUntil, writes are refused before they are sent; reads go through', async () => {
  let leader = false;
  const client = new KubeHttp(kubeConfig, { writableUntil: () => (leader ? Infinity : Date.now() - 1) });
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    await expect(client.request(method, '/api/v1/namespaces/a/secrets/s', { body: {} })).rejects.toThrow(
      NotLeaderError,
    );
  }
  await client.request('GET', '/api/v1/namespaces/a/secrets/s');
  expect(seen).toEqual(['GET /api/v1/namespaces/a/secrets/s']);
  leader = true;
  await client.request('PATCH', '/api/v1/namespaces/a/secrets/s', { body: {} });
  expect(seen).toHaveLength(2);
});

test('the guard is asked at each write, not once', async () => {
  let open = true;
  const client = new KubeHttp(kubeConfig, { writableUntil: () => (open ? Infinity : 0) });
  await client.request('POST', '/x', { body: {} });
  open = false;
  await expect(client.request('POST', '/x', { body: {} })).rejects.toThrow(/does not hold the leader Lease/);
  expect(seen).toEqual(['POST /x']);
});

test('a write allowed when it was made, but no longer when its first byte would go out, is not sent', async () => {
  // Allowed at the call, refused from then on: as for a process paused while it connected.
  let calls = 0;
  const client = new KubeHttp(kubeConfig, { writableUntil: () => (++calls === 1 ? Infinity : 0) });
  const error = await client.request('PATCH', '/late', { body: {} }).catch((e: unknown) => e);
  expect(String(error) + String((error as { cause?: unknown }).cause)).toMatch(
    /does not hold the leader Lease/,
  );
  expect(calls).toBe(2);
  expect(seen).toEqual([]);
});

test('a write not completed by writableUntil is aborted', async () => {
  const client = new KubeHttp(kubeConfig, { writableUntil: () => Date.now() + 150 });
  const started = Date.now();
  const write = client.request('PUT', '/slow', { body: {} });
  // A read is never cut short by it: sent alongside, it is answered only after the write's
  // deadline has cut the write short.
  const read = client.request('GET', '/slow');
  await expect(write).rejects.toThrow();
  expect(Date.now() - started).toBeLessThan(1_000);
  await arrival('GET');
  held.get('GET /slow')!.end('{}');
  await read;
});

test("writableUntil is compared with the given clock's time, not the system's", async () => {
  // The leader elector's clock: a ManualClock far from the system's time.
  const clock = new ManualClock(Date.UTC(2000, 0, 1));
  const client = new KubeHttp(kubeConfig, { writableUntil: () => Date.UTC(2000, 0, 1) + 1_000, clock });
  await client.request('POST', '/x', { body: {} });
  clock.advance(1_000);
  await expect(client.request('POST', '/x', { body: {} })).rejects.toThrow(NotLeaderError);
  expect(seen).toEqual(['POST /x']);
});

test('without a guard every request is sent', async () => {
  await new KubeHttp(kubeConfig).request('DELETE', '/y');
  expect(seen).toEqual(['DELETE /y']);
});

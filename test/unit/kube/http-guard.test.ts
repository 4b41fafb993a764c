// KubeHttp's write guard: a replica that lost the Lease sends no write at all, reads still go.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeHttp, NotLeaderError } from '../../../src/kube/http.ts';

let server: http.Server;
const seen: string[] = [];
let kubeConfig: KubeConfig;

beforeAll(async () => {
  // Records what reaches it; the guard is about what is sent, not about the API's answers.
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    // "/slow" answers after 500 ms.
    setTimeout(() => res.end('{}'), req.url === '/slow' ? 500 : 0);
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
  await expect(client.request('PUT', '/slow', { body: {} })).rejects.toThrow();
  expect(Date.now() - started).toBeLessThan(1_000);
  // A read is never cut short by it.
  await client.request('GET', '/slow');
});

test('without a guard every request is sent', async () => {
  await new KubeHttp(kubeConfig).request('DELETE', '/y');
  expect(seen).toEqual(['DELETE /y']);
});

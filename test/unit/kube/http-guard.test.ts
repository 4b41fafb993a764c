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
    res.end('{}');
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

test('with mayWrite false, writes are refused before they are sent; reads go through', async () => {
  let leader = false;
  const client = new KubeHttp(kubeConfig, { mayWrite: () => leader });
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
  let calls = 0;
  const client = new KubeHttp(kubeConfig, { mayWrite: () => ++calls === 1 });
  await client.request('POST', '/x', { body: {} });
  await expect(client.request('POST', '/x', { body: {} })).rejects.toThrow(/does not hold the leader Lease/);
  expect(seen).toEqual(['POST /x']);
});

test('without a guard every request is sent', async () => {
  await new KubeHttp(kubeConfig).request('DELETE', '/y');
  expect(seen).toEqual(['DELETE /y']);
});

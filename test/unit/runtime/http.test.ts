import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeHttp } from '../../../src/runtime/http.ts';

/** A kubeconfig for `server` with TLS options set, so client-node builds an undici Agent. */
function kubeConfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'not-a-real-token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

describe('KubeHttp', () => {
  let server: http.Server;
  /** Client ports seen by the server: one per connection the client opened. */
  const ports = new Set<number | undefined>();
  let authorization: (string | undefined)[] = [];

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      authorization.push(request.headers.authorization);
      ports.add(request.socket.remotePort);
      response.setHeader('content-type', 'application/json');
      response.end('{"kind":"Status"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('requests share kept-alive connections instead of one new connection per call', async () => {
    ports.clear();
    authorization = [];
    const { port } = server.address() as AddressInfo;
    const client = new KubeHttp(kubeConfigFor(`http://127.0.0.1:${port}`));
    for (let i = 0; i < 20; i++) await client.request('GET', '/api/v1/namespaces/default/secrets/x');
    await Promise.all(
      Array.from({ length: 4 }, () => client.request('GET', '/api/v1/namespaces/default/secrets/y')),
    );
    // A couple of connections for the sequential calls (undici may open a second before the
    // first is back in its pool), at most four more for the concurrent ones; not 24.
    expect(ports.size).toBeLessThanOrEqual(6);
    // Authentication still comes from the kubeconfig on every request.
    expect(authorization).toHaveLength(24);
    expect(authorization.every((a) => a === 'Bearer not-a-real-token')).toBe(true);
  });
});

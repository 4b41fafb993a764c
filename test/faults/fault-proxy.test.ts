// The fault proxy itself: each mode is answered in the shape the real AWS SDK understands, and
// the operator's error mapping puts it in the category the outage test relies on. No emulator:
// a tiny upstream stands in for moto.
import http from 'node:http';
import type net from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { categorise } from '../../src/providers/aws/errors.ts';
import { awsClientConfig } from '../harness/emulators.ts';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.ts';

let upstream: http.Server;
let proxy: FaultProxy;
let client: SecretsManagerClient;

beforeAll(async () => {
  upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify({ Name: 'ml/token', SecretString: 'ok', VersionId: 'v1' }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  proxy = await startFaultProxy(`http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`);
  client = new SecretsManagerClient({
    ...awsClientConfig(proxy.endpoint),
    maxAttempts: 1,
    requestHandler: { requestTimeout: 1_000, throwOnRequestTimeout: true },
  });
});

afterAll(async () => {
  client.destroy();
  await proxy.close();
  await new Promise((resolve) => upstream.close(resolve));
});

const read = () =>
  client.send(new GetSecretValueCommand({ SecretId: 'ml/token' })).then(
    (out) => out.SecretString,
    (error: unknown) => error as Error,
  );

test('pass forwards, and every request is logged with its operation and status', async () => {
  const from = Date.now();
  expect(await read()).toBe('ok');
  expect(proxy.between(from, Date.now() + 1)).toEqual([
    expect.objectContaining({
      operation: 'secretsmanager.GetSecretValue',
      keys: ['ml/token'],
      mode: 'pass',
      outcome: 200,
    }),
  ]);
});

test('throttle is a ThrottlingException, which the SDK retries and we call Throttled', async () => {
  proxy.setMode({ kind: 'throttle' });
  // The operator's SDK settings: two attempts, the second only for a retryable error.
  const twice = new SecretsManagerClient({ ...awsClientConfig(proxy.endpoint), maxAttempts: 2 });
  const from = Date.now();
  const error = await twice
    .send(new GetSecretValueCommand({ SecretId: 'ml/token' }))
    .catch((e: unknown) => e);
  twice.destroy();
  expect(error).toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
  expect(categorise(error)).toBe('Throttled');
  expect(proxy.between(from, Date.now() + 1).map((r) => [r.mode, r.outcome])).toEqual([
    ['throttle', 400],
    ['throttle', 400],
  ]);
});

test('500 and 503 are server errors (Unavailable)', async () => {
  for (const status of [500, 503] as const) {
    proxy.setMode({ kind: 'error', status });
    const error = await read();
    expect(error).toMatchObject({ $metadata: { httpStatusCode: status } });
    expect(categorise(error)).toBe('Unavailable');
  }
});

test('reset, blackhole and a dead upstream give no answer (Unavailable)', async () => {
  proxy.setMode({ kind: 'reset' });
  expect(categorise(await read())).toBe('Unavailable');
  proxy.setMode({ kind: 'blackhole' });
  const started = Date.now();
  expect(categorise(await read())).toBe('Unavailable');
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  proxy.setMode({ kind: 'pass' });
  await new Promise((resolve) => upstream.close(resolve));
  upstream.closeAllConnections();
  expect(categorise(await read())).toBe('Unavailable');
  expect(proxy.records.slice(-3).map((r) => r.outcome)).toEqual(['reset', 'blackholed', 'upstream-down']);
});

test('added latency delays the answer', async () => {
  proxy.setMode({ kind: 'throttle' });
  proxy.setLatency(300);
  const started = Date.now();
  await read();
  expect(Date.now() - started).toBeGreaterThanOrEqual(280);
  proxy.setLatency(0);
});

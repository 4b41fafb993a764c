// The operator as users run it: a separate Node.js process started like `npm start`, serving
// /healthz, /readyz and /metrics, syncing a binding, and stopping cleanly on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { startTestOperator } from '../harness/operator.ts';
import { freePort } from '../harness/ports.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';
import { OPERATOR_NAMESPACE, testEnv } from '../harness/test-env.ts';

const c = clients(testKubeConfig());
const repoRoot = path.resolve(import.meta.dirname, '..', '..');
let namespace: string;
const store = `process-${Date.now().toString(36)}`;

beforeAll(async () => {
  namespace = await createTestNamespace(c.core, 'process');
  await putSourceSecret(c, namespace, 'source', { token: 'not-a-secret-just-a-test' });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace } } });
});

afterAll(async () => {
  await deleteClusterStore(c, store).catch(() => undefined);
  await c.core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

test('started as a process it serves health and metrics, syncs, and exits 0 on SIGTERM', async () => {
  const [health, metrics] = [await freePort(), await freePort()];
  const output: string[] = [];
  const child: ChildProcess = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'src', 'main.ts'),
      `--kubeconfig=${testEnv('kubeconfig')}`,
      `--health-addr=127.0.0.1:${health}`,
      `--metrics-addr=127.0.0.1:${metrics}`,
      `--namespaces=${namespace}`,
      `--operator-namespace=${OPERATOR_NAMESPACE}`,
      '--webhook=false',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } },
  );
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await eventually(
      () => get(`http://127.0.0.1:${health}/readyz`),
      (r) => r.status === 200,
      { what: '/readyz 200' },
    );
    expect((await get(`http://127.0.0.1:${health}/healthz`)).status).toBe(200);
    await createBinding(c, namespace, 'proc', {
      storeRef: { kind: 'ClusterSecretStore', name: store },
      data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
    });
    await waitForReady(c, namespace, 'proc');
    expect(await secretData(c, namespace, 'proc')).toEqual({ TOKEN: 'not-a-secret-just-a-test' });
    const exposition = (await get(`http://127.0.0.1:${metrics}/metrics`)).body;
    // Every provider call counts: the store's access check and the binding's read.
    expect(exposition).toMatch(
      /^mlsecrets_provider_calls_total\{store="ClusterSecretStore\/[^"]+",provider="kubernetes",operation="CheckAccess"\} 1$/m,
    );
    expect(exposition).toMatch(
      /^mlsecrets_provider_calls_total\{store="ClusterSecretStore\/[^"]+",provider="kubernetes",operation="GetSecret"\} 1$/m,
    );
    expect(exposition).toMatch(/^mlsecrets_reconcile_total\{kind="SecretBinding",outcome="success"\} \d+$/m);
    expect(exposition).toMatch(/^process_resident_memory_bytes \d+/m);
    // One managed Secret, expiring in 24h (the default ttl): within the 86400 s bucket, not the 1h one.
    expect(exposition).toMatch(/^mlsecrets_managed_secrets_expiring\{le="3600"\} 0$/m);
    expect(exposition).toMatch(/^mlsecrets_managed_secrets_expiring\{le="86400"\} 1$/m);
    expect(exposition).toMatch(/^mlsecrets_events_total\{type="Normal",reason="Synced"\} 1$/m);
    expect(exposition).toMatch(/^mlsecrets_informer_healthy\{informer="secretbindings@[^"]+"\} 1$/m);
    expect(exposition).toMatch(/^mlsecrets_workqueue_wait_seconds_count\{priority="high"\} [1-9]\d*$/m);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  const lines = output.join('').split('\n').filter(Boolean);
  expect(lines.every((l) => l.startsWith('{'))).toBe(true); // JSON logs only
  expect(lines.some((l) => l.includes('"operator stopped"'))).toBe(true);
});

test('/healthz fails when an informer is stopped by force, while /readyz stays up', async () => {
  const op = await startTestOperator({ namespaces: [namespace], serve: true });
  try {
    const port = op.operator.ports.health!;
    expect((await get(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const [informer] = op.operator.manager.allInformers();
    await informer!.stop();
    const broken = await get(`http://127.0.0.1:${port}/healthz`);
    expect(broken.status).toBe(503);
    expect(broken.body).toContain(informer!.status().name);
  } finally {
    await op.stop();
  }
});

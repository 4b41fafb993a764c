// Fault: kube-apiserver killed (SIGKILL) and started again on the same etcd while bindings
// change. Every informer resumes, /healthz reflects the outage while it lasts, a change made
// right after the restart is applied, and no managed Secret is lost. A private control plane,
// so the shared one of the other test files is not disturbed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  ensureControlPlaneBinaries,
  startControlPlane,
  type ControlPlane,
} from '../harness/control-plane.ts';
import { eventually } from '../harness/kube.ts';
import { scanClusterBeforeStop } from '../harness/leak-run.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';
import { OPERATOR_NAMESPACE } from '../harness/test-env.ts';

let cp: ControlPlane;
let op: TestOperator | undefined;
let c: ReturnType<typeof clients>;
let kc: k8s.KubeConfig;
const namespace = 'fault-team';

beforeAll(async () => {
  const root = path.resolve(import.meta.dirname, '..', '..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-fault-'));
  cp = await startControlPlane({ binDir: ensureControlPlaneBinaries(root), dir });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  c = clients(kc);
  const { execFileSync } = await import('node:child_process');
  execFileSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, 'apply', '-f', path.join(root, 'crds')], {
    stdio: 'ignore',
  });
  execFileSync(
    'kubectl',
    ['--kubeconfig', cp.kubeconfigPath, 'wait', '--for=condition=Established', '-f', path.join(root, 'crds')],
    {
      stdio: 'ignore',
    },
  );
  for (const name of [OPERATOR_NAMESPACE, namespace])
    await c.core.createNamespace({ body: { metadata: { name } } });
  await putSourceSecret(c, namespace, 'source', { token: 'before' });
  await createStore(c, 'ClusterSecretStore', 'fault-store', { provider: { kubernetes: { namespace } } });
  op = await startTestOperator({
    namespaces: [namespace],
    kubeConfig: kc,
    serve: true,
    silenceLimitMs: 5_000,
  });
  await createBinding(c, namespace, 'survivor', {
    storeRef: { kind: 'ClusterSecretStore', name: 'fault-store' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
    lifetime: { ttl: '1h', refreshInterval: '1s' },
  });
  await waitForReady(c, namespace, 'survivor');
}, 120_000);

afterAll(async () => {
  await op?.stop();
  // The suite-wide leak scan: this cluster's Events and status, before it goes away.
  let leaks: unknown[] = [];
  try {
    if (cp) leaks = await scanClusterBeforeStop(kc, 'apiserver-restart cluster');
  } finally {
    // Stopped even when the scan fails: a control plane left running keeps jest from exiting.
    await cp?.stop();
    if (cp) fs.rmSync(cp.dir, { recursive: true, force: true });
  }
  expect(leaks).toEqual([]);
});

test('after a kube-apiserver crash and restart, informers resume and changes are applied', async () => {
  const health = () => fetch(`http://127.0.0.1:${op!.operator.ports.health}/healthz`).then((r) => r.status);
  const restartsBefore = op!.operator.manager.health().reduce((sum, i) => sum + i.restarts, 0);
  await cp.killApiServer();
  const downAt = Date.now();
  // Watches fail and restart with backoff; /healthz reports the silence once it outlasts the bound.
  await eventually(health, (status) => status === 503, {
    what: '/healthz failing during the outage',
    timeoutMs: 20_000,
  });
  const downFor = (Date.now() - downAt) / 1000;
  await cp.startApiServer();
  await eventually(health, (status) => status === 200, { what: '/healthz healthy again', timeoutMs: 30_000 });
  const restarts = op!.operator.manager.health().reduce((sum, i) => sum + i.restarts, 0) - restartsBefore;
  console.log(
    `[fault] kube-apiserver down ${downFor.toFixed(1)}s before /healthz failed; ${restarts} watch restarts`,
  );
  expect(restarts).toBeGreaterThan(0);
  // The Secret survived, and a change made now is applied.
  expect(await secretData(c, namespace, 'survivor')).toEqual({ TOKEN: 'before' });
  await putSourceSecret(c, namespace, 'source', { token: 'after' });
  await eventually(
    () => secretData(c, namespace, 'survivor'),
    (d) => d?.TOKEN === 'after',
    {
      what: 'the change applied after the restart',
      timeoutMs: 20_000,
    },
  );
  await createBinding(c, namespace, 'newcomer', {
    storeRef: { kind: 'ClusterSecretStore', name: 'fault-store' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
  });
  await waitForReady(c, namespace, 'newcomer');
});

test('watches expired by an etcd compaction (410 Gone) list again and carry on', async () => {
  const etcd = (api: string, body: unknown) =>
    fetch(`${cp.etcdUrl}/v3/${api}`, { method: 'POST', body: JSON.stringify(body) }).then(
      (r) => r.json() as Promise<{ header?: { revision?: string } }>,
    );
  await cp.killApiServer();
  // Write nothing, compact everything: any watch resumed from an older resourceVersion is gone.
  const revision = (await etcd('kv/range', { key: Buffer.from('/').toString('base64') })).header?.revision;
  expect(Number(revision)).toBeGreaterThan(0);
  await etcd('kv/compaction', { revision, physical: true });
  await cp.startApiServer();
  await putSourceSecret(c, namespace, 'source', { token: 'after-compaction' });
  await eventually(
    () => secretData(c, namespace, 'survivor'),
    (d) => d?.TOKEN === 'after-compaction',
    {
      what: 'the change applied after the compaction',
      timeoutMs: 30_000,
    },
  );
  await createBinding(c, namespace, 'after-compaction', {
    storeRef: { kind: 'ClusterSecretStore', name: 'fault-store' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }],
  });
  await waitForReady(c, namespace, 'after-compaction', {}, 30_000);
  expect(op!.operator.manager.health().every((i) => i.running && i.synced)).toBe(true);
  // The resumed watches really were refused as too old, and listed again.
  expect(op!.logs.some((line) => line.includes('watch expired (410 Gone); listing again'))).toBe(true);
});

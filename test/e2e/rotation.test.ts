// Rotation reaching running workloads on a real node, the operator installed by the chart:
// - a long-running training pod sees the rotated value in its mounted file, without a restart;
//   with podRefresh on, the operator has the kubelet remount it at once (the kubelet alone
//   would take up to its 1-minute sync period);
// - an inference Deployment that takes its key through env is restarted one pod at a time, and
//   a client calling it throughout the rollout sees no failed request.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { fingerprint, installChart } from '../harness/chart.ts';
import { eventually } from '../harness/kube.ts';
import { recordPlanted } from '../harness/leak-run.ts';
import { IMAGES, startNodeCluster, type NodeCluster } from '../harness/node-cluster.ts';
import { createBinding, createStore, putSourceSecret, waitForReady } from '../harness/resources.ts';
import { SecretWatch, startWatchingTrainer, trainerEvents } from '../harness/workloads.ts';

const team = 'serving';
let nc: NodeCluster;
let apps: k8s.AppsV1Api;
const value = (label: string) => {
  const v = `${label}-${randomBytes(12).toString('hex')}`;
  recordPlanted(v);
  return v;
};

beforeAll(async () => {
  nc = await startNodeCluster('rotation');
  apps = nc.kc.makeApiClient(k8s.AppsV1Api);
  await installChart(nc, 'podRefresh.enabled=true');
  await nc.c.core.createNamespace({ body: { metadata: { name: team } } });
  await createStore(nc.c, 'SecretStore', 'source', { provider: { kubernetes: { namespace: team } } }, team);
}, 300_000);
afterAll(() => nc?.stop(), 120_000);

test('a running training pod sees each rotated value in its mounted file, without restarting', async () => {
  let token = value('registry');
  await putSourceSecret(nc.c, team, 'registry-source', { token });
  await createBinding(nc.c, team, 'registry', {
    storeRef: { kind: 'SecretStore', name: 'source' },
    data: [{ secretKey: 'MODEL_REGISTRY_TOKEN', remoteRef: { key: 'registry-source', property: 'token' } }],
    // The store is read again every 5 s: that is when a change in the store is seen.
    lifetime: { ttl: '1h', refreshInterval: '5s' },
    projection: { as: 'volume' },
  });
  await waitForReady(nc.c, team, 'registry');
  await startWatchingTrainer(nc.c.core, team, 'trainer', 'registry');
  await eventually(
    () => trainerEvents(nc, team, 'trainer'),
    (lines) => lines.some((l) => l.event === 'file' && l.sha256 === fingerprint(token)),
    { timeoutMs: 30_000, what: 'the first value in the mounted file' },
  );

  const watch = await SecretWatch.start(nc.kc, team, 'registry');
  try {
    for (let round = 1; round <= 3; round++) {
      token = value('registry');
      const changedAt = Date.now();
      await putSourceSecret(nc.c, team, 'registry-source', { token });
      const written = await watch.until((d) => d.MODEL_REGISTRY_TOKEN === token, 30_000);
      const seen = await eventually(
        () => trainerEvents(nc, team, 'trainer'),
        (lines) => lines.some((l) => l.event === 'changed' && l.sha256 === fingerprint(token)),
        { timeoutMs: 90_000, intervalMs: 200, what: `round ${round}: the rotated value in the container` },
      );
      const inContainer = Date.parse(
        String(seen.find((l) => l.event === 'changed' && l.sha256 === fingerprint(token))!.ts),
      );
      console.log(
        `[e2e] rotation ${round}: store change to Secret ${((written - changedAt) / 1000).toFixed(2)}s, ` +
          `Secret to file in the container ${((inContainer - written) / 1000).toFixed(2)}s`,
      );
    }
  } finally {
    watch.stop();
  }
  const pod = await nc.c.core.readNamespacedPod({ namespace: team, name: 'trainer' });
  expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  expect(pod.metadata?.annotations?.['mlsecrets.io/secret-refreshed-at']).toBeDefined();
}, 400_000);

/** GET / on the Service's ClusterIP, on a new connection each time, as a load balancer would. */
function call(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: 80, path: '/', agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

test('an inference Deployment taking its key through env rolls one pod at a time, with no failed request', async () => {
  let key = value('openai');
  await putSourceSecret(nc.c, team, 'api-source', { key });
  await createBinding(nc.c, team, 'api-key', {
    storeRef: { kind: 'SecretStore', name: 'source' },
    data: [{ secretKey: 'API_KEY', remoteRef: { key: 'api-source', property: 'key' } }],
    lifetime: { ttl: '1h', refreshInterval: '5s' },
    projection: { as: 'env', onRotation: 'RolloutRestart' },
  });
  await waitForReady(nc.c, team, 'api-key');
  const labels = { app: 'inference', 'mlsecrets.io/binding': 'api-key' };
  await apps.createNamespacedDeployment({
    namespace: team,
    body: {
      metadata: { name: 'inference' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'inference' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 15,
            containers: [
              {
                name: 'serve',
                image: IMAGES.inference,
                imagePullPolicy: 'Never',
                ports: [{ containerPort: 8080 }],
                readinessProbe: {
                  httpGet: { path: '/healthz', port: 8080 },
                  periodSeconds: 1,
                  failureThreshold: 1,
                },
              },
            ],
          },
        },
      },
    },
  });
  const service = await nc.c.core.createNamespacedService({
    namespace: team,
    body: {
      metadata: { name: 'inference' },
      spec: { selector: { app: 'inference' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
  });
  await nc.kubectl('rollout', 'status', '-n', team, 'deployment/inference', '--timeout=120s');
  const ip = service.spec!.clusterIP!;
  await eventually(
    () => call(ip),
    (body) => body.includes(fingerprint(key)),
    { timeoutMs: 30_000, what: 'the Service answering' },
  );

  // Call the Service throughout: before, during and after the rollout the rotation causes.
  let ok = 0;
  const failures: string[] = [];
  const fingerprints = new Set<string>();
  let calling = true;
  const caller = (async () => {
    while (calling) {
      try {
        fingerprints.add((JSON.parse(await call(ip)) as { fingerprint: string }).fingerprint);
        ok++;
      } catch (error) {
        failures.push(String(error));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const oldKey = key;
  try {
    key = value('openai');
    await putSourceSecret(nc.c, team, 'api-source', { key });
    await eventually(
      () => apps.readNamespacedDeployment({ namespace: team, name: 'inference' }),
      (d) => d.spec?.template.metadata?.annotations?.['mlsecrets.io/restartedAt'] !== undefined,
      { timeoutMs: 60_000, what: 'the rollout restart the rotation causes' },
    );
    await nc.kubectl('rollout', 'status', '-n', team, 'deployment/inference', '--timeout=150s');
    await eventually(
      () => call(ip),
      (body) => body.includes(fingerprint(key)),
      { timeoutMs: 30_000, what: 'the new key served' },
    );
    // A few more calls against the settled Deployment.
    await new Promise((r) => setTimeout(r, 2_000));
  } finally {
    calling = false;
    await caller;
  }
  console.log(`[e2e] inference rollout: ${ok} requests answered, ${failures.length} failed`);
  expect(failures).toEqual([]);
  expect(ok).toBeGreaterThan(50);
  // The old key until the rollout, the new one after it; no replica kept the old one.
  expect(fingerprints).toEqual(new Set([fingerprint(oldKey), fingerprint(key)]));
  const pods = await nc.c.core.listNamespacedPod({ namespace: team, labelSelector: 'app=inference' });
  const running = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
  expect(running).toHaveLength(2);
  for (const p of running) expect(p.status?.containerStatuses?.[0]?.restartCount).toBe(0);
}, 400_000);

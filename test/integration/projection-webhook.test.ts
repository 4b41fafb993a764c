// The pod webhook on the real control plane: kube-apiserver calls the operator over TLS (a
// MutatingWebhookConfiguration with the operator's caBundle), pods get their Secrets as files
// or env, the attestation gate skips or denies, and a down webhook never blocks pods.
import tls from 'node:tls';
import type { V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { ManualClock } from '../../src/runtime/clock.ts';
import { createTestNamespace, eventually, isStatus, testKubeConfig } from '../harness/kube.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  eventsFor,
  getBinding,
  putSourceSecret,
  waitForReady,
} from '../harness/resources.ts';

const DAY = 24 * 3600_000;
const c = clients(testKubeConfig());
const clock = new ManualClock(Date.now());
let team: string;
let op: TestOperator | undefined;
let webhookOperator: TestOperator | undefined;
const store = `webhook-${Date.now().toString(36)}`;
const storeRef = { kind: 'ClusterSecretStore' as const, name: store };
const data = [{ secretKey: 'TOKEN', remoteRef: { key: 'token', property: 'value' } }];
const digest = `@sha256:${'a'.repeat(64)}`;

function pod(name: string, labels: Record<string, string>, extra: Partial<V1PodSpec> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: { containers: [{ name: 'main', image: `registry.example.com/ml/trainer${digest}` }], ...extra },
  };
}

async function createPod(body: V1Pod): Promise<V1Pod> {
  return c.core.createNamespacedPod({ namespace: team, body });
}

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'webhook');
  await putSourceSecret(c, team, 'token', { value: 'webhook-test-token' });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: team } } });
  op = await startTestOperator({ namespaces: [team], clock, webhook: {} });
  webhookOperator = op;
  await createBinding(c, team, 'vol', { storeRef, data });
  await createBinding(c, team, 'envb', {
    storeRef,
    data,
    projection: { as: 'env', selector: { matchLabels: { app: 'env-consumer' } } },
  });
  await createBinding(c, team, 'gated', {
    storeRef,
    data,
    projection: {
      requirements: {
        serviceAccountNames: ['trainer'],
        imageDigestPinned: true,
        allowedImages: ['registry.example.com/ml/*'],
        enforcement: 'Skip',
      },
    },
  });
  await createBinding(c, team, 'strict', {
    storeRef,
    data,
    projection: { requirements: { serviceAccountNames: ['trainer'], enforcement: 'Deny' } },
  });
  for (const name of ['vol', 'envb', 'gated', 'strict']) await waitForReady(c, team, name);
});

afterAll(async () => {
  await op?.stop();
  await webhookOperator?.releaseWebhook();
  await deleteClusterStore(c, store).catch(() => undefined);
  await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

test('a labelled pod gets the Secret as a read-only volume in every container, and is annotated', async () => {
  const created = await createPod({
    ...pod('with-volume', { 'mlsecrets.io/binding': 'vol' }),
    spec: {
      initContainers: [{ name: 'init', image: 'busybox' }],
      containers: [
        { name: 'main', image: 'trainer' },
        { name: 'sidecar', image: 'logger' },
      ],
    },
  });
  expect(created.spec?.volumes).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        name: 'mlsecrets-vol',
        secret: expect.objectContaining({ secretName: 'vol' }),
      }),
    ]),
  );
  for (const container of [...created.spec!.containers, ...created.spec!.initContainers!]) {
    expect(container.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'mlsecrets-vol', mountPath: '/var/run/secrets/mlsecrets/vol', readOnly: true },
      ]),
    );
  }
  expect(created.metadata?.annotations?.['mlsecrets.io/injected']).toBe('vol');
  expect(created.metadata?.labels?.['mlsecrets.io/injected']).toBe('true');
});

test('a pod matched by an env binding gets envFrom', async () => {
  const created = await createPod(pod('with-env', { app: 'env-consumer' }));
  expect(created.spec?.containers[0]?.envFrom).toEqual([{ secretRef: { name: 'envb' } }]);
  expect(created.spec?.volumes ?? []).not.toEqual(
    expect.arrayContaining([expect.objectContaining({ name: 'mlsecrets-envb' })]),
  );
});

test.each([
  [
    'a service account not allowed',
    { serviceAccountName: 'default' },
    /service account "default" is not one of "trainer"/,
  ],
  [
    'an image not pinned by digest',
    {
      serviceAccountName: 'trainer',
      containers: [{ name: 'main', image: 'registry.example.com/ml/trainer:latest' }],
    },
    /not pinned by @sha256 digest/,
  ],
  [
    'an image outside the allowed images',
    { serviceAccountName: 'trainer', containers: [{ name: 'main', image: `docker.io/evil/miner${digest}` }] },
    /matches none of the allowed images/,
  ],
])(
  'the gate admits a pod with %s without the Secret, with an InjectionDenied Event',
  async (_what, spec, message) => {
    const name = `gated-${Math.random().toString(36).slice(2, 8)}`;
    const created = await createPod(
      pod(name, { 'mlsecrets.io/binding': 'gated' }, spec as Partial<V1PodSpec>),
    );
    expect(created.metadata?.annotations?.['mlsecrets.io/injected']).toBeUndefined();
    expect(created.spec?.volumes ?? []).not.toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'mlsecrets-gated' })]),
    );
    await eventually(
      () => eventsFor(c, team, 'gated'),
      (events) =>
        events.some(
          (e) =>
            e.reason === 'InjectionDenied' &&
            e.type === 'Warning' &&
            message.test(e.message ?? '') &&
            e.message!.includes(name),
        ),
      { what: 'an InjectionDenied Event naming the failed requirement' },
    );
  },
);

test('injections and denials are in the audit trail with workload and service account', async () => {
  const records = op!.audit;
  expect(records.find((r) => r.action === 'inject' && r.workload?.name === 'with-volume')).toMatchObject({
    binding: `${team}/vol`,
    secret: 'vol',
    serviceAccount: 'default',
  });
  const denied = records.filter((r) => r.action === 'inject-deny' && r.binding === `${team}/gated`);
  expect(denied.length).toBeGreaterThanOrEqual(3);
  expect(denied.map((r) => r.message)).toEqual(
    expect.arrayContaining([expect.stringMatching(/service account "default"/)]),
  );
});

test('a pod that passes the gate gets the Secret', async () => {
  const created = await createPod(
    pod('gated-ok', { 'mlsecrets.io/binding': 'gated' }, { serviceAccountName: 'trainer' }),
  );
  expect(created.metadata?.annotations?.['mlsecrets.io/injected']).toBe('gated');
});

test('enforcement Deny rejects the pod with the failed requirement', async () => {
  let error: unknown;
  try {
    await createPod(pod('denied', { 'mlsecrets.io/binding': 'strict' }));
  } catch (e) {
    error = e;
  }
  expect(isStatus(error, 403)).toBe(true);
  expect(String((error as { body?: unknown }).body)).toMatch(
    /SecretBinding \\?"strict\\?" requires it: service account/,
  );
});

test('status.projectedPods counts the pods that carry the binding', async () => {
  // with-volume was created above. (No pod runs or finishes here, without a node: that a
  // finished pod stops counting is tested on a real node, test/e2e/projected-pods.test.ts.)
  await createPod(pod('counted', { 'mlsecrets.io/binding': 'vol' }));
  const binding = await eventually(
    () => getBinding(c, team, 'vol'),
    (b) => b.status?.projectedPods === 2,
    { what: 'projectedPods 2' },
  );
  expect(binding.status?.projectedPods).toBe(2);
});

test('the webhook certificate is renewed when it nears expiry, and the new one is served', async () => {
  const servedNotAfter = () =>
    new Promise<number>((resolve, reject) => {
      const socket = tls.connect(
        { host: '127.0.0.1', port: op!.operator.ports.webhook!, rejectUnauthorized: false },
        () => {
          resolve(Date.parse(socket.getPeerCertificate().valid_to));
          socket.end();
        },
      );
      socket.on('error', reject);
    });
  const caBundle = async () => {
    const { AdmissionregistrationV1Api } = await import('@kubernetes/client-node');
    const config = await testKubeConfig()
      .makeApiClient(AdmissionregistrationV1Api)
      .readMutatingWebhookConfiguration({ name: 'mlsecrets-pod-injector' });
    return config.webhooks?.[0]?.clientConfig.caBundle;
  };
  const bundleBefore = await caBundle();
  const before = await servedNotAfter();
  clock.advance(61 * DAY); // less than a third of the 90-day validity is left
  const after = await eventually(servedNotAfter, (notAfter) => notAfter > before + 30 * DAY, {
    what: 'a renewed certificate',
  });
  expect(after).toBeGreaterThan(before);
  // Same CA, so the caBundle kube-apiserver trusts is unchanged. (A pod is not created here:
  // the manual clock is 61 days ahead, so the new certificate is not valid yet in real time.)
  expect(await caBundle()).toBe(bundleBefore);
});

test('with the operator stopped, pods are still admitted (failurePolicy Ignore)', async () => {
  await op!.stop();
  op = undefined;
  const started = Date.now();
  const created = await createPod(pod('while-down', { 'mlsecrets.io/binding': 'vol' }));
  expect(created.metadata?.name).toBe('while-down');
  expect(created.metadata?.annotations?.['mlsecrets.io/injected']).toBeUndefined();
  expect(Date.now() - started).toBeLessThan(6_000);
});

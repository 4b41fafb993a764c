// Proves the harness is a real Kubernetes control plane: objects written through the client
// are seen by kubectl, watches deliver updates, and kube-controller-manager collects garbage.
import * as k8s from '@kubernetes/client-node';
import { createTestNamespace, eventually, isStatus, kubectl, testKubeConfig } from '../harness/kube.ts';

const kc = testKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
let namespace: string;

beforeAll(async () => {
  namespace = await createTestNamespace(core, 'harness');
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

test('a namespace and a Secret created through client-node are visible to kubectl', async () => {
  await core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'hello' }, stringData: { greeting: 'hi' } },
  });
  const listed = JSON.parse(kubectl('get', 'secret', 'hello', '-n', namespace, '-o', 'json')) as k8s.V1Secret;
  expect(Buffer.from(listed.data?.greeting ?? '', 'base64').toString()).toBe('hi');
  expect(kubectl('get', 'namespace', namespace, '-o', 'name').trim()).toBe(`namespace/${namespace}`);
  const version = JSON.parse(kubectl('version', '-o', 'json')) as { serverVersion: { gitVersion: string } };
  expect(version.serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+/);
});

test('an informer sees an update made by kubectl', async () => {
  await core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: 'watched' }, data: { v: '1' } },
  });
  const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${namespace}/configmaps`, () =>
    core.listNamespacedConfigMap({ namespace }),
  );
  const seen: string[] = [];
  informer.on('update', (cm: k8s.V1ConfigMap) => seen.push(cm.data?.v ?? ''));
  await informer.start();
  try {
    kubectl('patch', 'configmap', 'watched', '-n', namespace, '--type=merge', '-p', '{"data":{"v":"2"}}');
    await eventually(
      async () => seen,
      (s) => s.includes('2'),
      { what: 'the watch to deliver v=2' },
    );
  } finally {
    await informer.stop();
  }
});

test('kube-controller-manager garbage-collects an object whose owner is deleted', async () => {
  const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: {
        name: 'owned',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
      },
    },
  });
  await core.deleteNamespacedConfigMap({ namespace, name: 'owner' });
  await eventually(
    async () => {
      try {
        await core.readNamespacedSecret({ namespace, name: 'owned' });
        return false;
      } catch (error) {
        if (isStatus(error, 404)) return true;
        throw error;
      }
    },
    (gone) => gone,
    { what: 'the garbage collector to delete the owned Secret', timeoutMs: 30_000 },
  );
});

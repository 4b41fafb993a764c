// Installing the operator as a user does, on a cluster with a real node: `helm install` runs two
// operator pods from the image built from the Dockerfile, one leads, the webhook is served from
// the pods through the chart's Service with the CA the operator manages, `helm test` passes,
// and `kubectl apply -k manifests/` brings up the same operator.
import { randomBytes, X509Certificate } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import {
  fingerprint,
  helm,
  installChart,
  leader,
  podInPhase,
  readyOperatorPods,
  RELEASE,
  RELEASE_NAMESPACE,
} from '../harness/chart.ts';
import { eventually } from '../harness/kube.ts';
import { recordPlanted } from '../harness/leak-run.ts';
import {
  IMAGES,
  repoRoot,
  startNodeCluster,
  type NodeCluster,
  createPodNamespace,
} from '../harness/node-cluster.ts';
import { createBinding, createStore, putSourceSecret, waitForReady } from '../harness/resources.ts';

let nc: NodeCluster;
const token = `hf_${randomBytes(12).toString('hex')}`;
recordPlanted(token);

beforeAll(async () => {
  nc = await startNodeCluster('chart');
}, 240_000);
afterAll(() => nc?.stop(), 120_000);

test('helm install: two operator pods run the built image and are Ready, one leads, helm test passes', async () => {
  await installChart(nc);
  const pods = await readyOperatorPods(nc, 2);
  for (const pod of pods) {
    expect(pod.spec?.containers[0]?.image).toBe('mlsecrets:0.1.0');
    expect(pod.status?.containerStatuses?.[0]?.imageID).toMatch(/sha256:[0-9a-f]{64}/);
  }
  expect(pods.map((p) => p.metadata!.name)).toContain(await leader(nc));
  const result = await helm(nc, 'test', RELEASE, '--namespace', RELEASE_NAMESPACE, '--timeout', '2m');
  expect(result).toMatch(/Phase:\s+Succeeded/);
}, 300_000);

/** A binding that projects a token into pods labelled for it (the store: the namespace's own Secrets). */
async function projectToken(team: string, name: string): Promise<void> {
  await putSourceSecret(nc.c, team, 'hf-source', { token });
  await createStore(nc.c, 'SecretStore', 'source', { provider: { kubernetes: { namespace: team } } }, team);
  await createBinding(nc.c, team, name, {
    storeRef: { kind: 'SecretStore', name: 'source' },
    data: [{ secretKey: 'HF_TOKEN', remoteRef: { key: 'hf-source', property: 'token' } }],
    projection: { as: 'volume' },
  });
  await waitForReady(nc.c, team, name);
}

/**
 * A pod labelled for the binding that prints the fingerprint of the projected token, then exits
 * (non-zero when there is no token to read).
 */
function readerPodSpec(binding: string, name: string): k8s.V1Pod {
  return {
    metadata: { name, labels: { 'mlsecrets.io/binding': binding } },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'reader',
          image: IMAGES.busybox,
          imagePullPolicy: 'Never',
          command: [
            'sh',
            '-c',
            `t=$(cat /var/run/secrets/mlsecrets/${binding}/HF_TOKEN) && printf %s "$t" | sha256sum`,
          ],
        },
      ],
    },
  };
}

async function readerPod(team: string, binding: string, name: string): Promise<k8s.V1Pod> {
  // With failurePolicy Ignore a pod created before the API server can call the webhook (a
  // fresh install: until the operator has written the caBundle and the API server has read
  // it) is admitted without its Secret. Dry runs go through the webhook too: wait for one
  // that is injected before creating the pod.
  await eventually(
    () =>
      nc.c.core.createNamespacedPod({ namespace: team, body: readerPodSpec(binding, name), dryRun: 'All' }),
    (pod) => pod.spec?.volumes?.some((v) => v.secret?.secretName === binding) ?? false,
    { timeoutMs: 60_000, intervalMs: 500, what: 'the webhook injecting a dry-run pod' },
  );
  await nc.c.core.createNamespacedPod({ namespace: team, body: readerPodSpec(binding, name) });
  return podInPhase(nc, team, name, ['Succeeded', 'Failed']);
}

async function createTeam(): Promise<string> {
  const team = `team-${randomBytes(3).toString('hex')}`;
  await createPodNamespace(nc, team);
  return team;
}

test('the webhook is served by the operator pods through the Service, with the CA the operator manages', async () => {
  const admission = nc.kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const config = await eventually(
    () => admission.readMutatingWebhookConfiguration({ name: 'mlsecrets-pod-injector' }),
    (c) => (c.webhooks?.[0]?.clientConfig.caBundle ?? '') !== '',
    { timeoutMs: 60_000, what: 'the caBundle the operator fills in' },
  );
  const webhook = config.webhooks![0]!;
  expect(webhook.clientConfig.service).toMatchObject({
    namespace: RELEASE_NAMESPACE,
    name: 'mlsecrets-webhook',
  });
  const ca = new X509Certificate(Buffer.from(webhook.clientConfig.caBundle!, 'base64'));
  expect(ca.ca).toBe(true);

  const team = await createTeam();
  await projectToken(team, 'hf');
  const pod = await readerPod(team, 'hf', 'reader');
  // The webhook added the volume (only the operator can have), and the container read the token.
  expect(pod.spec?.volumes?.some((v) => v.secret?.secretName === 'hf')).toBe(true);
  expect(pod.status?.phase).toBe('Succeeded');
  const log = await nc.kubectl('logs', '-n', team, 'reader');
  expect(log.slice(0, 12)).toBe(fingerprint(token));
}, 180_000);

test('kubectl apply -k manifests/ brings up the same operator in a fresh install', async () => {
  // The chart's operator judged every read so far; the plain manifests' runs without the access audit.
  await nc.checkAccessAudit();
  nc.accessAudit.wired = false;
  await helm(nc, 'uninstall', RELEASE, '--namespace', RELEASE_NAMESPACE, '--wait');
  await nc.kubectl('delete', 'namespace', RELEASE_NAMESPACE, '--wait=true', '--timeout=120s');
  await nc.kubectl('apply', '-k', `${repoRoot}/manifests`);
  await nc.kubectl('rollout', 'status', '-n', RELEASE_NAMESPACE, 'deployment/mlsecrets', '--timeout=180s');
  const pods = await readyOperatorPods(nc, 2);
  expect(pods.map((p) => p.metadata!.name)).toContain(await leader(nc));

  // A new install, a new CA: pods are injected again.
  const team = await createTeam();
  await projectToken(team, 'hf');
  const pod = await readerPod(team, 'hf', 'reader');
  expect(pod.spec?.volumes?.some((v) => v.secret?.secretName === 'hf')).toBe(true);
  expect(pod.status?.phase).toBe('Succeeded');
  expect((await nc.kubectl('logs', '-n', team, 'reader')).slice(0, 12)).toBe(fingerprint(token));
}, 400_000);

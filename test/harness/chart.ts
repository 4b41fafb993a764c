// The operator as users run it: installed with the chart into a cluster with a real node, its
// pods running the image built from the Dockerfile (scripts/build-images.sh).
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { installEmulators } from './emulators.ts';
import { wireAuditWebhook } from './audit-webhook.ts';
import { eventually } from './kube.ts';
import { IMAGES, repoRoot, type NodeCluster } from './node-cluster.ts';

export const RELEASE = 'mlsecrets';
export const RELEASE_NAMESPACE = 'mlsecrets-system';
export const CHART = path.join(repoRoot, 'charts', 'mlsecrets');
const SELECTOR = 'app.kubernetes.io/name=mlsecrets,app.kubernetes.io/component!=test';

/** Runs helm against the cluster; rejects with helm's own output. */
export async function helm(nc: NodeCluster, ...args: string[]): Promise<string> {
  const { helm: bin } = await installEmulators();
  try {
    const { stdout } = await promisify(execFile)(bin, ['--kubeconfig', nc.cluster.kubeconfigPath, ...args]);
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')}: ${e.stderr || e.stdout || e.message}`);
  }
}

/**
 * `helm install` with the chart's defaults but for what a cluster without a registry or DNS
 * needs: the test pod's image, and `extra` (`key=value`) values. Waits for the Deployment.
 */
export async function installChart(nc: NodeCluster, ...extra: string[]): Promise<void> {
  const sets = [
    `tests.image=${IMAGES.busybox}`,
    // The access audit runs in every e2e file, so that a whole run shows no false positive. The
    // harness reads Secrets as `admin` to check their values: a named reader, as a CI job is.
    'accessAudit.enabled=true',
    'accessAudit.expectedReaders.users={system:kube-controller-manager,admin}',
    // The harness polls Secrets (eventually) far more often than any consumer reads one; the
    // read-rate rule is the integration test's (test/integration/access-audit.test.ts).
    'accessAudit.readsPerConsumer=100000',
    ...extra,
  ].flatMap((s) => ['--set', s]);
  await helm(
    nc,
    'install',
    RELEASE,
    CHART,
    '--namespace',
    RELEASE_NAMESPACE,
    '--create-namespace',
    ...sets,
    '--wait',
    '--timeout',
    '3m',
  );
  await webhookReachable(nc);
  // As an admin would: the chart's policy and the operator's published kubeconfig, then a restart.
  const replicas = (await operatorPods(nc)).length;
  await wireAuditWebhook(nc.cluster.controlPlane, nc.kc, RELEASE_NAMESPACE, `${RELEASE}-audit-policy`);
  nc.accessAudit.wired = true;
  // A restarted kube-apiserver answers 403 until its RBAC cache is back, and informers that met
  // those back off (up to half a minute): a replica may serve the webhook from a cache that
  // misses a binding created meanwhile. Fresh operator pods start the tests from a clean watch.
  await nc.kubectl('rollout', 'restart', '-n', RELEASE_NAMESPACE, `deployment/${RELEASE}`);
  await nc.kubectl('rollout', 'status', '-n', RELEASE_NAMESPACE, `deployment/${RELEASE}`, '--timeout=180s');
  await readyOperatorPods(nc, replicas);
  await leader(nc);
  await webhookReachable(nc);
}

/**
 * `helm install --wait` returns once the operator pods are Ready; kube-proxy routes the
 * webhook Service to them a moment later. A pod created in between is admitted uninjected
 * (`failurePolicy: Ignore`), so wait until the path kube-apiserver takes works: TLS to the
 * Service's cluster IP from this host (where kube-apiserver runs), verified against the
 * caBundle of the registered configuration, several times in a row, as kube-proxy picks a
 * replica per connection.
 */
export async function webhookReachable(nc: NodeCluster, timeoutMs = 60_000): Promise<void> {
  const service = await nc.c.core.readNamespacedService({
    namespace: RELEASE_NAMESPACE,
    name: `${RELEASE}-webhook`,
  });
  const admission = nc.kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const caBundle = await eventually(
    async () =>
      (await admission.readMutatingWebhookConfiguration({ name: 'mlsecrets-pod-injector' })).webhooks?.[0]
        ?.clientConfig.caBundle ?? '',
    (ca) => ca !== '',
    { timeoutMs, what: 'the webhook caBundle' },
  );
  const handshake = () =>
    new Promise<boolean>((resolve) => {
      const socket = tls.connect({
        host: service.spec!.clusterIP!,
        port: 443,
        ca: Buffer.from(caBundle, 'base64').toString('utf8'),
        servername: `${RELEASE}-webhook.${RELEASE_NAMESPACE}.svc`,
        timeout: 2_000,
      });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.once('secureConnect', () => done(socket.authorized));
      socket.once('error', () => done(false));
      socket.once('timeout', () => done(false));
    });
  await eventually(
    async () => {
      for (let i = 0; i < 5; i++) if (!(await handshake())) return false;
      return true;
    },
    (ok) => ok,
    { timeoutMs, intervalMs: 250, what: 'the webhook reachable through its Service' },
  );
}

export async function operatorPods(nc: NodeCluster): Promise<k8s.V1Pod[]> {
  const list = await nc.c.core.listNamespacedPod({ namespace: RELEASE_NAMESPACE, labelSelector: SELECTOR });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

export function isReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Waits until `count` operator pods run and are Ready, and returns them. */
export function readyOperatorPods(nc: NodeCluster, count: number, timeoutMs = 120_000): Promise<k8s.V1Pod[]> {
  return eventually(
    () => operatorPods(nc),
    (pods) => pods.length === count && pods.every((p) => p.status?.phase === 'Running' && isReady(p)),
    { timeoutMs, intervalMs: 500, what: `${count} Ready operator pods` },
  );
}

/** The pod that holds the leader Lease (its holderIdentity is the pod name). */
export async function leader(nc: NodeCluster, timeoutMs = 60_000): Promise<string> {
  const coordination = nc.kc.makeApiClient(k8s.CoordinationV1Api);
  const lease = await eventually(
    async () => {
      const l = await coordination.readNamespacedLease({
        namespace: RELEASE_NAMESPACE,
        name: 'mlsecrets-leader',
      });
      const pods = await operatorPods(nc);
      return { holder: l.spec?.holderIdentity, pods: pods.map((p) => p.metadata!.name!) };
    },
    (l) => l.holder !== undefined && l.pods.includes(l.holder),
    { timeoutMs, intervalMs: 500, what: 'a running operator pod holding the leader Lease' },
  );
  return lease.holder!;
}

/** What a workload prints of a credential: the first 12 hex digits of its SHA-256. */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 12);
}

/** Waits for a pod to reach one of `phases` and returns it. */
export function podInPhase(
  nc: NodeCluster,
  namespace: string,
  name: string,
  phases: string[],
  timeoutMs = 90_000,
): Promise<k8s.V1Pod> {
  return eventually(
    () => nc.c.core.readNamespacedPod({ namespace, name }),
    (p) => phases.includes(p.status?.phase ?? ''),
    { timeoutMs, intervalMs: 250, what: `pod ${namespace}/${name} ${phases.join(' or ')}` },
  );
}

// An end-to-end test file's own cluster with a real node: the control plane, a kubelet that
// runs pods, the CRDs, and moto on the node bridge's host address so that pods reach it.
// Each e2e file starts one (the node is the machine's: one at a time, run in band).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { startCluster, type Cluster } from './cluster.ts';
import { startMoto, type Emulator } from './emulators.ts';
import { recordText, scanClusterBeforeStop } from './leak-run.ts';
import { NETWORK } from './node/host.ts';
import { eventually } from './kube.ts';
import { clients, type Clients } from './resources.ts';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

export interface NodeCluster {
  cluster: Cluster;
  dir: string;
  kc: k8s.KubeConfig;
  c: Clients;
  /** moto, listening where pods reach it (`http://10.244.0.1:PORT`). */
  moto: Emulator;
  /** Runs the real kubectl against this cluster. */
  kubectl(...args: string[]): Promise<string>;
  /**
   * The access audit: `installChart` wires kube-apiserver's audit webhook to the operator.
   * Once wired, stop() fails the file if an UnexpectedAccess Event was written (other than
   * those matching `onPurpose`: a test's own unexpected reads) or if no read was recorded.
   */
  accessAudit: { wired: boolean; onPurpose?: RegExp };
  /** The access audit's check of stop(), now (before a test uninstalls the operator). */
  checkAccessAudit(): Promise<void>;
  /**
   * Records the cluster's Events, mlsecrets status and every pod's log for the run's leak
   * scan, then stops everything and removes the directory (kept with KEEP_E2E_LOGS=1).
   */
  stop(): Promise<void>;
}

export async function startNodeCluster(prefix: string): Promise<NodeCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mlsecrets-e2e-${prefix}-`));
  const cluster = await startCluster({ repoRoot, dir, node: true });
  let moto: Emulator | undefined;
  try {
    moto = await startMoto(path.join(dir, 'logs'), { host: NETWORK.hostAddress });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const kubectl = async (...args: string[]) =>
      (await promisify(execFile)('kubectl', ['--kubeconfig', cluster.kubeconfigPath, ...args])).stdout;
    const crds = path.join(repoRoot, 'crds');
    await kubectl('apply', '-f', crds);
    await kubectl('wait', '--for=condition=Established', '-f', crds);
    const started = moto;
    const accessAudit: NodeCluster['accessAudit'] = { wired: false };
    return {
      cluster,
      dir,
      kc,
      c: clients(kc),
      moto: started,
      kubectl,
      accessAudit,
      async checkAccessAudit() {
        await expectNoFalsePositive(kubectl, await recordPodLogs(kubectl), accessAudit.onPurpose);
      },
      async stop() {
        try {
          const logs = await recordPodLogs(kubectl);
          await scanClusterBeforeStop(kc, `${path.basename(dir)} cluster`);
          if (accessAudit.wired) await expectNoFalsePositive(kubectl, logs, accessAudit.onPurpose);
        } finally {
          await started.stop();
          await cluster.stop();
          if (process.env.KEEP_E2E_LOGS) console.log(`[e2e] logs kept in ${dir}`);
          else fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await moto?.stop();
    await cluster.stop();
    throw error;
  }
}

/**
 * Creates a namespace for pods and waits for its default ServiceAccount: the ServiceAccount
 * admission plugin refuses pods until the account exists.
 */
export async function createPodNamespace(nc: NodeCluster, name: string): Promise<void> {
  await nc.c.core.createNamespace({ body: { metadata: { name } } });
  await eventually(
    () => nc.c.core.readNamespacedServiceAccount({ namespace: name, name: 'default' }),
    () => true,
    { what: `the default ServiceAccount of ${name}` },
  );
}

/** The images scripts/build-images.sh built: names the tests run. */
export const IMAGES = {
  busybox: 'localhost/mlsecrets-test/busybox:1.35',
  node: 'localhost/mlsecrets-test/node:24',
  trainer: 'localhost/mlsecrets-test/trainer:1',
  inference: 'localhost/mlsecrets-test/inference:1',
} as const;

/**
 * The access audit over the whole file: the operator recorded reads (kubelets', the harness's,
 * its own), and none was unexpected, as no test here reads a Secret it should not.
 */
async function expectNoFalsePositive(
  kubectl: (...args: string[]) => Promise<string>,
  logs: Record<string, string>,
  onPurpose: RegExp | undefined,
): Promise<void> {
  const operator = Object.entries(logs).filter(([where]) => where.startsWith('mlsecrets-system/'));
  const records = operator.flatMap(([, log]) =>
    log.split('\n').filter((l) => l.includes('"action":"access"')),
  );
  const kubelets = records.filter((l) => l.includes('"node":')).length;
  const events = JSON.parse(
    await kubectl('get', 'events', '-A', '--field-selector', 'reason=UnexpectedAccess', '-o', 'json'),
  ) as k8s.CoreV1EventList;
  console.log(
    `[e2e] access audit: ${records.length} reads recorded (${kubelets} by kubelets), ${events.items.length} UnexpectedAccess Events`,
  );
  if (records.length === 0) throw new Error('the access audit recorded no read: it did not run');
  const falsePositives = events.items.filter((e) => !onPurpose?.test(e.message ?? ''));
  if (falsePositives.length > 0)
    throw new Error(
      `false positives of the access audit: ${falsePositives.map((e) => e.message).join('; ')}`,
    );
}

/** Every container's log, for the leak scan: what the operator and the workloads printed. */
async function recordPodLogs(
  kubectl: (...args: string[]) => Promise<string>,
): Promise<Record<string, string>> {
  const logs: Record<string, string> = {};
  const pods = JSON.parse(await kubectl('get', 'pods', '-A', '-o', 'json')) as k8s.V1PodList;
  for (const pod of pods.items) {
    const { namespace, name } = pod.metadata!;
    for (const container of pod.spec?.containers ?? []) {
      // A restarted container's earlier output (a leader that stepped down) counts too.
      const restarted = pod.status?.containerStatuses?.some(
        (c) => c.name === container.name && c.restartCount > 0,
      );
      if (restarted) {
        logs[`${namespace}/${name}/${container.name}/previous`] = await kubectl(
          'logs',
          '--previous',
          '-n',
          namespace!,
          name!,
          '-c',
          container.name,
        ).catch(() => '');
      }
      try {
        const log = await kubectl('logs', '-n', namespace!, name!, '-c', container.name);
        recordText(`pod ${namespace}/${name}/${container.name} log`, log);
        logs[`${namespace}/${name}/${container.name}`] = log;
      } catch {
        // a container that never started has no log
      }
    }
  }
  return logs;
}

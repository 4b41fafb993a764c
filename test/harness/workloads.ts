// Reading what the test workloads (test/e2e/images) report, and timing Secret writes as the
// cluster sees them.
import * as k8s from '@kubernetes/client-node';
import { eventually } from './kube.ts';
import { IMAGES, type NodeCluster } from './node-cluster.ts';

/** A line the trainer printed: `{"event": ..., "ts": ..., ...}`. */
export interface TrainerEvent {
  event: string;
  ts?: string;
  sha256?: string;
  [field: string]: unknown;
}

/**
 * Starts a long-running trainer (watch mode) labelled for `binding`, and waits until it runs:
 * it prints a line each time a file the binding mounts changes.
 */
export async function startWatchingTrainer(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
  binding: string,
): Promise<void> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: { 'mlsecrets.io/binding': binding } },
      spec: {
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'train',
            image: IMAGES.trainer,
            imagePullPolicy: 'Never',
            env: [{ name: 'TRAINER_MODE', value: 'watch' }],
          },
        ],
      },
    },
  });
  await eventually(
    () => core.readNamespacedPod({ namespace, name }),
    (pod) => pod.status?.phase === 'Running',
    { timeoutMs: 90_000, intervalMs: 250, what: `pod ${namespace}/${name} Running` },
  );
}

/** The trainer's output lines in a pod's log (one JSON object per line; anything else skipped). */
export async function trainerEvents(
  nc: NodeCluster,
  namespace: string,
  pod: string,
): Promise<TrainerEvent[]> {
  const log = await nc.kubectl('logs', '-n', namespace, pod);
  return log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as TrainerEvent);
}

/**
 * Watches one Secret and remembers when each version of its data was first seen: the moment a
 * refresh wrote it, as close as a client of the API server can tell.
 */
export class SecretWatch {
  private readonly seen: { at: number; data: Record<string, string> }[] = [];
  private abort?: AbortController;
  private waiters: (() => void)[] = [];
  private stopped = false;

  private constructor() {}

  static async start(kc: k8s.KubeConfig, namespace: string, name: string): Promise<SecretWatch> {
    const watch = new SecretWatch();
    await watch.connect(kc, namespace, name);
    return watch;
  }

  /** Watches until stop(): a watch the server or an idle connection ends is started again. */
  private async connect(kc: k8s.KubeConfig, namespace: string, name: string): Promise<void> {
    this.abort = await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/secrets`,
      { fieldSelector: `metadata.name=${name}` },
      (_type: string, secret: k8s.V1Secret) => {
        const data = Object.fromEntries(
          Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        );
        this.seen.push({ at: Date.now(), data });
        for (const wake of this.waiters.splice(0)) wake();
      },
      () => {
        if (!this.stopped) void this.connect(kc, namespace, name).catch(() => undefined);
      },
    );
  }

  /** When data matching `accept` was first seen; waits for it up to `timeoutMs`. */
  async until(accept: (data: Record<string, string>) => boolean, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.seen.find((s) => accept(s.data));
      if (hit) return hit.at;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the Secret did not reach the expected data within ${timeoutMs}ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

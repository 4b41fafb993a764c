// The write floor: the writes the operator must make for N bindings (create the binding,
// server-side apply its Secret, patch its status), done by a bare client with the same
// concurrency, in namespaces the operator does not watch.
import type { KubeHttp } from '../src/kube/http.ts';
import { createBinding, group, placement, pool, remoteValue, version } from './kube.ts';

/** Figures of one floor run. */
export interface FloorResult {
  /** Seconds from the first create to the last status patch. */
  seconds: number;
  creates: number;
  applies: number;
  statusPatches: number;
}

/**
 * Creates N bindings (`createConcurrency` in flight, as the benchmark does), and as each
 * lands, applies its Secret and patches its status to Ready with at most `workers` in flight
 * (the operator's reconcile concurrency).
 */
export async function runFloor(
  http: KubeHttp,
  options: {
    n: number;
    k: number;
    namespaces: string[];
    store: string;
    refresh: string;
    createConcurrency: number;
    workers: number;
  },
): Promise<FloorResult> {
  const { n, k, namespaces } = options;
  const started = performance.now();
  const queue: number[] = [];
  let wake: (() => void) | undefined;
  const creating = pool(n, options.createConcurrency, async (i) => {
    await createBinding(http, i, namespaces, k, options.store, options.refresh);
    queue.push(i);
    wake?.();
  });
  const write = async (i: number): Promise<void> => {
    const { namespace, name } = placement(i, namespaces);
    await http.request('PATCH', `/api/v1/namespaces/${namespace}/secrets/${name}`, {
      query: { fieldManager: 'bench-floor', force: true },
      contentType: 'application/apply-patch+yaml',
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'bench-floor' } },
        type: 'Opaque',
        data: { V: Buffer.from(remoteValue(i % k)).toString('base64') },
      },
    });
    const now = new Date().toISOString();
    await http.request(
      'PATCH',
      `/apis/${group}/${version}/namespaces/${namespace}/secretbindings/${name}/status`,
      {
        contentType: 'application/merge-patch+json',
        body: {
          status: {
            observedGeneration: 1,
            secretName: name,
            syncedAt: now,
            conditions: [
              { type: 'Ready', status: 'True', reason: 'Synced', message: 'floor', lastTransitionTime: now },
            ],
          },
        },
      },
    );
  };
  let taken = 0;
  const writers = Array.from({ length: options.workers }, async () => {
    while (taken < n) {
      const i = queue.shift();
      if (i === undefined) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 20);
        });
        continue;
      }
      taken++;
      await write(i);
    }
  });
  await creating;
  await Promise.all(writers);
  return { seconds: (performance.now() - started) / 1000, creates: n, applies: n, statusPatches: n };
}

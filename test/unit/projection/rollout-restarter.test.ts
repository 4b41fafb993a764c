import { ManualClock } from '../../../src/runtime/clock.ts';
import type { SecretBinding } from '../../../src/api/types.ts';
import type { EventRecorder } from '../../../src/kube/events.ts';
import type { KubeHttp } from '../../../src/runtime/http.ts';
import { silentLogger } from '../../../src/observability/logger.ts';
import { RolloutRestarter } from '../../../src/projection/rollout-restarter.ts';

const binding = {
  apiVersion: 'mlsecrets.io/v1alpha1',
  kind: 'SecretBinding',
  metadata: { name: 'model-api', namespace: 'team', uid: 'u1' },
  spec: { storeRef: { name: 's' }, projection: { onRotation: 'RolloutRestart' } },
} as unknown as SecretBinding;

/** Counts the Deployment and StatefulSet lists a restart begins with; there is nothing to restart. */
function listingHttp(): { http: KubeHttp; lists: string[] } {
  const lists: string[] = [];
  const http = {
    request: async (_method: string, path: string) => {
      lists.push(path);
      return { items: [] };
    },
  } as unknown as KubeHttp;
  return { http, lists };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test.each([
  ['left out', {}],
  // operator.ts passes its own optional setting through, undefined unless a test sets it.
  ['given as undefined', { debounceMs: undefined }],
])('the debounce window defaults to 10 s when it is %s', async (_label, debounce) => {
  const clock = new ManualClock();
  const { http, lists } = listingHttp();
  const restarter = new RolloutRestarter({
    http,
    clock,
    logger: silentLogger(),
    events: { record: () => undefined } as unknown as EventRecorder,
    ...debounce,
  });
  restarter.request(binding, 'model-api');
  clock.advance(9_999);
  await flush();
  expect(lists).toEqual([]);
  clock.advance(1);
  await flush();
  expect(lists.length).toBeGreaterThan(0);
  await restarter.stop();
});

interface FakeWorkload {
  metadata: { name: string; namespace: string; generation?: number };
  spec: { replicas?: number; template: Record<string, unknown> };
  status?: Record<string, number>;
}

/** A Deployment that reads the Secret through envFrom, at generation 1 and fully rolled out. */
function deployment(name: string): FakeWorkload {
  return {
    metadata: { name, namespace: 'team', generation: 1 },
    spec: {
      replicas: 2,
      template: { spec: { containers: [{ envFrom: [{ secretRef: { name: 'model-api' } }] }] } },
    },
    status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
  };
}

/**
 * A fake apps/v1 API over `deployments`: lists them (no StatefulSets), a PATCH bumps the
 * generation, and a GET answers whatever status the test has set since.
 */
function workloadHttp(...names: string[]) {
  const deployments = new Map(names.map((name) => [name, deployment(name)]));
  const calls: string[] = [];
  const patches: unknown[] = [];
  const base = '/apis/apps/v1/namespaces/team';
  const http = {
    request: async (method: string, path: string, options: { body?: unknown } = {}) => {
      calls.push(`${method} ${path}`);
      if (path === `${base}/deployments`) return { items: structuredClone([...deployments.values()]) };
      if (path === `${base}/statefulsets`) return { items: [] };
      const workload = deployments.get(path.slice(`${base}/deployments/`.length));
      if (!workload) throw new Error(`unexpected ${method} ${path}`);
      if (method === 'PATCH') {
        patches.push(options.body);
        workload.metadata.generation! += 1;
      }
      return structuredClone(workload);
    },
  } as unknown as KubeHttp;
  /** Sets a Deployment's status as its controller would report it. */
  const report = (name: string, status: Record<string, number>) => (deployments.get(name)!.status = status);
  return { http, calls, patches, report, base };
}

function restarterOn(http: KubeHttp, clock: ManualClock, events: string[] = []) {
  return new RolloutRestarter({
    http,
    clock,
    logger: silentLogger(),
    events: { emit: (_s: unknown, _t: string, _r: string, message: string) => events.push(message) } as never,
    debounceMs: 100,
    pollMs: 1_000,
    rolloutTimeoutMs: 5_000,
  });
}

test('a restarted Deployment is polled on the clock until it has rolled out, then the next kind is listed', async () => {
  const clock = new ManualClock();
  const { http, calls, patches, report, base } = workloadHttp('api');
  const events: string[] = [];
  const restarter = restarterOn(http, clock, events);
  restarter.request(binding, 'model-api');
  clock.advance(100);
  await flush();
  const restartedAt = new Date(clock.now()).toISOString();
  expect(patches).toEqual([
    { spec: { template: { metadata: { annotations: { 'mlsecrets.io/restartedAt': restartedAt } } } } },
  ]);
  expect(events).toEqual(['Deployment "api" restarted to load the new data of Secret "model-api"']);
  // The status still describes generation 1: a poll is due in pollMs, and nothing else.
  expect(calls).toEqual([
    `GET ${base}/deployments`,
    `PATCH ${base}/deployments/api`,
    `GET ${base}/deployments/api`,
  ]);
  expect(clock.pending()).toBe(1);

  clock.advance(999);
  await flush();
  expect(calls).toHaveLength(3);
  // Observed, but the new pods are not all available yet.
  report('api', { observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 1 });
  clock.advance(1);
  await flush();
  expect(calls).toHaveLength(4);
  expect(calls.at(-1)).toBe(`GET ${base}/deployments/api`);

  report('api', { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 });
  clock.advance(1_000);
  await flush();
  expect(calls.slice(4)).toEqual([`GET ${base}/deployments/api`, `GET ${base}/statefulsets`]);
  expect(clock.pending()).toBe(0);
  await restarter.stop();
});

test('a rollout that never completes is given up after rolloutTimeoutMs and the next workload restarts', async () => {
  const clock = new ManualClock();
  const { http, calls, report, base } = workloadHttp('stuck', 'next');
  const restarter = restarterOn(http, clock);
  restarter.request(binding, 'model-api');
  clock.advance(100);
  await flush();
  // "next" would be ready at once; "stuck" never gets past its old generation.
  report('next', { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 });
  const pollsOfStuck = () => calls.filter((c) => c === `GET ${base}/deployments/stuck`).length;
  for (let elapsed = 1_000; elapsed < 5_000; elapsed += 1_000) {
    clock.advance(1_000);
    await flush();
    expect(pollsOfStuck()).toBe(elapsed / 1_000 + 1);
  }
  expect(calls).not.toContain(`PATCH ${base}/deployments/next`);

  // At the deadline the wait ends without another poll; "next" is restarted and rolls out.
  clock.advance(1_000);
  await flush();
  expect(pollsOfStuck()).toBe(5);
  expect(calls.slice(-3)).toEqual([
    `PATCH ${base}/deployments/next`,
    `GET ${base}/deployments/next`,
    `GET ${base}/statefulsets`,
  ]);
  expect(clock.pending()).toBe(0);
  await restarter.stop();
});

test('stop() ends a wait for a rollout at once, without the clock moving', async () => {
  const clock = new ManualClock();
  const { http, calls, base } = workloadHttp('api');
  const restarter = restarterOn(http, clock);
  restarter.request(binding, 'model-api');
  clock.advance(100);
  await flush();
  expect(clock.pending()).toBe(1);
  await restarter.stop();
  expect(clock.pending()).toBe(0);
  // Stopped: no further poll of the Deployment, and nothing else restarted.
  expect(calls.filter((c) => c === `GET ${base}/deployments/api`)).toHaveLength(1);
  expect(calls.filter((c) => c.startsWith('PATCH'))).toHaveLength(1);
});

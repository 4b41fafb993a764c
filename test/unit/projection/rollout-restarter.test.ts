import { ManualClock } from '../../../src/controller/clock.ts';
import type { SecretBinding } from '../../../src/api/types.ts';
import type { EventRecorder } from '../../../src/kube/events.ts';
import type { KubeHttp } from '../../../src/kube/http.ts';
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

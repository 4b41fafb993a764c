// --refresh-mounted-pods: which pods are annotated after a Secret's data changes, how often, with
// what, and what happens when a patch fails. A fake API behind KubeHttp's request(); a manual
// clock drives the debounce, so nothing sleeps.
import type { SecretBinding } from '../../../src/api/types.ts';
import { ManualClock } from '../../../src/runtime/clock.ts';
import type { EventRecorder, EventSubject } from '../../../src/kube/events.ts';
import {
  KubeApiError,
  NotLeaderError,
  type KubeHttp,
  type RequestOptions,
} from '../../../src/runtime/http.ts';
import { collectingLogger } from '../../../src/observability/logger.ts';
import {
  mountedSecrets,
  PodRefresher,
  SECRET_REFRESHED_AT_ANNOTATION,
  type MountingPod,
  type PodRefreshOutcome,
} from '../../../src/projection/pod-refresher.ts';

const NS = 'team-a';
const SECRET = 'hf-token';
const DEBOUNCE = 2_000;
/** What the Secret holds: must never appear in a patch, an Event or a log line. */
const VALUE = 'hf_PLANTED_value_0123456789';
const KEY_NAME = 'HF_TOKEN';

type Pod = MountingPod & { metadata: { annotations?: Record<string, string> } };

interface Call {
  method: string;
  path: string;
  options: RequestOptions;
}

/** Pods by namespace; lists them in pages (ignoring the field selector, so the refresher's own check is tested) and merge-patches annotations. */
class FakePods {
  readonly pods = new Map<string, Pod>();
  readonly calls: Call[] = [];
  /** Thrown by the next PATCH of a pod, by name. */
  readonly failures = new Map<string, Error>();
  /** Called after each LIST page is served (a pod deleted meanwhile). */
  afterList?: () => void;

  add(pod: Pod): void {
    this.pods.set(`${pod.metadata.namespace}/${pod.metadata.name}`, pod);
  }

  patches(): Call[] {
    return this.calls.filter((c) => c.method === 'PATCH');
  }

  patchedPods(): string[] {
    return this.patches()
      .map((c) => c.path.replace('/api/v1/namespaces/', '').replace('/pods/', '/'))
      .sort();
  }

  lists(): Call[] {
    return this.calls.filter((c) => c.method === 'GET');
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    this.calls.push({ method, path, options: structuredClone(options) });
    const list = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
    if (method === 'GET' && list) {
      // By name, and the continue token is the next name: a pod deleted between pages moves nothing.
      const all = [...this.pods.values()]
        .filter((p) => p.metadata.namespace === list[1])
        .sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
      const from = options.query?.continue as string | undefined;
      const start = from === undefined ? 0 : all.findIndex((p) => p.metadata.name! >= from);
      const limit = Number(options.query?.limit ?? all.length);
      const items = all.slice(start, start + limit).map((p) => structuredClone(p));
      const next = all[start + limit]?.metadata.name;
      this.afterList?.();
      return { metadata: { continue: next }, items } as T;
    }
    const one = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path);
    if (method === 'PATCH' && one) {
      const failure = this.failures.get(one[2]!);
      if (failure) {
        this.failures.delete(one[2]!);
        throw failure;
      }
      const pod = this.pods.get(`${one[1]}/${one[2]}`);
      if (!pod) throw new KubeApiError(404, 'NotFound', `pods "${one[2]}" not found`);
      const body = options.body as { metadata: { annotations: Record<string, string> } };
      pod.metadata.annotations = { ...pod.metadata.annotations, ...body.metadata.annotations };
      return undefined as T;
    }
    throw new Error(`unexpected ${method} ${path}`);
  }
}

function binding(name = 'hf', uid = 'binding-uid-1', namespace = NS): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { name, namespace, uid, generation: 1 },
    spec: { storeRef: { name: 'aws' }, data: [{ secretKey: KEY_NAME, remoteRef: { key: 'ml/hf' } }] },
  } as SecretBinding;
}

function pod(
  name: string,
  /** Volumes as a pod spec has them (configMap, emptyDir, … too). */
  volumes: object[],
  options: { phase?: string; namespace?: string; deleting?: boolean; env?: boolean } = {},
): Pod {
  return {
    metadata: {
      name,
      namespace: options.namespace ?? NS,
      ...(options.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    spec: {
      volumes,
      ...(options.env
        ? {
            containers: [
              {
                name: 'main',
                envFrom: [{ secretRef: { name: SECRET } }],
                env: [{ name: KEY_NAME, valueFrom: { secretKeyRef: { name: SECRET, key: KEY_NAME } } }],
              },
            ],
          }
        : {}),
    } as Pod['spec'],
    status: { phase: options.phase ?? 'Running' },
  };
}

const secretVolume = (secretName: string) => [{ name: 'creds', secret: { secretName } }];
const projectedVolume = (name: string) => [
  { name: 'all', projected: { sources: [{ configMap: { name: 'cfg' } }, { secret: { name } }] } },
];

function setup(options: { enabled?: boolean } = {}) {
  const clock = new ManualClock();
  const http = new FakePods();
  const { logger, lines: logs } = collectingLogger();
  const events: { subject: EventSubject; type: string; reason: string; message: string }[] = [];
  const recorder: EventRecorder = {
    emit: (subject, type, reason, message) => events.push({ subject, type, reason, message }),
  };
  const outcomes: Partial<Record<PodRefreshOutcome, number>> = {};
  const refresher = new PodRefresher({
    enabled: options.enabled ?? true,
    http: http as unknown as KubeHttp,
    clock,
    logger,
    events: recorder,
    onOutcome: (outcome) => (outcomes[outcome] = (outcomes[outcome] ?? 0) + 1),
    debounceMs: DEBOUNCE,
    pageSize: 2,
  });
  /** Lets the debounce window pass and the batch finish. */
  const settle = async () => {
    clock.advance(DEBOUNCE);
    await refresher.idle();
  };
  return { clock, http, logs, events, outcomes, refresher, settle };
}

test('mountedSecrets: secret volumes and projected sources, not env', () => {
  expect(mountedSecrets(pod('a', secretVolume('x')))).toEqual(new Set(['x']));
  expect(mountedSecrets(pod('b', projectedVolume('y')))).toEqual(new Set(['y']));
  expect(mountedSecrets(pod('c', [{ name: 'scratch', emptyDir: {} }], { env: true }))).toEqual(new Set());
});

test('running pods that mount the Secret (secret volume, projected, injected) are patched; the others are not', async () => {
  const h = setup();
  h.http.add(pod('by-volume', secretVolume(SECRET)));
  h.http.add(pod('by-projected', projectedVolume(SECRET)));
  // What the webhook injects: a secret volume named after the binding.
  h.http.add(pod('injected', [{ name: 'mlsecrets-hf', secret: { secretName: SECRET, defaultMode: 0o440 } }]));
  h.http.add(pod('env-only', [], { env: true }));
  h.http.add(pod('other-secret', secretVolume('another-secret')));
  h.http.add(pod('pending', secretVolume(SECRET), { phase: 'Pending' }));
  h.http.add(pod('succeeded', secretVolume(SECRET), { phase: 'Succeeded' }));
  h.http.add(pod('failed', secretVolume(SECRET), { phase: 'Failed' }));
  h.http.add(pod('deleting', secretVolume(SECRET), { deleting: true }));
  h.http.add(pod('elsewhere', secretVolume(SECRET), { namespace: 'team-b' }));

  h.refresher.request(binding(), SECRET);
  await h.settle();

  expect(h.http.patchedPods()).toEqual([`${NS}/by-projected`, `${NS}/by-volume`, `${NS}/injected`]);
  // Only the binding's namespace was listed, running pods asked for, in pages.
  expect(new Set(h.http.lists().map((c) => c.path))).toEqual(new Set([`/api/v1/namespaces/${NS}/pods`]));
  expect(h.http.lists()[0]!.options.query).toMatchObject({ fieldSelector: 'status.phase=Running', limit: 2 });
  expect(h.http.lists().length).toBeGreaterThan(1);
  expect(h.outcomes).toEqual({ refreshed: 3 });
  expect(h.events.map((e) => [e.type, e.reason, e.subject.kind, e.subject.name, e.message])).toEqual([
    [
      'Normal',
      'PodsRefreshed',
      'SecretBinding',
      'hf',
      `3 pods mounting Secret "${SECRET}" refreshed to load its new data`,
    ],
  ]);
});

test('the patch is a merge patch of one annotation holding the time, and nothing else', async () => {
  const h = setup();
  h.http.add(pod('p', secretVolume(SECRET)));
  h.refresher.request(binding(), SECRET);
  await h.settle();

  const [patch] = h.http.patches();
  expect(patch!.options.contentType).toBe('application/merge-patch+json');
  // The clock's time when the window closed, RFC 3339.
  expect(patch!.options.body).toEqual({
    metadata: { annotations: { [SECRET_REFRESHED_AT_ANNOTATION]: '2025-01-01T00:00:02.000Z' } },
  });
  const everything = JSON.stringify([h.http.calls, h.events, h.logs]);
  expect(everything).not.toContain(VALUE);
  expect(everything).not.toContain(KEY_NAME);
  expect(everything).not.toContain(Buffer.from(VALUE).toString('base64'));
});

test('debounced: changes within the window cause one list and one patch per pod; a later change patches again', async () => {
  const h = setup();
  h.http.add(pod('one', secretVolume(SECRET)));
  // Mounts both changed Secrets of the binding: still one patch.
  h.http.add(pod('two', [...secretVolume(SECRET), { name: 'other', secret: { secretName: `${SECRET}-2` } }]));

  h.refresher.request(binding(), SECRET);
  h.clock.advance(500);
  h.refresher.request(binding(), `${SECRET}-2`);
  h.clock.advance(500);
  h.refresher.request(binding(), SECRET);
  h.clock.advance(DEBOUNCE - 1_001);
  await h.refresher.idle();
  expect(h.http.calls).toEqual([]);

  h.clock.advance(1);
  await h.refresher.idle();
  expect(h.http.patchedPods()).toEqual([`${NS}/one`, `${NS}/two`]);
  expect(h.http.lists()).toHaveLength(1);
  expect(h.events.map((e) => e.message)).toEqual([
    '2 pods mounting 2 Secrets of this binding refreshed to load their new data',
  ]);

  h.clock.advance(10_000);
  h.refresher.request(binding(), SECRET);
  await h.settle();
  expect(h.http.patchedPods()).toEqual([`${NS}/one`, `${NS}/one`, `${NS}/two`, `${NS}/two`]);
  // A new time: the annotation changes, so the kubelet sees an update again.
  expect(h.http.pods.get(`${NS}/one`)!.metadata.annotations).toEqual({
    [SECRET_REFRESHED_AT_ANNOTATION]: '2025-01-01T00:00:14.000Z',
  });
});

test('bindings of two namespaces: each namespace listed once, each binding its own Event', async () => {
  const h = setup();
  h.http.add(pod('a', secretVolume(SECRET)));
  h.http.add(pod('b', secretVolume(SECRET), { namespace: 'team-b' }));
  h.refresher.request(binding('hf', 'uid-a'), SECRET);
  h.refresher.request(binding('hf', 'uid-b', 'team-b'), SECRET);
  await h.settle();
  expect(h.http.patchedPods()).toEqual([`${NS}/a`, 'team-b/b']);
  expect(h.events.map((e) => [e.subject.namespace, e.subject.uid, e.message])).toEqual([
    [NS, 'uid-a', `1 pod mounting Secret "${SECRET}" refreshed to load its new data`],
    ['team-b', 'uid-b', `1 pod mounting Secret "${SECRET}" refreshed to load its new data`],
  ]);
});

test('a pod deleted before its patch (404) is fine; another failure is logged without a value and counted; the rest go on', async () => {
  const h = setup();
  for (const name of ['a', 'b', 'c', 'd']) h.http.add(pod(name, secretVolume(SECRET)));
  h.http.afterList = () => h.http.pods.delete(`${NS}/b`);
  h.http.failures.set(
    'c',
    new KubeApiError(403, 'Forbidden', 'pods "c" is forbidden: admission webhook denied'),
  );

  h.refresher.request(binding(), SECRET);
  await h.settle();

  expect(h.outcomes).toEqual({ refreshed: 2, gone: 1, failed: 1 });
  expect(h.http.pods.get(`${NS}/a`)!.metadata.annotations).toHaveProperty([SECRET_REFRESHED_AT_ANNOTATION]);
  expect(h.http.pods.get(`${NS}/d`)!.metadata.annotations).toHaveProperty([SECRET_REFRESHED_AT_ANNOTATION]);
  const warnings = h.logs
    .map((l) => JSON.parse(l) as Record<string, string>)
    .filter((l) => l.level === 'warn');
  expect(warnings).toEqual([
    expect.objectContaining({ message: 'pod refresh: could not patch pod', pod: `${NS}/c` }),
  ]);
  expect(h.events.map((e) => e.message)).toEqual([
    `2 pods mounting Secret "${SECRET}" refreshed to load its new data`,
  ]);
  expect(JSON.stringify(h.logs)).not.toContain(VALUE);
});

test('a failed list is logged and counted, and the next change tries again', async () => {
  const h = setup();
  h.http.add(pod('a', secretVolume(SECRET)));
  const request = h.http.request.bind(h.http);
  let failList = true;
  h.http.request = async <T>(method: string, path: string, options?: RequestOptions): Promise<T> => {
    if (method === 'GET' && failList) {
      failList = false;
      throw new KubeApiError(
        503,
        'ServiceUnavailable',
        'the server is currently unable to handle the request',
      );
    }
    return request<T>(method, path, options);
  };
  h.refresher.request(binding(), SECRET);
  await h.settle();
  expect(h.outcomes).toEqual({ failed: 1 });
  expect(h.http.patches()).toEqual([]);

  h.refresher.request(binding(), SECRET);
  await h.settle();
  expect(h.outcomes).toEqual({ failed: 1, refreshed: 1 });
});

test('a replica that lost the Lease stops patching, without counting every pod as failed', async () => {
  const h = setup();
  for (const name of ['a', 'b', 'c']) h.http.add(pod(name, secretVolume(SECRET)));
  const request = h.http.request.bind(h.http);
  h.http.request = async <T>(method: string, path: string, options?: RequestOptions): Promise<T> => {
    if (method === 'PATCH') throw new NotLeaderError(method);
    return request<T>(method, path, options);
  };
  h.refresher.request(binding(), SECRET);
  await h.settle();
  expect(h.outcomes).toEqual({});
  expect(h.events).toEqual([]);
  // At most one patch per worker was tried before they all stopped.
  expect(h.http.calls.filter((c) => c.method === 'PATCH').length).toBeLessThanOrEqual(3);
});

test('no pod mounts the Secret: nothing patched, no Event', async () => {
  const h = setup();
  h.http.add(pod('env-only', [], { env: true }));
  h.refresher.request(binding(), SECRET);
  await h.settle();
  expect(h.http.patches()).toEqual([]);
  expect(h.events).toEqual([]);
});

test('disabled: the same setup that patches when enabled lists and patches nothing', async () => {
  for (const enabled of [true, false]) {
    const h = setup({ enabled });
    h.http.add(pod('by-volume', secretVolume(SECRET)));
    h.http.add(pod('by-projected', projectedVolume(SECRET)));
    h.refresher.request(binding(), SECRET);
    await h.settle();
    if (enabled) {
      expect(h.http.patchedPods()).toEqual([`${NS}/by-projected`, `${NS}/by-volume`]);
    } else {
      expect(h.http.calls).toEqual([]);
      expect(h.events).toEqual([]);
      expect(h.clock.pending()).toBe(0);
    }
  }
});

test('stop() drops a pending batch; requests after it are ignored', async () => {
  const h = setup();
  h.http.add(pod('a', secretVolume(SECRET)));
  h.refresher.request(binding(), SECRET);
  await h.refresher.stop();
  h.refresher.request(binding(), SECRET);
  await h.settle();
  expect(h.http.calls).toEqual([]);
  expect(h.clock.pending()).toBe(0);
});

test('an undefined debounce keeps the default window instead of firing at once', async () => {
  const clock = new ManualClock();
  const http = new FakePods();
  http.add(pod('a', secretVolume(SECRET)));
  const refresher = new PodRefresher({
    enabled: true,
    http: http as unknown as KubeHttp,
    clock,
    logger: collectingLogger().logger,
    events: { emit: () => undefined },
    debounceMs: undefined,
  });
  refresher.request(binding(), SECRET);
  expect(clock.nextTimerAt()).toBe(clock.now() + 2_000);
  clock.advance(2_000);
  await refresher.idle();
  expect(http.patchedPods()).toEqual([`${NS}/a`]);
});

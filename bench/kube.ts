// Kubernetes helpers for the benchmark: plain JSON requests (KubeHttp), a bounded pool,
// the objects it creates, and readiness checks.
import type { SecretBinding } from '../src/api/types.ts';
import type { KubeHttp } from '../src/runtime/http.ts';

export const group = 'mlsecrets.io';
export const version = 'v1alpha1';

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight. */
export async function pool(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/** Name of remote secret `k`. */
export const remoteKey = (k: number): string => `bench/secret-${k}`;
/** Value remote secret `k` holds (its generation `g` after rotations). */
export const remoteValue = (k: number, g = 0): string => `value-${k}-${g}`;

/**
 * The remote secret binding `i` reads, of K = `k`: every tenth binding reads remote secret 0
 * (the one the rotation phase changes, so a rotation reaches N/10 bindings), the others
 * spread evenly over the other K - 1.
 */
export function remoteIndex(i: number, k: number): number {
  if (k < 2 || i % 10 === 0) return 0;
  return 1 + ((i - Math.floor(i / 10) - 1) % (k - 1));
}

/** Where binding `i` lives. */
export function placement(i: number, namespaces: string[]): { namespace: string; name: string } {
  return { namespace: namespaces[i % namespaces.length]!, name: `b-${i}` };
}

/** The SecretBinding object for binding `i`. */
export function bindingBody(i: number, namespaces: string[], k: number, store: string, refresh: string) {
  const { namespace, name } = placement(i, namespaces);
  return {
    apiVersion: `${group}/${version}`,
    kind: 'SecretBinding',
    metadata: { name, namespace },
    spec: {
      storeRef: { kind: 'ClusterSecretStore', name: store },
      data: [{ secretKey: 'V', remoteRef: { key: remoteKey(remoteIndex(i, k)) } }],
      lifetime: { ttl: '24h', refreshInterval: refresh },
    },
  };
}

/** POSTs binding `i`; resolves the binding as created (its uid, generation). */
export async function createBinding(
  http: KubeHttp,
  i: number,
  namespaces: string[],
  k: number,
  store: string,
  refresh: string,
): Promise<SecretBinding> {
  const body = bindingBody(i, namespaces, k, store, refresh);
  return http.request<SecretBinding>(
    'POST',
    `/apis/${group}/${version}/namespaces/${body.metadata.namespace}/secretbindings`,
    { body },
  );
}

interface Condition {
  type: string;
  status: string;
}
interface BindingItem {
  metadata: { name: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

/** Whether a binding reports Ready=True for its current generation. */
export function isReady(b: BindingItem): boolean {
  const ready = b.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  return ready && (b.status?.observedGeneration ?? 0) >= (b.metadata.generation ?? 1);
}

/** Lists every item of a (namespaced) collection, paging 2,000 at a time. */
export async function listAll<T>(http: KubeHttp, path: string): Promise<T[]> {
  const items: T[] = [];
  let cont: string | undefined;
  do {
    const page = await http.request<{ items: T[]; metadata: { continue?: string } }>('GET', path, {
      query: { limit: 2000, continue: cont },
    });
    items.push(...page.items);
    cont = page.metadata.continue || undefined;
  } while (cont);
  return items;
}

/** Names of Ready bindings in `namespaces`. */
export async function readyBindings(http: KubeHttp, namespaces: string[]): Promise<Set<string>> {
  const ready = new Set<string>();
  for (const ns of namespaces) {
    const items = await listAll<BindingItem>(
      http,
      `/apis/${group}/${version}/namespaces/${ns}/secretbindings`,
    );
    for (const b of items) if (isReady(b)) ready.add(`${ns}/${b.metadata.name}`);
  }
  return ready;
}

/**
 * The Ready bindings of `namespaces`, kept from watches (from each collection's current
 * version) instead of listing every binding each second, which at N=10,000 loaded the API
 * server the operator writes to (the floor run has no such poll). `failed` is set when a
 * watch ends early; callers then fall back to listing.
 */
export async function watchReady(
  http: KubeHttp,
  namespaces: string[],
): Promise<{ ready: Set<string>; failed: () => boolean; stop: () => Promise<void> }> {
  const ready = new Set<string>();
  let failed = false;
  const starts = await Promise.all(
    namespaces.map(async (ns) => {
      const path = `/apis/${group}/${version}/namespaces/${ns}/secretbindings`;
      const list = await http.request<{ metadata: { resourceVersion: string }; items: BindingItem[] }>(
        'GET',
        path,
        { query: { limit: 1 } },
      );
      if (list.items.length > 0) failed = true; // only fresh namespaces are watched from here
      return { ns, path, resourceVersion: list.metadata.resourceVersion };
    }),
  );
  const follow = followWatches(http, starts, {}, (ns, type, object) => {
    const b = object as unknown as BindingItem;
    const key = `${ns}/${b.metadata.name}`;
    if (type !== 'DELETED' && isReady(b)) ready.add(key);
    else ready.delete(key);
  });
  return { ready, failed: () => failed || follow.failed(), stop: follow.stop };
}

/**
 * Counts bindings in [0, n) whose Secret holds the expected value; `generation(k)` gives
 * the generation of remote secret k.
 */
export async function correctSecrets(
  http: KubeHttp,
  n: number,
  k: number,
  namespaces: string[],
  generation: (k: number) => number = () => 0,
): Promise<number> {
  const values = new Map<string, string | undefined>();
  for (const ns of namespaces) {
    const items = await listAll<{ metadata: { name: string }; data?: Record<string, string> }>(
      http,
      `/api/v1/namespaces/${ns}/secrets`,
    );
    for (const s of items) values.set(`${ns}/${s.metadata.name}`, s.data?.V);
  }
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const { namespace, name } = placement(i, namespaces);
    const got = values.get(`${namespace}/${name}`);
    const j = remoteIndex(i, k);
    const want = Buffer.from(remoteValue(j, generation(j))).toString('base64');
    if (got === want) correct++;
  }
  return correct;
}

/**
 * Follows the `V` value of the managed Secrets of `namespaces` by watch, from each
 * collection's current version: the rotation check, which at N/10 affected bindings must not
 * GET a thousand Secrets every 100 ms from the API server the operator is writing to.
 * `values` maps namespace/name to the base64 value last seen.
 */
export async function watchSecretValues(
  http: KubeHttp,
  namespaces: string[],
): Promise<{ values: Map<string, string | undefined>; failed: () => boolean; stop: () => Promise<void> }> {
  const values = new Map<string, string | undefined>();
  const labelSelector = 'app.kubernetes.io/managed-by=mlsecrets';
  const starts = await Promise.all(
    namespaces.map(async (ns) => {
      const path = `/api/v1/namespaces/${ns}/secrets`;
      // Pages of one list share the first page's version: the watch starts from there.
      let resourceVersion = '';
      let cont: string | undefined;
      do {
        const page = await http.request<{
          items: { metadata: { name: string }; data?: Record<string, string> }[];
          metadata: { continue?: string; resourceVersion: string };
        }>('GET', path, { query: { labelSelector, limit: 2000, continue: cont } });
        for (const s of page.items) values.set(`${ns}/${s.metadata.name}`, s.data?.V);
        resourceVersion ||= page.metadata.resourceVersion;
        cont = page.metadata.continue || undefined;
      } while (cont);
      return { ns, path, resourceVersion };
    }),
  );
  const follow = followWatches(http, starts, { labelSelector }, (ns, type, object) => {
    const secret = object as { metadata: { name: string }; data?: Record<string, string> };
    const key = `${ns}/${secret.metadata.name}`;
    if (type === 'DELETED') values.delete(key);
    else values.set(key, secret.data?.V);
  });
  return { values, ...follow };
}

/**
 * Watches each collection from its version, calling `onEvent` per change (bookmarks skipped).
 * `failed` turns true when a watch ends before `stop`.
 */
function followWatches(
  http: KubeHttp,
  starts: { ns: string; path: string; resourceVersion: string }[],
  query: Record<string, string>,
  onEvent: (ns: string, type: string, object: Record<string, unknown>) => void,
): { failed: () => boolean; stop: () => Promise<void> } {
  const abort = new AbortController();
  let failed = false;
  const watches = Promise.all(
    starts.map(({ ns, path, resourceVersion }) =>
      http
        .watch(
          path,
          { ...query, resourceVersion, allowWatchBookmarks: true },
          (event) => {
            if (event.type !== 'BOOKMARK') onEvent(ns, event.type, event.object);
          },
          abort.signal,
        )
        .then(
          () => void (abort.signal.aborted || (failed = true)),
          () => void (abort.signal.aborted || (failed = true)),
        ),
    ),
  );
  return {
    failed: () => failed,
    stop: async () => {
      abort.abort();
      await watches;
    },
  };
}

/**
 * Checks `tracker` every 100 ms (a list instead, once a second, if one of its watches failed)
 * until `n` bindings of `namespaces` are Ready, one list confirming the end. Resolves the
 * moment (performance.now()) of the check that saw the last one, not of the confirming list,
 * and how many were Ready; `seenAt` is undefined if `deadline` (epoch ms) or `signal` came first.
 */
export async function untilAllReady(
  http: KubeHttp,
  tracker: { ready: Set<string>; failed: () => boolean },
  namespaces: string[],
  n: number,
  {
    deadline,
    onCheck,
    signal,
  }: { deadline: number; onCheck?: (ready: number) => void; signal?: AbortSignal },
): Promise<{ seenAt?: number; ready: number }> {
  for (;;) {
    const seenAt = performance.now();
    let ready = tracker.failed() ? (await readyBindings(http, namespaces)).size : tracker.ready.size;
    if (ready >= n && !tracker.failed()) ready = (await readyBindings(http, namespaces)).size;
    onCheck?.(ready);
    if (ready >= n) return { seenAt, ready };
    if (Date.now() > deadline || signal?.aborted) return { ready };
    await new Promise((resolve) => setTimeout(resolve, tracker.failed() && n >= 5000 ? 1000 : 100));
  }
}

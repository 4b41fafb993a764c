// Fault: the operator (an OS process) is killed with SIGKILL at random points of a rotation,
// 50 times in a row. A rotation writes a new version of one source Secret in which every key
// changes together (a, b and c all carry the version number). A watch on the managed Secrets
// runs the whole time and checks every state the API server ever served: all keys of one
// version (never old a with new b), every expected key present, and the data-hash annotation
// matching the data. After the loop one more start must converge: every Secret on the last
// version, Ready=True, one owner each, nothing left over.
import fs from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { DATA_HASH_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/api/labels.ts';
import { DataHasher } from '../../src/data/data-hash.ts';
import { KubeHttp } from '../../src/runtime/http.ts';
import { loadInstallKey } from '../../src/kube/install-key.ts';
import type { ControlPlane } from '../harness/control-plane.ts';
import { eventually } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startOperatorProcess, type OperatorProcess } from '../harness/operator-process.ts';
import { startPrivateCluster, type PrivateCluster } from '../harness/private-cluster.ts';
import { OPERATOR_NAMESPACE } from '../harness/test-env.ts';
import { sleep } from '../harness/process.ts';
import {
  createBinding,
  createStore,
  getBinding,
  putSourceSecret,
  type Clients,
} from '../harness/resources.ts';

const KILLS = 50;
const team = 'kill-team';
const source = 'kill-source';

let cluster: PrivateCluster | undefined;
let cp: ControlPlane;
let c: Clients;
let http: KubeHttp;
let kc: k8s.KubeConfig;
let logDir: string;
const started: OperatorProcess[] = [];

/** The keys each shape of binding's Secret must hold, every time it is seen. */
const shapes: Record<string, { spec: Record<string, unknown>; keys: string[] }> = {
  // Three properties of the one source Secret.
  plain: {
    spec: {
      data: ['a', 'b', 'c'].map((k) => ({
        secretKey: k.toUpperCase(),
        remoteRef: { key: 'rotating', property: k },
      })),
    },
    keys: ['A', 'B', 'C'],
  },
  // Every key of it.
  extract: { spec: { dataFrom: [{ extract: { key: 'rotating' } }] }, keys: ['a', 'b', 'c'] },
  // The keys plus one templated from all three.
  merged: {
    spec: {
      dataFrom: [{ extract: { key: 'rotating' } }],
      target: { template: { mergePolicy: 'Merge', data: { joined: '{{ a }}|{{ b }}|{{ c }}' } } },
    },
    keys: ['a', 'b', 'c', 'joined'],
  },
  // Only a template (Replace), reading properties.
  netrc: {
    spec: {
      data: ['a', 'b', 'c'].map((k) => ({ secretKey: k, remoteRef: { key: 'rotating', property: k } })),
      target: {
        template: {
          data: { '.netrc': 'machine example.com login {{ a }} password {{ b }} account {{ c }}' },
        },
      },
    },
    keys: ['.netrc'],
  },
  // A read and a listing of the same source: two provider calls that must agree.
  found: {
    spec: {
      data: [{ secretKey: 'a', remoteRef: { key: 'rotating', property: 'a' } }],
      dataFrom: [{ find: { name: { regexp: '^rotating$' } } }],
    },
    keys: ['a', 'rotating'],
  },
};
/**
 * Each shape several times: one rotation is then tens of writes spread over a few hundred
 * milliseconds, so random kills also land between them, not only before or after.
 */
const COPIES = 6;
const bindings = Object.fromEntries(
  Object.entries(shapes).flatMap(([shape, b]) =>
    Array.from({ length: COPIES }, (_, i) => [`${shape}-${i}`, b] as const),
  ),
);
const names = Object.keys(bindings);

/** Values of version v: every key carries v, and a marker for the leak scan. */
function version(v: number): Record<string, string> {
  return Object.fromEntries(['a', 'b', 'c'].map((k) => [k, plant(`v${v}${k}`)]));
}

/** The versions a Secret's values carry (all of them, from every key and template). */
function versionsIn(data: Record<string, string> | undefined): Set<number> {
  const out = new Set<number>();
  for (const value of Object.values(data ?? {})) {
    const text = Buffer.from(value, 'base64').toString('utf8');
    for (const match of text.matchAll(/MLSECRET-v(\d+)[abc]-/g)) out.add(Number(match[1]));
  }
  return out;
}

interface SecretView {
  metadata: k8s.V1ObjectMeta;
  data?: Record<string, string>;
}

/** Every state of every managed Secret the API server served, checked as it arrives. */
class Watcher {
  readonly states = new Map<string, number>();
  readonly problems: string[] = [];
  /** The version each Secret is at now. */
  readonly current = new Map<string, number>();
  seen = 0;
  private readonly abort = new AbortController();
  private done?: Promise<void>;
  private readonly hasher: DataHasher;

  constructor(hasher: DataHasher) {
    this.hasher = hasher;
  }

  async start(): Promise<void> {
    const list = await http.request<{ metadata: { resourceVersion: string }; items: SecretView[] }>(
      'GET',
      `/api/v1/namespaces/${team}/secrets`,
      { query: { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` } },
    );
    for (const item of list.items) this.check('LISTED', item);
    let resourceVersion = list.metadata.resourceVersion;
    this.done = (async () => {
      while (!this.abort.signal.aborted) {
        try {
          await http.watch(
            `/api/v1/namespaces/${team}/secrets`,
            {
              labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
              resourceVersion,
              allowWatchBookmarks: true,
            },
            (event) => {
              const object = event.object as unknown as SecretView;
              if (object.metadata?.resourceVersion) resourceVersion = object.metadata.resourceVersion;
              if (event.type === 'ERROR') {
                this.problems.push(`watch error ${JSON.stringify(event.object).slice(0, 200)}`);
                return;
              }
              if (event.type === 'BOOKMARK') return;
              this.check(event.type, object);
            },
            this.abort.signal,
          );
        } catch {
          if (!this.abort.signal.aborted) await sleep(200);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  private check(type: string, secret: SecretView): void {
    const name = secret.metadata.name!;
    this.seen++;
    if (type === 'DELETED') {
      this.problems.push(`${name} was deleted`);
      return;
    }
    const expected = bindings[name]?.keys;
    if (!expected) {
      this.problems.push(`unexpected managed Secret ${name}`);
      return;
    }
    const keys = Object.keys(secret.data ?? {}).sort();
    if (keys.join() !== [...expected].sort().join())
      this.problems.push(`${name} rv ${secret.metadata.resourceVersion} has keys [${keys.join()}]`);
    const versions = versionsIn(secret.data);
    if (versions.size !== 1)
      this.problems.push(
        `${name} rv ${secret.metadata.resourceVersion} mixes versions [${[...versions].join()}]`,
      );
    if (this.hasher.hashEncoded(secret.data) !== secret.metadata.annotations?.[DATA_HASH_ANNOTATION])
      this.problems.push(`${name} rv ${secret.metadata.resourceVersion}: data-hash does not match the data`);
    const [v] = versions;
    if (v !== undefined) this.current.set(name, v);
    this.states.set(name, (this.states.get(name) ?? 0) + 1);
  }
}

function operator(name: string): Promise<OperatorProcess> {
  return startOperatorProcess({
    name,
    kubeconfigPath: cp.kubeconfigPath,
    namespaces: [team, source],
    logDir,
  }).then((p) => {
    started.push(p);
    return p;
  });
}

const rand = (max: number) => Math.floor(Math.random() * max);

beforeAll(async () => {
  cluster = await startPrivateCluster([team, source], { prefix: 'mlsecrets-fault-kill-' });
  ({ cp, kc, c } = cluster);
  logDir = path.join(cluster.dir, 'operators');
  http = new KubeHttp(kc);
  await putSourceSecret(c, source, 'rotating', version(0));
  await createStore(c, 'ClusterSecretStore', 'kill-store', {
    provider: { kubernetes: { namespace: source } },
  });
  for (const [name, { spec }] of Object.entries(bindings)) {
    await createBinding(c, team, name, {
      storeRef: { kind: 'ClusterSecretStore', name: 'kill-store' },
      ...spec,
      lifetime: { ttl: '1h', refreshInterval: '1s' },
    } as never);
  }
}, 180_000);

afterAll(async () => {
  for (const p of started) await p.stop(0);
  // The suite-wide leak scan of this cluster's Events and status, then the cluster goes.
  await cluster?.stop();
});

test(`every managed Secret stays whole through ${KILLS} SIGKILLs mid-rotation, and the next start converges`, async () => {
  // A first start issues version 0 and creates the install key the watcher checks hashes with.
  const first = await operator('operator-initial');
  const startedAt = Date.now();
  await first.ready();
  const readyMs = Date.now() - startedAt;
  const hasher = new DataHasher(await loadInstallKey(http, OPERATOR_NAMESPACE));
  const watcher = new Watcher(hasher);
  await watcher.start();
  await eventually(
    async () => names.map((n) => watcher.current.get(n)),
    (v) => v.every((x) => x === 0),
    { what: 'version 0 issued', timeoutMs: 60_000 },
  );
  const issuedMs = Date.now() - startedAt;
  await first.stop(0);
  console.log(
    `[fault] operator process: ready ${(readyMs / 1000).toFixed(1)}s, first issue ${(issuedMs / 1000).toFixed(1)}s after spawn`,
  );

  // Each round rotates the source to version v and kills the operator with SIGKILL at a random
  // moment: two rounds in three rotate while it is down and kill it anywhere from its spawn to
  // after its start-up writes; one in three rotate once it runs (its 1 s refresh picks that up)
  // and kill it anywhere from just after the rotation to after the refresh's writes.
  const landed = { beforeAnyWrite: 0, midRotation: 0, afterAllWrites: 0 };
  let kills = 0;
  for (let v = 1; v <= KILLS; v++) {
    let p: OperatorProcess;
    if (v % 3 !== 0) {
      await putSourceSecret(c, source, 'rotating', version(v));
      p = await operator(`operator-${v}`);
      await sleep(rand(Math.round(issuedMs * 1.4)));
    } else {
      p = await operator(`operator-${v}`);
      await p.ready().catch(() => undefined);
      await sleep(rand(500));
      await putSourceSecret(c, source, 'rotating', version(v));
      await sleep(rand(2_500));
    }
    await p.stop(0);
    kills++;
    // Let the watch deliver what the killed process wrote before judging where the kill landed.
    await sleep(300);
    const atV = names.filter((n) => watcher.current.get(n) === v).length;
    if (atV === 0) landed.beforeAnyWrite++;
    else if (atV < names.length) landed.midRotation++;
    else landed.afterAllWrites++;
  }

  // One more rotation while it is down; the next start converges on it.
  const final = KILLS + 1;
  await putSourceSecret(c, source, 'rotating', version(final));
  const convergeStart = Date.now();
  const last = await operator('operator-final');
  await eventually(
    async () => ({
      versions: names.map((n) => watcher.current.get(n)),
      bindings: await Promise.all(names.map((n) => getBinding(c, team, n))),
    }),
    ({ versions, bindings: objects }) =>
      versions.every((x) => x === final) &&
      objects.every((b) => {
        const ready = b.status?.conditions?.find((x) => x.type === 'Ready');
        return ready?.status === 'True' && b.status?.observedGeneration === b.metadata.generation;
      }),
    { what: `every Secret at version ${final} and Ready`, timeoutMs: 90_000 },
  );
  const convergeSeconds = (Date.now() - convergeStart) / 1000;
  await sleep(2_000); // a few refreshes more: still nothing mixed, nothing rewritten wrongly
  await watcher.stop();

  // Nothing left over, one owner each, status hash = Secret hash.
  const secrets = await c.core.listNamespacedSecret({
    namespace: team,
    labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
  });
  expect(secrets.items.map((s) => s.metadata!.name).sort()).toEqual([...names].sort());
  for (const secret of secrets.items) {
    const binding = await getBinding(c, team, secret.metadata!.name!);
    expect(secret.metadata!.ownerReferences).toHaveLength(1);
    expect(secret.metadata!.ownerReferences![0]!.uid).toBe(binding.metadata.uid);
    expect(secret.metadata!.annotations?.[DATA_HASH_ANNOTATION]).toBe(binding.status?.dataHash);
  }
  const all = await c.core.listNamespacedSecret({ namespace: team });
  expect(all.items).toHaveLength(names.length);

  // No planted value in any operator log, Event or status.
  const texts: Record<string, string> = await operatorOutputs(c, [team, source]);
  for (const file of fs.readdirSync(logDir))
    texts[`log ${file}`] = fs.readFileSync(path.join(logDir, file), 'utf8');
  const leaks = findLeaks(texts);

  const mixed = watcher.problems.filter((p) => p.includes('mixes versions')).length;
  console.log(
    `[fault] SIGKILL during rotation: ${kills} kills survived (${landed.beforeAnyWrite} before any write, ` +
      `${landed.midRotation} mid-rotation, ${landed.afterAllWrites} after all writes); ` +
      `${watcher.seen} Secret states watched, ${mixed} mixed, ${watcher.problems.length} problems; ` +
      `converged ${convergeSeconds.toFixed(1)}s after the final start; leak hits ${leaks.length}`,
  );
  expect(watcher.problems).toEqual([]);
  expect(kills).toBe(KILLS);
  expect(leaks).toEqual([]);
  expect(last.pid).toBeGreaterThan(0);
}, 600_000);

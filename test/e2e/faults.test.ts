// Faults on a real node, with the operator installed by the chart (two replicas, leader
// election, podRefresh on): (1) the leading operator pod crashes in the middle of a rotation of
// a two-key credential that a running trainer pod has mounted; (2) the operator is scaled to
// zero while a pod that needs a binding's Secret is created; (3) the kubelet restarts under a
// running trainer pod. Each test also shows that what it asserts did not happen would have
// been seen had it happened.
import * as k8s from '@kubernetes/client-node';
import {
  fingerprint,
  installChart,
  leader,
  podInPhase,
  readyOperatorPods,
  RELEASE_NAMESPACE,
} from '../harness/chart.ts';
import { eventually, isStatus } from '../harness/kube.ts';
import { plant } from '../harness/leaks.ts';
import { IMAGES, startNodeCluster, type NodeCluster, createPodNamespace } from '../harness/node-cluster.ts';
import { sleep } from '../harness/process.ts';
import {
  createBinding,
  createStore,
  eventsFor,
  getBinding,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const team = 'faults';
const DEPLOYMENT = 'deployment/mlsecrets';
// Every operator pod, terminating ones included (operatorPods() leaves those out).
const OPERATOR_PODS = 'app.kubernetes.io/name=mlsecrets,app.kubernetes.io/component!=test';
const LEASE = 'mlsecrets-leader';

let nc: NodeCluster;
let coordination: k8s.CoordinationV1Api;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

beforeAll(async () => {
  nc = await startNodeCluster('faults');
  coordination = nc.kc.makeApiClient(k8s.CoordinationV1Api);
  // podRefresh: a rotated Secret reaches the mounted files within seconds, not at the
  // kubelet's next periodic sync (a minute or more).
  await installChart(nc, 'podRefresh.enabled=true');
  await createPodNamespace(nc, team);
  await createStore(nc.c, 'SecretStore', 'source', { provider: { kubernetes: { namespace: team } } }, team);
}, 420_000);
afterAll(() => nc?.stop(), 180_000);

/** A database login whose two halves change together. */
interface Pair {
  user: string;
  password: string;
}

function newPair(label: string): Pair {
  return { user: plant(`${label}-user`), password: plant(`${label}-password`) };
}

/** Writes both halves in one write of the source Secret. */
function putPair(source: string, pair: Pair): Promise<void> {
  return putSourceSecret(nc.c, team, source, { user: pair.user, password: pair.password });
}

/** A binding projecting USER and PASSWORD from one source Secret as a volume, re-read every 2 s. */
async function bindPair(name: string, source: string, pair: Pair): Promise<void> {
  await putPair(source, pair);
  await createBinding(nc.c, team, name, {
    storeRef: { kind: 'SecretStore', name: 'source' },
    data: [
      { secretKey: 'USER', remoteRef: { key: source, property: 'user' } },
      { secretKey: 'PASSWORD', remoteRef: { key: source, property: 'password' } },
    ],
    lifetime: { ttl: '1h', refreshInterval: '2s' },
    projection: { as: 'volume' },
  });
  await waitForReady(nc.c, team, name, {}, 60_000);
}

/**
 * What a Secret's data is: `old` or `new` when both keys hold that version and nothing else is
 * there, `absent` when it does not exist, otherwise what each key holds (never a value).
 */
function classify(data: Record<string, string> | undefined, old: Pair, next: Pair): string {
  if (data === undefined) return 'absent';
  const which = (key: string, field: keyof Pair) =>
    data[key] === undefined
      ? 'missing'
      : data[key] === old[field]
        ? 'old'
        : data[key] === next[field]
          ? 'new'
          : 'other';
  const user = which('USER', 'user');
  const password = which('PASSWORD', 'password');
  const extra = Object.keys(data).filter((k) => k !== 'USER' && k !== 'PASSWORD');
  if (user === password && (user === 'old' || user === 'new') && extra.length === 0) return user;
  return `mixed (USER ${user}, PASSWORD ${password}${extra.length ? `, extra keys ${extra.join(' ')}` : ''})`;
}

function decode(secret: { data?: Record<string, string> }): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

interface Observation {
  at: number;
  via: 'watch' | 'poll';
  state: string;
}

/**
 * Every state of one Secret, seen two ways for the whole time it runs: a watch from the
 * Secret's current resourceVersion (every write the API server stores, in order) and a GET
 * every 100 ms (what a reader polling it would get).
 */
class SecretObserver {
  readonly seen: Observation[] = [];
  watchRestarts = 0;
  private stopped = false;
  private abort?: AbortController;
  private polling?: Promise<void>;

  private readonly name: string;
  private readonly state: (data: Record<string, string> | undefined) => string;

  constructor(name: string, state: (data: Record<string, string> | undefined) => string) {
    this.name = name;
    this.state = state;
  }

  async start(): Promise<void> {
    const secret = await nc.c.core.readNamespacedSecret({ namespace: team, name: this.name });
    this.record('poll', decode(secret));
    let resourceVersion = secret.metadata!.resourceVersion!;
    const watch = async (): Promise<void> => {
      this.abort = await new k8s.Watch(nc.kc).watch(
        `/api/v1/namespaces/${team}/secrets`,
        { fieldSelector: `metadata.name=${this.name}`, resourceVersion },
        (phase: string, object: k8s.V1Secret) => {
          if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return;
          resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
          this.record('watch', phase === 'DELETED' ? undefined : decode(object));
        },
        () => {
          if (this.stopped) return;
          this.watchRestarts++;
          setTimeout(() => void watch().catch(() => undefined), 200);
        },
      );
    };
    await watch();
    this.polling = (async () => {
      while (!this.stopped) {
        try {
          this.record('poll', await secretData(nc.c, team, this.name));
        } catch {
          // an API hiccup is not a state of the Secret
        }
        await sleep(100);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.polling;
  }

  states(via?: Observation['via']): string[] {
    return this.seen.filter((o) => via === undefined || o.via === via).map((o) => o.state);
  }

  private record(via: Observation['via'], data: Record<string, string> | undefined) {
    this.seen.push({ at: Date.now(), via, state: this.state(data) });
  }
}

interface TrainerLine {
  event: string;
  ts: string;
  file?: string;
  sha256?: string;
}

async function trainerLines(pod: string, previous = false): Promise<TrainerLine[]> {
  const log = await nc.kubectl('logs', '-n', team, pod, ...(previous ? ['--previous'] : []));
  return log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as TrainerLine);
}

/** A long-running watch-mode trainer labelled for `binding`; resolves once it has read both files. */
async function startTrainer(name: string, binding: string, pair: Pair): Promise<k8s.V1Pod> {
  await nc.c.core.createNamespacedPod({
    namespace: team,
    body: {
      metadata: { name, labels: { 'mlsecrets.io/binding': binding } },
      spec: {
        terminationGracePeriodSeconds: 5,
        containers: [
          {
            name: 'trainer',
            image: IMAGES.trainer,
            imagePullPolicy: 'Never',
            env: [{ name: 'TRAINER_MODE', value: 'watch' }],
          },
        ],
      },
    },
  });
  const pod = await podInPhase(nc, team, name, ['Running'], 120_000);
  expect(pod.spec?.volumes?.some((v) => v.secret?.secretName === binding)).toBe(true);
  await waitForFiles(name, binding, pair, 'file', 0, 60_000);
  return pod;
}

/** Waits until the trainer's log has a `event` line for each file of `pair`, stamped at `since` or later. */
function waitForFiles(
  pod: string,
  binding: string,
  pair: Pair,
  event: 'file' | 'changed',
  since: number,
  timeoutMs: number,
): Promise<TrainerLine[]> {
  const want = [
    [`${binding}/USER`, fingerprint(pair.user)],
    [`${binding}/PASSWORD`, fingerprint(pair.password)],
  ];
  return eventually(
    () => trainerLines(pod),
    (lines) =>
      want.every(([file, sha256]) =>
        lines.some(
          (l) => l.event === event && l.file === file && l.sha256 === sha256 && Date.parse(l.ts) >= since,
        ),
      ),
    { timeoutMs, intervalMs: 500, what: `${event} lines of ${pod} with the expected fingerprints` },
  );
}

/** The trainer's first container: its id and restart count. */
async function trainerContainer(pod: string): Promise<{ phase?: string; id?: string; restarts?: number }> {
  const p = await nc.c.core.readNamespacedPod({ namespace: team, name: pod });
  const status = p.status?.containerStatuses?.[0];
  return { phase: p.status?.phase, id: status?.containerID, restarts: status?.restartCount };
}

async function leaseHolder(): Promise<string> {
  const lease = await coordination.readNamespacedLease({ namespace: RELEASE_NAMESPACE, name: LEASE });
  return lease.spec?.holderIdentity ?? '';
}

test('the leading operator pod crashes during a rotation: a new leader finishes it, the Secret is never half-rotated, the running pod gets the new files', async () => {
  const old = newPair('failover-v1');
  const next = newPair('failover-v2');
  await bindPair('db', 'db-source', old);
  const trainer = 'trainer-failover';
  await startTrainer(trainer, 'db', old);
  const before = await readyOperatorPods(nc, 2);
  const crashed = await leader(nc);
  const crashedPod = before.find((p) => p.metadata!.name === crashed)!;
  const containerId = crashedPod.status!.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');

  // The observer can tell a half-rotated Secret: a control Secret updated in two writes (USER,
  // then PASSWORD half a second later) is seen mixed, by the watch and by the poll.
  await putSourceSecret(nc.c, team, 'control', { USER: old.user, PASSWORD: old.password });
  const control = new SecretObserver('control', (d) => classify(d, old, next));
  await control.start();
  await putSourceSecret(nc.c, team, 'control', { USER: next.user, PASSWORD: old.password });
  await sleep(500);
  await putSourceSecret(nc.c, team, 'control', { USER: next.user, PASSWORD: next.password });
  await eventually(
    async () => control.states('poll').at(-1),
    (s) => s === 'new',
    { what: 'the control Secret observed at the new version' },
  );
  await control.stop();
  await nc.c.core.deleteNamespacedSecret({ namespace: team, name: 'control' });
  expect(control.states('watch')).toEqual(['mixed (USER new, PASSWORD old)', 'new']);
  expect(control.states('poll')).toContain('mixed (USER new, PASSWORD old)');

  const observer = new SecretObserver('db', (d) => classify(d, old, next));
  await observer.start();
  const holders = new Set<string>();
  let watchingLease = true;
  const leaseWatch = (async () => {
    while (watchingLease) {
      const holder = await leaseHolder().catch(() => undefined);
      if (holder !== undefined) holders.add(holder);
      await sleep(100);
    }
  })();

  // The rotation: both halves in one write of the store; then, at once, the leader crashes.
  // A crash, not a graceful delete: with `--grace-period=0` alone the kubelet still sends
  // SIGTERM and waits its minimum of 2 s, and on SIGTERM the operator releases the Lease, which
  // is a clean hand-over. So the leader's container is killed with SIGKILL through containerd,
  // then its pod is deleted with grace 0 (`kubectl delete pod --grace-period=0 --force`):
  // nothing releases the Lease, and the Deployment replaces the pod at once.
  await putPair('db-source', next);
  const rotatedAt = Date.now();
  nc.cluster.node!.containerd.ctr('tasks', 'kill', '--signal', 'SIGKILL', containerId);
  await nc.c.core.deleteNamespacedPod({ namespace: RELEASE_NAMESPACE, name: crashed, gracePeriodSeconds: 0 });
  const killedAt = Date.now();
  // Timed from the kill, alongside the rest.
  const replacement = readyOperatorPods(nc, 2, 180_000).then(
    (pods) => ({ pods, at: Date.now() }),
    (error: unknown) => ({ error }),
  );

  const newLeader = await eventually(
    () => leaseHolder(),
    (h) => h !== '' && h !== crashed,
    { timeoutMs: 90_000, intervalMs: 100, what: 'another pod taking the leader Lease' },
  );
  const takeover = Date.now() - killedAt;
  await eventually(
    () => secretData(nc.c, team, 'db'),
    (d) => classify(d, old, next) === 'new',
    { timeoutMs: 90_000, intervalMs: 100, what: 'the managed Secret holding both new values' },
  );
  const replaced = await replacement;
  if ('error' in replaced) throw replaced.error;
  const afterNames = replaced.pods.map((p) => p.metadata!.name!);
  expect(afterNames).not.toContain(crashed);
  const gone = await nc.c.core
    .readNamespacedPod({ namespace: RELEASE_NAMESPACE, name: crashed })
    .catch((e) => e);
  expect(isStatus(gone, 404)).toBe(true);
  // One survivor and one new pod.
  expect(afterNames.filter((n) => before.some((p) => p.metadata!.name === n))).toHaveLength(1);
  const leading = await leader(nc);
  expect(leading).not.toBe(crashed);
  const newLeaderIs = before.some((p) => p.metadata!.name === newLeader) ? 'the survivor' : 'the new pod';
  expect(afterNames).toContain(leading);
  const binding = await waitForReady(nc.c, team, 'db', {}, 60_000);
  expect(binding.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('Synced');

  const lines = await waitForFiles(trainer, 'db', next, 'changed', rotatedAt, 180_000);
  const filesAt = Math.max(
    ...lines.filter((l) => l.event === 'changed').map((l) => Date.parse(l.ts) - rotatedAt),
  );
  expect(await trainerContainer(trainer)).toMatchObject({ phase: 'Running', restarts: 0 });
  expect(lines.filter((l) => l.event === 'removed' || l.event === 'stopped')).toEqual([]);

  await sleep(2_000);
  watchingLease = false;
  await leaseWatch;
  await observer.stop();
  const states = observer.states();
  const firstNew = observer.seen.find((o) => o.state === 'new');
  // Every state either all old or all new, never absent, and never back to old once new (in
  // the watch's order, and in the poll's: a GET started after the last one answered).
  expect(states.filter((s) => s !== 'old' && s !== 'new')).toEqual([]);
  for (const via of ['watch', 'poll'] as const) {
    const seen = observer.states(via);
    expect(seen).toContain('new');
    expect(seen.slice(seen.indexOf('new')).filter((s) => s !== 'new')).toEqual([]);
  }
  expect(observer.states('poll')).toContain('old');
  // A crash: the Lease was never released (a graceful stop sets holderIdentity to '').
  expect([...holders].filter((h) => h !== crashed && h !== newLeader)).toEqual([]);

  const by = firstNew!.at <= killedAt ? 'the old leader, before the kill' : 'the new leader';
  console.log(
    `[e2e] leader ${crashed} crashed (SIGKILL + delete, grace 0) ${seconds(killedAt - rotatedAt)} after the store ` +
      `changed: Lease taken by ${newLeader} (${newLeaderIs}) after ${seconds(takeover)}; Secret rotated by ${by} ` +
      `${seconds(firstNew!.at - rotatedAt)} after the store change; 2 Ready pods again after ${seconds(replaced.at - killedAt)}; ` +
      `the trainer's files changed ${seconds(filesAt)} after the store change; ` +
      `${observer.seen.length} observations (watch ${observer.states('watch').length}, poll ${observer.states('poll').length}, ` +
      `watch restarts ${observer.watchRestarts}): ${states.filter((s) => s === 'old').length} old then ` +
      `${states.filter((s) => s === 'new').length} new, none mixed`,
  );
}, 420_000);

test('operator scaled to 0: a pod needing a new binding Secret is admitted and waits for it, then starts once the operator is back', async () => {
  const value = plant('offline-token');
  try {
    await readyOperatorPods(nc, 2);
    await nc.kubectl('scale', DEPLOYMENT, '-n', RELEASE_NAMESPACE, '--replicas=0');
    const scaledAt = Date.now();
    await eventually(
      () => nc.c.core.listNamespacedPod({ namespace: RELEASE_NAMESPACE, labelSelector: OPERATOR_PODS }),
      (list) => list.items.length === 0,
      { timeoutMs: 120_000, intervalMs: 250, what: 'no operator pod' },
    );
    const downAfter = Date.now() - scaledAt;

    await putSourceSecret(nc.c, team, 'offline-source', { token: value });
    await createBinding(nc.c, team, 'offline', {
      storeRef: { kind: 'SecretStore', name: 'source' },
      data: [{ secretKey: 'TOKEN', remoteRef: { key: 'offline-source', property: 'token' } }],
      projection: { as: 'volume' },
    });
    const pod = (name: string, volume: boolean): k8s.V1Pod => ({
      metadata: { name, labels: { 'mlsecrets.io/binding': 'offline' } },
      spec: {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'reader',
            image: IMAGES.busybox,
            imagePullPolicy: 'Never',
            command: volume
              ? ['sh', '-c', 'printf %s "$(cat /etc/creds/TOKEN)" | sha256sum']
              : ['sh', '-c', 'echo started'],
            ...(volume && { volumeMounts: [{ name: 'creds', mountPath: '/etc/creds', readOnly: true }] }),
          },
        ],
        // The binding's Secret by name, not optional: the kubelet cannot start the pod without it.
        ...(volume && { volumes: [{ name: 'creds', secret: { secretName: 'offline', optional: false } }] }),
      },
    });
    // Admitted while the webhook has no endpoint (failurePolicy Ignore), not injected.
    const admitStart = Date.now();
    const created = await nc.c.core.createNamespacedPod({
      namespace: team,
      body: pod('offline-reader', true),
    });
    const admitted = Date.now() - admitStart;
    expect(created.metadata?.annotations?.['mlsecrets.io/injected']).toBeUndefined();
    expect(created.spec?.volumes?.filter((v) => v.secret).map((v) => v.secret!.secretName)).toEqual([
      'offline',
    ]);
    // The same pod without the volume, created at the same moment, runs: the node would have
    // run the reader in that time too.
    await nc.c.core.createNamespacedPod({ namespace: team, body: pod('offline-control', false) });

    // The kubelet tried to mount the Secret and could not...
    const failed = await eventually(
      () => eventsFor(nc.c, team, 'offline-reader'),
      (events) => events.some((e) => e.reason === 'FailedMount'),
      { timeoutMs: 60_000, intervalMs: 500, what: 'a FailedMount Event on the reader' },
    );
    expect(failed.find((e) => e.reason === 'FailedMount')?.message).toMatch(/secret "offline" not found/);
    // ...and for as long as the Secret does not exist, the reader does not run.
    const holdFrom = Date.now();
    let samples = 0;
    while (Date.now() - holdFrom < 8_000) {
      const reader = await nc.c.core.readNamespacedPod({ namespace: team, name: 'offline-reader' });
      expect(reader.spec?.nodeName).toBeTruthy();
      expect(reader.status?.phase).toBe('Pending');
      expect(reader.status?.containerStatuses?.[0]?.state?.running).toBeUndefined();
      samples++;
      await sleep(500);
    }
    expect(await secretData(nc.c, team, 'offline')).toBeUndefined();
    // Nobody reconciled the binding meanwhile.
    expect((await getBinding(nc.c, team, 'offline')).status?.conditions).toBeUndefined();
    const controlPod = await podInPhase(nc, team, 'offline-control', ['Succeeded', 'Failed'], 60_000);
    expect(controlPod.status?.phase).toBe('Succeeded');

    await nc.kubectl('scale', DEPLOYMENT, '-n', RELEASE_NAMESPACE, '--replicas=2');
    const upAt = Date.now();
    await eventually(
      () => secretData(nc.c, team, 'offline'),
      (d) => d?.TOKEN === value,
      { timeoutMs: 180_000, intervalMs: 250, what: 'the binding Secret issued by the operator' },
    );
    const issued = Date.now() - upAt;
    const reader = await podInPhase(nc, team, 'offline-reader', ['Succeeded', 'Failed'], 240_000);
    const ran = Date.now() - upAt;
    expect(reader.status?.phase).toBe('Succeeded');
    expect((await nc.kubectl('logs', '-n', team, 'offline-reader')).slice(0, 12)).toBe(fingerprint(value));
    await readyOperatorPods(nc, 2, 180_000);
    await waitForReady(nc.c, team, 'offline', {}, 60_000);
    console.log(
      `[e2e] operator scaled to 0: no pod after ${seconds(downAfter)}; the reader admitted in ${seconds(admitted)} ` +
        `without injection, Pending for ${samples} samples over 8s while the control pod ran; after scaling to 2 the ` +
        `Secret was issued in ${seconds(issued)} and the reader had run in ${seconds(ran)}`,
    );
  } finally {
    // Whatever happened above, the next test finds the operator as installed.
    await nc.kubectl('scale', DEPLOYMENT, '-n', RELEASE_NAMESPACE, '--replicas=2');
    await readyOperatorPods(nc, 2, 180_000).catch(() => undefined);
  }
}, 600_000);

test('the kubelet restarts: the running trainer pod is not touched and its mounted Secret still rotates', async () => {
  await readyOperatorPods(nc, 2, 180_000);
  const v1 = newPair('kubelet-v1');
  const v2 = newPair('kubelet-v2');
  await bindPair('kubelet', 'kubelet-source', v1);
  const trainer = 'trainer-kubelet';
  await startTrainer(trainer, 'kubelet', v1);
  const before = await trainerContainer(trainer);
  expect(before).toMatchObject({ phase: 'Running', restarts: 0 });
  expect(before.id).toMatch(/^containerd:\/\//);

  const node = nc.cluster.node!;
  const kubeletPid = node.processes.find((p) => p.name === 'kubelet')!.pid;
  const restartAt = Date.now();
  await node.restartKubelet();
  const restarted = Date.now() - restartAt;
  expect(node.processes.find((p) => p.name === 'kubelet')!.pid).not.toBe(kubeletPid);
  // Ready again by the new kubelet's word: the Node's Ready condition stays True for 40 s
  // without any kubelet, so a heartbeat after the restart is what counts (the node Lease's
  // renewal, in microseconds, and the condition's, in whole seconds).
  const nodeLease = await eventually(
    () => coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: node.name }),
    (l) => l.spec?.renewTime !== undefined && new Date(l.spec.renewTime).getTime() > restartAt,
    { timeoutMs: 60_000, intervalMs: 250, what: 'the node Lease renewed by the new kubelet' },
  );
  const renewedAfter = new Date(nodeLease.spec!.renewTime!).getTime() - restartAt;
  await eventually(
    () => nc.c.core.readNode({ name: node.name }),
    (n) => {
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
      const beat = ready?.lastHeartbeatTime ? new Date(ready.lastHeartbeatTime).getTime() : 0;
      return ready?.status === 'True' && beat >= Math.floor(restartAt / 1000) * 1000;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `node ${node.name} Ready, posted by the new kubelet` },
  );
  const readyAfter = Date.now() - restartAt;
  // The new kubelet reports the pod as the old one did: same container, never restarted.
  await sleep(5_000);
  expect(await trainerContainer(trainer)).toEqual(before);

  // A rotation made after the restart reaches the file: the mount is still live.
  await readyOperatorPods(nc, 2, 120_000);
  await putPair('kubelet-source', v2);
  const rotatedAt = Date.now();
  const lines = await waitForFiles(trainer, 'kubelet', v2, 'changed', rotatedAt, 180_000);
  const filesAt = Date.now() - rotatedAt;
  expect(await trainerContainer(trainer)).toEqual(before);
  const afterRestart = lines.filter((l) => Date.parse(l.ts) >= restartAt);
  // After the restart the trainer printed only the rotation: no `removed` file, no `stopped`,
  // and no `file` line a restarted trainer would print again.
  expect(afterRestart.filter((l) => l.event !== 'changed')).toEqual([]);
  expect(lines.filter((l) => l.event === 'removed' || l.event === 'stopped')).toEqual([]);
  console.log(
    `[e2e] kubelet restarted in ${seconds(restarted)}, node Lease renewed after ${seconds(renewedAfter)}, ` +
      `Ready posted by the new kubelet after ${seconds(readyAfter)}; trainer kept container ` +
      `${before.id!.slice(13, 25)}, 0 restarts; a rotation after the restart reached its files in ${seconds(filesAt)}`,
  );

  // Those checks see a trainer that was stopped: SIGTERM to its process prints `stopped`, the
  // kubelet starts a new container, and the restart count and container id change.
  await nc.kubectl('exec', '-n', team, trainer, '--', 'sh', '-c', 'kill -TERM 1');
  const again = await eventually(
    () => trainerContainer(trainer),
    (s) => (s.restarts ?? 0) >= 1 && s.id !== undefined && s.id !== before.id,
    { timeoutMs: 60_000, intervalMs: 250, what: 'the trainer restarted after SIGTERM' },
  );
  expect(again.id).not.toBe(before.id);
  expect((await trainerLines(trainer, true)).map((l) => l.event)).toContain('stopped');
}, 420_000);

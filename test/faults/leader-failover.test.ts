// Fault: leader failover with two replicas, each an OS process (`node src/main.ts
// --leader-elect=true`). (1) The leader is killed with SIGKILL: the other takes the Lease and
// reconciles a change made at the moment of the kill; the seconds are printed, with the
// default timings (lease 10 s) and with short ones. (2) The leader loses the Lease without
// dying: SIGSTOP for longer than the lease, the other takes over, then SIGCONT. With the new
// leader frozen meanwhile (a window shorter than its renew deadline), every write the API
// server sees is the old leader's: there must be none, and the old leader must exit.
import fs from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/api/labels.ts';
import { KubeHttp } from '../../src/runtime/http.ts';
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
  patchBindingSpec,
  putSourceSecret,
  secretData,
  type Clients,
} from '../harness/resources.ts';

const team = 'failover-team';
const source = 'failover-source';
const BINDINGS = ['one', 'two', 'three', 'four', 'five'];

let cluster: PrivateCluster | undefined;
let cp: ControlPlane;
let c: Clients;
let http: KubeHttp;
let kc: k8s.KubeConfig;
let logDir: string;
const started: OperatorProcess[] = [];

interface Replica {
  id: string;
  proc: OperatorProcess;
}

async function startReplicas(lease: string, extra: string[]): Promise<Replica[]> {
  const out: Replica[] = [];
  for (const id of [`${lease}-a`, `${lease}-b`]) {
    const proc = await startOperatorProcess({
      name: id,
      kubeconfigPath: cp.kubeconfigPath,
      namespaces: [team, source],
      logDir,
      args: ['--leader-elect=true', `--instance=${id}`, `--leader-election-id=${lease}`, ...extra],
    });
    started.push(proc);
    out.push({ id, proc });
  }
  await Promise.all(out.map((r) => r.proc.ready()));
  return out;
}

async function holder(lease: string): Promise<string | undefined> {
  try {
    const object = await http.request<{ spec: { holderIdentity?: string } }>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases/${lease}`,
    );
    return object.spec.holderIdentity || undefined;
  } catch {
    return undefined;
  }
}

/** Every managed Secret holds `value`. */
async function allHold(value: string, timeoutMs: number): Promise<void> {
  await eventually(
    () => Promise.all(BINDINGS.map((b) => secretData(c, team, b))),
    (all) => all.every((d) => d?.TOKEN === value),
    { what: `every Secret holding the new value`, timeoutMs, intervalMs: 50 },
  );
}

/** Everything the API server stores in the team namespace that the operator writes, as seen by watches. */
class WriteRecorder {
  readonly writes: string[] = [];
  /** When the last write other than a Lease renewal by `renewer` was seen. */
  lastWriteAt = Date.now();
  renewer?: string;
  private readonly abort = new AbortController();
  private readonly done: Promise<void>[] = [];

  async start(): Promise<void> {
    const watched = [
      {
        path: `/api/v1/namespaces/${team}/secrets`,
        query: { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` },
      },
      { path: `/apis/mlsecrets.io/v1alpha1/namespaces/${team}/secretbindings`, query: {} },
      { path: `/api/v1/namespaces/${team}/events`, query: {} },
      { path: `/api/v1/namespaces/${OPERATOR_NAMESPACE}/secrets`, query: {} },
      { path: `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases`, query: {} },
    ];
    for (const { path: p, query } of watched) {
      const list = await http.request<{ metadata: { resourceVersion: string } }>('GET', p, { query });
      let resourceVersion = list.metadata.resourceVersion;
      this.done.push(
        (async () => {
          while (!this.abort.signal.aborted) {
            try {
              await http.watch(
                p,
                { ...query, resourceVersion },
                (event) => {
                  const meta = (event.object as { metadata?: k8s.V1ObjectMeta }).metadata;
                  if (meta?.resourceVersion) resourceVersion = meta.resourceVersion;
                  if (event.type === 'BOOKMARK') return;
                  // A renewal by the replica named `renewer` is its own, whatever the moment.
                  const holderIdentity = (event.object as { spec?: { holderIdentity?: string } }).spec
                    ?.holderIdentity;
                  if (p.endsWith('/leases') && this.renewer && holderIdentity === this.renewer) return;
                  this.lastWriteAt = Date.now();
                  // Who wrote it, by the API server's record: field manager, subresource, time.
                  const managers = (meta?.managedFields ?? [])
                    .map((f) => `${f.manager}${f.subresource ? `/${f.subresource}` : ''}@${String(f.time)}`)
                    .join(' ');
                  this.writes.push(
                    `${event.type} ${p.split('/').pop()}/${meta?.name} rv ${meta?.resourceVersion} seen ${new Date().toISOString()} [${managers}]`,
                  );
                },
                this.abort.signal,
              );
            } catch {
              if (!this.abort.signal.aborted) await sleep(100);
            }
          }
        })(),
      );
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.done);
  }
}

beforeAll(async () => {
  cluster = await startPrivateCluster([team, source], { prefix: 'mlsecrets-fault-failover-' });
  ({ cp, kc, c } = cluster);
  logDir = path.join(cluster.dir, 'operators');
  http = new KubeHttp(kc);
  await putSourceSecret(c, source, 'token', { token: plant('initial') });
  await createStore(c, 'ClusterSecretStore', 'failover-store', {
    provider: { kubernetes: { namespace: source } },
  });
  for (const name of BINDINGS) {
    await createBinding(c, team, name, {
      storeRef: { kind: 'ClusterSecretStore', name: 'failover-store' },
      data: [{ secretKey: 'TOKEN', remoteRef: { key: 'token', property: 'token' } }],
      lifetime: { ttl: '1h', refreshInterval: '1s' },
    });
  }
}, 180_000);

afterAll(async () => {
  for (const p of started) await p.stop(0);
  // The suite-wide leak scan of this cluster's Events and status, then the cluster goes.
  await cluster?.stop();
});

afterEach(async () => {
  // Each test starts its own pair; none may outlive it (a stopped process is continued first).
  for (const p of started) {
    try {
      process.kill(p.pid, 'SIGCONT');
    } catch {
      // gone already
    }
    await p.stop(0);
  }
});

const timings: [string, string[], number][] = [
  ['default timings (lease 10s, renew deadline 7s, retry 2s)', [], 15],
  [
    'short timings (lease 4s, renew deadline 3s, retry 1s)',
    [
      '--leader-election-lease-duration=4s',
      '--leader-election-renew-deadline=3s',
      '--leader-election-retry-period=1s',
    ],
    8,
  ],
];

test.each(timings)(
  'a leader killed with SIGKILL is replaced, and the change made then applied, in time: %s',
  async (label, args, goalSeconds) => {
    const lease = `kill-${args.length ? 'short' : 'default'}`;
    const replicas = await startReplicas(lease, args);
    const leaderId = await eventually(
      () => holder(lease),
      (h) => h !== undefined,
      {
        what: 'a leader',
        timeoutMs: 30_000,
      },
    );
    const leader = replicas.find((r) => r.id === leaderId)!;
    const follower = replicas.find((r) => r !== leader)!;
    const before = plant('before');
    await putSourceSecret(c, source, 'token', { token: before });
    await allHold(before, 30_000);

    // Wait for a fresh renewal, then kill right after it: the worst case, a full lease to wait out.
    const renewed = async () =>
      (
        await http.request<{ spec: { renewTime?: string } }>(
          'GET',
          `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases/${lease}`,
        )
      ).spec.renewTime;
    const last = await renewed();
    await eventually(renewed, (t) => t !== last, { what: 'a renewal', timeoutMs: 20_000, intervalMs: 20 });
    await leader.proc.stop(0);
    const killedAt = Date.now();
    const after = plant('after');
    await putSourceSecret(c, source, 'token', { token: after });
    const newHolder = await eventually(
      () => holder(lease),
      (h) => h === follower.id,
      {
        what: 'the follower taking the Lease',
        timeoutMs: 60_000,
        intervalMs: 50,
      },
    );
    const takeover = (Date.now() - killedAt) / 1000;
    await allHold(after, 60_000);
    const failover = (Date.now() - killedAt) / 1000;
    console.log(
      `[fault] leader failover, ${label}: Lease taken by ${newHolder} ${takeover.toFixed(1)}s after SIGKILL; ` +
        `the change made at the kill reconciled by the new leader after ${failover.toFixed(1)}s (goal < ${goalSeconds}s)`,
    );
    expect(failover).toBeLessThan(goalSeconds);
    for (const name of BINDINGS) {
      const ready = (await getBinding(c, team, name)).status?.conditions?.find((x) => x.type === 'Ready');
      expect(ready?.status).toBe('True');
    }
  },
  180_000,
);

test('a leader paused past its lease (SIGSTOP), then resumed, writes nothing and exits', async () => {
  const lease = 'paused';
  const replicas = await startReplicas(lease, []);
  const oldId = await eventually(
    () => holder(lease),
    (h) => h !== undefined,
    { what: 'a leader', timeoutMs: 30_000 },
  );
  const old = replicas.find((r) => r.id === oldId)!;
  const next = replicas.find((r) => r !== old)!;
  const v1 = plant('paused-v1');
  await putSourceSecret(c, source, 'token', { token: v1 });
  await allHold(v1, 30_000);

  // The leader freezes with work queued (1 s refreshes); meanwhile the source and a spec change.
  process.kill(old.proc.pid, 'SIGSTOP');
  const stoppedAt = Date.now();
  const v2 = plant('paused-v2');
  await putSourceSecret(c, source, 'token', { token: v2 });
  await patchBindingSpec(c, team, 'one', { target: { labels: { changed: 'while-paused' } } } as never);
  await eventually(
    () => holder(lease),
    (h) => h === next.id,
    {
      what: 'the other replica taking the Lease',
      timeoutMs: 60_000,
    },
  );
  const takeover = (Date.now() - stoppedAt) / 1000;
  await allHold(v2, 30_000);
  await eventually(
    () => c.core.readNamespacedSecret({ namespace: team, name: 'one' }),
    (s) => s.metadata?.labels?.changed === 'while-paused',
    { what: 'the spec change applied by the new leader' },
  );

  // Freeze the new leader too (for less than its renew deadline), so that every write the API
  // server takes from now on is the old leader's; give the old leader fresh work, and wake it.
  const recorder = new WriteRecorder();
  recorder.renewer = next.id; // its Lease renewals carry its name: never the old leader's
  await recorder.start();
  // Freeze the new leader only once it has been quiet for a while, so that no write of its own
  // is still on its way to the API server when the window opens.
  await eventually(
    async () => Date.now() - recorder.lastWriteAt,
    (quietMs) => quietMs > 1_500,
    { what: 'the new leader quiet', timeoutMs: 30_000 },
  );
  const stray = recorder.writes.length;
  process.kill(next.proc.pid, 'SIGSTOP');
  const v3 = plant('paused-v3');
  await putSourceSecret(c, source, 'token', { token: v3 });
  await sleep(500);
  const beforeWake = recorder.writes.length;
  process.kill(old.proc.pid, 'SIGCONT');
  const wokeAt = Date.now();
  console.log(
    `[fault] old leader ${old.id} resumed at ${new Date(wokeAt).toISOString()}; new leader ${next.id} frozen`,
  );
  // The new leader must stay frozen for less than its renew deadline (7 s, counted from its
  // last renewal up to 2 s before the freeze): the window ends 1 s after the old leader exits,
  // 2.5 s after waking it at most.
  const exit = await Promise.race([old.proc.exited, sleep(2_500).then(() => 'still running' as const)]);
  const exitedAt = Date.now();
  await sleep(1_000); // anything it sent has landed
  const windowWrites = recorder.writes.slice(beforeWake);
  process.kill(next.proc.pid, 'SIGCONT');
  await recorder.stop();

  // The old process's own account: it noticed, refused, and exited.
  const log = fs.readFileSync(old.proc.logFile, 'utf8');
  const refused = log.split('\n').filter((l) => l.includes('NotLeaderError')).length;
  console.log(
    `[fault] leader paused by SIGSTOP: Lease taken over ${takeover.toFixed(1)}s after the pause; ` +
      `after SIGCONT the old leader made ${windowWrites.length} writes (${refused} refused by its lease check) ` +
      `and exited ${exit === 'still running' ? 'NOT within 2.5s' : `with code ${exit} ${((exitedAt - wokeAt) / 1000).toFixed(1)}s after waking`}` +
      (stray !== beforeWake
        ? ` (${beforeWake - stray} writes by the new leader before its freeze ignored)`
        : ''),
  );
  expect(windowWrites).toEqual([]);
  expect(exit).toBe(1);
  expect(log).toContain('lost leadership');

  // The new leader carries on: the change made during the window is applied once it runs again.
  await allHold(v3, 30_000);
  expect(await holder(lease)).toBe(next.id);
  const texts: Record<string, string> = await operatorOutputs(c, [team, source]);
  for (const file of fs.readdirSync(logDir))
    texts[`log ${file}`] = fs.readFileSync(path.join(logDir, file), 'utf8');
  expect(findLeaks(texts)).toEqual([]);
}, 240_000);

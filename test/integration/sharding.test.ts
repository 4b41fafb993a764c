// --shards=auto with real OS processes: three operator replicas share 1,000 bindings through
// member Leases and a consistent-hash ring. In a steady state every binding is reconciled by
// exactly one replica; after one replica is SIGKILLed (its Lease left to expire), a change to
// every binding still reaches every Secret. Figures are printed: bindings per replica and the
// seconds from the kill to full coverage.
import fs from 'node:fs';
import path from 'node:path';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { startOperatorProcess, type OperatorProcess } from '../harness/operator-process.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  patchBindingSpec,
  putSourceSecret,
  type BindingObject,
} from '../harness/resources.ts';
import { testEnv } from '../harness/test-env.ts';

const N = 1_000;
const LEASE_SECONDS = 10;
const c = clients(testKubeConfig());
const store = `shard-${Date.now().toString(36)}`;
const names = Array.from({ length: N }, (_, i) => `b-${String(i).padStart(4, '0')}`);
const instances = ['shard-a', 'shard-b', 'shard-c'];
let team: string;
let operatorNamespace: string;
const procs: OperatorProcess[] = [];
const TIMEOUT_MS = 420_000; // generous: the machine is shared; the run is printed

/** Runs `work` over `items` with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

const spec = (secretKey: string) => ({
  storeRef: { kind: 'ClusterSecretStore' as const, name: store },
  data: [{ secretKey, remoteRef: { key: 'source', property: 'token' } }],
});

async function listBindings(): Promise<BindingObject[]> {
  const list = (await c.custom.listNamespacedCustomObject({
    group: 'mlsecrets.io',
    version: 'v1alpha1',
    namespace: team,
    plural: 'secretbindings',
  })) as { items: BindingObject[] };
  return list.items;
}

/** Bindings Ready at their current generation. */
async function readyCount(): Promise<number> {
  return (await listBindings()).filter((b) => {
    const ready = b.status?.conditions?.find((x) => x.type === 'Ready');
    return ready?.status === 'True' && ready.observedGeneration === b.metadata.generation;
  }).length;
}

/** Managed Secrets whose data has exactly the key `secretKey` (names only; values not read). */
async function secretsWithKey(secretKey: string): Promise<number> {
  const list = await c.core.listNamespacedSecret({
    namespace: team,
    labelSelector: 'app.kubernetes.io/managed-by=mlsecrets',
  });
  return list.items.filter((s) => {
    const keys = Object.keys(s.data ?? {});
    return keys.length === 1 && keys[0] === secretKey;
  }).length;
}

/** JSON log lines a process wrote after byte `from`. */
function logLines(proc: OperatorProcess, from = 0): Record<string, unknown>[] {
  const text = fs.readFileSync(proc.logFile).subarray(from).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** Binding name → the replicas that reconciled it after the given log offsets. */
function reconcilers(offsets: number[], among: number[]): Map<string, Set<string>> {
  const byBinding = new Map<string, Set<string>>();
  for (const i of among) {
    for (const line of logLines(procs[i]!, offsets[i])) {
      if (line.message !== 'reconciled') continue;
      const key = String(line.key);
      if (!key.startsWith(`b:${team}/`)) continue;
      const name = key.slice(`b:${team}/`.length);
      if (!byBinding.has(name)) byBinding.set(name, new Set());
      byBinding.get(name)!.add(instances[i]!);
    }
  }
  return byBinding;
}

async function metric(proc: OperatorProcess, name: string): Promise<number> {
  const text = await (await fetch(proc.metricsUrl)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

const phases: string[] = [];
let phaseStart = Date.now();
/** Records how long the phase that just ended took (printed with the figures). */
function phase(name: string): void {
  phases.push(`${name} ${((Date.now() - phaseStart) / 1000).toFixed(1)}s`);
  phaseStart = Date.now();
}

const sizes = () => procs.map((p) => fs.statSync(p.logFile).size);

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'shard');
  // An operator namespace of its own: the member Leases of this test meet no others.
  operatorNamespace = await createTestNamespace(c.core, 'shard-ops');
  await putSourceSecret(c, team, 'source', { token: 'not-a-secret-just-a-test' });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: team } } });
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await deleteClusterStore(c, store).catch(() => undefined);
  await c.core.deleteNamespace({ name: team }).catch(() => undefined);
  await c.core.deleteNamespace({ name: operatorNamespace }).catch(() => undefined);
});

test(
  'three replicas share 1,000 bindings: one reconciler per binding, full coverage after a SIGKILL',
  async () => {
    const started = Date.now();
    phaseStart = started;
    // 1,000 bindings, created 32 at a time before the replicas start (their first lists hold
    // them all: the initial sync is the first round of work).
    await pool(names, 32, (name) => createBinding(c, team, name, spec('TOKEN')));
    phase('create');
    const logDir = path.join(testEnv('workDir'), 'logs', `sharding-${Date.now().toString(36)}`);
    for (const instance of instances) {
      procs.push(
        await startOperatorProcess({
          name: instance,
          kubeconfigPath: testEnv('kubeconfig'),
          namespaces: [team],
          logDir,
          args: [
            '--shards=auto',
            // As the chart runs it: leader election on, which shards=auto must override.
            '--leader-elect=true',
            `--instance=${instance}`,
            `--shard-lease-duration=${LEASE_SECONDS}s`,
            `--operator-namespace=${operatorNamespace}`,
            '--workers=8',
          ],
        }),
      );
    }
    const startedAt = Date.now();
    await Promise.all(procs.map((p) => p.ready(90_000)));
    phase('start');
    // Membership settled: every replica sees three members and has taken work (joined).
    await eventually(
      async () =>
        procs.map((p) =>
          logLines(p).some(
            (l) =>
              l.message === 'shard membership changed' &&
              l.active === true &&
              (l.members as string[]).length === 3,
          ),
        ),
      (joined) => joined.every(Boolean),
      { timeoutMs: 60_000, intervalMs: 500, what: 'three active shard members' },
    );
    expect(await Promise.all(procs.map((p) => metric(p, 'mlsecrets_shard_members')))).toEqual([3, 3, 3]);
    phase('join');

    await eventually(readyCount, (n) => n === N, {
      timeoutMs: 150_000,
      intervalMs: 3_000,
      what: `${N} bindings Ready`,
    });
    const readySeconds = (Date.now() - startedAt) / 1000;
    phase('ready');
    const owned = await eventually(
      () => Promise.all(procs.map((p) => metric(p, 'mlsecrets_shard_owned_bindings'))),
      (counts) => counts.reduce((a, b) => a + b, 0) === N,
      { what: 'owned bindings adding up to N' },
    );

    // Steady state: touch every binding (a spec change: the Secret's key is renamed) and check
    // from the logs that each was reconciled by exactly one replica.
    let offsets = sizes();
    await pool(names, 32, (name) => patchBindingSpec(c, team, name, spec('TOKEN2')));
    phase('touch');
    await eventually(
      () => secretsWithKey('TOKEN2'),
      (n) => n === N,
      {
        timeoutMs: 120_000,
        intervalMs: 3_000,
        what: `${N} Secrets with TOKEN2`,
      },
    );
    phase('applied');
    await eventually(readyCount, (n) => n === N, {
      timeoutMs: 60_000,
      intervalMs: 3_000,
      what: 'Ready again',
    });
    phase('ready again');
    const steady = reconcilers(offsets, [0, 1, 2]);
    const perReplica = instances.map((i) => [...steady.values()].filter((s) => s.has(i)).length);
    expect(steady.size).toBe(N);
    expect([...steady.entries()].filter(([, s]) => s.size !== 1).map(([name, s]) => [name, [...s]])).toEqual(
      [],
    );
    expect(perReplica).toEqual(owned); // the replicas reconciled exactly the shares they report
    for (const share of perReplica) expect(share).toBeGreaterThan(N / 3 / 2); // no replica idle or starved

    // SIGKILL one replica: its Lease is not released and must expire.
    const victim = 2;
    const victimShare = [...steady.entries()].filter(([, s]) => s.has(instances[victim]!)).map(([n]) => n);
    offsets = sizes();
    const killedAt = Date.now();
    await procs[victim]!.stop(0);
    phase('kill');
    await pool(names, 32, (name) => patchBindingSpec(c, team, name, spec('TOKEN3')));
    phase('touch');
    await eventually(
      () => secretsWithKey('TOKEN3'),
      (n) => n === N,
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: `${N} Secrets with TOKEN3 after the kill`,
      },
    );
    phase('applied');
    const coverSeconds = (Date.now() - killedAt) / 1000;
    await eventually(readyCount, (n) => n === N, {
      timeoutMs: 60_000,
      intervalMs: 3_000,
      what: 'Ready after kill',
    });
    const after = reconcilers(offsets, [0, 1]);
    expect(after.size).toBe(N);
    expect([...after.entries()].filter(([, s]) => s.size !== 1).map(([name, s]) => [name, [...s]])).toEqual(
      [],
    );
    const survivorsShare = [0, 1].map((i) => [...after.values()].filter((s) => s.has(instances[i]!)).length);
    // When each survivor dropped the victim from its ring (its Lease expired), from the logs.
    const droppedAfter = [0, 1].map((i) => {
      const line = logLines(procs[i]!, offsets[i]).find(
        (l) =>
          l.message === 'shard membership changed' && !(l.members as string[]).includes(instances[victim]!),
      );
      return line ? (Date.parse(String(line.timestamp)) - killedAt) / 1000 : NaN;
    });
    const members = await Promise.all([0, 1].map((i) => metric(procs[i]!, 'mlsecrets_shard_members')));
    expect(members).toEqual([2, 2]);

    console.log(
      [
        `[sharding] ${N} bindings, 3 replicas, shard lease ${LEASE_SECONDS}s`,
        `  all Ready ${readySeconds.toFixed(1)}s after the replicas started`,
        `  bindings per replica (steady state, from logs): ${instances.map((i, k) => `${i}=${perReplica[k]}`).join(' ')}`,
        `  reconciled by more than one replica: 0 of ${N}`,
        `  SIGKILL ${instances[victim]} (owned ${victimShare.length}); every Secret changed ${coverSeconds.toFixed(1)}s after the kill`,
        `  survivors dropped ${instances[victim]} from their rings ${droppedAfter.map((t) => `${t.toFixed(1)}s`).join(' and ')} after the kill`,
        `  survivors after the kill: ${instances[0]}=${survivorsShare[0]} ${instances[1]}=${survivorsShare[1]}`,
        `  phases: ${phases.join(', ')}`,
        `  test ran ${((Date.now() - started) / 1000).toFixed(0)}s`,
      ].join('\n'),
    );
  },
  TIMEOUT_MS,
);

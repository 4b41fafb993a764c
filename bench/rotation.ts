// `npm run bench:rotation`: how long a rotated value takes to reach a file inside a running
// container, on a cluster with a real node and the operator installed by the chart (the image
// built from the Dockerfile). The kubelet keeps its default syncFrequency (1 minute).
//
// A watch-mode trainer pod mounts a binding's Secret (refreshInterval 5s, kubernetes provider).
// Each round changes the value in the store and takes three times: the change, the moment a
// watch of the API server sees the Secret hold the new value (the refresh that read it wrote
// it), and the moment the trainer inside the container saw the new file (its own clock: the
// same machine's). Rounds run first with podRefresh on (the operator annotates the pods that
// mount the Secret), then, after a `helm upgrade`, with it off (the kubelet's periodic sync).
//
//   npm run bench:rotation [-- --rounds 10 --rounds-without 3]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fingerprint, helm, installChart, RELEASE, RELEASE_NAMESPACE, CHART } from '../test/harness/chart.ts';
import { eventually } from '../test/harness/kube.ts';
import { startNodeCluster, type NodeCluster } from '../test/harness/node-cluster.ts';
import { createBinding, createStore, putSourceSecret, waitForReady } from '../test/harness/resources.ts';
import { SecretWatch, startWatchingTrainer, trainerEvents } from '../test/harness/workloads.ts';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '10' }, 'rounds-without': { type: 'string', default: '3' } },
});
const team = 'bench-rotation';

interface Round {
  storeToSecretMs: number;
  secretToFileMs: number;
}

async function setUp(nc: NodeCluster): Promise<void> {
  await nc.c.core.createNamespace({ body: { metadata: { name: team } } });
  await createStore(nc.c, 'SecretStore', 'source', { provider: { kubernetes: { namespace: team } } }, team);
  await putSourceSecret(nc.c, team, 'token-source', { token: randomBytes(16).toString('hex') });
  await createBinding(nc.c, team, 'token', {
    storeRef: { kind: 'SecretStore', name: 'source' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'token-source', property: 'token' } }],
    lifetime: { ttl: '1h', refreshInterval: '5s' },
    projection: { as: 'volume' },
  });
  await waitForReady(nc.c, team, 'token', {}, 60_000);
  await startWatchingTrainer(nc.c.core, team, 'trainer', 'token');
}

async function rotate(nc: NodeCluster, watch: SecretWatch, timeoutMs: number): Promise<Round> {
  const token = randomBytes(16).toString('hex');
  const changed = Date.now();
  await putSourceSecret(nc.c, team, 'token-source', { token });
  const written = await watch.until((d) => d.TOKEN === token, 60_000);
  const lines = await eventually(
    () => trainerEvents(nc, team, 'trainer'),
    (all) => all.some((l) => l.event === 'changed' && l.sha256 === fingerprint(token)),
    { timeoutMs, intervalMs: 200, what: 'the rotated value in the container' },
  );
  const seen = Date.parse(
    String(lines.find((l) => l.event === 'changed' && l.sha256 === fingerprint(token))!.ts),
  );
  return { storeToSecretMs: written - changed, secretToFileMs: seen - written };
}

async function rounds(nc: NodeCluster, count: number, label: string, timeoutMs: number): Promise<Round[]> {
  const watch = await SecretWatch.start(nc.kc, team, 'token');
  const results: Round[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      const round = await rotate(nc, watch, timeoutMs);
      results.push(round);
      console.log(
        `${label} round ${i}/${count}: store to Secret ${(round.storeToSecretMs / 1000).toFixed(2)} s, ` +
          `Secret to file in the container ${(round.secretToFileMs / 1000).toFixed(2)} s`,
      );
    }
  } finally {
    watch.stop();
  }
  return results;
}

function summary(label: string, results: Round[]): string {
  if (results.length === 0) return `| ${label} | 0 | — | — | — |`;
  const s = (ms: number[]) => ms.sort((a, b) => a - b);
  const file = s(results.map((r) => r.secretToFileMs));
  const store = s(results.map((r) => r.storeToSecretMs));
  const p50 = (xs: number[]) => xs[Math.floor((xs.length - 1) / 2)]!;
  const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return `| ${label} | ${results.length} | ${f(p50(file))} | ${f(file.at(-1)!)} | ${f(p50(store))} / ${f(store.at(-1)!)} |`;
}

const nc = await startNodeCluster('bench-rotation');
try {
  await installChart(nc, 'podRefresh.enabled=true');
  await setUp(nc);
  const withRefresh = await rounds(nc, Number(args.rounds), 'podRefresh on', 60_000);
  let without: Round[] = [];
  if (Number(args['rounds-without']) > 0) {
    await helm(
      nc,
      'upgrade',
      RELEASE,
      CHART,
      '--namespace',
      RELEASE_NAMESPACE,
      '--reuse-values',
      '--set',
      'podRefresh.enabled=false',
      '--wait',
    );
    await nc.kubectl('rollout', 'status', '-n', RELEASE_NAMESPACE, 'deployment/mlsecrets', '--timeout=180s');
    // The kubelet's periodic sync (1 minute, up to 50 % jitter) plus its Secret cache.
    without = await rounds(nc, Number(args['rounds-without']), 'podRefresh off', 150_000);
  }
  console.log(
    '\n| podRefresh | rounds | Secret → file, median | Secret → file, max | store → Secret, median / max |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  console.log(summary('on', withRefresh));
  console.log(summary('off (kubelet sync)', without));
} finally {
  await nc.stop();
}

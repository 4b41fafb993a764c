// `npm run bench`: the scale benchmark (bench/README.md). Starts the local control plane and
// moto, seeds K remote secrets, measures a bare-client write floor, starts the operator as a
// separate process, creates N SecretBindings and measures time to Ready, provider calls,
// Kubernetes writes, peak RSS and CPU, a steady-state refresh, rotation and first-sync
// latency. Prints a table, writes bench/results/<date>-<n>.json and an SVG plot.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { loadConnection } from '../src/runtime/connection.ts';
import { KubeHttp } from '../src/runtime/http.ts';
import { startBenchControlPlane } from './control-plane.ts';
import { awsClientConfig, startMoto } from '../test/harness/emulators.ts';
import { freePort } from '../test/harness/ports.ts';
import { sleep, startProcess, waitUntil, type ManagedProcess } from '../test/harness/process.ts';
import { runFloor } from './floor.ts';
import {
  correctSecrets,
  createBinding,
  group,
  isReady,
  placement,
  pool,
  untilAllReady,
  watchReady,
  remoteIndex,
  remoteKey,
  remoteValue,
  watchSecretValues,
  version,
} from './kube.ts';
import {
  apiserverTraffic,
  apiserverWrites,
  cpuByProcess,
  delta,
  isWatchFigure,
  motoRequests,
  operatorProviderCalls,
  operatorTimings,
  operatorWrites,
  percentile,
  ProcSampler,
  readProc,
  total,
  trafficWhere,
  writesOf,
} from './measure.ts';
import { progress, table, writePlot, writePng, writeResult, type BenchResult } from './report.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = path.join(repoRoot, 'bench', 'results');

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '100,1000,10000' },
    'k-ratio': { type: 'string', default: '10' },
    namespaces: { type: 'string', default: '4' },
    workers: { type: 'string', default: '8' },
    'create-concurrency': { type: 'string', default: '16' },
    refresh: { type: 'string', default: '60s' },
    'ready-timeout': { type: 'string', default: '1800' },
    'skip-refresh': { type: 'boolean', default: false },
    'floor-events': { type: 'boolean', default: false },
    'floor-watches': { type: 'boolean', default: false },
    'skip-floor-after': { type: 'boolean', default: false },
    'unobserved-floor': { type: 'boolean', default: false },
  },
});

/** moto's address, set once it runs. */
let motoEndpoint = '';

const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

/** NODE_ENV and NODE_OPTIONS as the Dockerfile's runtime stage sets them (V8 heap sizing). */
function imageEnv(): Record<string, string> {
  const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  const nodeOptions = /\bNODE_OPTIONS=(?:"([^"]*)"|(\S+))/.exec(dockerfile)?.slice(1).find(Boolean) ?? '';
  // glibc malloc tuning (arenas, trim and mmap thresholds).
  const malloc = Object.fromEntries(
    [...dockerfile.matchAll(/\b(MALLOC_[A-Z_]+)=(\d+)/g)].map(([, name, value]) => [name!, value!]),
  );
  // Appended, so NODE_OPTIONS given to the bench (a profiler's --import) still reach the operator.
  return {
    NODE_ENV: 'production',
    NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', nodeOptions].join(' ').trim(),
    ...malloc,
  };
}

function seconds(duration: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(duration);
  if (!m) throw new Error(`bad duration ${duration}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
}

async function main(): Promise<void> {
  const ns = args.n.split(',').map(Number);
  const workers = Number(args.workers);
  const createConcurrency = Number(args['create-concurrency']);
  const nsCount = Number(args.namespaces);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-bench-'));
  const logDir = path.join(workDir, 'logs');
  log(`work dir ${workDir}`);
  // The operator runs as the image runs it: compiled (no type stripping at start-up, which
  // costs ~25 MiB of RSS) and with the image's NODE_OPTIONS.
  execFileSync(
    process.execPath,
    [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: repoRoot,
      stdio: 'inherit',
    },
  );
  const [cp, moto] = await Promise.all([
    startBenchControlPlane(repoRoot, path.join(workDir, 'control-plane'), log),
    startMoto(logDir),
  ]);
  motoEndpoint = moto.endpoint;
  const kubectl = (...a: string[]): string =>
    execFileSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...a], { encoding: 'utf8' });
  try {
    kubectl('apply', '-f', path.join(repoRoot, 'crds'));
    kubectl('create', 'namespace', 'mlsecrets-system');
    kubectl('wait', '--for=condition=Established', '--timeout=60s', '-f', path.join(repoRoot, 'crds'));
    // The operator's own connection code: the floor's client is the operator's client.
    const http = new KubeHttp(await loadConnection(cp.kubeconfigPath));
    const sm = new SecretsManagerClient(awsClientConfig(moto.endpoint));
    let seeded = 0;
    for (const [index, n] of ns.entries()) {
      const k = Math.max(1, Math.floor(n / Number(args['k-ratio'])));
      if (k > seeded) {
        await pool(k - seeded, 16, async (j) => {
          const idx = seeded + j;
          await sm.send(new CreateSecretCommand({ Name: remoteKey(idx), SecretString: remoteValue(idx) }));
        });
        log(`seeded ${k} remote secrets`);
        seeded = k;
      }
      const pids = Object.fromEntries([...cp.processes, moto.process].map((p) => [p.name, p.pid]));
      const result = await benchOne(http, cp.kubeconfigPath, moto.process.logFile, sm, logDir, pids, {
        n,
        k,
        nsCount,
        workers,
        createConcurrency,
        last: index === ns.length - 1,
      });
      console.log(`\n== N=${n} ==\n${table(result)}`);
      log(`wrote ${writeResult(resultsDir, result)}`);
      log(`wrote ${writePlot(resultsDir)}`);
      try {
        log(`wrote ${writePng(resultsDir)}`);
      } catch (error) {
        // The figures are in the JSON and the SVG already: a missing plotting library ends no run.
        log(`no PNG plot: ${(error as Error).message}`);
      }
    }
    sm.destroy();
  } finally {
    await moto.stop();
    await cp.stop();
  }
}

/** Generation of remote secret 0 (rotated once per N); the other remote secrets never change. */
let secret0Generation = 0;

/** One N: floor, operator, steady refresh, rotation and first sync. */
async function benchOne(
  http: KubeHttp,
  kubeconfig: string,
  motoLog: string,
  sm: SecretsManagerClient,
  logDir: string,
  pids: Record<string, number>,
  o: {
    n: number;
    k: number;
    nsCount: number;
    workers: number;
    createConcurrency: number;
    /** The run's last N: nothing follows it on this control plane. */
    last: boolean;
  },
): Promise<BenchResult> {
  const { n, k, workers, createConcurrency } = o;
  const notes: string[] = [];
  const refresh = args.refresh;
  // Each phase writes into namespaces of its own: n<N>-<phase>-<i>.
  const namespacesOf = (phase: string) => Array.from({ length: o.nsCount }, (_, i) => `n${n}-${phase}-${i}`);
  const benchNs = namespacesOf('bench');
  const floorNs = namespacesOf('floor');
  const eventFloorNs = args['floor-events'] ? namespacesOf('floorev') : [];
  const watchFloorNs = args['floor-watches'] ? namespacesOf('floorw') : [];
  await createNamespaces(http, [...benchNs, ...floorNs, ...eventFloorNs, ...watchFloorNs]);
  const credsNs = benchNs[0]!;
  await http.request('POST', `/api/v1/namespaces/${credsNs}/secrets`, {
    body: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'aws-creds' },
      stringData: { 'access-key-id': 'testing', 'secret-access-key': 'testing' },
    },
  });
  const store = `bench-${n}`;
  await http.request('POST', `/apis/${group}/${version}/clustersecretstores`, {
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'ClusterSecretStore',
      metadata: { name: store },
      spec: {
        provider: {
          aws: {
            service: 'SecretsManager',
            region: 'us-east-1',
            endpoint: motoEndpoint,
            auth: {
              secretRef: {
                accessKeyID: { name: 'aws-creds', namespace: credsNs, key: 'access-key-id' },
                secretAccessKey: { name: 'aws-creds', namespace: credsNs, key: 'secret-access-key' },
              },
            },
          },
        },
        rateLimit: { qps: 1000, burst: 1000 },
      },
    },
  });

  // The write floor, before the operator runs (it never watches the floor namespaces).
  log(`N=${n}: write floor`);
  const floorTrafficBefore = apiserverTraffic(kubeconfig);
  const floorCpuBefore = cpuByProcess(pids);
  // Every floor writes the same N bindings at the operator's concurrency, and (unless
  // --unobserved-floor) is timed by the watch that times the operator.
  const floorOptions = {
    n,
    k,
    store,
    refresh,
    createConcurrency,
    workers,
    observe: !args['unobserved-floor'],
  };
  const floor = await runFloor(http, { ...floorOptions, namespaces: floorNs });
  const floorTraffic = delta(apiserverTraffic(kubeconfig), floorTrafficBefore);
  const floorWrites = writesOf(floorTraffic);
  const floorCpu = delta(cpuByProcess(pids), floorCpuBefore);
  log(
    `N=${n}: floor ${floor.seconds.toFixed(2)} s (writes answered at ${floor.writesSeconds.toFixed(2)} s), API server traffic ${JSON.stringify(floorTraffic)}`,
  );
  // A floor variant that writes or reads more than the floor, timed and charged CPU to
  // the moment its time is taken (its last binding seen Ready), as the operator's stop when its
  // last binding is Ready: Events still queued count on neither side.
  const runFloorVariant = async (variant: { events: true } | { watches: true }, namespaces: string[]) => {
    const cpuBefore = cpuByProcess(pids);
    let cpuAtReady: Record<string, number> = {};
    const { seconds, writesSeconds, eventsWrittenSeconds } = await runFloor(http, {
      ...floorOptions,
      ...variant,
      namespaces,
      onStatusPatchesDone: () => (cpuAtReady = cpuByProcess(pids)),
    });
    return { seconds, writesSeconds, eventsWrittenSeconds, cpu: delta(cpuAtReady, cpuBefore) };
  };
  // The same with the Synced Event of every issue (--floor-events): what this design must write.
  let eventFloor: Awaited<ReturnType<typeof runFloorVariant>> | undefined;
  if (args['floor-events']) {
    log(`N=${n}: write floor with Events`);
    eventFloor = await runFloorVariant({ events: true }, eventFloorNs);
    log(
      `N=${n}: floor with Events ${eventFloor.seconds.toFixed(2)} s (last Event written at ${eventFloor.eventsWrittenSeconds?.toFixed(2)} s)`,
    );
  }
  // The same with the operator's informers of its namespaces (--floor-watches): the reads any
  // informer-based controller keeps, which the floor leaves out.
  let watchFloor: Awaited<ReturnType<typeof runFloorVariant>> | undefined;
  if (args['floor-watches']) {
    log(`N=${n}: write floor with the operator's watches`);
    watchFloor = await runFloorVariant({ watches: true }, watchFloorNs);
    log(`N=${n}: floor with the operator's watches ${watchFloor.seconds.toFixed(2)} s`);
  }

  // The floor's objects go before the operator starts: the API server then holds what it held
  // when the floor began (its watch caches and Go heap grow with every object, and a larger
  // heap costs more collection), so both phases write into the same state.
  await deleteNamespaces(
    http,
    kubeconfig,
    [...floorNs, ...eventFloorNs, ...watchFloorNs],
    `N=${n}: deleting the floor namespaces`,
  );

  // The operator, as a separate process watching only the bench namespaces.
  const healthPort = await freePort();
  const metricsPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const motoBefore = motoRequests(motoLog);
  const operator: ManagedProcess = startProcess({
    name: `operator-${n}`,
    command: process.execPath,
    env: { ...process.env, ...imageEnv() },
    args: [
      'dist/main.js',
      '--kubeconfig',
      kubeconfig,
      '--webhook=false',
      '--leader-elect=false',
      `--health-addr=127.0.0.1:${healthPort}`,
      `--metrics-addr=127.0.0.1:${metricsPort}`,
      '--log-level=warn',
      '--audit-log=/dev/null',
      `--workers=${workers}`,
      `--namespaces=${benchNs.join(',')}`,
    ],
    cwd: repoRoot,
    logDir,
  });
  const sampler = new ProcSampler(operator.pid);
  let result: BenchResult;
  sampler.phase = 'start-up';
  sampler.start();
  try {
    await waitUntil('operator ready', async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok, {
      timeoutMs: 60_000,
      process: operator,
    });
    const cpuStart = readProc(operator.pid).cpuSeconds;
    // A fresh process counts from zero: its start-up calls (the store's credentials check)
    // belong to the initial sync on both sides, and no snapshot can fall between them.
    const callsBefore: Record<string, number> = {};
    const trafficBefore = apiserverTraffic(kubeconfig);
    const writesBefore = writesOf(trafficBefore);
    const syncCpuBefore = { ...cpuByProcess(pids), operator: cpuStart };

    log(`N=${n}: creating ${n} bindings`);
    sampler.phase = 'initial sync';
    const tracker = await watchReady(http, benchNs);
    let syncCpu: Record<string, number> = {};
    const started = performance.now();
    let createdCount = 0;
    const creating = pool(n, createConcurrency, async (i) => {
      await createBinding(http, i, benchNs, k, store, refresh);
      createdCount++;
    });
    const deadline = Date.now() + Number(args['ready-timeout']) * 1000;
    let readySeconds = NaN;
    let eventsWrittenByReady: number | undefined;
    let syncTraffic: Record<string, number> = {};
    // From the watches; a full list only to confirm the end, or if a watch failed.
    const { seenAt, ready } = await untilAllReady(http, tracker, benchNs, n, {
      deadline,
      onCheck: (seen) => progress(`N=${n} ready (created ${createdCount})`, seen, n),
    });
    if (seenAt !== undefined) {
      // When the watches saw the last one, not after the confirming list.
      readySeconds = (seenAt - started) / 1000;
      syncCpu = delta({ ...cpuByProcess(pids), operator: readProc(operator.pid).cpuSeconds }, syncCpuBefore);
      // What the API server served during the sync, and how many Events went out meanwhile
      // (the operator holds them through a burst).
      syncTraffic = delta(apiserverTraffic(kubeconfig), trafficBefore);
      eventsWrittenByReady = syncTraffic['POST events'] ?? 0;
    } else {
      process.stderr.write('\n');
      notes.push(`timed out with ${ready}/${n} Ready`);
    }
    await tracker.stop();
    await creating;
    let secretsCorrect = 0;
    for (let tries = 0; tries < 20; tries++) {
      secretsCorrect = await correctSecrets(http, n, k, benchNs, (j) => (j === 0 ? secret0Generation : 0));
      if (secretsCorrect === n) break;
      await sleep(500);
    }
    // Events trail the writes pods wait for (the operator holds them while first syncs are
    // queued): every binding's Synced Event must land before the writes are counted.
    let eventsWrittenSeconds: number | undefined;
    for (const eventsDeadline = Date.now() + 120_000; Date.now() < eventsDeadline; await sleep(250)) {
      const events = operatorWrites(delta(apiserverWrites(kubeconfig), writesBefore))['POST events'] ?? 0;
      if (events >= n) {
        eventsWrittenSeconds = (performance.now() - started) / 1000;
        break;
      }
    }
    if (eventsWrittenSeconds === undefined) notes.push('not every Synced Event was written within 120 s');
    await sleep(1000); // anything else still in flight
    const cpuSync = readProc(operator.pid).cpuSeconds - cpuStart;
    const calls = delta(await operatorProviderCalls(metricsUrl), callsBefore);
    const motoCalls = motoRequests(motoLog) - motoBefore;
    const writes = operatorWrites(delta(apiserverWrites(kubeconfig), writesBefore));
    log(
      `N=${n}: all Ready in ${readySeconds.toFixed(2)} s; calls ${JSON.stringify(calls)} moto ${motoCalls}`,
    );
    log(`N=${n}: API server traffic until all Ready ${JSON.stringify(syncTraffic)}`);

    result = {
      date: new Date().toISOString(),
      machine: {
        nproc: os.availableParallelism(),
        memoryMiB: Math.round(os.totalmem() / 1024 / 1024),
        node: process.version,
        cpu: os.cpus()[0]?.model ?? 'unknown',
      },
      n,
      k,
      namespaces: o.nsCount,
      workers,
      createConcurrency,
      refreshInterval: refresh,
      readySeconds,
      eventsWrittenSeconds,
      eventsWrittenByReady,
      apiserverTraffic: { floor: floorTraffic, initialSync: syncTraffic },
      secretsCorrect,
      floor,
      floorRatio: readySeconds / floor.seconds,
      ...(eventFloor ? { floorWithEvents: { ...eventFloor, ratio: readySeconds / eventFloor.seconds } } : {}),
      ...(watchFloor
        ? { floorWithWatches: { ...watchFloor, ratio: readySeconds / watchFloor.seconds } }
        : {}),
      providerCalls: { operator: calls, operatorTotal: total(calls), moto: motoCalls },
      operator: { peakRssMiB: 0, cpuSeconds: cpuSync },
      kubeWrites: { byKind: writes, total: total(writes) },
      cpuByProcess: { floor: floorCpu, initialSync: syncCpu },
      peakRssMiB: 0,
      peakRssAfter: { initialSync: readProc(operator.pid).peakRssMiB },
      notes,
    };
    notes.push(`floor writes seen by kube-apiserver: ${JSON.stringify(floorWrites)}`);
    // Phases as peakRssAfter splits them.
    sampler.phase = 'steady refresh';

    if (!args['skip-refresh'] && ready >= n) {
      // Steady state: exactly one full refresh with nothing changed. Bindings refresh on
      // wall-clock boundaries (multiples of `refresh`), so the window runs from just before one
      // boundary to just before the next: it holds one refresh of every binding, never two
      // (a window of refresh + sync time did, and counted two refreshes' calls as one).
      const refreshMs = seconds(refresh) * 1000;
      let windowStart = (Math.floor(Date.now() / refreshMs) + 1) * refreshMs - 1000;
      if (windowStart <= Date.now()) windowStart += refreshMs;
      const windowMs = refreshMs;
      log(`N=${n}: steady-state refresh window ${(windowMs / 1000).toFixed(0)} s, one refresh boundary`);
      while (Date.now() < windowStart) {
        progress(
          `N=${n} waiting for a refresh boundary (s)`,
          0,
          Math.ceil((windowStart - Date.now()) / 1000),
        );
        await sleep(Math.min(1000, windowStart - Date.now()));
      }
      const c0 = await operatorProviderCalls(metricsUrl);
      const m0 = motoRequests(motoLog);
      const w0 = apiserverWrites(kubeconfig);
      const cpu0 = readProc(operator.pid).cpuSeconds;
      const t0 = performance.now();
      // Ends exactly 1 s before the next boundary: an overshot sleep would let the next
      // refresh's first calls into one counter and not the other.
      const windowEnd = windowStart + windowMs;
      while (Date.now() < windowEnd) {
        progress(
          `N=${n} steady refresh (s)`,
          Math.floor((performance.now() - t0) / 1000),
          Math.ceil(windowMs / 1000),
        );
        await sleep(Math.min(1000, windowEnd - Date.now()));
      }
      progress(`N=${n} steady refresh (s)`, 1, 1);
      const [sCallsAfter, sMoto] = [await operatorProviderCalls(metricsUrl), motoRequests(motoLog)];
      const sCalls = delta(sCallsAfter, c0);
      const sWrites = operatorWrites(delta(apiserverWrites(kubeconfig), w0));
      result.steadyRefresh = {
        providerCalls: sCalls,
        providerCallsTotal: total(sCalls),
        moto: sMoto - m0,
        writes: sWrites,
        writesTotal: total(sWrites),
        cpuSeconds: readProc(operator.pid).cpuSeconds - cpu0,
        seconds: windowMs / 1000,
      };
      result.peakRssAfter!.steadyRefresh = readProc(operator.pid).peakRssMiB;
      sampler.phase = 'rotation';

      // Rotation of remote secret 0 and first sync of 20 new bindings, in the next refresh.
      const affected = Array.from({ length: n }, (_, i) => i).filter((i) => remoteIndex(i, k) === 0);
      // Remote secret 0 is shared by every N of the run: each rotation moves it one generation on.
      secret0Generation++;
      const rotatedValue = Buffer.from(remoteValue(0, secret0Generation)).toString('base64');
      await sm.send(
        new PutSecretValueCommand({
          SecretId: remoteKey(0),
          SecretString: remoteValue(0, secret0Generation),
        }),
      );
      const tUpdate = performance.now();
      const cBase = total(await operatorProviderCalls(metricsUrl));
      const timings0 = await operatorTimings(metricsUrl);
      let tFired: number | null = null;
      const firstSync: number[] = [];
      let firstSyncStarted = false;
      const rotationDeadline = Date.now() + (seconds(refresh) * 2 + readySeconds + 30) * 1000;
      let rotated = NaN;
      // The first affected Secret to hold the new value: detection vs. propagation.
      let firstRotated = NaN;
      let cpuAtFired: Record<string, number> = {};
      let rotationCpu: Record<string, number> = {};
      const affectedKeys = affected.map((i) => {
        const { namespace, name } = placement(i, benchNs);
        return `${namespace}/${name}`;
      });
      const secretValues = await watchSecretValues(http, benchNs);
      try {
        while (Date.now() < rotationDeadline) {
          // The operator's metrics only until the refresh fires: a scrape is work for the operator.
          if (tFired === null && total(await operatorProviderCalls(metricsUrl)) > cBase) {
            tFired = performance.now();
            cpuAtFired = { ...cpuByProcess(pids), operator: readProc(operator.pid).cpuSeconds };
          }
          if (tFired !== null && !firstSyncStarted) {
            firstSyncStarted = true;
            void measureFirstSync(http, n, k, benchNs, store, refresh, firstSync);
          }
          const seenAt = performance.now();
          if (
            Number.isNaN(firstRotated) &&
            affectedKeys.some((key) => secretValues.values.get(key) === rotatedValue)
          )
            firstRotated = seenAt;
          if (affectedKeys.every((key) => secretValues.values.get(key) === rotatedValue)) {
            rotated = seenAt;
            rotationCpu = delta(
              { ...cpuByProcess(pids), operator: readProc(operator.pid).cpuSeconds },
              cpuAtFired,
            );
            break;
          }
          if (secretValues.failed()) throw new Error('the rotation check lost its watch of the Secrets');
          await sleep(tFired === null ? 50 : 20);
        }
      } finally {
        await secretValues.stop();
      }
      // Confirmed by a direct read of every affected Secret, after the fact.
      if (!Number.isNaN(rotated)) {
        const confirmed = await Promise.all(
          affected.map(async (i) => {
            const { namespace, name } = placement(i, benchNs);
            const secret = await http.request<{ data?: Record<string, string> }>(
              'GET',
              `/api/v1/namespaces/${namespace}/secrets/${name}`,
            );
            return secret.data?.V === rotatedValue;
          }),
        );
        if (!confirmed.every(Boolean)) notes.push('rotation: a direct read disagreed with the watch');
      }
      result.rotation = {
        bindings: affected.length,
        secondsAfterUpdate: (rotated - tUpdate) / 1000,
        secondsAfterRefreshFired: tFired === null ? null : (rotated - tFired) / 1000,
        firstSecretSecondsAfterRefreshFired: tFired === null ? null : (firstRotated - tFired) / 1000,
        cpu: rotationCpu,
      };
      result.peakRssAfter!.rotation = readProc(operator.pid).peakRssMiB;
      sampler.phase = 'end';
      const fsDeadline = Date.now() + 60_000;
      while (firstSyncStarted && firstSync.length < 20 && Date.now() < fsDeadline) await sleep(200);
      const timings = delta(await operatorTimings(metricsUrl), timings0);
      const mean = (sum: string, count: string) => (timings[sum] ?? 0) / (timings[count] ?? NaN);
      result.firstSync = {
        count: firstSync.length,
        p50: percentile(firstSync, 50),
        p99: percentile(firstSync, 99),
        max: Math.max(...firstSync),
        meanHighQueueWait: mean('highWaitSeconds', 'highWaits'),
        meanLowQueueWait: mean('lowWaitSeconds', 'lowWaits'),
        meanProviderCall: mean('providerSeconds', 'providerCalls'),
      };
      notes.push(
        'rotation: secondsAfterRefreshFired counts from the first provider call after the update; first sync: 20 bindings created at that moment',
      );
    }
    result.operator.peakRssMiB = readProc(operator.pid).peakRssMiB;
    result.peakRssMiB = Math.max(result.operator.peakRssMiB, sampler.peakRssMiB);
    result.peakRssSample = sampler.peak;
    if (result.providerCalls.operatorTotal !== result.providerCalls.moto) {
      notes.push('operator counters and moto request log disagree on provider calls');
    }
  } finally {
    sampler.stop();
    await operator.stop();
  }
  if (!args['skip-floor-after']) {
    // The floor again, with the operator gone and its objects deleted as the first floor's were.
    await deleteNamespaces(http, kubeconfig, benchNs, `N=${n}: deleting the operator's namespaces`);
    const afterNs = namespacesOf('floor2');
    await createNamespaces(http, afterNs);
    log(`N=${n}: write floor after the operator`);
    const cpuBefore = cpuByProcess(pids);
    const after = await runFloor(http, { ...floorOptions, namespaces: afterNs });
    const cpu = delta(cpuByProcess(pids), cpuBefore);
    log(`N=${n}: floor after the operator ${after.seconds.toFixed(2)} s`);
    // Cleared for the next N only: after the last, the control plane stops (this deletion and
    // the wait for a quiet API server took another 5 to 10 minutes).
    if (!o.last)
      await deleteNamespaces(http, kubeconfig, afterNs, `N=${n}: deleting the second floor's namespaces`);
    result.floorAfter = {
      seconds: after.seconds,
      writesSeconds: after.writesSeconds,
      cpu,
      ratio: result.readySeconds / after.seconds,
      ratioToMean: result.readySeconds / ((result.floor.seconds + after.seconds) / 2),
    };
  }
  return result;
}

async function createNamespaces(http: KubeHttp, names: string[]): Promise<void> {
  for (const name of names) {
    await http.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
    });
  }
}

/** Deletes namespaces and waits until they are gone (the namespace controller empties them). */
async function deleteNamespaces(
  http: KubeHttp,
  kubeconfig: string,
  names: string[],
  what: string,
): Promise<void> {
  log(what);
  const started = performance.now();
  for (const name of names) await http.request('DELETE', `/api/v1/namespaces/${name}`);
  await waitUntil(
    what,
    async () => {
      const left = await Promise.all(
        names.map((name) =>
          http.request('GET', `/api/v1/namespaces/${name}`).then(
            () => true,
            () => false,
          ),
        ),
      );
      return !left.some(Boolean);
    },
    { timeoutMs: 600_000, intervalMs: 1000 },
  );
  log(`${what}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // The namespaces are gone, but kube-controller-manager's garbage collector goes on checking
  // the owners of what they held (a GET per object, at its client's rate limit): after 20,000
  // objects that ran for minutes, into the next phase (2,400 GETs of Secrets during the N=10,000
  // initial sync, measured). Wait until the API server serves nobody but us.
  const quietSince = performance.now();
  await waitForQuietApiServer(kubeconfig);
  log(`${what}: API server quiet after ${((performance.now() - quietSince) / 1000).toFixed(1)} s more`);
  await sleep(5000); // the API server's caches and heap let go of them
}

/**
 * Resolves once kube-apiserver has served at most 2 requests a second, for 3 s in a row, other
 * than this poll's own metrics reads and Lease renewals (watch events are not requests).
 */
async function waitForQuietApiServer(kubeconfig: string): Promise<void> {
  const busy = (traffic: Record<string, number>) =>
    total(trafficWhere(traffic, (key) => !isWatchFigure(key) && !/^GET $| leases$/.test(key)));
  let last = busy(apiserverTraffic(kubeconfig));
  let quietSeconds = 0;
  for (const deadline = Date.now() + 600_000; quietSeconds < 3 && Date.now() < deadline;) {
    await sleep(1000);
    const now = busy(apiserverTraffic(kubeconfig));
    quietSeconds = now - last <= 2 ? quietSeconds + 1 : 0;
    last = now;
  }
}

/**
 * Creates 20 bindings and records each one's seconds from its create call to Ready into `out`.
 * Readiness comes from a watch on the bench namespaces (from the collections' current
 * resourceVersion, so no existing binding is replayed): polling 20 bindings every 25 ms put
 * 800 GETs a second on the same 2 cores as the operator and the API server, which slowed
 * the very thing measured; the watch sees each status patch as it lands.
 */
async function measureFirstSync(
  http: KubeHttp,
  n: number,
  k: number,
  namespaces: string[],
  store: string,
  refresh: string,
  out: number[],
): Promise<void> {
  const createdAt = new Map<string, number>();
  const ready = new Set<string>();
  const abort = new AbortController();
  let allReady: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allReady = resolve));
  // The collections' versions first, so the watches miss nothing created after this point.
  const versions = await Promise.all(
    namespaces.map(async (ns) => {
      const path = `/apis/${group}/${version}/namespaces/${ns}/secretbindings`;
      const list = await http.request<{ metadata: { resourceVersion: string } }>('GET', path, {
        query: { limit: 1 },
      });
      return { path, resourceVersion: list.metadata.resourceVersion };
    }),
  );
  const watches = Promise.all(
    versions.map(({ path, resourceVersion }) =>
      http
        .watch(
          path,
          { resourceVersion },
          (event) => {
            const b = event.object as unknown as Parameters<typeof isReady>[0] & {
              metadata: { namespace: string };
            };
            const key = `${b.metadata.namespace}/${b.metadata.name}`;
            const started = createdAt.get(key);
            if (started === undefined || ready.has(key) || !isReady(b)) return;
            ready.add(key);
            out.push((performance.now() - started) / 1000);
            if (ready.size === 20) allReady();
          },
          abort.signal,
        )
        .catch(() => undefined),
    ),
  );
  await Promise.all(
    Array.from({ length: 20 }, async (_, j) => {
      const i = n + j;
      const { namespace, name } = placement(i, namespaces);
      createdAt.set(`${namespace}/${name}`, performance.now());
      await createBinding(http, i, namespaces, k, store, refresh);
    }),
  );
  await Promise.race([done, sleep(60_000)]);
  abort.abort();
  await watches;
}

await main();

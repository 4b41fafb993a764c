// Output of the benchmark: a progress bar, the table of figures, the JSON result, and plots of
// time-to-ready against N (operator and floor) over every stored result: a PNG drawn by
// matplotlib (bench/plot.py) and an SVG drawn here, which needs nothing installed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isWatchFigure, isWrite, total, trafficWhere } from './measure.ts';

/** Everything one run measured (absent figures were not measured in that run). */
export interface BenchResult {
  date: string;
  machine: { nproc: number; memoryMiB: number; node: string; cpu: string };
  n: number;
  k: number;
  namespaces: number;
  workers: number;
  createConcurrency: number;
  refreshInterval: string;
  readySeconds: number;
  /** When the last Synced Event of the initial sync was seen written (Events trail the writes). */
  eventsWrittenSeconds?: number;
  /** Event writes the API server had counted when the last binding was seen Ready. */
  eventsWrittenByReady?: number;
  /** Requests kube-apiserver served and watch events it sent, over the floor and the initial sync (until all Ready). */
  apiserverTraffic?: { floor: Record<string, number>; initialSync: Record<string, number> };
  secretsCorrect: number;
  /**
   * `seconds`: the floor's time, until the bench's Ready watch saw its last binding Ready when
   * `observed` (from the sixth session on), else until its last status patch was answered, as
   * `writesSeconds` always is.
   */
  floor: {
    seconds: number;
    writesSeconds?: number;
    observed?: boolean;
    creates: number;
    applies: number;
    statusPatches: number;
  };
  floorRatio: number;
  /** --floor-events: the floor plus a Synced Event per binding, its CPU by process, and the ratio. */
  floorWithEvents?: {
    /** As the first floor's (the Events queue may still hold some). */
    seconds: number;
    writesSeconds?: number;
    /** Until the last Event was written. */
    eventsWrittenSeconds?: number;
    cpu: Record<string, number>;
    ratio: number;
  };
  /**
   * --floor-watches: the floor with the operator's informers of its namespaces running in the
   * bench (bindings, managed Secrets, other Secrets' names), its CPU by process, and the ratio.
   */
  floorWithWatches?: {
    seconds: number;
    writesSeconds?: number;
    cpu: Record<string, number>;
    ratio: number;
  };
  /**
   * The same floor again after the operator has stopped and its namespaces are gone: the API
   * server is then older (more history) than in the operator's phase, where the first floor's
   * was younger. The mean of the two brackets the operator's phase.
   */
  floorAfter?: {
    seconds: number;
    writesSeconds?: number;
    cpu: Record<string, number>;
    ratio: number;
    ratioToMean: number;
  };
  providerCalls: { operator: Record<string, number>; operatorTotal: number; moto: number };
  operator: { peakRssMiB: number; cpuSeconds: number };
  kubeWrites: { byKind: Record<string, number>; total: number };
  /** CPU seconds by process (kube-apiserver, etcd, moto, bench, operator) in each timed phase. */
  cpuByProcess?: { floor: Record<string, number>; initialSync: Record<string, number> };
  steadyRefresh?: {
    providerCalls: Record<string, number>;
    providerCallsTotal: number;
    moto: number;
    writes: Record<string, number>;
    writesTotal: number;
    cpuSeconds: number;
    seconds: number;
  };
  rotation?: {
    bindings: number;
    secondsAfterUpdate: number;
    secondsAfterRefreshFired: number | null;
    /** When the first of them held the new value: the rest is propagation. */
    firstSecretSecondsAfterRefreshFired?: number | null;
    /** CPU seconds by process from the refresh firing to the last Secret. */
    cpu?: Record<string, number>;
  };
  firstSync?: {
    count: number;
    p50: number;
    p99: number;
    max: number;
    /** Over the rotation and first-sync phase, from the operator's metrics: means in seconds. */
    meanHighQueueWait?: number;
    meanLowQueueWait?: number;
    meanProviderCall?: number;
  };
  peakRssMiB: number;
  /** The operator's VmHWM when each phase ended (MiB): which phase set the peak. */
  peakRssAfter?: { initialSync: number; steadyRefresh?: number; rotation?: number };
  /**
   * The highest RSS the bench's 200 ms sampler saw: its anonymous and file-backed parts, when
   * (seconds after the operator started) and in which phase (from the sixth session on).
   */
  peakRssSample?: { rssMiB: number; anonMiB: number; fileMiB: number; atSeconds: number; phase: string };
  notes: string[];
}

/** Redraws a one-line progress bar on stderr. */
export function progress(label: string, done: number, of: number): void {
  const width = 30;
  const filled = of > 0 ? Math.round((done / of) * width) : width;
  process.stderr.write(
    `\r${label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${of}  `,
  );
  if (done >= of) process.stderr.write('\n');
}

const fmt = (v: number | null | undefined, digits = 2): string =>
  v === undefined || v === null || Number.isNaN(v) ? 'n/a' : v.toFixed(digits);

/** Requests of an `apiserverTraffic` delta that are neither writes nor watch events sent. */
function reads(traffic: Record<string, number>): number {
  return total(trafficWhere(traffic, (key) => !isWrite(key) && !isWatchFigure(key)));
}

/** Watch events an `apiserverTraffic` delta says the API server sent, all resources. */
function watchEvents(traffic: Record<string, number>): number {
  return total(trafficWhere(traffic, (key) => key.startsWith('WATCH-EVENTS ')));
}

/** The table of figures, with the goal each is held to. */
export function table(r: BenchResult): string {
  const rows: [string, string, string][] = [
    ['N / K / namespaces', `${r.n} / ${r.k} / ${r.namespaces}`, ''],
    ['all Ready (s)', fmt(r.readySeconds), ''],
    [
      '  last Synced Event written (s)',
      r.eventsWrittenSeconds === undefined ? '-' : fmt(r.eventsWrittenSeconds),
      '',
    ],
    [
      '  Events written by all Ready',
      r.eventsWrittenByReady === undefined ? '-' : String(r.eventsWrittenByReady),
      '',
    ],
    ...(r.apiserverTraffic
      ? ([
          [
            'API server reads, floor / sync',
            `${reads(r.apiserverTraffic.floor)} / ${reads(r.apiserverTraffic.initialSync)}`,
            '',
          ],
          [
            'API server watch events sent, floor / sync',
            `${watchEvents(r.apiserverTraffic.floor)} / ${watchEvents(r.apiserverTraffic.initialSync)}`,
            '',
          ],
        ] as [string, string, string][])
      : []),
    [
      r.floor.observed ? 'write floor, seen Ready (writes answered) (s)' : 'write floor (s)',
      r.floor.observed ? `${fmt(r.floor.seconds)} (${fmt(r.floor.writesSeconds)})` : fmt(r.floor.seconds),
      '',
    ],
    ['ratio to floor', fmt(r.floorRatio), '≤ 1.25'],
    ...(r.floor.observed
      ? ([['  ratio to its writes answered', fmt(r.readySeconds / r.floor.writesSeconds!), '']] as [
          string,
          string,
          string,
        ][])
      : []),
    ...(r.floorAfter
      ? ([
          [
            'write floor after the operator (s)',
            r.floor.observed
              ? `${fmt(r.floorAfter.seconds)} (${fmt(r.floorAfter.writesSeconds)})`
              : fmt(r.floorAfter.seconds),
            '',
          ],
          [
            'ratio to it / to the mean of both floors',
            `${fmt(r.floorAfter.ratio)} / ${fmt(r.floorAfter.ratioToMean)}`,
            '≤ 1.25',
          ],
        ] as [string, string, string][])
      : []),
    ...(r.floorWithEvents
      ? ([
          [
            'floor with Events (s)',
            `${fmt(r.floorWithEvents.seconds)} (last Event at ${fmt(r.floorWithEvents.eventsWrittenSeconds)})`,
            '',
          ],
          ['ratio to floor with Events', fmt(r.floorWithEvents.ratio), ''],
        ] as [string, string, string][])
      : []),
    ...(r.floorWithWatches
      ? ([
          ["floor with the operator's watches (s)", fmt(r.floorWithWatches.seconds), ''],
          ['ratio to floor with watches', fmt(r.floorWithWatches.ratio), ''],
        ] as [string, string, string][])
      : []),
    ['Secrets correct', `${r.secretsCorrect}/${r.n}`, `${r.n}`],
    [
      'provider calls (operator)',
      `${r.providerCalls.operatorTotal} ${JSON.stringify(r.providerCalls.operator)}`,
      '',
    ],
    ['provider calls (moto log)', `${r.providerCalls.moto}`, 'agree'],
    ['kube writes (operator)', `${r.kubeWrites.total} ${JSON.stringify(r.kubeWrites.byKind)}`, ''],
    ['peak RSS (MiB)', fmt(r.peakRssMiB, 1), '≤ 200 MB'],
    [
      'peak RSS after sync / refresh / rotation',
      [r.peakRssAfter?.initialSync, r.peakRssAfter?.steadyRefresh, r.peakRssAfter?.rotation]
        .map((v) => fmt(v, 1))
        .join(' / '),
      '',
    ],
    ...(r.peakRssSample
      ? ([
          [
            '  highest RSS sampled',
            `${fmt(r.peakRssSample.rssMiB, 1)} (anonymous ${fmt(r.peakRssSample.anonMiB, 1)}, file ${fmt(r.peakRssSample.fileMiB, 1)}) at ${fmt(r.peakRssSample.atSeconds, 1)} s, ${r.peakRssSample.phase}`,
            '',
          ],
        ] as [string, string, string][])
      : []),
    ['CPU seconds (initial sync)', fmt(r.operator.cpuSeconds), ''],
  ];
  const line = (cpu: Record<string, number>): string =>
    Object.entries(cpu)
      .map(([name, s]) => `${name} ${fmt(s, 1)}`)
      .join(', ');
  if (r.cpuByProcess) {
    const sum = (cpu: Record<string, number>): number => Object.values(cpu).reduce((a, b) => a + b, 0);
    rows.push(
      ['CPU s by process: floor', line(r.cpuByProcess.floor), ''],
      ['CPU s by process: sync', line(r.cpuByProcess.initialSync), ''],
      // The machine's CPU is what both phases spend: a ratio that wall-clock noise moves less.
      ['CPU ratio to floor (all)', fmt(sum(r.cpuByProcess.initialSync) / sum(r.cpuByProcess.floor)), ''],
    );
    if (r.floorAfter) rows.push(['CPU s by process: floor after', line(r.floorAfter.cpu), '']);
    const syncCpu = sum(r.cpuByProcess.initialSync);
    // The floor variants (--floor-watches, --floor-events): their CPU and the sync's ratio to it.
    for (const [what, variant] of [
      ['watches', r.floorWithWatches],
      ['Events', r.floorWithEvents],
    ] as const) {
      if (!variant) continue;
      rows.push(
        [`CPU s by process: floor with ${what}`, line(variant.cpu), ''],
        [`CPU ratio to floor with ${what}`, fmt(syncCpu / sum(variant.cpu)), ''],
      );
    }
  }
  if (r.steadyRefresh) {
    const s = r.steadyRefresh;
    rows.push(
      ['steady refresh: provider calls', `${s.providerCallsTotal} (moto ${s.moto})`, '≤ 50 per 1,000 remote'],
      ['steady refresh: kube writes', `${s.writesTotal} ${JSON.stringify(s.writes)}`, '0'],
      ['steady refresh: CPU s', fmt(s.cpuSeconds), ''],
    );
  }
  if (r.rotation) {
    rows.push([
      `rotation (${r.rotation.bindings} bindings)`,
      `${fmt(r.rotation.secondsAfterRefreshFired)} s after refresh fired (${fmt(r.rotation.secondsAfterUpdate)} s after update; first Secret at ${fmt(r.rotation.firstSecretSecondsAfterRefreshFired ?? null)} s)`,
      '≤ 2 s',
    ]);
    if (r.rotation.cpu) rows.push(['  CPU s by process (rotation)', line(r.rotation.cpu), '']);
  }
  if (r.firstSync) {
    rows.push([
      `first sync during refresh (${r.firstSync.count})`,
      `p50 ${fmt(r.firstSync.p50)} s, p99 ${fmt(r.firstSync.p99)} s, max ${fmt(r.firstSync.max)} s`,
      '≤ 1 s p99',
    ]);
    rows.push([
      '  meanwhile (operator metrics)',
      `queue wait high ${fmt(r.firstSync.meanHighQueueWait ?? NaN)} s, low ${fmt(r.firstSync.meanLowQueueWait ?? NaN)} s; provider call ${fmt(r.firstSync.meanProviderCall ?? NaN)} s`,
      '',
    ]);
  }
  const w0 = Math.max(...rows.map((row) => row[0].length));
  return rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b}${c ? `   (goal ${c})` : ''}`).join('\n');
}

/** Writes `<dir>/<date>-<n>.json`; returns its path. */
export function writeResult(dir: string, r: BenchResult): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${r.date.slice(0, 10)}-${r.n}.json`);
  fs.writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}

/**
 * Writes `<dir>/time-to-ready.svg`: time-to-ready against N (log scale) for the operator and
 * the floor, from the newest result per N in `dir`. Returns its path.
 */
export function writePlot(dir: string): string {
  const byN = new Map<number, BenchResult>();
  for (const f of fs
    .readdirSync(dir)
    .filter((x) => x.endsWith('.json'))
    .sort()) {
    const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as BenchResult;
    byN.set(r.n, r);
  }
  const points = [...byN.values()].sort((a, b) => a.n - b.n);
  const W = 640;
  const H = 400;
  const m = 60;
  const ns = points.map((p) => Math.log10(p.n));
  const xMin = Math.min(...ns, 2) - 0.2;
  const xMax = Math.max(...ns, 4) + 0.2;
  const yMax = Math.max(1, ...points.flatMap((p) => [p.readySeconds, p.floor.seconds])) * 1.1;
  const x = (n: number): number => m + ((Math.log10(n) - xMin) / (xMax - xMin)) * (W - 2 * m);
  const y = (s: number): number => H - m - (s / yMax) * (H - 2 * m);
  const line = (get: (p: BenchResult) => number, color: string): string =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map((p) => `${x(p.n)},${y(get(p))}`).join(' ')}"/>` +
    points.map((p) => `<circle cx="${x(p.n)}" cy="${y(get(p))}" r="4" fill="${color}"/>`).join('');
  const ticks = [100, 1000, 10000]
    .map((n) => `<text x="${x(n)}" y="${H - m + 20}" text-anchor="middle">${n}</text>`)
    .join('');
  const yTicks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<text x="${m - 8}" y="${y(f * yMax) + 4}" text-anchor="end">${(f * yMax).toFixed(1)}</text>`)
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">mlsecrets: time until all bindings Ready</text>
<line x1="${m}" y1="${H - m}" x2="${W - m}" y2="${H - m}" stroke="black"/>
<line x1="${m}" y1="${m}" x2="${m}" y2="${H - m}" stroke="black"/>
${ticks}${yTicks}
<text x="${W / 2}" y="${H - 15}" text-anchor="middle">N bindings (log scale)</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">seconds</text>
${line((p) => p.readySeconds, '#d62728')}${line((p) => p.floor.seconds, '#1f77b4')}
<text x="${W - m - 120}" y="${m}" fill="#d62728">operator</text>
<text x="${W - m - 120}" y="${m + 16}" fill="#1f77b4">write floor</text>
</svg>
`;
  const file = path.join(dir, 'time-to-ready.svg');
  fs.writeFileSync(file, svg);
  return file;
}

/**
 * Writes `<dir>/time-to-ready.png` with bench/plot.py, in the matplotlib venv that
 * scripts/install-plotting.sh keeps in the cache (installed on first use). Returns its path,
 * or throws if the venv cannot be had (no PyPI) or the plot fails: the caller keeps the SVG.
 */
export function writePng(dir: string): string {
  const repoRoot = path.resolve(import.meta.dirname, '..');
  const out = execFileSync('bash', [path.join(repoRoot, 'scripts', 'install-plotting.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const python = /^PLOT_PYTHON=(.+)$/m.exec(out)?.[1];
  if (!python) throw new Error('scripts/install-plotting.sh named no python');
  execFileSync(python, [path.join(repoRoot, 'bench', 'plot.py'), dir], { stdio: 'inherit' });
  return path.join(dir, 'time-to-ready.png');
}

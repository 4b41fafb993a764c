// Measurement helpers for the benchmark: process figures from /proc, Prometheus text
// scraping (operator and kube-apiserver), and moto's request log.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Peak resident set (VmHWM) in MiB and CPU seconds (user + system) of one process. */
export interface ProcFigures {
  peakRssMiB: number;
  rssMiB: number;
  /** The resident set's anonymous part (heap, malloc, buffers) and file-backed part (code). */
  rssAnonMiB: number;
  rssFileMiB: number;
  cpuSeconds: number;
}

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** Reads VmHWM, VmRSS and utime + stime of `pid` from /proc. */
export function readProc(pid: number): ProcFigures {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return {
    peakRssMiB: kib('VmHWM') / 1024,
    rssMiB: kib('VmRSS') / 1024,
    rssAnonMiB: kib('RssAnon') / 1024,
    rssFileMiB: kib('RssFile') / 1024,
    cpuSeconds: (utime + stime) / clockTicks,
  };
}

/**
 * CPU seconds used so far by each named process (the benchmark itself included), so a phase's
 * figure is the difference of two snapshots: where a phase spends the machine's two cores.
 */
export function cpuByProcess(pids: Record<string, number>): Record<string, number> {
  const cpu: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    try {
      cpu[name] = readProc(pid).cpuSeconds;
    } catch {
      cpu[name] = NaN; // exited
    }
  }
  const self = process.cpuUsage();
  cpu.bench = (self.user + self.system) / 1e6;
  return cpu;
}

/** One sample of a Prometheus text exposition: name, labels and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for counters and gauges). */
export function parseProm(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sums `name` grouped by the value of `label` (or under 'total' when no label). */
export function sumBy(
  samples: Sample[],
  name: string,
  key: (labels: Record<string, string>) => string | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const k = key(s.labels);
    if (k === undefined) continue;
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/** Per-key difference `after - before`, dropping zeros. */
export function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** Sum of all values. */
export function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** The operator's provider calls by operation, from its /metrics. */
export async function operatorProviderCalls(metricsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  return sumBy(parseProm(text), 'mlsecrets_provider_calls_total', (l) => l.operation ?? 'unknown');
}

/**
 * The operator's own view of where time goes: work-queue wait by priority and provider call
 * latency, as running sums and counts (deltas of two readings give the means over a phase).
 */
export async function operatorTimings(metricsUrl: string): Promise<Record<string, number>> {
  const samples = parseProm(await (await fetch(metricsUrl)).text());
  const byPriority = (name: string) => sumBy(samples, name, (l) => l.priority);
  const wait = byPriority('mlsecrets_workqueue_wait_seconds_sum');
  const waits = byPriority('mlsecrets_workqueue_wait_seconds_count');
  const provider = sumBy(samples, 'mlsecrets_provider_request_duration_seconds_sum', () => 'all');
  const providers = sumBy(samples, 'mlsecrets_provider_request_duration_seconds_count', () => 'all');
  return {
    highWaitSeconds: wait.high ?? 0,
    highWaits: waits.high ?? 0,
    lowWaitSeconds: wait.low ?? 0,
    lowWaits: waits.low ?? 0,
    providerSeconds: provider.all ?? 0,
    providerCalls: providers.all ?? 0,
  };
}

const writeVerbs = new Set(['PATCH', 'POST', 'PUT', 'DELETE', 'APPLY']);

/**
 * What kube-apiserver has served (read through `kubectl get --raw /metrics`): requests by
 * `verb resource[/subresource]` from `apiserver_request_total`, reads included (a watch counts
 * when it ends), the events its watches sent by `WATCH-EVENTS resource`
 * (`apiserver_watch_events_total`) and the watchers it closed for falling behind by
 * `TERMINATED-WATCHERS resource` (`apiserver_terminated_watchers_total`).
 */
export function apiserverTraffic(kubeconfig: string): Record<string, number> {
  const text = execFileSync('kubectl', ['--kubeconfig', kubeconfig, 'get', '--raw', '/metrics'], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  const samples = parseProm(text);
  return {
    ...sumBy(
      samples,
      'apiserver_request_total',
      (l) => `${l.verb} ${l.resource ?? ''}${l.subresource ? `/${l.subresource}` : ''}`,
    ),
    ...sumBy(samples, 'apiserver_watch_events_total', (l) => `WATCH-EVENTS ${l.resource ?? l.kind ?? ''}`),
    // Watchers the API server closed for not keeping up with their events (they must re-watch).
    ...sumBy(
      samples,
      'apiserver_terminated_watchers_total',
      (l) => `TERMINATED-WATCHERS ${l.resource ?? ''}`,
    ),
  };
}

/** The figures of an {@link apiserverTraffic} reading whose key `keep` accepts. */
export function trafficWhere(
  traffic: Record<string, number>,
  keep: (key: string) => boolean,
): Record<string, number> {
  return Object.fromEntries(Object.entries(traffic).filter(([key]) => keep(key)));
}

/** Whether an {@link apiserverTraffic} key is a write (`verb resource` with a write verb). */
export function isWrite(key: string): boolean {
  return writeVerbs.has(key.split(' ')[0]!);
}

/** Whether an {@link apiserverTraffic} key counts watch events or closed watchers, not requests. */
export function isWatchFigure(key: string): boolean {
  return /^(WATCH-EVENTS|TERMINATED-WATCHERS) /.test(key);
}

/** The writes of {@link apiserverTraffic}: `verb resource[/subresource]` for write verbs only. */
export function writesOf(traffic: Record<string, number>): Record<string, number> {
  return trafficWhere(traffic, isWrite);
}

/** Kubernetes writes by `verb resource[/subresource]` ({@link apiserverTraffic}). */
export function apiserverWrites(kubeconfig: string): Record<string, number> {
  return writesOf(apiserverTraffic(kubeconfig));
}

/**
 * Writes attributable to the operator: writes to Secrets, SecretBindings and Events, minus
 * the benchmark's own binding creates (`POST secretbindings`), which it passes in.
 */
export function operatorWrites(writes: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(writes)) {
    const resource = k.split(' ')[1] ?? '';
    if (k === 'POST secretbindings') continue;
    if (/^(secrets|secretbindings|events)(\/|$)/.test(resource)) out[k] = v;
  }
  return out;
}

/** Provider requests moto has logged so far (werkzeug lines `"POST / HTTP/1.1"`). */
export function motoRequests(logFile: string): number {
  const text = fs.readFileSync(logFile, 'utf8');
  let count = 0;
  for (const match of text.matchAll(/"POST \/ HTTP\/1\.1"/g)) if (match) count++;
  return count;
}

/** Samples a process's figures every `intervalMs` and keeps the peak RSS seen. */
export class ProcSampler {
  private timer: NodeJS.Timeout | undefined;
  peakRssMiB = 0;
  /** The phase the caller is in, recorded with the peak. */
  phase = '';
  /**
   * The sample with the highest RSS: its anonymous and file-backed parts, seconds since
   * `start`, and the phase. Read from outside the process, so a spike seen without a
   * profiler loaded still says which phase made it and whether it is memory or mapped code.
   */
  peak?: { rssMiB: number; anonMiB: number; fileMiB: number; atSeconds: number; phase: string };

  private readonly pid: number;

  constructor(pid: number) {
    this.pid = pid;
  }

  start(intervalMs = 200): void {
    const started = performance.now();
    this.timer = setInterval(() => {
      try {
        const figures = readProc(this.pid);
        if (figures.rssMiB > this.peakRssMiB) {
          this.peakRssMiB = figures.rssMiB;
          this.peak = {
            rssMiB: figures.rssMiB,
            anonMiB: figures.rssAnonMiB,
            fileMiB: figures.rssFileMiB,
            atSeconds: (performance.now() - started) / 1000,
            phase: this.phase,
          };
        }
      } catch {
        // The process is gone.
      }
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Percentile `p` (0..100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

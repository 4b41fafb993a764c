// The operator as a separate OS process (`node src/main.ts`), for tests that kill it (SIGKILL),
// run several replicas, or measure its memory: an in-process operator (operator.ts) can do none
// of those.
import fs from 'node:fs';
import path from 'node:path';
import { recordLogFile, recordText } from './leak-run.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type ManagedProcess } from './process.ts';
import { OPERATOR_NAMESPACE } from './test-env.ts';

export interface OperatorProcess extends ManagedProcess {
  readonly healthUrl: string;
  readonly metricsUrl: string;
  /** Waits until /readyz answers 200 (fails with the log tail if the process exits first). */
  ready(timeoutMs?: number): Promise<void>;
}

export interface OperatorProcessOptions {
  /** Process name: the log file is `<logDir>/<name>.log`. */
  name: string;
  kubeconfigPath: string;
  namespaces: string[];
  logDir: string;
  /** More flags (`--leader-elect=true`, `--instance=a`, …); they win over the defaults below. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /**
   * Run with the image's V8 heap limits (the Dockerfile's NODE_OPTIONS), so that memory that
   * grows without bound ends the process as it would end the pod, instead of hiding in a heap
   * sized from this machine's RAM.
   */
  imageHeap?: boolean;
}

/** The NODE_OPTIONS of the Dockerfile's runtime stage (V8 heap sizing). */
export function imageNodeOptions(): string {
  const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  return /\bNODE_OPTIONS=(?:"([^"]*)"|(\S+))/.exec(dockerfile)?.slice(1).find(Boolean) ?? '';
}

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

/** Starts `node src/main.ts` with JSON logs (debug) and the audit trail in its log file. */
export async function startOperatorProcess(options: OperatorProcessOptions): Promise<OperatorProcess> {
  const healthPort = await freePort();
  const metricsPort = await freePort();
  const proc = startProcess({
    name: options.name,
    command: process.execPath,
    args: [
      'src/main.ts',
      '--kubeconfig',
      options.kubeconfigPath,
      '--webhook=false',
      '--leader-elect=false',
      `--health-addr=127.0.0.1:${healthPort}`,
      `--metrics-addr=127.0.0.1:${metricsPort}`,
      '--log-level=debug',
      '--audit-log=stdout',
      `--operator-namespace=${OPERATOR_NAMESPACE}`,
      `--namespaces=${options.namespaces.join(',')}`,
      ...(options.args ?? []),
    ],
    cwd: repoRoot,
    logDir: options.logDir,
    env: {
      ...process.env,
      METADATA_SERVER_DETECTION: 'none',
      ...(options.imageHeap ? { NODE_OPTIONS: imageNodeOptions() } : {}),
      ...options.env,
    },
  });
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  // The suite-wide leak scan reads the log (logs and audit records) after the process ends.
  recordLogFile(proc.logFile, proc.exited);
  return {
    ...proc,
    // A last /metrics scrape for the leak scan before the process is stopped.
    stop: async (graceMs?: number) => {
      if (graceMs !== 0) {
        const scrape = await fetch(metricsUrl, { signal: AbortSignal.timeout(2_000) })
          .then((r) => r.text())
          .catch(() => '');
        recordText(`${options.name} /metrics`, scrape);
      }
      await proc.stop(graceMs);
    },
    healthUrl,
    metricsUrl,
    ready: (timeoutMs = 60_000) =>
      waitUntil(`${options.name} ready`, async () => (await fetch(`${healthUrl}/readyz`)).ok, {
        timeoutMs,
        process: proc,
      }),
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** A process the harness started: its name, pid and log file, and how to stop it. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves once the process has exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs` (0: SIGKILL at once). Resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  logDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * true: the child gets SIGTERM from the kernel when this Node process dies (setpriv
   * --pdeathsig), so a crashed test run leaves no orphan holding ports. false for
   * `npm run cluster:up`, whose processes must outlive the command that started them.
   */
  dieWithParent?: boolean;
}

/** Starts a long-running process with its output in `<logDir>/<name>.log`. */
export function startProcess(options: StartOptions): ManagedProcess {
  fs.mkdirSync(options.logDir, { recursive: true });
  const logFile = path.join(options.logDir, `${options.name}.log`);
  const out = fs.openSync(logFile, 'a');
  const dieWithParent = options.dieWithParent ?? true;
  const [command, args] = dieWithParent
    ? ['setpriv', ['--pdeathsig', 'TERM', '--', options.command, ...options.args]]
    : [options.command, options.args];
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', out, out],
    detached: !dieWithParent,
  });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${options.name} (${options.command})`);
  if (!dieWithParent) child.unref();
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
  const pid = child.pid;
  return {
    name: options.name,
    pid,
    logFile,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // No grace: SIGKILL, as a crash would end it.
      child.kill(graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Stops a process known only by pid (one started by an earlier command). */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(50);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it resolves true. Fails with the tail of the process log when the
 * process exits first or the timeout passes, so a broken start says why.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; process?: ManagedProcess; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let exitCode: number | null | undefined;
  void options.process?.exited.then((code) => (exitCode = code ?? -1));
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`${what}: ${options.process?.name} exited (${exitCode})\n${logTail(options.process)}`);
    }
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: timed out\n${logTail(options.process)}`);
    await sleep(options.intervalMs ?? 100);
  }
}

function logTail(p?: ManagedProcess, lines = 30): string {
  if (!p) return '';
  try {
    return fs.readFileSync(p.logFile, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

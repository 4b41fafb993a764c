// What a command needs from its process, injected so unit tests run commands in-process.
import { readFileSync } from 'node:fs';

/** The process seen by a command: output streams, stdin, environment and the time. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The whole of standard input (for the file name `-`). */
  readStdin(): Promise<string>;
  env: Record<string, string | undefined>;
  /** Epoch milliseconds; injected so ages and expiries are testable. */
  now(): number;
}

/** Exit codes of every command: scripts rely on them. */
export const EXIT = {
  ok: 0,
  /** The command ran and found problems (invalid manifests, flagged Secrets, not-Ready resources). */
  problems: 1,
  /** Bad arguments, or the command could not run (an unreadable file, an unreachable cluster). */
  usage: 2,
} as const;

/**
 * A mistake in how the command was called, or a precondition it cannot meet. Reported as
 * `error: message` with exit code 2, so that exit code 1 always means "problems found".
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The CLI's own version, from the package.json next to src/ or dist/. */
export function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The real process, for main.ts. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
    now: () => Date.now(),
  };
}

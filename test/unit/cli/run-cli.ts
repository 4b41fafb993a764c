// Runs the CLI in-process with captured output, for unit tests.
import type { CliIo } from '../../../src/cli/cli-io.ts';
import { runCli } from '../../../src/cli/program.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(
  argv: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    readStdin: async () => options.stdin ?? '',
    // No kubeconfig can be found by accident: unit tests never reach a cluster.
    env: options.env ?? {},
    now: () => Date.parse('2026-01-15T12:00:00Z'),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/** The problems of a `validate -o json` run. */
export interface ValidateJson {
  problems: {
    file: string;
    index: number;
    kind: string;
    name: string;
    namespace: string | null;
    message: string;
  }[];
  checked: number;
  notes: { file: string; index: number; message: string }[];
}

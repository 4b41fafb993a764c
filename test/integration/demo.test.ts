// `npm run demo` (scripts/demo.ts) end to end, as a child process: in CI mode it exits 0 after
// a summary listing every binding as Ready with its Secret's key names and no seeded value; in
// interactive mode Ctrl-C (SIGINT) stops every process it started.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../harness/process.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const nodeBin = path.join(root, 'node_modules/.bin/node'); // the pinned Node 24, as npm run uses
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-demo-test-'));
afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs the demo; `onOutput` sees the output so far and may signal the child. */
function runDemo(
  args: string[],
  valuesFile: string,
  onOutput?: (output: string, kill: () => void) => void,
): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, MLSECRETS_DEMO_VALUES_FILE: valuesFile, NO_COLOR: '1' };
  delete env.CI;
  const child = spawn(nodeBin, [path.join(root, 'scripts/demo.ts'), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let signalled = false;
  const take = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (!signalled)
      onOutput?.(output, () => {
        signalled = true;
        child.kill('SIGINT');
      });
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    }),
  );
}

function seededValues(file: string): string[] {
  const values = JSON.parse(fs.readFileSync(file, 'utf8')) as string[];
  expect(values.length).toBeGreaterThanOrEqual(6);
  // Every line of a multi-line value (the signing key) counts on its own, as do the JSON-free
  // examples' values of kubernetes-provider.yaml.
  return [
    ...values.flatMap((v) => v.split('\n').filter((line) => line.length >= 8 && !/^-----/.test(line))),
    'hf_example_token_change_me',
    'example-secret-change-me',
  ];
}

test('npm run demo -- --ci: every binding Ready, key names shown, no value printed', async () => {
  const valuesFile = path.join(workDir, 'ci-values.json');
  const run = await runDemo(['--ci'], valuesFile);
  if (run.code !== 0) console.log(run.output);
  expect(run.code).toBe(0);
  const out = run.output;
  // A line per step, with timings.
  expect(out).toMatch(/✓ local control plane .*\(\d+\.\d+s\)/);
  expect(out).toMatch(/✓ wait until every store and SecretBinding is Ready \(\d+\.\d+s\)/);
  // The summary: stores and bindings Ready, the Secrets' keys, Events, status fields.
  expect(out).toMatch(/ClusterSecretStore aws-ml {2}Ready=True \(Valid\)/);
  expect(out).toMatch(/SecretBinding ml-team\/finetune-aws {2}Ready=True \(Synced\)/);
  expect(out).toMatch(/SecretBinding ml-team\/finetune-creds {2}Ready=True \(Synced\)/);
  expect(out).toContain(
    'Secret ml-team/finetune-aws (Opaque), keys: HF_TOKEN, HF_TOKEN_PREVIOUS, WANDB_API_KEY, model-signing.key',
  );
  expect(out).toContain('keys: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, HF_ORG, HF_TOKEN');
  expect(out).toMatch(/Normal Synced: Secret "finetune-aws" issued/);
  expect(out).toMatch(/expiresAt: \d{4}-/);
  expect(out).toContain('{"key":"ml/wandb","versionId":"01234567-89ab-4cde-8f01-23456789abcd"}');
  expect(out).toMatch(/all 2 bindings Ready/);
  // Everything it started is stopped again.
  for (const what of ['operator', 'control plane', 'moto'])
    expect(out).toMatch(new RegExp(`■ stopped ${what}`));
  const leaks = seededValues(valuesFile).filter((value) => out.includes(value));
  expect(leaks).toEqual([]);
}, 180_000);

test('Ctrl-C (SIGINT) in interactive mode stops everything the demo started', async () => {
  const valuesFile = path.join(workDir, 'interactive-values.json');
  const run = await runDemo([], valuesFile, (output, kill) => {
    if (output.includes('Press Ctrl-C to stop')) kill();
  });
  if (run.code !== 130) console.log(run.output);
  expect(run.output).toContain('Press Ctrl-C to stop');
  expect(run.output).toContain('interrupted: stopping everything the demo started');
  expect(run.code).toBe(130);
  const pids = [...run.output.matchAll(/ pid[= ](\d+)/g)].map((m) => Number(m[1]));
  expect(pids.length).toBeGreaterThanOrEqual(5); // etcd, kube-apiserver, kube-controller-manager, moto, operator
  expect(pids.filter(isAlive)).toEqual([]);
  const leaks = seededValues(valuesFile).filter((value) => run.output.includes(value));
  expect(leaks).toEqual([]);
}, 180_000);

// `npm run demo` (scripts/demo.ts) end to end, as a child process, on a real node (the demo
// starts the machine's one node: run this file like every e2e file, in band). In CI mode it
// exits 0 after the summary (every binding Ready, its Secret's key names), a training Job that
// completed with its own S3 credentials and lost them, and a rotation that reached a running
// pod, with the fingerprint of the new value; no seeded value is printed anywhere. In
// interactive mode Ctrl-C (SIGINT) stops every process it started and restores the host.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fingerprint } from '../harness/chart.ts';
import { recordPlanted, recordText } from '../harness/leak-run.ts';
import { NETWORK } from '../harness/node/host.ts';
import { isAlive } from '../harness/process.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const nodeBin = path.join(root, 'node_modules/.bin/node'); // the pinned Node 24, as npm run uses
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-demo-test-'));
afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

// A warm run takes 1.5-2 minutes; the first one on a machine also imports the node's images.
const RUN_MS = 400_000;

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
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_MS - 20_000);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      recordText(`npm run demo ${args.join(' ')} output`, output);
      resolve({ code, signal, output });
    }),
  );
}

/** The seeded values (name → value), also given to the suite-wide leak scan. */
function seeded(file: string): Record<string, string> {
  const values = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
  for (const name of [
    'hfToken',
    'wandbKey',
    'signingKey',
    'registryToken',
    'rotatedToken',
    'operatorSecretAccessKey',
    'trainerAccessKeyId',
    'trainerSecretAccessKey',
    'rotatorSecretAccessKey',
  ])
    expect(values[name]).toEqual(expect.any(String));
  for (const value of Object.values(values)) recordPlanted(value);
  return values;
}

/** Every seeded value found in `output` (by name, never the value). */
function leaks(values: Record<string, string>, output: string): string[] {
  // Every line of a multi-line value (the signing key) counts on its own, as do the values of
  // manifests/examples/kubernetes-provider.yaml.
  const needles: [string, string][] = [
    ...Object.entries(values).flatMap(([name, v]) =>
      v
        .split('\n')
        .filter((line) => line.length >= 8 && !/^-----/.test(line))
        .map((line): [string, string] => [name, line]),
    ),
    ['kubernetes-provider token', 'hf_example_token_change_me'],
    ['kubernetes-provider secret key', 'example-secret-change-me'],
  ];
  return needles.filter(([, needle]) => output.includes(needle)).map(([name]) => name);
}

/** What the node leaves on the host while it runs: none of it may outlive the demo. */
function hostLeftovers(demoDir: string): string[] {
  const left: string[] = [];
  if (spawnSync('ip', ['link', 'show', NETWORK.bridge], { stdio: 'ignore' }).status === 0)
    left.push(`link ${NETWORK.bridge}`);
  if (fs.existsSync('/run/mlsecrets-node.json')) left.push('/run/mlsecrets-node.json');
  // The kubelet's, containerd's and the shims' command lines name the demo's directory.
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(demoDir)) left.push(`process ${pid}: ${cmdline.slice(0, 120)}`);
    } catch {
      // gone
    }
  }
  for (const hierarchy of fs.readdirSync('/sys/fs/cgroup')) {
    if (fs.existsSync(path.join('/sys/fs/cgroup', hierarchy, 'kubepods')))
      left.push(`cgroup ${hierarchy}/kubepods`);
  }
  return left;
}

function demoDirOf(output: string): string {
  const dir = /working directory (\/\S+mlsecrets-demo-\w+)\)/.exec(output)?.[1];
  expect(dir).toBeDefined();
  return dir!;
}

test(
  'npm run demo -- --ci: bindings Ready, a training Job completes and loses its Secret, a rotation reaches a running pod; no value printed',
  async () => {
    const valuesFile = path.join(workDir, 'ci-values.json');
    const run = await runDemo(['--ci'], valuesFile);
    if (run.code !== 0) console.log(run.output);
    expect(run.code).toBe(0);
    const out = run.output;
    const values = seeded(valuesFile);
    // A line per step, with timings.
    expect(out).toMatch(/✓ cluster with a node: .*kubelet.*\(\d+\.\d+s\)/);
    expect(out).toMatch(/✓ moto on the node bridge's address \(10\.244\.0\.1\).*\(\d+\.\d+s\)/);
    expect(out).toMatch(
      /✓ install the operator: helm install mlsecrets charts\/mlsecrets .*--set tests\.image=localhost\/mlsecrets-test\/busybox:\S+ --set podRefresh\.enabled=true .*\(\d+\.\d+s\)/,
    );
    expect(out).toMatch(/pod mlsecrets-\S+ Running mlsecrets:\d/);
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

    // The training Job: its own Secret, read from a file of the volume, used against moto S3.
    expect(out).toMatch(/Secret ml-team\/train-s3-finetune issued .* owned by Job finetune/);
    expect(out).toMatch(/✓ Job ml-team\/finetune reached Complete on its own \(succeeded 1, failed 0\)/);
    expect(out).toContain(
      `trainer: credential name=AWS_ACCESS_KEY_ID source=file:train-s3/AWS_ACCESS_KEY_ID sha256=${fingerprint(values.trainerAccessKeyId!)}`,
    );
    expect(out).toContain(
      `trainer: credential name=AWS_SECRET_ACCESS_KEY source=file:train-s3/AWS_SECRET_ACCESS_KEY sha256=${fingerprint(values.trainerSecretAccessKey!)}`,
    );
    expect(out).toMatch(
      /trainer: object bucket=datasets key=finetune\/train\.csv size=\d+ sha256=[0-9a-f]{12}/,
    );
    expect(out).toMatch(/✓ the trainer used the keys of ml\/training\/s3/);
    expect(out).toMatch(/✓ Secret ml-team\/train-s3-finetune revoked once the Job ended \(\d+\.\d+s\)/);
    expect(out).toMatch(
      /SecretBinding ml-team\/train-s3 event: Normal Revoked: Secret "train-s3-finetune" revoked: Job "finetune"/,
    );

    // The rotation: the container reports the new value's fingerprint, with the timings.
    expect(out).toContain(
      `trainer: file file=registry-token/MODEL_REGISTRY_TOKEN sha256=${fingerprint(values.registryToken!)}`,
    );
    const reported =
      /the container reports sha256 ([0-9a-f]{12}) for registry-token\/MODEL_REGISTRY_TOKEN/.exec(out)?.[1];
    expect(reported).toBe(fingerprint(values.rotatedToken!));
    const timings =
      /store → Secret (\d+\.\d+)s, Secret → file in the container (-?\d+\.\d+)s, container restarts: 0/.exec(
        out,
      );
    expect(timings).not.toBeNull();
    console.log(
      `[e2e] demo rotation: store → Secret ${timings![1]}s, Secret → file ${timings![2]}s; ` +
        `${/demo complete: .*\((\d+\.\d+s) since start\)/.exec(out)?.[1]} to the end`,
    );
    expect(out).toMatch(
      /demo complete: examples Ready, training Job Complete with its Secret revoked, rotation seen/,
    );

    // Everything it started is stopped again, and the host is as it was.
    for (const what of ['moto', 'cluster']) expect(out).toMatch(new RegExp(`■ stopped ${what}`));
    expect(hostLeftovers(demoDirOf(out))).toEqual([]);
    expect(leaks(values, out)).toEqual([]);
  },
  RUN_MS,
);

test(
  'Ctrl-C (SIGINT) in interactive mode stops everything the demo started and restores the host',
  async () => {
    const valuesFile = path.join(workDir, 'interactive-values.json');
    const run = await runDemo([], valuesFile, (output, kill) => {
      if (output.includes('Press Ctrl-C to stop')) kill();
    });
    if (run.code !== 130) console.log(run.output);
    expect(run.output).toContain('Press Ctrl-C to stop');
    expect(run.output).toContain('interrupted: stopping everything the demo started');
    expect(run.code).toBe(130);
    // etcd, kube-apiserver, kube-controller-manager, containerd, kube-scheduler, kubelet,
    // kube-proxy, moto: each printed with its pid.
    const pids = [...run.output.matchAll(/ pid[= ](\d+)/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThanOrEqual(8);
    expect(pids.filter(isAlive)).toEqual([]);
    const demoDir = demoDirOf(run.output);
    expect(hostLeftovers(demoDir)).toEqual([]);
    expect(leaks(seeded(valuesFile), run.output)).toEqual([]);
    // An interrupted demo keeps its directory (logs) and says so.
    expect(run.output).toContain(`working directory kept: ${demoDir}`);
    fs.rmSync(demoDir, { recursive: true, force: true });
  },
  RUN_MS,
);

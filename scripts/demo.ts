// `npm run demo` (see README): from a fresh clone, one command to the product doing its job on
// a real node. Starts the harness's cluster with a node that runs pods (Linux, root; see
// docs/decisions/0008-real-node.md) and moto (the AWS emulator) on the node bridge's address, seeds
// moto through the AWS SDK (IAM users, Secrets Manager secrets, an S3 dataset) and turns its IAM
// checks on, installs the operator with the Helm chart (its image built from the Dockerfile,
// podRefresh on), applies manifests/examples/aws-secrets-manager.yaml (its store pointed at moto,
// its keys an IAM user's) and manifests/examples/kubernetes-provider.yaml, waits until every
// binding is Ready and prints a summary: each binding's Ready condition, status fields, Events
// and the projected Secret's keys, never its values. Then, with real pods:
//   - a training Job gets its own S3 credentials (a PerWorkload binding, projected as a volume),
//     reads its dataset from moto S3 with them and completes on its own; its Secret is revoked;
//   - a long-running trainer pod mounts a binding's Secret; the value is changed in moto and the
//     container reports the new value's fingerprint, with the time store → Secret → file.
// Workloads print fingerprints (the first 12 hex digits of a SHA-256), never values. Ctrl-C stops
// everything it started and restores the host.
//
//   npm run demo                 runs until Ctrl-C
//   npm run demo -- --ci         (or CI=true) exits at the end: 0 when every binding is Ready,
//                                the Job completed and lost its Secret and the rotation reached
//                                the pod, 1 otherwise or after --timeout seconds (default 240;
//                                the one-off builds and installs before the first step do not
//                                count)
//   npm run demo -- --keep       keeps the working directory (logs, kubeconfig) after exit
//
// MLSECRETS_DEMO_VALUES_FILE=path: write the seeded values there (JSON, name → value), for the
// test that checks none of them reaches the output.
import { randomBytes } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { IAMClient } from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import * as k8s from '@kubernetes/client-node';
import { dump, loadAll } from 'js-yaml';
import { fingerprint } from '../test/harness/chart.ts';
import { ensureImages, startCluster, type Cluster } from '../test/harness/cluster.ts';
import { ensureControlPlaneBinaries } from '../test/harness/control-plane.ts';
import {
  awsClientConfig,
  createIamUser,
  enableMotoAuth,
  installEmulators,
  startMoto,
  type AccessKey,
  type Emulator,
} from '../test/harness/emulators.ts';
import { eventually } from '../test/harness/kube.ts';
import { IMAGES } from '../test/harness/node-cluster.ts';
import { NETWORK, nodeToolsMissing, nodeUnsupportedReason } from '../test/harness/node/host.ts';
import type { ManagedProcess } from '../test/harness/process.ts';
import { SecretWatch, startWatchingTrainer } from '../test/harness/workloads.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const ci = argv.includes('--ci') || /^(1|true)$/i.test(process.env.CI ?? '');
const keep = argv.includes('--keep');
const timeoutSeconds = Number(
  /^--timeout=(\d+)$/.exec(argv.find((a) => a.startsWith('--timeout=')) ?? '')?.[1] ?? 240,
);
for (const arg of argv) {
  if (!/^--(ci|keep|timeout=\d+)$/.test(arg)) {
    console.error(`unknown argument ${arg}\nusage: npm run demo [-- --ci] [--keep] [--timeout=SECONDS]`);
    process.exit(2);
  }
}

// The node needs Linux and root; the packages it runs are installed below when missing.
if (process.platform !== 'linux' || process.getuid?.() !== 0) {
  console.error(`npm run demo runs pods on a real node: ${nodeUnsupportedReason() ?? 'unsupported host'}`);
  process.exit(1);
}

const group = 'mlsecrets.io';
const version = 'v1alpha1';
const operatorNamespace = 'mlsecrets-system';
const team = 'ml-team'; // the examples' namespace, labelled team=ml: the aws-ml store serves it
const release = 'mlsecrets';
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const dim = (text: string) => paint(2, text);
const green = (text: string) => paint(32, text);
const red = (text: string) => paint(31, text);
const bold = (text: string) => paint(1, text);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-demo-'));
const logDir = path.join(dir, 'logs');
const started = Date.now();
/** What to stop on exit, last started first. */
const cleanups: { name: string; run: () => Promise<void> }[] = [];
let exiting = false;

function seconds(since: number, until?: number): string {
  return `${(((until ?? Date.now()) - since) / 1000).toFixed(1)}s`;
}

/** Never settles: once the demo is stopping, nothing new starts while it stops what runs. */
const stopping = () => new Promise<never>(() => undefined);

async function step<T>(name: string, run: () => Promise<T> | T): Promise<T> {
  if (exiting) return stopping();
  const begin = Date.now();
  console.log(`${dim('→')} ${name} …`);
  try {
    const result = await run();
    if (exiting) return stopping();
    console.log(`${green('✓')} ${name} ${dim(`(${seconds(begin)})`)}`);
    return result;
  } catch (error) {
    if (exiting) return stopping();
    console.log(`${red('✗')} ${name} ${dim(`(${seconds(begin)})`)}`);
    throw error;
  }
}

/** Child commands running now (helm): ended first when the demo stops. */
const running = new Set<AbortController>();

/** Runs a command to completion and returns its stdout; rejects with its own output. */
async function run(command: string, args: string[]): Promise<string> {
  const abort = new AbortController();
  running.add(abort);
  try {
    return (await promisify(execFile)(command, args, { cwd: repoRoot, signal: abort.signal })).stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `${path.basename(command)} ${args[0] ?? ''}: ${(e.stderr || e.stdout || e.message).trim()}`,
    );
  } finally {
    running.delete(abort);
  }
}

async function shutdown(code: number, why?: string): Promise<never> {
  if (exiting) {
    if (code === 130) process.exit(code); // a second Ctrl-C: give up waiting
    return new Promise<never>(() => undefined); // the first shutdown finishes and exits
  }
  exiting = true;
  if (why) console.log(why);
  for (const abort of running) abort.abort();
  for (const { name, run } of cleanups.reverse()) {
    const begin = Date.now();
    try {
      await run();
      console.log(`${dim('■')} stopped ${name} ${dim(`(${seconds(begin)})`)}`);
    } catch (error) {
      console.log(`${red('■')} stopping ${name} failed: ${(error as Error).message}`);
    }
  }
  if (keep || code !== 0) console.log(`working directory kept: ${dir} (logs in ${logDir})`);
  else fs.rmSync(dir, { recursive: true, force: true });
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(130, '\ninterrupted: stopping everything the demo started'));
process.on('SIGTERM', () => void shutdown(143, 'terminated: stopping everything the demo started'));

/**
 * Registers what `start` brings up before it is up: a Ctrl-C during a start waits for it to
 * finish (or fail, which cleans up after itself) and then stops it.
 */
function startedWith<T>(name: string, start: Promise<T>, stop: (started: T) => Promise<void>): Promise<T> {
  cleanups.push({
    name,
    run: async () => {
      const done = await start.then(
        (s) => ({ s }),
        () => undefined,
      );
      if (done) await stop(done.s);
    },
  });
  return start;
}

function token(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

/**
 * The values the demo plants: random per run (the IAM keys are moto's), written only to moto
 * and, for the operator's own keys, to the aws-creds Secret.
 */
const values: Record<string, string> = {
  hfToken: token('hf_demo_'),
  hfTokenPrevious: token('hf_demo_old_'),
  wandbKey: token('wandb_demo_'),
  signingKey: `-----BEGIN DEMO SIGNING KEY-----\n${randomBytes(24).toString('base64')}\n-----END DEMO SIGNING KEY-----\n`,
  registryToken: token('registry_demo_'),
  rotatedToken: token('registry_demo_rotated_'),
};

/** For the test: the seeded values, to show none of them is printed. */
function recordValues(): void {
  if (!process.env.MLSECRETS_DEMO_VALUES_FILE) return;
  fs.writeFileSync(process.env.MLSECRETS_DEMO_VALUES_FILE, JSON.stringify(values), { mode: 0o600 });
}

const wandbVersionId = '01234567-89ab-4cde-8f01-23456789abcd'; // the example pins this version
const dataset = {
  bucket: 'datasets',
  key: 'finetune/train.csv',
  body: `step,loss\n${Array.from({ length: 200 }, (_, i) => `${i},${(1 / (i + 1)).toFixed(4)}`).join('\n')}\n`,
};

interface Seeded {
  /** The operator's keys: read Secrets Manager, nothing else. */
  operator: AccessKey;
  /** The training Job's keys, kept in ml/training/s3: read S3 objects, nothing else. */
  trainer: AccessKey;
  /** The demo's own keys, to change a secret once moto checks every request. */
  rotator: AccessKey;
}

/** Seeds moto while it accepts anything, then turns its IAM checks on: only IAM keys work after. */
async function seedMoto(endpoint: string): Promise<Seeded> {
  const iam = new IAMClient(awsClientConfig(endpoint));
  const sm = new SecretsManagerClient(awsClientConfig(endpoint));
  try {
    const operator = await createIamUser(iam, 'mlsecrets-operator', [
      'secretsmanager:GetSecretValue',
      'secretsmanager:BatchGetSecretValue',
      'secretsmanager:DescribeSecret',
      'secretsmanager:ListSecrets',
    ]);
    const trainer = await createIamUser(iam, 'trainer', ['s3:GetObject']);
    const rotator = await createIamUser(iam, 'rotator', ['secretsmanager:PutSecretValue']);
    Object.assign(values, {
      operatorAccessKeyId: operator.id,
      operatorSecretAccessKey: operator.secret,
      trainerAccessKeyId: trainer.id,
      trainerSecretAccessKey: trainer.secret,
      rotatorAccessKeyId: rotator.id,
      rotatorSecretAccessKey: rotator.secret,
    });
    recordValues();

    await sm.send(
      new CreateSecretCommand({
        Name: 'ml/huggingface',
        SecretString: JSON.stringify({ token: values.hfTokenPrevious, org: 'acme-ml' }),
      }),
    );
    // A second version: the first one becomes AWSPREVIOUS, which the example also reads.
    await sm.send(
      new PutSecretValueCommand({
        SecretId: 'ml/huggingface',
        SecretString: JSON.stringify({ token: values.hfToken, org: 'acme-ml' }),
      }),
    );
    await sm.send(
      new CreateSecretCommand({
        Name: 'ml/wandb',
        SecretString: JSON.stringify({ api_key: values.wandbKey }),
        ClientRequestToken: wandbVersionId,
      }),
    );
    await sm.send(new CreateSecretCommand({ Name: 'ml/model-signing-key', SecretString: values.signingKey }));
    await sm.send(
      new CreateSecretCommand({
        Name: 'ml/training/s3',
        SecretString: JSON.stringify({
          AWS_ACCESS_KEY_ID: trainer.id,
          AWS_SECRET_ACCESS_KEY: trainer.secret,
        }),
      }),
    );
    await sm.send(
      new CreateSecretCommand({
        Name: 'ml/model-registry',
        SecretString: JSON.stringify({ token: values.registryToken }),
      }),
    );
    // Unsigned S3 writes are accepted while moto's IAM checks are off.
    for (const [url, body] of [
      [`${endpoint}/${dataset.bucket}`, undefined],
      [`${endpoint}/${dataset.bucket}/${dataset.key}`, dataset.body],
    ] as const) {
      const response = await fetch(url, { method: 'PUT', body });
      if (!response.ok) throw new Error(`seeding ${url}: HTTP ${response.status}`);
    }
    await enableMotoAuth(endpoint);
    return { operator, trainer, rotator };
  } finally {
    iam.destroy();
    sm.destroy();
  }
}

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  stringData?: Record<string, string>;
}

/** manifests/examples/aws-secrets-manager.yaml with the store pointed at moto and the operator's IAM keys. */
function awsExample(endpoint: string, key: AccessKey): Manifest[] {
  const file = path.join(repoRoot, 'manifests/examples/aws-secrets-manager.yaml');
  const docs = loadAll(fs.readFileSync(file, 'utf8')) as Manifest[];
  for (const doc of docs) {
    if (doc.kind === 'Secret' && doc.metadata.name === 'aws-creds') {
      doc.stringData = { 'access-key-id': key.id, 'secret-access-key': key.secret };
    }
    if (doc.kind === 'ClusterSecretStore') {
      const provider = doc.spec?.provider as { aws: Record<string, unknown> };
      provider.aws.endpoint = endpoint;
    }
  }
  return docs;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Resource {
  metadata: k8s.V1ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown> & { conditions?: Condition[]; observedGeneration?: number };
}

function readyOf(resource: Resource): Condition | undefined {
  return resource.status?.conditions?.find((c) => c.type === 'Ready');
}

function isReady(resource: Resource): boolean {
  const ready = readyOf(resource);
  const observed = resource.status?.observedGeneration;
  return ready?.status === 'True' && (observed === undefined || observed === resource.metadata.generation);
}

async function listBindings(custom: k8s.CustomObjectsApi): Promise<Resource[]> {
  const list = (await custom.listClusterCustomObject({ group, version, plural: 'secretbindings' })) as {
    items: Resource[];
  };
  return list.items;
}

async function listStores(custom: k8s.CustomObjectsApi): Promise<{ kind: string; item: Resource }[]> {
  const cluster = (await custom.listClusterCustomObject({
    group,
    version,
    plural: 'clustersecretstores',
  })) as {
    items: Resource[];
  };
  const namespaced = (await custom.listClusterCustomObject({ group, version, plural: 'secretstores' })) as {
    items: Resource[];
  };
  return [
    ...cluster.items.map((item) => ({ kind: 'ClusterSecretStore', item })),
    ...namespaced.items.map((item) => ({ kind: 'SecretStore', item })),
  ];
}

function conditionText(condition: Condition | undefined): string {
  if (!condition) return red('Ready=<none yet>');
  const text = `Ready=${condition.status} (${condition.reason ?? ''})`;
  return condition.status === 'True' ? green(text) : red(text);
}

function statusFields(status: Resource['status']): string[] {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(status ?? {})) {
    if (key === 'conditions') continue;
    if (Array.isArray(value)) {
      lines.push(`${key}:`);
      for (const item of value)
        lines.push(`  - ${typeof item === 'object' ? JSON.stringify(item) : String(item)}`);
    } else lines.push(`${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  }
  return lines;
}

/** Events about one object of `kind`, oldest first. */
async function eventsOf(
  core: k8s.CoreV1Api,
  namespace: string,
  kind: string,
  name: string,
): Promise<k8s.CoreV1Event[]> {
  const fieldSelector = `involvedObject.kind=${kind},involvedObject.name=${name}`;
  const { items } = await core.listNamespacedEvent({ namespace, fieldSelector });
  return items.sort((a, b) =>
    String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')),
  );
}

function eventLine(event: k8s.CoreV1Event): string {
  const count = event.count && event.count > 1 ? ` (x${event.count})` : '';
  return `${event.type ?? ''} ${event.reason ?? ''}${count}: ${event.message ?? ''}`;
}

/**
 * A binding's Events. A Ready binding's `Synced` Event may trail its status by a second or two
 * (the operator holds Events while first syncs are still arriving), so for one of those this
 * waits up to 10 s for the first.
 */
async function bindingEvents(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
  awaitFirst: boolean,
): Promise<k8s.CoreV1Event[]> {
  for (const deadline = Date.now() + 10_000; ; await new Promise((resolve) => setTimeout(resolve, 250))) {
    const items = await eventsOf(core, namespace, 'SecretBinding', name);
    if (items.length > 0 || !awaitFirst || Date.now() > deadline) return items;
  }
}

async function printSummary(kc: k8s.KubeConfig): Promise<boolean> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const indent = (lines: string[], by = '    ') => lines.map((l) => by + l).join('\n');
  console.log(`\n${bold('Summary')}\n`);
  for (const { kind, item } of await listStores(custom)) {
    const ready = readyOf(item);
    const where = item.metadata.namespace ? `${item.metadata.namespace}/` : '';
    console.log(
      `${kind} ${bold(`${where}${item.metadata.name}`)}  ${conditionText(ready)}  ${ready?.message ?? ''}`,
    );
  }
  let allReady = true;
  const bindings = await listBindings(custom);
  for (const binding of bindings) {
    const { name, namespace } = binding.metadata as { name: string; namespace: string };
    const ready = readyOf(binding);
    allReady &&= isReady(binding);
    console.log(`\nSecretBinding ${bold(`${namespace}/${name}`)}  ${conditionText(ready)}`);
    if (ready?.message) console.log(`  message: ${ready.message}`);
    const secretName = (binding.status?.secretName as string | undefined) ?? name;
    try {
      const secret = await core.readNamespacedSecret({ namespace, name: secretName });
      // Keys only: the values never leave the cluster.
      const keys = Object.keys(secret.data ?? {}).sort();
      console.log(
        `  Secret ${namespace}/${secretName} (${secret.type ?? 'Opaque'}), keys: ${keys.join(', ')}`,
      );
    } catch {
      console.log(`  Secret ${namespace}/${secretName}: ${red('not created yet')}`);
    }
    console.log('  status:');
    console.log(indent(statusFields(binding.status)));
    const events = await bindingEvents(core, namespace, name, isReady(binding));
    console.log('  events:');
    if (events.length === 0) console.log('    (none)');
    for (const event of events) console.log(`    ${eventLine(event)}`);
  }
  console.log(
    `\n${allReady && bindings.length > 0 ? green(`all ${bindings.length} bindings Ready`) : red('not every binding is Ready')}` +
      ` ${dim(`(${seconds(started)} since start)`)}\n`,
  );
  return allReady && bindings.length > 0;
}

/** A line a trainer container printed (test/e2e/images/trainer/trainer.mjs): fingerprints, never values. */
interface TrainerLine {
  event: string;
  ts?: string;
  sha256?: string;
  [field: string]: unknown;
}

async function trainerLines(core: k8s.CoreV1Api, namespace: string, pod: string): Promise<TrainerLine[]> {
  const log = await core.readNamespacedPodLog({ namespace, name: pod });
  return String(log)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as TrainerLine);
}

/** One trainer line as the demo shows it: its fields without the timestamp. */
function showTrainerLine(line: TrainerLine): string {
  const { event, ts: _ts, ...fields } = line;
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `    ${dim('trainer:')} ${event} ${rest}`;
}

async function createBinding(
  custom: k8s.CustomObjectsApi,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await custom.createNamespacedCustomObject({
    group,
    version,
    namespace: team,
    plural: 'secretbindings',
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'SecretBinding',
      metadata: { name, namespace: team },
      spec,
    },
  });
}

async function waitBindingReady(custom: k8s.CustomObjectsApi, name: string): Promise<Resource> {
  return eventually(
    async () =>
      (await custom.getNamespacedCustomObject({
        group,
        version,
        namespace: team,
        plural: 'secretbindings',
        name,
      })) as Resource,
    isReady,
    { timeoutMs: 60_000, intervalMs: 250, what: `SecretBinding ${team}/${name} Ready` },
  );
}

function jobOutcome(job: k8s.V1Job): string | undefined {
  return job.status?.conditions?.find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  )?.type;
}

async function main(): Promise<void> {
  console.log(bold('mlsecrets demo') + dim(` (working directory ${dir})`));
  recordValues();
  const helmBin = await step(
    'Kubernetes binaries, node packages, images and emulators (built or installed once, then cached)',
    async () => {
      ensureControlPlaneBinaries(repoRoot);
      execFileSync('bash', [path.join(repoRoot, 'scripts', 'install-node.sh')], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const missing = nodeToolsMissing();
      if (missing) throw new Error(missing);
      const imagesDir = ensureImages(repoRoot);
      console.log(dim(`    images in ${imagesDir}`));
      return (await installEmulators()).helm;
    },
  );
  if (ci) {
    setTimeout(
      () => void shutdown(1, red(`timed out after ${timeoutSeconds}s (--timeout); logs in ${logDir}`)),
      timeoutSeconds * 1000,
    ).unref();
  }

  const cluster: Cluster = await step(
    'cluster with a node: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, containerd',
    () =>
      startedWith(
        'cluster (node, then control plane; host restored)',
        startCluster({ repoRoot, dir, node: true, log: (l) => console.log(dim(`    ${l}`)) }),
        (c) => c.stop(),
      ),
  );
  const nodeProcesses = cluster.node?.processes ?? [];
  console.log(dim(`    node processes: ${nodeProcesses.map((p) => `${p.name} pid=${p.pid}`).join(', ')}`));
  const kubeconfig = cluster.kubeconfigPath;

  const moto: Emulator = await step(
    `moto on the node bridge's address (${NETWORK.hostAddress}), where pods reach it`,
    () => startedWith('moto', startMoto(logDir, { host: NETWORK.hostAddress }), (m) => m.stop()),
  );
  // Interactive: a process of the cluster that dies ends the demo.
  const watched: ManagedProcess[] = [...cluster.controlPlane.processes, ...nodeProcesses, moto.process];

  const kubectl = (...args: string[]) =>
    execFileSync('kubectl', ['--kubeconfig', kubeconfig, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  // Right after the CRDs are Established, kubectl's discovery may not list their kinds yet
  // ("no matches for kind"): try again for a few seconds.
  const applyWithRetry = async (file: string) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        return kubectl('apply', '-f', file);
      } catch (error) {
        const stderr = String((error as { stderr?: unknown }).stderr ?? '');
        if (Date.now() > deadline || !/no matches for kind|ensure CRDs are installed/.test(stderr)) {
          throw new Error(`kubectl apply -f ${file}: ${stderr.trim() || (error as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  const seeded = await step(
    `seed moto (${moto.endpoint}): IAM users, ml/huggingface, ml/wandb, ml/model-signing-key, ml/training/s3, ` +
      `ml/model-registry, s3://${dataset.bucket}/${dataset.key}; then IAM checks on`,
    () => seedMoto(moto.endpoint),
  );

  const helmArgs = [
    'install',
    release,
    'charts/mlsecrets',
    '--namespace',
    operatorNamespace,
    '--create-namespace',
    '--set',
    `tests.image=${IMAGES.busybox}`,
    '--set',
    'podRefresh.enabled=true',
    '--wait',
    '--timeout',
    '3m',
  ];
  await step(
    `install the operator: helm ${helmArgs.join(' ')} (CRDs, the operator Deployment running the image built from the Dockerfile)`,
    async () => {
      await run(helmBin, ['--kubeconfig', kubeconfig, ...helmArgs]);
      const pods = kubectl(
        'get',
        'pods',
        '-n',
        operatorNamespace,
        '-l',
        'app.kubernetes.io/name=mlsecrets',
        '-o',
        'jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.spec.containers[0].image}{"\\n"}{end}',
      );
      for (const line of pods.trim().split('\n')) console.log(dim(`    pod ${line}`));
    },
  );

  const manifestsDir = path.join(dir, 'manifests');
  await step(
    'apply manifests/examples/aws-secrets-manager.yaml (store pointed at moto) and kubernetes-provider.yaml',
    async () => {
      fs.mkdirSync(manifestsDir, { recursive: true });
      const aws = path.join(manifestsDir, 'aws-secrets-manager.yaml');
      fs.writeFileSync(
        aws,
        awsExample(moto.endpoint, seeded.operator)
          .map((d) => dump(d))
          .join('---\n'),
        { mode: 0o600 },
      );
      await applyWithRetry(aws);
      await applyWithRetry(path.join(repoRoot, 'manifests/examples/kubernetes-provider.yaml'));
    },
  );

  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const ready = await step('wait until every store and SecretBinding is Ready', async () => {
    const deadline = Date.now() + 120_000;
    let last = '';
    while (Date.now() < deadline) {
      // Stores too: a binding can be Ready before its store's own check has reported.
      let objects: Resource[];
      try {
        objects = [...(await listBindings(custom)), ...(await listStores(custom)).map((s) => s.item)];
      } catch {
        // A just-registered CRD can answer 429 or 503 for a moment: ask again.
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      const readyCount = objects.filter(isReady).length;
      const line = `    ${readyCount}/${objects.length} Ready`;
      if (line !== last) console.log(dim(line));
      last = line;
      if (objects.length > 0 && readyCount === objects.length) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  });
  const summaryOk = (await printSummary(kc)) && ready;

  // A training Job with its own S3 credentials, revoked when it ends.
  const jobName = 'finetune';
  const perJobSecret = `train-s3-${jobName}`;
  const trainerEnv = [
    { name: 'S3_ENDPOINT', value: moto.endpoint },
    { name: 'S3_BUCKET', value: dataset.bucket },
    { name: 'S3_KEY', value: dataset.key },
  ];
  await step(
    `SecretBinding ${team}/train-s3: ml/training/s3 (the trainer's S3 keys), projection { as: volume, scope: PerWorkload }`,
    async () => {
      await createBinding(custom, 'train-s3', {
        storeRef: { kind: 'ClusterSecretStore', name: 'aws-ml' },
        dataFrom: [{ extract: { key: 'ml/training/s3' } }],
        lifetime: { ttl: '1h' },
        projection: { as: 'volume', scope: 'PerWorkload' },
      });
      const binding = await waitBindingReady(custom, 'train-s3');
      console.log(dim(`    ${conditionText(readyOf(binding))} ${readyOf(binding)?.message ?? ''}`));
    },
  );
  // When the per-Job Secret appears and goes, and when the Job finishes, as a client sees them.
  const seen: { issued?: number; finished?: number; revoked?: number } = {};
  const watches = [
    await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${team}/secrets`,
      { fieldSelector: `metadata.name=${perJobSecret}` },
      (type: string) => {
        if (type === 'ADDED') seen.issued ??= Date.now();
        if (type === 'DELETED') seen.revoked ??= Date.now();
      },
      () => undefined,
    ),
    await new k8s.Watch(kc).watch(
      `/apis/batch/v1/namespaces/${team}/jobs`,
      { fieldSelector: `metadata.name=${jobName}` },
      (_type: string, j: k8s.V1Job) => {
        if (jobOutcome(j)) seen.finished ??= Date.now();
      },
      () => undefined,
    ),
  ];
  const jobCreated = Date.now();
  const job = await step(
    `training Job ${team}/${jobName} (${IMAGES.trainer}, pod label mlsecrets.io/binding=train-s3) reads s3://${dataset.bucket}/${dataset.key}`,
    async () => {
      await batch.createNamespacedJob({
        namespace: team,
        body: {
          metadata: { name: jobName },
          spec: {
            backoffLimit: 0,
            template: {
              metadata: { labels: { 'mlsecrets.io/binding': 'train-s3' } },
              spec: {
                restartPolicy: 'Never',
                containers: [
                  { name: 'train', image: IMAGES.trainer, imagePullPolicy: 'Never', env: trainerEnv },
                ],
              },
            },
          },
        },
      });
      const secret = await eventually(
        () => core.readNamespacedSecret({ namespace: team, name: perJobSecret }),
        () => true,
        { timeoutMs: 60_000, intervalMs: 250, what: `the per-Job Secret ${perJobSecret}` },
      );
      const owner = secret.metadata?.ownerReferences?.[0];
      console.log(
        dim(
          `    Secret ${team}/${perJobSecret} issued ${seconds(jobCreated, seen.issued)} after the Job was created, ` +
            `owned by ${owner?.kind ?? '?'} ${owner?.name ?? '?'}, keys: ${Object.keys(secret.data ?? {})
              .sort()
              .join(', ')}`,
        ),
      );
      return eventually(
        () => batch.readNamespacedJob({ namespace: team, name: jobName }),
        (j) => jobOutcome(j) !== undefined,
        { timeoutMs: 120_000, intervalMs: 250, what: `Job ${jobName} to finish` },
      );
    },
  );
  const outcome = jobOutcome(job);
  const finishedAt = seen.finished ?? Date.now();
  console.log(
    `${outcome === 'Complete' ? green('✓') : red('✗')} Job ${team}/${jobName} reached ${outcome} on its own ` +
      `(succeeded ${job.status?.succeeded ?? 0}, failed ${job.status?.failed ?? 0}) ${dim(`(${seconds(jobCreated, finishedAt)} after creation)`)}`,
  );
  const pods = await core.listNamespacedPod({ namespace: team, labelSelector: `job-name=${jobName}` });
  const lines = pods.items[0] ? await trainerLines(core, team, pods.items[0].metadata!.name!) : [];
  for (const line of lines) console.log(showTrainerLine(line));
  const credential = (name: string) => lines.find((l) => l.event === 'credential' && l.name === name);
  const object = lines.find((l) => l.event === 'object');
  const trainOk =
    outcome === 'Complete' &&
    credential('AWS_ACCESS_KEY_ID')?.sha256 === fingerprint(seeded.trainer.id) &&
    credential('AWS_SECRET_ACCESS_KEY')?.sha256 === fingerprint(seeded.trainer.secret) &&
    object?.size === dataset.body.length &&
    object.sha256 === fingerprint(dataset.body);
  console.log(
    trainOk
      ? `${green('✓')} the trainer used the keys of ml/training/s3 (same fingerprints) and read the whole dataset (${dataset.body.length} bytes)`
      : `${red('✗')} the trainer's lines do not show the keys of ml/training/s3 reading the dataset`,
  );
  const revoked = await step(`Secret ${team}/${perJobSecret} revoked once the Job ended`, async () => {
    try {
      await eventually(
        async () => {
          try {
            await core.readNamespacedSecret({ namespace: team, name: perJobSecret });
            return false;
          } catch (error) {
            if (error instanceof k8s.ApiException && error.code === 404) return true;
            throw error;
          }
        },
        (gone) => gone,
        { timeoutMs: 60_000, intervalMs: 250, what: `${perJobSecret} revoked` },
      );
    } finally {
      for (const w of watches) w.abort();
    }
    console.log(
      dim(
        `    deleted ${(((seen.revoked ?? Date.now()) - finishedAt) / 1000).toFixed(2)}s after the Job finished`,
      ),
    );
    const event = await eventually(
      async () =>
        (await eventsOf(core, team, 'SecretBinding', 'train-s3')).find(
          (e) => e.reason === 'Revoked' && e.message?.includes(perJobSecret),
        ),
      (e) => e !== undefined,
      { timeoutMs: 30_000, intervalMs: 250, what: `the Revoked Event of ${perJobSecret}` },
    );
    console.log(`    SecretBinding ${team}/train-s3 event: ${eventLine(event!)}`);
    return true;
  });

  // A rotation reaching a running pod.
  const podName = 'trainer-watch';
  await step(
    `SecretBinding ${team}/registry-token: ml/model-registry (token), refreshInterval 5s, projection { as: volume }`,
    async () => {
      await createBinding(custom, 'registry-token', {
        storeRef: { kind: 'ClusterSecretStore', name: 'aws-ml' },
        data: [
          { secretKey: 'MODEL_REGISTRY_TOKEN', remoteRef: { key: 'ml/model-registry', property: 'token' } },
        ],
        // The store is read again every 5 s: that is when a change in the store is seen.
        lifetime: { ttl: '1h', refreshInterval: '5s' },
        projection: { as: 'volume' },
      });
      await waitBindingReady(custom, 'registry-token');
    },
  );
  await step(
    `long-running trainer pod ${team}/${podName} (TRAINER_MODE=watch) mounting it, reporting the first value`,
    async () => {
      await startWatchingTrainer(core, team, podName, 'registry-token');
      const first = await eventually(
        () => trainerLines(core, team, podName),
        (ls) => ls.some((l) => l.event === 'file' && l.sha256 === fingerprint(values.registryToken!)),
        { timeoutMs: 90_000, intervalMs: 250, what: `${podName} reporting the first value` },
      );
      for (const line of first) console.log(showTrainerLine(line));
    },
  );
  const rotation = await step(
    'change ml/model-registry in moto (PutSecretValue) and wait for the running container to report it',
    async () => {
      const watch = await SecretWatch.start(kc, team, 'registry-token');
      const sm = new SecretsManagerClient({
        ...awsClientConfig(moto.endpoint),
        credentials: { accessKeyId: seeded.rotator.id, secretAccessKey: seeded.rotator.secret },
      });
      try {
        const changedAt = Date.now();
        await sm.send(
          new PutSecretValueCommand({
            SecretId: 'ml/model-registry',
            SecretString: JSON.stringify({ token: values.rotatedToken }),
          }),
        );
        const written = await watch.until((d) => d.MODEL_REGISTRY_TOKEN === values.rotatedToken, 60_000);
        const expected = fingerprint(values.rotatedToken!);
        const seen = await eventually(
          () => trainerLines(core, team, podName),
          (ls) => ls.some((l) => l.event === 'changed' && l.sha256 === expected),
          { timeoutMs: 90_000, intervalMs: 200, what: 'the rotated value in the container' },
        );
        const changed = seen.find((l) => l.event === 'changed' && l.sha256 === expected)!;
        const inContainer = Date.parse(String(changed.ts));
        console.log(showTrainerLine(changed));
        const pod = await core.readNamespacedPod({ namespace: team, name: podName });
        const restarts = pod.status?.containerStatuses?.[0]?.restartCount ?? 0;
        console.log(
          `    the container reports sha256 ${changed.sha256} for ${String(changed.file)}: ` +
            `${changed.sha256 === expected ? green('the fingerprint of the new value') : red('not the new value')}`,
        );
        console.log(
          `    store → Secret ${((written - changedAt) / 1000).toFixed(2)}s, ` +
            `Secret → file in the container ${((inContainer - written) / 1000).toFixed(2)}s, ` +
            `container restarts: ${restarts}`,
        );
        console.log(
          dim(
            '    (the binding reads the store every 5s; podRefresh has the kubelet remount the volume ' +
              'at once instead of at its next sync, up to a minute later)',
          ),
        );
        return changed.sha256 === expected && restarts === 0;
      } finally {
        watch.stop();
        sm.destroy();
      }
    },
  );

  const ok = summaryOk && trainOk && revoked && rotation;
  console.log(
    `\n${ok ? green('demo complete') : red('demo incomplete')}: examples ${summaryOk ? 'Ready' : 'not Ready'}, ` +
      `training Job ${outcome ?? 'unfinished'} with its Secret ${revoked ? 'revoked' : 'not revoked'}, ` +
      `rotation ${rotation ? 'seen in the running container' : 'not seen'} ${dim(`(${seconds(started)} since start)`)}`,
  );
  if (ci) await shutdown(ok ? 0 : 1);
  console.log(
    `\nThe cluster keeps running: kubectl --kubeconfig ${kubeconfig} get secretbindings,jobs,pods -n ${team}` +
      `\n  kubectl --kubeconfig ${kubeconfig} logs -n ${team} ${podName} -f    (the watching trainer)` +
      `\n  kubectl --kubeconfig ${kubeconfig} logs -n ${operatorNamespace} deploy/${release}    (the operator)` +
      `\nLogs in ${logDir} and ${path.join(dir, 'node', 'logs')}.` +
      `\nPress Ctrl-C to stop everything the demo started.`,
  );
  for (const p of watched) {
    void p.exited.then(
      (code) =>
        void shutdown(
          1,
          red(`${p.name} (pid ${p.pid}) exited (code ${code}); logs in ${path.dirname(p.logFile)}`),
        ),
    );
  }
}

main().catch((error: unknown) => {
  if (!exiting) console.error(red(`demo failed: ${(error as Error).message}`));
  void shutdown(1);
});

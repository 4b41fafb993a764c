// `npm run demo` (DESIGN.md §6): from a fresh clone, one command to a working example. Starts
// the local control plane and moto (the AWS emulator), seeds moto with example values through
// the AWS SDK, applies the CRDs and manifests/examples/aws-secrets-manager.yaml (its store
// pointed at moto, its access keys fake) and manifests/examples/kubernetes-provider.yaml,
// starts the operator (src/main.ts, as a child process), waits until every binding is Ready and
// prints a summary: each binding's Ready condition, status fields, Events and the projected
// Secret's keys, never its values. Ctrl-C stops everything it started.
//
//   npm run demo                 runs until Ctrl-C
//   npm run demo -- --ci         (or CI=true) exits after the summary: 0 when every binding is
//                                Ready, 1 otherwise or after --timeout seconds (default 120;
//                                the one-off tool installs before the first step do not count)
//   npm run demo -- --keep       keeps the working directory (logs, kubeconfig) after exit
//
// MLSECRETS_DEMO_VALUES_FILE=path: write the seeded values there (JSON), for the test that
// checks none of them reaches the output.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import * as k8s from '@kubernetes/client-node';
import { dump, loadAll } from 'js-yaml';
import { ensureControlPlaneBinaries, startControlPlane } from '../test/harness/control-plane.ts';
import { awsClientConfig, installEmulators, startMoto } from '../test/harness/emulators.ts';
import { startProcess, type ManagedProcess } from '../test/harness/process.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const ci = argv.includes('--ci') || /^(1|true)$/i.test(process.env.CI ?? '');
const keep = argv.includes('--keep');
const timeoutSeconds = Number(
  /^--timeout=(\d+)$/.exec(argv.find((a) => a.startsWith('--timeout=')) ?? '')?.[1] ?? 120,
);
for (const arg of argv) {
  if (!/^--(ci|keep|timeout=\d+)$/.test(arg)) {
    console.error(`unknown argument ${arg}\nusage: npm run demo [-- --ci] [--keep] [--timeout=SECONDS]`);
    process.exit(2);
  }
}

const group = 'mlsecrets.io';
const version = 'v1alpha1';
const operatorNamespace = 'mlsecrets-system';
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

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

async function step<T>(name: string, run: () => Promise<T> | T): Promise<T> {
  const begin = Date.now();
  console.log(`${dim('→')} ${name} …`);
  try {
    const result = await run();
    console.log(`${green('✓')} ${name} ${dim(`(${seconds(begin)})`)}`);
    return result;
  } catch (error) {
    console.log(`${red('✗')} ${name} ${dim(`(${seconds(begin)})`)}`);
    throw error;
  }
}

async function shutdown(code: number, why?: string): Promise<never> {
  if (exiting) {
    if (code === 130) process.exit(code); // a second Ctrl-C: give up waiting
    return new Promise<never>(() => undefined); // the first shutdown finishes and exits
  }
  exiting = true;
  if (why) console.log(why);
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

function token(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

/** Example values: random per run, written only to moto and the fake-keys Secret. */
const values = {
  hfToken: token('hf_demo_'),
  hfTokenPrevious: token('hf_demo_old_'),
  wandbKey: token('wandb_demo_'),
  signingKey: `-----BEGIN DEMO SIGNING KEY-----\n${randomBytes(24).toString('base64')}\n-----END DEMO SIGNING KEY-----\n`,
  accessKeyId: `AKIADEMO${randomBytes(6).toString('hex').toUpperCase()}`,
  secretAccessKey: token('demo-secret-'),
};
const wandbVersionId = '01234567-89ab-4cde-8f01-23456789abcd'; // the example pins this version

async function seedMoto(endpoint: string): Promise<void> {
  const sm = new SecretsManagerClient(awsClientConfig(endpoint));
  try {
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
  } finally {
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

/** manifests/examples/aws-secrets-manager.yaml with the store pointed at moto and fake keys. */
function awsExample(endpoint: string): Manifest[] {
  const file = path.join(repoRoot, 'manifests/examples/aws-secrets-manager.yaml');
  const docs = loadAll(fs.readFileSync(file, 'utf8')) as Manifest[];
  for (const doc of docs) {
    if (doc.kind === 'Secret' && doc.metadata.name === 'aws-creds') {
      doc.stringData = { 'access-key-id': values.accessKeyId, 'secret-access-key': values.secretAccessKey };
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
  const fieldSelector = `involvedObject.kind=SecretBinding,involvedObject.name=${name}`;
  for (const deadline = Date.now() + 10_000; ; await new Promise((resolve) => setTimeout(resolve, 250))) {
    const { items } = await core.listNamespacedEvent({ namespace, fieldSelector });
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
    const sorted = events.sort((a, b) =>
      String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(
        String(b.lastTimestamp ?? b.eventTime ?? ''),
      ),
    );
    if (sorted.length === 0) console.log('    (none)');
    for (const event of sorted) {
      const count = event.count && event.count > 1 ? ` (x${event.count})` : '';
      console.log(`    ${event.type ?? ''} ${event.reason ?? ''}${count}: ${event.message ?? ''}`);
    }
  }
  console.log(
    `\n${allReady && bindings.length > 0 ? green(`all ${bindings.length} bindings Ready`) : red('not every binding is Ready')}` +
      ` ${dim(`(${seconds(started)} since start)`)}`,
  );
  return allReady && bindings.length > 0;
}

async function main(): Promise<void> {
  console.log(bold('mlsecrets demo') + dim(` (working directory ${dir})`));
  const binDir = await step(
    'control plane binaries and emulators (built or installed once, then cached)',
    async () => {
      const bin = ensureControlPlaneBinaries(repoRoot);
      await installEmulators();
      return bin;
    },
  );
  if (ci) {
    setTimeout(
      () => void shutdown(1, red(`timed out after ${timeoutSeconds}s (--timeout); logs in ${logDir}`)),
      timeoutSeconds * 1000,
    ).unref();
  }

  const [controlPlane, moto] = await step(
    'local control plane (etcd, kube-apiserver, kube-controller-manager) and moto',
    () =>
      Promise.all([
        startControlPlane({
          binDir,
          dir: path.join(dir, 'control-plane'),
          log: (l) => console.log(dim(`    ${l}`)),
        }).then((cp) => {
          cleanups.push({ name: 'control plane', run: () => cp.stop() });
          return cp;
        }),
        startMoto(logDir).then((m) => {
          cleanups.push({ name: 'moto', run: () => m.stop() });
          return m;
        }),
      ]),
  );
  const kubeconfig = controlPlane.kubeconfigPath;
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

  await step(
    `seed moto (${moto.endpoint}) with example secrets: ml/huggingface, ml/wandb, ml/model-signing-key`,
    () => seedMoto(moto.endpoint),
  );

  await step('apply crds/ and wait until Established', () => {
    kubectl('apply', '--server-side', '-f', path.join(repoRoot, 'crds'));
    kubectl('wait', '--for=condition=Established', '--timeout=30s', '-f', path.join(repoRoot, 'crds'));
  });

  await step(`create namespace ${operatorNamespace}`, () => {
    kubectl('create', 'namespace', operatorNamespace);
  });

  const manifestsDir = path.join(dir, 'manifests');
  await step(
    'apply manifests/examples/aws-secrets-manager.yaml (store pointed at moto) and kubernetes-provider.yaml',
    async () => {
      fs.mkdirSync(manifestsDir, { recursive: true });
      const aws = path.join(manifestsDir, 'aws-secrets-manager.yaml');
      fs.writeFileSync(
        aws,
        awsExample(moto.endpoint)
          .map((d) => dump(d))
          .join('---\n'),
        { mode: 0o600 },
      );
      await applyWithRetry(aws);
      await applyWithRetry(path.join(repoRoot, 'manifests/examples/kubernetes-provider.yaml'));
    },
  );

  const operator: ManagedProcess = await step('start the operator (node src/main.ts)', async () => {
    const proc = startProcess({
      name: 'operator',
      command: process.execPath,
      args: [
        path.join(repoRoot, 'src/main.ts'),
        `--kubeconfig=${kubeconfig}`,
        '--webhook=false',
        '--leader-elect=false',
        '--metrics-addr=127.0.0.1:0',
        '--health-addr=127.0.0.1:0',
        `--operator-namespace=${operatorNamespace}`,
        '--log-level=info',
      ],
      logDir,
      // Only the store's keys count: nothing from the developer's AWS setup.
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      },
    });
    cleanups.push({ name: `operator (pid ${proc.pid})`, run: () => proc.stop() });
    console.log(dim(`    operator pid=${proc.pid}, log ${proc.logFile}`));
    return proc;
  });

  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const waitMs = ci ? timeoutSeconds * 1000 : 180_000;
  const ready = await step('wait until every store and SecretBinding is Ready', async () => {
    const deadline = Date.now() + waitMs;
    let last = '';
    let exited = false;
    void operator.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`the operator exited; see ${operator.logFile}`);
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

  const ok = (await printSummary(kc)) && ready;
  if (ci) await shutdown(ok ? 0 : 1);
  console.log(
    `\nThe control plane keeps running: kubectl --kubeconfig ${kubeconfig} get secretbindings -A` +
      `\nOperator log: ${operator.logFile}\nPress Ctrl-C to stop everything the demo started.`,
  );
  void operator.exited.then(
    (code) => void shutdown(1, red(`the operator exited (code ${code}); see ${operator.logFile}`)),
  );
}

/** For the test: the seeded values, to show none of them is printed. */
if (process.env.MLSECRETS_DEMO_VALUES_FILE) {
  fs.writeFileSync(process.env.MLSECRETS_DEMO_VALUES_FILE, JSON.stringify(Object.values(values)), {
    mode: 0o600,
  });
}

main().catch((error: unknown) => {
  console.error(red(`demo failed: ${(error as Error).message}`));
  void shutdown(1);
});

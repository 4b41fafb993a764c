// `npm start` on a fresh cluster (issue #23): outside a cluster the operator creates its own
// namespace when it is missing, and its data-hash key, Lease and shard Leases then work there;
// when it cannot, it exits with one message naming the namespace and --operator-namespace.
// The shared control plane already has mlsecrets-system, so each case uses an operator
// namespace that does not exist yet: to the operator that is a fresh cluster (CRDs only).
// The webhook stays off: registering it would patch the shared MutatingWebhookConfiguration.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createTestNamespace, eventually, kubectl, testKubeConfig } from '../harness/kube.ts';
import { recordPlanted } from '../harness/leak-run.ts';
import { startOperatorProcess, type OperatorProcess } from '../harness/operator-process.ts';
import {
  clients,
  createBinding,
  deleteClusterStore,
  secretData,
  waitForReady,
} from '../harness/resources.ts';
import { testEnv } from '../harness/test-env.ts';

const c = clients(testKubeConfig());
const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const suffix = randomBytes(3).toString('hex');
const logDir = path.join(testEnv('workDir'), 'logs', `start-fresh-${suffix}`);
// The example's names made unique on the shared control plane.
const names = {
  source: `fresh-source-${suffix}`,
  team: `fresh-team-${suffix}`,
  store: `fresh-store-${suffix}`,
};
const operatorNamespaces = [`fresh-ops-${suffix}`, `fresh-shard-ops-${suffix}`];
const cleanup: (() => Promise<unknown>)[] = [];
const procs: OperatorProcess[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await deleteClusterStore(c, names.store).catch(() => undefined);
  for (const name of [names.team, names.source, ...operatorNamespaces])
    await c.core.deleteNamespace({ name }).catch(() => undefined);
});

const lease = (namespace: string, name: string) =>
  JSON.parse(kubectl('get', 'lease', '-n', namespace, name, '-o', 'json')) as {
    spec: { holderIdentity?: string };
  };

/** Applies manifests/examples/kubernetes-provider.yaml with its names made unique. */
function applyExample(): void {
  const yaml = fs
    .readFileSync(path.join(repoRoot, 'manifests/examples/kubernetes-provider.yaml'), 'utf8')
    .replaceAll('ml-secrets-source', names.source)
    .replaceAll('ml-team', names.team)
    .replaceAll('local-source', names.store);
  for (const value of ['hf_example_token_change_me', 'example-secret-change-me']) recordPlanted(value);
  execFileSync('kubectl', ['--kubeconfig', testEnv('kubeconfig'), 'apply', '-f', '-'], { input: yaml });
}

/** An operator process as `npm start -- --kubeconfig …` runs it (leader election on). */
async function start(name: string, args: string[], kubeconfigPath = testEnv('kubeconfig')) {
  const proc = await startOperatorProcess({
    name,
    kubeconfigPath,
    namespaces: [names.team, names.source],
    logDir,
    args: ['--leader-elect=true', `--instance=${name}`, ...args],
  });
  procs.push(proc);
  return proc;
}

/** Waits for a process that must fail at start: its exit code and its log. */
async function failure(proc: OperatorProcess): Promise<{ code: number | null; log: string }> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    proc.exited,
    new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), 30_000))),
  ]).finally(() => clearTimeout(timer));
  if (code === 'running')
    throw new Error(`${proc.name} still runs; log:\n${fs.readFileSync(proc.logFile, 'utf8')}`);
  return { code, log: fs.readFileSync(proc.logFile, 'utf8') };
}

test('a missing operator namespace is created; key, Lease and the example binding work', async () => {
  const [ops] = operatorNamespaces as [string];
  const proc = await start('fresh', [`--operator-namespace=${ops}`]);
  await proc.ready();
  const created = await c.core.readNamespace({ name: ops });
  expect(created.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('mlsecrets');
  expect(fs.readFileSync(proc.logFile, 'utf8')).toContain('created the operator namespace');
  const key = await c.core.readNamespacedSecret({ namespace: ops, name: 'mlsecrets-data-hash-key' });
  expect(Buffer.from(key.data?.key ?? '', 'base64')).toHaveLength(32);
  await eventually(
    async () => lease(ops, 'mlsecrets-leader').spec.holderIdentity,
    (holder) => holder === 'fresh',
    { what: `Lease ${ops}/mlsecrets-leader held by the operator` },
  );

  applyExample();
  await waitForReady(c, names.team, 'finetune-creds');
  expect(Object.keys((await secretData(c, names.team, 'finetune-creds')) ?? {}).sort()).toEqual([
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'HF_ORG',
    'HF_TOKEN',
  ]);
  expect(kubectl('get', 'sb', '-n', names.team, 'finetune-creds', '--no-headers')).toMatch(
    /^finetune-creds\s+True\s+Synced\s+finetune-creds\s/,
  );

  // A restart finds the namespace and its key as they are: the same key, nothing created again.
  await proc.stop();
  const again = await start('fresh-again', [`--operator-namespace=${ops}`]);
  await again.ready();
  await again.stop();
  expect(fs.readFileSync(again.logFile, 'utf8')).not.toContain('created the operator namespace');
  expect(
    (await c.core.readNamespacedSecret({ namespace: ops, name: 'mlsecrets-data-hash-key' })).data?.key,
  ).toBe(key.data?.key);
}, 120_000);

// After the first test: its example store and source Secrets serve this binding.
test('with --shards=auto the member Lease goes into the created namespace', async () => {
  const [, ops] = operatorNamespaces as [string, string];
  const proc = await start('fresh-shard', [
    `--operator-namespace=${ops}`,
    '--shards=auto',
    '--shard-lease-duration=2s',
  ]);
  await proc.ready();
  await eventually(
    async () => lease(ops, 'mlsecrets-shard-fresh-shard').spec.holderIdentity,
    (holder) => holder === 'fresh-shard',
    { what: `shard Lease in ${ops}` },
  );
  await createBinding(c, names.team, 'sharded', {
    storeRef: { kind: 'ClusterSecretStore', name: names.store },
    data: [{ secretKey: 'HF_TOKEN', remoteRef: { key: 'huggingface', property: 'token' } }],
  });
  await waitForReady(c, names.team, 'sharded');
  await proc.stop();
}, 120_000);

test('a kubeconfig that may not create namespaces: one message naming the namespace and the flag', async () => {
  const holder = await createTestNamespace(c.core, 'fresh-limited');
  const role = `mlsecrets-test-${holder}`;
  cleanup.push(() => c.core.deleteNamespace({ name: holder }));
  cleanup.push(async () => kubectl('delete', 'clusterrole,clusterrolebinding', role, '--ignore-not-found'));
  // May read namespaces (so it sees this one is missing), not create them.
  kubectl('create', 'serviceaccount', 'limited', '-n', holder);
  kubectl('create', 'clusterrole', role, '--verb=get', '--resource=namespaces');
  kubectl(
    'create',
    'clusterrolebinding',
    role,
    `--clusterrole=${role}`,
    `--serviceaccount=${holder}:limited`,
  );
  const token = kubectl('create', 'token', 'limited', '-n', holder, '--duration=10m').trim();
  const cluster = testKubeConfig().getCurrentCluster()!;
  const kubeconfigPath = path.join(logDir, `limited-${suffix}.kubeconfig`);
  fs.mkdirSync(logDir, { recursive: true });
  fs.writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'c', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } },
      ],
      users: [{ name: 'limited', user: { token } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'limited' } }],
      'current-context': 'c',
    }),
    { mode: 0o600 },
  );
  const missing = `fresh-missing-${suffix}`;
  const { code, log } = await failure(
    await start('fresh-limited', [`--operator-namespace=${missing}`], kubeconfigPath),
  );
  expect(code).toBe(1);
  const errors = log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: string; message: string; error?: string })
    .filter((line) => line.level === 'error');
  expect(errors).toEqual([
    {
      level: 'error',
      message: 'operator failed to start',
      error:
        `namespace "${missing}" (the operator namespace) does not exist and could not be created (403 Forbidden): ` +
        `create it (kubectl create namespace ${missing}), or set --operator-namespace to an existing namespace`,
    },
  ]);
  await expect(c.core.readNamespace({ name: missing })).rejects.toThrow();
}, 60_000);

test('an operator namespace being deleted: one message naming it and the flag', async () => {
  const doomed = await createTestNamespace(c.core, 'fresh-doomed');
  const finalizer = 'mlsecrets.io/test-hold';
  const release = () =>
    kubectl(
      'patch',
      'namespace',
      doomed,
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    );
  cleanup.push(async () => release());
  kubectl(
    'patch',
    'namespace',
    doomed,
    '--type=merge',
    '-p',
    JSON.stringify({ metadata: { finalizers: [finalizer] } }),
  );
  await c.core.deleteNamespace({ name: doomed });
  await eventually(
    async () => (await c.core.readNamespace({ name: doomed })).status?.phase,
    (phase) => phase === 'Terminating',
    { what: `${doomed} Terminating` },
  );
  const { code, log } = await failure(await start('fresh-doomed', [`--operator-namespace=${doomed}`]));
  expect(code).toBe(1);
  expect(log).toContain(
    `namespace \\"${doomed}\\" (the operator namespace) is being deleted: wait until it is gone, or set --operator-namespace`,
  );
}, 60_000);

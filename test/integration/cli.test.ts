// The mlsecrets CLI as users run it: a child process (`node src/cli/main.ts`) against the real
// control plane. validate --cluster simulates a policy change, audit flags a planted long-lived
// Secret and lists a managed one, status counts bindings by Ready reason.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestNamespace, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import { freePort } from '../harness/ports.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  putSourceSecret,
  waitForReady,
} from '../harness/resources.ts';
import { testEnv } from '../harness/test-env.ts';

const c = clients(testKubeConfig());
const suffix = Date.now().toString(36);
const clusterStore = `cli-${suffix}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-cli-'));
const legacyValue = plant('legacy');
let source: string;
let team: string;
let op: TestOperator;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would, in its own process, against the test control plane. */
function mlsecrets(...args: string[]): Promise<Run> {
  return runWith(testEnv('kubeconfig'), args);
}

function runWith(kubeconfig: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args, '--kubeconfig', kubeconfig], {
      cwd: path.resolve(import.meta.dirname, '..', '..'),
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function manifest(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

interface ValidateJson {
  problems: { index: number; kind: string; name: string; namespace: string | null; message: string }[];
  checked: number;
  notes: { message: string }[];
}

const binding = (ttl: string, store = clusterStore) => `
apiVersion: mlsecrets.io/v1alpha1
kind: SecretBinding
metadata: { name: finetune, namespace: ${team} }
spec:
  storeRef: { kind: ClusterSecretStore, name: ${store} }
  data:
    - secretKey: HF_TOKEN
      remoteRef: { key: huggingface, property: token }
  lifetime: { ttl: ${ttl} }
`;

const storeDoc = (name: string, policy: string) => `
apiVersion: mlsecrets.io/v1alpha1
kind: ClusterSecretStore
metadata: { name: ${name} }
spec:
  provider:
    kubernetes: { namespace: ${source} }
  policy: ${policy}
`;

beforeAll(async () => {
  source = await createTestNamespace(c.core, 'cli-source');
  team = await createTestNamespace(c.core, 'cli-team', { 'cli-test': suffix });
  await putSourceSecret(c, source, 'huggingface', { token: plant('hf') });
  // The long-lived credential someone created by hand: what audit is for.
  await c.core.createNamespacedSecret({
    namespace: team,
    body: { metadata: { name: 'legacy-hf-token' }, type: 'Opaque', stringData: { token: legacyValue } },
  });
  await createStore(c, 'ClusterSecretStore', clusterStore, {
    provider: { kubernetes: { namespace: source } },
    policy: { maxTTL: '1h' },
  });
  op = await startTestOperator({ namespaces: [team] });
  await createBinding(c, team, 'managed', {
    storeRef: { kind: 'ClusterSecretStore', name: clusterStore },
    data: [{ secretKey: 'HF_TOKEN', remoteRef: { key: 'huggingface', property: 'token' } }],
    lifetime: { ttl: '30m' },
  });
  await createBinding(c, team, 'orphan', {
    storeRef: { kind: 'ClusterSecretStore', name: `missing-${suffix}` },
    data: [{ secretKey: 'X', remoteRef: { key: 'x' } }],
  });
  await waitForReady(c, team, 'managed');
  await waitForReady(c, team, 'orphan', { status: 'False', reason: 'StoreNotFound' });
});

afterAll(async () => {
  await op?.stop();
  rmSync(dir, { recursive: true, force: true });
  await deleteClusterStore(c, clusterStore).catch(() => undefined);
  for (const ns of [source, team]) if (ns) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe('validate --cluster', () => {
  test('a store in the files takes precedence: a policy change that denies a binding is caught, and passes once fixed', async () => {
    const store = `cli-sim-${suffix}`;
    const denied = manifest('denied.yaml', `${storeDoc(store, '{ maxTTL: 1h }')}---${binding('2h', store)}`);
    const run = await mlsecrets('validate', '--cluster', '-o', 'json', denied);
    const result = JSON.parse(run.stdout) as ValidateJson;
    expect(result.checked).toBe(2);
    expect(result.problems).toEqual([
      {
        file: denied,
        index: 2,
        kind: 'SecretBinding',
        name: 'finetune',
        namespace: team,
        message: `PolicyDenied: lifetime.ttl 2h0m0s is longer than ClusterSecretStore "${store}" allows (policy.maxTTL 1h); the store is the one in ${denied}:1`,
      },
    ]);
    expect(run.code).toBe(1);

    const fixed = manifest('fixed.yaml', `${storeDoc(store, '{ maxTTL: 1h }')}---${binding('45m', store)}`);
    const ok = await mlsecrets('validate', '--cluster', fixed);
    expect(ok.stdout).toMatch(
      /2 mlsecrets documents checked \(schema, spec rules, store policy, server-side dry run\): no problems/,
    );
    expect(ok.code).toBe(0);
    // A dry run: the store from the file was never created.
    await expect(
      c.custom.getClusterCustomObject({
        group: 'mlsecrets.io',
        version: 'v1alpha1',
        plural: 'clustersecretstores',
        name: store,
      }),
    ).rejects.toThrow();
  });

  test("without the store in the files, the cluster's store and namespace labels decide", async () => {
    const tooLong = manifest('binding-only.yaml', binding('2h'));
    const denied = await mlsecrets('validate', '--cluster', tooLong);
    expect(denied.stdout).toContain(
      `${tooLong}:1 SecretBinding/${team}/finetune: PolicyDenied: lifetime.ttl 2h0m0s is longer than ClusterSecretStore "${clusterStore}" allows (policy.maxTTL 1h); the store is the cluster's`,
    );
    expect(denied.code).toBe(1);

    // Relaxing the policy in a file simulates the change before it is applied.
    const relaxed = manifest(
      'relaxed.yaml',
      `${storeDoc(clusterStore, '{ maxTTL: 4h }')}---${binding('2h')}`,
    );
    expect((await mlsecrets('validate', '--cluster', relaxed)).code).toBe(0);

    // A namespaceSelector is matched against the labels of the live namespace.
    const selective = manifest(
      'selective.yaml',
      `${storeDoc(clusterStore, `{ namespaceSelector: { matchLabels: { cli-test: other } } }`)}---${binding('30m')}`,
    );
    const notAdmitted = await mlsecrets('validate', '--cluster', selective);
    expect(notAdmitted.stdout).toMatch(
      new RegExp(`does not admit namespace "${team}" \\(policy\\.namespaceSelector\\)`),
    );
    expect(notAdmitted.code).toBe(1);
    const admitting = manifest(
      'admitting.yaml',
      `${storeDoc(clusterStore, `{ namespaceSelector: { matchLabels: { cli-test: '${suffix}' } } }`)}---${binding('30m')}`,
    );
    expect((await mlsecrets('validate', '--cluster', admitting)).code).toBe(0);
  });

  test('what only the cluster knows: a missing store, and objections of the API server itself', async () => {
    const missing = manifest('missing-store.yaml', binding('30m', `nowhere-${suffix}`));
    const run = await mlsecrets('validate', '--cluster', missing);
    expect(run.stdout).toMatch(
      /StoreNotFound: ClusterSecretStore "nowhere-.*" is neither in the files nor in the cluster/,
    );
    expect(run.code).toBe(1);
    // Offline the same file passes: the store might exist where it is applied.
    expect((await mlsecrets('validate', missing)).code).toBe(0);

    // Label values have a syntax the offline checks leave to the API server.
    const badLabel = manifest(
      'bad-label.yaml',
      binding('30m').replace(
        'metadata: { name: finetune,',
        'metadata: { labels: { team: "not a label value!" }, name: finetune,',
      ),
    );
    const rejected = await mlsecrets('validate', '--cluster', badLabel);
    expect(rejected.stdout).toMatch(
      /rejected by the API server \(dry run\): .*metadata\.labels: Invalid value: "not a label value!"/,
    );
    expect(rejected.code).toBe(1);
  });
});

describe('audit', () => {
  test('flags the planted long-lived Secret, lists the managed one, exit code 1; never a value', async () => {
    const run = await mlsecrets('audit', '--namespace', team, '--max-age', '0s', '-o', 'json');
    const report = JSON.parse(run.stdout) as {
      managed: { name: string; binding: string; expiresAt: string; secondsLeft: number; expired: boolean }[];
      longLived: { name: string; type: string }[];
      flagged: number;
    };
    expect(report.longLived).toEqual([
      expect.objectContaining({ namespace: team, name: 'legacy-hf-token', type: 'Opaque' }),
    ]);
    expect(report.managed).toEqual([
      expect.objectContaining({ namespace: team, name: 'managed', binding: 'managed', expired: false }),
    ]);
    expect(report.managed[0]!.secondsLeft).toBeGreaterThan(25 * 60);
    expect(report.managed[0]!.secondsLeft).toBeLessThanOrEqual(30 * 60);
    expect(report.flagged).toBe(1);
    expect(run.code).toBe(1);

    const table = await mlsecrets('audit', '-n', team, '--max-age', '0s');
    expect(table.stdout).toMatch(new RegExp(`${team} +managed +managed +\\S+ +\\S+ +\\S+ +(2\\dm|30m)`));
    expect(table.stdout).toMatch(new RegExp(`${team} +legacy-hf-token +Opaque`));
    expect(table.code).toBe(1);
    expect(
      findLeaks({ 'audit json': run.stdout + run.stderr, 'audit table': table.stdout + table.stderr }),
    ).toEqual([]);
  });

  test('a Secret younger than --max-age (default 30d) is not flagged', async () => {
    const run = await mlsecrets('audit', '-n', team);
    expect(run.stdout).toMatch(/Long-lived Secrets no binding manages \(older than 30d\): 0/);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe(`nothing flagged in namespace ${team}`);
    expect(run.code).toBe(0);
  });
});

describe('status', () => {
  test('counts bindings by Ready reason and lists the not-Ready ones', async () => {
    const run = await mlsecrets('status', '--namespace', team, '-o', 'json');
    const report = JSON.parse(run.stdout) as {
      bindings: {
        total: number;
        ready: number;
        byReason: Record<string, number>;
        notReady: { name: string; reason: string; message: string }[];
      };
      stores: { notReady: { name: string }[]; byReason: Record<string, number> };
    };
    expect(report.bindings).toMatchObject({ total: 2, ready: 1, byReason: { Synced: 1, StoreNotFound: 1 } });
    expect(report.bindings.notReady).toEqual([
      expect.objectContaining({
        name: 'orphan',
        reason: 'StoreNotFound',
        message: expect.stringMatching(/not found/),
      }),
    ]);
    expect(run.code).toBe(1);

    const table = await mlsecrets('status', '-n', team);
    expect(table.stdout).toMatch(/^SecretBindings: 2, Ready 1\n/);
    expect(table.stdout).toMatch(
      new RegExp(`${team} +orphan +StoreNotFound +\\S+ +ClusterSecretStore "missing-`),
    );
  });
});

test('an unreachable cluster is exit code 2, with the address', async () => {
  const kubeconfig = path.join(dir, 'unreachable.kubeconfig');
  const port = await freePort(); // free, so nothing listens there
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'x', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name: 'x', user: {} }],
      contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
      'current-context': 'x',
    }),
  );
  const run = await runWith(kubeconfig, ['status']);
  expect(run.stderr).toContain(
    `error: cannot reach the Kubernetes API at https://127.0.0.1:${port}: ECONNREFUSED`,
  );
  expect(run.code).toBe(2);
});

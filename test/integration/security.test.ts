// Security checks on the real control plane (issue 10, "Security checks"). Checks that live in
// other files and are not repeated here (docs/reliability.md "Security checks" lists them all):
//  - cross-namespace SecretStore denied, and a SecretStore reading another namespace refused:
//    operator-core.test.ts ("a SecretStore of another namespace", "a SecretStore that tries to
//    read another namespace");
//  - a ClusterSecretStore's namespaceSelector enforced when a namespace's labels change after
//    binding (the Secret revoked): governance-policy.test.ts ("namespaceSelector: …");
//  - the chart's RBAC, as installed, checked both ways with `kubectl auth can-i`:
//    install-chart.test.ts ("the chart's RBAC is least …").
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  getBinding,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';
import { testEnv } from '../harness/test-env.ts';

const c = clients(testKubeConfig());
const suffix = randomBytes(3).toString('hex');
const store = `security-${suffix}`;
let source: string;
let team: string;
let victim: string;
let other: string;
let op: TestOperator | undefined;
const victimValue = plant('victim');
const sourceValue = plant('security-source');

beforeAll(async () => {
  source = await createTestNamespace(c.core, 'sec-source');
  team = await createTestNamespace(c.core, 'sec-team');
  victim = await createTestNamespace(c.core, 'sec-victim');
  other = await createTestNamespace(c.core, 'sec-other');
  await putSourceSecret(c, source, 'allowed', { token: sourceValue });
  await putSourceSecret(c, victim, 'secret', { token: victimValue });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: source } } });
  op = await startTestOperator({ namespaces: [team, other], webhook: {} });
});

afterAll(async () => {
  await op?.stop();
  await op?.releaseWebhook();
  await deleteClusterStore(c, store).catch(() => undefined);
  for (const ns of [source, team, victim, other])
    if (ns) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

/** Every Secret in `namespace`, decoded: the victim's value must be in none. */
async function allValues(namespace: string): Promise<string> {
  const list = await c.core.listNamespacedSecret({ namespace });
  return list.items
    .flatMap((s) => Object.values(s.data ?? {}).map((v) => Buffer.from(v, 'base64').toString('utf8')))
    .join('\n');
}

test('the kubernetes provider reads only its source namespace, whatever key a binding asks for', async () => {
  // Keys that try to climb out of /api/v1/namespaces/<source>/secrets/<key>.
  const keys = [
    `${victim}/secret`,
    `../${victim}/secret`,
    `../../${victim}/secrets/secret`,
    `../../../api/v1/namespaces/${victim}/secrets/secret`,
    `%2e%2e/%2e%2e/${victim}/secrets/secret`,
    `..%2F..%2F${victim}%2Fsecrets%2Fsecret`,
    `secret?namespace=${victim}`,
    `secret#/../../${victim}/secrets/secret`,
    '..',
    '.',
    'secret', // exists in the victim namespace only
  ];
  const names = keys.map((_, i) => `escape-${i}`);
  await Promise.all(
    keys.map((key, i) =>
      createBinding(c, team, names[i]!, {
        storeRef: { kind: 'ClusterSecretStore', name: store },
        data: [{ secretKey: 'TOKEN', remoteRef: { key, property: 'token' } }],
      }),
    ),
  );
  // extract and find go through the same reader (find lists the source namespace only).
  await createBinding(c, team, 'escape-extract', {
    storeRef: { kind: 'ClusterSecretStore', name: store },
    dataFrom: [{ extract: { key: `../../${victim}/secrets/secret` } }],
  });
  await createBinding(c, team, 'escape-find', {
    storeRef: { kind: 'ClusterSecretStore', name: store },
    dataFrom: [{ find: { path: `../${victim}/`, name: { regexp: '.*' } } }],
  });
  const outcomes: Record<string, string> = {};
  const all = [...names, 'escape-extract', 'escape-find'];
  await Promise.all(
    all.map(async (name, i) => {
      const binding = await eventually(
        () => getBinding(c, team, name),
        (b) => !!b.status?.conditions?.some((x) => x.type === 'Ready'),
        { timeoutMs: 30_000, what: `${name} has a Ready condition` },
      );
      const ready = binding.status?.conditions?.find((x) => x.type === 'Ready');
      outcomes[keys[i] ?? name] = `${ready?.status} ${ready?.reason}`;
    }),
  );
  console.log(`[security] cross-namespace keys: ${JSON.stringify(outcomes)}`);
  for (const [key, outcome] of Object.entries(outcomes)) {
    if (key === 'escape-find') continue;
    expect(`${key}: ${outcome}`).toMatch(/: False /);
  }
  expect(await allValues(team)).not.toContain(victimValue);
  // The legitimate read still works.
  await createBinding(c, team, 'allowed', {
    storeRef: { kind: 'ClusterSecretStore', name: store },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'allowed', property: 'token' } }],
  });
  await waitForReady(c, team, 'allowed');
  expect(await secretData(c, team, 'allowed')).toEqual({ TOKEN: sourceValue });
}, 120_000);

test('the webhook never injects across namespaces: a pod in another namespace matching the selector gets nothing', async () => {
  await createBinding(c, team, 'projected', {
    storeRef: { kind: 'ClusterSecretStore', name: store },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'allowed', property: 'token' } }],
    projection: { selector: { matchLabels: { app: 'trainer' } } },
  });
  await waitForReady(c, team, 'projected');
  const pod = (name: string): V1Pod => ({
    metadata: { name, labels: { app: 'trainer', 'mlsecrets.io/binding': 'projected' } },
    spec: { containers: [{ name: 'main', image: 'registry.example.com/trainer:1' }] },
  });
  // Same labels in the binding's namespace: injected (the webhook is up and matching).
  const inTeam = await c.core.createNamespacedPod({ namespace: team, body: pod('in-team') });
  expect(JSON.stringify(inTeam.spec?.volumes ?? [])).toContain('projected');
  // In another watched namespace, and in an unwatched one: nothing of the binding.
  for (const namespace of [other, victim]) {
    const created = await c.core.createNamespacedPod({ namespace, body: pod(`from-${namespace}`) });
    const spec = JSON.stringify(created.spec);
    expect(spec).not.toContain('projected');
    expect(spec).not.toContain('mlsecrets');
    expect(created.metadata?.annotations ?? {}).not.toHaveProperty(['mlsecrets.io/injected']);
  }
  expect(await allValues(other)).not.toContain(sourceValue);
  expect(await allValues(victim)).not.toContain(sourceValue);
});

/**
 * The chart's RBAC rendered for one release with `sets`, applied to the cluster; `ask` runs
 * with `kubectl auth can-i` as the release's ServiceAccount, and the objects go afterwards.
 */
function withChartRbac(
  name: string,
  sets: string[],
  ask: (canI: (...args: string[]) => string, releaseNamespace: string) => void,
): void {
  const installed = execFileSync(
    'bash',
    [path.resolve(import.meta.dirname, '../../scripts/install-emulators.sh')],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const helmBin = /^HELM=(.+)$/m.exec(installed)?.[1] ?? '';
  expect(fs.existsSync(helmBin)).toBe(true);
  const release = `mlsecrets-${name}-${suffix}`;
  const releaseNamespace = source; // any namespace: only RBAC objects are applied
  const chart = path.resolve(import.meta.dirname, '../../charts/mlsecrets');
  const rendered = execFileSync(
    helmBin,
    [
      'template',
      release,
      chart,
      '--namespace',
      releaseNamespace,
      '--show-only',
      'templates/rbac.yaml',
      ...sets.flatMap((set) => ['--set', set]),
    ],
    { encoding: 'utf8' },
  );
  const kubeconfig = testEnv('kubeconfig');
  execFileSync('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], {
    input: rendered,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  try {
    const canI = (...args: string[]) =>
      spawnSync(
        'kubectl',
        [
          '--kubeconfig',
          kubeconfig,
          'auth',
          'can-i',
          '--as',
          `system:serviceaccount:${releaseNamespace}:${release}`,
          ...args,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    ask(canI, releaseNamespace);
  } finally {
    spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'delete', '--ignore-not-found', '-f', '-'], {
      input: rendered,
    });
  }
}

test("the chart's RBAC cannot read Secrets outside the namespaces it needs (watchNamespaces set)", () => {
  withChartRbac('sec', [`watchNamespaces={${team},${other}}`], (canI, releaseNamespace) => {
    const answers: Record<string, string> = {};
    for (const [verb, ns] of [
      ['get', team],
      ['list', team],
      ['get', other],
      ['get', releaseNamespace],
      ['get', victim],
      ['list', victim],
      ['get', 'kube-system'],
      ['list', 'kube-system'],
      ['create', victim],
    ] as const)
      answers[`${verb} secrets -n ${ns}`] = canI(verb, 'secrets', '-n', ns);
    answers['list secrets --all-namespaces'] = canI('list', 'secrets', '--all-namespaces');
    console.log(`[security] chart RBAC with watchNamespaces: ${JSON.stringify(answers)}`);
    expect(answers).toEqual({
      [`get secrets -n ${team}`]: 'yes',
      [`list secrets -n ${team}`]: 'yes',
      [`get secrets -n ${other}`]: 'yes',
      [`get secrets -n ${releaseNamespace}`]: 'yes',
      [`get secrets -n ${victim}`]: 'no',
      [`list secrets -n ${victim}`]: 'no',
      'get secrets -n kube-system': 'no',
      'list secrets -n kube-system': 'no',
      [`create secrets -n ${victim}`]: 'no',
      'list secrets --all-namespaces': 'no',
    });
  });
});

test('vault.loginServiceAccounts: the chart lets the operator request tokens of the accounts listed, and of no other', () => {
  const sets = [
    `vault.loginServiceAccounts[0].namespace=${team}`,
    'vault.loginServiceAccounts[0].name=vault-reader',
  ];
  withChartRbac('tokens', sets, (canI) => {
    const token = (account: string, ns: string) =>
      canI('create', `serviceaccounts/${account}`, '--subresource=token', '-n', ns);
    expect({
      listed: token('vault-reader', team),
      otherAccount: token('default', team),
      otherNamespace: token('vault-reader', victim),
      kubeSystem: token('default', 'kube-system'),
    }).toEqual({ listed: 'yes', otherAccount: 'no', otherNamespace: 'no', kubeSystem: 'no' });
  });
});

// The Helm chart and the plain manifests rendered from it: lint, schema, install on the real
// control plane, least-privilege RBAC (the operator runs in-process as the chart's
// ServiceAccount and syncs a binding; what the chart does not grant is forbidden), and
// `kubectl apply -k manifests/` creating the same objects as `helm template`.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import {
  createTestNamespace,
  eventually,
  kubectl,
  serviceAccountKubeConfig,
  testKubeConfig,
} from '../harness/kube.ts';
import { acquireWebhookLock, startTestOperator, type TestOperator } from '../harness/operator.ts';
import { startOperatorProcess } from '../harness/operator-process.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  eventsFor,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';
import { OPERATOR_NAMESPACE, testEnv } from '../harness/test-env.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { LeaderElector } from '../../src/runtime/leader-election.ts';
import { ShardMembership, shardLeaseName, type ShardState } from '../../src/runtime/sharding.ts';
import { KubeHttp } from '../../src/runtime/http.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { WebhookCertificates } from '../../src/projection/webhook-certificates.ts';
import { registerWebhook } from '../../src/projection/webhook-registration.ts';

const root = path.resolve(import.meta.dirname, '../..');
const chart = path.join(root, 'charts/mlsecrets');
const WEBHOOK_CONFIGURATION = 'mlsecrets-pod-injector';
const suffix = randomBytes(3).toString('hex');
const release = `mlsecrets-it-${suffix}`; // contains "mlsecrets": every name is the release name
const serviceAccount = release;
const store = `chart-${suffix}`;

const c = clients(testKubeConfig());
let helmBin: string;
let releaseNamespace: string;
let source: string;
let team: string;
let op: TestOperator | undefined;
let tmp: string;
let installed = false;

function helm(...args: string[]): string {
  return execFileSync(helmBin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** helm with the run's kubeconfig. */
function helmKube(...args: string[]): string {
  return helm('--kubeconfig', testEnv('kubeconfig'), ...args);
}

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  [key: string]: unknown;
}

function parseObjects(yamlText: string): KubeObject[] {
  return loadAll(yamlText).filter((o): o is KubeObject => !!o && typeof o === 'object');
}

function identities(objects: { kind: string; metadata: { name: string; namespace?: string } }[]): string[] {
  return objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
}

/** `kubectl auth can-i` as the chart's ServiceAccount: "yes" or "no". */
function canI(...args: string[]): string {
  const result = spawnSync(
    'kubectl',
    [
      '--kubeconfig',
      testEnv('kubeconfig'),
      'auth',
      'can-i',
      '--as',
      `system:serviceaccount:${releaseNamespace}:${serviceAccount}`,
      ...args,
    ],
    { encoding: 'utf8' },
  );
  const answer = result.stdout.trim();
  if (answer !== 'yes' && answer !== 'no')
    throw new Error(`kubectl auth can-i ${args.join(' ')}: ${result.stderr}`);
  return answer;
}

/**
 * The MutatingWebhookConfiguration is one per cluster, and test files that register theirs
 * take turns through a lock in the run's directory (test/harness/operator.ts): the chart's is
 * created under the same lock and deleted before it is released.
 */
async function withWebhookLock<T>(fn: () => Promise<T> | T): Promise<T> {
  const release = await acquireWebhookLock();
  try {
    return await fn();
  } finally {
    release();
  }
}

/** A KubeConfig that authenticates as the chart's ServiceAccount with a TokenRequest token. */
function chartServiceAccountKubeConfig(): Promise<k8s.KubeConfig> {
  return serviceAccountKubeConfig(testKubeConfig(), releaseNamespace, serviceAccount);
}

beforeAll(async () => {
  const out = execFileSync('bash', [path.join(root, 'scripts/install-emulators.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  helmBin = /^HELM=(.+)$/m.exec(out)?.[1] ?? '';
  expect(fs.existsSync(helmBin)).toBe(true);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'install-chart-'));
  releaseNamespace = await createTestNamespace(c.core, 'chart');
  source = await createTestNamespace(c.core, 'chart-source');
  team = await createTestNamespace(c.core, 'chart-team');
}, 300_000);

afterAll(async () => {
  await op?.stop();
  await deleteClusterStore(c, store).catch(() => undefined);
  if (installed) {
    try {
      helmKube('uninstall', release, '--namespace', releaseNamespace, '--wait', '--timeout', '60s');
    } catch {
      // The namespace's deletion removes the rest; the cluster-scoped objects go below.
    }
    for (const kind of ['clusterrole', 'clusterrolebinding']) {
      spawnSync('kubectl', [
        '--kubeconfig',
        testEnv('kubeconfig'),
        'delete',
        kind,
        release,
        '--ignore-not-found',
      ]);
    }
  }
  for (const ns of [releaseNamespace, source, team]) {
    if (ns) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}, 120_000);

test('helm lint and helm template pass, with every optional part', () => {
  expect(helm('lint', chart, '--strict')).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  const objects = parseObjects(
    helm(
      'template',
      'mlsecrets',
      chart,
      '--namespace',
      'mlsecrets-system',
      '--set',
      'serviceMonitor.enabled=true,prometheusRule.enabled=true,dashboard.enabled=true',
    ),
  );
  const kinds = objects.map((o) => o.kind);
  for (const kind of [
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
    'Deployment',
    'Service',
    'MutatingWebhookConfiguration',
    'PodDisruptionBudget',
    'ServiceMonitor',
    'PrometheusRule',
    'ConfigMap',
    'Pod',
  ]) {
    expect(kinds).toContain(kind);
  }

  const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as k8s.V1Deployment;
  expect(deployment.spec?.replicas).toBe(2);
  const container = deployment.spec!.template.spec!.containers[0]!;
  expect(container.image).toBe('mlsecrets:0.1.0');
  expect(container.command).toEqual(['node', 'dist/main.js']);
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
  expect(env).toMatchObject({
    POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
    POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
    MLSECRETS_LEADER_ELECT: 'true',
    MLSECRETS_WEBHOOK_FAILURE_POLICY: 'Ignore',
    MLSECRETS_WEBHOOK_SERVICE: 'mlsecrets-webhook',
    MLSECRETS_METRICS_ADDR: ':8080',
    MLSECRETS_HEALTH_ADDR: ':8081',
    MLSECRETS_WEBHOOK_ADDR: ':9443',
  });
  expect(container.securityContext).toMatchObject({
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
  expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
  // Sized from bench/README.md (values.yaml says how).
  expect(container.resources).toEqual({
    requests: { cpu: '100m', memory: '256Mi' },
    limits: { memory: '640Mi' },
  });

  const webhook = objects.find((o) => o.kind === 'MutatingWebhookConfiguration') as unknown as {
    metadata: { name: string };
    webhooks: k8s.V1MutatingWebhook[];
  };
  expect(webhook.metadata.name).toBe(WEBHOOK_CONFIGURATION);
  expect(webhook.webhooks[0]).toMatchObject({
    failurePolicy: 'Ignore',
    sideEffects: 'NoneOnDryRun',
    timeoutSeconds: 5,
    admissionReviewVersions: ['v1'],
    clientConfig: {
      service: { name: 'mlsecrets-webhook', namespace: 'mlsecrets-system', path: '/mutate-pods' },
    },
  });
  const rule = objects.find((o) => o.kind === 'PrometheusRule') as unknown as {
    spec: { groups: { rules: { alert: string }[] }[] };
  };
  expect(rule.spec.groups[0]!.rules.map((r) => r.alert)).toContain('MLSecretsBindingNotReady');
  const dashboard = objects.find((o) => o.kind === 'ConfigMap') as unknown as {
    metadata: { labels: Record<string, string> };
    data: Record<string, string>;
  };
  expect(dashboard.metadata.labels.grafana_dashboard).toBe('1');
  expect(() => JSON.parse(dashboard.data['mlsecrets.json']!) as unknown).not.toThrow();
  const testPod = objects.find((o) => o.kind === 'Pod')!;
  expect(testPod.metadata.annotations?.['helm.sh/hook']).toBe('test');
});

test('the values schema rejects bad values with clear messages', () => {
  const bad = path.join(tmp, 'bad-values.yaml');
  fs.writeFileSync(
    bad,
    [
      'replicas: "two"',
      'webhook:',
      '  failurePolicy: Sometimes',
      'logLevel: loud',
      'image:',
      '  tag: 1.2',
      '',
    ].join('\n'),
  );
  const result = spawnSync(helmBin, ['template', 'mlsecrets', chart, '-f', bad], { encoding: 'utf8' });
  expect(result.status).not.toBe(0);
  expect(result.stderr).toContain("values don't meet the specifications of the schema");
  expect(result.stderr).toMatch(/\/replicas'?: got string, want integer/);
  expect(result.stderr).toMatch(/\/webhook\/failurePolicy'?: value must be one of 'Ignore', 'Fail'/);
  expect(result.stderr).toMatch(/\/logLevel'?: value must be one of/);
  expect(result.stderr).toMatch(/\/image\/tag'?: got number, want string/);

  const zero = spawnSync(helmBin, ['template', 'mlsecrets', chart, '--set', 'replicas=0'], {
    encoding: 'utf8',
  });
  expect(zero.status).not.toBe(0);
  expect(zero.stderr).toMatch(/\/replicas'?: minimum: got 0, want 1/);
  const typo = spawnSync(helmBin, ['template', 'mlsecrets', chart, '--set', 'replica=3'], {
    encoding: 'utf8',
  });
  expect(typo.status).not.toBe(0);
  expect(typo.stderr).toMatch(/additional properties 'replica' not allowed/);
});

test('helm install succeeds in a fresh namespace', async () => {
  await withWebhookLock(async () => {
    const notes = helmKube(
      'install',
      release,
      chart,
      '--namespace',
      releaseNamespace,
      '--skip-crds',
      '--set',
      `leaderElection.id=${release}`,
    );
    // NOTES.txt tells how to create a first store and binding.
    expect(notes).toContain('manifests/examples/kubernetes-provider.yaml');
    expect(notes).toContain(`helm test ${release}`);
    installed = true;
    try {
      const status = JSON.parse(
        helmKube('status', release, '--namespace', releaseNamespace, '-o', 'json'),
      ) as {
        info: { status: string };
      };
      expect(status.info.status).toBe('deployed');
      const webhook = JSON.parse(
        kubectl('get', 'mutatingwebhookconfiguration', WEBHOOK_CONFIGURATION, '-o', 'json'),
      ) as {
        metadata: { annotations: Record<string, string> };
        webhooks: k8s.V1MutatingWebhook[];
      };
      expect(webhook.metadata.annotations['meta.helm.sh/release-name']).toBe(release);
      expect(webhook.webhooks[0]!.clientConfig.service).toMatchObject({
        name: `${release}-webhook`,
        namespace: releaseNamespace,
        path: '/mutate-pods',
        port: 443,
      });
      expect(webhook.webhooks[0]!.clientConfig.caBundle ?? '').toBe('');

      // In a cluster the operator, as the chart's ServiceAccount, issues its webhook
      // certificate into a Secret of its namespace and fills in this configuration's caBundle:
      // the chart's RBAC allows both.
      const http = new KubeHttp(await chartServiceAccountKubeConfig());
      const tls = await new WebhookCertificates({
        http,
        clock: systemClock,
        logger: silentLogger(),
        namespace: releaseNamespace,
        dnsNames: [`${release}-webhook.${releaseNamespace}.svc`],
        ipAddresses: [],
      }).ensure();
      await expect(
        registerWebhook({
          http,
          caBundle: tls.caBundle,
          operatorNamespace: releaseNamespace,
          failurePolicy: 'Ignore',
        }),
      ).resolves.toBe('caBundle');
      const patched = JSON.parse(
        kubectl('get', 'mutatingwebhookconfiguration', WEBHOOK_CONFIGURATION, '-o', 'json'),
      ) as {
        webhooks: k8s.V1MutatingWebhook[];
      };
      expect(Buffer.from(patched.webhooks[0]!.clientConfig.caBundle!, 'base64').toString()).toBe(
        tls.caBundle,
      );
      expect(patched.webhooks[0]!.clientConfig.service?.name).toBe(`${release}-webhook`);
    } finally {
      // Hand the cluster's one webhook configuration back to the other test files.
      kubectl('delete', 'mutatingwebhookconfiguration', WEBHOOK_CONFIGURATION, '--ignore-not-found');
    }
  });
  const deployment = JSON.parse(
    kubectl('get', 'deployment', release, '-n', releaseNamespace, '-o', 'json'),
  ) as {
    spec: { template: { spec: { serviceAccountName: string } } };
  };
  expect(deployment.spec.template.spec.serviceAccountName).toBe(serviceAccount);
  kubectl('get', 'serviceaccount', serviceAccount, '-n', releaseNamespace);
  kubectl('get', 'poddisruptionbudget', release, '-n', releaseNamespace);
  kubectl('get', 'service', `${release}-webhook`, `${release}-metrics`, '-n', releaseNamespace);
}, 120_000);

test("the chart's RBAC is enough: the operator, as its ServiceAccount, syncs a binding", async () => {
  expect(installed).toBe(true);
  const kubeConfig = await chartServiceAccountKubeConfig();
  // The token really is the ServiceAccount's, and it is not an administrator.
  await expect(kubeConfig.makeApiClient(k8s.CoreV1Api).listNode()).rejects.toMatchObject({ code: 403 });

  await putSourceSecret(c, source, 'huggingface', { token: 'hf_chart_token' });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: source } } });
  op = await startTestOperator({ namespaces: [source, team], kubeConfig });
  await createBinding(c, team, 'finetune', {
    storeRef: { kind: 'ClusterSecretStore', name: store },
    data: [{ secretKey: 'HF_TOKEN', remoteRef: { key: 'huggingface', property: 'token' } }],
    lifetime: { ttl: '1h', refreshInterval: '2s' },
  });
  const binding = await waitForReady(c, team, 'finetune', {}, 30_000);
  expect(binding.status?.dataHash).toMatch(/^hmac-sha256:/);
  expect(await secretData(c, team, 'finetune')).toEqual({ HF_TOKEN: 'hf_chart_token' });
  await eventually(
    () => eventsFor(c, team, 'finetune'),
    (events) => events.some((e) => e.reason === 'Synced'),
    { what: 'a Synced Event written by the ServiceAccount' },
  );

  // A rotation in the source, and drift undone: patch and watch of managed Secrets work too.
  await putSourceSecret(c, source, 'huggingface', { token: 'hf_chart_token_2' });
  await eventually(
    () => secretData(c, team, 'finetune'),
    (d) => d?.HF_TOKEN === 'hf_chart_token_2',
    { what: 'the rotated value', timeoutMs: 30_000 },
  );
  await c.core.deleteNamespacedSecret({ namespace: team, name: 'finetune' });
  await eventually(
    () => secretData(c, team, 'finetune'),
    (d) => d?.HF_TOKEN === 'hf_chart_token_2',
    { what: 'the deleted Secret restored', timeoutMs: 30_000 },
  );
  // The operator's data-hash key Secret lives in its namespace: get/create there work.
  expect(canI('create', 'secrets', '-n', OPERATOR_NAMESPACE)).toBe('yes');

  // Nothing it did was refused.
  expect(op.logs.filter((line) => /forbidden|\b403\b/i.test(line))).toEqual([]);
  await op.stop();
}, 120_000);

test('as in a pod: the operator process, with the ServiceAccount token file and the cluster CA, syncs a binding', async () => {
  expect(installed).toBe(true);
  // In a pod the operator reads a token file (re-read as it rotates) and a CA file; this
  // kubeconfig names the same two files, so main.ts takes the same path without client-node.
  const admin = testKubeConfig().getCurrentCluster()!;
  const token = await c.core.createNamespacedServiceAccountToken({
    namespace: releaseNamespace,
    name: serviceAccount,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const dir = fs.mkdtempSync(path.join(tmp, 'pod-'));
  fs.writeFileSync(path.join(dir, 'token'), token.status!.token!);
  fs.writeFileSync(
    path.join(dir, 'ca.crt'),
    admin.caData ? Buffer.from(admin.caData, 'base64') : fs.readFileSync(admin.caFile!),
  );
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: admin.server, 'certificate-authority': 'ca.crt' } }],
      users: [{ name: 'sa', user: { tokenFile: 'token' } }],
      contexts: [{ name: 'pod', context: { cluster: 'c', user: 'sa' } }],
      'current-context': 'pod',
    }),
  );
  await putSourceSecret(c, source, 'wandb', { key: 'wandb_pod_key' });
  await createStore(c, 'ClusterSecretStore', `${store}-pod`, {
    provider: { kubernetes: { namespace: source } },
  });
  const proc = await startOperatorProcess({
    name: 'chart-pod-operator',
    kubeconfigPath,
    namespaces: [source, team],
    logDir: dir,
  });
  try {
    await proc.ready();
    await createBinding(c, team, 'pod-path', {
      storeRef: { kind: 'ClusterSecretStore', name: `${store}-pod` },
      data: [{ secretKey: 'WANDB_API_KEY', remoteRef: { key: 'wandb', property: 'key' } }],
    });
    await waitForReady(c, team, 'pod-path', {}, 60_000);
    expect(await secretData(c, team, 'pod-path')).toEqual({ WANDB_API_KEY: 'wandb_pod_key' });
  } finally {
    await proc.stop();
  }
  expect(fs.readFileSync(proc.logFile, 'utf8')).not.toMatch(/forbidden|\b403\b|\b401\b/i);
}, 120_000);

test("the chart's RBAC is enough for leader election on a Lease of the release namespace", async () => {
  expect(installed).toBe(true);
  const http = new KubeHttp(await chartServiceAccountKubeConfig());
  let leading!: () => void;
  const started = new Promise<void>((resolve) => (leading = resolve));
  const elector = new LeaderElector({
    http,
    logger: silentLogger(),
    namespace: releaseNamespace,
    name: release,
    identity: `${release}-0`,
    leaseDurationMs: 3_000,
    renewDeadlineMs: 2_000,
    retryPeriodMs: 200,
    onStartedLeading: () => leading(),
    onStoppedLeading: () => undefined,
  });
  elector.start();
  try {
    await started;
    // It renews (update) while it leads.
    const first = JSON.parse(kubectl('get', 'lease', release, '-n', releaseNamespace, '-o', 'json')) as {
      spec: { holderIdentity: string; renewTime: string };
    };
    expect(first.spec.holderIdentity).toBe(`${release}-0`);
    await eventually(
      async () =>
        (
          JSON.parse(kubectl('get', 'lease', release, '-n', releaseNamespace, '-o', 'json')) as {
            spec: { renewTime: string };
          }
        ).spec.renewTime,
      (renewTime) => renewTime !== first.spec.renewTime,
      { what: 'a renewed Lease', timeoutMs: 10_000 },
    );
    expect(elector.isLeader).toBe(true);
  } finally {
    await elector.stop();
  }
}, 60_000);

test("the chart's RBAC is least: what it does not grant is forbidden", () => {
  expect(installed).toBe(true);
  const allowed: string[][] = [
    ['list', 'secretbindings.mlsecrets.io', '-A'],
    ['watch', 'clustersecretstores.mlsecrets.io'],
    ['patch', 'secretbindings.mlsecrets.io', '--subresource=status', '-n', team],
    ['patch', 'secrets', '-n', team],
    ['delete', 'secrets', '-n', team],
    ['create', 'events', '-n', team],
    ['list', 'pods', '-A'],
    ['watch', 'namespaces'],
    ['list', 'jobs.batch', '-n', team],
    ['patch', 'deployments.apps', '-n', team],
    ['patch', 'statefulsets.apps', '-n', team],
    ['get', `mutatingwebhookconfigurations/${WEBHOOK_CONFIGURATION}`],
    ['patch', `mutatingwebhookconfigurations/${WEBHOOK_CONFIGURATION}`],
    ['get', 'leases.coordination.k8s.io', '-n', releaseNamespace],
    ['create', 'leases.coordination.k8s.io', '-n', releaseNamespace],
    ['update', 'leases.coordination.k8s.io', '-n', releaseNamespace],
  ];
  const forbidden: string[][] = [
    ['delete', 'namespaces'],
    ['create', 'namespaces'],
    ['create', 'clusterrolebindings'],
    ['escalate', 'clusterroles'],
    ['bind', 'clusterroles'],
    ['impersonate', 'users'],
    ['patch', 'nodes'],
    ['create', 'pods', '-n', team],
    ['delete', 'pods', '-n', team],
    ['create', 'pods/exec', '-n', team],
    ['create', 'serviceaccounts/token', '-n', team],
    ['delete', 'jobs.batch', '-n', team],
    ['delete', 'deployments.apps', '-n', team],
    ['create', 'deployments.apps', '-n', team],
    ['update', 'configmaps', '-n', team],
    ['create', 'secretbindings.mlsecrets.io', '-n', team],
    ['patch', 'secretbindings.mlsecrets.io', '-n', team],
    ['delete', 'secretbindings.mlsecrets.io', '-n', team],
    ['delete', 'clustersecretstores.mlsecrets.io'],
    ['update', 'secretbindings.mlsecrets.io', '--subresource=status', '-n', team],
    ['patch', 'secretbindings.mlsecrets.io', '--subresource=finalizers', '-n', team],
    ['list', 'mutatingwebhookconfigurations'],
    ['create', 'mutatingwebhookconfigurations'],
    ['delete', `mutatingwebhookconfigurations/${WEBHOOK_CONFIGURATION}`],
    ['update', `mutatingwebhookconfigurations/${WEBHOOK_CONFIGURATION}`],
    ['delete', 'mutatingwebhookconfigurations/other-webhook'],
    ['patch', 'mutatingwebhookconfigurations/other-webhook'],
    ['patch', 'validatingwebhookconfigurations/anything'],
    ['create', 'customresourcedefinitions.apiextensions.k8s.io'],
    ['delete', 'leases.coordination.k8s.io', '-n', releaseNamespace],
    ['create', 'leases.coordination.k8s.io', '-n', 'kube-system'],
    ['update', 'leases.coordination.k8s.io', '-n', team],
  ];
  const answers = (cases: string[][]) =>
    Object.fromEntries(cases.map((args) => [args.join(' '), canI(...args)]));
  expect(answers(allowed)).toEqual(Object.fromEntries(allowed.map((args) => [args.join(' '), 'yes'])));
  expect(answers(forbidden)).toEqual(Object.fromEntries(forbidden.map((args) => [args.join(' '), 'no'])));
}, 120_000);

test('with shards: auto the chart grants what shard membership needs, and the operator runs with it', async () => {
  expect(installed).toBe(true);
  // Rendered: the flag reaches the operator, and list/delete on Leases appear only with auto.
  const rendered = (shards: string) =>
    parseObjects(helm('template', 'mlsecrets', chart, '--set', `shards=${shards},replicas=3`));
  const env = (objects: KubeObject[]) =>
    (objects.find((o) => o.kind === 'Deployment') as unknown as k8s.V1Deployment).spec!.template.spec!
      .containers[0]!.env!;
  const leaseVerbs = (objects: KubeObject[]) =>
    (
      objects.find(
        (o) => o.kind === 'Role' && o.metadata.name.endsWith('-leader-election'),
      ) as unknown as k8s.V1Role
    ).rules!.flatMap((r) => r.verbs);
  expect(env(rendered('auto'))).toEqual(
    expect.arrayContaining([
      { name: 'MLSECRETS_SHARDS', value: 'auto' },
      { name: 'MLSECRETS_SHARD_LEASE_DURATION', value: '15s' },
    ]),
  );
  expect(leaseVerbs(rendered('auto')).sort()).toEqual(['create', 'delete', 'get', 'list', 'update']);
  expect(leaseVerbs(rendered('off')).sort()).toEqual(['create', 'get', 'update']);

  // Installed: the ServiceAccount creates, renews, lists and deletes its member Lease.
  await withWebhookLock(() =>
    helmKube(
      'upgrade',
      release,
      chart,
      '--namespace',
      releaseNamespace,
      '--skip-crds',
      '--reuse-values',
      '--set',
      'shards=auto',
    ),
  );
  expect(canI('list', 'leases.coordination.k8s.io', '-n', releaseNamespace)).toBe('yes');
  expect(canI('list', 'leases.coordination.k8s.io', '-n', team)).toBe('no');
  const http = new KubeHttp(await chartServiceAccountKubeConfig());
  let state: ShardState | undefined;
  const membership = new ShardMembership({
    http,
    logger: silentLogger(),
    namespace: releaseNamespace,
    identity: `${release}-0`,
    leaseDurationMs: 2_000,
    onChange: (s) => (state = s),
  });
  try {
    await membership.start();
    await eventually(
      async () => state,
      (s) => s?.active === true && s.ring.members.length === 1,
      { what: 'an active shard member', timeoutMs: 20_000 },
    );
  } finally {
    await membership.stop();
  }
  expect(() => kubectl('get', 'lease', shardLeaseName(`${release}-0`), '-n', releaseNamespace)).toThrow(
    /NotFound/,
  );
}, 120_000);

test('manifests/ are in sync with the chart', () => {
  const out = path.join(tmp, 'manifests');
  execFileSync('bash', [path.join(root, 'scripts/render-manifests.sh'), out], {
    env: { ...process.env, HELM: helmBin },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const file of ['kustomization.yaml', 'install/namespace.yaml', 'install/mlsecrets.yaml']) {
    const committed = fs.readFileSync(path.join(root, 'manifests', file), 'utf8');
    const rendered = fs.readFileSync(path.join(out, file), 'utf8');
    if (committed !== rendered) {
      throw new Error(
        `manifests/${file} is out of date with charts/mlsecrets: run scripts/render-manifests.sh`,
      );
    }
  }
}, 120_000);

test('kubectl apply -k manifests/ --dry-run=server creates what helm template renders', () => {
  const applied = JSON.parse(
    kubectl('apply', '-k', path.join(root, 'manifests'), '--dry-run=server', '-o', 'json'),
  ) as { kind: string; items?: KubeObject[] } & KubeObject;
  const items = applied.kind === 'List' ? applied.items! : [applied];
  const rendered = parseObjects(
    helm('template', 'mlsecrets', chart, '--namespace', 'mlsecrets-system', '--include-crds', '--skip-tests'),
  );
  const namespace = { kind: 'Namespace', metadata: { name: 'mlsecrets-system' } };
  expect(identities(items)).toEqual(identities([...rendered, namespace]));
  expect(identities(items)).toEqual(
    expect.arrayContaining([
      'CustomResourceDefinition//secretbindings.mlsecrets.io',
      'Deployment/mlsecrets-system/mlsecrets',
      `MutatingWebhookConfiguration//${WEBHOOK_CONFIGURATION}`,
    ]),
  );
}, 120_000);

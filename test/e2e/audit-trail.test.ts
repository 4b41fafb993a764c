// The audit trail of a full scenario on a real node, the operator installed by the chart — sync,
// rotation, injection, denial, a per-job issue, and the revocation when the Job completes by
// itself — holds exactly the expected records and no value. The records are the JSON lines the
// operator pods print to stdout (auditLog: stdout): the leader's for what it reconciles, and
// whichever replica's the API server called for an injection or a denial.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type { AuditRecord } from '../../src/observability/audit.ts';
import { installChart, leader, operatorPods, podInPhase, RELEASE_NAMESPACE } from '../harness/chart.ts';
import { userKubeConfig } from '../harness/audit-webhook.ts';
import { eventually } from '../harness/kube.ts';
import { expectGovernanceRecords } from '../harness/governance-audit.ts';
import { findLeaks, plant } from '../harness/leaks.ts';
import { IMAGES, startNodeCluster, type NodeCluster, createPodNamespace } from '../harness/node-cluster.ts';
import {
  createBinding,
  createStore,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const team = 'audit';
const store = 'audit';
const storeRef = { kind: 'ClusterSecretStore' as const, name: store };
const value = plant('audit');
const data = [{ secretKey: 'TOKEN', remoteRef: { key: 'source', property: 'token' } }];
let nc: NodeCluster;
let batch: k8s.BatchV1Api;

beforeAll(async () => {
  nc = await startNodeCluster('audit');
  batch = nc.kc.makeApiClient(k8s.BatchV1Api);
  await installChart(nc);
  await createPodNamespace(nc, team);
  await nc.c.core.createNamespacedServiceAccount({
    namespace: team,
    body: { metadata: { name: 'trainer' } },
  });
  await putSourceSecret(nc.c, team, 'source', { token: value });
  await createStore(nc.c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: team } } });
}, 300_000);
afterAll(() => nc?.stop(), 120_000);

type LoggedRecord = AuditRecord & { audit: string; replica: string; time: string };

/** The operator pods' output: audit records (oldest first) and every line, for the leak scan. */
async function operatorOutput(): Promise<{ records: LoggedRecord[]; logs: string }> {
  const records: LoggedRecord[] = [];
  const logs: string[] = [];
  for (const pod of await operatorPods(nc)) {
    const log = await nc.kubectl('logs', '-n', RELEASE_NAMESPACE, pod.metadata!.name!, '-c', 'operator');
    logs.push(log);
    for (const line of log.split('\n')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      const record = parsed as Partial<LoggedRecord> | null;
      if (record?.audit === 'mlsecrets' && typeof record.action === 'string')
        records.push(record as LoggedRecord);
    }
  }
  records.sort((a, b) => a.time.localeCompare(b.time));
  return { records, logs: logs.join('\n') };
}

const auditRecords = async () => (await operatorOutput()).records;

/** A pod labelled for `served` that keeps running. */
function servedPod(name: string, serviceAccountName: string): k8s.V1Pod {
  return {
    metadata: { name, labels: { 'mlsecrets.io/binding': 'served' } },
    spec: {
      serviceAccountName,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image: IMAGES.busybox,
          imagePullPolicy: 'Never',
          command: ['sleep', '3600'],
        },
      ],
    },
  };
}

test('sync, rotation, injection, denial, per-job issue and revocation, each audited once, without a value', async () => {
  const binding = (name: string) => `${team}/${name}`;
  await createBinding(nc.c, team, 'served', {
    storeRef,
    data,
    lifetime: { ttl: '1h', refreshInterval: '1h', rotationSchedule: '*/2 * * * * *' },
    projection: { requirements: { serviceAccountNames: ['trainer'] } },
  });
  await createBinding(nc.c, team, 'per-job', { storeRef, data, projection: { scope: 'PerWorkload' } });
  await waitForReady(nc.c, team, 'served', {}, 60_000);
  await eventually(
    async () => (await auditRecords()).filter((r) => r.action === 'rotate').length,
    (n) => n >= 1,
    // The schedule fires every 2 s; the bound is for a loaded machine.
    { what: 'a scheduled rotation', timeoutMs: 30_000, intervalMs: 1_000 },
  );

  await nc.c.core.createNamespacedPod({ namespace: team, body: servedPod('allowed', 'trainer') });
  await nc.c.core.createNamespacedPod({ namespace: team, body: servedPod('refused', 'default') });
  await podInPhase(nc, team, 'allowed', ['Running']);
  await podInPhase(nc, team, 'refused', ['Running']);

  // A Job whose pod waits for /tmp/finish, then exits 0: the Job completes by itself.
  await batch.createNamespacedJob({
    namespace: team,
    body: {
      metadata: { name: 'train' },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { 'mlsecrets.io/binding': 'per-job' } },
          spec: {
            restartPolicy: 'Never',
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'train',
                image: IMAGES.busybox,
                imagePullPolicy: 'Never',
                command: ['sh', '-c', 'until [ -e /tmp/finish ]; do sleep 0.2; done'],
              },
            ],
          },
        },
      },
    },
  });
  await eventually(
    () => secretData(nc.c, team, 'per-job-train'),
    (d) => d?.TOKEN === value,
    { what: 'the per-job Secret', timeoutMs: 60_000 },
  );
  const jobPods = await eventually(
    () => nc.c.core.listNamespacedPod({ namespace: team, labelSelector: 'job-name=train' }),
    (list) => list.items.length === 1,
    { timeoutMs: 60_000, what: 'the pod of Job train' },
  );
  const jobPod = jobPods.items[0]!.metadata!.name!;
  await podInPhase(nc, team, jobPod, ['Running']);
  // Running, so not revoked yet.
  expect((await auditRecords()).filter((r) => r.action === 'revoke')).toEqual([]);
  await nc.kubectl('exec', '-n', team, jobPod, '--', 'touch', '/tmp/finish');
  await eventually(
    () => batch.readNamespacedJob({ namespace: team, name: 'train' }),
    (j) => j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ?? false,
    { timeoutMs: 90_000, intervalMs: 500, what: 'Job train to complete' },
  );
  await eventually(
    async () => (await auditRecords()).filter((r) => r.action === 'revoke').length,
    (n) => n === 1,
    { what: 'the revocation audited', timeoutMs: 30_000, intervalMs: 500 },
  );

  const { records: all, logs } = await operatorOutput();
  // Reads (the access audit, below) apart, the governance records are the integration test's.
  const records = all.filter((r) => r.action !== 'access');
  expectGovernanceRecords(records, team, store);
  const of = (action: string, name: string) =>
    records.filter((r) => r.action === action && r.binding === binding(name));
  // On a real node the Job's pod exists, and gets its Job's Secret.
  expect(of('inject', 'per-job')).toEqual([
    expect.objectContaining({
      outcome: 'success',
      secret: 'per-job-train',
      workload: { kind: 'Job', name: 'train' },
    }),
  ]);
  expect(of('revoke', 'per-job')).toEqual([
    expect.objectContaining({
      message: expect.stringMatching(/Secret "per-job-train" revoked: Job "train" completed/),
    }),
  ]);
  // Nothing else happened, and nothing failed.
  expect([...new Set(records.map((r) => r.action))].sort()).toEqual([
    'inject',
    'inject-deny',
    'issue',
    'revoke',
    'rotate',
  ]);
  // What is reconciled is audited by the leader alone.
  const reconciled = records.filter((r) => ['issue', 'rotate', 'revoke'].includes(r.action));
  expect(new Set(reconciled.map((r) => r.replica))).toEqual(new Set([await leader(nc)]));
  expect(findLeaks({ 'audit trail': JSON.stringify(all), 'operator logs': logs })).toEqual([]);

  // The kubelet read each Secret a pod mounts: expected, naming the pod on its node.
  const kubeletRead = (secret: string, pod: string) =>
    all.some(
      (r) =>
        r.action === 'access' &&
        r.secret === `${team}/${secret}` &&
        r.access?.reader.node !== undefined &&
        r.access.expected &&
        (r.access.pods ?? []).includes(`${team}/${pod}`),
    );
  await eventually(
    async () => {
      const { records: now } = await operatorOutput();
      all.splice(0, all.length, ...now);
      return kubeletRead('served', 'allowed') && kubeletRead('per-job-train', jobPod);
    },
    (seen) => seen,
    { what: 'the kubelet reads recorded as expected', timeoutMs: 30_000, intervalMs: 1_000 },
  );
  // And nothing in this scenario was an unexpected read.
  expect(all.filter((r) => r.action === 'access' && r.access?.expected === false)).toEqual([]);
}, 400_000);

test('kubectl get secret by an ordinary user with RBAC access is flagged within 5 s, naming the user', async () => {
  nc.accessAudit.onPurpose = /by user mallory/;
  const rbac = nc.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: team,
    body: {
      metadata: { name: 'secret-reader' },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: team,
    body: {
      metadata: { name: 'mallory-reads' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
      subjects: [{ kind: 'User', name: 'mallory', apiGroup: 'rbac.authorization.k8s.io' }],
    },
  });
  const mallory = userKubeConfig(nc.cluster.controlPlane, 'mallory');
  const file = path.join(nc.dir, 'mallory.kubeconfig');
  fs.writeFileSync(file, mallory.exportConfig(), { mode: 0o600 });
  const readAt = Date.now();
  await promisify(execFile)('kubectl', [
    '--kubeconfig',
    file,
    'get',
    'secret',
    'served',
    '-n',
    team,
    '-o',
    'yaml',
  ]);
  const events = await eventually(
    async () =>
      (await nc.c.core.listNamespacedEvent({ namespace: team, fieldSelector: 'reason=UnexpectedAccess' }))
        .items,
    (items) => items.length > 0,
    { what: 'an UnexpectedAccess Event', timeoutMs: 5_000, intervalMs: 200 },
  );
  console.log(`[e2e] flagged ${Date.now() - readAt} ms after the read`);
  expect(events[0]!.involvedObject).toMatchObject({ kind: 'SecretBinding', name: 'served' });
  expect(events[0]!.message).toMatch(
    /Secret "served" read \(get\) by user mallory from .+: not an expected reader/,
  );
  const { records } = await operatorOutput();
  expect(records.filter((r) => r.action === 'access' && r.access?.reader.username === 'mallory')).toEqual([
    expect.objectContaining({
      outcome: 'success',
      secret: `${team}/served`,
      access: expect.objectContaining({
        verb: 'get',
        expected: false,
        userAgent: expect.stringMatching(/^kubectl/),
      }),
    }),
  ]);
}, 60_000);

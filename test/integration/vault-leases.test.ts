// generators.vault against a real OpenBao and a real PostgreSQL: the credential is a real
// database user, its lease is renewed across several TTLs, replaced at its max TTL (the old user
// keeps working for the overlap, then is dropped), and revoked when the binding is deleted or a
// store policy revokes its Secret; a sealed server keeps the Secret until it expires; the
// kubernetes secrets engine makes and deletes a service account in our API server; and leases an
// operator minted but never recorded (killed between the mint and the status write) are revoked
// by the next one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { recordPlanted } from '../harness/leak-run.ts';
import {
  createTestNamespace,
  eventually,
  serviceAccountKubeConfig,
  serviceAccountToken,
  testKubeConfig,
} from '../harness/kube.ts';
import { findLeaks, operatorOutputs } from '../harness/leaks.ts';
import { enableDatabaseEngine, startOpenBao, type OpenBao } from '../harness/openbao.ts';
import { startOperatorProcess } from '../harness/operator-process.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import { startPostgres, type Postgres } from '../harness/postgres.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteBinding,
  getBinding,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const kc = testKubeConfig();
const c = clients(kc);
const ROLE_PATH = 'database/creds/feature-store';

let team: string;
let dir: string;
let bao: OpenBao;
let pg: Postgres;
let op: TestOperator | undefined;

/** Whether `user` can log in with `password` now. */
async function canLogIn(user: string, password: string): Promise<boolean> {
  try {
    return (await pg.sql('select current_user', { user, password })) === user;
  } catch {
    return false;
  }
}

const roleExists = (user: string) => pg.roleExists(user);

/** Ids of the live leases under the feature-store role. */
async function liveLeases(): Promise<string[]> {
  try {
    const answer = await bao.api<{ data: { keys: string[] } }>(
      'GET',
      `sys/leases/lookup/${ROLE_PATH}?list=true`,
    );
    return answer.data.keys.map((k) => `${ROLE_PATH}/${k}`);
  } catch {
    return []; // 404: none
  }
}

const generatorBinding = (overlap = '2s') => ({
  storeRef: { name: 'vault' },
  generators: [{ vault: { path: ROLE_PATH, overlap } }],
  lifetime: { ttl: '1h' },
});

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-leases-'));
  team = await createTestNamespace(c.core, 'leases');
  [bao, pg] = await Promise.all([startOpenBao(path.join(dir, 'logs')), startPostgres(dir)]);
  // Short lives, so that renewals and the max TTL come within a test.
  await enableDatabaseEngine(bao, pg, {
    db: 'feature-store',
    role: 'feature-store',
    defaultTtl: '4s',
    maxTtl: '11s',
  });
  await putSourceSecret(c, team, 'vault-token', { token: bao.rootToken });
  await createStore(
    c,
    'SecretStore',
    'vault',
    {
      provider: {
        vault: { server: bao.address, auth: { tokenSecretRef: { name: 'vault-token', key: 'token' } } },
      },
    },
    team,
  );
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await bao?.stop();
  await pg?.stop();
  if (team) await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

describe('with one operator', () => {
  beforeAll(async () => {
    op = await startTestOperator({ namespaces: [team] });
  });
  afterAll(async () => {
    await op?.stop();
    op = undefined;
  });

  test('the credential is a database user; its lease is renewed across TTLs, then replaced at the max TTL after an overlap', async () => {
    // An overlap shorter than what is left of a lease when a renewal first comes back short
    // (the old credential cannot outlive its max TTL, overlap or not).
    await createBinding(c, team, 'features', generatorBinding('1s'));
    const binding = await waitForReady(c, team, 'features');
    const first = (await secretData(c, team, 'features'))!;
    expect(Object.keys(first).sort()).toEqual(['password', 'username']);
    expect(await canLogIn(first.username!, first.password!)).toBe(true);
    const [lease] = binding.status?.leases ?? [];
    expect(lease).toMatchObject({ secret: 'features', grantedSeconds: 4 });
    expect(await liveLeases()).toEqual([lease!.id]);

    // Two renewals later (at 2/3 of each 4 s), the same user, its lease extended past its first end.
    const firstEnd = Date.parse(lease!.expiresAt);
    const renewed = await eventually(
      () => getBinding(c, team, 'features'),
      (b) =>
        Date.parse(b.status?.leases?.find((l) => l.id === lease!.id)?.expiresAt ?? '') >= firstEnd + 4_000,
      { timeoutMs: 10_000, what: 'the lease renewed twice' },
    );
    expect(renewed.status?.leases?.map((l) => l.id)).toEqual([lease!.id]);
    expect((await secretData(c, team, 'features'))?.username).toBe(first.username);
    expect(await canLogIn(first.username!, first.password!)).toBe(true);

    // At the max TTL (11 s) the lease will not stretch: a new user, and the old one works on for the overlap.
    const next = (await eventually(
      () => secretData(c, team, 'features'),
      (d) => d?.username !== undefined && d.username !== first.username,
      { timeoutMs: 15_000, what: 'a new credential at the max TTL' },
    ))!;
    const switchedAt = Date.now();
    expect(await canLogIn(next.username!, next.password!)).toBe(true);
    expect(await canLogIn(first.username!, first.password!)).toBe(true);
    await eventually(
      () => roleExists(first.username!),
      (exists) => !exists,
      { timeoutMs: 10_000, what: 'the replaced user dropped' },
    );
    expect(Date.now() - switchedAt).toBeGreaterThanOrEqual(500);
    expect(await canLogIn(first.username!, first.password!)).toBe(false);
    const leases = (await getBinding(c, team, 'features')).status?.leases ?? [];
    expect(leases.map((l) => l.id)).not.toContain(lease!.id);
    expect(await liveLeases()).toEqual(leases.map((l) => l.id));
  }, 60_000);

  test('a deleted binding: its lease is revoked and the user dropped', async () => {
    await createBinding(c, team, 'short-lived', generatorBinding());
    await waitForReady(c, team, 'short-lived');
    const { username, password } = (await secretData(c, team, 'short-lived'))!;
    expect(await canLogIn(username!, password!)).toBe(true);
    await deleteBinding(c, team, 'short-lived');
    await eventually(
      () => roleExists(username!),
      (exists) => !exists,
      { timeoutMs: 10_000, what: 'the user dropped' },
    );
    expect(await canLogIn(username!, password!)).toBe(false);
    await deleteBinding(c, team, 'features');
  }, 60_000);

  test('an unexpected read with onUnexpectedRead Rotate: a new user at once, the one read dropped without the overlap', async () => {
    await createBinding(c, team, 'exposed', {
      ...generatorBinding('1m'),
      access: { onUnexpectedRead: 'Rotate' },
    });
    await waitForReady(c, team, 'exposed');
    const { username, password } = (await secretData(c, team, 'exposed'))!;
    expect(await canLogIn(username!, password!)).toBe(true);
    // Left alone, this user lives until its max TTL (11 s): a renewal at 2/3 of each 4 s TTL.
    const naturalEnd = Date.now() + 11_000;
    // The mark the access monitor leaves in status for an unexpected read (access-audit.test.ts
    // makes it from the API server's real audit events).
    const at = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await c.custom.patchNamespacedCustomObjectStatus(
      {
        group: 'mlsecrets.io',
        version: 'v1alpha1',
        plural: 'secretbindings',
        namespace: team,
        name: 'exposed',
        body: {
          status: {
            access: {
              lastUnexpectedRead: {
                at,
                reader: 'user alice',
                verb: 'get',
                secret: 'exposed',
                reason: 'not an expected reader',
              },
            },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const next = await eventually(
      () => secretData(c, team, 'exposed'),
      (data) => data?.username !== undefined && data.username !== username,
      { timeoutMs: 10_000, what: 'a new user in the Secret' },
    );
    expect(await canLogIn(next!.username!, next!.password!)).toBe(true);
    await eventually(
      () => roleExists(username!),
      (exists) => !exists,
      { timeoutMs: 10_000, what: 'the user that was read dropped' },
    );
    // Not the 1m overlap of a routine replacement, and before the lease would have ended anyway.
    expect(Date.now()).toBeLessThan(naturalEnd);
    expect((await getBinding(c, team, 'exposed')).status?.access?.respondedTo).toBe(at);
    await deleteBinding(c, team, 'exposed');
  }, 60_000);

  test('a store policy that now denies the binding: its Secret is revoked, and the lease with it', async () => {
    await createBinding(c, team, 'denied-later', generatorBinding());
    await waitForReady(c, team, 'denied-later');
    const { username, password } = (await secretData(c, team, 'denied-later'))!;
    expect(await canLogIn(username!, password!)).toBe(true);
    const setPolicy = (policy: unknown) =>
      c.custom.patchNamespacedCustomObject(
        {
          group: 'mlsecrets.io',
          version: 'v1alpha1',
          plural: 'secretstores',
          namespace: team,
          name: 'vault',
          body: { spec: { policy } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    await setPolicy({ maxTTL: '30m' }); // the binding asks for 1h
    try {
      await waitForReady(c, team, 'denied-later', { status: 'False', reason: 'PolicyDenied' });
      await eventually(
        () => roleExists(username!),
        (exists) => !exists,
        { timeoutMs: 10_000, what: 'the user of the revoked Secret dropped' },
      );
      expect(await secretData(c, team, 'denied-later')).toBeUndefined();
    } finally {
      await setPolicy(null);
      await deleteBinding(c, team, 'denied-later');
    }
  }, 60_000);

  test('a sealed server: the Secret is kept until it expires, with ProviderUnavailable; unsealed, a new user', async () => {
    await createBinding(c, team, 'sealed', generatorBinding());
    await waitForReady(c, team, 'sealed');
    const before = (await secretData(c, team, 'sealed'))!;
    await bao.seal();
    try {
      const failing = await waitForReady(c, team, 'sealed', {
        status: 'False',
        reason: 'ProviderUnavailable',
      });
      const expiresAt = Date.parse(failing.status!.expiresAt!);
      if (Date.now() < expiresAt - 500) expect(await secretData(c, team, 'sealed')).toEqual(before);
      await waitForReady(c, team, 'sealed', { status: 'False', reason: 'Expired' }, 15_000);
      expect(await secretData(c, team, 'sealed')).toBeUndefined();
    } finally {
      await bao.unseal();
    }
    await waitForReady(c, team, 'sealed', {}, 30_000);
    const after = (await secretData(c, team, 'sealed'))!;
    expect(after.username).not.toBe(before.username);
    expect(await canLogIn(after.username!, after.password!)).toBe(true);
    await deleteBinding(c, team, 'sealed');
  }, 60_000);

  test('the kubernetes secrets engine, a POST with parameters: a service account per credential in our API server, deleted with the lease', async () => {
    // The engine's own identity may make service accounts, roles and bindings (this cluster is the test's).
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const engine = `${team}-vault-engine`;
    await c.core.createNamespacedServiceAccount({
      namespace: team,
      body: { metadata: { name: 'vault-engine' } },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: engine },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'vault-engine', namespace: team }],
      },
    });
    try {
      const cluster = kc.getCurrentCluster()!;
      await bao.api('POST', 'sys/mounts/kubernetes', { type: 'kubernetes' });
      await bao.api('POST', 'kubernetes/config', {
        kubernetes_host: cluster.server,
        kubernetes_ca_cert: Buffer.from(cluster.caData!, 'base64').toString('utf8'),
        service_account_jwt: await serviceAccountToken(kc, team, 'vault-engine'),
        disable_local_ca_jwt: true,
      });
      await bao.api('POST', 'kubernetes/roles/configmap-reader', {
        allowed_kubernetes_namespaces: [team],
        generated_role_rules: JSON.stringify({
          rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
        }),
        token_default_ttl: '10m',
      });
      await createBinding(c, team, 'k8s-creds', {
        storeRef: { name: 'vault' },
        generators: [
          {
            vault: { path: 'kubernetes/creds/configmap-reader', parameters: { kubernetes_namespace: team } },
          },
        ],
      });
      await waitForReady(c, team, 'k8s-creds');
      const creds = (await secretData(c, team, 'k8s-creds'))!;
      recordPlanted(creds.service_account_token!);
      expect(creds.service_account_namespace).toBe(team);
      const asMinted = new k8s.KubeConfig();
      asMinted.loadFromOptions({
        clusters: [{ ...cluster, name: 'test' }],
        users: [{ name: 'minted', token: creds.service_account_token }],
        contexts: [{ name: 'minted', cluster: 'test', user: 'minted' }],
        currentContext: 'minted',
      });
      const list = () => asMinted.makeApiClient(k8s.CoreV1Api).listNamespacedConfigMap({ namespace: team });
      // The credential works: it lists ConfigMaps of the namespace, and nothing more.
      expect((await list()).items).toBeDefined();
      await deleteBinding(c, team, 'k8s-creds');
      await eventually(
        () =>
          c.core.readNamespacedServiceAccount({ namespace: team, name: creds.service_account_name! }).then(
            () => true,
            () => false,
          ),
        (exists) => !exists,
        { timeoutMs: 15_000, what: 'the minted service account deleted' },
      );
      await expect(list()).rejects.toThrow();
    } finally {
      await rbac.deleteClusterRoleBinding({ name: engine }).catch(() => undefined);
    }
  }, 60_000);

  test('no value or lease id in Events or logs, and no value in status', async () => {
    const texts = { ...(await operatorOutputs(c, [team])), 'operator log': op!.logs.join('\n') };
    expect(findLeaks(texts)).toEqual([]);
    expect(op!.logs.filter((l) => l.includes(`${ROLE_PATH}/`))).toEqual([]);
  });
});

describe('an operator killed between the mint and the status write', () => {
  let next: TestOperator | undefined;
  afterAll(() => next?.stop());

  test('leaves no lease behind: the next one revokes it', async () => {
    // The first operator may not write binding status (RBAC): every lease it mints is unrecorded.
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const account = 'no-status-writes';
    await c.core.createNamespacedServiceAccount({ namespace: team, body: { metadata: { name: account } } });
    const role = `${team}-${account}`;
    await rbac.createClusterRole({
      body: {
        metadata: { name: role },
        rules: [
          { apiGroups: [''], resources: ['secrets', 'events', 'namespaces', 'pods'], verbs: ['*'] },
          { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['*'] },
          { apiGroups: ['batch'], resources: ['jobs'], verbs: ['list', 'watch'] },
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['*'] },
          {
            apiGroups: ['mlsecrets.io'],
            resources: ['secretbindings', 'secretstores', 'clustersecretstores'],
            verbs: ['get', 'list', 'watch'],
          },
          { apiGroups: ['mlsecrets.io'], resources: ['secretstores/status'], verbs: ['patch'] },
        ],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: account, namespace: team }],
      },
    });
    try {
      const restricted = await serviceAccountKubeConfig(kc, team, account);
      const kubeconfigPath = path.join(dir, 'restricted.kubeconfig');
      fs.writeFileSync(kubeconfigPath, restricted.exportConfig());
      const before = new Set(await liveLeases());
      await createBinding(c, team, 'crashed', generatorBinding());
      const crashing = await startOperatorProcess({
        name: 'operator-killed',
        kubeconfigPath,
        namespaces: [team],
        logDir: path.join(dir, 'logs'),
      });
      const minted = await eventually(
        async () => (await liveLeases()).filter((id) => !before.has(id)),
        (ids) => ids.length > 0,
        { timeoutMs: 30_000, what: 'a lease minted by the first operator' },
      );
      await crashing.stop(0); // SIGKILL
      expect((await getBinding(c, team, 'crashed')).status?.leases ?? []).toEqual([]);

      next = await startTestOperator({ namespaces: [team], leaseSweep: { graceMs: 1_000, everyMs: 2_000 } });
      const ready = await waitForReady(c, team, 'crashed', {}, 30_000);
      const recorded = (ready.status?.leases ?? []).map((l) => l.id);
      expect(recorded).toHaveLength(1);
      const orphans = await eventually(
        async () => {
          const live = await liveLeases();
          return minted.filter((id) => live.includes(id) && !recorded.includes(id));
        },
        (left) => left.length === 0,
        { timeoutMs: 20_000, what: 'the orphaned leases revoked' },
      );
      expect(orphans).toEqual([]);
      expect(await liveLeases()).toEqual(expect.arrayContaining(recorded));
    } finally {
      await rbac.deleteClusterRoleBinding({ name: role }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: role }).catch(() => undefined);
    }
  }, 120_000);
});

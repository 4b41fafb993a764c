// The vault provider on the real control plane against a real OpenBao (Vault's API): KV v2 and
// v1 reads, Kubernetes login (OpenBao calls our API server's TokenReview), AppRole and a token
// from a Secret, denial and a sealed server. The operator runs in-process.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { SecretStoreSpec } from '../../src/api/types.ts';
import { createTestNamespace, eventually, serviceAccountToken, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startOpenBao, type OpenBao } from '../harness/openbao.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  getBinding,
  getStoreStatus,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const kc = testKubeConfig();
const c = clients(kc);
const hfToken = [plant('hf-v1'), plant('hf-v2')];
const dbPassword = plant('db');
const appRoleSecret = { roleId: '', secretId: '' };

let team: string;
let bao: OpenBao;
let op: TestOperator;
let dir: string;

const vaultStore = (extra: Partial<NonNullable<SecretStoreSpec['provider']['vault']>>): SecretStoreSpec => ({
  provider: {
    vault: {
      server: bao.address,
      auth: { kubernetes: { role: 'reader', serviceAccountRef: { name: 'vault-reader' } } },
      ...extra,
    },
  },
});

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-vault-'));
  team = await createTestNamespace(c.core, 'vault-team');
  bao = await startOpenBao(path.join(dir, 'logs'));

  // Values: KV v2 at secret/ (the dev server's), KV v1 at kv/.
  await bao.api('POST', 'secret/data/ml/huggingface', { data: { token: hfToken[0], org: 'acme' } });
  await bao.api('POST', 'secret/data/ml/huggingface', { data: { token: hfToken[1], org: 'acme' } });
  await bao.api('POST', 'secret/data/ml/forbidden', { data: { v: 'x' } });
  await bao.api('POST', 'sys/mounts/kv', { type: 'kv', options: { version: '1' } });
  await bao.api('POST', 'kv/feature-store', { user: 'fs', password: dbPassword });
  await bao.api('PUT', 'sys/policies/acl/reader', {
    policy:
      'path "secret/data/ml/huggingface" { capabilities = ["read"] }\npath "kv/*" { capabilities = ["read", "list"] }',
  });

  // Kubernetes login: OpenBao checks presented tokens with our API server's TokenReview, as a
  // reviewer allowed to (system:auth-delegator).
  await c.core.createNamespacedServiceAccount({
    namespace: team,
    body: { metadata: { name: 'vault-reviewer' } },
  });
  await c.core.createNamespacedServiceAccount({
    namespace: team,
    body: { metadata: { name: 'vault-reader' } },
  });
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: `${team}-vault-reviewer` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: 'vault-reviewer', namespace: team }],
    },
  });
  const cluster = kc.getCurrentCluster()!;
  await bao.api('POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
  await bao.api('POST', 'auth/kubernetes/config', {
    kubernetes_host: cluster.server,
    kubernetes_ca_cert: cluster.caData
      ? Buffer.from(cluster.caData, 'base64').toString('utf8')
      : fs.readFileSync(cluster.caFile!, 'utf8'),
    token_reviewer_jwt: await serviceAccountToken(kc, team, 'vault-reviewer'),
    disable_local_ca_jwt: true,
  });
  await bao.api('POST', 'auth/kubernetes/role/reader', {
    bound_service_account_names: ['vault-reader'],
    bound_service_account_namespaces: [team],
    audience: 'vault',
    token_policies: ['reader'],
    token_ttl: '1h',
  });

  // AppRole, its secret id in a Secret.
  await bao.api('POST', 'sys/auth/approle', { type: 'approle' });
  await bao.api('POST', 'auth/approle/role/trainer', { token_policies: ['reader'], token_ttl: '1h' });
  appRoleSecret.roleId = (
    await bao.api<{ data: { role_id: string } }>('GET', 'auth/approle/role/trainer/role-id')
  ).data.role_id;
  appRoleSecret.secretId = (
    await bao.api<{ data: { secret_id: string } }>('POST', 'auth/approle/role/trainer/secret-id')
  ).data.secret_id;
  await putSourceSecret(c, team, 'vault-approle', { 'secret-id': appRoleSecret.secretId });
  await putSourceSecret(c, team, 'vault-token', { token: bao.rootToken });

  await createStore(c, 'SecretStore', 'vault', vaultStore({}), team);
  op = await startTestOperator({ namespaces: [team] });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await bao?.stop();
  if (team) {
    await kc
      .makeApiClient(k8s.RbacAuthorizationV1Api)
      .deleteClusterRoleBinding({ name: `${team}-vault-reviewer` })
      .catch(() => undefined);
    await c.core.deleteNamespace({ name: team }).catch(() => undefined);
  }
});

test('the store logs in with its service account token (OpenBao asks our TokenReview) and is Ready', async () => {
  const status = await eventually(
    () => getStoreStatus(c, 'SecretStore', 'vault', team),
    (s) => s?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false,
    { what: 'store Ready' },
  );
  expect(status).toMatchObject({ provider: 'vault' });
});

test('KV v2: a property of the current version and a pinned version, with versions in status', async () => {
  await createBinding(c, team, 'finetune', {
    storeRef: { name: 'vault' },
    data: [
      { secretKey: 'HF_TOKEN', remoteRef: { key: 'ml/huggingface', property: 'token' } },
      { secretKey: 'HF_TOKEN_V1', remoteRef: { key: 'ml/huggingface', property: 'token', version: '1' } },
      { secretKey: 'ALL', remoteRef: { key: 'ml/huggingface' } },
    ],
  });
  const binding = await waitForReady(c, team, 'finetune');
  const data = await secretData(c, team, 'finetune');
  expect(data).toMatchObject({ HF_TOKEN: hfToken[1], HF_TOKEN_V1: hfToken[0] });
  expect(JSON.parse(data!.ALL!)).toEqual({ token: hfToken[1], org: 'acme' });
  expect(binding.status?.sources).toEqual(
    expect.arrayContaining([expect.objectContaining({ key: 'ml/huggingface', versionId: '2' })]),
  );
});

test('KV v1 with AppRole, and with a token from a Secret; find lists the mount', async () => {
  await createStore(
    c,
    'SecretStore',
    'vault-v1',
    vaultStore({
      path: 'kv',
      version: 'v1',
      auth: {
        appRole: { roleId: appRoleSecret.roleId, secretRef: { name: 'vault-approle', key: 'secret-id' } },
      },
    }),
    team,
  );
  await createStore(
    c,
    'SecretStore',
    'vault-token',
    vaultStore({
      path: 'kv',
      version: 'v1',
      auth: { tokenSecretRef: { name: 'vault-token', key: 'token' } },
    }),
    team,
  );
  await createBinding(c, team, 'features', {
    storeRef: { name: 'vault-v1' },
    data: [{ secretKey: 'PGPASSWORD', remoteRef: { key: 'feature-store', property: 'password' } }],
  });
  await createBinding(c, team, 'features-found', {
    storeRef: { name: 'vault-token' },
    dataFrom: [{ find: { name: { regexp: '^feature' } } }],
  });
  await waitForReady(c, team, 'features');
  await waitForReady(c, team, 'features-found');
  expect(await secretData(c, team, 'features')).toEqual({ PGPASSWORD: dbPassword });
  expect(Object.values((await secretData(c, team, 'features-found')) ?? {})).toEqual([
    JSON.stringify({ password: dbPassword, user: 'fs' }),
  ]);
});

test('a path the policy does not grant → AccessDenied, with a message of our own', async () => {
  await createBinding(c, team, 'forbidden', {
    storeRef: { name: 'vault' },
    data: [{ secretKey: 'V', remoteRef: { key: 'ml/forbidden', property: 'v' } }],
  });
  const binding = await waitForReady(c, team, 'forbidden', { status: 'False', reason: 'AccessDenied' });
  const ready = binding.status?.conditions?.find((x) => x.type === 'Ready');
  expect(ready?.message).toContain('permission denied reading secret/ml/forbidden (403)');
});

test('a sealed server: the Secret is kept, the binding says ProviderUnavailable, and it recovers once unsealed', async () => {
  await createBinding(c, team, 'sealed', {
    storeRef: { name: 'vault' },
    data: [{ secretKey: 'HF_TOKEN', remoteRef: { key: 'ml/huggingface', property: 'token' } }],
    lifetime: { ttl: '1h', refreshInterval: '1s' },
  });
  await waitForReady(c, team, 'sealed');
  await bao.seal();
  try {
    await waitForReady(c, team, 'sealed', { status: 'False', reason: 'ProviderUnavailable' });
    expect(await secretData(c, team, 'sealed')).toEqual({ HF_TOKEN: hfToken[1] });
  } finally {
    await bao.unseal();
  }
  await waitForReady(c, team, 'sealed', {}, 60_000);
  expect(
    (await getBinding(c, team, 'sealed')).status?.conditions?.find((x) => x.type === 'Ready')?.status,
  ).toBe('True');
});

test('TLS: the caBundle is trusted, and a server the bundle does not vouch for is refused', async () => {
  const secure = await startOpenBao(path.join(dir, 'logs'), { tls: true, name: 'openbao-tls' });
  try {
    await secure.api('POST', 'secret/data/tls-only', { data: { token: hfToken[0] } });
    await putSourceSecret(c, team, 'vault-tls-token', { token: secure.rootToken });
    const auth = { tokenSecretRef: { name: 'vault-tls-token', key: 'token' } };
    await createStore(
      c,
      'SecretStore',
      'vault-tls',
      vaultStore({ server: secure.address, caBundle: Buffer.from(secure.ca!).toString('base64'), auth }),
      team,
    );
    await createStore(
      c,
      'SecretStore',
      'vault-untrusted',
      vaultStore({ server: secure.address, auth }),
      team,
    );
    await createBinding(c, team, 'over-tls', {
      storeRef: { name: 'vault-tls' },
      data: [{ secretKey: 'T', remoteRef: { key: 'tls-only', property: 'token' } }],
    });
    await createBinding(c, team, 'untrusted', {
      storeRef: { name: 'vault-untrusted' },
      data: [{ secretKey: 'T', remoteRef: { key: 'tls-only', property: 'token' } }],
    });
    await waitForReady(c, team, 'over-tls');
    expect(await secretData(c, team, 'over-tls')).toEqual({ T: hfToken[0] });
    const refused = await waitForReady(c, team, 'untrusted', { status: 'False' });
    expect(refused.status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(
      /TLS verification failed .*caBundle/,
    );
    expect(await secretData(c, team, 'untrusted')).toBeUndefined();
  } finally {
    await secure.stop();
  }
});

test('a namespace (X-Vault-Namespace): the store reads the namespace mount, not the root one', async () => {
  const inNamespace = plant('ns');
  await bao.api('POST', 'sys/namespaces/ml-platform', {});
  const scoped = (method: string, apiPath: string, body: unknown) =>
    fetch(`${bao.address}/v1/${apiPath}`, {
      method,
      headers: { 'X-Vault-Token': bao.rootToken, 'X-Vault-Namespace': 'ml-platform' },
      body: JSON.stringify(body),
    }).then((r) => expect(r.ok).toBe(true));
  await scoped('POST', 'sys/mounts/secret', { type: 'kv', options: { version: '2' } });
  await scoped('POST', 'secret/data/ml/huggingface', { data: { token: inNamespace } });
  await createStore(
    c,
    'SecretStore',
    'vault-ns',
    vaultStore({ namespace: 'ml-platform', auth: { tokenSecretRef: { name: 'vault-token', key: 'token' } } }),
    team,
  );
  await createBinding(c, team, 'namespaced', {
    storeRef: { name: 'vault-ns' },
    data: [{ secretKey: 'HF_TOKEN', remoteRef: { key: 'ml/huggingface', property: 'token' } }],
  });
  await waitForReady(c, team, 'namespaced');
  expect(await secretData(c, team, 'namespaced')).toEqual({ HF_TOKEN: inNamespace });
});

test('no planted value, token or secret id in Events, status or the operator log', async () => {
  const texts = { ...(await operatorOutputs(c, [team])), 'operator log': op.logs.join('\n') };
  expect(findLeaks(texts)).toEqual([]);
  for (const [where, text] of Object.entries(texts)) {
    expect({ where, leaked: text.includes(bao.rootToken) || text.includes(appRoleSecret.secretId) }).toEqual({
      where,
      leaked: false,
    });
  }
});

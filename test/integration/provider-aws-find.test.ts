// dataFrom.find on AWS Secrets Manager and Parameter Store, and the awsSTS generator, through
// the operator in-process and the real AWS SDK against the run's shared moto. Other files use
// that moto at the same time, so it is never reset: every name and tag key here carries this
// file's prefix, so listings by tag see only this file's secrets.
import { randomBytes } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SecretBindingSpec, SecretStoreSpec } from '../../src/api/types.ts';
import { EXPIRES_AT_ANNOTATION } from '../../src/api/labels.ts';
import { awsClientConfig } from '../harness/emulators.ts';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  getBinding,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';
import { testEnv } from '../harness/test-env.ts';

const c = clients(testKubeConfig());
const endpoint = testEnv('motoEndpoint');
const p = `itf-${randomBytes(4).toString('hex')}`;
/** A tag key no other file uses, so a find by tag lists this file's secrets only. */
const tk = `${p}-team`;
const sm = new SecretsManagerClient(awsClientConfig(endpoint));
const ssm = new SSMClient(awsClientConfig(endpoint));
const secretAccessKey = plant('aws-secret-key');
const v = {
  hf: plant('sm-hf'),
  wandb: plant('sm-wandb'),
  extra: plant('sm-extra'),
  teamB: plant('sm-team-b'),
  valuePrefix: plant('sm-value-prefix'),
  keyPrefix: plant('sm-key-prefix'),
  crossed: plant('sm-crossed'),
  openai: plant('sm-openai'),
  hf2: plant('sm-hf-v2'),
  bucket: plant('sts-bucket'),
};
const pv = {
  hf: plant('ps-hf'),
  wandb: plant('ps-wandb'),
  nested: plant('ps-nested'),
  teamAb: plant('ps-team-ab'),
  teamB: plant('ps-team-b'),
  valuePrefix: plant('ps-value-prefix'),
  keyPrefix: plant('ps-key-prefix'),
  openai: plant('ps-openai'),
};

let team: string;
let op: TestOperator;

function awsStore(service: 'SecretsManager' | 'ParameterStore'): SecretStoreSpec {
  return {
    provider: {
      aws: {
        service,
        region: 'us-east-1',
        endpoint,
        auth: {
          secretRef: {
            accessKeyID: { name: 'aws-creds', key: 'access-key-id' },
            secretAccessKey: { name: 'aws-creds', key: 'secret-access-key' },
          },
        },
      },
    },
  };
}

async function createSecret(name: string, value: string, tags: Record<string, string>): Promise<void> {
  await sm.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: value,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
}

async function putParameter(name: string, value: string, tags: Record<string, string>): Promise<void> {
  await ssm.send(
    new PutParameterCommand({
      Name: name,
      Value: value,
      Type: 'SecureString',
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
}

function findBinding(
  store: string,
  find: NonNullable<SecretBindingSpec['dataFrom']>[number],
): SecretBindingSpec {
  return { storeRef: { name: store }, dataFrom: [find], lifetime: { ttl: '1h', refreshInterval: '2s' } };
}

/** Provider calls of one store (by operation), from the operator's cost metric. */
async function storeCalls(store: string, operation: string): Promise<number> {
  const metric = await op.operator.metrics.providerCalls.get();
  return metric.values
    .filter((x) => x.labels.store === `SecretStore/${team}/${store}` && x.labels.operation === operation)
    .reduce((sum, x) => sum + x.value, 0);
}

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'aws-find');
  await putSourceSecret(c, team, 'aws-creds', {
    'access-key-id': 'AKIAMLSECRETSFIND01',
    'secret-access-key': secretAccessKey,
  });
  await Promise.all([
    createSecret(`${p}/team-a/hf`, v.hf, { [tk]: 'a', tier: 'gpu' }),
    createSecret(`${p}/team-a/wandb`, v.wandb, { [tk]: 'a' }),
    // Right tag, a name the regexp and the path leave out.
    createSecret(`${p}/team-a-extra/x`, v.extra, { [tk]: 'a' }),
    createSecret(`${p}/team-b/hf`, v.teamB, { [tk]: 'b' }),
    // What AWS's prefix filters let through and the exact match must not: a value that starts
    // with "a", a key that starts with the tag key, key and value on different tags.
    createSecret(`${p}/other/value-prefix`, v.valuePrefix, { [tk]: 'ab' }),
    createSecret(`${p}/other/key-prefix`, v.keyPrefix, { [`${tk}s`]: 'a' }),
    createSecret(`${p}/other/crossed`, v.crossed, { [tk]: 'b', owner: 'a' }),
    createSecret(`${p}/sts-bucket`, v.bucket, {}),
    putParameter(`/${p}/team-a/hf`, pv.hf, { [tk]: 'a', tier: 'gpu' }),
    putParameter(`/${p}/team-a/wandb`, pv.wandb, { [tk]: 'a' }),
    putParameter(`/${p}/team-a/deep/nested`, pv.nested, { [tk]: 'a' }),
    // A sibling hierarchy whose name starts like the path: not under it.
    putParameter(`/${p}/team-ab/x`, pv.teamAb, { [tk]: 'a' }),
    putParameter(`/${p}/team-b/hf`, pv.teamB, { [tk]: 'b' }),
    putParameter(`/${p}/other/value-prefix`, pv.valuePrefix, { [tk]: 'ab' }),
    putParameter(`/${p}/other/key-prefix`, pv.keyPrefix, { [`${tk}s`]: 'a' }),
  ]);
  await createStore(c, 'SecretStore', 'sm', awsStore('SecretsManager'), team);
  await createStore(c, 'SecretStore', 'ps', awsStore('ParameterStore'), team);
  await createStore(c, 'SecretStore', 'sts', awsStore('SecretsManager'), team);
  op = await startTestOperator({ namespaces: [team] });
}, 60_000);

afterAll(async () => {
  await op?.stop();
  sm.destroy();
  ssm.destroy();
  if (team) await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

describe('Secrets Manager', () => {
  test('by name regexp: exactly the matching secrets, keys sanitised ("/" becomes "_")', async () => {
    await createBinding(
      c,
      team,
      'sm-regexp',
      findBinding('sm', { find: { name: { regexp: `^${p}/team-a/` } } }),
    );
    const binding = await waitForReady(c, team, 'sm-regexp');
    expect(await secretData(c, team, 'sm-regexp')).toEqual({
      [`${p}_team-a_hf`]: v.hf,
      [`${p}_team-a_wandb`]: v.wandb,
    });
    expect(binding.status?.sources?.map((s) => s.key).sort()).toEqual([
      `${p}/team-a/hf`,
      `${p}/team-a/wandb`,
    ]);
    expect(binding.status?.sources?.every((s) => /^[0-9a-f-]{36}$/.test(s.versionId ?? ''))).toBe(true);
  });

  test('by tags, matched exactly (not by prefix), with a rewrite', async () => {
    await createBinding(
      c,
      team,
      'sm-tags',
      findBinding('sm', {
        find: { tags: { [tk]: 'a' } },
        rewrite: [{ regexp: { source: `^${p}/`, target: '' } }],
      }),
    );
    await waitForReady(c, team, 'sm-tags');
    expect(await secretData(c, team, 'sm-tags')).toEqual({
      'team-a_hf': v.hf,
      'team-a_wandb': v.wandb,
      'team-a-extra_x': v.extra,
    });
    await createBinding(
      c,
      team,
      'sm-two-tags',
      findBinding('sm', { find: { tags: { [tk]: 'a', tier: 'gpu' } } }),
    );
    await waitForReady(c, team, 'sm-two-tags');
    expect(await secretData(c, team, 'sm-two-tags')).toEqual({ [`${p}_team-a_hf`]: v.hf });
  });

  test('by path with a rewrite; an added secret appears and a deleted one disappears at the next refresh', async () => {
    await createBinding(
      c,
      team,
      'sm-path',
      findBinding('sm', {
        find: { path: `${p}/team-a/` },
        rewrite: [{ regexp: { source: `^${p}/team-a/(.*)`, target: '$1' } }],
      }),
    );
    await waitForReady(c, team, 'sm-path');
    expect(await secretData(c, team, 'sm-path')).toEqual({ hf: v.hf, wandb: v.wandb });

    await createSecret(`${p}/team-a/openai`, v.openai, {});
    await sm.send(new PutSecretValueCommand({ SecretId: `${p}/team-a/hf`, SecretString: v.hf2 }));
    // The default deletion: scheduled, with a recovery window (moto then fails the filtered
    // BatchGetSecretValue as a whole, and the provider lists instead).
    await sm.send(new DeleteSecretCommand({ SecretId: `${p}/team-a/wandb` }));
    const changedAt = Date.now();
    await eventually(
      () => secretData(c, team, 'sm-path'),
      (d) => JSON.stringify(d) === JSON.stringify({ hf: v.hf2, openai: v.openai }),
      { timeoutMs: 10_000, what: 'the added secret, the new version, and the deleted one gone' },
    );
    expect(Date.now() - changedAt).toBeLessThan(10_000);
    // The other finds follow as well.
    await eventually(
      () => secretData(c, team, 'sm-tags'),
      (d) => d?.['team-a_wandb'] === undefined && d?.['team-a_hf'] === v.hf2,
      { timeoutMs: 10_000, what: 'the find by tags without the deleted secret' },
    );
  });
});

describe('Parameter Store', () => {
  test('by name regexp: keys are the names with their leading "/", sanitised', async () => {
    await createBinding(
      c,
      team,
      'ps-regexp',
      findBinding('ps', { find: { name: { regexp: `^/${p}/team-a/` } } }),
    );
    const binding = await waitForReady(c, team, 'ps-regexp');
    expect(await secretData(c, team, 'ps-regexp')).toEqual({
      [`_${p}_team-a_hf`]: pv.hf,
      [`_${p}_team-a_wandb`]: pv.wandb,
      [`_${p}_team-a_deep_nested`]: pv.nested,
    });
    expect(binding.status?.sources).toEqual(
      expect.arrayContaining([{ key: `/${p}/team-a/hf`, versionId: '1' }]),
    );
  });

  test('by tags (exact), alone and under a path', async () => {
    await createBinding(
      c,
      team,
      'ps-tags',
      findBinding('ps', {
        find: { tags: { [tk]: 'a' } },
        rewrite: [{ regexp: { source: `^/${p}/`, target: '' } }],
      }),
    );
    await waitForReady(c, team, 'ps-tags');
    expect(await secretData(c, team, 'ps-tags')).toEqual({
      'team-a_hf': pv.hf,
      'team-a_wandb': pv.wandb,
      'team-a_deep_nested': pv.nested,
      'team-ab_x': pv.teamAb,
    });
    await createBinding(
      c,
      team,
      'ps-tags-path',
      findBinding('ps', { find: { path: `/${p}/team-a`, tags: { [tk]: 'a', tier: 'gpu' } } }),
    );
    await waitForReady(c, team, 'ps-tags-path');
    expect(await secretData(c, team, 'ps-tags-path')).toEqual({ [`_${p}_team-a_hf`]: pv.hf });
  });

  test('by path, recursively, with a rewrite; an added parameter appears and a deleted one disappears', async () => {
    await createBinding(
      c,
      team,
      'ps-path',
      findBinding('ps', {
        find: { path: `/${p}/team-a/` },
        rewrite: [{ regexp: { source: `^/${p}/team-a/(.*)`, target: '$1' } }],
      }),
    );
    await waitForReady(c, team, 'ps-path');
    expect(await secretData(c, team, 'ps-path')).toEqual({
      hf: pv.hf,
      wandb: pv.wandb,
      deep_nested: pv.nested,
    });

    await putParameter(`/${p}/team-a/openai`, pv.openai, {});
    await ssm.send(new DeleteParameterCommand({ Name: `/${p}/team-a/wandb` }));
    await eventually(
      () => secretData(c, team, 'ps-path'),
      (d) => JSON.stringify(d) === JSON.stringify({ deep_nested: pv.nested, hf: pv.hf, openai: pv.openai }),
      { timeoutMs: 10_000, what: 'the added parameter, and the deleted one gone' },
    );
  });
});

test('a Parameter Store find path outside any hierarchy fails with a message of ours', async () => {
  await createBinding(c, team, 'ps-bad-path', findBinding('ps', { find: { path: `${p}/team-a/` } }));
  const binding = await waitForReady(c, team, 'ps-bad-path', { status: 'False', reason: 'ProviderError' });
  expect(binding.status?.conditions?.find((x) => x.type === 'Ready')?.message).toBe(
    `dataFrom.find path "${p}/team-a/" is not a Parameter Store hierarchy: it must start with "/"`,
  );
  expect(await secretData(c, team, 'ps-bad-path')).toBeUndefined();
});

describe('the awsSTS generator', () => {
  test('mints credentials into the Secret, caps its expiry, and mints nothing at a refresh without changes', async () => {
    // ttl 1h with credentials of 900 s: the issue lives 15 minutes and is renewed after 10, so
    // the refresh that must not mint has to come sooner than the default (the ttl, 1h).
    await createBinding(c, team, 'sts', {
      storeRef: { name: 'sts' },
      data: [{ secretKey: 'BUCKET', remoteRef: { key: `${p}/sts-bucket` } }],
      generators: [{ awsSTS: { roleArn: 'arn:aws:iam::123456789012:role/s3-train', durationSeconds: 900 } }],
      lifetime: { ttl: '1h', refreshInterval: '2s' },
    });
    await waitForReady(c, team, 'sts');
    const first = await secretData(c, team, 'sts');
    expect(Object.keys(first ?? {}).sort()).toEqual([
      'AWS_ACCESS_KEY_ID',
      'AWS_CREDENTIAL_EXPIRATION',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'BUCKET',
    ]);
    expect(first?.BUCKET).toBe(v.bucket);
    expect(first?.AWS_ACCESS_KEY_ID).toMatch(/^ASIA/);
    const credentialExpiry = Date.parse(first!.AWS_CREDENTIAL_EXPIRATION!);
    expect(credentialExpiry - Date.now()).toBeGreaterThan(800_000);
    expect(credentialExpiry - Date.now()).toBeLessThanOrEqual(900_000);
    const secret = await c.core.readNamespacedSecret({ namespace: team, name: 'sts' });
    const expiresAt = Date.parse(secret.metadata?.annotations?.[EXPIRES_AT_ANNOTATION] ?? '');
    expect(expiresAt).not.toBeNaN();
    expect(expiresAt).toBeLessThanOrEqual(credentialExpiry);
    expect(await storeCalls('sts', 'AssumeRole')).toBe(1);

    // Two more refreshes read the store (unchanged) and leave the credentials alone.
    const reads = await storeCalls('sts', 'BatchGetSecretValue');
    await eventually(
      () => storeCalls('sts', 'BatchGetSecretValue'),
      (n) => n >= reads + 2,
      { timeoutMs: 10_000, what: 'two refreshes of the sts binding' },
    );
    expect(await storeCalls('sts', 'AssumeRole')).toBe(1);
    expect(await secretData(c, team, 'sts')).toEqual(first);
    const after = await c.core.readNamespacedSecret({ namespace: team, name: 'sts' });
    expect(after.metadata?.resourceVersion).toBe(secret.metadata?.resourceVersion);
    expect(
      (await getBinding(c, team, 'sts')).status?.conditions?.find((x) => x.type === 'Ready')?.status,
    ).toBe('True');
  });
});

test('no planted value appears in any log line, Event or status', async () => {
  const outputs = await operatorOutputs(c, [team]);
  outputs['operator logs'] = op.logs.join('\n');
  expect(op.logs.some((line) => line.includes('ps-bad-path'))).toBe(true);
  expect(findLeaks(outputs)).toEqual([]);
});

// The AWS providers (Secrets Manager and Parameter Store) on the real control plane: the
// operator in-process, the real AWS SDK against the run's shared moto. Other files use that
// moto at the same time, so it is never reset: every name here carries this file's prefix.
// Tests that stop moto or switch on its IAM checks are in provider-aws-outage.test.ts.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import {
  CreateSecretCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { LabelParameterVersionCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SecretStoreSpec } from '../../src/api/types.ts';
import { awsProviderFactory } from '../../src/providers/aws/aws.provider.ts';
import { ProviderError, type ProviderContext, type RemoteValue } from '../../src/providers/provider.port.ts';
import { awsClientConfig } from '../harness/emulators.ts';
import { createTestNamespace, eventually, kubectl, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  eventsFor,
  getStoreStatus,
  putSourceSecret,
  secretData,
  waitForReady,
} from '../harness/resources.ts';
import { testEnv } from '../harness/test-env.ts';
import { noTokens } from '../harness/no-tokens.ts';

const c = clients(testKubeConfig());
const endpoint = testEnv('motoEndpoint');
const prefix = `it-${randomBytes(4).toString('hex')}`;
const sm = new SecretsManagerClient(awsClientConfig(endpoint));
const ssm = new SSMClient(awsClientConfig(endpoint));
// moto accepts any keys; the secret one is planted so the leak scan covers key material too.
const accessKeyId = 'AKIAMLSECRETSTEST01';
const secretAccessKey = plant('aws-secret-key');
const tokens = [plant('hf-v1'), plant('hf-v2'), plant('hf-v3')];
const binary = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a]), Buffer.from(plant('bin'))]);
const params = [plant('param-v1'), plant('param-v2'), plant('param-v3')];
const wandb = plant('wandb');

let team: string;
let op: TestOperator;
const versionIds: string[] = [];

function awsStore(service: 'SecretsManager' | 'ParameterStore', credentials = 'aws-creds'): SecretStoreSpec {
  return {
    provider: {
      aws: {
        service,
        region: 'us-east-1',
        endpoint,
        auth: {
          secretRef: {
            accessKeyID: { name: credentials, key: 'access-key-id' },
            secretAccessKey: { name: credentials, key: 'secret-access-key' },
          },
        },
      },
    },
  };
}

async function rawKey(namespace: string, name: string, key: string): Promise<Buffer | undefined> {
  const secret = await c.core.readNamespacedSecret({ namespace, name });
  const value = secret.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64');
}

async function putSecretVersion(name: string, value: string): Promise<string> {
  const out = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
  return out.VersionId!;
}

async function putParameter(name: string, value: string, type: 'String' | 'SecureString' = 'SecureString') {
  const out = await ssm.send(
    new PutParameterCommand({ Name: name, Value: value, Type: type, Overwrite: true }),
  );
  return out.Version!;
}

/** Waits for Ready=False with `reason` and a Warning Event on the binding. */
async function expectFailure(name: string, reason: string, message: RegExp) {
  const binding = await waitForReady(c, team, name, { status: 'False', reason });
  expect(binding.status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(message);
  await eventually(
    async () => (await eventsFor(c, team, name)).filter((e) => e.type === 'Warning'),
    (warnings) => warnings.length >= 1,
    { timeoutMs: 5_000, what: `a Warning Event on ${name}` },
  );
  return binding;
}

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'aws-team');
  await putSourceSecret(c, team, 'aws-creds', {
    'access-key-id': accessKeyId,
    'secret-access-key': secretAccessKey,
  });
  // Two versions, so AWSPREVIOUS exists from the start.
  const created = await sm.send(
    new CreateSecretCommand({
      Name: `${prefix}/hf`,
      SecretString: JSON.stringify({ token: tokens[0], org: { name: 'acme' } }),
    }),
  );
  versionIds.push(created.VersionId!);
  versionIds.push(
    await putSecretVersion(`${prefix}/hf`, JSON.stringify({ token: tokens[1], org: { name: 'acme' } })),
  );
  await sm.send(new CreateSecretCommand({ Name: `${prefix}/model-key`, SecretBinary: binary }));
  await putParameter(`/${prefix}/hf`, JSON.stringify({ token: params[0] }));
  await putParameter(`/${prefix}/hf`, JSON.stringify({ token: params[1] }));
  await ssm.send(
    new LabelParameterVersionCommand({ Name: `/${prefix}/hf`, ParameterVersion: 1, Labels: ['stable'] }),
  );
  await putParameter(`/${prefix}/wandb`, wandb, 'String');
  await createStore(c, 'SecretStore', 'sm', awsStore('SecretsManager'), team);
  await createStore(c, 'SecretStore', 'ps', awsStore('ParameterStore'), team);
  op = await startTestOperator({ namespaces: [team] });
}, 60_000);

afterAll(async () => {
  await op?.stop();
  sm.destroy();
  ssm.destroy();
  if (team) await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

describe('Secrets Manager', () => {
  test('a binding becomes Ready: a property of a JSON value, a binary secret, the version in status', async () => {
    await createBinding(c, team, 'sm-main', {
      storeRef: { name: 'sm' },
      data: [
        { secretKey: 'HF_TOKEN', remoteRef: { key: `${prefix}/hf`, property: 'token' } },
        { secretKey: 'HF_ORG', remoteRef: { key: `${prefix}/hf`, property: 'org.name' } },
        { secretKey: 'MODEL_KEY', remoteRef: { key: `${prefix}/model-key` } },
      ],
      lifetime: { ttl: '1h', refreshInterval: '2s' },
    });
    const binding = await waitForReady(c, team, 'sm-main');
    const data = await secretData(c, team, 'sm-main');
    expect(data?.HF_TOKEN).toBe(tokens[1]);
    expect(data?.HF_ORG).toBe('acme');
    expect((await rawKey(team, 'sm-main', 'MODEL_KEY'))?.equals(binary)).toBe(true);
    expect(binding.status?.sources).toEqual(
      expect.arrayContaining([{ key: `${prefix}/hf`, versionId: versionIds[1] }]),
    );
    const store = await getStoreStatus(c, 'SecretStore', 'sm', team);
    expect(store?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({ status: 'True' });
  });

  test('version pins: a version id, and the AWSPREVIOUS stage', async () => {
    await createBinding(c, team, 'sm-pins', {
      storeRef: { name: 'sm' },
      data: [
        { secretKey: 'BY_ID', remoteRef: { key: `${prefix}/hf`, property: 'token', version: versionIds[0] } },
        {
          secretKey: 'PREVIOUS',
          remoteRef: { key: `${prefix}/hf`, property: 'token', version: 'AWSPREVIOUS' },
        },
      ],
      lifetime: { ttl: '1h', refreshInterval: '2s' },
    });
    await waitForReady(c, team, 'sm-pins');
    expect(await secretData(c, team, 'sm-pins')).toEqual({ BY_ID: tokens[0], PREVIOUS: tokens[0] });
  });

  test('a new version is picked up at the next refresh; the id pin holds, the stage follows', async () => {
    versionIds.push(
      await putSecretVersion(`${prefix}/hf`, JSON.stringify({ token: tokens[2], org: { name: 'acme' } })),
    );
    const changedAt = Date.now();
    await eventually(
      () => secretData(c, team, 'sm-main'),
      (d) => d?.HF_TOKEN === tokens[2],
      { timeoutMs: 2_000 + 3_000, what: 'the new version' },
    );
    expect(Date.now() - changedAt).toBeLessThan(5_000);
    await eventually(
      () => secretData(c, team, 'sm-pins'),
      (d) => d?.PREVIOUS === tokens[1],
      { timeoutMs: 5_000, what: 'AWSPREVIOUS moved to the former current version' },
    );
    expect((await secretData(c, team, 'sm-pins'))?.BY_ID).toBe(tokens[0]);
  });

  test('a missing secret is RemoteKeyNotFound', async () => {
    await createBinding(c, team, 'sm-missing', {
      storeRef: { name: 'sm' },
      data: [{ secretKey: 'A', remoteRef: { key: `${prefix}/does-not-exist` } }],
    });
    await expectFailure(
      'sm-missing',
      'RemoteKeyNotFound',
      new RegExp(`Secret "${prefix}/does-not-exist" was not found in AWS Secrets Manager`),
    );
  });

  test('a missing property is PropertyNotFound', async () => {
    await createBinding(c, team, 'sm-noprop', {
      storeRef: { name: 'sm' },
      data: [{ secretKey: 'A', remoteRef: { key: `${prefix}/hf`, property: 'org.missing' } }],
    });
    await expectFailure('sm-noprop', 'PropertyNotFound', /org\.missing/);
  });
});

describe('Parameter Store', () => {
  test('a binding becomes Ready: a property of a JSON SecureString, a plain String', async () => {
    await createBinding(c, team, 'ps-main', {
      storeRef: { name: 'ps' },
      data: [
        { secretKey: 'TOKEN', remoteRef: { key: `/${prefix}/hf`, property: 'token' } },
        { secretKey: 'WANDB_API_KEY', remoteRef: { key: `/${prefix}/wandb` } },
      ],
      lifetime: { ttl: '1h', refreshInterval: '2s' },
    });
    const binding = await waitForReady(c, team, 'ps-main');
    expect(await secretData(c, team, 'ps-main')).toEqual({ TOKEN: params[1], WANDB_API_KEY: wandb });
    expect(binding.status?.sources).toEqual(
      expect.arrayContaining([{ key: `/${prefix}/hf`, versionId: '2' }]),
    );
  });

  test('version pins: name:1 and a label', async () => {
    await createBinding(c, team, 'ps-pins', {
      storeRef: { name: 'ps' },
      data: [
        { secretKey: 'V1', remoteRef: { key: `/${prefix}/hf`, property: 'token', version: '1' } },
        { secretKey: 'STABLE', remoteRef: { key: `/${prefix}/hf`, property: 'token', version: 'stable' } },
      ],
      lifetime: { ttl: '1h', refreshInterval: '2s' },
    });
    await waitForReady(c, team, 'ps-pins');
    expect(await secretData(c, team, 'ps-pins')).toEqual({ V1: params[0], STABLE: params[0] });
  });

  test('a new version is picked up at the next refresh; the pins hold', async () => {
    await putParameter(`/${prefix}/hf`, JSON.stringify({ token: params[2] }));
    const changedAt = Date.now();
    await eventually(
      () => secretData(c, team, 'ps-main'),
      (d) => d?.TOKEN === params[2],
      { timeoutMs: 2_000 + 3_000, what: 'the new parameter version' },
    );
    expect(Date.now() - changedAt).toBeLessThan(5_000);
    expect(await secretData(c, team, 'ps-pins')).toEqual({ V1: params[0], STABLE: params[0] });
  });

  test('a missing parameter is RemoteKeyNotFound, and so is a missing version', async () => {
    await createBinding(c, team, 'ps-missing', {
      storeRef: { name: 'ps' },
      data: [{ secretKey: 'A', remoteRef: { key: `/${prefix}/does-not-exist` } }],
    });
    await expectFailure(
      'ps-missing',
      'RemoteKeyNotFound',
      new RegExp(`Parameter "/${prefix}/does-not-exist" was not found in AWS Parameter Store`),
    );
    await createBinding(c, team, 'ps-noversion', {
      storeRef: { name: 'ps' },
      data: [{ secretKey: 'A', remoteRef: { key: `/${prefix}/hf`, version: '42' } }],
    });
    await expectFailure('ps-noversion', 'RemoteKeyNotFound', /\(version "42"\) was not found/);
  });

  test('a missing property is PropertyNotFound', async () => {
    await createBinding(c, team, 'ps-noprop', {
      storeRef: { name: 'ps' },
      data: [{ secretKey: 'A', remoteRef: { key: `/${prefix}/hf`, property: 'nope' } }],
    });
    await expectFailure('ps-noprop', 'PropertyNotFound', /nope/);
  });
});

describe('credentials', () => {
  test('a store whose credentials Secret is missing: store and binding Ready=False StoreCredentialsMissing', async () => {
    await createStore(c, 'SecretStore', 'sm-nocreds', awsStore('SecretsManager', 'absent-creds'), team);
    const store = await eventually(
      () => getStoreStatus(c, 'SecretStore', 'sm-nocreds', team),
      (s) => s?.conditions?.some((x) => x.type === 'Ready' && x.status === 'False') ?? false,
      { what: 'the store Ready=False' },
    );
    expect(store?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({
      reason: 'StoreCredentialsMissing',
      message: `Secret "${team}/absent-creds" (key "access-key-id") holding the AWS access key id was not found`,
    });
    await createBinding(c, team, 'nocreds', {
      storeRef: { name: 'sm-nocreds' },
      data: [{ secretKey: 'A', remoteRef: { key: `${prefix}/hf`, property: 'token' } }],
    });
    await expectFailure('nocreds', 'StoreCredentialsMissing', /absent-creds/);
    expect(await secretData(c, team, 'nocreds')).toBeUndefined();
  });

  test('a store that assumes a role (STS AssumeRole at the store’s endpoint) reads through it', async () => {
    const spec = awsStore('SecretsManager');
    spec.provider.aws!.auth!.roleArn = 'arn:aws:iam::123456789012:role/ml-reader';
    await createStore(c, 'SecretStore', 'sm-role', spec, team);
    await createBinding(c, team, 'via-role', {
      storeRef: { name: 'sm-role' },
      data: [{ secretKey: 'HF_TOKEN', remoteRef: { key: `${prefix}/hf`, property: 'token' } }],
    });
    await waitForReady(c, team, 'via-role');
    expect((await secretData(c, team, 'via-role'))?.HF_TOKEN).toBe(tokens[2]);
  });
});

describe('the providers directly, with the real SDK', () => {
  const context: ProviderContext = {
    store: { kind: 'ClusterSecretStore', name: 'direct' },
    secrets: {
      async readSecret() {
        return {
          data: { id: Buffer.from(accessKeyId), secret: Buffer.from(secretAccessKey) },
          resourceVersion: '1',
        };
      },
    },
    tokens: noTokens,
    now: Date.now,
  };
  const auth = {
    secretRef: {
      accessKeyID: { name: 'x', namespace: 'any', key: 'id' },
      secretAccessKey: { name: 'x', namespace: 'any', key: 'secret' },
    },
  };

  test('STS assumeRole returns credentials with the asked expiry', async () => {
    const provider = await awsProviderFactory.create(
      { aws: { region: 'us-east-1', endpoint, auth } },
      context,
    );
    const ops: string[] = [];
    const before = Date.now();
    const credentials = await provider.assumeRole!(
      {
        roleArn: 'arn:aws:iam::123456789012:role/s3-train',
        durationSeconds: 1800,
        sessionName: 'ml-team.job-1',
      },
      (op) => ops.push(op),
    );
    expect(ops).toEqual(['AssumeRole']);
    expect(credentials.accessKeyId).toMatch(/^ASIA/);
    expect(credentials.secretAccessKey.length).toBeGreaterThan(20);
    expect(credentials.sessionToken.length).toBeGreaterThan(20);
    const expiresIn = credentials.expiration.getTime() - before;
    expect(expiresIn).toBeGreaterThan(1800_000 - 5_000);
    expect(expiresIn).toBeLessThan(1800_000 + 5_000);
    await provider.close();
  });

  test('25 secrets and a missing one: two BatchGetSecretValue calls, one error entry', async () => {
    const names = Array.from({ length: 25 }, (_, i) => `${prefix}/many/${i}`);
    await Promise.all(
      names.map((Name, i) => sm.send(new CreateSecretCommand({ Name, SecretString: `v${i}` }))),
    );
    const provider = await awsProviderFactory.create(
      { aws: { region: 'us-east-1', endpoint, auth } },
      context,
    );
    const ops: string[] = [];
    const outcomes = await provider.getSecrets(
      [...names, `${prefix}/many/none`].map((key) => ({ key })),
      (op) => ops.push(op),
    );
    expect(ops).toEqual(['BatchGetSecretValue', 'BatchGetSecretValue']);
    expect(outcomes.slice(0, 25).map((o) => (o as RemoteValue).value.toString())).toEqual(
      names.map((_, i) => `v${i}`),
    );
    expect(outcomes[25]).toBeInstanceOf(ProviderError);
    expect(outcomes[25]).toMatchObject({ category: 'NotFound' });
    await provider.close();
  });

  test('rotate() rotates through RotateSecret: a new version becomes AWSCURRENT', async () => {
    const name = `${prefix}/rotate-me`;
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    const currentVersion = async () =>
      (await sm.send(new ListSecretVersionIdsCommand({ SecretId: name }))).Versions?.find((v) =>
        v.VersionStages?.includes('AWSCURRENT'),
      )?.VersionId;
    const before = await currentVersion();
    const provider = await awsProviderFactory.create(
      { aws: { region: 'us-east-1', endpoint, auth } },
      context,
    );
    const ops: string[] = [];
    // moto has no rotation Lambda to run, so it moves AWSCURRENT to the new version at once.
    await provider.rotate!(name, (op) => ops.push(op));
    expect(ops).toEqual(['RotateSecret']);
    expect(await currentVersion()).not.toBe(before);
    await expect(provider.rotate!(`${prefix}/not-there`, () => undefined)).rejects.toMatchObject({
      category: 'NotFound',
    });
    await provider.close();
  });
});

test.each(['aws-secrets-manager.yaml', 'aws-parameter-store.yaml'])(
  'the example %s passes the API server’s validation (schema and CEL)',
  (file) => {
    const examples = path.resolve(import.meta.dirname, '..', '..', 'manifests', 'examples');
    const docs = loadAll(fs.readFileSync(path.join(examples, file), 'utf8')) as {
      apiVersion: string;
      kind: string;
      metadata: { name: string; namespace?: string };
    }[];
    const ours = docs.filter((d) => d.apiVersion.startsWith('mlsecrets.io/'));
    expect(ours.map((d) => d.kind)).toContain('SecretBinding');
    // Into this file's namespace, so the dry run needs none of the example's namespaces.
    for (const doc of ours) if (doc.kind !== 'ClusterSecretStore') doc.metadata.namespace = team;
    const out = path.join(
      fs.mkdtempSync(path.join(os.tmpdir(), 'aws-example-')),
      file.replace('.yaml', '.json'),
    );
    fs.writeFileSync(out, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: ours }));
    expect(kubectl('apply', '--dry-run=server', '-f', out)).toMatch(/created \(server dry run\)/);
  },
);

test('no planted value appears in any log line, Event or status', async () => {
  const outputs = await operatorOutputs(c, [team]);
  outputs['operator logs'] = op.logs.join('\n');
  expect(op.logs.length).toBeGreaterThan(10);
  expect(findLeaks(outputs)).toEqual([]);
});

// The AWS providers when things go wrong, on private moto instances (the shared one must never
// be stopped or switched to IAM checks, other files use it): wrong credentials are denied, and
// a stopped store leaves the last good Secret in place until it is back.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SecretStoreSpec } from '../../src/api/types.ts';
import { sdkApisWith } from '../../src/providers/aws/aws-api.ts';
import { createAwsProviderFactory } from '../../src/providers/aws/aws.provider.ts';
import { ProviderError } from '../../src/providers/provider.port.ts';
import { awsClientConfig, enableMotoAuth, startMoto, type Emulator } from '../harness/emulators.ts';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
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
import { noTokens } from '../harness/no-tokens.ts';

const c = clients(testKubeConfig());
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-aws-outage-'));
const fakeSecretKey = plant('fake-secret-key');
const guarded = plant('guarded');
const before = [plant('sm-before'), plant('ps-before')];
const after = [plant('sm-after'), plant('ps-after')];

let team: string;
let op: TestOperator;
let authMoto: Emulator;
let outageMoto: Emulator;

function awsStore(
  service: 'SecretsManager' | 'ParameterStore',
  endpoint: string,
  credentials: string,
): SecretStoreSpec {
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

/** Creates an IAM user allowed to read both services and returns its access keys. */
async function createReader(endpoint: string): Promise<{ id: string; secret: string }> {
  const iam = new IAMClient(awsClientConfig(endpoint));
  try {
    await iam.send(new CreateUserCommand({ UserName: 'ml-reader' }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'ml-reader',
        PolicyName: 'read-secrets',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: [
                'secretsmanager:GetSecretValue',
                'secretsmanager:BatchGetSecretValue',
                'ssm:GetParameters',
              ],
              Resource: '*',
            },
          ],
        }),
      }),
    );
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'ml-reader' }));
    return { id: AccessKey!.AccessKeyId!, secret: AccessKey!.SecretAccessKey! };
  } finally {
    iam.destroy();
  }
}

/** Puts this file's values into a moto instance (again after a restart: moto keeps nothing). */
async function seed(endpoint: string, values: string[]): Promise<void> {
  const sm = new SecretsManagerClient(awsClientConfig(endpoint));
  const ssm = new SSMClient(awsClientConfig(endpoint));
  try {
    await sm.send(
      new CreateSecretCommand({ Name: 'ml/token', SecretString: JSON.stringify({ token: values[0] }) }),
    );
    await ssm.send(new PutParameterCommand({ Name: '/ml/token', Value: values[1], Type: 'SecureString' }));
  } finally {
    sm.destroy();
    ssm.destroy();
  }
}

beforeAll(async () => {
  [authMoto, outageMoto] = await Promise.all([
    startMoto(logDir, { name: 'moto-auth' }),
    startMoto(logDir, { name: 'moto-outage' }),
  ]);
  team = await createTestNamespace(c.core, 'aws-outage');
  // moto with IAM checks: seeded first (with auth on, fake keys are refused, seeding included).
  const reader = await createReader(authMoto.endpoint);
  await seed(authMoto.endpoint, [guarded, guarded]);
  await enableMotoAuth(authMoto.endpoint);
  await putSourceSecret(c, team, 'iam-creds', {
    'access-key-id': reader.id,
    'secret-access-key': reader.secret,
  });
  await putSourceSecret(c, team, 'fake-creds', {
    'access-key-id': 'AKIANOTKNOWNTOMOTO1',
    'secret-access-key': fakeSecretKey,
  });
  await createStore(
    c,
    'SecretStore',
    'auth-good',
    awsStore('SecretsManager', authMoto.endpoint, 'iam-creds'),
    team,
  );
  await createStore(
    c,
    'SecretStore',
    'auth-bad',
    awsStore('SecretsManager', authMoto.endpoint, 'fake-creds'),
    team,
  );
  await createStore(
    c,
    'SecretStore',
    'auth-bad-ps',
    awsStore('ParameterStore', authMoto.endpoint, 'fake-creds'),
    team,
  );
  const roleStore = awsStore('SecretsManager', authMoto.endpoint, 'fake-creds');
  roleStore.provider.aws!.auth!.roleArn = 'arn:aws:iam::123456789012:role/ml-reader';
  await createStore(c, 'SecretStore', 'auth-bad-role', roleStore, team);
  await seed(outageMoto.endpoint, before);
  await createStore(
    c,
    'SecretStore',
    'down-sm',
    awsStore('SecretsManager', outageMoto.endpoint, 'fake-creds'),
    team,
  );
  await createStore(
    c,
    'SecretStore',
    'down-ps',
    awsStore('ParameterStore', outageMoto.endpoint, 'fake-creds'),
    team,
  );
  op = await startTestOperator({ namespaces: [team] });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await Promise.all([authMoto?.stop(), outageMoto?.stop()]);
  if (team) await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

describe('moto with IAM checks', () => {
  test('keys moto issued work', async () => {
    await createBinding(c, team, 'good', {
      storeRef: { name: 'auth-good' },
      data: [{ secretKey: 'TOKEN', remoteRef: { key: 'ml/token', property: 'token' } }],
    });
    await waitForReady(c, team, 'good');
    expect(await secretData(c, team, 'good')).toEqual({ TOKEN: guarded });
    const store = await eventually(
      () => getStoreStatus(c, 'SecretStore', 'auth-good', team),
      (s) => s?.conditions?.some((x) => x.type === 'Ready') ?? false,
      { what: 'the good store checked' },
    );
    expect(store?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
  });

  test('wrong credentials (static, or as the base of a role): the store and the bindings are Ready=False AccessDenied', async () => {
    const store = await eventually(
      () => getStoreStatus(c, 'SecretStore', 'auth-bad', team),
      (s) => s?.conditions?.some((x) => x.type === 'Ready' && x.status === 'False') ?? false,
      { what: 'the bad store Ready=False' },
    );
    expect(store?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({
      reason: 'AccessDenied',
      message:
        "AWS STS denied access while checking the store's credentials: the access key id is not recognised",
    });
    for (const [name, storeName, key, message] of [
      [
        'denied-sm',
        'auth-bad',
        'ml/token',
        'AWS Secrets Manager denied access while reading secret "ml/token"',
      ],
      [
        'denied-ps',
        'auth-bad-ps',
        '/ml/token',
        'AWS Parameter Store denied access while reading parameter "/ml/token"',
      ],
      [
        'denied-role',
        'auth-bad-role',
        'ml/token',
        'AWS STS denied access while assuming role "arn:aws:iam::123456789012:role/ml-reader": the access key id is not recognised',
      ],
    ] as const) {
      await createBinding(c, team, name, {
        storeRef: { name: storeName },
        data: [{ secretKey: 'TOKEN', remoteRef: { key } }],
      });
      const binding = await waitForReady(c, team, name, { status: 'False', reason: 'AccessDenied' });
      expect(binding.status?.conditions?.find((x) => x.type === 'Ready')?.message).toBe(message);
      const warnings = await eventually(
        async () => (await eventsFor(c, team, name)).filter((e) => e.type === 'Warning'),
        (w) => w.length >= 1,
        { timeoutMs: 5_000, what: `a Warning Event on ${name}` },
      );
      expect(warnings[0]?.reason).toBe('ProviderError');
      expect(await secretData(c, team, name)).toBeUndefined();
    }
  });
});

describe('moto stopped', () => {
  test('ProviderUnavailable with the last good Secret kept, and recovery once it is back', async () => {
    for (const [name, storeName, key] of [
      ['down-sm', 'down-sm', 'ml/token'],
      ['down-ps', 'down-ps', '/ml/token'],
    ] as const) {
      await createBinding(c, team, name, {
        storeRef: { name: storeName },
        data: [
          { secretKey: 'TOKEN', remoteRef: { key, ...(name === 'down-sm' ? { property: 'token' } : {}) } },
        ],
        lifetime: { ttl: '1h', refreshInterval: '2s' },
      });
    }
    await waitForReady(c, team, 'down-sm');
    await waitForReady(c, team, 'down-ps');
    expect(await secretData(c, team, 'down-sm')).toEqual({ TOKEN: before[0] });
    expect(await secretData(c, team, 'down-ps')).toEqual({ TOKEN: before[1] });

    await outageMoto.stop();
    for (const [name, service] of [
      ['down-sm', 'AWS Secrets Manager'],
      ['down-ps', 'AWS Parameter Store'],
    ] as const) {
      const binding = await waitForReady(
        c,
        team,
        name,
        { status: 'False', reason: 'ProviderUnavailable' },
        15_000,
      );
      expect(binding.status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(
        new RegExp(`^${service} is unavailable \\(while reading .*\\); the last good Secret is kept until `),
      );
      expect(await secretData(c, team, name)).toEqual({
        TOKEN: before[name === 'down-sm' ? 0 : 1],
      });
    }

    // Back on the same port, empty: seeded again, with new values to show they are read.
    outageMoto = await startMoto(logDir, { name: 'moto-outage', port: outageMoto.port });
    await seed(outageMoto.endpoint, after);
    await waitForReady(c, team, 'down-sm', { status: 'True' }, 40_000);
    await waitForReady(c, team, 'down-ps', { status: 'True' }, 40_000);
    await eventually(
      async () => [await secretData(c, team, 'down-sm'), await secretData(c, team, 'down-ps')],
      ([sm, ps]) => sm?.TOKEN === after[0] && ps?.TOKEN === after[1],
      { timeoutMs: 10_000, what: 'the values written after the restart' },
    );
  }, 120_000);
});

describe('a hung endpoint', () => {
  test('times out as Unavailable instead of holding a worker', async () => {
    // Accepts connections and never answers: what a black-holed VPC endpoint looks like.
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    // Short timeouts so the test is quick; production uses DEFAULT_TIMEOUTS the same way.
    const factory = createAwsProviderFactory({
      apis: sdkApisWith({ connectionTimeoutMs: 500, requestTimeoutMs: 1_000 }),
    });
    const context = {
      store: { kind: 'ClusterSecretStore' as const, name: 'hung' },
      secrets: {
        readSecret: async () => ({
          data: { id: Buffer.from('AKIAHUNG'), secret: Buffer.from(fakeSecretKey) },
          resourceVersion: '1',
        }),
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
    try {
      for (const service of ['SecretsManager', 'ParameterStore'] as const) {
        const provider = await factory.create(
          { aws: { service, region: 'us-east-1', endpoint, auth } },
          context,
        );
        const started = Date.now();
        const [outcome] = await provider.getSecrets([{ key: 'ml/token' }], () => undefined);
        expect(outcome).toBeInstanceOf(ProviderError);
        expect(outcome).toMatchObject({ category: 'Unavailable' });
        // Two attempts of one second each, and nothing more.
        expect(Date.now() - started).toBeLessThan(5_000);
        await expect(provider.validate(() => undefined)).rejects.toMatchObject({ category: 'Unavailable' });
        await provider.close();
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

test('no planted value appears in any log line, Event or status', async () => {
  const outputs = await operatorOutputs(c, [team]);
  outputs['operator logs'] = op.logs.join('\n');
  expect(op.logs.length).toBeGreaterThan(10);
  expect(findLeaks(outputs)).toEqual([]);
});

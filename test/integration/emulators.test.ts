// The store emulators are real processes that the real cloud SDKs can use, and reset() empties
// them. Every other store test builds on this.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { status } from '@grpc/grpc-js';
import {
  awsClientConfig,
  gcpClientOptions,
  startGcpEmulator,
  startMoto,
  type Emulator,
} from '../harness/emulators.ts';

const project = 'projects/mlsecrets-test';

let logDir: string;
let moto: Emulator;
let gcp: Emulator;

beforeAll(async () => {
  logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-emulators-'));
  [moto, gcp] = await Promise.all([startMoto(logDir), startGcpEmulator(logDir)]);
}, 300_000); // a cold cache installs the emulators first

afterAll(async () => {
  await Promise.all([moto?.stop(), gcp?.stop()]);
});

describe('moto (AWS Secrets Manager)', () => {
  let client: SecretsManagerClient;
  beforeAll(() => {
    client = new SecretsManagerClient(awsClientConfig(moto.endpoint));
  });
  afterAll(() => client.destroy());

  it('round-trips a value and forgets it on reset', async () => {
    const name = `mlsecrets/emulator-test/${randomUUID()}`;
    const value = `marker-${randomUUID()}`;
    await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));

    const got = await client.send(new GetSecretValueCommand({ SecretId: name }));
    expect(got.SecretString).toBe(value);

    await moto.reset();
    await expect(client.send(new GetSecretValueCommand({ SecretId: name }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });
});

describe('Google Secret Manager emulator', () => {
  let client: SecretManagerServiceClient;
  beforeAll(() => {
    client = new SecretManagerServiceClient(gcpClientOptions(gcp.endpoint));
  });
  afterAll(() => client.close());

  it('round-trips a value and forgets it on reset', async () => {
    const secretId = `emulator-test-${randomUUID()}`;
    const value = `marker-${randomUUID()}`;
    const [secret] = await client.createSecret({
      parent: project,
      secretId,
      secret: { replication: { automatic: {} } },
    });
    expect(secret.name).toBe(`${project}/secrets/${secretId}`);
    await client.addSecretVersion({ parent: secret.name, payload: { data: Buffer.from(value) } });

    const [access] = await client.accessSecretVersion({ name: `${secret.name}/versions/latest` });
    expect(Buffer.from(access.payload?.data ?? '').toString()).toBe(value);

    const pidBefore = gcp.process.pid;
    await gcp.reset();
    expect(gcp.process.pid).not.toBe(pidBefore);
    // The same client keeps working across the restart: its channel reconnects.
    await expect(
      client.accessSecretVersion({ name: `${secret.name}/versions/latest` }),
    ).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
  });
});

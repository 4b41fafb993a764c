// The Google Secret Manager provider on the real control plane: the operator in-process, the
// real Google client against the GCP emulator. Values are seeded with the official client.
// The shared emulator is never restarted (other files use it at the same time); this file
// keeps to its own project there, and the outage test stops an emulator of its own.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { SecretStoreSpec } from '../../src/api/types.ts';
import { crc32c } from '../../src/providers/gcp/crc32c.ts';
import { gcpClientOptions, startGcpEmulator, type GcpEmulator } from '../harness/emulators.ts';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
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
import { testEnv } from '../harness/test-env.ts';

const c = clients(testKubeConfig());
// The emulator keeps projects apart: a project of our own is this file's namespace there.
const project = `mlsecrets-it-${randomBytes(4).toString('hex')}`;
const endpoint = testEnv('gcpEndpoint');
const hfToken = plant('hf');
const binary = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a]), Buffer.from(plant('bin'))]);
const pinned = [plant('v1'), plant('v2'), plant('v3')];

let team: string;
let op: TestOperator;
let sm: SecretManagerServiceClient;
let own: GcpEmulator | undefined;
let ownClient: SecretManagerServiceClient | undefined;

/** Creates `secretId` in `projectId` (if new) and adds a version; returns its number. */
async function addVersion(
  client: SecretManagerServiceClient,
  projectId: string,
  secretId: string,
  value: string | Buffer,
  options: { checksum?: boolean } = {},
): Promise<string> {
  const parent = `projects/${projectId}/secrets/${secretId}`;
  await client
    .createSecret({ parent: `projects/${projectId}`, secretId, secret: { replication: { automatic: {} } } })
    .catch((error: { code?: number }) => {
      if (error.code !== 6) throw error; // ALREADY_EXISTS: add to it
    });
  const data = Buffer.from(value);
  // With a checksum the emulator checks it on write (with Go's own CRC-32C) and returns it on
  // every access, so the provider's verification runs on a real, non-zero checksum.
  const payload = options.checksum === false ? { data } : { data, dataCrc32c: crc32c(data) };
  const [version] = await client.addSecretVersion({ parent, payload });
  return version.name!.split('/').pop()!;
}

async function setAlias(secretId: string, alias: string, version: number): Promise<void> {
  await sm.updateSecret({
    secret: { name: `projects/${project}/secrets/${secretId}`, versionAliases: { [alias]: version } },
    updateMask: { paths: ['version_aliases'] },
  });
}

function gcpStore(extra: Partial<NonNullable<SecretStoreSpec['provider']['gcp']>> = {}): SecretStoreSpec {
  return { provider: { gcp: { projectID: project, endpoint, ...extra } } };
}

/** The raw bytes of one key of a Secret (secretData decodes to UTF-8, which binary would not survive). */
async function rawKey(namespace: string, name: string, key: string): Promise<Buffer | undefined> {
  const secret = await c.core.readNamespacedSecret({ namespace, name });
  const value = secret.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64');
}

async function readyCondition(namespace: string, name: string) {
  return (await getBinding(c, namespace, name)).status?.conditions?.find((x) => x.type === 'Ready');
}

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'gcp-team');
  sm = new SecretManagerServiceClient(gcpClientOptions(endpoint));
  await addVersion(sm, project, 'huggingface', JSON.stringify({ token: hfToken, org: { name: 'acme' } }));
  await addVersion(sm, project, 'model-key', binary);
  // Without a checksum: the emulator then answers "0", which the provider accepts.
  await addVersion(sm, project, 'rotating', plant('r1'), { checksum: false });
  for (const value of pinned) await addVersion(sm, project, 'pinned', value);
  await setAlias('pinned', 'prod', 2);
  await createStore(c, 'SecretStore', 'gcp', gcpStore(), team);
  op = await startTestOperator({ namespaces: [team] });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await sm?.close();
  await ownClient?.close();
  await own?.stop();
  if (team) await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

test('the store is Ready: the credentials check (ListSecrets) passes against the emulator', async () => {
  const status = await eventually(
    () => getStoreStatus(c, 'SecretStore', 'gcp', team),
    (s) => s?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false,
    { what: 'store Ready' },
  );
  expect(status).toMatchObject({ provider: 'gcp' });
});

test('a binding becomes Ready with a property of a JSON value and a binary payload', async () => {
  await createBinding(c, team, 'finetune', {
    storeRef: { name: 'gcp' },
    data: [
      { secretKey: 'HF_TOKEN', remoteRef: { key: 'huggingface', property: 'token' } },
      { secretKey: 'HF_ORG', remoteRef: { key: 'huggingface', property: 'org.name' } },
      { secretKey: 'MODEL_KEY', remoteRef: { key: 'model-key' } },
      // A full resource name works as the key too.
      {
        secretKey: 'HF_FULL',
        remoteRef: { key: `projects/${project}/secrets/huggingface`, property: 'token' },
      },
    ],
    lifetime: { ttl: '1h', refreshInterval: '1h' },
  });
  const binding = await waitForReady(c, team, 'finetune');
  const data = await secretData(c, team, 'finetune');
  expect(data).toMatchObject({ HF_TOKEN: hfToken, HF_ORG: 'acme', HF_FULL: hfToken });
  expect((await rawKey(team, 'finetune', 'MODEL_KEY'))?.equals(binary)).toBe(true);
  expect(binding.status?.sources).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ key: 'huggingface', versionId: '1' }),
      expect.objectContaining({ key: 'model-key', versionId: '1' }),
    ]),
  );
});

test('a new version added in the store is picked up at the next refresh', async () => {
  await createBinding(c, team, 'rotating', {
    storeRef: { name: 'gcp' },
    data: [{ secretKey: 'VALUE', remoteRef: { key: 'rotating' } }],
    lifetime: { ttl: '1h', refreshInterval: '2s' },
  });
  await waitForReady(c, team, 'rotating');
  const next = plant('r2');
  const version = await addVersion(sm, project, 'rotating', next, { checksum: false });
  const addedAt = Date.now();
  await eventually(
    () => secretData(c, team, 'rotating'),
    (d) => d?.VALUE === next,
    { timeoutMs: 2_000 + 2_000, what: 'the new version' },
  );
  expect(Date.now() - addedAt).toBeLessThan(4_000);
  const binding = await eventually(
    () => getBinding(c, team, 'rotating'),
    (b) => b.status?.sources?.[0]?.versionId === version,
    { timeoutMs: 3_000, what: `status.sources at version ${version}` },
  );
  expect(binding.status?.sources).toEqual([expect.objectContaining({ key: 'rotating', versionId: '2' })]);
});

test('a version pin holds: a number and an alias, while latest moves', async () => {
  await createBinding(c, team, 'pinned', {
    storeRef: { name: 'gcp' },
    data: [
      { secretKey: 'V1', remoteRef: { key: 'pinned', version: '1' } },
      { secretKey: 'PROD', remoteRef: { key: 'pinned', version: 'prod' } },
      { secretKey: 'LATEST', remoteRef: { key: 'pinned' } },
    ],
    lifetime: { ttl: '1h', refreshInterval: '1s' },
  });
  await waitForReady(c, team, 'pinned');
  expect(await secretData(c, team, 'pinned')).toEqual({ V1: pinned[0], PROD: pinned[1], LATEST: pinned[2] });

  const v4 = plant('v4');
  await addVersion(sm, project, 'pinned', v4);
  await eventually(
    () => secretData(c, team, 'pinned'),
    (d) => d?.LATEST === v4,
    { timeoutMs: 5_000, what: 'latest at version 4' },
  );
  expect(await secretData(c, team, 'pinned')).toEqual({ V1: pinned[0], PROD: pinned[1], LATEST: v4 });

  // Moving the alias moves what it pins.
  await setAlias('pinned', 'prod', 4);
  await eventually(
    () => secretData(c, team, 'pinned'),
    (d) => d?.PROD === v4,
    { timeoutMs: 5_000, what: 'the alias at version 4' },
  );
  expect(await secretData(c, team, 'pinned')).toEqual({ V1: pinned[0], PROD: v4, LATEST: v4 });
});

describe('bad references get a clear answer', () => {
  test('a missing secret → RemoteKeyNotFound', async () => {
    await createBinding(c, team, 'missing', {
      storeRef: { name: 'gcp' },
      data: [{ secretKey: 'A', remoteRef: { key: 'does-not-exist' } }],
    });
    await waitForReady(c, team, 'missing', { status: 'False', reason: 'RemoteKeyNotFound' });
    expect((await readyCondition(team, 'missing'))?.message).toMatch(
      new RegExp(`secret "does-not-exist" in project "${project}" not found \\(NOT_FOUND\\)`),
    );
  });

  test('a missing version → RemoteKeyNotFound', async () => {
    await createBinding(c, team, 'no-version', {
      storeRef: { name: 'gcp' },
      data: [{ secretKey: 'A', remoteRef: { key: 'pinned', version: '99' } }],
    });
    await waitForReady(c, team, 'no-version', { status: 'False', reason: 'RemoteKeyNotFound' });
    expect((await readyCondition(team, 'no-version'))?.message).toMatch(/secret "pinned" version "99"/);
  });

  test('a missing property → PropertyNotFound', async () => {
    await createBinding(c, team, 'no-prop', {
      storeRef: { name: 'gcp' },
      data: [{ secretKey: 'A', remoteRef: { key: 'huggingface', property: 'org.missing' } }],
    });
    await waitForReady(c, team, 'no-prop', { status: 'False', reason: 'PropertyNotFound' });
    expect((await readyCondition(team, 'no-prop'))?.message).toMatch(/no property "org.missing"/);
  });

  test('a key that cannot be a Google secret id fails without a call', async () => {
    await createBinding(c, team, 'path-key', {
      storeRef: { name: 'gcp' },
      data: [{ secretKey: 'A', remoteRef: { key: 'ml/huggingface' } }],
    });
    await waitForReady(c, team, 'path-key', { status: 'False', reason: 'ProviderError' });
    expect((await readyCondition(team, 'path-key'))?.message).toMatch(/"ml\/huggingface" is not a secret id/);
  });
});

describe('auth.secretRef: a service-account key from a Secret', () => {
  // A syntactically valid key with a real (throwaway) RSA key. On the emulator's plaintext
  // channel no token is sent (gRPC sends call credentials only over TLS), so this shows the
  // path is taken (Secret read, key parsed and checked, client built with it) and that it
  // leaves the plaintext channel working; Google itself would reject this key.
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const keyJson = JSON.stringify({
    type: 'service_account',
    project_id: 'fake',
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey,
    client_email: 'mlsecrets-test@fake.iam.gserviceaccount.com',
    client_id: '100000000000000000000',
    token_uri: 'https://oauth2.googleapis.com/token',
  });
  const keyMarker = privateKey.split('\n')[1]!; // a line of key material, for the leak check

  test('a store with a valid key is Ready and serves bindings', async () => {
    await putSourceSecret(c, team, 'gcp-sa', { 'credentials.json': keyJson });
    await createStore(
      c,
      'SecretStore',
      'gcp-sa',
      gcpStore({ auth: { secretRef: { name: 'gcp-sa', key: 'credentials.json' } } }),
      team,
    );
    await eventually(
      () => getStoreStatus(c, 'SecretStore', 'gcp-sa', team),
      (s) => s?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false,
      { what: 'store gcp-sa Ready' },
    );
    await createBinding(c, team, 'with-sa', {
      storeRef: { name: 'gcp-sa' },
      data: [{ secretKey: 'HF_TOKEN', remoteRef: { key: 'huggingface', property: 'token' } }],
    });
    await waitForReady(c, team, 'with-sa');
    expect(await secretData(c, team, 'with-sa')).toEqual({ HF_TOKEN: hfToken });
  });

  test.each([
    [
      'a missing Secret',
      'gcp-none',
      undefined,
      'StoreCredentialsMissing',
      /Secret "[^"]+\/gcp-none" does not exist/,
    ],
    ['malformed JSON', 'gcp-bad', `{"private_key": "${keyMarker}`, 'InvalidSpec', /is not valid JSON/],
  ])('%s: the store and its bindings say so', async (_name, secretName, content, reason, message) => {
    if (content !== undefined) await putSourceSecret(c, team, secretName, { 'credentials.json': content });
    await createStore(
      c,
      'SecretStore',
      secretName,
      gcpStore({ auth: { secretRef: { name: secretName, key: 'credentials.json' } } }),
      team,
    );
    const status = await eventually(
      () => getStoreStatus(c, 'SecretStore', secretName, team),
      (s) => s?.conditions?.some((x) => x.type === 'Ready' && x.reason === reason) ?? false,
      { what: `store ${secretName} Ready=False (${reason})` },
    );
    const ready = status?.conditions?.find((x) => x.type === 'Ready');
    expect(ready?.message).toMatch(message);
    expect(ready?.message).not.toContain(keyMarker);
    // Named apart from the credentials Secret: a binding's target defaults to its own name.
    await createBinding(c, team, `${secretName}-binding`, {
      storeRef: { name: secretName },
      data: [{ secretKey: 'A', remoteRef: { key: 'huggingface' } }],
    });
    await waitForReady(c, team, `${secretName}-binding`, { status: 'False', reason });
  });

  test('a SecretStore may not take credentials from another namespace', async () => {
    await createStore(
      c,
      'SecretStore',
      'gcp-elsewhere',
      gcpStore({
        auth: { secretRef: { name: 'gcp-sa', namespace: 'kube-system', key: 'credentials.json' } },
      }),
      team,
    );
    const status = await eventually(
      () => getStoreStatus(c, 'SecretStore', 'gcp-elsewhere', team),
      (s) => s?.conditions?.some((x) => x.type === 'Ready' && x.reason === 'InvalidSpec') ?? false,
      { what: 'store gcp-elsewhere InvalidSpec' },
    );
    expect(status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(
      /only read credentials from its own namespace/,
    );
  });

  test('no key material anywhere the operator writes', async () => {
    const outputs = await operatorOutputs(c, [team]);
    outputs['operator logs'] = op.logs.join('\n');
    for (const [where, text] of Object.entries(outputs))
      expect([where, text.includes(keyMarker)]).toEqual([where, false]);
  });
});

test('an emulator outage: ProviderUnavailable with the last good Secret kept, then recovery', async () => {
  own = await startGcpEmulator(path.join(testEnv('workDir'), 'logs', `provider-gcp-${project}`));
  ownClient = new SecretManagerServiceClient(gcpClientOptions(own.endpoint));
  const before = plant('outage-before');
  await addVersion(ownClient, project, 'outage', before);
  await createStore(
    c,
    'SecretStore',
    'gcp-own',
    { provider: { gcp: { projectID: project, endpoint: own.endpoint } } },
    team,
  );
  await createBinding(c, team, 'outage', {
    storeRef: { name: 'gcp-own' },
    data: [{ secretKey: 'VALUE', remoteRef: { key: 'outage' } }],
    lifetime: { ttl: '1h', refreshInterval: '1s' },
  });
  await waitForReady(c, team, 'outage');
  expect(await secretData(c, team, 'outage')).toEqual({ VALUE: before });

  await own.stop();
  const stoppedAt = Date.now();
  const down = await waitForReady(c, team, 'outage', { status: 'False', reason: 'ProviderUnavailable' });
  // A dead endpoint is refused at once, well inside the 10 s call deadline.
  expect(Date.now() - stoppedAt).toBeLessThan(8_000);
  const ready = down.status?.conditions?.find((x) => x.type === 'Ready');
  expect(ready?.message).toMatch(
    new RegExp(
      `Google Secret Manager did not answer for secret "outage" in project "${project}" \\(UNAVAILABLE\\).*last good Secret is kept`,
    ),
  );
  expect(await secretData(c, team, 'outage')).toEqual({ VALUE: before });

  // Back on the same port, empty: re-seed, and the operator recovers by itself.
  await own.start();
  const after = plant('outage-after');
  await addVersion(ownClient, project, 'outage', after);
  await waitForReady(c, team, 'outage', {}, 30_000);
  await eventually(
    () => secretData(c, team, 'outage'),
    (d) => d?.VALUE === after,
    { timeoutMs: 10_000, what: 'the value seeded after the restart' },
  );
}, 90_000);

// Outside Google Cloud with no credentials at all, the client cannot even be set up. (The
// SDK reports that failure once more from a detached promise; unawaited, it would end the
// operator's process.) Skipped where this machine has Application Default Credentials.
const hasAdc =
  process.env.GOOGLE_APPLICATION_CREDENTIALS !== undefined ||
  fs.existsSync(path.join(os.homedir(), '.config', 'gcloud', 'application_default_credentials.json'));
(hasAdc ? test.skip : test)(
  'a store without auth and without default credentials: AccessDenied, and the operator lives on',
  async () => {
    await createStore(c, 'SecretStore', 'gcp-adc', { provider: { gcp: { projectID: project } } }, team);
    const status = await eventually(
      () => getStoreStatus(c, 'SecretStore', 'gcp-adc', team),
      (s) => s?.conditions?.some((x) => x.type === 'Ready' && x.reason === 'AccessDenied') ?? false,
      { what: 'store gcp-adc AccessDenied' },
    );
    expect(status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(
      /no Application Default Credentials could be found or loaded for project .*auth\.secretRef/,
    );
    await createBinding(c, team, 'adc', {
      storeRef: { name: 'gcp-adc' },
      data: [{ secretKey: 'A', remoteRef: { key: 'huggingface' } }],
    });
    await waitForReady(c, team, 'adc', { status: 'False', reason: 'AccessDenied' });
    // Still serving: a new binding on the working store becomes Ready.
    await createBinding(c, team, 'after-adc', {
      storeRef: { name: 'gcp' },
      data: [{ secretKey: 'HF_TOKEN', remoteRef: { key: 'huggingface', property: 'token' } }],
    });
    await waitForReady(c, team, 'after-adc');
  },
);

test('no planted value appears in any log line, Event or status', async () => {
  const outputs = await operatorOutputs(c, [team]);
  outputs['operator logs'] = op.logs.join('\n');
  expect(op.logs.length).toBeGreaterThan(10);
  expect(findLeaks(outputs)).toEqual([]);
});

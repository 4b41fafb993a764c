// dataFrom.find on Google Secret Manager: the operator in-process, the real Google client
// against the shared GCP emulator. Secrets are seeded (with labels) with the official client.
// The shared emulator is never restarted (other files use it at the same time); this file keeps
// to a project of its own there.
import { randomBytes } from 'node:crypto';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { crc32c } from '../../src/providers/gcp/crc32c.ts';
import { gcpClientOptions } from '../harness/emulators.ts';
import { createTestNamespace, eventually, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  getBinding,
  secretData,
  waitForReady,
} from '../harness/resources.ts';
import { testEnv } from '../harness/test-env.ts';

const c = clients(testKubeConfig());
const project = `mlsecrets-find-${randomBytes(4).toString('hex')}`;
const endpoint = testEnv('gcpEndpoint');
const values = {
  hf: plant('find-hf'),
  wandb: plant('find-wandb'),
  outside: plant('find-outside'),
  otherTeam: plant('find-other-team'),
  disabled: plant('find-disabled'),
  openai: plant('find-openai'),
  hf2: plant('find-hf-v2'),
  llmOpenai: plant('find-llm-openai'),
  llmAnthropic: plant('find-llm-anthropic'),
  vision: plant('find-vision'),
};

let team: string;
let op: TestOperator;
let sm: SecretManagerServiceClient;

/** Creates `secretId` with `labels` in this file's project; adds a version when `value` is given. */
async function seed(
  secretId: string,
  labels: Record<string, string>,
  value?: string,
): Promise<string | undefined> {
  await sm
    .createSecret({
      parent: `projects/${project}`,
      secretId,
      secret: { replication: { automatic: {} }, labels },
    })
    .catch((error: { code?: number }) => {
      if (error.code !== 6) throw error; // ALREADY_EXISTS: add to it
    });
  return value === undefined ? undefined : addVersion(secretId, value);
}

/** Adds a version (with its checksum, which the emulator checks and returns); returns its number. */
async function addVersion(secretId: string, value: string): Promise<string> {
  const data = Buffer.from(value);
  const [version] = await sm.addSecretVersion({
    parent: `projects/${project}/secrets/${secretId}`,
    payload: { data, dataCrc32c: crc32c(data) },
  });
  return version.name!.split('/').pop()!;
}

const sortedKeys = async (name: string) => Object.keys((await secretData(c, team, name)) ?? {}).sort();

beforeAll(async () => {
  team = await createTestNamespace(c.core, 'gcp-find');
  sm = new SecretManagerServiceClient(gcpClientOptions(endpoint));
  await seed('team-a-hf', { team: 'a' }, values.hf);
  await seed('team-a-wandb', { team: 'a', tier: 'gpu' }, values.wandb);
  await seed('team-a-outside', { team: 'b' }, values.outside); // right name, wrong label
  await seed('other-team-a', { team: 'a' }, values.otherTeam); // right label, wrong name
  await seed('team-a-no-versions', { team: 'a' }); // matches, but nothing to read: left out
  // Matches, but its only version is disabled: nothing to read either.
  await seed('team-a-disabled', { team: 'a' }, values.disabled);
  await sm.disableSecretVersion({ name: `projects/${project}/secrets/team-a-disabled/versions/1` });
  await seed('ml-llm-openai', {}, values.llmOpenai);
  await seed('ml-llm-anthropic', { provider: 'anthropic' }, values.llmAnthropic);
  await seed('ml-vision-clip', {}, values.vision);
  await createStore(c, 'SecretStore', 'gcp', { provider: { gcp: { projectID: project, endpoint } } }, team);
  op = await startTestOperator({ namespaces: [team] });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await sm?.close();
  if (team) await c.core.deleteNamespace({ name: team }).catch(() => undefined);
});

test('find by name and label, with rewrite: exactly the matching secrets; re-listed at each refresh', async () => {
  await createBinding(c, team, 'team-a', {
    storeRef: { name: 'gcp' },
    dataFrom: [
      {
        find: { name: { regexp: '^team-a-' }, tags: { team: 'a' } },
        rewrite: [{ regexp: { source: '^team-a-(.*)', target: '$1' } }],
      },
    ],
    lifetime: { ttl: '1h', refreshInterval: '2s' },
  });
  const binding = await waitForReady(c, team, 'team-a');
  expect(await secretData(c, team, 'team-a')).toEqual({ hf: values.hf, wandb: values.wandb });
  expect(binding.status?.sources).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ key: 'team-a-hf', versionId: '1' }),
      expect.objectContaining({ key: 'team-a-wandb', versionId: '1' }),
    ]),
  );

  // In the store: a new matching secret, a new version of one found, one found deleted.
  await seed('team-a-openai', { team: 'a' }, values.openai);
  const hfVersion = await addVersion('team-a-hf', values.hf2);
  await sm.deleteSecret({ name: `projects/${project}/secrets/team-a-wandb` });
  const changedAt = Date.now();
  await eventually(
    () => secretData(c, team, 'team-a'),
    (d) => JSON.stringify(d) === JSON.stringify({ hf: values.hf2, openai: values.openai }),
    { timeoutMs: 10_000, what: 'the found set re-listed' },
  );
  // The next refresh (2 s) plus a little: not a resync minutes later.
  expect(Date.now() - changedAt).toBeLessThan(8_000);
  const after = await eventually(
    () => getBinding(c, team, 'team-a'),
    (b) => b.status?.sources?.some((s) => s.key === 'team-a-hf' && s.versionId === hfVersion) ?? false,
    { timeoutMs: 5_000, what: `status.sources with team-a-hf at version ${hfVersion}` },
  );
  expect(after.status?.sources?.map((s) => s.key)).not.toContain('team-a-wandb');
});

test('find by path: the prefix of the secret id, keys named after the secrets', async () => {
  await createBinding(c, team, 'llm', {
    storeRef: { name: 'gcp' },
    dataFrom: [{ find: { path: 'ml-llm-' } }],
    lifetime: { ttl: '1h', refreshInterval: '1h' },
  });
  await waitForReady(c, team, 'llm');
  expect(await secretData(c, team, 'llm')).toEqual({
    'ml-llm-anthropic': values.llmAnthropic,
    'ml-llm-openai': values.llmOpenai,
  });
});

test('path, regexp and a label together must all hold', async () => {
  await createBinding(c, team, 'combined', {
    storeRef: { name: 'gcp' },
    dataFrom: [
      {
        find: { path: 'ml-', name: { regexp: '-anthropic$' }, tags: { provider: 'anthropic' } },
        rewrite: [{ regexp: { source: '^ml-llm-', target: 'LLM_' } }],
      },
    ],
    lifetime: { ttl: '1h', refreshInterval: '1h' },
  });
  await waitForReady(c, team, 'combined');
  expect(await sortedKeys('combined')).toEqual(['LLM_anthropic']);
});

test('nothing matches: the binding is Ready with an empty Secret', async () => {
  await createBinding(c, team, 'none', {
    storeRef: { name: 'gcp' },
    dataFrom: [{ find: { tags: { team: 'nobody' } } }],
    lifetime: { ttl: '1h', refreshInterval: '1h' },
  });
  await waitForReady(c, team, 'none');
  expect(await sortedKeys('none')).toEqual([]);
});

test('an invalid name regexp: Ready=False with a message of our own', async () => {
  await createBinding(c, team, 'bad-regexp', {
    storeRef: { name: 'gcp' },
    dataFrom: [{ find: { name: { regexp: '^team-(' } } }],
  });
  const binding = await waitForReady(c, team, 'bad-regexp', { status: 'False', reason: 'ProviderError' });
  expect(binding.status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(
    /dataFrom\.find name\.regexp "\^team-\(" is not a valid regular expression/,
  );
});

test('every page listed and every version read is counted, for the cost metrics', async () => {
  const calls = (await op.operator.metrics.providerCalls.get()).values.filter(
    (v) => v.labels.provider === 'gcp',
  );
  const count = (operation: string) =>
    calls.filter((v) => v.labels.operation === operation).reduce((n, v) => n + v.value, 0);
  // The store's check lists once; each find lists too, and reads what matched.
  expect(count('ListSecrets')).toBeGreaterThan(1);
  expect(count('AccessSecretVersion')).toBeGreaterThanOrEqual(4);
});

test('no planted value appears in any log line, Event, status or metric', async () => {
  const outputs = await operatorOutputs(c, [team]);
  outputs['operator logs'] = op.logs.join('\n');
  outputs.metrics = await op.operator.metrics.registry.metrics();
  expect(op.logs.length).toBeGreaterThan(0);
  expect(findLeaks(outputs)).toEqual([]);
});

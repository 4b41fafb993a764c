// Shaping the Secret on the real control plane: templates for the files ML tools read,
// Secret types, decoding strategies and nested JSON paths (values from the kubernetes provider).
import { generateKeyPairSync } from 'node:crypto';
import { createTestNamespace, eventually, kubectl, testKubeConfig } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import {
  clients,
  createBinding,
  createStore,
  deleteClusterStore,
  getBinding,
  putSourceSecret,
  waitForReady,
} from '../harness/resources.ts';

const c = clients(testKubeConfig());
let source: string;
let team: string;
let op: TestOperator;
const store = `shaping-${Date.now().toString(36)}`;
const storeRef = { kind: 'ClusterSecretStore' as const, name: store };
const password = plant('registry');
const sshKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const awsSecret = plant('aws');

beforeAll(async () => {
  source = await createTestNamespace(c.core, 'shape-source');
  team = await createTestNamespace(c.core, 'shape-team');
  await putSourceSecret(c, source, 'registry', {
    server: 'registry.example.com',
    username: 'robot',
    password,
  });
  await putSourceSecret(c, source, 'deploy-key', { key: sshKey });
  await putSourceSecret(c, source, 'aws', { id: 'AKIAEXAMPLE', secret: awsSecret });
  await putSourceSecret(c, source, 'encoded', {
    b64: Buffer.from('plain-base64').toString('base64'),
    b64url: Buffer.from([0xfb, 0xff, 0xbf]).toString('base64url') + '=',
    plain: 'hello world',
    json: JSON.stringify({
      friends: [{ first: 'ada' }, { first: 'grace' }],
      multi: '\tline one\nline two\n',
      nested: { a: [1, 2] },
    }),
  });
  await createStore(c, 'ClusterSecretStore', store, { provider: { kubernetes: { namespace: source } } });
  op = await startTestOperator({ namespaces: [team] });
});

afterAll(async () => {
  await op?.stop();
  await deleteClusterStore(c, store).catch(() => undefined);
  for (const ns of [source, team]) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

async function rawSecret(name: string): Promise<{ type: string; data: Record<string, Buffer> }> {
  const secret = await c.core.readNamespacedSecret({ namespace: team, name });
  return {
    type: secret.type ?? '',
    data: Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    ),
  };
}

test('a dockerconfigjson Secret equal to what kubectl create secret docker-registry makes', async () => {
  await createBinding(c, team, 'pull-secret', {
    storeRef,
    dataFrom: [{ extract: { key: 'registry' } }],
    target: {
      template: {
        type: 'kubernetes.io/dockerconfigjson',
        data: {
          '.dockerconfigjson':
            '{"auths":{"{{ server }}":{"username":"{{ username }}","password":"{{ password }}","auth":"{{ username | append: ":" | append: password | base64_encode }}"}}}',
        },
      },
    },
  });
  await waitForReady(c, team, 'pull-secret');
  const ours = await rawSecret('pull-secret');
  const theirs = JSON.parse(
    kubectl(
      'create',
      'secret',
      'docker-registry',
      'x',
      '--docker-server=registry.example.com',
      '--docker-username=robot',
      `--docker-password=${password}`,
      '--dry-run=client',
      '-o',
      'json',
    ),
  ) as { type: string; data: Record<string, string> };
  expect(ours.type).toBe(theirs.type);
  expect(Object.keys(ours.data)).toEqual(Object.keys(theirs.data));
  expect(JSON.parse(ours.data['.dockerconfigjson']!.toString())).toEqual(
    JSON.parse(Buffer.from(theirs.data['.dockerconfigjson']!, 'base64').toString()),
  );
});

test('an ssh-auth Secret keeps a multi-line private key byte for byte', async () => {
  await createBinding(c, team, 'deploy-key', {
    storeRef,
    data: [{ secretKey: 'ssh-privatekey', remoteRef: { key: 'deploy-key', property: 'key' } }],
    target: { type: 'kubernetes.io/ssh-auth' },
  });
  await waitForReady(c, team, 'deploy-key');
  const secret = await rawSecret('deploy-key');
  expect(secret.type).toBe('kubernetes.io/ssh-auth');
  expect(secret.data['ssh-privatekey']!.equals(Buffer.from(sshKey))).toBe(true);
});

test('.netrc and an AWS credentials file from templates, merged over the fetched keys', async () => {
  await createBinding(c, team, 'tool-files', {
    storeRef,
    data: [
      { secretKey: 'HF_TOKEN', remoteRef: { key: 'registry', property: 'password' } },
      { secretKey: 'AWS_ACCESS_KEY_ID', remoteRef: { key: 'aws', property: 'id' } },
      { secretKey: 'AWS_SECRET_ACCESS_KEY', remoteRef: { key: 'aws', property: 'secret' } },
    ],
    target: {
      template: {
        mergePolicy: 'Merge',
        data: {
          '.netrc': 'machine huggingface.co login hf password {{ HF_TOKEN }}\n',
          credentials:
            '[default]\naws_access_key_id = {{ AWS_ACCESS_KEY_ID }}\naws_secret_access_key = {{ AWS_SECRET_ACCESS_KEY }}\n',
        },
        metadata: { labels: { 'ml.example.com/kind': 'tool-files' } },
      },
    },
  });
  await waitForReady(c, team, 'tool-files');
  const { data } = await rawSecret('tool-files');
  expect(data['.netrc']!.toString()).toBe(`machine huggingface.co login hf password ${password}\n`);
  expect(data.credentials!.toString()).toBe(
    `[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = ${awsSecret}\n`,
  );
  expect(Object.keys(data).sort()).toEqual(
    ['.netrc', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'HF_TOKEN', 'credentials'].sort(),
  );
  const secret = await c.core.readNamespacedSecret({ namespace: team, name: 'tool-files' });
  expect(secret.metadata?.labels?.['ml.example.com/kind']).toBe('tool-files');
});

test('decoding strategies and nested paths with array indices', async () => {
  await createBinding(c, team, 'decoded', {
    storeRef,
    data: [
      { secretKey: 'base64', remoteRef: { key: 'encoded', property: 'b64', decodingStrategy: 'Base64' } },
      {
        secretKey: 'base64url',
        remoteRef: { key: 'encoded', property: 'b64url', decodingStrategy: 'Base64URL' },
      },
      { secretKey: 'auto-decoded', remoteRef: { key: 'encoded', property: 'b64', decodingStrategy: 'Auto' } },
      { secretKey: 'auto-plain', remoteRef: { key: 'encoded', property: 'plain', decodingStrategy: 'Auto' } },
      { secretKey: 'none', remoteRef: { key: 'encoded', property: 'b64' } },
      { secretKey: 'second-friend', remoteRef: { key: 'encoded', property: 'json.friends.1.first' } },
      { secretKey: 'multi', remoteRef: { key: 'encoded', property: 'json.multi' } },
      { secretKey: 'object', remoteRef: { key: 'encoded', property: 'json.nested' } },
    ],
  });
  await waitForReady(c, team, 'decoded');
  const { data } = await rawSecret('decoded');
  expect(data.base64!.toString()).toBe('plain-base64');
  expect(data.base64url!.equals(Buffer.from([0xfb, 0xff, 0xbf]))).toBe(true);
  expect(data['auto-decoded']!.toString()).toBe('plain-base64');
  expect(data['auto-plain']!.toString()).toBe('hello world');
  expect(data.none!.toString()).toBe(Buffer.from('plain-base64').toString('base64'));
  expect(data['second-friend']!.toString()).toBe('grace');
  expect(data.multi!.toString()).toBe('\tline one\nline two\n');
  expect(data.object!.toString()).toBe('{"a":[1,2]}');
});

test('a template error fails the sync with TemplateError and the position, never a value', async () => {
  await createBinding(c, team, 'bad-template', {
    storeRef,
    dataFrom: [{ extract: { key: 'registry' } }],
    target: { template: { data: { config: 'user={{ username }}\npass={{ password | no_such_filter }}' } } },
  });
  const binding = await waitForReady(c, team, 'bad-template', { status: 'False', reason: 'TemplateError' });
  const ready = binding.status?.conditions?.find((x) => x.type === 'Ready');
  expect(ready?.message).toMatch(/template for key "config".*line:2/);
  expect(ready?.message).not.toContain(password);
});

test('a Secret type without its required key is refused before writing', async () => {
  await createBinding(c, team, 'bad-tls', {
    storeRef,
    data: [{ secretKey: 'tls.crt', remoteRef: { key: 'registry', property: 'server' } }],
    target: { type: 'kubernetes.io/tls' },
  });
  await waitForReady(c, team, 'bad-tls', { status: 'False', reason: 'InvalidSecretType' });
});

test('a templated binding stays untouched across three refreshes when the store is unchanged', async () => {
  await createBinding(c, team, 'steady', {
    storeRef,
    dataFrom: [{ extract: { key: 'registry' } }],
    target: { template: { data: { auth: '{{ username }}:{{ password }}' } } },
    lifetime: { ttl: '1h', refreshInterval: '1s' },
  });
  await waitForReady(c, team, 'steady');
  const versions = async () => [
    (await c.core.readNamespacedSecret({ namespace: team, name: 'steady' })).metadata?.resourceVersion,
    (await getBinding(c, team, 'steady')).metadata.resourceVersion,
  ];
  const before = await versions();
  const reconciles = async () =>
    (await op.operator.metrics.reconciles.get()).values.reduce((sum, v) => sum + v.value, 0);
  const start = await reconciles();
  await eventually(reconciles, (n) => n >= start + 3, { timeoutMs: 6_000, what: 'three refreshes' });
  expect(await versions()).toEqual(before);
});

test('dataFrom.find by name, tags and path, with rewrite; re-listed at each refresh', async () => {
  const labelled = async (name: string, team: string, value: string) => {
    await c.core.createNamespacedSecret({
      namespace: source,
      body: { metadata: { name, labels: { team } }, stringData: { value } },
    });
  };
  await labelled('ml-team-a-hf', 'a', 'hf-a');
  await labelled('ml-team-a-wandb', 'a', 'wandb-a');
  await labelled('ml-team-a-outside', 'b', 'tag-b'); // right name, wrong tag
  await labelled('other-team-a', 'a', 'wrong-path'); // right tag, outside the path
  await createBinding(c, team, 'found', {
    storeRef,
    dataFrom: [
      {
        find: { path: 'ml-team-a-', name: { regexp: '^ml-team-a-.+' }, tags: { team: 'a' } },
        rewrite: [{ regexp: { source: '^ml-team-a-(.*)', target: '$1' } }],
      },
      { find: { name: { regexp: '^ml-team-a-hf$' } } }, // no rewrite: invalid characters become "_"
    ],
    lifetime: { ttl: '1h', refreshInterval: '1s' },
  });
  await waitForReady(c, team, 'found');
  const keys = async () => Object.keys((await rawSecret('found')).data).sort();
  expect(await keys()).toEqual(['hf', 'ml-team-a-hf', 'wandb']);
  expect(JSON.parse((await rawSecret('found')).data.hf!.toString())).toEqual({ value: 'hf-a' });
  await labelled('ml-team-a-openai', 'a', 'openai-a');
  await c.core.deleteNamespacedSecret({ namespace: source, name: 'ml-team-a-wandb' });
  await eventually(keys, (k) => JSON.stringify(k) === JSON.stringify(['hf', 'ml-team-a-hf', 'openai']), {
    what: 'the found set re-listed',
    timeoutMs: 5_000,
  });
});

test('no planted value appears in any log line, Event or status', async () => {
  const outputs = await operatorOutputs(c, [team]);
  outputs['operator logs'] = op.logs.join('\n');
  expect(findLeaks(outputs)).toEqual([]);
});

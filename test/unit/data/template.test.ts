import type { SecretBindingSpec } from '../../../src/api/types.ts';
import { DataError } from '../../../src/data/properties.ts';
import { shapeData, shapeMetadata, TemplateError } from '../../../src/data/template.ts';

const SECRET = 'PLANTED-template-value-7f3a';
const fetched = {
  REG_USER: Buffer.from('robot'),
  REG_PASS: Buffer.from(SECRET),
  HF_TOKEN: Buffer.from('hf_123'),
  'tls.crt': Buffer.from('CERT'),
};

function spec(
  template: NonNullable<NonNullable<SecretBindingSpec['target']>['template']>,
  type?: string,
): SecretBindingSpec {
  return { storeRef: { name: 's' }, data: [], target: { type, template } };
}

async function shaped(s: SecretBindingSpec): Promise<Record<string, string>> {
  const data = await shapeData(s, fetched);
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString('utf8')]));
}

async function failure(s: SecretBindingSpec): Promise<Error> {
  try {
    await shapeData(s, fetched);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the template to fail');
}

test('a dockerconfigjson built from two fields, with the filters of the design', async () => {
  const out = await shaped(
    spec({
      type: 'kubernetes.io/dockerconfigjson',
      data: {
        '.dockerconfigjson':
          '{"auths":{"registry.example.com":{"auth":"{{ REG_USER | append: ":" | append: REG_PASS | base64_encode }}"}}}',
      },
    }),
  );
  const config = JSON.parse(out['.dockerconfigjson']!) as { auths: Record<string, { auth: string }> };
  expect(Buffer.from(config.auths['registry.example.com']!.auth, 'base64').toString()).toBe(
    `robot:${SECRET}`,
  );
  expect(Object.keys(out)).toEqual(['.dockerconfigjson']); // Replace: only templated keys
});

test('Merge keeps the fetched keys under the templated ones; Replace drops them', async () => {
  const netrc = { '.netrc': 'machine huggingface.co login hf password {{ HF_TOKEN }}' };
  expect(Object.keys(await shaped(spec({ data: netrc, mergePolicy: 'Merge' })))).toEqual([
    'REG_USER',
    'REG_PASS',
    'HF_TOKEN',
    'tls.crt',
    '.netrc',
  ]);
  expect(await shaped(spec({ data: netrc }))).toEqual({
    '.netrc': 'machine huggingface.co login hf password hf_123',
  });
});

test('keys that are not identifiers are reachable through data[...]; json and sha256 filters work', async () => {
  const out = await shaped(
    spec({
      data: {
        a: '{{ data["tls.crt"] }}',
        b: '{{ HF_TOKEN | json }}',
        c: '{{ "abc" | sha256 }}',
        d: '{{ "aGk=" | base64_decode }}',
      },
    }),
  );
  expect(out).toEqual({
    a: 'CERT',
    b: '"hf_123"',
    c: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    d: 'hi',
  });
});

test('a parse error names the key and the position, never a value', async () => {
  const error = await failure(
    spec({ data: { config: 'user={{ REG_USER }}\npass={{ REG_PASS | nosuchfilter }}' } }),
  );
  expect(error).toBeInstanceOf(TemplateError);
  expect(error.message).toMatch(/template for key "config": .*line:2/);
  expect(error.message).not.toContain(SECRET);
});

test('an unclosed tag is a TemplateError', async () => {
  expect(await failure(spec({ data: { x: '{% if REG_USER %}open' } }))).toBeInstanceOf(TemplateError);
});

test('no file can be read: include and render find nothing', async () => {
  const error = await failure(spec({ data: { x: '{% include "/etc/passwd" %}' } }));
  expect(error).toBeInstanceOf(TemplateError);
  expect(error.message).not.toContain('root:');
});

test('no prototype or environment is reachable', async () => {
  const out = await shaped(
    spec({
      data: { a: '{{ REG_USER.constructor }}', b: '{{ process.env.HOME }}', c: '{{ data.__proto__ }}' },
    }),
  );
  expect(out).toEqual({ a: '', b: '', c: '' });
});

test.each([
  ['kubernetes.io/tls', { 'tls.crt': 'x' }, /needs the key "tls.key"/],
  ['kubernetes.io/ssh-auth', { other: 'x' }, /needs the key "ssh-privatekey"/],
  ['kubernetes.io/basic-auth', { other: 'x' }, /at least one of "username", "password"/],
  ['kubernetes.io/dockerconfigjson', { '.dockerconfigjson': 'not json' }, /must be valid JSON/],
] as const)(
  'a %s Secret without its required keys is refused before writing',
  async (type, data, message) => {
    const error = await failure(spec({ type, data }));
    expect(error).toBeInstanceOf(DataError);
    expect((error as DataError).reason).toBe('InvalidSecretType');
    expect(error.message).toMatch(message);
  },
);

test('the required keys are checked without a template too (target.type)', async () => {
  const error = await failure({ storeRef: { name: 's' }, target: { type: 'kubernetes.io/tls' } });
  expect((error as DataError).reason).toBe('InvalidSecretType');
});

test('shapeMetadata: template type and metadata win over target', () => {
  expect(
    shapeMetadata({
      storeRef: { name: 's' },
      target: {
        type: 'Opaque',
        labels: { a: '1', b: '1' },
        annotations: { x: '1' },
        template: { type: 'kubernetes.io/tls', metadata: { labels: { b: '2' }, annotations: { y: '2' } } },
      },
    }),
  ).toEqual({ type: 'kubernetes.io/tls', labels: { a: '1', b: '2' }, annotations: { x: '1', y: '2' } });
});

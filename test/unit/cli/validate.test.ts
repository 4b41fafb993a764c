// `mlsecrets validate` offline: every example passes; each bad fixture is caught with a readable message.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { cli, type ValidateJson } from './run-cli.ts';

const fixtures = 'test/fixtures/cli';
const examples = readdirSync('manifests/examples')
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => path.join('manifests/examples', f));

async function validateJson(...args: string[]): Promise<{ code: number; result: ValidateJson }> {
  const run = await cli(['validate', '-o', 'json', ...args]);
  return { code: run.code, result: JSON.parse(run.stdout) as ValidateJson };
}

describe('the examples', () => {
  test('all of manifests/examples/ pass, non-mlsecrets documents skipped with a note', async () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
    const run = await cli(['validate', ...examples]);
    expect(run.stdout).toMatch(/mlsecrets documents checked .*: no problems; \d+ other documents skipped/);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(
      /note: manifests\/examples\/kubernetes-provider.yaml:1 Namespace\/ml-secrets-source: skipped/,
    );
  });

  test('`node src/cli/main.ts validate manifests/examples/*.yaml` exits 0', () => {
    // Node strips the types itself: the CLI runs from source without a build.
    const stdout = execFileSync(process.execPath, ['src/cli/main.ts', 'validate', ...examples], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(stdout).toMatch(/: no problems/);
  });

  test.each(examples)('%s passes on its own', async (file) => {
    const { code, result } = await validateJson(file);
    expect(result.problems).toEqual([]);
    expect(result.checked).toBeGreaterThan(0);
    expect(code).toBe(0);
  });

  test('the examples directory can be named as a directory', async () => {
    const { code, result } = await validateJson('manifests/examples');
    expect(result.checked).toBeGreaterThanOrEqual(examples.length);
    expect(code).toBe(0);
  });
});

describe('bad manifests: one problem each, said readably', () => {
  test.each([
    ['unknown-field.yaml', /^unknown field "spec\.lifetime\.ttll" \(did you mean "ttl"\?\)$/],
    [
      'two-providers.yaml',
      /^spec\.provider: set exactly one provider: aws, gcp[a-z, ]* or [a-z]+ \(aws and kubernetes are set\)$/,
    ],
    ['ttl-below-refresh.yaml', /ttl must be at least .*refreshInterval \(ttl 10m0s, refreshInterval 15m0s\)/],
    [
      'ttl-below-default-refresh.yaml',
      /ttl must be at least .*refreshInterval \(ttl 24h0m0s \(the default\), refreshInterval 48h0m0s\)/,
    ],
    ['bad-cron.yaml', /^spec\.lifetime\.rotationSchedule: invalid cron expression "0 25 \* \* \*": .*0-23/],
    ['bad-time-zone.yaml', /^spec\.lifetime\.timeZone: unknown time zone "Mars\/Olympus_Mons"/],
    ['duplicate-secret-key.yaml', /^spec\.data: secretKey "HF_TOKEN" appears more than once/],
    [
      'generator-key-clash.yaml',
      /^spec\.generators: secretKey "AWS_ACCESS_KEY_ID" is also written by the awsSTS generator$/,
    ],
    ['missing-store-ref.yaml', /^missing required field "spec\.storeRef"$/],
    ['no-data.yaml', /^spec: set at least one of data, dataFrom or generators$/],
    ['extract-and-find.yaml', /^spec\.dataFrom\[0\]: set exactly one of extract or find, not both$/],
    [
      'bad-regexp.yaml',
      /^spec\.dataFrom\[0\]\.find\.name\.regexp: "\^team-a-\(\[a-z" is not a valid regular expression: /,
    ],
    [
      'bad-rewrite-regexp.yaml',
      /^spec\.dataFrom\[0\]\.rewrite\[0\]\.regexp\.source: .* is not a valid regular expression: /,
    ],
    ['wrong-enum.yaml', /^spec\.lifetime\.onExpiry: "Keep" is not one of Delete, Retain$/],
    ['bad-duration.yaml', /^spec\.lifetime\.ttl: "2d" is not a duration: .*"48h"/],
    ['bad-secret-key.yaml', /^spec\.data\[0\]\.secretKey: "HF TOKEN" is not a valid Secret key/],
    ['wrong-type.yaml', /^spec\.data: must be a list, not an object$/],
    ['bad-name.yaml', /^metadata\.name: "Finetune_Creds" is not a valid name/],
    ['cluster-store-without-source-namespace.yaml', /must name provider\.kubernetes\.namespace/],
    [
      'store-credentials-other-namespace.yaml',
      /secretAccessKey\.namespace: a SecretStore may only read credentials from its own namespace "ml-team", not "kube-system"/,
    ],
    ['namespace-selector-on-secret-store.yaml', /^unknown field "spec\.policy\.namespaceSelector"$/],
    [
      'policy-denied.yaml',
      /^PolicyDenied: lifetime\.ttl 2h0m0s is longer than ClusterSecretStore "local-source" allows \(policy\.maxTTL 1h\); the store is the one in .*policy-denied\.yaml:1$/,
    ],
    [
      'namespace-not-admitted.yaml',
      /^PolicyDenied: ClusterSecretStore "local-source" does not admit namespace "ml-team" \(policy\.namespaceSelector\)/,
    ],
    [
      'key-not-allowed.yaml',
      /^PolicyDenied: remote key "finance\/db" is not allowed by ClusterSecretStore "aws-ml" \(policy\.allowedKeys\)/,
    ],
    ['unknown-version.yaml', /^unknown apiVersion "mlsecrets\.io\/v1beta1"/],
    ['not-yaml.txt', /^not valid YAML: .* at line \d+, column \d+$/],
  ])('%s', async (file, message) => {
    const { code, result } = await validateJson(path.join(fixtures, file));
    expect(result.problems.map((p) => p.message)).toEqual([expect.stringMatching(message)]);
    expect(code).toBe(1);
  });

  test('every fixture is covered above', () => {
    // A fixture added without an expectation would test nothing.
    expect(readdirSync(fixtures).length).toBe(26);
  });
});

describe('output', () => {
  test('text: FILE:DOC KIND/NAMESPACE/NAME: problem, then a summary line', async () => {
    const file = path.join(fixtures, 'policy-denied.yaml');
    const run = await cli(['validate', file, path.join(fixtures, 'two-providers.yaml')]);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^${file.replace(/\./g, '\\.')}:2 SecretBinding/ml-team/finetune: PolicyDenied: `),
    );
    expect(lines[1]).toMatch(
      /two-providers\.yaml:1 ClusterSecretStore\/confused: spec\.provider: set exactly one provider/,
    );
    expect(lines[2]).toBe(
      '2 problems in 2 documents of 3 checked (offline: schema, spec rules, store policy)',
    );
    expect(run.code).toBe(1);
  });

  test('json: problems with file, index, kind, name, namespace and message; checked counts mlsecrets documents', async () => {
    const { result } = await validateJson(path.join(fixtures, 'namespace-not-admitted.yaml'));
    expect(result.checked).toBe(2);
    expect(result.problems).toEqual([
      {
        file: path.join(fixtures, 'namespace-not-admitted.yaml'),
        index: 3,
        kind: 'SecretBinding',
        name: 'finetune',
        namespace: 'ml-team',
        message: expect.stringMatching(/^PolicyDenied: /),
      },
    ]);
    expect(result.notes).toEqual([
      expect.objectContaining({ index: 1, message: expect.stringMatching(/skipped/) }),
    ]);
  });

  test('all problems of one document are reported, not just the first', async () => {
    const manifest = `
apiVersion: mlsecrets.io/v1alpha1
kind: SecretBinding
metadata: { name: many, namespace: ml }
spec:
  storeRef: { name: s, kynd: SecretStore }
  data:
    - { secretKey: A, remoteRef: { key: a } }
    - { secretKey: A, remoteRef: { key: b } }
  lifetime: { ttl: 5m, refreshInterval: 1h, rotationSchedule: '61 * * * *', onExpiry: Never }
`;
    const run = await cli(['validate', '-o', 'json', '-'], { stdin: manifest });
    const messages = (JSON.parse(run.stdout) as ValidateJson).problems.map((p) => p.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/unknown field "spec\.storeRef\.kynd" \(did you mean "kind"\?\)/),
        expect.stringMatching(/onExpiry: "Never" is not one of/),
        expect.stringMatching(/secretKey "A" appears more than once/),
        expect.stringMatching(/ttl must be at least .*refreshInterval/),
        expect.stringMatching(/rotationSchedule: invalid cron expression/),
      ]),
    );
    expect(messages).toHaveLength(5);
  });
});

describe('inputs', () => {
  test('stdin (-), JSON documents, empty documents and a document that is not an object', async () => {
    const binding = {
      apiVersion: 'mlsecrets.io/v1alpha1',
      kind: 'SecretBinding',
      metadata: { name: 'from-json', namespace: 'ml' },
      spec: { storeRef: { name: 's' }, data: [{ secretKey: 'K', remoteRef: { key: 'k' } }] },
    };
    const run = await cli(['validate', '-o', 'json', '-'], {
      stdin: `---\n# only a comment\n---\n${JSON.stringify(binding)}\n---\n- a list\n---\n`,
    });
    const result = JSON.parse(run.stdout) as ValidateJson;
    expect(result.problems).toEqual([]);
    expect(result.checked).toBe(1);
    expect(result.notes).toEqual([
      expect.objectContaining({
        index: 1,
        message: expect.stringMatching(/SecretStore "s" is not in the files/),
      }),
      expect.objectContaining({
        file: '<stdin>',
        index: 2,
        message: expect.stringMatching(/not a Kubernetes object/),
      }),
    ]);
    expect(run.code).toBe(0);
  });

  test('status is ignored, as the API server ignores it: exported objects validate', async () => {
    const manifest = `
apiVersion: mlsecrets.io/v1alpha1
kind: SecretStore
metadata: { name: s, namespace: ml, resourceVersion: "12", uid: abc }
spec: { provider: { kubernetes: {} } }
status: { anything: goes, conditions: [] }
`;
    const run = await cli(['validate', '-'], { stdin: manifest });
    expect(run.code).toBe(0);
  });

  test('a store named by a binding but not in the files: its policy is not checked, with a note', async () => {
    const { result } = await validateJson(
      path.join(fixtures, 'ttl-below-refresh.yaml').replace('ttl-below-refresh', 'unknown-field'),
    );
    expect(result.notes).toEqual([]); // a binding with problems is not checked against a policy
    const manifest = `
apiVersion: mlsecrets.io/v1alpha1
kind: SecretBinding
metadata: { name: b, namespace: ml }
spec:
  storeRef: { kind: ClusterSecretStore, name: elsewhere }
  data: [{ secretKey: K, remoteRef: { key: k } }]
`;
    const run = await cli(['validate', '-o', 'json', '-'], { stdin: manifest });
    expect((JSON.parse(run.stdout) as ValidateJson).notes).toEqual([
      expect.objectContaining({
        message:
          'ClusterSecretStore "elsewhere" is not in the files: its policy was not checked (use --cluster)',
      }),
    ]);
    expect(run.code).toBe(0);
  });

  test('a namespaceSelector cannot be judged offline without the Namespace: a note, not a denial', async () => {
    const manifest = `
apiVersion: mlsecrets.io/v1alpha1
kind: ClusterSecretStore
metadata: { name: shared }
spec:
  provider: { kubernetes: { namespace: src } }
  policy: { namespaceSelector: { matchLabels: { team: ml } } }
---
apiVersion: mlsecrets.io/v1alpha1
kind: SecretBinding
metadata: { name: b, namespace: elsewhere }
spec:
  storeRef: { kind: ClusterSecretStore, name: shared }
  data: [{ secretKey: K, remoteRef: { key: k } }]
`;
    const run = await cli(['validate', '-o', 'json', '-'], { stdin: manifest });
    const result = JSON.parse(run.stdout) as ValidateJson;
    expect(result.problems).toEqual([]);
    expect(result.notes).toEqual([
      expect.objectContaining({
        index: 2,
        message: expect.stringMatching(
          /namespaceSelector .* was not checked: namespace "elsewhere" is not in the files \(use --cluster\)/,
        ),
      }),
    ]);
  });
});

describe('usage errors exit 2', () => {
  test('a file that does not exist', async () => {
    const run = await cli(['validate', 'no/such/file.yaml']);
    expect(run.stderr).toMatch(/error: cannot read no\/such\/file\.yaml: ENOENT/);
    expect(run.code).toBe(2);
  });

  test('no file', async () => {
    const run = await cli(['validate']);
    expect(run.stderr).toMatch(/missing required argument 'files'/);
    expect(run.code).toBe(2);
  });

  test('an unknown output format or option, an unknown command', async () => {
    expect((await cli(['validate', '-o', 'yaml', 'x.yaml'])).code).toBe(2);
    expect((await cli(['validate', '--bogus', 'x.yaml'])).code).toBe(2);
    expect((await cli(['validaet'])).stderr).toMatch(/Did you mean validate\?/);
  });

  test('--cluster without any kubeconfig', async () => {
    const run = await cli(['validate', '--cluster', path.join(fixtures, 'two-providers.yaml')]);
    expect(run.stderr).toMatch(/error: no kubeconfig: pass --kubeconfig PATH, set KUBECONFIG/);
    expect(run.code).toBe(2);
  });

  test('--help and --version exit 0', async () => {
    const help = await cli(['validate', '--help']);
    expect(help.stdout).toMatch(/Usage: mlsecrets validate/);
    expect(help.stdout).toMatch(/--kubeconfig/);
    expect(help.code).toBe(0);
    const version = await cli(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(version.code).toBe(0);
  });
});

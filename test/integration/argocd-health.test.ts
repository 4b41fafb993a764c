// The Argo CD health checks shipped in charts/mlsecrets/argocd/: run under Lua 5.1 (the dialect
// of gopher-lua, which Argo CD runs them with) against sample objects, and the argocd-cm
// snippet in manifests/examples/argocd/ embeds them verbatim.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load } from 'js-yaml';

const root = path.resolve(import.meta.dirname, '..', '..');
const scriptsDir = path.join(root, 'charts/mlsecrets/argocd');
const kinds = ['SecretBinding', 'SecretStore', 'ClusterSecretStore'] as const;
const lua = execFileSync('bash', [path.join(root, 'scripts/install-lua.sh')], { encoding: 'utf8' })
  .trim()
  .split('\n')
  .at(-1)!;
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-argocd-health-'));
afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

/** A Lua table literal for a JSON value (what Argo CD hands the script as `obj`). */
function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value); // JSON escapes are valid Lua 5.1 escapes for ASCII
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(', ')}}`;
  const fields = Object.entries(value as Record<string, unknown>).map(
    ([key, v]) => `[${JSON.stringify(key)}] = ${luaLiteral(v)}`,
  );
  return `{${fields.join(', ')}}`;
}

/** Runs a health script as Argo CD does: `obj` global, the chunk's return value is the result. */
function health(kind: (typeof kinds)[number], obj: unknown): { status: string; message: string } {
  const script = fs.readFileSync(path.join(scriptsDir, 'health.lua'), 'utf8');
  const file = path.join(workDir, `${kind}-${Math.random().toString(36).slice(2)}.lua`);
  fs.writeFileSync(
    file,
    `obj = ${luaLiteral(obj)}\nlocal hs = (function()\n${script}\nend)()\nio.write(hs.status .. "|" .. (hs.message or ""))\n`,
  );
  const out = execFileSync(lua, [file], { encoding: 'utf8' });
  const [status, ...rest] = out.split('|');
  return { status: status ?? '', message: rest.join('|') };
}

function object(kind: string, generation: number, status?: unknown): unknown {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind,
    metadata: { name: 'example', namespace: 'ml-team', generation },
    spec: {},
    ...(status === undefined ? {} : { status }),
  };
}

function ready(status: 'True' | 'False' | 'Unknown', reason: string, message: string, generation = 2) {
  return {
    observedGeneration: generation,
    conditions: [
      {
        type: 'Synced',
        status: 'True',
        reason: 'Synced',
        message: '',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
      {
        type: 'Ready',
        status,
        reason,
        message,
        observedGeneration: generation,
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
  };
}

describe.each(kinds)('%s health check', (kind) => {
  test('Ready True is Healthy', () => {
    expect(health(kind, object(kind, 2, ready('True', 'Synced', 'projected 3 keys')))).toEqual({
      status: 'Healthy',
      message: 'Synced: projected 3 keys',
    });
  });

  test('no status yet is Progressing', () => {
    expect(health(kind, object(kind, 1))).toEqual({
      status: 'Progressing',
      message: 'Waiting for the operator to report status',
    });
    expect(health(kind, object(kind, 1, {})).status).toBe('Progressing');
    expect(health(kind, object(kind, 1, { conditions: [] })).status).toBe('Progressing');
  });

  test('a generation the operator has not observed yet is Progressing, whatever Ready says', () => {
    const status = ready('True', 'Synced', 'ok', 2);
    expect(health(kind, object(kind, 3, status))).toEqual({
      status: 'Progressing',
      message: 'Waiting for the operator to observe generation 3',
    });
    // Only the condition carries observedGeneration.
    const conditionOnly = { conditions: status.conditions };
    expect(health(kind, object(kind, 3, conditionOnly)).status).toBe('Progressing');
    expect(health(kind, object(kind, 2, conditionOnly)).status).toBe('Healthy');
  });

  test('a permanent failure is Degraded with the reason and message', () => {
    const message = 'remote key ml/huggingface not found in store aws-ml';
    expect(health(kind, object(kind, 2, ready('False', 'RemoteKeyNotFound', message)))).toEqual({
      status: 'Degraded',
      message: `RemoteKeyNotFound: ${message}`,
    });
    expect(health(kind, object(kind, 2, ready('False', 'AccessDenied', 'denied'))).status).toBe('Degraded');
    expect(health(kind, object(kind, 2, ready('False', 'PolicyDenied', ''))).message).toBe('PolicyDenied');
  });

  test.each(['ProviderUnavailable', 'Throttled', 'Progressing', 'StoreNotReady'])(
    'the transient reason %s is Progressing, keeping the reason',
    (reason) => {
      expect(health(kind, object(kind, 2, ready('False', reason, 'retrying in 30s')))).toEqual({
        status: 'Progressing',
        message: `${reason}: retrying in 30s`,
      });
    },
  );

  test('Ready Unknown is Progressing; no Ready condition is Progressing', () => {
    expect(health(kind, object(kind, 2, ready('Unknown', 'Progressing', 'first sync'))).status).toBe(
      'Progressing',
    );
    const noReady = {
      observedGeneration: 2,
      conditions: [{ type: 'Synced', status: 'True', reason: 'Synced' }],
    };
    expect(health(kind, object(kind, 2, noReady))).toEqual({
      status: 'Progressing',
      message: 'Waiting for the Ready condition',
    });
  });
});

test('the argocd-cm snippet embeds the scripts verbatim under the documented keys', () => {
  const cm = load(
    fs.readFileSync(path.join(root, 'manifests/examples/argocd/argocd-cm-health.yaml'), 'utf8'),
  ) as {
    kind: string;
    metadata: { name: string };
    data: Record<string, string>;
  };
  expect(cm.kind).toBe('ConfigMap');
  expect(cm.metadata.name).toBe('argocd-cm');
  for (const kind of kinds) {
    expect(cm.data[`resource.customizations.health.mlsecrets.io_${kind}`]).toBe(
      fs.readFileSync(path.join(scriptsDir, 'health.lua'), 'utf8'),
    );
  }
  // The Application check the app-of-apps waves need runs too.
  const appCheck = cm.data['resource.customizations.health.argoproj.io_Application']!;
  const file = path.join(workDir, 'application.lua');
  fs.writeFileSync(
    file,
    `obj = ${luaLiteral({ status: { health: { status: 'Healthy' } } })}\nlocal hs = (function()\n${appCheck}\nend)()\nio.write(hs.status)\n`,
  );
  expect(execFileSync(lua, [file], { encoding: 'utf8' })).toBe('Healthy');
});

test('the example Applications sync the CRDs first, automated', () => {
  const docs = fs
    .readFileSync(path.join(root, 'manifests/examples/argocd/application.yaml'), 'utf8')
    .split(/^---$/m)
    .map(
      (d) =>
        load(d) as {
          kind: string;
          metadata: { name: string; annotations: Record<string, string> };
          spec: { source: { path: string }; syncPolicy: { automated: object } };
        },
    );
  expect(docs.map((d) => [d.metadata.name, d.metadata.annotations['argocd.argoproj.io/sync-wave']])).toEqual([
    ['mlsecrets-crds', '-1'],
    ['mlsecrets', '0'],
    ['mlsecrets-examples', '1'],
  ]);
  for (const d of docs) {
    expect(d.kind).toBe('Application');
    expect(d.spec.syncPolicy.automated).toBeDefined();
    expect(fs.existsSync(path.join(root, d.spec.source.path))).toBe(true);
  }
});

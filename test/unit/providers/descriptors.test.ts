// The provider descriptors are the one list the CRD union, the CEL rule, the CLI checks, the
// README table and the fuzz tests are made from: each must hold together, and a provider added
// to the list must reach every one of them.
import fs from 'node:fs';
import path from 'node:path';
import { customResourceDefinitions } from '../../../src/api/schema/crds.ts';
import { named, obj, str } from '../../../src/api/schema/common.ts';
import { oneProviderMessage, storeSpec } from '../../../src/api/schema/secret-store.ts';
import { checkSchema } from '../../../src/cli/schema-check.ts';
import { checkStoreSpec } from '../../../src/cli/spec-checks.ts';
import { defaultFactories, providers } from '../../../src/providers/registry.ts';

const root = path.resolve(import.meta.dirname, '../../..');
const store = (provider: Record<string, unknown>, namespace = 'team') => ({
  apiVersion: 'mlsecrets.io/v1alpha1',
  kind: 'SecretStore',
  metadata: { name: 's', namespace },
  spec: { provider },
});

describe('provider descriptors', () => {
  test('the registry loads one factory per descriptor, under its id', () => {
    expect(defaultFactories.map((f) => f.id)).toEqual(providers.map((p) => p.id));
    expect(new Set(providers.map((p) => p.id)).size).toBe(providers.length);
  });

  test.each(providers.map((p) => [p.id, p] as const))(
    '%s: every example passes the CRD schema and the CLI checks of a SecretStore or a ClusterSecretStore',
    (id, descriptor) => {
      expect(descriptor.examples.length).toBeGreaterThan(0);
      for (const example of descriptor.examples) {
        const problems = (['SecretStore', 'ClusterSecretStore'] as const).map((kind) => {
          const document = { ...store({ [id]: example }), kind };
          if (kind === 'ClusterSecretStore') document.metadata = { name: 's' } as typeof document.metadata;
          const namespace = kind === 'SecretStore' ? 'team' : undefined;
          return [...checkSchema(kind, document), ...checkStoreSpec(kind, document, namespace, () => false)];
        });
        expect(problems.some((p) => p.length === 0)).toBe(true);
      }
    },
  );

  test.each(providers.map((p) => [p.id, p] as const))(
    '%s: each credential reference names a SecretKeySelector in its schema, and the CLI checks its namespace',
    (id, descriptor) => {
      for (const refPath of descriptor.credentialRefs) {
        let schema = descriptor.schema as { properties?: Record<string, unknown> };
        for (const field of refPath.split('.')) schema = schema.properties?.[field] as typeof schema;
        expect(Object.keys(schema.properties ?? {})).toEqual(expect.arrayContaining(['name', 'key']));
        // A SecretStore naming another namespace for its credentials is refused, at that path.
        const block: Record<string, unknown> = structuredClone(descriptor.examples[0]!);
        let at = block;
        const fields = refPath.split('.');
        for (const field of fields.slice(0, -1)) at = (at[field] ??= {}) as Record<string, unknown>;
        at[fields.at(-1)!] = { name: 'creds', key: 'k', namespace: 'elsewhere' };
        const problems = checkStoreSpec('SecretStore', store({ [id]: block }), 'team', () => false);
        expect(problems.map((p) => p.path)).toContain(`spec.provider.${id}.${refPath}.namespace`);
      }
    },
  );

  test('the CRD union, its CEL rule and its message name every provider; two set at once are refused', () => {
    const crd = customResourceDefinitions(providers).find(
      (c) => (c.spec as { names: { kind: string } }).names.kind === 'SecretStore',
    )!;
    const text = JSON.stringify(crd);
    for (const { id } of providers) expect(text).toContain(`has(self.${id})`);
    expect(text).toContain(oneProviderMessage(providers.map((p) => p.id)));
    const [a, b] = providers;
    const problems = checkStoreSpec(
      'SecretStore',
      store({ [a!.id]: a!.examples[0], [b!.id]: b!.examples[0] }),
      'team',
      () => false,
    );
    expect(problems[0]?.message).toContain(oneProviderMessage(providers.map((p) => p.id)));
  });

  test('a provider added to the list reaches the union and the rule (the derivation is not hard-coded)', () => {
    const extra = { id: 'vault', schema: named('VaultProvider', obj('Vault.', { server: str('URL.') })) };
    const spec = JSON.stringify(storeSpec(false, [...providers, extra]));
    expect(spec).toContain('"vault":');
    expect(spec).toContain('has(self.vault)');
    expect(oneProviderMessage(['aws', 'gcp', 'vault'])).toBe('set exactly one provider: aws, gcp or vault');
  });

  test("the README's table and docs/api.md's sections are the descriptors' (npm run generate)", () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    for (const row of providers.flatMap((p) => p.docs)) expect(readme).toContain(row.key);
    const api = fs.readFileSync(path.join(root, 'docs/api.md'), 'utf8');
    for (const { id } of providers) {
      expect(fs.existsSync(path.join(root, 'src/providers', id, 'api.md'))).toBe(true);
      expect(api).toContain(`### spec.provider.${id}`);
    }
  });
});

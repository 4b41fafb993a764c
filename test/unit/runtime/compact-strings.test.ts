import { compactStrings } from '../../../src/runtime/compact-strings.ts';

// String instances cannot be told apart from JavaScript (the memory saved is measured by
// `npm run bench`); what can break is the content, so that is what these check.
describe('compactStrings', () => {
  const binding = () => ({
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { name: 'b-1', namespace: 'ml', labels: { 'app.kubernetes.io/managed-by': 'mlsecrets' } },
    spec: {
      storeRef: { kind: 'ClusterSecretStore', name: 'aws' },
      data: [{ secretKey: 'V', remoteRef: { key: 'ml/hf' } }],
      lifetime: { ttl: '24h', refreshInterval: '60s' },
    },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Synced',
          message: 'Secret "b-1" holds 1 key',
          observedGeneration: 1,
        },
        {
          type: 'Synced',
          status: 'True',
          reason: 'Synced',
          message: 'Secret "b-1" holds 1 key',
          observedGeneration: 1,
        },
      ],
      sources: [{ key: 'ml/hf', versionId: 'v1' }],
      tags: ['a', 'a', 'b'],
      nothing: null,
      flag: true,
    },
  });

  test('keeps every value, every field and the object itself', () => {
    const object = binding();
    expect(compactStrings(object)).toBe(object);
    expect(object).toEqual(binding());
  });

  test('leaves long strings, numbers, booleans and nulls as they are', () => {
    const long = 'x'.repeat(10_000);
    const object = { a: long, b: long, n: 1, t: false, z: null, list: [long, 2, null] };
    expect(compactStrings(object)).toEqual({
      a: long,
      b: long,
      n: 1,
      t: false,
      z: null,
      list: [long, 2, null],
    });
  });

  test('values shared across objects stay correct for every object', () => {
    const objects = Array.from({ length: 100 }, (_, i) => ({
      kind: i % 2 ? 'A' : 'B',
      namespace: `ns-${i % 3}`,
    }));
    for (const object of objects) compactStrings(object);
    objects.forEach((object, i) =>
      expect(object).toEqual({ kind: i % 2 ? 'A' : 'B', namespace: `ns-${i % 3}` }),
    );
  });
});

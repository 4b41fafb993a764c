import {
  BINDING_ANNOTATION,
  DATA_HASH_ANNOTATION,
  EXPIRES_AT_ANNOTATION,
  ISSUED_AT_ANNOTATION,
  MANAGED_BY_LABEL,
} from '../../../../src/api/labels.ts';
import type { SecretBinding } from '../../../../src/api/types.ts';
import {
  desiredSecret,
  driftOf,
  foreignKeys,
  formatTime,
  issueOf,
  ownedBy,
  parseTime,
  type Issue,
} from '../../../../src/controller/binding/managed-secret.ts';
import { DataHasher } from '../../../../src/data/data-hash.ts';
import type { SecretObject } from '../../../../src/kube/kube-client.ts';

const hasher = new DataHasher(Buffer.alloc(32, 1));
const ISSUED = Date.parse('2025-01-01T00:01:02.345Z');
const EXPIRES = Date.parse('2025-01-01T01:01:02.999Z');

function binding(target?: SecretBinding['spec']['target']): SecretBinding {
  return {
    apiVersion: 'mlsecrets.io/v1alpha1',
    kind: 'SecretBinding',
    metadata: { name: 'finetune', namespace: 'ml-team', uid: 'uid-123', generation: 1 },
    spec: { storeRef: { name: 's' }, ...(target ? { target } : {}) },
  };
}

const data = { HF_TOKEN: Buffer.from('hf_secret'), bin: Buffer.from([0, 255]) };
const issue: Issue = { issuedAt: ISSUED, expiresAt: EXPIRES, dataHash: hasher.hash(data) };

/** What the API server would hand back after applying `desired`: a copy with server fields. */
function applied(desired: SecretObject): SecretObject {
  const copy = structuredClone(desired);
  copy.metadata.uid = 'secret-uid';
  copy.metadata.resourceVersion = '1';
  return copy;
}

describe('formatTime / parseTime', () => {
  test('RFC 3339 in whole seconds, no milliseconds', () => {
    expect(formatTime(ISSUED)).toBe('2025-01-01T00:01:02Z');
    expect(formatTime(EXPIRES)).toBe('2025-01-01T01:01:02Z');
    expect(formatTime(0)).toBe('1970-01-01T00:00:00Z');
  });

  test('parseTime reads RFC 3339 and rejects junk', () => {
    expect(parseTime('2025-01-01T00:01:02Z')).toBe(Date.parse('2025-01-01T00:01:02Z'));
    expect(parseTime('not a time')).toBeUndefined();
    expect(parseTime('')).toBeUndefined();
    expect(parseTime(undefined)).toBeUndefined();
  });
});

describe('desiredSecret', () => {
  test('carries base64 data, the managed-by label, the contract annotations and a controller owner', () => {
    const secret = desiredSecret(binding(), 'finetune', data, issue);
    expect(secret).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'finetune',
        namespace: 'ml-team',
        labels: { [MANAGED_BY_LABEL]: 'mlsecrets' },
        annotations: {
          [BINDING_ANNOTATION]: 'finetune',
          [ISSUED_AT_ANNOTATION]: '2025-01-01T00:01:02Z',
          [EXPIRES_AT_ANNOTATION]: '2025-01-01T01:01:02Z',
          [DATA_HASH_ANNOTATION]: issue.dataHash,
        },
        ownerReferences: [
          {
            apiVersion: 'mlsecrets.io/v1alpha1',
            kind: 'SecretBinding',
            name: 'finetune',
            uid: 'uid-123',
            controller: true,
          },
        ],
      },
      type: 'Opaque',
      data: { HF_TOKEN: Buffer.from('hf_secret').toString('base64'), bin: 'AP8=' },
    });
  });

  test('target labels, annotations and type are applied; the contract ones cannot be overridden', () => {
    const secret = desiredSecret(
      binding({
        type: 'kubernetes.io/dockerconfigjson',
        labels: { team: 'ml', [MANAGED_BY_LABEL]: 'someone-else' },
        annotations: { note: 'hi', [BINDING_ANNOTATION]: 'spoofed', [DATA_HASH_ANNOTATION]: 'spoofed' },
      }),
      'other-name',
      data,
      issue,
    );
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    expect(secret.metadata.name).toBe('other-name');
    expect(secret.metadata.labels).toEqual({ team: 'ml', [MANAGED_BY_LABEL]: 'mlsecrets' });
    expect(secret.metadata.annotations).toMatchObject({
      note: 'hi',
      [BINDING_ANNOTATION]: 'finetune',
      [DATA_HASH_ANNOTATION]: issue.dataHash,
    });
  });

  test('the data-hash annotation is the hash of exactly the data it carries', () => {
    const secret = desiredSecret(binding(), 'finetune', data, issue);
    expect(hasher.hashEncoded(secret.data)).toBe(secret.metadata.annotations![DATA_HASH_ANNOTATION]);
  });
});

describe('ownedBy', () => {
  test('true only for an ownerReference with the binding uid', () => {
    const secret = applied(desiredSecret(binding(), 'finetune', data, issue));
    expect(ownedBy(secret, binding())).toBe(true);
    const other = binding();
    other.metadata.uid = 'uid-999';
    expect(ownedBy(secret, other)).toBe(false);
    expect(ownedBy({ metadata: { name: 'x' } }, binding())).toBe(false);
  });
});

describe('issueOf', () => {
  test('reads the issue back from the annotations', () => {
    const secret = applied(desiredSecret(binding(), 'finetune', data, issue));
    expect(issueOf(secret)).toEqual({
      issuedAt: Date.parse('2025-01-01T00:01:02Z'),
      expiresAt: Date.parse('2025-01-01T01:01:02Z'),
      dataHash: issue.dataHash,
    });
  });

  test.each([
    ['no annotations', undefined],
    [
      'bad issued-at',
      {
        [ISSUED_AT_ANNOTATION]: 'yesterday',
        [EXPIRES_AT_ANNOTATION]: '2025-01-01T00:00:00Z',
        [DATA_HASH_ANNOTATION]: 'h',
      },
    ],
    [
      'bad expires-at',
      {
        [ISSUED_AT_ANNOTATION]: '2025-01-01T00:00:00Z',
        [EXPIRES_AT_ANNOTATION]: '',
        [DATA_HASH_ANNOTATION]: 'h',
      },
    ],
    [
      'missing hash',
      { [ISSUED_AT_ANNOTATION]: '2025-01-01T00:00:00Z', [EXPIRES_AT_ANNOTATION]: '2025-01-01T00:00:00Z' },
    ],
    [
      'empty hash',
      {
        [ISSUED_AT_ANNOTATION]: '2025-01-01T00:00:00Z',
        [EXPIRES_AT_ANNOTATION]: '2025-01-01T00:00:00Z',
        [DATA_HASH_ANNOTATION]: '',
      },
    ],
  ])('%s → undefined', (_what, annotations) => {
    expect(issueOf({ metadata: { name: 'x', ...(annotations ? { annotations } : {}) } })).toBeUndefined();
  });
});

describe('driftOf', () => {
  const b = binding({ labels: { team: 'ml' }, annotations: { note: 'hi' } });
  const desired = desiredSecret(b, 'finetune', data, issue);
  const fresh = (): SecretObject => applied(desired);

  test('an intact Secret has no drift', () => {
    expect(driftOf(fresh(), desired, hasher)).toBeUndefined();
  });

  test('extra labels, annotations and owners added by others are not drift', () => {
    const secret = fresh();
    secret.metadata.labels!.extra = 'x';
    secret.metadata.annotations!['kubectl.kubernetes.io/last-applied-configuration'] = '{}';
    secret.metadata.ownerReferences!.push({ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'pod-uid' });
    expect(driftOf(secret, desired, hasher)).toBeUndefined();
  });

  test('data edited by hand', () => {
    const secret = fresh();
    secret.data!.HF_TOKEN = Buffer.from('tampered').toString('base64');
    expect(driftOf(secret, desired, hasher)).toBe('its data was changed');
  });

  test('a data key added or removed by hand', () => {
    const added = fresh();
    added.data!.EXTRA = 'eA==';
    expect(driftOf(added, desired, hasher)).toBe('its data was changed');
    const removed = fresh();
    delete removed.data!.bin;
    expect(driftOf(removed, desired, hasher)).toBe('its data was changed');
  });

  test('the data-hash annotation edited by hand', () => {
    const secret = fresh();
    secret.metadata.annotations![DATA_HASH_ANNOTATION] = 'hmac-sha256:0000';
    expect(driftOf(secret, desired, hasher)).toBe('its data was changed');
  });

  test('a label removed or changed', () => {
    const removed = fresh();
    delete removed.metadata.labels![MANAGED_BY_LABEL];
    expect(driftOf(removed, desired, hasher)).toBe('its labels were changed');
    const changed = fresh();
    changed.metadata.labels!.team = 'other';
    expect(driftOf(changed, desired, hasher)).toBe('its labels were changed');
    const none = fresh();
    delete none.metadata.labels;
    expect(driftOf(none, desired, hasher)).toBe('its labels were changed');
  });

  test('an annotation changed or removed', () => {
    const changed = fresh();
    changed.metadata.annotations![EXPIRES_AT_ANNOTATION] = '2099-01-01T00:00:00Z';
    expect(driftOf(changed, desired, hasher)).toBe('its annotations were changed');
    const removed = fresh();
    delete removed.metadata.annotations!.note;
    expect(driftOf(removed, desired, hasher)).toBe('its annotations were changed');
  });

  test('the type changed; a missing type counts as Opaque', () => {
    const changed = fresh();
    changed.type = 'kubernetes.io/tls';
    expect(driftOf(changed, desired, hasher)).toBe('its type was changed');
    const missing = fresh();
    delete missing.type;
    expect(driftOf(missing, desired, hasher)).toBeUndefined();
  });

  test('the owner removed or replaced', () => {
    const removed = fresh();
    removed.metadata.ownerReferences = [];
    expect(driftOf(removed, desired, hasher)).toBe('its owner was changed');
    const replaced = fresh();
    replaced.metadata.ownerReferences![0]!.uid = 'someone-else';
    expect(driftOf(replaced, desired, hasher)).toBe('its owner was changed');
    const none = fresh();
    delete none.metadata.ownerReferences;
    expect(driftOf(none, desired, hasher)).toBe('its owner was changed');
  });
});

describe('foreignKeys', () => {
  const desired = desiredSecret(binding(), 'finetune', data, issue);

  test('keys in the Secret that the binding does not write', () => {
    const secret = applied(desired);
    secret.data!.ADDED = 'eA==';
    secret.data!['another.key'] = 'eQ==';
    expect(foreignKeys(secret, desired).sort()).toEqual(['ADDED', 'another.key']);
  });

  test('none for an intact Secret or one without data', () => {
    expect(foreignKeys(applied(desired), desired)).toEqual([]);
    expect(foreignKeys({ metadata: { name: 'x' } }, desired)).toEqual([]);
  });

  test('a foreign key named like an Object.prototype member is still foreign', () => {
    const secret = applied(desired);
    secret.data!['constructor'] = 'eA==';
    secret.data!['toString'] = 'eA==';
    expect(foreignKeys(secret, desired).sort()).toEqual(['constructor', 'toString']);
  });
});

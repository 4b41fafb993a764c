import type { SecretBindingSpec } from '../../../src/api/types.ts';
import {
  assembleData,
  MAX_SECRET_DATA_BYTES,
  remoteRequests,
  requestId,
  tornKeys,
  validateBindingSpec,
} from '../../../src/data/binding-data.ts';
import { DataError } from '../../../src/data/properties.ts';
import type { RemoteValue } from '../../../src/providers/provider.port.ts';

const storeRef = { kind: 'ClusterSecretStore' as const, name: 'aws-ml' };

function spec(partial: Partial<SecretBindingSpec>): SecretBindingSpec {
  return { storeRef, ...partial };
}

/** The fetched values, keyed the way the reconciler keys them. */
function values(...items: (RemoteValue & { version?: string })[]): Map<string, RemoteValue> {
  return new Map(
    items.map(({ version, ...value }) => [
      requestId(version ? { key: value.key, version } : { key: value.key }),
      value,
    ]),
  );
}

function jsonValue(key: string, value: unknown, versionId?: string): RemoteValue {
  const v: RemoteValue = { key, value: Buffer.from(JSON.stringify(value)) };
  return versionId ? { ...v, versionId } : v;
}

function dataError(fn: () => unknown): DataError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DataError);
    return error as DataError;
  }
  throw new Error('expected a DataError, but nothing was thrown');
}

const asText = (data: Record<string, Buffer>): Record<string, string> =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString('utf8')]));

describe('validateBindingSpec', () => {
  test('distinct secretKeys pass; no data at all passes', () => {
    expect(() =>
      validateBindingSpec(
        spec({
          data: [
            { secretKey: 'A', remoteRef: { key: 'k' } },
            { secretKey: 'B', remoteRef: { key: 'k' } },
          ],
        }),
      ),
    ).not.toThrow();
    expect(() => validateBindingSpec(spec({ dataFrom: [{ extract: { key: 'k' } }] }))).not.toThrow();
  });

  test('a secretKey used twice → DuplicateKey naming it', () => {
    const error = dataError(() =>
      validateBindingSpec(
        spec({
          data: [
            { secretKey: 'TOKEN', remoteRef: { key: 'a' } },
            { secretKey: 'OTHER', remoteRef: { key: 'b' } },
            { secretKey: 'TOKEN', remoteRef: { key: 'c', property: 'x' } },
          ],
        }),
      ),
    );
    expect(error.reason).toBe('DuplicateKey');
    expect(error.message).toContain('"TOKEN"');
  });
});

describe('remoteRequests', () => {
  test('one request per distinct (key, version) across data and dataFrom.extract', () => {
    const requests = remoteRequests(
      spec({
        data: [
          { secretKey: 'A', remoteRef: { key: 'ml/db', property: 'user' } },
          { secretKey: 'B', remoteRef: { key: 'ml/db', property: 'password' } },
          { secretKey: 'C', remoteRef: { key: 'ml/db', version: 'AWSPREVIOUS' } },
          { secretKey: 'D', remoteRef: { key: 'ml/hf' } },
        ],
        dataFrom: [
          { extract: { key: 'ml/db' } },
          { extract: { key: 'ml/s3', version: 'v2' } },
          { extract: { key: 'ml/s3', version: 'v2', property: 'creds' } },
          { find: { path: 'ml/team-a/' } },
        ],
      }),
    );
    expect(requests).toEqual([
      { key: 'ml/db' },
      { key: 'ml/db', version: 'AWSPREVIOUS' },
      { key: 'ml/hf' },
      { key: 'ml/s3', version: 'v2' },
    ]);
  });

  test('an empty version is the same request as no version', () => {
    expect(
      remoteRequests(
        spec({
          data: [
            { secretKey: 'A', remoteRef: { key: 'k', version: '' } },
            { secretKey: 'B', remoteRef: { key: 'k' } },
          ],
        }),
      ),
    ).toEqual([{ key: 'k' }]);
  });

  test('requestId keeps keys and versions apart', () => {
    expect(requestId({ key: 'a', version: 'b' })).not.toBe(requestId({ key: 'ab' }));
    expect(requestId({ key: 'a' })).toBe(requestId({ key: 'a', version: undefined }));
  });
});

describe('assembleData', () => {
  test('data picks properties and whole values; versions are looked up separately', () => {
    const result = assembleData(
      spec({
        data: [
          { secretKey: 'USER', remoteRef: { key: 'ml/db', property: 'user' } },
          { secretKey: 'OLD_PASSWORD', remoteRef: { key: 'ml/db', property: 'password', version: 'prev' } },
          { secretKey: 'CERT', remoteRef: { key: 'ml/cert' } },
          { secretKey: 'DECODED', remoteRef: { key: 'ml/b64', decodingStrategy: 'Base64' } },
        ],
      }),
      values(
        jsonValue('ml/db', { user: 'alice', password: 'new' }),
        { ...jsonValue('ml/db', { user: 'alice', password: 'old' }), version: 'prev' },
        { key: 'ml/cert', value: Buffer.from([0, 1, 2, 255]) },
        { key: 'ml/b64', value: Buffer.from('aGVsbG8=') },
      ),
    );
    expect(asText(result.data)).toEqual({
      USER: 'alice',
      OLD_PASSWORD: 'old',
      CERT: Buffer.from([0, 1, 2, 255]).toString('utf8'),
      DECODED: 'hello',
    });
    expect(result.data.CERT!.equals(Buffer.from([0, 1, 2, 255]))).toBe(true);
  });

  test('dataFrom.extract turns every field into a key; nested objects as JSON', () => {
    const result = assembleData(
      spec({ dataFrom: [{ extract: { key: 'ml/s3' } }] }),
      values(jsonValue('ml/s3', { AWS_ACCESS_KEY_ID: 'AKIA', region: 'eu', opts: { a: 1 } })),
    );
    expect(asText(result.data)).toEqual({ AWS_ACCESS_KEY_ID: 'AKIA', region: 'eu', opts: '{"a":1}' });
  });

  test('dataFrom.extract applies its decodingStrategy to every field', () => {
    const result = assembleData(
      spec({ dataFrom: [{ extract: { key: 'ml/enc', decodingStrategy: 'Base64' } }] }),
      values(jsonValue('ml/enc', { a: 'aGVsbG8=', b: 'd29ybGQ=' })),
    );
    expect(asText(result.data)).toEqual({ a: 'hello', b: 'world' });
  });

  test('an explicit data key wins over the same key extracted by dataFrom, whatever the order', () => {
    const result = assembleData(
      spec({
        data: [{ secretKey: 'password', remoteRef: { key: 'ml/override', property: 'pw' } }],
        dataFrom: [{ extract: { key: 'ml/db' } }],
      }),
      values(
        jsonValue('ml/db', { user: 'u', password: 'from-extract' }),
        jsonValue('ml/override', { pw: 'explicit' }),
      ),
    );
    expect(asText(result.data)).toEqual({ user: 'u', password: 'explicit' });
  });

  test('a later dataFrom.extract wins over an earlier one for the same field', () => {
    const result = assembleData(
      spec({ dataFrom: [{ extract: { key: 'a' } }, { extract: { key: 'b' } }] }),
      values(jsonValue('a', { x: 'from-a', y: 'only-a' }), jsonValue('b', { x: 'from-b' })),
    );
    expect(asText(result.data)).toEqual({ x: 'from-b', y: 'only-a' });
  });

  test('an extracted field that is not a valid Secret key → InvalidKey naming the field, not the value', () => {
    const marker = 'VALUE-MARKER-4411';
    const error = dataError(() =>
      assembleData(
        spec({ dataFrom: [{ extract: { key: 'ml/bad' } }] }),
        values(jsonValue('ml/bad', { good: 'x', 'bad key!': marker })),
      ),
    );
    expect(error.reason).toBe('InvalidKey');
    expect(error.message).toContain('"bad key!"');
    expect(error.message).toContain('"ml/bad"');
    expect(error.message).not.toContain(marker);
  });

  test.each(['a/b', 'ünïcode', '', 'x'.repeat(254)])('extracted field %j → InvalidKey', (field) => {
    const error = dataError(() =>
      assembleData(spec({ dataFrom: [{ extract: { key: 'k' } }] }), values(jsonValue('k', { [field]: 'v' }))),
    );
    expect(error.reason).toBe('InvalidKey');
  });

  test('a very long invalid field name is truncated in the message', () => {
    const field = `${'a'.repeat(100)} tail-that-should-not-appear`;
    const error = dataError(() =>
      assembleData(spec({ dataFrom: [{ extract: { key: 'k' } }] }), values(jsonValue('k', { [field]: 'v' }))),
    );
    expect(error.message).toContain(`"${'a'.repeat(64)}…"`);
    expect(error.message).not.toContain('tail-that-should-not-appear');
  });

  test('an extracted field named "__proto__" is a key like any other, not silently dropped', () => {
    const result = assembleData(
      spec({ dataFrom: [{ extract: { key: 'k' } }] }),
      values({ key: 'k', value: Buffer.from('{"__proto__":"x","b":"y"}') }),
    );
    expect(Object.keys(result.data).sort()).toEqual(['__proto__', 'b']);
    expect(Object.getOwnPropertyDescriptor(result.data, '__proto__')?.value.toString()).toBe('x');
  });

  test('total size just under 1 MiB is accepted; one byte over → SecretTooLarge', () => {
    // Size counts key lengths plus value bytes.
    const key = 'BIG';
    const fits = assembleData(
      spec({ data: [{ secretKey: key, remoteRef: { key: 'big' } }] }),
      values({ key: 'big', value: Buffer.alloc(MAX_SECRET_DATA_BYTES - key.length, 0x61) }),
    );
    expect(fits.data[key]!.length).toBe(MAX_SECRET_DATA_BYTES - key.length);

    const error = dataError(() =>
      assembleData(
        spec({ data: [{ secretKey: key, remoteRef: { key: 'big' } }] }),
        values({ key: 'big', value: Buffer.alloc(MAX_SECRET_DATA_BYTES - key.length + 1, 0x61) }),
      ),
    );
    expect(error.reason).toBe('SecretTooLarge');
    expect(error.message).toContain(String(MAX_SECRET_DATA_BYTES + 1));
  });

  test('the size limit counts every key together', () => {
    const half = Buffer.alloc(MAX_SECRET_DATA_BYTES / 2, 0x61);
    const error = dataError(() =>
      assembleData(
        spec({
          data: [
            { secretKey: 'A', remoteRef: { key: 'x' } },
            { secretKey: 'B', remoteRef: { key: 'x' } },
          ],
        }),
        values({ key: 'x', value: half }),
      ),
    );
    expect(error.reason).toBe('SecretTooLarge');
  });

  test('sources list every value read, sorted by key, with version ids when known', () => {
    const result = assembleData(
      spec({
        data: [
          { secretKey: 'Z', remoteRef: { key: 'z/last' } },
          { secretKey: 'A', remoteRef: { key: 'a/first', property: 'p' } },
          { secretKey: 'M', remoteRef: { key: 'm/middle' } },
        ],
      }),
      values(
        { key: 'z/last', value: Buffer.from('1'), versionId: 'v-z' },
        jsonValue('a/first', { p: 'x' }, 'v-a'),
        { key: 'm/middle', value: Buffer.from('2') },
      ),
    );
    expect(result.sources).toEqual([
      { key: 'a/first', versionId: 'v-a' },
      { key: 'm/middle' },
      { key: 'z/last', versionId: 'v-z' },
    ]);
  });

  test('a property missing from a value → PropertyNotFound', () => {
    expect(
      dataError(() =>
        assembleData(
          spec({ data: [{ secretKey: 'A', remoteRef: { key: 'k', property: 'nope' } }] }),
          values(jsonValue('k', { yes: 1 })),
        ),
      ).reason,
    ).toBe('PropertyNotFound');
  });

  test('a value that was not fetched is an internal error, not a DataError', () => {
    expect(() =>
      assembleData(spec({ data: [{ secretKey: 'A', remoteRef: { key: 'missing' } }] }), new Map()),
    ).toThrow(/internal: remote value "missing" was not fetched/);
  });
});

describe('tornKeys', () => {
  const value = (key: string, versionId?: string): RemoteValue => ({
    key,
    value: Buffer.from('x'),
    versionId,
  });
  const reads = (...values: RemoteValue[]) => new Map(values.map((v) => [requestId({ key: v.key }), v]));

  test('a read and a listing of one secret at different versions are torn', () => {
    expect(tornKeys([{ key: 'a' }], reads(value('a', '1')), [[value('a', '2'), value('b', '7')]])).toEqual([
      'a',
    ]);
  });

  test('two listings that disagree are torn; agreeing ones are not', () => {
    expect(tornKeys([], new Map(), [[value('a', '1')], [value('a', '2')]])).toEqual(['a']);
    expect(tornKeys([], new Map(), [[value('a', '1')], [value('a', '1')]])).toEqual([]);
  });

  test('reads pinned to a version, errors and values without a version id are left out', () => {
    const pinned = new Map([[requestId({ key: 'a', version: 'AWSPREVIOUS' }), value('a', '1')]]);
    expect(tornKeys([{ key: 'a', version: 'AWSPREVIOUS' }], pinned, [[value('a', '2')]])).toEqual([]);
    const failed = new Map([[requestId({ key: 'a' }), new Error('down')]]);
    expect(tornKeys([{ key: 'a' }], failed, [[value('a', '2')]])).toEqual([]);
    expect(tornKeys([{ key: 'a' }], reads(value('a')), [[value('a', '2')]])).toEqual([]);
  });
});

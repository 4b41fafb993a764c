import { DataHasher } from '../../../src/data/data-hash.ts';

const KEY = Buffer.alloc(32, 7);
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('DataHasher', () => {
  const hasher = new DataHasher(KEY);

  test('the hash is an hmac-sha256 hex digest with its scheme prefix', () => {
    expect(hasher.hash({ a: b('1') })).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
  });

  test('equal data gives equal hashes, whatever the key order', () => {
    const one = hasher.hash({ a: b('1'), b: b('2'), c: b('3') });
    const two = hasher.hash({ c: b('3'), a: b('1'), b: b('2') });
    expect(one).toBe(two);
    expect(new DataHasher(Buffer.alloc(32, 7)).hash({ b: b('2'), c: b('3'), a: b('1') })).toBe(one);
  });

  test('{a:"bc"} and {ab:"c"} hash differently (names and values are length-prefixed)', () => {
    expect(hasher.hash({ a: b('bc') })).not.toBe(hasher.hash({ ab: b('c') }));
    expect(hasher.hash({ a: b('b'), c: b('') })).not.toBe(hasher.hash({ a: b('bc') }));
  });

  test('any change of a value, a name, or the set of keys changes the hash', () => {
    const base = hasher.hash({ a: b('1'), b: b('2') });
    expect(hasher.hash({ a: b('1'), b: b('3') })).not.toBe(base);
    expect(hasher.hash({ a: b('1'), B: b('2') })).not.toBe(base);
    expect(hasher.hash({ a: b('1') })).not.toBe(base);
    expect(hasher.hash({ a: b('1'), b: b('2'), c: b('') })).not.toBe(base);
  });

  test('empty data hashes consistently and differs from a single empty key', () => {
    expect(hasher.hash({})).toBe(hasher.hash({}));
    expect(hasher.hash({})).not.toBe(hasher.hash({ a: b('') }));
  });

  test('a different install key gives a different hash of the same data', () => {
    const data = { token: b('hf_abc') };
    expect(new DataHasher(Buffer.alloc(32, 8)).hash(data)).not.toBe(hasher.hash(data));
  });

  test('the hash does not contain the value or its plain sha256', () => {
    const marker = 'MARKER-hash-value';
    const hash = hasher.hash({ k: b(marker) });
    expect(hash).not.toContain(marker);
    expect(hash).not.toContain(Buffer.from(marker).toString('hex'));
  });

  test('binary values are hashed as bytes', () => {
    expect(hasher.hash({ k: Buffer.from([0xff, 0x00]) })).not.toBe(
      hasher.hash({ k: Buffer.from([0xff, 0x01]) }),
    );
  });

  test('hashEncoded of base64 data equals hash of the decoded data', () => {
    const decoded = { token: b('hf_abc'), bin: Buffer.from([0, 255, 128]), empty: b('') };
    const encoded = Object.fromEntries(Object.entries(decoded).map(([k, v]) => [k, v.toString('base64')]));
    expect(hasher.hashEncoded(encoded)).toBe(hasher.hash(decoded));
  });

  test('hashEncoded of no data equals hash of empty data', () => {
    expect(hasher.hashEncoded(undefined)).toBe(hasher.hash({}));
    expect(hasher.hashEncoded({})).toBe(hasher.hash({}));
  });

  test('a key shorter than 32 bytes is rejected', () => {
    expect(() => new DataHasher(Buffer.alloc(31))).toThrow(/at least 32 bytes/);
    expect(() => new DataHasher(Buffer.alloc(0))).toThrow(/at least 32 bytes/);
    expect(() => new DataHasher(Buffer.alloc(64))).not.toThrow();
  });
});

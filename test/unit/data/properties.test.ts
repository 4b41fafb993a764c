import { DataError, decode, extractFields, selectProperty } from '../../../src/data/properties.ts';
import type { RemoteValue } from '../../../src/providers/provider.port.ts';

/** A JSON remote value as an AWS or Google store would return it. */
function json(value: unknown, key = 'ml/app'): RemoteValue {
  return { key, value: Buffer.from(JSON.stringify(value), 'utf8') };
}

function raw(text: string, key = 'ml/app'): RemoteValue {
  return { key, value: Buffer.from(text, 'utf8') };
}

/** Runs `fn` and returns the DataError it throws (fails the test when it throws nothing else). */
function dataError(fn: () => unknown): DataError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DataError);
    return error as DataError;
  }
  throw new Error('expected a DataError, but nothing was thrown');
}

const text = (b: Buffer): string => b.toString('utf8');

describe('selectProperty on JSON values', () => {
  const doc = json({
    name: { first: 'Tom', last: 'Anderson' },
    age: 37,
    active: true,
    nothing: null,
    children: ['Sara', 'Alex', 'Jack'],
    friends: [
      { first: 'Dale', last: 'Murphy', nets: ['ig', 'fb'] },
      { first: 'Roger', last: 'Craig', nets: ['fb', 'tw'] },
    ],
    'db.password': 'dotted-wins',
    db: { password: 'nested-loses', host: 'db.internal' },
  });

  test('a top-level string is returned as is', () => {
    expect(text(selectProperty(json({ token: 'hf_abc' }), 'token'))).toBe('hf_abc');
  });

  test('a dotted path descends into objects', () => {
    expect(text(selectProperty(doc, 'name.last'))).toBe('Anderson');
  });

  test('numeric segments index arrays', () => {
    expect(text(selectProperty(doc, 'children.0'))).toBe('Sara');
    expect(text(selectProperty(doc, 'friends.1.first'))).toBe('Roger');
    expect(text(selectProperty(doc, 'friends.0.nets.1'))).toBe('fb');
  });

  test('a key that itself contains dots wins over descending', () => {
    expect(text(selectProperty(doc, 'db.password'))).toBe('dotted-wins');
    expect(text(selectProperty(doc, 'db.host'))).toBe('db.internal');
  });

  test('a dotted key is found below the top level too', () => {
    const value = json({ outer: { 'a.b': 'dotted', a: { b: 'nested' } } });
    expect(text(selectProperty(value, 'outer.a.b'))).toBe('dotted');
  });

  test('objects and arrays are rendered as compact JSON', () => {
    expect(text(selectProperty(doc, 'name'))).toBe('{"first":"Tom","last":"Anderson"}');
    expect(text(selectProperty(doc, 'children'))).toBe('["Sara","Alex","Jack"]');
    expect(text(selectProperty(doc, 'friends.1'))).toBe(
      '{"first":"Roger","last":"Craig","nets":["fb","tw"]}',
    );
  });

  test('numbers, booleans and null are rendered as JSON text', () => {
    expect(text(selectProperty(doc, 'age'))).toBe('37');
    expect(text(selectProperty(doc, 'active'))).toBe('true');
    expect(text(selectProperty(doc, 'nothing'))).toBe('null');
    expect(text(selectProperty(json({ pi: 3.25, neg: -1 }), 'pi'))).toBe('3.25');
  });

  test('strings are kept byte-exact: multi-line, leading tab, trailing newline, unicode', () => {
    const pem = '\t-----BEGIN KEY-----\nMIIB\r\nline with  two spaces \n-----END KEY-----\n';
    const value = json({ pem, unicode: 'päss—wörd ✓', spaces: '  padded  ' });
    expect(selectProperty(value, 'pem').equals(Buffer.from(pem, 'utf8'))).toBe(true);
    expect(selectProperty(value, 'unicode').equals(Buffer.from('päss—wörd ✓', 'utf8'))).toBe(true);
    expect(text(selectProperty(value, 'spaces'))).toBe('  padded  ');
  });

  test('an empty string is a value, not a missing property', () => {
    expect(selectProperty(json({ empty: '' }), 'empty').length).toBe(0);
  });

  test.each([
    ['missing top-level field', 'nope'],
    ['missing nested field', 'name.middle'],
    ['index past the end', 'children.3'],
    ['descending into a string', 'name.first.x'],
    ['descending into a number', 'age.x'],
    ['descending into null', 'nothing.x'],
  ])('%s → PropertyNotFound naming key and property', (_what, property) => {
    const error = dataError(() => selectProperty(doc, property));
    expect(error.reason).toBe('PropertyNotFound');
    expect(error.message).toContain('"ml/app"');
    expect(error.message).toContain(`"${property}"`);
  });

  test('inherited Object.prototype members are not properties of a JSON value', () => {
    for (const property of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(dataError(() => selectProperty(json({ a: 1 }), property)).reason).toBe('PropertyNotFound');
    }
  });

  test('a value that is not JSON → InvalidValue, and the message never contains the value', () => {
    const marker = 'SECRET-MARKER-9f2c1e77';
    const error = dataError(() => selectProperty(raw(`not json ${marker} {`), 'token'));
    expect(error.reason).toBe('InvalidValue');
    expect(error.message).toContain('"ml/app"');
    expect(error.message).not.toContain(marker);
    expect(error.stack ?? '').not.toContain(marker);
  });

  test('a JSON scalar value has no properties', () => {
    expect(dataError(() => selectProperty(raw('"just a string"'), 'x')).reason).toBe('PropertyNotFound');
    expect(dataError(() => selectProperty(raw('42'), 'x')).reason).toBe('PropertyNotFound');
  });
});

describe('selectProperty on a fields map (Kubernetes Secrets)', () => {
  const secret: RemoteValue = {
    key: 'source-secret',
    value: Buffer.alloc(0),
    fields: {
      username: Buffer.from('admin'),
      'tls.crt': Buffer.from('CERT\n'),
      config: Buffer.from('{"db":{"password":"pw1"},"list":[1,2]}'),
      tls: Buffer.from('{"crt":"not-this-one"}'),
      binary: Buffer.from([0x00, 0xff, 0x10, 0x80]),
    },
  };

  test('a field name is matched first, byte-exact', () => {
    expect(text(selectProperty(secret, 'username'))).toBe('admin');
    expect(selectProperty(secret, 'binary').equals(Buffer.from([0x00, 0xff, 0x10, 0x80]))).toBe(true);
  });

  test('a field whose name contains dots wins over a JSON path into another field', () => {
    expect(text(selectProperty(secret, 'tls.crt'))).toBe('CERT\n');
  });

  test('a dotted property descends into a field holding JSON', () => {
    expect(text(selectProperty(secret, 'config.db.password'))).toBe('pw1');
    expect(text(selectProperty(secret, 'config.list'))).toBe('[1,2]');
  });

  test('a missing field → PropertyNotFound', () => {
    const error = dataError(() => selectProperty(secret, 'password'));
    expect(error.reason).toBe('PropertyNotFound');
    expect(error.message).toContain('"source-secret"');
    expect(error.message).toContain('"password"');
  });

  test('inherited Object.prototype members are not fields', () => {
    for (const property of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'constructor.name']) {
      expect(dataError(() => selectProperty(secret, property)).reason).toBe('PropertyNotFound');
    }
  });

  test('descending into a field that is not JSON → InvalidValue without the value', () => {
    const marker = 'FIELD-MARKER-51aa';
    const value: RemoteValue = { key: 's', value: Buffer.alloc(0), fields: { plain: Buffer.from(marker) } };
    const error = dataError(() => selectProperty(value, 'plain.x'));
    expect(error.reason).toBe('InvalidValue');
    expect(error.message).not.toContain(marker);
  });
});

describe('extractFields', () => {
  test('every top-level field of a JSON object; nested values as compact JSON, scalars as text', () => {
    const fields = extractFields(
      json({ user: 'u', port: 5432, tls: false, nested: { a: [1, { b: 'c' }] }, list: ['x'], none: null }),
    );
    expect(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, text(v)]))).toEqual({
      user: 'u',
      port: '5432',
      tls: 'false',
      nested: '{"a":[1,{"b":"c"}]}',
      list: '["x"]',
      none: 'null',
    });
  });

  test('with a property, the fields of that nested object', () => {
    const fields = extractFields(json({ db: { user: 'u', password: 'p' }, other: 1 }), 'db');
    expect(Object.keys(fields).sort()).toEqual(['password', 'user']);
    expect(text(fields.password!)).toBe('p');
  });

  test('a fields map is copied as is (and is a copy)', () => {
    const source = { a: Buffer.from('1'), 'b.c': Buffer.from('2') };
    const fields = extractFields({ key: 's', value: Buffer.alloc(0), fields: source });
    expect(Object.keys(fields).sort()).toEqual(['a', 'b.c']);
    expect(fields).not.toBe(source);
    expect(text(fields['b.c']!)).toBe('2');
  });

  test('with a property on a fields map, the fields of the JSON in that field', () => {
    const fields = extractFields(
      { key: 's', value: Buffer.alloc(0), fields: { config: Buffer.from('{"x":"1","y":{"z":2}}') } },
      'config',
    );
    expect(text(fields.x!)).toBe('1');
    expect(text(fields.y!)).toBe('{"z":2}');
  });

  test.each([
    ['an array', '[1,2,3]'],
    ['a string', '"text"'],
    ['a number', '42'],
    ['null', 'null'],
  ])('%s is not a JSON object → InvalidValue', (_what, value) => {
    const error = dataError(() => extractFields(raw(value)));
    expect(error.reason).toBe('InvalidValue');
    expect(error.message).toContain('"ml/app"');
  });

  test('not JSON at all → InvalidValue without the value', () => {
    const marker = 'EXTRACT-MARKER-0b7d';
    const error = dataError(() => extractFields(raw(`${marker}=1`)));
    expect(error.reason).toBe('InvalidValue');
    expect(error.message).not.toContain(marker);
  });
});

describe('decode', () => {
  const dec = (value: string | Buffer, strategy?: 'None' | 'Base64' | 'Base64URL' | 'Auto'): Buffer =>
    decode(typeof value === 'string' ? Buffer.from(value, 'utf8') : value, strategy, 'the value for "K"');

  test('None (and no strategy) returns the very same bytes', () => {
    const value = Buffer.from('aGVsbG8=');
    expect(decode(value, 'None', 'x')).toBe(value);
    expect(decode(value, undefined, 'x')).toBe(value);
  });

  test('Base64 decodes standard base64, padded or not, ignoring surrounding whitespace', () => {
    expect(text(dec('aGVsbG8=', 'Base64'))).toBe('hello');
    expect(text(dec('aGVsbG8', 'Base64'))).toBe('hello');
    expect(text(dec('  aGVsbG8=\n', 'Base64'))).toBe('hello');
    expect(dec('/+8=', 'Base64').equals(Buffer.from([0xff, 0xef]))).toBe(true);
  });

  test('Base64URL decodes the URL alphabet', () => {
    expect(dec('_-8', 'Base64URL').equals(Buffer.from([0xff, 0xef]))).toBe(true);
    expect(text(dec('aGVsbG8', 'Base64URL'))).toBe('hello');
  });

  test.each([
    ['Base64', 'not base64!'],
    ['Base64', '_-8'],
    ['Base64URL', '/+8='],
    ['Base64URL', 'a b'],
  ] as const)('%s rejects %j with InvalidValue naming what, not the value', (strategy, value) => {
    const error = dataError(() => dec(value, strategy));
    expect(error.reason).toBe('InvalidValue');
    expect(error.message).toContain('the value for "K"');
    expect(error.message).toContain(strategy);
    expect(error.message).not.toContain(value);
  });

  test('Auto decodes padded standard base64', () => {
    expect(text(dec('aGVsbG8=', 'Auto'))).toBe('hello');
    expect(text(dec('c2VjcmV0LXZhbHVl', 'Auto'))).toBe('secret-value');
  });

  test('Auto decodes padded base64url that uses "-" or "_"', () => {
    expect(dec('_-8=', 'Auto').equals(Buffer.from([0xff, 0xef]))).toBe(true);
  });

  test.each(['hello world', 'abc', 'p@ssw0rd!', 'aGVsbG8', '', 'a.b'])(
    'Auto leaves %j unchanged (not valid base64, or unpadded with no URL characters)',
    (value) => {
      expect(text(dec(value, 'Auto'))).toBe(value);
    },
  );

  // Documented behaviour, not necessarily the desired one: any text of 4n characters from the
  // base64 alphabet IS valid base64, so Auto decodes plain words such as "abcd" or "password"
  // into binary garbage. See the report.
  test.each(['abcd', 'password', 'root', 'admin123'])(
    'Auto DECODES the plain alphanumeric %j because its length is a multiple of 4',
    (value) => {
      const decoded = dec(value, 'Auto');
      expect(decoded.equals(Buffer.from(value, 'base64'))).toBe(true);
      expect(text(decoded)).not.toBe(value);
    },
  );

  test('Auto leaves an identifier containing "-" or "_" alone unless it is whole base64url quanta', () => {
    expect(text(dec('my-api-key', 'Auto'))).toBe('my-api-key');
    expect(text(dec('_-8', 'Auto'))).toBe('_-8');
  });

  test('an unknown strategy is rejected', () => {
    expect(dataError(() => decode(Buffer.from('x'), 'Rot13' as never, 'x')).reason).toBe('InvalidValue');
  });
});

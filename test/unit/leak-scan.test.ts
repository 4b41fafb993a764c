// The suite-wide leak scan must be able to fail: a planted value found as is, in base64 (at any
// alignment, as inside a Secret's data or a larger encoded blob), and inside JSON-escaped text.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  beginLeakRun,
  finishLeakRun,
  recordLogFile,
  recordPlanted,
  recordText,
  scanForLeaks,
} from '../../test/harness/leak-run.ts';

const value = 'MLSECRET-db-password-0123456789ab';
const other = 'MLSECRET-unrelated-ba9876543210';

test('a plain hit is found, and the hit names the label, never the value', () => {
  const hits = scanForLeaks([value, other], [['log', `level=info msg="fetched ${value}"`]]);
  expect(hits).toEqual([{ where: 'log', form: 'plain', label: 'db-password' }]);
  expect(JSON.stringify(hits)).not.toContain(value);
});

test('base64 is found at every alignment, and base64url too', () => {
  for (const prefix of ['', 'a', 'ab', 'abc', 'user:']) {
    const encoded = Buffer.from(`${prefix}${value}\n`).toString('base64');
    expect(scanForLeaks([value], [['secret data', `{"data":{"k":"${encoded}"}}`]])).toEqual([
      { where: 'secret data', form: 'base64', label: 'db-password' },
    ]);
  }
  // A value whose base64 has '+' or '/' differs in base64url.
  const slashy = 'MLSECRET-url-??>>??>>ff00';
  const url = Buffer.from(`xx${slashy}`).toString('base64url');
  expect(url).toMatch(/[-_]/);
  expect(scanForLeaks([slashy], [['url', url]]).map((h) => h.form)).toEqual(['base64url']);
});

test('inside JSON-escaped text, once, twice, and with \\u escapes', () => {
  const once = JSON.stringify({ msg: `token "${value}"` });
  const twice = JSON.stringify(JSON.stringify({ msg: value }));
  const unicode = `{"msg":"${value.replace(/-/g, '\\u002d')}"}`;
  for (const text of [once, twice, unicode])
    expect(scanForLeaks([value], [['json', text]])).toEqual([
      { where: 'json', form: 'plain', label: 'db-password' },
    ]);
});

test('no hit without a planted value: near misses and the empty set are clean', () => {
  const near = value.slice(0, -1);
  expect(scanForLeaks([value], [['log', `${near} and MLSECRET-db-password-`]])).toEqual([]);
  expect(scanForLeaks([], [['log', value]])).toEqual([]);
});

test('the run scan reads the leak dir and throws, printing counts, on one hit', () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'leak-unit-'));
  const saved = { ...process.env };
  delete process.env.MLSECRETS_LEAK_DIR;
  try {
    const { dir, owner } = beginLeakRun('unit', parent);
    expect(owner).toBe(true);
    recordPlanted(value);
    recordText('clean log', 'nothing here');
    finishLeakRun(dir);
    const logFile = path.join(parent, 'operator.log');
    fs.writeFileSync(logFile, `{"msg":"value ${Buffer.from(value).toString('base64')}"}\n`);
    recordLogFile(logFile);
    expect(() => finishLeakRun(dir)).toThrow(
      /leak scan: 1 planted values, 2 texts scanned, 1 hits\n {2}log file .*operator\.log: planted value 'db-password' \(base64\)/,
    );
  } finally {
    process.env = saved;
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectionFrom, inClusterSettings, kubeconfigSettings } from '../../../src/runtime/connection.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function writeKubeconfig(dir: string, cluster: object, user: object): string {
  const file = path.join(dir, 'config');
  fs.writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'other', cluster: { server: 'https://wrong' } },
        { name: 'c', cluster },
      ],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'ctx',
    }),
  );
  return file;
}

describe('kubeconfigSettings', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeconfig-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('embedded certificates of the current context', async () => {
    const file = writeKubeconfig(
      dir,
      { server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64('CA') },
      { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
    );
    const settings = (await kubeconfigSettings(file))!;
    expect(settings.server).toBe('https://127.0.0.1:6443');
    expect([settings.ca, settings.cert, settings.key].map(String)).toEqual(['CA', 'CERT', 'KEY']);
    expect(settings.skipTLSVerify).toBe(false);
  });

  test('a YAML kubeconfig (as kubectl writes it) reads the same as JSON', async () => {
    const file = path.join(dir, 'config.yaml');
    fs.writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: c',
        '  cluster:',
        '    server: https://127.0.0.1:6443',
        `    certificate-authority-data: ${b64('CA')}`,
        'users:',
        '- name: u',
        '  user:',
        '    token: abc',
        'contexts:',
        '- name: x',
        '  context: { cluster: c, user: u }',
        'current-context: x',
        '',
      ].join('\n'),
    );
    const settings = (await kubeconfigSettings(file))!;
    expect(settings.server).toBe('https://127.0.0.1:6443');
    expect(String(settings.ca)).toBe('CA');
    expect(settings.token).toBe('abc');
  });

  test('files relative to the kubeconfig, and a token file', async () => {
    fs.writeFileSync(path.join(dir, 'ca.crt'), 'CA-FILE');
    const file = writeKubeconfig(
      dir,
      { server: 'https://k', 'certificate-authority': 'ca.crt', 'insecure-skip-tls-verify': true },
      { tokenFile: 'token' },
    );
    const settings = (await kubeconfigSettings(file))!;
    expect(String(settings.ca)).toBe('CA-FILE');
    expect(settings.tokenFile).toBe(path.join(dir, 'token'));
    expect(settings.skipTLSVerify).toBe(true);
  });

  test('exec plugins, auth providers and proxies are left to client-node', async () => {
    const exec = { exec: { command: 'aws', args: ['eks', 'get-token'], apiVersion: 'x' } };
    expect(await kubeconfigSettings(writeKubeconfig(dir, { server: 'https://k' }, exec))).toBeUndefined();
    const proxied = { server: 'https://k', 'proxy-url': 'http://proxy:3128' };
    expect(await kubeconfigSettings(writeKubeconfig(dir, proxied, { token: 't' }))).toBeUndefined();
    const basic = { username: 'u', password: 'p' };
    expect(await kubeconfigSettings(writeKubeconfig(dir, { server: 'https://k' }, basic))).toBeUndefined();
  });
});

describe('connectionFrom', () => {
  test('a static token or a token file (re-read when it rotates, at most once a minute)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'token-'));
    try {
      expect(
        (await connectionFrom({ server: 'https://k/', token: 'abc' }).authenticate('GET', 'https://k/x'))
          .headers,
      ).toEqual({ authorization: 'Bearer abc' });
      const tokenFile = path.join(dir, 'token');
      fs.writeFileSync(tokenFile, 'first\n');
      const connection = connectionFrom({ server: 'https://k', tokenFile });
      expect(connection.server).toBe('https://k');
      const first = await connection.authenticate('GET', 'https://k/x');
      expect(first.headers).toEqual({ authorization: 'Bearer first' });
      // One pool for every request.
      expect((await connection.authenticate('GET', 'https://k/y')).dispatcher).toBe(first.dispatcher);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('plain HTTP only with insecure-skip-tls-verify, as client-node has it', () => {
    expect(() => connectionFrom({ server: 'http://k' })).toThrow(/HTTP protocol is not allowed/);
    expect(connectionFrom({ server: 'http://k', skipTLSVerify: true }).server).toBe('http://k');
  });
});

describe('inClusterSettings', () => {
  test('needs the service environment, then the service-account files', () => {
    expect(() => inClusterSettings({})).toThrow(/not in a cluster/);
    // The service-account files do not exist here: reading them is what fails next.
    expect(() =>
      inClusterSettings({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }),
    ).toThrow(/ca\.crt/);
  });
});

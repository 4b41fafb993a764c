// OpenBao (Vault's API) as the tests run it: `bao server -dev`, in memory and unsealed, on
// loopback or on the test node's bridge, with a root token of the test's own.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { installEmulators } from './emulators.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type ManagedProcess } from './process.ts';

export interface OpenBao {
  /** http://host:port, or https:// with `tls` */
  readonly address: string;
  /** With `tls`: the PEM of the CA the dev server made for itself. */
  readonly ca?: string;
  readonly rootToken: string;
  readonly process: ManagedProcess;
  /** Vault's HTTP API with the root token; rejects on a status that is not 2xx. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** The `bao` CLI against this server, with the root token; resolves with its stdout. */
  cli(...args: string[]): Promise<string>;
  /** Seals the server (every call answers 503 until unseal()). */
  seal(): Promise<void>;
  unseal(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Mounts the database secrets engine at `database/` with a connection `db` to PostgreSQL (as its
 * superuser) and a role `role` that creates a login user per credential.
 */
export async function enableDatabaseEngine(
  bao: OpenBao,
  pg: { host: string; port: number; admin: { user: string; password: string } },
  options: { db: string; role: string; defaultTtl: string; maxTtl: string },
): Promise<void> {
  await bao.api('POST', 'sys/mounts/database', { type: 'database' });
  await bao.api('POST', `database/config/${options.db}`, {
    plugin_name: 'postgresql-database-plugin',
    connection_url: `postgresql://{{username}}:{{password}}@${pg.host}:${pg.port}/postgres?sslmode=disable`,
    username: pg.admin.user,
    password: pg.admin.password,
    allowed_roles: options.role,
  });
  await bao.api('POST', `database/roles/${options.role}`, {
    db_name: options.db,
    creation_statements: [
      `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
    ],
    default_ttl: options.defaultTtl,
    max_ttl: options.maxTtl,
  });
}

export async function startOpenBao(
  logDir: string,
  options: { host?: string; name?: string; tls?: boolean } = {},
): Promise<OpenBao> {
  const { bao } = await installEmulators();
  const started = Date.now();
  const host = options.host ?? '127.0.0.1';
  const port = await freePort();
  const address = `${options.tls ? 'https' : 'http'}://${host}:${port}`;
  const certDir = path.join(logDir, `${options.name ?? 'openbao'}-tls`);
  if (options.tls) fs.mkdirSync(certDir, { recursive: true });
  const rootToken = `root-${randomBytes(8).toString('hex')}`;
  const name = options.name ?? 'openbao';
  const proc = startProcess({
    name,
    command: bao,
    args: [
      'server',
      '-dev',
      `-dev-root-token-id=${rootToken}`,
      `-dev-listen-address=${host}:${port}`,
      // A CA and a certificate for the listen address, made by the dev server itself.
      ...(options.tls ? ['-dev-tls', `-dev-tls-cert-dir=${certDir}`] : []),
    ],
    logDir,
    // No ~/.vault-token helper, no telemetry: the server is the test's alone.
    env: { PATH: process.env.PATH, HOME: logDir },
  });
  let ca: string | undefined;
  const request = (method: string, apiPath: string, body?: unknown) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = (options.tls ? https : http).request(
        `${address}/v1/${apiPath}`,
        {
          method,
          headers: { 'X-Vault-Token': rootToken, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(ca ? { ca } : {}),
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const api = async <T>(method: string, apiPath: string, body?: unknown): Promise<T> => {
    const { status, text } = await request(method, apiPath, body);
    if (status < 200 || status > 299) throw new Error(`OpenBao ${method} ${apiPath}: HTTP ${status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  await waitUntil(
    'OpenBao unsealed',
    async () => {
      if (options.tls) ca ??= fs.readFileSync(path.join(certDir, 'vault-ca.pem'), 'utf8');
      return (await request('GET', 'sys/health')).status === 200;
    },
    { timeoutMs: 30_000, process: proc },
  );
  process.stdout.write(
    `[harness] ${name} started pid=${proc.pid} on ${host}:${port} in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
  return {
    address,
    ca,
    rootToken,
    process: proc,
    api,
    async cli(...args) {
      const { stdout } = await promisify(execFile)(bao, args, {
        env: {
          PATH: process.env.PATH,
          HOME: logDir,
          BAO_ADDR: address,
          BAO_TOKEN: rootToken,
          ...(options.tls ? { BAO_CACERT: path.join(certDir, 'vault-ca.pem') } : {}),
        },
      });
      return stdout;
    },
    seal: () => api('PUT', 'sys/seal'),
    async unseal() {
      // The dev server prints its one unseal key in its start banner.
      const unsealKey = /Unseal Key: (\S+)/.exec(fs.readFileSync(proc.logFile, 'utf8'))?.[1];
      if (!unsealKey) throw new Error('the dev server printed no unseal key');
      await api('PUT', 'sys/unseal', { key: unsealKey });
    },
    stop: () => proc.stop(),
  };
}

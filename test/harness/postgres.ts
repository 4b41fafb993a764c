// PostgreSQL from Debian's packages, as the Vault database secrets engine's target: a cluster
// of the test's own in a temporary directory, on loopback, run as the `postgres` user (the
// server refuses root).
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { installEmulators } from './emulators.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type ManagedProcess } from './process.ts';

export interface Postgres {
  readonly host: string;
  readonly port: number;
  /** The superuser Vault manages users with. */
  readonly admin: { user: string; password: string };
  readonly process: ManagedProcess;
  /** Runs SQL as `user` with `password` over TCP; rejects with psql's error when the login or the SQL fails. */
  sql(statement: string, login?: { user: string; password: string }): Promise<string>;
  /** Whether a role (a user Vault made) exists. */
  roleExists(user: string): Promise<boolean>;
  stop(): Promise<void>;
}

const asPostgres = ['--reuid=postgres', '--regid=postgres', '--clear-groups'];

/**
 * `host`: where it listens (loopback, or the node bridge's address for pods); `clients`: a CIDR
 * whose password logins it accepts besides loopback (the pod network).
 */
export async function startPostgres(
  dir: string,
  options: { host?: string; clients?: string } = {},
): Promise<Postgres> {
  const { pgBin } = await installEmulators();
  const started = Date.now();
  const host = options.host ?? '127.0.0.1';
  const data = path.join(dir, 'pgdata');
  const socketDir = path.join(dir, 'pgsocket');
  fs.mkdirSync(data, { recursive: true });
  fs.mkdirSync(socketDir, { recursive: true });
  // The postgres user must be able to reach its directories.
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) fs.chmodSync(d, fs.statSync(d).mode | 0o011);
  execFileSync('chown', ['-R', 'postgres:postgres', data, socketDir]);
  const admin = { user: 'mlsecrets_admin', password: randomBytes(12).toString('hex') };
  const pwfile = path.join(socketDir, 'pw');
  fs.writeFileSync(pwfile, admin.password, { mode: 0o600 });
  execFileSync('chown', ['postgres:postgres', pwfile]);
  execFileSync(
    'setpriv',
    [
      ...asPostgres,
      '--',
      path.join(pgBin, 'initdb'),
      '-D',
      data,
      '-U',
      admin.user,
      `--pwfile=${pwfile}`,
      '-A',
      'scram-sha-256',
    ],
    { stdio: 'ignore' },
  );
  fs.rmSync(pwfile);
  if (options.clients) {
    fs.appendFileSync(path.join(data, 'pg_hba.conf'), `host all all ${options.clients} scram-sha-256\n`);
  }
  const port = await freePort();
  const proc = startProcess({
    name: 'postgres',
    command: 'setpriv',
    args: [
      ...asPostgres,
      '--',
      path.join(pgBin, 'postgres'),
      '-D',
      data,
      '-h',
      host,
      '-p',
      String(port),
      '-k',
      socketDir,
    ],
    logDir: path.join(dir, 'logs'),
  });
  const sql = async (statement: string, login = admin) => {
    const { stdout } = await promisify(execFile)(
      'psql',
      [
        '-h',
        host,
        '-p',
        String(port),
        '-U',
        login.user,
        '-d',
        'postgres',
        '-v',
        'ON_ERROR_STOP=1',
        '-tAc',
        statement,
      ],
      { env: { PATH: process.env.PATH, PGPASSWORD: login.password, PGCONNECT_TIMEOUT: '5' } },
    );
    return stdout.trim();
  };
  await waitUntil('PostgreSQL accepting logins', async () => (await sql('select 1')) === '1', {
    timeoutMs: 30_000,
    process: proc,
  });
  process.stdout.write(
    `[harness] postgres started pid=${proc.pid} on ${host}:${port} in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
  const roleExists = async (user: string) =>
    (await sql(`select count(*) from pg_roles where rolname = '${user.replace(/'/g, "''")}'`)) === '1';
  return { host, port, admin, process: proc, sql, roleExists, stop: () => proc.stop() };
}

// The secret-store emulators the integration tests drive (docs/architecture.md, "Tests"):
// moto's server for AWS Secrets Manager, Parameter Store and STS, and the community Google
// Secret Manager emulator. Both are real processes on loopback, installed by
// scripts/install-emulators.sh.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  PutUserPolicyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type ManagedProcess } from './process.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const installScript = path.join(repoRoot, 'scripts', 'install-emulators.sh');
const readyTimeoutMs = 60_000;

/** Paths of the binaries scripts/install-emulators.sh installed. */
export interface EmulatorBinaries {
  motoServer: string;
  gcpEmulator: string;
  helm: string;
  /** OpenBao's `bao` (server and CLI). */
  bao: string;
  /** The directory of PostgreSQL's server programs (initdb, postgres). */
  pgBin: string;
}

/** A running emulator process and how to empty or stop it. */
export interface Emulator {
  readonly name: string;
  /** What a client is pointed at: `http://127.0.0.1:PORT` for moto, `127.0.0.1:PORT` for gRPC. */
  readonly endpoint: string;
  readonly port: number;
  /** The current process; reset() of the GCP emulator replaces it. */
  readonly process: ManagedProcess;
  /** Forgets every resource created so far. Resolves once the emulator serves again. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

let installing: Promise<EmulatorBinaries> | undefined;

/**
 * Installs (or finds in the cache) the pinned emulators and Helm by running
 * scripts/install-emulators.sh, and returns their paths. The script's progress goes to our
 * stderr; its stdout carries `KEY=path` lines. Memoised per process: the script is cheap
 * when cached, but there is no reason to run it twice.
 */
export function installEmulators(): Promise<EmulatorBinaries> {
  installing ??= runInstallScript().catch((error: unknown) => {
    installing = undefined; // let a later call retry instead of replaying the failure
    throw error;
  });
  return installing;
}

async function runInstallScript(): Promise<EmulatorBinaries> {
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [installScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${installScript} exited with ${code}`)),
    );
  });
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^([A-Z_]+)=(.+)$/.exec(line.trim());
    if (match?.[1] && match[2]) values.set(match[1], match[2]);
  }
  const get = (key: string): string => {
    const value = values.get(key);
    if (!value) throw new Error(`${installScript} printed no ${key}= line`);
    return value;
  };
  return {
    motoServer: get('MOTO_SERVER'),
    gcpEmulator: get('GCP_SM_EMULATOR'),
    helm: get('HELM'),
    bao: get('BAO'),
    pgBin: get('PG_BIN'),
  };
}

/**
 * Starts moto's server on a free loopback port (or on `options.port`: a test that stops moto
 * starts it again where its clients point; on `options.host`: the node bridge's address, where
 * pods reach it). Ready once its `/moto-api/` answers; reset() is
 * moto's own `POST /moto-api/reset`, which empties every service and region. `options.env`
 * adds moto settings to the environment (a private instance's; the shared one takes none).
 */
export async function startMoto(
  logDir: string,
  options: { port?: number; env?: Record<string, string>; name?: string; host?: string } = {},
): Promise<Emulator> {
  const { motoServer } = await installEmulators();
  const started = Date.now();
  const port = options.port ?? (await freePort());
  const host = options.host ?? '127.0.0.1';
  const endpoint = `http://${host}:${port}`;
  const proc = startProcess({
    name: options.name ?? 'moto',
    command: motoServer,
    args: ['--host', host, '--port', String(port)],
    logDir,
    // Unbuffered, so the log shows requests as they happen, not when the buffer fills.
    env: { ...process.env, ...options.env, PYTHONUNBUFFERED: '1' },
  });
  await waitUntil('moto ready', async () => (await fetch(`${endpoint}/moto-api/data.json`)).ok, {
    timeoutMs: readyTimeoutMs,
    process: proc,
  });
  const name = options.name ?? 'moto';
  announce(name, 'started', proc, port, started, host);
  return {
    name,
    endpoint,
    port,
    process: proc,
    async reset() {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!response.ok) throw new Error(`moto reset: HTTP ${response.status} ${await response.text()}`);
    },
    async stop() {
      const stopping = Date.now();
      await proc.stop();
      announce(name, 'stopped', proc, port, stopping, host);
    },
  };
}

/**
 * Makes moto check every request's signature and IAM permissions from now on (moto's
 * `POST /moto-api/reset-auth` with the number of requests still let through: 0). Only
 * credentials made through moto's own IAM API (CreateAccessKey) pass; anything else is
 * answered 403. The setting is process-wide, so use it on a private moto instance only, after
 * seeding it (seeding with fake keys would be refused too).
 */
export async function enableMotoAuth(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
  if (!response.ok) throw new Error(`moto reset-auth: HTTP ${response.status} ${await response.text()}`);
}

export interface AccessKey {
  id: string;
  secret: string;
}

/**
 * Creates an IAM user of moto allowed `actions` on everything, and returns its access key: with
 * moto's IAM checks on (enableMotoAuth), only such keys are accepted.
 */
export async function createIamUser(iam: IAMClient, name: string, actions: string[]): Promise<AccessKey> {
  await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(
    new PutUserPolicyCommand({
      UserName: name,
      PolicyName: 'allowed',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }],
      }),
    }),
  );
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
  return { id: AccessKey!.AccessKeyId!, secret: AccessKey!.SecretAccessKey! };
}

/** The GCP emulator can also come back after stop(), for outage tests. */
export interface GcpEmulator extends Emulator {
  /**
   * Starts the emulator again on the same port after stop(), empty (it keeps everything in
   * memory). Clients keep their address and reconnect; re-seed what the test needs.
   */
  start(): Promise<void>;
}

/**
 * Starts the Google Secret Manager emulator (gRPC only, no TLS) on a free loopback port.
 * Ready once the port accepts TCP connections: the emulator listens only after its service is
 * registered, so a connection means calls will be served.
 *
 * reset() restarts the process on the same port. The emulator keeps everything in memory and
 * has no reset or admin endpoint, and deleting secrets through the API would only cover the
 * projects we know of; a restart (about 0.1 s for this Go binary) empties every project for
 * sure. Clients need nothing: a gRPC channel whose server went away reconnects on its next
 * call. A call made while the restart is under way fails with UNAVAILABLE.
 */
export async function startGcpEmulator(logDir: string): Promise<GcpEmulator> {
  const { gcpEmulator } = await installEmulators();
  const started = Date.now();
  const port = await freePort();
  const endpoint = `127.0.0.1:${port}`;
  const launch = async (): Promise<ManagedProcess> => {
    const proc = startProcess({
      name: 'gcp-sm-emulator',
      command: gcpEmulator,
      args: ['--addr', endpoint],
      logDir,
      // IAM enforcement needs a separate IAM emulator; an IAM_MODE inherited from the
      // developer's shell must not switch it on.
      env: { ...process.env, IAM_MODE: 'off' },
    });
    await waitUntil('gcp-sm-emulator ready', () => canConnect(port), {
      timeoutMs: readyTimeoutMs,
      process: proc,
    });
    return proc;
  };
  let proc = await launch();
  announce('gcp-sm-emulator', 'started', proc, port, started);
  return {
    name: 'gcp-sm-emulator',
    endpoint,
    port,
    get process() {
      return proc;
    },
    async reset() {
      const resetting = Date.now();
      await proc.stop();
      proc = await launch();
      announce('gcp-sm-emulator', 'reset (restarted)', proc, port, resetting);
    },
    async stop() {
      const stopping = Date.now();
      await proc.stop();
      announce('gcp-sm-emulator', 'stopped', proc, port, stopping);
    },
    async start() {
      const starting = Date.now();
      await proc.stop(); // a no-op when stop() already ran
      proc = await launch();
      announce('gcp-sm-emulator', 'started again (empty)', proc, port, starting);
    },
  };
}

/**
 * Options for `new SecretManagerServiceClient(...)` that talk plaintext gRPC to the emulator
 * at `endpoint` (`host:port`). With `sslCreds` set, google-gax uses them as they are and asks
 * google-auth for no token; even so, set `METADATA_SERVER_DETECTION=none` in the environment
 * (test/setup/runtime.ts does) so google-auth never probes the cloud metadata address.
 */
export function gcpClientOptions(endpoint: string): {
  apiEndpoint: string;
  port: number;
  sslCreds: ChannelCredentials;
} {
  const separator = endpoint.lastIndexOf(':');
  const port = Number(endpoint.slice(separator + 1));
  if (separator <= 0 || !Number.isInteger(port)) throw new Error(`expected host:port, got ${endpoint}`);
  return { apiEndpoint: endpoint.slice(0, separator), port, sslCreds: credentials.createInsecure() };
}

/**
 * Config for an AWS SDK v3 client (Secrets Manager, SSM, STS) pointed at moto. moto checks
 * no signatures; fixed fake credentials keep the SDK from searching the machine for real ones.
 */
export function awsClientConfig(endpoint: string): {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
} {
  return {
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// Tests must show that real processes ran: one line per start, reset and stop.
function announce(
  name: string,
  what: string,
  proc: ManagedProcess,
  port: number,
  since: number,
  host = '127.0.0.1',
): void {
  const seconds = ((Date.now() - since) / 1000).toFixed(1);
  process.stdout.write(`[harness] ${name} ${what} pid=${proc.pid} on ${host}:${port} in ${seconds}s\n`);
}

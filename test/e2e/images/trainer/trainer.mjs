// The end-to-end tests' training Job. It reads the credentials mlsecrets projected into the pod
// (files under MLSECRETS_CREDENTIALS_DIR, and env vars), fetches one object from an
// S3-compatible endpoint with them, and exits 0 only if that worked.
//
// It never prints a credential: only its fingerprint, the first 12 hex digits of the SHA-256
// of its bytes, which a test computes the same way from the value it expects. Every output
// line is one JSON object ({"event": ...}).
//
//   TRAINER_MODE               run (default): fetch once and exit; watch: print a line each
//                              time a mounted credential file changes, until SIGTERM;
//                              featurestore: log in to PostgreSQL with the mounted
//                              username/password, query, wait for /tmp/finish, query again, exit
//   PGHOST, PGPORT             featurestore: the database (PGDATABASE default postgres)
//   MLSECRETS_CREDENTIALS_DIR  default /var/run/secrets/mlsecrets; files in it and in its
//                              subdirectories (one per SecretBinding) count, named by key
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//                              used when no file of that name is mounted (`as: env`)
//   S3_ENDPOINT, S3_BUCKET, S3_KEY, AWS_REGION (default us-east-1)
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { clearInterval, setInterval, setTimeout } from 'node:timers';
import { S3Client, GetObjectCommand } from '@aws-sdk/client-s3';
import pg from 'pg';

const CREDENTIAL_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];
const credentialsDir = process.env.MLSECRETS_CREDENTIALS_DIR || '/var/run/secrets/mlsecrets';
const POLL_MS = 100;

/** Values seen so far: any of them found in an output line is replaced by its fingerprint. */
const secrets = new Set();

const fingerprint = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 12);

function redact(text) {
  for (const value of secrets)
    if (value.length >= 4) text = text.replaceAll(value, `<${fingerprint(value)}>`);
  return text;
}

function emit(event, fields = {}) {
  const line = { event, ts: new Date().toISOString() };
  for (const [name, value] of Object.entries(fields))
    line[name] = typeof value === 'string' ? redact(value) : value;
  console.log(JSON.stringify(line));
}

/**
 * The mounted credential files, by path relative to the directory. A secret volume also holds
 * `..data` and timestamped `..2024_…` directories (its atomic-swap machinery): skipped, the
 * per-key names link through them.
 */
function readMounted() {
  const files = new Map();
  const walk = (dir, depth) => {
    if (!fs.existsSync(dir)) return;
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith('..')) continue;
      const full = path.join(dir, name);
      const stat = fs.statSync(full, { throwIfNoEntry: false });
      if (stat?.isDirectory() && depth === 0) walk(full, 1);
      else if (stat?.isFile()) files.set(path.relative(credentialsDir, full), fs.readFileSync(full));
    }
  };
  walk(credentialsDir, 0);
  for (const bytes of files.values()) secrets.add(bytes.toString());
  return files;
}

/** The AWS credentials: a mounted file of the key's name wins over the env var. */
function awsCredentials(files) {
  const found = {};
  for (const key of CREDENTIAL_KEYS) {
    const file = [...files.keys()].sort().find((rel) => path.basename(rel) === key);
    const value = file !== undefined ? files.get(file).toString() : process.env[key];
    if (!value) continue;
    secrets.add(value);
    found[key] = value;
    emit('credential', {
      name: key,
      source: file !== undefined ? `file:${file}` : 'env',
      sha256: fingerprint(value),
    });
  }
  return found;
}

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function run() {
  const files = readMounted();
  for (const [rel, bytes] of files) emit('file', { file: rel, sha256: fingerprint(bytes) });
  const creds = awsCredentials(files);
  if (!creds.AWS_ACCESS_KEY_ID || !creds.AWS_SECRET_ACCESS_KEY) {
    throw new Error(`no AWS credentials in ${credentialsDir} or the environment`);
  }
  const bucket = required('S3_BUCKET');
  const key = required('S3_KEY');
  // Required, not defaulted: without it the SDK would call AWS itself.
  const endpoint = required('S3_ENDPOINT');
  const s3 = new S3Client({
    endpoint,
    region: process.env.AWS_REGION || 'us-east-1',
    forcePathStyle: true,
    // Emulators do not all implement the SDK's default CRC32 checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The SDK's retries: a pod that starts right after its node can see a first request fail.
    maxAttempts: 3,
    credentials: {
      accessKeyId: creds.AWS_ACCESS_KEY_ID,
      secretAccessKey: creds.AWS_SECRET_ACCESS_KEY,
      ...(creds.AWS_SESSION_TOKEN && { sessionToken: creds.AWS_SESSION_TOKEN }),
    },
  });
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = Buffer.from(await object.Body.transformToByteArray());
    emit('object', { bucket, key, size: body.length, sha256: fingerprint(body) });
  } finally {
    s3.destroy();
  }
}

/** Logs in with the mounted database user, as a feature-store reader would, and queries. */
async function featureStore() {
  const files = readMounted();
  const pick = (key) => [...files].find(([rel]) => path.basename(rel) === key)?.[1]?.toString();
  const user = pick('username');
  const password = pick('password');
  if (!user || !password) throw new Error(`no username/password in ${credentialsDir}`);
  const query = async (when) => {
    const client = new pg.Client({
      user,
      password,
      database: process.env.PGDATABASE || 'postgres',
      connectionTimeoutMillis: 5000,
    });
    await client.connect();
    try {
      const result = await client.query('select current_user as who');
      emit('query', { when, user: fingerprint(result.rows[0].who) });
    } finally {
      await client.end();
    }
  };
  await query('start');
  // The test lets the Job finish once it has seen the user at work.
  while (!fs.existsSync('/tmp/finish')) await new Promise((r) => setTimeout(r, 200));
  await query('end');
}

function watch() {
  let last = new Map();
  const poll = () => {
    let mounted;
    try {
      mounted = readMounted();
    } catch (err) {
      // The kubelet swapped the volume's contents between listing and reading: next poll.
      if (err.code === 'ENOENT') return;
      throw err;
    }
    const now = new Map([...mounted].map(([rel, bytes]) => [rel, fingerprint(bytes)]));
    for (const [rel, sha256] of now) {
      if (!last.has(rel)) emit('file', { file: rel, sha256 });
      else if (last.get(rel) !== sha256) emit('changed', { file: rel, sha256 });
    }
    for (const rel of last.keys()) if (!now.has(rel)) emit('removed', { file: rel });
    last = now;
  };
  poll();
  const timer = setInterval(poll, POLL_MS);
  // PID 1 in its container: without handlers the signals would be ignored until SIGKILL.
  const stop = () => {
    clearInterval(timer);
    emit('stopped');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

const mode = process.env.TRAINER_MODE || 'run';
if (mode === 'watch') {
  watch();
} else if (mode === 'run' || mode === 'featurestore') {
  process.once('SIGTERM', () => process.exit(143));
  try {
    await (mode === 'run' ? run() : featureStore());
    emit('done');
  } catch (err) {
    emit('error', { name: err?.name, message: err?.message, status: err?.$metadata?.httpStatusCode });
    process.exitCode = 1;
  }
} else {
  emit('error', { message: `unknown TRAINER_MODE ${mode} (run, watch or featurestore)` });
  process.exitCode = 2;
}

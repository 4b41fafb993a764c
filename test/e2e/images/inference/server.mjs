// The end-to-end tests' inference Deployment: an HTTP server that answers with the fingerprint
// of the API key it was started with, so a test can tell which credential each replica holds
// (and that a rollout replaced them all) without any value leaving the pod.
//
//   GET /         200 {"fingerprint": <first 12 hex digits of SHA-256 of the key>, "pod": HOSTNAME}
//   GET /healthz  200 while serving, 503 once shutting down (the readiness probe)
//   PORT                 default 8080
//   API_KEY_ENV          the env var holding the key (default API_KEY); required at start
//   SHUTDOWN_DELAY_MS    default 2000
//
// On SIGTERM it fails readiness at once, keeps serving for SHUTDOWN_DELAY_MS while the
// endpoint is taken out of rotation, then stops accepting connections and exits once the
// requests in flight are answered: a rolling update loses no request.
import { createHash } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { URL } from 'node:url';

const port = Number(process.env.PORT || 8080);
const keyEnv = process.env.API_KEY_ENV || 'API_KEY';
const shutdownDelayMs = Number(process.env.SHUTDOWN_DELAY_MS || 2000);
// Past this, connections still open after close() are cut so the pod does not hang.
const FORCE_EXIT_MS = 10_000;

const log = (event, fields = {}) =>
  console.log(JSON.stringify({ event, ts: new Date().toISOString(), ...fields }));

const apiKey = process.env[keyEnv];
if (!apiKey) {
  log('error', { message: `${keyEnv} is not set` });
  process.exit(1);
}
const fingerprint = createHash('sha256').update(apiKey).digest('hex').slice(0, 12);
let shuttingDown = false;

function reply(res, status, body) {
  // While draining, keep-alive clients are told to reconnect, to a replica that stays.
  if (shuttingDown) res.setHeader('connection', 'close');
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET') return reply(res, 405, { error: 'method not allowed' });
  if (url.pathname === '/') return reply(res, 200, { fingerprint, pod: os.hostname() });
  if (url.pathname === '/healthz') {
    return shuttingDown ? reply(res, 503, { status: 'shutting down' }) : reply(res, 200, { status: 'ok' });
  }
  return reply(res, 404, { error: 'not found' });
});

function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log('draining', { signal, delayMs: shutdownDelayMs });
  setTimeout(() => {
    server.close(() => {
      log('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), FORCE_EXIT_MS).unref();
  }, shutdownDelayMs);
}

// PID 1 in its container: without handlers the signals would be ignored until SIGKILL.
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.listen(port, () => log('listening', { port, keyEnv, fingerprint }));

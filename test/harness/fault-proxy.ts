// A small HTTP reverse proxy of ours in front of an emulator (moto), with switchable faults:
// pass, throttle (AWS's ThrottlingException, as the SDK expects it), 5xx, reset (the connection
// closed without an answer), blackhole (never answered), and added latency. It logs every
// request (time, AWS operation, what it answered) so a test can count calls per minute.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';

/** What the proxy does with the next requests. */
export type FaultMode =
  | { kind: 'pass' }
  /** AWS throttling: HTTP 400 ThrottlingException (JSON protocol) or Throttling (query protocol). */
  | { kind: 'throttle' }
  /** A server error: 500 InternalServiceError or 503 ServiceUnavailable. */
  | { kind: 'error'; status: 500 | 503 }
  /** The connection is closed without an answer (what a dead or restarting endpoint looks like). */
  | { kind: 'reset' }
  /** The request is held and never answered (a black-holed endpoint). */
  | { kind: 'blackhole' };

/** One request as the proxy saw it. */
export interface ProxyRecord {
  /** Epoch ms at which the request arrived. */
  at: number;
  /** `X-Amz-Target` (JSON protocol, e.g. `secretsmanager.BatchGetSecretValue`) or `Action=` (query protocol). */
  operation: string;
  /** The remote keys (names, never values) the request names: SecretId(List), Name(s). */
  keys: string[];
  mode: FaultMode['kind'];
  /** The status answered, or what happened instead. */
  outcome: number | 'reset' | 'blackholed' | 'upstream-down';
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: point clients here instead of at the emulator. */
  readonly endpoint: string;
  readonly port: number;
  /** Every request so far, oldest first. */
  readonly records: readonly ProxyRecord[];
  setMode(mode: FaultMode): void;
  /** Delays every request by this long before handling it (0: none). */
  setLatency(ms: number): void;
  /** Records in [fromMs, toMs) whose operation matches `operation` (a substring; all when omitted). */
  between(fromMs: number, toMs: number, operation?: string): ProxyRecord[];
  close(): Promise<void>;
}

/**
 * Starts the proxy on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`).
 * When the upstream is down in `pass` mode, the client's connection is closed without an
 * answer, as if it had reached the dead endpoint itself.
 */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  let mode: FaultMode = { kind: 'pass' };
  let latencyMs = 0;
  const records: ProxyRecord[] = [];
  const sockets = new Set<net.Socket>();
  const agent = new http.Agent({ keepAlive: true });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const record: ProxyRecord = {
        at: Date.now(),
        operation: operationOf(req, body),
        keys: keysOf(body),
        mode: mode.kind,
        outcome: 0,
      };
      records.push(record);
      const current = mode;
      const handle = () => {
        if (current.kind === 'blackhole') {
          record.outcome = 'blackholed';
          return; // the socket is destroyed when the client gives up, or at close()
        }
        if (current.kind === 'reset') {
          record.outcome = 'reset';
          req.socket.destroy();
          return;
        }
        if (current.kind === 'throttle' || current.kind === 'error') {
          const error = awsError(current, req);
          record.outcome = error.status;
          res.writeHead(error.status, error.headers).end(error.body);
          return;
        }
        const headers = { ...req.headers, host: target.host };
        const forward = http.request(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers,
            agent,
          },
          (answer) => {
            record.outcome = answer.statusCode ?? 0;
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => {
          record.outcome = 'upstream-down';
          req.socket.destroy();
        });
        forward.end(body);
      };
      if (latencyMs > 0) setTimeout(handle, latencyMs);
      else handle();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    records,
    setMode(next) {
      mode = next;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    between(fromMs, toMs, operation) {
      return records.filter(
        (r) => r.at >= fromMs && r.at < toMs && (operation === undefined || r.operation.includes(operation)),
      );
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The AWS operation a request asks for, from its `X-Amz-Target` header or its `Action=` form field. */
export function operationOf(req: http.IncomingMessage, body: Buffer): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target;
  const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString('utf8'))?.[1];
  return action ? `query.${action}` : `${req.method} ${req.url}`;
}

/** The keys a JSON-protocol request names (Secrets Manager's SecretId(List), SSM's Name(s)). */
export function keysOf(body: Buffer): string[] {
  try {
    const input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const keys = [input.SecretId, input.SecretIdList, input.Name, input.Names].flat();
    return keys.filter((k): k is string => typeof k === 'string');
  } catch {
    return [];
  }
}

/**
 * An error answer in the shape the AWS SDK parses: JSON protocol (Secrets Manager, SSM) when the
 * request named an `X-Amz-Target`, else the query protocol's XML (STS).
 */
function awsError(
  mode: Extract<FaultMode, { kind: 'throttle' | 'error' }>,
  req: http.IncomingMessage,
): { status: number; headers: http.OutgoingHttpHeaders; body: string } {
  const status = mode.kind === 'throttle' ? 400 : mode.status;
  const json = typeof req.headers['x-amz-target'] === 'string';
  const code =
    mode.kind === 'throttle'
      ? json
        ? 'ThrottlingException'
        : 'Throttling'
      : status === 503
        ? json
          ? 'ServiceUnavailableException'
          : 'ServiceUnavailable'
        : json
          ? 'InternalServiceError'
          : 'InternalFailure';
  const message = mode.kind === 'throttle' ? 'Rate exceeded' : 'injected by the fault proxy';
  const requestId = randomUUID();
  if (json) {
    return {
      status,
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-errortype': `${code}:http://internal.amazon.com/coral/com.amazonaws.fault/`,
        'x-amzn-requestid': requestId,
      },
      body: JSON.stringify({ __type: code, message }),
    };
  }
  return {
    status,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
    body:
      `<ErrorResponse><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${code}</Code>` +
      `<Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
}

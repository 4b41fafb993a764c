// The audit webhook's endpoint: kube-apiserver posts batches of audit events here. It answers
// at once and judges the reads afterwards, so a burst never holds the API server's batch
// sender; reads beyond the queue's bound are dropped and counted, never waited for.
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { Fifo } from '../runtime/fifo.ts';
import { secretReadsOf, type SecretRead } from './audit-event.ts';

/** A batch is at most --audit-webhook-batch-max-size events (400 by default) of ~1 KiB. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Reads judged per turn of the event loop before yielding to other work (the pod webhook). */
const PER_TURN = 200;

export interface AuditReceiverOptions {
  /** The bearer token the API server's webhook kubeconfig presents; re-asked on a mismatch. */
  token(): Promise<string | undefined>;
  /** Judges one read (access-monitor.ts). */
  judge(read: SecretRead): Promise<void> | void;
  /** Reads held at most; more are dropped (counted). */
  capacity?: number;
  observer?: AuditReceiverObserver;
}

export interface AuditReceiverObserver {
  received(reads: number): void;
  dropped(reads: number): void;
  rejected(reason: 'unauthorized' | 'malformed' | 'too-large'): void;
  queued(depth: number): void;
  /** A judge threw: a defect, logged by the caller. */
  failed(error: unknown): void;
}

export class AuditReceiver {
  private readonly options: AuditReceiverOptions;
  private readonly capacity: number;
  private readonly queue = new Fifo<SecretRead>();
  private depth = 0;
  private draining = false;
  private idle: Array<() => void> = [];

  constructor(options: AuditReceiverOptions) {
    this.options = options;
    this.capacity = options.capacity ?? 10_000;
  }

  /** The HTTP handler of POST /audit. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const presented = bearer(req.headers.authorization);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      void this.accept(presented, size, chunks).then(
        (code) => res.writeHead(code).end(),
        () => res.writeHead(500).end(),
      );
    });
  }

  /** Resolves once every queued read has been judged (tests and shutdown). */
  drained(): Promise<void> {
    if (this.depth === 0 && !this.draining) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  get queueDepth(): number {
    return this.depth;
  }

  private async accept(presented: string | undefined, size: number, chunks: Buffer[]): Promise<number> {
    const observer = this.options.observer;
    if (!(await this.authorized(presented))) {
      observer?.rejected('unauthorized');
      return 401;
    }
    if (size > MAX_BODY_BYTES) {
      observer?.rejected('too-large');
      return 413;
    }
    let reads: SecretRead[];
    try {
      reads = secretReadsOf(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    } catch {
      observer?.rejected('malformed');
      return 400;
    }
    this.enqueue(reads);
    return 200;
  }

  /** Queues reads up to the bound; the rest are dropped and counted. */
  enqueue(reads: SecretRead[]): void {
    const observer = this.options.observer;
    observer?.received(reads.length);
    const room = Math.max(0, this.capacity - this.depth);
    const taken = Math.min(room, reads.length);
    for (let i = 0; i < taken; i++) this.queue.push(reads[i]!);
    this.depth += taken;
    if (taken < reads.length) observer?.dropped(reads.length - taken);
    observer?.queued(this.depth);
    if (taken > 0 && !this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    const observer = this.options.observer;
    let turn = 0;
    for (let read = this.queue.shift(); read; read = this.queue.shift()) {
      this.depth--;
      try {
        await this.options.judge(read);
      } catch (error) {
        observer?.failed(error);
      }
      if (++turn % PER_TURN === 0) {
        observer?.queued(this.depth);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    this.draining = false;
    observer?.queued(this.depth);
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private async authorized(presented: string | undefined): Promise<boolean> {
    if (!presented) return false;
    const expected = await this.options.token();
    return expected !== undefined && sameSecret(presented, expected);
  }
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Constant-time comparison of two strings of any length (through their digests). */
export function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

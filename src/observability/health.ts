import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InformerHealth } from '../runtime/informer.ts';

/** A named check: undefined when healthy, else what is wrong. */
export type Check = () => string | undefined;

/** /healthz is liveness (restart me), /readyz is readiness (send me work). */
export interface HealthChecks {
  live: Check[];
  ready: Check[];
}

/**
 * Liveness of the informers: a stopped informer, or one that has seen nothing (not even a
 * bookmark) for longer than its bound, fails /healthz so that Kubernetes restarts the pod
 * instead of letting it serve stale data from a dead watch.
 */
export function informersLive(
  list: () => InformerHealth[],
  now: () => number,
  silenceBoundMs: number,
): Check {
  return () => {
    const bad = list().filter((i) => !i.running || (i.synced && now() - i.lastActivityAt > silenceBoundMs));
    return bad.length === 0 ? undefined : `informers not healthy: ${bad.map((i) => i.name).join(', ')}`;
  };
}

/**
 * Readiness of the pod webhook: a replica joins the webhook Service only once it listens with
 * its certificate and has registered the caBundle. Ready before that, kube-proxy would send
 * it admission requests it refuses, and `failurePolicy: Ignore` admits those pods uninjected.
 */
export function webhookServing(enabled: boolean, serving: () => boolean): Check {
  return () => (!enabled || serving() ? undefined : 'pod webhook not serving yet');
}

export function informersSynced(list: () => InformerHealth[]): Check {
  return () => {
    const waiting = list().filter((i) => !i.synced);
    return waiting.length === 0 ? undefined : `caches not synced: ${waiting.map((i) => i.name).join(', ')}`;
  };
}

/** Serves /healthz and /readyz; resolves with the bound port. */
export async function serveHealth(
  address: { host?: string; port: number },
  checks: HealthChecks,
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const list =
      path === '/healthz' || path === '/livez' ? checks.live : path === '/readyz' ? checks.ready : undefined;
    if (!list) {
      res.writeHead(404).end('not found\n');
      return;
    }
    const problems = list.map((check) => check()).filter((p): p is string => p !== undefined);
    res.writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(problems.length === 0 ? 'ok\n' : `${problems.join('\n')}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

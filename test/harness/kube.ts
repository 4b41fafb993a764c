import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { recordText } from './leak-run.ts';
import { testEnv } from './test-env.ts';

/** A KubeConfig for the run's control plane (admin identity). */
export function testKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(testEnv('kubeconfig'));
  return kc;
}

/** A token of the service account `namespace/name` (TokenRequest, an hour, the API server's audience). */
export async function serviceAccountToken(
  admin: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<string> {
  const answer = await admin.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  return answer.status!.token!;
}

/** A KubeConfig that authenticates as `namespace/name` with a TokenRequest token (an hour). */
export async function serviceAccountKubeConfig(
  admin: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<k8s.KubeConfig> {
  const token = await serviceAccountToken(admin, namespace, name);
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...admin.getCurrentCluster()!, name: 'test' }],
    users: [{ name, token }],
    contexts: [{ name: 'sa', cluster: 'test', user: name }],
    currentContext: 'sa',
  });
  return kc;
}

/** A fresh namespace per test file keeps files independent on the shared control plane. */
export async function createTestNamespace(
  core: k8s.CoreV1Api,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({
    body: { metadata: { name, labels: { 'mlsecrets.io/test': 'true', ...labels } } },
  });
  return name;
}

/** Runs the real kubectl against the run's control plane and returns its stdout. */
export function kubectl(...args: string[]): string {
  return execFileSync('kubectl', ['--kubeconfig', testEnv('kubeconfig'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Polls `read` until `accept` holds on its result, or fails with the last value seen. */
export async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  { timeoutMs = 20_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (accept(last)) return last;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  if (lastError !== undefined) recordText(`error seen by eventually (${what})`, String(lastError));
  const seen = last === undefined ? String(lastError) : JSON.stringify(last).slice(0, 2000);
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last seen: ${seen}`);
}

/** True when `error` is a client-node ApiException with the given HTTP status. */
export function isStatus(error: unknown, code: number): boolean {
  return error instanceof k8s.ApiException && error.code === code;
}

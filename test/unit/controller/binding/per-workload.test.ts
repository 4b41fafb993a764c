// PerWorkload Secrets tell onNewData (--refresh-mounted-pods) when a renewal gives a running
// workload's pods data they did not have, and only then.
import { effectiveLifetime } from '../../../../src/api/defaults.ts';
import { ISSUED_AT_ANNOTATION } from '../../../../src/api/labels.ts';
import type { SecretBinding } from '../../../../src/api/types.ts';
import type { Workload } from '../../../../src/controller/binding/deps.ts';
import { LeaseBook } from '../../../../src/controller/binding/leases.ts';
import { reconcilePerWorkload } from '../../../../src/controller/binding/per-workload.ts';
import { silentLogger } from '../../../../src/observability/logger.ts';
import { DataHasher } from '../../../../src/data/data-hash.ts';
import type { StoreHandle } from '../../../../src/fetch/fetcher.ts';
import type { SecretObject, SecretWriter } from '../../../../src/kube/kube-client.ts';

const NS = 'ml-team';
const START = Date.parse('2025-01-01T00:00:00Z');
const HOUR = 3600_000;

const binding: SecretBinding = {
  apiVersion: 'mlsecrets.io/v1alpha1',
  kind: 'SecretBinding',
  metadata: { name: 'wandb', namespace: NS, uid: 'binding-uid', generation: 1 },
  spec: {
    storeRef: { name: 'store' },
    data: [{ secretKey: 'WANDB_API_KEY', remoteRef: { key: 'ml/wandb' } }],
    lifetime: { ttl: '3h', refreshInterval: '1h' },
    projection: { scope: 'PerWorkload' },
  },
} as SecretBinding;

const job: Workload = { apiVersion: 'batch/v1', kind: 'Job', name: 'train-1', uid: 'job-uid' };

/** Applied Secrets by name, as the managed cache would hand them back. */
class FakeSecrets implements SecretWriter {
  readonly secrets = new Map<string, SecretObject>();
  async getSecret(): Promise<SecretObject | undefined> {
    return undefined;
  }
  async applySecret(secret: SecretObject): Promise<void> {
    this.secrets.set(secret.metadata.name!, structuredClone(secret));
  }
  async removeSecretKeys(): Promise<void> {}
  async deleteSecret(_namespace: string, name: string): Promise<void> {
    this.secrets.delete(name);
  }
}

test('a renewal with new data tells onNewData the Secret; a first issue or a renewal with the same data does not', async () => {
  const writer = new FakeSecrets();
  const told: string[] = [];
  let value = 'wandb-PLANTED-1';
  const run = (now: number) =>
    reconcilePerWorkload({
      binding,
      lifetime: effectiveLifetime(binding),
      now,
      workloads: [job],
      issued: [...writer.secrets.values()],
      secrets: writer,
      leases: new LeaseBook({ status: { patchStatus: async () => undefined }, logger: silentLogger() }),
      hasher: new DataHasher(Buffer.alloc(32, 7)),
      read: async () => ({
        handle: {} as StoreHandle,
        assembled: { data: { WANDB_API_KEY: Buffer.from(value) }, sources: [] },
      }),
      event: () => undefined,
      writeStatus: async () => undefined,
      listener: { providerCall: () => undefined },
      onNewData: (secretName) => told.push(secretName),
    });

  await run(START);
  expect(writer.secrets.has('wandb-train-1')).toBe(true);
  expect(told).toEqual([]);

  // Renewed at 2/3 of the 3h ttl with the same data: the pods already have it.
  await run(START + 2 * HOUR);
  expect(writer.secrets.get('wandb-train-1')!.metadata.annotations![ISSUED_AT_ANNOTATION]).toBe(
    '2025-01-01T02:00:00Z',
  );
  expect(told).toEqual([]);

  value = 'wandb-PLANTED-2';
  await run(START + 2 * HOUR + 1);
  expect(told).toEqual(['wandb-train-1']);
  expect(JSON.stringify(told)).not.toContain('PLANTED');
});

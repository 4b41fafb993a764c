// Fault: the Google Secret Manager emulator stopped for a minute (issue #10, fault 1, GCP side).
// The provider talks gRPC: a channel whose server went away reconnects with a backoff of its
// own, so this checks that, a minute later, the binding still recovers within its backoff once
// the store is back. Secrets kept meanwhile, Ready=False with the reason, bounded retries.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { gcpClientOptions, startGcpEmulator, type GcpEmulator } from '../harness/emulators.ts';
import { eventually } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import { startPrivateCluster, type PrivateCluster } from '../harness/private-cluster.ts';
import {
  createBinding,
  createStore,
  eventsFor,
  getBinding,
  secretData,
  waitForReady,
} from '../harness/resources.ts';

const namespace = 'gcp-outage-team';
const project = 'mlsecrets-fault';
const REFRESH_S = 5;
const OUTAGE_S = 60;
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-gcp-outage-'));
let cluster: PrivateCluster;
let emulator: GcpEmulator;
let client: SecretManagerServiceClient;
let op: TestOperator | undefined;
const before = plant('gcp-before');
const after = plant('gcp-after');

async function put(value: string): Promise<void> {
  await client
    .createSecret({
      parent: `projects/${project}`,
      secretId: 'token',
      secret: { replication: { automatic: {} } },
    })
    .catch((error: { code?: number }) => {
      if (error.code !== 6) throw error; // ALREADY_EXISTS
    });
  await client.addSecretVersion({
    parent: `projects/${project}/secrets/token`,
    payload: { data: Buffer.from(value) },
  });
}

/** When each failed reconcile of `name` happened (one log line per failure). */
function failureTimes(name: string, from: number, to: number): number[] {
  return op!.logs
    .filter((line) => line.includes('binding not synced'))
    .map((line) => JSON.parse(line) as { binding?: string; timestamp?: string })
    .filter((entry) => entry.binding === `${namespace}/${name}`)
    .map((entry) => Date.parse(entry.timestamp ?? ''))
    .filter((at) => at >= from && at < to);
}

beforeAll(async () => {
  cluster = await startPrivateCluster([namespace]);
  emulator = await startGcpEmulator(logDir);
  client = new SecretManagerServiceClient(gcpClientOptions(emulator.endpoint));
  await put(before);
  await createStore(
    cluster.c,
    'SecretStore',
    'gcp',
    { provider: { gcp: { projectID: project, endpoint: emulator.endpoint } } },
    namespace,
  );
  op = await startTestOperator({ namespaces: [namespace], kubeConfig: cluster.kc });
  await createBinding(cluster.c, namespace, 'model-token', {
    storeRef: { name: 'gcp' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: 'token' } }],
    lifetime: { ttl: '1h', refreshInterval: `${REFRESH_S}s` },
  });
  await waitForReady(cluster.c, namespace, 'model-token', {}, 60_000);
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await client?.close();
  await emulator?.stop();
  await cluster?.stop();
});

test('GCP emulator stopped for a minute: Secret kept, Ready=False, bounded retries, recovery after gRPC reconnects', async () => {
  const c = cluster.c;
  expect(await secretData(c, namespace, 'model-token')).toEqual({ TOKEN: before });
  await emulator.stop();
  const downAt = Date.now();
  const ready = await waitForReady(
    c,
    namespace,
    'model-token',
    { status: 'False', reason: 'ProviderUnavailable' },
    (REFRESH_S + 20) * 1000,
  );
  const toNotReady = (Date.now() - downAt) / 1000;
  expect(ready.status?.conditions?.find((x) => x.type === 'Ready')?.message).toMatch(
    /the last good Secret is kept until/,
  );
  // Kept all along (checked every second).
  while (Date.now() < downAt + OUTAGE_S * 1000) {
    expect(await secretData(c, namespace, 'model-token')).toEqual({ TOKEN: before });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  // Back on the same port, empty: seeded with a new value to show it is read.
  await emulator.start();
  await put(after);
  const backAt = Date.now();
  const failures = failureTimes('model-token', downAt, backAt);
  const gaps = failures.slice(1).map((t, i) => Number(((t - failures[i]!) / 1000).toFixed(1)));
  const lastGap = gaps.at(-1) ?? 0;
  const backoffNow = Math.min(300, 2 * lastGap * 1.5);
  await eventually(
    async () =>
      [await secretData(c, namespace, 'model-token'), await getBinding(c, namespace, 'model-token')] as const,
    ([data, binding]) =>
      data?.TOKEN === after && binding.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True',
    {
      timeoutMs: (backoffNow + REFRESH_S + 30) * 1000,
      what: 'Ready=True with the new value after the emulator is back',
    },
  );
  const recovery = (Date.now() - backAt) / 1000;
  const warnings = (await eventsFor(c, namespace, 'model-token')).filter((e) => e.type === 'Warning');
  const outage = (backAt - downAt) / 1000;
  console.log(
    `[fault] GCP emulator stopped ${outage.toFixed(0)}s: Ready=False (ProviderUnavailable) after ${toNotReady.toFixed(1)}s; ` +
      `${failures.length} failed reconciles (${((failures.length * 60) / outage).toFixed(1)}/min), gaps (s) ${JSON.stringify(gaps)}; ` +
      `recovered with the new value ${recovery.toFixed(1)}s after it was back (backoff then ≤ ${backoffNow.toFixed(0)}s); ` +
      `${warnings.reduce((n, e) => n + (e.count ?? 1), 0)} Warning Events`,
  );
  expect(toNotReady).toBeLessThanOrEqual(REFRESH_S + 15);
  expect(failures.length).toBeGreaterThanOrEqual(3);
  expect(failures.length).toBeLessThanOrEqual(Math.ceil(Math.log2(outage / 0.4)) + 3);
  expect(recovery).toBeLessThanOrEqual(backoffNow + REFRESH_S + 20);
  expect(warnings.reduce((n, e) => n + (e.count ?? 1), 0)).toBeLessThanOrEqual(3);
}, 240_000);

test('no value leaked', async () => {
  const outputs = await operatorOutputs(cluster.c, [namespace]);
  outputs['operator logs'] = op!.logs.join('\n');
  outputs['audit'] = JSON.stringify(op!.audit);
  expect(findLeaks(outputs)).toEqual([]);
});

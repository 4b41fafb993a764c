// Fault: the provider goes away (issue #10, fault 1). A private control plane and a private moto
// behind our fault proxy; three bindings refreshing every 5 s. Three outages in a row: moto
// killed for a minute, then throttling, then 5xx answers through the proxy. Throughout, a poller
// checks that no managed Secret is deleted or emptied (except the onExpiry: Delete one after its
// ttl); each outage must show Ready=False with its reason within about one refresh, a Warning
// Event, bounded calls with growing, jittered gaps (printed), and recovery with the new remote
// value within one backoff period after the store is back.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { SecretStoreSpec } from '../../src/api/types.ts';
import { awsClientConfig, startMoto, type Emulator } from '../harness/emulators.ts';
import { startFaultProxy, type FaultMode, type FaultProxy } from '../harness/fault-proxy.ts';
import { eventually } from '../harness/kube.ts';
import { findLeaks, operatorOutputs, plant } from '../harness/leaks.ts';
import { startTestOperator, type TestOperator } from '../harness/operator.ts';
import { startPrivateCluster, type PrivateCluster } from '../harness/private-cluster.ts';
import {
  createBinding,
  createStore,
  eventsFor,
  getBinding,
  putSourceSecret,
  waitForReady,
} from '../harness/resources.ts';
import { isStatus } from '../harness/kube.ts';

const namespace = 'outage-team';
const REFRESH_S = 5;
/** Bindings that must keep their Secret whatever happens, and the remote key each reads. */
const steady = { 'steady-a': 'ml/a', 'steady-b': 'ml/b' } as const;
/** Short ttl, onExpiry: Delete: its Secret goes once the ttl passes without a renewal. */
const expiring = { name: 'expiring', key: 'ml/exp', ttlS: 30 };
const keys = [...Object.values(steady), expiring.key];
/** The backoff of the operator's work queue (src/controller/work-queue.ts defaults). */
const BASE_DELAY_S = 0.5;
const SDK_ATTEMPTS = 2;

const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-provider-outage-'));
let cluster: PrivateCluster;
let moto: Emulator;
let proxy: FaultProxy;
let op: TestOperator | undefined;
const values: string[] = [];
/** What the poller saw go wrong; must stay empty. */
const violations: string[] = [];
let polling = true;
let poller: Promise<void> | undefined;
const expiryDeletions: number[] = [];

/** Writes `value` under every key, straight to moto (not through the proxy: only operator calls are logged). */
async function seed(value: string, create: boolean): Promise<void> {
  const sm = new SecretsManagerClient(awsClientConfig(moto.endpoint));
  try {
    for (const key of keys) {
      const SecretString = JSON.stringify({ token: value });
      if (create) await sm.send(new CreateSecretCommand({ Name: key, SecretString }));
      else await sm.send(new PutSecretValueCommand({ SecretId: key, SecretString }));
    }
  } finally {
    sm.destroy();
  }
}

function newValue(label: string): string {
  const value = plant(label);
  values.push(value);
  return value;
}

const sha = (data: Record<string, string> | undefined) =>
  createHash('sha256')
    .update(JSON.stringify(data ?? null))
    .digest('hex')
    .slice(0, 12);

/** Polls every managed Secret: present and whole (one of the values written), or gone only after expiry. */
async function poll(): Promise<void> {
  const c = cluster.c;
  const known = new Set<string>();
  while (polling) {
    for (const name of [...Object.keys(steady), expiring.name]) {
      try {
        const binding = await getBinding(c, namespace, name);
        const secret = await c.core.readNamespacedSecret({ namespace, name }).catch((error: unknown) => {
          if (isStatus(error, 404)) return undefined;
          throw error;
        });
        const data = secret?.data;
        const token = data?.TOKEN ? Buffer.from(data.TOKEN, 'base64').toString('utf8') : undefined;
        const expiresAt = Date.parse(binding.status?.expiresAt ?? '');
        if (!secret) {
          if (name !== expiring.name) violations.push(`${name}: Secret deleted`);
          else if (!(Date.now() >= expiresAt - 1_000))
            violations.push(`${name}: Secret deleted before its expiry ${binding.status?.expiresAt}`);
          else if (!known.has(`gone-${expiresAt}`)) {
            known.add(`gone-${expiresAt}`);
            expiryDeletions.push(Date.now() - expiresAt);
          }
        } else if (!token || !values.includes(token) || Object.keys(data ?? {}).length !== 1) {
          violations.push(`${name}: Secret emptied or mixed (data hash ${sha(data)})`);
        }
      } catch {
        // the API server is not what this test breaks; a failed poll is just skipped
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

beforeAll(async () => {
  cluster = await startPrivateCluster([namespace]);
  moto = await startMoto(logDir, { name: 'moto-outage' });
  proxy = await startFaultProxy(moto.endpoint);
  await seed(newValue('v1'), true);
  const c = cluster.c;
  await putSourceSecret(c, namespace, 'aws-creds', { id: 'testing', secret: 'testing' });
  const store: SecretStoreSpec = {
    provider: {
      aws: {
        service: 'SecretsManager',
        region: 'us-east-1',
        endpoint: proxy.endpoint,
        auth: {
          secretRef: {
            accessKeyID: { name: 'aws-creds', key: 'id' },
            secretAccessKey: { name: 'aws-creds', key: 'secret' },
          },
        },
      },
    },
  };
  // steady-b reads through a store of its own: the fetch layer batches the reads of one store
  // (and reads ahead for its other bindings), so only across stores are a binding's retries
  // its own in the call log, and the jitter between two bindings visible.
  await createStore(c, 'SecretStore', 'aws', store, namespace);
  await createStore(c, 'SecretStore', 'aws-b', store, namespace);
  op = await startTestOperator({ namespaces: [namespace], kubeConfig: cluster.kc });
  for (const [name, key] of Object.entries(steady)) {
    await createBinding(c, namespace, name, {
      storeRef: { name: name === 'steady-b' ? 'aws-b' : 'aws' },
      data: [{ secretKey: 'TOKEN', remoteRef: { key, property: 'token' } }],
      lifetime: { ttl: '1h', refreshInterval: `${REFRESH_S}s` },
    });
  }
  await createBinding(c, namespace, expiring.name, {
    storeRef: { name: 'aws' },
    data: [{ secretKey: 'TOKEN', remoteRef: { key: expiring.key, property: 'token' } }],
    lifetime: { ttl: `${expiring.ttlS}s`, refreshInterval: `${REFRESH_S}s`, onExpiry: 'Delete' },
  });
  for (const name of [...Object.keys(steady), expiring.name])
    await waitForReady(c, namespace, name, {}, 60_000);
  poller = poll();
}, 180_000);

afterAll(async () => {
  polling = false;
  await poller;
  await op?.stop();
  await proxy?.close();
  await moto?.stop();
  await cluster?.stop();
});

/** When each failed reconcile of `name` happened: the operator logs one line per failure. */
function failureTimes(name: string, from: number, to: number): number[] {
  const times: number[] = [];
  for (const line of op!.logs) {
    if (!line.includes('binding not synced')) continue;
    const entry = JSON.parse(line) as { binding?: string; timestamp?: string };
    const at = Date.parse(entry.timestamp ?? '');
    if (entry.binding === `${namespace}/${name}` && at >= from && at < to) times.push(at);
  }
  return times;
}

const gapsOf = (times: number[]) => times.slice(1).map((t, i) => (t - times[i]!) / 1000);

/**
 * The most reconciles of one binding that backoff allows in `seconds`: delays of 0.5 s doubling
 * (less 20% jitter) add up to `seconds` after about log2 of it steps; plus the refresh that found
 * the outage and slack for the loaded machine.
 */
function reconcileBound(seconds: number): number {
  return Math.ceil(Math.log2(seconds / (BASE_DELAY_S * 0.8))) + 3;
}

interface Outage {
  label: string;
  reason: string;
  begin(): Promise<void>;
  end(): Promise<void>;
  seconds: number;
}

/** Runs one outage and checks and prints everything the issue asks of it. */
async function outage(o: Outage, nextValue: string): Promise<void> {
  const c = cluster.c;
  const warningsBefore = await warningCount();
  const healthyFrom = Date.now() - 20_000;
  const healthyCalls = proxy.between(healthyFrom, Date.now()).length;
  const downAt = Date.now();
  await o.begin();
  const ready = await waitForReady(
    c,
    namespace,
    'steady-a',
    { status: 'False', reason: o.reason },
    (REFRESH_S + 20) * 1000,
  );
  const toNotReady = (Date.now() - downAt) / 1000;
  const readyCondition = ready.status?.conditions?.find((x) => x.type === 'Ready');
  expect(readyCondition?.message).toMatch(/the last good Secret is kept until/);
  await waitForReady(c, namespace, 'steady-b', { status: 'False', reason: o.reason }, 20_000);
  const warnings = await eventually(
    async () => (await eventsFor(c, namespace, 'steady-a')).filter((e) => e.type === 'Warning'),
    (w) =>
      w.some((e) => e.reason === 'ProviderError' && e.message === readyCondition?.message?.split(';')[0]),
    { timeoutMs: 10_000, what: 'a ProviderError Warning Event on steady-a' },
  );
  expect(warnings.length).toBeGreaterThan(0);
  // The remote value changes while the store is out: recovery must bring it.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, downAt + o.seconds * 1000 - Date.now())));
  const upAt = Date.now();
  await o.end();
  await seedAfter(o, nextValue);
  proxy.setMode({ kind: 'pass' });
  const backAt = Date.now();

  const outageSeconds = (backAt - downAt) / 1000;
  const calls = proxy.between(downAt, backAt);
  const perMinute = (calls.length * 60) / outageSeconds;
  // Backoff shows in the rate: the second half of the outage sees fewer calls than the first.
  // Halves of the time after the first failed call: the bindings notice the outage at their
  // next refresh, up to 5 s after it begins.
  const noticedAt = calls.find((r) => r.outcome !== 200)?.at ?? downAt;
  const half = noticedAt + (backAt - noticedAt) / 2;
  const [firstHalf, secondHalf] = [proxy.between(noticedAt, half), proxy.between(half, backAt)].map(
    (list) => (list.length * 120) / ((backAt - noticedAt) / 1000),
  );
  const bindings = [...Object.keys(steady), expiring.name];
  const failures = Object.fromEntries(bindings.map((name) => [name, failureTimes(name, downAt, backAt)]));
  const gaps = Object.fromEntries(bindings.map((name) => [name, gapsOf(failures[name]!)]));
  const lastGap = Math.max(...Object.values(gaps).map((g) => g.at(-1) ?? 0));
  // The delay in force when the store came back: twice the last one, give or take the jitter.
  const backoffNow = Math.min(300, 2 * lastGap * 1.5);
  // Jitter: the two steady bindings (on two stores) fail together at the first refresh of the
  // outage; with the same backoff they would retry in lockstep, jitter spreads their retries.
  const [a, b] = Object.keys(steady).map((name) => failures[name]!);
  const spread = Math.max(0, ...a!.slice(0, b!.length).map((t, k) => Math.abs(t - b![k]!) / 1000));
  // In lockstep the k-th gaps would be equal to the millisecond; jitter makes them differ.
  const [gapsA, gapsB] = [gapsOf(a!), gapsOf(b!)];
  const gapDifference = Math.max(0, ...gapsA.slice(0, gapsB.length).map((g, k) => Math.abs(g - gapsB[k]!)));
  const recoveredAfter: Record<string, number> = {};
  await Promise.all(
    bindings.map(async (name) => {
      await eventually(
        async () => [await getBinding(c, namespace, name), await secretToken(name)] as const,
        ([b, token]) =>
          token === nextValue && b.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True',
        { timeoutMs: (backoffNow + REFRESH_S + 30) * 1000, what: `${name} Ready=True with the new value` },
      );
      recoveredAfter[name] = Number(((Date.now() - backAt) / 1000).toFixed(1));
    }),
  );
  const recovery = (Date.now() - backAt) / 1000;
  const warningsDuring = (await warningCount()) - warningsBefore;
  console.log(
    `[fault] provider ${o.label}: ${outageSeconds.toFixed(0)}s out (${((backAt - upAt) / 1000).toFixed(1)}s of it restarting); ` +
      `Ready=False (${o.reason}) after ${toNotReady.toFixed(1)}s (refresh ${REFRESH_S}s); ` +
      `${calls.length} provider calls = ${perMinute.toFixed(1)}/min while out (${firstHalf!.toFixed(0)}/min in the first half, ${secondHalf!.toFixed(0)}/min in the second; the 20s before: ${((healthyCalls * 60) / 20).toFixed(1)}/min); ` +
      `retry gaps per binding (s): ${JSON.stringify(gaps, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toFixed(1)) : v))}; ` +
      `retries of steady-a and steady-b up to ${spread.toFixed(1)}s apart, their gaps up to ${gapDifference.toFixed(2)}s different (jitter); ` +
      `all recovered with the new value ${recovery.toFixed(1)}s after the store was back ${JSON.stringify(recoveredAfter)} (backoff then ≤ ${backoffNow.toFixed(0)}s); ` +
      `${warningsDuring} Warning Events`,
  );
  expect(toNotReady).toBeLessThanOrEqual(REFRESH_S + 15); // one refresh, plus the loaded machine
  // No tight loop: each binding reconciles at most as often as the backoff allows, each
  // reconcile at most SDK_ATTEMPTS calls (store checks add a few).
  const bound = keys.length * SDK_ATTEMPTS * reconcileBound(outageSeconds) + 10;
  expect(calls.length).toBeLessThanOrEqual(bound);
  for (const name of bindings) {
    expect(failures[name]!.length).toBeGreaterThanOrEqual(2); // it did retry
    expect(failures[name]!.length).toBeLessThanOrEqual(reconcileBound(outageSeconds));
  }
  expect(gapDifference).toBeGreaterThan(0.05);
  expect(secondHalf).toBeLessThan(firstHalf!);
  // Backoff: the gaps grow.
  expect(lastGap).toBeGreaterThanOrEqual(o.seconds / 8);
  expect(recovery).toBeLessThanOrEqual(backoffNow + REFRESH_S + 20);
  // No Events storm: a Warning when the reason changes, not one per retry.
  expect(warningsDuring).toBeLessThanOrEqual(3 * keys.length);
}

async function seedAfter(o: Outage, value: string): Promise<void> {
  // moto forgets everything when killed; otherwise the keys exist already.
  await seed(value, o.label.startsWith('moto killed'));
}

async function secretToken(name: string): Promise<string | undefined> {
  const secret = await cluster.c.core.readNamespacedSecret({ namespace, name }).catch(() => undefined);
  const token = secret?.data?.TOKEN;
  return token ? Buffer.from(token, 'base64').toString('utf8') : undefined;
}

async function warningCount(): Promise<number> {
  let total = 0;
  for (const name of [...Object.keys(steady), expiring.name]) {
    for (const e of await eventsFor(cluster.c, namespace, name))
      if (e.type === 'Warning') total += e.count ?? 1;
  }
  return total;
}

const proxied = (mode: FaultMode, seconds: number, label: string, reason: string): Outage => ({
  label,
  reason,
  seconds,
  begin: async () => proxy.setMode(mode),
  end: async () => proxy.setMode({ kind: 'pass' }),
});

test('moto killed for a minute: Secrets kept, Ready=False, bounded retries, recovery; the onExpiry: Delete Secret goes at its ttl', async () => {
  await outage(
    {
      label: 'moto killed',
      reason: 'ProviderUnavailable',
      seconds: 60,
      begin: () => moto.process.stop(0),
      end: async () => {
        // moto comes back empty: it stays out of reach (the proxy resets connections) until
        // seeded, as a real store comes back with its data.
        proxy.setMode({ kind: 'reset' });
        moto = await startMoto(logDir, { name: 'moto-outage', port: moto.port });
      },
    },
    newValue('v2'),
  );
  // The expiring binding's Secret went at its ttl, not before, and came back with the store.
  expect(expiryDeletions.length).toBeGreaterThanOrEqual(1);
  await waitForReady(cluster.c, namespace, expiring.name, {}, 60_000);
  const events = await eventsFor(cluster.c, namespace, expiring.name);
  expect(events.some((e) => e.reason === 'Expired' && e.type === 'Normal')).toBe(true);
  console.log(
    `[fault] onExpiry: Delete: Secret deleted ${expiryDeletions.map((ms) => (ms / 1000).toFixed(1)).join(', ')}s after its expiry (poll every 0.25s)`,
  );
}, 300_000);

test('throttling (ThrottlingException) through the proxy', async () => {
  await outage(proxied({ kind: 'throttle' }, 25, 'throttled', 'Throttled'), newValue('v3'));
}, 200_000);

test('5xx (503) through the proxy', async () => {
  await outage(
    proxied({ kind: 'error', status: 503 }, 25, 'answering 503', 'ProviderUnavailable'),
    newValue('v4'),
  );
}, 200_000);

test('no Secret was ever deleted (before its ttl) or emptied, and no value leaked', async () => {
  polling = false;
  await poller;
  expect(violations).toEqual([]);
  const outputs = await operatorOutputs(cluster.c, [namespace]);
  outputs['operator logs'] = op!.logs.join('\n');
  outputs['audit'] = JSON.stringify(op!.audit);
  outputs['proxy log'] = JSON.stringify(proxy.records);
  expect(op!.logs.length).toBeGreaterThan(10);
  expect(findLeaks(outputs)).toEqual([]);
});

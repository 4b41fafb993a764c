// `npm run bench:writes`: what kube-apiserver spends on each write this design makes, on an
// idle control plane. N bindings are created, then each phase writes one object per binding
// (`--concurrency` in flight) and reports the API server's and etcd's CPU per write, read from
// /proc: the Secret's server-side apply (create, then updates) and the status merge patch
// (the first, to Ready, then later ones). The bench's Secret and status are the operator's
// own (desiredSecret, readyStatusOf), as in the write floor.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import type { SecretBinding } from '../src/api/types.ts';
import { desiredSecret } from '../src/controller/binding/managed-secret.ts';
import { readyStatusOf } from '../src/controller/binding/status.ts';
import { mergePatchOf } from '../src/kube/merge-patch.ts';
import { DataHasher } from '../src/data/data-hash.ts';
import { loadConnection } from '../src/runtime/connection.ts';
import { KubeHttp } from '../src/runtime/http.ts';
import { KubeClient } from '../src/kube/kube-client.ts';
import { sleep } from '../test/harness/process.ts';
import { startBenchControlPlane } from './control-plane.ts';
import { createBinding, placement, pool, remoteKey } from './kube.ts';
import { cpuByProcess, delta } from './measure.ts';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    /** Times each update phase runs (the first apply and the first status patch run once). */
    repeats: { type: 'string', default: '2' },
  },
});

const repoRoot = path.resolve(import.meta.dirname, '..');
const log = (line: string): void => void process.stderr.write(`[bench:writes] ${line}\n`);
const DAY_MS = 24 * 3600_000;

async function main(): Promise<void> {
  const n = Number(args.n);
  const concurrency = Number(args.concurrency);
  const repeats = Number(args.repeats);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-bench-writes-'));
  const cp = await startBenchControlPlane(repoRoot, path.join(workDir, 'control-plane'), log);
  try {
    const crds = path.join(repoRoot, 'crds');
    const kubectl = (...a: string[]) => execFileSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...a]);
    kubectl('apply', '-f', crds);
    kubectl('wait', '--for=condition=Established', '--timeout=60s', '-f', crds);
    const http = new KubeHttp(await loadConnection(cp.kubeconfigPath));
    const namespace = 'writes';
    await http.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    });
    const bindings: SecretBinding[] = [];
    await pool(n, 16, async (i) => {
      bindings[i] = await createBinding(
        http,
        i,
        [namespace],
        Math.max(1, Math.floor(n / 10)),
        'store',
        '60s',
      );
    });
    // kube-controller-manager's start-up work (first lists, default objects) settles first.
    await sleep(10_000);
    const pids = Object.fromEntries(cp.processes.map((p) => [p.name, p.pid]));
    const hasher = new DataHasher(randomBytes(32));
    let generation = 0;
    /** The Secret of binding `i` in the current generation, and its issue. */
    const issueOf = (i: number) => {
      const data = { V: Buffer.from(`value-${i}-${generation}`) };
      const now = Date.now();
      const dataHash = hasher.hash(data);
      return { data, issue: { issuedAt: now, expiresAt: now + DAY_MS, dataHash, sourceHash: dataHash } };
    };
    // The operator's own writer, as in the write floor.
    const client = new KubeClient(http);
    const apply = async (i: number): Promise<void> => {
      const { name } = placement(i, [namespace]);
      const { data, issue } = issueOf(i);
      await client.applySecret(desiredSecret(bindings[i]!, name, data, issue));
    };
    const patchStatus = async (i: number): Promise<void> => {
      const { name } = placement(i, [namespace]);
      const status = readyStatusOf(bindings[i]!, {
        name,
        issue: issueOf(i).issue,
        keys: 1,
        sources: [{ key: remoteKey(i), versionId: randomUUID() }],
        dataWritten: true,
        now: Date.now(),
      });
      await client.patchStatus('SecretBinding', namespace, name, mergePatchOf({}, status));
    };
    const rows: string[] = [];
    const phase = async (label: string, write: (i: number) => Promise<void>): Promise<void> => {
      // The API server settles between phases (watch fan-out, the garbage collector's checks).
      await sleep(1500);
      const before = cpuByProcess(pids);
      const started = performance.now();
      await pool(n, concurrency, write);
      const seconds = (performance.now() - started) / 1000;
      await sleep(1500);
      const cpu = delta(cpuByProcess(pids), before);
      const perWrite = (name: string) => (((cpu[name] ?? NaN) / n) * 1000).toFixed(2);
      rows.push(
        `${label.padEnd(34)} ${seconds.toFixed(2).padStart(6)} s   kube-apiserver ${perWrite('kube-apiserver')} ms   etcd ${perWrite('etcd')} ms`,
      );
      log(rows[rows.length - 1]!);
    };
    await phase('Secret apply, create', apply);
    for (let r = 0; r < repeats; r++) {
      generation++;
      await phase('Secret apply, update', apply);
    }
    await phase('status patch, first (to Ready)', patchStatus);
    for (let r = 0; r < repeats; r++) await phase('status patch, later', patchStatus);
    console.log(`\nN=${n}, ${concurrency} in flight, CPU per write:\n${rows.join('\n')}`);
  } finally {
    await cp.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

await main();

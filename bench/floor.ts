// The write floor: the writes the operator must make for N bindings (create the binding,
// server-side apply its Secret, patch its status), done by a bare client with the same
// concurrency, in namespaces the operator does not watch. The Secret and the status are built
// by the operator's own functions and written by its own writer (KubeClient), so the floor
// sends the requests the operator sends.
import { randomBytes, randomUUID } from 'node:crypto';
import { API_VERSION, type SecretBinding } from '../src/api/types.ts';
import { systemClock } from '../src/runtime/clock.ts';
import { desiredSecret, formatTime } from '../src/controller/binding/managed-secret.ts';
import { readyStatusOf } from '../src/controller/binding/status.ts';
import { mergePatchOf } from '../src/kube/merge-patch.ts';
import { bindingWriteInformers, type InformerSpec } from '../src/controller/cluster-cache.ts';
import { DataHasher } from '../src/data/data-hash.ts';
import { KubeEventRecorder } from '../src/kube/events.ts';
import type { KubeHttp } from '../src/runtime/http.ts';
import { Informer, type KubeObject } from '../src/runtime/informer.ts';
import { KubeClient } from '../src/kube/kube-client.ts';
import { silentLogger } from '../src/observability/logger.ts';
import {
  createBinding,
  placement,
  pool,
  remoteIndex,
  remoteKey,
  remoteValue,
  untilAllReady,
  watchReady,
} from './kube.ts';

/** Figures of one floor run. */
export interface FloorResult {
  /**
   * The floor's time: with `observed`, seconds from the first create until the bench's Ready
   * watch saw the last binding Ready (as the operator's time is taken); else `writesSeconds`.
   */
  seconds: number;
  /** Seconds from the first create to the last status patch's answer. */
  writesSeconds: number;
  /** Whether the bench's Ready watch followed the floor (`seconds` is then what it saw). */
  observed: boolean;
  creates: number;
  applies: number;
  statusPatches: number;
  /** Synced Events written (only with `events`). */
  events?: number;
  /**
   * With `events`: seconds until the last Event was written. `seconds` stops when the last
   * binding is Ready, as the operator's time does, Events still queued.
   */
  eventsWrittenSeconds?: number;
}

/** The bindings' ttl (bench/kube.ts bindingBody). */
const TTL_MS = 24 * 3600_000;

/**
 * Creates N bindings (`createConcurrency` in flight, as the benchmark does), and as each
 * lands, applies its Secret and patches its status to Ready with at most `workers` in flight
 * (the operator's reconcile concurrency).
 */
export async function runFloor(
  http: KubeHttp,
  options: {
    n: number;
    k: number;
    namespaces: string[];
    store: string;
    refresh: string;
    createConcurrency: number;
    workers: number;
    /**
     * Also write the `Synced` Event the design requires for every issue, through the
     * operator's own Event recorder (same queue, same bytes): the floor of this design rather
     * than the issue's floor of applies and status patches.
     */
    events?: boolean;
    /**
     * Follow the floor's bindings with the watch that times the operator (`watchReady`) and
     * stop its clock when that watch sees the last one Ready: the same observer, with the same
     * cost to the API server and the bench, on both sides of the ratio.
     */
    observe?: boolean;
    /**
     * Also run, in this process, the operator's informers of the floor's namespaces that see
     * its writes (bindings, managed Secrets, the names of other Secrets; `operatorInformers`):
     * the watches any informer-based controller keeps, which the issue's floor leaves out.
     */
    watches?: boolean;
    /** Called when the floor's time is taken, before waiting for queued Events. */
    onStatusPatchesDone?: () => void;
  },
): Promise<FloorResult> {
  const { n, k, namespaces } = options;
  const hasher = new DataHasher(randomBytes(32));
  // A version id per remote secret, shaped like the store's (a UUID).
  const versionIds = Array.from({ length: k }, () => randomUUID());
  // The operator's own writer: its requests, byte for byte, and responses discarded unread.
  const client = new KubeClient(http);
  const recorder = options.events
    ? new KubeEventRecorder({ http, clock: systemClock, logger: silentLogger(), instance: 'bench-floor' })
    : undefined;
  // Listed and watching before the first create, as the operator's are.
  const informers = options.watches ? operatorInformers(http, namespaces) : [];
  await Promise.all(informers.map((informer) => informer.start()));
  const tracker = options.observe ? await watchReady(http, namespaces) : undefined;
  const started = performance.now();
  // Ends the watch's wait if the writes fail, so a failed floor does not wait out the deadline.
  const writesFailed = new AbortController();
  const seen =
    tracker &&
    untilAllReady(http, tracker, namespaces, n, {
      deadline: Date.now() + 1800_000,
      signal: writesFailed.signal,
    });
  const queue: { i: number; binding: SecretBinding }[] = [];
  let wake: (() => void) | undefined;
  const creating = pool(n, options.createConcurrency, async (i) => {
    const binding = await createBinding(http, i, namespaces, k, options.store, options.refresh);
    queue.push({ i, binding });
    wake?.();
  });
  const write = async ({ i, binding }: { i: number; binding: SecretBinding }): Promise<void> => {
    const { namespace, name } = placement(i, namespaces);
    const j = remoteIndex(i, k);
    const data = { V: Buffer.from(remoteValue(j)) };
    const now = Date.now();
    const dataHash = hasher.hash(data);
    const issue = { issuedAt: now, expiresAt: now + TTL_MS, dataHash, sourceHash: dataHash };
    await client.applySecret(desiredSecret(binding, name, data, issue));
    const status = readyStatusOf(binding, {
      name,
      issue,
      keys: 1,
      sources: [{ key: remoteKey(j), versionId: versionIds[j]! }],
      dataWritten: true,
      now,
    });
    await client.patchStatus('SecretBinding', namespace, name, mergePatchOf({}, status));
    recorder?.emit(
      { apiVersion: API_VERSION, kind: 'SecretBinding', namespace, name, uid: binding.metadata.uid! },
      'Normal',
      'Synced',
      `Secret "${name}" issued; expires ${formatTime(issue.expiresAt)}`,
    );
  };
  let taken = 0;
  const writers = Array.from({ length: options.workers }, async () => {
    while (taken < n) {
      const next = queue.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 20);
        });
        continue;
      }
      taken++;
      await write(next);
    }
  });
  let writesSeconds = NaN;
  let seenAt: number | undefined;
  try {
    await creating;
    await Promise.all(writers);
    writesSeconds = (performance.now() - started) / 1000;
  } catch (error) {
    writesFailed.abort();
    throw error;
  } finally {
    seenAt = (await seen)?.seenAt;
    await tracker?.stop();
    await Promise.all(informers.map((informer) => informer.stop()));
  }
  if (tracker && seenAt === undefined) {
    throw new Error("the floor's bindings were not all seen Ready in 30 minutes");
  }
  const seconds = seenAt === undefined ? writesSeconds : (seenAt - started) / 1000;
  options.onStatusPatchesDone?.();
  await recorder?.idle();
  return {
    seconds,
    writesSeconds,
    observed: tracker !== undefined,
    creates: n,
    applies: n,
    statusPatches: n,
    ...(recorder ? { events: n, eventsWrittenSeconds: (performance.now() - started) / 1000 } : {}),
  };
}

/**
 * The operator's informers of `namespaces` that its writes reach, from the manager's own specs
 * (`bindingWriteInformers`): its bindings (ADDED, then the status patch), its managed Secrets
 * (ADDED) and the names of other Secrets (filtered out by label).
 */
function operatorInformers(http: KubeHttp, namespaces: string[]): Informer<KubeObject>[] {
  const common = { http, clock: systemClock, logger: silentLogger() };
  return namespaces.flatMap((ns) =>
    Object.values(bindingWriteInformers(ns)).map(
      (spec) => new Informer<KubeObject>({ ...common, ...(spec as InformerSpec<KubeObject>) }),
    ),
  );
}

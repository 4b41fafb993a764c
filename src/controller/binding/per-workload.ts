// scope: PerWorkload — one Secret per training Job (or bare Pod, or listed workload kind),
// owned by it, issued while it runs and revoked as soon as it ends.
import { perWorkloadSecretName, type EffectiveLifetime } from '../../api/defaults.ts';
import { DATA_HASH_ANNOTATION, WORKLOAD_ANNOTATION } from '../../api/labels.ts';
import { EventReason } from '../../api/reasons.ts';
import type { SecretBinding, SecretBindingStatus, SourceVersion } from '../../api/types.ts';
import type { AssembledData } from '../../data/binding-data.ts';
import type { StoreHandle } from '../../fetch/fetcher.ts';
import type { SecretObject, StatusWriter } from '../../kube/kube-client.ts';
import { nextDueAt, nextRefreshAt, refreshEpoch, renewalAt } from '../../rotation/schedule.ts';
import type { BindingCache, BindingListener, Workload } from './deps.ts';
import { issueSecret, type IssueContext } from './issue.ts';
import { formatTime, issueOf } from './managed-secret.ts';
import type { BindingRecorder } from './recording.ts';
import { syncedConditions, writeStatus } from './status.ts';
import type { StoreReader } from './store-read.ts';

/** What a per-workload Event is about: one workload's Secret. */
export interface WorkloadSecret {
  secret: string;
  workload: Workload;
  /** The remote versions an issue or renewal was made from. */
  sources?: SourceVersion[];
}

export interface PerWorkloadContext extends IssueContext {
  binding: SecretBinding;
  lifetime: EffectiveLifetime;
  now: number;
  workloads: Workload[];
  /** This binding's PerWorkload Secrets as they are. */
  issued: SecretObject[];
  /** Reads the store (throws on failure; the caller turns that into status). */
  read(): Promise<{ handle: StoreHandle; assembled: AssembledData }>;
  /**
   * Records an Event of one workload's Secret. Its audit record is written from it, so `about`
   * is required: that record names the workload, which the binding alone does not (an optional
   * callback for it, never wired, once left every per-workload record without one).
   */
  event(type: 'Normal' | 'Warning', reason: string, message: string, about: WorkloadSecret): void;
  writeStatus(status: SecretBindingStatus): Promise<void>;
  /** Told when a workload's Secret is renewed with data its pods did not have (--refresh-mounted-pods). */
  onNewData(secretName: string): void;
}

/**
 * Revokes the Secrets of ended or vanished workloads first (that needs no store), then issues
 * or renews one Secret per running workload. Returns when to come back.
 */
export async function reconcilePerWorkload(ctx: PerWorkloadContext): Promise<number> {
  const { binding, lifetime, now } = ctx;
  const byKey = new Map(ctx.workloads.map((w) => [`${w.kind}/${w.name}`, w]));
  for (const secret of ctx.issued) {
    const key = secret.metadata.annotations?.[WORKLOAD_ANNOTATION];
    if (!key) continue;
    const workload = byKey.get(key);
    if (workload && !workload.ended) continue;
    await ctx.secrets.deleteSecret(secret.metadata.namespace!, secret.metadata.name!, secret.metadata.uid);
    // Its credential stops working now: the lease is revoked a second later (reconcile.ts).
    await ctx.leases.retire(binding, secret.metadata.name!, now);
    const [kind, name] = key.split('/');
    const why = workload?.ended ?? 'is gone';
    ctx.event(
      'Normal',
      EventReason.Revoked,
      `Secret "${secret.metadata.name}" revoked: ${kind} "${name}" ${why}`,
      {
        secret: secret.metadata.name!,
        // A workload that is gone is known by the Secret's annotation alone.
        workload: workload ?? { apiVersion: '', kind: kind!, name: name!, uid: '' },
      },
    );
  }

  const running = ctx.workloads.filter((w) => !w.ended);
  // Leases of Secrets that went without us (garbage-collected with their Job) go too.
  await ctx.leases.retireAllBut(
    binding,
    running.map((w) => perWorkloadSecretName(binding, w)),
    now,
  );
  const nextRefresh = nextRefreshAt(now, lifetime.refreshMs);
  if (running.length === 0) {
    await ctx.writeStatus(readyStatus(binding, now, 0, undefined));
    return nextRefresh;
  }
  const { handle, assembled } = await ctx.read();
  const sourceHash = ctx.hasher.hash(assembled.data);
  const dueTimes: number[] = [nextRefresh];
  for (const workload of running) {
    const name = perWorkloadSecretName(binding, workload);
    const existing = ctx.issued.find((s) => s.metadata.name === name);
    const previous = existing ? issueOf(existing) : undefined;
    const intact =
      existing !== undefined &&
      ctx.hasher.hashEncoded(existing.data) === existing.metadata.annotations?.[DATA_HASH_ANNOTATION];
    const renewal =
      previous !== undefined &&
      intact &&
      previous.sourceHash === sourceHash &&
      now >= renewalAt(previous.issuedAt, previous.expiresAt - previous.issuedAt);
    const fresh = !previous || !intact || previous.sourceHash !== sourceHash || renewal;
    const { issue, written } = await issueSecret(ctx, {
      binding,
      name,
      existing,
      issue: fresh ? { issuedAt: now, expiresAt: now + lifetime.ttlMs, dataHash: '', sourceHash } : previous!,
      fresh,
      values: assembled.data,
      handle,
      owner: { apiVersion: workload.apiVersion, kind: workload.kind, name: workload.name, uid: workload.uid },
      // Credentials are minted per workload, and named after it in the cloud's audit trail.
      generators: withSession(binding, workload),
      force: fresh,
      renewal,
      now,
    });
    if (fresh) {
      const verb = previous ? 'renewed' : 'issued';
      ctx.event(
        'Normal',
        previous ? EventReason.Renewed : EventReason.Synced,
        `Secret "${name}" ${verb} for ${workload.kind} "${workload.name}"; expires ${formatTime(issue.expiresAt)}`,
        { secret: name, workload, sources: assembled.sources },
      );
      if (previous && previous.dataHash !== issue.dataHash) ctx.onNewData(name);
    } else if (written) {
      ctx.event('Normal', EventReason.DriftCorrected, `Secret "${name}" was restored`, {
        secret: name,
        workload,
      });
    }
    dueTimes.push(Math.max(now + 1000, renewalAt(issue.issuedAt, issue.expiresAt - issue.issuedAt)));
  }
  await ctx.writeStatus(readyStatus(binding, now, running.length, { assembled, sourceHash }));
  return nextDueAt(dueTimes)!;
}

function withSession(binding: SecretBinding, workload: Workload) {
  return (binding.spec.generators ?? []).map((g) =>
    g.awsSTS
      ? {
          awsSTS: {
            ...g.awsSTS,
            sessionName: g.awsSTS.sessionName ?? `mlsecrets-${workload.kind}-${workload.name}`.slice(0, 64),
          },
        }
      : g,
  );
}

function readyStatus(
  binding: SecretBinding,
  now: number,
  count: number,
  read: { assembled: AssembledData; sourceHash: string } | undefined,
): SecretBindingStatus {
  const previous = binding.status ?? {};
  const conditions = syncedConditions(
    binding,
    `${count} per-workload Secret${count === 1 ? '' : 's'} issued`,
    now,
  );
  const target = binding.spec.target?.name || binding.metadata.name!;
  return {
    ...previous,
    observedGeneration: binding.metadata.generation,
    conditions,
    secretName: `${target}-<workload>`,
    ...(read
      ? {
          sources: read.assembled.sources,
          dataHash: read.sourceHash,
          syncedAt:
            previous.dataHash === read.sourceHash && previous.syncedAt ? previous.syncedAt : formatTime(now),
        }
      : {}),
  };
}

/** What a PerWorkload binding's reconcile uses of the reconciler's parts. */
export interface WorkloadParts extends IssueContext {
  cache: Pick<BindingCache, 'workloadsFor' | 'managedSecretsOf'>;
  listener: Pick<BindingListener, 'providerCall' | 'newData'>;
  status: StatusWriter;
  reader: StoreReader;
  recorder: BindingRecorder;
}

/** The context of one PerWorkload reconcile of `binding`: the reconciler's reads, writes and records. */
export function workloadContext(
  parts: WorkloadParts,
  binding: SecretBinding,
  lifetime: EffectiveLifetime,
  now: number,
): PerWorkloadContext {
  const { cache, reader, recorder } = parts;
  return {
    ...parts,
    binding,
    lifetime,
    now,
    workloads: cache.workloadsFor(binding),
    issued: cache.managedSecretsOf(binding.metadata.namespace!, binding.metadata.name!),
    read: async () => {
      const store = await reader.resolve(binding, lifetime);
      const epoch = refreshEpoch(now, lifetime.refreshMs);
      return { handle: store.handle, assembled: await reader.read(binding, store, epoch) };
    },
    event: (type, reason, message, about) =>
      recorder.event(binding, type, reason, message, {
        sources: about.sources,
        secret: about.secret,
        // Named as the webhook's inject records name it, so a workload's records match.
        workload: { kind: about.workload.kind, name: about.workload.name },
      }),
    writeStatus: (status) => writeStatus(parts.status, binding, status),
    onNewData: (secretName) => parts.listener.newData(binding, secretName),
  };
}

// scope: PerWorkload — one Secret per training Job (or bare Pod, or listed workload kind),
// owned by it, issued while it runs and revoked as soon as it ends.
import { setCondition } from '../api/conditions.ts';
import type { EffectiveLifetime } from '../api/defaults.ts';
import { DATA_HASH_ANNOTATION, WORKLOAD_ANNOTATION } from '../api/labels.ts';
import { ConditionReason, EventReason } from '../api/reasons.ts';
import type { SecretBinding, SecretBindingStatus, SourceVersion } from '../api/types.ts';
import type { AssembledData } from '../data/binding-data.ts';
import { checkSize } from '../data/binding-data.ts';
import type { DataHasher } from '../data/data-hash.ts';
import { generatedKeys, mintGenerated } from '../data/generators.ts';
import { shapeData } from '../data/template.ts';
import type { StoreHandle } from '../fetch/fetcher.ts';
import type { SecretObject, SecretWriter } from '../kube/kube-client.ts';
import { perWorkloadSecretName } from '../api/defaults.ts';
import { nextDueAt, nextRefreshAt, renewalAt } from '../rotation/schedule.ts';
import { desiredSecret, driftOf, formatTime, issueOf, writeSecret, type Issue } from './managed-secret.ts';

/** A workload that may hold a PerWorkload Secret. */
export interface Workload {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  /** Why it is over ("completed", "failed", "succeeded"), or undefined while it runs. */
  ended?: string;
}

/** What a per-workload Event is about: one workload's Secret. */
export interface WorkloadSecret {
  secret: string;
  workload: Workload;
  /** The remote versions an issue or renewal was made from. */
  sources?: SourceVersion[];
}

export interface PerWorkloadContext {
  binding: SecretBinding;
  lifetime: EffectiveLifetime;
  now: number;
  workloads: Workload[];
  /** This binding's PerWorkload Secrets as they are. */
  secrets: SecretObject[];
  writer: SecretWriter;
  hasher: DataHasher;
  /** Reads the store (throws on failure; the caller turns that into status). */
  read(): Promise<{ handle: StoreHandle; assembled: AssembledData }>;
  /**
   * Records an Event of one workload's Secret. Its audit record is written from it, so `about`
   * is required: that record names the workload, which the binding alone does not (an optional
   * callback for it, never wired, once left every per-workload record without one).
   */
  event(type: 'Normal' | 'Warning', reason: string, message: string, about: WorkloadSecret): void;
  writeStatus(status: SecretBindingStatus): Promise<void>;
  onProviderCall(handle: StoreHandle, operation: string): void;
  /** Told when a workload's Secret is renewed with data its pods did not have (--refresh-mounted-pods). */
  onNewData?(secretName: string): void;
}

/**
 * Revokes the Secrets of ended or vanished workloads first (that needs no store), then issues
 * or renews one Secret per running workload. Returns when to come back.
 */
export async function reconcilePerWorkload(ctx: PerWorkloadContext): Promise<number> {
  const { binding, lifetime, now } = ctx;
  const byKey = new Map(ctx.workloads.map((w) => [`${w.kind}/${w.name}`, w]));
  for (const secret of ctx.secrets) {
    const key = secret.metadata.annotations?.[WORKLOAD_ANNOTATION];
    if (!key) continue;
    const workload = byKey.get(key);
    if (workload && !workload.ended) continue;
    await ctx.writer.deleteSecret(secret.metadata.namespace!, secret.metadata.name!, secret.metadata.uid);
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
  const nextRefresh = nextRefreshAt(now, lifetime.refreshMs);
  if (running.length === 0) {
    await ctx.writeStatus(readyStatus(binding, now, 0, undefined));
    return nextRefresh;
  }
  const { handle, assembled } = await ctx.read();
  const sourceHash = ctx.hasher.hash(assembled.data);
  const generated = generatedKeys(binding).length > 0;
  const dueTimes: number[] = [nextRefresh];
  for (const workload of running) {
    const name = perWorkloadSecretName(binding, workload);
    const existing = ctx.secrets.find((s) => s.metadata.name === name);
    const previous = existing ? issueOf(existing) : undefined;
    const intact =
      existing !== undefined &&
      ctx.hasher.hashEncoded(existing.data) === existing.metadata.annotations?.[DATA_HASH_ANNOTATION];
    const fresh =
      !previous ||
      !intact ||
      previous.sourceHash !== sourceHash ||
      now >= renewalAt(previous.issuedAt, previous.expiresAt - previous.issuedAt);
    let issue: Issue = fresh
      ? { issuedAt: now, expiresAt: now + lifetime.ttlMs, dataHash: '', sourceHash }
      : previous!;
    let data: Record<string, Buffer> = assembled.data;
    if (generated && fresh) {
      // Credentials are minted per workload, and named after it in the cloud's audit trail.
      const minted = await mintGenerated(
        { ...binding, spec: { ...binding.spec, generators: withSession(binding, workload) } },
        handle,
        (operation) => ctx.onProviderCall(handle, operation),
      );
      data = { ...data, ...minted.data };
      if (minted.expiresAt !== undefined)
        issue = { ...issue, expiresAt: Math.min(issue.expiresAt, minted.expiresAt) };
    }
    if (generated && !fresh) {
      data = Object.fromEntries(
        Object.entries(existing!.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
      );
    } else {
      data = await shapeData(binding.spec, data);
      checkSize(data);
    }
    issue = { ...issue, dataHash: ctx.hasher.hash(data) };
    const owner = {
      apiVersion: workload.apiVersion,
      kind: workload.kind,
      name: workload.name,
      uid: workload.uid,
    };
    const desired = desiredSecret(binding, name, data, issue, owner);
    if (fresh || !existing || driftOf(existing, desired, ctx.hasher)) {
      // As the Shared path writes: a changed target type replaces the Secret.
      await writeSecret(ctx.writer, existing, desired);
      if (fresh) {
        const verb = previous ? 'renewed' : 'issued';
        ctx.event(
          'Normal',
          previous ? EventReason.Renewed : EventReason.Synced,
          `Secret "${name}" ${verb} for ${workload.kind} "${workload.name}"; expires ${formatTime(issue.expiresAt)}`,
          { secret: name, workload, sources: assembled.sources },
        );
        if (previous && previous.dataHash !== issue.dataHash) ctx.onNewData?.(name);
      } else {
        ctx.event('Normal', EventReason.DriftCorrected, `Secret "${name}" was restored`, {
          secret: name,
          workload,
        });
      }
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
  const message = `${count} per-workload Secret${count === 1 ? '' : 's'} issued`;
  const ok = {
    status: 'True' as const,
    reason: ConditionReason.Synced,
    message,
    observedGeneration: binding.metadata.generation,
  };
  let conditions = setCondition(previous.conditions, { type: 'Ready', ...ok }, new Date(now));
  conditions = setCondition(conditions, { type: 'Synced', ...ok }, new Date(now));
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

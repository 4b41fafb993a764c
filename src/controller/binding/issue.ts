// Issuing a Secret, for both scopes (a Shared binding's one Secret, each PerWorkload Secret):
// mint generated credentials, shape the data with the templates, check its size, and write it
// when it is new or differs from the cluster's.
import { ConditionReason, EventReason } from '../../api/reasons.ts';
import type { SecretBinding } from '../../api/types.ts';
import { checkSize } from '../../data/binding-data.ts';
import type { DataHasher } from '../../data/data-hash.ts';
import { hasGenerators, mintGenerated, vaultGenerator } from '../../data/generators.ts';
import { parseDuration } from '../../rotation/duration.ts';
import { ProviderError } from '../../providers/provider.port.ts';
import type { LeaseBook } from './leases.ts';
import { shapeData } from '../../data/template.ts';
import type { StoreHandle } from '../../fetch/fetcher.ts';
import type { SecretObject, SecretWriter } from '../../kube/kube-client.ts';
import { ReconcileError } from '../errors.ts';
import type { BindingListener } from './deps.ts';
import { desiredSecret, driftOf, writeSecret, type Issue, type SecretOwner } from './managed-secret.ts';

export interface IssueContext {
  secrets: SecretWriter;
  hasher: DataHasher;
  /** Told of the provider calls of generators (STS), for the metrics. */
  listener: Pick<BindingListener, 'providerCall'>;
  leases: LeaseBook;
}

/** How long a replaced vault credential keeps working after its successor is written, by default. */
export const DEFAULT_LEASE_OVERLAP_MS = 60_000;

export interface IssueRequest {
  binding: SecretBinding;
  /** The Secret's name. */
  name: string;
  /** The Secret as it is in the cluster, if any. */
  existing?: SecretObject;
  /** The issue decided on; its dataHash is filled in here, its expiry shortened by generators. */
  issue: Issue;
  /** A new issue: generators mint anew. Otherwise generated credentials stay as they are. */
  fresh: boolean;
  /** What was read from the store, before generators and templates. */
  values: Record<string, Buffer>;
  handle: StoreHandle;
  /** The workload a PerWorkload Secret belongs to (the binding otherwise). */
  owner?: SecretOwner;
  /** Generators as this Secret mints them (a PerWorkload Secret names its session). */
  generators?: SecretBinding['spec']['generators'];
  /** Write even if the Secret in the cluster is already as desired (a new issue). */
  force: boolean;
  /**
   * A renewal of the same data: a vault lease is renewed rather than replaced (a new
   * credential is minted only when the lease will not stretch, at its max TTL).
   */
  renewal: boolean;
  /** The credential being replaced was exposed (access audit): its lease is revoked at once. */
  revokeReplacedNow?: boolean;
  now: number;
}

export interface Issued {
  issue: Issue;
  /** How the Secret in the cluster differed from the desired one (it has been rewritten). */
  drift?: string;
  written: boolean;
  /** How many keys the Secret holds. */
  keys: number;
}

/** Builds the Secret `request` describes and writes it if needed; throws ReconcileError-mappable errors. */
export async function issueSecret(ctx: IssueContext, request: IssueRequest): Promise<Issued> {
  const { binding, existing, handle } = request;
  let issue = request.issue;
  let data: Record<string, Buffer>;
  const generated = hasGenerators(binding);
  const onCall = (operation: string) => ctx.listener.providerCall(handle, operation);
  const renewedUntil =
    generated && request.fresh && request.renewal ? await renewLease(ctx, request) : undefined;
  if (generated && (!request.fresh || renewedUntil !== undefined)) {
    // Same reads, same credentials: the Secret as it stands is what the spec makes.
    data = decodeData(existing!.data);
    if (renewedUntil !== undefined) issue = { ...issue, expiresAt: Math.min(issue.expiresAt, renewedUntil) };
  } else {
    let input = request.values;
    if (generated) {
      const minting = request.generators
        ? { ...binding, spec: { ...binding.spec, generators: request.generators } }
        : binding;
      const minted = await mintGenerated(minting, handle, onCall, request.now);
      // Recorded before the Secret is written: a lease nobody records is revoked by nobody.
      if (minted.lease) {
        const overlap = vaultGenerator(binding)?.overlap;
        await ctx.leases.replace(
          binding,
          request.name,
          minted.lease,
          request.now,
          request.revokeReplacedNow ? 0 : overlap ? parseDuration(overlap) : DEFAULT_LEASE_OVERLAP_MS,
        );
      }
      input = { ...input, ...minted.data };
      // Never let the Secret outlive the credentials it carries.
      if (minted.expiresAt !== undefined)
        issue = { ...issue, expiresAt: Math.min(issue.expiresAt, minted.expiresAt) };
    }
    data = await shapeData(binding.spec, input);
    checkSize(data);
  }
  issue = { ...issue, dataHash: ctx.hasher.hash(data) };
  const desired = desiredSecret(binding, request.name, data, issue, request.owner);
  const drift = existing ? driftOf(existing, desired, ctx.hasher) : undefined;
  const written = request.force || !existing || drift !== undefined;
  if (written) {
    try {
      await writeSecret(ctx.secrets, existing, desired);
    } catch (error) {
      throw writeFailed(request.name, error);
    }
  }
  return { issue, drift, written, keys: Object.keys(data).length };
}

/**
 * Renews the lease the Secret's credential holds, for as long as it was granted before. Answers
 * its new end, or undefined when a new credential must be minted instead: no lease, the Secret
 * is gone or edited, the lease is gone, or the store granted less than asked (its max TTL).
 */
async function renewLease(ctx: IssueContext, request: IssueRequest): Promise<number | undefined> {
  const { binding, existing, handle, now } = request;
  const active = ctx.leases.active(binding, request.name);
  const leases = handle.provider.leases;
  if (!active || !existing || !leases || !vaultGenerator(binding)) return undefined;
  const wanted = Math.max(1, active.grantedSeconds ?? Math.round((request.issue.expiresAt - now) / 1000));
  let granted;
  try {
    granted = await leases.renew(active.id, wanted, (operation) =>
      ctx.listener.providerCall(handle, operation),
    );
  } catch (error) {
    // Revoked or expired behind our back: mint anew. An outage is the reconcile's failure.
    if (error instanceof ProviderError && !error.transient && error.category !== 'AccessDenied')
      return undefined;
    throw error;
  }
  await ctx.leases.renewed(binding, request.name, granted, now);
  // Less than asked: the lease is near its max TTL. Its successor is minted now, and it is
  // revoked after the overlap (or when it ends, if that is sooner).
  return granted.durationSeconds < wanted ? undefined : now + granted.durationSeconds * 1000;
}

function decodeData(data: Record<string, string> | undefined): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

function writeFailed(name: string, error: unknown): ReconcileError {
  const status = (error as { status?: number }).status;
  return new ReconcileError(
    ConditionReason.SecretWriteFailed,
    `writing Secret "${name}" failed${status ? ` (the Kubernetes API answered HTTP ${status})` : ''}`,
    { eventReason: EventReason.ProviderError, retry: 'backoff' },
  );
}

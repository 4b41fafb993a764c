// Issuing a Secret, for both scopes (a Shared binding's one Secret, each PerWorkload Secret):
// mint generated credentials, shape the data with the templates, check its size, and write it
// when it is new or differs from the cluster's.
import { ConditionReason, EventReason } from '../../api/reasons.ts';
import type { SecretBinding } from '../../api/types.ts';
import { checkSize } from '../../data/binding-data.ts';
import type { DataHasher } from '../../data/data-hash.ts';
import { generatedKeys, mintGenerated } from '../../data/generators.ts';
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
}

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
}

export interface Issued {
  issue: Issue;
  /** How the Secret in the cluster differed from the desired one (it has been rewritten). */
  drift?: string;
  written: boolean;
}

/** Builds the Secret `request` describes and writes it if needed; throws ReconcileError-mappable errors. */
export async function issueSecret(ctx: IssueContext, request: IssueRequest): Promise<Issued> {
  const { binding, existing, handle } = request;
  let issue = request.issue;
  let data: Record<string, Buffer>;
  const generated = generatedKeys(binding).length > 0;
  if (generated && !request.fresh) {
    // Same reads, same credentials: the Secret as it stands is what the spec makes.
    data = decodeData(existing!.data);
  } else {
    let input = request.values;
    if (generated) {
      const minting = request.generators
        ? { ...binding, spec: { ...binding.spec, generators: request.generators } }
        : binding;
      const minted = await mintGenerated(minting, handle, (operation) =>
        ctx.listener.providerCall(handle, operation),
      );
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
  return { issue, drift, written };
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

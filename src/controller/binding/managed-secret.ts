// What the managed Secret of a binding should look like, how the one in the cluster differs,
// and how it is brought there.
import {
  BINDING_ANNOTATION,
  DATA_HASH_ANNOTATION,
  EXPIRES_AT_ANNOTATION,
  ISSUED_AT_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SOURCE_HASH_ANNOTATION,
  WORKLOAD_ANNOTATION,
} from '../../api/labels.ts';
import { shapeMetadata } from '../../data/template.ts';
import { API_VERSION, type SecretBinding } from '../../api/types.ts';
import type { DataHasher } from '../../data/data-hash.ts';
import type { SecretObject, SecretWriter } from '../../kube/kube-client.ts';

/** RFC 3339 in whole seconds, as Kubernetes writes times. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function parseTime(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** An issue of a Secret: when it was issued, when it expires, and the hash of its data. */
export interface Issue {
  issuedAt: number;
  expiresAt: number;
  dataHash: string;
  /** Hash of what was read from the store, before generators and templates: decides "changed". */
  sourceHash?: string;
}

/** The Secret a binding should have, for server-side apply. */
/** The object a Secret belongs to: the binding (Shared), or one workload (PerWorkload). */
export interface SecretOwner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export function desiredSecret(
  binding: SecretBinding,
  name: string,
  data: Record<string, Buffer>,
  issue: Issue,
  owner?: SecretOwner,
): SecretObject {
  const shape = shapeMetadata(binding.spec);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: binding.metadata.namespace,
      labels: { ...shape.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      annotations: {
        ...shape.annotations,
        [BINDING_ANNOTATION]: binding.metadata.name!,
        [ISSUED_AT_ANNOTATION]: formatTime(issue.issuedAt),
        [EXPIRES_AT_ANNOTATION]: formatTime(issue.expiresAt),
        [DATA_HASH_ANNOTATION]: issue.dataHash,
        ...(issue.sourceHash ? { [SOURCE_HASH_ANNOTATION]: issue.sourceHash } : {}),
        ...(owner ? { [WORKLOAD_ANNOTATION]: `${owner.kind}/${owner.name}` } : {}),
      },
      ownerReferences: [
        owner
          ? { ...owner, controller: false }
          : {
              apiVersion: API_VERSION,
              kind: 'SecretBinding',
              name: binding.metadata.name!,
              uid: binding.metadata.uid!,
              controller: true,
            },
      ],
    },
    type: shape.type,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString('base64')])),
  };
}

/** Whether a Secret belongs to this binding (and may be written by it). */
export function ownedBy(secret: SecretObject, binding: SecretBinding): boolean {
  return (secret.metadata.ownerReferences ?? []).some((ref) => ref.uid === binding.metadata.uid);
}

/** The issue recorded on an existing managed Secret, if its annotations are readable. */
export function issueOf(secret: SecretObject): Issue | undefined {
  const annotations = secret.metadata.annotations ?? {};
  const issuedAt = parseTime(annotations[ISSUED_AT_ANNOTATION]);
  const expiresAt = parseTime(annotations[EXPIRES_AT_ANNOTATION]);
  const dataHash = annotations[DATA_HASH_ANNOTATION];
  if (issuedAt === undefined || expiresAt === undefined || !dataHash) return undefined;
  return { issuedAt, expiresAt, dataHash, sourceHash: annotations[SOURCE_HASH_ANNOTATION] };
}

/**
 * How an existing Secret differs from what was issued: its data no longer hashes to the
 * recorded hash (edited by hand), or labels, annotations, type or owner were changed.
 */
export function driftOf(
  existing: SecretObject,
  desired: SecretObject,
  hasher: DataHasher,
): string | undefined {
  const recorded = existing.metadata.annotations?.[DATA_HASH_ANNOTATION];
  if (hasher.hashEncoded(existing.data) !== recorded) return 'its data was changed';
  const has = (actual: Record<string, string> | undefined, wanted: Record<string, string> | undefined) =>
    Object.entries(wanted ?? {}).every(([k, v]) => actual?.[k] === v);
  if (!has(existing.metadata.labels, desired.metadata.labels)) return 'its labels were changed';
  if (!has(existing.metadata.annotations, desired.metadata.annotations))
    return 'its annotations were changed';
  if ((existing.type ?? 'Opaque') !== desired.type) return 'its type was changed';
  const owner = desired.metadata.ownerReferences![0]!;
  if (!(existing.metadata.ownerReferences ?? []).some((r) => r.uid === owner.uid))
    return 'its owner was changed';
  return undefined;
}

/** Keys someone added to a managed Secret; server-side apply leaves fields it does not own. */
export function foreignKeys(existing: SecretObject, desired: SecretObject): string[] {
  const wanted = desired.data ?? {};
  // Own keys only: `in` would find "constructor" or "toString" on Object.prototype.
  return Object.keys(existing.data ?? {}).filter((k) => !Object.hasOwn(wanted, k));
}

/**
 * Writes `desired` over `existing` (the Secret as read, or undefined when there is none), for
 * both scopes: a Shared binding's one Secret and each PerWorkload Secret. Kubernetes refuses to
 * change a Secret's type in place, so a new type means deleting the Secret (that incarnation
 * only, by uid) and creating it anew. Keys others added are removed afterwards (server-side
 * apply leaves fields it does not own).
 */
export async function writeSecret(
  writer: SecretWriter,
  existing: SecretObject | undefined,
  desired: SecretObject,
): Promise<void> {
  const { namespace, name } = desired.metadata as { namespace: string; name: string };
  if (existing && (existing.type ?? 'Opaque') !== desired.type) {
    await writer.deleteSecret(namespace, name, existing.metadata.uid);
    existing = undefined;
  }
  await writer.applySecret(desired);
  if (existing) await writer.removeSecretKeys(namespace, name, foreignKeys(existing, desired));
}

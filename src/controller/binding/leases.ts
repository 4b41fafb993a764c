// The leases behind a binding's generators.vault credentials. A lease is recorded in the
// binding's status (status.leases, ids only) before the Secret carrying its credential is
// written, so a restarted operator finds every lease it holds; it is renewed while that Secret
// lives and revoked after it: replaced (after the binding's overlap), its Secret deleted (Job
// ended, expiry, policy) or the binding deleted. A revocation that fails stays recorded and is
// tried again; a lease minted and never recorded is found by the orphan sweep (lease-sweep.ts).
import type { Logger } from 'winston';
import type { LeaseRecord, SecretBinding } from '../../api/types.ts';
import { objectKey } from '../../api/types.ts';
import type { StoreHandle } from '../../fetch/fetcher.ts';
import type { StatusWriter } from '../../kube/kube-client.ts';
import type { LeaseInfo } from '../../providers/provider.port.ts';
import { formatTime, parseTime } from './managed-secret.ts';

const NONE: readonly LeaseRecord[] = [];

/** How soon a failed revocation is tried again. */
const RETRY_MS = 30_000;

/** What the book remembers of a binding: the leases as last written, and the store to revoke them at. */
interface Held {
  records: LeaseRecord[];
  /** Every lease id this book has seen for the binding, revoked ones included. */
  known: Set<string>;
  namespace: string;
  storeRef: SecretBinding['spec']['storeRef'];
}

export class LeaseBook {
  private readonly status: StatusWriter;
  private readonly logger: Logger;
  /** Our own writes win over a binding cache that has not delivered them yet. */
  private readonly held = new Map<string, Held>();
  /** After a failed revocation: when to try again, by binding. */
  private readonly retryAt = new Map<string, number>();

  constructor(deps: { status: StatusWriter; logger: Logger }) {
    this.status = deps.status;
    this.logger = deps.logger;
  }

  /** The binding's leases: ours as last written, else its status. */
  records(binding: SecretBinding): readonly LeaseRecord[] {
    const recorded = binding.status?.leases;
    // Most bindings never held a lease: no key string is built for them.
    if (this.held.size === 0 && !recorded) return NONE;
    const key = objectKey(binding.metadata);
    const held = this.held.get(key);
    // A lease in the status we never saw was written by another replica (the binding's shard
    // moved away and back): the status is newer than our memory.
    if (held && recorded?.some((r) => !held.known.has(r.id))) {
      this.held.delete(key);
      return recorded;
    }
    return held?.records ?? recorded ?? NONE;
  }

  /** The lease whose credential `secret` carries now. */
  active(binding: SecretBinding, secret: string): LeaseRecord | undefined {
    return this.records(binding).find((r) => r.secret === secret && !r.revokeAt);
  }

  /** The lease ids this book holds, our own writes included: the sweep adds the statuses' to them. */
  heldIds(): Set<string> {
    return new Set([...this.held.values()].flatMap((h) => h.records.map((r) => r.id)));
  }

  /**
   * Records `lease` as the one `secret` carries, and retires the lease it replaces: revoked
   * `overlapMs` from now (never later than it ends anyway), so clients have time to switch.
   */
  async replace(binding: SecretBinding, secret: string, lease: LeaseInfo, now: number, overlapMs: number) {
    // Up to the whole second (status times have no fractions): never less overlap than asked.
    const revokeAt = formatTime(Math.ceil((now + overlapMs) / 1000) * 1000);
    const records = this.records(binding).map((r) =>
      r.secret === secret && !r.revokeAt
        ? { ...r, revokeAt: (parseTime(r.expiresAt) ?? 0) < now + overlapMs ? r.expiresAt : revokeAt }
        : r,
    );
    records.push(recordOf(secret, lease, now));
    await this.write(binding, records);
  }

  /** The lease of `secret` was renewed: its new end. */
  async renewed(binding: SecretBinding, secret: string, lease: LeaseInfo, now: number) {
    const records = this.records(binding).map((r) =>
      r.secret === secret && !r.revokeAt ? recordOf(secret, { ...lease, id: r.id }, now) : r,
    );
    await this.write(binding, records);
  }

  /** `secret` is gone (its Job ended, it expired, policy revoked it): its lease is revoked now. */
  async retire(binding: SecretBinding, secret: string, now: number) {
    const records = this.records(binding);
    if (!records.some((r) => r.secret === secret && !r.revokeAt)) return;
    await this.write(
      binding,
      records.map((r) => (r.secret === secret && !r.revokeAt ? { ...r, revokeAt: formatTime(now) } : r)),
    );
  }

  /**
   * Retires the leases of every Secret but `secrets`: ones deleted behind the operator's back
   * (a Job's Secret garbage-collected with it while the operator was down) or no longer written
   * (the target renamed, the scope changed).
   */
  async retireAllBut(binding: SecretBinding, secrets: readonly string[], now: number) {
    const records = this.records(binding);
    if (!records.some((r) => !r.revokeAt && !secrets.includes(r.secret))) return;
    await this.write(
      binding,
      records.map((r) =>
        !r.revokeAt && !secrets.includes(r.secret) ? { ...r, revokeAt: formatTime(now) } : r,
      ),
    );
  }

  /** When the next retired lease falls due; undefined when none waits. */
  nextRevocationAt(binding: SecretBinding): number | undefined {
    // On every reconcile of every binding: a loop, no arrays (most bindings hold no lease).
    let next: number | undefined;
    for (const record of this.records(binding)) {
      const at = parseTime(record.revokeAt);
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /**
   * Revokes the leases due, at the binding's store: not gated by its policy, since revoking only
   * takes access away. A failure is logged and tried again RETRY_MS later (wakeAt says when).
   */
  async settle(
    binding: SecretBinding,
    handleFor: () => Promise<StoreHandle>,
    now: number,
    onCall: (handle: StoreHandle, op: string) => void,
  ): Promise<void> {
    this.observe(binding);
    const next = this.nextRevocationAt(binding);
    if (next === undefined || next > now) return;
    const key = objectKey(binding.metadata);
    if ((this.retryAt.get(key) ?? 0) > now) return;
    try {
      const handle = await handleFor();
      await this.revokeDue(binding, handle, now, (op) => onCall(handle, op));
      this.retryAt.delete(key);
    } catch (error) {
      this.retryAt.set(key, now + RETRY_MS);
      this.logger.warn('revoking leases failed; trying again', {
        binding: key,
        error: (error as Error)?.message,
      });
    }
  }

  /**
   * When a reconcile must come back for the binding's leases: the next revocation's time; a
   * second from now for one due already (retired during this reconcile); after a failed
   * revocation, its retry time. Undefined when no lease waits.
   */
  wakeAt(binding: SecretBinding, now: number): number | undefined {
    const next = this.nextRevocationAt(binding);
    if (next === undefined) return undefined;
    if (next > now) return next;
    const retry = this.retryAt.size > 0 ? this.retryAt.get(objectKey(binding.metadata)) : undefined;
    return retry !== undefined && retry > now ? retry : now + 1000;
  }

  /**
   * Revokes the retired leases that are due. A failure leaves the lease recorded for the next
   * reconcile and is thrown after the others have been tried (the reconcile backs off).
   */
  async revokeDue(binding: SecretBinding, handle: StoreHandle, now: number, onCall: (op: string) => void) {
    const due = this.records(binding).filter((r) => (parseTime(r.revokeAt) ?? Infinity) <= now);
    if (due.length === 0) return;
    const revoked = new Set<string>();
    let failure: unknown;
    for (const record of due) {
      try {
        await handle.provider.leases!.revoke(record.id, onCall);
        revoked.add(record.id);
      } catch (error) {
        failure ??= error;
      }
    }
    if (revoked.size > 0)
      await this.write(
        binding,
        this.records(binding).filter((r) => !revoked.has(r.id)),
      );
    if (failure) throw failure;
  }

  /**
   * The binding was deleted: revokes every lease it held. Best effort: what fails (the store is
   * gone or down) is left to the orphan sweep, which finds leases no binding records.
   */
  async revokeAllOf(
    key: string,
    handleFor: (namespace: string, storeRef: Held['storeRef']) => Promise<StoreHandle>,
    onCall: (handle: StoreHandle, op: string) => void,
  ): Promise<number> {
    const held = this.held.get(key);
    this.held.delete(key);
    this.retryAt.delete(key);
    if (!held || held.records.length === 0) return 0;
    let revoked = 0;
    try {
      const handle = await handleFor(held.namespace, held.storeRef);
      for (const record of held.records) {
        await handle.provider.leases!.revoke(record.id, (op) => onCall(handle, op));
        revoked++;
      }
    } catch (error) {
      this.logger.warn('revoking the leases of a deleted binding failed; the orphan sweep will retry', {
        binding: key,
        left: held.records.length - revoked,
        error: (error as Error)?.message,
      });
    }
    return revoked;
  }

  /** Remembers a binding's recorded leases (first sight after a start), so its deletion finds them. */
  observe(binding: SecretBinding): void {
    const recorded = binding.status?.leases;
    if (!recorded || recorded.length === 0) return;
    const key = objectKey(binding.metadata);
    if (this.held.has(key)) return;
    this.held.set(key, {
      records: recorded,
      known: new Set(recorded.map((r) => r.id)),
      namespace: binding.metadata.namespace!,
      storeRef: binding.spec.storeRef,
    });
  }

  private async write(binding: SecretBinding, records: LeaseRecord[]) {
    const key = objectKey(binding.metadata);
    // Remembered before the write: a write that fails may still have landed, and a lease we
    // forgot would be revoked by nobody but the sweep.
    const known = this.held.get(key)?.known ?? new Set(binding.status?.leases?.map((r) => r.id));
    for (const record of records) known.add(record.id);
    this.held.set(key, {
      records,
      known,
      namespace: binding.metadata.namespace!,
      storeRef: binding.spec.storeRef,
    });
    await this.status.patchStatus('SecretBinding', binding.metadata.namespace, binding.metadata.name!, {
      leases: records,
    });
  }
}

function recordOf(secret: string, lease: LeaseInfo, now: number): LeaseRecord {
  return {
    id: lease.id,
    secret,
    expiresAt: formatTime(now + lease.durationSeconds * 1000),
    grantedSeconds: lease.durationSeconds,
  };
}

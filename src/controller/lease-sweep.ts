// The orphan sweep: leases the operator minted that no binding records (the operator died
// between the mint and the status write, or a deleted binding's revocation failed) are found
// under the paths the bindings' generators.vault mint at, and revoked. It runs when the
// operator starts working and every few minutes after.
//
// A lease is only an orphan once it is older than `graceMs`: a replica may have minted it a
// moment ago and be writing its record now. The paths must therefore be the operator's own
// (a Vault role given to mlsecrets alone): a lease another client minted there would be revoked.
import type { Logger } from 'winston';
import type { SecretBinding, Store } from '../api/types.ts';
import type { StoreHandle } from '../fetch/fetcher.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import { storeLabel, type StoreDirectory } from './stores.ts';

export interface LeaseSweepOptions {
  clock: Clock;
  logger: Logger;
  /** Every binding the operator sees (their status records the leases held). */
  bindings(): SecretBinding[];
  /** Lease ids recorded by our own writes, which the binding cache may not show yet. */
  held(): Set<string>;
  stores: Pick<StoreDirectory, 'storeFor' | 'handleFor'>;
  onCall(handle: StoreHandle, operation: string): void;
  graceMs?: number;
  everyMs?: number;
}

export class LeaseSweep {
  private readonly options: LeaseSweepOptions;
  private readonly graceMs: number;
  private readonly everyMs: number;
  private timer?: TimerHandle;
  private running = false;

  constructor(options: LeaseSweepOptions) {
    this.options = options;
    this.graceMs = options.graceMs ?? 120_000;
    this.everyMs = options.everyMs ?? 300_000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    if (this.timer) this.options.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /** One sweep; answers how many leases it revoked, and when a young unrecorded lease comes of age. */
  async sweepOnce(): Promise<{ revoked: number; nextAt?: number }> {
    const { clock, logger } = this.options;
    const now = clock.now();
    const bindings = this.options.bindings();
    const recorded = this.options.held();
    const byStore = new Map<string, { store: Store; paths: Set<string> }>();
    for (const binding of bindings) {
      for (const lease of binding.status?.leases ?? []) recorded.add(lease.id);
      const path = binding.spec.generators?.find((g) => g.vault)?.vault?.path;
      if (!path) continue;
      let store: Store;
      try {
        store = this.options.stores.storeFor(binding);
      } catch {
        continue; // no store: nothing to list at
      }
      const label = storeLabel(store);
      const entry = byStore.get(label) ?? { store, paths: new Set<string>() };
      entry.paths.add(path);
      byStore.set(label, entry);
    }
    let revoked = 0;
    let nextAt: number | undefined;
    for (const [label, { store, paths }] of byStore) {
      try {
        const handle = await this.options.stores.handleFor(store);
        const leases = handle.provider.leases;
        if (!leases) continue;
        const onCall = (op: string) => this.options.onCall(handle, op);
        for (const path of paths) {
          for (const lease of await leases.list(path, onCall)) {
            if (recorded.has(lease.id)) continue;
            if (now - lease.issuedAt < this.graceMs) {
              nextAt = Math.min(nextAt ?? Infinity, lease.issuedAt + this.graceMs);
              continue;
            }
            await leases.revoke(lease.id, onCall);
            revoked++;
          }
        }
      } catch (error) {
        logger.warn('the orphan lease sweep failed for a store; trying again at the next sweep', {
          store: label,
          error: (error as Error)?.message,
        });
      }
    }
    if (revoked > 0) logger.info('revoked orphaned leases no binding records', { count: revoked });
    return { revoked, nextAt };
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = this.options.clock.setTimer(() => {
      void this.sweepOnce()
        .catch(() => ({ nextAt: undefined }))
        .then(({ nextAt }) => {
          const now = this.options.clock.now();
          this.schedule(Math.max(1000, Math.min(this.everyMs, (nextAt ?? Infinity) - now)));
        });
    }, ms);
  }
}

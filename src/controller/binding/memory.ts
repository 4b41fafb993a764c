// What the reconciler remembers of its own work, in memory only (after a restart every binding
// re-reads once and writes nothing when nothing changed). Nobody can forge it, which is why it
// can tell our own writes from edits.
import type { Issue } from './managed-secret.ts';
import type { SyncedMemory } from './plan.ts';

export class OwnWrites {
  /** The refresh epoch and generation each binding last synced, and its recorded nextRotationAt. */
  private readonly synced = new Map<string, SyncedMemory>();
  /**
   * The issue of the last Secret each binding wrote. A Secret that carries exactly it is ours
   * even when the status or the cache does not show it yet, and is not taken for drift.
   */
  private readonly written = new Map<string, Issue>();

  lastSync(key: string): SyncedMemory | undefined {
    return this.synced.get(key);
  }

  recordSync(key: string, memory: SyncedMemory): void {
    this.synced.set(key, memory);
  }

  lastWrite(key: string): Issue | undefined {
    return this.written.get(key);
  }

  recordWrite(key: string, issue: Issue): void {
    this.written.set(key, issue);
  }

  forget(key: string): void {
    this.synced.delete(key);
    this.written.delete(key);
  }
}

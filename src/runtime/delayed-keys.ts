// Keys waiting for a time: one min-heap behind a single timer, so 100,000 scheduled refreshes
// cost one timer and O(log n) per key, not 100,000 timers.
import type { Clock, TimerHandle } from './clock.ts';

/** A key that waits for a time, and the priority it is added at when that time comes. */
interface DelayedEntry<P> {
  dueAt: number;
  priority: P;
  seq: number;
}

export interface HeapNode {
  dueAt: number;
  key: string;
  seq: number;
}

export class DelayedKeys<P> {
  readonly #clock: Clock;
  readonly #onDue: (key: string, priority: P) => void;
  readonly #higher: (a: P, b: P) => P;
  readonly #delayed = new Map<string, DelayedEntry<P>>();
  readonly #heap = new DueHeap();
  #timer: { handle: TimerHandle; dueAt: number } | undefined;
  #seq = 0;

  /** `onDue` receives each key whose time has come; `higher` merges two priorities of one key. */
  constructor(clock: Clock, onDue: (key: string, priority: P) => void, higher: (a: P, b: P) => P) {
    this.#clock = clock;
    this.#onDue = onDue;
    this.#higher = higher;
  }

  get size(): number {
    return this.#delayed.size;
  }

  /** Waits `key` until `dueAt`; a key already waiting for an earlier time keeps it (its priority is raised). */
  schedule(key: string, dueAt: number, priority: P): void {
    const existing = this.#delayed.get(key);
    if (existing !== undefined) {
      existing.priority = this.#higher(existing.priority, priority);
      if (existing.dueAt <= dueAt) return;
    }
    const seq = ++this.#seq;
    this.#delayed.set(key, { dueAt, priority: existing?.priority ?? priority, seq });
    this.#heap.push({ dueAt, key, seq });
    this.#compactHeap();
    this.#arm();
  }

  /** Stops `key` waiting; whether it was. */
  remove(key: string): boolean {
    if (!this.#delayed.delete(key)) return false;
    this.#arm();
    return true;
  }

  /** Forgets every key and stops the timer. */
  clear(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer.handle);
    this.#timer = undefined;
    this.#delayed.clear();
    this.#heap.rebuild([]);
  }

  /** Points the single timer at the earliest live due time. */
  #arm(): void {
    this.#dropStaleTop();
    const top = this.#heap.peek();
    if (top === undefined) {
      if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer.handle);
      this.#timer = undefined;
      return;
    }
    if (this.#timer !== undefined) {
      if (this.#timer.dueAt <= top.dueAt) return;
      this.#clock.clearTimer(this.#timer.handle);
    }
    const handle = this.#clock.setTimer(() => this.#onTimer(), top.dueAt - this.#clock.now());
    this.#timer = { handle, dueAt: top.dueAt };
  }

  #onTimer(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    for (let top = this.#heap.peek(); top !== undefined && top.dueAt <= now; top = this.#heap.peek()) {
      this.#heap.pop();
      const entry = this.#delayed.get(top.key);
      if (entry?.seq !== top.seq) continue;
      this.#delayed.delete(top.key);
      this.#onDue(top.key, entry.priority);
    }
    // A real timer may fire a millisecond early; then nothing was due and this simply re-arms.
    this.#arm();
  }

  #dropStaleTop(): void {
    for (let top = this.#heap.peek(); top !== undefined; top = this.#heap.peek()) {
      if (this.#delayed.get(top.key)?.seq === top.seq) return;
      this.#heap.pop();
    }
  }

  /** Re-scheduling a key earlier leaves its old node behind; shed them before they pile up. */
  #compactHeap(): void {
    if (this.#heap.size <= 2 * this.#delayed.size + 1024) return;
    this.#heap.rebuild(
      [...this.#delayed].map(([key, entry]) => ({ dueAt: entry.dueAt, key, seq: entry.seq })),
    );
  }
}

/** Min-heap of due times, ties broken by seq so equal due times fire in the order they were set. */
export class DueHeap {
  nodes: HeapNode[] = [];

  get size(): number {
    return this.nodes.length;
  }

  peek(): HeapNode | undefined {
    return this.nodes[0];
  }

  push(node: HeapNode): void {
    const nodes = this.nodes;
    nodes.push(node);
    let i = nodes.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!DueHeap.#less(nodes[i]!, nodes[parent]!)) break;
      [nodes[i], nodes[parent]] = [nodes[parent]!, nodes[i]!];
      i = parent;
    }
  }

  pop(): HeapNode | undefined {
    const nodes = this.nodes;
    const top = nodes[0];
    const last = nodes.pop();
    if (top === undefined || last === undefined || nodes.length === 0) return top;
    nodes[0] = last;
    this.#siftDown(0);
    return top;
  }

  /** Rebuilds from scratch (used to shed stale nodes); O(n). */
  rebuild(nodes: HeapNode[]): void {
    this.nodes = nodes;
    for (let i = (nodes.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  #siftDown(start: number): void {
    const nodes = this.nodes;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < nodes.length && DueHeap.#less(nodes[left]!, nodes[smallest]!)) smallest = left;
      if (right < nodes.length && DueHeap.#less(nodes[right]!, nodes[smallest]!)) smallest = right;
      if (smallest === i) return;
      [nodes[i], nodes[smallest]] = [nodes[smallest]!, nodes[i]!];
      i = smallest;
    }
  }

  static #less(a: HeapNode, b: HeapNode): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
  }
}

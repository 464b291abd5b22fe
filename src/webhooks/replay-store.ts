/**
 * Which webhook deliveries were already accepted, so a redelivery is answered without enqueueing
 * again. Replays are harmless to correctness (a reconcile is idempotent and reads fresh state);
 * this only saves Heroku requests when a `sync` webhook retries or a signed delivery is replayed.
 */

export interface ReplayStore {
  /**
   * Records `id` and says whether it is new: true the first time, false when already recorded
   * (and not yet expired). Must be atomic for concurrent calls with the same id. May be async,
   * so a store shared by several replicas (Postgres) fits the same shape.
   */
  remember(id: string): boolean | Promise<boolean>;
  /** Drops `id`, so a redelivery is processed (used when accepting the event failed after all). */
  forget(id: string): void | Promise<void>;
}

export interface MemoryReplayStoreOptions {
  /** Ids kept at most; the least recently seen go first. Default 10,000. */
  maxEntries?: number;
  /** How long an id is remembered after it was last seen. Default 24 h. */
  maxAgeMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** A bounded in-memory LRU of ids with an age limit. One process only. */
export class MemoryReplayStore implements ReplayStore {
  /** id → when it was last seen; Map order is least recently seen first. */
  private readonly seen = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(options: MemoryReplayStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxAgeMs = options.maxAgeMs ?? 86_400_000;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError(`replay store maxEntries must be an integer >= 1, got ${this.maxEntries}`);
    }
    if (!(this.maxAgeMs > 0)) throw new RangeError(`replay store maxAgeMs must be > 0, got ${this.maxAgeMs}`);
  }

  remember(id: string): boolean {
    const now = this.now();
    this.expire(now);
    const known = this.seen.has(id);
    // Move to the most recent end: a replay storm keeps its id remembered.
    this.seen.delete(id);
    this.seen.set(id, now);
    while (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next().value as string;
      this.seen.delete(oldest);
    }
    return !known;
  }

  forget(id: string): void {
    this.seen.delete(id);
  }

  get size(): number {
    return this.seen.size;
  }

  /** Entries are in last-seen order, so the expired ones are all at the front. */
  private expire(now: number): void {
    for (const [id, at] of this.seen) {
      if (now - at < this.maxAgeMs) break;
      this.seen.delete(id);
    }
  }
}

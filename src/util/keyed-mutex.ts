/**
 * Runs tasks one at a time per key, in the order they asked, within this process. The controller
 * writes from one process (the leader), so this is enough to keep its own concurrent passes from
 * interleaving a read-then-write on one thing (an app's config vars) with another write to it.
 */
export class KeyedMutex {
  /** Per key, the end of the last task queued (never rejects); removed when the queue drains. */
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with a task running or queued (for tests). */
  get busyKeys(): number {
    return this.tails.size;
  }
}

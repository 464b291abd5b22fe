/** A controllable clock and sleep for leader-election tests (no real waiting). */
import type { Clock, Sleep } from '../../src/leader/leader-election.js';

interface Waiter {
  at: number;
  resolve: () => void;
}

export class FakeTime {
  now: number;
  private waiters: Waiter[] = [];

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.now = start;
  }

  readonly clock: Clock = () => this.now;

  readonly sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      const waiter: Waiter = {
        at: this.now + ms,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });

  /** Moves time forward by `ms`, waking sleepers in order and letting their work run. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    await settle();
    for (;;) {
      const next = this.waiters.filter((w) => w.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.waiters = this.waiters.filter((w) => w !== next);
      this.now = Math.max(this.now, next.at);
      next.resolve();
      await settle();
    }
    this.now = end;
    await settle();
  }

  /** Advances in steps, calling `check` after each (e.g. to sample who leads). */
  async step(totalMs: number, stepMs: number, check: () => void): Promise<void> {
    for (let t = 0; t < totalMs; t += stepMs) {
      await this.advance(stepMs);
      check();
    }
  }
}

/** Lets pending promise chains run (the fakes answer without real I/O). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

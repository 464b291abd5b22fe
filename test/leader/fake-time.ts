/** A controllable clock and sleep for leader-election tests (no real waiting). */
import type { Clock, Sleep } from '../../src/leader/leader-election.js';

interface Waiter {
  at: number;
  signal: AbortSignal | undefined;
  resolve: () => void;
}

export class FakeTime {
  now: number;
  protected waiters: Waiter[] = [];
  /** Every signal a sleeper slept with: one per campaign loop (see SteppedTime). */
  protected readonly loops = new Set<AbortSignal>();

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.now = start;
  }

  readonly clock: Clock = () => this.now;

  readonly sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal) this.loops.add(signal);
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      const waiter: Waiter = {
        at: this.now + ms,
        signal,
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
    await this.quiesce();
    for (;;) {
      const next = this.waiters.filter((w) => w.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.waiters = this.waiters.filter((w) => w !== next);
      this.now = Math.max(this.now, next.at);
      next.resolve();
      await this.quiesce();
    }
    this.now = end;
    await this.quiesce();
  }

  /** Waits until the work a wake-up started has run: here a few turns of the event loop. */
  protected quiesce(): Promise<void> {
    return settle();
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

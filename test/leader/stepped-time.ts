/**
 * A hand-moved clock and sleep for electors that do real I/O (a real PostgreSQL, a real
 * kube-apiserver): time moves only when the test moves it, and each move waits, however long the
 * machine needs, until every campaign loop woken by it has finished its round (its real calls) and
 * is asleep again. So whether a renew deadline or a retry period has passed never depends on how
 * fast the machine is; only the generous `idleTimeoutMs` (a hung round) is real time.
 *
 * Campaign loops are recognised by the AbortSignal they sleep with (one per elector, aborted by
 * its stop()): a loop that has slept once and is not stopped is either asleep or in a round. A
 * round that hangs on purpose (a frozen client) is declared with {@link stall}, so that time can
 * move on while it hangs, as it would for a stalled process.
 */
import type { Clock, Sleep } from '../../src/leader/leader-election.js';

interface Waiter {
  at: number;
  signal: AbortSignal | undefined;
  resolve: () => void;
}

export class SteppedTime {
  now: number;
  private waiters: Waiter[] = [];
  private readonly loops = new Set<AbortSignal>();
  private stalled = 0;

  constructor(
    start = Date.parse('2026-01-01T00:00:00Z'),
    /** Real time one round may take before {@link idle} gives up (a hung call, not a slow one). */
    private readonly idleTimeoutMs = 60_000,
  ) {
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

  /** True when every campaign loop not stopped is asleep, or in a round declared stalled. */
  isIdle(): boolean {
    let busy = 0;
    for (const signal of this.loops) {
      if (signal.aborted) continue;
      if (!this.waiters.some((w) => w.signal === signal)) busy += 1;
    }
    return busy <= this.stalled;
  }

  /** Declares a call that hangs on purpose (its round does not hold time back); returns the undo. */
  stall(): () => void {
    this.stalled += 1;
    let undone = false;
    return () => {
      if (undone) return;
      undone = true;
      this.stalled -= 1;
    };
  }

  /** Waits (real time, polling) until {@link isIdle}. */
  async idle(): Promise<void> {
    const deadline = Date.now() + this.idleTimeoutMs;
    while (!this.isIdle()) {
      if (Date.now() > deadline) throw new Error(`an elector's round did not end within ${this.idleTimeoutMs} ms of real time`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Moves time forward by `ms`, waking sleepers in order, each time until the woken round is over. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    await this.idle();
    for (;;) {
      const next = this.waiters.filter((w) => w.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.waiters = this.waiters.filter((w) => w !== next);
      this.now = Math.max(this.now, next.at);
      next.resolve();
      await this.idle();
    }
    this.now = end;
  }

  /** Advances in steps, calling `check` after each (e.g. to sample who leads). */
  async step(totalMs: number, stepMs: number, check: () => void): Promise<void> {
    for (let t = 0; t < totalMs; t += stepMs) {
      await this.advance(stepMs);
      check();
    }
  }

  /** Advances in steps of `stepMs` until `cond` holds; fails after `maxMs` of this clock's time. */
  async advanceUntil(what: string, cond: () => boolean, maxMs: number, stepMs = 10): Promise<number> {
    const started = this.now;
    while (!cond()) {
      if (this.now - started >= maxMs) throw new Error(`${what}: not within ${maxMs} ms (stepped time)`);
      await this.advance(stepMs);
    }
    return this.now - started;
  }
}

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
import { FakeTime } from './fake-time.js';

export class SteppedTime extends FakeTime {
  private stalled = 0;

  constructor(
    start = Date.parse('2026-01-01T00:00:00Z'),
    /** Real time one round may take before {@link idle} gives up (a hung call, not a slow one). */
    private readonly idleTimeoutMs = 60_000,
  ) {
    super(start);
  }

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

  /** Each wake-up waits until the round it started is over (real calls included). */
  protected override quiesce(): Promise<void> {
    return this.idle();
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

/**
 * The campaign loop every real {@link LeaderElector} shares (client-go's `LeaderElector.Run`):
 * one attempt at once, then one every retry period (with jitter while not leading), the
 * leadership flag judged on the local clock from the last successful renewal, listeners told of
 * every change, and a stop that ends leading before anything else, waits for the loop and then
 * lets the implementation hand its hold over.
 *
 * An implementation supplies only how to take or keep its hold ({@link ElectorLoop.attempt}),
 * and how to let it go ({@link ElectorLoop.release}); it reports the outcome of a round with
 * {@link ElectorLoop.renewed} and {@link ElectorLoop.setLeading}.
 */
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import {
  JITTER_FACTOR,
  LeadershipListeners,
  realClock,
  realSleep,
  type Clock,
  type LeaderElector,
  type Sleep,
  type StopOptions,
} from './leader-election.js';
import { LeaderEvent } from '../reasons.js';

export interface ElectorLoopOptions {
  identity: string;
  /** Renew every retry period; stop leading after the renew deadline without a renewal. */
  timings: { renewDeadlineMs: number; retryPeriodMs: number };
  logger?: Logger | undefined;
  clock?: Clock | undefined;
  sleep?: Sleep | undefined;
  /** [0, 1): jitter of a candidate's retry period; default Math.random. */
  random?: (() => number) | undefined;
  /** What is contended for, in log lines: a field (e.g. `{ lease: 'Lease ns/name' }`) and a phrase. */
  subject: { fields: Record<string, string>; text: string };
}

export abstract class ElectorLoop implements LeaderElector {
  readonly identity: string;
  protected readonly logger: Logger | undefined;
  protected readonly clock: Clock;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly subject: ElectorLoopOptions['subject'];
  private readonly listeners: LeadershipListeners;

  /** True from a successful acquire until a loss is noticed (isLeader() also checks the time). */
  protected leading = false;
  /** Local time at which the last successful acquire/renew request was SENT. */
  protected renewedAtMs = Number.NEGATIVE_INFINITY;
  /** Aborted by stop(): ends the loop's sleep, and the round in flight is expected to honour it. */
  protected readonly stopController = new AbortController();
  private loop: Promise<void> | null = null;
  private firstAttempt: Promise<void> | null = null;
  private stopped: Promise<void> | null = null;

  constructor(options: ElectorLoopOptions) {
    if (options.identity.trim() === '') throw new Error('leader election needs a non-empty identity (e.g. the pod or host name)');
    this.identity = options.identity;
    this.renewDeadlineMs = options.timings.renewDeadlineMs;
    this.retryPeriodMs = options.timings.retryPeriodMs;
    this.logger = options.logger;
    this.clock = options.clock ?? realClock;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
    this.subject = options.subject;
    this.listeners = new LeadershipListeners((err) =>
      this.logger?.error({ reason: LeaderEvent.ListenerFailed }, `a leadership listener failed: ${errorMessage(err)}`),
    );
  }

  /**
   * One round: take the hold, or renew it while leading, then call {@link renewed} and
   * {@link setLeading} accordingly. Must not reject; must return soon after stop() aborts
   * {@link stopController}.
   */
  protected abstract attempt(): Promise<void>;

  /**
   * Lets the hold go after the loop has ended. `release: false` asks to leave it to expire where
   * the mechanism allows. Must not reject.
   */
  protected abstract release(release: boolean): Promise<void>;

  /** Called by stop() right after aborting {@link stopController}, to cut a round short. */
  protected interrupt(): void {}

  /** Called when leadership ends, before listeners hear of it: forget what only a leader keeps. */
  protected forgetLeadership(): void {}

  isLeader(): boolean {
    return this.leading && this.clock() - this.renewedAtMs < this.renewDeadlineMs;
  }

  onChange(listener: (leader: boolean) => void): void {
    this.listeners.add(listener);
  }

  async start(): Promise<void> {
    if (this.loop) throw new Error('leader election already started');
    if (this.stopped) throw new Error('leader election was stopped; create a new elector to campaign again');
    this.loop = this.run();
    await this.firstAttempt;
  }

  stop(options: StopOptions = {}): Promise<void> {
    this.stopped ??= this.shutdown(options.release ?? true);
    return this.stopped;
  }

  private async shutdown(release: boolean): Promise<void> {
    // Stop mutating before anything else, then stop the loop, then hand the hold over.
    this.setLeading(false, 'stopping');
    this.stopController.abort();
    this.interrupt();
    await this.loop?.catch(() => undefined);
    await this.release(release);
  }

  private async run(): Promise<void> {
    const first = this.attempt();
    this.firstAttempt = first;
    await first;
    while (!this.stopController.signal.aborted) {
      // The leader renews on a fixed period; candidates spread out (client-go's JitterUntil).
      const wait = this.leading ? this.retryPeriodMs : this.retryPeriodMs * (1 + this.random() * JITTER_FACTOR);
      await this.sleep(wait, this.stopController.signal);
      if (this.stopController.signal.aborted) break;
      await this.attempt();
    }
  }

  /** The renewal sent at `sentAtMs` succeeded. */
  protected renewed(sentAtMs: number): void {
    this.renewedAtMs = sentAtMs;
  }

  /** True when a leader has gone the renew deadline without a renewal. */
  protected renewDeadlinePassed(): boolean {
    return this.clock() - this.renewedAtMs >= this.renewDeadlineMs;
  }

  /** Time left until the renew deadline of a leader (at least 1 ms), else the whole deadline. */
  protected roundTimeoutMs(nowMs: number): number {
    return this.leading ? Math.max(1, this.renewedAtMs + this.renewDeadlineMs - nowMs) : this.renewDeadlineMs;
  }

  protected setLeading(leading: boolean, why: string): void {
    if (this.leading === leading) return;
    this.leading = leading;
    if (!leading) {
      this.renewedAtMs = Number.NEGATIVE_INFINITY;
      this.forgetLeadership();
    }
    this.logger?.info(
      { reason: leading ? LeaderEvent.BecameLeader : LeaderEvent.StoppedLeading, ...this.subject.fields, identity: this.identity, why },
      leading ? `leader election: ${this.identity} is now the leader (${this.subject.text})` : `leader election: ${this.identity} is no longer the leader (${why})`,
    );
    this.listeners.emit(leading);
  }
}

/**
 * Leader election (safety invariant 7, "one writer"): of several controller processes sharing one
 * state, only the elected leader mutates. The controller asks {@link LeaderElector.isLeader}
 * before each batch of mutations (the executor's `mayMutate` hook); a process that loses the
 * lease stops mutating at once, and non-leaders keep serving metrics and health.
 *
 * Implementations: a Kubernetes Lease (`kubernetes-lease.ts`), a PostgreSQL advisory lock
 * (`postgres-advisory-lock.ts`), and {@link SoleLeader} for a single process (PGlite, or election
 * switched off).
 */
import { UserError } from '../util/errors.js';

export interface LeaderElector {
  /** Who this process is in the election (pod name, host name, ...): for logs. */
  readonly identity: string;
  /**
   * Starts campaigning in the background and resolves after the first attempt, won or not (it
   * rejects only on a bad setup, e.g. no credentials). Call once.
   */
  start(): Promise<void>;
  /**
   * True while this process holds a valid lease *now*: judged on the local clock, from the last
   * successful renewal, so it turns false by itself when renewals stop succeeding, even before
   * the background loop notices. Cheap: no I/O. Must not be cached by callers.
   */
  isLeader(): boolean;
  /** Called on every change of leadership (true: became leader, false: lost or gave it up). */
  onChange(listener: (leader: boolean) => void): void;
  /**
   * Stops campaigning and releases the lease if held (so another process can take over within
   * one retry period instead of waiting for the lease to expire). isLeader() is false before the
   * release is sent. `release: false` leaves the lease to expire instead: for a shutdown whose
   * in-flight mutations did not finish, so nobody else starts before they are surely over.
   * Idempotent (the first call's options count); never rejects.
   */
  stop(options?: StopOptions): Promise<void>;
}

export interface StopOptions {
  /** Hand the lease over now (default true). */
  release?: boolean;
}

/** Milliseconds since the epoch on the local clock; injectable so tests move time. */
export type Clock = () => number;
/** Waits `ms`, or less when `signal` aborts (then resolves, never rejects). */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realClock: Clock = () => Date.now();

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * client-go's three timings. A leader renews every `retryPeriodMs`; it stops leading when it has
 * not renewed for `renewDeadlineMs`; the others take over when the lease record has not changed
 * for `leaseDurationMs` (as they observed it on their own clocks).
 */
export interface LeaderTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const DEFAULT_LEADER_TIMINGS: Readonly<LeaderTimings> = Object.freeze({
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
});

/** client-go's jitter factor: a candidate retries after retryPeriod × (1 + random × 1.2). */
export const JITTER_FACTOR = 1.2;

/** Bad timings; the message names the settings as the caller calls them. */
export class LeaderElectionConfigError extends UserError {
  override readonly name = 'LeaderElectionConfigError';
}

const seconds = (ms: number): string => `${ms / 1000}s`;

/**
 * Checks client-go's rule: lease duration > renew deadline > 1.2 × retry period, all positive,
 * the lease duration in whole seconds. Without a lease duration (the PostgreSQL lock has none)
 * only the second half is checked. `names` are the settings' names for the message (e.g. the
 * environment variables).
 */
export function validateLeaderTimings<T extends Omit<LeaderTimings, 'leaseDurationMs'> & { leaseDurationMs?: number }>(
  timings: T,
  names: { leaseDuration: string; renewDeadline: string; retryPeriod: string } = {
    leaseDuration: 'the lease duration',
    renewDeadline: 'the renew deadline',
    retryPeriod: 'the retry period',
  },
): T {
  const { leaseDurationMs: lease, renewDeadlineMs: deadline, retryPeriodMs: retry } = timings;
  const checks: [number, string][] = [
    [deadline, names.renewDeadline],
    [retry, names.retryPeriod],
  ];
  if (lease !== undefined) checks.unshift([lease, names.leaseDuration]);
  for (const [value, name] of checks) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new LeaderElectionConfigError(`${name} must be a positive duration such as 2s (got ${value} ms)`);
    }
  }
  if (lease !== undefined && lease % 1000 !== 0) {
    throw new LeaderElectionConfigError(`${names.leaseDuration} must be whole seconds, since a Lease stores it in seconds (got ${seconds(lease)})`);
  }
  if (lease !== undefined && !(lease > deadline)) {
    throw new LeaderElectionConfigError(
      `${names.leaseDuration} (${seconds(lease)}) must be longer than ${names.renewDeadline} (${seconds(deadline)}), ` +
        `or another process could take over while this one still leads; defaults are 15s and 10s`,
    );
  }
  if (!(deadline > JITTER_FACTOR * retry)) {
    throw new LeaderElectionConfigError(
      `${names.renewDeadline} (${seconds(deadline)}) must be longer than ${JITTER_FACTOR} × ${names.retryPeriod} ` +
        `(${seconds(retry)} × ${JITTER_FACTOR} = ${seconds(JITTER_FACTOR * retry)}), so a leader gets several tries to renew; defaults are 10s and 2s`,
    );
  }
  return timings;
}

/** Listeners of leadership changes: called in order, a throwing listener does not stop the rest. */
export class LeadershipListeners {
  private readonly listeners: ((leader: boolean) => void)[] = [];
  constructor(private readonly onListenerError?: (err: unknown) => void) {}

  add(listener: (leader: boolean) => void): void {
    this.listeners.push(listener);
  }

  emit(leader: boolean): void {
    for (const listener of this.listeners) {
      try {
        listener(leader);
      } catch (err) {
        this.onListenerError?.(err);
      }
    }
  }
}

/**
 * The only process there is: leader from start() to stop(). For the embedded PGlite database
 * (which one process holds locked anyway) and for LEADER_ELECTION=none.
 */
export class SoleLeader implements LeaderElector {
  private leading = false;
  private readonly listeners = new LeadershipListeners();
  constructor(readonly identity: string) {}

  async start(): Promise<void> {
    if (this.leading) return;
    this.leading = true;
    this.listeners.emit(true);
  }

  isLeader(): boolean {
    return this.leading;
  }

  onChange(listener: (leader: boolean) => void): void {
    this.listeners.add(listener);
  }

  async stop(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.listeners.emit(false);
  }
}

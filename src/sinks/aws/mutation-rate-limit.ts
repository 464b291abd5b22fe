/**
 * Client-side rate limits for mutating AWS calls (safety invariant 9): one token bucket per
 * account for IAM mutations and one for S3 mutations, shared by every client of that account
 * (S3 has one client per region). A mutating call waits for a token; reads pass untouched.
 *
 * Why client-side when the SDK already retries throttling: IAM's per-account rate is shared with
 * everything else in the account (people, Terraform, CI), and a controller creating 1,000 users
 * at full speed would throttle all of them and spend its own SDK retry quota (500 capacity units,
 * 5 a throttled retry) until calls fail. Pacing below the account's rate keeps both from
 * happening; the SDK's retries stay as the net for the throttles that still come.
 */
import type { MiddlewareStack } from '@smithy/types';
import { TokenBucket } from '../../queue/token-bucket.js';
import { isMutation } from './api-calls.js';

export interface MutationRates {
  /** IAM mutations per second per account (AWS_IAM_MUTATIONS_PER_SECOND); Infinity: no limit. */
  iamPerSecond: number;
  /** S3 mutations per second per account (AWS_S3_MUTATIONS_PER_SECOND); Infinity: no limit. */
  s3PerSecond: number;
}

/**
 * Defaults, from REFERENCE.md ("IAM … throttling is reported in practice at about 5–10 mutations
 * per second"): 5 per second, the low end, because the rate is the whole account's and is shared;
 * S3 bucket-configuration calls have no published rate, and an add-on needs about 7 of them to
 * IAM's 3, so 20 per second keeps S3 from ever being the slower of the two at the IAM default.
 */
export const DEFAULT_MUTATION_RATES: MutationRates = { iamPerSecond: 5, s3PerSecond: 20 };

export interface Gate {
  /** Resolves when the caller may make one call; FIFO. Rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void>;
}

/** A token bucket that callers wait on, first come first served. */
export class PacedGate implements Gate {
  private readonly bucket: TokenBucket;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    perSecond: number,
    private readonly clock: { now: () => number; sleep: (ms: number) => Promise<void> } = { now: Date.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
  ) {
    // A tenth of a second's worth (at least 1): the calls go out evenly spaced, never in a clump
    // the service's own bucket refuses, yet a wake-up that comes late (a busy event loop) does not
    // lose the tokens that accrued meanwhile; with burst 1 a 7 ms late timer cut 20/s to 17.5/s.
    this.bucket = new TokenBucket({ qps: perSecond, burst: Number.isFinite(perSecond) ? Math.max(1, Math.floor(perSecond / 10)) : 1 });
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (this.bucket.qps === Infinity) return Promise.resolve();
    const turn = this.tail.then(async () => {
      for (;;) {
        signal?.throwIfAborted();
        const wait = this.bucket.take(this.clock.now());
        if (wait === 0) return;
        await this.clock.sleep(wait);
      }
    });
    // The next caller queues behind this one whether it got its token or gave up.
    this.tail = turn.catch(() => {});
    return turn;
  }
}

/** The gates of one account. */
export class AccountMutationGates {
  readonly iam: Gate;
  readonly s3: Gate;

  constructor(rates: MutationRates) {
    this.iam = new PacedGate(rates.iamPerSecond);
    this.s3 = new PacedGate(rates.s3PerSecond);
  }
}

/**
 * Adds the pacing middleware to a client's stack. It sits in `finalizeRequest` after the retry
 * middleware, so every attempt (a retry too) waits for its own token: a retried call spends the
 * account's rate again, so it must be paced again.
 */
export function paceMutations(stack: MiddlewareStack<any, any>, gate: Gate): void {
  stack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName ?? '').replace(/Command$/, '');
      if (operation && isMutation(operation)) await gate.acquire();
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'heroku-s3-controller-mutation-pacing', override: true },
  );
}

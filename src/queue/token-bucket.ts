/**
 * A token bucket: `burst` tokens at most, refilled continuously at `qps` per second. Pure
 * arithmetic over a clock reading passed in, so it is tested (and reused for other budgets)
 * without timers.
 */
const EPSILON = 1e-9;

export interface TokenBucketOptions {
  /** Tokens added per second; `Infinity` means no limit. */
  qps: number;
  /** Capacity, and the number of tokens at the start (at least 1). */
  burst: number;
}

export class TokenBucket {
  private tokens: number;
  private last: number | null = null;
  readonly qps: number;
  readonly burst: number;

  constructor(options: TokenBucketOptions) {
    if (!(options.qps > 0)) throw new RangeError(`token bucket qps must be > 0, got ${options.qps}`);
    if (!(options.burst >= 1) || !Number.isFinite(options.burst)) {
      throw new RangeError(`token bucket burst must be a finite number >= 1, got ${options.burst}`);
    }
    this.qps = options.qps;
    this.burst = Math.floor(options.burst);
    this.tokens = this.burst;
  }

  /**
   * Takes one token if there is one and returns 0; otherwise takes nothing and returns how many
   * milliseconds from `now` until one will be there.
   */
  take(now: number): number {
    if (this.qps === Infinity) return 0;
    this.refill(now);
    // The epsilon absorbs floating-point dust, so a wake-up at the computed time finds its token.
    if (this.tokens >= 1 - EPSILON) {
      this.tokens = Math.max(0, this.tokens - 1);
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) / this.qps) * 1000 - EPSILON));
  }

  /** Tokens available at `now` (fractional). */
  available(now: number): number {
    if (this.qps === Infinity) return Infinity;
    this.refill(now);
    return this.tokens;
  }

  private refill(now: number): void {
    if (this.last !== null && now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    }
    // A clock that steps backwards must not mint tokens; it only moves the reference point.
    this.last = this.last === null ? now : Math.max(this.last, now);
  }
}

/**
 * The Heroku request budget (DESIGN.md safety invariant 9): pure bookkeeping, no I/O, on an
 * injected clock. Heroku gives each account a bucket of 4,500 tokens refilled at about 75 per
 * minute, shared by every client of that account; the controller must leave room for the others.
 *
 * - **Share cap**: requests this controller sent in the sliding last hour never exceed
 *   `maxShare × tokensPerHour`. A sliding window (not a token bucket of our own) makes the cap
 *   exact: a bucket would allow its capacity *plus* an hour of refill within one hour.
 * - **Account budget**: the latest `RateLimit-Remaining`, plus the refill since it was read, minus
 *   what we sent since, estimates the tokens left; with less than one left a request would only
 *   earn a 429, so it waits for the refill instead.
 * - **Floor**: under `floor` remaining tokens, scheduled full passes (the expensive part) are
 *   deferred until the budget recovers; single-key reconciles keep going through admission.
 */
import { BudgetWait, HerokuEvent } from '../reasons.js';

export interface HerokuBudgetOptions {
  /** The account's refill per hour; also the bucket's capacity. Heroku: 4,500. */
  tokensPerHour?: number;
  /** 0 < share ≤ 1: our requests per sliding hour are at most `share × tokensPerHour`. */
  maxShare?: number;
  /** Below this many remaining tokens, full resyncs are deferred. */
  floor?: number;
  /** Milliseconds since the epoch; injectable so tests move time instead of waiting. */
  clock?: () => number;
  /** Abortable sleep for {@link HerokuBudget.waitForToken}; injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export type Admission = { ok: true } | { ok: false; waitMs: number; reason: BudgetWaitReason };

/** Why a request has to wait: our own hourly share is used up, or the account's bucket is empty. */
export type BudgetWaitReason = BudgetWait;

export type ResyncDeferral =
  | { defer: false; reason: null; code: null; retryInMs: 0 }
  | { defer: true; reason: string; code: typeof HerokuEvent.BudgetBelowFloor | typeof HerokuEvent.BudgetShareUsed; retryInMs: number };

export interface BudgetSnapshot {
  /** The latest `RateLimit-Remaining`; null before Heroku has answered. */
  remaining: number | null;
  /** Estimated tokens left now (refill since the reading, minus our sends since); null when unknown. */
  estimatedRemaining: number | null;
  /** Requests this controller sent in the sliding last hour (every attempt and page counts). */
  spentLastHour: number;
  /** The most it may send per sliding hour. */
  capPerHour: number;
  floor: number;
}

const HOUR_MS = 3_600_000;

export const HEROKU_BUDGET_DEFAULTS = { tokensPerHour: 4500, maxShare: 0.5, floor: 1000 } as const;

export class HerokuBudget {
  readonly tokensPerHour: number;
  readonly maxShare: number;
  readonly floor: number;
  /** `floor(maxShare × tokensPerHour)`, at least 1. */
  readonly capPerHour: number;
  private readonly clock: () => number;
  private readonly sleepFn: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Send times of the last hour, oldest first; `head` skips the ones that aged out. */
  private sent: number[] = [];
  private head = 0;
  private remaining: number | null = null;
  private remainingAt = 0;
  private sentSinceReading = 0;

  constructor(options: HerokuBudgetOptions = {}) {
    this.tokensPerHour = options.tokensPerHour ?? HEROKU_BUDGET_DEFAULTS.tokensPerHour;
    this.maxShare = options.maxShare ?? HEROKU_BUDGET_DEFAULTS.maxShare;
    this.floor = options.floor ?? HEROKU_BUDGET_DEFAULTS.floor;
    if (!(this.tokensPerHour > 0)) throw new RangeError(`tokensPerHour must be positive, got ${this.tokensPerHour}`);
    if (!(this.maxShare > 0 && this.maxShare <= 1)) throw new RangeError(`maxShare must be in (0, 1], got ${this.maxShare}`);
    if (!(this.floor >= 0)) throw new RangeError(`floor must be 0 or more, got ${this.floor}`);
    this.capPerHour = Math.max(1, Math.floor(this.maxShare * this.tokensPerHour));
    this.clock = options.clock ?? Date.now;
    this.sleepFn = options.sleep ?? abortableSleep;
  }

  /**
   * Before each request (each page and each retry): `ok` means send now, and the request is
   * counted; otherwise wait `waitMs` and ask again. Never counts a request it does not admit.
   */
  admit(): Admission {
    const now = this.clock();
    this.expire(now);
    if (this.spentInWindow() >= this.capPerHour) {
      // The oldest send of the window ages out first; then one more fits.
      return { ok: false, waitMs: Math.max(1, this.sent[this.head]! + HOUR_MS - now), reason: BudgetWait.ShareUsed };
    }
    const estimate = this.estimate(now);
    if (estimate !== null && estimate < 1) {
      return { ok: false, waitMs: Math.max(1, Math.ceil((1 - estimate) / this.refillPerMs())), reason: BudgetWait.AccountEmpty };
    }
    this.sent.push(now);
    this.sentSinceReading += 1;
    return { ok: true };
  }

  /**
   * Waits until {@link admit} lets a request through (and counts it). Rejects with the signal's
   * reason when aborted; `onWait` hears every wait (for logs).
   */
  async waitForToken(signal?: AbortSignal, onWait?: (waitMs: number, reason: BudgetWaitReason) => void): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const admission = this.admit();
      if (admission.ok) return;
      onWait?.(admission.waitMs, admission.reason);
      await this.sleepFn(admission.waitMs, signal);
    }
  }

  /** Every answer's `RateLimit-Remaining` (429s included). */
  observeRemaining(remaining: number): void {
    if (!Number.isFinite(remaining)) return;
    this.remaining = Math.max(0, remaining);
    this.remainingAt = this.clock();
    this.sentSinceReading = 0;
  }

  /** A 429 without a usable header still means the account's bucket is empty now. */
  observeRateLimited(): void {
    this.observeRemaining(0);
  }

  /**
   * Whether a scheduled full pass should wait: while the account's estimated budget is under the
   * floor, or our hourly share has no room for `estimatedCost` more requests (a pass that would
   * stall half-way on admission is better not started). Single-key reconciles are not asked.
   */
  shouldDeferResync(estimatedCost = 1): ResyncDeferral {
    const now = this.clock();
    this.expire(now);
    const estimate = this.estimate(now);
    if (estimate !== null && estimate < this.floor) {
      const retryInMs = Math.ceil((this.floor - estimate) / this.refillPerMs());
      return {
        defer: true,
        code: HerokuEvent.BudgetBelowFloor,
        retryInMs,
        reason: `Heroku's request budget is about ${Math.floor(estimate)} tokens, under the floor of ${this.floor} (HEROKU_BUDGET_FLOOR); the full pass waits about ${formatMinutes(retryInMs)} for it to refill`,
      };
    }
    const room = this.capPerHour - this.spentInWindow();
    const needed = Math.min(Math.max(1, Math.ceil(estimatedCost)), this.capPerHour);
    if (room < needed) {
      const freeingAt = this.sent[this.head + (needed - room) - 1] ?? now;
      const retryInMs = Math.max(1, freeingAt + HOUR_MS - now);
      return {
        defer: true,
        code: HerokuEvent.BudgetShareUsed,
        retryInMs,
        reason: `this controller sent ${this.spentInWindow()} Heroku requests in the last hour, its cap is ${this.capPerHour} (HEROKU_BUDGET_MAX_SHARE of ${this.tokensPerHour}) and a pass needs about ${needed}; the full pass waits about ${formatMinutes(retryInMs)}`,
      };
    }
    return { defer: false, reason: null, code: null, retryInMs: 0 };
  }

  snapshot(): BudgetSnapshot {
    const now = this.clock();
    this.expire(now);
    const estimate = this.estimate(now);
    return {
      remaining: this.remaining,
      estimatedRemaining: estimate === null ? null : Math.floor(estimate),
      spentLastHour: this.spentInWindow(),
      capPerHour: this.capPerHour,
      floor: this.floor,
    };
  }

  private refillPerMs(): number {
    return this.tokensPerHour / HOUR_MS;
  }

  private estimate(now: number): number | null {
    if (this.remaining === null) return null;
    const refilled = Math.min(this.tokensPerHour, this.remaining + Math.max(0, now - this.remainingAt) * this.refillPerMs());
    return refilled - this.sentSinceReading;
  }

  private spentInWindow(): number {
    return this.sent.length - this.head;
  }

  private expire(now: number): void {
    while (this.head < this.sent.length && this.sent[this.head]! <= now - HOUR_MS) this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.sent.length) {
      this.sent = this.sent.slice(this.head);
      this.head = 0;
    }
  }
}

function formatMinutes(ms: number): string {
  if (ms < 60_000) return `${Math.max(1, Math.ceil(ms / 1000))} s`;
  return `${Math.ceil(ms / 60_000)} min`;
}

/** `setTimeout` as a promise that rejects with the signal's reason when aborted. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

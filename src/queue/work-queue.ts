/**
 * A keyed work queue in the manner of controller-runtime's `reconcileHandler` over client-go's
 * rate-limited workqueue (STYLE.md #6). Keys are add-on ids; whatever triggered them (a webhook, a
 * provisioning call, the periodic resync), a key only says *which* add-on to look at.
 *
 * Guarantees:
 * - **Dedupe**: a key waiting to start is queued once, however often it is added.
 * - **One in flight per key**: a key added while its handler runs is marked dirty and queued once
 *   more when that run ends — never started twice at once.
 * - **At most `concurrency` handlers** run at a time.
 * - **Per-key exponential backoff**: `addRateLimited(key)` (and a handler answering `'retry'` or
 *   throwing) re-adds the key after `min(baseMs · 2^failures, maxMs)`; `forget(key)` (and a handler
 *   answering `'done'`) resets it. A failure that asking again soon will not fix — a handler
 *   answering `'wait'`, or throwing an error that needs a change outside the controller
 *   (`classifyError`: access denied, refused, terminal) — waits `maxMs` at once instead of
 *   hammering the service.
 * - **A global token bucket** (`qps`, `burst`) on how fast keys *start*, whatever queued them.
 * - **Graceful shutdown**: `shutDown()` stops taking keys, drops the ones not started, waits for the
 *   handlers in flight up to a deadline, then aborts their signals.
 *
 * As in controller-runtime, `add()` always means "look at this key as soon as a worker and a token
 * are free": it does not wait for a pending backoff. Only `addRateLimited()` is delayed. A delayed
 * add is satisfied by any run of the key that starts before it fires, so it is cancelled then —
 * the run reads fresh state, and if it fails it schedules its own (longer) retry.
 *
 * Time comes from an injectable clock (`now`, `setTimeout`, `clearTimeout`), so tests move time
 * instead of waiting (STYLE.md #9).
 */
import { classifyError, needsOutsideChange, type ErrorClass } from '../util/error-class.js';
import { TokenBucket } from './token-bucket.js';

/**
 * What a handler reports: `'done'` forgets the key's backoff; `'retry'` (or a throw) backs off
 * exponentially; `'wait'` (or a throw of access denied, refused or terminal) backs off to the
 * maximum delay at once: something outside the controller has to change first.
 */
export type WorkResult = 'done' | 'retry' | 'wait';

/**
 * Reconciles one key. Must honour `signal`: it aborts when the handler's own deadline passes or
 * when a shutdown's deadline passes. Throwing counts as `'retry'` and is reported to `onError`.
 */
export type WorkHandler = (key: string, signal: AbortSignal) => Promise<WorkResult>;

/** How a run ended, for metrics. */
export type WorkOutcome = 'done' | 'retry' | 'wait' | 'error';

/** Time source and timers; `systemClock` by default. */
export interface QueueClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The process clock. The globals are looked up on every call, so vitest's fake timers (installed
 * after this module loads) are honoured too.
 */
export const systemClock: QueueClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Metrics hooks. All optional; they must not throw (a throwing hook is a bug in the caller). */
export interface WorkQueueHooks {
  /** Keys waiting to start (not counting in-flight, dirty or delayed keys), whenever it changes. */
  onDepth?(depth: number): void;
  /** A key was accepted: queued, or marked dirty while in flight. */
  onAdd?(key: string): void;
  /** An add collapsed into one already pending (dedupe). */
  onDedupe?(key: string): void;
  /** A key will be retried after `delayMs`; `failures` counts consecutive failures so far. */
  onRetry?(key: string, delayMs: number, failures: number): void;
  /** A key started `latencyMs` after it was queued. */
  onStart?(key: string, latencyMs: number): void;
  /** A handler ran for `durationMs` and ended with `outcome`. */
  onWorkDuration?(key: string, durationMs: number, outcome: WorkOutcome): void;
  /**
   * A handler threw (or returned something other than `'done'`/`'retry'`/`'wait'`); `failure` is
   * its classification, which chose the backoff (`maxMs` at once for access denied, refused, terminal).
   */
  onError?(key: string, error: unknown, failure: ErrorClass): void;
}

export interface WorkQueueOptions {
  handler: WorkHandler;
  /** Handlers running at once (the number of workers). Default 4. */
  concurrency?: number;
  /** Per-key exponential backoff. Default 1 s doubling up to 5 min. */
  backoff?: { baseMs: number; maxMs: number };
  /**
   * Global rate of key starts. Default 5 per second with a burst of 20; `{ qps: Infinity, burst: 1 }`
   * turns it off.
   */
  rateLimit?: { qps: number; burst: number };
  /** Each handler's deadline: its signal aborts after this long. Default 10 min; `Infinity`: none. */
  handlerTimeoutMs?: number;
  /** How long `shutDown()` waits for in-flight handlers before aborting them. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** After aborting at the shutdown deadline, how long to wait for handlers to notice. Default 1 s. */
  abortGraceMs?: number;
  clock?: QueueClock;
  hooks?: WorkQueueHooks;
}

export interface ShutdownResult {
  /** Every in-flight handler finished (before or after the abort). */
  drained: boolean;
  /** Keys still running when `shutDown()` gave up on them; their handlers ignored the abort. */
  abandoned: string[];
  /** Keys queued, dirty or waiting for a retry that were dropped without running. */
  dropped: number;
}

/** The reason a handler's signal aborts when its own deadline passes. */
export class WorkTimeoutError extends Error {
  override readonly name = 'WorkTimeoutError';
}

/** The reason a handler's signal aborts when a shutdown's deadline passes. */
export class WorkQueueShutdownError extends Error {
  override readonly name = 'WorkQueueShutdownError';
}

interface Run {
  key: string;
  controller: AbortController;
  startedAt: number;
  timeout: unknown;
  /** Settles (never rejects) once the handler has ended and its outcome is applied. */
  done: Promise<void>;
}

interface Delayed {
  at: number;
  timer: unknown;
}

type Settled = { result: 'done' | 'retry' | 'wait' } | { result: 'error'; error: unknown };

export class WorkQueue {
  private readonly handler: WorkHandler;
  private readonly concurrency: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly bucket: TokenBucket | null;
  private readonly handlerTimeoutMs: number;
  private readonly shutdownTimeoutMs: number;
  private readonly abortGraceMs: number;
  private readonly clock: QueueClock;
  private readonly hooks: WorkQueueHooks;

  /** Keys waiting to start, in arrival order, with when they were queued. */
  private readonly queued = new Map<string, number>();
  /** Keys added while in flight: queued again when their run ends. */
  private readonly dirty = new Map<string, number>();
  private readonly running = new Map<string, Run>();
  private readonly delayed = new Map<string, Delayed>();
  private readonly failures = new Map<string, number>();

  private wake: { at: number; timer: unknown } | null = null;
  private pumping = false;
  private lastDepth = 0;
  private idleWaiters: Array<() => void> = [];
  private shutdown: Promise<ShutdownResult> | null = null;

  constructor(options: WorkQueueOptions) {
    this.handler = options.handler;
    this.concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new RangeError(`work queue concurrency must be an integer >= 1, got ${this.concurrency}`);
    }
    this.baseMs = options.backoff?.baseMs ?? 1_000;
    this.maxMs = options.backoff?.maxMs ?? 300_000;
    if (!(this.baseMs > 0) || !(this.maxMs >= this.baseMs)) {
      throw new RangeError(`work queue backoff needs 0 < baseMs <= maxMs, got ${this.baseMs} and ${this.maxMs}`);
    }
    const rate = options.rateLimit ?? { qps: 5, burst: 20 };
    this.bucket = rate.qps === Infinity ? null : new TokenBucket(rate);
    this.handlerTimeoutMs = options.handlerTimeoutMs ?? 600_000;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 30_000;
    this.abortGraceMs = options.abortGraceMs ?? 1_000;
    this.clock = options.clock ?? systemClock;
    this.hooks = options.hooks ?? {};
  }

  /**
   * Asks for `key` to be reconciled. Returns false when it collapsed into a pending add (or the
   * queue is shutting down), true when it was accepted.
   */
  add(key: string): boolean {
    if (this.shutdown) return false;
    if (this.queued.has(key) || this.dirty.has(key)) {
      this.hooks.onDedupe?.(key);
      return false;
    }
    const now = this.clock.now();
    if (this.running.has(key)) this.dirty.set(key, now);
    else this.queued.set(key, now);
    this.hooks.onAdd?.(key);
    this.pump();
    return true;
  }

  /** The periodic resync's safety net: `add` for every key. Returns how many were accepted. */
  enqueueAll(keys: Iterable<string>): number {
    let accepted = 0;
    for (const key of keys) if (this.add(key)) accepted++;
    return accepted;
  }

  /**
   * Adds `key` after `delayMs`. If the key already waits for a delayed add that fires sooner, that
   * one stands; a later one is replaced.
   */
  addAfter(key: string, delayMs: number): boolean {
    if (this.shutdown) return false;
    if (!(delayMs > 0)) return this.add(key);
    const at = this.clock.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return false;
    if (existing) this.clock.clearTimeout(existing.timer);
    const timer = this.clock.setTimeout(() => {
      if (this.delayed.get(key)?.timer !== timer) return;
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { at, timer });
    return true;
  }

  /**
   * Adds `key` after its backoff, and counts one more failure for it. With `retryable: false`
   * (asking again soon will not help) the backoff is `maxMs` at once.
   */
  addRateLimited(key: string, options: { retryable?: boolean } = {}): boolean {
    if (this.shutdown) return false;
    const failures = this.failures.get(key) ?? 0;
    const delayMs = options.retryable === false ? this.maxMs : this.backoffFor(failures);
    this.failures.set(key, failures + 1);
    this.hooks.onRetry?.(key, delayMs, failures + 1);
    return this.addAfter(key, delayMs);
  }

  /** Resets `key`'s backoff (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Consecutive failures recorded for `key` since it was last forgotten. */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The delay the next `addRateLimited(key)` would use. */
  nextBackoff(key: string): number {
    return this.backoffFor(this.failures.get(key) ?? 0);
  }

  /** Keys waiting to start. */
  get depth(): number {
    return this.queued.size;
  }

  /** Keys whose handler is running now. */
  inFlight(): string[] {
    return [...this.running.keys()];
  }

  /** Counts of keys by where they are. */
  stats(): { queued: number; running: number; dirty: number; delayed: number } {
    return { queued: this.queued.size, running: this.running.size, dirty: this.dirty.size, delayed: this.delayed.size };
  }

  get shuttingDown(): boolean {
    return this.shutdown !== null;
  }

  /**
   * Resolves once nothing is queued, dirty or running. Keys waiting for a delayed retry do not
   * count: a key that keeps failing would otherwise never let this resolve.
   */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops taking keys: later adds are refused, queued keys and pending retries are dropped (the
   * next leader's resync finds them again). Waits for in-flight handlers up to `timeoutMs`, then
   * aborts their signals and waits `abortGraceMs` more. Calling it again returns the same promise.
   */
  shutDown(options: { timeoutMs?: number } = {}): Promise<ShutdownResult> {
    if (this.shutdown) return this.shutdown;
    const dropped = this.queued.size + this.dirty.size + this.delayed.size;
    this.queued.clear();
    this.dirty.clear();
    for (const d of this.delayed.values()) this.clock.clearTimeout(d.timer);
    this.delayed.clear();
    if (this.wake) this.clock.clearTimeout(this.wake.timer);
    this.wake = null;
    this.reportDepth();
    const timeoutMs = options.timeoutMs ?? this.shutdownTimeoutMs;
    this.shutdown = this.drain(timeoutMs, dropped);
    this.checkIdle();
    return this.shutdown;
  }

  // ---- internals ---------------------------------------------------------------------------------

  private backoffFor(failures: number): number {
    // 2^failures overflows to Infinity long before it matters; min() caps it.
    return Math.min(this.maxMs, this.baseMs * 2 ** failures);
  }

  private async drain(timeoutMs: number, dropped: number): Promise<ShutdownResult> {
    if (this.running.size === 0) return { drained: true, abandoned: [], dropped };
    const all = Promise.all([...this.running.values()].map((r) => r.done)).then(() => true);
    if (await this.raceTimer(all, timeoutMs)) return { drained: true, abandoned: [], dropped };
    for (const run of this.running.values()) {
      run.controller.abort(new WorkQueueShutdownError(`work queue shut down: key ${run.key} was still running after ${timeoutMs} ms`));
    }
    const drained = await this.raceTimer(all, this.abortGraceMs);
    return { drained, abandoned: drained ? [] : [...this.running.keys()], dropped };
  }

  /** Resolves true when `done` settles first, false when `ms` pass first. */
  private raceTimer(done: Promise<boolean>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => resolve(false), ms);
      void done.then(() => {
        this.clock.clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Starts queued keys while a worker and a token are free. */
  private pump(): void {
    // A handler's synchronous part runs inside start(); if it adds keys, the outer loop picks them up.
    if (this.pumping || this.shutdown) return;
    this.pumping = true;
    try {
      while (this.running.size < this.concurrency && this.queued.size > 0) {
        const wait = this.bucket ? this.bucket.take(this.clock.now()) : 0;
        if (wait > 0) {
          this.wakeIn(wait);
          break;
        }
        const [key, queuedAt] = this.queued.entries().next().value as [string, number];
        this.queued.delete(key);
        this.start(key, queuedAt);
      }
    } finally {
      this.pumping = false;
    }
    this.reportDepth();
    this.checkIdle();
  }

  private wakeIn(ms: number): void {
    const at = this.clock.now() + ms;
    if (this.wake && this.wake.at <= at) return;
    if (this.wake) this.clock.clearTimeout(this.wake.timer);
    const timer = this.clock.setTimeout(() => {
      if (this.wake?.timer !== timer) return;
      this.wake = null;
      this.pump();
    }, ms);
    this.wake = { at, timer };
  }

  private start(key: string, queuedAt: number): void {
    const pending = this.delayed.get(key);
    if (pending) {
      // This run covers the retry that was waiting.
      this.clock.clearTimeout(pending.timer);
      this.delayed.delete(key);
    }
    const startedAt = this.clock.now();
    this.hooks.onStart?.(key, startedAt - queuedAt);
    const controller = new AbortController();
    const timeout =
      this.handlerTimeoutMs === Infinity
        ? null
        : this.clock.setTimeout(
            () => controller.abort(new WorkTimeoutError(`reconcile of ${key} passed its ${this.handlerTimeoutMs} ms deadline`)),
            this.handlerTimeoutMs,
          );
    const run: Run = { key, controller, startedAt, timeout, done: Promise.resolve() };
    this.running.set(key, run);
    run.done = this.invoke(key, controller.signal).then((settled) => this.finish(run, settled));
  }

  private async invoke(key: string, signal: AbortSignal): Promise<Settled> {
    try {
      const result: unknown = await this.handler(key, signal);
      if (result === 'done' || result === 'retry' || result === 'wait') return { result };
      return { result: 'error', error: new TypeError(`work queue handler returned ${String(result)} for ${key}; expected 'done', 'retry' or 'wait'`) };
    } catch (error) {
      return { result: 'error', error };
    }
  }

  private finish(run: Run, settled: Settled): void {
    if (run.timeout !== null) this.clock.clearTimeout(run.timeout);
    this.running.delete(run.key);
    this.hooks.onWorkDuration?.(run.key, this.clock.now() - run.startedAt, settled.result);
    const failure = settled.result === 'error' ? classifyError(settled.error) : null;
    if (settled.result === 'error' && failure) this.hooks.onError?.(run.key, settled.error, failure);
    if (!this.shutdown) {
      const stuck = settled.result === 'wait' || (failure !== null && needsOutsideChange(failure.kind));
      if (settled.result === 'done') this.forget(run.key);
      else this.addRateLimited(run.key, { retryable: !stuck });
      const dirtyAt = this.dirty.get(run.key);
      if (dirtyAt !== undefined) {
        this.dirty.delete(run.key);
        this.queued.set(run.key, dirtyAt);
      }
    }
    this.pump();
    this.checkIdle();
  }

  private reportDepth(): void {
    if (this.queued.size === this.lastDepth) return;
    this.lastDepth = this.queued.size;
    this.hooks.onDepth?.(this.lastDepth);
  }

  private isIdle(): boolean {
    return this.queued.size === 0 && this.dirty.size === 0 && this.running.size === 0;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}


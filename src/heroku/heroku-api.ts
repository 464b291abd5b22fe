/**
 * The Heroku Platform API through heroku-client: typed errors, request counting, the remaining
 * rate-limit budget read from every response's `RateLimit-Remaining` header and, when a
 * {@link HerokuBudget} is given, admission before every request and patient retries of 429s
 * (safety invariant 9: throttling slows the loop, it never fails it).
 *
 * Pages are fetched one by one here (heroku-client's `partial`), not by heroku-client's own
 * `Next-Range` loop, so that every page waits for admission and a 429 on page 3 retries page 3,
 * not the whole listing.
 */
import Heroku from 'heroku-client';
import { abortableSleep, type HerokuBudget } from './request-budget.js';

export interface HerokuRequest {
  method: string;
  path: string;
  status: number;
}

/** A failed Heroku call, with Heroku's own error id (`not_found`, `rate_limit`, …) when it sent one. */
export class HerokuApiError extends Error {
  override readonly name = 'HerokuApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly statusCode: number | null,
    readonly id: string | null,
    detail: string,
  ) {
    super(`Heroku ${method} ${path} failed: ${statusCode ?? 'no response'}${id ? ` ${id}` : ''}: ${detail}`);
  }

  /** Heroku's rate limit: `429`, or its `rate_limit` error id. */
  get rateLimited(): boolean {
    return this.statusCode === 429 || this.id === 'rate_limit';
  }
}

/** How 429s are retried: `Retry-After` when Heroku sends one, else exponential backoff with jitter. */
export interface HerokuRetryPolicy {
  /** First backoff; doubles per retry. */
  baseDelayMs: number;
  /** Cap of one backoff (and of a `Retry-After`). */
  maxDelayMs: number;
  /** Total time one request may spend waiting on retries; beyond it the 429 surfaces. */
  maxTotalWaitMs: number;
  /** In [0, 1); injectable for tests. */
  random?: () => number;
}

export const DEFAULT_HEROKU_RETRY: HerokuRetryPolicy = { baseDelayMs: 2_000, maxDelayMs: 60_000, maxTotalWaitMs: 180_000 };

export interface HerokuRetryEvent {
  method: string;
  path: string;
  status: number | null;
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  source: 'retry-after' | 'backoff';
}

export interface HerokuCallOptions {
  /** Aborts waits for admission and between retries (an in-flight HTTP call runs to its timeout). */
  signal?: AbortSignal;
}

export interface HerokuApiOptions {
  url: string;
  token: string;
  timeoutMs?: number;
  /** Every answer, of every page and every attempt. */
  onRequest?: (request: HerokuRequest) => void;
  /** Admission before every request (page, retry); without one, requests go at once. */
  budget?: HerokuBudget;
  /**
   * Retries of 429 `rate_limit`. Default: {@link DEFAULT_HEROKU_RETRY} when a budget is given,
   * none without one (the raw client, for tests of what a single failure does). `false`: none.
   */
  retry?: Partial<HerokuRetryPolicy> | false;
  /** Each 429 about to be retried (for logs). */
  onRetry?: (event: HerokuRetryEvent) => void;
  /** Abortable sleep between retries; injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface Page<T> {
  body: T;
  nextRange: string | undefined;
}

interface ResponseLike {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
  req?: { method?: string; path?: string };
}

export class HerokuApi {
  private readonly client: Heroku;
  private readonly retry: HerokuRetryPolicy | null;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The budget Heroku reported on its latest answer; null before the first call. */
  rateLimitRemaining: number | null = null;

  constructor(private readonly options: HerokuApiOptions) {
    this.client = new Heroku({
      token: options.token,
      host: options.url,
      timeout: options.timeoutMs ?? 30_000,
      userAgent: 'heroku-s3-controller',
      // Heroku's versioned media type; never If-None-Match: a 304 makes heroku-client hang.
      headers: { Accept: 'application/vnd.heroku+json; version=3' },
    });
    const retry = options.retry ?? (options.budget ? {} : false);
    this.retry = retry === false ? null : { ...DEFAULT_HEROKU_RETRY, ...retry };
    this.sleep = options.sleep ?? abortableSleep;
  }

  /** The budget requests wait on, if any (for metrics and the serve loop's resync decision). */
  get budget(): HerokuBudget | undefined {
    return this.options.budget;
  }

  /** GET, following `Next-Range` through every page; fails whole if any page fails (after retries). */
  async get<T>(path: string, options: HerokuCallOptions = {}): Promise<T> {
    let range: string | undefined;
    const items: unknown[] = [];
    for (;;) {
      const page = await this.send<unknown>('GET', path, { range, signal: options.signal });
      // As heroku-client aggregates: lists are concatenated, an object is the answer.
      if (!Array.isArray(page.body)) return page.body as T;
      for (const item of page.body) items.push(item);
      if (!page.nextRange) return items as T;
      range = page.nextRange;
    }
  }

  /**
   * GET of a listing, page by page like {@link get}, keeping only what `each` makes of every item
   * (undefined: drop it). Heroku's items are large (an add-on is about a kilobyte of JSON, with
   * nested objects), so a listing of thousands held whole until the end of a pass was most of the
   * memory a pass used; here only one page is held at a time. `each` may throw to fail the
   * listing (a malformed item), as a failed page does.
   */
  async list<T, U>(path: string, each: (item: T) => U | undefined, options: HerokuCallOptions = {}): Promise<U[]> {
    let range: string | undefined;
    const out: U[] = [];
    for (;;) {
      const page = await this.send<unknown>('GET', path, { range, signal: options.signal });
      if (!Array.isArray(page.body)) throw new Error(`Heroku answered GET ${path} with something that is not a list`);
      for (const item of page.body as T[]) {
        const kept = each(item);
        if (kept !== undefined) out.push(kept);
      }
      if (!page.nextRange) return out;
      range = page.nextRange;
    }
  }

  async patch<T>(path: string, body: unknown, options: HerokuCallOptions = {}): Promise<T> {
    return (await this.send<T>('PATCH', path, { body, signal: options.signal })).body;
  }

  async post<T>(path: string, body: unknown, options: HerokuCallOptions = {}): Promise<T> {
    return (await this.send<T>('POST', path, { body, signal: options.signal })).body;
  }

  /** One request (one page), admitted by the budget, with 429s retried per the policy. */
  private async send<T>(
    method: string,
    path: string,
    request: { range?: string | undefined; body?: unknown; signal?: AbortSignal | undefined },
  ): Promise<Page<T>> {
    let waited = 0;
    // Heroku does not charge for reading the rate limit itself.
    const free = method === 'GET' && path === '/account/rate-limits';
    for (let attempt = 0; ; attempt++) {
      if (this.options.budget && !free) await this.options.budget.waitForToken(request.signal);
      else request.signal?.throwIfAborted();
      let response: ResponseLike | undefined;
      try {
        const body = await this.client.request<T>({
          method,
          path,
          partial: true,
          ...(request.body !== undefined ? { body: request.body } : {}),
          ...(request.range !== undefined ? { headers: { Range: request.range } } : {}),
          middleware: (res, next) => {
            response = res as unknown as ResponseLike;
            this.observe(response, method, path);
            next();
          },
        });
        return { body, nextRange: header(response, 'next-range') };
      } catch (err) {
        const error = toApiError(method, path, err);
        if (!error.rateLimited || !this.retry) throw error;
        if (!Number.isFinite(Number(header(response, 'ratelimit-remaining')))) this.options.budget?.observeRateLimited();
        const retryAfter = retryAfterMs(header(response, 'retry-after'));
        const delayMs =
          retryAfter !== null
            ? Math.min(retryAfter, this.retry.maxDelayMs)
            : backoffMs(attempt, this.retry);
        if (waited + delayMs > this.retry.maxTotalWaitMs) throw error;
        waited += delayMs;
        this.options.onRetry?.({ method, path, status: error.statusCode, attempt: attempt + 1, delayMs, source: retryAfter !== null ? 'retry-after' : 'backoff' });
        await this.sleep(delayMs, request.signal);
      }
    }
  }

  private observe(response: ResponseLike, method: string, path: string): void {
    const remaining = Number(header(response, 'ratelimit-remaining'));
    if (Number.isFinite(remaining)) {
      this.rateLimitRemaining = remaining;
      this.options.budget?.observeRemaining(remaining);
    }
    this.options.onRequest?.({
      method: response.req?.method ?? method,
      path: response.req?.path ?? path,
      status: response.statusCode ?? 0,
    });
  }
}

function toApiError(method: string, path: string, err: unknown): HerokuApiError {
  if (err instanceof HerokuApiError) return err;
  const e = err as { statusCode?: number; body?: unknown; message?: string };
  const body = e.body && typeof e.body === 'object' ? (e.body as { id?: string; message?: string }) : null;
  return new HerokuApiError(method, path, e.statusCode ?? null, body?.id ?? null, body?.message ?? e.message ?? String(err));
}

function header(response: ResponseLike | undefined, name: string): string | undefined {
  const value = response?.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `Retry-After` as seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | null {
  if (value === undefined || value.trim() === '') return null;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Exponential from `baseDelayMs`, capped, with "equal jitter" (half fixed, half random). */
export function backoffMs(attempt: number, policy: HerokuRetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 30));
  const random = policy.random ?? Math.random;
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** Path segment for a name or id taken from input. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

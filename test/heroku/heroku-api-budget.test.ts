/**
 * HerokuApi with a request budget, over real HTTP against the Heroku fake (issue 6, item 4): every
 * page and every attempt waits for admission and is counted, a 429 is retried after a backoff
 * (Retry-After when sent) page by page, retries are bounded and then the 429 surfaces as before,
 * and the fake's token bucket counts down, refills and answers 429 rate_limit when empty.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HerokuApi, HerokuApiError, backoffMs, retryAfterMs, type HerokuRequest, type HerokuRetryEvent } from '../../src/heroku/heroku-api.js';
import { HerokuBudget } from '../../src/heroku/request-budget.js';
import { HerokuFake } from '../support/heroku-fake/index.js';

let fake: HerokuFake;
const seen: HerokuRequest[] = [];
const retries: HerokuRetryEvent[] = [];
const slept: number[] = [];

/** Sleeps recorded, not waited (the fake's bucket does not care how long we "waited"). */
const fastSleep = async (ms: number, signal?: AbortSignal) => {
  signal?.throwIfAborted();
  slept.push(ms);
};

function api(options: Partial<ConstructorParameters<typeof HerokuApi>[0]> = {}): HerokuApi {
  return new HerokuApi({
    url: fake.url,
    token: fake.token,
    onRequest: (r) => seen.push(r),
    onRetry: (e) => retries.push(e),
    sleep: fastSleep,
    budget: new HerokuBudget(),
    ...options,
  });
}

beforeAll(async () => {
  fake = await HerokuFake.start();
  fake.addTeam({ name: 'acme' });
  fake.addApp({ name: 'acme-web', team: 'acme' });
  for (let i = 0; i < 2100; i++) fake.addAddon({ app: 'acme-web', service: 'papertrail' });
});

beforeEach(() => {
  fake.clearFaults();
  fake.emulateRateLimit(undefined);
  fake.setRateLimitRemaining(4500);
  fake.resetRequests();
  seen.length = 0;
  retries.length = 0;
  slept.length = 0;
});

afterEach(() => {
  expect(fake.schemaViolations).toEqual([]);
});

afterAll(async () => {
  await fake.stop();
});

describe('HerokuApi: 429 retries', () => {
  it('retries a 429 rate_limit after an exponential backoff with jitter and succeeds; every attempt is seen', async () => {
    fake.failNext({ path: '/teams/acme', status: 429, times: 3 });
    const heroku = api({ retry: { random: () => 1 } });
    await expect(heroku.get('/teams/acme')).resolves.toMatchObject({ name: 'acme' });
    expect(seen.map((r) => r.status)).toEqual([429, 429, 429, 200]);
    expect(slept).toEqual([2000, 4000, 8000]);
    expect(retries.map((r) => [r.attempt, r.status, r.source])).toEqual([
      [1, 429, 'backoff'],
      [2, 429, 'backoff'],
      [3, 429, 'backoff'],
    ]);
    // Each attempt is a request we sent: the budget counted all four.
    expect(heroku.budget!.snapshot().spentLastHour).toBe(4);
  });

  it('a 429 on page 2 retries page 2 only, with the same Range; the listing is whole', async () => {
    fake.failNext({ path: '/teams/acme/addons', status: 429, onPage: 2, times: 2 });
    const heroku = api();
    const addons = await heroku.get<unknown[]>('/teams/acme/addons');
    expect(addons).toHaveLength(2100);
    const listing = fake.requests.filter((r) => r.path === '/teams/acme/addons');
    // Pages of 1,000: page 1, page 2 twice refused, page 2, page 3.
    expect(listing.map((r) => r.status)).toEqual([206, 429, 429, 206, 200]);
    expect(listing[1]!.range).toBe(listing[2]!.range);
    expect(listing[1]!.range).toBe(listing[3]!.range);
    expect(listing[0]!.range).toBe('id ..; max=1000');
  });

  it('a 429 with another id (the status alone) and an error with id rate_limit are both retried; other errors are not', async () => {
    fake.failNext({ path: '/teams/acme', status: 429, id: 'too_many_requests' });
    fake.failNext({ path: '/apps/acme-web', status: 403, id: 'rate_limit', message: 'Rate limited.' });
    const heroku = api();
    await expect(heroku.get('/teams/acme')).resolves.toMatchObject({ name: 'acme' });
    await expect(heroku.get('/apps/acme-web')).resolves.toMatchObject({ name: 'acme-web' });
    fake.failNext({ path: '/teams/acme', status: 503 });
    await expect(heroku.get('/teams/acme')).rejects.toMatchObject({ statusCode: 503, id: 'service_unavailable' });
    expect(retries).toHaveLength(2);
  });

  it('gives up after the total wait bound: the 429 surfaces as a HerokuApiError, as before', async () => {
    fake.failNext({ path: '/teams/acme/apps', status: 429, times: 100 });
    const heroku = api({ retry: { baseDelayMs: 1000, maxDelayMs: 4000, maxTotalWaitMs: 10_000, random: () => 1 } });
    const error = await heroku.get('/teams/acme/apps').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HerokuApiError);
    expect(error).toMatchObject({ statusCode: 429, id: 'rate_limit', rateLimited: true });
    // 1 + 2 + 4 = 7 s waited; another 4 s would pass the 10 s bound.
    expect(slept).toEqual([1000, 2000, 4000]);
    expect(seen).toHaveLength(4);
  });

  it('without a budget (or with retry: false) a 429 fails at once, as the raw client does', async () => {
    fake.failNext({ path: '/teams/acme', status: 429 });
    await expect(new HerokuApi({ url: fake.url, token: fake.token }).get('/teams/acme')).rejects.toMatchObject({ statusCode: 429 });
    fake.failNext({ path: '/teams/acme', status: 429 });
    await expect(api({ retry: false }).get('/teams/acme')).rejects.toMatchObject({ statusCode: 429 });
  });

  it('an abort while backing off rejects with the signal’s reason', async () => {
    fake.failNext({ path: '/teams/acme', status: 429, times: 5 });
    const controller = new AbortController();
    const heroku = api({
      sleep: async (_ms, signal) => {
        controller.abort(new Error('shutting down'));
        signal?.throwIfAborted();
      },
    });
    await expect(heroku.get('/teams/acme', { signal: controller.signal })).rejects.toThrow('shutting down');
    expect(seen).toHaveLength(1);
  });

  it('honours Retry-After (seconds or a date), capped at the longest backoff', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('0.5')).toBe(500);
    expect(retryAfterMs(new Date(Date.UTC(2026, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2026, 0, 1))).toBe(30_000);
    expect(retryAfterMs(undefined)).toBeNull();
    expect(retryAfterMs('soon')).toBeNull();
    const policy = { baseDelayMs: 2000, maxDelayMs: 60_000, maxTotalWaitMs: 180_000 };
    expect([0, 1, 2, 5, 6, 40].map((a) => backoffMs(a, { ...policy, random: () => 1 }))).toEqual([2000, 4000, 8000, 60_000, 60_000, 60_000]);
    expect(backoffMs(0, { ...policy, random: () => 0 })).toBe(1000);
  });
});

describe('HerokuApi: Retry-After over HTTP', () => {
  let server: Server;
  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('waits what Retry-After says', async () => {
    let calls = 0;
    server = createServer((_req, res) => {
      calls += 1;
      res.setHeader('Content-Type', 'application/json');
      if (calls === 1) {
        res.writeHead(429, { 'Retry-After': '7', 'RateLimit-Remaining': '0' });
        res.end(JSON.stringify({ id: 'rate_limit', message: 'Your account reached the API rate limit' }));
        return;
      }
      res.writeHead(200, { 'RateLimit-Remaining': '12' });
      res.end(JSON.stringify({ id: 'x', name: 'acme' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const heroku = api({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    await expect(heroku.get('/teams/acme')).resolves.toEqual({ id: 'x', name: 'acme' });
    expect(slept).toEqual([7000]);
    expect(retries[0]).toMatchObject({ source: 'retry-after', delayMs: 7000 });
    expect(heroku.rateLimitRemaining).toBe(12);
  });
});

describe('HerokuApi: admission', () => {
  it('every page waits for admission: with a share of 2 requests per hour, page 3 waits an hour', async () => {
    let now = 0;
    const waits: number[] = [];
    const budget = new HerokuBudget({
      tokensPerHour: 20,
      maxShare: 0.1,
      floor: 0,
      clock: () => now,
      sleep: async (ms) => {
        waits.push(ms);
        now += ms;
      },
    });
    const heroku = api({ budget });
    const pages = await heroku.get<unknown[]>('/teams/acme/addons');
    expect(pages).toHaveLength(2100);
    expect(fake.requests.map((r) => r.status)).toEqual([206, 206, 200]);
    expect(waits).toEqual([3_600_000]);
    expect(budget.snapshot().spentLastHour).toBe(1); // pages 1 and 2 aged out
  });

  it('with RateLimit-Remaining at 0, waits for the refill before sending', async () => {
    let now = 0;
    const waits: number[] = [];
    const budget = new HerokuBudget({ clock: () => now, sleep: async (ms) => void (waits.push(ms), (now += ms)) });
    fake.setRateLimitRemaining(1);
    const heroku = api({ budget });
    await heroku.get('/teams/acme');
    expect(heroku.rateLimitRemaining).toBe(0);
    fake.setRateLimitRemaining(5);
    await heroku.get('/teams/acme');
    expect(waits).toEqual([800]); // one token at 75 a minute
    expect(fake.requests.map((r) => r.status)).toEqual([200, 200]);
  });
});

describe('HerokuFake: rate-limit emulation', () => {
  it('is off by default: counts down without refilling', async () => {
    const heroku = api({ budget: undefined as unknown as HerokuBudget, retry: false });
    fake.setRateLimitRemaining(2);
    await heroku.get('/teams/acme');
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.rateLimitRemaining).toBe(1);
  });

  it('counts down every request, refills at refillPerMinute up to the capacity, and answers 429 rate_limit when empty', async () => {
    let now = 0;
    fake.emulateRateLimit({ capacity: 5, refillPerMinute: 60, clock: () => now });
    const heroku = api({ budget: undefined as unknown as HerokuBudget, retry: false });
    for (let i = 0; i < 5; i++) await heroku.get('/teams/acme');
    expect(seen.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(heroku.rateLimitRemaining).toBe(0);
    const error = await heroku.get('/teams/acme').catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: 429, id: 'rate_limit' });
    expect((error as Error).message).toContain('Your account reached the API rate limit');
    expect(fake.rateLimitedRequests).toBe(1);
    now += 1500; // 1.5 tokens
    await heroku.get('/teams/acme');
    expect(heroku.rateLimitRemaining).toBe(0); // 1.5 - 1, floored
    expect(fake.rateLimitRemaining).toBe(0);
    now += 60_000;
    expect(fake.rateLimitRemaining).toBe(5); // capped at the capacity
    // The free call reports without spending.
    expect(await heroku.get('/account/rate-limits')).toEqual({ remaining: 5 });
    expect(fake.rateLimitRemaining).toBe(5);
  });
});

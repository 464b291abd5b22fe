/**
 * The Heroku request budget as pure logic on a moved clock (issue 6, item 4): the hourly share
 * cap, waiting out an empty account bucket, the resync floor, and recovery. No I/O.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/util/errors.js';
import { HerokuBudget, abortableSleep } from '../../src/heroku/request-budget.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

function setup(options: ConstructorParameters<typeof HerokuBudget>[0] = {}) {
  let now = Date.UTC(2026, 0, 1);
  const slept: number[] = [];
  const budget = new HerokuBudget({
    clock: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
    ...options,
  });
  return {
    budget,
    slept,
    now: () => now,
    advance: (ms: number) => (now += ms),
    /** Admits `n` requests, failing the test if one is refused. */
    spend(n: number) {
      for (let i = 0; i < n; i++) expect(budget.admit(), `request ${i + 1} of ${n}`).toEqual({ ok: true });
    },
  };
}

describe('HerokuBudget: share cap', () => {
  it('defaults: 4,500 tokens per hour, half of them ours (2,250), floor 1,000', () => {
    const { budget } = setup();
    expect(budget.snapshot()).toEqual({ remaining: null, estimatedRemaining: null, spentLastHour: 0, capPerHour: 2250, floor: 1000 });
  });

  it('admits share x tokensPerHour requests in an hour, then says how long until the oldest ages out', () => {
    const { budget, spend, advance } = setup({ tokensPerHour: 100, maxShare: 0.3 });
    spend(10);
    advance(10 * MIN);
    spend(20);
    expect(budget.snapshot().spentLastHour).toBe(30);
    // The 31st waits for the first 10 to leave the window: 50 minutes after the last ones.
    expect(budget.admit()).toEqual({ ok: false, waitMs: 50 * MIN, reason: 'share-used' });
    expect(budget.snapshot().spentLastHour).toBe(30); // a refusal is not counted
    advance(50 * MIN);
    spend(10); // exactly the 10 that aged out
    expect(budget.admit()).toMatchObject({ ok: false, reason: 'share-used', waitMs: 10 * MIN });
    advance(10 * MIN);
    expect(budget.snapshot().spentLastHour).toBe(10);
  });

  it('never sends more than the cap in any sliding hour, however requests arrive (waitForToken)', async () => {
    const { budget, advance, slept, now } = setup({ tokensPerHour: 600, maxShare: 0.1 });
    const sentAt: number[] = [];
    // 200 requests as fast as admission allows, with a little work between them.
    for (let i = 0; i < 200; i++) {
      await budget.waitForToken();
      sentAt.push(now());
      advance(1000);
    }
    for (let i = 0; i < sentAt.length; i++) {
      const inHour = sentAt.filter((t) => t >= sentAt[i]! && t < sentAt[i]! + HOUR).length;
      expect(inHour).toBeLessThanOrEqual(60);
    }
    expect(slept.length).toBeGreaterThan(0);
    expect(sentAt.at(-1)! - sentAt[0]!).toBeGreaterThan(3 * HOUR); // 200 requests at 60 an hour
  });

  it('waitForToken gives up when the signal aborts, and counts nothing', async () => {
    const budget = new HerokuBudget({ tokensPerHour: 10, maxShare: 0.1, sleep: abortableSleep });
    expect(budget.admit()).toEqual({ ok: true });
    const controller = new AbortController();
    const waiting = budget.waitForToken(controller.signal);
    controller.abort(new Error('shutting down'));
    await expect(waiting).rejects.toThrow('shutting down');
    expect(budget.snapshot().spentLastHour).toBe(1);
    await expect(budget.waitForToken(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('refuses bad settings', () => {
    expect(() => new HerokuBudget({ maxShare: 0 })).toThrow(RangeError);
    expect(() => new HerokuBudget({ maxShare: 1.5 })).toThrow(RangeError);
    expect(() => new HerokuBudget({ tokensPerHour: 0 })).toThrow(RangeError);
    expect(() => new HerokuBudget({ floor: -1 })).toThrow(RangeError);
    expect(new HerokuBudget({ maxShare: 1 }).capPerHour).toBe(4500);
  });
});

describe('HerokuBudget: the account bucket (RateLimit-Remaining)', () => {
  it('with no token left, waits for the refill instead of earning a 429', () => {
    const { budget, spend, advance } = setup({ tokensPerHour: 4500, maxShare: 1 });
    budget.observeRemaining(2);
    spend(2);
    // 4,500 per hour = 1.25 per second: one token in 800 ms.
    expect(budget.admit()).toEqual({ ok: false, waitMs: 800, reason: 'account-empty' });
    advance(800);
    spend(1);
    budget.observeRateLimited(); // a 429 empties it, whatever we estimated
    expect(budget.admit()).toMatchObject({ ok: false, reason: 'account-empty', waitMs: 800 });
  });

  it('each answer replaces the estimate (other clients spend tokens too)', () => {
    const { budget, spend, advance } = setup();
    budget.observeRemaining(3000);
    spend(5);
    expect(budget.snapshot()).toMatchObject({ remaining: 3000, estimatedRemaining: 2995 });
    advance(MIN); // +75
    expect(budget.snapshot().estimatedRemaining).toBe(3070);
    budget.observeRemaining(1200);
    expect(budget.snapshot()).toMatchObject({ remaining: 1200, estimatedRemaining: 1200 });
    advance(10 * HOUR);
    expect(budget.snapshot().estimatedRemaining).toBe(4500); // never above the capacity
  });
});

describe('HerokuBudget: shouldDeferResync', () => {
  it('runs while the budget is unknown or above the floor', () => {
    const { budget } = setup();
    expect(budget.shouldDeferResync()).toEqual({ defer: false, reason: null, code: null, retryInMs: 0 });
    budget.observeRemaining(1000);
    expect(budget.shouldDeferResync().defer).toBe(false);
  });

  it('defers under the floor, says for how long and why, and runs again once refilled', () => {
    const { budget, advance } = setup({ floor: 1000 });
    budget.observeRemaining(850);
    const deferral = budget.shouldDeferResync();
    // 150 tokens at 75 a minute.
    expect(deferral).toMatchObject({ defer: true, code: 'heroku-budget-below-floor', retryInMs: 2 * MIN });
    expect(deferral.reason).toMatch(/about 850 tokens, under the floor of 1000 \(HEROKU_BUDGET_FLOOR\).*about 2 min/);
    advance(MIN);
    expect(budget.shouldDeferResync()).toMatchObject({ defer: true, retryInMs: MIN });
    advance(MIN);
    expect(budget.shouldDeferResync().defer).toBe(false);
    // A fresh reading under the floor defers again.
    budget.observeRemaining(10);
    expect(budget.shouldDeferResync()).toMatchObject({ defer: true, code: 'heroku-budget-below-floor' });
  });

  it('defers when our hourly share has no room for a pass of the estimated cost', () => {
    const { budget, spend, advance } = setup({ tokensPerHour: 1000, maxShare: 0.1, floor: 0 });
    spend(60);
    advance(30 * MIN);
    spend(30);
    expect(budget.shouldDeferResync(10).defer).toBe(false); // 10 left
    const deferral = budget.shouldDeferResync(20);
    // 10 more must age out: the first 60 leave 30 minutes from now.
    expect(deferral).toMatchObject({ defer: true, code: 'heroku-budget-share-used', retryInMs: 30 * MIN });
    expect(deferral.reason).toMatch(/sent 90 Heroku requests in the last hour, its cap is 100 \(HEROKU_BUDGET_MAX_SHARE of 1000\) and a pass needs about 20/);
    advance(30 * MIN);
    expect(budget.shouldDeferResync(20).defer).toBe(false);
    // A cost above the whole cap is clamped to the cap: it can run once the window is empty.
    expect(budget.shouldDeferResync(10_000)).toMatchObject({ defer: true, code: 'heroku-budget-share-used' });
    advance(30 * MIN);
    expect(budget.shouldDeferResync(10_000).defer).toBe(false);
  });
});

describe('HEROKU_BUDGET_* configuration', () => {
  it('defaults to 4500 tokens per hour, a share of 0.5 and a floor of 1000', () => {
    expect(loadConfig({}).herokuBudget).toEqual({ tokensPerHour: 4500, maxShare: 0.5, floor: 1000 });
    expect(loadConfig({ HEROKU_BUDGET_TOKENS_PER_HOUR: '9000', HEROKU_BUDGET_MAX_SHARE: '1', HEROKU_BUDGET_FLOOR: '0' }).herokuBudget).toEqual({
      tokensPerHour: 9000,
      maxShare: 1,
      floor: 0,
    });
    expect(loadConfig({ HEROKU_BUDGET_MAX_SHARE: '.25' }).herokuBudget.maxShare).toBe(0.25);
    expect(loadConfig({}).herokuRateLimitMaxWaitMs).toBe(180_000);
    expect(loadConfig({ HEROKU_RATE_LIMIT_MAX_WAIT: '0' }).herokuRateLimitMaxWaitMs).toBe(0);
  });

  it.each([
    ['HEROKU_BUDGET_MAX_SHARE', '0', /must be a ratio above 0 and at most 1/],
    ['HEROKU_BUDGET_MAX_SHARE', '0.0', /must be a ratio above 0 and at most 1/],
    ['HEROKU_BUDGET_MAX_SHARE', '1.5', /must be a ratio above 0 and at most 1/],
    ['HEROKU_BUDGET_MAX_SHARE', 'half', /must be a ratio/],
    ['HEROKU_BUDGET_FLOOR', '-5', /must be a whole number of tokens/],
    ['HEROKU_BUDGET_FLOOR', '4500', /not below the account's 4500 tokens/],
    ['HEROKU_BUDGET_TOKENS_PER_HOUR', '0', /must be a whole number of tokens, at least 1/],
    ['HEROKU_RATE_LIMIT_MAX_WAIT', 'a while', /must be a duration such as 3m/],
  ])('%s=%s is refused with a sentence naming it', (variable, value, message) => {
    let caught: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe(variable);
    expect((caught as Error).message).toMatch(new RegExp(`^${variable}: `));
    expect((caught as Error).message).toMatch(message);
  });
});

/**
 * Issue 6, item 4 on the test stand: the Heroku fake emulates the account's token bucket (small
 * and fast here: 4 tokens, refilled at 5 a second) and answers 429 rate_limit when it is empty.
 * Full controller passes against it, with real buckets and users in moto: they slow down (admission
 * waits for the refill, 429s are retried), recover, and finish without a failed action; a team
 * whose read keeps hitting 429 until the retries run out is incomplete and garbage collection
 * leaves its resources alone (fail closed) until a complete read. The budget's resync decision
 * is checked against the same fake.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller, type PassResult } from '../../src/reconciler/controller.js';
import { controllerPorts, type Runtime } from '../../src/runtime.js';
import { HerokuApi } from '../../src/heroku/heroku-api.js';
import { HerokuBudget } from '../../src/heroku/request-budget.js';
import { silentLogger } from '../../src/util/log.js';
import { DAY, MovableClock, bucketExists, gcRuntime, recordRow } from './gc-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

const CAPACITY = 4;
const REFILL_PER_MINUTE = 300; // 5 a second
const REFILL_PER_SECOND = REFILL_PER_MINUTE / 60;

let world: World;
let runtime: Runtime;
let s3: S3Client;
let betaTeamId: string;
const clock = new MovableClock();
const addons: Record<string, { id: string; app: string; bucket?: string }> = {};

/** A controller on the runtime's store and AWS connector, with short 429 retries (test wall time). */
function quickController(heroku: HerokuApi): Controller {
  return new Controller({ config: runtime.config, store: runtime.store, ...controllerPorts(runtime.config, heroku, runtime.connector), logger: silentLogger(), clock: clock.read });
}

function quickApi(budget: HerokuBudget): HerokuApi {
  return new HerokuApi({
    url: world.fake.url,
    token: world.fake.token,
    budget,
    retry: { baseDelayMs: 100, maxDelayMs: 400, maxTotalWaitMs: 1_500 },
  });
}

async function timedPass(controller: Controller): Promise<{ pass: PassResult; seconds: number; requests: number; throttled: number }> {
  world.fake.resetRequests();
  const throttledBefore = world.fake.rateLimitedRequests;
  const started = performance.now();
  const pass = await controller.reconcileOnce();
  return {
    pass,
    seconds: (performance.now() - started) / 1000,
    requests: world.fake.requests.length,
    throttled: world.fake.rateLimitedRequests - throttledBefore,
  };
}

beforeAll(async () => {
  world = await createWorld();
  Object.assign(world.env, {
    GC_GRACE_DEPROVISIONED: '0',
    GC_GRACE_ORPHANED: '0',
    GC_MAX_DELETIONS: '1000',
    GC_MAX_DELETION_RATIO: '1',
    // Every pass reads every attachment app's config vars: more Heroku requests than the bucket holds.
    DEEP_CHECK_WINDOW: '0',
    HEROKU_BUDGET_TOKENS_PER_HOUR: String(REFILL_PER_MINUTE * 60),
    HEROKU_BUDGET_MAX_SHARE: '1',
    HEROKU_BUDGET_FLOOR: '3',
  });
  const { fake } = world;
  const acme = fake.addTeam({ name: 'acme' });
  const beta = fake.addTeam({ name: 'beta' });
  betaTeamId = beta.id;
  for (const [team, apps] of [['acme', ['acme-1', 'acme-2', 'acme-3', 'acme-4', 'acme-5', 'acme-6', 'acme-7', 'acme-8']], ['beta', ['beta-1', 'beta-2']]] as const) {
    for (const app of apps) {
      fake.addApp({ name: app, team, region: 'us' });
      addons[app] = { id: fake.addAddon({ app, service: SERVICE, attachmentName: 'BUCKET' }).id, app };
    }
  }
  s3 = await world.s3(world.accountA);
  clock.real(DAY);
  runtime = await gcRuntime(world, { clock });
  for (const team of [acme, beta]) {
    await runtime.store.links.save({
      teamId: team.id,
      teamName: team.name,
      accountId: world.accountA,
      region: null,
      auth: { kind: 'role', roleArn: world.roleArn(world.accountA), externalId: null },
    });
  }
  fake.emulateRateLimit({ capacity: CAPACITY, refillPerMinute: REFILL_PER_MINUTE });
}, 60_000);

afterAll(async () => {
  await runtime?.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

describe('Heroku request budget on the stand', () => {
  it('a first pass through the runtime’s own wiring outspends the bucket, slows down, and finishes complete', { timeout: 120_000 }, async () => {
    const { pass, seconds, requests, throttled } = await timedPass(runtime.controller);
    expect(pass.execution?.failed).toBe(0);
    expect(pass.teams.map((t) => [t.teamName, t.complete])).toEqual([
      ['acme', true],
      ['beta', true],
    ]);
    for (const a of Object.values(addons)) {
      a.bucket = (await runtime.store.resources.get(a.id))!.resourceName!;
      expect(await bucketExists(s3, a.bucket!), a.app).toBe(true);
      expect(world.fake.configVars(a.app)).toHaveProperty('BUCKET_AWS_ACCESS_KEY_ID');
    }
    // More requests than the bucket holds: the excess could only go out as fast as it refilled.
    const admitted = requests - throttled;
    expect(admitted).toBeGreaterThanOrEqual(3 * CAPACITY);
    expect(seconds).toBeGreaterThanOrEqual(((admitted - CAPACITY) / REFILL_PER_SECOND) * 0.8);
    const budget = runtime.heroku.budget!.snapshot();
    expect(budget.spentLastHour).toBe(requests);
    console.info(`[heroku-budget] pass 1: ${requests} Heroku requests (${throttled} answered 429, retried) in ${seconds.toFixed(1)} s`);
  });

  it('the budget defers a full pass under the floor and allows it again once the fake has refilled', async () => {
    const budget = new HerokuBudget(runtime.config.herokuBudget);
    const api = quickApi(budget);
    world.fake.setRateLimitRemaining(0);
    await api.get('/account/rate-limits'); // free: reads RateLimit-Remaining without spending
    const deferral = budget.shouldDeferResync();
    expect(deferral).toMatchObject({ defer: true, code: 'heroku-budget-below-floor' });
    // 3 tokens (the floor) at 5 a second.
    expect(deferral.retryInMs).toBeGreaterThan(400);
    expect(deferral.retryInMs).toBeLessThanOrEqual(600);
    await new Promise((resolve) => setTimeout(resolve, deferral.retryInMs + 50));
    expect(budget.shouldDeferResync().defer).toBe(false);
    await api.get('/account/rate-limits');
    expect(budget.snapshot().remaining).toBeGreaterThanOrEqual(3);
    expect(budget.shouldDeferResync().defer).toBe(false);
  });

  it('a team whose read hits 429 until the retries run out is incomplete, and GC leaves its removed add-on alone', { timeout: 120_000 }, async () => {
    const gone = addons['beta-2']!;
    world.fake.destroyAddon(gone.id);
    world.fake.failNext({ path: `/teams/${betaTeamId}/addons`, status: 429, times: 1_000 });
    clock.advance(DAY);
    const { pass } = await timedPass(quickController(quickApi(new HerokuBudget(runtime.config.herokuBudget))));
    world.fake.clearFaults();
    expect(pass.execution?.failed).toBe(0);
    const beta = pass.teams.find((t) => t.teamName === 'beta')!;
    expect(beta).toMatchObject({ complete: false });
    expect(beta.error).toContain('429 rate_limit');
    expect(pass.teams.find((t) => t.teamName === 'acme')).toMatchObject({ complete: true });
    // The listing was tried more than once (retried), then given up.
    const tries = world.fake.requests.filter((r) => r.path === `/teams/${betaTeamId}/addons`);
    expect(tries.length).toBeGreaterThan(2);
    expect(tries.every((r) => r.status === 429)).toBe(true);
    // Nothing of the removed add-on was touched: no orphan mark, bucket and config vars in place.
    expect(pass.actions.filter((a) => a.addonId === gone.id)).toEqual([]);
    expect(await recordRow(world, gone.id)).toMatchObject({ orphan_reason: null });
    expect(await bucketExists(s3, gone.bucket!)).toBe(true);
  });

  it('with the bucket drained by someone else, the next passes retry their 429s, read completely, and only then collect the orphan', { timeout: 120_000 }, async () => {
    const gone = addons['beta-2']!;
    const controller = quickController(quickApi(new HerokuBudget(runtime.config.herokuBudget)));
    const passes: Awaited<ReturnType<typeof timedPass>>[] = [];
    world.fake.setRateLimitRemaining(0); // another client of the account spent everything
    for (let i = 0; i < 3 && (await bucketExists(s3, gone.bucket!)); i++) {
      clock.advance(DAY);
      const run = await timedPass(controller);
      passes.push(run);
      expect(run.pass.execution?.failed, `pass ${i + 1}`).toBe(0);
      expect(run.pass.teams.every((t) => t.complete), `pass ${i + 1}`).toBe(true);
    }
    expect(passes[0]!.throttled, 'the drained bucket answered 429 at first').toBeGreaterThan(0);
    expect(await bucketExists(s3, gone.bucket!)).toBe(false);
    expect(await recordRow(world, gone.id)).toBeUndefined();
    // The others are all still there.
    for (const a of Object.values(addons).filter((x) => x !== gone)) expect(await bucketExists(s3, a.bucket!), a.app).toBe(true);
    console.info(
      `[heroku-budget] recovery: ${passes.map((p) => `${p.requests} requests (${p.throttled} × 429) in ${p.seconds.toFixed(1)} s`).join('; ')}`,
    );
  });
});

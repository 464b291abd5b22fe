/**
 * The Heroku budget's metrics (issue 6, item 4): tokens this controller spent in the sliding last
 * hour and its cap, read from the budget at each scrape, wired by the runtime, and clean under
 * Prometheus's own `promtool check metrics`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createRuntime, herokuApi, type Runtime } from '../../src/runtime.js';
import { HerokuBudget } from '../../src/heroku/request-budget.js';
import { silentLogger } from '../../src/util/log.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SPENT = 'heroku_s3_controller_heroku_budget_spent_last_hour';
const CAP = 'heroku_s3_controller_heroku_budget_cap_per_hour';

function run(cmd: string, args: string[], input = ''): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}

describe('budget gauges', () => {
  it('are absent until a budget is watched, then follow the sliding hour at each scrape; promtool is content', async () => {
    const metrics = new Metrics({ processMetrics: false });
    expect((await metrics.render()).body).not.toContain('heroku_budget');
    let now = 0;
    const budget = new HerokuBudget({ tokensPerHour: 4500, maxShare: 0.2, clock: () => now });
    metrics.watchHerokuBudget(budget);
    for (let i = 0; i < 7; i++) budget.admit();
    let samples = parseExposition((await metrics.render()).body);
    expect(valueOf(samples, SPENT)).toBe(7);
    expect(valueOf(samples, CAP)).toBe(900);
    now += 3_600_000;
    const body = (await metrics.render()).body;
    samples = parseExposition(body);
    expect(valueOf(samples, SPENT)).toBe(0);

    metrics.setHerokuRateLimit(4410);
    const ensure = await run('bash', [path.join(ROOT, 'scripts/stand/ensure-promtool.sh')]);
    expect(ensure.code, ensure.out).toBe(0);
    const promtool = ensure.out.trim().split('\n').pop() ?? '';
    const check = await run(promtool, ['check', 'metrics'], body);
    expect({ code: check.code, output: check.out.trim() }).toEqual({ code: 0, output: '' });
  });
});

describe('runtime wiring', () => {
  let dir: string;
  let fake: HerokuFake;
  let runtime: Runtime;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hs3-budget-wiring-'));
    fake = await HerokuFake.start();
    runtime = await createRuntime(
      loadConfig({ DATA_DIR: dir, HEROKU_API_URL: fake.url, HEROKU_API_TOKEN: fake.token, LOG_LEVEL: 'silent', HEROKU_BUDGET_MAX_SHARE: '0.1', HEROKU_BUDGET_FLOOR: '4000' }),
      silentLogger(),
    );
  });

  afterAll(async () => {
    await runtime?.close();
    await fake?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the runtime’s Heroku API spends through a budget from HEROKU_BUDGET_*, exported on /metrics', async () => {
    const budget = runtime.heroku.budget!;
    expect(budget).toBeInstanceOf(HerokuBudget);
    expect({ cap: budget.capPerHour, floor: budget.floor }).toEqual({ cap: 450, floor: 4000 });
    fake.addTeam({ name: 'acme' });
    fake.failNext({ path: '/teams/acme', status: 429 });
    fake.setRateLimitRemaining(3990);
    // The 429 is retried (after a real 1-2 s backoff) and the call succeeds.
    await expect(runtime.heroku.get('/teams/acme')).resolves.toMatchObject({ name: 'acme' });
    const samples = parseExposition((await runtime.metrics.render()).body);
    expect(valueOf(samples, SPENT)).toBe(2);
    expect(valueOf(samples, CAP)).toBe(450);
    expect(valueOf(samples, 'heroku_s3_controller_heroku_rate_limit_remaining')).toBe(3988); // the refused attempt spent a token too
    // 3,988 left is under the floor of 4,000: a full pass would wait.
    expect(budget.shouldDeferResync()).toMatchObject({ defer: true, code: 'heroku-budget-below-floor' });
  });

  it('HEROKU_RATE_LIMIT_MAX_WAIT=0: the runtime’s Heroku API fails at the first 429, as before the budget', async () => {
    const strict = herokuApi(loadConfig({ HEROKU_API_URL: fake.url, HEROKU_API_TOKEN: fake.token, HEROKU_RATE_LIMIT_MAX_WAIT: '0' }));
    fake.failNext({ path: '/teams/acme', status: 429 });
    await expect(strict.get('/teams/acme')).rejects.toMatchObject({ statusCode: 429, id: 'rate_limit' });
    await expect(strict.get('/teams/acme')).resolves.toMatchObject({ name: 'acme' });
  });
});

/**
 * The runtime's wiring: one `Metrics` per runtime, fed by every Heroku response (through the
 * real heroku-client against the Heroku fake) and every recorded AWS call; an empty drift holder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { silentLogger } from '../../src/util/log.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { parseExposition, valueOf } from './exposition.js';

let dir: string;
let fake: HerokuFake;
let runtime: Runtime;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hs3-metrics-wiring-'));
  fake = await HerokuFake.start({ rateLimitRemaining: 4000 });
  runtime = await createRuntime(
    loadConfig({ DATA_DIR: dir, HEROKU_API_URL: fake.url, HEROKU_API_TOKEN: fake.token, LOG_LEVEL: 'silent' }),
    silentLogger(),
  );
});

afterAll(async () => {
  await runtime?.close();
  const violations = fake ? [...fake.schemaViolations] : [];
  await fake?.stop();
  await rm(dir, { recursive: true, force: true });
  expect(violations).toEqual([]);
});

it('counts Heroku requests by template and outcome, tracks the budget, and counts AWS calls', async () => {
  const team = fake.addTeam({ name: 'acme-canary' });
  await runtime.heroku.get(`/teams/${team.id}/addons`);
  await runtime.heroku.get('/addon-attachments');
  await expect(runtime.heroku.get('/teams/no-such-team/addons')).rejects.toThrow();
  runtime.recorder.record({ accountId: '111122223333', service: 's3', operation: 'ListBuckets', outcome: 'ok' });
  // Counted by the metrics, never kept: a long-running controller must not grow with its calls.
  expect(runtime.recorder.calls).toEqual([]);

  const { contentType, body } = await runtime.metrics.render();
  expect(contentType).toContain('text/plain');
  const samples = parseExposition(body);
  const heroku = (operation: string, outcome: string, failure?: string) =>
    valueOf(samples, 'heroku_s3_controller_api_requests_total', { service: 'heroku', operation, outcome, ...(failure ? { failure } : {}) });
  expect(heroku('GET /teams/{team}/addons', 'ok')).toBe(1);
  expect(heroku('GET /teams/{team}/addons', 'error', 'not-found')).toBe(1);
  expect(heroku('GET /addon-attachments', 'ok')).toBe(1);
  expect(valueOf(samples, 'heroku_s3_controller_heroku_rate_limit_remaining')).toBe(fake.rateLimitRemaining);
  expect(valueOf(samples, 'heroku_s3_controller_api_requests_total', { service: 's3', operation: 'ListBuckets', outcome: 'ok' })).toBe(1);
  expect(body).not.toContain(team.id);
  expect(body).not.toContain('acme-canary');
  expect(body).not.toContain('no-such-team');
  expect(runtime.reports).toEqual({ latest: null, pass: null });
});

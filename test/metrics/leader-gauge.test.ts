/**
 * The `leader` gauge: 1 while this replica leads, 0 otherwise, with no label; and losing
 * leadership clears the per-pass gauges, so a standby does not export a former leader's figures
 * that alerts (`max by (account_id)`, `min`) would go on counting. The scrapes pass promtool.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/metrics.js';
import { parseExposition, samplesOf, valueOf } from './exposition.js';
import { ACCOUNT_A, ACCOUNT_B, mixedReport } from './fixtures.js';

const P = 'heroku_s3_controller_';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function scrape(metrics: Metrics) {
  const { body } = await metrics.render();
  return { text: body, samples: parseExposition(body) };
}

/** A replica that has published a full pass. */
function leaderWithPass(): Metrics {
  const metrics = new Metrics({ processMetrics: false });
  metrics.setLeader(true);
  metrics.setHerokuRateLimit(120);
  metrics.recordPass({ result: 'success', durationSeconds: 2, herokuComplete: true, awsComplete: true, at: new Date('2026-01-01T00:00:00Z') });
  metrics.setDriftReport(mixedReport());
  metrics.setManagedResources(ACCOUNT_A, { bucket: 4, iam_user: 4, access_key: 4 });
  metrics.setGcHeld(ACCOUNT_B, 7);
  metrics.setIamUsers(ACCOUNT_A, 12, 5000);
  return metrics;
}

const PASS_GAUGES = ['drift_items', 'drift_flapping', 'managed_resources', 'gc_breaker_held_deletions', 'iam_users_quota_ratio', 'iam_users_quota', 'heroku_rate_limit_remaining'];

describe('the leader gauge', () => {
  it('is absent until the replica takes part in an election (one-shot commands have none)', async () => {
    const { text } = await scrape(new Metrics({ processMetrics: false }));
    expect(text).not.toContain(`${P}leader`);
  });

  it('is 1 while leading and 0 as a standby, without labels', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.setLeader(false);
    let { text, samples } = await scrape(metrics);
    expect(text).toContain(`# TYPE ${P}leader gauge`);
    expect(samplesOf(samples, `${P}leader`)).toEqual([{ name: `${P}leader`, labels: {}, value: 0 }]);
    metrics.setLeader(true);
    ({ samples } = await scrape(metrics));
    expect(valueOf(samples, `${P}leader`)).toBe(1);
  });
});

describe('losing leadership', () => {
  it('clears every per-pass gauge, and keeps the counters and sync timestamps', async () => {
    const metrics = leaderWithPass();
    const before = (await scrape(metrics)).samples;
    for (const name of PASS_GAUGES) expect(samplesOf(before, `${P}${name}`).length, name).toBeGreaterThan(0);

    metrics.setLeader(false);
    const { samples, text } = await scrape(metrics);
    expect(valueOf(samples, `${P}leader`)).toBe(0);
    for (const name of PASS_GAUGES) expect(samplesOf(samples, `${P}${name}`), name).toEqual([]);
    // The rate limit gauge is unregistered, not left at a stale (possibly low) value.
    expect(text).not.toContain(`${P}heroku_rate_limit_remaining`);
    expect(valueOf(samples, `${P}reconcile_total`, { result: 'success' })).toBe(1);
    expect(valueOf(samples, `${P}last_successful_sync_timestamp_seconds`, { source: 'heroku' })).toBe(Date.parse('2026-01-01T00:00:00Z') / 1000);
  });

  it('a standby that leads again publishes afresh: only the new figures, none of the old ones', async () => {
    const metrics = leaderWithPass();
    metrics.setLeader(false);
    metrics.setLeader(true);
    metrics.setManagedResources(ACCOUNT_B, { bucket: 1, iam_user: 1, access_key: 1 });
    metrics.setHerokuRateLimit(4000);
    const { samples } = await scrape(metrics);
    expect(samplesOf(samples, `${P}managed_resources`).map((s) => s.labels.account_id)).toEqual([ACCOUNT_B, ACCOUNT_B, ACCOUNT_B]);
    expect(samplesOf(samples, `${P}drift_items`)).toEqual([]);
    expect(valueOf(samples, `${P}heroku_rate_limit_remaining`)).toBe(4000);
  });

  it('the drift report after a loss does not bring the old accounts back at 0', async () => {
    const metrics = leaderWithPass();
    metrics.setLeader(false);
    metrics.setLeader(true);
    metrics.setDriftReport({ ...mixedReport(), items: [] }, []);
    expect(samplesOf((await scrape(metrics)).samples, `${P}drift_items`)).toEqual([]);
  });
});

it('promtool finds no problem in a leader’s and a standby’s scrape', async () => {
  const ensure = spawnSync('bash', [path.join(ROOT, 'scripts/stand/ensure-promtool.sh')], { cwd: ROOT, encoding: 'utf8' });
  expect(ensure.status, ensure.stderr).toBe(0);
  const promtool = ensure.stdout.trim().split('\n').pop() ?? '';
  const metrics = leaderWithPass();
  for (const leading of [true, false]) {
    metrics.setLeader(leading);
    const check = spawnSync(promtool, ['check', 'metrics'], { input: (await metrics.render()).body, encoding: 'utf8' });
    expect({ leading, code: check.status, output: (check.stdout + check.stderr).trim() }).toEqual({ leading, code: 0, output: '' });
  }
}, 120_000);

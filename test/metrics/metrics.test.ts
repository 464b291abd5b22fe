/**
 * `Metrics`: each metric appears with its labels and values after the calls that set it, read
 * back from the text a scraper gets.
 */
import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IAM_USERS_QUOTA, Metrics } from '../../src/metrics/metrics.js';
import { failedPassRecord, passRecord, publishPass } from '../../src/metrics/pass-outcome.js';
import type { PassResult } from '../../src/reconciler/controller.js';
import { BlockedReason, DriftKind } from '../../src/reasons.js';
import type { KeyRotation } from '../../src/store/types.js';
import type { ObservedAccount, TeamDesiredState } from '../../src/reconciler/model.js';
import { ApiCallRecorder } from '../../src/sinks/aws/api-calls.js';
import { parseExposition, samplesOf, valueOf, type Sample } from './exposition.js';
import { ACCOUNT_A, ACCOUNT_B, driftItem, driftReport, mixedReport } from './fixtures.js';
import { EventHealth } from '../../src/change-events/event-health.js';

const P = 'heroku_s3_controller_';

async function scrape(metrics: Metrics): Promise<{ text: string; samples: Sample[] }> {
  const { body } = await metrics.render();
  return { text: body, samples: parseExposition(body) };
}

describe('the exposition', () => {
  it('declares every metric with its type, and uses prom-client’s content type', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.setHerokuRateLimit(4500);
    const { contentType, body } = await metrics.render();
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const types = Object.fromEntries([...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(types).toEqual({
      [`${P}drift_items`]: 'gauge',
      [`${P}drift_flapping`]: 'gauge',
      [`${P}managed_resources`]: 'gauge',
      [`${P}reconcile_total`]: 'counter',
      [`${P}reconcile_duration_seconds`]: 'histogram',
      [`${P}api_requests_total`]: 'counter',
      [`${P}heroku_rate_limit_remaining`]: 'gauge',
      [`${P}last_successful_sync_timestamp_seconds`]: 'gauge',
      [`${P}iam_users_quota_ratio`]: 'gauge',
      [`${P}iam_users_quota`]: 'gauge',
      [`${P}gc_breaker_held_deletions`]: 'gauge',
      [`${P}access_key_oldest_age_seconds`]: 'gauge',
      [`${P}access_keys_past_max_age`]: 'gauge',
      [`${P}key_rotations_in_flight`]: 'gauge',
      [`${P}key_rotation_deactivations_held`]: 'gauge',
      [`${P}change_events_received_total`]: 'counter',
      [`${P}change_events_path_state`]: 'gauge',
      [`${P}change_events_last_event_age_seconds`]: 'gauge',
      [`${P}change_events_probe_round_trip_seconds`]: 'gauge',
      [`${P}drift_found_total`]: 'counter',
      [`${P}drift_stood_seconds`]: 'histogram',
    });
  });

  it('includes the process metrics, prefixed, unless turned off', async () => {
    const { text } = await scrape(new Metrics());
    expect(text).toContain(`# TYPE ${P}process_cpu_seconds_total counter`);
    expect(text).toContain(`${P}nodejs_heap_size_used_bytes`);
    expect(text).not.toMatch(/^process_|^nodejs_/m);
    // prom-client's gauges named `_total` are left out (promtool: `_total` is for counters); the
    // by-type gauges they sum stay.
    expect(text).toContain(`# TYPE ${P}nodejs_active_handles gauge`);
    expect(text).not.toMatch(/nodejs_active_(handles|requests|resources)_total/);
    expect((await scrape(new Metrics({ processMetrics: false }))).text).not.toContain('process_cpu');
  });

  it('keeps to its own registry: several instances coexist and the global registry stays empty', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.recordPass({ result: 'success', durationSeconds: 1, herokuComplete: true, awsComplete: true, at: new Date() });
    expect(valueOf((await scrape(a)).samples, `${P}reconcile_total`, { result: 'success' })).toBe(1);
    expect(valueOf((await scrape(b)).samples, `${P}reconcile_total`, { result: 'success' })).toBe(0);
    expect(await globalRegistry.metrics()).not.toContain(P);
  });
});

describe('passes', () => {
  it('counts passes by result from 0, observes durations, stamps complete syncs', async () => {
    const metrics = new Metrics({ processMetrics: false });
    let { samples } = await scrape(metrics);
    for (const result of ['success', 'partial', 'failure']) expect(valueOf(samples, `${P}reconcile_total`, { result })).toBe(0);
    expect(samplesOf(samples, `${P}last_successful_sync_timestamp_seconds`)).toEqual([]);

    metrics.recordPass({ result: 'success', durationSeconds: 0.05, herokuComplete: true, awsComplete: true, at: new Date('2025-01-01T00:00:00Z') });
    metrics.recordPass({ result: 'partial', durationSeconds: 42, herokuComplete: true, awsComplete: false, at: new Date('2025-01-01T00:01:00Z') });
    metrics.recordPass({ result: 'failure', durationSeconds: 700, herokuComplete: false, awsComplete: false, at: new Date('2025-01-01T00:02:00Z') });
    ({ samples } = await scrape(metrics));
    expect(valueOf(samples, `${P}reconcile_total`, { result: 'success' })).toBe(1);
    expect(valueOf(samples, `${P}reconcile_total`, { result: 'partial' })).toBe(1);
    expect(valueOf(samples, `${P}reconcile_total`, { result: 'failure' })).toBe(1);

    const h = `${P}reconcile_duration_seconds`;
    expect(valueOf(samples, `${h}_count`)).toBe(3);
    expect(valueOf(samples, `${h}_sum`)).toBeCloseTo(742.05);
    expect(valueOf(samples, `${h}_bucket`, { le: '0.1' })).toBe(1);
    expect(valueOf(samples, `${h}_bucket`, { le: '60' })).toBe(2);
    expect(valueOf(samples, `${h}_bucket`, { le: '600' })).toBe(2);
    expect(valueOf(samples, `${h}_bucket`, { le: '+Inf' })).toBe(3);
    const bounds = samplesOf(samples, `${h}_bucket`).map((s) => s.labels['le']);
    expect(bounds[0]).toBe('0.1');
    expect(bounds).toContain('600');

    // Heroku was last read completely by the partial pass, AWS by the successful one.
    expect(valueOf(samples, `${P}last_successful_sync_timestamp_seconds`, { source: 'heroku' })).toBe(Date.parse('2025-01-01T00:01:00Z') / 1000);
    expect(valueOf(samples, `${P}last_successful_sync_timestamp_seconds`, { source: 'aws' })).toBe(Date.parse('2025-01-01T00:00:00Z') / 1000);
  });
});

describe('passRecord', () => {
  const team = (complete: boolean) => ({ complete }) as TeamDesiredState;
  const account = (complete: boolean) => ({ complete }) as ObservedAccount;
  const execution = (failed: number) => ({ outcomes: [], applied: 1, failed, blocked: 0, skipped: 0 });
  const pass = (p: Partial<PassResult>): Pick<PassResult, 'durationMs' | 'teams' | 'accounts' | 'execution'> => ({
    durationMs: 1500,
    teams: [team(true), team(true)],
    accounts: [account(true)],
    execution: execution(0),
    ...p,
  });
  const at = new Date('2025-01-01T00:00:00Z');

  it.each([
    ['everything read, nothing failed', pass({}), 'success', true, true],
    ['dry run (no execution)', pass({ execution: null }), 'success', true, true],
    ['nothing linked', pass({ teams: [], accounts: [] }), 'success', true, true],
    ['an action failed', pass({ execution: execution(2) }), 'partial', true, true],
    ['a team read incomplete', pass({ teams: [team(true), team(false)] }), 'partial', false, true],
    ['an account observation incomplete', pass({ accounts: [account(false), account(true)] }), 'partial', true, false],
  ] as const)('%s → %s', (_reason, input, result, herokuComplete, awsComplete) => {
    expect(passRecord(input, at)).toEqual({ result, durationSeconds: 1.5, herokuComplete, awsComplete, at });
  });

  it('a pass that threw is a failure and syncs nothing', () => {
    expect(failedPassRecord(new Date('2025-01-01T00:00:00Z'), new Date('2025-01-01T00:00:03Z'))).toEqual({
      result: 'failure',
      durationSeconds: 3,
      herokuComplete: false,
      awsComplete: false,
      at: new Date('2025-01-01T00:00:03Z'),
    });
  });
});

describe('drift', () => {
  it('counts items by account and kind, and flapping items by account', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.setDriftReport(mixedReport());
    const { samples } = await scrape(metrics);
    const drift = (account_id: string, kind: string) => valueOf(samples, `${P}drift_items`, { account_id, kind });
    expect(drift(ACCOUNT_A, DriftKind.PublicAccessBlockChanged)).toBe(2);
    expect(drift(ACCOUNT_A, DriftKind.EncryptionChanged)).toBe(1);
    expect(drift(ACCOUNT_A, DriftKind.PolicyChanged)).toBe(1);
    expect(drift(ACCOUNT_B, DriftKind.MissingKey)).toBe(1);
    expect(drift(ACCOUNT_B, DriftKind.NameTaken)).toBe(1);
    // Every kind of every account is there, at 0 when it has no item.
    expect(drift(ACCOUNT_A, DriftKind.MissingKey)).toBe(0);
    expect(samplesOf(samples, `${P}drift_items`)).toHaveLength(2 * Object.values(DriftKind).length);
    expect(valueOf(samples, `${P}drift_flapping`, { account_id: ACCOUNT_A })).toBe(1);
    expect(valueOf(samples, `${P}drift_flapping`, { account_id: ACCOUNT_B })).toBe(0);
  });

  it('drops a kind that went away to 0, also when its account has no item left', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.setDriftReport(mixedReport());
    metrics.setDriftReport(driftReport([driftItem({ kind: DriftKind.TagsChanged, field: 'tags' })]));
    const { samples } = await scrape(metrics);
    const drift = (account_id: string, kind: string) => valueOf(samples, `${P}drift_items`, { account_id, kind });
    expect(drift(ACCOUNT_A, DriftKind.TagsChanged)).toBe(1);
    expect(drift(ACCOUNT_A, DriftKind.PublicAccessBlockChanged)).toBe(0);
    expect(drift(ACCOUNT_A, DriftKind.PolicyChanged)).toBe(0);
    expect(drift(ACCOUNT_B, DriftKind.MissingKey)).toBe(0);
    expect(drift(ACCOUNT_B, DriftKind.NameTaken)).toBe(0);
    expect(valueOf(samples, `${P}drift_flapping`, { account_id: ACCOUNT_A })).toBe(0);
    expect(valueOf(samples, `${P}drift_flapping`, { account_id: ACCOUNT_B })).toBe(0);
  });

  it('with the accounts of the pass named, exports exactly those (an unlinked account disappears)', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.setDriftReport(mixedReport());
    metrics.setDriftReport(driftReport([]), [ACCOUNT_A]);
    const { samples } = await scrape(metrics);
    expect(new Set(samplesOf(samples, `${P}drift_items`).map((s) => s.labels['account_id']))).toEqual(new Set([ACCOUNT_A]));
    expect(samplesOf(samples, `${P}drift_items`).every((s) => s.value === 0)).toBe(true);
    expect(samplesOf(samples, `${P}drift_flapping`, { account_id: ACCOUNT_B })).toEqual([]);
  });

  it('keeps a kind the vocabulary does not know yet', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.setDriftReport(driftReport([driftItem({ kind: 'orphaned-bucket' as DriftKind })]));
    expect(valueOf((await scrape(metrics)).samples, `${P}drift_items`, { account_id: ACCOUNT_A, kind: 'orphaned-bucket' })).toBe(1);
  });
});

describe('resources and quota', () => {
  it('sets managed resources by type and the IAM users quota ratio; forgets an account', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.setManagedResources(ACCOUNT_A, { bucket: 7, iam_user: 6, access_key: 5 });
    metrics.setManagedResources(ACCOUNT_B, { bucket: 1, iam_user: 1, access_key: 1 });
    metrics.setManagedResources(ACCOUNT_A, { bucket: 8, iam_user: 8, access_key: 8 });
    metrics.setIamUsers(ACCOUNT_A, 1250);
    metrics.setIamUsers(ACCOUNT_B, 0);
    let { samples } = await scrape(metrics);
    for (const type of ['bucket', 'iam_user', 'access_key']) {
      expect(valueOf(samples, `${P}managed_resources`, { account_id: ACCOUNT_A, type })).toBe(8);
      expect(valueOf(samples, `${P}managed_resources`, { account_id: ACCOUNT_B, type })).toBe(1);
    }
    expect(valueOf(samples, `${P}iam_users_quota_ratio`, { account_id: ACCOUNT_A })).toBe(1250 / IAM_USERS_QUOTA);
    expect(IAM_USERS_QUOTA).toBe(5000);
    expect(valueOf(samples, `${P}iam_users_quota_ratio`, { account_id: ACCOUNT_B })).toBe(0);

    metrics.forgetAccount(ACCOUNT_B);
    ({ samples } = await scrape(metrics));
    expect(samplesOf(samples, `${P}managed_resources`, { account_id: ACCOUNT_B })).toEqual([]);
    expect(samplesOf(samples, `${P}iam_users_quota_ratio`, { account_id: ACCOUNT_B })).toEqual([]);
    expect(samplesOf(samples, `${P}managed_resources`, { account_id: ACCOUNT_A })).toHaveLength(3);
  });

  it('exports the IAM user quota read from the account, and takes the ratio against it; an unread quota has no series', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.setIamUsers(ACCOUNT_A, 1250, 10_000);
    metrics.setIamUsers(ACCOUNT_B, 1250, 5000);
    let { samples } = await scrape(metrics);
    expect(valueOf(samples, `${P}iam_users_quota`, { account_id: ACCOUNT_A })).toBe(10_000);
    expect(valueOf(samples, `${P}iam_users_quota_ratio`, { account_id: ACCOUNT_A })).toBe(0.125);
    expect(valueOf(samples, `${P}iam_users_quota`, { account_id: ACCOUNT_B })).toBe(5000);
    expect(valueOf(samples, `${P}iam_users_quota_ratio`, { account_id: ACCOUNT_B })).toBe(0.25);

    // Not read this pass (GetAccountSummary refused): no stale quota, the ratio against the default.
    metrics.setIamUsers(ACCOUNT_A, 1250, null);
    ({ samples } = await scrape(metrics));
    expect(samplesOf(samples, `${P}iam_users_quota`, { account_id: ACCOUNT_A })).toEqual([]);
    expect(valueOf(samples, `${P}iam_users_quota_ratio`, { account_id: ACCOUNT_A })).toBe(1250 / IAM_USERS_QUOTA);

    metrics.forgetAccount(ACCOUNT_B);
    ({ samples } = await scrape(metrics));
    expect(samplesOf(samples, `${P}iam_users_quota`, { account_id: ACCOUNT_B })).toEqual([]);
  });

  it('publishPass reports each completely read account’s IAM users against the quota it observed', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const observed = (accountId: string, complete: boolean, iamUserQuota: ObservedAccount['iamUserQuota']): ObservedAccount => ({
      accountId,
      complete,
      error: complete ? null : 'AccessDenied: no',
      resources: new Map(),
      users: new Map(),
      iamUsersInAccount: 4500,
      iamUserQuota,
    });
    const pass = {
      startedAt: new Date(),
      durationMs: 10,
      teams: [],
      accounts: [observed(ACCOUNT_A, true, { used: 4500, quota: 6000 }), observed(ACCOUNT_B, false, null)],
      actions: [],
      drift: driftReport([]),
      managed: new Map(),
      keysCreatedAt: new Map(),
      rotations: [], rotationsDue: new Map(), checked: { full: [], exposure: [] },
      execution: null,
    } as PassResult;
    publishPass(metrics, { latest: null }, pass);
    const { samples } = await scrape(metrics);
    expect(valueOf(samples, `${P}iam_users_quota`, { account_id: ACCOUNT_A })).toBe(6000);
    expect(valueOf(samples, `${P}iam_users_quota_ratio`, { account_id: ACCOUNT_A })).toBe(0.75);
    // An account that could not be read reports nothing.
    expect(samplesOf(samples, `${P}iam_users_quota`, { account_id: ACCOUNT_B })).toEqual([]);
    expect(samplesOf(samples, `${P}iam_users_quota_ratio`, { account_id: ACCOUNT_B })).toEqual([]);
  });
});

describe('access key ages', () => {
  const DAY = 86_400_000;
  const at = new Date('2026-12-05T12:00:00Z');
  const pass = (keysCreatedAt: PassResult['keysCreatedAt']) =>
    ({ startedAt: at, durationMs: 10, teams: [], accounts: [], actions: [], drift: driftReport([]), managed: new Map(), keysCreatedAt, rotations: [], rotationsDue: new Map(), checked: { full: [], exposure: [] }, execution: null }) as PassResult;

  it('publishPass exports the oldest known key age and the keys past KEY_MAX_AGE, per account', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const ago = (days: number) => new Date(at.getTime() - days * DAY);
    publishPass(metrics, { latest: null }, pass(new Map([[ACCOUNT_A, [ago(100), ago(91), ago(89), null]], [ACCOUNT_B, [null]]])), at, 90 * DAY);
    const { samples } = await scrape(metrics);
    expect(valueOf(samples, `${P}access_key_oldest_age_seconds`, { account_id: ACCOUNT_A })).toBe(100 * 86_400);
    expect(valueOf(samples, `${P}access_keys_past_max_age`, { account_id: ACCOUNT_A })).toBe(2);
    // A key whose creation time is not known yet counts in neither.
    expect(valueOf(samples, `${P}access_key_oldest_age_seconds`, { account_id: ACCOUNT_B })).toBe(0);
    expect(valueOf(samples, `${P}access_keys_past_max_age`, { account_id: ACCOUNT_B })).toBe(0);
    // A shorter limit counts more; forgetting the account drops its series.
    publishPass(metrics, { latest: null }, pass(new Map([[ACCOUNT_A, [ago(100), ago(91), ago(89)]]])), at, 30 * DAY);
    expect(valueOf((await scrape(metrics)).samples, `${P}access_keys_past_max_age`, { account_id: ACCOUNT_A })).toBe(3);
    // A pass that no longer reads the account (unlinked) drops its series: no alert fires on.
    const observed = (accountId: string): ObservedAccount => ({ accountId, complete: true, error: null, resources: new Map(), users: new Map(), iamUsersInAccount: 1, iamUserQuota: null });
    publishPass(metrics, { latest: null }, { ...pass(new Map([[ACCOUNT_A, [ago(100)]], [ACCOUNT_B, [ago(100)]]])), accounts: [observed(ACCOUNT_A), observed(ACCOUNT_B)] }, at, 30 * DAY);
    publishPass(metrics, { latest: null }, { ...pass(new Map([[ACCOUNT_B, [ago(100)]]])), accounts: [observed(ACCOUNT_B)] }, at, 30 * DAY);
    const after = (await scrape(metrics)).samples;
    for (const name of ['access_keys_past_max_age', 'access_key_oldest_age_seconds', 'managed_resources', 'iam_users_quota_ratio']) {
      expect(samplesOf(after, `${P}${name}`, { account_id: ACCOUNT_A }), name).toEqual([]);
    }
    expect(valueOf(after, `${P}access_keys_past_max_age`, { account_id: ACCOUNT_B })).toBe(1);
  });
});

describe('key rotations', () => {
  it('publishPass exports the rotations in flight by step and the deactivations the breaker holds, per read account', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const at = new Date('2026-12-05T12:00:00Z');
    const rotation = (accountId: string, step: KeyRotation['step']): KeyRotation => ({
      addonId: `${accountId}-${step}`,
      accountId,
      oldAccessKeyId: 'AKIAOLD',
      newAccessKeyId: null,
      trigger: 'age',
      step,
      requestedAt: at,
      requestedBy: 'controller',
      stepAt: at,
      deliveredAt: null,
      deactivatedAt: null,
      approvedAt: null,
    });
    const observed = (accountId: string): ObservedAccount => ({ accountId, complete: true, error: null, resources: new Map(), users: new Map(), iamUsersInAccount: 1, iamUserQuota: null });
    const held = { addonId: 'x', accountId: ACCOUNT_A, kind: 'blocked', reason: BlockedReason.RotationBreakerTripped, resource: 'AKIAX', message: 'held' } as const;
    publishPass(metrics, { latest: null }, {
      startedAt: at, durationMs: 10, teams: [], accounts: [observed(ACCOUNT_A), observed(ACCOUNT_B)], actions: [held], drift: driftReport([]), managed: new Map(), keysCreatedAt: new Map(),
      rotations: [rotation(ACCOUNT_A, 'delivered'), { ...rotation(ACCOUNT_A, 'delivered'), addonId: 'other' }, rotation(ACCOUNT_A, 'reactivated')], rotationsDue: new Map(), checked: { full: [], exposure: [] }, execution: null,
    } as PassResult, at);
    const { samples } = await scrape(metrics);
    expect(valueOf(samples, `${P}key_rotations_in_flight`, { account_id: ACCOUNT_A, step: 'delivered' })).toBe(2);
    expect(valueOf(samples, `${P}key_rotations_in_flight`, { account_id: ACCOUNT_A, step: 'reactivated' })).toBe(1);
    expect(valueOf(samples, `${P}key_rotations_in_flight`, { account_id: ACCOUNT_A, step: 'creating' })).toBe(0);
    expect(valueOf(samples, `${P}key_rotations_in_flight`, { account_id: ACCOUNT_B, step: 'delivered' })).toBe(0);
    expect(valueOf(samples, `${P}key_rotation_deactivations_held`, { account_id: ACCOUNT_A })).toBe(1);
    expect(valueOf(samples, `${P}key_rotation_deactivations_held`, { account_id: ACCOUNT_B })).toBe(0);
    metrics.forgetAccount(ACCOUNT_A);
    expect(samplesOf((await scrape(metrics)).samples, `${P}key_rotations_in_flight`, { account_id: ACCOUNT_A })).toEqual([]);
  });
});

describe('API requests', () => {
  it('counts AWS calls from the ApiCallRecorder by service, operation and outcome', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const recorder = new ApiCallRecorder();
    recorder.onCall((call) => metrics.observeAwsCall(call));
    recorder.record({ accountId: ACCOUNT_A, service: 's3', operation: 'ListBuckets', outcome: 'ok' });
    recorder.record({ accountId: ACCOUNT_B, service: 's3', operation: 'ListBuckets', outcome: 'ok' });
    recorder.record({ accountId: ACCOUNT_A, service: 's3', operation: 'PutBucketPolicy', outcome: 'error', failure: 'access-denied' });
    recorder.record({ accountId: ACCOUNT_A, service: 's3', operation: 'PutBucketPolicy', outcome: 'error', failure: 'throttled' });
    recorder.record({ accountId: ACCOUNT_A, service: 's3', operation: 'PutBucketPolicy', outcome: 'error', failure: 'access-denied' });
    recorder.record({ accountId: ACCOUNT_A, service: 'iam', operation: 'GetAccountAuthorizationDetails', outcome: 'ok' });
    recorder.record({ accountId: ACCOUNT_A, service: 'sts', operation: 'AssumeRole', outcome: 'ok' });
    const { samples, text } = await scrape(metrics);
    const n = (service: string, operation: string, outcome: string, failure?: string) =>
      valueOf(samples, `${P}api_requests_total`, { service, operation, outcome, ...(failure ? { failure } : {}) });
    expect(n('s3', 'ListBuckets', 'ok')).toBe(2);
    // An error is counted by its kind as well: one of a handful, so the series stay bounded.
    expect(n('s3', 'PutBucketPolicy', 'error', 'access-denied')).toBe(2);
    expect(n('s3', 'PutBucketPolicy', 'error', 'throttled')).toBe(1);
    expect(n('iam', 'GetAccountAuthorizationDetails', 'ok')).toBe(1);
    expect(n('sts', 'AssumeRole', 'ok')).toBe(1);
    // Not per account: the account id is no label of this counter.
    expect(text).not.toContain(ACCOUNT_A);
  });

  it('counts Heroku requests by path template, ok below 400, and never exposes a name or id', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const teamName = 'canary-team-7f3a';
    const appId = 'c0ffee00-1234-4abc-8def-canary000001';
    metrics.observeHerokuRequest({ method: 'GET', path: `/teams/${teamName}/addons`, status: 206 });
    metrics.observeHerokuRequest({ method: 'GET', path: `/teams/other-team/addons?x=1`, status: 200 });
    metrics.observeHerokuRequest({ method: 'GET', path: `/teams/${teamName}/addons`, status: 429 });
    metrics.observeHerokuRequest({ method: 'PATCH', path: `/apps/${appId}/config-vars`, status: 200 });
    metrics.observeHerokuRequest({ method: 'GET', path: '/addon-attachments', status: 503 });
    metrics.observeHerokuRequest({ method: 'GET', path: '/addon-attachments', status: 304 });
    metrics.observeHerokuRequest({ method: 'GET', path: '/addon-attachments', status: 0 });
    const { samples, text } = await scrape(metrics);
    const n = (operation: string, outcome: string, failure?: string) =>
      valueOf(samples, `${P}api_requests_total`, { service: 'heroku', operation, outcome, ...(failure ? { failure } : {}) });
    expect(n('GET /teams/{team}/addons', 'ok')).toBe(2);
    expect(n('GET /teams/{team}/addons', 'error', 'throttled')).toBe(1);
    expect(n('PATCH /apps/{app}/config-vars', 'ok')).toBe(1);
    expect(n('GET /addon-attachments', 'ok')).toBe(1);
    expect(n('GET /addon-attachments', 'error', 'unavailable')).toBe(2); // a 503 and no answer at all
    expect(text).not.toMatch(/canary|other-team/);
  });

  it('exports the Heroku rate-limit budget only once Heroku has reported one', async () => {
    const metrics = new Metrics({ processMetrics: false });
    expect((await scrape(metrics)).text).not.toContain('heroku_rate_limit_remaining');
    metrics.setHerokuRateLimit(4321);
    metrics.setHerokuRateLimit(Number.NaN); // ignored
    metrics.setHerokuRateLimit(4320);
    expect(valueOf((await scrape(metrics)).samples, `${P}heroku_rate_limit_remaining`)).toBe(4320);
  });
});

describe('gc breaker gauge', () => {
  it('shows the held teardowns of an account, and 0 once released', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.setGcHeld('111111111111', 3);
    expect((await metrics.render()).body).toContain('heroku_s3_controller_gc_breaker_held_deletions{account_id="111111111111"} 3');
    metrics.setGcHeld('111111111111', 0);
    expect((await metrics.render()).body).toContain('heroku_s3_controller_gc_breaker_held_deletions{account_id="111111111111"} 0');
  });
});

describe('change events', () => {
  it('shows each linked account\'s event path: not configured, starting, healthy with the probe\'s round trip, and what arrived', async () => {
    let now = new Date('2026-12-05T10:00:00Z');
    const metrics = new Metrics({ processMetrics: false });
    const health = new EventHealth({ now: () => now, onOutcome: (accountId, outcome) => metrics.countChangeEvent(accountId, outcome) });
    metrics.watchChangeEvents(() => health.report());
    health.setLinkedAccounts([ACCOUNT_A, ACCOUNT_B]);
    health.configure([{ accountId: ACCOUNT_B, region: 'us-east-1', queueUrl: 'https://sqs.us-east-1.amazonaws.com/b/hsc-changes' }]);
    const state = async (accountId: string) => {
      const { samples } = await scrape(metrics);
      return samplesOf(samples, `${P}change_events_path_state`).filter((s) => s.labels.account_id === accountId && s.value === 1).map((s) => s.labels.state);
    };
    expect(await state(ACCOUNT_A)).toEqual(['not-configured']);
    expect(await state(ACCOUNT_B)).toEqual(['starting']);
    health.polled(ACCOUNT_B, 'us-east-1');
    health.probeSent(ACCOUNT_B, 'us-east-1', 'p1');
    now = new Date(now.getTime() + 1_500);
    health.probeArrived(ACCOUNT_B, 'us-east-1', 'p1');
    health.counted(ACCOUNT_B, 'probe');
    health.counted(ACCOUNT_B, 'own-change');
    health.counted(ACCOUNT_B, 'malformed');
    expect(await state(ACCOUNT_B)).toEqual(['healthy']);
    const { samples } = await scrape(metrics);
    expect(valueOf(samples, `${P}change_events_probe_round_trip_seconds`, { account_id: ACCOUNT_B, region: 'us-east-1' })).toBe(1.5);
    expect(valueOf(samples, `${P}change_events_received_total`, { account_id: ACCOUNT_B, outcome: 'malformed' })).toBe(1);
    expect(valueOf(samples, `${P}change_events_last_event_age_seconds`, { account_id: ACCOUNT_B })).toBeGreaterThanOrEqual(0);
  });

  it('counts drifts found with how they were found, and how long those an event dated stood', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.recordDriftFound([
      { accountId: ACCOUNT_A, kind: DriftKind.PublicAccessBlockChanged, foundBy: 'event', stoodSeconds: 42 },
      { accountId: ACCOUNT_A, kind: DriftKind.EncryptionChanged, foundBy: 'deep-check' },
    ]);
    const { samples } = await scrape(metrics);
    expect(valueOf(samples, `${P}drift_found_total`, { account_id: ACCOUNT_A, kind: DriftKind.PublicAccessBlockChanged, found_by: 'event' })).toBe(1);
    expect(valueOf(samples, `${P}drift_found_total`, { account_id: ACCOUNT_A, kind: DriftKind.EncryptionChanged, found_by: 'deep-check' })).toBe(1);
    expect(valueOf(samples, `${P}drift_stood_seconds_sum`, { found_by: 'event' })).toBe(42);
    expect(valueOf(samples, `${P}drift_stood_seconds_count`, { found_by: 'deep-check' })).toBeUndefined();
  });
});

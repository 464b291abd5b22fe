/**
 * Issue 4, the mass-deletion breaker end to end (safety invariant 4): removing 3 of an account's 5
 * add-ons at once (60 % > GC_MAX_DELETION_RATIO 0.5, here from GC_BREAKER_MIN_DELETIONS=3 on) trips it. Nothing is deleted, `plan` and the
 * metrics show the held deletions, until `heroku-s3-controller gc approve --account <id>`; the
 * next pass then deletes exactly those three and nothing else, and the breaker resets.
 *
 * The marking pass runs with the controller's clock two days back, so the 24-hour grace period
 * is already over in real time when the CLI (which uses the real clock) plans and reconciles.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishPass } from '../../src/metrics/pass-outcome.js';
import { runCli } from '../support/cli.js';
import { journalCount, planJson, reconcileJson, sql } from './drift-support.js';
import { DAY, MovableClock, accountSnapshot, bucketExists, gcRuntime, journalRows, passWith, recordRow, userExists } from './gc-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

let world: World;
let s3: S3Client;
let iam: IAMClient;
const clock = new MovableClock();
const APPS = ['app-1', 'app-2', 'app-3', 'app-4', 'app-5'];
const addons: { id: string; app: string; bucket: string; user: string }[] = [];
let removed: typeof addons;
let kept: typeof addons;
let beforeRemoval: Awaited<ReturnType<typeof accountSnapshot>>;
let afterMarking: Awaited<ReturnType<typeof accountSnapshot>>;
let varsBefore: Record<string, Record<string, string>>;

const allVars = () => Object.fromEntries(APPS.map((app) => [app, world.fake.configVars(app)]));
const heldIds = () => removed.map((a) => a.id).sort();

beforeAll(async () => {
  world = await createWorld();
  // The ratio rule from 3 deletions on (default 5, so that review-app churn passes: see
  // test/lifecycle/regressions.test.ts, defect 9), so that 5 add-ons are enough to show it.
  world.env.GC_BREAKER_MIN_DELETIONS = '3';
  world.fake.addTeam({ name: 'acme' });
  for (const app of APPS) {
    world.fake.addApp({ name: app, team: 'acme', region: 'us' });
    world.fake.setConfigVar(app, 'OTHER_SETTING', `kept-${app}`);
    addons.push({ id: world.fake.addAddon({ app, service: SERVICE, attachmentName: 'BUCKET' }).id, app, bucket: '', user: '' });
  }
  const linked = await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env);
  expect(linked.code).toBe(0);
  const first = await reconcileJson(world);
  expect(first.code).toBe(0);
  expect(first.json.totals.failed).toBe(0);
  for (const addon of addons) {
    const record = (await sql<{ bucket_name: string; user_name: string }>(world, 'SELECT r.name AS bucket_name, m.user_name FROM managed_resources m LEFT JOIN kind_resources r ON r.addon_id = m.addon_id AND r.kind = m.kind WHERE m.addon_id = $1', [addon.id]))[0]!;
    Object.assign(addon, { bucket: record.bucket_name, user: record.user_name });
  }
  removed = addons.slice(0, 3);
  kept = addons.slice(3);
  // One of the three was attached to another app and detached from it earlier: removing the
  // config vars it had there is no teardown, so it must still count when the breaker decides.
  const extra = world.fake.attach({ addon: removed[0]!.id, app: 'app-5', name: 'EXTRA' });
  expect((await reconcileJson(world)).json.totals.failed).toBe(0);
  expect(world.fake.configVars('app-5')).toHaveProperty('EXTRA_AWS_ACCESS_KEY_ID');
  world.fake.detach(extra.id);
  expect((await reconcileJson(world)).json.totals.failed).toBe(0);
  expect(Object.keys(world.fake.configVars('app-5')).filter((k) => k.startsWith('EXTRA_'))).toEqual([]);
  expect(await recordRow(world, removed[0]!.id)).toMatchObject({ teardown_started_at: null, orphaned_at: null });
  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
  beforeRemoval = await accountSnapshot(s3, iam);
  varsBefore = allVars();
  expect(Object.keys(beforeRemoval.buckets)).toHaveLength(5);
}, 120_000);

afterAll(async () => {
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

describe('mass-deletion breaker', () => {
  it('removing 3 of 5 add-ons at once trips it past their grace period: nothing is deleted', async () => {
    for (const addon of removed) world.fake.destroyAddon(addon.id);
    clock.real(-2 * DAY);
    const { pass: marking } = await passWith(world, { clock });
    expect(marking.actions.map((a) => a.kind)).toEqual(['mark-orphan', 'mark-orphan', 'mark-orphan']);
    for (const addon of removed) expect((await recordRow(world, addon.id))?.orphan_reason).toBe('orphaned');
    afterMarking = await accountSnapshot(s3, iam);

    clock.real();
    world.fake.resetRequests();
    const runtime = await gcRuntime(world, { clock });
    try {
      const pass = await runtime.controller.reconcileOnce();
      expect(pass.execution?.failed).toBe(0);
      expect(pass.actions.filter((a) => a.kind === 'trip-gc-breaker')).toMatchObject([{ accountId: world.accountA, planned: heldIds() }]);
      const blocked = pass.actions.filter((a) => a.kind === 'blocked');
      expect(blocked.map((a) => a.addonId).sort()).toEqual(heldIds());
      expect(blocked.every((a) => a.reason === 'gc-breaker-tripped')).toBe(true);
      expect(pass.actions.filter((a) => !['trip-gc-breaker', 'blocked'].includes(a.kind))).toEqual([]);
      expect(runtime.recorder.mutations()).toEqual([]);
      expect(world.fake.mutatingRequests()).toBe(0);

      publishPass(runtime.metrics, runtime.reports, pass);
      const scrape = (await runtime.metrics.render()).body;
      expect(scrape).toContain(`heroku_s3_controller_gc_breaker_held_deletions{account_id="${world.accountA}"} 3`);
      expect(runtime.reports.latest?.items.filter((i) => i.status === 'blocked').map((i) => i.addonId).sort()).toEqual(heldIds());

      // A second pass holds them still, without tripping again.
      runtime.recorder.reset();
      const again = await runtime.controller.reconcileOnce();
      expect(again.actions.filter((a) => a.kind !== 'blocked')).toEqual([]);
      expect(runtime.recorder.mutations()).toEqual([]);
    } finally {
      await runtime.close();
    }
    expect(await accountSnapshot(s3, iam)).toEqual(afterMarking);
    expect(allVars()).toEqual(varsBefore);
    const trips = await journalRows(world, `action = 'trip-gc-breaker' AND phase = 'ok'`);
    expect(trips).toHaveLength(1);
    expect(trips[0]!.detail.planned).toEqual(heldIds());
    expect(await sql(world, 'SELECT account_id, planned, approved_at FROM gc_breakers')).toEqual([
      { account_id: world.accountA, planned: heldIds(), approved_at: null },
    ]);
  });

  it('`plan -o json` shows the held deletions as blocked', async () => {
    const journalBefore = await journalCount(world);
    const plan = await planJson(world);
    expect(await journalCount(world), '`plan` changes nothing').toBe(journalBefore);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(1);
    const items = plan.json.drift.items.filter((i) => i.status === 'blocked');
    expect(items.map((i) => i.addonId).sort()).toEqual(heldIds());
    expect(items.every((i) => i.kind === 'orphaned-bucket' && i.accountId === world.accountA)).toBe(true);
    expect(plan.json.actions.filter((a) => a.reason === 'gc-breaker-tripped').map((a) => a.addonId).sort()).toEqual(heldIds());
    expect(plan.json.actions.filter((a) => /^delete-|^empty-|^remove-/.test(a.kind))).toEqual([]);
    // …and a CLI pass before the approval deletes nothing either.
    const run = await reconcileJson(world);
    expect(run.json.totals.failed).toBe(0);
    expect(await accountSnapshot(s3, iam)).toEqual(afterMarking);
  });

  it('`gc approve --account <id>` exits 0 and lists what it lets go', async () => {
    const run = await runCli(['gc', 'approve', '--account', world.accountA], world.env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    for (const id of heldIds()) expect(run.stdout).toContain(id);
    for (const addon of kept) expect(run.stdout).not.toContain(addon.id);
    expect(run.stdout).toContain(world.accountA);
    expect(await journalRows(world, `action = 'gc-approve'`)).toMatchObject([{ account_id: world.accountA, phase: 'ok', detail: { planned: heldIds() } }]);
  });

  it('the next pass deletes exactly those three; the other two are untouched; then the breaker resets', async () => {
    clock.real();
    const { pass } = await passWith(world, { clock });
    expect(pass.execution?.failed).toBe(0);
    expect(pass.actions.filter((a) => a.kind === 'blocked' || a.kind === 'trip-gc-breaker')).toEqual([]);
    for (const addon of removed) {
      expect(await bucketExists(s3, addon.bucket), addon.bucket).toBe(false);
      expect(await userExists(iam, addon.user), addon.user).toBe(false);
      expect(await recordRow(world, addon.id)).toBeUndefined();
      expect(world.fake.configVars(addon.app)).toEqual({ OTHER_SETTING: `kept-${addon.app}` });
    }
    const now = await accountSnapshot(s3, iam);
    expect(Object.keys(now.buckets).sort()).toEqual(kept.map((a) => a.bucket).sort());
    expect(Object.keys(now.users).sort()).toEqual(kept.map((a) => a.user).sort());
    for (const addon of kept) {
      expect(now.buckets[addon.bucket]).toEqual(beforeRemoval.buckets[addon.bucket]);
      expect(now.users[addon.user]).toEqual(beforeRemoval.users[addon.user]);
      expect(world.fake.configVars(addon.app)).toEqual(varsBefore[addon.app]);
      expect(await recordRow(world, addon.id)).toMatchObject({ orphaned_at: null, state: 'ready' });
    }

    const { pass: next } = await passWith(world, { clock });
    expect(next.actions.map((a) => a.kind)).toEqual(['reset-gc-breaker']);
    expect(await sql(world, 'SELECT * FROM gc_breakers')).toEqual([]);
    const { pass: quiet } = await passWith(world, { clock });
    expect(quiet.actions).toEqual([]);
  });

  it('`gc approve` on an account with nothing held exits 2 with a one-line message', async () => {
    const run = await runCli(['gc', 'approve', '--account', world.accountA], world.env);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain(world.accountA);
    expect(run.stderr).toMatch(/nothing to approve/);
    const other = await runCli(['gc', 'approve', '--account', world.accountB], world.env);
    expect(other.code).toBe(2);
    expect(other.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a bad account id exits 2 with a one-line message', async () => {
    for (const bad of ['12345', 'not-an-account', `${world.accountA}0`]) {
      const run = await runCli(['gc', 'approve', '--account', bad], world.env);
      expect(run.code, bad).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.trimEnd().split('\n'), bad).toHaveLength(1);
      expect(run.stderr).toContain('12-digit');
    }
    const missing = await runCli(['gc', 'approve'], world.env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--account/);
  });
});

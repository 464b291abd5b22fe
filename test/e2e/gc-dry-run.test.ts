/**
 * Issue 4, GC_MODE=dry-run end to end: with an orphan far past its grace period (and config vars
 * left on an app its add-on was detached from), passes delete nothing at all (full snapshots of
 * the account, the apps' config vars and the records stay equal), while the pass's plan and drift
 * report, `plan -o json` and `reconcile --once -o json` show everything that would be deleted.
 * Switching to GC_MODE=enabled then deletes it, so dry-run was all that held it back.
 *
 * The marking pass runs with the controller's clock two days back, so the 24-hour grace period is
 * over in real time too, when the CLI (which uses the real clock) plans.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DESTRUCTIVE_KINDS } from '../../src/reconciler/actions.js';
import type { PassResult } from '../../src/reconciler/controller.js';
import { runCli } from '../support/cli.js';
import { planJson, reconcileJson, sql, type PassJson } from './drift-support.js';
import { DAY, MovableClock, accountSnapshot, bucketExists, fillBucket, gcRuntime, recordRow, userExists } from './gc-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

let world: World;
let s3: S3Client;
let iam: IAMClient;
const clock = new MovableClock();
const APPS = ['acme-web', 'acme-admin', 'review-9'];
/** W: kept, detached from acme-admin; R: its add-on destroyed (the orphan). */
const addons = {} as Record<'W' | 'R', { id: string; bucket: string; user: string }>;
const TEARDOWN = ['remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'delete-bucket-policy', 'empty-bucket', 'delete-bucket', 'forget-resource'];

async function state() {
  return {
    account: await accountSnapshot(s3, iam),
    vars: Object.fromEntries(APPS.map((app) => [app, world.fake.configVars(app)])),
    records: await sql(world, 'SELECT addon_id, state, orphaned_at, orphan_reason, delete_after, teardown_started_at FROM managed_resources ORDER BY addon_id'),
    deliveries: await sql(world, 'SELECT addon_id, attachment_id, app_id, var_names FROM deliveries ORDER BY addon_id, attachment_id'),
  };
}
let marked: Awaited<ReturnType<typeof state>>;

beforeAll(async () => {
  world = await createWorld();
  world.env.GC_MODE = 'dry-run';
  const { fake } = world;
  fake.addTeam({ name: 'acme' });
  for (const app of APPS) {
    fake.addApp({ name: app, team: 'acme', region: 'us' });
    fake.setConfigVar(app, 'OTHER_SETTING', `kept-${app}`);
  }
  addons.W = { id: fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' }).id, bucket: '', user: '' };
  fake.attach({ addon: addons.W.id, app: 'acme-admin', name: 'SHARED' });
  addons.R = { id: fake.addAddon({ app: 'review-9', service: SERVICE, attachmentName: 'BUCKET' }).id, bucket: '', user: '' };
  const linked = await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env);
  expect(linked.code).toBe(0);
  const first = await reconcileJson(world);
  expect(first.json.totals.failed).toBe(0);
  for (const label of ['W', 'R'] as const) {
    const [r] = await sql<{ bucket_name: string; user_name: string }>(world, 'SELECT r.name AS bucket_name, m.user_name FROM managed_resources m LEFT JOIN kind_resources r ON r.addon_id = m.addon_id AND r.kind = m.kind WHERE m.addon_id = $1', [addons[label].id]);
    Object.assign(addons[label], { bucket: r!.bucket_name, user: r!.user_name });
  }
  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
  await fillBucket(s3, addons.R.bucket, { objects: 30, extraVersions: 10, deleteMarkers: 5 });

  fake.destroyAddon(addons.R.id);
  fake.detach(fake.attachments('acme-admin').find((a) => a.addon.id === addons.W.id)!.id);
  clock.real(-2 * DAY);
  const runtime = await gcRuntime(world, { clock });
  try {
    await runtime.controller.reconcileOnce();
  } finally {
    await runtime.close();
  }
  expect(await recordRow(world, addons.R.id)).toMatchObject({ orphan_reason: 'orphaned' });
  marked = await state();
}, 120_000);

afterAll(async () => {
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

function expectWouldDelete(actions: { kind: string; addonId: string; reason: string }[]): void {
  expect(actions.filter((a) => a.addonId === addons.R.id).map((a) => a.kind)).toEqual(TEARDOWN);
  expect(actions.filter((a) => a.addonId === addons.W.id).map((a) => `${a.kind} ${a.reason}`)).toEqual(['remove-config-vars detached-config-vars']);
}

function expectReported(drift: PassJson['drift'] | PassResult['drift']): void {
  expect(drift.items.filter((i) => i.addonId === addons.W.id)).toEqual([
    expect.objectContaining({ kind: 'detached-config-vars', resource: world.fake.app('acme-admin').id }),
  ]);
  expect.soft(drift.items.filter((i) => i.addonId === addons.R.id), 'the report names the orphan that would be deleted').toEqual([
    expect.objectContaining({ kind: 'orphaned-bucket', accountId: world.accountA, resource: addons.R.bucket }),
  ]);
  expect.soft(drift.summary.orphaned, 'summary.orphaned').toBe(1);
}

describe('GC_MODE=dry-run', () => {
  it('passes far past the grace period delete nothing, and plan and report show what they would delete', async () => {
    for (const offset of [0, 30 * DAY, 60 * DAY]) {
      clock.real(offset);
      world.fake.resetRequests();
      const runtime = await gcRuntime(world, { clock });
      let pass: PassResult;
      try {
        pass = await runtime.controller.reconcileOnce();
        expect(runtime.recorder.mutations(), `AWS mutations ${offset / DAY} days ahead`).toEqual([]);
      } finally {
        await runtime.close();
      }
      expect(pass.execution?.failed).toBe(0);
      expect(pass.execution?.outcomes.filter((o) => DESTRUCTIVE_KINDS.has(o.action.kind))).toEqual([]);
      expect(world.fake.mutatingRequests()).toBe(0);
      expectWouldDelete(pass.actions);
      expectReported(pass.drift);
      expect(await state()).toEqual(marked);
    }
    // Everything is still really there.
    expect(await bucketExists(s3, addons.R.bucket)).toBe(true);
    expect(await userExists(iam, addons.R.user)).toBe(true);
    expect(world.fake.configVars('review-9')).toHaveProperty('BUCKET_AWS_SECRET_ACCESS_KEY');
    expect(world.fake.configVars('acme-admin')).toHaveProperty('SHARED_AWS_SECRET_ACCESS_KEY');
  });

  it('`plan -o json` lists the teardown actions and reports the orphan', async () => {
    const plan = await planJson(world);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(1);
    expectWouldDelete(plan.json.actions);
    expectReported(plan.json.drift);
    expect(await state()).toEqual(marked);
  });

  it('`reconcile --once -o json` deletes nothing and reports the orphan', async () => {
    const run = await reconcileJson(world);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.json.totals.failed).toBe(0);
    expect(run.json.actions.filter((a) => DESTRUCTIVE_KINDS.has(a.kind as never) && a.result === 'applied')).toEqual([]);
    expectReported(run.json.drift);
    expect(await state()).toEqual(marked);
  });

  it('GC_MODE=off deletes nothing either, and still reports the orphan', async () => {
    clock.real(30 * DAY);
    const runtime = await gcRuntime(world, { clock, env: { GC_MODE: 'off' } });
    try {
      const pass = await runtime.controller.reconcileOnce();
      expect(pass.execution?.failed).toBe(0);
      expect(runtime.recorder.mutations()).toEqual([]);
      expect(pass.actions.filter((a) => DESTRUCTIVE_KINDS.has(a.kind))).toEqual([]);
      expect(pass.drift.items.filter((i) => i.addonId === addons.R.id), 'an orphan past its grace is still drift when GC is off').toEqual([
        expect.objectContaining({ kind: 'orphaned-bucket', resource: addons.R.bucket }),
      ]);
    } finally {
      await runtime.close();
    }
    expect(await state()).toEqual(marked);
  });

  it('control: with GC_MODE=enabled the same orphan goes', async () => {
    clock.real();
    const runtime = await gcRuntime(world, { clock, env: { GC_MODE: 'enabled' } });
    try {
      const pass = await runtime.controller.reconcileOnce();
      expect(pass.execution?.failed).toBe(0);
    } finally {
      await runtime.close();
    }
    expect(await bucketExists(s3, addons.R.bucket)).toBe(false);
    expect(await userExists(iam, addons.R.user)).toBe(false);
    expect(await recordRow(world, addons.R.id)).toBeUndefined();
    expect(world.fake.configVars('review-9')).toEqual({ OTHER_SETTING: 'kept-review-9' });
    expect(Object.keys(world.fake.configVars('acme-admin')).filter((k) => k.startsWith('SHARED_'))).toEqual([]);
    expect(await bucketExists(s3, addons.W.bucket)).toBe(true);
  });
});

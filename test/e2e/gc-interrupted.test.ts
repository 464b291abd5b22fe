/**
 * Issue 4, crash safety of teardown (safety invariant 6): a teardown interrupted at a step (an
 * injected failure through an SDK middleware, before the call reaches AWS or right after AWS did
 * it) resumes on the next pass and finishes without errors, with nothing done twice and nothing
 * left behind. One orphan per case, so the mass-deletion breaker never has a say.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_POLICY_NAME } from '../../src/reconciler/spec.js';
import { runCli } from '../support/cli.js';
import { accessKeys, inlinePolicies, reconcileJson, sql } from './drift-support.js';
import {
  DAY,
  MovableClock,
  bucketExists,
  bucketNames,
  countVersions,
  expectNoSecretInJournal,
  failOnce,
  fillBucket,
  incompleteUploads,
  journalRows,
  leaveIncompleteUpload,
  passWith,
  recordRow,
  userExists,
  userNames,
} from './gc-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

let world: World;
let s3: S3Client;
let iam: IAMClient;
const clock = new MovableClock();
const APPS = ['keep-1', 'keep-2', 'tear-1', 'tear-2', 'tear-3', 'tear-4'] as const;
type App = (typeof APPS)[number];
const addons = {} as Record<App, { id: string; bucket: string; user: string; keyId: string }>;
const secrets: string[] = [];

beforeAll(async () => {
  world = await createWorld();
  world.fake.addTeam({ name: 'acme' });
  for (const app of APPS) {
    world.fake.addApp({ name: app, team: 'acme', region: 'us' });
    world.fake.setConfigVar(app, 'OTHER_SETTING', `kept-${app}`);
    addons[app] = { id: world.fake.addAddon({ app, service: SERVICE, attachmentName: 'BUCKET' }).id, bucket: '', user: '', keyId: '' };
  }
  const linked = await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env);
  expect(linked.code).toBe(0);
  const first = await reconcileJson(world);
  expect(first.json.totals.failed).toBe(0);
  for (const app of APPS) {
    const [r] = await sql<{ bucket_name: string; user_name: string; access_key_id: string }>(
      world,
      'SELECT r.name AS bucket_name, m.user_name, m.access_key_id FROM managed_resources m LEFT JOIN kind_resources r ON r.addon_id = m.addon_id AND r.kind = m.kind WHERE m.addon_id = $1',
      [addons[app].id],
    );
    Object.assign(addons[app], { bucket: r!.bucket_name, user: r!.user_name, keyId: r!.access_key_id });
    secrets.push(world.fake.configVars(app)['BUCKET_AWS_SECRET_ACCESS_KEY']!);
  }
  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
}, 120_000);

afterAll(async () => {
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

/** Destroys the add-on, marks it, and moves the clock past its 24-hour grace period. */
async function orphanPastGrace(app: App): Promise<void> {
  world.fake.destroyAddon(addons[app].id);
  clock.real();
  const { pass } = await passWith(world, { clock });
  expect(pass.actions.map((a) => `${a.kind} ${a.addonId}`)).toEqual([`mark-orphan ${addons[app].id}`]);
  clock.advance(DAY + 60_000);
}

/** The interrupted pass: exactly one action failed, the one injected. */
async function interruptedPass(operation: string, when: 'before' | 'after', failedKind: string) {
  const fault = failOnce(operation, when);
  const { pass, mutations } = await passWith(world, { clock, onClient: fault });
  expect(fault.fired(), `the ${operation} fault fired`).toBe(true);
  expect(pass.execution?.failed).toBe(1);
  expect(pass.execution?.outcomes.filter((o) => o.result === 'failed').map((o) => o.action.kind)).toEqual([failedKind]);
  return { pass, mutations };
}

/** The resuming pass: nothing fails, and the add-on's resources and record are all gone. */
async function resumingPass(app: App) {
  clock.advance(60_000);
  world.fake.resetRequests();
  const { pass, mutations } = await passWith(world, { clock });
  expect(pass.execution?.failed).toBe(0);
  expect(pass.execution?.outcomes.filter((o) => o.result !== 'applied')).toEqual([]);
  await expectAllGone(app);
  // Nothing was left for a later pass.
  clock.advance(60_000);
  const { pass: after } = await passWith(world, { clock });
  expect(after.actions).toEqual([]);
  return { pass, mutations };
}

async function expectAllGone(app: App): Promise<void> {
  const { id, bucket, user } = addons[app];
  expect(await bucketExists(s3, bucket), `bucket of ${app}`).toBe(false);
  expect(await userExists(iam, user), `user of ${app}`).toBe(false);
  expect(await recordRow(world, id)).toBeUndefined();
  expect(await sql(world, 'SELECT * FROM deliveries WHERE addon_id = $1', [id])).toEqual([]);
  expect(world.fake.configVars(app)).toEqual({ OTHER_SETTING: `kept-${app}` });
}

/** No leak: the account holds exactly the resources of the add-ons not torn down. */
async function expectOnly(apps: App[]): Promise<void> {
  expect(await bucketNames(s3)).toEqual(apps.map((a) => addons[a].bucket).sort());
  expect(await userNames(iam)).toEqual(apps.map((a) => addons[a].user).sort());
  for (const app of apps) expect((await accessKeys(iam, addons[app].user)).map((k) => k.id)).toEqual([addons[app].keyId]);
}

const okRows = (app: App, action: string) => journalRows(world, `addon_id = $1 AND action = $2 AND phase = 'ok'`, [addons[app].id, action]);

describe('interrupted teardown resumes', () => {
  it('after the keys were deleted, DeleteUserPolicy fails: the next pass finishes, deleting no key twice', async () => {
    await orphanPastGrace('tear-1');
    const { pass, mutations } = await interruptedPass('DeleteUserPolicy', 'before', 'delete-user-policies');
    const results = Object.fromEntries(pass.execution!.outcomes.map((o) => [o.action.kind, o.result]));
    expect(results).toMatchObject({
      'remove-config-vars': 'applied',
      'delete-user-keys': 'applied',
      'delete-user-policies': 'failed',
      'delete-user': 'skipped',
      'delete-bucket-policy': 'skipped',
      'empty-bucket': 'skipped',
      'delete-bucket': 'skipped',
      'forget-resource': 'skipped',
    });
    expect(mutations.filter((m) => m === 'DeleteAccessKey')).toHaveLength(1);
    // Stopped exactly there: key gone, policy and user still there, bucket untouched.
    const { user, bucket } = addons['tear-1'];
    expect(await accessKeys(iam, user)).toEqual([]);
    expect(Object.keys(await inlinePolicies(iam, user))).toEqual([USER_POLICY_NAME]);
    expect(await bucketExists(s3, bucket)).toBe(true);
    expect(await recordRow(world, addons['tear-1'].id)).toMatchObject({ state: 'error', last_error: expect.stringContaining('injected failure') });

    const { mutations: resumed } = await resumingPass('tear-1');
    expect(resumed).not.toContain('DeleteAccessKey');
    expect(resumed).toEqual(expect.arrayContaining(['DeleteUserPolicy', 'DeleteUser', 'DeleteBucketPolicy', 'DeleteBucket']));
    expect(world.fake.mutatingRequests(), 'the config vars were not removed again').toBe(0);
    expect((await okRows('tear-1', 'delete-user-keys')).map((r) => r.detail.accessKeyIds)).toEqual([[addons['tear-1'].keyId], []]);
    expect(await okRows('tear-1', 'remove-config-vars')).toHaveLength(1);
    expect(await okRows('tear-1', 'delete-user')).toHaveLength(1);
    expect(await okRows('tear-1', 'delete-bucket')).toHaveLength(1);
    await expectOnly(['keep-1', 'keep-2', 'tear-2', 'tear-3', 'tear-4']);
  });

  it('DeleteUser done at AWS but the call reported failed (crash right after): the next pass finishes', async () => {
    await orphanPastGrace('tear-2');
    await interruptedPass('DeleteUser', 'after', 'delete-user');
    expect(await userExists(iam, addons['tear-2'].user)).toBe(false);
    expect(await bucketExists(s3, addons['tear-2'].bucket)).toBe(true);

    const { pass } = await resumingPass('tear-2');
    expect(pass.actions.filter((a) => a.addonId === addons['tear-2'].id).map((a) => a.kind)).toEqual([
      'delete-bucket-policy',
      'empty-bucket',
      'delete-bucket',
      'forget-resource',
    ]);
    await expectOnly(['keep-1', 'keep-2', 'tear-3', 'tear-4']);
  });

  it('DeleteAccessKey done at AWS but reported failed: the next pass finds no key and goes on', async () => {
    await orphanPastGrace('tear-4');
    await interruptedPass('DeleteAccessKey', 'after', 'delete-user-keys');
    expect(await accessKeys(iam, addons['tear-4'].user)).toEqual([]);
    expect(await userExists(iam, addons['tear-4'].user)).toBe(true);
    const { mutations } = await resumingPass('tear-4');
    expect(mutations).not.toContain('DeleteAccessKey');
    await expectOnly(['keep-1', 'keep-2', 'tear-3']);
  });

  it('a bucket emptied (versions, markers, an incomplete upload) but not deleted (DeleteBucket fails) is deleted next pass; its contents are journaled once', async () => {
    const written = await fillBucket(s3, addons['tear-3'].bucket, { objects: 40, extraVersions: 10, deleteMarkers: 5 });
    await leaveIncompleteUpload(s3, addons['tear-3'].bucket, 'big/upload.bin');
    expect(await incompleteUploads(s3, addons['tear-3'].bucket)).toHaveLength(1);
    await orphanPastGrace('tear-3');
    await interruptedPass('DeleteBucket', 'before', 'delete-bucket');
    expect(await countVersions(s3, addons['tear-3'].bucket)).toEqual({ versions: 0, deleteMarkers: 0, bytes: 0 });
    expect(await incompleteUploads(s3, addons['tear-3'].bucket), 'incomplete uploads aborted').toEqual([]);

    await resumingPass('tear-3');
    const emptied = await okRows('tear-3', 'empty-bucket');
    const sum = (k: string) => emptied.reduce((n, r) => n + Number(r.detail[k]), 0);
    expect({ versions: sum('deletedObjects'), deleteMarkers: sum('deleteMarkers'), bytes: sum('deletedBytes') }).toEqual(written);
    await expectOnly(['keep-1', 'keep-2']);
    await expectNoSecretInJournal(world, secrets);
  });
});

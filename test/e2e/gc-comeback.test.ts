/**
 * Issue 4, orphans that become wanted again: an add-on that comes back within its grace period
 * (re-created with the same id, or deprovisioned and then provisioned again) is kept and
 * un-marked, in the store and on its bucket and user, and its apps keep working credentials (also
 * when an attachment is re-created under the same name); one that comes back after its teardown
 * began, or is tagged retain then, gets a bucket that is no longer being emptied.
 */
import { GetBucketLifecycleConfigurationCommand, GetBucketPolicyCommand, PutBucketTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import type { IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIFECYCLE_RULE_ID, TAG, tlsOnlyBucketPolicy } from '../../src/reconciler/spec.js';
import { TEARDOWN_RULE_IDS } from '../../src/reconciler/spec.js';

const [EXPIRE_EVERYTHING_RULE_ID, EXPIRE_DELETE_MARKERS_RULE_ID] = TEARDOWN_RULE_IDS;
import type { ResourceRecord } from '../../src/store/types.js';
import { runCli } from '../support/cli.js';
import { accessKeys, bucketTags, reconcileJson, userSnapshot } from './drift-support.js';
import {
  DAY,
  HOUR,
  MovableClock,
  bucketExists,
  countVersions,
  expectNoSecretInJournal,
  fillBucket,
  gcRuntime,
  passWith,
  recordRow,
  userExists,
} from './gc-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

let world: World;
let s3: S3Client;
let iam: IAMClient;
const clock = new MovableClock();

/**
 * W stays (and gets an attachment re-created on acme-admin); R3 is re-created with its id; R6 is
 * deprovisioned and provisioned again; R5 comes back mid-teardown; R7 is tagged retain mid-teardown.
 */
type Label = 'W' | 'R3' | 'R5' | 'R6' | 'R7';
const APPS: Record<Label, string> = { W: 'acme-web', R3: 'review-3', R5: 'review-5', R6: 'review-6', R7: 'review-7' };
const addons = {} as Record<Label, { id: string; name: string; app: string; bucket: string; user: string; keyId: string }>;
const secrets: string[] = [];
const ORPHAN_TAGS = [TAG.orphanedAt, TAG.deleteAfter];
const MINUTE = 60_000;

const pass = (env: Record<string, string> = {}) => passWith(world, { clock, env });
const record = async (label: Label) => recordRow(world, addons[label].id);
const vars = (app: string) => world.fake.configVars(app);

beforeAll(async () => {
  world = await createWorld();
  Object.assign(world.env, { DEEP_CHECK_WINDOW: '0' });
  world.fake.addTeam({ name: 'acme' });
  for (const [label, app] of Object.entries(APPS) as [Label, string][]) {
    world.fake.addApp({ name: app, team: 'acme', region: 'us' });
    world.fake.setConfigVar(app, 'OTHER_SETTING', `kept-${app}`);
    const addon = world.fake.addAddon({ app, service: SERVICE, attachmentName: 'BUCKET' });
    addons[label] = { id: addon.id, name: addon.name, app, bucket: '', user: '', keyId: '' };
  }
  world.fake.addApp({ name: 'acme-admin', team: 'acme', region: 'us' });
  world.fake.setConfigVar('acme-admin', 'OTHER_SETTING', 'kept-acme-admin');
  world.fake.attach({ addon: addons.W.id, app: 'acme-admin', name: 'SHARED' });
  const linked = await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env);
  expect(linked.code).toBe(0);
  const first = await reconcileJson(world);
  expect(first.json.totals.failed).toBe(0);
  const runtime = await gcRuntime(world);
  try {
    for (const label of Object.keys(APPS) as Label[]) {
      const r = (await runtime.store.resources.get(addons[label].id)) as ResourceRecord;
      Object.assign(addons[label], { bucket: r.resourceName, user: r.userName, keyId: r.accessKeyId });
      secrets.push(r.secretAccessKey!);
    }
  } finally {
    await runtime.close();
  }
  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
}, 120_000);

afterAll(async () => {
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

describe('orphans wanted again', () => {
  it('an add-on re-created with the same id within its grace period is kept and un-marked', async () => {
    const r3 = addons.R3;
    const varsBefore = vars('review-3');
    world.fake.destroyAddon(r3.id);
    const markedAt = clock.real();
    await pass();
    const marked = await record('R3');
    expect(marked).toMatchObject({ orphan_reason: 'orphaned', teardown_started_at: null });
    expect(marked!.orphaned_at).toEqual(markedAt);
    expect(marked!.delete_after).toEqual(new Date(markedAt.getTime() + DAY));
    expect(await bucketTags(s3, r3.bucket)).toMatchObject({
      [TAG.orphanedAt]: markedAt.toISOString(),
      [TAG.deleteAfter]: new Date(markedAt.getTime() + DAY).toISOString(),
    });
    expect((await userSnapshot(iam, r3.user)).tags).toMatchObject({ [TAG.deleteAfter]: new Date(markedAt.getTime() + DAY).toISOString() });
    // Marked, nothing deleted: bucket, user, key and config vars are all still there.
    expect(await bucketExists(s3, r3.bucket)).toBe(true);
    expect((await accessKeys(iam, r3.user)).map((k) => k.id)).toEqual([r3.keyId]);
    expect(vars('review-3')).toEqual(varsBefore);

    // It comes back (same add-on id) 23 hours later, inside the 24 h grace period.
    clock.advance(23 * HOUR);
    world.fake.addAddon({ app: 'review-3', service: SERVICE, attachmentName: 'BUCKET', id: r3.id, name: r3.name });
    const { pass: back } = await pass();
    expect(back.execution?.failed).toBe(0);
    expect(back.actions.filter((a) => a.kind === 'mark-orphan').map((a) => a.reason)).toEqual(['wanted-again']);
    expect(await record('R3')).toMatchObject({ orphaned_at: null, orphan_reason: null, delete_after: null, teardown_started_at: null });
    const tags = await bucketTags(s3, r3.bucket);
    for (const key of ORPHAN_TAGS) expect(tags, `bucket tag ${key}`).not.toHaveProperty(key);
    expect(tags[TAG.addonId]).toBe(r3.id);
    const userTags = (await userSnapshot(iam, r3.user)).tags as Record<string, string>;
    for (const key of ORPHAN_TAGS) expect(userTags, `user tag ${key}`).not.toHaveProperty(key);
    expect((await accessKeys(iam, r3.user)).map((k) => k.id)).toEqual([r3.keyId]);
    // The app keeps working credentials through the comeback (the same key, never removed).
    expect.soft(vars('review-3'), 'config vars of review-3 right after the comeback pass').toEqual(varsBefore);

    // Whatever that pass did, the next one leaves the app with the add-on's credentials.
    await pass();
    expect(vars('review-3')).toEqual(varsBefore);
    const { pass: settled } = await pass();
    expect(settled.actions).toEqual([]);
  });

  it('an add-on deprovisioned and provisioned again within its short grace period is kept and un-marked', async () => {
    const r6 = addons.R6;
    const varsBefore = vars('review-6');
    world.fake.setAddonState(r6.id, 'deprovisioned');
    const markedAt = clock.real();
    await pass();
    expect(await record('R6')).toMatchObject({ orphan_reason: 'deprovisioned', delete_after: new Date(markedAt.getTime() + 5 * MINUTE) });
    expect(await bucketTags(s3, r6.bucket)).toHaveProperty(TAG.deleteAfter, new Date(markedAt.getTime() + 5 * MINUTE).toISOString());

    clock.advance(4 * MINUTE);
    world.fake.setAddonState(r6.id, 'provisioned');
    const { pass: back } = await pass();
    expect(back.execution?.failed).toBe(0);
    expect(back.actions.map((a) => `${a.kind} ${a.reason}`)).toEqual(['mark-orphan wanted-again']);
    expect(await record('R6')).toMatchObject({ orphaned_at: null, delete_after: null, teardown_started_at: null });
    const tags = await bucketTags(s3, r6.bucket);
    for (const key of ORPHAN_TAGS) expect(tags, `bucket tag ${key}`).not.toHaveProperty(key);
    expect(vars('review-6')).toEqual(varsBefore);
    expect((await accessKeys(iam, r6.user)).map((k) => k.id)).toEqual([r6.keyId]);

    // Far past the old deadline: nothing happens to it.
    clock.advance(DAY);
    const { pass: later } = await pass();
    expect(later.actions).toEqual([]);
    expect(await bucketExists(s3, r6.bucket)).toBe(true);
  });

  it('an add-on that comes back while its bucket is being emptied gets its bucket back without the expiry rule', async () => {
    const r5 = addons.R5;
    const env = { GC_EMPTY_KEYS_PER_PASS: '10' };
    await fillBucket(s3, r5.bucket, { objects: 25, extraVersions: 0, deleteMarkers: 0 });
    world.fake.destroyAddon(r5.id);
    clock.real();
    await pass(env);
    clock.advance(DAY + MINUTE);
    const { pass: teardown } = await pass(env);
    expect(teardown.execution?.outcomes.find((o) => o.action.kind === 'empty-bucket')?.result).toBe('deferred');
    expect(await countVersions(s3, r5.bucket)).toMatchObject({ versions: 15 });
    expect(await userExists(iam, r5.user)).toBe(false);

    // The add-on is back before the bucket is gone: the controller must rebuild, not keep expiring.
    world.fake.addAddon({ app: 'review-5', service: SERVICE, attachmentName: 'BUCKET', id: r5.id, name: r5.name });
    for (let i = 0; i < 3; i++) {
      clock.advance(MINUTE);
      const { pass: p } = await pass(env);
      expect(p.execution?.failed).toBe(0);
      if (p.actions.length === 0) break;
    }
    expect(await record('R5')).toMatchObject({ orphaned_at: null, state: 'ready' });
    expect(await countVersions(s3, r5.bucket), 'what was not yet deleted is kept').toMatchObject({ versions: 15 });
    const rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: r5.bucket }))).Rules ?? [];
    expect.soft(rules.map((r) => r.ID), 'lifecycle rules of a bucket wanted again').toEqual([LIFECYCLE_RULE_ID]);
    const policy = (await s3.send(new GetBucketPolicyCommand({ Bucket: r5.bucket }))).Policy!;
    expect(JSON.parse(policy)).toEqual(JSON.parse(tlsOnlyBucketPolicy(r5.bucket)));
    const keys = await accessKeys(iam, r5.user);
    expect(keys).toHaveLength(1);
    expect(vars('review-5')['BUCKET_AWS_ACCESS_KEY_ID']).toBe(keys[0]!.id);
  });

  it('an attachment detached and re-attached under the same name between two passes keeps its credentials', async () => {
    const before = vars('acme-admin');
    expect(before).toHaveProperty('SHARED_AWS_SECRET_ACCESS_KEY');
    const old = world.fake.attachments('acme-admin').find((a) => a.addon.id === addons.W.id)!;
    world.fake.detach(old.id);
    world.fake.attach({ addon: addons.W.id, app: 'acme-admin', name: 'SHARED' });
    clock.real();
    const { pass: p } = await pass();
    expect(p.execution?.failed).toBe(0);
    expect.soft(vars('acme-admin'), 'config vars of acme-admin right after the pass').toEqual(before);
    await pass();
    expect(vars('acme-admin'), 'config vars of acme-admin a pass later').toEqual(before);
  });

  it('a bucket tagged retain while being emptied keeps what is left, and is no longer set to expire', async () => {
    const r7 = addons.R7;
    const env = { GC_EMPTY_KEYS_PER_PASS: '10' };
    await fillBucket(s3, r7.bucket, { objects: 25, extraVersions: 0, deleteMarkers: 0 });
    world.fake.destroyAddon(r7.id);
    clock.real();
    await pass(env);
    clock.advance(DAY + MINUTE);
    await pass(env);
    expect(await countVersions(s3, r7.bucket)).toMatchObject({ versions: 15 });
    const rules = async () => ((await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: r7.bucket }))).Rules ?? []).map((r) => r.ID);
    expect(await rules()).toEqual(expect.arrayContaining([EXPIRE_EVERYTHING_RULE_ID, EXPIRE_DELETE_MARKERS_RULE_ID]));

    // An operator keeps the bucket: what is left of it must stay.
    const tags = { ...(await bucketTags(s3, r7.bucket)), [TAG.retain]: 'true' };
    await s3.send(new PutBucketTaggingCommand({ Bucket: r7.bucket, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
    for (let i = 0; i < 2; i++) {
      clock.advance(MINUTE);
      const { pass: p } = await pass(env);
      expect(p.execution?.failed).toBe(0);
    }
    expect(await countVersions(s3, r7.bucket)).toMatchObject({ versions: 15 });
    expect(await record('R7')).toMatchObject({ state: 'retained' });
    expect.soft(await rules(), 'a retained bucket must not keep the teardown expiry rules').not.toEqual(
      expect.arrayContaining([EXPIRE_EVERYTHING_RULE_ID]),
    );
  });

  it('the journal never holds a delivered secret', async () => {
    await expectNoSecretInJournal(world, secrets);
  });
});

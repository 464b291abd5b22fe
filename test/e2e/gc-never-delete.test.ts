/**
 * Issue 4, what garbage collection must never delete (safety invariants 1-3), each case with real
 * buckets in moto: buckets with our name prefix but no tags, another instance's tags, or only some
 * of our tags (stray ones, and ones squatting the deterministic name of an add-on that then goes
 * away); the resources of a team whose desired-state read failed on page 2 (503, then 429), and
 * config vars of an attachment when the shared attachment listing failed on page 2; a bucket kept
 * by its retain tag; and the resources of an unlinked team. Every grace period is 0
 * and the controller's clock is a month ahead, so anything deletable would go; full snapshots of
 * both accounts before and after every pass prove that nothing else did.
 */
import { CreateBucketCommand, PutBucketTaggingCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateAccessKeyCommand, CreateUserCommand, PutUserPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PassResult } from '../../src/reconciler/controller.js';
import { TAG, bucketNameFor, userNameFor, type NamingPolicy } from '../../src/reconciler/spec.js';
import { runCli } from '../support/cli.js';
import { randomName } from '../support/stand.js';
import { bucketTags, planJson, reconcileJson } from './drift-support.js';
import { DAY, MovableClock, accountSnapshot, fillBucket, journalRows, passWith, recordRow, userExists, bucketExists } from './gc-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

let world: World;
let s3A: S3Client;
let iamA: IAMClient;
let s3B: S3Client;
let iamB: IAMClient;
let naming: NamingPolicy;
const clock = new MovableClock();

type Label = 'keep' | 'sqUntagged' | 'sqOther' | 'sqNoAddon' | 'sqNoInstance' | 'sqUser' | 'retained' | 'retainedCaps' | 'inc1' | 'inc2' | 'unl' | 'delta';
const addons = {} as Record<Label, { id: string; app: string; bucket: string; user: string }>;
/** Buckets made by hand that no add-on's name points at. */
const stray = {} as Record<'untagged' | 'otherInstance' | 'instanceOnly', string>;
let bulkTeamId: string;
const BULK_PATH = () => `/teams/${bulkTeamId}/addons`;
/** The state before the add-ons went away, and after each pass. */
type Snapshot = { A: Awaited<ReturnType<typeof accountSnapshot>>; B: Awaited<ReturnType<typeof accountSnapshot>>; vars: Record<string, Record<string, string>> };
let before: Snapshot;
const after: Snapshot[] = [];
const passes: PassResult[] = [];
const FAILURES = [503, 429, 503] as const;

const ACME_APPS = ['acme-keep', 'acme-keep-admin', 'sq-untagged', 'sq-other', 'sq-no-addon', 'sq-no-instance', 'sq-user', 'acme-retain', 'acme-retain-caps'];
const OTHER_APPS = ['bulk-app', 'beta-app', 'delta-app'];

async function snapshot(): Promise<Snapshot> {
  const vars: Record<string, Record<string, string>> = {};
  for (const app of [...ACME_APPS, ...OTHER_APPS]) vars[app] = world.fake.configVars(app);
  return { A: await accountSnapshot(s3A, iamA), B: await accountSnapshot(s3B, iamB), vars };
}

/** A bucket made by hand, with a few objects (so a deletion could not go unnoticed). */
async function handMadeBucket(name: string, tags: Record<string, string>): Promise<string> {
  await s3A.send(new CreateBucketCommand({ Bucket: name }));
  if (Object.keys(tags).length > 0) {
    await s3A.send(new PutBucketTaggingCommand({ Bucket: name, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
  }
  for (const key of ['a.txt', 'b.txt', 'c/d.txt']) await s3A.send(new PutObjectCommand({ Bucket: name, Key: key, Body: `their data ${key}` }));
  return name;
}

function withoutOrphanMark(bucketSnap: unknown): unknown {
  const snap = structuredClone(bucketSnap) as { tags: Record<string, string> };
  delete snap.tags[TAG.orphanedAt];
  delete snap.tags[TAG.deleteAfter];
  return snap;
}

beforeAll(async () => {
  world = await createWorld();
  Object.assign(world.env, {
    GC_GRACE_DEPROVISIONED: '0',
    GC_GRACE_ORPHANED: '0',
    // The breaker would hold deletions back and hide a wrong one: out of the way here.
    GC_MAX_DELETIONS: '1000',
    GC_MAX_DELETION_RATIO: '1',
    DEEP_CHECK_WINDOW: '0',
    // The injected 429 must make the read incomplete, not be retried away (retries: heroku-budget.test.ts).
    HEROKU_RATE_LIMIT_MAX_WAIT: '0',
  });
  const { fake } = world;
  naming = { instanceId: world.instanceId, bucketPrefix: 'hs3-', iamPath: '/heroku-s3-controller/', iamUserPrefix: 'hs3-' };
  s3A = await world.s3(world.accountA);
  iamA = await world.iam(world.accountA);
  s3B = await world.s3(world.accountB);
  iamB = await world.iam(world.accountB);

  const acme = fake.addTeam({ name: 'acme' });
  const labels: [Label, string][] = [
    ['keep', 'acme-keep'],
    ['sqUntagged', 'sq-untagged'],
    ['sqOther', 'sq-other'],
    ['sqNoAddon', 'sq-no-addon'],
    ['sqNoInstance', 'sq-no-instance'],
    ['sqUser', 'sq-user'],
    ['retained', 'acme-retain'],
    ['retainedCaps', 'acme-retain-caps'],
  ];
  for (const [label, app] of labels) {
    fake.addApp({ name: app, team: 'acme', region: 'us' });
    fake.setConfigVar(app, 'OTHER_SETTING', `kept-${app}`);
    const id = fake.addAddon({ app, service: SERVICE, attachmentName: 'BUCKET' }).id;
    addons[label] = { id, app, bucket: bucketNameFor(naming, world.accountA, id), user: userNameFor(naming, id) };
  }
  // The kept add-on is attached to a second app too: an attachment listing that failed must
  // never look like a detachment.
  fake.addApp({ name: 'acme-keep-admin', team: 'acme', region: 'us' });
  fake.setConfigVar('acme-keep-admin', 'OTHER_SETTING', 'kept-acme-keep-admin');
  fake.attach({ addon: addons.keep.id, app: 'acme-keep-admin', name: 'KEEPER' });
  const tagsOf = (label: Label, instance: string) => ({
    [TAG.instance]: instance,
    [TAG.addonId]: addons[label].id,
    [TAG.appId]: fake.app(addons[label].app).id,
    [TAG.teamId]: acme.id,
  });

  // Squatters: hand-made buckets at the deterministic names of add-ons that later go away.
  await handMadeBucket(addons.sqUntagged.bucket, {});
  await handMadeBucket(addons.sqOther.bucket, tagsOf('sqOther', 'another-instance'));
  const { [TAG.addonId]: _a, ...noAddon } = tagsOf('sqNoAddon', world.instanceId);
  await handMadeBucket(addons.sqNoAddon.bucket, noAddon);
  const { [TAG.instance]: _i, ...noInstance } = tagsOf('sqNoInstance', world.instanceId);
  await handMadeBucket(addons.sqNoInstance.bucket, noInstance);
  // Another instance's IAM user at our deterministic user name (the bucket name is free).
  await iamA.send(
    new CreateUserCommand({
      UserName: addons.sqUser.user,
      Path: naming.iamPath,
      Tags: Object.entries(tagsOf('sqUser', 'another-instance')).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  await iamA.send(
    new PutUserPolicyCommand({
      UserName: addons.sqUser.user,
      PolicyName: 'their-own-policy',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' }] }),
    }),
  );
  await iamA.send(new CreateAccessKeyCommand({ UserName: addons.sqUser.user }));
  // Strays: our prefix, names no add-on points at.
  stray.untagged = await handMadeBucket(randomName('hs3-untagged'), {});
  stray.otherInstance = await handMadeBucket(randomName('hs3-other-instance'), tagsOf('keep', 'another-instance'));
  stray.instanceOnly = await handMadeBucket(randomName('hs3-instance-only'), { [TAG.instance]: world.instanceId });

  // Team bulk: over 2,000 add-ons of other services, so its add-on listing has 3 pages of 1,000
  // (11 of Heroku's default 200); ours sit in the middle of the id order, on page 2 of 3.
  bulkTeamId = fake.addTeam({ name: 'bulk' }).id;
  for (let a = 0; a < 10; a++) {
    fake.addApp({ name: `bulk-filler-${a}`, team: 'bulk', region: 'us' });
    for (let i = 0; i < 210; i++) fake.addAddon({ app: `bulk-filler-${a}`, service: i % 2 ? 'heroku-redis' : 'papertrail' });
  }
  fake.addApp({ name: 'bulk-app', team: 'bulk', region: 'us' });
  fake.setConfigVar('bulk-app', 'OTHER_SETTING', 'kept-bulk-app');
  const ids = fake.attachments().map((a) => a.addon.id).sort();
  const onPage2 = () => {
    for (;;) {
      const id = randomUUID();
      if (id > ids[1_050]! && id < ids[1_950]!) return id;
    }
  };
  for (const [label, attachmentName] of [['inc1', 'BUCKET'], ['inc2', 'ARCHIVE']] as const) {
    const id = fake.addAddon({ app: 'bulk-app', service: SERVICE, attachmentName, id: onPage2() }).id;
    addons[label] = { id, app: 'bulk-app', bucket: bucketNameFor(naming, world.accountA, id), user: userNameFor(naming, id) };
  }

  // Teams beta (to be unlinked) and delta share account B.
  for (const [team, app, label] of [['beta', 'beta-app', 'unl'], ['delta', 'delta-app', 'delta']] as const) {
    fake.addTeam({ name: team });
    fake.addApp({ name: app, team, region: 'us' });
    fake.setConfigVar(app, 'OTHER_SETTING', `kept-${app}`);
    const id = fake.addAddon({ app, service: SERVICE, attachmentName: 'BUCKET' }).id;
    addons[label] = { id, app, bucket: bucketNameFor(naming, world.accountB, id), user: userNameFor(naming, id) };
  }

  for (const [team, account] of [['acme', world.accountA], ['bulk', world.accountA], ['beta', world.accountB], ['delta', world.accountB]] as const) {
    const linked = await runCli(['link', '--team', team, '--role-arn', world.roleArn(account)], world.env);
    expect(linked.code, linked.stderr).toBe(0);
  }
  const first = await reconcileJson(world);
  expect(first.json.totals.failed).toBe(0);
  expect(first.json.teams.every((t) => t.complete)).toBe(true);
  for (const label of ['keep', 'sqUser', 'retained', 'retainedCaps', 'inc1', 'inc2', 'delta'] as const) {
    expect(await bucketExists(label === 'delta' ? s3B : s3A, addons[label].bucket), `bucket of ${label}`).toBe(true);
  }
  expect(await bucketExists(s3B, addons.unl.bucket)).toBe(true);
  expect(await userExists(iamA, addons.inc2.user)).toBe(true);

  // Kept by hand: the retain tag on two managed buckets, which then hold data.
  for (const [label, value] of [['retained', 'true'], ['retainedCaps', 'True']] as const) {
    const tags = { ...(await bucketTags(s3A, addons[label].bucket)), [TAG.retain]: value };
    await s3A.send(new PutBucketTaggingCommand({ Bucket: addons[label].bucket, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
    await fillBucket(s3A, addons[label].bucket, { objects: 20, extraVersions: 5, deleteMarkers: 3 });
  }
  const unlinked = await runCli(['unlink', '--team', 'beta'], world.env);
  expect(unlinked.code, unlinked.stderr).toBe(0);

  before = await snapshot();
  for (const label of ['sqUntagged', 'sqOther', 'sqNoAddon', 'sqNoInstance', 'sqUser', 'retained', 'retainedCaps', 'inc2', 'unl'] as const) {
    world.fake.destroyAddon(addons[label].id);
  }
}, 120_000);

afterAll(async () => {
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

describe('never deleted by garbage collection', () => {
  it('passes a month ahead with no grace period, while team bulk’s read fails on page 2 (503, 429, 503), then the attachment listing', async () => {
    for (const status of FAILURES) {
      world.fake.resetRequests();
      world.fake.failNext({ path: BULK_PATH(), status, onPage: 2 });
      clock.real(30 * DAY);
      const { pass } = await passWith(world, { clock });
      passes.push(pass);
      expect(pass.execution?.failed).toBe(0);
      // The fault fired on the second page of the listing, and made the team's read incomplete.
      const listing = world.fake.requests.filter((r) => r.path === BULK_PATH());
      expect(listing.map((r) => r.status)).toEqual([206, status]);
      expect(pass.teams.find((t) => t.teamId === bulkTeamId)).toMatchObject({ complete: false });
      expect(pass.teams.filter((t) => t.teamId !== bulkTeamId).every((t) => t.complete)).toBe(true);
      after.push(await snapshot());
    }
    // A fourth pass: now the attachment listing (shared by all teams) fails on its page 2.
    world.fake.resetRequests();
    world.fake.failNext({ path: '/addon-attachments', status: 503, onPage: 2 });
    clock.real(30 * DAY);
    const { pass } = await passWith(world, { clock });
    passes.push(pass);
    expect(world.fake.requests.filter((r) => r.path === '/addon-attachments').map((r) => r.status)).toEqual([206, 503]);
    expect(pass.teams.every((t) => !t.complete)).toBe(true);
    expect(pass.execution?.failed).toBe(0);
    after.push(await snapshot());
    expect(after.at(-1)!.vars['acme-keep-admin']).toEqual(before.vars['acme-keep-admin']);
    expect(Object.keys(before.vars['acme-keep-admin']!)).toContain('KEEPER_AWS_ACCESS_KEY_ID');
  });

  it('an untagged bucket with our name prefix: left as it is', () => {
    for (const snap of after) {
      expect.soft(snap.A.buckets[stray.untagged]).toEqual(before.A.buckets[stray.untagged]);
      expect.soft(snap.A.buckets[addons.sqUntagged.bucket], 'squatting an add-on’s bucket name').toEqual(before.A.buckets[addons.sqUntagged.bucket]);
    }
    expect(before.A.buckets[addons.sqUntagged.bucket]).toMatchObject({ tags: {}, contents: { versions: 3 } });
  });

  it('a bucket (and a user) with our tags but another instance id: left as they are', () => {
    for (const snap of after) {
      expect.soft(snap.A.buckets[stray.otherInstance]).toEqual(before.A.buckets[stray.otherInstance]);
      expect.soft(snap.A.buckets[addons.sqOther.bucket], 'squatting an add-on’s bucket name').toEqual(before.A.buckets[addons.sqOther.bucket]);
      expect.soft(snap.A.users[addons.sqUser.user], 'squatting an add-on’s user name').toEqual(before.A.users[addons.sqUser.user]);
    }
    expect(before.A.users[addons.sqUser.user]).toMatchObject({ accessKeys: [{ status: 'Active' }], inlinePolicies: { 'their-own-policy': {} } });
  });

  it('a bucket with only some of our tags: left as it is', () => {
    for (const snap of after) {
      expect.soft(snap.A.buckets[stray.instanceOnly]).toEqual(before.A.buckets[stray.instanceOnly]);
      expect.soft(snap.A.buckets[addons.sqNoAddon.bucket], 'no add-on id tag').toEqual(before.A.buckets[addons.sqNoAddon.bucket]);
      expect.soft(snap.A.buckets[addons.sqNoInstance.bucket], 'no instance tag').toEqual(before.A.buckets[addons.sqNoInstance.bucket]);
    }
  });

  it('the resources of a team whose read failed on page 2: not deleted, not even marked', async () => {
    for (const label of ['inc1', 'inc2'] as const) {
      const { bucket, user } = addons[label];
      for (const snap of after) {
        expect(snap.A.buckets[bucket], `bucket of ${label}`).toEqual(before.A.buckets[bucket]);
        expect(snap.A.users[user], `user of ${label}`).toEqual(before.A.users[user]);
      }
      expect(await recordRow(world, addons[label].id)).toMatchObject({ orphaned_at: null, delete_after: null, teardown_started_at: null });
      expect(await journalRows(world, 'addon_id = $1 AND action NOT IN ($2)', [addons[label].id, 'record-resource'])).not.toContainEqual(
        expect.objectContaining({ action: expect.stringMatching(/^(mark-orphan|remove-config-vars|delete-)/) }),
      );
    }
    for (const snap of after) expect(snap.vars['bulk-app']).toEqual(before.vars['bulk-app']);
    expect(Object.keys(before.vars['bulk-app']!)).toContain('ARCHIVE_AWS_ACCESS_KEY_ID');
  });

  it('a retained bucket keeps itself and its data; only the user, its keys and the config vars go', async () => {
    const { bucket, user, app } = addons.retained;
    for (const snap of after) expect(withoutOrphanMark(snap.A.buckets[bucket])).toEqual(withoutOrphanMark(before.A.buckets[bucket]));
    // The first pass marks it (grace 0), the second tears down all but the bucket.
    expect(after[0]!.A.users[user]).toBeDefined();
    expect(after[1]!.A.users[user]).toBeUndefined();
    expect(before.A.buckets[bucket]).toMatchObject({ contents: { versions: 25, deleteMarkers: 3 } });
    expect(await userExists(iamA, user)).toBe(false);
    expect(after.at(-1)!.vars[app]).toEqual({ OTHER_SETTING: `kept-${app}` });
    expect(await recordRow(world, addons.retained.id)).toMatchObject({ state: 'retained' });
    expect(passes.at(-1)!.drift.items).toContainEqual(expect.objectContaining({ addonId: addons.retained.id, kind: 'orphaned-bucket', status: 'retained' }));

    const plan = await planJson(world);
    const items = plan.json.drift.items.filter((i) => i.addonId === addons.retained.id);
    expect(items).toEqual([expect.objectContaining({ kind: 'orphaned-bucket', status: 'retained', resource: bucket })]);
    expect(plan.json.actions.filter((a) => a.addonId === addons.retained.id)).toEqual([]);
  });

  it('a retain tag written `True` keeps the bucket too (any case, as bucketIsRetained reads it)', async () => {
    const { bucket } = addons.retainedCaps;
    for (const snap of after) {
      expect(snap.A.buckets[bucket] && withoutOrphanMark(snap.A.buckets[bucket]), `pass ${after.indexOf(snap) + 1}`).toEqual(withoutOrphanMark(before.A.buckets[bucket]));
    }
    expect(await recordRow(world, addons.retainedCaps.id)).toMatchObject({ state: 'retained' });
  });

  it('an unlinked team: nothing deleted, reported as team-unlinked', async () => {
    for (const snap of after) {
      expect(snap.B).toEqual(before.B);
      expect(snap.vars['beta-app']).toEqual(before.vars['beta-app']);
    }
    expect(before.B.buckets[addons.unl.bucket]).toBeDefined();
    expect(await recordRow(world, addons.unl.id)).toMatchObject({ orphaned_at: null, teardown_started_at: null });
    expect(passes.at(-1)!.drift.items).toContainEqual(expect.objectContaining({ addonId: addons.unl.id, kind: 'team-unlinked' }));
    const plan = await planJson(world);
    expect(plan.json.drift.items.filter((i) => i.addonId === addons.unl.id)).toEqual([
      expect.objectContaining({ kind: 'team-unlinked', status: 'blocked', accountId: world.accountB, resource: addons.unl.bucket }),
    ]);
  });

  it('nothing else in either account changed: only our own orphans’ resources went', () => {
    // What went legitimately: the bucket of sq-user's add-on (ours; only its user name was
    // taken) and the users of the retained ones. The cases above judge their own resources.
    const judged = [
      ...(['sqUntagged', 'sqOther', 'sqNoAddon', 'sqNoInstance', 'sqUser', 'retained', 'retainedCaps'] as const).flatMap((l) => [addons[l].bucket, addons[l].user]),
    ];
    const last = after.at(-1)!;
    const names = (o: Record<string, unknown>) => Object.keys(o).filter((n) => !judged.includes(n)).sort();
    expect(names(last.A.buckets)).toEqual(names(before.A.buckets));
    expect(names(last.A.users)).toEqual(names(before.A.users));
    for (const snap of after) {
      for (const name of names(before.A.buckets)) expect(snap.A.buckets[name], name).toEqual(before.A.buckets[name]);
      for (const name of names(before.A.users)) expect(snap.A.users[name], name).toEqual(before.A.users[name]);
    }
    for (const app of [...ACME_APPS, ...OTHER_APPS].filter((a) => a !== 'acme-retain' && a !== 'acme-retain-caps')) {
      expect(last.vars[app], app).toEqual(before.vars[app]);
    }
  });

  it('control: once team bulk reads completely, its removed add-on is collected and the other kept', async () => {
    world.fake.resetRequests();
    clock.real(30 * DAY);
    await passWith(world, { clock }); // marks (grace 0)
    clock.advance(60_000);
    const { pass } = await passWith(world, { clock });
    expect(pass.execution?.failed).toBe(0);
    expect(await bucketExists(s3A, addons.inc2.bucket)).toBe(false);
    expect(await userExists(iamA, addons.inc2.user)).toBe(false);
    expect(world.fake.configVars('bulk-app')).not.toHaveProperty('ARCHIVE_AWS_ACCESS_KEY_ID');
    expect(await bucketExists(s3A, addons.inc1.bucket)).toBe(true);
    expect(world.fake.configVars('bulk-app')).toHaveProperty('BUCKET_AWS_ACCESS_KEY_ID');
  });
});

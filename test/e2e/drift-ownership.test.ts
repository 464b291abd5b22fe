/**
 * Issue 3, safety invariant 1 end to end: buckets and IAM users that look like the controller's
 * but lack this instance's ownership tags for that add-on are reported and never modified, and
 * never counted as managed. "Unmodified" is proven by full before/after snapshots (tags, policy,
 * public access block, encryption, ownership, lifecycle, versioning; user tags, inline and
 * attached policies, access keys).
 */
import {
  CreateBucketCommand,
  ListBucketsCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CreateAccessKeyCommand, CreateUserCommand, ListUsersCommand, PutUserPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAG, bucketNameFor, userNameFor, type NamingPolicy } from '../../src/reconciler/spec.js';
import { runCli } from '../support/cli.js';
import { randomName } from '../support/stand.js';
import { bucketSnapshot, inlinePolicies, planJson, reconcileJson, sql, userSnapshot } from './drift-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

let world: World;
let s3: S3Client;
let iam: IAMClient;
let naming: NamingPolicy;

/** Add-ons of the fake: taken (bucket and user names taken), userTaken (only the user name), plain. */
const addons = {} as Record<'taken' | 'userTaken' | 'plain', { id: string; app: string }>;
/** Every resource made by hand: the controller must leave each exactly as it is. */
const foreignBuckets: string[] = [];
const foreignUsers: string[] = [];
let before: { buckets: Record<string, unknown>; users: Record<string, unknown> };

const PATH = '/heroku-s3-controller/';

/** A bucket with settings unlike ours, so any "repair" would show in its snapshot. */
async function handMadeBucket(name: string, tags: Record<string, string>): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  if (Object.keys(tags).length > 0) {
    await s3.send(new PutBucketTaggingCommand({ Bucket: name, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
  }
  await s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: name,
      PublicAccessBlockConfiguration: { BlockPublicAcls: false, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: false },
    }),
  );
  await s3.send(new PutBucketOwnershipControlsCommand({ Bucket: name, OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] } }));
  const policy = { Version: '2012-10-17', Statement: [{ Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${name}/*` }] };
  await s3.send(new PutBucketPolicyCommand({ Bucket: name, Policy: JSON.stringify(policy) }));
  await s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: name,
      LifecycleConfiguration: { Rules: [{ ID: 'theirs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } }] },
    }),
  );
  foreignBuckets.push(name);
}

/** A user with a broad policy and a key, under our path, so it is in the controller's listing. */
async function handMadeUser(name: string, tags: Record<string, string>, bucket: string): Promise<void> {
  await iam.send(new CreateUserCommand({ UserName: name, Path: PATH, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
  const document = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }] };
  await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'their-own-policy', PolicyDocument: JSON.stringify(document) }));
  await iam.send(new CreateAccessKeyCommand({ UserName: name }));
  foreignUsers.push(name);
}

async function snapshotAll() {
  const buckets: Record<string, unknown> = {};
  for (const name of foreignBuckets) buckets[name] = await bucketSnapshot(s3, name);
  const users: Record<string, unknown> = {};
  for (const name of foreignUsers) users[name] = await userSnapshot(iam, name);
  return { buckets, users };
}

beforeAll(async () => {
  world = await createWorld();
  Object.assign(world.env, { DEEP_CHECK_WINDOW: '0' });
  const { fake } = world;
  naming = { instanceId: world.instanceId, bucketPrefix: 'hs3-', iamPath: PATH, iamUserPrefix: 'hs3-' };
  fake.addTeam({ name: 'acme' });
  for (const [label, app] of [['taken', 'acme-taken'], ['userTaken', 'acme-user-taken'], ['plain', 'acme-plain']] as const) {
    fake.addApp({ name: app, team: 'acme', region: 'us' });
    addons[label] = { id: fake.addAddon({ app, service: SERVICE, attachmentName: 'BUCKET' }).id, app };
  }
  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
  const team = fake.team('acme');
  const tagsOf = (instance: string, addonId: string, appName: string) => ({
    [TAG.instance]: instance,
    [TAG.addonId]: addonId,
    [TAG.appId]: fake.app(appName).id,
    [TAG.teamId]: team.id,
  });

  // (a) Exactly the controller's deterministic names, without any tag: someone else's.
  const takenBucket = bucketNameFor(naming, world.accountA, addons.taken.id);
  await handMadeBucket(takenBucket, {});
  await handMadeUser(userNameFor(naming, addons.taken.id), {}, takenBucket);
  // … and a user name taken (tagged by another instance) while the bucket name is free.
  await handMadeUser(
    userNameFor(naming, addons.userTaken.id),
    tagsOf('another-instance', addons.userTaken.id, addons.userTaken.app),
    bucketNameFor(naming, world.accountA, addons.userTaken.id),
  );

  // (b) Our prefix and path, other names, only some of our tags.
  const otherInstance = tagsOf('another-instance', addons.plain.id, addons.plain.app);
  const otherAddon = tagsOf(world.instanceId, '00000000-0000-4000-8000-000000000000', addons.plain.app);
  const sameAddonOtherName = tagsOf(world.instanceId, addons.plain.id, addons.plain.app);
  for (const [what, tags] of [['other-instance', otherInstance], ['other-addon', otherAddon], ['same-addon', sameAddonOtherName]] as const) {
    const bucket = randomName(`hs3-${what}`);
    await handMadeBucket(bucket, tags);
    await handMadeUser(randomName(`hs3-${what}`), tags, bucket);
  }
  // A bucket with our instance tag only (no add-on id at all).
  await handMadeBucket(randomName('hs3-instance-only'), { [TAG.instance]: world.instanceId });

  const linked = await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env);
  expect(linked.code).toBe(0);
  before = await snapshotAll();
  // The snapshots hold real values (a snapshot of errors would prove nothing).
  for (const snap of Object.values(before.buckets) as Awaited<ReturnType<typeof bucketSnapshot>>[]) {
    expect(snap.publicAccessBlock).toMatchObject({ BlockPublicAcls: false });
    expect(snap.ownership).toEqual({ Rules: [{ ObjectOwnership: 'ObjectWriter' }] });
    expect(snap.policy).toMatchObject({ Statement: [{ Sid: 'PublicRead' }] });
    expect(snap.lifecycle).toMatchObject([{ ID: 'theirs' }]);
  }
  for (const snap of Object.values(before.users) as Awaited<ReturnType<typeof userSnapshot>>[]) {
    expect(snap.accessKeys).toHaveLength(1);
    expect(Object.keys(snap.inlinePolicies)).toEqual(['their-own-policy']);
  }
}, 120_000);

afterAll(async () => {
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

describe('resources that look like ours but are not (invariant 1)', () => {
  it('plan reports the taken names as blocked name-taken, counts only the fake’s add-ons as managed, and lists no foreign resource', async () => {
    const plan = await planJson(world);
    expect(plan.code).toBe(1);
    const { summary, items } = plan.json.drift;
    expect(summary.managed).toBe(3);
    const blocked = items.filter((i) => i.status === 'blocked');
    expect(blocked.map((i) => ({ kind: i.kind, addonId: i.addonId, resource: i.resource })).sort((a, b) => a.resource.localeCompare(b.resource))).toEqual(
      [
        { kind: 'name-taken', addonId: addons.taken.id, resource: bucketNameFor(naming, world.accountA, addons.taken.id) },
        { kind: 'name-taken', addonId: addons.userTaken.id, resource: userNameFor(naming, addons.userTaken.id) },
      ].sort((a, b) => a.resource.localeCompare(b.resource)),
    );
    const takenItem = blocked.find((i) => i.addonId === addons.taken.id)!;
    expect(takenItem).toMatchObject({ field: 'tags', actual: 'none', accountId: world.accountA });
    expect(takenItem.expected).toContain(`${TAG.instance}=${world.instanceId}`);
    // The (b) resources are neither managed, nor drifted, nor blocked: they are not mentioned at all.
    const mentioned = JSON.stringify(plan.json);
    for (const name of [...foreignBuckets, ...foreignUsers]) {
      const isTakenName = [bucketNameFor(naming, world.accountA, addons.taken.id), userNameFor(naming, addons.taken.id), userNameFor(naming, addons.userTaken.id)].includes(name);
      if (!isTakenName) expect(mentioned, `plan mentions ${name}`).not.toContain(name);
    }
    // Everything else in the plan is about the add-ons of the fake.
    const ours = new Set(Object.values(addons).map((a) => a.id));
    expect(items.every((i) => ours.has(i.addonId))).toBe(true);
    expect(plan.json.actions.every((a) => ours.has(a.addonId))).toBe(true);
    expect(await snapshotAll()).toEqual(before);
  });

  it('reconcile --once leaves every foreign bucket and user exactly as it was, grants nothing and delivers nothing for the blocked add-ons', async () => {
    const run = await reconcileJson(world);
    expect(run.json.totals.failed).toBe(0);
    expect(run.json.totals.blocked).toBe(2);
    expect(run.code).toBe(0);
    // And again, as a steady state: still blocked, still untouched.
    const again = await reconcileJson(world);
    expect(again.json.totals).toMatchObject({ applied: 0, failed: 0, blocked: 2 });

    expect(await snapshotAll()).toEqual(before);

    // No controller-made user got a policy naming a taken bucket, nor any of the hand-made buckets.
    const takenBucket = bucketNameFor(naming, world.accountA, addons.taken.id);
    const users = ((await iam.send(new ListUsersCommand({}))).Users ?? []).map((u) => u.UserName!);
    for (const user of users.filter((u) => !foreignUsers.includes(u))) {
      const policies = JSON.stringify(await inlinePolicies(iam, user));
      for (const bucket of foreignBuckets) expect(policies, `${user}'s policies name ${bucket}`).not.toContain(bucket);
    }
    // The controller made exactly one user and one bucket: those of the plain add-on, and the
    // bucket of the add-on whose user name was taken.
    expect(users.filter((u) => !foreignUsers.includes(u))).toEqual([userNameFor(naming, addons.plain.id)]);
    const buckets = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!);
    expect(buckets.filter((b) => !foreignBuckets.includes(b)).sort()).toEqual(
      [bucketNameFor(naming, world.accountA, addons.plain.id), bucketNameFor(naming, world.accountA, addons.userTaken.id)].sort(),
    );
    expect(takenBucket).toBe(foreignBuckets[0]);

    // Credentials went to the plain add-on's app only.
    expect(world.fake.configVars(addons.plain.app)).toHaveProperty('BUCKET_AWS_ACCESS_KEY_ID');
    expect(world.fake.configVars(addons.taken.app)).toEqual({});
    expect(world.fake.configVars(addons.userTaken.app)).toEqual({});

    // The journal names no foreign resource in any mutation (the store's own bookkeeping line,
    // `record-resource`, remembers the add-on's deterministic bucket name; it touches no cloud).
    const journal = await sql<{ resource: string; action: string }>(world, 'SELECT resource, action FROM journal');
    const foreign = new Set([...foreignBuckets, ...foreignUsers]);
    expect(journal.filter((row) => foreign.has(row.resource) && row.action !== 'record-resource')).toEqual([]);
  });

  it('plan keeps reporting the taken names, and nothing else, after the pass', async () => {
    const plan = await planJson(world);
    expect(plan.code).toBe(1);
    expect(plan.json.drift.summary.managed).toBe(3);
    expect(plan.json.drift.items.map((i) => `${i.status} ${i.kind}`)).toEqual(['blocked name-taken', 'blocked name-taken']);
    expect(await snapshotAll()).toEqual(before);
  });
});

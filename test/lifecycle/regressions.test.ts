/**
 * Issue 13, the nine defects found by reading the code end to end, each as a named history on the
 * test stand (moto, PostgreSQL, the schema-checked Heroku fake): the steps a real team takes, the
 * passes the controller runs between them, and what must hold afterwards (DESIGN.md safety
 * invariant 10). Each failed on the main branch before the fix; so did the cases found later by
 * the histories (test/lifecycle/histories.test.ts), at the end.
 */
import { CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, PutUserPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { PutBucketTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresAdvisoryLockElector } from '../../src/leader/postgres-advisory-lock.js';
import { TAG, bucketNameFor, userNameFor, type NamingPolicy } from '../../src/reconciler/spec.js';
import { runCli } from '../support/cli.js';
import { freshPostgresDatabase, type FreshDatabase } from '../support/stand.js';
import { accessKeys, bucketTags, inlinePolicies, sql, userSnapshot } from '../e2e/drift-support.js';
import { HOUR, MovableClock, bucketExists, countVersions, fillBucket, journalRows, userExists } from '../e2e/gc-support.js';
import { SERVICE, createWorld, type World } from '../e2e/stand-world.js';
import { errorMessage } from '../../src/util/errors.js';
import { HistoryWorld } from './harness/history-world.js';
import { describeHistory, type History } from './harness/steps.js';
import { Deployment, heldCredentials, laggingTagReads } from './support.js';

let world: World;
let s3: S3Client;
let iam: IAMClient;
let naming: NamingPolicy;
const deployments: Deployment[] = [];
const MINUTE = 60_000;

/** A deployment on the world (its clock starts now), closed after the test. */
async function deploy(options: Parameters<typeof Deployment.start>[1] = {}): Promise<Deployment> {
  const d = await Deployment.start(world, options);
  deployments.push(d);
  return d;
}

beforeEach(async () => {
  world = await createWorld();
  // Graces short enough for a test, on the controller's clock; the breaker is tested on its own.
  Object.assign(world.env, { GC_GRACE_DEPROVISIONED: '1m', GC_GRACE_ORPHANED: '1m', DEEP_CHECK_WINDOW: '1h' });
  naming = { instanceId: world.instanceId, bucketPrefix: 'hs3-', iamPath: '/heroku-s3-controller/', iamUserPrefix: 'hs3-' };
  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
}, 60_000);

afterEach(async () => {
  for (const d of deployments.splice(0)) await d.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

/**
 * Team acme with app acme-web and one add-on of ours on it, attached as BUCKET; a deployment
 * linked to the team (with `options`), after its first pass.
 */
async function oneAddon(options: Parameters<typeof Deployment.start>[1] = {}) {
  const { fake } = world;
  const team = fake.addTeam({ name: 'acme' });
  fake.addApp({ name: 'acme-web', team: 'acme' });
  fake.setConfigVar('acme-web', 'OTHER_SETTING', 'kept');
  const addon = fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
  const d = await deploy(options);
  await d.link(world, team, world.accountA);
  await d.pass();
  return { d, addon, team, bucket: bucketNameFor(naming, world.accountA, addon.id), userName: userNameFor(naming, addon.id) };
}

/** Passes that run the clock past every grace period and deep-check window in between. */
async function passes(d: Deployment, n: number, step = 2 * MINUTE) {
  for (let i = 0; i < n; i++) {
    d.clock.advance(step);
    await d.pass();
  }
}

describe('defect 1: a torn-down add-on removes only config vars that still hold what it delivered', () => {
  it('add-on B takes over attachment name BUCKET on the app of destroyed add-on A: B keeps its credentials through A’s teardown', async () => {
    const { fake } = world;
    const { d, addon: a } = await oneAddon();
    expect(heldCredentials(world, 'acme-web', 'BUCKET').bucketName).toBe(bucketNameFor(naming, world.accountA, a.id));

    fake.destroyAddon(a.id);
    const b = fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
    await d.pass(); // B delivered; A marked
    const bRecord = await d.runtime.store.resources.get(b.id);
    expect(heldCredentials(world, 'acme-web', 'BUCKET')).toMatchObject({ bucketName: bRecord!.resourceName, accessKeyId: bRecord!.accessKeyId });

    await passes(d, 2); // A's grace ends and its teardown runs
    expect(await d.runtime.store.resources.get(a.id)).toBeNull();
    expect(await bucketExists(s3, bucketNameFor(naming, world.accountA, a.id))).toBe(false);
    // B's credentials are still on the app, as delivered, and nothing else changed.
    expect(heldCredentials(world, 'acme-web', 'BUCKET')).toMatchObject({ bucketName: bRecord!.resourceName, accessKeyId: bRecord!.accessKeyId, secretAccessKey: bRecord!.secretAccessKey });
    expect(fake.configVars('acme-web')['OTHER_SETTING']).toBe('kept');
  });
});

describe('defect 2: retention follows the plan the add-on has now', () => {
  it('an add-on upgraded to a retaining plan keeps its bucket and data when it goes away; a downgraded one does not leak', async () => {
    const { fake } = world;
    world.env.PLAN_PROFILES = JSON.stringify({ archive: { retain: true } });
    world.env.GC_MAX_DELETION_RATIO = '1'; // two of two go at once: not the subject here
    const team = fake.addTeam({ name: 'acme' });
    fake.addApp({ name: 'acme-web', team: 'acme' });
    fake.addApp({ name: 'acme-old', team: 'acme' });
    const up = fake.addAddon({ app: 'acme-web', service: SERVICE, plan: 'standard' });
    const down = fake.addAddon({ app: 'acme-old', service: SERVICE, plan: 'archive' });
    const d = await deploy();
    await d.link(world, team, world.accountA);
    await d.pass();
    const upBucket = bucketNameFor(naming, world.accountA, up.id);
    const downBucket = bucketNameFor(naming, world.accountA, down.id);
    await fillBucket(s3, upBucket, { objects: 3, extraVersions: 0, deleteMarkers: 0 });

    fake.changePlan(up.id, `${SERVICE}:archive`);
    fake.changePlan(down.id, `${SERVICE}:standard`);
    await d.pass();
    const recordedPlan = (await d.runtime.store.resources.get(up.id))!.plan;
    // A plan change is read once, not on every keyed pass from then on (once the repairs it
    // brought, here versioning turned on by fillBucket, have been checked by the next pass).
    d.clock.advance(MINUTE);
    await d.pass();
    d.runtime.recorder.reset();
    d.clock.advance(MINUTE);
    const keyed = await d.runtime.controller.reconcileAddon(up.id);
    const keyedReads = d.runtime.recorder.calls.map((c) => c.operation);

    fake.destroyAddon(up.id);
    fake.destroyAddon(down.id);
    await passes(d, 4);
    expect(await countVersions(s3, upBucket)).toMatchObject({ versions: 3 });
    expect(await userExists(iam, userNameFor(naming, up.id))).toBe(false);
    expect(await bucketExists(s3, downBucket)).toBe(false);
    expect(recordedPlan).toBe(`${SERVICE}:archive`);
    expect(keyed.actions).toEqual([]);
    expect(keyedReads).not.toContain('GetBucketEncryption');
  });
});

describe('defect 3: collection is gated on the team that holds the add-on now', () => {
  async function moved(how: 'listing-fails' | 'unlinked') {
    const { fake } = world;
    const t1 = fake.addTeam({ name: 'acme' });
    const t2 = fake.addTeam({ name: 'globex' });
    fake.addApp({ name: 'acme-web', team: 'acme' });
    const addon = fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
    const d = await deploy();
    await d.link(world, t1, world.accountA);
    await d.link(world, t2, world.accountA);
    await d.pass();
    const bucket = bucketNameFor(naming, world.accountA, addon.id);
    await fillBucket(s3, bucket, { objects: 2, extraVersions: 0, deleteMarkers: 0 });
    fake.moveApp('acme-web', 'globex');
    if (how === 'listing-fails') {
      fake.failNext({ path: `/teams/${t2.id}/addons`, status: 503, times: 1000 });
      await passes(d, 4);
    } else {
      await d.pass(); // the record follows the add-on to globex
      expect((await d.runtime.store.resources.get(addon.id))!.teamId).toBe(t2.id);
      await d.runtime.store.links.remove(t2.id);
      await passes(d, 4);
    }
    return { d, addon, bucket };
  }

  it('an app moved to a linked team whose listing fails is not collected', async () => {
    const { d, addon, bucket } = await moved('listing-fails');
    expect(await countVersions(s3, bucket)).toMatchObject({ versions: 2 });
    expect((await d.runtime.store.resources.get(addon.id))!.orphan).toBeNull();
    expect(heldCredentials(world, 'acme-web', 'BUCKET').bucketName).toBe(bucket);
  });

  it('an app moved to a team that is then unlinked keeps its bucket, as `unlink` promises', async () => {
    const { addon, bucket } = await moved('unlinked');
    expect(await countVersions(s3, bucket)).toMatchObject({ versions: 2 });
    expect(await userExists(iam, userNameFor(naming, addon.id))).toBe(true);
  });

  it('an app moved out of every linked team is kept and reported, never marked', async () => {
    const { fake } = world;
    const t1 = fake.addTeam({ name: 'acme' });
    fake.addTeam({ name: 'elsewhere' });
    fake.addApp({ name: 'acme-web', team: 'acme' });
    const addon = fake.addAddon({ app: 'acme-web', service: SERVICE });
    const d = await deploy();
    await d.link(world, t1, world.accountA);
    await d.pass();
    fake.moveApp('acme-web', 'elsewhere');
    await passes(d, 3);
    const record = await d.runtime.store.resources.get(addon.id);
    expect(record!.orphan).toBeNull();
    expect(await bucketExists(s3, bucketNameFor(naming, world.accountA, addon.id))).toBe(true);
    const { pass } = await d.pass();
    expect(pass.drift.items).toContainEqual(expect.objectContaining({ kind: 'team-unlinked', addonId: addon.id }));
  });
});

describe('defect 4: "already exists" is success only for a user with our ownership tags', () => {
  it('a user at our deterministic name outside IAM_PATH gets no policy and no key, and the app no credentials', async () => {
    const { fake } = world;
    const team = fake.addTeam({ name: 'acme' });
    fake.addApp({ name: 'acme-web', team: 'acme' });
    const addonId = randomUUID();
    const userName = userNameFor(naming, addonId);
    await iam.send(new CreateUserCommand({ UserName: userName, Path: '/someone-else/', Tags: [{ Key: 'owner', Value: 'someone' }] }));
    await iam.send(
      new PutUserPolicyCommand({ UserName: userName, PolicyName: 'theirs', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' }] }) }),
    );
    const before = await userSnapshot(iam, userName);
    fake.addAddon({ id: addonId, app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
    const d = await deploy();
    await d.link(world, team, world.accountA);
    const { pass } = await d.pass();
    await passes(d, 2);
    expect(await userSnapshot(iam, userName)).toEqual(before);
    expect(await accessKeys(iam, userName)).toEqual([]);
    expect(Object.keys(await inlinePolicies(iam, userName))).toEqual(['theirs']);
    expect(heldCredentials(world, 'acme-web', 'BUCKET').accessKeyId).toBeUndefined();
    expect(pass.actions).toContainEqual(expect.objectContaining({ kind: 'blocked', reason: 'not-owned', resource: userName }));
  });
});

describe('defect 5: deleting a key is a deletion, and never comes before a working replacement', () => {
  it('GC_MODE=dry-run deletes no key, not even one nobody recorded', async () => {
    const { addon, userName } = await oneAddon();
    const stray = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!.AccessKeyId!;
    const dry = await deploy({ env: { GC_MODE: 'dry-run' } });
    dry.clock.advance(HOUR);
    const { pass, mutations } = await dry.pass();
    expect(mutations).not.toContain('DeleteAccessKey');
    expect((await accessKeys(iam, userName)).map((k) => k.id)).toContain(stray);
    expect(pass.drift.items).toContainEqual(expect.objectContaining({ kind: 'unrecorded-key', addonId: addon.id }));
  });

  it('after the store is wiped, the key every app holds is adopted: no key deleted or created, no app patched', async () => {
    const { d, userName } = await oneAddon();
    const held = heldCredentials(world, 'acme-web', 'BUCKET');
    await sql(world, 'TRUNCATE managed_resources, kind_resources, key_rotations, deliveries');
    const patches = () => world.fake.requests.filter((r) => r.method === 'PATCH' && r.path.includes('/config-vars')).length;
    const before = patches();
    await passes(d, 3);
    const after = await d.runtime.store.resources.get((await sql<{ addon_id: string }>(world, 'SELECT addon_id FROM managed_resources'))[0]!.addon_id);
    expect(after).toMatchObject({ accessKeyId: held.accessKeyId, secretAccessKey: held.secretAccessKey });
    expect((await accessKeys(iam, userName)).map((k) => k.id)).toEqual([held.accessKeyId]);
    expect(heldCredentials(world, 'acme-web', 'BUCKET')).toEqual(held);
    expect(patches()).toBe(before);
  });

  it('after a restore from a backup older than the last key change, the key the app holds is adopted', async () => {
    const { d, addon, userName } = await oneAddon();
    const backup = await sql<Record<string, unknown>>(world, 'SELECT * FROM managed_resources');
    const backupResources = await sql<Record<string, unknown>>(world, 'SELECT * FROM kind_resources');
    // The key is replaced later (someone deleted it; the controller made and delivered another)…
    await iam.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: heldCredentials(world, 'acme-web', 'BUCKET').accessKeyId! }));
    d.clock.advance(2 * HOUR); // past the deep-check window: the missing key is seen
    await d.pass();
    const current = heldCredentials(world, 'acme-web', 'BUCKET');
    expect((await accessKeys(iam, userName)).map((k) => k.id)).toEqual([current.accessKeyId]);
    // …then the store is restored from the backup, which remembers the deleted key.
    await sql(world, 'TRUNCATE managed_resources, kind_resources, key_rotations, deliveries');
    await sql(world, 'INSERT INTO managed_resources SELECT * FROM json_populate_recordset(NULL::managed_resources, $1::json)', [JSON.stringify(backup)]);
    await sql(world, 'INSERT INTO kind_resources SELECT * FROM json_populate_recordset(NULL::kind_resources, $1::json)', [JSON.stringify(backupResources)]);
    d.clock.advance(2 * HOUR);
    const { mutations } = await d.pass();
    await passes(d, 2);
    expect(mutations).not.toContain('DeleteAccessKey');
    expect(mutations).not.toContain('CreateAccessKey');
    expect((await accessKeys(iam, userName)).map((k) => k.id)).toEqual([current.accessKeyId]);
    expect(heldCredentials(world, 'acme-web', 'BUCKET')).toEqual(current);
    expect((await d.runtime.store.resources.get(addon.id))!.accessKeyId).toBe(current.accessKeyId);
  });
});

describe('defect 6: ownership and retain are read from the resource itself before anything is destroyed', () => {
  it('a retain tag put on after the tagging API last answered keeps the bucket and its data', async () => {
    const { fake } = world;
    const lag = laggingTagReads();
    const { d, addon, bucket } = await oneAddon({ hooks: [lag] });
    await fillBucket(s3, bucket, { objects: 2, extraVersions: 0, deleteMarkers: 0 });
    await passes(d, 1); // the tagging API's last answer: the bucket without a retain tag
    lag.freeze();
    fake.destroyAddon(addon.id);
    await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: Object.entries({ ...(await bucketTags(s3, bucket)), [TAG.retain]: 'true' }).map(([Key, Value]) => ({ Key, Value })) } }));
    await passes(d, 4);
    expect(lag.replayed()).toBeGreaterThan(0);
    expect(await countVersions(s3, bucket)).toMatchObject({ versions: 2 });
    expect((await bucketTags(s3, bucket))[TAG.retain]).toBe('true');
  });

  it('re-tagging merges over the tags the bucket has now, not over a stale read', async () => {
    const { fake } = world;
    const lag = laggingTagReads();
    const { d, bucket } = await oneAddon({ hooks: [lag] });
    const tagged = (tags: Record<string, string>) => s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
    await tagged({ ...(await bucketTags(s3, bucket)), [TAG.appId]: 'someone-changed-it' });
    d.clock.advance(MINUTE);
    await d.pass(); // the tagging API answers with the changed tag…
    lag.freeze();
    await tagged({ ...(await bucketTags(s3, bucket)), 'cost-center': '42' }); // …and not yet with this one
    d.clock.advance(MINUTE);
    await d.pass();
    expect(await bucketTags(s3, bucket)).toMatchObject({ 'cost-center': '42', [TAG.appId]: fake.app('acme-web').id });
  });
});

describe('defect 7: `reconcile --once` does not run as a second writer beside a leading `serve`', () => {
  it('refuses, changes nothing, and leaves the key the leader has just made alone', async () => {
    const { d, addon } = await oneAddon();
    await d.close();
    deployments.length = 0;
    // `serve` leads (it holds the election's advisory lock) and has just created a key it has not
    // recorded yet.
    const serve = new PostgresAdvisoryLockElector({ databaseUrl: world.db.url, lockName: 'heroku-s3-controller-' + world.instanceId, identity: 'serve-pod', renewDeadlineMs: 30_000, retryPeriodMs: 1_000 });
    await serve.start();
    try {
      expect(serve.isLeader()).toBe(true);
      const userName = userNameFor(naming, addon.id);
      const inFlight = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!.AccessKeyId!;
      const journalBefore = (await journalRows(world)).length;
      const run = await runCli(['reconcile', '--once'], world.env);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/leads this deployment.*second writer/);
      expect((await accessKeys(iam, userName)).map((k) => k.id)).toContain(inFlight);
      expect((await journalRows(world)).length).toBe(journalBefore);
      // `plan` changes nothing and still runs beside it.
      expect((await runCli(['plan'], world.env)).code).toBeLessThan(2);
    } finally {
      await serve.stop();
    }
  });
});

describe('defect 8: two deployments left at the default INSTANCE_ID never take each other’s resources', () => {
  let second: FreshDatabase;
  afterEach(async () => second?.drop());

  it('each store chooses its own instance id; the second deployment blocks instead of rotating the first one’s key', async () => {
    const { fake } = world;
    const team = fake.addTeam({ name: 'acme' });
    fake.addApp({ name: 'acme-web', team: 'acme' });
    const addon = fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
    second = await freshPostgresDatabase('second');
    const clock = new MovableClock();
    const first = await deploy({ clock, env: { INSTANCE_ID: undefined } });
    const other = await deploy({ clock, env: { INSTANCE_ID: undefined, DATABASE_URL: second.url } });
    await first.link(world, team, world.accountA);
    await other.link(world, team, world.accountA);
    await first.pass();
    const held = heldCredentials(world, 'acme-web', 'BUCKET');
    const userName = userNameFor({ ...naming, instanceId: first.instanceId }, addon.id);
    clock.advance(2 * HOUR);
    const { pass, mutations } = await other.pass();
    await first.pass();
    clock.advance(2 * HOUR);
    await other.pass();
    expect(mutations).toEqual([]);
    expect(pass.actions).toContainEqual(expect.objectContaining({ kind: 'blocked', reason: 'not-owned' }));
    expect((await accessKeys(iam, userName)).map((k) => k.id)).toEqual([held.accessKeyId]);
    expect(heldCredentials(world, 'acme-web', 'BUCKET')).toEqual(held);
    expect(first.instanceId).not.toBe(other.instanceId);
  });

  it('a store keeps its instance id: a different INSTANCE_ID is refused with the way out', async () => {
    const first = await deploy({ env: { INSTANCE_ID: undefined } });
    const id = first.instanceId;
    expect(id).toMatch(/^hsc-[0-9a-f]{10}$/);
    const again = await deploy({ env: { INSTANCE_ID: undefined } });
    expect(again.instanceId).toBe(id);
    await expect(Deployment.start(world, { env: { INSTANCE_ID: 'renamed' } })).rejects.toThrow(`INSTANCE_ID is "renamed", but this database holds the state of instance "${id}"`);
  });
});

describe('defect 9: normal review-app churn does not trip the mass-deletion breaker', () => {
  it('a team of three review apps closes two in the same minute: both are collected, no operator needed', async () => {
    const { fake } = world;
    const team = fake.addTeam({ name: 'acme' });
    const ids: string[] = [];
    for (const app of ['pr-1', 'pr-2', 'pr-3']) {
      fake.addApp({ name: app, team: 'acme' });
      ids.push(fake.addAddon({ app, service: SERVICE }).id);
    }
    const d = await deploy();
    await d.link(world, team, world.accountA);
    await d.pass();
    fake.destroyApp('pr-1');
    fake.destroyApp('pr-2');
    await passes(d, 4);
    expect(await d.runtime.store.gcBreakers.get(world.accountA)).toBeNull();
    for (const id of ids.slice(0, 2)) expect(await bucketExists(s3, bucketNameFor(naming, world.accountA, id))).toBe(false);
    expect(await bucketExists(s3, bucketNameFor(naming, world.accountA, ids[2]!))).toBe(true);
  });
});

describe('found by the histories: an add-on that went away while the store was lost', () => {
  it('its vars on the app that owned it go with it; one set to a value of someone’s own, a copy made without its key, and vars of others, stay', async () => {
    const { d, addon, bucket, userName } = await oneAddon();
    // Someone shares the bucket's name under their own vars, with a key of their own, and points
    // BUCKET_URL at their CDN.
    const copy = { COPY_BUCKET_NAME: bucket, COPY_URL: `s3://${bucket}`, COPY_AWS_ACCESS_KEY_ID: 'AKIATHEIROWNKEY00001', BUCKET_URL: 'https://cdn.example.com' };
    for (const [name, value] of Object.entries(copy)) world.fake.setConfigVar('acme-web', name, value);
    await sql(world, 'TRUNCATE managed_resources, kind_resources, key_rotations, deliveries');
    world.fake.destroyAddon(addon.id);
    await passes(d, 5);
    expect(await userExists(iam, userName)).toBe(false);
    expect(await bucketExists(s3, bucket)).toBe(false);
    const vars = world.fake.configVars('acme-web');
    expect(Object.keys(vars).filter((name) => name.startsWith('BUCKET_'))).toEqual(['BUCKET_URL']);
    expect(vars).toMatchObject({ ...copy, OTHER_SETTING: 'kept' });
  });

  it('a failed read of that app does not hold its collection back: the user and bucket go, its vars stay, the journal says why', async () => {
    const { d, addon, bucket, userName } = await oneAddon();
    await sql(world, 'TRUNCATE managed_resources, kind_resources, key_rotations, deliveries');
    world.fake.destroyAddon(addon.id);
    world.fake.failNext({ method: 'GET', path: /\/config-vars$/, status: 403, times: 1_000 });
    await passes(d, 5);
    world.fake.clearFaults();
    expect(await userExists(iam, userName)).toBe(false);
    expect(await bucketExists(s3, bucket)).toBe(false);
    expect(world.fake.configVars('acme-web').BUCKET_BUCKET_NAME).toBe(bucket);
    const recorded = (await journalRows(world, "action = 'record-resource' AND addon_id = $1", [addon.id])).at(-1);
    expect(recorded!.detail).toMatchObject({ varsNotLookedFor: expect.stringMatching(/403|forbidden/i) });
  });

  it('a read of that app that may answer next time holds the record back until it does: then the vars go too', async () => {
    const { d, addon, bucket, userName } = await oneAddon();
    await sql(world, 'TRUNCATE managed_resources, kind_resources, key_rotations, deliveries');
    world.fake.destroyAddon(addon.id);
    world.fake.failNext({ method: 'GET', path: /\/config-vars$/, status: 503, times: 1_000 });
    await passes(d, 2);
    expect(await d.runtime.store.resources.get(addon.id)).toBeNull();
    world.fake.clearFaults();
    await passes(d, 5);
    expect(await userExists(iam, userName)).toBe(false);
    expect(await bucketExists(s3, bucket)).toBe(false);
    expect(Object.keys(world.fake.configVars('acme-web')).filter((name) => name.startsWith('BUCKET_'))).toEqual([]);
  });

  it('destroyed right after its key was adopted, it leaves no vars on any app that held the key', async () => {
    const { d, addon, bucket } = await oneAddon();
    world.fake.addApp({ name: 'acme-worker', team: 'acme' });
    world.fake.attach({ addon: addon.id, app: 'acme-worker', name: 'ASSETS' });
    await passes(d, 1);
    expect(world.fake.configVars('acme-worker').ASSETS_BUCKET_NAME).toBe(bucket);
    await sql(world, 'TRUNCATE managed_resources, kind_resources, key_rotations, deliveries');
    const { mutations } = await d.pass(); // the key both apps hold is adopted
    expect(mutations).not.toContain('CreateAccessKey');
    world.fake.destroyAddon(addon.id);
    await passes(d, 5);
    for (const app of ['acme-web', 'acme-worker']) {
      expect(Object.values(world.fake.configVars(app))).not.toContain(bucket);
    }
  });
});

describe('found by review: two keyed reconciles at once on one app', () => {
  it('a removal of the detached add-on’s vars never takes the vars another add-on delivers under the same name meanwhile', async () => {
    const { d, addon: a, team } = await oneAddon();
    const { fake } = world;
    fake.addApp({ name: 'acme-worker', team: team.name });
    fake.attach({ addon: a.id, app: 'acme-worker', name: 'ASSETS' });
    await passes(d, 1);
    // A leaves acme-web (it stays on acme-worker); B arrives there under the same name.
    fake.detach(fake.appAttachments('acme-web').find((x) => x.addon.id === a.id)!.id);
    const b = fake.addAddon({ app: 'acme-web', service: SERVICE, attachmentName: 'BUCKET' });
    // The worst order: A's removal writes only after B's delivery has landed (or after 3 s, if
    // B cannot deliver meanwhile, as when it waits for A to finish with the app).
    const webPath = `/apps/${fake.app('acme-web').id}/config-vars`;
    let delivered!: () => void;
    const bDelivered = new Promise<void>((resolve) => (delivered = resolve));
    fake.gateRequests((method, path, body) => {
      if (method !== 'PATCH' || (path !== webPath && path !== '/apps/acme-web/config-vars')) return undefined;
      const values = Object.values(JSON.parse(body) as Record<string, string | null>);
      if (values.every((v) => v !== null)) {
        setImmediate(delivered);
        return undefined;
      }
      return Promise.race([bDelivered, new Promise<void>((resolve) => setTimeout(resolve, 3_000))]);
    });
    d.clock.advance(MINUTE);
    await Promise.all([d.runtime.controller.reconcileAddon(a.id), d.runtime.controller.reconcileAddon(b.id)]);
    fake.gateRequests(undefined);
    expect(heldCredentials(world, 'acme-web', 'BUCKET').bucketName).toBe(bucketNameFor(naming, world.accountA, b.id));
  });
});

/**
 * Issue 16: key rotation replayed as histories on the harness (test/lifecycle/harness), whose
 * invariants are checked after every step: a rotation's apps hold working credentials at every
 * check; no app ever holds a key the controller deactivated or deleted; IAM never answers
 * LimitExceeded; and once settled, each live add-on's user has one key, active, delivered to every
 * attachment, with no rotation left in flight. In the harness's world ROTATION_OVERLAP is 3m and
 * ROTATION_DEACTIVATED_GRACE 5m, a pass is a minute (`time N` adds N before its pass), and
 * `rotate` and `age-keys` run no pass of their own: the next step's pass acts on them.
 */
describe('issue 16: key rotation through crashes, restores and Heroku changes (histories)', () => {
  type Steps = History['steps'];
  /** a1 on web-1 as BUCKET and on web-2 as ASSETS: two deliveries per key. */
  const TWO_APPS: Steps = [
    { t: 'create', addon: 'a1', app: 'web-1', plan: 'standard', as: 'BUCKET' },
    { t: 'attach', addon: 'a1', app: 'web-2', as: 'ASSETS' },
  ];
  const PATCH = 'PATCH /apps/:app/config-vars';

  async function replayed(steps: Steps, deepCheckMinutes: History['deepCheckMinutes'] = 0) {
    const h = await HistoryWorld.start({ deepCheckMinutes, steps });
    try {
      await h.replay();
      return { crashes: h.crashes, applied: h.applied, blocked: h.blocked };
    } catch (err) {
      throw new Error(`${errorMessage(err)}\n${describeHistory({ deepCheckMinutes, steps })}\n${h.log.join('\n')}`, { cause: err });
    } finally {
      await h.stop();
    }
  }

  // The first pass after `age-keys 85` (every key due, none past KEY_MAX_AGE) makes the new key and
  // delivers it (calls 1-3); with the clock so, the old key is deactivated 3 minutes after it was
  // delivered, and deleted 5 minutes after that.
  const AGE_CRASHES: { name: string; fatal: string; steps: Steps }[] = [
    { name: 'CreateAccessKey (the new key made, its answer lost)', fatal: 'CreateAccessKey', steps: [{ t: 'crash', after: 1 }] },
    { name: 'the first config-var PATCH', fatal: PATCH, steps: [{ t: 'crash', after: 2 }] },
    { name: 'the second config-var PATCH', fatal: PATCH, steps: [{ t: 'crash', after: 3 }] },
    {
      name: 'UpdateAccessKey (the old key deactivated after the overlap)',
      fatal: 'UpdateAccessKey',
      steps: [{ t: 'time', minutes: 0 }, { t: 'time', minutes: 1 }, { t: 'crash', after: 1 }],
    },
    {
      name: 'DeleteAccessKey (the old key deleted after the grace)',
      fatal: 'DeleteAccessKey',
      steps: [{ t: 'time', minutes: 0 }, { t: 'time', minutes: 2 }, { t: 'time', minutes: 3 }, { t: 'crash', after: 1 }],
    },
  ];
  for (const { name, fatal, steps } of AGE_CRASHES) {
    it(`an age rotation whose process dies right after ${name} converges on restart`, async () => {
      const { crashes, applied } = await replayed([...TWO_APPS, { t: 'age-keys', days: 85 }, ...steps, { t: 'time', minutes: 3 }]);
      expect(crashes).toEqual([{ fatal, inRotation: true }]);
      expect(applied.get('create-rotation-key')).toBeGreaterThanOrEqual(1);
      expect(applied.get('deactivate-access-key')).toBeGreaterThanOrEqual(1);
    }, 120_000);
  }

  it('an emergency rotation as an attachment is renamed: the old key is switched off in the pass that delivers the new one; someone deletes the new key in the grace', async () => {
    const { crashes, applied } = await replayed([
      ...TWO_APPS,
      { t: 'rotate', addon: 'a1', compromised: true },
      { t: 'rename', addon: 'a1', app: 'web-2', as: 'UPLOADS' },
      { t: 'key', addon: 'a1', what: 'delete', newest: true },
      { t: 'time', minutes: 3 },
    ]);
    expect(crashes).toEqual([]);
    expect([applied.get('create-rotation-key'), applied.get('deactivate-access-key')]).toEqual([1, 1]);
  }, 120_000);

  it('an emergency rotation whose process dies right after UpdateAccessKey, in the pass that delivered the new key, converges on restart', async () => {
    const { crashes } = await replayed([...TWO_APPS, { t: 'rotate', addon: 'a1', compromised: true }, { t: 'crash', after: 4 }]);
    expect(crashes).toEqual([{ fatal: 'UpdateAccessKey', inRotation: true }]);
  }, 120_000);

  // The store restored from a backup taken before the rotation: it knows only the old key, while
  // the apps hold the new one, active (overlap) or the only active one (old key deactivated); or a
  // backup taken in an emergency rotation's grace, restored once the rotation is over.
  const RESTORES: { name: string; steps: Steps }[] = [
    { name: 'taken before it, restored in its overlap', steps: [{ t: 'snapshot-store' }, { t: 'rotate', addon: 'a1', compromised: false }, { t: 'time', minutes: 0 }, { t: 'restore-store' }] },
    {
      name: 'taken before it, restored after the old key was deactivated',
      steps: [{ t: 'snapshot-store' }, { t: 'rotate', addon: 'a1', compromised: false }, { t: 'time', minutes: 0 }, { t: 'time', minutes: 2 }, { t: 'restore-store' }],
    },
    {
      name: 'taken in an emergency rotation’s grace, restored after it ended',
      steps: [{ t: 'rotate', addon: 'a1', compromised: true }, { t: 'time', minutes: 0 }, { t: 'snapshot-store' }, { t: 'time', minutes: 5 }, { t: 'restore-store' }],
    },
  ];
  for (const { name, steps } of RESTORES) {
    it(`a rotation, and the store restored from a backup ${name}`, async () => {
      await replayed([...TWO_APPS, ...steps, { t: 'time', minutes: 3 }]);
    }, 120_000);
  }

  // Heroku changes in the pass that starts a rotation, in its overlap, and in its grace.
  it('rotations of add-ons destroyed as their rotation starts, in its overlap, and in its grace', async () => {
    await replayed([
      ...TWO_APPS,
      { t: 'create', addon: 'a2', app: 'ops-1', plan: 'standard', as: 'BUCKET' },
      { t: 'create', addon: 'a3', app: 'api-1', plan: 'standard', as: 'BUCKET' },
      { t: 'rotate', addon: 'a1', compromised: false },
      { t: 'rotate', addon: 'a2', compromised: false },
      { t: 'rotate', addon: 'a3', compromised: true },
      { t: 'destroy', addon: 'a2' },
      { t: 'time', minutes: 0 },
      { t: 'destroy', addon: 'a1' },
      { t: 'partner-deprovision', addon: 'a3' },
    ]);
  }, 120_000);

  it('age rotations while apps move: to a team of the same account as they start, to another account’s team in the overlap, and back', async () => {
    await replayed([
      ...TWO_APPS,
      { t: 'create', addon: 'a2', app: 'ops-1', plan: 'versioned', as: 'ASSETS' },
      { t: 'age-keys', days: 91 },
      { t: 'move', app: 'web-1', team: 'initech' },
      { t: 'time', minutes: 0 },
      { t: 'move', app: 'web-2', team: 'globex' },
      { t: 'time', minutes: 5 },
      { t: 'move', app: 'web-2', team: 'acme' },
    ]);
  }, 120_000);

  it('a rotation while attachments are renamed (as it starts, and in its overlap), one added and one removed', async () => {
    await replayed([
      ...TWO_APPS,
      { t: 'rotate', addon: 'a1', compromised: false },
      { t: 'rename', addon: 'a1', app: 'web-2', as: 'UPLOADS' },
      { t: 'rename', addon: 'a1', app: 'web-1', as: 'ASSETS' },
      { t: 'attach', addon: 'a1', app: 'ops-1', as: 'BUCKET' },
      { t: 'detach', addon: 'a1', app: 'web-2' },
      { t: 'time', minutes: 3 },
    ]);
  }, 120_000);

  it('a rotation whose new key someone deactivates in the overlap: its apps get a working key again', async () => {
    await replayed([...TWO_APPS, { t: 'rotate', addon: 'a1', compromised: false }, { t: 'time', minutes: 0 }, { t: 'key', addon: 'a1', what: 'deactivate', newest: true }, { t: 'time', minutes: 3 }]);
  }, 120_000);

  it('age rotations of five add-ons of one account at once: the deactivation breaker holds them, the apps keep working keys, an approval lets them finish', async () => {
    const { applied, blocked } = await replayed([
      ...TWO_APPS,
      { t: 'create', addon: 'a2', app: 'web-1', plan: 'versioned', as: 'ASSETS' },
      { t: 'create', addon: 'a3', app: 'web-2', plan: 'standard', as: 'BUCKET' },
      { t: 'create', addon: 'a4', app: 'ops-1', plan: 'read-only', as: 'BUCKET' },
      { t: 'create', addon: 'a5', app: 'web-1', plan: 'role', as: 'UPLOADS' },
      { t: 'age-keys', days: 91 },
      { t: 'time', minutes: 0 },
      { t: 'time', minutes: 5 },
      { t: 'time', minutes: 5 },
    ]);
    expect([applied.get('create-rotation-key'), applied.get('deactivate-access-key')]).toEqual([5, 5]);
    expect(blocked.get('rotation-breaker-tripped')).toBeGreaterThanOrEqual(5);
  }, 180_000);
});

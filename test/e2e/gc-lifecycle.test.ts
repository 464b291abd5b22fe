/**
 * Issue 4, the review-app lifecycle end to end: an add-on gets its bucket, the bucket fills with
 * object versions and delete markers, the add-on (or its whole app) goes away in the Heroku fake,
 * the orphan is marked and waits out its grace period on the controller's (injected) clock, and
 * is then torn down in bounded passes until the bucket, its versions, the user, its keys and the
 * config vars on every attachment app are gone, with a journal that says what was removed and
 * never a secret. Also: a detached attachment loses exactly the config vars delivered to its app.
 * (Add-ons that come back: gc-comeback.test.ts.)
 */
import { GetBucketLifecycleConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import type { IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEARDOWN_RULE_IDS } from '../../src/reconciler/spec.js';

const [EXPIRE_EVERYTHING_RULE_ID, EXPIRE_DELETE_MARKERS_RULE_ID] = TEARDOWN_RULE_IDS;
import { TAG } from '../../src/reconciler/spec.js';
import type { ResourceRecord } from '../../src/store/types.js';
import { runCli } from '../support/cli.js';
import { accessKeys, bucketTags, reconcileJson } from './drift-support.js';
import {
  DAY,
  HOUR,
  MovableClock,
  bucketExists,
  countVersions,
  deliveryRows,
  expectNoSecretInJournal,
  fillBucket,
  gcRuntime,
  journalRows,
  PassRunner,
  recordRow,
  userExists,
  type WrittenContents,
} from './gc-support.js';
import { SERVICE, createWorld, type World } from './stand-world.js';

let world: World;
let s3: S3Client;
let iam: IAMClient;
const clock = new MovableClock();

/** The add-ons by role: W stays (attached twice), R1 big bucket (add-on destroyed), R2 app destroyed, R4 deprovisioned. */
type Label = 'W' | 'R1' | 'R2' | 'R4';
const addons = {} as Record<Label, { id: string; name: string; app: string; bucket: string; user: string; keyId: string }>;
/** Every secret access key delivered: none may ever show in the journal. */
const secrets: string[] = [];
const MINUTE = 60_000;

let runner: PassRunner;
const pass = () => runner.pass();
const record = async (label: Label) => recordRow(world, addons[label].id);
const vars = (app: string) => world.fake.configVars(app);
const ourVarNames = (prefix: string) =>
  ['BUCKET_NAME', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'URL'].map((n) => `${prefix}_${n}`).sort();
const ourVarsOn = (app: string, prefix: string) => Object.keys(vars(app)).filter((k) => ourVarNames(prefix).includes(k)).sort();

beforeAll(async () => {
  world = await createWorld();
  // The breaker is the subject of gc-breaker.test.ts: here it never trips.
  Object.assign(world.env, { GC_MAX_DELETION_RATIO: '1', GC_EMPTY_KEYS_PER_PASS: '1000' });
  runner = new PassRunner(world, { clock });
  const { fake } = world;
  fake.addTeam({ name: 'acme' });
  for (const app of ['acme-web', 'acme-api', 'acme-admin', 'review-1', 'review-2', 'review-4']) {
    // review-2 is in Europe: its bucket lives in eu-west-1, and is torn down there.
    fake.addApp({ name: app, team: 'acme', region: app === 'review-2' ? 'eu' : 'us' });
    // Config vars that are not ours: no teardown may touch them.
    fake.setConfigVar(app, 'OTHER_SETTING', `kept-${app}`);
  }
  fake.setConfigVar('acme-api', 'SHARED_NOTE', 'same prefix, not ours');
  const add = (label: Label, app: string) => {
    const addon = fake.addAddon({ app, service: SERVICE, attachmentName: 'BUCKET' });
    addons[label] = { id: addon.id, name: addon.name, app, bucket: '', user: '', keyId: '' };
    return addon;
  };
  const w = add('W', 'acme-web');
  fake.attach({ addon: w.id, app: 'acme-api', name: 'SHARED' });
  const r1 = add('R1', 'review-1');
  fake.attach({ addon: r1.id, app: 'acme-admin', name: 'REVIEW1' });
  add('R2', 'review-2');
  add('R4', 'review-4');
  s3 = await world.s3(world.accountA);
  iam = await world.iam(world.accountA);
  const linked = await runCli(['link', '--team', 'acme', '--role-arn', world.roleArn(world.accountA)], world.env);
  expect(linked.code).toBe(0);
}, 60_000);

afterAll(async () => {
  await runner?.close();
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

describe('review-app lifecycle', () => {
  it('one `reconcile --once` gives every add-on its bucket, user, key and config vars', async () => {
    const run = await reconcileJson(world);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.json.totals.failed).toBe(0);
    const runtime = await gcRuntime(world);
    try {
      for (const label of Object.keys(addons) as Label[]) {
        const r = (await runtime.store.resources.get(addons[label].id)) as ResourceRecord;
        Object.assign(addons[label], { bucket: r.resourceName, user: r.userName, keyId: r.accessKeyId });
        expect(await bucketExists(s3, r.resourceName!)).toBe(true);
        expect((await accessKeys(iam, r.userName)).map((k) => k.id)).toEqual([r.accessKeyId]);
        expect(vars(addons[label].app)['BUCKET_AWS_SECRET_ACCESS_KEY']).toBe(r.secretAccessKey);
        secrets.push(r.secretAccessKey!);
      }
    } finally {
      await runtime.close();
    }
    expect(ourVarsOn('acme-api', 'SHARED')).toEqual(ourVarNames('SHARED'));
    expect(ourVarsOn('acme-admin', 'REVIEW1')).toEqual(ourVarNames('REVIEW1'));
  });

  it('detaching an add-on from one app removes the config vars delivered there, and only those', async () => {
    const attachment = world.fake.attachments('acme-api').find((a) => a.addon.id === addons.W.id)!;
    const apiBefore = vars('acme-api');
    const webBefore = vars('acme-web');
    world.fake.detach(attachment.id);
    const { pass: result } = await pass();
    expect(result.execution?.failed).toBe(0);

    const apiAfter = vars('acme-api');
    expect(ourVarsOn('acme-api', 'SHARED')).toEqual([]);
    // Everything else on that app is as it was, including a var that merely shares the prefix.
    const untouched = Object.fromEntries(Object.entries(apiBefore).filter(([k]) => !ourVarNames('SHARED').includes(k)));
    expect(apiAfter).toEqual(untouched);
    expect(apiAfter['SHARED_NOTE']).toBe('same prefix, not ours');
    // The owning app keeps its credentials; the add-on keeps its bucket and user, unmarked.
    expect(vars('acme-web')).toEqual(webBefore);
    expect(await bucketExists(s3, addons.W.bucket)).toBe(true);
    expect(await userExists(iam, addons.W.user)).toBe(true);
    expect((await record('W'))?.orphaned_at).toBeNull();
    expect((await deliveryRows(world, addons.W.id)).map((d) => d.app_id)).toEqual([world.fake.app('acme-web').id]);

    const removed = await journalRows(world, `action = 'remove-config-vars' AND phase = 'ok' AND addon_id = $1`, [addons.W.id]);
    expect(removed).toHaveLength(1);
    expect(removed[0]!.detail).toMatchObject({ reason: 'detached-config-vars', appId: world.fake.app('acme-api').id });
    expect([...removed[0]!.detail.varNames].sort()).toEqual(ourVarNames('SHARED'));
  });

  it('a removed add-on is marked, waits out its grace, then is torn down in bounded passes until nothing is left', { timeout: 120_000 }, async () => {
    const { R1, R2, R4 } = addons;
    const written: WrittenContents = await fillBucket(s3, R1.bucket, { objects: 2_500, extraVersions: 300, deleteMarkers: 150 });
    expect(written).toMatchObject({ versions: 2_800, deleteMarkers: 150 });

    world.fake.destroyAddon(R1.id);
    world.fake.destroyApp(R2.app);
    world.fake.setAddonState(R4.id, 'deprovisioned');
    const t0 = clock.real();
    const { pass: marking, mutations } = await pass();
    expect(marking.execution?.failed).toBe(0);
    expect(mutations.filter((m) => /^Delete/.test(m)), 'marking deletes nothing').toEqual([]);
    expect(await record('R1')).toMatchObject({ orphan_reason: 'orphaned', delete_after: new Date(t0.getTime() + DAY) });
    expect(await record('R2')).toMatchObject({ orphan_reason: 'orphaned', delete_after: new Date(t0.getTime() + DAY) });
    // Heroku said R4 was deprovisioned: the short grace (GC_GRACE_DEPROVISIONED, 5 minutes).
    expect(await record('R4')).toMatchObject({ orphan_reason: 'deprovisioned', delete_after: new Date(t0.getTime() + 5 * MINUTE) });
    expect(await bucketTags(s3, R1.bucket)).toMatchObject({ [TAG.orphanedAt]: t0.toISOString(), [TAG.deleteAfter]: new Date(t0.getTime() + DAY).toISOString() });
    expect(await countVersions(s3, R1.bucket)).toEqual(written);
    expect(await userExists(iam, R1.user)).toBe(true);
    expect(ourVarsOn('review-1', 'BUCKET')).toEqual(ourVarNames('BUCKET'));
    expect(ourVarsOn('acme-admin', 'REVIEW1')).toEqual(ourVarNames('REVIEW1'));

    // 10 minutes later: only the deprovisioned one is due, and it goes in one pass (empty bucket).
    clock.set(new Date(t0.getTime() + 10 * MINUTE));
    const { pass: short } = await pass();
    expect(short.execution?.failed).toBe(0);
    expect(await record('R4')).toBeUndefined();
    expect(await bucketExists(s3, R4.bucket)).toBe(false);
    expect(await userExists(iam, R4.user)).toBe(false);
    expect(ourVarsOn('review-4', 'BUCKET')).toEqual([]);
    expect(vars('review-4')).toEqual({ OTHER_SETTING: 'kept-review-4' });
    const waiting = short.drift.items.filter((i) => i.status === 'waiting').map((i) => i.addonId).sort();
    expect(waiting).toEqual([R1.id, R2.id].sort());

    // One hour before the end of the grace period: still nothing of R1 or R2 is touched.
    clock.set(new Date(t0.getTime() + DAY - HOUR));
    const { mutations: early } = await pass();
    expect(early.filter((m) => /^Delete/.test(m))).toEqual([]);
    expect(await countVersions(s3, R1.bucket)).toEqual(written);

    // Past the grace period: R2 goes at once; R1's bucket is emptied 1,000 versions a pass.
    clock.set(new Date(t0.getTime() + DAY + MINUTE));
    const left: (WrittenContents | null)[] = [];
    for (let i = 0; i < 6 && (await record('R1')); i++) {
      const { pass: p } = await pass();
      expect(p.execution?.failed, `pass ${i + 1} past grace`).toBe(0);
      const remaining = await countVersions(s3, R1.bucket);
      left.push(remaining);
      if (remaining !== null) {
        // Deferred: the bucket is still there, with an expire-everything rule doing the rest.
        expect(p.execution?.outcomes.find((o) => o.action.kind === 'empty-bucket' && o.action.addonId === R1.id)?.result).toBe('deferred');
        const rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: R1.bucket }))).Rules ?? [];
        expect(rules.map((r) => r.ID).sort()).toEqual([EXPIRE_DELETE_MARKERS_RULE_ID, EXPIRE_EVERYTHING_RULE_ID].sort());
        expect(await record('R1')).toMatchObject({ orphan_reason: 'orphaned' });
      }
      if (i === 0) {
        // The first pass past grace took everything but the bucket's contents.
        expect(await userExists(iam, R1.user)).toBe(false);
        expect(ourVarsOn('review-1', 'BUCKET')).toEqual([]);
        expect(ourVarsOn('acme-admin', 'REVIEW1')).toEqual([]);
        expect(await record('R2')).toBeUndefined();
        expect(await bucketExists(s3, R2.bucket)).toBe(false);
        expect(await userExists(iam, R2.user)).toBe(false);
      }
      clock.advance(MINUTE);
    }
    const total = written.versions + written.deleteMarkers;
    expect(left.map((l) => (l ? l.versions + l.deleteMarkers : null))).toEqual([total - 1000, total - 2000, null]);
    expect(await bucketExists(s3, R1.bucket)).toBe(false);
    expect(await record('R1')).toBeUndefined();
    expect(await deliveryRows(world, R1.id)).toEqual([]);
    expect(await userExists(iam, R1.user)).toBe(false);
    // Not ours: left exactly as they were.
    expect(vars('review-1')).toEqual({ OTHER_SETTING: 'kept-review-1' });
    expect(vars('acme-admin')).toEqual({ OTHER_SETTING: 'kept-acme-admin' });

    // The journal says what went: contents summing to what was written, user, key, config vars.
    const rows = await journalRows(world, `addon_id = $1 AND phase = 'ok'`, [R1.id]);
    const emptied = rows.filter((r) => r.action === 'empty-bucket');
    expect(emptied.map((r) => r.detail.finished)).toEqual([false, false, undefined]);
    const sum = (k: string) => emptied.reduce((n, r) => n + Number(r.detail[k]), 0);
    expect({ versions: sum('deletedObjects'), deleteMarkers: sum('deleteMarkers'), bytes: sum('deletedBytes') }).toEqual(written);
    expect(rows.filter((r) => r.action === 'delete-bucket').map((r) => r.detail.bucket)).toEqual([R1.bucket]);
    expect(rows.filter((r) => r.action === 'delete-user').map((r) => r.detail.user)).toEqual([R1.user]);
    expect(rows.filter((r) => r.action === 'delete-user-keys').map((r) => r.detail.accessKeyIds)).toEqual([[R1.keyId]]);
    expect(rows.filter((r) => r.action === 'delete-user-policies').map((r) => r.detail.inlinePolicies)).toEqual([['heroku-s3-controller-bucket-access']]);
    const removedVars = rows
      .filter((r) => r.action === 'remove-config-vars')
      .map((r) => ({ appId: r.detail.appId, varNames: [...r.detail.varNames].sort() }))
      .sort((a, b) => a.appId.localeCompare(b.appId));
    expect(removedVars).toEqual(
      [
        { appId: world.fake.app('review-1').id, varNames: ourVarNames('BUCKET') },
        { appId: world.fake.app('acme-admin').id, varNames: ourVarNames('REVIEW1') },
      ].sort((a, b) => a.appId.localeCompare(b.appId)),
    );
    expect(rows.filter((r) => r.action === 'forget-resource')).toHaveLength(1);
    // In the safe order: config vars, keys, inline policy, user; bucket policy, contents, bucket.
    const firstOf = (action: string) => rows.findIndex((r) => r.action === action);
    const order = ['remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'delete-bucket-policy', 'empty-bucket', 'delete-bucket', 'forget-resource'];
    expect(order.map(firstOf)).toEqual(order.map(firstOf).sort((a, b) => a - b));
    expect(order.map(firstOf)).not.toContain(-1);
    expect(await journalRows(world, `addon_id = $1 AND phase = 'failed'`, [R1.id])).toEqual([]);
    await expectNoSecretInJournal(world, secrets);
  });
});

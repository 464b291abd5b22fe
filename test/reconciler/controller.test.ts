/**
 * The controller on in-memory fakes of its ports (issue 14): no moto, no Heroku fake, only an
 * embedded store. What the end-to-end tests show on the stand, shown here in milliseconds: a new
 * add-on gets everything in one pass, a converged world costs no write, a drift found by a deep
 * check is repaired with the value the row wants, an incomplete read deletes nothing, and a keyed
 * pass marks a gone add-on without deleting it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Controller, type ControllerDeps } from '../../src/reconciler/controller.js';
import type { DesiredAddon } from '../../src/reconciler/model.js';
import { DEFAULT_PROFILES } from '../../src/reconciler/profiles.js';
import { DESIRED_PUBLIC_ACCESS_BLOCK, TAG, bucketNameFor, userNameFor, type NamingPolicy } from '../../src/reconciler/spec.js';
import { Store } from '../../src/store/store.js';
import { silentLogger } from '../../src/util/log.js';
import { newKey } from '../store/backends.js';
import { MemoryCloud, MemoryConfigVars, MemoryDesiredState } from '../support/in-memory-ports.js';

const ACCOUNT = '111122223333';
const TEAM = 'team-1';
const HOUR = 3_600_000;
const NAMING: NamingPolicy = { instanceId: 'unit', bucketPrefix: 'hsc-', iamPath: '/hsc/', iamUserPrefix: 'hsc-' };
const CONFIG: ControllerDeps['config'] = {
  ...NAMING,
  deepCheckWindowMs: HOUR,
  flapBreaker: { maxRepairs: 3, windowMs: HOUR },
  gc: { mode: 'enabled', graceDeprovisionedMs: 5 * 60_000, graceOrphanedMs: 24 * HOUR, maxDeletions: 10, maxDeletionRatio: 0.5, minDeletionsForRatio: 4, emptyKeysPerPass: 1000 },
  profiles: DEFAULT_PROFILES,
  aws: { region: 'us-east-1' },
};

let dir: string;
let store: Store;
let now: Date;
let cloud: MemoryCloud;
let desired: MemoryDesiredState;
let configVars: MemoryConfigVars;
let controller: Controller;

function addon(id: string, plan = 's3-bucket:private'): DesiredAddon {
  return {
    addonId: id,
    addonName: `bucket-${id}`,
    service: 's3-bucket',
    plan,
    appId: `app-${id}`,
    appName: `app-${id}`,
    teamId: TEAM,
    region: 'us-east-1',
    attachments: [{ id: `att-${id}`, name: 'BUCKET', appId: `app-${id}`, appName: `app-${id}` }],
    ownedConfigVars: [],
  };
}

let run = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'controller-unit-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await store.close();
});

beforeEach(async () => {
  // A fresh embedded store per test: the journal is append-only.
  store = await Store.open({ dataDir: path.join(dir, `db-${++run}`), fernetKeys: [newKey()] });
  now = new Date('2026-12-05T00:00:00Z');
  cloud = new MemoryCloud(() => now);
  desired = new MemoryDesiredState();
  configVars = new MemoryConfigVars();
  await store.links.save({ teamId: TEAM, teamName: 'team', accountId: ACCOUNT, region: null, auth: { kind: 'keys', accessKeyId: 'AKIALINK', secretAccessKey: 'link-secret' } });
  controller = new Controller({ config: CONFIG, store, desired, configVars, cloud, logger: silentLogger(), clock: () => now });
});

describe('Controller on in-memory ports', () => {
  it('gives a new add-on its bucket, user, key and config vars in one pass, then writes nothing while in sync', async () => {
    desired.addons.set('a1', addon('a1'));
    const first = await controller.reconcileOnce();
    expect(first.execution?.failed).toBe(0);
    const bucketName = bucketNameFor(NAMING, ACCOUNT, 'a1');
    const bucket = cloud.get(ACCOUNT).buckets.get(bucketName)!;
    expect(bucket.tags).toMatchObject({ [TAG.instance]: 'unit', [TAG.addonId]: 'a1', [TAG.plan]: 's3-bucket:private' });
    expect(bucket.settings.publicAccessBlock).toEqual(DESIRED_PUBLIC_ACCESS_BLOCK);
    const user = cloud.get(ACCOUNT).users.get(userNameFor(NAMING, 'a1'))!;
    expect(user.keys).toHaveLength(1);
    expect(configVars.apps.get('app-a1')).toEqual({
      BUCKET_BUCKET_NAME: bucketName,
      BUCKET_AWS_ACCESS_KEY_ID: user.keys[0]!.accessKeyId,
      BUCKET_AWS_SECRET_ACCESS_KEY: user.keys[0]!.secretAccessKey,
      BUCKET_AWS_REGION: 'us-east-1',
      BUCKET_URL: `s3://${bucketName}`,
    });

    // The next pass verifies its own repairs (deep check), the one after is inside the window.
    for (let pass = 0; pass < 2; pass++) {
      const writes = cloud.writes.length;
      const again = await controller.reconcileOnce();
      expect(again.actions).toEqual([]);
      expect(cloud.writes.length).toBe(writes);
    }
  });

  it('records when the key it makes was made, and learns it from a deep check for a key recorded without it', async () => {
    desired.addons.set('a1', addon('a1'));
    const madeAt = now;
    const first = await controller.reconcileOnce();
    expect((await store.resources.get('a1'))?.accessKeyCreatedAt?.toISOString()).toBe(madeAt.toISOString());
    // The pass that made the key reports it already (the records as the pass left them).
    expect(first.keysCreatedAt.get(ACCOUNT)?.map((d) => d?.toISOString())).toEqual([madeAt.toISOString()]);
    // As a key recorded before the time was kept (or adopted from an app): unknown.
    const record = (await store.resources.get('a1'))!;
    await store.resources.setKey('a1', record.accessKeyId, record.secretAccessKey, null);
    now = new Date(now.getTime() + 10 * 24 * HOUR);
    const shallow = await controller.reconcileOnce({ dryRun: true });
    expect((await store.resources.get('a1'))?.accessKeyCreatedAt).toBeNull(); // plan writes nothing
    expect(shallow.keysCreatedAt.get(ACCOUNT)).toEqual([null]);
    const pass = await controller.reconcileOnce(); // the deep check is due: ListAccessKeys says when
    expect(pass.actions).toEqual([]);
    expect((await store.resources.get('a1'))?.accessKeyCreatedAt?.toISOString()).toBe(madeAt.toISOString());
    expect(pass.keysCreatedAt.get(ACCOUNT)?.map((d) => d?.toISOString())).toEqual([madeAt.toISOString()]);
  });

  it('repairs a drift found by a deep check with the value the attribute row wants, and only that', async () => {
    desired.addons.set('a1', addon('a1', 's3-bucket:versioned'));
    await controller.reconcileOnce();
    const bucket = cloud.get(ACCOUNT).buckets.get(bucketNameFor(NAMING, ACCOUNT, 'a1'))!;
    expect(bucket.settings.versioning).toBe('Enabled');
    bucket.settings.publicAccessBlock = { ...DESIRED_PUBLIC_ACCESS_BLOCK, restrictPublicBuckets: false };
    bucket.settings.versioning = 'Suspended';
    now = new Date(now.getTime() + 2 * HOUR); // the deep check is due
    const writes = cloud.writes.length;
    const pass = await controller.reconcileOnce();
    expect(pass.actions.map((a) => [a.kind, a.reason, 'desired' in a ? a.desired : undefined])).toEqual([
      ['put-public-access-block', 'public-access-block-changed', DESIRED_PUBLIC_ACCESS_BLOCK],
      ['put-bucket-versioning', 'versioning-changed', true],
    ]);
    expect(cloud.writes.slice(writes).map((w) => w.split(' ')[1])).toEqual(['PutPublicAccessBlock', 'PutBucketVersioning']);
    expect(bucket.settings.publicAccessBlock).toEqual(DESIRED_PUBLIC_ACCESS_BLOCK);
    expect(bucket.settings.versioning).toBe('Enabled');
  });

  it('reads public-exposure settings on their shorter window, repairs them there, and judges no setting it did not read', async () => {
    const exposureFirst = new Controller({ config: { ...CONFIG, exposureCheckWindowMs: 15 * 60_000 }, store, desired, configVars, cloud, logger: silentLogger(), clock: () => now });
    desired.addons.set('a1', addon('a1', 's3-bucket:versioned'));
    await exposureFirst.reconcileOnce();
    await exposureFirst.reconcileOnce(); // verifies its own repairs (a deep check)
    const name = bucketNameFor(NAMING, ACCOUNT, 'a1');
    const bucket = cloud.get(ACCOUNT).buckets.get(name)!;
    // Both drift: public access switched off, and versioning suspended.
    bucket.settings.publicAccessBlock = { ...DESIRED_PUBLIC_ACCESS_BLOCK, blockPublicPolicy: false, restrictPublicBuckets: false };
    bucket.settings.versioning = 'Suspended';
    const reads = cloud.get(ACCOUNT).reads;
    const depths: string[] = [];
    let repairedAt: number | null = null;
    for (let minute = 1; minute <= 60 && repairedAt === null; minute++) {
      now = new Date(now.getTime() + 60_000);
      const before = reads.length;
      const pass = await exposureFirst.reconcileOnce();
      depths.push(...reads.slice(before).map((r) => r.split(' ')[0]!));
      if (pass.actions.some((a) => a.kind === 'put-public-access-block')) {
        repairedAt = minute;
        // Found by the exposure check: its repair alone, the versioning waits for the full check.
        expect(pass.actions.map((a) => a.kind)).toEqual(['put-public-access-block']);
        expect(pass.checked.exposure).toEqual(['a1']);
        expect(pass.checked.full).toEqual([]);
      }
    }
    expect(repairedAt).not.toBeNull();
    expect(repairedAt!).toBeLessThanOrEqual(15);
    expect(depths).toEqual(['exposure']);
    expect(bucket.settings.publicAccessBlock).toEqual(DESIRED_PUBLIC_ACCESS_BLOCK);
    expect(bucket.settings.versioning).toBe('Suspended');
  });

  it('deep-checks a watched account on the longer windows with events, and falls back to the usual ones the moment its events stop', async () => {
    let watched = true;
    let since: Date | null = null;
    const config = { ...CONFIG, exposureCheckWindowMs: 15 * 60_000, deepCheckWindowsWithEvents: { fullMs: 24 * HOUR, exposureMs: HOUR } };
    const changeEvents = { watching: (accountId: string) => watched && accountId === ACCOUNT, watchingSince: () => since };
    const c = new Controller({ config, store, desired, configVars, cloud, logger: silentLogger(), clock: () => now, changeEvents });
    for (let i = 0; i < 20; i++) desired.addons.set(`w${i}`, addon(`w${i}`));
    await c.reconcileOnce();
    await c.reconcileOnce(); // verifies its own repairs
    const reads = cloud.get(ACCOUNT).reads;
    const checksOver = async (minutes: number) => {
      const before = reads.length;
      for (let m = 0; m < minutes; m++) {
        now = new Date(now.getTime() + 60_000);
        await c.reconcileOnce();
      }
      const done = reads.slice(before).map((r) => r.split(' ')[0]);
      return { full: done.filter((d) => d === 'deep').length, exposure: done.filter((d) => d === 'exposure').length };
    };
    // Watched: in two hours, each of the 20 buckets gets its exposure settings read twice, and no full check.
    expect(await checksOver(120)).toEqual({ full: 0, exposure: 40 });
    // Its queue fails: the usual windows from then on, spread over them (not every overdue bucket
    // in one pass): a full check an hour, and exposure checks every 15 minutes between.
    watched = false;
    since = now;
    const perPass: number[] = [];
    const before = reads.length;
    for (let m = 0; m < 120; m++) {
      now = new Date(now.getTime() + 60_000);
      const at = reads.length;
      await c.reconcileOnce();
      perPass.push(reads.length - at);
    }
    const done = reads.slice(before).map((r) => r.split(' ')[0]);
    expect({ full: done.filter((d) => d === 'deep').length, exposure: done.filter((d) => d === 'exposure').length }).toEqual({ full: 40, exposure: 120 });
    expect(Math.max(...perPass)).toBeLessThanOrEqual(6);
  });

  it('a keyed pass asked for a deep check reads every setting at once, whatever the windows say', async () => {
    desired.addons.set('a1', addon('a1', 's3-bucket:versioned'));
    await controller.reconcileOnce();
    await controller.reconcileOnce();
    const bucket = cloud.get(ACCOUNT).buckets.get(bucketNameFor(NAMING, ACCOUNT, 'a1'))!;
    bucket.settings.publicAccessBlock = null;
    now = new Date(now.getTime() + 60_000); // well inside both windows
    expect((await controller.reconcileAddon('a1')).actions).toEqual([]);
    const pass = await controller.reconcileAddon('a1', { deepCheck: true });
    expect(pass.actions.map((a) => a.kind)).toEqual(['put-public-access-block']);
    expect(bucket.settings.publicAccessBlock).toEqual(DESIRED_PUBLIC_ACCESS_BLOCK);
  });

  it('deletes and marks nothing while the team read is incomplete', async () => {
    desired.addons.set('a1', addon('a1'));
    await controller.reconcileOnce();
    desired.failTeams.add(TEAM);
    desired.addons.delete('a1');
    desired.gone.add('a1');
    now = new Date(now.getTime() + 48 * HOUR);
    const writes = cloud.writes.length;
    const pass = await controller.reconcileOnce();
    expect(pass.actions.filter((a) => a.kind !== 'blocked')).toEqual([]);
    expect(cloud.writes.length).toBe(writes);
    expect((await store.resources.get('a1'))?.orphan).toBeNull();
  });

  it('a keyed pass marks a gone add-on as an orphan with its grace, and deletes nothing', async () => {
    desired.addons.set('a1', addon('a1'));
    await controller.reconcileOnce();
    desired.addons.delete('a1');
    desired.gone.add('a1');
    const result = await controller.reconcileAddon('a1');
    expect(result.heroku).toBe('gone');
    expect(result.actions.map((a) => a.kind)).toEqual(['mark-orphan']);
    expect(cloud.writes.filter((w) => /Delete/.test(w))).toEqual([]);
    const record = await store.resources.get('a1');
    expect(record?.orphan?.deleteAfter.getTime()).toBe(now.getTime() + CONFIG.gc.graceOrphanedMs);
    expect(cloud.get(ACCOUNT).buckets.get(record!.resourceName!)?.tags[TAG.deleteAfter]).toBe(record?.orphan?.deleteAfter.toISOString());
  });

  it('a keyed pass holds a new add-on back in an account whose IAM user quota is reached: nothing is made', async () => {
    desired.addons.set('a1', addon('a1'));
    await controller.reconcileOnce();
    cloud.get(ACCOUNT).userQuota = cloud.get(ACCOUNT).users.size;
    desired.addons.set('a2', addon('a2'));
    const writes = cloud.writes.length;
    const result = await controller.reconcileAddon('a2');
    expect(result.actions.map((a) => [a.kind, a.reason])).toEqual([['blocked', 'iam-user-quota']]);
    expect(cloud.writes.length).toBe(writes);
    expect(await store.resources.get('a2')).toBeNull();
    // Room again: the next keyed pass makes it.
    cloud.get(ACCOUNT).userQuota += 1;
    expect((await controller.reconcileAddon('a2')).execution?.failed).toBe(0);
    expect(cloud.get(ACCOUNT).users.has(userNameFor(NAMING, 'a2'))).toBe(true);
  });

  it('an account that cannot be read is reported and left untouched', async () => {
    desired.addons.set('a1', addon('a1'));
    cloud.get(ACCOUNT).failWith = Object.assign(new Error('AccessDenied (fake)'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    const pass = await controller.reconcileOnce();
    expect(pass.accounts[0]).toMatchObject({ complete: false });
    expect(pass.actions.map((a) => [a.kind, a.reason])).toEqual([['blocked', 'observe-failed']]);
    expect(cloud.writes).toEqual([]);
  });
});

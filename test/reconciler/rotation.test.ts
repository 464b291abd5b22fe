/**
 * Key rotation on in-memory fakes of the ports and an embedded store (issue 16): the age trigger
 * end to end, an operator's emergency rotation, a rotated-out key still in use, a delivery that
 * did not land, pacing per team, the deactivation breaker, and a crash at every call of a rotation.
 * After every pass: the app holds the record's key, and that key is active in the cloud.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Controller, type ControllerDeps } from '../../src/reconciler/controller.js';
import type { DesiredAddon } from '../../src/reconciler/model.js';
import { DEFAULT_PROFILES } from '../../src/reconciler/profiles.js';
import { configVarNames, userNameFor, type NamingPolicy } from '../../src/reconciler/spec.js';
import { Store } from '../../src/store/store.js';
import { silentLogger } from '../../src/util/log.js';
import { newKey } from '../store/backends.js';
import { MemoryCloud, MemoryConfigVars, MemoryDesiredState } from '../support/in-memory-ports.js';

const ACCOUNT = '111122223333';
const TEAM = 'team-1';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NAMING: NamingPolicy = { instanceId: 'unit', bucketPrefix: 'hsc-', iamPath: '/hsc/', iamUserPrefix: 'hsc-' };
const ROTATION = { overlapMs: HOUR, deactivatedGraceMs: DAY, maxConcurrentApps: 2, maxDeactivationRatio: 0.5 };
const CONFIG: ControllerDeps['config'] = {
  ...NAMING,
  deepCheckWindowMs: HOUR,
  flapBreaker: { maxRepairs: 3, windowMs: HOUR },
  gc: { mode: 'enabled', graceDeprovisionedMs: 5 * MINUTE, graceOrphanedMs: DAY, maxDeletions: 100, maxDeletionRatio: 1, minDeletionsForRatio: 100, emptyKeysPerPass: 1000 },
  profiles: DEFAULT_PROFILES,
  aws: { region: 'us-east-1' },
  keyMaxAgeMs: 90 * DAY,
  rotation: ROTATION,
};

let dir: string;
let store: Store;
let now: Date;
let cloud: MemoryCloud;
let desired: MemoryDesiredState;
let configVars: MemoryConfigVars;

function addon(id: string, apps: string[] = [`app-${id}`]): DesiredAddon {
  return {
    addonId: id,
    addonName: `bucket-${id}`,
    service: 's3-bucket',
    plan: 's3-bucket:private',
    appId: apps[0]!,
    appName: apps[0]!,
    teamId: TEAM,
    region: 'us-east-1',
    attachments: apps.map((app) => ({ id: `att-${id}-${app}`, name: 'BUCKET', appId: app, appName: app })),
    ownedConfigVars: [],
  };
}

function controller(config: ControllerDeps['config'] = CONFIG): Controller {
  return new Controller({ config, store, desired, configVars, cloud, logger: silentLogger(), clock: () => now });
}

const user = (id: string) => cloud.get(ACCOUNT).users.get(userNameFor(NAMING, id))!;
const heldKey = (app: string) => configVars.apps.get(app)?.[configVarNames('BUCKET').accessKeyId];

/** The invariant of every instant: each attached app holds a key that exists and is active. */
function expectAppsWork(ids: string[]): void {
  for (const id of ids) {
    for (const attachment of desired.addons.get(id)!.attachments) {
      const key = user(id).keys.find((k) => k.accessKeyId === heldKey(attachment.appId));
      expect(key?.status, `app ${attachment.appId} of add-on ${id} holds ${heldKey(attachment.appId)}`).toBe('Active');
    }
  }
}

async function pass(c = controller()) {
  const result = await c.reconcileOnce();
  const failed = result.execution?.outcomes.filter((o) => o.result === 'failed') ?? [];
  return { result, failed, kinds: result.actions.map((a) => a.kind) };
}

let run = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rotation-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await store.close();
});
beforeEach(async () => {
  store = await Store.open({ dataDir: path.join(dir, `db-${++run}`), fernetKeys: [newKey()] });
  now = new Date('2026-01-01T00:00:00Z');
  cloud = new MemoryCloud(() => now);
  desired = new MemoryDesiredState();
  configVars = new MemoryConfigVars();
  await store.links.save({ teamId: TEAM, teamName: 'team', accountId: ACCOUNT, region: null, auth: { kind: 'keys', accessKeyId: 'AKIALINK', secretAccessKey: 'link-secret' } });
});

async function provision(ids: string[]): Promise<void> {
  for (const id of ids) desired.addons.set(id, addon(id));
  const { failed } = await pass();
  expect(failed).toEqual([]);
  expectAppsWork(ids);
}

/** Provisions one add-on and queues an operator's rotation of its key; returns that key's id. */
async function provisionAndRequest(id: string, trigger: 'on-demand' | 'emergency' = 'on-demand'): Promise<string> {
  await provision([id]);
  const key = (await store.resources.get(id))!.accessKeyId!;
  expect(await store.rotations.request([{ addonId: id, accountId: ACCOUNT, oldAccessKeyId: key, trigger, requestedBy: 'cli:test' }], now)).toBe(true);
  return key;
}

describe('rotation by age', () => {
  it('replaces a key past KEY_MAX_AGE through the second slot: new key delivered, overlap, deactivated, grace, deleted; every step journaled', async () => {
    await provision(['a']);
    const k1 = (await store.resources.get('a'))!.accessKeyId!;
    now = new Date(now.getTime() + 91 * DAY);

    const first = await pass();
    expect(first.failed).toEqual([]);
    expect(first.kinds).toEqual(['create-rotation-key', 'deliver-config-vars', 'mark-rotation-delivered']);
    expect(first.result.actions[0]!.reason).toBe('key-past-max-age');
    expect(first.result.drift.items.map((i) => i.kind)).toContain('key-past-max-age');
    const k2 = (await store.resources.get('a'))!.accessKeyId!;
    expect(k2).not.toBe(k1);
    expect(heldKey('app-a')).toBe(k2);
    expect(user('a').keys.map((k) => [k.accessKeyId, k.status])).toEqual([[k1, 'Active'], [k2, 'Active']]);
    expectAppsWork(['a']);

    // Within the overlap nothing more happens; the old key stays active.
    now = new Date(now.getTime() + 30 * MINUTE);
    expect((await pass()).kinds).toEqual([]);
    expect((await store.rotations.get('a'))!.step).toBe('delivered');

    now = new Date(now.getTime() + 31 * MINUTE);
    expect((await pass()).kinds).toEqual(['deactivate-access-key']);
    expect(user('a').keys.map((k) => [k.accessKeyId, k.status])).toEqual([[k1, 'Inactive'], [k2, 'Active']]);
    expectAppsWork(['a']);

    now = new Date(now.getTime() + 23 * HOUR);
    expect((await pass()).kinds).toEqual([]);
    now = new Date(now.getTime() + 61 * MINUTE);
    const last = await pass();
    expect(last.kinds).toEqual(['delete-access-key']);
    expect(last.failed).toEqual([]);
    expect(user('a').keys.map((k) => [k.accessKeyId, k.status])).toEqual([[k2, 'Active']]);
    expect(await store.rotations.get('a')).toBeNull();
    expectAppsWork(['a']);

    const steps = (await store.journal.list({ addonId: 'a' })).filter((e) => e.phase === 'ok').map((e) => e.action);
    for (const step of ['create-rotation-key', 'deliver-config-vars', 'mark-rotation-delivered', 'deactivate-access-key', 'delete-access-key']) expect(steps).toContain(step);
    const journal = JSON.stringify(await store.journal.list({}));
    expect(journal).not.toContain((await store.resources.get('a'))!.secretAccessKey);
    expect((await pass()).kinds).toEqual([]);
  });

  it('is not due before 80% of KEY_MAX_AGE, and is due by 90%', async () => {
    await provision(['a']);
    const start = now.getTime();
    now = new Date(start + 71 * DAY);
    expect((await pass()).kinds).toEqual([]);
    now = new Date(start + 81 * DAY);
    expect((await pass()).kinds[0]).toBe('create-rotation-key');
  });

  it('restarts at most ROTATION_MAX_CONCURRENT_APPS apps of a team at once', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    await provision(ids);
    now = new Date(now.getTime() + 91 * DAY);
    const started: number[] = [];
    for (let i = 0; i < 12 && (await store.rotations.list()).length + started.length < 100; i++) {
      const { kinds, failed } = await pass();
      expect(failed).toEqual([]);
      started.push(kinds.filter((k) => k === 'create-rotation-key').length);
      const restarting = (await store.rotations.list()).filter((r) => r.step === 'creating' || (r.step === 'delivered' && now.getTime() < r.deliveredAt!.getTime() + ROTATION.overlapMs));
      expect(restarting.length).toBeLessThanOrEqual(ROTATION.maxConcurrentApps);
      expectAppsWork(ids);
      now = new Date(now.getTime() + 31 * MINUTE);
    }
    expect(started.reduce((a, b) => a + b, 0)).toBe(5);
    expect(Math.max(...started)).toBe(2);
  });

  it('an add-on whose rotation cannot start (its user lost our tags) holds no turn of its team, however old its key', async () => {
    desired.addons.set('x', addon('x', ['app-x1', 'app-x2']));
    expect((await pass()).failed).toEqual([]);
    now = new Date(now.getTime() + DAY);
    await provision(['a', 'b']);
    user('x').tags = {};
    now = new Date(now.getTime() + 91 * DAY);
    const started = new Set<string>();
    for (let i = 0; i < 4; i++) {
      for (const a of (await pass()).result.actions) if (a.kind === 'create-rotation-key') started.add(a.addonId);
      now = new Date(now.getTime() + 2 * HOUR);
    }
    expect([...started].sort()).toEqual(['a', 'b']);
  });

  it('lists the keys of rotations whose next step may be due and of those admitted this pass, not of every key waiting its turn', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    await provision(ids);
    now = new Date(now.getTime() + 91 * DAY);
    await pass();
    // Within the overlap of the two started: no deep check is due, no other rotation may start.
    now = new Date(now.getTime() + 10 * MINUTE);
    const { result } = await pass();
    const listed = [...result.accounts[0]!.users.values()].filter((u) => u.accessKeys !== null).map((u) => u.userName);
    // The two started are read back in full after their changes (as any repaired add-on is).
    expect(listed.sort()).toEqual((await store.rotations.list()).map((r) => userNameFor(NAMING, r.addonId)).sort());
    expect(listed).toHaveLength(2);
    // Then nothing while they wait out the overlap; at its end, theirs again (and the next admitted).
    now = new Date(now.getTime() + 10 * MINUTE);
    const waiting = await pass();
    expect([...waiting.result.accounts[0]!.users.values()].filter((u) => u.accessKeys !== null)).toEqual([]);
    now = new Date(now.getTime() + 45 * MINUTE);
    const overlapOver = await pass();
    expect([...overlapOver.result.accounts[0]!.users.values()].filter((u) => u.accessKeys !== null).map((u) => u.userName)).toEqual(
      expect.arrayContaining([...listed, userNameFor(NAMING, 'c'), userNameFor(NAMING, 'd')]),
    );
    expect(overlapOver.kinds.filter((k) => k === 'deactivate-access-key')).toHaveLength(2);
  });
});

describe('rotation and keyed passes', () => {
  it('a keyed pass neither starts a due rotation nor re-delivers the old key for it; it keeps an old key in flight', async () => {
    await provision(['a']);
    now = new Date(now.getTime() + 91 * DAY);
    const writes = configVars.writes.length;
    const keyed = await controller().reconcileAddon('a');
    expect(keyed.actions.map((a) => a.kind)).toEqual([]);
    expect(configVars.writes.length).toBe(writes);
    // Started by a full pass, the keyed pass leaves both keys alone and runs none of its steps.
    await pass();
    now = new Date(now.getTime() + 2 * HOUR);
    const during = await controller().reconcileAddon('a');
    expect(during.actions.map((a) => a.kind)).toEqual([]);
    expect(user('a').keys.every((k) => k.status === 'Active')).toBe(true);
    expect((await pass()).kinds).toEqual(['deactivate-access-key']);
  });

  it('a rotation row further on than the record says (a store restored from before the new key) starts over', async () => {
    const k1 = await provisionAndRequest('a');
    await store.rotations.delivered('a', 'AKIAFROMTHEFUTURE', now);
    const first = await pass();
    expect(first.failed).toEqual([]);
    expect(first.kinds).toEqual(['create-rotation-key', 'deliver-config-vars', 'mark-rotation-delivered']);
    expect((await store.rotations.get('a'))!.newAccessKeyId).toBe((await store.resources.get('a'))!.accessKeyId);
    expectAppsWork(['a']);
  });
});

describe('rotation on request', () => {
  it('an emergency rotation deactivates the old key in the same pass that delivers the new one, and deletes it after the grace even if it was used', async () => {
    await provision(['a']);
    const k1 = (await store.resources.get('a'))!.accessKeyId!;
    expect(await store.rotations.request([{ addonId: 'a', accountId: ACCOUNT, oldAccessKeyId: k1, trigger: 'emergency', requestedBy: 'cli:test' }], now)).toBe(true);
    const first = await pass();
    expect(first.kinds).toEqual(['create-rotation-key', 'deliver-config-vars', 'mark-rotation-delivered', 'deactivate-access-key']);
    expect(user('a').keys.find((k) => k.accessKeyId === k1)!.status).toBe('Inactive');
    expectAppsWork(['a']);
    user('a').keys.find((k) => k.accessKeyId === k1)!.lastUsed = new Date(now.getTime() + HOUR);
    now = new Date(now.getTime() + DAY + MINUTE);
    const last = await pass();
    expect(last.kinds).toEqual(['delete-access-key']);
    expect(user('a').keys.map((k) => k.accessKeyId)).not.toContain(k1);
    expect(await store.rotations.get('a')).toBeNull();
  });

  it('a second request for an add-on in flight is refused, and so is one naming a key the add-on no longer has', async () => {
    await provision(['a']);
    const k1 = (await store.resources.get('a'))!.accessKeyId!;
    const request = { addonId: 'a', accountId: ACCOUNT, oldAccessKeyId: k1, trigger: 'on-demand' as const, requestedBy: 'cli:test' };
    expect(await store.rotations.request([request], now)).toBe(true);
    expect(await store.rotations.request([request], now)).toBe(false);
    await store.rotations.finish('a');
    expect(await store.rotations.request([{ ...request, oldAccessKeyId: 'AKIAOTHER' }], now)).toBe(false);
    expect(await store.rotations.list()).toEqual([]);
  });
});

describe('a rotated-out key still in use', () => {
  it('is switched back on at the end of its grace, reported until an operator resumes, then retired', async () => {
    const k1 = await provisionAndRequest('a');
    await pass();
    now = new Date(now.getTime() + HOUR + MINUTE);
    expect((await pass()).kinds).toEqual(['deactivate-access-key']);
    const deactivatedAt = now;
    user('a').keys.find((k) => k.accessKeyId === k1)!.lastUsed = new Date(deactivatedAt.getTime() + 5 * MINUTE);
    now = new Date(now.getTime() + DAY + MINUTE);
    const graceOver = await pass();
    expect(graceOver.failed.map((f) => f.action.kind)).toEqual(['delete-access-key']);
    expect(user('a').keys.find((k) => k.accessKeyId === k1)!.status).toBe('Active');
    expect((await store.rotations.get('a'))!.step).toBe('reactivated');
    const reported = await pass();
    expect(reported.result.actions.map((a) => [a.kind, a.reason])).toEqual([['blocked', 'rotated-key-in-use']]);
    expect((await store.resources.get('a'))!.state).toBe('error');

    expect(await store.rotations.resume('a', now)).toBe(true);
    now = new Date(now.getTime() + HOUR + MINUTE);
    expect((await pass()).kinds).toEqual(['deactivate-access-key']);
    now = new Date(now.getTime() + DAY + MINUTE);
    expect((await pass()).kinds).toEqual(['delete-access-key']);
    expect(user('a').keys.map((k) => k.accessKeyId)).not.toContain(k1);
    expectAppsWork(['a']);
  });

  it('an app that holds the old key again is not cut off: the deactivation waits, and the app gets the new key first', async () => {
    // A long deep-check window: the plan does not read the app again, the deactivation's own check does.
    const c = controller({ ...CONFIG, deepCheckWindowMs: 30 * DAY });
    await provision(['a']);
    const k1 = (await store.resources.get('a'))!.accessKeyId!;
    const secret1 = (await store.resources.get('a'))!.secretAccessKey!;
    await store.rotations.request([{ addonId: 'a', accountId: ACCOUNT, oldAccessKeyId: k1, trigger: 'on-demand', requestedBy: 'cli:test' }], now);
    await pass(c);
    now = new Date(now.getTime() + 30 * MINUTE);
    expect((await pass(c)).kinds).toEqual([]);
    const names = configVarNames('BUCKET');
    await configVars.set('app-a', { [names.accessKeyId]: k1, [names.secretAccessKey]: secret1 });
    now = new Date(now.getTime() + 31 * MINUTE);
    const refused = await pass(c);
    expect(refused.failed.map((f) => f.action.kind)).toEqual(['deactivate-access-key']);
    expect(user('a').keys.find((k) => k.accessKeyId === k1)!.status).toBe('Active');
    expectAppsWork(['a']);
    // The app gets the new key again, and restarts: the overlap starts over, the old key stays on.
    const next = await pass(c);
    expect(next.kinds).toEqual(['deliver-config-vars', 'mark-rotation-delivered']);
    expect(next.failed).toEqual([]);
    expect(heldKey('app-a')).not.toBe(k1);
    expect(user('a').keys.find((k) => k.accessKeyId === k1)!.status).toBe('Active');
    expectAppsWork(['a']);
    now = new Date(now.getTime() + 30 * MINUTE);
    expect((await pass(c)).kinds).toEqual([]);
    now = new Date(now.getTime() + 31 * MINUTE);
    expect((await pass(c)).kinds).toEqual(['deactivate-access-key']);
    expectAppsWork(['a']);
  });

  it('the same when the plan itself sees an app holding the old key again (its deep check): new key, overlap again, then deactivation', async () => {
    await provision(['a']);
    const { accessKeyId: k1, secretAccessKey: secret1 } = (await store.resources.get('a'))!;
    await store.rotations.request([{ addonId: 'a', accountId: ACCOUNT, oldAccessKeyId: k1!, trigger: 'on-demand', requestedBy: 'cli:test' }], now);
    await pass();
    const names = configVarNames('BUCKET');
    await configVars.set('app-a', { [names.accessKeyId]: k1!, [names.secretAccessKey]: secret1! });
    now = new Date(now.getTime() + HOUR + MINUTE);
    const next = await pass();
    expect(next.kinds).toEqual(['deliver-config-vars', 'mark-rotation-delivered']);
    expect(user('a').keys.find((k) => k.accessKeyId === k1)!.status).toBe('Active');
    now = new Date(now.getTime() + HOUR + MINUTE);
    expect((await pass()).kinds).toEqual(['deactivate-access-key']);
    expectAppsWork(['a']);
  });
});

describe('an old key still used late in the overlap', () => {
  it('is not switched off: IAM says something used it after the apps had the new key, so the rotation stops and asks', async () => {
    const k1 = await provisionAndRequest('a');
    await pass();
    const deliveredAt = (await store.rotations.get('a'))!.deliveredAt!;
    // Used during the apps' restart (first half of the overlap): fine.
    user('a').keys.find((k) => k.accessKeyId === k1)!.lastUsed = new Date(deliveredAt.getTime() + 10 * MINUTE);
    now = new Date(now.getTime() + HOUR + MINUTE);
    expect((await pass()).kinds).toEqual(['deactivate-access-key']);
    expect(user('a').keys.find((k) => k.accessKeyId === k1)!.status).toBe('Inactive');
  });

  it('used in the second half of the overlap: kept active, reported, and nothing more until an operator resumes', async () => {
    const k1 = await provisionAndRequest('a');
    await pass();
    const deliveredAt = (await store.rotations.get('a'))!.deliveredAt!;
    user('a').keys.find((k) => k.accessKeyId === k1)!.lastUsed = new Date(deliveredAt.getTime() + 45 * MINUTE);
    now = new Date(now.getTime() + HOUR + MINUTE);
    const refused = await pass();
    expect(refused.failed.map((f) => [f.action.kind, f.error])).toEqual([['deactivate-access-key', expect.stringMatching(/something else still uses it, so it stays active/)]]);
    expect(user('a').keys.find((k) => k.accessKeyId === k1)!.status).toBe('Active');
    expect((await store.rotations.get('a'))!.step).toBe('reactivated');
    expect((await pass()).result.actions.map((a) => [a.kind, a.reason])).toEqual([['blocked', 'rotated-key-in-use']]);
    expectAppsWork(['a']);
  });
});

describe('the deactivation breaker', () => {
  it('holds age rotations that would deactivate more than the ratio of an account in one pass, until approved', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    await provision(ids);
    now = new Date(now.getTime() + 91 * DAY);
    const c = controller({ ...CONFIG, rotation: { ...ROTATION, maxConcurrentApps: 100 } });
    expect((await pass(c)).kinds.filter((k) => k === 'create-rotation-key')).toHaveLength(6);
    now = new Date(now.getTime() + HOUR + MINUTE);
    const held = await pass(c);
    expect(held.result.actions.map((a) => a.reason)).toEqual(Array(6).fill('rotation-breaker-tripped'));
    for (const id of ids) expect(user(id).keys.every((k) => k.status === 'Active')).toBe(true);
    expect(await store.rotations.approve(ACCOUNT, now)).toBe(6);
    expect((await pass(c)).kinds).toEqual(Array(6).fill('deactivate-access-key'));
    expectAppsWork(ids);
  });

  it('a held re-deactivation (old keys switched on again by hand) is released by `rotate approve` too', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    await provision(ids);
    now = new Date(now.getTime() + 91 * DAY);
    const loose = controller({ ...CONFIG, rotation: { ...ROTATION, maxConcurrentApps: 100, maxDeactivationRatio: 1 } });
    await pass(loose);
    now = new Date(now.getTime() + HOUR + MINUTE);
    expect((await pass(loose)).kinds).toEqual(Array(6).fill('deactivate-access-key'));
    for (const id of ids) for (const k of user(id).keys) k.status = 'Active';
    const strict = controller({ ...CONFIG, rotation: { ...ROTATION, maxConcurrentApps: 100 } });
    now = new Date(now.getTime() + MINUTE);
    expect((await pass(strict)).result.actions.map((a) => a.reason)).toEqual(Array(6).fill('rotation-breaker-tripped'));
    expect(await store.rotations.approve(ACCOUNT, now)).toBe(6);
    expect((await pass(strict)).kinds).toEqual(Array(6).fill('deactivate-access-key'));
  });
});

describe('a crash at any call of a rotation', () => {
  // A rotation makes 10 calls: list keys, create, deliver; owner check, list keys, last use,
  // deactivate; owner check, last use, delete. The process dies right after each in turn.
  it.each(Array.from({ length: 10 }, (_, i) => i + 1))('dying right after call %i, it converges after a restart to one active, delivered key, never a third', async (crashAt) => {
    const k1 = await provisionAndRequest('a');
    let calls = 0;
    const dying = crashingCloud(cloud, configVars, () => ++calls === crashAt);
    for (let i = 0; i < 8 && !dying.dead(); i++) {
      await controller().reconcileOnce().catch(() => undefined);
      now = new Date(now.getTime() + 13 * HOUR);
    }
    expect(dying.dead(), 'the crash point was reached').toBe(true);
    dying.revive();
    for (let i = 0; i < 6; i++) {
      const { failed } = await pass();
      expect(failed).toEqual([]);
      expect(user('a').keys.length).toBeLessThanOrEqual(2);
      now = new Date(now.getTime() + 13 * HOUR);
    }
    const record = (await store.resources.get('a'))!;
    expect(record.accessKeyId).not.toBe(k1);
    expect(user('a').keys.map((k) => [k.accessKeyId, k.status])).toEqual([[record.accessKeyId, 'Active']]);
    expect(heldKey('app-a')).toBe(record.accessKeyId);
    expect(await store.rotations.get('a')).toBeNull();
    expect(dying.limitHits(), 'CreateAccessKey with both slots taken').toBe(0);
  });
});

/**
 * Makes the in-memory cloud and apps "die" after a call: that call happens, then it and every
 * later call throw, until revived (the restart).
 */
function crashingCloud(memory: MemoryCloud, vars: MemoryConfigVars, fatal: () => boolean) {
  let dead = false;
  const account = memory.get(ACCOUNT);
  const crash = Object.assign(new Error('the process died'), { name: 'HarnessCrash' });
  let limitHits = 0;
  const wrap = <T extends object>(target: T, userName: string): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          if (dead) throw crash;
          if (prop === 'createAccessKey' && (account.users.get(userName)?.keys.length ?? 0) >= 2) limitHits++;
          const out = await value.apply(obj, args);
          if (fatal()) {
            dead = true;
            throw crash;
          }
          return out;
        };
      },
    });
  const originalUser = account.handle().user;
  const handle = account.handle.bind(account);
  account.handle = () => ({ ...handle(), user: (name: string) => wrap(originalUser(name), name) });
  const set = vars.set.bind(vars);
  vars.set = async (appId, values) => {
    if (dead) throw crash;
    await set(appId, values);
    if (fatal()) {
      dead = true;
      throw crash;
    }
  };
  return {
    dead: () => dead,
    limitHits: () => limitHits,
    revive: () => {
      dead = false;
      account.handle = handle;
      vars.set = set;
    },
  };
}

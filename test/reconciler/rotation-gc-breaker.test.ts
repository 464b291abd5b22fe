/**
 * Issue 16 with the DEFAULT settings of both breakers (found by bench/key-rotation.ts): an account
 * whose teams rotate their keys side by side, each paced to ROTATION_MAX_CONCURRENT_APPS, ends the
 * grace of more rotated-out keys in one pass than GC_MAX_DELETIONS (10). Those deletions are
 * counted by the mass-deletion breaker (plan-gc.ts `readAddonActions`), which trips: every old key
 * stays (inactive) and garbage collection stops for the whole account until `gc approve`, and
 * the breaker trips again each pass the held set grows. The rotations were paced and passed the
 * deactivation breaker a day earlier, and an inactive key unused for the whole grace is no mass
 * deletion of anything an app uses.
 *
 * Here: 3 teams of 10 add-ons in one account, every key past KEY_MAX_AGE. Each pass admits 5 per
 * team (15 deactivations of 30 add-ons: exactly the deactivation breaker's ratio, so it holds
 * nothing), and a day later 15 deletions meet GC_MAX_DELETIONS=10.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { Controller, type ControllerDeps } from '../../src/reconciler/controller.js';
import type { DesiredAddon } from '../../src/reconciler/model.js';
import { DEFAULT_PROFILES } from '../../src/reconciler/profiles.js';
import { configVarNames, userNameFor, type NamingPolicy } from '../../src/reconciler/spec.js';
import { Store } from '../../src/store/store.js';
import { silentLogger } from '../../src/util/log.js';
import { newKey } from '../store/backends.js';
import { MemoryCloud, MemoryConfigVars, MemoryDesiredState } from '../support/in-memory-ports.js';
import { plan } from '../../src/reconciler/plan.js';
import { DEFAULT_ROTATION_POLICY } from '../../src/reconciler/rotation.js';
import type { PlanInput } from '../../src/reconciler/model.js';
import type { KeyRotation } from '../../src/store/types.js';
import { ACCOUNT as FIXTURE_ACCOUNT, ADDON, KEY_ID, NOW, POLICY, USER, inSync, record, syncedUser } from './fixtures.js';

const ACCOUNT = '111122223333';
const TEAMS = ['team-1', 'team-2', 'team-3'];
const PER_TEAM = 10;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const NAMING: NamingPolicy = { instanceId: 'unit', bucketPrefix: 'hsc-', iamPath: '/hsc/', iamUserPrefix: 'hsc-' };
const DEFAULTS = loadConfig({});
const CONFIG: ControllerDeps['config'] = {
  ...NAMING,
  deepCheckWindowMs: DEFAULTS.deepCheckWindowMs,
  flapBreaker: DEFAULTS.flapBreaker,
  gc: DEFAULTS.gc,
  profiles: DEFAULT_PROFILES,
  aws: { region: 'us-east-1' },
  keyMaxAgeMs: DEFAULTS.keyMaxAgeMs,
  rotation: DEFAULTS.rotation,
};

let dir: string;
let store: Store;
let now: Date;
let cloud: MemoryCloud;
let desired: MemoryDesiredState;
let configVars: MemoryConfigVars;

function addon(team: string, i: number): DesiredAddon {
  const id = `${team}-addon-${i}`;
  const app = `${team}-app-${i}`;
  return {
    addonId: id,
    addonName: `bucket-${id}`,
    service: 's3-bucket',
    plan: 's3-bucket:private',
    appId: app,
    appName: app,
    teamId: team,
    region: 'us-east-1',
    attachments: [{ id: `att-${id}`, name: 'BUCKET', appId: app, appName: app }],
    ownedConfigVars: [],
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rotation-gc-breaker-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  store = await Store.open({ dataDir: path.join(dir, `db-${Date.now()}`), fernetKeys: [newKey()] });
  now = new Date('2026-01-01T00:00:00Z');
  cloud = new MemoryCloud(() => now);
  desired = new MemoryDesiredState();
  configVars = new MemoryConfigVars();
  for (const team of TEAMS) {
    await store.links.save({ teamId: team, teamName: team, accountId: ACCOUNT, region: null, auth: { kind: 'keys', accessKeyId: 'AKIALINK', secretAccessKey: 'link-secret' } });
  }
});
afterEach(async () => {
  await store.close();
});

describe('key rotation with the default breakers', () => {
  it('3 teams of 10 add-ons, all past KEY_MAX_AGE, finish rotating without an operator and without tripping the mass-deletion breaker', async () => {
    expect(CONFIG.gc.maxDeletions).toBe(10);
    expect(CONFIG.rotation!.maxConcurrentApps).toBe(5);
    const addons = TEAMS.flatMap((team) => Array.from({ length: PER_TEAM }, (_, i) => addon(team, i)));
    for (const a of addons) desired.addons.set(a.addonId, a);
    const controller = new Controller({ config: CONFIG, store, desired, configVars, cloud, logger: silentLogger(), clock: () => now });
    const first = await controller.reconcileOnce();
    expect(first.execution?.failed).toBe(0);
    const original = new Map((await store.resources.listAll()).map((r) => [r.addonId, r.accessKeyId]));

    now = new Date(now.getTime() + 91 * DAY);
    const trips: string[][] = [];
    for (let i = 0; i < 200 && ((await store.rotations.list()).length > 0 || i === 0); i++) {
      const pass = await controller.reconcileOnce();
      expect(pass.execution?.failed ?? 0).toBe(0);
      for (const a of pass.actions) if (a.kind === 'trip-gc-breaker') trips.push(a.planned);
      now = new Date(now.getTime() + 31 * MINUTE);
    }

    expect(trips, 'the mass-deletion breaker tripped on rotated-out keys').toEqual([]);
    expect(await store.rotations.list()).toEqual([]);
    for (const a of addons) {
      const record = (await store.resources.get(a.addonId))!;
      expect(record.accessKeyId).not.toBe(original.get(a.addonId));
      const keys = cloud.get(ACCOUNT).users.get(userNameFor(NAMING, a.addonId))!.keys;
      expect(keys.map((k) => [k.accessKeyId, k.status])).toEqual([[record.accessKeyId, 'Active']]);
      expect(configVars.apps.get(a.appId)?.[configVarNames('BUCKET').accessKeyId]).toBe(record.accessKeyId);
    }
  });
});

describe('a rotated-out key at the end of its grace, and the mass-deletion breaker', () => {
  const OLD_KEY = 'AKIAOLDKEYOFROTATION';
  const HOUR = 60 * MINUTE;

  /** The fixture add-on mid-rotation: its old key inactive for more than the grace; `orphans` others gone. */
  function world(orphans: number): PlanInput {
    const input = inSync();
    input.observed.get(FIXTURE_ACCOUNT)!.users.set(USER, syncedUser({ accessKeys: [{ accessKeyId: KEY_ID, status: 'Active' }, { accessKeyId: OLD_KEY, status: 'Inactive' }] }));
    const deactivatedAt = new Date(NOW.getTime() - DAY - HOUR);
    const rotation: KeyRotation = {
      addonId: ADDON,
      accountId: FIXTURE_ACCOUNT,
      oldAccessKeyId: OLD_KEY,
      newAccessKeyId: KEY_ID,
      trigger: 'age',
      step: 'deactivated',
      requestedAt: new Date(deactivatedAt.getTime() - 2 * HOUR),
      requestedBy: 'controller',
      stepAt: deactivatedAt,
      deliveredAt: new Date(deactivatedAt.getTime() - HOUR),
      deactivatedAt,
      approvedAt: null,
    };
    input.rotations = new Map([[ADDON, rotation]]);
    const ids = Array.from({ length: orphans }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const expired = { orphan: { since: new Date(NOW.getTime() - 25 * HOUR), reason: 'orphaned' as const, deleteAfter: new Date(NOW.getTime() - HOUR) } };
    for (const id of ids) input.records.set(id, record({ addonId: id, resourceName: `b-${id}`, userName: `u-${id}`, ...expired }));
    input.whereabouts = new Map(ids.map((id) => [id, { status: 'gone' as const }]));
    return input;
  }

  const limits = { gc: { ...DEFAULTS.gc, defaultRegion: 'us-east-1' }, rotation: { ...DEFAULT_ROTATION_POLICY, keyMaxAgeMs: DEFAULTS.keyMaxAgeMs } };

  it('is deleted when nothing else is', () => {
    const actions = plan(world(0), POLICY, limits);
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'delete-access-key', accessKeyId: OLD_KEY, rotation: expect.anything() }));
  });

  it('still waits while the breaker holds the account for other deletions', () => {
    const actions = plan(world(DEFAULTS.gc.maxDeletions + 1), POLICY, limits);
    expect(actions.map((a) => a.kind)).toContain('trip-gc-breaker');
    expect(actions.filter((a) => a.kind === 'delete-access-key')).toEqual([]);
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'blocked', reason: 'gc-breaker-tripped', resource: OLD_KEY }));
  });
});

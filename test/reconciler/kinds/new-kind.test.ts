/**
 * A kind with a resource of a new type, written as a new kind would be (issue 14): everything it
 * brings is in this file (its actions, plan, handlers, teardown, policy and vars) and in the
 * in-memory cloud's adapter for simple resources. Nothing of the core is edited for it, yet the
 * core observes its queue by kind and name, records it per (add-on, kind), repairs it when it is
 * deleted, marks it when the add-on goes, tears it down after the user when the grace is over,
 * removes the vars it delivered, and finds it again by its tags after a store loss.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Action, KindAction } from '../../../src/reconciler/actions.js';
import { Controller, type ControllerDeps } from '../../../src/reconciler/controller.js';
import { BUILT_IN_KINDS } from '../../../src/reconciler/kinds/bucket/kind.js';
import type { KindTable, ResourceKind } from '../../../src/reconciler/kinds/kind.js';
import { observedResource, type DesiredAddon } from '../../../src/reconciler/model.js';
import { DEFAULT_PROFILES } from '../../../src/reconciler/profiles.js';
import { TAG, bucketTagsFor, configVarNames, isOwnedBy, userNameFor, type NamingPolicy } from '../../../src/reconciler/spec.js';
import { DriftKind, GcReason } from '../../../src/reasons.js';
import { Store } from '../../../src/store/store.js';
import { silentLogger } from '../../../src/util/log.js';
import { newKey } from '../../store/backends.js';
import { MemoryCloud, MemoryConfigVars, MemoryDesiredState, type MemoryResourceHandle } from '../../support/in-memory-ports.js';

// ---- The kind: one queue per add-on, its user allowed to use that queue alone ----

interface CreateQueue extends KindAction {
  kind: 'create-queue';
  tags: Record<string, string>;
}
interface DeleteQueue extends KindAction {
  kind: 'delete-queue';
}

declare module '../../../src/reconciler/actions.js' {
  interface KindActions {
    queue: CreateQueue | DeleteQueue;
  }
}

const queueName = (naming: Pick<NamingPolicy, 'bucketPrefix'>, addonId: string) => `${naming.bucketPrefix}q-${addonId}`;

const queueKind: ResourceKind = {
  name: 'queue',
  resourceName: (naming, _accountId, addonId) => queueName(naming, addonId),
  userTags: { [TAG.kind]: 'queue' },
  planResources: (ctx, account, name, region) => {
    const base = { addonId: ctx.addon.addonId, accountId: ctx.link.accountId, resource: name!, region };
    const observed = observedResource(account, 'queue', name);
    if (!observed) return [{ ...base, kind: 'create-queue', reason: DriftKind.MissingResource, tags: bucketTagsFor(ctx.policy, ctx.addon) }];
    if (!isOwnedBy(observed.tags, ctx.policy, ctx.addon.addonId)) return [{ ...base, kind: 'blocked', reason: 'not-owned', message: `queue ${name} is not ours` } as Action];
    return [];
  },
  teardown: (record, account, naming) => {
    const observed = observedResource(account, 'queue', record.resourceName);
    if (!observed || !isOwnedBy(observed.tags, naming, record.addonId)) return { actions: [], retained: false };
    return { actions: [{ addonId: record.addonId, accountId: record.accountId, kind: 'delete-queue', reason: GcReason.GraceExpired, resource: record.resourceName!, region: record.region }], retained: false };
  },
  handlers: {
    'create-queue': async (action, ctx) => {
      await (ctx.resource(action, 'queue', action.resource, action.region) as MemoryResourceHandle).create(action.tags);
      return { queue: action.resource };
    },
    'delete-queue': async (action, ctx) => {
      const queue = ctx.resource(action, 'queue', action.resource, action.region) as MemoryResourceHandle;
      await ctx.confirmDisposable(queue, 'queue', action.resource, action.addonId);
      await ctx.teardownStarted(action);
      await queue.delete();
      return { queue: action.resource };
    },
  },
  userPolicy: ({ resource, accountId }) =>
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage'], Resource: `arn:aws:sqs:*:${accountId}:${resource}` }] }),
  resourceVarSuffix: '_QUEUE_NAME',
  configVars: (attachment, credentials) => {
    const names = configVarNames(attachment);
    return {
      [`${attachment}_QUEUE_NAME`]: credentials.resourceName!,
      [names.accessKeyId]: credentials.accessKeyId,
      [names.secretAccessKey]: credentials.secretAccessKey,
      [names.region]: credentials.region,
    };
  },
  profileProblems: () => [],
};

// ---- The world ----

const ACCOUNT = '111122223333';
const TEAM = 'team-1';
const HOUR = 3_600_000;
const PLAN = 's3-bucket:queue';
const NAMING: NamingPolicy = { instanceId: 'unit', bucketPrefix: 'hsc-', iamPath: '/hsc/', iamUserPrefix: 'hsc-' };
const KINDS: KindTable = new Map([...BUILT_IN_KINDS, [queueKind.name, queueKind]]);
const CONFIG: ControllerDeps['config'] = {
  ...NAMING,
  deepCheckWindowMs: HOUR,
  flapBreaker: { maxRepairs: 3, windowMs: HOUR },
  gc: { mode: 'enabled', graceDeprovisionedMs: 5 * 60_000, graceOrphanedMs: 24 * HOUR, maxDeletions: 10, maxDeletionRatio: 1, minDeletionsForRatio: 4, emptyKeysPerPass: 1000 },
  profiles: { ...DEFAULT_PROFILES, [PLAN]: { kind: 'queue' } },
  aws: { region: 'us-east-1' },
};

const addon: DesiredAddon = {
  addonId: 'q1',
  addonName: 'queue-q1',
  service: 's3-bucket',
  plan: PLAN,
  appId: 'app-q1',
  appName: 'app-q1',
  teamId: TEAM,
  region: 'eu-west-1',
  attachments: [{ id: 'att-q1', name: 'JOBS', appId: 'app-q1', appName: 'app-q1' }],
  ownedConfigVars: [],
};

let dir: string;
let store: Store;
let now: Date;
let cloud: MemoryCloud;
let desired: MemoryDesiredState;
let configVars: MemoryConfigVars;
let run = 0;

const queues = () => cloud.get(ACCOUNT).resources.get('queue') ?? new Map();
const controller = () => new Controller({ config: CONFIG, store, desired, configVars, cloud, kinds: KINDS, logger: silentLogger(), clock: () => now });

async function openStore(): Promise<Store> {
  const opened = await Store.open({ dataDir: path.join(dir, `db-${++run}`), fernetKeys: [newKey()] });
  await opened.links.save({ teamId: TEAM, teamName: 'team', accountId: ACCOUNT, region: null, auth: { kind: 'keys', accessKeyId: 'AKIALINK', secretAccessKey: 'link-secret' } });
  return opened;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'new-kind-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  store = await openStore();
  now = new Date('2026-12-05T00:00:00Z');
  cloud = new MemoryCloud(() => now);
  desired = new MemoryDesiredState();
  configVars = new MemoryConfigVars();
  desired.addons.set(addon.addonId, addon);
});

afterEach(async () => {
  await store.close();
});

describe('a kind with a resource of a new type, added without touching the core', () => {
  it('gets its queue, a user allowed that queue alone, a key and its vars in one pass, recorded per (add-on, kind); then nothing to do', async () => {
    const first = await controller().reconcileOnce();
    expect(first.execution?.failed).toBe(0);
    const name = queueName(NAMING, 'q1');
    expect(queues().get(name)).toMatchObject({ region: 'eu-west-1', tags: { [TAG.instance]: 'unit', [TAG.addonId]: 'q1', [TAG.plan]: PLAN } });
    const user = cloud.get(ACCOUNT).users.get(userNameFor(NAMING, 'q1'))!;
    expect(user.tags[TAG.kind]).toBe('queue');
    expect(JSON.parse(Object.values(user.policies)[0]!).Statement[0].Resource).toBe(`arn:aws:sqs:*:${ACCOUNT}:${name}`);
    expect(configVars.apps.get('app-q1')).toEqual({
      JOBS_QUEUE_NAME: name,
      JOBS_AWS_ACCESS_KEY_ID: user.keys[0]!.accessKeyId,
      JOBS_AWS_SECRET_ACCESS_KEY: user.keys[0]!.secretAccessKey,
      JOBS_AWS_REGION: 'eu-west-1',
    });
    expect(await store.resources.get('q1')).toMatchObject({ kind: 'queue', resourceName: name, region: 'eu-west-1' });
    expect(await store.db.query('SELECT kind, name FROM kind_resources')).toEqual([{ kind: 'queue', name }]);

    for (let pass = 0; pass < 2; pass++) {
      const writes = cloud.writes.length;
      expect((await controller().reconcileOnce()).actions).toEqual([]);
      expect(cloud.writes.length).toBe(writes);
    }
  });

  it('makes its queue again when someone deletes it, and reports it as a missing resource', async () => {
    await controller().reconcileOnce();
    queues().clear();
    const pass = await controller().reconcileOnce();
    expect(pass.drift.items).toEqual([expect.objectContaining({ kind: 'missing-resource', resource: queueName(NAMING, 'q1') })]);
    expect(pass.actions.map((a) => a.kind)).toEqual(['create-queue']);
    expect(queues().has(queueName(NAMING, 'q1'))).toBe(true);
  });

  it('when the add-on goes: marks the queue, and after the grace removes its vars, user and queue, and forgets it', async () => {
    await controller().reconcileOnce();
    desired.addons.delete('q1');
    desired.gone.add('q1');
    await controller().reconcileOnce();
    const name = queueName(NAMING, 'q1');
    expect(queues().get(name)!.tags[TAG.deleteAfter]).toBeDefined();
    expect(cloud.get(ACCOUNT).users.has(userNameFor(NAMING, 'q1'))).toBe(true);

    now = new Date(now.getTime() + 25 * HOUR);
    const teardown = await controller().reconcileOnce();
    expect(teardown.execution?.failed).toBe(0);
    expect(teardown.actions.map((a) => a.kind)).toEqual(['remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'delete-queue', 'forget-resource']);
    expect(queues().has(name)).toBe(false);
    expect(cloud.get(ACCOUNT).users.has(userNameFor(NAMING, 'q1'))).toBe(false);
    expect(configVars.apps.get('app-q1') ?? {}).toEqual({});
    expect(await store.resources.get('q1')).toBeNull();
    expect(await store.db.query('SELECT * FROM kind_resources')).toEqual([]);
  });

  it('with the store lost after its user was gone, finds the queue again by its tags and records it as the queue it is', async () => {
    await controller().reconcileOnce();
    cloud.get(ACCOUNT).users.delete(userNameFor(NAMING, 'q1'));
    desired.addons.delete('q1');
    desired.gone.add('q1');
    await store.close();
    store = await openStore();
    const pass = await controller().reconcileOnce({ dryRun: true });
    expect(pass.actions).toEqual([
      expect.objectContaining({ kind: 'record-resource', reason: 'orphaned-resource', record: expect.objectContaining({ kind: 'queue', resourceName: queueName(NAMING, 'q1'), region: 'eu-west-1' }) }),
    ]);
  });
});

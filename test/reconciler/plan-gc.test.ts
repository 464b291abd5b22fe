import { describe, expect, it } from 'vitest';
import type { Action } from '../../src/reconciler/actions.js';
import type { AddonWhereabouts, PlanInput } from '../../src/reconciler/model.js';
import { plan } from '../../src/reconciler/plan.js';
import { UNKNOWN_PLAN, orphanCandidates, type GcPolicy } from '../../src/reconciler/plan-gc.js';
import { TAG, bucketNameFor, bucketTagsFor, configVarNames, ownershipTags } from '../../src/reconciler/spec.js';
import { ACCOUNT, ADDON, BUCKET, NOW, POLICY, TEAM, USER, account, addon, deliveriesFor, inSync, record, syncedBucket, syncedUser } from './fixtures.js';

const GC: GcPolicy = { mode: 'enabled', graceDeprovisionedMs: 5 * 60_000, graceOrphanedMs: 24 * 3_600_000, maxDeletions: 10, maxDeletionRatio: 0.5 };
const HOUR = 3_600_000;
const kinds = (actions: Action[]) => actions.map((a) => a.kind);
const DELETES = ['remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'delete-bucket-policy', 'empty-bucket', 'delete-bucket', 'forget-resource'];
const deletes = (actions: Action[]) => actions.filter((a) => DELETES.includes(a.kind));

/**
 * The fixture world with the add-on removed from Heroku (its team read otherwise complete), and
 * Heroku's answer when asked about it by id: 404 unless told otherwise.
 */
function removed(overrides: Partial<ReturnType<typeof record>> = {}, word: AddonWhereabouts = { status: 'gone' }): PlanInput {
  const input = inSync();
  input.desired[0]!.addons = [];
  input.records = new Map([[ADDON, record(overrides)]]);
  input.whereabouts = new Map([[ADDON, word]]);
  return input;
}

const expired = () => ({ orphan: { since: new Date(NOW.getTime() - 25 * HOUR), reason: 'orphaned' as const, deleteAfter: new Date(NOW.getTime() - HOUR) } });

describe('garbage collection plan', () => {
  it('marks an add-on that went away with the long grace period', () => {
    const actions = plan(removed(), POLICY, { gc: GC });
    expect(actions).toEqual([expect.objectContaining({ kind: 'mark-orphan', orphan: { since: NOW, reason: 'orphaned', deleteAfter: new Date(NOW.getTime() + 24 * HOUR) } })]);
  });

  it('gives an add-on Heroku lists as deprovisioned the short grace period', () => {
    const input = removed();
    input.desired[0]!.deprovisioned = [ADDON];
    const [action] = plan(input, POLICY, { gc: GC });
    expect(action).toMatchObject({ kind: 'mark-orphan', orphan: { reason: 'deprovisioned', deleteAfter: new Date(NOW.getTime() + 5 * 60_000) } });
  });

  it('gives the short grace period to an add-on Heroku answers is deprovisioned when asked by id', () => {
    const [action] = plan(removed({}, { status: 'deprovisioned' }), POLICY, { gc: GC });
    expect(action).toMatchObject({ kind: 'mark-orphan', orphan: { reason: 'deprovisioned' } });
  });

  describe('asks Heroku about every orphan before marking it or starting its teardown (invariant 10)', () => {
    it('names the records to ask about: unmarked ones, and marked ones whose teardown would start', () => {
      const input = removed();
      expect(orphanCandidates(input, GC)).toEqual([ADDON]);
      input.records = new Map([[ADDON, record({ orphan: { since: NOW, reason: 'orphaned', deleteAfter: new Date(NOW.getTime() + HOUR) } })]]);
      expect(orphanCandidates(input, GC)).toEqual([]);
      input.records = new Map([[ADDON, record(expired())]]);
      expect(orphanCandidates(input, GC)).toEqual([ADDON]);
      input.records = new Map([[ADDON, record({ ...expired(), teardownStartedAt: NOW })]]);
      expect(orphanCandidates(input, GC)).toEqual([]);
      expect(orphanCandidates(removed(), { ...GC, mode: 'off' })).toEqual([ADDON]);
      expect(orphanCandidates(removed(expired()), { ...GC, mode: 'off' })).toEqual([]);
    });

    it.each([
      ['not asked', undefined],
      ['the read failed', { status: 'unknown', error: '503' } as const],
    ])('%s: neither marked nor torn down', (_why, word) => {
      for (const overrides of [{}, expired()]) {
        const input = removed(overrides);
        input.whereabouts = word ? new Map([[ADDON, word]]) : new Map();
        expect(plan(input, POLICY, { gc: GC })).toEqual([]);
      }
    });

    it('an add-on that moved to a linked team whose read failed is not an orphan: unmarked, its record follows it', () => {
      const input = removed(expired(), { status: 'alive', teamId: 'team-2', appId: 'app-9', plan: 's3-bucket:standard', addonName: 'bucket-1' });
      input.links.push({ ...input.links[0]!, teamId: 'team-2', teamName: 'two' });
      input.desired.push({ teamId: 'team-2', teamName: 'two', complete: false, error: '429', addons: [], deprovisioned: [] });
      const actions = plan(input, POLICY, { gc: GC });
      expect(deletes(actions)).toEqual([]);
      expect(actions).toEqual([
        expect.objectContaining({ kind: 'mark-orphan', orphan: null, reason: 'wanted-again' }),
        expect.objectContaining({ kind: 'update-record', reason: 'desired-changed', changes: expect.objectContaining({ teamId: 'team-2', appId: 'app-9' }) }),
      ]);
    });

    it('an add-on that lives on outside every linked team is kept: never marked, its record moves out', () => {
      const actions = plan(removed({}, { status: 'alive', teamId: 'unlinked-team', appId: 'app-9', plan: 's3-bucket:standard', addonName: 'bucket-1' }), POLICY, { gc: GC });
      expect(actions).toEqual([expect.objectContaining({ kind: 'update-record', reason: 'moved-out', changes: expect.objectContaining({ teamId: 'unlinked-team' }) })]);
    });
  });

  it('waits out the grace period', () => {
    const input = removed({ orphan: { since: NOW, reason: 'orphaned', deleteAfter: new Date(NOW.getTime() + HOUR) } });
    expect(plan(input, POLICY, { gc: GC })).toEqual([]);
  });

  it('unmarks an orphan whose add-on came back inside the grace period, and deletes nothing', () => {
    const input = inSync();
    input.records = new Map([[ADDON, record({ orphan: { since: NOW, reason: 'orphaned', deleteAfter: new Date(NOW.getTime() + HOUR) } })]]);
    expect(plan(input, POLICY, { gc: GC })).toEqual([expect.objectContaining({ kind: 'mark-orphan', orphan: null, reason: 'wanted-again' })]);
  });

  it('tears down in the safe order once the grace period is over', () => {
    expect(kinds(plan(removed(expired()), POLICY, { gc: GC }))).toEqual([
      'remove-config-vars',
      'remove-config-vars',
      'delete-user-keys',
      'delete-user-policies',
      'delete-user',
      'delete-bucket-policy',
      'empty-bucket',
      'delete-bucket',
      'forget-resource',
    ]);
  });

  it('resumes a teardown from what is left (keys and user already gone)', () => {
    const input = removed({ ...expired(), teardownStartedAt: new Date(NOW.getTime() - 60_000) });
    input.deliveries = [];
    input.observed = new Map([[ACCOUNT, account([syncedBucket()], [])]]);
    expect(kinds(plan(input, POLICY, { gc: GC }))).toEqual(['delete-bucket-policy', 'empty-bucket', 'delete-bucket', 'forget-resource']);
  });

  describe('never deletes what it must not', () => {
    const cases: { reason: string; change: (input: PlanInput) => void }[] = [
      { reason: 'the team read was incomplete (a page failed)', change: (i) => Object.assign(i.desired[0]!, { complete: false, error: '503 on page 2' }) },
      { reason: 'the team is no longer linked', change: (i) => (i.links = []) },
      { reason: 'the account could not be observed', change: (i) => i.observed.set(ACCOUNT, account([], [], { complete: false, error: 'Throttling' })) },
      { reason: 'GC_MODE=off', change: () => undefined },
    ];
    it.each(cases)('$reason', ({ reason, change }) => {
      const input = removed(expired());
      change(input);
      const gc = reason === 'GC_MODE=off' ? { ...GC, mode: 'off' as const } : GC;
      expect(deletes(plan(input, POLICY, { gc }))).toEqual([]);
    });

    it('a bucket without our tags, even with our name', () => {
      const input = removed(expired());
      input.observed = new Map([[ACCOUNT, account([syncedBucket({ tags: { [TAG.instance]: 'another-instance', [TAG.addonId]: ADDON } })], [syncedUser()])]]);
      const actions = plan(input, POLICY, { gc: GC });
      expect(actions.filter((a) => ['delete-bucket-policy', 'empty-bucket', 'delete-bucket', 'forget-resource'].includes(a.kind))).toEqual([]);
      expect(actions).toContainEqual(expect.objectContaining({ kind: 'blocked', reason: 'not-owned', resource: BUCKET }));
    });

    it('a user without our tags', () => {
      const input = removed(expired());
      input.observed = new Map([[ACCOUNT, account([syncedBucket()], [syncedUser({ tags: {} })])]]);
      const actions = plan(input, POLICY, { gc: GC });
      expect(actions.filter((a) => a.kind.startsWith('delete-user'))).toEqual([]);
      expect(actions).toContainEqual(expect.objectContaining({ kind: 'blocked', reason: 'not-owned', resource: USER }));
      expect(kinds(actions)).not.toContain('forget-resource');
    });

    it('a retained bucket: only the user, keys and config vars go', () => {
      const input = removed(expired());
      input.observed = new Map([[ACCOUNT, account([syncedBucket({ tags: { ...ownershipTags(POLICY, addon()), [TAG.retain]: 'true' } })], [syncedUser()])]]);
      const actions = plan(input, POLICY, { gc: GC });
      expect(kinds(actions)).toEqual(['remove-config-vars', 'remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'forget-resource']);
      expect(actions.at(-1)).toMatchObject({ retained: true });
    });
  });

  it('removes the config vars of a detached attachment only', () => {
    const input = inSync();
    input.desired[0]!.addons = [addon({ attachments: [addon().attachments[0]!] })];
    expect(plan(input, POLICY, { gc: GC })).toEqual([
      expect.objectContaining({ kind: 'remove-config-vars', appId: 'app-0002', reason: 'detached-config-vars', varNames: expect.arrayContaining(['ASSETS_AWS_SECRET_ACCESS_KEY']) }),
    ]);
  });

  describe('mass-deletion breaker', () => {
    /** Five add-ons in the account; `gone` of them removed and past their grace period. */
    function fleet(gone: number): PlanInput {
      return fleetOf(5, gone);
    }

    function fleetOf(size: number, gone: number): PlanInput {
      const input = inSync();
      const ids = Array.from({ length: size }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
      input.desired[0]!.addons = ids.slice(gone).map((id) => addon({ addonId: id }));
      input.records = new Map(ids.map((id, i) => [id, record({ addonId: id, resourceName: `b-${id}`, userName: `u-${id}`, ...(i < gone ? expired() : {}) })]));
      input.whereabouts = new Map(ids.slice(0, gone).map((id) => [id, { status: 'gone' as const }]));
      input.deliveries = [];
      input.observed = new Map([[ACCOUNT, account([], [])]]);
      return input;
    }

    // Defect 9 of issue 13: review apps come and go all day; small teams must not need an operator.
    it('lets a team of three close two review apps in one pass: the ratio rule needs GC_BREAKER_MIN_DELETIONS (5) first', () => {
      const actions = plan(fleetOf(3, 2), POLICY, { gc: GC });
      expect(actions.filter((a) => a.kind === 'forget-resource')).toHaveLength(2);
      expect(kinds(actions)).not.toContain('trip-gc-breaker');
    });

    it('still trips on a real mass deletion: 5 of 8 at once', () => {
      const actions = plan(fleetOf(8, 5), POLICY, { gc: GC });
      expect(deletes(actions)).toEqual([]);
      expect(kinds(actions)).toContain('trip-gc-breaker');
    });

    it('counts key deletions as deletions: held while tripped, reported', () => {
      const input = fleetOf(8, 5);
      // A sixth add-on holds a key nobody recorded, old enough to go.
      const id = [...input.records.keys()][7]!;
      const user = syncedUser({ userName: `u-${id}`, tags: ownershipTags(POLICY, addon({ addonId: id })) });
      user.accessKeys = [...user.accessKeys!, { accessKeyId: 'AKIASTRAY', status: 'Active' }];
      input.observed = new Map([[ACCOUNT, account([], [user])]]);
      const actions = plan(input, POLICY, { gc: GC });
      expect(actions.filter((a) => a.kind === 'delete-access-key')).toEqual([]);
      expect(actions).toContainEqual(expect.objectContaining({ kind: 'blocked', reason: 'gc-breaker-tripped', resource: 'AKIASTRAY' }));
      expect(actions).toContainEqual(expect.objectContaining({ kind: 'trip-gc-breaker', planned: expect.arrayContaining([id]) }));
    });

    /** The ratio rule from the second deletion on, as it was before GC_BREAKER_MIN_DELETIONS. */
    const RATIO_FROM_2: GcPolicy = { ...GC, minDeletionsForRatio: 2 };

    it('lets 2 of 5 (40 %) go', () => {
      const actions = plan(fleet(2), POLICY, { gc: RATIO_FROM_2 });
      expect(actions.filter((a) => a.kind === 'forget-resource')).toHaveLength(2);
      expect(kinds(actions)).not.toContain('trip-gc-breaker');
    });

    it('trips at 3 of 5 (60 %): nothing is deleted, every held add-on is reported', () => {
      const actions = plan(fleet(3), POLICY, { gc: RATIO_FROM_2 });
      expect(deletes(actions)).toEqual([]);
      expect(actions.filter((a) => a.kind === 'blocked' && a.reason === 'gc-breaker-tripped')).toHaveLength(3);
      expect(actions).toContainEqual(expect.objectContaining({ kind: 'trip-gc-breaker', accountId: ACCOUNT }));
    });

    it('trips on the count alone', () => {
      const actions = plan(fleet(3), POLICY, { gc: { ...GC, maxDeletions: 2, maxDeletionRatio: 1 } });
      expect(deletes(actions)).toEqual([]);
    });

    it('once approved, exactly the planned deletions proceed', () => {
      const input = fleet(3);
      const planned = [...input.records.keys()].slice(0, 3);
      input.breakers = new Map([[ACCOUNT, { accountId: ACCOUNT, trippedAt: NOW, planned, approvedAt: NOW }]]);
      const actions = plan(input, POLICY, { gc: RATIO_FROM_2 });
      expect(actions.filter((a) => a.kind === 'forget-resource').map((a) => a.addonId).sort()).toEqual(planned.sort());
      expect(kinds(actions)).not.toContain('trip-gc-breaker');
    });

    it('stays tripped without approval, and does not trip again for the same plan', () => {
      const input = fleet(3);
      const planned = [...input.records.keys()].slice(0, 3);
      input.breakers = new Map([[ACCOUNT, { accountId: ACCOUNT, trippedAt: NOW, planned, approvedAt: null }]]);
      const actions = plan(input, POLICY, { gc: RATIO_FROM_2 });
      expect(deletes(actions)).toEqual([]);
      expect(kinds(actions)).not.toContain('trip-gc-breaker');
    });

    it('resets when the add-ons come back', () => {
      const input = fleet(0);
      input.breakers = new Map([[ACCOUNT, { accountId: ACCOUNT, trippedAt: NOW, planned: ['x'], approvedAt: null }]]);
      expect(kinds(plan(input, POLICY, { gc: GC })).filter((k) => k.includes('gc-breaker'))).toEqual(['reset-gc-breaker']);
    });
  });

  it('ignores teams and records of other accounts it cannot see', () => {
    const input = removed(expired());
    input.records = new Map([[ADDON, record({ ...expired(), teamId: 'other-team' })]]);
    expect(deletes(plan(input, POLICY, { gc: GC }))).toEqual([]);
    expect(TEAM).not.toBe('other-team');
  });
});

describe('resources the store lost (issue 13: a store wiped, or restored from an older backup)', () => {
  const stray = (tags: Record<string, string>) => {
    const input = inSync();
    input.desired[0]!.addons = [];
    input.records = new Map();
    input.deliveries = [];
    input.observed = new Map([[ACCOUNT, account([syncedBucket()], [syncedUser({ tags })])]]);
    return input;
  };

  it('a user of ours no record and no add-on knows gets its record back from its tags, its plan unknown', () => {
    const actions = plan(stray(ownershipTags(POLICY, addon())), POLICY, { gc: { ...GC, defaultRegion: 'eu-west-1' } });
    expect(actions).toEqual([
      expect.objectContaining({
        kind: 'record-resource',
        reason: 'orphaned-user',
        record: expect.objectContaining({ addonId: ADDON, teamId: TEAM, appId: 'app-0001', plan: UNKNOWN_PLAN, resourceName: BUCKET, userName: USER, region: 'eu-west-1', accessKeyId: null }),
      }),
    ]);
  });

  it('a user of another instance, or with no add-on id, or of a kind this controller lacks, is not ours to record', () => {
    expect(plan(stray({ ...ownershipTags(POLICY, addon()), [TAG.instance]: 'another' }), POLICY, { gc: GC })).toEqual([]);
    // Recorded as a bucket, it would be torn down as one; its own kind's resources are unknown here.
    expect(plan(stray({ ...ownershipTags(POLICY, addon()), [TAG.kind]: 'queue' }), POLICY, { gc: GC })).toEqual([]);
    const { [TAG.addonId]: _gone, ...noAddon } = ownershipTags(POLICY, addon());
    expect(plan(stray(noAddon), POLICY, { gc: GC })).toEqual([]);
  });

  /** The store lost mid-teardown, after the user was gone: only the bucket is left, listed by the tagging API. */
  const strayBucket = (tags: Record<string, string>, name = BUCKET, users: ReturnType<typeof syncedUser>[] = []) => {
    const input = stray({});
    input.observed = new Map([[ACCOUNT, account([], users, { unknownResources: new Map([['bucket', new Map([[name, { name, region: 'eu-central-1', tags }]])]]) })]]);
    return input;
  };

  it('a bucket of ours whose user is gone gets its record back from its tags, in its region, its plan unknown (the tag is read at teardown)', () => {
    const actions = plan(strayBucket(bucketTagsFor(POLICY, addon({ plan: 's3-bucket:archive' }))), POLICY, { gc: GC });
    expect(actions).toEqual([
      expect.objectContaining({
        kind: 'record-resource',
        reason: 'orphaned-bucket',
        record: expect.objectContaining({ addonId: ADDON, teamId: TEAM, plan: UNKNOWN_PLAN, resourceName: BUCKET, userName: USER, region: 'eu-central-1' }),
      }),
    ]);
  });

  it('a user and a bucket of the same lost add-on make one record, in the bucket’s region; a bucket of another add-on at that name gives none', () => {
    const user = [syncedUser({ tags: ownershipTags(POLICY, addon()) })];
    const actions = plan(strayBucket(bucketTagsFor(POLICY, addon()), BUCKET, user), POLICY, { gc: { ...GC, defaultRegion: 'eu-west-1' } });
    expect(actions).toEqual([expect.objectContaining({ kind: 'record-resource', reason: 'orphaned-user', record: expect.objectContaining({ plan: UNKNOWN_PLAN, region: 'eu-central-1' }) })]);
    const other = plan(strayBucket(bucketTagsFor(POLICY, addon({ addonId: 'someone-else' })), BUCKET, user), POLICY, { gc: { ...GC, defaultRegion: 'eu-west-1' } });
    expect(other).toEqual([expect.objectContaining({ kind: 'record-resource', reason: 'orphaned-user', record: expect.objectContaining({ region: 'eu-west-1' }) })]);
    // Its bucket's region could not be read this pass: no record yet, rather than a guessed region.
    const unread = strayBucket(bucketTagsFor(POLICY, addon()), BUCKET, user);
    unread.observed.get(ACCOUNT)!.unknownResources!.get('bucket')!.get(BUCKET)!.region = null;
    expect(plan(unread, POLICY, { gc: GC })).toEqual([]);
  });

  it('learns a rebuilt record’s plan from Heroku while it lists the add-on as deprovisioned, whatever the bucket’s tag says', () => {
    const input = removed({ plan: UNKNOWN_PLAN }, { status: 'deprovisioned', plan: 's3-bucket:archive' });
    input.observed = new Map([[ACCOUNT, account([syncedBucket({ tags: bucketTagsFor(POLICY, addon({ plan: 's3-bucket:standard' })) })], [syncedUser()])]]);
    expect(plan(input, POLICY, { gc: GC })).toContainEqual(expect.objectContaining({ kind: 'update-record', changes: { plan: 's3-bucket:archive' } }));
  });

  it('a bucket of another instance, at a name not its add-on’s, or of an add-on the store or Heroku knows, is not recorded again', () => {
    const tags = bucketTagsFor(POLICY, addon());
    expect(plan(strayBucket({ ...tags, [TAG.instance]: 'another' }), POLICY, { gc: GC })).toEqual([]);
    expect(plan(strayBucket(tags, `${BUCKET}-lookalike`), POLICY, { gc: GC })).toEqual([]);
    const known = strayBucket(tags);
    known.records = new Map([[ADDON, record()]]);
    const recordedAgain = (actions: Action[]) => actions.filter((a) => a.reason === 'orphaned-bucket' || a.reason === 'orphaned-user');
    expect(recordedAgain(plan(known, POLICY, { gc: GC }))).toEqual([]);
    const wanted = strayBucket(tags);
    wanted.desired[0]!.addons = [addon()];
    expect(recordedAgain(plan(wanted, POLICY, { gc: GC }))).toEqual([]);
  });

  it('keeps the bucket of a record whose plan is unknown and whose bucket names none: only its user, keys and config vars go', () => {
    const input = removed({ ...expired(), plan: UNKNOWN_PLAN });
    const { [TAG.plan]: _plan, ...untagged } = bucketTagsFor(POLICY, addon());
    input.observed = new Map([[ACCOUNT, account([syncedBucket({ tags: untagged })], [syncedUser()])]]);
    const actions = plan(input, POLICY, { gc: GC });
    expect(kinds(actions)).toEqual(['remove-config-vars', 'remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'forget-resource']);
    expect(actions.at(-1)).toMatchObject({ retained: true });
  });

  it('reads retention from the plan tag on the bucket too: an older or lost record plan does not delete a retaining plan’s data', () => {
    const profiles = { archive: { retain: true } };
    for (const recordPlan of [UNKNOWN_PLAN, 's3-bucket:standard']) {
      const input = removed({ ...expired(), plan: recordPlan });
      input.observed = new Map([[ACCOUNT, account([syncedBucket({ tags: bucketTagsFor(POLICY, addon({ plan: 's3-bucket:archive' })) })], [syncedUser()])]]);
      const actions = plan(input, POLICY, { gc: GC, profiles });
      expect(actions.filter((a) => ['delete-bucket-policy', 'empty-bucket', 'delete-bucket'].includes(a.kind))).toEqual([]);
      expect(actions.at(-1)).toMatchObject({ kind: 'forget-resource', retained: true });
    }
    // A non-retaining plan on the bucket lets an unknown record plan go.
    const known = plan(removed({ ...expired(), plan: UNKNOWN_PLAN }), POLICY, { gc: GC, profiles });
    expect(kinds(known)).toContain('delete-bucket');
  });

  it('learns the plan from Heroku while the add-on is still listed as deprovisioned', () => {
    const actions = plan(removed({ plan: UNKNOWN_PLAN }, { status: 'deprovisioned', plan: 's3-bucket:standard' }), POLICY, { gc: GC });
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'update-record', changes: { plan: 's3-bucket:standard' } }));
  });
});

describe('an attachment name another add-on takes over on the app (issue 13, defect 1 and seed 2468)', () => {
  const OTHER = 'addon-other';
  /** The orphan's teardown, with add-on OTHER attached as BUCKET on the orphan's first app; its bucket name taken by someone else when `squatted`. */
  const takenOver = (squatted: boolean) => {
    const input = removed(expired());
    const other = addon({ addonId: OTHER, addonName: 's3-bucket-other', attachments: [{ id: 'att-9', name: 'BUCKET', appId: 'app-0001', appName: 'acme-web' }] });
    input.desired[0]!.addons = [other];
    const squat = { name: bucketNameFor(POLICY, ACCOUNT, OTHER), creationDate: NOW, tags: { owner: 'someone-else' }, settings: null };
    input.observed = new Map([[ACCOUNT, account([syncedBucket(), ...(squatted ? [squat] : [])], [syncedUser()])]]);
    return plan(input, POLICY, { gc: GC });
  };
  const removedOnFirstApp = (actions: Action[]) => actions.find((a) => a.kind === 'remove-config-vars' && a.appId === 'app-0001') as (Action & { kind: 'remove-config-vars' }) | undefined;

  it('keeps the names the new add-on delivers in this pass: its delivery may run beside the removal', () => {
    const actions = takenOver(false);
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'deliver-config-vars', addonId: OTHER }));
    expect(removedOnFirstApp(actions)!.varNames).toEqual([]);
  });

  it('removes them when the new add-on is blocked: it delivers nothing, and the old vars (checked on the app) would stay dead', () => {
    const actions = takenOver(true);
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'blocked', addonId: OTHER }));
    expect(actions).not.toContainEqual(expect.objectContaining({ kind: 'deliver-config-vars', addonId: OTHER }));
    expect(removedOnFirstApp(actions)!.varNames).toEqual(Object.values(configVarNames('BUCKET')));
  });
});

describe('an add-on blocked on one attachment still delivers on the others', () => {
  it('keeps its names there: a gone add-on’s removal would race its delivery', () => {
    const input = removed(expired());
    const OTHER = 'addon-other';
    const other = addon({
      addonId: OTHER,
      attachments: [
        { id: 'att-9', name: 'BUCKET', appId: 'app-0001', appName: 'acme-web' },
        { id: 'att-10', name: 'CLASH', appId: 'app-0003', appName: 'acme-ops' },
      ],
      // CLASH_URL is a var the add-on itself owns: that attachment is blocked, the other is not.
      ownedConfigVars: ['CLASH_URL'],
    });
    input.desired[0]!.addons = [other];
    const actions = plan(input, POLICY, { gc: GC });
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'blocked', addonId: OTHER, reason: 'config-var-conflict' }));
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'deliver-config-vars', addonId: OTHER, appId: 'app-0001' }));
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'remove-config-vars', addonId: ADDON, appId: 'app-0001', varNames: [] }));
  });
});

describe('a blocked add-on keeps its own names on an app', () => {
  it('an old delivery of its own, under the name its live attachment has now, removes none of them', () => {
    const input = inSync();
    // Attached as BUCKET again (a new attachment id) after an older BUCKET attachment was detached.
    const a = addon({ attachments: [{ id: 'att-new', name: 'BUCKET', appId: 'app-0001', appName: 'acme-web' }] });
    input.desired[0]!.addons = [a];
    input.deliveries = [...deliveriesFor(a, record()), ...deliveriesFor(addon({ attachments: [{ id: 'att-old', name: 'BUCKET', appId: 'app-0001', appName: 'acme-web' }] }), record())];
    // Blocked: another instance's tags on its bucket.
    input.observed = new Map([[ACCOUNT, account([syncedBucket({ tags: { ...bucketTagsFor(POLICY, addon()), [TAG.instance]: 'another' } })], [syncedUser()])]]);
    const actions = plan(input, POLICY, { gc: GC });
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'blocked', addonId: ADDON }));
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'remove-config-vars', attachmentId: 'att-old', varNames: [] }));
  });
});

describe('marking orphans (invariant 1)', () => {
  it('tags only a bucket and user that carry our ownership tags', () => {
    const input = removed();
    input.observed = new Map([[ACCOUNT, account([syncedBucket({ tags: {} })], [syncedUser()])]]);
    const [action] = plan(input, POLICY, { gc: GC });
    expect(action).toMatchObject({ kind: 'mark-orphan', tagBucket: false, tagUser: true });
  });
});

describe('retain by plan profile', () => {
  it('keeps the bucket of a plan whose profile retains it', () => {
    const input = removed({ ...expired(), plan: 's3-bucket:archive' });
    const actions = plan(input, POLICY, { gc: GC, profiles: { archive: { retain: true } } });
    expect(kinds(actions)).toEqual(['remove-config-vars', 'remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'forget-resource']);
    expect(actions.at(-1)).toMatchObject({ retained: true });
  });
});

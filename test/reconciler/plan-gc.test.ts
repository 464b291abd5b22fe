import { describe, expect, it } from 'vitest';
import type { Action } from '../../src/reconciler/actions.js';
import type { PlanInput } from '../../src/reconciler/model.js';
import { plan } from '../../src/reconciler/plan.js';
import type { GcPolicy } from '../../src/reconciler/plan-gc.js';
import { TAG, ownershipTags } from '../../src/reconciler/spec.js';
import { ACCOUNT, ADDON, BUCKET, NOW, POLICY, TEAM, USER, account, addon, inSync, record, syncedBucket, syncedUser } from './fixtures.js';

const GC: GcPolicy = { mode: 'enabled', graceDeprovisionedMs: 5 * 60_000, graceOrphanedMs: 24 * 3_600_000, maxDeletions: 10, maxDeletionRatio: 0.5 };
const HOUR = 3_600_000;
const kinds = (actions: Action[]) => actions.map((a) => a.kind);
const DELETES = ['remove-config-vars', 'delete-user-keys', 'delete-user-policies', 'delete-user', 'delete-bucket-policy', 'empty-bucket', 'delete-bucket', 'forget-resource'];
const deletes = (actions: Action[]) => actions.filter((a) => DELETES.includes(a.kind));

/** The fixture world with the add-on removed from Heroku (its team read otherwise complete). */
function removed(overrides: Partial<ReturnType<typeof record>> = {}): PlanInput {
  const input = inSync();
  input.desired[0]!.addons = [];
  input.records = new Map([[ADDON, record(overrides)]]);
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
      const input = inSync();
      const ids = Array.from({ length: 5 }, (_, i) => `00000000-0000-4000-8000-00000000000${i}`);
      input.desired[0]!.addons = ids.slice(gone).map((id) => addon({ addonId: id }));
      input.records = new Map(ids.map((id, i) => [id, record({ addonId: id, bucketName: `b-${id}`, userName: `u-${id}`, ...(i < gone ? expired() : {}) })]));
      input.deliveries = [];
      input.observed = new Map([[ACCOUNT, account([], [])]]);
      return input;
    }

    it('lets 2 of 5 (40 %) go', () => {
      const actions = plan(fleet(2), POLICY, { gc: GC });
      expect(actions.filter((a) => a.kind === 'forget-resource')).toHaveLength(2);
      expect(kinds(actions)).not.toContain('trip-gc-breaker');
    });

    it('trips at 3 of 5 (60 %): nothing is deleted, every held add-on is reported', () => {
      const actions = plan(fleet(3), POLICY, { gc: GC });
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
      const actions = plan(input, POLICY, { gc: GC });
      expect(actions.filter((a) => a.kind === 'forget-resource').map((a) => a.addonId).sort()).toEqual(planned.sort());
      expect(kinds(actions)).not.toContain('trip-gc-breaker');
    });

    it('stays tripped without approval, and does not trip again for the same plan', () => {
      const input = fleet(3);
      const planned = [...input.records.keys()].slice(0, 3);
      input.breakers = new Map([[ACCOUNT, { accountId: ACCOUNT, trippedAt: NOW, planned, approvedAt: null }]]);
      const actions = plan(input, POLICY, { gc: GC });
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

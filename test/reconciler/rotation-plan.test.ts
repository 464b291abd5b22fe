/**
 * The rotation's planning rules as a table (reconciler/rotation.ts): what the next step is, from
 * the record's key, the user's keys as listed and the rotation's row, including the states a crash
 * leaves behind; which add-ons of a team may start (pacing); and the deactivation breaker.
 */
import { describe, expect, it } from 'vitest';
import type { Action } from '../../src/reconciler/actions.js';
import type { ObservedAccessKey } from '../../src/reconciler/model.js';
import { DEFAULT_ROTATION_POLICY, MIN_DEACTIVATIONS_FOR_RATIO, admitRotations, holdMassDeactivations, planRotation, rotationDueAt, type RotationInput } from '../../src/reconciler/rotation.js';
import type { KeyRotation } from '../../src/store/types.js';
import { ACCOUNT, ADDON, NOW, USER, addon, record } from './fixtures.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const OLD = 'AKIAOLD0000000000001';
const NEW = 'AKIANEW0000000000002';
const active = (accessKeyId: string): ObservedAccessKey => ({ accessKeyId, status: 'Active' });
const inactive = (accessKeyId: string): ObservedAccessKey => ({ accessKeyId, status: 'Inactive' });

function rotation(overrides: Partial<KeyRotation> = {}): KeyRotation {
  return {
    addonId: ADDON,
    accountId: ACCOUNT,
    oldAccessKeyId: OLD,
    newAccessKeyId: null,
    trigger: 'on-demand',
    step: 'requested',
    requestedAt: new Date(NOW.getTime() - DAY),
    requestedBy: 'cli:test',
    stepAt: new Date(NOW.getTime() - DAY),
    deliveredAt: null,
    deactivatedAt: null,
    approvedAt: new Date(NOW.getTime() - DAY),
    ...overrides,
  };
}

function input(overrides: Partial<RotationInput> = {}): RotationInput {
  return {
    addon: addon(),
    accountId: ACCOUNT,
    userName: USER,
    record: record({ accessKeyId: NEW }),
    rotation: rotation(),
    keys: [active(OLD), active(NEW)],
    admitted: true,
    policy: DEFAULT_ROTATION_POLICY,
    now: NOW,
    ...overrides,
  };
}

const kinds = (actions: Action[]) => actions.map((a) => (a.kind === 'blocked' ? `blocked:${a.reason}` : a.kind));
const steps = (i: RotationInput) => {
  const p = planRotation(i);
  return { start: kinds(p.start), after: kinds(p.after), keeps: p.keeps };
};

describe('planRotation', () => {
  it.each([
    ['not started, admitted, the old key alone', input({ record: record({ accessKeyId: OLD }), keys: [active(OLD)] }), { start: ['create-rotation-key'], after: ['mark-rotation-delivered'], keeps: null }],
    ['emergency: delivered and deactivated in the same pass', input({ record: record({ accessKeyId: OLD }), keys: [active(OLD)], rotation: rotation({ trigger: 'emergency' }) }), { start: ['create-rotation-key'], after: ['mark-rotation-delivered', 'deactivate-access-key'], keeps: null }],
    ['not admitted (pacing): waits', input({ record: record({ accessKeyId: OLD }), keys: [active(OLD)], admitted: false }), { start: [], after: [], keeps: null }],
    ['an unrecorded key takes the second slot (a crashed attempt): waits for the usual plan to delete it', input({ record: record({ accessKeyId: OLD }), keys: [active(OLD), active('AKIALOST')] }), { start: [], after: [], keeps: null }],
    ['keys not listed this pass: nothing decided, the old key still kept', input({ keys: null }), { start: [], after: [], keeps: OLD }],
    ['made, not marked delivered (a pass died after the new key)', input({ rotation: rotation({ step: 'creating' }) }), { start: [], after: ['mark-rotation-delivered'], keeps: OLD }],
    ['delivered, within the overlap', input({ rotation: rotation({ step: 'delivered', deliveredAt: new Date(NOW.getTime() - HOUR / 2) }) }), { start: [], after: [], keeps: OLD }],
    ['delivered, the overlap over', input({ rotation: rotation({ step: 'delivered', deliveredAt: new Date(NOW.getTime() - HOUR) }) }), { start: [], after: ['deactivate-access-key'], keeps: OLD }],
    ['delivered, old key already inactive (a pass died before writing it down)', input({ keys: [inactive(OLD), active(NEW)], rotation: rotation({ step: 'delivered', deliveredAt: NOW }) }), { start: [], after: ['deactivate-access-key'], keeps: OLD }],
    ['deactivated, within the grace', input({ keys: [inactive(OLD), active(NEW)], rotation: rotation({ step: 'deactivated', deactivatedAt: new Date(NOW.getTime() - HOUR) }) }), { start: [], after: [], keeps: OLD }],
    ['deactivated, the grace over', input({ keys: [inactive(OLD), active(NEW)], rotation: rotation({ step: 'deactivated', deactivatedAt: new Date(NOW.getTime() - DAY) }) }), { start: [], after: ['delete-access-key'], keeps: OLD }],
    ['deactivated, but switched on again by someone', input({ rotation: rotation({ step: 'deactivated', deactivatedAt: new Date(NOW.getTime() - HOUR) }) }), { start: [], after: ['deactivate-access-key'], keeps: OLD }],
    ['reactivated: reported until an operator resumes', input({ rotation: rotation({ step: 'reactivated' }) }), { start: [], after: ['blocked:rotated-key-in-use'], keeps: OLD }],
    ['reactivated, but the key is still off (a pass died after writing the intent)', input({ keys: [inactive(OLD), active(NEW)], rotation: rotation({ step: 'reactivated' }) }), { start: [], after: ['reactivate-access-key', 'blocked:rotated-key-in-use'], keeps: OLD }],
    ['the old key is gone: the rotation ends', input({ keys: [active(NEW)], rotation: rotation({ step: 'deactivated', deactivatedAt: NOW }) }), { start: [], after: ['finish-rotation'], keeps: null }],
  ])('%s', (_name, given, expected) => {
    expect(steps(given)).toEqual(expected);
  });

  it('deletes a rotated-out key only with the check of its last use, and never deactivates the record\'s key', () => {
    const grace = planRotation(input({ keys: [inactive(OLD), active(NEW)], rotation: rotation({ step: 'deactivated', deactivatedAt: new Date(NOW.getTime() - DAY) }) }));
    expect(grace.after[0]).toMatchObject({ kind: 'delete-access-key', accessKeyId: OLD, rotation: { emergency: false } });
    const overlap = planRotation(input({ rotation: rotation({ step: 'delivered', deliveredAt: new Date(NOW.getTime() - HOUR) }) }));
    expect(overlap.after[0]).toMatchObject({ kind: 'deactivate-access-key', accessKeyId: OLD, approved: true });
  });

  it('an age rotation names a key past KEY_MAX_AGE as drift, and one only nearing it as maintenance', () => {
    const aged = (days: number) => input({ rotation: null, record: record({ accessKeyId: OLD, accessKeyCreatedAt: new Date(NOW.getTime() - days * DAY) }), keys: [active(OLD)] });
    expect(planRotation(aged(91)).start[0]!.reason).toBe('key-past-max-age');
    expect(planRotation(aged(85)).start[0]!.reason).toBe('rotation-due');
  });
});

describe('rotationDueAt', () => {
  it('spreads add-ons made at one moment over 80%–90% of KEY_MAX_AGE', () => {
    const made = new Date('2026-01-01T00:00:00Z');
    const due = Array.from({ length: 500 }, (_, i) => (rotationDueAt(`addon-${i}`, made, 90 * DAY).getTime() - made.getTime()) / DAY);
    expect(Math.min(...due)).toBeGreaterThanOrEqual(72);
    expect(Math.max(...due)).toBeLessThan(81);
    // Spread, not bunched: every ninth of the window holds some.
    const buckets = new Set(due.map((d) => Math.floor(d - 72)));
    expect(buckets.size).toBe(9);
  });
});

describe('admitRotations', () => {
  const team = (n: number, appsEach = 1) =>
    Array.from({ length: n }, (_, i) =>
      addon({ addonId: `a${i}`, attachments: Array.from({ length: appsEach }, (_, j) => ({ id: `att-${i}-${j}`, name: 'BUCKET', appId: `app-${i}-${j}`, appName: `app-${i}-${j}` })) }),
    );
  const records = (n: number, days = 91) => new Map(Array.from({ length: n }, (_, i) => [`a${i}`, record({ addonId: `a${i}`, accessKeyCreatedAt: new Date(NOW.getTime() - (days + i) * DAY) })]));
  const policy = { ...DEFAULT_ROTATION_POLICY, maxConcurrentApps: 3 };

  it('admits up to the team\'s apps limit, oldest keys first', () => {
    expect([...admitRotations(team(10), records(10), new Map(), policy, NOW, true)].sort()).toEqual(['a7', 'a8', 'a9']);
  });

  it('counts apps already restarting, admits an add-on with more apps than the limit alone, and never holds back a compromised key', () => {
    const restarting = new Map([['a0', rotation({ addonId: 'a0', step: 'delivered', deliveredAt: NOW, trigger: 'age' })]]);
    const recs = records(4);
    recs.set('a0', record({ addonId: 'a0', accessKeyId: NEW }));
    expect([...admitRotations(team(4), recs, restarting, policy, NOW, true)].sort()).toEqual(['a2', 'a3']);
    expect([...admitRotations(team(2, 5), records(2), new Map(), policy, NOW, true)]).toEqual(['a1']);
    const emergency = new Map([['a0', rotation({ addonId: 'a0', trigger: 'emergency', oldAccessKeyId: record().accessKeyId! })]]);
    const full = new Map([...emergency, ['a1', rotation({ addonId: 'a1', step: 'creating', oldAccessKeyId: record().accessKeyId! })]]);
    expect([...admitRotations(team(2, 5), records(2), full, policy, NOW, true)].sort()).toEqual(['a0', 'a1']);
  });

  it('starts no age rotation without a policy, but goes on with requested ones', () => {
    expect(admitRotations(team(3), records(3), new Map(), policy, NOW, false).size).toBe(0);
    const requested = new Map([['a1', rotation({ addonId: 'a1', oldAccessKeyId: record().accessKeyId! })]]);
    expect([...admitRotations(team(3), records(3), requested, policy, NOW, false)]).toEqual(['a1']);
  });
});

describe('holdMassDeactivations', () => {
  const deactivation = (i: number, approved = false): Action => ({
    addonId: `a${i}`, accountId: ACCOUNT, kind: 'deactivate-access-key', reason: 'rotation-overlap-over', userName: `u${i}`, accessKeyId: `AKIA${i}`, approved, attachments: [],
  });
  const policy = { ...DEFAULT_ROTATION_POLICY, maxDeactivationRatio: 0.5 };

  it('holds every unapproved deactivation of an account past the ratio, from the minimum count on', () => {
    const n = MIN_DEACTIVATIONS_FOR_RATIO;
    const many = Array.from({ length: n }, (_, i) => deactivation(i));
    expect(kinds(holdMassDeactivations(many, new Map([[ACCOUNT, n]]), policy))).toEqual(Array(n).fill('blocked:rotation-breaker-tripped'));
    // Under the ratio, or under the minimum count: nothing held.
    expect(kinds(holdMassDeactivations(many, new Map([[ACCOUNT, 4 * n]]), policy))).toEqual(Array(n).fill('deactivate-access-key'));
    expect(kinds(holdMassDeactivations(many.slice(0, n - 1), new Map([[ACCOUNT, n - 1]]), policy))).toEqual(Array(n - 1).fill('deactivate-access-key'));
    // Approved ones (an operator's) are neither counted nor held.
    const approved = [...many.slice(0, 1), ...Array.from({ length: 10 }, (_, i) => deactivation(10 + i, true))];
    expect(kinds(holdMassDeactivations(approved, new Map([[ACCOUNT, 11]]), policy))).toEqual(Array(11).fill('deactivate-access-key'));
  });
});

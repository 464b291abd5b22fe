import { describe, expect, it } from 'vitest';
import { buildDriftReport } from '../../src/reconciler/drift-report.js';
import { plan } from '../../src/reconciler/plan.js';
import { ACCOUNT, ADDON, BUCKET, NOW, POLICY, SECRET, account, inSync, link, record, syncedBucket, syncedSettings, syncedUser } from './fixtures.js';

describe('buildDriftReport', () => {
  it('reports an add-on in sync as in sync', () => {
    const input = inSync();
    const report = buildDriftReport(input.desired, plan(input, POLICY), NOW);
    expect(report).toEqual({
      generatedAt: NOW.toISOString(),
      summary: { managed: 1, inSync: 1, drifted: 0, missing: 0, orphaned: 0, flapping: 0 },
      items: [],
    });
  });

  it('reports a missing bucket as one item, not one per setting it will get', () => {
    const input = { ...inSync(), observed: new Map([[ACCOUNT, account([], [syncedUser()])]]) };
    const report = buildDriftReport(input.desired, plan(input, POLICY), NOW);
    expect(report.items).toEqual([
      { kind: 'missing-bucket', status: 'repairable', accountId: ACCOUNT, addonId: ADDON, resource: BUCKET, field: 'bucket', expected: 'exists', actual: 'missing' },
    ]);
    expect(report.summary).toMatchObject({ managed: 1, inSync: 0, drifted: 1, missing: 1 });
  });

  it('gives each drifted attribute its field, expected and actual value, and flapping ones their status', () => {
    const settings = syncedSettings();
    settings.objectOwnership = 'ObjectWriter';
    settings.publicAccessBlock = null;
    const input = { ...inSync(), observed: new Map([[ACCOUNT, account([syncedBucket({ settings })], [syncedUser()])]]) };
    input.recentRepairs = new Map([[`${ADDON}|put-public-access-block|${BUCKET}|public-access-block-changed`, 5]]);
    const report = buildDriftReport(input.desired, plan(input, POLICY, { maxRepairs: 3 }), NOW);
    expect(report.items.map((i) => [i.kind, i.status, i.field, i.expected, i.actual])).toEqual([
      ['public-access-block-changed', 'flapping', 'publicAccessBlock', expect.stringContaining('"blockPublicAcls":true'), null],
      ['ownership-changed', 'repairable', 'objectOwnership', 'BucketOwnerEnforced', 'ObjectWriter'],
    ]);
    expect(report.summary.flapping).toBe(1);
  });

  it('reports a record that only followed its add-on as no drift, and two keys nobody can free as a blocked missing key', () => {
    const moved = inSync();
    moved.records = new Map([[ADDON, { ...moved.records.get(ADDON)!, teamId: 'team-old' }]]);
    const actions = plan(moved, POLICY);
    expect(actions.map((a) => a.kind)).toEqual(['update-record']);
    expect(buildDriftReport(moved.desired, actions, NOW).items).toEqual([]);

    const stuck = { ...inSync(), records: new Map(), deliveries: [] };
    stuck.observed = new Map([[ACCOUNT, account([syncedBucket()], [syncedUser({ accessKeys: [{ accessKeyId: 'AKIAONE', status: 'Active' }, { accessKeyId: 'AKIATWO', status: 'Active' }] })])]]);
    const items = buildDriftReport(stuck.desired, plan(stuck, POLICY), NOW).items;
    expect(items).toContainEqual(expect.objectContaining({ kind: 'missing-key', status: 'blocked', field: 'accessKeys' }));
  });

  it('reports a waiting orphan as its kind says: a bucket record whose resource row was lost is still an orphaned bucket', () => {
    const orphan = { since: NOW, reason: 'orphaned' as const, deleteAfter: new Date(NOW.getTime() + 3_600_000) };
    for (const resourceName of [BUCKET, null]) {
      const report = buildDriftReport([], [], NOW, { records: [record({ resourceName, orphan })], links: [link()] });
      expect(report.items).toEqual([expect.objectContaining({ addonId: ADDON, kind: 'orphaned-bucket', status: 'waiting' })]);
      expect(report.summary.orphaned).toBe(1);
    }
  });

  it('never carries a secret value', () => {
    const input = inSync();
    input.deliveries = [];
    input.observed.get(ACCOUNT)!.users.get(syncedUser().userName)!.accessKeys = [];
    const report = buildDriftReport(input.desired, plan(input, POLICY), NOW);
    expect(report.items.length).toBeGreaterThan(0);
    expect(JSON.stringify(report)).not.toContain(SECRET);
  });
});

describe('keys past KEY_MAX_AGE', () => {
  const DAY = 86_400_000;
  it('a delivered key past the limit whose rotation waits its turn is reported as waiting; one being rotated, once', () => {
    const old = record({ accessKeyCreatedAt: new Date(NOW.getTime() - 100 * DAY) });
    const waiting = buildDriftReport([], [], NOW, { records: [old], links: [link()], keyMaxAgeMs: 90 * DAY });
    expect(waiting.items).toEqual([expect.objectContaining({ kind: 'key-past-max-age', status: 'waiting', addonId: ADDON, actual: '100 days old; its rotation waits for its turn' })]);
    // Without the limit (rotation off), or for a young key, nothing.
    expect(buildDriftReport([], [], NOW, { records: [old], links: [link()] }).items).toEqual([]);
    expect(buildDriftReport([], [], NOW, { records: [record({ accessKeyCreatedAt: new Date(NOW.getTime() - 10 * DAY) })], links: [link()], keyMaxAgeMs: 90 * DAY }).items).toEqual([]);
    // Its rotation starting this pass is the one item.
    const rotating = buildDriftReport(
      [],
      [{ addonId: ADDON, accountId: ACCOUNT, kind: 'create-rotation-key', reason: 'key-past-max-age', userName: 'u', oldAccessKeyId: 'AKIAOLD', trigger: 'age', requestedBy: 'controller' }],
      NOW,
      { records: [old], links: [link()], keyMaxAgeMs: 90 * DAY },
    );
    expect(rotating.items.map((i) => [i.kind, i.status])).toEqual([['key-past-max-age', 'repairable']]);
  });

  it('says what such a key waits for when a rotation of the add-on is still in flight, and when GC_MODE keeps it from ending', () => {
    const old = record({ accessKeyCreatedAt: new Date(NOW.getTime() - 100 * DAY) });
    const rotation = (step: 'delivered' | 'deactivated') => ({
      addonId: ADDON, accountId: ACCOUNT, oldAccessKeyId: 'AKIAOLDER', newAccessKeyId: old.accessKeyId, trigger: 'age' as const, step,
      requestedAt: NOW, requestedBy: 'controller', stepAt: NOW, deliveredAt: NOW, deactivatedAt: null, approvedAt: null,
    });
    const actual = (step: 'delivered' | 'deactivated', gcMode: 'enabled' | 'dry-run') =>
      buildDriftReport([], [], NOW, { records: [old], links: [link()], keyMaxAgeMs: 90 * DAY, gcMode, rotations: [rotation(step)] }).items[0]!.actual;
    expect(actual('delivered', 'enabled')).toBe(`100 days old; a rotation is in flight (step delivered since ${NOW.toISOString()}); the next starts once it is over`);
    expect(actual('deactivated', 'dry-run')).toBe(`100 days old; the rotation before it waits to delete its old key (step deactivated since ${NOW.toISOString()}), which GC_MODE=dry-run does not do: set GC_MODE=enabled`);
  });
});

import { describe, expect, it } from 'vitest';
import type { Action } from '../../src/reconciler/actions.js';
import { CLOCK_SKEW_MS, plan } from '../../src/reconciler/plan.js';
import { TAG, USER_POLICY_NAME, bucketNameFor, bucketTagsFor, canonicalPolicy, configVarsFor, tlsOnlyBucketPolicy, userNameFor } from '../../src/reconciler/spec.js';
import { observedResource, type BucketSettings, type ObservedAccount, type ObservedBucket, type PlanInput } from '../../src/reconciler/model.js';
import { buildDriftReport } from '../../src/reconciler/drift-report.js';
import { ACCOUNT, ADDON, BUCKET, KEY_ID, NOW, POLICY, TEAM, USER, account, addon, inSync, link, record, syncedBucket, syncedSettings, syncedUser } from './fixtures.js';

const kinds = (actions: Action[]) => actions.map((a) => a.kind);
const MUTATIONS_ON_FOREIGN = ['create-bucket', 'put-bucket-tags', 'put-bucket-policy', 'create-user', 'put-user-policy', 'create-access-key', 'delete-access-key', 'deliver-config-vars'];

function withObserved(input: PlanInput, buckets: ReturnType<typeof syncedBucket>[], users: ReturnType<typeof syncedUser>[]): PlanInput {
  return { ...input, observed: new Map([[ACCOUNT, account(buckets, users)]]) };
}

describe('plan', () => {
  it('plans nothing when everything is in sync', () => {
    expect(plan(inSync(), POLICY)).toEqual([]);
  });

  it('plans nothing for a bucket record whose resource row was lost (a store restored in part): its bucket is the one its name says', () => {
    const input = inSync();
    input.records.set(ADDON, { ...input.records.get(ADDON)!, resourceName: null });
    expect(plan(input, POLICY)).toEqual([]);
  });

  it('creates everything for a new add-on, in dependency order', () => {
    const input: PlanInput = { ...withObserved(inSync(), [], []), records: new Map(), deliveries: [] };
    expect(kinds(plan(input, POLICY))).toEqual([
      'record-resource',
      'create-bucket',
      'put-bucket-tags',
      'put-public-access-block',
      'put-bucket-ownership-controls',
      'put-bucket-encryption',
      'put-bucket-lifecycle',
      'put-bucket-policy',
      'create-user',
      'put-user-policy',
      'create-access-key',
      'deliver-config-vars',
      'deliver-config-vars',
    ]);
  });

  it('plans nothing for a team that is not linked', () => {
    const input = { ...inSync(), links: [] };
    input.records = new Map();
    expect(plan(input, POLICY)).toEqual([]);
  });

  it('changes nothing in an account whose inventory could not be read', () => {
    const input = { ...inSync(), observed: new Map([[ACCOUNT, account([], [], { complete: false, error: 'Throttling' })]]) };
    const actions = plan(input, POLICY);
    expect(kinds(actions)).toEqual(['blocked']);
    expect(actions[0]!.reason).toBe('observe-failed');
  });

  const settingCases: { reason: string; change: (s: ReturnType<typeof syncedSettings>) => void; kind: Action['kind']; drift: string }[] = [
    { reason: 'Block Public Access switched off by hand', change: (s) => (s.publicAccessBlock = { ...s.publicAccessBlock!, blockPublicPolicy: false }), kind: 'put-public-access-block', drift: 'public-access-block-changed' },
    { reason: 'public access block removed', change: (s) => (s.publicAccessBlock = null), kind: 'put-public-access-block', drift: 'public-access-block-changed' },
    { reason: 'default encryption removed', change: (s) => (s.encryption = null), kind: 'put-bucket-encryption', drift: 'encryption-changed' },
    { reason: 'object ownership set back to ACLs', change: (s) => (s.objectOwnership = 'ObjectWriter'), kind: 'put-bucket-ownership-controls', drift: 'ownership-changed' },
    { reason: 'TLS policy deleted', change: (s) => (s.policy = null), kind: 'put-bucket-policy', drift: 'tls-policy-changed' },
    {
      reason: 'policy loosened with a public read statement',
      change: (s) => {
        const doc = JSON.parse(s.policy!);
        doc.Statement.push({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${BUCKET}/*` });
        s.policy = JSON.stringify(doc);
      },
      kind: 'put-bucket-policy',
      drift: 'tls-policy-changed',
    },
    { reason: 'lifecycle rule removed', change: (s) => (s.lifecycleRules = []), kind: 'put-bucket-lifecycle', drift: 'lifecycle-changed' },
  ];
  it.each(settingCases)('repairs only the drifted setting: $reason', ({ change, kind, drift }) => {
    const settings = syncedSettings();
    change(settings);
    const input = withObserved(inSync(), [syncedBucket({ settings })], [syncedUser()]);
    const actions = plan(input, POLICY);
    expect(actions.map((a) => [a.kind, a.reason])).toEqual([[kind, drift]]);
  });

  it('keeps lifecycle rules that are not ours when repairing ours', () => {
    const settings = syncedSettings();
    const theirs = { id: 'expire-logs', enabled: true, prefix: 'logs/', abortIncompleteMultipartUploadDays: null, raw: { ID: 'expire-logs' } };
    settings.lifecycleRules = [theirs];
    const [action] = plan(withObserved(inSync(), [syncedBucket({ settings })], [syncedUser()]), POLICY);
    expect(action).toMatchObject({ kind: 'put-bucket-lifecycle', desired: { otherRules: [{ ID: 'expire-logs' }] } });
  });

  it('re-tags a bucket whose ownership tags changed with ours only: the write merges them over the tags the bucket has then', () => {
    const bucket = syncedBucket();
    bucket.tags = { ...bucket.tags, [TAG.appId]: 'wrong', 'cost-center': '42' };
    const [action] = plan(withObserved(inSync(), [bucket], [syncedUser()]), POLICY);
    expect(action).toMatchObject({ kind: 'put-bucket-tags', reason: 'tags-changed' });
    // Defect 6 of issue 13: a full tag set built from this (possibly stale) read would erase newer tags.
    expect((action as { tags: Record<string, string> }).tags).toEqual(bucketTagsFor(POLICY, addon()));
  });

  describe('the record follows the add-on (invariant 10)', () => {
    it('a plan change is recorded first, and put on the bucket, so a retaining plan is known at teardown', () => {
      const input = inSync();
      input.desired[0]!.addons[0] = addon({ plan: 's3-bucket:archive' });
      const actions = plan(input, POLICY, { profiles: { archive: { retain: true } } });
      expect(actions).toEqual([
        expect.objectContaining({ kind: 'update-record', reason: 'desired-changed', changes: { plan: 's3-bucket:archive' } }),
        expect.objectContaining({ kind: 'put-bucket-tags', reason: 'tags-changed', tags: expect.objectContaining({ [TAG.plan]: 's3-bucket:archive' }) }),
      ]);
    });

    it('a move to another team and app is recorded, even while the account cannot be read', () => {
      const input = inSync();
      input.desired[0]!.addons[0] = addon({ appId: 'app-0009', teamId: TEAM });
      input.records = new Map([[ADDON, record({ teamId: 'team-old', appId: 'app-0001' })]]);
      input.observed.set(ACCOUNT, { ...input.observed.get(ACCOUNT)!, complete: false, error: 'Throttling' });
      const actions = plan(input, POLICY);
      expect(actions[0]).toMatchObject({ kind: 'update-record', changes: { teamId: TEAM, appId: 'app-0009' } });
      expect(actions[1]).toMatchObject({ kind: 'blocked', reason: 'observe-failed' });
    });
  });

  describe('ownership (safety invariant 1)', () => {
    it('never touches an untagged bucket with our name when we never sent CreateBucket for it', () => {
      const input = withObserved(inSync(), [syncedBucket({ tags: {} })], [syncedUser()]);
      input.records = new Map([[ADDON, record({ resourceCreateStartedAt: null })]]);
      const actions = plan(input, POLICY);
      expect(kinds(actions)).toEqual(['blocked']);
      expect(actions[0]!.reason).toBe('not-owned');
    });

    it('adopts an untagged bucket created by our own interrupted CreateBucket', () => {
      const startedAt = new Date(NOW.getTime() - 60_000);
      const input = withObserved(inSync(), [syncedBucket({ tags: {}, creationDate: new Date(startedAt.getTime() + 500), settings: null })], [syncedUser()]);
      input.records = new Map([[ADDON, record({ resourceCreateStartedAt: startedAt })]]);
      const actions = plan(input, POLICY);
      expect(actions[0]).toMatchObject({ kind: 'put-bucket-tags' });
      expect(kinds(actions)).not.toContain('create-bucket');
      expect(kinds(actions)).not.toContain('blocked');
    });

    it('does not adopt an untagged bucket that existed before our CreateBucket', () => {
      const startedAt = new Date(NOW.getTime() - 60_000);
      const older = new Date(startedAt.getTime() - CLOCK_SKEW_MS - 1_000);
      const input = withObserved(inSync(), [syncedBucket({ tags: {}, creationDate: older })], [syncedUser()]);
      input.records = new Map([[ADDON, record({ resourceCreateStartedAt: startedAt })]]);
      expect(kinds(plan(input, POLICY))).toEqual(['blocked']);
    });

    it('does not adopt a bucket tagged by another controller instance, even after our CreateBucket', () => {
      const tags = { ...syncedBucket().tags, [TAG.instance]: 'other-instance' };
      const input = withObserved(inSync(), [syncedBucket({ tags, creationDate: NOW })], [syncedUser()]);
      input.records = new Map([[ADDON, record({ resourceCreateStartedAt: new Date(NOW.getTime() - 1000) })]]);
      const actions = plan(input, POLICY);
      expect(kinds(actions)).toEqual(['blocked']);
    });

    it('never touches an IAM user without our tags, nor delivers its keys', () => {
      const actions = plan(withObserved(inSync(), [syncedBucket()], [syncedUser({ tags: { owner: 'someone' } })]), POLICY);
      expect(kinds(actions)).toEqual(['blocked']);
      expect(actions[0]).toMatchObject({ reason: 'not-owned', resource: USER });
      expect(actions.some((a) => MUTATIONS_ON_FOREIGN.includes(a.kind))).toBe(false);
    });

    it('without a record, finds the resources in another linked account and blocks there instead of making a second bucket (store lost after a move)', () => {
      const input = inSync();
      input.records = new Map();
      input.deliveries = [];
      input.observed.set(ACCOUNT, account([], []));
      input.observed.set('999999999999', account([], [syncedUser()], { accountId: '999999999999' }));
      const actions = plan(input, POLICY);
      expect(kinds(actions)).toEqual(['record-resource', 'blocked']);
      expect(actions[0]).toMatchObject({ accountId: '999999999999', record: { accountId: '999999999999', resourceName: bucketNameFor(POLICY, '999999999999', ADDON) } });
      expect(actions[1]).toMatchObject({ reason: 'not-owned', message: expect.stringContaining('live in AWS account 999999999999') });
    });

    it('refuses to work when the team was relinked to another account', () => {
      const input = inSync();
      input.records = new Map([[ADDON, record({ accountId: '999999999999' })]]);
      expect(kinds(plan(input, POLICY))).toEqual(['blocked']);
    });
  });

  describe('IAM user', () => {
    it('puts back a user policy changed by hand and removes an extra inline policy', () => {
      const user = syncedUser({
        inlinePolicies: {
          [USER_POLICY_NAME]: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }),
          'added-by-hand': '{}',
        },
      });
      const actions = plan(withObserved(inSync(), [syncedBucket()], [user]), POLICY);
      expect(actions.map((a) => [a.kind, a.reason])).toEqual([
        ['put-user-policy', 'policy-changed'],
        ['delete-user-policy', 'policy-changed'],
      ]);
    });

    it('deletes a key the store does not know (left by a crash) and keeps the recorded one', () => {
      const user = syncedUser({ accessKeys: [{ accessKeyId: KEY_ID, status: 'Active' }, { accessKeyId: 'AKIALEAKED', status: 'Active' }] });
      const actions = plan(withObserved(inSync(), [syncedBucket()], [user]), POLICY);
      expect(actions).toEqual([expect.objectContaining({ kind: 'delete-access-key', accessKeyId: 'AKIALEAKED', reason: 'unrecorded-key' })]);
    });

    it('replaces a deactivated key: new key, delivered everywhere, then the old one deleted', () => {
      const user = syncedUser({ accessKeys: [{ accessKeyId: KEY_ID, status: 'Inactive' }] });
      const actions = plan(withObserved(inSync(), [syncedBucket()], [user]), POLICY);
      expect(kinds(actions)).toEqual(['create-access-key', 'deliver-config-vars', 'deliver-config-vars', 'delete-access-key']);
      expect(actions[3]).toMatchObject({ accessKeyId: KEY_ID });
    });

    it('creates a key when the recorded one was deleted by hand', () => {
      const actions = plan(withObserved(inSync(), [syncedBucket()], [syncedUser({ accessKeys: [] })]), POLICY);
      expect(kinds(actions)).toEqual(['create-access-key', 'deliver-config-vars', 'deliver-config-vars']);
    });

    it('does not judge keys it did not list this pass', () => {
      expect(plan(withObserved(inSync(), [syncedBucket()], [syncedUser({ accessKeys: null })]), POLICY)).toEqual([]);
    });
  });

  describe('IAM user quota (issue 14, point 5)', () => {
    const newAddon = (i: number, teamId = TEAM) =>
      addon({
        addonId: `0f3b1a52-2222-4222-8222-${String(i).padStart(12, '0')}`,
        addonName: `s3-bucket-new-${i}`,
        teamId,
        appId: `app-new-${i}`,
        appName: `new-${i}`,
        attachments: [{ id: `att-new-${i}`, name: 'BUCKET', appId: `app-new-${i}`, appName: `new-${i}` }],
      });
    /** The add-on in sync (its user exists) and `fresh` new add-ons, in an account at `quota`. */
    const world = (fresh: number, quota: ObservedAccount['iamUserQuota']): PlanInput => {
      const input = inSync();
      input.desired[0]!.addons.push(...Array.from({ length: fresh }, (_, i) => newAddon(i)));
      input.observed = new Map([[ACCOUNT, account([syncedBucket()], [syncedUser()], { iamUserQuota: quota })]]);
      return input;
    };
    /** Per new add-on: `made` (its user, bucket and record are planned) or `blocked` (nothing but the block). */
    const outcomes = (actions: Action[], fresh: number) =>
      Array.from({ length: fresh }, (_, i) => {
        const own = actions.filter((a) => a.addonId === newAddon(i).addonId);
        if (own.length === 1 && own[0]!.kind === 'blocked' && own[0]!.reason === 'iam-user-quota') return 'blocked';
        return ['record-resource', 'create-bucket', 'create-user', 'create-access-key'].every((k) => kinds(own).includes(k as Action['kind'])) ? 'made' : kinds(own).join(',');
      });

    const cases: { reason: string; quota: ObservedAccount['iamUserQuota']; fresh: number; expected: string[] }[] = [
      { reason: 'well under the quota: every new add-on is made', quota: { used: 10, quota: 5000 }, fresh: 2, expected: ['made', 'made'] },
      { reason: 'one slot left: the add-on that takes it is made', quota: { used: 4999, quota: 5000 }, fresh: 1, expected: ['made'] },
      { reason: 'at the quota: AWS would refuse the next CreateUser, so nothing of the add-on is made', quota: { used: 5000, quota: 5000 }, fresh: 1, expected: ['blocked'] },
      { reason: 'over the quota (users made by someone else since)', quota: { used: 5003, quota: 5000 }, fresh: 2, expected: ['blocked', 'blocked'] },
      { reason: 'users planned earlier in the same pass count: two slots, three new add-ons', quota: { used: 4998, quota: 5000 }, fresh: 3, expected: ['made', 'made', 'blocked'] },
      { reason: 'a raised quota is honoured, not the default of 5,000', quota: { used: 5000, quota: 5002 }, fresh: 3, expected: ['made', 'made', 'blocked'] },
      { reason: 'unknown quota (GetAccountSummary refused, or a keyed pass): nothing is held back', quota: null, fresh: 2, expected: ['made', 'made'] },
    ];
    it.each(cases)('$reason', ({ quota, fresh, expected }) => {
      const actions = plan(world(fresh, quota), POLICY);
      expect(outcomes(actions, fresh)).toEqual(expected);
      // The add-on whose user exists is never affected.
      expect(actions.filter((a) => a.addonId === ADDON)).toEqual([]);
    });

    it('says in plain words what is full, that no user is made, and what to do', () => {
      const [blocked] = plan(world(1, { used: 5000, quota: 5000 }), POLICY);
      expect(blocked).toMatchObject({
        kind: 'blocked',
        reason: 'iam-user-quota',
        accountId: ACCOUNT,
        addonId: newAddon(0).addonId,
        resource: userNameFor(POLICY, newAddon(0).addonId),
        detail: { field: 'user', expected: 'exists', actual: 'not created: IAM user quota reached (5000 of 5000)' },
      });
      const message = (blocked as Action & { kind: 'blocked' }).message;
      expect(message).toContain(`AWS account ${ACCOUNT} has reached its IAM user quota (5000 of 5000 used)`);
      expect(message).toContain('no IAM user is made for add-on s3-bucket-new-0');
      expect(message).toMatch(/Delete IAM users .* or ask AWS for a higher quota/);
      // Users this pass makes are named as such.
      const third = plan(world(3, { used: 4998, quota: 5000 }), POLICY).find((a) => a.kind === 'blocked')!;
      expect((third as Action & { kind: 'blocked' }).message).toContain('(4998 of 5000 used, and 2 more being created this pass)');
    });

    it('counts per account: creates planned in one account use up no slot of another', () => {
      const input = world(1, { used: 4999, quota: 5000 });
      const other = '222222222222';
      input.links.push(link({ teamId: 'team-other', accountId: other }));
      input.desired.push({ teamId: 'team-other', teamName: 'other', complete: true, error: null, addons: [newAddon(1, 'team-other')], deprovisioned: [] });
      input.observed.set(other, account([], [], { accountId: other, iamUserQuota: { used: 4999, quota: 5000 } }));
      const actions = plan(input, POLICY);
      expect(actions.filter((a) => a.kind === 'create-user').map((a) => a.accountId)).toEqual([ACCOUNT, other]);
      expect(actions.some((a) => a.kind === 'blocked')).toBe(false);
    });

    it('an existing add-on in a full account: still repaired when its user exists; when its user is gone, its bucket is kept in shape but no user is made', () => {
      const full = { iamUserQuota: { used: 5000, quota: 5000 } };
      const settings = syncedSettings();
      settings.publicAccessBlock = null;
      const drifted = { ...inSync(), observed: new Map([[ACCOUNT, account([syncedBucket({ settings })], [syncedUser({ accessKeys: [] })], full)]]) };
      expect(kinds(plan(drifted, POLICY))).toEqual(['put-public-access-block', 'create-access-key', 'deliver-config-vars', 'deliver-config-vars']);

      const userGone = { ...inSync(), observed: new Map([[ACCOUNT, account([syncedBucket({ settings })], [], full)]]) };
      const actions = plan(userGone, POLICY);
      expect(kinds(actions)).toEqual(['put-public-access-block', 'blocked']);
      expect(actions[1]).toMatchObject({ reason: 'iam-user-quota', resource: USER });
      // Without the quota problem the same world makes the user.
      userGone.observed.get(ACCOUNT)!.iamUserQuota = { used: 4999, quota: 5000 };
      expect(kinds(plan(userGone, POLICY))).toContain('create-user');
    });

    it('shows in the drift report as a missing user, blocked, with the quota', () => {
      const input = world(1, { used: 5000, quota: 5000 });
      const report = buildDriftReport(input.desired, plan(input, POLICY), NOW);
      expect(report.items).toEqual([
        {
          kind: 'missing-user',
          status: 'blocked',
          accountId: ACCOUNT,
          addonId: newAddon(0).addonId,
          resource: userNameFor(POLICY, newAddon(0).addonId),
          field: 'user',
          expected: 'exists',
          actual: 'not created: IAM user quota reached (5000 of 5000)',
        },
      ]);
      expect(report.summary).toMatchObject({ managed: 2, inSync: 1, drifted: 1, missing: 1 });
    });
  });

  describe('access keys across histories (defect 5 of issue 13, invariant 10)', () => {
    /** The store lost its record (store wiped, or a restore from before the add-on existed). */
    const storeLost = (keys: { accessKeyId: string; status: 'Active' | 'Inactive' }[]) => {
      const input = withObserved(inSync(), [syncedBucket()], [syncedUser({ accessKeys: keys })]);
      input.records = new Map();
      input.deliveries = [];
      return input;
    };
    /** What the attached apps hold, as read this pass. */
    const appsHold = (input: PlanInput, keyId: string) => {
      for (const att of addon().attachments) {
        input.configVars.set(att.appId, configVarsFor(att, { resourceName: BUCKET, region: 'us-east-1', accessKeyId: keyId, secretAccessKey: 'secret-the-app-holds' }));
      }
      return input;
    };

    it('after a store loss, adopts the key the apps hold: nothing deleted, nothing created, no delivery yet', () => {
      const actions = plan(appsHold(storeLost([{ accessKeyId: 'AKIALIVE', status: 'Active' }]), 'AKIALIVE'), POLICY);
      expect(kinds(actions)).toEqual(['record-resource', 'adopt-access-key']);
      expect(actions[1]).toMatchObject({ accessKeyId: 'AKIALIVE', appId: 'app-0001', attachmentName: 'BUCKET' });
      expect(JSON.stringify(actions)).not.toContain('secret-the-app-holds');
    });

    it('after a restore from an older backup (recorded key gone), adopts the key the apps hold', () => {
      const input = appsHold(withObserved(inSync(), [syncedBucket()], [syncedUser({ accessKeys: [{ accessKeyId: 'AKIANEWER', status: 'Active' }] })]), 'AKIANEWER');
      expect(kinds(plan(input, POLICY))).toEqual(['adopt-access-key']);
    });

    it('with nothing to adopt, the unknown key goes only after the new one is delivered to every app', () => {
      const input = storeLost([{ accessKeyId: 'AKIAUNKNOWN', status: 'Active' }]);
      expect(kinds(plan(input, POLICY))).toEqual(['record-resource', 'create-access-key', 'deliver-config-vars', 'deliver-config-vars', 'delete-access-key']);
    });

    it('deletes a key apps are seen holding only after they got the recorded one: deliveries first', () => {
      const user = syncedUser({ accessKeys: [{ accessKeyId: KEY_ID, status: 'Active' }, { accessKeyId: 'AKIAONAPP', status: 'Active' }] });
      const input = appsHold(withObserved(inSync(), [syncedBucket()], [user]), 'AKIAONAPP');
      const actions = plan(input, POLICY);
      expect(kinds(actions)).toEqual(['deliver-config-vars', 'deliver-config-vars', 'delete-access-key']);
      expect(actions[2]).toMatchObject({ accessKeyId: 'AKIAONAPP' });
    });

    it('with both slots taken, frees one with the inactive key before creating, and retires the other after delivery', () => {
      const user = syncedUser({ accessKeys: [{ accessKeyId: KEY_ID, status: 'Inactive' }, { accessKeyId: 'AKIAOTHER', status: 'Active' }] });
      const actions = plan(withObserved(inSync(), [syncedBucket()], [user]), POLICY);
      expect(actions.map((a) => [a.kind, 'accessKeyId' in a ? a.accessKeyId : undefined])).toEqual([
        ['delete-access-key', KEY_ID],
        ['create-access-key', undefined],
        ['deliver-config-vars', undefined],
        ['deliver-config-vars', undefined],
        ['delete-access-key', 'AKIAOTHER'],
      ]);
    });

    it('with two active unknown keys and the apps unread, deletes nothing and says why', () => {
      const actions = plan(storeLost([{ accessKeyId: 'AKIAONE', status: 'Active' }, { accessKeyId: 'AKIATWO', status: 'Active' }]), POLICY);
      expect(kinds(actions)).toEqual(['record-resource', 'blocked']);
      expect(actions[1]).toMatchObject({ reason: 'key-slots-in-use' });
    });

    it('records a delivery the app already holds without patching it again (no restart)', () => {
      const input = inSync();
      input.deliveries = [];
      for (const att of addon().attachments) {
        input.configVars.set(att.appId, configVarsFor(att, { resourceName: BUCKET, region: record().region, accessKeyId: KEY_ID, secretAccessKey: record().secretAccessKey! }));
      }
      const actions = plan(input, POLICY);
      expect(actions).toEqual([
        expect.objectContaining({ kind: 'deliver-config-vars', alreadyOnApp: true }),
        expect.objectContaining({ kind: 'deliver-config-vars', alreadyOnApp: true }),
      ]);
    });
  });

  describe('credential delivery', () => {
    it('delivers only to the attachment whose vars are not as delivered', () => {
      const input = inSync();
      input.deliveries = input.deliveries.map((d) => (d.attachmentId === 'att-2' ? { ...d, fingerprint: 'stale' } : d));
      expect(plan(input, POLICY)).toEqual([expect.objectContaining({ kind: 'deliver-config-vars', attachmentId: 'att-2' })]);
    });

    it('delivers to a new attachment', () => {
      const input = inSync();
      input.desired[0]!.addons[0] = addon({
        attachments: [...addon().attachments, { id: 'att-3', name: 'MEDIA', appId: 'app-0003', appName: 'acme-review-1' }],
      });
      expect(plan(input, POLICY)).toEqual([expect.objectContaining({ kind: 'deliver-config-vars', attachmentId: 'att-3' })]);
    });

    it('reports a config var name owned by the add-on itself instead of overwriting it', () => {
      const input = inSync();
      input.desired[0]!.addons[0] = addon({ ownedConfigVars: ['BUCKET_URL'] });
      input.deliveries = [];
      const actions = plan(input, POLICY);
      expect(actions.map((a) => [a.kind, a.reason])).toEqual([
        ['blocked', 'config-var-conflict'],
        ['deliver-config-vars', 'config-vars-missing'],
      ]);
    });

    it('with addon-config delivery, the vars the add-on owns are ours: delivered, not a conflict', () => {
      const input = inSync();
      const attachment = addon().attachments[0]!.name;
      input.desired[0]!.addons[0] = addon({ ownedConfigVars: [`${attachment}_URL`, `${attachment}_BUCKET_NAME`] });
      input.deliveries = [];
      input.addonConfigDelivered = new Set([input.desired[0]!.addons[0]!.addonId]);
      const actions = plan(input, POLICY);
      expect(actions.map((a) => a.kind)).not.toContain('blocked');
      expect(actions.filter((a) => a.kind === 'deliver-config-vars')).toHaveLength(addon().attachments.length);
    });
  });
});

describe('canonicalPolicy', () => {
  it('treats equal policies as equal whatever their spelling', () => {
    const ours = tlsOnlyBucketPolicy('b');
    const respelled = JSON.stringify({
      Statement: [
        {
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          Resource: ['arn:aws:s3:::b/*', 'arn:aws:s3:::b'],
          Action: ['s3:*'],
          Principal: { AWS: '*' },
          Effect: 'Deny',
          Sid: 'DenyInsecureTransport',
        },
      ],
      Version: '2012-10-17',
    });
    expect(canonicalPolicy(respelled)).toBe(canonicalPolicy(ours));
  });

  it('tells different policies apart', () => {
    expect(canonicalPolicy(tlsOnlyBucketPolicy('a'))).not.toBe(canonicalPolicy(tlsOnlyBucketPolicy('b')));
    expect(canonicalPolicy('not json')).not.toBe(canonicalPolicy('{}'));
  });
});

describe('config var drift (deep check)', () => {
  const vars = (input: PlanInput, appId: string) => {
    const r = input.records.get(ADDON)!;
    const att = addon().attachments.find((a) => a.appId === appId)!;
    return {
      [`${att.name}_BUCKET_NAME`]: r.resourceName!,
      [`${att.name}_AWS_ACCESS_KEY_ID`]: r.accessKeyId!,
      [`${att.name}_AWS_SECRET_ACCESS_KEY`]: r.secretAccessKey!,
      [`${att.name}_AWS_REGION`]: r.region,
      [`${att.name}_URL`]: `s3://${r.resourceName}`,
      OTHER: 'kept',
    };
  };

  it('plans nothing when the apps hold exactly what was delivered', () => {
    const input = inSync();
    input.configVars = new Map([['app-0001', vars(input, 'app-0001')], ['app-0002', vars(input, 'app-0002')]]);
    expect(plan(input, POLICY)).toEqual([]);
  });

  it('re-delivers, from the stored secret, to the app where a var was deleted or changed by hand', () => {
    const input = inSync();
    const { BUCKET_URL: _gone, ...missing } = vars(input, 'app-0001');
    const changed = { ...vars(input, 'app-0002'), ASSETS_AWS_SECRET_ACCESS_KEY: 'tampered' };
    input.configVars = new Map([['app-0001', missing], ['app-0002', changed]]);
    const actions = plan(input, POLICY);
    expect(actions.map((a) => [a.kind, a.reason, a.detail?.actual])).toEqual([
      ['deliver-config-vars', 'config-vars-missing', 'BUCKET_URL missing'],
      ['deliver-config-vars', 'config-vars-missing', 'ASSETS_AWS_SECRET_ACCESS_KEY differs'],
    ]);
    expect(JSON.stringify(actions)).not.toContain(input.records.get(ADDON)!.secretAccessKey!);
    expect(JSON.stringify(actions)).not.toContain('tampered');
  });
});

describe('drift-loop breaker', () => {
  const tampered = () => {
    const settings = syncedSettings();
    settings.publicAccessBlock = null;
    return withObserved(inSync(), [syncedBucket({ settings })], [syncedUser()]);
  };

  it('repairs while the attribute was repaired fewer times than the limit', () => {
    const input = tampered();
    input.recentRepairs = new Map([[`${ADDON}|put-public-access-block|${BUCKET}|public-access-block-changed`, 2]]);
    expect(kinds(plan(input, POLICY, { maxRepairs: 3 }))).toEqual(['put-public-access-block']);
  });

  it('holds the repair back and reports flapping once the limit is reached, leaving other repairs alone', () => {
    const input = tampered();
    ((observedResource(input.observed.get(ACCOUNT), 'bucket', BUCKET) as ObservedBucket).settings as BucketSettings).encryption = null;
    input.recentRepairs = new Map([[`${ADDON}|put-public-access-block|${BUCKET}|public-access-block-changed`, 3]]);
    const actions = plan(input, POLICY, { maxRepairs: 3 });
    expect(actions.map((a) => [a.kind, a.reason])).toEqual([
      ['blocked', 'flapping'],
      ['put-bucket-encryption', 'encryption-changed'],
    ]);
    expect(actions[0]).toMatchObject({ flapping: { kind: 'public-access-block-changed', action: 'put-public-access-block' } });
  });
});

describe('plan profiles', () => {
  const profiles = { versioned: { versioning: true }, 'read-only': { access: 'read-only' as const }, cors: { corsOrigins: ['https://app.example.com'] } };
  const withPlan = (plan: string, settings = syncedSettings()) => {
    const input = withObserved(inSync(), [syncedBucket({ settings, tags: bucketTagsFor(POLICY, addon({ plan })) })], [syncedUser()]);
    input.desired[0]!.addons[0] = addon({ plan });
    input.records = new Map([[ADDON, record({ plan })]]);
    return input;
  };

  it('turns versioning on for a versioned plan, and suspends versioning turned on by hand on a private one', () => {
    expect(plan(withPlan('s3-bucket:versioned'), POLICY, { profiles })).toEqual([
      expect.objectContaining({ kind: 'put-bucket-versioning', desired: true, reason: 'versioning-changed' }),
    ]);
    const byHand = syncedSettings();
    byHand.versioning = 'Enabled';
    expect(plan(withPlan('s3-bucket:standard', byHand), POLICY, { profiles })).toEqual([
      expect.objectContaining({ kind: 'put-bucket-versioning', desired: false }),
    ]);
    const suspended = syncedSettings();
    suspended.versioning = 'Suspended';
    expect(plan(withPlan('s3-bucket:standard', suspended), POLICY, { profiles })).toEqual([]);
  });

  it('puts the CORS rule of a cors plan, and removes CORS added by hand to a private bucket', () => {
    const [put] = plan(withPlan('s3-bucket:cors'), POLICY, { profiles });
    expect(put).toMatchObject({ kind: 'put-bucket-cors', reason: 'cors-changed', desired: [{ allowedOrigins: ['https://app.example.com'] }] });
    const byHand = syncedSettings();
    byHand.cors = [{ allowedOrigins: ['*'], allowedMethods: ['GET'], allowedHeaders: [], exposeHeaders: [], maxAgeSeconds: 0 }];
    expect(plan(withPlan('s3-bucket:standard', byHand), POLICY, { profiles })).toEqual([expect.objectContaining({ kind: 'put-bucket-cors', desired: null })]);
  });

  it('gives a read-only plan a policy that cannot write or delete', () => {
    const [action] = plan(withPlan('s3-bucket:read-only'), POLICY, { profiles });
    expect(action).toMatchObject({ kind: 'put-user-policy' });
    const document = (action as { document: string }).document;
    expect(document).toContain('s3:GetObject');
    expect(document).not.toMatch(/PutObject|DeleteObject/);
  });
});

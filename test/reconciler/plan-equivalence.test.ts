/**
 * plan() on a large generated world with every kind of drift, orphan and block mixed in, pinned
 * by a digest of its exact output (key order and `undefined` fields included). It guards the
 * performance work on plan(): a faster plan() must return exactly what the slower one did.
 *
 * With PLAN_BASELINE set to another copy of plan.ts (for example the previous commit's, checked
 * out outside the repository), the outputs are also compared action by action.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Action } from '../../src/reconciler/actions.js';
import type { AddonWhereabouts, DesiredAddon, ObservedBucket, ObservedUser, PlanInput, TeamDesiredState } from '../../src/reconciler/model.js';
import { plan, type PlanLimits } from '../../src/reconciler/plan.js';
import { DEFAULT_PROFILES, desiredCors, profileFor } from '../../src/reconciler/profiles.js';
import {
  TAG,
  TEARDOWN_RULE_IDS,
  bucketNameFor,
  configVarsFor,
  hasOwnershipTags,
  ownershipTags,
  tlsOnlyBucketPolicy,
  userNameFor,
  userPolicyDocument,
  USER_POLICY_NAME,
} from '../../src/reconciler/spec.js';
import type { DeliveryRecord, GcBreaker, Link, ResourceRecord } from '../../src/store/types.js';
import { NOW, POLICY, account, deliveriesFor, link, record, syncedSettings } from './fixtures.js';

const HOUR = 3_600_000;

/** mulberry32: the same world on every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    uuid: () => {
      let hex = '';
      for (let i = 0; i < 32; i++) hex += Math.floor(next() * 16).toString(16);
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
    },
  };
}

const ACC = ['111111111111', '222222222222', '333333333333'];
const PLANS = ['s3-bucket:standard', 's3-bucket:versioned', 's3-bucket:read-only', 's3-bucket:cors', 'other:private', 's3-bucket:unknown'];

/** A reformatted but equal policy document: other key order, spacing, single values unwrapped. */
function reformatted(document: string): string {
  const parsed = JSON.parse(document) as { Version: string; Statement: Record<string, unknown>[] };
  const statements = parsed.Statement.map((s) => Object.fromEntries(Object.entries(s).reverse().map(([k, v]) => [k, Array.isArray(v) ? [...v].reverse() : v])));
  return JSON.stringify({ Statement: statements, Version: parsed.Version }, null, 1);
}

export function generatedWorld(n: number, seed: number): PlanInput {
  const r = rng(seed);
  const teams: TeamDesiredState[] = [
    { teamId: 'team-1', teamName: 'one', complete: true, error: null, addons: [], deprovisioned: [] },
    { teamId: 'team-2', teamName: 'two', complete: true, error: null, addons: [], deprovisioned: [] },
    { teamId: 'team-3', teamName: 'three', complete: true, error: null, addons: [], deprovisioned: [] },
    { teamId: 'team-4', teamName: 'unlinked', complete: true, error: null, addons: [], deprovisioned: [] },
    { teamId: 'team-5', teamName: 'partial', complete: false, error: 'page 2: 503', addons: [], deprovisioned: [] },
  ];
  const links: Link[] = [
    link({ teamId: 'team-1', accountId: ACC[0]! }),
    link({ teamId: 'team-2', accountId: ACC[1]! }),
    link({ teamId: 'team-3', accountId: ACC[2]! }),
    link({ teamId: 'team-5', accountId: ACC[0]! }),
  ];
  const accountOf = (teamId: string) => links.find((l) => l.teamId === teamId)?.accountId ?? ACC[0]!;
  const buckets = new Map<string, ObservedBucket[]>(ACC.map((a) => [a, []]));
  const users = new Map<string, ObservedUser[]>(ACC.map((a) => [a, []]));
  const records = new Map<string, ResourceRecord>();
  const deliveries: DeliveryRecord[] = [];
  const configVars = new Map<string, Record<string, string>>();
  const recentRepairs = new Map<string, number>();
  const addonConfigDelivered = new Set<string>();

  const build = (team: TeamDesiredState, i: number) => {
    const accountId = accountOf(team.teamId);
    const addonId = r.chance(0.02) ? r.uuid().toUpperCase() : r.uuid();
    const appId = r.uuid();
    const planName = r.pick(PLANS);
    const profile = profileFor(DEFAULT_PROFILES, planName);
    const attachments = [{ id: r.uuid(), name: 'BUCKET', appId, appName: `app-${i}` }];
    if (r.chance(0.2)) attachments.push({ id: r.uuid(), name: r.pick(['ASSETS', 'MEDIA', 'BUCKET']), appId: r.chance(0.5) ? appId : r.uuid(), appName: `other-${i}` });
    const addon: DesiredAddon = {
      addonId,
      addonName: `s3-bucket-${i}`,
      service: 's3-bucket',
      plan: planName,
      appId,
      appName: `app-${i}`,
      teamId: team.teamId,
      region: r.pick(['us-east-1', 'eu-west-1']),
      attachments,
      ownedConfigVars: r.chance(0.03) ? ['BUCKET_URL', 'OTHER'] : r.chance(0.02) ? ['UNRELATED'] : [],
    };
    if (r.chance(0.05)) addonConfigDelivered.add(addonId);
    let bucket = bucketNameFor(POLICY, accountId, addonId);
    if (r.chance(0.01)) bucket = r.pick([`weird"\\name-${i}`, `uni\u2028é-${i}`, `ctl\u0001-${i}`, `sur\ud800-${i}`]);
    const userName = r.chance(0.01) ? `legacy-user-${i}` : userNameFor(POLICY, addonId);
    const rec = record({
      addonId,
      addonName: addon.addonName,
      accountId: r.chance(0.01) ? ACC[2]! : accountId,
      teamId: team.teamId,
      appId,
      plan: planName,
      resourceName: bucket,
      region: r.chance(0.05) ? 'ap-south-1' : addon.region,
      userName,
      accessKeyId: `AKIA${String(i).padStart(16, '0')}`,
      secretAccessKey: r.chance(0.03) ? null : `secret-${r.uuid()}`,
      resourceCreateStartedAt: r.chance(0.5) ? new Date(NOW.getTime() - HOUR) : null,
      orphan: r.chance(0.02) ? { since: NOW, reason: 'orphaned', deleteAfter: NOW } : null,
    });
    const deep = r.chance(0.5);
    const tags = ownershipTags(POLICY, addon);
    // The bucket.
    if (!r.chance(0.03)) {
      const settings = deep ? syncedSettings(bucket) : null;
      if (settings) {
        settings.versioning = profile.versioning ? 'Enabled' : null;
        settings.cors = desiredCors(profile);
        if (r.chance(0.03)) settings.publicAccessBlock = r.chance(0.5) ? null : { ...settings.publicAccessBlock!, blockPublicPolicy: false };
        if (r.chance(0.03)) settings.objectOwnership = r.pick([null, 'ObjectWriter']);
        if (r.chance(0.03)) settings.encryption = r.pick([null, { algorithm: 'aws:kms', kmsKeyId: 'k' }]);
        if (r.chance(0.06)) {
          const rule = settings.lifecycleRules[0]!;
          const variant = r.pick(['none', 'disabled', 'prefix', 'days', 'teardown', 'other', 'nulldays']);
          if (variant === 'none') settings.lifecycleRules = [];
          if (variant === 'disabled') rule.enabled = false;
          if (variant === 'prefix') rule.prefix = 'logs/';
          if (variant === 'days') rule.abortIncompleteMultipartUploadDays = 3;
          if (variant === 'nulldays') rule.abortIncompleteMultipartUploadDays = null;
          if (variant === 'teardown') settings.lifecycleRules.push({ id: TEARDOWN_RULE_IDS[0]!, enabled: true, prefix: '', abortIncompleteMultipartUploadDays: null, raw: { ID: 'td' } });
          if (variant === 'other') settings.lifecycleRules.unshift({ id: 'theirs', enabled: true, prefix: 'tmp/', abortIncompleteMultipartUploadDays: null, raw: { ID: 'theirs' } });
        }
        if (r.chance(0.03)) settings.versioning = r.pick(['Enabled', 'Suspended', null]);
        if (r.chance(0.03)) settings.cors = r.pick([null, [{ allowedOrigins: ['https://x'], allowedMethods: ['GET'], allowedHeaders: [], exposeHeaders: [], maxAgeSeconds: 1 }]]);
        if (r.chance(0.03)) settings.cors = settings.cors?.map((c) => ({ ...c, allowedMethods: [...c.allowedMethods].reverse() })) ?? null;
        if (r.chance(0.06)) settings.policy = r.pick([null, reformatted(settings.policy!), tlsOnlyBucketPolicy('someone-else'), '{not json', reformatted(tlsOnlyBucketPolicy('x'))]);
      }
      let bucketTags: Record<string, string> = { ...tags, [TAG.plan]: addon.plan };
      if (r.chance(0.02)) bucketTags[TAG.plan] = r.pick(['s3-bucket:older', 's3-bucket:archive']);
      if (r.chance(0.03)) bucketTags[TAG.appId] = 'old-app';
      if (r.chance(0.02)) delete bucketTags[TAG.teamId];
      if (r.chance(0.02)) bucketTags['cost-center'] = 'x';
      if (r.chance(0.01)) bucketTags[TAG.retain] = ' TRUE ';
      if (r.chance(0.02)) bucketTags = r.pick<Record<string, string>>([{}, { owner: 'someone' }]);
      if (r.chance(0.01)) bucketTags = { ...tags, [TAG.instance]: 'other-instance' };
      const creationDate = r.pick([NOW, new Date(NOW.getTime() - 2 * HOUR), null]);
      buckets.get(accountId)!.push({ name: bucket, creationDate, tags: bucketTags, settings });
    }
    // The user.
    if (!r.chance(0.03)) {
      let userTags: Record<string, string> = { ...tags };
      if (r.chance(0.03)) userTags[TAG.teamId] = 'old-team';
      if (r.chance(0.02)) userTags = r.pick([{}, { ...tags, [TAG.addonId]: 'other' }]);
      const document = userPolicyDocument(bucket, profile.access);
      const inlinePolicies: Record<string, string> = {};
      if (!r.chance(0.02)) inlinePolicies[USER_POLICY_NAME] = r.chance(0.04) ? r.pick([reformatted(document), userPolicyDocument(bucket, profile.access === 'read-only' ? 'read-write' : 'read-only'), '[]']) : document;
      if (r.chance(0.02)) inlinePolicies['extra'] = '{"Version":"2012-10-17","Statement":[]}';
      let keys: ObservedUser['accessKeys'] = deep ? [{ accessKeyId: rec.accessKeyId!, status: 'Active' }] : null;
      if (keys && r.chance(0.08)) {
        const variant = r.pick(['extra', 'inactive', 'missing', 'empty', 'both']);
        if (variant === 'extra') keys = [...keys, { accessKeyId: 'AKIAUNRECORDED', status: 'Active' }];
        if (variant === 'inactive') keys = [{ accessKeyId: rec.accessKeyId!, status: 'Inactive' }];
        if (variant === 'missing') keys = [{ accessKeyId: 'AKIAOTHER', status: 'Active' }];
        if (variant === 'empty') keys = [];
        if (variant === 'both') keys = [{ accessKeyId: 'AKIAOTHER', status: 'Inactive' }, { accessKeyId: rec.accessKeyId!, status: 'Inactive' }];
      }
      users.get(accountId)!.push({ userName, path: POLICY.iamPath, tags: userTags, inlinePolicies, accessKeys: keys });
    }
    // The store and the deliveries.
    if (!r.chance(0.04)) records.set(addonId, rec);
    if (rec.secretAccessKey) {
      for (const d of deliveriesFor(addon, rec)) {
        if (r.chance(0.03)) continue;
        deliveries.push(r.chance(0.03) ? { ...d, fingerprint: 'f'.repeat(64) } : d);
        if (r.chance(0.01)) deliveries.push({ ...d, fingerprint: '0'.repeat(64) }); // a duplicate: the last one counts
      }
      if (r.chance(0.03)) deliveries.push({ addonId, attachmentId: r.uuid(), appId: r.pick([appId, r.uuid()]), varNames: ['BUCKET_URL', 'OLD_URL'], fingerprint: 'x', deliveredAt: NOW });
      if (r.chance(0.05)) {
        const att = attachments[0]!;
        const vars = configVarsFor(att, { resourceName: rec.resourceName!, region: rec.region, accessKeyId: rec.accessKeyId!, secretAccessKey: rec.secretAccessKey });
        if (r.chance(0.5)) vars[`${att.name}_URL`] = 's3://wrong';
        if (r.chance(0.3)) delete vars[`${att.name}_AWS_REGION`];
        configVars.set(att.appId, vars);
      }
    }
    if (r.chance(0.03)) {
      const kind = r.pick(['put-bucket-encryption', 'tag-user', 'deliver-config-vars', 'put-user-policy']);
      const resource = kind === 'put-bucket-encryption' ? bucket : kind === 'deliver-config-vars' ? attachments[0]!.appId : userName;
      const reason = kind === 'put-bucket-encryption' ? 'encryption-changed' : kind === 'tag-user' ? 'tags-changed' : kind === 'put-user-policy' ? 'policy-changed' : 'config-vars-missing';
      recentRepairs.set(`${addonId}|${kind}|${resource}|${reason}`, r.pick([1, 3, 7]));
    }
    team.addons.push(addon);
  };

  for (let i = 0; i < n; i++) {
    const roll = r.chance(0.9) ? 0 : r.chance(0.5) ? 1 : r.chance(0.4) ? 2 : r.chance(0.5) ? 3 : 4;
    build(teams[roll]!, i);
  }

  // Orphans: records of ours that no desired add-on wants.
  const whereabouts = new Map<string, AddonWhereabouts>();
  for (let i = 0; i < Math.max(20, n / 20); i++) {
    const teamId = r.pick(['team-1', 'team-1', 'team-2', 'team-3', 'team-5', 'team-gone']);
    const accountId = accountOf(teamId);
    const addonId = r.uuid();
    const planName = r.pick(PLANS);
    const bucket = bucketNameFor(POLICY, accountId, addonId);
    const userName = userNameFor(POLICY, addonId);
    const variant = r.pick(['fresh', 'waiting', 'due', 'due', 'started', 'retained-state']);
    const rec = record({
      addonId,
      accountId,
      teamId,
      plan: planName,
      resourceName: bucket,
      userName,
      orphan:
        variant === 'fresh'
          ? null
          : { since: new Date(NOW.getTime() - 30 * HOUR), reason: r.pick(['orphaned', 'deprovisioned'] as const), deleteAfter: new Date(NOW.getTime() + (variant === 'waiting' ? HOUR : -HOUR)) },
      teardownStartedAt: variant === 'started' ? new Date(NOW.getTime() - HOUR) : null,
      state: variant === 'retained-state' ? 'retained' : 'ready',
    });
    records.set(addonId, rec);
    const team = teams.find((t) => t.teamId === teamId);
    if (team && r.chance(0.3)) team.deprovisioned.push(addonId);
    const ownerTags = ownershipTags(POLICY, { addonId, appId: rec.appId, teamId });
    const planTag = r.chance(0.2) ? { [TAG.plan]: r.pick(['s3-bucket:archive', 's3-bucket:standard']) } : { [TAG.plan]: planName };
    if (r.chance(0.8)) buckets.get(accountId)!.push({ name: bucket, creationDate: NOW, tags: r.chance(0.1) ? {} : r.chance(0.1) ? { ...ownerTags, ...planTag, [TAG.retain]: 'true' } : { ...ownerTags, ...planTag }, settings: null });
    if (r.chance(0.8)) users.get(accountId)!.push({ userName, path: POLICY.iamPath, tags: r.chance(0.1) ? {} : ownerTags, inlinePolicies: {}, accessKeys: null });
    if (r.chance(0.5)) deliveries.push({ addonId, attachmentId: r.uuid(), appId: r.uuid(), varNames: ['BUCKET_URL'], fingerprint: 'y', deliveredAt: NOW });
    // What Heroku answers when garbage collection asks about the add-on by id.
    const word = r.pick(['gone', 'gone', 'gone', 'deprovisioned', 'unknown', 'alive', 'unasked'] as const);
    if (word === 'alive') whereabouts.set(addonId, { status: 'alive', teamId: r.pick(['team-2', 'team-unlinked']), appId: r.uuid(), plan: planName, addonName: 'moved' });
    else if (word === 'unknown') whereabouts.set(addonId, { status: 'unknown', error: '503' });
    else if (word !== 'unasked') whereabouts.set(addonId, { status: word });
  }

  const breakers = new Map<string, GcBreaker>();
  const dueInAcc2 = [...records.values()].filter((rec) => rec.accountId === ACC[1] && rec.orphan).map((rec) => rec.addonId).sort();
  breakers.set(ACC[1]!, { accountId: ACC[1]!, trippedAt: NOW, planned: dueInAcc2, approvedAt: NOW });
  breakers.set(ACC[2]!, { accountId: ACC[2]!, trippedAt: NOW, planned: ['nobody'], approvedAt: null });

  return {
    links,
    desired: teams,
    observed: new Map([
      [ACC[0]!, account(buckets.get(ACC[0]!)!, users.get(ACC[0]!)!, { accountId: ACC[0]! })],
      [ACC[1]!, account(buckets.get(ACC[1]!)!, users.get(ACC[1]!)!, { accountId: ACC[1]! })],
      [ACC[2]!, account(buckets.get(ACC[2]!)!, users.get(ACC[2]!)!, { accountId: ACC[2]!, complete: seed % 2 === 0, error: seed % 2 === 0 ? null : 'AccessDenied' })],
    ]),
    records,
    deliveries,
    configVars,
    recentRepairs,
    breakers,
    addonConfigDelivered,
    whereabouts,
    now: NOW,
  };
}

const GC = { mode: 'enabled' as const, graceDeprovisionedMs: 300_000, graceOrphanedMs: 86_400_000, maxDeletions: 10, maxDeletionRatio: 0.5 };
export const LIMITS: Record<string, PlanLimits> = {
  bench: { maxRepairs: 3, gc: GC, profiles: DEFAULT_PROFILES },
  none: {},
  'dry-run, no repairs': { maxRepairs: 0, gc: { ...GC, mode: 'dry-run', maxDeletions: 1000, maxDeletionRatio: 1 }, profiles: DEFAULT_PROFILES },
  'gc off': { maxRepairs: 5, gc: { ...GC, mode: 'off' }, profiles: { standard: { versioning: true, corsOrigins: ['https://b', 'https://a'] } } },
};

/** JSON with `undefined` fields kept, so a field that turns from absent into undefined shows. */
export function serialise(actions: Action[]): string {
  return JSON.stringify(actions, (_key, value: unknown) => (value === undefined ? '\u0000undefined' : value));
}

const digest = (actions: Action[]) => createHash('sha256').update(serialise(actions)).digest('hex');

/**
 * Digests of the output (PLAN_EQUIVALENCE_PRINT=1 prints them). Re-pinned with issue 13, whose
 * safety rules changed what plan() decides (orphans confirmed by id, keys deleted only when safe
 * and counted by the breaker, records that follow their add-on), and once more when a key adopted
 * from an app came to name the attachments holding it (compared action by action with
 * PLAN_BASELINE: that field alone differed). Re-pinned with issue 14, where each bucket setting's
 * action came to carry the value to write (`desired`, in place of `enabled`, `rules` and
 * `otherRules`): compared action by action with PLAN_BASELINE after mapping `desired` back to the
 * old fields, every action was equal (4,600-6,137 per world, of which 1,084-2,272 carry `desired`;
 * the "no repairs" worlds, whose repairs are all held back, kept their digests). Re-pinned when
 * records came to say their kind (`record.kind`, "bucket" in every record of these worlds):
 * compared action by action with PLAN_BASELINE without that field, every action was equal (150-155
 * records per world carry it). Re-pinned when the record's fields lost their bucket names
 * (`resourceName`, `region`, `resourceCreateStartedAt`): compared action by action with
 * PLAN_BASELINE given the same records under the old names, all 41,588 actions of the eight
 * worlds were equal after renaming the fields of the 1,220 records they carry. Re-pinned when the
 * deletion of an inactive recorded key that frees a slot for its replacement came to say so
 * (`freesSlotOfRecorded`, on 26 actions in each "none" world): without that field every world's
 * digest was the one pinned before.
 */
const EXPECTED: Record<string, string> = {
  '1/bench': '74ef204952f3a6549ca163140c1f5f5c305f43def9c2752dce1174c8219e0050',
  '1/none': 'ba8ce7e0c50937b223e005cfc6e1f3bebac761c360bdd67fd8b17f242ce9f9ae',
  '1/dry-run, no repairs': '4baaa7ec4a9c4378feba5fca2bea2dce9eaa7639907bac7283bb3af7feff5a90',
  '1/gc off': '9ba1db264f943cfdf8552c32f411d213e76148436d2a9fc48206b14ef51867a4',
  '2/bench': 'b430bd50fd182f0bfc1b024eccd060f6e8bc7b22ba5365d45920a6bb2efbbfaa',
  '2/none': '83dd6f4715c5490eed63dff14817ad793c74d0884a758bc7383b020f63f80f68',
  '2/dry-run, no repairs': '203a074ce0994d32e855d7f3b6cc008a4d6c7d3225acbbb5cbd9dda52fe9ba43',
  '2/gc off': '6748496f3ee5a1982f0e0a4e93a32e6603e11b063fc96921c24c9c4f2eb3ed85',
};

describe('plan() on a large generated world', () => {
  for (const seed of [1, 2]) {
    for (const [name, limits] of Object.entries(LIMITS)) {
      it(`returns exactly the pinned output (seed ${seed}, limits ${name})`, async () => {
        const input = generatedWorld(4_000, seed);
        const first = plan(input, POLICY, limits);
        // A second call on the same input (memos warm) returns the same.
        expect(serialise(plan(input, POLICY, limits))).toBe(serialise(first));
        expect(first.length).toBeGreaterThan(100);
        const baseline = process.env.PLAN_BASELINE;
        if (baseline) {
          const old = (await import(baseline)) as { plan: typeof plan };
          const expected = old.plan(generatedWorld(4_000, seed), POLICY, limits);
          expect(first.length).toBe(expected.length);
          for (let i = 0; i < first.length; i++) expect(serialise([first[i]!]), `action ${i}`).toBe(serialise([expected[i]!]));
        }
        const key = `${seed}/${name}`;
        if (process.env.PLAN_EQUIVALENCE_PRINT) {
          const kinds = new Map<string, number>();
          for (const a of first) kinds.set(`${a.kind}/${a.reason}`, (kinds.get(`${a.kind}/${a.reason}`) ?? 0) + 1);
          console.log(`EXPECTED ${JSON.stringify(key)}: ${JSON.stringify(digest(first))}, ${JSON.stringify([...kinds].sort())}`);
        }
        else expect(digest(first)).toBe(EXPECTED[key]);
      });
    }
  }
});

describe('the shortcuts plan() takes', () => {
  it('hasOwnershipTags answers as comparing with every ownership tag would', () => {
    const owner = { addonId: 'a', appId: 'b', teamId: 'c' };
    const tags = ownershipTags(POLICY, owner);
    const variants: Record<string, string>[] = [{}, tags, { ...tags, extra: 'x' }, { ...tags, [TAG.retain]: 'true' }];
    for (const key of Object.keys(tags)) {
      variants.push({ ...tags, [key]: 'other' });
      const without = { ...tags };
      delete without[key];
      variants.push(without);
    }
    for (const observed of variants) {
      expect(hasOwnershipTags(observed, POLICY, owner)).toBe(!Object.entries(tags).some(([k, v]) => observed[k] !== v));
    }
  });

  it('fills policy documents with any bucket name as JSON.stringify would', () => {
    for (const bucket of ['hs3-plain-name', 'quote"back\\slash', 'ctl\u0001\u001f', 'del\u007f', 'uni\u2028é', 'lone\ud800', 'pair\ud83d\ude00', '']) {
      for (const document of [tlsOnlyBucketPolicy(bucket), userPolicyDocument(bucket), userPolicyDocument(bucket, 'read-only')]) {
        const parsed = JSON.parse(document) as { Statement: { Resource: string | string[] }[] };
        expect(JSON.stringify(parsed)).toBe(document);
        const resources = parsed.Statement.flatMap((s) => s.Resource);
        expect(resources.every((r) => r === `arn:aws:s3:::${bucket}` || r === `arn:aws:s3:::${bucket}/*`)).toBe(true);
      }
    }
  });
});

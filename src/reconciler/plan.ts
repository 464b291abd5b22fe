/**
 * `plan()`: the pure heart of the controller (STYLE.md #2). From what Heroku wants, what AWS has
 * and what the store remembers, it returns the actions that close the gap, one per differing
 * attribute, in the order they must run. It never performs I/O, so every rule is table-tested.
 */
import type { DeliveryRecord, Link, ResourceKindName, ResourceRecord } from '../store/types.js';
import { actionResource, type Action } from './actions.js';
import { observedResource, type DesiredAddon, type DesiredAttachment, type ObservedAccessKey, type ObservedAccount, type ObservedUser, type PlanInput } from './model.js';
export { CLOCK_SKEW_MS } from './kinds/bucket/plan-bucket.js';
import { groupBy } from '../util/group-by.js';
import { BUILT_IN_KINDS } from './kinds/bucket/kind.js';
import { recordedResource, type KindTable, type ResourceKind } from './kinds/kind.js';
import { describeTags, pick } from './describe.js';
import { UNKNOWN_PLAN, managedByAccount, planGarbageCollection, type GcPolicy } from './plan-gc.js';
import { profileFor, type ProfileTable, type SettingsProfile } from './profiles.js';
import { BlockedReason, DriftKind, RecordReason } from '../reasons.js';
import type { KeyRotation } from '../store/types.js';
import { DEFAULT_ROTATION_POLICY, NO_ROTATION, admitRotations, afterDeliveries, holdMassDeactivations, keptByRotation, planRotation, type RotationPolicy } from './rotation.js';
import {
  TAG,
  USER_POLICY_NAME,
  configVarNames,
  configVarsFingerprint,
  type Credentials,
  hasOwnershipTags,
  isOwnedBy,
  ownershipTags,
  samePolicy,
  userNameFor,
  type NamingPolicy,
} from './spec.js';

export interface PlanLimits {
  /** Settings profiles by plan (PLAN_PROFILES); without them every plan is private. */
  profiles?: ProfileTable;
  /** Drift-loop breaker: how many times one attribute may be repaired within the window. */
  maxRepairs?: number;
  /** Garbage collection; without it, orphans are left alone. */
  gc?: GcPolicy;
  /** The kinds a plan's profile may name; without them, the built-in ones (a bucket). */
  kinds?: KindTable;
  /** Key rotation; without it, no key is rotated for its age (rotations in flight go on, with the default timing). */
  rotation?: RotationPolicy;
}

export function plan(world: PlanInput, policy: NamingPolicy, limits: PlanLimits = {}): Action[] {
  const kinds = limits.kinds ?? BUILT_IN_KINDS;
  const input = withResourceNames(world, kinds, policy);
  const breaker = { maxRepairs: limits.maxRepairs ?? Infinity };
  const linksByTeam = new Map<string, Link>(input.links.map((link) => [link.teamId, link]));
  const deliveriesByAddon = groupBy(input.deliveries, (d) => d.addonId);
  // A plan's profile, looked up once per plan name in this call (profileFor is a pure function
  // of the table and the name, and its result is only read).
  const profiles = limits.profiles ?? {};
  const profileByPlan = new Map<string, SettingsProfile>();
  const usersPlanned = new Map<string, number>();
  const rotations = input.rotations ?? NO_ROTATIONS;
  const rotationPolicy = limits.rotation ?? DEFAULT_ROTATION_POLICY;
  const actions: Action[] = [];
  for (const team of input.desired) {
    const link = linksByTeam.get(team.teamId);
    if (!link) continue;
    const account = input.observed.get(link.accountId);
    const rotating = input.startRotations !== false && (limits.rotation !== undefined || rotations.size > 0);
    const admit = (startable: ReadonlySet<string>) => admitRotations(team.addons, input.records, rotations, rotationPolicy, input.now, limits.rotation !== undefined, startable);
    // Rotations start in two rounds: every add-on is planned with only the rotations already
    // admitted (a new key being made); then the team's turns go to those that could start now, and
    // only those are planned again. An add-on that cannot start (blocked, a slot taken) never holds
    // a turn, however old its key.
    const before = rotating ? admit(NO_ADDONS) : NO_ADDONS;
    const first = new Map<string, Action[]>();
    const wanting = new Set<string>();
    const planOne = (addon: DesiredAddon, admitted: boolean): Action[] => {
      let profile = profileByPlan.get(addon.plan);
      if (profile === undefined) {
        profile = profileFor(profiles, addon.plan);
        profileByPlan.set(addon.plan, profile);
      }
      const ctx: AddonContext = {
          input,
          addon,
          link,
          account,
          record: input.records.get(addon.addonId) ?? null,
          deliveries: deliveriesByAddon.get(addon.addonId) ?? [],
          configVars: input.configVars,
          addonConfig: input.addonConfigDelivered?.has(addon.addonId) ?? false,
          profile,
          kind: kinds.get(profile.kind) ?? null,
          kinds,
          profiles,
          policy,
          now: input.now,
          tags: null,
          usersPlanned,
          rotation: rotations.get(addon.addonId) ?? null,
          rotationAdmitted: admitted,
          rotationPolicy,
          rotationWanted: false,
      };
      const planned = planAddon(ctx);
      if (ctx.rotationWanted) wanting.add(addon.addonId);
      return planned;
    };
    for (const addon of team.addons) first.set(addon.addonId, planOne(addon, before.has(addon.addonId)));
    const admitted = rotating && wanting.size > 0 ? admit(wanting) : NO_ADDONS;
    for (const addon of team.addons) {
      const planned = admitted.has(addon.addonId) && !before.has(addon.addonId) ? planOne(addon, true) : first.get(addon.addonId)!;
      holdBackFlapping(planned, input.recentRepairs, breaker, actions);
    }
  }
  const held = rotations.size > 0 ? holdMassDeactivations(actions, managedByAccount(input.records), rotationPolicy) : actions;
  if (!limits.gc) return held;
  const gc = planGarbageCollection(input, policy, limits.gc, profiles, deliveriesByAddon, held, kinds);
  // A key deletion the mass-deletion breaker holds waits, reported, like a held teardown.
  const out = gc.held.size === 0 ? held : held.map((a) => (a.kind === 'delete-access-key' && gc.held.has(a.addonId) ? heldByBreaker(a) : a));
  out.push(...gc.actions);
  return out;
}

const NO_ROTATIONS: ReadonlyMap<string, KeyRotation> = new Map();
const NO_ADDONS: ReadonlySet<string> = new Set();

/**
 * The world with every record naming its own resource: one whose resource row was lost (a store
 * restored in part) names it again as its kind does (see {@link recordedResource}), so nothing is
 * planned for a resource without a name. The input itself when no record lacks one.
 */
function withResourceNames(input: PlanInput, kinds: KindTable, naming: NamingPolicy): PlanInput {
  let records: Map<string, ResourceRecord> | null = null;
  for (const record of input.records.values()) {
    if (record.resourceName !== null) continue;
    const name = recordedResource(kinds, naming, record);
    if (name === null) continue;
    records ??= new Map(input.records);
    records.set(record.addonId, { ...record, resourceName: name });
  }
  return records ? { ...input, records } : input;
}

function heldByBreaker(action: Action & { kind: 'delete-access-key' }): Action {
  return {
    addonId: action.addonId,
    accountId: action.accountId,
    kind: 'blocked',
    reason: BlockedReason.GcBreakerTripped,
    resource: action.accessKeyId,
    message: `access key ${action.accessKeyId} of ${action.userName} is not deleted: the mass-deletion breaker of account ${action.accountId} holds this pass's deletions. Check why, then run \`heroku-s3-controller gc approve --account ${action.accountId}\``,
  };
}

/**
 * Safety against a drift loop: a repair already made `maxRepairs` times within the window is
 * held back and reported as flapping: someone else keeps undoing it, and fighting them would
 * only spend both sides' rate limits.
 */
function holdBackFlapping(actions: Action[], recent: Map<string, number>, breaker: { maxRepairs: number }, out: Action[]): void {
  for (const action of actions) out.push(heldBack(action, recent, breaker));
}

function heldBack(action: Action, recent: Map<string, number>, breaker: { maxRepairs: number }): Action {
  if (action.kind === 'blocked' || action.kind === 'record-resource' || action.kind === 'update-record') return action;
  // With no repair in the window every count is 0 (the key below would find nothing).
  if (recent.size === 0 && 0 < breaker.maxRepairs) return action;
  const resource = actionResource(action);
  const count = recent.get(`${action.addonId}|${action.kind}|${resource}|${action.reason}`) ?? 0;
  if (count < breaker.maxRepairs) return action;
  return {
    addonId: action.addonId,
    accountId: action.accountId,
    kind: 'blocked',
    reason: BlockedReason.Flapping,
    resource,
    ...(action.detail ? { detail: action.detail } : {}),
    flapping: { kind: action.reason as DriftKind, action: action.kind },
    message: `${action.kind} on ${resource} was already done ${count} times within the breaker window; another writer keeps undoing it, so it is no longer repaired. Find that writer, then the repair resumes when the window has passed`,
  };
}

interface AddonContext {
  /** The whole input, for the rare look beyond this add-on's own account. */
  input: PlanInput;
  addon: DesiredAddon;
  link: Link;
  account: ObservedAccount | undefined;
  record: ResourceRecord | null;
  deliveries: DeliveryRecord[];
  configVars: Map<string, Record<string, string>>;
  /** Credentials go through the add-on's own config: the vars it owns are the ones we set. */
  addonConfig: boolean;
  profile: SettingsProfile;
  /** The kind the profile names; null when this controller does not have it. */
  kind: ResourceKind | null;
  /** Every kind this controller has. */
  kinds: KindTable;
  /** The settings profiles by plan (PLAN_PROFILES). */
  profiles: ProfileTable;
  policy: NamingPolicy;
  now: Date;
  /** ownershipTags(policy, addon), built by tagsOf() the first time an action needs it. */
  tags: Record<string, string> | null;
  /** IAM users this call plans to create so far, by account: they count against its quota. */
  usersPlanned: Map<string, number>;
  /** The add-on's key rotation in flight, if any. */
  rotation: KeyRotation | null;
  /** Its rotation may start this pass (pacing per team: see admitRotations). */
  rotationAdmitted: boolean;
  rotationPolicy: RotationPolicy;
  /** Set by planAddon: its rotation could start now, were it admitted. */
  rotationWanted: boolean;
}


/**
 * For an add-on the store has no record of (a store lost, or restored from an older backup): the
 * other linked account its IAM user (with our tags for it) is in, when it is not in the account
 * its team's link names now. Its app moved to a team of another account before the store forgot
 * it; without this, a new bucket would be made here and the app's data left behind. Null
 * otherwise, and without looking when only one account is observed.
 */
function accountElsewhere(input: PlanInput, addonId: string, accountId: string, policy: NamingPolicy): string | null {
  if (input.observed.size < 2) return null;
  const userName = userNameFor(policy, addonId);
  for (const account of input.observed.values()) {
    if (account.accountId === accountId || !account.complete) continue;
    const user = account.users.get(userName);
    if (user && isOwnedBy(user.tags, policy, addonId)) return account.accountId;
  }
  return null;
}

/** The add-on's ownership tags: one object per add-on, shared by its actions, as before. */
function tagsOf(ctx: AddonContext): Record<string, string> {
  if (ctx.tags) return ctx.tags;
  const own = ownershipTags(ctx.policy, ctx.addon);
  const extra = ctx.kind!.userTags;
  return (ctx.tags = Object.keys(extra).length === 0 ? own : { ...own, ...extra });
}

/** The user carries every ownership tag for this add-on and its kind's tags. */
function userTagged(ctx: AddonContext, tags: Record<string, string>): boolean {
  if (!hasOwnershipTags(tags, ctx.policy, ctx.addon)) return false;
  for (const [key, value] of Object.entries(ctx.kind!.userTags)) if (tags[key] !== value) return false;
  return true;
}

function planAddon(ctx: AddonContext): Action[] {
  const { addon, link, account, policy } = ctx;
  const accountId = link.accountId;
  const base = { addonId: addon.addonId, accountId };
  const userName = ctx.record?.userName ?? userNameFor(policy, addon.addonId);
  // A plan of another kind than the add-on was made as is not applied (reported, see kindBlock):
  // the add-on goes on as it was, under the plan its record keeps, so that its app keeps working
  // credentials and its resources their settings.
  const kindChanged = ctx.record && ctx.kind && ctx.record.kind !== ctx.kind.name ? kindBlock(ctx, userName, ctx.record.kind) : null;
  if (kindChanged) {
    ctx.kind = ctx.kinds.get(ctx.record!.kind) ?? null;
    ctx.profile = profileFor(ctx.profiles, ctx.record!.plan);
    ctx.addon = { ...addon, plan: ctx.record!.plan };
  }
  const kind = ctx.kind;
  // The record follows the add-on (plan, team, app, name) whatever else this pass can do.
  const follow = ctx.record ? followDesired(ctx.record, addon, base, kindChanged !== null) : null;
  if (!kind) return [...(follow ? [follow] : []), kindChanged ?? kindBlock(ctx, userName, null)];
  const bucket = ctx.record ? ctx.record.resourceName : kind.resourceName(policy, accountId, addon.addonId);
  const region = ctx.record?.region ?? addon.region;
  const reported = kindChanged ? [kindChanged] : [];
  if (!account || !account.complete) {
    return [
      ...(follow ? [follow] : []),
      ...reported,
      {
        ...base,
        kind: 'blocked',
        reason: BlockedReason.ObserveFailed,
        resource: bucket ?? userName,
        message: `AWS account ${accountId} could not be read this pass (${account?.error ?? 'not observed'}); nothing is changed blind`,
      },
    ];
  }
  const home = ctx.record?.accountId ?? accountElsewhere(ctx.input, addon.addonId, accountId, policy) ?? accountId;
  if (home !== accountId) {
    const homeBucket = ctx.record ? ctx.record.resourceName : kind.resourceName(policy, home, addon.addonId);
    return [
      ...(follow ? [follow] : []),
      ...reported,
      // Found in another account without a record: recorded there, so the block holds from now on.
      ...(ctx.record ? [] : [newRecord(ctx, home, homeBucket, region, userName)]),
      {
        ...base,
        kind: 'blocked',
        reason: BlockedReason.NotOwned,
        resource: homeBucket ?? userName,
        message: `the add-on's resources live in AWS account ${home}, but its team is now linked to ${accountId}; the controller does not move ${homeBucket ? `${kind.name}s` : 'IAM users'} between accounts`,
      },
    ];
  }

  // Without a record (a store lost or restored), the resources say what the add-on was made as.
  const madeAs = ctx.record ? null : kindFound(ctx, account, userName);
  if (madeAs && madeAs !== kind.name) {
    const found = ctx.kinds.get(madeAs);
    // Recorded as what it is, so that the block holds from now on and nothing of it is taken for
    // the other kind; a kind tag naming no kind of ours (tampered with) is not recorded at all.
    if (!found) return [kindBlock(ctx, userName, madeAs)];
    const foundBucket = found.resourceName(policy, accountId, addon.addonId);
    // Its plan before the change is not known (its resource's plan tag may say it): the next pass
    // goes on with it as it was made, under that plan or the default profile.
    const bucketPlan = observedResource(account, found.name, foundBucket)?.tags[TAG.plan];
    const rebuilt = newRecord(ctx, accountId, foundBucket, region, userName, found.name) as Action & { kind: 'record-resource' };
    return [{ ...rebuilt, record: { ...rebuilt.record, plan: bucketPlan ?? UNKNOWN_PLAN } }, kindBlock(ctx, userName, madeAs)];
  }
  const actions: Action[] = [...(follow ? [follow] : []), ...reported];
  const observedUser = account.users.get(userName);
  const quotaFull = observedUser ? null : userQuotaReached(ctx, account, userName);
  // An add-on that cannot get its user gets nothing new: no record, no bucket, nothing half-made.
  // A bucket it already has is still kept in shape below.
  if (quotaFull && !observedResource(account, kind.name, bucket)) return [...actions, quotaFull];
  if (!ctx.record) actions.push(newRecord(ctx, accountId, bucket, region, userName));
  let blocked = false;
  for (const action of kind.planResources(ctx, account, bucket, region)) {
    actions.push(action);
    if (action.kind === 'blocked') blocked = true;
  }
  // A user whose policy names a bucket that is not ours would grant access to someone else's data.
  if (blocked) return actions;
  if (quotaFull) return [...actions, quotaFull];
  if (!observedUser) ctx.usersPlanned.set(accountId, (ctx.usersPlanned.get(accountId) ?? 0) + 1);
  const user = planUser(ctx, userName, bucket, observedUser);
  for (const action of user.actions) {
    actions.push(action);
    if (action.kind === 'blocked') blocked = true;
  }
  // A rotation steps on only while the usual plan keeps the record's key: a repair goes first.
  const rotation =
    !blocked && observedUser && !user.keys.newKey && !user.keys.adopting
      ? planRotation({
          addon: ctx.addon,
          accountId,
          userName,
          record: ctx.record,
          rotation: ctx.rotation,
          keys: observedUser.accessKeys,
          admitted: ctx.rotationAdmitted,
          policy: ctx.rotationPolicy,
          now: ctx.now,
        })
      : NO_ROTATION;
  ctx.rotationWanted = rotation.wants === true;
  actions.push(...rotation.start);
  const beforeDeliveries = actions.length;
  // An adopted key becomes the record's when applied; what the apps hold is compared next pass.
  if (!blocked && !user.keys.adopting) planDeliveries(ctx, bucket, region, user.keys.newKey || rotation.start.length > 0, actions);
  const delivering = actions.slice(beforeDeliveries).some((a) => a.kind === 'deliver-config-vars' && !a.alreadyOnApp);
  // Keys are retired, and a rotation steps on, only after every delivery before them in this list
  // has landed (the executor stops an add-on's actions at its first failure): no app is left
  // holding a deleted or inactive key.
  if (!blocked) actions.push(...afterDeliveries(rotation.after, delivering), ...user.keys.retirements);
  return actions;
}

/**
 * The block for an add-on whose IAM user is missing when the account has no room for another:
 * the users GetAccountSummary counted plus those this pass already plans reach the quota, so AWS
 * would refuse the next CreateUser (LimitExceeded). Null when there is room, or when the quota is
 * unknown (a refused GetAccountSummary, or a keyed pass's read of an add-on whose user exists:
 * AWS's own refusal is then the limit, reported as a failed action).
 */
function userQuotaReached(ctx: AddonContext, account: ObservedAccount, userName: string): Action | null {
  const quota = account.iamUserQuota;
  if (!quota) return null;
  const planned = ctx.usersPlanned.get(account.accountId) ?? 0;
  if (quota.used + planned < quota.quota) return null;
  const counted = planned > 0 ? `${quota.used} of ${quota.quota} used, and ${planned} more being created this pass` : `${quota.used} of ${quota.quota} used`;
  return {
    addonId: ctx.addon.addonId,
    accountId: account.accountId,
    kind: 'blocked',
    reason: BlockedReason.IamUserQuota,
    resource: userName,
    message: `AWS account ${account.accountId} has reached its IAM user quota (${counted}), so no IAM user is made for add-on ${ctx.addon.addonName}, and it gets no new bucket or credentials either. Delete IAM users the account no longer needs, or ask AWS for a higher quota (Service Quotas, IAM "Users per account"); a later pass then makes it`,
    detail: { field: 'user', expected: 'exists', actual: `not created: IAM user quota reached (${quota.used + planned} of ${quota.quota})` },
  };
}

/** Writes the add-on's record, with its deterministic names, before anything is made. */
function newRecord(ctx: AddonContext, accountId: string, bucket: string | null, region: string, userName: string, kind: ResourceKindName = ctx.profile.kind): Action {
  const { addon } = ctx;
  return {
    addonId: addon.addonId,
    accountId,
    kind: 'record-resource',
    reason: DriftKind.MissingBucket,
    record: {
      addonId: addon.addonId,
      addonName: addon.addonName,
      accountId,
      teamId: addon.teamId,
      appId: addon.appId,
      plan: addon.plan,
      kind,
      resourceName: bucket,
      region: region,
      userName,
      accessKeyId: null,
      secretAccessKey: null,
      resourceCreateStartedAt: null,
      state: 'pending',
      lastError: null,
    },
  };
}

/**
 * The block for an add-on whose plan names a kind this controller does not have (`madeAs` null),
 * or a kind other than the one its resources were made as (a bucket plan changed to a credentials
 * plan, or back). The controller does not turn one into the other: that would delete a bucket,
 * or leave one unmanaged with its app holding a key that no longer reaches it.
 */
function kindBlock(ctx: AddonContext, userName: string, madeAs: ResourceKindName | null): Action {
  const base = { addonId: ctx.addon.addonId, accountId: ctx.record?.accountId ?? ctx.link.accountId, kind: 'blocked' as const, reason: DriftKind.KindChanged, resource: ctx.record?.resourceName ?? userName };
  if (madeAs === null) {
    return { ...base, message: `plan ${ctx.addon.plan} of add-on ${ctx.addon.addonName} means kind "${ctx.profile.kind}", which this controller does not have; nothing is made for it. Check PLAN_PROFILES` };
  }
  return {
    ...base,
    message: `add-on ${ctx.addon.addonName} was made as a ${madeAs}, and its plan ${ctx.addon.plan} now means a ${ctx.profile.kind}; the controller does not turn one into the other, and goes on with it as it was made (its apps keep their credentials). Change the plan back, or remove the add-on and add it again with the new plan`,
    detail: { field: 'kind', expected: ctx.profile.kind, actual: madeAs },
  };
}

/**
 * What an add-on without a record was made as, by its resources in the account: its user's kind
 * tag (none: a bucket, as every user made before kinds), or a resource of ours at the name a kind
 * gives it. Null when nothing of it exists yet.
 */
function kindFound(ctx: AddonContext, account: ObservedAccount, userName: string): ResourceKindName | null {
  const user = account.users.get(userName);
  if (user && isOwnedBy(user.tags, ctx.policy, ctx.addon.addonId)) return (user.tags[TAG.kind] as ResourceKindName | undefined) ?? 'bucket';
  for (const kind of ctx.kinds.values()) {
    const found = observedResource(account, kind.name, kind.resourceName(ctx.policy, account.accountId, ctx.addon.addonId));
    if (found && isOwnedBy(found.tags, ctx.policy, ctx.addon.addonId)) return kind.name;
  }
  return null;
}

/** The record's view of the add-on, brought up to what Heroku says now; null when it already is. */
function followDesired(record: ResourceRecord, addon: DesiredAddon, base: { addonId: string; accountId: string }, keepPlan = false): Action | null {
  const changes: Partial<Pick<ResourceRecord, 'addonName' | 'teamId' | 'appId' | 'plan'>> = {};
  if (record.plan !== addon.plan && !keepPlan) changes.plan = addon.plan;
  if (record.teamId !== addon.teamId) changes.teamId = addon.teamId;
  if (record.appId !== addon.appId) changes.appId = addon.appId;
  if (record.addonName !== addon.addonName) changes.addonName = addon.addonName;
  const fields = Object.keys(changes);
  if (fields.length === 0) return null;
  return {
    ...base,
    kind: 'update-record',
    reason: RecordReason.DesiredChanged,
    changes,
    detail: { field: `record ${fields.join(', ')}`, expected: fields.map((f) => `${f}=${changes[f as keyof typeof changes]}`).join(', '), actual: fields.map((f) => `${f}=${record[f as keyof typeof changes]}`).join(', ') },
  };
}

function planUser(
  ctx: AddonContext,
  userName: string,
  bucket: string | null,
  observed: ObservedUser | undefined,
): { actions: Action[]; keys: KeyPlan } {
  const base = { addonId: ctx.addon.addonId, accountId: ctx.link.accountId, userName };
  const document = ctx.kind!.userPolicy({ addon: ctx.addon, teamName: ctx.link.teamName, accountId: ctx.link.accountId, resource: bucket, profile: ctx.profile });
  if (!observed) {
    return {
      actions: [
        { ...base, kind: 'create-user', reason: DriftKind.MissingUser, path: ctx.policy.iamPath, tags: tagsOf(ctx), detail: { field: 'user', expected: 'exists', actual: 'missing' } },
        putUserPolicy(base, document, DriftKind.MissingUser, null),
        { ...base, kind: 'create-access-key', reason: DriftKind.MissingUser },
      ],
      keys: { newKey: true, adopting: false, retirements: [] },
    };
  }
  if (!isOwnedBy(observed.tags, ctx.policy, ctx.addon.addonId)) {
    const tags = tagsOf(ctx);
    const where = observed.path.startsWith(ctx.policy.iamPath) ? '' : ` (under ${observed.path}, outside IAM_PATH ${ctx.policy.iamPath})`;
    return {
      actions: [
        {
          ...base,
          kind: 'blocked',
          reason: BlockedReason.NotOwned,
          resource: userName,
          message: `IAM user ${userName}${where} exists in account ${ctx.link.accountId} without this controller's ownership tags; it is left untouched. Delete it, or set INSTANCE_ID to the instance that owns it`,
          detail: { field: 'tags', expected: describeTags(tags), actual: describeTags(observed.tags) },
        },
      ],
      keys: NO_KEY_CHANGE,
    };
  }
  const actions: Action[] = [];
  if (!userTagged(ctx, observed.tags)) {
    const tags = tagsOf(ctx);
    actions.push({
      ...base,
      kind: 'tag-user',
      reason: DriftKind.TagsChanged,
      tags,
      detail: { field: 'tags', expected: describeTags(tags), actual: describeTags(pick(observed.tags, Object.keys(tags))) },
    });
  }
  const current = observed.inlinePolicies[USER_POLICY_NAME];
  if (current === undefined || !samePolicy(current, document)) {
    actions.push(putUserPolicy(base, document, DriftKind.PolicyChanged, current ?? null));
  }
  for (const name of Object.keys(observed.inlinePolicies)) {
    if (name !== USER_POLICY_NAME) {
      actions.push({
        ...base,
        kind: 'delete-user-policy',
        reason: DriftKind.PolicyChanged,
        policyName: name,
        detail: { field: `inline policy ${name}`, expected: null, actual: observed.inlinePolicies[name] ?? '' },
      });
    }
  }
  const keys = planKeys(ctx, base, observed, actions);
  return { actions, keys };
}

function putUserPolicy(base: { addonId: string; accountId: string; userName: string }, document: string, reason: DriftKind, actual: string | null): Action {
  return {
    ...base,
    kind: 'put-user-policy',
    reason,
    policyName: USER_POLICY_NAME,
    document,
    detail: { field: `inline policy ${USER_POLICY_NAME}`, expected: document, actual },
  };
}

/** What planKeys decided beyond the actions it appended. */
interface KeyPlan {
  /** A new key is created this pass: every attachment gets it. */
  newKey: boolean;
  /** A key an app holds is being adopted: deliveries wait for the next pass. */
  adopting: boolean;
  /** Keys to delete once every delivery planned before them has landed. */
  retirements: Action[];
}

const NO_KEY_CHANGE: KeyPlan = { newKey: false, adopting: false, retirements: [] };

/**
 * The user ends up with one key the store knows and every attached app holds (safety invariant
 * 10). The recorded key is kept while it is active. Otherwise an active key an attached app
 * already holds is adopted (after a store loss or a restore from an older backup), and only when
 * there is none is a new key made. Every other key is deleted after the deliveries planned before
 * it (the apps holding it get the kept key first; the executor stops at a failed delivery). A key
 * is deleted ahead of a new one only to free one of the two slots AWS allows, and only a key no
 * app can be using: an inactive one, or one seen on no attached app.
 */
function planKeys(ctx: AddonContext, base: { addonId: string; accountId: string; userName: string }, observed: ObservedUser, out: Action[]): KeyPlan {
  const keys = observed.accessKeys;
  if (keys === null) return NO_KEY_CHANGE;
  const recordedId = ctx.record?.secretAccessKey ? ctx.record.accessKeyId : null;
  const recorded = keys.find((key) => key.accessKeyId === recordedId);
  const held = heldKeys(ctx);
  const others = keys.filter((key) => key !== recorded);
  // The old key of a rotation in flight is the rotation's to retire, after its overlap and grace.
  const kept = keptByRotation(ctx.record, ctx.rotation);
  const retirable = (key: ObservedAccessKey) => key.accessKeyId !== kept;
  const retire = (key: ObservedAccessKey, replaced: boolean): Action[] => {
    return [
      {
        ...base,
        kind: 'delete-access-key',
        reason: replaced ? DriftKind.MissingKey : DriftKind.UnrecordedKey,
        accessKeyId: key.accessKeyId,
        detail: replaced
          ? { field: 'accessKey', expected: 'replaced, then deleted', actual: `${key.accessKeyId} ${key.status.toLowerCase()}` }
          : { field: 'accessKeys', expected: recordedId ? `only ${recordedId}` : 'only the delivered one', actual: `also ${key.accessKeyId}` },
      },
    ];
  };

  if (recorded?.status === 'Active') {
    return { newKey: false, adopting: false, retirements: others.filter(retirable).flatMap((key) => retire(key, false)) };
  }
  const adoptable = others.find((key) => key.status === 'Active' && held?.has(key.accessKeyId));
  if (adoptable) {
    const holders = held!.get(adoptable.accessKeyId)!;
    const attachment = holders[0]!;
    out.push({
      ...base,
      kind: 'adopt-access-key',
      reason: DriftKind.UnrecordedKey,
      accessKeyId: adoptable.accessKeyId,
      appId: attachment.appId,
      appName: attachment.appName,
      attachmentName: attachment.name,
      heldBy: holders.map((a) => ({ attachmentId: a.id, attachmentName: a.name, appId: a.appId })),
      detail: { field: 'accessKey', expected: 'a key the store knows', actual: `${adoptable.accessKeyId}, held by app ${attachment.appName}: adopted` },
    });
    return { newKey: false, adopting: true, retirements: [] };
  }
  let remaining = keys;
  if (keys.length >= 2) {
    // Both slots are taken: free one, with a key no app can be using.
    const slot = [recorded, ...others].find((key) => key && key.status !== 'Active') ?? (held ? others.find((key) => !held.has(key.accessKeyId)) : undefined);
    if (!slot) {
      out.push({
        ...base,
        kind: 'blocked',
        reason: BlockedReason.KeySlotsInUse,
        resource: base.userName,
        message: `IAM user ${base.userName} already has two active access keys the store does not know, and ${held ? 'attached apps hold both' : "the attached apps' config vars could not be read"}; none is deleted blind. The next pass tries again; delete the one no app uses to go on at once`,
        detail: { field: 'accessKeys', expected: 'a free slot for a new key', actual: keys.map((k) => k.accessKeyId).join(', ') },
      });
      return NO_KEY_CHANGE;
    }
    out.push({
      ...base,
      kind: 'delete-access-key',
      reason: slot === recorded ? DriftKind.MissingKey : DriftKind.UnrecordedKey,
      accessKeyId: slot.accessKeyId,
      ...(slot === recorded ? { freesSlotOfRecorded: true as const } : {}),
      detail: { field: 'accessKeys', expected: 'a free slot for a new key', actual: `${slot.accessKeyId} ${slot.status.toLowerCase()}` },
    });
    remaining = keys.filter((key) => key !== slot);
  }
  out.push({
    ...base,
    kind: 'create-access-key',
    reason: DriftKind.MissingKey,
    detail: { field: 'accessKey', expected: recordedId ? `${recordedId} active` : 'an active key', actual: recorded ? `${recorded.accessKeyId} ${recorded.status.toLowerCase()}` : 'missing' },
  });
  return { newKey: true, adopting: false, retirements: remaining.filter(retirable).flatMap((key) => retire(key, key === recorded)) };
}

/**
 * The access keys the attached apps hold, by key id, as read this pass (the attachments holding
 * it with its secret var set, in the add-on's order); null when some attached app's config vars
 * were not read this pass.
 */
function heldKeys(ctx: AddonContext): Map<string, DesiredAttachment[]> | null {
  const held = new Map<string, DesiredAttachment[]>();
  for (const attachment of ctx.addon.attachments) {
    const vars = ctx.configVars.get(attachment.appId);
    if (vars === undefined) return null;
    const names = configVarNames(attachment.name);
    const keyId = vars[names.accessKeyId];
    if (!keyId || !vars[names.secretAccessKey]) continue;
    const holders = held.get(keyId);
    if (holders) holders.push(attachment);
    else held.set(keyId, [attachment]);
  }
  return held;
}

/**
 * Appends to `out` the blocked attachments first, then the deliveries, as one list per add-on
 * always did.
 */
function planDeliveries(ctx: AddonContext, bucket: string | null, region: string, newKey: boolean, out: Action[]): void {
  const base = { addonId: ctx.addon.addonId, accountId: ctx.link.accountId };
  const delivered = ctx.deliveries.length > DELIVERIES_SCANNED ? new Map(ctx.deliveries.map((d) => [d.attachmentId, d])) : null;
  const owned = ctx.addon.ownedConfigVars;
  const record = ctx.record;
  const credentials =
    !newKey && record?.accessKeyId && record.secretAccessKey
      ? { resourceName: bucket, region, accessKeyId: record.accessKeyId, secretAccessKey: record.secretAccessKey }
      : null;
  let deliverActions: Action[] | null = null;
  for (const attachment of ctx.addon.attachments) {
    // Vars the add-on itself owns cannot be set on the app, unless they are ours: set through the add-on's config.
    const clash = ctx.addonConfig || owned.length === 0 ? NO_NAMES : Object.values(configVarNames(attachment.name)).filter((name) => owned.includes(name));
    if (clash.length > 0) {
      out.push({
        ...base,
        kind: 'blocked',
        reason: BlockedReason.ConfigVarConflict,
        resource: attachment.appName,
        message: `config var ${clash.join(', ')} on app ${attachment.appName} is owned by the add-on itself and cannot be set; rename the attachment (heroku addons:attach --as OTHER_NAME)`,
        detail: { field: `config vars ${clash.join(', ')}`, expected: 'set by this controller', actual: 'owned by the add-on' },
      });
      continue;
    }
    const onApp = ctx.configVars.get(attachment.appId);
    const wrong = credentials && onApp ? differingVars(ctx.kind!.configVars(attachment.name, credentials), onApp) : NO_WRONG;
    const delivery = delivered ? delivered.get(attachment.id) : lastDelivery(ctx.deliveries, attachment.id);
    const stale = credentials === null || !deliveredMatches(delivery?.fingerprint, attachment.name, credentials, ctx.kind!);
    if (stale || wrong.length > 0) {
      // Only the record of the delivery is missing (a store restored or rebuilt): the app is not
      // patched, so it does not restart for values it already has.
      const alreadyOnApp = credentials !== null && onApp !== undefined && wrong.length === 0;
      (deliverActions ??= []).push({
        ...base,
        kind: 'deliver-config-vars',
        reason: DriftKind.ConfigVarsMissing,
        attachmentId: attachment.id,
        attachmentName: attachment.name,
        appId: attachment.appId,
        appName: attachment.appName,
        ...(alreadyOnApp ? { alreadyOnApp } : {}),
        detail: {
          field: wrong.length > 0 ? `config vars ${wrong.map((w) => w.name).join(', ')}` : `config vars ${attachment.name}_*`,
          expected: wrong.length > 0 ? 'as delivered' : 'delivered with the current key',
          actual:
            wrong.length > 0
              ? wrong.map((w) => `${w.name} ${w.state}`).join(', ')
              : delivery !== undefined
                ? 'delivered with other values'
                : 'not delivered',
        },
      });
    }
  }
  if (deliverActions) out.push(...deliverActions);
}

const NO_NAMES: readonly string[] = [];
const NO_WRONG: readonly { name: string; state: 'missing' | 'differs' }[] = [];
/** Up to this many deliveries per add-on are searched in place; more get a map. */
const DELIVERIES_SCANNED = 16;

/** The last delivery recorded for the attachment: what a Map built from the list would hold. */
function lastDelivery(deliveries: DeliveryRecord[], attachmentId: string): DeliveryRecord | undefined {
  for (let i = deliveries.length - 1; i >= 0; i--) {
    if (deliveries[i]!.attachmentId === attachmentId) return deliveries[i];
  }
  return undefined;
}


/** Which expected config vars an app lacks or holds with another value (names only, never values). */
function differingVars(expected: Record<string, string>, onApp: Record<string, string>): { name: string; state: 'missing' | 'differs' }[] {
  return Object.entries(expected)
    .filter(([name, value]) => onApp[name] !== value)
    .map(([name]) => ({ name, state: name in onApp ? 'differs' : 'missing' }));
}

/**
 * Stored fingerprint -> the inputs it was last found to match. The fingerprint (a SHA-256 over
 * the vars as JSON) of every attachment was half of plan()'s time at 100k add-ons; a pass in sync
 * asks the same question with the same inputs every time, so the answer is kept. A memo of a
 * pure computation: plan() stays a function of its inputs. It holds what each pass's records hold
 * anyway (never logged), and at most MAX_VERIFIED entries.
 */
const VERIFIED_DELIVERIES = new Map<string, VerifiedInputs>();
const MAX_VERIFIED = 200_000;

/** The inputs a stored fingerprint was found to match, field by field (no joined string to build). */
interface VerifiedInputs {
  kind: ResourceKind;
  attachmentName: string;
  resourceName: string | null;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

function deliveredMatches(stored: string | undefined, attachmentName: string, credentials: Credentials, kind: ResourceKind): boolean {
  if (stored === undefined) return false;
  const known = VERIFIED_DELIVERIES.get(stored);
  if (
    known !== undefined &&
    known.kind === kind &&
    known.attachmentName === attachmentName &&
    known.resourceName === credentials.resourceName &&
    known.region === credentials.region &&
    known.accessKeyId === credentials.accessKeyId &&
    known.secretAccessKey === credentials.secretAccessKey
  ) {
    return true;
  }
  if (configVarsFingerprint(kind.configVars(attachmentName, credentials)) !== stored) return false;
  if (VERIFIED_DELIVERIES.size >= MAX_VERIFIED) VERIFIED_DELIVERIES.clear();
  VERIFIED_DELIVERIES.set(stored, {
    kind,
    attachmentName,
    resourceName: credentials.resourceName,
    region: credentials.region,
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
  });
  return true;
}

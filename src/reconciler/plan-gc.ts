/**
 * Garbage collection, planned as purely as the rest (safety invariants 1-5 and 10). An orphan is
 * a record of ours whose add-on no desired state wants any more and Heroku, asked about that
 * add-on by id, says is gone. It is marked, waits out its grace period, and is then torn down in
 * the safe order: config vars, access keys, inline policies, user; bucket policy, contents
 * (bounded per pass), bucket. Nothing is collected for a team whose read was incomplete, a team
 * that is not linked, an add-on Heroku could not be asked about or says still lives (in another
 * team, linked or not), or an account that could not be observed; a resource without our
 * ownership tags is never deleted; a pass that would delete too much of an account trips its
 * breaker instead.
 */
import type { ResourceInput } from '../store/resource-store.js';
import type { DeliveryRecord, GcBreaker, Link, ResourceKindName, ResourceRecord } from '../store/types.js';
import { notOwnedBlock, type Action } from './actions.js';
import { observedResource, type DesiredAddon, type ObservedAccount, type PlanInput, type TeamDesiredState } from './model.js';
import { BlockedReason, DriftKind, GcReason, OrphanReason, RecordReason } from '../reasons.js';
import { groupBy } from '../util/group-by.js';
import { profileFor, type ProfileTable } from './profiles.js';
import { BUILT_IN_KINDS } from './kinds/bucket/kind.js';
import { orphanDrift, type KindTable, type ResourceKind } from './kinds/kind.js';
import { TAG, configVarNames, isOwnedBy, userNameFor, type NamingPolicy } from './spec.js';

export interface GcPolicy {
  mode: 'enabled' | 'dry-run' | 'off';
  graceDeprovisionedMs: number;
  graceOrphanedMs: number;
  /** The breaker trips when one pass would start more deletions than this in one account… */
  maxDeletions: number;
  /** …or more than this share of the account's managed add-ons… */
  maxDeletionRatio: number;
  /**
   * …once it starts at least this many (GC_BREAKER_MIN_DELETIONS, default 5): review apps come and
   * go all day, and two closed pull requests of a team of three are churn, not a mass deletion.
   */
  minDeletionsForRatio?: number;
  /** Region of a rediscovered orphan's bucket when its link names none (AWS_REGION). */
  defaultRegion?: string;
}

/**
 * The plan of a record rebuilt from a resource's ownership tags after the store lost it: not
 * known, so its bucket is kept (a retaining plan may have wanted it) unless the plan tag on the
 * bucket names a plan that does not retain, or Heroku tells the plan.
 */
export const UNKNOWN_PLAN = '';

export const DEFAULT_MIN_DELETIONS_FOR_RATIO = 5;

export interface GcPlan {
  actions: Action[];
  /** Add-ons whose deletions this pass the mass-deletion breaker holds back (teardowns and keys). */
  held: ReadonlySet<string>;
}

/**
 * Records that this pass would mark as orphans or start tearing down, if Heroku confirms their
 * add-on is gone: the caller asks Heroku about each (`GET /addons/{id}`) and passes the answers
 * as `whereabouts`. Two reads per orphan in its whole life, not one per pass.
 */
export function orphanCandidates(input: Pick<PlanInput, 'links' | 'desired' | 'records' | 'now'>, gc: GcPolicy): string[] {
  const { wanted, teams, linked } = index(input);
  const out: string[] = [];
  for (const record of input.records.values()) {
    if (wanted.has(record.addonId) || !linked.has(record.teamId) || !teams.get(record.teamId)?.complete) continue;
    if (!record.orphan || (gc.mode !== 'off' && input.now >= record.orphan.deleteAfter && !record.teardownStartedAt)) out.push(record.addonId);
  }
  return out;
}

function index(input: Pick<PlanInput, 'links' | 'desired'>) {
  const linked = new Map<string, Link>(input.links.map((l) => [l.teamId, l]));
  const teams = new Map<string, TeamDesiredState>(input.desired.map((t) => [t.teamId, t]));
  // As `new Map(entries)`: a repeated add-on id keeps its first place and its last value.
  const wanted = new Map<string, DesiredAddon>();
  for (const team of input.desired) {
    for (const addon of team.addons) wanted.set(addon.addonId, addon);
  }
  return { linked, teams, wanted };
}

/**
 * `deliveriesByAddon`: `input.deliveries` grouped by add-on, when the caller has it already
 * (plan() does); it is only read. `addonActions`: what plan() does this pass for the wanted
 * add-ons: the access keys they delete (the breaker counts them), and those blocked without any
 * delivery (the names they would take on an app do not hold a gone add-on's vars back).
 */
export function planGarbageCollection(
  input: PlanInput,
  naming: NamingPolicy,
  gc: GcPolicy,
  profiles: ProfileTable = {},
  deliveriesByAddon?: Map<string, DeliveryRecord[]>,
  addonActions: readonly Action[] = [],
  kinds: KindTable = BUILT_IN_KINDS,
): GcPlan {
  const { linked, teams, wanted } = index(input);
  const deliveries = deliveriesByAddon ?? groupBy(input.deliveries, (d) => d.addonId);
  const { keyDeletions, rotationDeletions, idle } = readAddonActions(addonActions);
  const kindByPlan = new Map<string, ResourceKind | undefined>();
  const kindOfPlan = (plan: string) => {
    if (!kindByPlan.has(plan)) kindByPlan.set(plan, kinds.get(profileFor(profiles, plan).kind));
    return kindByPlan.get(plan);
  };
  const taken = namesWantedOnApps(wanted, idle, (addon) => kindOfPlan(addon.plan));
  // A record of a kind this controller lacks has none of its own resources torn down (the user's go).
  const kindOfRecord = (record: ResourceRecord): Pick<ResourceKind, 'teardown'> => kinds.get(record.kind) ?? NO_OWN_RESOURCES;
  const actions: Action[] = [];

  // Config vars on apps an add-on is no longer attached to go at once: they are ours, and the
  // attachment listing that says so was complete (else the add-on would not be desired).
  for (const addon of wanted.values()) {
    if (gc.mode === 'off') break;
    const delivered = deliveries.get(addon.addonId);
    const record = input.records.get(addon.addonId);
    if (delivered === undefined || !record) continue;
    for (const d of delivered) {
      if (isAttached(addon, d.attachmentId)) continue;
      actions.push(removeVars(d, record, DriftKind.DetachedConfigVars, taken));
    }
  }

  actions.push(...rediscover(input, naming, gc, linked, wanted, kinds));

  const byAccount = new Map<string, ResourceRecord[]>();
  for (const record of input.records.values()) {
    if (wanted.has(record.addonId)) {
      if (record.orphan) {
        actions.push(mark(record, null, GcReason.WantedAgain, input.observed.get(record.accountId), naming));
      }
      continue;
    }
    const team = teams.get(record.teamId);
    if (!linked.has(record.teamId)) continue; // team unlinked: reported, never collected
    if (!team || !team.complete) continue; // safety invariant 2: no GC on an incomplete read
    const inAccount = byAccount.get(record.accountId);
    if (inAccount) inAccount.push(record);
    else byAccount.set(record.accountId, [record]);
  }
  // Records per account, counted once (only when some account has orphans or a breaker).
  let managed: Map<string, number> | null = null;

  const held = new Set<string>();
  for (const accountId of new Set([...byAccount.keys(), ...input.breakers.keys(), ...keyDeletions.keys(), ...rotationDeletions.keys()])) {
    const orphans = byAccount.get(accountId) ?? [];
    const account = input.observed.get(accountId);
    if (!account?.complete) continue; // nothing is torn down blind
    managed ??= managedByAccount(input.records);
    const managedInAccount = managed.get(accountId) ?? 0;
    const due: ResourceRecord[] = [];
    for (const record of orphans) {
      const due_ = !!record.orphan && input.now >= record.orphan.deleteAfter && gc.mode !== 'off';
      let deprovisioned = teams.get(record.teamId)?.deprovisioned.includes(record.addonId) ?? false;
      if (!record.orphan || (due_ && !record.teardownStartedAt)) {
        // Invariant 10: an add-on missing from its team's listing is an orphan only once Heroku,
        // asked about that add-on, says it is gone. It may have moved to another team (whose read
        // may have failed), or out of every linked team: then it lives, and nothing of it goes.
        const word = input.whereabouts?.get(record.addonId);
        if (!word || word.status === 'unknown') continue;
        if (word.status === 'alive') {
          actions.push(...stillAlive(record, word, linked, input.observed.get(record.accountId), naming));
          continue;
        }
        deprovisioned ||= word.status === 'deprovisioned';
        if (word.status === 'deprovisioned' && record.plan === UNKNOWN_PLAN && word.plan) {
          actions.push({ accountId, addonId: record.addonId, kind: 'update-record', reason: RecordReason.DesiredChanged, changes: { plan: word.plan } });
        }
      }
      if (!record.orphan) {
        const grace = deprovisioned ? gc.graceDeprovisionedMs : gc.graceOrphanedMs;
        const orphan = { since: input.now, reason: deprovisioned ? OrphanReason.Deprovisioned : OrphanReason.Orphaned, deleteAfter: new Date(input.now.getTime() + grace) };
        actions.push(mark(record, orphan, orphanDrift(kinds, record), account, naming));
      } else if (due_) {
        due.push(record);
      }
    }
    const breaker = planBreaker(accountId, due, keyDeletions.get(accountId) ?? new Set(), managedInAccount, input.breakers.get(accountId), gc, rotationDeletions.get(accountId));
    actions.push(...breaker.actions);
    for (const id of breaker.held) held.add(id);
    for (const record of due) {
      if (breaker.held.has(record.addonId)) {
        actions.push({
          accountId,
          addonId: record.addonId,
          kind: 'blocked',
          reason: BlockedReason.GcBreakerTripped,
          resource: record.resourceName ?? record.userName,
          message: `garbage collection in account ${accountId} is held: this pass would delete the resources of ${breaker.held.size} of ${managedInAccount} managed add-ons. Check why so many add-ons went away, then run \`heroku-s3-controller gc approve --account ${accountId}\``,
        });
        continue;
      }
      actions.push(...teardown(record, account, naming, deliveries.get(record.addonId) ?? [], retainsData(record, account, profiles), taken, kindOfRecord));
    }
  }
  return { actions, held };
}

/**
 * Resources of ours that the store has no record of and no add-on wants: left by add-ons that went
 * away while the store was lost, or after the backup it was restored from. They are found by
 * their IAM users (every pass lists all users under IAM_PATH with their tags) and, for a teardown
 * the store lost after its user was gone, by their buckets (the tagging API lists every bucket
 * with this instance's tag). A user or bucket with this instance's tag, at the name we would have
 * given it, and an add-on id nobody knows gets its record back, rebuilt from its tags, and from
 * then on is garbage collected like any orphan: Heroku is asked about the add-on, the grace period
 * runs, and the bucket is kept if a plan that retains it is named by its plan tag or by Heroku
 * (while it lists the add-on as deprovisioned), or if neither names any plan.
 */
function rediscover(input: PlanInput, naming: NamingPolicy, gc: GcPolicy, linked: Map<string, Link>, wanted: Map<string, DesiredAddon>, kinds: KindTable): Action[] {
  // The kind a user's tags name (none: a bucket, as every user made before kinds; one this
  // controller lacks: none, and the user is not recorded); a resource's kind is the one whose
  // adapter found it.
  const kindNamed = (tags: Record<string, string>): ResourceKind | undefined => {
    const named = tags[TAG.kind];
    return named === undefined ? BUILT_IN_KINDS.get('bucket') : kinds.get(named);
  };
  const kindOf = (kind: ResourceKind, accountId: string, addonId: string): Pick<ResourceInput, 'kind' | 'resourceName'> => ({ kind: kind.name, resourceName: kind.resourceName(naming, accountId, addonId) });
  const actions: Action[] = [];
  const links = new Map<string, Link>();
  for (const link of linked.values()) if (!links.has(link.accountId)) links.set(link.accountId, link);
  const unknownOwner = (tags: Record<string, string>): string | null => {
    const addonId = tags[TAG.addonId];
    if (!addonId || !isOwnedBy(tags, naming, addonId) || input.records.has(addonId) || wanted.has(addonId)) return null;
    return addonId;
  };
  for (const account of input.observed.values()) {
    if (!account.complete) continue;
    const found = new Set<string>();
    const recordAgain = (addonId: string, kind: ResourceKind, tags: Record<string, string>, region: string, reason: DriftKind, what: string): void => {
      found.add(addonId);
      const record: ResourceInput = {
        addonId,
        addonName: addonId,
        accountId: account.accountId,
        teamId: tags[TAG.teamId] ?? '',
        appId: tags[TAG.appId] ?? '',
        // Unknown even with a plan tag on the bucket: Heroku, while it still lists the add-on as
        // deprovisioned, says which plan it had (the tag may lag a change); retention reads both.
        plan: UNKNOWN_PLAN,
        ...kindOf(kind, account.accountId, addonId),
        region: region,
        userName: userNameFor(naming, addonId),
        accessKeyId: null,
        secretAccessKey: null,
        resourceCreateStartedAt: null,
        state: 'pending',
        lastError: null,
      };
      actions.push({
        accountId: account.accountId,
        addonId,
        kind: 'record-resource',
        reason,
        record,
        detail: { field: 'record', expected: 'a record for every resource of ours', actual: `${what} of add-on ${addonId}, unknown to the store: recorded again from its tags` },
      });
    };
    const homeRegion = links.get(account.accountId)?.region ?? gc.defaultRegion ?? 'us-east-1';
    for (const user of account.users.values()) {
      const addonId = unknownOwner(user.tags);
      // Only at the name we would have given it: tags naming another add-on make no user ours.
      if (addonId === null || user.userName !== userNameFor(naming, addonId)) continue;
      const kind = kindNamed(user.tags);
      if (!kind) continue;
      const resource = account.unknownResources?.get(kind.name)?.get(kind.resourceName(naming, account.accountId, addonId) ?? '');
      const ownResource = resource && isOwnedBy(resource.tags, naming, addonId) ? resource : null;
      // Its resource's region could not be read: the record waits for it rather than guess.
      if (ownResource && ownResource.region === null) continue;
      recordAgain(addonId, kind, user.tags, ownResource?.region ?? homeRegion, DriftKind.OrphanedUser, `IAM user ${user.userName}`);
    }
    for (const [kindName, unknown] of account.unknownResources ?? []) {
      const kind = kinds.get(kindName);
      for (const resource of kind ? unknown.values() : []) {
        const addonId = unknownOwner(resource.tags);
        if (addonId === null || found.has(addonId) || resource.region === null || resource.name !== kind!.resourceName(naming, account.accountId, addonId)) continue;
        recordAgain(addonId, kind!, resource.tags, resource.region, kind!.orphanedAs ?? DriftKind.OrphanedResource, `${kind!.name} ${resource.name}`);
      }
    }
  }
  return actions;
}

/**
 * Heroku says the add-on lives, yet no complete listing of a linked team shows it: unmarked if it
 * was marked, and its record follows it to the team that holds it now. In a linked team whose
 * read failed, the next complete read takes it up; outside every linked team it is kept and
 * reported like the add-ons of an unlinked team.
 */
function stillAlive(
  record: ResourceRecord,
  word: { teamId: string | null; appId: string; plan: string; addonName: string },
  linked: Map<string, Link>,
  account: ObservedAccount | undefined,
  naming: NamingPolicy,
): Action[] {
  const actions: Action[] = [];
  if (record.orphan) actions.push(mark(record, null, GcReason.WantedAgain, account, naming));
  const teamId = word.teamId ?? '';
  if (teamId !== record.teamId || word.appId !== record.appId || word.plan !== record.plan || word.addonName !== record.addonName) {
    const movedOut = !linked.has(teamId);
    actions.push({
      accountId: record.accountId,
      addonId: record.addonId,
      kind: 'update-record',
      reason: movedOut ? RecordReason.MovedOut : RecordReason.DesiredChanged,
      changes: { teamId, appId: word.appId, plan: word.plan, addonName: word.addonName },
      detail: {
        field: 'add-on',
        expected: 'wanted by an add-on of a linked team',
        actual: movedOut ? `lives on in ${word.teamId ? `team ${word.teamId}` : 'no team'}, which is not linked: kept until an operator decides` : `lives on in team ${teamId}`,
      },
    });
  }
  return actions;
}

/** The add-ons each account manages (its records): what both breakers' shares are of. */
export function managedByAccount(records: ReadonlyMap<string, ResourceRecord>): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records.values()) out.set(r.accountId, (out.get(r.accountId) ?? 0) + 1);
  return out;
}

/**
 * The mass-deletion breaker of one account (safety invariant 4). It counts the add-ons whose
 * deletions would START this pass: teardowns not yet begun, and access-key deletions. It trips
 * when they are more than `maxDeletions`, or, from `minDeletionsForRatio` of them on, more than
 * `maxDeletionRatio` of the account's managed add-ons; then all of them wait for `gc approve`.
 * A rotated-out key at the end of its grace is not counted (its rotation was paced per team and
 * passed the deactivation breaker; the key has been inactive, and unused, since): counted, a few
 * teams rotating side by side tripped it with the defaults. It still waits while the breaker holds.
 */
function planBreaker(
  accountId: string,
  due: ResourceRecord[],
  keyDeletions: ReadonlySet<string>,
  managedInAccount: number,
  breaker: GcBreaker | undefined,
  gc: GcPolicy,
  rotationDeletions: ReadonlySet<string> = new Set(),
): { actions: Action[]; held: ReadonlySet<string> } {
  const approved = new Set(breaker?.approvedAt ? breaker.planned : []);
  const starting = new Set([...due.filter((r) => !r.teardownStartedAt).map((r) => r.addonId), ...keyDeletions].filter((id) => !approved.has(id)));
  const minForRatio = gc.minDeletionsForRatio ?? DEFAULT_MIN_DELETIONS_FOR_RATIO;
  const trips =
    starting.size > gc.maxDeletions || (starting.size >= minForRatio && starting.size / Math.max(1, managedInAccount) > gc.maxDeletionRatio);
  const actions: Action[] = [];
  const base = { accountId, addonId: '', reason: GcReason.Breaker };
  if (trips) {
    const planned = [...starting].sort();
    if (!breaker || breaker.approvedAt || breaker.planned.join() !== planned.join()) {
      actions.push({ ...base, addonId: planned[0]!, kind: 'trip-gc-breaker', planned });
    }
    return { actions, held: new Set([...starting, ...rotationDeletions]) };
  }
  const approvedStillRunning = due.some((r) => approved.has(r.addonId)) || [...keyDeletions].some((id) => approved.has(id));
  if (breaker && (!breaker.approvedAt || !approvedStillRunning)) {
    // Nothing holds it any more: add-ons came back, or the approved deletions are done.
    actions.push({ ...base, addonId: breaker.planned[0] ?? accountId, kind: 'reset-gc-breaker', planned: [] });
  }
  return { actions, held: new Set() };
}

/**
 * Whether the add-on's plan keeps its bucket: the plan the record has now, or the one on the
 * bucket's own plan tag (a store restored from an older backup may remember an older plan); a
 * plan neither knows (the store was lost) keeps it too.
 */
function retainsData(record: ResourceRecord, account: ObservedAccount, profiles: ProfileTable): boolean {
  if (record.resourceName === null) return false;
  const tagged = observedResource(account, record.kind, record.resourceName)?.tags[TAG.plan];
  if (tagged !== undefined && profileFor(profiles, tagged).retain) return true;
  if (record.plan === UNKNOWN_PLAN) return tagged === undefined;
  return profileFor(profiles, record.plan).retain;
}

/** Whether one of the add-on's attachments has this id. */
function isAttached(addon: DesiredAddon, attachmentId: string): boolean {
  for (const attachment of addon.attachments) {
    if (attachment.id === attachmentId) return true;
  }
  return false;
}

/**
 * Whether a wanted attachment on the app delivers this var name for an add-on that is not blocked
 * without delivering anything this pass, or for `addonId` itself: then a delivery of `addonId`
 * there must not remove it.
 */
type NameTaken = (appId: string, name: string, addonId: string) => boolean;

/**
 * Config var names that a wanted attachment delivers, by app: whatever add-on delivered them
 * before, they are that attachment's now (an attachment name reused on the app), never removed,
 * since its delivery may run beside the removal in this pass. An add-on blocked without any
 * delivery this pass holds only its own names: another, gone add-on's vars there (checked on the
 * app before they go) would stay, dead, for as long as it is blocked; its own vars there stay.
 * Built on the first lookup: most passes remove nothing, and at 100k add-ons the names of every
 * attachment cost more than the rest of garbage collection.
 */
function namesWantedOnApps(wanted: Map<string, DesiredAddon>, idle: ReadonlySet<string>, kindOf: (addon: DesiredAddon) => ResourceKind | undefined): NameTaken {
  // The names an attachment's vars have: its kind's (a kind this controller lacks: every name it could use).
  const namesOf = (kind: ResourceKind | undefined, attachment: string): string[] =>
    kind ? Object.keys(kind.configVars(attachment, NAMES_ONLY)) : Object.values(configVarNames(attachment));
  /** app id → var name → the add-ons whose attachments there deliver it. */
  let byApp: Map<string, Map<string, string[]>> | null = null;
  return (appId, name, addonId) => {
    if (byApp === null) {
      byApp = new Map();
      for (const addon of wanted.values()) {
        for (const attachment of addon.attachments) {
          let names = byApp.get(attachment.appId);
          if (!names) byApp.set(attachment.appId, (names = new Map()));
          for (const n of namesOf(kindOf(addon), attachment.name)) {
            const owners = names.get(n);
            if (owners) owners.push(addon.addonId);
            else names.set(n, [addon.addonId]);
          }
        }
      }
    }
    const owners = byApp.get(appId)?.get(name);
    return !!owners && owners.some((owner) => owner === addonId || !idle.has(owner));
  };
}

/** What the teardown asks of a record whose kind is not known here: nothing of its own is touched. */
const NO_OWN_RESOURCES: Pick<ResourceKind, 'teardown'> = { teardown: () => ({ actions: [], retained: false }) };

/** Credentials to ask a kind for the names of its vars with (the values are not used). */
const NAMES_ONLY = { resourceName: '', region: '', accessKeyId: '', secretAccessKey: '' };

/** The next steps of one orphan's teardown, from what exists now; resumes wherever it stopped. */
function teardown(
  record: ResourceRecord,
  account: ObservedAccount,
  naming: NamingPolicy,
  deliveries: DeliveryRecord[],
  retainedByPlan: boolean,
  taken: NameTaken,
  kindOf: (record: ResourceRecord) => Pick<ResourceKind, 'teardown'>,
): Action[] {
  const base = { accountId: record.accountId, addonId: record.addonId, reason: GcReason.GraceExpired };
  const actions: Action[] = deliveries.map((d) => removeVars(d, record, GcReason.GraceExpired, taken));
  const user = account.users.get(record.userName);
  if (user) {
    if (!isOwnedBy(user.tags, naming, record.addonId)) {
      actions.push(notOwnedBlock(record, record.userName, 'IAM user'));
    } else {
      for (const kind of ['delete-user-keys', 'delete-user-policies', 'delete-user'] as const) {
        actions.push({ ...base, kind, userName: record.userName });
      }
    }
  }
  const own = kindOf(record).teardown(record, account, naming, retainedByPlan);
  actions.push(...own.actions);
  const retained = own.retained;
  if (retained && actions.length === 0 && record.state === 'retained') return []; // done: only the kept bucket is left
  if (!actions.some((a) => a.kind === 'blocked')) {
    actions.push({ ...base, kind: 'forget-resource', bucket: record.resourceName, retained });
  }
  return actions;
}

function mark(record: ResourceRecord, orphan: ResourceRecord['orphan'], reason: DriftKind | GcReason, account: ObservedAccount | undefined, naming: NamingPolicy): Action {
  const bucket = observedResource(account, record.kind, record.resourceName);
  const user = account?.users.get(record.userName);
  return {
    accountId: record.accountId,
    addonId: record.addonId,
    kind: 'mark-orphan',
    reason,
    orphan,
    bucket: record.resourceName,
    tagBucket: !!bucket && isOwnedBy(bucket.tags, naming, record.addonId),
    tagUser: !!user && isOwnedBy(user.tags, naming, record.addonId),
    detail: orphan
      ? { field: 'add-on', expected: 'wanted by an add-on', actual: `${orphan.reason}; deleted after ${orphan.deleteAfter.toISOString()}` }
      : { field: 'add-on', expected: 'wanted by an add-on', actual: 'wanted again' },
  };
}

/**
 * Removes what one delivery set on one app, but never a name a wanted attachment on that app
 * delivers now; the executor also checks the values on the app before removing anything.
 */
function removeVars(delivery: DeliveryRecord, record: ResourceRecord, reason: DriftKind | GcReason, taken: NameTaken): Action {
  const varNames = delivery.varNames.filter((name) => !taken(delivery.appId, name, delivery.addonId));
  return {
    accountId: record.accountId,
    addonId: delivery.addonId,
    kind: 'remove-config-vars',
    reason,
    attachmentId: delivery.attachmentId,
    appId: delivery.appId,
    varNames,
    bucket: record.resourceName,
    valueHashes: delivery.valueHashes ?? null,
    detail: { field: `config vars ${varNames.join(', ') || '(none: their names are another attachment’s now)'}`, expected: 'absent', actual: `on app ${delivery.appId}` },
  };
}

/**
 * From the wanted add-ons' actions, in one scan: the add-ons that delete a key this pass, by
 * account (the breaker counts them as deletions; a rotated-out key at the end of its grace apart,
 * see planBreaker), and those blocked that deliver nothing either
 * (`idle`; a block may concern one attachment only, or hold back one flapping repair while the
 * rest goes on).
 */
function readAddonActions(actions: readonly Action[]): { keyDeletions: Map<string, Set<string>>; rotationDeletions: Map<string, Set<string>>; idle: Set<string> } {
  const keyDeletions = new Map<string, Set<string>>();
  const rotationDeletions = new Map<string, Set<string>>();
  const idle = new Set<string>();
  const delivering = new Set<string>();
  for (const a of actions) {
    if (a.kind === 'blocked') idle.add(a.addonId);
    else if (a.kind === 'deliver-config-vars' || a.kind === 'adopt-access-key') delivering.add(a.addonId);
    else if (a.kind === 'delete-access-key') {
      const byAccount = a.rotation ? rotationDeletions : keyDeletions;
      let ids = byAccount.get(a.accountId);
      if (!ids) byAccount.set(a.accountId, (ids = new Set()));
      ids.add(a.addonId);
    }
  }
  for (const id of delivering) idle.delete(id);
  return { keyDeletions, rotationDeletions, idle };
}

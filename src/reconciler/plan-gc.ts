/**
 * Garbage collection, planned as purely as the rest (safety invariants 1-5). An orphan is a
 * record of ours whose add-on no desired state wants any more. It is marked, waits out its grace
 * period, and is then torn down in the safe order: config vars, access keys, inline policies,
 * user; bucket policy, contents (bounded per pass), bucket. Nothing is collected for a team whose
 * read was incomplete, a team that is not linked, or an account that could not be observed; a
 * resource without our ownership tags is never deleted; a pass that would delete too much of an
 * account trips its breaker instead.
 */
import type { DeliveryRecord, GcBreaker, Link, ResourceRecord } from '../store/types.js';
import type { Action } from './actions.js';
import type { DesiredAddon, ObservedAccount, PlanInput } from './model.js';
import { BlockedReason, DriftKind, GcReason } from './reasons.js';
import { groupBy } from '../util/group-by.js';
import { profileFor, type ProfileTable } from './profiles.js';
import { configVarNames, isOwnedBy, isRetained, type NamingPolicy } from './spec.js';

export interface GcPolicy {
  mode: 'enabled' | 'dry-run' | 'off';
  graceDeprovisionedMs: number;
  graceOrphanedMs: number;
  /** The breaker trips when one pass would start more teardowns than this in one account… */
  maxDeletions: number;
  /** …or (two or more teardowns) more than this share of the account's managed add-ons. */
  maxDeletionRatio: number;
}

/**
 * `deliveriesByAddon`: `input.deliveries` grouped by add-on, when the caller has it already
 * (plan() does); it is only read.
 */
export function planGarbageCollection(
  input: PlanInput,
  naming: NamingPolicy,
  gc: GcPolicy,
  profiles: ProfileTable = {},
  deliveriesByAddon?: Map<string, DeliveryRecord[]>,
): Action[] {
  const linked = new Map<string, Link>(input.links.map((l) => [l.teamId, l]));
  const teams = new Map(input.desired.map((t) => [t.teamId, t]));
  // As `new Map(entries)`: a repeated add-on id keeps its first place and its last value.
  const wanted = new Map<string, DesiredAddon>();
  for (const team of input.desired) {
    for (const addon of team.addons) wanted.set(addon.addonId, addon);
  }
  const deliveries = deliveriesByAddon ?? groupBy(input.deliveries, (d) => d.addonId);
  const actions: Action[] = [];

  // Config vars on apps an add-on is no longer attached to go at once: they are ours, and the
  // attachment listing that says so was complete (else the add-on would not be desired).
  for (const addon of wanted.values()) {
    if (gc.mode === 'off') break;
    const delivered = deliveries.get(addon.addonId);
    if (delivered === undefined) continue;
    for (const d of delivered) {
      if (isAttached(addon, d.attachmentId)) continue;
      // Names a current attachment on the same app delivers (detached and re-attached under the
      // same name) stay: removing them would undo this pass's delivery.
      const current = new Set(addon.attachments.filter((a) => a.appId === d.appId).flatMap((a) => Object.values(configVarNames(a.name))));
      const record = input.records.get(addon.addonId);
      actions.push(removeVars({ ...d, varNames: d.varNames.filter((n) => !current.has(n)) }, record?.accountId ?? '', DriftKind.DetachedConfigVars));
    }
  }

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

  for (const accountId of new Set([...byAccount.keys(), ...input.breakers.keys()])) {
    const orphans = byAccount.get(accountId) ?? [];
    const account = input.observed.get(accountId);
    if (!account?.complete) continue; // nothing is torn down blind
    if (managed === null) {
      managed = new Map();
      for (const r of input.records.values()) managed.set(r.accountId, (managed.get(r.accountId) ?? 0) + 1);
    }
    const managedInAccount = managed.get(accountId) ?? 0;
    const due: ResourceRecord[] = [];
    for (const record of orphans) {
      if (!record.orphan) {
        const deprovisioned = teams.get(record.teamId)?.deprovisioned.includes(record.addonId) ?? false;
        const grace = deprovisioned ? gc.graceDeprovisionedMs : gc.graceOrphanedMs;
        const orphan = { since: input.now, reason: deprovisioned ? ('deprovisioned' as const) : ('orphaned' as const), deleteAfter: new Date(input.now.getTime() + grace) };
        actions.push(mark(record, orphan, DriftKind.OrphanedBucket, account, naming));
      } else if (input.now >= record.orphan.deleteAfter && gc.mode !== 'off') {
        due.push(record);
      }
    }
    actions.push(...planBreakerAndTeardowns(accountId, due, managedInAccount, account, input, naming, gc, deliveries, profiles));
  }
  return actions;
}

/** Whether one of the add-on's attachments has this id. */
function isAttached(addon: DesiredAddon, attachmentId: string): boolean {
  for (const attachment of addon.attachments) {
    if (attachment.id === attachmentId) return true;
  }
  return false;
}

function planBreakerAndTeardowns(
  accountId: string,
  due: ResourceRecord[],
  managedInAccount: number,
  account: ObservedAccount,
  input: PlanInput,
  naming: NamingPolicy,
  gc: GcPolicy,
  deliveries: Map<string, DeliveryRecord[]>,
  profiles: ProfileTable,
): Action[] {
  const breaker: GcBreaker | undefined = input.breakers.get(accountId);
  const approved = new Set(breaker?.approvedAt ? breaker.planned : []);
  const starting = due.filter((r) => !r.teardownStartedAt && !approved.has(r.addonId));
  const trips =
    starting.length > gc.maxDeletions || (starting.length >= 2 && starting.length / Math.max(1, managedInAccount) > gc.maxDeletionRatio);
  const actions: Action[] = [];
  const base = { accountId, addonId: '', reason: GcReason.Breaker };
  if (trips) {
    const planned = starting.map((r) => r.addonId).sort();
    if (!breaker || breaker.approvedAt || breaker.planned.join() !== planned.join()) {
      actions.push({ ...base, addonId: planned[0]!, kind: 'trip-gc-breaker', planned });
    }
  } else if (breaker && (!breaker.approvedAt || !due.some((r) => approved.has(r.addonId)))) {
    // Nothing holds it any more: add-ons came back, or the approved deletions are done.
    actions.push({ ...base, addonId: breaker.planned[0] ?? accountId, kind: 'reset-gc-breaker', planned: [] });
  }
  const held = new Set(trips ? starting.map((r) => r.addonId) : []);
  for (const record of due) {
    if (held.has(record.addonId)) {
      actions.push({
        accountId,
        addonId: record.addonId,
        kind: 'blocked',
        reason: BlockedReason.GcBreakerTripped,
        resource: record.bucketName,
        message: `garbage collection in account ${accountId} is held: this pass would delete ${starting.length} of ${managedInAccount} managed add-ons. Check why so many add-ons went away, then run \`heroku-s3-controller gc approve --account ${accountId}\``,
      });
      continue;
    }
    actions.push(...teardown(record, account, naming, deliveries.get(record.addonId) ?? [], profileFor(profiles, record.plan).retain));
  }
  return actions;
}

/** The next steps of one orphan's teardown, from what exists now; resumes wherever it stopped. */
function teardown(record: ResourceRecord, account: ObservedAccount, naming: NamingPolicy, deliveries: DeliveryRecord[], retainedByPlan: boolean): Action[] {
  const base = { accountId: record.accountId, addonId: record.addonId, reason: GcReason.GraceExpired };
  const actions: Action[] = deliveries.map((d) => removeVars(d, record.accountId, GcReason.GraceExpired));
  const user = account.users.get(record.userName);
  if (user) {
    if (!isOwnedBy(user.tags, naming, record.addonId)) {
      actions.push(notOwned(record, record.userName, 'IAM user'));
    } else {
      for (const kind of ['delete-user-keys', 'delete-user-policies', 'delete-user'] as const) {
        actions.push({ ...base, kind, userName: record.userName });
      }
    }
  }
  const bucket = account.buckets.get(record.bucketName);
  let retained = false;
  if (bucket) {
    if (!isOwnedBy(bucket.tags, naming, record.addonId)) {
      actions.push(notOwned(record, record.bucketName, 'bucket'));
    } else if (retainedByPlan || isRetained(bucket.tags)) {
      retained = true;
    } else {
      for (const kind of ['delete-bucket-policy', 'empty-bucket', 'delete-bucket'] as const) {
        actions.push({ ...base, kind, bucket: record.bucketName, region: record.bucketRegion });
      }
    }
  }
  if (retained && actions.length === 0 && record.state === 'retained') return []; // done: only the kept bucket is left
  if (!actions.some((a) => a.kind === 'blocked')) {
    actions.push({ ...base, kind: 'forget-resource', bucket: record.bucketName, retained });
  }
  return actions;
}

function notOwned(record: ResourceRecord, resource: string, what: string): Action {
  return {
    accountId: record.accountId,
    addonId: record.addonId,
    kind: 'blocked',
    reason: BlockedReason.NotOwned,
    resource,
    message: `${what} ${resource} lacks this controller's ownership tags, so it is not deleted; delete it by hand if it is really unwanted`,
  };
}

function mark(record: ResourceRecord, orphan: ResourceRecord['orphan'], reason: DriftKind | GcReason, account: ObservedAccount | undefined, naming: NamingPolicy): Action {
  const bucket = account?.buckets.get(record.bucketName);
  const user = account?.users.get(record.userName);
  return {
    accountId: record.accountId,
    addonId: record.addonId,
    kind: 'mark-orphan',
    reason,
    orphan,
    bucket: record.bucketName,
    tagBucket: !!bucket && isOwnedBy(bucket.tags, naming, record.addonId),
    tagUser: !!user && isOwnedBy(user.tags, naming, record.addonId),
    detail: orphan
      ? { field: 'add-on', expected: 'wanted by an add-on', actual: `${orphan.reason}; deleted after ${orphan.deleteAfter.toISOString()}` }
      : { field: 'add-on', expected: 'wanted by an add-on', actual: 'wanted again' },
  };
}

function removeVars(delivery: DeliveryRecord, accountId: string, reason: DriftKind | GcReason): Action {
  return {
    accountId,
    addonId: delivery.addonId,
    kind: 'remove-config-vars',
    reason,
    attachmentId: delivery.attachmentId,
    appId: delivery.appId,
    varNames: delivery.varNames,
    detail: { field: `config vars ${delivery.varNames.join(', ')}`, expected: 'absent', actual: `on app ${delivery.appId}` },
  };
}

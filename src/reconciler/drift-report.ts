/**
 * Turns a plan into the drift report: one item per attribute that differs. A missing bucket or
 * user is one item, not one per setting the new resource will get.
 */
import type { Action } from './actions.js';
import { actionResource, isDestructive } from './actions.js';
import type { DriftItem, DriftReport, FoundBy } from './drift.js';
import type { KeyRotation, Link, ResourceRecord } from '../store/types.js';
import type { TeamDesiredState } from './model.js';
import { BlockedReason, DriftKind } from '../reasons.js';
import { BUILT_IN_KINDS } from './kinds/bucket/kind.js';
import { orphanDrift, type KindTable } from './kinds/kind.js';

/** The creates that stand for the whole of a missing resource. */
const MISSING_ROOTS: Partial<Record<DriftKind, Action['kind']>> = {
  [DriftKind.MissingBucket]: 'create-bucket',
  [DriftKind.MissingUser]: 'create-user',
};

/**
 * Actions that carry out a decision reported elsewhere (a teardown: by the orphan's own item; a
 * breaker: by the held items), not drifts of their own. Removing detached config vars is one.
 */
function isFollowOn(action: Action): boolean {
  if (action.kind === 'remove-config-vars') return action.reason !== DriftKind.DetachedConfigVars;
  // A key nobody recorded is drift of its own; retiring a replaced key follows from the new one.
  if (action.kind === 'delete-access-key') return action.reason !== DriftKind.UnrecordedKey;
  // Only the record of a delivery was missing: the app holds what it should.
  if (action.kind === 'deliver-config-vars') return action.alreadyOnApp === true;
  // A rotation's steps are maintenance, not drift; only a key already past KEY_MAX_AGE is.
  if (action.kind === 'create-rotation-key') return action.reason !== DriftKind.KeyPastMaxAge;
  if (action.kind === 'mark-rotation-delivered' || action.kind === 'deactivate-access-key' || action.kind === 'reactivate-access-key' || action.kind === 'finish-rotation') return true;
  return (
    action.kind === 'record-resource' ||
    action.kind === 'update-record' ||
    action.kind === 'trip-gc-breaker' ||
    action.kind === 'reset-gc-breaker' ||
    isDestructive(action)
  );
}

/**
 * The drift items the actions stand for. `orphanedAs` says what an orphan held back by the breaker
 * waits to lose (its kind's resource, or its user for a kind without one); a bucket by default.
 */
export function driftItems(actions: Action[], orphanedAs: (addonId: string) => DriftKind = () => DriftKind.OrphanedBucket): DriftItem[] {
  const items: DriftItem[] = [];
  // A new key is one drift; delivering it and retiring the old one follow from it.
  const newKey = new Set(actions.filter((a) => a.kind === 'create-access-key' || a.kind === 'create-rotation-key').map((a) => a.addonId));
  for (const action of actions) {
    if (isFollowOn(action)) continue;
    if (action.kind === 'deliver-config-vars' && newKey.has(action.addonId)) continue;
    if (action.kind === 'mark-orphan' && action.orphan === null) continue;
    const root = MISSING_ROOTS[action.reason as DriftKind];
    if (root && action.kind !== root) continue;
    const item = toItem(action, orphanedAs);
    if (item) items.push(item);
  }
  return items;
}

function toItem(action: Action, orphanedAs: (addonId: string) => DriftKind): DriftItem | null {
  const base = {
    accountId: action.accountId,
    addonId: action.addonId,
    resource: actionResource(action),
    field: action.detail?.field ?? action.kind,
    expected: action.detail?.expected ?? null,
    actual: action.detail?.actual ?? null,
  };
  if (action.kind !== 'blocked') return { ...base, kind: action.reason as DriftKind, status: 'repairable' };
  switch (action.reason) {
    case BlockedReason.NotOwned:
      return { ...base, kind: DriftKind.NameTaken, status: 'blocked' };
    case BlockedReason.ConfigVarConflict:
      return { ...base, kind: DriftKind.ConfigVarsMissing, status: 'blocked' };
    case BlockedReason.GcBreakerTripped:
      return { ...base, kind: orphanedAs(action.addonId), status: 'blocked', field: 'add-on', expected: 'deleted', actual: 'held by the mass-deletion breaker' };
    case BlockedReason.Flapping:
      return { ...base, kind: action.flapping?.kind ?? DriftKind.PolicyChanged, status: 'flapping' };
    case BlockedReason.KeySlotsInUse:
      return { ...base, kind: DriftKind.MissingKey, status: 'blocked' };
    case BlockedReason.IamUserQuota:
      return { ...base, kind: DriftKind.MissingUser, status: 'blocked' };
    case DriftKind.KindChanged:
      return { ...base, kind: DriftKind.KindChanged, status: 'blocked' };
    default:
      // An account that could not be read is not drift: it is reported as an incomplete read.
      return null;
  }
}

/** The drift kinds that make an add-on count as orphaned in the summary. */
const ORPHAN_KINDS: ReadonlySet<string> = new Set([DriftKind.OrphanedBucket, DriftKind.OrphanedResource, DriftKind.OrphanedUser, DriftKind.TeamUnlinked]);

export interface ReportContext {
  records: ResourceRecord[];
  links: Link[];
  gcMode?: 'enabled' | 'dry-run' | 'off';
  /** The kinds records may hold (what an orphan is reported as); absent: the built-in ones. */
  kinds?: KindTable;
  /** KEY_MAX_AGE: a delivered key older than this and not rotated this pass is reported as waiting. */
  keyMaxAgeMs?: number;
  /** Key rotations in flight: what such a key waits for, when it is not its turn. */
  rotations?: KeyRotation[];
  /** The add-ons whose resources the pass read in full, and those whose exposure settings alone: how each drift was found. */
  checked?: { full: readonly string[]; exposure: readonly string[] };
}

/** The drifts only a per-resource read shows (a setting, a key, a config var); the rest the bulk inventory shows. */
const READ_BY_DEEP_CHECK: ReadonlySet<string> = new Set([
  DriftKind.PublicAccessBlockChanged,
  DriftKind.OwnershipChanged,
  DriftKind.TlsPolicyChanged,
  DriftKind.EncryptionChanged,
  DriftKind.LifecycleChanged,
  DriftKind.VersioningChanged,
  DriftKind.CorsChanged,
  DriftKind.MissingKey,
  DriftKind.UnrecordedKey,
  DriftKind.ConfigVarsMissing,
  DriftKind.KeyPastMaxAge,
]);

/** How a pass found this drift, from what it read of the add-on (see {@link FoundBy}). */
export function foundBy(item: Pick<DriftItem, 'kind' | 'addonId'>, checked: { full: ReadonlySet<string>; exposure: ReadonlySet<string> }): FoundBy {
  if (!READ_BY_DEEP_CHECK.has(item.kind)) return 'bulk-read';
  if (checked.exposure.has(item.addonId)) return 'exposure-check';
  return checked.full.has(item.addonId) ? 'deep-check' : 'bulk-read';
}

export function buildDriftReport(teams: TeamDesiredState[], actions: Action[], now: Date, context: ReportContext = { records: [], links: [] }): DriftReport {
  const recordOf = new Map(context.records.map((r) => [r.addonId, r]));
  const kinds = context.kinds ?? BUILT_IN_KINDS;
  const fromActions = driftItems(actions, (addonId) => {
    const record = recordOf.get(addonId);
    return record ? orphanDrift(kinds, record) : DriftKind.OrphanedBucket;
  });
  const checked = context.checked ? { full: new Set(context.checked.full), exposure: new Set(context.checked.exposure) } : null;
  const items = [...fromActions, ...orphanItems(context, kinds, actions, fromActions, now), ...oldKeyItems(context, fromActions, now)].map((item) =>
    checked ? { ...item, foundBy: foundBy(item, checked) } : item,
  );
  const managed = new Set(teams.flatMap((t) => t.addons.map((a) => a.addonId)));
  const drifted = new Set(items.filter((i) => managed.has(i.addonId)).map((i) => i.addonId));
  const missing = new Set(
    items.filter((i) => i.kind === DriftKind.MissingBucket || i.kind === DriftKind.MissingResource || i.kind === DriftKind.MissingUser).map((i) => i.addonId),
  );
  const orphaned = new Set(items.filter((i) => ORPHAN_KINDS.has(i.kind)).map((i) => i.addonId));
  return {
    generatedAt: now.toISOString(),
    summary: {
      managed: managed.size,
      inSync: [...managed].filter((id) => !drifted.has(id)).length,
      drifted: drifted.size,
      missing: missing.size,
      orphaned: orphaned.size,
      flapping: items.filter((i) => i.status === 'flapping').length,
    },
    items,
  };
}

/**
 * Delivered keys past KEY_MAX_AGE whose rotation did not start this pass (it waits for its turn:
 * ROTATION_MAX_CONCURRENT_APPS) are still reported, as waiting.
 */
function oldKeyItems(context: ReportContext, reported: DriftItem[], now: Date): DriftItem[] {
  const maxAge = context.keyMaxAgeMs;
  if (maxAge === undefined) return [];
  const covered = new Set(reported.filter((i) => i.kind === DriftKind.KeyPastMaxAge).map((i) => i.addonId));
  const items: DriftItem[] = [];
  for (const record of context.records) {
    const made = record.accessKeyCreatedAt;
    if (made === null || record.accessKeyId === null || record.orphan !== null || covered.has(record.addonId)) continue;
    const ageDays = Math.floor((now.getTime() - made.getTime()) / 86_400_000);
    if (now.getTime() - made.getTime() <= maxAge) continue;
    const rotation = context.rotations?.find((r) => r.addonId === record.addonId);
    items.push({
      accountId: record.accountId,
      addonId: record.addonId,
      resource: record.accessKeyId,
      field: 'accessKey',
      expected: `younger than ${Math.round(maxAge / 86_400_000)} days`,
      actual: `${ageDays} days old; ${waitingFor(rotation, context.gcMode)}`,
      kind: DriftKind.KeyPastMaxAge,
      status: 'waiting',
    });
  }
  return items;
}

/** What a key past KEY_MAX_AGE waits for: its turn, or the rotation already in flight for the add-on. */
function waitingFor(rotation: KeyRotation | undefined, gcMode: ReportContext['gcMode']): string {
  if (!rotation) return 'its rotation waits for its turn';
  const since = `since ${rotation.stepAt.toISOString()}`;
  if (rotation.step === 'deactivated' && gcMode !== undefined && gcMode !== 'enabled') {
    return `the rotation before it waits to delete its old key (step deactivated ${since}), which GC_MODE=${gcMode} does not do: set GC_MODE=enabled`;
  }
  return `a rotation is in flight (step ${rotation.step} ${since}); the next starts once it is over`;
}

/**
 * Orphans with no action this pass are still reported: waiting out their grace period, kept by a
 * retain tag, or belonging to a team that was unlinked.
 */
function orphanItems(context: ReportContext, kinds: KindTable, actions: Action[], reported: DriftItem[], now: Date): DriftItem[] {
  const covered = new Set([...reported.map((i) => i.addonId), ...actions.filter((a) => a.kind === 'mark-orphan').map((a) => a.addonId)]);
  const linked = new Set(context.links.map((l) => l.teamId));
  const items: DriftItem[] = [];
  for (const record of context.records) {
    if (covered.has(record.addonId)) continue;
    const base = { accountId: record.accountId, addonId: record.addonId, resource: record.resourceName ?? record.userName, field: 'add-on', expected: 'wanted by an add-on' };
    const orphaned = orphanDrift(kinds, record);
    if (!linked.has(record.teamId)) {
      items.push({ ...base, kind: DriftKind.TeamUnlinked, status: 'blocked', actual: `team ${record.teamId} is not linked; kept until an operator decides` });
    } else if (record.orphan && record.state === 'retained') {
      items.push({ ...base, kind: orphaned, status: 'retained', actual: 'kept by its retain tag or plan' });
    } else if (record.orphan && now < record.orphan.deleteAfter) {
      items.push({ ...base, kind: orphaned, status: 'waiting', actual: `${record.orphan.reason}; deleted after ${record.orphan.deleteAfter.toISOString()}` });
    } else if (record.orphan) {
      const fate = { enabled: 'being deleted', 'dry-run': 'would be deleted (GC_MODE=dry-run)', off: 'kept (GC_MODE=off)' }[context.gcMode ?? 'enabled'];
      items.push({ ...base, kind: orphaned, status: context.gcMode === 'off' ? 'blocked' : 'repairable', actual: `${record.orphan.reason}; grace over: ${fate}` });
    }
  }
  return items;
}

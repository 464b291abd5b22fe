/**
 * Turns a plan into the drift report: one item per attribute that differs. A missing bucket or
 * user is one item, not one per setting the new resource will get.
 */
import type { Action } from './actions.js';
import { actionResource } from './actions.js';
import type { DriftItem, DriftReport } from './drift.js';
import type { TeamDesiredState } from './model.js';
import { BlockedReason, DriftKind } from './reasons.js';

/** The creates that stand for the whole of a missing resource. */
const MISSING_ROOTS: Partial<Record<DriftKind, Action['kind']>> = {
  [DriftKind.MissingBucket]: 'create-bucket',
  [DriftKind.MissingUser]: 'create-user',
};

export function driftItems(actions: Action[]): DriftItem[] {
  const items: DriftItem[] = [];
  for (const action of actions) {
    if (action.kind === 'record-resource') continue;
    const root = MISSING_ROOTS[action.reason as DriftKind];
    if (root && action.kind !== root) continue;
    const item = toItem(action);
    if (item) items.push(item);
  }
  return items;
}

function toItem(action: Action): DriftItem | null {
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
    case BlockedReason.Flapping:
      return { ...base, kind: action.flapping?.kind ?? DriftKind.PolicyChanged, status: 'flapping' };
    default:
      // An account that could not be read is not drift: it is reported as an incomplete read.
      return null;
  }
}

export function buildDriftReport(teams: TeamDesiredState[], actions: Action[], now: Date): DriftReport {
  const items = driftItems(actions);
  const managed = new Set(teams.flatMap((t) => t.addons.map((a) => a.addonId)));
  const drifted = new Set(items.map((i) => i.addonId));
  const missing = new Set(
    items.filter((i) => i.kind === DriftKind.MissingBucket || i.kind === DriftKind.MissingUser).map((i) => i.addonId),
  );
  return {
    generatedAt: now.toISOString(),
    summary: {
      managed: managed.size,
      inSync: [...managed].filter((id) => !drifted.has(id)).length,
      drifted: drifted.size,
      missing: missing.size,
      orphaned: 0,
      flapping: items.filter((i) => i.status === 'flapping').length,
    },
    items,
  };
}

/**
 * What a reconcile pass counts as in the metrics, from its `PassResult`: `partial` when it ran but
 * an action failed or any team's or account's read was incomplete, `failure` when it threw.
 */
import { DEFAULT_ROTATION_POLICY } from '../reconciler/rotation.js';
import type { PassResult } from '../reconciler/controller.js';
import type { DriftReport } from '../reconciler/drift.js';
import { BlockedReason, DriftKind } from '../reasons.js';
import type { Metrics, PassRecord } from './metrics.js';

export function passRecord(pass: Pick<PassResult, 'durationMs' | 'teams' | 'accounts' | 'execution'>, at: Date = new Date()): PassRecord {
  const herokuComplete = pass.teams.every((team) => team.complete);
  const awsComplete = pass.accounts.every((account) => account.complete);
  const failed = (pass.execution?.failed ?? 0) > 0;
  return {
    result: failed || !herokuComplete || !awsComplete ? 'partial' : 'success',
    durationSeconds: pass.durationMs / 1000,
    herokuComplete,
    awsComplete,
    at,
  };
}

/** A pass that threw: nothing it read counts as a complete sync. */
export function failedPassRecord(startedAt: Date, at: Date = new Date()): PassRecord {
  return { result: 'failure', durationSeconds: (at.getTime() - startedAt.getTime()) / 1000, herokuComplete: false, awsComplete: false, at };
}

/** What the latest full pass found: served on `/drift` and by the admin API. */
export interface LatestReports {
  /** The drift report, replaced after each pass. */
  latest: DriftReport | null;
  /** What it read: each linked team's add-ons and attachments, and whether each account could be read. */
  pass?: LatestPassView | null;
}

export interface LatestPassView {
  at: Date;
  teams: PassResult['teams'];
  accounts: { accountId: string; complete: boolean; error: string | null }[];
}

/** KEY_MAX_AGE's default: AWS Security Hub IAM.3 (CIS 1.13) fails keys older than 90 days. */
export const DEFAULT_KEY_MAX_AGE_MS = DEFAULT_ROTATION_POLICY.keyMaxAgeMs;

/** Everything a finished pass tells the metrics, the `/drift` report and the admin API. */
export function publishPass(metrics: Metrics, reports: LatestReports, pass: PassResult, at: Date = new Date(), keyMaxAgeMs = DEFAULT_KEY_MAX_AGE_MS): void {
  metrics.recordPass(passRecord(pass, at));
  reports.latest = pass.drift;
  reports.pass = { at, teams: pass.teams, accounts: pass.accounts.map((a) => ({ accountId: a.accountId, complete: a.complete, error: a.error })) };
  metrics.setDriftReport(pass.drift, pass.accounts.map((a) => a.accountId));
  if (pass.execution) metrics.recordDriftFound(foundThisPass(pass.drift));
  metrics.retainAccounts(pass.accounts.map((a) => a.accountId));
  for (const [accountId, counts] of pass.managed) metrics.setManagedResources(accountId, counts);
  for (const [accountId, createdAt] of pass.keysCreatedAt) metrics.setAccessKeyAges(accountId, createdAt, at, keyMaxAgeMs);
  for (const account of pass.accounts.filter((a) => a.complete)) metrics.setIamUsers(account.accountId, account.iamUsersInAccount, account.iamUserQuota?.quota ?? null);
  for (const account of pass.accounts) {
    const held = pass.actions.filter((a) => a.accountId === account.accountId && a.kind === 'blocked' && a.reason === BlockedReason.GcBreakerTripped);
    metrics.setGcHeld(account.accountId, held.length);
  }
  for (const account of pass.accounts.filter((a) => a.complete)) {
    const steps = pass.rotations.filter((r) => r.accountId === account.accountId).map((r) => r.step);
    const held = pass.actions.filter((a) => a.accountId === account.accountId && a.kind === 'blocked' && a.reason === BlockedReason.RotationBreakerTripped).length;
    metrics.setRotations(account.accountId, steps, held);
  }
}

/** Orphans are reported on every pass of their teardown, not found anew: they are not counted as found. */
const NOT_FOUND_ANEW: ReadonlySet<string> = new Set([DriftKind.OrphanedBucket, DriftKind.OrphanedResource, DriftKind.OrphanedUser, DriftKind.TeamUnlinked]);

/** The drifts a pass found and set out to repair, with how each was found. */
function foundThisPass(report: DriftReport): { accountId: string; kind: string; foundBy: NonNullable<DriftReport['items'][number]['foundBy']> }[] {
  return report.items.flatMap((item) => (item.status === 'repairable' && item.foundBy && !NOT_FOUND_ANEW.has(item.kind) ? [{ accountId: item.accountId, kind: item.kind, foundBy: item.foundBy }] : []));
}

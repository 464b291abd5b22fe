/**
 * What a reconcile pass counts as in the metrics, from its `PassResult`: `partial` when it ran but
 * an action failed or any team's or account's read was incomplete, `failure` when it threw.
 */
import type { PassResult } from '../reconciler/controller.js';
import type { DriftReport } from '../reconciler/drift.js';
import { BlockedReason } from '../reasons.js';
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

/** Everything a finished pass tells the metrics and the `/drift` report. */
export function publishPass(metrics: Metrics, reports: { latest: DriftReport | null }, pass: PassResult, at: Date = new Date()): void {
  metrics.recordPass(passRecord(pass, at));
  reports.latest = pass.drift;
  metrics.setDriftReport(pass.drift, pass.accounts.map((a) => a.accountId));
  for (const [accountId, counts] of pass.managed) metrics.setManagedResources(accountId, counts);
  for (const account of pass.accounts.filter((a) => a.complete)) metrics.setIamUsers(account.accountId, account.iamUsersInAccount, account.iamUserQuota?.quota ?? null);
  for (const account of pass.accounts) {
    const held = pass.actions.filter((a) => a.accountId === account.accountId && a.kind === 'blocked' && a.reason === BlockedReason.GcBreakerTripped);
    metrics.setGcHeld(account.accountId, held.length);
  }
}

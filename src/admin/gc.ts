/**
 * The operator's answer to a tripped mass-deletion breaker (safety invariant 4): approve exactly
 * the deletions it held, once. Shared by `gc approve` and the admin API; journaled with who did it.
 */
import type { GcBreaker, JournalEntry } from '../store/types.js';
import { UserError } from '../util/errors.js';

export interface GcDeps {
  gcBreakers: { get(accountId: string): Promise<GcBreaker | null>; approve(accountId: string, at: Date, planned?: readonly string[]): Promise<GcBreaker | null> };
  journal: { append(entry: JournalEntry): Promise<unknown> };
  instanceId: string;
}

export class NothingToApproveError extends UserError {}

/**
 * Approves the held deletions of `accountId`; the add-ons whose resources the next pass deletes.
 * With `expected` (what the person approving was shown), a breaker that now holds anything else
 * is refused: an approval never covers a deletion nobody saw.
 */
export async function approveGc(deps: GcDeps, accountId: string, actor: string, at: Date, expected?: readonly string[]): Promise<string[]> {
  if (!/^\d{12}$/.test(accountId)) throw new UserError(`"${accountId}" is not a 12-digit AWS account id`);
  const breaker = await deps.gcBreakers.get(accountId);
  if (!breaker) throw new NothingToApproveError(`garbage collection is not held in account ${accountId}: there is nothing to approve`);
  const changed = () =>
    new UserError(`the breaker of account ${accountId} now holds ${breaker.planned.length} add-on(s), not the ${expected!.length} approved: look at the held deletions again and approve what it holds now`);
  if (expected !== undefined && [...expected].sort().join('\n') !== [...breaker.planned].sort().join('\n')) throw changed();
  const approved = await deps.gcBreakers.approve(accountId, at, expected);
  if (!approved && expected !== undefined) throw changed();
  if (!approved) throw new NothingToApproveError(`the breaker of account ${accountId} was reset meanwhile: there is nothing to approve`);
  const planned = approved.planned;
  await deps.journal.append({
    instanceId: deps.instanceId,
    accountId,
    addonId: null,
    action: 'gc-approve',
    resource: accountId,
    phase: 'ok',
    detail: { actor, planned },
  });
  return planned;
}

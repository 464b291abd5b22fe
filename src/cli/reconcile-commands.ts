/** `reconcile --once` and `plan`: one pass, applied or only planned. */
import { loadConfig, need, type Config } from '../config/config.js';
import { createLeaderElector } from '../leader/create-leader-elector.js';
import type { LeaderElector } from '../leader/leader-election.js';
import { actionResource } from '../reconciler/actions.js';
import type { PassResult } from '../reconciler/controller.js';
import { createRuntime } from '../runtime.js';
import { UserError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import { printJson, type OutputFormat } from './output.js';

export interface ReconcileCommandOptions {
  dryRun: boolean;
  output: OutputFormat;
  /** The signal that interrupted the command, once one has: then no further action starts. */
  interrupted?: () => NodeJS.Signals | null;
}

/**
 * Exit codes (DESIGN.md): 0 in sync or done, 1 changes pending (plan), 2 errors; 130/143 when
 * SIGINT/SIGTERM interrupted the pass (it stops between actions, as for a lost leadership).
 */
export async function reconcileCommand(options: ReconcileCommandOptions): Promise<number> {
  const config = loadConfig();
  need(config, 'HEROKU_API_TOKEN', 'ADDON_SERVICES');
  const interrupted = options.interrupted ?? (() => null);
  const logger = createLogger(config.logLevel);
  // `plan` changes nothing; a pass that applies is a writer and needs the leadership.
  const elector = options.dryRun ? null : await oneShotLeadership(config, logger);
  // The executor asks before every action: once interrupted, or no longer leading, the action in
  // flight is the last.
  const runtime = await createRuntime(config, logger, { mayMutate: () => interrupted() === null && (elector?.isLeader() ?? true) }).catch(async (err) => {
    await elector?.stop({ release: true });
    throw err;
  });
  try {
    const result = await runtime.controller.reconcileOnce({ dryRun: options.dryRun });
    if (options.output === 'json') printJson(passSummary(result));
    else printPass(result);
    const signal = interrupted();
    if (signal !== null) {
      const e = result.execution;
      const done = e
        ? `stopped between actions: ${e.applied} applied, ${e.failed} failed, ${e.skipped} not started (the next pass picks them up)`
        : 'nothing was changed';
      process.stderr.write(`heroku-s3-controller: the pass was interrupted by ${signal}; ${done}.\n`);
      return exitCodeFor(signal);
    }
    const incomplete = result.teams.some((t) => !t.complete) || result.accounts.some((a) => !a.complete);
    if (incomplete || (result.execution?.failed ?? 0) > 0) return 2;
    if (options.dryRun && result.actions.length > 0) return 1;
    return 0;
  } finally {
    await runtime.close();
    await elector?.stop({ release: true });
  }
}

/**
 * Safety invariant 7 for a one-shot pass: `reconcile --once` is a writer like `serve`, so it takes
 * part in the same leader election (the PostgreSQL advisory lock or the Kubernetes Lease `serve`
 * replicas contend for) under an identity of its own, and runs only if it wins. Beside a leading
 * `serve` it refuses: two writers on one store would act on each other's half-recorded work (one
 * deleted the access key the other had just created and not yet recorded).
 */
export async function oneShotLeadership(config: Config, logger: Logger): Promise<LeaderElector> {
  const settings = { ...config.leaderElection, identity: `${config.leaderElection.identity}-once-${process.pid}` };
  const elector = createLeaderElector(settings, { databaseUrl: config.databaseUrl, logger });
  await elector.start();
  if (elector.isLeader()) return elector;
  await elector.stop({ release: false });
  const where = settings.mode === 'kubernetes' ? `Lease ${settings.leaseName}` : `PostgreSQL advisory lock ${settings.leaseName}`;
  throw new UserError(
    `another process (a running \`serve\`) leads this deployment (${where}), so \`reconcile --once\` would be a second writer beside it and does nothing. That process already reconciles on RESYNC_SCHEDULE: run \`plan\` to see what its next pass will change, or stop it first`,
  );
}

/** 128 + the signal's number, as a shell reports it: 130 for SIGINT, 143 for SIGTERM. */
export function exitCodeFor(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}

export function passSummary(result: PassResult) {
  return {
    startedAt: result.startedAt.toISOString(),
    durationMs: result.durationMs,
    teams: result.teams.map((t) => ({ teamId: t.teamId, team: t.teamName, complete: t.complete, error: t.error, addons: t.addons.length })),
    accounts: result.accounts.map((a) => ({
      accountId: a.accountId,
      complete: a.complete,
      error: a.error,
      buckets: a.resources.get('bucket')?.size ?? 0,
      users: a.users.size,
      iamUserQuota: a.iamUserQuota,
    })),
    actions: (result.execution?.outcomes ?? result.actions.map((action) => ({ action, result: 'planned' as const, error: undefined, failure: undefined }))).map(
      ({ action, result: outcome, error, failure }) => ({
        kind: action.kind,
        reason: action.reason,
        accountId: action.accountId,
        addonId: action.addonId,
        resource: actionResource(action),
        result: outcome,
        ...(error ? { error } : {}),
        // What kind of failure (access-denied, throttled, …): whether a retry soon can help.
        ...(failure ? { failure } : {}),
      }),
    ),
    drift: result.drift,
    totals: result.execution
      ? { applied: result.execution.applied, failed: result.execution.failed, blocked: result.execution.blocked, skipped: result.execution.skipped }
      : { planned: result.actions.length },
  };
}

function printPass(result: PassResult): void {
  const out: string[] = [];
  for (const team of result.teams) {
    out.push(`team ${team.teamName}: ${team.addons.length} add-on(s)${team.complete ? '' : ` — READ INCOMPLETE: ${team.error}`}`);
  }
  for (const account of result.accounts) {
    out.push(
      account.complete
        ? `account ${account.accountId}: ${account.resources.get('bucket')?.size ?? 0} bucket(s), ${account.users.size} user(s) observed${account.iamUserQuota ? `; IAM users ${account.iamUserQuota.used} of ${account.iamUserQuota.quota} allowed` : ''}`
        : `account ${account.accountId}: NOT READ: ${account.error}`,
    );
  }
  if (!result.execution) {
    // plan: what differs, one line per attribute, then what the next pass would do about it.
    for (const item of result.drift.items) {
      const status = item.status === 'repairable' ? 'drift' : item.status;
      out.push(`  ${status.padEnd(8)} ${item.kind} ${item.resource} ${item.field}: expected ${short(item.expected)}, actual ${short(item.actual)}`);
    }
    const d = result.drift.summary;
    out.push(`${d.managed} managed add-on(s): ${d.inSync} in sync, ${d.drifted} drifted (${d.missing} missing), ${d.flapping} flapping.`);
    out.push(result.actions.length === 0 ? 'In sync: nothing to change.' : `${result.actions.length} change(s) would be made.`);
  } else {
    for (const a of passSummary(result).actions) {
      out.push(`  ${a.result.padEnd(8)} ${a.kind} ${a.resource} (${a.reason})${a.error ? `: ${a.error}` : ''}`);
    }
    const t = result.execution;
    out.push(`${t.applied} applied, ${t.failed} failed, ${t.blocked} blocked, ${t.skipped} skipped in ${result.durationMs} ms`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Long values (policy documents) shortened for a terminal; `-o json` has them whole. */
function short(value: string | null): string {
  if (value === null) return 'none';
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}

/** `reconcile --once` and `plan`: one pass, applied or only planned. */
import { DEFAULT_KEY_MAX_AGE_MS } from '../metrics/pass-outcome.js';
import { keyAgeSummary } from '../reconciler/key-age.js';
import type { KeyRotation } from '../store/types.js';
import { loadConfig, need, type Config } from '../config/config.js';
import { createLeaderElector } from '../leader/create-leader-elector.js';
import type { LeaderElector } from '../leader/leader-election.js';
import { actionResource } from '../reconciler/actions.js';
import type { PassResult } from '../reconciler/controller.js';
import { createRuntime, neededEventRegions } from '../runtime.js';
import { notConfiguredDetail } from '../change-events/event-health.js';
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
    const events = changeEventsView(await runtime.store.eventSources.list(), config, await neededEventRegions(runtime.store));
    if (options.output === 'json') printJson(passSummary(result, config.keyMaxAgeMs, events));
    else printPass(result, config.keyMaxAgeMs, events);
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

/**
 * What `plan` and `reconcile` say of an account's change events (issue 17): set up or not, and how
 * soon drift is found either way. Their health is known only to `serve`, which reads them.
 */
export type ChangeEventsView = (accountId: string) => { configured: boolean; regions: string[]; detail: string };

export function changeEventsView(
  sources: readonly { accountId: string; region: string }[],
  config: Pick<Config, 'deepCheckWindowMs' | 'exposureCheckWindowMs'>,
  needed: ReadonlyMap<string, readonly string[]> = new Map(),
): ChangeEventsView {
  const notConfigured = notConfiguredDetail({ fullMs: config.deepCheckWindowMs, exposureMs: config.exposureCheckWindowMs });
  return (accountId) => {
    const regions = sources.filter((s) => s.accountId === accountId).map((s) => s.region);
    if (regions.length === 0) return { configured: false, regions, detail: notConfigured };
    const uncovered = (needed.get(accountId) ?? []).filter((r) => !regions.includes(r));
    const detail = uncovered.length > 0
      ? `change events set up in ${regions.join(', ')}, but its resources in ${uncovered.join(', ')} have none: drift there is found by deep checks only, and \`serve\` deep-checks the whole account on the usual windows; run \`events setup\` for its team again`
      : `change events set up in ${regions.join(', ')}: \`serve\` finds drift within about a minute while they arrive (its /drift shows their health)`;
    return { configured: true, regions, detail };
  };
}

export function passSummary(result: PassResult, keyMaxAgeMs = DEFAULT_KEY_MAX_AGE_MS, changeEvents?: ChangeEventsView) {
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
      ...accessKeys(result, a.accountId, keyMaxAgeMs),
      ...rotationsOf(result, a.accountId),
      ...(changeEvents ? { changeEvents: changeEvents(a.accountId) } : {}),
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

/** What `plan` and `reconcile` say of one account they read. */
export function accountLine(result: PassResult, account: PassResult['accounts'][number], keyMaxAgeMs: number, changeEvents?: ChangeEventsView): string {
  if (!account.complete) return `account ${account.accountId}: NOT READ: ${account.error}`;
  const quota = account.iamUserQuota ? `; IAM users ${account.iamUserQuota.used} of ${account.iamUserQuota.quota} allowed` : '';
  const events = changeEvents ? `; ${changeEvents(account.accountId).detail}` : '';
  return `account ${account.accountId}: ${account.resources.get('bucket')?.size ?? 0} bucket(s), ${account.users.size} user(s) observed${quota}${oldKeys(accessKeys(result, account.accountId, keyMaxAgeMs).accessKeys)}${rotationText(rotationsOf(result, account.accountId).rotations)}${events}`;
}

/** How far ahead `plan` and `reconcile` count the rotations coming due. */
const ROTATIONS_AHEAD_MS = 7 * 86_400_000;

/** An account's key rotations: in flight by step, and those coming due by age within a week (the soonest named). */
function rotationsOf(result: PassResult, accountId: string) {
  const due = result.rotationsDue.get(accountId);
  if (due === undefined) return {};
  const inFlight: Partial<Record<KeyRotation['step'], number>> = {};
  for (const r of result.rotations.filter((r) => r.accountId === accountId)) inFlight[r.step] = (inFlight[r.step] ?? 0) + 1;
  const soon = due.filter((d) => d.dueAt.getTime() <= result.startedAt.getTime() + ROTATIONS_AHEAD_MS);
  return {
    rotations: {
      inFlight,
      dueWithin7Days: soon.length,
      next: due[0] ? { addonId: due[0].addonId, addonName: due[0].addonName, dueAt: due[0].dueAt.toISOString() } : null,
    },
  };
}

/** `; rotations: 2 in flight (1 delivered, 1 deactivated), 3 due within 7 days (next: bucket-x at …)`, or nothing. */
function rotationText(rotations: ReturnType<typeof rotationsOf>['rotations']): string {
  if (!rotations) return '';
  const steps = Object.entries(rotations.inFlight);
  const total = steps.reduce((n, [, count]) => n + count, 0);
  if (total === 0 && rotations.dueWithin7Days === 0) return '';
  const flight = total > 0 ? `${total} in flight (${steps.map(([step, count]) => `${count} ${step}`).join(', ')})` : '';
  const due = rotations.dueWithin7Days > 0 ? `${rotations.dueWithin7Days} due within 7 days (next: ${rotations.next!.addonName} at ${rotations.next!.dueAt})` : '';
  return `; key rotations: ${[flight, due].filter(Boolean).join(', ')}`;
}

/** `; 3 access key(s) older than KEY_MAX_AGE (oldest 120 days)`, or nothing while none is. */
function oldKeys(summary: ReturnType<typeof keyAgeSummary> | undefined): string {
  if (!summary || summary.pastMaxAge === 0) return '';
  return `; ${summary.pastMaxAge} access key(s) older than KEY_MAX_AGE (oldest ${Math.floor(summary.oldestAgeMs! / 86_400_000)} days)`;
}

/** The delivered keys' ages in a completely read account (see key-age.ts); nothing for another. */
function accessKeys(result: PassResult, accountId: string, keyMaxAgeMs: number): { accessKeys?: ReturnType<typeof keyAgeSummary> } {
  const createdAt = result.keysCreatedAt.get(accountId);
  return createdAt ? { accessKeys: keyAgeSummary(createdAt, result.startedAt, keyMaxAgeMs) } : {};
}

function printPass(result: PassResult, keyMaxAgeMs: number, changeEvents: ChangeEventsView): void {
  const out: string[] = [];
  for (const team of result.teams) {
    out.push(`team ${team.teamName}: ${team.addons.length} add-on(s)${team.complete ? '' : ` — READ INCOMPLETE: ${team.error}`}`);
  }
  for (const account of result.accounts) out.push(accountLine(result, account, keyMaxAgeMs, changeEvents));
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

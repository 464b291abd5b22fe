/**
 * Applies planned actions. Actions of one add-on run in plan order and stop at the first failure
 * (later ones depend on earlier ones); add-ons run side by side. Every mutation is journaled as an
 * intent before the call and an outcome after it (safety invariant 6), and the only secret an
 * action ever handles, a new access key's, goes straight into the store, encrypted. Each action
 * kind is applied by its handler, found by kind in the modules under `apply/` (one per kind of
 * resource); this file is the engine around them.
 */
import { classifyError, type ErrorKind } from '../util/error-class.js';
import { errorMessage } from '../util/errors.js';
import { mapLimit } from '../util/map-limit.js';
import { actionResource, type Action } from './actions.js';
import { configVarHandlers, findDeliveries } from './apply/config-var-actions.js';
import { ApplyContext, Deferred, type ApplyDeps, type Handler, type Handlers } from './apply/context.js';
import { gcHandlers } from './apply/gc-actions.js';
import { userHandlers } from './apply/user-actions.js';
import { rotationHandlers } from './apply/rotation-actions.js';
import { DriftKind } from '../reasons.js';

export type { AddonConfigDelivery } from './apply/context.js';

/**
 * Add-ons worked on at once. AWS is paced per account by the connector's token buckets (IAM and
 * S3 mutations), so this only has to keep those buckets fed: an add-on's IAM calls come after its
 * seven S3 calls, and with 4 add-ons in flight IAM sat idle while all four were in their S3 part
 * (1,000 new add-ons took about 1.5x the 3N / R_iam floor). 16 keeps a queue at both buckets.
 */
export const DEFAULT_EXECUTOR_CONCURRENCY = 16;

export interface ExecutorDeps extends ApplyDeps {
  /** Safety invariant 7: checked before each add-on's batch; false stops all mutation at once. */
  mayMutate?: () => boolean;
  /** Add-ons worked on at once. */
  concurrency?: number;
}

/** The core's action kinds (the user, its key, config vars, garbage collection) and what applies them. */
const CORE_HANDLERS: Handlers = { ...userHandlers, ...rotationHandlers, ...configVarHandlers, ...gcHandlers };

export interface ActionOutcome {
  action: Action;
  result: 'applied' | 'failed' | 'blocked' | 'skipped' | 'deferred';
  error?: string;
  /** For a failed action: what kind of failure (util/error-class.ts), so callers know whether retrying soon helps. */
  failure?: ErrorKind;
}

export interface ExecutionSummary {
  outcomes: ActionOutcome[];
  applied: number;
  failed: number;
  blocked: number;
  skipped: number;
}

export class Executor {
  private readonly ctx: ApplyContext;
  /** Every action kind that changes something outside the store: the core's, and each kind's own. */
  private readonly handlers: Handlers;

  constructor(private readonly deps: ExecutorDeps) {
    this.ctx = new ApplyContext(deps);
    this.handlers = Object.assign({}, CORE_HANDLERS, ...[...deps.kinds.values()].map((kind) => kind.handlers));
  }

  async apply(actions: Action[]): Promise<ExecutionSummary> {
    const groups = new Map<string, Action[]>();
    for (const action of actions) groups.set(action.addonId, [...(groups.get(action.addonId) ?? []), action]);
    const perGroup = await mapLimit([...groups.values()], this.deps.concurrency ?? DEFAULT_EXECUTOR_CONCURRENCY, (group) => this.applyGroup(group));
    const outcomes = perGroup.flat();
    const count = (result: ActionOutcome['result']) => outcomes.filter((o) => o.result === result).length;
    return { outcomes, applied: count('applied'), failed: count('failed'), blocked: count('blocked'), skipped: count('skipped') };
  }

  private async applyGroup(actions: Action[]): Promise<ActionOutcome[]> {
    const outcomes: ActionOutcome[] = [];
    const addonId = actions[0]!.addonId;
    if (this.deps.mayMutate && !this.deps.mayMutate()) {
      return actions.map((action) => ({ action, result: 'skipped', error: 'not the leader' }));
    }
    // A failure stops the add-on's remaining actions (they depend on it); a blocked action does
    // not, since plan() already leaves out whatever depends on a blocked resource.
    let stopped: string | null = null;
    let problem: string | null = null;
    for (const action of actions) {
      if (stopped !== null) {
        outcomes.push({ action, result: 'skipped', error: stopped });
        continue;
      }
      if (this.deps.mayMutate && !this.deps.mayMutate()) {
        // Leadership lost mid-batch: not one more mutating call (the new leader picks it up).
        stopped = 'not the leader';
        outcomes.push({ action, result: 'skipped', error: stopped });
        continue;
      }
      if (action.kind === 'blocked') {
        this.deps.logger.warn({ reason: action.reason, accountId: action.accountId, addonId, resource: action.resource }, action.message);
        outcomes.push({ action, result: 'blocked', error: action.message });
        problem ??= action.message;
        continue;
      }
      try {
        await this.applyOne(action);
        outcomes.push({ action, result: 'applied' });
      } catch (err) {
        if (err instanceof Deferred) {
          outcomes.push({ action, result: 'deferred', error: err.why });
          stopped = err.why;
          continue;
        }
        const message = errorMessage(err);
        const failure = classifyError(err);
        this.deps.logger.error(
          { reason: action.reason, action: action.kind, accountId: action.accountId, addonId, resource: actionResource(action), terminal: !failure.retryable, failure: failure.kind },
          `${action.kind} failed: ${message}${failure.kind === 'access-denied' ? ` (${failure.explanation})` : ''}`,
        );
        outcomes.push({ action, result: 'failed', error: message, failure: failure.kind });
        problem = `${failure.kind === 'access-denied' ? 'access denied: ' : ''}${action.kind}: ${message}`;
        stopped = `earlier action ${action.kind} failed`;
      }
    }
    const finished = actions.some((a) => a.kind === 'forget-resource') && problem === null && stopped === null;
    if (!finished && (await this.deps.resources.get(addonId))) {
      await this.deps.resources.setState(addonId, problem === null ? 'ready' : 'error', problem);
      // What we changed is read back in full on the next pass (the store's own records need not be).
      if (outcomes.some((o) => o.result === 'applied' && o.action.kind !== 'record-resource' && o.action.kind !== 'update-record')) {
        await this.deps.resources.setDeepChecked([addonId], null);
      }
    }
    return outcomes;
  }

  private async applyOne(action: Action): Promise<void> {
    if (action.kind === 'record-resource') {
      // A rebuilt record's vars are looked for first: a read that may answer next time leaves
      // the record unwritten, so the next pass rebuilds it and looks again.
      const rebuilt = action.reason === DriftKind.OrphanedUser || action.reason === DriftKind.OrphanedBucket || action.reason === DriftKind.OrphanedResource;
      const found = rebuilt ? await findDeliveries(this.ctx, action.record) : null;
      await this.deps.resources.upsert(action.record);
      for (const delivery of found?.deliveries ?? []) await this.deps.deliveries.record(delivery);
      await this.journal(action, 'ok', found?.detail);
      return;
    }
    if (action.kind === 'update-record') {
      await this.deps.resources.follow(action.addonId, action.changes);
      await this.journal(action, 'ok', { changes: action.changes });
      return;
    }
    await this.journal(action, 'intent');
    try {
      const detail = await this.mutate(action);
      await this.journal(action, 'ok', detail);
      this.deps.logger.info(
        { reason: action.reason, action: action.kind, accountId: action.accountId, addonId: action.addonId, resource: actionResource(action) },
        `${action.kind} ${actionResource(action)}`,
      );
    } catch (err) {
      if (err instanceof Deferred) {
        await this.journal(action, 'ok', { ...err.detail, finished: false });
      } else {
        await this.journal(action, 'failed', { error: errorMessage(err) });
      }
      throw err;
    }
  }

  /** Performs one cloud or Heroku call through the action kind's handler; returns journal details (never a secret). */
  private async mutate(action: Action): Promise<Record<string, unknown> | undefined> {
    const handler = this.handlers[action.kind] as Handler<Action['kind']> | undefined;
    if (!handler) throw new Error(`${action.kind} is not a cloud mutation`);
    return handler(action, this.ctx);
  }

  private journal(action: Action, phase: 'intent' | 'ok' | 'failed', detail?: Record<string, unknown>) {
    return this.deps.journal.append({
      at: this.now(),
      instanceId: this.deps.instanceId,
      accountId: action.accountId,
      addonId: action.addonId,
      action: action.kind,
      resource: actionResource(action),
      phase,
      detail: { reason: action.reason, ...detail },
    });
  }

  private now(): Date {
    return this.ctx.now();
  }
}

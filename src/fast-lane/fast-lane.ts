/**
 * The event-driven side of `serve`, beside the periodic full pass: the keyed work queue (fast
 * path), the routes that feed it (`POST /webhooks/heroku` with WEBHOOK_SECRETS, the add-on Partner
 * API under `/heroku/resources` with ADDON_MANIFEST_ID), and the Partner API's answers to Heroku
 * once an add-on's resources are ready or cannot be made.
 *
 * Whatever the trigger, a key only says which add-on to look at; `Controller.reconcileAddon`
 * decides from a fresh read. The periodic full pass stays the safety net for every key: it reads
 * team-wide lists (a few pages per team) instead of three requests per add-on, so the resync does
 * not re-enqueue every key; only add-ons whose actions failed in a full pass go to the queue, for
 * their per-key backoff.
 */
import type { MountedRoute } from '../http/public-listener.js';
import type { PartnerApi } from '../partner/partner-api.js';
import type { AddonPassResult, PassResult } from '../reconciler/controller.js';
import type { ChangeHint } from '../change-events/event-intake.js';
import { driftItems } from '../reconciler/drift-report.js';
import type { DriftItem } from '../reconciler/drift.js';
import { FastPath } from './keyed-queue.js';
import { BlockedReason, ChangeEventsEvent, DriftKind, FastLaneEvent, PartnerEvent } from '../reasons.js';
import type { Runtime } from '../runtime.js';
import { errorMessage } from '../util/errors.js';

export interface FastLane {
  readonly fastPath: FastPath;
  /** Mount these on the HTTP server. */
  readonly routes: MountedRoute[];
  start(): void;
  /** After a full pass: failed add-ons to the queue, and Partner API answers for settled add-ons. */
  afterPass(result: PassResult): Promise<void>;
  /** Stops taking keys; true when reconciles in flight and Partner API work ended within `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<boolean>;
  /**
   * A change event named this add-on's bucket or user: it is reconciled after the coalescing
   * window, with a deep check. False when refused (not the leader, or shutting down).
   */
  offerChange(addonId: string, hint: ChangeHint): boolean;
  /** The latest drifts change events found (newest first, at most 50), for `/drift`. */
  foundByEvents(): DriftItem[];
}

/** How many drifts found by events `/drift` keeps. */
const RECENT_FOUND_BY_EVENTS = 50;

export function createFastLane(runtime: Runtime, isLeader: () => boolean): FastLane {
  const { config, logger, partner } = runtime;
  // What the change events said of add-ons waiting for their reconcile: the earliest change each.
  const hints = new Map<string, ChangeHint>();
  const recent: DriftItem[] = [];
  const fastPath = new FastPath({
    controller: {
      reconcileAddon: async (addonId) => {
        const hint = hints.get(addonId);
        hints.delete(addonId);
        const result = await runtime.controller.reconcileAddon(addonId, hint ? { deepCheck: true } : {}).catch((err: unknown) => {
          // Retried with backoff: still with a deep check (the event is the reason to).
          if (hint) keepEarliest(hints, addonId, hint);
          throw err;
        });
        if (hint) {
          // Not settled: the retry reads in full again (the event is the reason to).
          if (!result.complete || (result.execution?.failed ?? 0) > 0) keepEarliest(hints, addonId, hint);
          else recordFoundByEvent(result, hint, runtime, recent);
        }
        if (partner) await answerHeroku(partner, result, runtime);
        return result;
      },
    },
    isLeader,
    logger,
    webhookSecrets: config.webhookSecrets,
    concurrency: config.fastPath.concurrency,
    coalesceMs: config.fastPath.coalesceMs,
  });
  // Provisioning requests go straight to the queue (no coalescing wait: Heroku sends one request).
  runtime.partnerWork.enqueue = (addonId) => {
    if (!fastPath.enqueueAll([addonId])) logger.info({ reason: FastLaneEvent.NotLeader, addonId }, `add-on ${addonId} left for the leader's next pass`);
  };
  const routes = [fastPath.route, partner].filter((r): r is MountedRoute => r !== null);
  return {
    fastPath,
    routes,
    start: () => fastPath.start(),
    async afterPass(result) {
      const failed = new Set((result.execution?.outcomes ?? []).filter((o) => o.result === 'failed').map((o) => o.action.addonId));
      fastPath.enqueueAll(failed);
      if (!partner) return;
      // A provisioning request the full pass settled before the queue got to it.
      const touched = new Set(result.actions.map((a) => a.addonId));
      for (const addon of await runtime.store.partnerAddons.list()) {
        if (addon.state !== 'provisioning' || failed.has(addon.uuid) || touched.has(addon.uuid)) continue;
        const record = await runtime.store.resources.get(addon.uuid);
        if (record?.state === 'ready') await send(() => partner.markReady(addon.uuid), addon.uuid, runtime);
      }
    },
    async shutdown(timeoutMs) {
      const keyed = await fastPath.shutdown(timeoutMs);
      await partner?.settle();
      return keyed.drained;
    },
    offerChange(addonId, hint) {
      const key = addonId.toLowerCase();
      if (!fastPath.enqueue(key)) return false;
      keepEarliest(hints, key, hint);
      logger.debug({ reason: ChangeEventsEvent.ChangeAccepted, addonId: key, eventName: hint.eventName }, `${hint.eventName} on add-on ${key}'s resources: reconciled with a deep check`);
      return true;
    },
    foundByEvents: () => [...recent],
  };
}

/** Several events for one add-on before its reconcile: the earliest change is the one that stood longest. */
function keepEarliest(hints: Map<string, ChangeHint>, addonId: string, hint: ChangeHint): void {
  const held = hints.get(addonId);
  if (held?.changedAt && (!hint.changedAt || held.changedAt <= hint.changedAt)) return;
  hints.set(addonId, held && !hint.changedAt ? held : hint);
}

/**
 * The drifts a reconcile started by a change event found (and repaired): counted as found by the
 * event, with how long they stood since the change, and kept for `/drift`.
 */
function recordFoundByEvent(result: AddonPassResult, hint: ChangeHint, runtime: Runtime, recent: DriftItem[]): void {
  if (!result.execution) return;
  const stoodSeconds = hint.changedAt ? Math.max(0, (result.startedAt.getTime() - hint.changedAt.getTime()) / 1000) : undefined;
  const items = driftItems(result.actions).map((item): DriftItem => ({
    ...item,
    foundBy: 'event',
    ...(hint.changedAt ? { changedAt: hint.changedAt.toISOString() } : {}),
    ...(stoodSeconds !== undefined ? { stoodSeconds } : {}),
  }));
  const found = items.filter((i) => i.status === 'repairable');
  runtime.metrics.recordDriftFound(found.map((i) => ({ accountId: i.accountId, kind: i.kind, foundBy: 'event' as const, ...(stoodSeconds !== undefined ? { stoodSeconds } : {}) })));
  recent.unshift(...found);
  recent.splice(RECENT_FOUND_BY_EVENTS);
}

/**
 * Tells Heroku about a partner add-on after its reconcile: provisioned once every planned action
 * succeeded, or failed for good when it can never be served (its app's team is not linked, or
 * the bucket name belongs to someone else). Anything else is retried by the queue.
 */
async function answerHeroku(partner: PartnerApi, result: AddonPassResult, runtime: Runtime): Promise<void> {
  const id = result.addonId;
  if (result.heroku === 'not-ours') {
    await send(() => partner.markFailed(id, 'the app is not in a Heroku Team linked to an AWS account by this controller; ask the platform team to link it'), id, runtime);
    return;
  }
  if (result.heroku !== 'found' || !result.complete || (result.execution?.failed ?? 0) > 0) return;
  const blocked = result.actions.filter((a) => a.kind === 'blocked');
  const taken = blocked.find((a) => a.reason === DriftKind.NameTaken || a.reason === BlockedReason.NotOwned);
  if (taken) {
    await send(() => partner.markFailed(id, 'the bucket or user name this add-on needs already belongs to something else in the AWS account'), id, runtime);
    return;
  }
  if (blocked.length === 0) await send(() => partner.markReady(id), id, runtime);
}

async function send(call: () => Promise<string>, addonId: string, runtime: Runtime): Promise<void> {
  try {
    await call();
  } catch (err) {
    // Tried again after the next full pass (`afterPass`); the answer is recorded only once Heroku accepted it.
    runtime.logger.warn({ reason: PartnerEvent.AnswerFailed, addonId }, `cannot tell Heroku about add-on ${addonId} yet: ${errorMessage(err)}`);
  }
}

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
import { FastPath } from './keyed-queue.js';
import { BlockedReason, DriftKind, FastLaneEvent, PartnerEvent } from '../reasons.js';
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
}

export function createFastLane(runtime: Runtime, isLeader: () => boolean): FastLane {
  const { config, logger, partner } = runtime;
  const fastPath = new FastPath({
    controller: {
      reconcileAddon: async (addonId) => {
        const result = await runtime.controller.reconcileAddon(addonId);
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
  };
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

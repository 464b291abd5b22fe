/**
 * The fast path (issue 6): events name an add-on, a keyed work queue reconciles it. Whatever the
 * trigger — an app webhook, a provisioning call, the resync's safety net — a key only says which
 * add-on to look at (STYLE.md #1); `Controller.reconcileAddon` re-reads Heroku and AWS and decides.
 *
 * - The queue (STYLE.md #6) dedupes keys, runs one reconcile per key at a time, backs off per key
 *   on failure and forgets the backoff on success, under a global start rate. A failure asking
 *   again soon will not fix (util/error-class.ts: access denied, refused, terminal) waits the
 *   longest backoff at once; any other (throttled, unavailable, not found) backs off step by step.
 * - Event keys are coalesced for `coalesceMs`: Heroku sends several events for one change (add-on
 *   create, attachment create, add-on update when provisioned), and a storm of deliveries for one
 *   add-on within the window becomes one reconcile. A key that arrives while its reconcile runs
 *   is run once more afterwards (the run may have read state older than the event), never twice.
 * - Only the leader processes keys (safety invariant 7). A standby refuses them: level-triggered,
 *   the leader's resync covers whatever a standby was told about. A key whose leadership is lost
 *   while it waits is dropped the same way.
 * - A keyed reconcile never runs beside a full pass: the controller serializes them itself (see
 *   `PassLock` in controller.ts), so whichever caller starts a pass, neither acts on records the
 *   other is changing.
 */
import type { MountedRoute } from '../http/public-listener.js';
import { WorkQueue, type QueueClock, type ShutdownResult, type WorkQueueHooks, type WorkResult } from '../queue/work-queue.js';
import { needsOutsideChange, type ErrorKind } from '../util/error-class.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { createWebhookHandler } from '../webhooks/heroku-webhooks.js';
import { MemoryReplayStore, type ReplayStore } from '../webhooks/replay-store.js';
import type { AddonPassResult } from '../reconciler/controller.js';
import { FastLaneEvent } from '../reasons.js';

/** The path Heroku app webhooks are delivered to (`webhooks register --url https://host/webhooks/heroku`). */
export const WEBHOOK_PATH = '/webhooks/heroku';

export interface FastPathOptions {
  controller: { reconcileAddon(addonId: string): Promise<AddonPassResult> };
  /** True while this replica leads; checked when a key is offered and again before it runs. */
  isLeader: () => boolean;
  logger: Logger;
  /** WEBHOOK_SECRETS: with none, no webhook route is offered (`route` is null). */
  webhookSecrets?: readonly string[];
  /** Reconciles at once (FAST_PATH_CONCURRENCY). Default 4. */
  concurrency?: number;
  /** Event keys wait this long so a burst for one add-on collapses into one reconcile (FAST_PATH_COALESCE). Default 1 s. */
  coalesceMs?: number;
  /** Global start rate of reconciles. Default the queue's: 5 per second, bursts of 20. */
  rateLimit?: { qps: number; burst: number };
  /** Per-key backoff after a failed or incomplete reconcile. Default 1 s doubling up to 5 min. */
  backoff?: { baseMs: number; maxMs: number };
  /** One reconcile's deadline. Default 10 min. */
  handlerTimeoutMs?: number;
  /** Accepted delivery ids (replays answered without enqueueing). Default: in memory, 24 h. */
  replayStore?: ReplayStore;
  clock?: QueueClock;
  /** Queue metrics (depth, retries, durations). */
  hooks?: WorkQueueHooks;
}

export class FastPath {
  /** `POST /webhooks/heroku` to mount on the HTTP server; null without WEBHOOK_SECRETS. */
  readonly route: MountedRoute | null;
  private readonly queue: WorkQueue;
  private readonly coalesceMs: number;
  private started = false;
  /** Keys offered before `start()`; they run once it is called. */
  private readonly early = new Set<string>();

  constructor(private readonly options: FastPathOptions) {
    this.coalesceMs = options.coalesceMs ?? 1_000;
    const log = options.logger;
    this.queue = new WorkQueue({
      handler: (key) => this.reconcile(key),
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.handlerTimeoutMs !== undefined ? { handlerTimeoutMs: options.handlerTimeoutMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      hooks: {
        ...options.hooks,
        onError: (key, error, failure) => {
          options.hooks?.onError?.(key, error, failure);
          log.warn(
            { reason: FastLaneEvent.AddonReconcileFailed, addonId: key, failure: failure.kind, retryable: failure.retryable },
            `reconcile of add-on ${key} failed (${failure.kind}: ${failure.explanation}); ${needsOutsideChange(failure.kind) ? 'waiting the longest backoff' : 'retrying with backoff'}: ${errorMessage(error)}`,
          );
        },
      },
    });
    const secrets = (options.webhookSecrets ?? []).filter((s) => s.length > 0);
    this.route =
      secrets.length === 0
        ? null
        : {
            prefix: WEBHOOK_PATH,
            handle: createWebhookHandler({
              secrets,
              seen: options.replayStore ?? new MemoryReplayStore(),
              enqueue: (addonId) => {
                // The receiver answers 503 and forgets the delivery id: a `sync` webhook's retry may
                // reach the leader, and the leader's resync covers the add-on in any case.
                if (!this.enqueue(addonId)) throw new Error(this.options.isLeader() ? 'the work queue is shutting down' : 'this replica is not the leader');
              },
              logger: log,
            }),
          };
  }

  /**
   * Offers an add-on id from an event, to be reconciled after the coalescing window. Returns
   * false when it was refused (not the leader, or shutting down); a key already waiting counts as
   * accepted.
   */
  enqueue(addonId: string): boolean {
    if (this.queue.shuttingDown || !this.options.isLeader()) return false;
    const key = addonId.toLowerCase();
    if (!this.started) {
      this.early.add(key);
      return true;
    }
    this.queue.addAfter(key, this.coalesceMs);
    return true;
  }

  /**
   * The resync's safety net: offers every id at once (no coalescing; the queue's rate limit spreads
   * them). Returns how many were accepted. A standby accepts none.
   */
  enqueueAll(addonIds: Iterable<string>): number {
    if (this.queue.shuttingDown || !this.options.isLeader()) return 0;
    let accepted = 0;
    for (const id of addonIds) {
      const key = id.toLowerCase();
      if (!this.started) {
        if (!this.early.has(key)) accepted++;
        this.early.add(key);
      } else if (this.queue.add(key)) {
        accepted++;
      }
    }
    return accepted;
  }

  /** Starts reconciling; keys offered before now run at once. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.queue.enqueueAll(this.early);
    this.early.clear();
  }

  /**
   * Stops taking keys, drops those waiting (the next leader's resync finds them), and waits up to
   * `timeoutMs` for reconciles in flight before abandoning them.
   */
  shutdown(timeoutMs?: number): Promise<ShutdownResult> {
    this.early.clear();
    return this.queue.shutDown(timeoutMs === undefined ? {} : { timeoutMs });
  }

  /** Resolves once nothing is queued or running (keys in their coalescing window or backoff do not count). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  stats(): { queued: number; running: number; dirty: number; delayed: number } {
    return this.queue.stats();
  }

  private async reconcile(addonId: string): Promise<WorkResult> {
    if (!this.options.isLeader()) {
      this.options.logger.debug({ reason: FastLaneEvent.NotLeader, addonId }, `add-on ${addonId} dropped: this replica no longer leads`);
      return 'done';
    }
    const result = await this.options.controller.reconcileAddon(addonId);
    const failed = result.execution?.failed ?? 0;
    if (!result.complete || failed > 0) {
      // Only when every failure is one that asking again soon will not fix does the key wait the longest backoff.
      const failures = [...new Set((result.execution?.outcomes ?? []).flatMap((o): ErrorKind[] => (o.result === 'failed' ? [o.failure ?? 'unavailable'] : [])))];
      const wait = result.complete && failures.length > 0 && failures.every(needsOutsideChange);
      this.options.logger.info(
        { reason: FastLaneEvent.AddonReconcileIncomplete, addonId, heroku: result.heroku, failed, failures },
        `add-on ${addonId} not settled (${result.complete ? `${failed} action(s) failed${failures.length > 0 ? `: ${failures.join(', ')}` : ''}` : `read incomplete: ${result.error}`}); ${wait ? 'waiting the longest backoff' : 'retrying with backoff'}`,
      );
      return wait ? 'wait' : 'retry';
    }
    return 'done';
  }
}

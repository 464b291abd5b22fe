/**
 * The controller's Prometheus metrics, on a registry of its own (never prom-client's global one,
 * so two runtimes in one process, as in tests, do not share or clash). Label values are bounded
 * by construction: account ids, fixed vocabularies (drift kinds, results, services) and Heroku
 * path templates — never a bucket, user, app or team name, and never a secret.
 */
import { keyAgeSummary } from '../reconciler/key-age.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DriftReport, FoundBy } from '../reconciler/drift.js';
import type { EventPathReport, EventPathState, IntakeOutcome } from '../change-events/event-health.js';
import { DriftKind } from '../reasons.js';
import type { RotationStep } from '../store/types.js';

const ROTATION_STEPS: readonly RotationStep[] = ['requested', 'creating', 'delivered', 'deactivated', 'reactivated'];
import type { ApiCall } from '../sinks/aws/api-calls.js';
import type { HerokuRequest } from '../heroku/heroku-api.js';
import { herokuOperation } from './heroku-operation.js';
import { classifyError } from '../util/error-class.js';

export { herokuOperation } from './heroku-operation.js';

export const METRIC_PREFIX = 'heroku_s3_controller_';

/** AWS's default quota of IAM users per account: the quota ratio's divisor while an account's own is unknown. */
export const IAM_USERS_QUOTA = 5000;

/**
 * `success`: everything read completely and no action failed. `partial`: the pass ran, but an
 * action failed or some team's or account's read was incomplete. `failure`: the pass threw.
 */
export type PassResultKind = 'success' | 'partial' | 'failure';

export interface PassRecord {
  result: PassResultKind;
  durationSeconds: number;
  /** Every linked team's desired state was read completely. */
  herokuComplete: boolean;
  /** Every linked account was observed completely. */
  awsComplete: boolean;
  /** When the pass finished. */
  at: Date;
}

export type ManagedResourceType = 'bucket' | 'iam_user' | 'access_key';
export type ManagedResourceCounts = Record<ManagedResourceType, number>;

/** What the Heroku budget gauges read (a `HerokuBudget`). */
export interface HerokuBudgetSource {
  snapshot(): { spentLastHour: number; capPerHour: number };
}

/** The rendered scrape: prom-client's content type and the text exposition. */
export interface RenderedMetrics {
  contentType: string;
  body: string;
}

export interface MetricsOptions {
  /**
   * Also export prom-client's process and Node.js metrics (CPU, memory, event-loop lag, GC),
   * prefixed `heroku_s3_controller_`. Default true; they cost a little on each scrape and an
   * event-loop delay monitor, nothing per pass.
   */
  processMetrics?: boolean;
}

const RESULTS: readonly PassResultKind[] = ['success', 'partial', 'failure'];
const RESOURCE_TYPES: readonly ManagedResourceType[] = ['bucket', 'iam_user', 'access_key'];

const GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

const PATH_STATES: readonly EventPathState[] = ['not-configured', 'starting', 'healthy', 'degraded'];

/** How long drift stood: from seconds (an event) to a day (a long deep-check window). */
const STOOD_BUCKETS = [5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600];

/** Pass durations from a tenth of a second (nothing to do) to ten minutes (a large fleet). */
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class Metrics {
  readonly registry = new Registry();

  private readonly driftItems: Gauge<'account_id' | 'kind'>;
  private readonly driftFlapping: Gauge<'account_id'>;
  private readonly managedResources: Gauge<'account_id' | 'type'>;
  private readonly reconcileTotal: Counter<'result'>;
  private readonly reconcileDuration: Histogram;
  private readonly apiRequests: Counter<'service' | 'operation' | 'outcome' | 'failure'>;
  private readonly herokuRateLimit: Gauge;
  private herokuRateLimitRegistered = false;
  private readonly herokuBudgetSpent: Gauge;
  private readonly herokuBudgetCap: Gauge;
  private herokuBudgetSource: HerokuBudgetSource | null = null;
  private readonly lastSuccessfulSync: Gauge<'source'>;
  private readonly iamUsersQuota: Gauge<'account_id'>;
  private readonly iamUserQuota: Gauge<'account_id'>;
  private readonly gcHeld: Gauge<'account_id'>;
  private readonly keyOldestAge: Gauge<'account_id'>;
  private readonly keysPastMaxAge: Gauge<'account_id'>;
  private readonly rotationsInFlight: Gauge<'account_id' | 'step'>;
  private readonly rotationsHeld: Gauge<'account_id'>;
  private readonly leader: Gauge;
  private leaderRegistered = false;
  private readonly changeEventsReceived: Counter<'account_id' | 'outcome'>;
  private readonly changeEventPathState: Gauge<'account_id' | 'state'>;
  private readonly changeEventLastAge: Gauge<'account_id'>;
  private readonly changeEventProbeRoundTrip: Gauge<'account_id' | 'region'>;
  private changeEventSource: (() => EventPathReport[]) | null = null;
  private readonly driftFound: Counter<'account_id' | 'kind' | 'found_by'>;
  private readonly driftStood: Histogram<'found_by'>;
  /** Accounts some per-account series is shown for (see {@link retainAccounts}). */
  private readonly accountsShown = new Set<string>();
  /** Accounts of the latest drift report, kept at 0 by the next one if they have no item left. */
  private driftAccounts = new Set<string>();

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.driftItems = new Gauge({
      name: `${METRIC_PREFIX}drift_items`,
      help: 'Drift items in the latest report, by AWS account and drift kind.',
      labelNames: ['account_id', 'kind'],
      registers,
    });
    this.driftFlapping = new Gauge({
      name: `${METRIC_PREFIX}drift_flapping`,
      help: 'Drift items in the latest report that are flapping (repaired too often; no longer repaired).',
      labelNames: ['account_id'],
      registers,
    });
    this.managedResources = new Gauge({
      name: `${METRIC_PREFIX}managed_resources`,
      help: 'Resources this instance manages, by AWS account and type.',
      labelNames: ['account_id', 'type'],
      registers,
    });
    this.reconcileTotal = new Counter({
      name: `${METRIC_PREFIX}reconcile_total`,
      help: 'Reconcile passes by result: success, partial (an action failed or a read was incomplete) or failure.',
      labelNames: ['result'],
      registers,
    });
    for (const result of RESULTS) this.reconcileTotal.inc({ result }, 0);
    this.reconcileDuration = new Histogram({
      name: `${METRIC_PREFIX}reconcile_duration_seconds`,
      help: 'Duration of reconcile passes.',
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.apiRequests = new Counter({
      name: `${METRIC_PREFIX}api_requests_total`,
      help: 'Requests to AWS (s3, iam, sts) and Heroku, by operation and outcome (ok or error); an error also by failure kind (access-denied, throttled, not-found, refused, terminal, unavailable).',
      labelNames: ['service', 'operation', 'outcome', 'failure'],
      registers,
    });
    // Registered on the first value: before Heroku has answered, the budget is unknown, and a
    // label-less gauge would otherwise claim 0 (an empty budget) from the start.
    this.herokuRateLimit = new Gauge({
      name: `${METRIC_PREFIX}heroku_rate_limit_remaining`,
      help: 'Heroku API request budget left, from the latest RateLimit-Remaining header.',
      registers: [],
    });
    // Registered by `watchHerokuBudget`, and read from the budget at each scrape (the sliding hour
    // moves on between passes).
    const metrics = this;
    this.herokuBudgetSpent = new Gauge({
      name: `${METRIC_PREFIX}heroku_budget_spent_last_hour`,
      help: 'Heroku requests (tokens) this controller sent in the sliding last hour, every page and retry included.',
      registers: [],
      collect() {
        if (metrics.herokuBudgetSource) this.set(metrics.herokuBudgetSource.snapshot().spentLastHour);
      },
    });
    this.herokuBudgetCap = new Gauge({
      name: `${METRIC_PREFIX}heroku_budget_cap_per_hour`,
      help: 'Most Heroku requests (tokens) this controller may send per sliding hour: HEROKU_BUDGET_MAX_SHARE x HEROKU_BUDGET_TOKENS_PER_HOUR.',
      registers: [],
      collect() {
        if (metrics.herokuBudgetSource) this.set(metrics.herokuBudgetSource.snapshot().capPerHour);
      },
    });
    this.lastSuccessfulSync = new Gauge({
      name: `${METRIC_PREFIX}last_successful_sync_timestamp_seconds`,
      help: 'When a pass last read its source completely: heroku (every linked team) or aws (every linked account).',
      labelNames: ['source'],
      registers,
    });
    this.gcHeld = new Gauge({
      name: `${METRIC_PREFIX}gc_breaker_held_deletions`,
      help: 'Add-on teardowns held by the tripped mass-deletion breaker of the account, waiting for `gc approve`.',
      labelNames: ['account_id'],
      registers,
    });
    this.iamUsersQuota = new Gauge({
      name: `${METRIC_PREFIX}iam_users_quota_ratio`,
      help: `IAM users in the AWS account divided by its IAM user quota (iam_users_quota), or by the default quota of ${IAM_USERS_QUOTA} while that is unknown.`,
      labelNames: ['account_id'],
      registers,
    });
    this.iamUserQuota = new Gauge({
      name: `${METRIC_PREFIX}iam_users_quota`,
      help: 'IAM users the AWS account may hold (UsersQuota of IAM GetAccountSummary); absent while it cannot be read.',
      labelNames: ['account_id'],
      registers,
    });
    this.keyOldestAge = new Gauge({
      name: `${METRIC_PREFIX}access_key_oldest_age_seconds`,
      help: 'Age of the oldest access key the controller delivers in the AWS account (keys whose creation time is known); 0 when none.',
      labelNames: ['account_id'],
      registers,
    });
    this.keysPastMaxAge = new Gauge({
      name: `${METRIC_PREFIX}access_keys_past_max_age`,
      help: 'Access keys the controller delivers in the AWS account that are older than KEY_MAX_AGE (AWS Security Hub IAM.3 fails them past 90 days).',
      labelNames: ['account_id'],
      registers,
    });
    this.rotationsInFlight = new Gauge({
      name: `${METRIC_PREFIX}key_rotations_in_flight`,
      help: 'Access-key rotations under way in the AWS account, by step (requested, creating, delivered, deactivated, reactivated: the old key was still used after deactivation and waits for an operator).',
      labelNames: ['account_id', 'step'],
      registers,
    });
    this.rotationsHeld = new Gauge({
      name: `${METRIC_PREFIX}key_rotation_deactivations_held`,
      help: 'Old keys of age rotations the deactivation breaker holds in the AWS account (more than ROTATION_MAX_DEACTIVATION_RATIO in one pass) until `rotate approve`.',
      labelNames: ['account_id'],
      registers,
    });
    this.changeEventsReceived = new Counter({
      name: `${METRIC_PREFIX}change_events_received_total`,
      help: 'Messages read from the AWS account\'s change-event queues, by outcome: accepted (an add-on is reconciled with a deep check), duplicate, not-ours, own-change, failed-call, probe, unknown-probe, malformed, oversized, foreign-account, unwatched.',
      labelNames: ['account_id', 'outcome'],
      registers,
    });
    // The three below are read from the lane's health at each scrape (see watchChangeEvents).
    const source = () => this.changeEventSource?.() ?? [];
    this.changeEventPathState = new Gauge({
      name: `${METRIC_PREFIX}change_events_path_state`,
      help: 'The AWS account\'s change-event path: 1 for its state (not-configured: drift is found within DEEP_CHECK_WINDOW; starting; healthy: within about a minute; degraded: a queue failed or a probe was lost), 0 for the others.',
      labelNames: ['account_id', 'state'],
      registers,
      collect() {
        this.reset();
        for (const report of source()) for (const state of PATH_STATES) this.set({ account_id: report.accountId, state }, report.state === state ? 1 : 0);
      },
    });
    this.changeEventLastAge = new Gauge({
      name: `${METRIC_PREFIX}change_events_last_event_age_seconds`,
      help: 'Seconds since the last message came from the AWS account\'s change-event queues (the probe keeps it under the probe interval while the path works).',
      labelNames: ['account_id'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const report of source()) if (report.lastEventAt) this.set({ account_id: report.accountId }, (now - Date.parse(report.lastEventAt)) / 1000);
      },
    });
    this.changeEventProbeRoundTrip = new Gauge({
      name: `${METRIC_PREFIX}change_events_probe_round_trip_seconds`,
      help: 'How long the last probe took from EventBridge through the queue back to the controller, per region of the AWS account.',
      labelNames: ['account_id', 'region'],
      registers,
      collect() {
        this.reset();
        for (const report of source()) {
          for (const region of report.regions) if (region.lastProbe?.roundTripMs != null) this.set({ account_id: report.accountId, region: region.region }, region.lastProbe.roundTripMs / 1000);
        }
      },
    });
    this.driftFound = new Counter({
      name: `${METRIC_PREFIX}drift_found_total`,
      help: 'Drifts found and repaired, by how they were found: event (a change event named the resource), deep-check, exposure-check (the public-exposure settings on their shorter window) or bulk-read.',
      labelNames: ['account_id', 'kind', 'found_by'],
      registers,
    });
    this.driftStood = new Histogram({
      name: `${METRIC_PREFIX}drift_stood_seconds`,
      help: 'How long a drift stood before it was found: detected-at minus changed-at, where a change event says when it was changed.',
      labelNames: ['found_by'],
      buckets: STOOD_BUCKETS,
      registers,
    });
    // Registered by the first `setLeader`: only `serve` takes part in an election. No label: the
    // scrape's own target labels (pod, instance) say which replica it is.
    this.leader = new Gauge({
      name: `${METRIC_PREFIX}leader`,
      help: '1 while this replica is the elected leader (the one that reconciles and mutates), else 0.',
      registers: [],
    });
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
      // Gauges whose names end in `_total` (promtool's lint rejects that: `_total` means a
      // counter); each is only the sum of the by-type gauge beside it (`nodejs_active_handles`…).
      for (const name of GAUGES_NAMED_TOTAL) this.registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
    }
  }

  /** After each pass, whatever its result. */
  recordPass(pass: PassRecord): void {
    this.reconcileTotal.inc({ result: pass.result });
    this.reconcileDuration.observe(Math.max(0, pass.durationSeconds));
    const seconds = pass.at.getTime() / 1000;
    if (pass.herokuComplete) this.lastSuccessfulSync.set({ source: 'heroku' }, seconds);
    if (pass.awsComplete) this.lastSuccessfulSync.set({ source: 'aws' }, seconds);
  }

  /**
   * Replaces the drift gauges with the counts of `report`. Every drift kind of every account in
   * the report, in `accountIds` (the accounts the pass looked at) and, when `accountIds` is not
   * given, in the previous report, is exported — at 0 when it has no item — so a kind that went
   * away drops to 0 instead of keeping its last value. An account no longer named disappears.
   */
  setDriftReport(report: DriftReport, accountIds?: Iterable<string>): void {
    const accounts = new Set(accountIds ?? this.driftAccounts);
    const kinds = new Set<string>(Object.values(DriftKind));
    const counts = new Map<string, Map<string, number>>();
    const flapping = new Map<string, number>();
    for (const item of report.items) {
      accounts.add(item.accountId);
      kinds.add(item.kind);
      const byKind = counts.get(item.accountId) ?? new Map<string, number>();
      byKind.set(item.kind, (byKind.get(item.kind) ?? 0) + 1);
      counts.set(item.accountId, byKind);
      if (item.status === 'flapping') flapping.set(item.accountId, (flapping.get(item.accountId) ?? 0) + 1);
    }
    this.driftItems.reset();
    this.driftFlapping.reset();
    for (const account of accounts) {
      for (const kind of kinds) this.driftItems.set({ account_id: account, kind }, counts.get(account)?.get(kind) ?? 0);
      this.driftFlapping.set({ account_id: account }, flapping.get(account) ?? 0);
    }
    this.driftAccounts = accounts;
  }

  setManagedResources(accountId: string, counts: ManagedResourceCounts): void {
    this.accountsShown.add(accountId);
    for (const type of RESOURCE_TYPES) this.managedResources.set({ account_id: accountId, type }, counts[type]);
  }

  /** Teardowns the account's mass-deletion breaker holds back (0 when it is not tripped). */
  setGcHeld(accountId: string, count: number): void {
    this.accountsShown.add(accountId);
    this.gcHeld.set({ account_id: accountId }, count);
  }

  /**
   * `count`: every IAM user in the account, ours or not (the quota is per account). `quota`: the
   * account's IAM user quota as read this pass; null when it was not (its series is then dropped,
   * and the ratio is taken against the default quota).
   */
  setIamUsers(accountId: string, count: number, quota: number | null = null): void {
    this.accountsShown.add(accountId);
    this.iamUsersQuota.set({ account_id: accountId }, count / (quota ?? IAM_USERS_QUOTA));
    if (quota === null) this.iamUserQuota.remove({ account_id: accountId });
    else this.iamUserQuota.set({ account_id: accountId }, quota);
  }

  /** When each delivered key of the account was made (null: not known yet), against KEY_MAX_AGE. */
  setAccessKeyAges(accountId: string, createdAt: readonly (Date | null)[], now: Date, maxAgeMs: number): void {
    this.accountsShown.add(accountId);
    const summary = keyAgeSummary(createdAt, now, maxAgeMs);
    this.keyOldestAge.set({ account_id: accountId }, (summary.oldestAgeMs ?? 0) / 1000);
    this.keysPastMaxAge.set({ account_id: accountId }, summary.pastMaxAge);
  }

  /** The account's rotations in flight by step (every step shown, 0 when none), and the deactivations the breaker holds. */
  setRotations(accountId: string, steps: readonly RotationStep[], held: number): void {
    this.accountsShown.add(accountId);
    for (const step of ROTATION_STEPS) this.rotationsInFlight.set({ account_id: accountId, step }, steps.filter((s) => s === step).length);
    this.rotationsHeld.set({ account_id: accountId }, held);
  }

  /**
   * Drops the per-account series of every account not in `accountIds` (the accounts a pass read):
   * an account unlinked since keeps no figure that an alert would go on firing on.
   */
  retainAccounts(accountIds: Iterable<string>): void {
    const keep = new Set(accountIds);
    for (const accountId of [...this.accountsShown]) if (!keep.has(accountId)) this.forgetAccount(accountId);
  }

  /** Drops every per-account series of an account that is no longer linked. */
  forgetAccount(accountId: string): void {
    this.accountsShown.delete(accountId);
    for (const type of RESOURCE_TYPES) this.managedResources.remove({ account_id: accountId, type });
    this.iamUsersQuota.remove({ account_id: accountId });
    this.iamUserQuota.remove({ account_id: accountId });
    this.gcHeld.remove({ account_id: accountId });
    this.keyOldestAge.remove({ account_id: accountId });
    this.keysPastMaxAge.remove({ account_id: accountId });
    for (const step of ROTATION_STEPS) this.rotationsInFlight.remove({ account_id: accountId, step });
    this.rotationsHeld.remove({ account_id: accountId });
  }

  /**
   * Whether this replica leads now. Losing leadership clears the gauges a pass publishes (see
   * {@link clearPassGauges}): a standby must not go on exporting a former leader's figures, which
   * alerts aggregating over replicas (`max by (account_id)`, `min`) would keep firing on.
   */
  setLeader(leading: boolean): void {
    if (!this.leaderRegistered) {
      this.registry.registerMetric(this.leader);
      this.leaderRegistered = true;
    }
    this.leader.set(leading ? 1 : 0);
    if (!leading) this.clearPassGauges();
  }

  /**
   * Drops every series a pass sets from what it read — drift, managed resources, breaker holds,
   * key ages, IAM quota, and the Heroku rate limit last seen — until this replica publishes a pass again.
   * Counters, histograms and the last-successful-sync timestamps stay: they are this process's
   * own history, and alerts take their increase or their maximum.
   */
  clearPassGauges(): void {
    this.driftItems.reset();
    this.driftFlapping.reset();
    this.driftAccounts = new Set();
    this.managedResources.reset();
    this.accountsShown.clear();
    this.gcHeld.reset();
    this.keyOldestAge.reset();
    this.keysPastMaxAge.reset();
    this.rotationsInFlight.reset();
    this.rotationsHeld.reset();
    this.iamUsersQuota.reset();
    this.iamUserQuota.reset();
    if (this.herokuRateLimitRegistered) {
      this.registry.removeSingleMetric(`${METRIC_PREFIX}heroku_rate_limit_remaining`);
      this.herokuRateLimitRegistered = false;
    }
  }

  /** For `ApiCallRecorder.onCall`. */
  observeAwsCall(call: ApiCall): void {
    this.apiRequests.inc({ service: call.service, operation: call.operation, outcome: call.outcome, ...(call.outcome === 'error' ? { failure: call.failure ?? 'unavailable' } : {}) });
  }

  /** For `HerokuApi`'s `onRequest`: the path is reduced to its template (no names, no ids). */
  observeHerokuRequest(request: HerokuRequest): void {
    const ok = request.status > 0 && request.status < 400;
    const failure = ok ? {} : { failure: classifyError({ statusCode: request.status }).kind };
    this.apiRequests.inc({ service: 'heroku', operation: herokuOperation(request.method, request.path), outcome: ok ? 'ok' : 'error', ...failure });
  }

  setHerokuRateLimit(remaining: number): void {
    if (!Number.isFinite(remaining)) return;
    if (!this.herokuRateLimitRegistered) {
      this.registry.registerMetric(this.herokuRateLimit);
      this.herokuRateLimitRegistered = true;
    }
    this.herokuRateLimit.set(remaining);
  }

  /** Exports the Heroku request budget's spending in the last hour and its cap, read at each scrape. */
  watchHerokuBudget(source: HerokuBudgetSource): void {
    if (!this.herokuBudgetSource) {
      this.registry.registerMetric(this.herokuBudgetSpent);
      this.registry.registerMetric(this.herokuBudgetCap);
    }
    this.herokuBudgetSource = source;
  }

  /** Exports the change-event paths' state, last-event age and probe round trip, read at each scrape. */
  watchChangeEvents(source: () => EventPathReport[]): void {
    this.changeEventSource = source;
  }

  countChangeEvent(accountId: string, outcome: IntakeOutcome): void {
    this.changeEventsReceived.inc({ account_id: accountId, outcome });
  }

  /** Drifts found (and repaired by the pass that found them), with how long each stood when that is known. */
  recordDriftFound(items: readonly { accountId: string; kind: string; foundBy: FoundBy; stoodSeconds?: number }[]): void {
    for (const item of items) {
      this.driftFound.inc({ account_id: item.accountId, kind: item.kind, found_by: item.foundBy });
      if (item.stoodSeconds !== undefined) this.driftStood.observe({ found_by: item.foundBy }, Math.max(0, item.stoodSeconds));
    }
  }

  async render(): Promise<RenderedMetrics> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

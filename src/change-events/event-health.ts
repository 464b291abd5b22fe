/**
 * The health of each linked account's change-event path (issue 17): whether it is set up, whether
 * its queues answer, what arrived (counted by outcome), when the last event came, and whether the
 * controller's own probe went all the way round. Only a path proven end to end is trusted to find
 * drift (`watching`): until then, and as soon as a queue fails or a probe is lost, the account is
 * deep-checked on the usual windows again. Kept in memory by the leader that polls.
 */
import type { ChangeEventWatch } from '../reconciler/ports.js';
import { humanDuration } from '../util/duration.js';
import type { RejectedAs } from './cloudtrail-event.js';

/** What became of one message of a queue. */
export type IntakeOutcome =
  /** A change to one of this instance's resources: its add-on is reconciled, with a deep check. */
  | 'accepted'
  /** Seen before (EventBridge delivers at least once). */
  | 'duplicate'
  /** A watched call on a bucket or user no record names (another deployment's, or not made yet). */
  | 'not-ours'
  /** A call the controller made itself (its own repairs). */
  | 'own-change'
  /** A call that failed: it changed nothing. */
  | 'failed-call'
  /**
   * A tag change: the bulk inventory every pass reads has every tag, so the next pass finds it
   * (tools that tag whole accounts would otherwise start a keyed pass, and its Heroku reads, per bucket).
   */
  | 'next-pass'
  /** Not taken this time (this replica is no longer the leader, or is shutting down): left in the queue. */
  | 'refused'
  /** The controller's own probe, back. */
  | 'probe'
  /** A probe this controller did not send, or sent too long ago. */
  | 'unknown-probe'
  | RejectedAs;

export const INTAKE_OUTCOMES: readonly IntakeOutcome[] = [
  'accepted',
  'duplicate',
  'not-ours',
  'own-change',
  'failed-call',
  'next-pass',
  'refused',
  'probe',
  'unknown-probe',
  'malformed',
  'oversized',
  'foreign-account',
  'unwatched',
];

export type EventPathState = 'not-configured' | 'starting' | 'healthy' | 'degraded';

export interface RegionPathReport {
  region: string;
  queueUrl: string;
  lastPollAt: string | null;
  /** What the last poll ran into; null after a good one. */
  error: string | null;
  lastProbe: { sentAt: string; arrivedAt: string | null; roundTripMs: number | null } | null;
}

export interface EventPathReport {
  accountId: string;
  state: EventPathState;
  /** One sentence: what the state means for drift, and what to do when it is not healthy. */
  detail: string;
  received: Partial<Record<IntakeOutcome, number>>;
  lastEventAt: string | null;
  regions: RegionPathReport[];
}

export interface EventHealthOptions {
  now?: () => Date;
  /** A probe not back within this long is lost: the path is degraded (default 5 min). */
  probeTimeoutMs?: number;
  /** A queue not polled successfully for this long is degraded (default 2 min). */
  pollStaleMs?: number;
  /**
   * The probe proves the rule and the queue, not CloudTrail: an account is trusted to report its
   * changes only while a CloudTrail record of it (any watched call, the controller's own included)
   * has arrived within this long (default 24 h). A quiet account, or one without a trail, is
   * deep-checked on the usual windows.
   */
  trailProofMs?: number;
  /** The deep-check windows that apply without events, for the "not configured" sentence. */
  usualWindows?: { fullMs: number; exposureMs: number };
  /** Told of every message counted (the metrics' counter). */
  onOutcome?: (accountId: string, outcome: IntakeOutcome) => void;
}

interface RegionState {
  queueUrl: string;
  lastPollAt: Date | null;
  error: string | null;
  /** Why the last probe could not be sent; null once one was. */
  probeError: string | null;
  /** What is wrong with the changes rule, as last read (with each probe); null when it is right. */
  ruleProblem: string | null;
  probe: { probeId: string; sentAt: Date; arrivedAt: Date | null } | null;
  /** A probe has come back since the queue was (re)configured, and none was lost since. */
  proven: boolean;
  /** When the last probe that never came back was sent; cleared when a later one comes back. */
  lostProbeSentAt: Date | null;
}

interface AccountState {
  regions: Map<string, RegionState>;
  /** Regions the account's changes come from (IAM's, and its buckets') that have no queue set up. */
  uncovered: string[];
  received: Partial<Record<IntakeOutcome, number>>;
  lastEventAt: Date | null;
  /** When the last CloudTrail record of this account arrived (the proof that its changes reach the queue). */
  lastCloudTrailAt: Date | null;
}

/** What proves CloudTrail's leg: a well-formed record of this account (acted on or not). */
const CLOUDTRAIL_RECORDS: ReadonlySet<IntakeOutcome> = new Set(['accepted', 'duplicate', 'not-ours', 'own-change', 'failed-call', 'next-pass']);
/** What a queue may hold that says nothing of the path (junk, or what someone sent it). */
const NOT_EVENTS: ReadonlySet<IntakeOutcome> = new Set(['malformed', 'oversized', 'foreign-account', 'unwatched', 'unknown-probe']);

export class EventHealth implements ChangeEventWatch {
  private readonly accounts = new Map<string, AccountState>();
  /** Per account, what `watching` last answered and since when (the controller's windows changed then). */
  private readonly watched = new Map<string, { watching: boolean; since: Date }>();
  /** The linked accounts (the last pass's): reported as not configured when they have no queue. */
  private linked: readonly string[] = [];
  private readonly now: () => Date;
  private readonly probeTimeoutMs: number;
  private readonly pollStaleMs: number;
  private readonly trailProofMs: number;

  constructor(private readonly options: EventHealthOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.probeTimeoutMs = options.probeTimeoutMs ?? 5 * 60_000;
    this.pollStaleMs = options.pollStaleMs ?? 2 * 60_000;
    this.trailProofMs = options.trailProofMs ?? 24 * 3_600_000;
  }

  /**
   * The queues set up now (the store's event sources): new ones start unproven, removed ones are
   * forgotten. `needed`: per account, the regions its changes come from (see `eventRegions`); a
   * set-up account missing one of them is not watched, since changes there would never arrive.
   */
  configure(sources: readonly { accountId: string; region: string; queueUrl: string }[], needed: ReadonlyMap<string, readonly string[]> = new Map()): void {
    const wanted = new Set(sources.map((s) => s.accountId));
    for (const accountId of this.accounts.keys()) if (!wanted.has(accountId)) this.accounts.delete(accountId);
    for (const source of sources) {
      // Set up but not proven yet: its checks may have been spread over the longer windows by
      // the process before this one, so the usual ones take over from now, not all at once.
      if (!this.watched.has(source.accountId)) this.watched.set(source.accountId, { watching: false, since: this.now() });
      const account = this.account(source.accountId);
      const region = account.regions.get(source.region);
      if (region?.queueUrl === source.queueUrl) continue;
      account.regions.set(source.region, { queueUrl: source.queueUrl, lastPollAt: null, error: null, probeError: null, ruleProblem: null, probe: null, proven: false, lostProbeSentAt: null });
    }
    for (const [accountId, account] of this.accounts) {
      const regions = new Set(sources.filter((s) => s.accountId === accountId).map((s) => s.region));
      for (const region of account.regions.keys()) if (!regions.has(region)) account.regions.delete(region);
      account.uncovered = regions.size === 0 ? [] : (needed.get(accountId) ?? []).filter((r) => !regions.has(r));
    }
  }

  /** The accounts linked now, so one without a queue is reported as not configured. */
  setLinkedAccounts(accountIds: readonly string[]): void {
    this.linked = [...accountIds];
  }

  polled(accountId: string, region: string): void {
    const state = this.region(accountId, region);
    if (!state) return;
    state.lastPollAt = this.now();
    state.error = null;
  }

  pollFailed(accountId: string, region: string, error: string): void {
    const state = this.region(accountId, region);
    if (state) state.error = error;
  }

  counted(accountId: string, outcome: IntakeOutcome): void {
    const account = this.account(accountId);
    account.received[outcome] = (account.received[outcome] ?? 0) + 1;
    if (!NOT_EVENTS.has(outcome)) account.lastEventAt = this.now();
    if (CLOUDTRAIL_RECORDS.has(outcome)) account.lastCloudTrailAt = this.now();
    this.options.onOutcome?.(accountId, outcome);
  }

  probeSent(accountId: string, region: string, probeId: string): void {
    const state = this.region(accountId, region);
    if (!state) return;
    // The one before never came back: the path is not trusted again until a later one does.
    if (state.probe && state.probe.arrivedAt === null) {
      state.lostProbeSentAt = state.probe.sentAt;
      state.proven = false;
    }
    state.probe = { probeId, sentAt: this.now(), arrivedAt: null };
    state.probeError = null;
  }

  /** What the last read of the changes rule found wrong with it (null: nothing). */
  changesRule(accountId: string, region: string, problem: string | null): void {
    const state = this.region(accountId, region);
    if (state) state.ruleProblem = problem;
  }

  /** The probe could not be put on the bus (`error` says why): none is in flight, so the next round sends one again. */
  probeNotSent(accountId: string, region: string, error: string): void {
    const state = this.region(accountId, region);
    if (!state) return;
    state.probe = null;
    state.proven = false;
    state.probeError = error;
  }

  /** A probe came back through `region`'s queue; false when it is not the one sent last there. */
  probeArrived(accountId: string, region: string, probeId: string): boolean {
    const state = this.region(accountId, region);
    if (!state?.probe || state.probe.probeId !== probeId || state.probe.arrivedAt !== null) return false;
    state.probe.arrivedAt = this.now();
    state.proven = true;
    state.lostProbeSentAt = null;
    return true;
  }

  /** True when a probe should be sent through `region`'s queue now: none yet, or the last one is older than `intervalMs`. */
  probeDue(accountId: string, region: string, intervalMs: number): boolean {
    const state = this.region(accountId, region);
    if (!state) return false;
    return !state.probe || this.now().getTime() - state.probe.sentAt.getTime() >= intervalMs;
  }

  watching(accountId: string): boolean {
    const watching = this.status(accountId).state === 'healthy';
    const last = this.watched.get(accountId);
    // An account never watched keeps no mark: its windows never changed.
    if (last ? last.watching !== watching : watching) this.watched.set(accountId, { watching, since: this.now() });
    return watching;
  }

  watchingSince(accountId: string): Date | null {
    return this.watched.get(accountId)?.since ?? null;
  }

  status(accountId: string): { state: EventPathState; detail: string } {
    const account = this.accounts.get(accountId);
    if (!account || account.regions.size === 0) return { state: 'not-configured', detail: notConfiguredDetail(this.options.usualWindows) };
    const now = this.now().getTime();
    const problems: string[] = [];
    if (account.uncovered.length > 0) {
      problems.push(`its resources in ${account.uncovered.join(', ')} have no change-event rule and queue there (set up before they were made)`);
    }
    let starting = false;
    for (const [region, state] of account.regions) {
      if (state.error) problems.push(`the queue in ${region} cannot be read (${state.error})`);
      if (state.probeError) problems.push(`the probe cannot be sent in ${region} (${state.probeError})`);
      if (state.ruleProblem) problems.push(`in ${region}, ${state.ruleProblem}`);
      else if (state.lastPollAt === null) starting = true;
      else if (now - state.lastPollAt.getTime() > this.pollStaleMs) problems.push(`the queue in ${region} was last read ${Math.round((now - state.lastPollAt.getTime()) / 1000)} s ago`);
      const probe = state.probe;
      const lostAt = probe && probe.arrivedAt === null && now - probe.sentAt.getTime() > this.probeTimeoutMs ? probe.sentAt : state.lostProbeSentAt;
      if (lostAt) {
        problems.push(`the probe sent through ${region} at ${lostAt.toISOString()} has not come back (is the rule still there, and does the queue policy let EventBridge send?)`);
      } else if (!state.proven) {
        starting = true;
      }
    }
    if (problems.length > 0) {
      return { state: 'degraded', detail: `change events are not arriving: ${problems.join('; ')}. Drift is found by deep checks (${windowsText(this.options.usualWindows)}) until they do; run \`heroku-s3-controller events setup\` for the account's team to repair the path` };
    }
    if (starting) return { state: 'starting', detail: `change events are set up; until the first probe comes back, drift is found by deep checks (${windowsText(this.options.usualWindows)})` };
    const trail = account.lastCloudTrailAt;
    if (!trail || now - trail.getTime() > this.trailProofMs) {
      return {
        state: 'starting',
        detail: `the queue and rules work (the probe comes back), but no CloudTrail record of a change in this account has arrived ${trail ? `since ${trail.toISOString()}` : 'yet'}: is a trail logging its management events? Until one arrives (any change to its buckets or users, the controller's own included), drift is found by deep checks (${windowsText(this.options.usualWindows)})`,
      };
    }
    return { state: 'healthy', detail: 'change events arrive: drift is found within about a minute of the change' };
  }

  /** Every linked account, and every account whose queue is set up, as `/drift`, `plan` and the metrics show it. */
  report(accountIds: Iterable<string> = this.linked): EventPathReport[] {
    const ids = [...new Set([...accountIds, ...this.accounts.keys()])].sort();
    return ids.map((accountId) => {
      const account = this.accounts.get(accountId);
      const { state, detail } = this.status(accountId);
      return {
        accountId,
        state,
        detail,
        received: { ...(account?.received ?? {}) },
        lastEventAt: account?.lastEventAt?.toISOString() ?? null,
        regions: [...(account?.regions ?? new Map<string, RegionState>())].map(([region, r]) => ({
          region,
          queueUrl: r.queueUrl,
          lastPollAt: r.lastPollAt?.toISOString() ?? null,
          error: r.error,
          lastProbe: r.probe
            ? { sentAt: r.probe.sentAt.toISOString(), arrivedAt: r.probe.arrivedAt?.toISOString() ?? null, roundTripMs: r.probe.arrivedAt ? r.probe.arrivedAt.getTime() - r.probe.sentAt.getTime() : null }
            : null,
        })),
      };
    });
  }

  private account(accountId: string): AccountState {
    let account = this.accounts.get(accountId);
    if (!account) {
      account = { regions: new Map(), uncovered: [], received: {}, lastEventAt: null, lastCloudTrailAt: null };
      this.accounts.set(accountId, account);
    }
    return account;
  }

  private region(accountId: string, region: string): RegionState | undefined {
    return this.accounts.get(accountId)?.regions.get(region);
  }
}

/** What an account without change events is told: how soon its drift is found, and how to find it sooner. */
export function notConfiguredDetail(windows?: { fullMs: number; exposureMs: number }): string {
  return `events not configured: drift found within DEEP_CHECK_WINDOW (${windowsText(windows)}); \`heroku-s3-controller events setup --team TEAM\` finds it within about a minute`;
}

function windowsText(windows?: { fullMs: number; exposureMs: number }): string {
  if (!windows) return 'DEEP_CHECK_WINDOW';
  return `${humanDuration(windows.fullMs / 1000)} for every setting, ${humanDuration(windows.exposureMs / 1000)} for public exposure`;
}

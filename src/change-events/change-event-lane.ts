/**
 * The change-event side of `serve` (issue 17): one long-poll loop per queue set up (`events setup`,
 * the store's event sources), run by the leader only. Each round sends the probe when it is due,
 * reads up to 10 messages, hands each to the intake, and deletes them. A queue that fails (deleted,
 * permission taken away) is reported in the account's health at once and tried again every
 * `errorBackoffMs`; meanwhile its account is deep-checked on the usual windows, so nothing fails
 * but the speed. The sources are read again every `refreshMs`, so a new setup starts without a restart.
 */
import { randomUUID } from 'node:crypto';
import type { EventSource } from '../store/event-source-store.js';
import type { Link, LinkAuth } from '../store/types.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { abortableSleep } from '../util/abortable-sleep.js';
import { ChangeEventsEvent } from '../reasons.js';
import type { EventHealth, IntakeOutcome } from './event-health.js';
import type { EventIntake } from './event-intake.js';

/** One account's queue and bus, as the lane reaches them (runtime.ts wires the AWS adapter). */
export interface EventPathAccess {
  receive(target: AccountTarget, region: string, queueUrl: string, waitSeconds: number, signal: AbortSignal): Promise<{ body: string; receiptHandle: string }[]>;
  remove(target: AccountTarget, region: string, queueUrl: string, receiptHandles: string[]): Promise<void>;
  probe(target: AccountTarget, region: string, probeId: string): Promise<void>;
  /** What is wrong with the rule that sends CloudTrail's records to the queue (the probe does not go through it); null when nothing. */
  changesRuleProblem(target: AccountTarget, region: string, queueArn: string): Promise<string | null>;
  /** The ARN the link acts as (CloudTrail's userIdentity.arn of the controller's own calls). */
  identity(target: AccountTarget): Promise<string>;
  /** A failed call, in one clause that says what to do. */
  describe(err: unknown, queueUrl: string, action: string): string;
}

export interface AccountTarget {
  accountId: string;
  auth: LinkAuth;
}

export interface ChangeEventLaneOptions {
  /** SQS long-poll wait (at most 20 s). */
  waitSeconds?: number;
  /** How often a probe goes round each queue (default 10 min). */
  probeIntervalMs?: number;
  /** How often the store's event sources are read again (default 1 min). */
  refreshMs?: number;
  /** The wait after a failed round (default 30 s). */
  errorBackoffMs?: number;
}

export interface ChangeEventLaneDeps {
  sources(): Promise<EventSource[]>;
  /** Per account, the regions its changes come from (`eventRegions` of where its records are). */
  neededRegions(): Promise<ReadonlyMap<string, readonly string[]>>;
  links(): Promise<Link[]>;
  access: EventPathAccess;
  intake: EventIntake;
  health: EventHealth;
  isLeader(): boolean;
  logger: Logger;
  /** Waits `ms`, or less when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  options?: ChangeEventLaneOptions;
}

export class ChangeEventLane {
  private readonly loops = new Map<string, { source: EventSource; stop: AbortController; done: Promise<void> }>();
  /** The identity the link acts as, per account, or when asking for it last failed (asked again after {@link IDENTITY_RETRY_MS}). */
  private readonly identities = new Map<string, { arn: string } | { failedAt: number }>();
  private readonly options: Required<ChangeEventLaneOptions>;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private refresher: { stop: AbortController; done: Promise<void> } | null = null;
  /** Each queue's last failure, so a failing queue is logged when it starts and stops failing, not every round. */
  private readonly failing = new Map<string, string>();

  constructor(private readonly deps: ChangeEventLaneDeps) {
    this.options = { waitSeconds: 20, probeIntervalMs: 10 * 60_000, refreshMs: 60_000, errorBackoffMs: 30_000, ...deps.options };
    this.sleep = deps.sleep ?? abortableSleep;
  }

  start(): void {
    if (this.refresher) return;
    const stop = new AbortController();
    const done = (async () => {
      while (!stop.signal.aborted) {
        await this.refresh().catch((err: unknown) => this.deps.logger.warn({ reason: ChangeEventsEvent.SourcesUnread }, `cannot read the change-event queues set up: ${errorMessage(err)}`));
        await this.sleep(this.options.refreshMs, stop.signal);
      }
    })();
    this.refresher = { stop, done };
  }

  /** Stops every loop (a long poll in flight is aborted) and waits for them. */
  async stop(): Promise<void> {
    this.refresher?.stop.abort();
    for (const loop of this.loops.values()) loop.stop.abort();
    await Promise.all([this.refresher?.done, ...[...this.loops.values()].map((l) => l.done)]);
    this.refresher = null;
    this.loops.clear();
  }

  /** Reads the sources set up, tells the health, and starts or stops their loops. */
  async refresh(): Promise<void> {
    const [all, needed, links] = await Promise.all([this.deps.sources(), this.deps.neededRegions(), this.deps.links()]);
    // An account no team is linked to any more is not read (its queue stays until `events remove`).
    const linked = new Set(links.map((l) => l.accountId));
    const sources = all.filter((s) => linked.has(s.accountId));
    this.deps.health.configure(sources, needed);
    const wanted = new Map(sources.map((s) => [key(s), s]));
    for (const [id, loop] of this.loops) {
      if (wanted.get(id)?.queueUrl === loop.source.queueUrl) continue;
      loop.stop.abort();
      this.loops.delete(id);
      this.failing.delete(id);
    }
    // Stopped (or never started) while the sources were read: no loop may start now.
    if (!this.refresher || this.refresher.stop.signal.aborted) return;
    for (const [id, source] of wanted) {
      if (this.loops.has(id)) continue;
      const stop = new AbortController();
      this.loops.set(id, { source, stop, done: this.loop(source, stop.signal) });
    }
  }

  /**
   * One round for one queue: the probe when due (one that cannot be sent is reported in the
   * account's health, and the queue is read all the same), then up to 10 messages, each taken on
   * its own and deleted once decided. One that could not be decided (the store did not answer) or
   * was refused (leadership lost) stays for a later round. Throws what the queue answered (the
   * loop reports it). Returns what became of each message.
   */
  async pollOnce(source: EventSource, signal: AbortSignal = new AbortController().signal): Promise<IntakeOutcome[]> {
    const target = await this.target(source.accountId);
    const { access, health, intake } = this.deps;
    if (health.probeDue(source.accountId, source.region, this.options.probeIntervalMs)) {
      const probeId = randomUUID();
      health.probeSent(source.accountId, source.region, probeId);
      await access.probe(target, source.region, probeId).catch((err: unknown) => {
        health.probeNotSent(source.accountId, source.region, access.describe(err, source.queueUrl, `events:PutEvents on the default event bus in ${source.region}`));
      });
      health.changesRule(source.accountId, source.region, await access.changesRuleProblem(target, source.region, source.queueArn));
    }
    const known = this.identities.get(source.accountId);
    if (!known || ('failedAt' in known && Date.now() - known.failedAt >= IDENTITY_RETRY_MS)) {
      // Without it the controller's own calls come back as events: wasted reads, never wrong ones.
      this.identities.set(source.accountId, await access.identity(target).then((arn) => ({ arn }), () => ({ failedAt: Date.now() })));
    }
    let messages: { body: string; receiptHandle: string }[];
    try {
      messages = await access.receive(target, source.region, source.queueUrl, this.options.waitSeconds, signal);
    } catch (err) {
      if (signal.aborted) return [];
      throw new QueueError(access.describe(err, source.queueUrl, `sqs:ReceiveMessage on ${source.queueArn}`));
    }
    health.polled(source.accountId, source.region);
    const outcomes: IntakeOutcome[] = [];
    const decided: string[] = [];
    let undecided: unknown = null;
    for (const message of messages) {
      try {
        const outcome = await intake.take(message.body, source.accountId, source.region);
        outcomes.push(outcome);
        if (outcome !== 'refused') decided.push(message.receiptHandle);
      } catch (err) {
        undecided ??= err;
      }
    }
    if (decided.length > 0) {
      try {
        await access.remove(target, source.region, source.queueUrl, decided);
      } catch (err) {
        // They come back after the visibility timeout: read twice, counted as duplicates.
        throw new QueueError(access.describe(err, source.queueUrl, `sqs:DeleteMessage on ${source.queueArn}`));
      }
    }
    if (undecided !== null) {
      // The store did not answer: not the path's fault (its health is left as it is); SQS gives the message again.
      this.deps.logger.warn({ reason: ChangeEventsEvent.EventUnmatched, accountId: source.accountId, region: source.region }, `a change event of account ${source.accountId} could not be matched to an add-on, and is read again later: ${errorMessage(undecided)}`);
    }
    return outcomes;
  }

  /** The identity the link acts as in the account, once known (own calls are not drift). */
  ownActor(accountId: string): string | null {
    const known = this.identities.get(accountId);
    return known && 'arn' in known ? known.arn : null;
  }

  private async loop(source: EventSource, signal: AbortSignal): Promise<void> {
    const id = key(source);
    while (!signal.aborted) {
      if (!this.deps.isLeader()) {
        await this.sleep(5_000, signal);
        continue;
      }
      try {
        await this.pollOnce(source, signal);
        if (this.failing.delete(id)) {
          this.deps.logger.info({ reason: ChangeEventsEvent.QueueRecovered, accountId: source.accountId, region: source.region }, `change events of account ${source.accountId} in ${source.region} arrive again`);
        }
      } catch (err) {
        const problem = err instanceof QueueError ? err.message : errorMessage(err);
        this.deps.health.pollFailed(source.accountId, source.region, problem);
        if (this.failing.get(id) !== problem) {
          this.deps.logger.error(
            { reason: ChangeEventsEvent.QueueFailed, accountId: source.accountId, region: source.region },
            `change events of account ${source.accountId} in ${source.region} cannot be read: ${problem}. Its drift is found by deep checks until they can; \`events setup\` for its team repairs the path`,
          );
          this.failing.set(id, problem);
        }
        await this.sleep(this.options.errorBackoffMs, signal);
      }
    }
  }

  private async target(accountId: string): Promise<AccountTarget> {
    const link = (await this.deps.links()).find((l) => l.accountId === accountId);
    if (!link) throw new QueueError(`no team is linked to account ${accountId} any more`);
    return { accountId, auth: link.auth };
  }
}

/** How long after a failed GetCallerIdentity it is asked again. */
const IDENTITY_RETRY_MS = 10 * 60_000;

/** A failed round, already said in words for the operator. */
class QueueError extends Error {
  override name = 'QueueError';
}

function key(source: Pick<EventSource, 'accountId' | 'region'>): string {
  return `${source.accountId}/${source.region}`;
}

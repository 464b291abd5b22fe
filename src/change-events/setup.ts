/**
 * `events setup` (issue 17): in each region one linked account needs, makes sure the change-event
 * queue and its two rules exist as {@link ./resources.ts} describes them, then records them in
 * `event_sources` for the poller.
 *
 * - Idempotent: everything is read first; what is in place and right is left alone (a run with
 *   nothing to do makes reads only), what differs is corrected. Resources an admin made from the
 *   `--print` template carry our tag and are adopted the same way.
 * - Ownership (safety invariant 1): a queue or rule of our name without this instance's tag is
 *   someone else's. It is found in the reads, before any write, in every region, so the refusal
 *   leaves the account as it was.
 * - Nothing half made: each resource this run creates is noted; on any failure those (and only
 *   those) are deleted again before the one-line error is thrown. What existed before is never
 *   deleted, even if this run corrected it.
 */
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueueTagsCommand,
  SetQueueAttributesCommand,
  type QueueAttributeName,
} from '@aws-sdk/client-sqs';
import { DeleteRuleCommand, DescribeRuleCommand, ListTagsForResourceCommand, ListTargetsByRuleCommand, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand, type Target } from '@aws-sdk/client-eventbridge';
import { TAG } from '../reconciler/spec.js';
import type { AccountClients } from '../sinks/aws/connect.js';
import type { EventSource, EventSourceStore } from '../store/event-source-store.js';
import type { Link, ResourceRecord } from '../store/types.js';
import { classifyError, errorCodeOf } from '../util/error-class.js';
import { errorMessage, UserError } from '../util/errors.js';
import { eventRegions, eventResourceNames, type EventNaming } from './catalogue.js';
import { instanceTag, QUEUE_RETENTION_SECONDS, QUEUE_TARGET_ID, queueArnOf, queuePolicyDocument, ruleArnOf, ruleSpecs, sameDocument, type RuleRole, type RuleSpec } from './resources.js';

export interface ChangeEventsSetupDeps {
  /** The account's clients (its link's credentials); only SQS and EventBridge are used. */
  clients: Pick<AccountClients, 'accountId' | 'sqs' | 'events'>;
  eventSources: Pick<EventSourceStore, 'forAccount' | 'put' | 'remove'>;
  naming: EventNaming;
}

/** One change this run made, in words, e.g. `created SQS queue hsc-x-changes`. */
export interface SetupChange {
  region: string;
  resource: string;
  change: string;
}

export interface RegionSetup {
  region: string;
  queueUrl: string;
  queueArn: string;
  ruleArns: string[];
}

export interface ChangeEventsSetup {
  accountId: string;
  regions: RegionSetup[];
  /** What was created or corrected in AWS; empty when everything was in place. */
  changes: SetupChange[];
  /** Regions whose record in `event_sources` was written (new, or different from what it held). */
  recorded: string[];
  /** Nothing was written, in AWS or the store. */
  alreadySetUp: boolean;
}

/**
 * The regions an account's change events come from: IAM's (us-east-1), the link's default region
 * (or the controller's), and every region the account's recorded add-ons have a bucket in.
 */
export function setupRegions(link: Pick<Link, 'accountId' | 'region'>, defaultRegion: string, records: readonly Pick<ResourceRecord, 'accountId' | 'region'>[]): string[] {
  return eventRegions([link.region ?? defaultRegion, ...records.filter((r) => r.accountId === link.accountId).map((r) => r.region)]);
}

/**
 * Makes sure the queue and rules exist, are ours and are right in each of `regions`, and records
 * them. Idempotent; refuses (changing nothing) when a resource of our name is not ours; on failure
 * deletes what it created and throws a {@link UserError} of one sentence.
 */
export async function setUpChangeEvents(deps: ChangeEventsSetupDeps, regions: readonly string[]): Promise<ChangeEventsSetup> {
  const aws = new AccountCalls(deps.clients);
  const observed: ObservedRegion[] = [];
  try {
    for (const region of regions) observed.push(await observeRegion(aws, deps.naming, region));
  } catch (err) {
    throw new UserError(`${failureSentence(err)}; nothing was changed`);
  }
  const foreign = observed.flatMap((o) => o.foreign);
  if (foreign.length > 0) {
    throw new UserError(
      `${foreign[0]} in AWS account ${aws.accountId} does not carry this controller's tag ${instanceTag(deps.naming.instanceId).Key}=${deps.naming.instanceId}, so it is someone else's: nothing was changed; rename or delete it (or tag it, if it was made for this controller), then run events setup again`,
    );
  }
  const created: Created[] = [];
  const changes: SetupChange[] = [];
  try {
    const regionsSetUp: RegionSetup[] = [];
    for (const o of observed) regionsSetUp.push(await convergeRegion(aws, deps.naming, o, created, changes));
    const recorded = await record(deps.eventSources, aws.accountId, regionsSetUp);
    return { accountId: aws.accountId, regions: regionsSetUp, changes, recorded, alreadySetUp: changes.length === 0 && recorded.length === 0 };
  } catch (err) {
    const left = await undo(aws, created);
    throw new UserError(`${failureSentence(err)}; ${left}`);
  }
}

export interface ChangeEventsRemoval {
  accountId: string;
  /** The queues and rules of ours found (and, unless a dry run, deleted). */
  resources: { region: string; resource: string }[];
  /** Regions whose `event_sources` record was (or would be) forgotten. */
  forgotten: string[];
}

/**
 * `events remove`: deletes the queue and rules that carry this instance's tag in each of
 * `regions` (a resource of our name without it is left alone), and forgets the account's
 * records. With `dryRun`, only reads and says what it would delete.
 */
export async function removeChangeEvents(deps: ChangeEventsSetupDeps, regions: readonly string[], options: { dryRun: boolean }): Promise<ChangeEventsRemoval> {
  const aws = new AccountCalls(deps.clients);
  const queueName = eventResourceNames(deps.naming.instanceId).queue;
  const resources: ChangeEventsRemoval['resources'] = [];
  const removals: (() => Promise<unknown>)[] = [];
  try {
    for (const region of regions) {
      const o = await observeRegion(aws, deps.naming, region);
      for (const spec of ruleSpecs(deps.naming)) {
        const rule = o.rules.get(spec.role);
        if (!rule) continue;
        resources.push({ region, resource: `EventBridge rule ${spec.name}` });
        removals.push(() => aws.call('events:DeleteRule', rule.arn, () => deleteRule(aws.clients.events(region), spec.name)));
      }
      const queue = o.queue;
      if (queue) {
        resources.push({ region, resource: `SQS queue ${queueName}` });
        removals.push(() => aws.call('sqs:DeleteQueue', queue.arn, () => aws.clients.sqs(region).send(new DeleteQueueCommand({ QueueUrl: queue.url }))));
      }
    }
    const forgotten = (await deps.eventSources.forAccount(aws.accountId)).map((s) => s.region);
    if (!options.dryRun) {
      // The rules first: a rule left without its queue would only fail its deliveries.
      for (const remove of removals) await remove();
      await deps.eventSources.remove(aws.accountId);
    }
    return { accountId: aws.accountId, resources, forgotten };
  } catch (err) {
    throw new UserError(`${failureSentence(err)}; run events remove again once that is fixed`);
  }
}

/** A resource this run created, to delete again if a later step fails. */
interface Created {
  region: string;
  what: string;
  remove: () => Promise<unknown>;
}

interface ObservedQueue {
  url: string;
  arn: string;
  attributes: Partial<Record<QueueAttributeName | string, string>>;
}

interface ObservedRule {
  arn: string;
  eventPattern: string | undefined;
  state: string | undefined;
  targets: Target[];
}

interface ObservedRegion {
  region: string;
  queue: ObservedQueue | null;
  rules: Map<RuleRole, ObservedRule | null>;
  /** Resources of our names that lack our tag, in words. */
  foreign: string[];
}

const QUEUE_ATTRIBUTES: QueueAttributeName[] = ['QueueArn', 'Policy', 'MessageRetentionPeriod', 'SqsManagedSseEnabled', 'KmsMasterKeyId'];

async function observeRegion(aws: AccountCalls, naming: EventNaming, region: string): Promise<ObservedRegion> {
  const sqs = aws.clients.sqs(region);
  const events = aws.clients.events(region);
  const tag = instanceTag(naming.instanceId);
  const queueName = eventResourceNames(naming.instanceId).queue;
  const queueArn = queueArnOf(region, aws.accountId, queueName);
  const foreign: string[] = [];

  let queue: ObservedQueue | null = null;
  const url = await aws.orAbsent('sqs:GetQueueUrl', queueArn, () => sqs.send(new GetQueueUrlCommand({ QueueName: queueName, QueueOwnerAWSAccountId: aws.accountId })));
  if (url?.QueueUrl) {
    const tags = await aws.call('sqs:ListQueueTags', queueArn, () => sqs.send(new ListQueueTagsCommand({ QueueUrl: url.QueueUrl })));
    if (tags.Tags?.[tag.Key] !== tag.Value) foreign.push(`the SQS queue ${queueName} in ${region}`);
    else {
      const attributes = await aws.call('sqs:GetQueueAttributes', queueArn, () => sqs.send(new GetQueueAttributesCommand({ QueueUrl: url.QueueUrl, AttributeNames: QUEUE_ATTRIBUTES })));
      queue = { url: url.QueueUrl, arn: attributes.Attributes?.QueueArn ?? queueArn, attributes: attributes.Attributes ?? {} };
    }
  }

  const rules = new Map<RuleRole, ObservedRule | null>();
  for (const spec of ruleSpecs(naming)) {
    const ruleArn = ruleArnOf(region, aws.accountId, spec.name);
    const rule = await aws.orAbsent('events:DescribeRule', ruleArn, () => events.send(new DescribeRuleCommand({ Name: spec.name })));
    if (!rule) {
      rules.set(spec.role, null);
      continue;
    }
    const arn = rule.Arn ?? ruleArn;
    const tags = await aws.call('events:ListTagsForResource', arn, () => events.send(new ListTagsForResourceCommand({ ResourceARN: arn })));
    if (!tags.Tags?.some((t) => t.Key === tag.Key && t.Value === tag.Value)) {
      foreign.push(`the EventBridge rule ${spec.name} in ${region}`);
      continue;
    }
    const targets = await aws.call('events:ListTargetsByRule', arn, () => events.send(new ListTargetsByRuleCommand({ Rule: spec.name })));
    rules.set(spec.role, { arn, eventPattern: rule.EventPattern, state: rule.State, targets: targets.Targets ?? [] });
  }
  return { region, queue, rules, foreign };
}

/** Creates what is missing and corrects what differs, in one region; returns what it ends with. */
async function convergeRegion(aws: AccountCalls, naming: EventNaming, o: ObservedRegion, created: Created[], changes: SetupChange[]): Promise<RegionSetup> {
  const { region } = o;
  const sqs = aws.clients.sqs(region);
  const events = aws.clients.events(region);
  const specs = ruleSpecs(naming);
  const queueName = eventResourceNames(naming.instanceId).queue;
  const queueArn = o.queue?.arn ?? queueArnOf(region, aws.accountId, queueName);
  const policy = JSON.stringify(queuePolicyDocument(queueArn, specs.map((s) => ruleArnOf(region, aws.accountId, s.name))));
  const desired: Record<string, string> = { Policy: policy, MessageRetentionPeriod: String(QUEUE_RETENTION_SECONDS), SqsManagedSseEnabled: 'true' };
  const noteChange = (resource: string, change: string) => changes.push({ region, resource, change });

  let queueUrl: string;
  if (!o.queue) {
    const out = await aws.call('sqs:CreateQueue', queueArn, () =>
      sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: desired, tags: { [TAG.instance]: naming.instanceId } })),
    );
    queueUrl = out.QueueUrl!;
    created.push({ region, what: `SQS queue ${queueName}`, remove: () => sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })) });
    noteChange(`SQS queue ${queueName}`, 'created');
  } else {
    queueUrl = o.queue.url;
    const have = o.queue.attributes;
    const fix: Record<string, string> = {};
    if (!sameDocument(have.Policy, policy)) fix.Policy = policy;
    if (have.MessageRetentionPeriod !== desired.MessageRetentionPeriod) fix.MessageRetentionPeriod = desired.MessageRetentionPeriod!;
    // A queue encrypted with a KMS key of the admin's choosing is encrypted too: left as it is.
    if (have.SqsManagedSseEnabled !== 'true' && !have.KmsMasterKeyId) fix.SqsManagedSseEnabled = 'true';
    if (Object.keys(fix).length > 0) {
      await aws.call('sqs:SetQueueAttributes', queueArn, () => sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: fix })));
      noteChange(`SQS queue ${queueName}`, `corrected ${Object.keys(fix).join(', ')}`);
    }
  }

  const ruleArns: string[] = [];
  for (const spec of specs) {
    ruleArns.push(await convergeRule(aws, { region, spec, have: o.rules.get(spec.role) ?? null, queueArn, instanceId: naming.instanceId }, created, noteChange));
  }
  return { region, queueUrl, queueArn, ruleArns };
}

/** One rule: created (tagged) or corrected, with exactly one target, the queue. Returns its ARN. */
async function convergeRule(
  aws: AccountCalls,
  { region, spec, have, queueArn, instanceId }: { region: string; spec: RuleSpec; have: ObservedRule | null; queueArn: string; instanceId: string },
  created: Created[],
  noteChange: (resource: string, change: string) => void,
): Promise<string> {
  const events = aws.clients.events(region);
  const what = `EventBridge rule ${spec.name}`;
  let arn = have?.arn ?? ruleArnOf(region, aws.accountId, spec.name);
  const put = { Name: spec.name, EventPattern: spec.eventPattern, State: 'ENABLED' as const, Description: spec.description };
  if (!have) {
    // Tagged in the same call that creates it: there is no moment when the rule exists untagged.
    const out = await aws.call('events:PutRule', arn, () => events.send(new PutRuleCommand({ ...put, Tags: [instanceTag(instanceId)] })));
    arn = out.RuleArn ?? arn;
    created.push({ region, what, remove: () => deleteRule(events, spec.name) });
    noteChange(what, 'created');
  } else {
    const wrong = [sameDocument(have.eventPattern, spec.eventPattern) ? null : 'event pattern', have.state === 'ENABLED' ? null : 'state'].filter((w) => w !== null);
    if (wrong.length > 0) {
      // PutRule on an existing rule replaces its pattern and state and keeps its tags and targets.
      await aws.call('events:PutRule', arn, () => events.send(new PutRuleCommand(put)));
      noteChange(what, `corrected ${wrong.join(', ')}`);
    }
  }
  const targets = have?.targets ?? [];
  const ours = targets.find((t) => t.Id === QUEUE_TARGET_ID);
  if (!ours || !isPlainQueueTarget(ours, queueArn)) {
    const out = await aws.call('events:PutTargets', arn, () => events.send(new PutTargetsCommand({ Rule: spec.name, Targets: [{ Id: QUEUE_TARGET_ID, Arn: queueArn }] })));
    const failed = out.FailedEntries?.[0];
    if ((out.FailedEntryCount ?? 0) > 0) {
      throw new FailedCall('events:PutTargets', arn, Object.assign(new Error(failed?.ErrorMessage ?? 'the target was refused'), { name: failed?.ErrorCode ?? 'PutTargetsFailed' }));
    }
    if (have) noteChange(what, ours ? 'corrected its target' : 'added its target');
  }
  // The rule sends to our queue and nowhere else.
  const others = targets.filter((t) => t.Id !== QUEUE_TARGET_ID).map((t) => t.Id!);
  if (others.length > 0) {
    await aws.call('events:RemoveTargets', arn, () => events.send(new RemoveTargetsCommand({ Rule: spec.name, Ids: others })));
    noteChange(what, `removed other targets (${others.join(', ')})`);
  }
  return arn;
}

/** The target sends each event as it is to our queue (no input rewriting, which would hide the event). */
function isPlainQueueTarget(target: Target, queueArn: string): boolean {
  return target.Arn === queueArn && !target.Input && !target.InputPath && !target.InputTransformer;
}

/** A rule can only be deleted once it has no targets. */
async function deleteRule(events: ReturnType<AccountClients['events']>, name: string): Promise<void> {
  const targets = await events.send(new ListTargetsByRuleCommand({ Rule: name }));
  const ids = (targets.Targets ?? []).map((t) => t.Id!);
  if (ids.length > 0) await events.send(new RemoveTargetsCommand({ Rule: name, Ids: ids }));
  await events.send(new DeleteRuleCommand({ Name: name }));
}

/** Writes the regions whose record is missing or different; returns them. */
async function record(store: ChangeEventsSetupDeps['eventSources'], accountId: string, regions: RegionSetup[]): Promise<string[]> {
  const held = new Map((await store.forAccount(accountId)).map((s) => [s.region, s]));
  const written: string[] = [];
  for (const r of regions) {
    if (sameSource(held.get(r.region), r)) continue;
    await store.put({ accountId, ...r });
    written.push(r.region);
  }
  return written;
}

function sameSource(held: EventSource | undefined, r: RegionSetup): boolean {
  return held !== undefined && held.queueUrl === r.queueUrl && held.queueArn === r.queueArn && [...held.ruleArns].sort().join() === [...r.ruleArns].sort().join();
}

/** Deletes what this run created, newest first; says what was removed, or what is left to remove by hand. */
async function undo(aws: AccountCalls, created: Created[]): Promise<string> {
  if (created.length === 0) return 'this run created nothing, so nothing was left behind';
  const left: string[] = [];
  for (const c of [...created].reverse()) {
    try {
      await c.remove();
    } catch (err) {
      left.push(`${c.what} in ${c.region} (${errorMessage(err)})`);
    }
  }
  if (left.length === 0) return `what this run had created (${created.map((c) => `${c.what} in ${c.region}`).join(', ')}) was deleted again`;
  return `could not delete what this run had created: delete ${left.join(' and ')} in AWS account ${aws.accountId} by hand`;
}

/** A failure, in one sentence naming the call and the resource; AccessDenied says what to allow. */
function failureSentence(err: unknown): string {
  const failed = err instanceof FailedCall ? err : null;
  const cause = failed?.cause ?? err;
  if (cause instanceof UserError) return cause.message;
  if (failed && classifyError(cause).kind === 'access-denied') {
    // AWS names the action it refused (e.g. sqs:TagQueue for a CreateQueue with tags); trust it over our guess.
    const action = /perform: ([a-z0-9-]+:[A-Za-z0-9]+)/.exec(errorMessage(cause))?.[1] ?? failed.action;
    return `the link's credentials may not call ${action} on ${failed.resource}: add it to the link's policy (README, Change events)`;
  }
  if (failed && errorCodeOf(cause) === 'QueueDeletedRecently') {
    // AWS keeps a deleted queue's name for 60 seconds (a run that failed and deleted its queue, or `events remove`).
    return `the SQS queue ${failed.resource} was deleted less than a minute ago and AWS keeps its name for 60 seconds: run events setup again in a minute`;
  }
  if (failed) return `events setup failed: ${failed.action} on ${failed.resource} was refused (${errorCodeOf(cause) ?? 'error'}: ${oneLine(errorMessage(cause))})`;
  return `events setup failed: ${oneLine(errorMessage(cause))}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().replace(/[.;]$/, '');
}

class FailedCall extends Error {
  constructor(
    readonly action: string,
    readonly resource: string,
    override readonly cause: unknown,
  ) {
    super(`${action} on ${resource}: ${errorMessage(cause)}`);
  }
}

/** The account's SQS and EventBridge calls, each named by its IAM action and resource for the error it may end in. */
class AccountCalls {
  readonly accountId: string;
  constructor(readonly clients: ChangeEventsSetupDeps['clients']) {
    this.accountId = clients.accountId;
  }

  async call<T>(action: string, resource: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new FailedCall(action, resource, err);
    }
  }

  /** A read whose "not found" means the resource is absent (null). */
  async orAbsent<T>(action: string, resource: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      return await fn();
    } catch (err) {
      const code = errorCodeOf(err);
      if (code === 'QueueDoesNotExist' || code === 'AWS.SimpleQueueService.NonExistentQueue' || code === 'ResourceNotFoundException') return null;
      throw new FailedCall(action, resource, err);
    }
  }
}

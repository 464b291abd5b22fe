/**
 * The AWS side of an account's change-event path (issue 17): long-polls its SQS queue, deletes
 * what was read, puts the controller's probe on the default event bus, and asks STS who the
 * controller is there (to tell its own calls). Reaches the account with its link's clients.
 */
import { DescribeRuleCommand, ListTargetsByRuleCommand, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { changesEventPattern, eventResourceNames, PROBE_DETAIL_TYPE, PROBE_SOURCE, type EventNaming } from '../../change-events/catalogue.js';
import { sameDocument } from '../../change-events/resources.js';
import { errorMessage } from '../../util/errors.js';
import { errorCode, hasCode } from './aws-errors.js';
import type { AccountClients } from './connect.js';
import { callerArn } from './iam-user.js';

export interface QueueMessage {
  body: string;
  receiptHandle: string;
}

/** Up to 10 messages, waiting up to `waitSeconds` (SQS's long poll: at most 20) for the first. */
export async function receiveEvents(clients: AccountClients, region: string, queueUrl: string, waitSeconds: number, signal?: AbortSignal): Promise<QueueMessage[]> {
  const out = await clients.sqs(region).send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: Math.max(0, Math.min(20, Math.floor(waitSeconds))) }),
    signal ? { abortSignal: signal } : {},
  );
  return (out.Messages ?? []).flatMap((m) => (m.ReceiptHandle ? [{ body: m.Body ?? '', receiptHandle: m.ReceiptHandle }] : []));
}

/** Deletes messages read (every one, acted on or not: a message that cannot be read never will be). */
export async function deleteEvents(clients: AccountClients, region: string, queueUrl: string, receiptHandles: string[]): Promise<void> {
  for (let i = 0; i < receiptHandles.length; i += 10) {
    const batch = receiptHandles.slice(i, i + 10);
    await clients.sqs(region).send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch.map((handle, n) => ({ Id: String(n), ReceiptHandle: handle })) }));
  }
}

/** Puts the probe on `region`'s default bus; its rule sends it to the queue there. */
export async function putProbe(clients: AccountClients, region: string, instanceId: string, probeId: string): Promise<void> {
  const out = await clients.events(region).send(
    new PutEventsCommand({ Entries: [{ Source: PROBE_SOURCE, DetailType: PROBE_DETAIL_TYPE, Detail: JSON.stringify({ instanceId, probeId }) }] }),
  );
  const failed = out.Entries?.find((e) => e.ErrorCode);
  if ((out.FailedEntryCount ?? 0) > 0 || failed) throw Object.assign(new Error(`EventBridge refused the probe: ${failed?.ErrorCode ?? 'unknown'}: ${failed?.ErrorMessage ?? ''}`), { name: failed?.ErrorCode ?? 'PutEventsFailed' });
}

/**
 * What is wrong with the rule that sends CloudTrail's records to the queue, or null when it is as
 * `events setup` made it: there, enabled, with its pattern, and targeting the queue. The probe
 * goes through the other rule, so only this read sees the changes rule taken away or edited.
 */
export async function changesRuleProblem(clients: AccountClients, region: string, queueArn: string, naming: EventNaming): Promise<string | null> {
  const name = eventResourceNames(naming.instanceId).changesRule;
  const events = clients.events(region);
  try {
    const rule = await events.send(new DescribeRuleCommand({ Name: name }));
    if (rule.State !== 'ENABLED') return `its rule ${name} is ${rule.State ?? 'not enabled'}`;
    if (!sameDocument(rule.EventPattern, JSON.stringify(changesEventPattern(naming)))) return `its rule ${name} has another event pattern than \`events setup\` gives it`;
    const targets = (await events.send(new ListTargetsByRuleCommand({ Rule: name }))).Targets ?? [];
    if (!targets.some((t) => t.Arn === queueArn)) return `its rule ${name} no longer sends to the queue`;
    return null;
  } catch (err) {
    if (hasCode(err, 'ResourceNotFoundException')) return `its rule ${name} does not exist (deleted?)`;
    if (hasCode(err, 'AccessDenied', 'AccessDeniedException')) return `its rule ${name} cannot be read (${describeQueueError(err, queueArn, 'events:DescribeRule and events:ListTargetsByRule on it')})`;
    // Throttled, or EventBridge unavailable for a moment: says nothing of the rule (read again with the next probe).
    return null;
  }
}

/** The ARN the link acts as in the account (CloudTrail's userIdentity.arn of the controller's calls). */
export function ownIdentity(clients: AccountClients): Promise<string> {
  return callerArn(clients.sts);
}

/**
 * What a failed queue or bus call means for the operator, in one clause: a deleted queue and a
 * missing permission each say what to do.
 */
export function describeQueueError(err: unknown, queueUrl: string, action: string): string {
  if (hasCode(err, 'QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue')) return `the queue ${queueUrl} does not exist (deleted?)`;
  if (hasCode(err, 'AccessDenied', 'AccessDeniedException', 'AuthorizationError')) return `the link may not call ${action} (${errorCode(err)}): add it to the link's policy`;
  return `${errorCode(err)}: ${errorMessage(err)}`;
}

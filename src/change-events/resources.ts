/**
 * What `events setup` makes in one linked account and region, and what its CloudFormation
 * template declares: one SQS queue and two EventBridge rules on the default bus (CloudTrail's
 * changes, and the controller's probe), each sending to the queue. Both paths build their
 * resources from here, so the template an admin applies by hand is adopted by `events setup`
 * with reads only. Pure: no AWS call.
 */
import { TAG } from '../reconciler/spec.js';
import { changesEventPattern, eventResourceNames, probeEventPattern, type EventNaming } from './catalogue.js';

/** Four days (SQS's maximum is 14): events older than that have long been covered by a deep check. */
export const QUEUE_RETENTION_SECONDS = 4 * 24 * 3600;

/** The Id of the one target each rule has: the queue. */
export const QUEUE_TARGET_ID = 'queue';

export type RuleRole = 'changes' | 'probe';
export const RULE_ROLES: readonly RuleRole[] = ['changes', 'probe'];

export interface RuleSpec {
  role: RuleRole;
  name: string;
  description: string;
  /** The pattern as EventBridge takes it (a JSON string). */
  eventPattern: string;
}

/** The ownership tag: a queue or rule of our name without it is someone else's and never touched. */
export function instanceTag(instanceId: string): { Key: string; Value: string } {
  return { Key: TAG.instance, Value: instanceId };
}

/** The two rules, as `events setup` and the template make them. */
export function ruleSpecs(naming: EventNaming): RuleSpec[] {
  const names = eventResourceNames(naming.instanceId);
  return [
    {
      role: 'changes',
      name: names.changesRule,
      description: `heroku-s3-controller ${naming.instanceId}: CloudTrail's record of calls on its buckets and IAM users, to its queue`,
      eventPattern: JSON.stringify(changesEventPattern(naming)),
    },
    {
      role: 'probe',
      name: names.probeRule,
      description: `heroku-s3-controller ${naming.instanceId}: the controller's own probe of the change-event path, to its queue`,
      eventPattern: JSON.stringify(probeEventPattern(naming.instanceId)),
    },
  ];
}

/** The AWS partition a region belongs to (`aws-cn` in China, `aws-us-gov` in GovCloud). */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

export function queueArnOf(region: string, accountId: string, queueName: string): string {
  return `arn:${partitionOf(region)}:sqs:${region}:${accountId}:${queueName}`;
}

/** A rule's ARN on the default bus (no bus name in it). */
export function ruleArnOf(region: string, accountId: string, ruleName: string): string {
  return `arn:${partitionOf(region)}:events:${region}:${accountId}:rule/${ruleName}`;
}

/**
 * The queue's policy, least privilege: only EventBridge, only SendMessage, and only on behalf of
 * our two rules (aws:SourceArn), so no other rule in the account, and no other account's, can
 * put messages in it. Generic over the ARNs' type so the template can give CloudFormation's
 * intrinsic functions where `events setup` gives strings.
 */
export function queuePolicyDocument<A>(queueArn: A, ruleArns: readonly A[]) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'OnlyThisControllersRules',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': [...ruleArns] } },
      },
    ],
  };
}

/**
 * Whether two policies (or event patterns) say the same: JSON equal once object keys are sorted,
 * a one-element list is taken as its element (IAM reads `"a"` and `["a"]` alike) and lists are
 * compared as sets. What AWS hands back may be reformatted; this looks past that and nothing more.
 */
export function sameDocument(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  try {
    return canonical(JSON.parse(a)) === canonical(JSON.parse(b));
  } catch {
    return false;
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) {
    const items = value.map(canonical).sort();
    return items.length === 1 ? items[0]! : `[${items.join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

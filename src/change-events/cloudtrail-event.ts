/**
 * Reads one message of an account's change-event queue: an EventBridge event carrying CloudTrail's
 * record of an API call (or the controller's own probe). Pure, and strict: whatever cannot be
 * read, is too big, names another account, or is not a call this controller watches is rejected
 * with the reason it is counted under. An event is only ever a hint of which add-on to read again
 * (the reconcile decides from AWS itself), so nothing here needs to trust more than a name.
 */
import { CLOUDTRAIL_DETAIL_TYPE, IAM_EVENTS, PROBE_DETAIL_TYPE, PROBE_SOURCE, S3_EVENTS, type ChangedPart } from './catalogue.js';

/**
 * Bigger than any CloudTrail record of a watched call: those are a few KiB, and the largest
 * request they carry, a bucket policy, is at most 20 KiB. SQS and EventBridge take up to 1 MiB.
 */
export const MAX_EVENT_BYTES = 256 * 1024;

export type RejectedAs = 'malformed' | 'oversized' | 'foreign-account' | 'unwatched';

export type QueueEvent =
  | {
      kind: 'change';
      /** EventBridge's id of the event (CloudTrail's eventID when the envelope has none): duplicates share it. */
      eventId: string;
      eventName: string;
      part: ChangedPart;
      /** The bucket or the IAM user the call named. */
      resource: { bucket: string } | { user: string };
      /** When the call was made (CloudTrail's eventTime); null when the event does not say. */
      changedAt: Date | null;
      /** Who made it (userIdentity.arn), to tell the controller's own calls; null when not said. */
      actor: string | null;
      /** The call failed (CloudTrail's errorCode): it changed nothing. */
      failed: boolean;
    }
  | { kind: 'probe'; instanceId: string; probeId: string }
  | { kind: 'rejected'; as: RejectedAs; why: string };

/**
 * The event in `body`, read from the queue of `accountId`. An event naming another account (the
 * envelope's `account` or CloudTrail's `recipientAccountId`) is rejected: a queue only ever holds
 * its own account's events, so such an event was sent to it on purpose.
 */
export function readQueueEvent(body: string, accountId: string, maxBytes = MAX_EVENT_BYTES): QueueEvent {
  if (Buffer.byteLength(body, 'utf8') > maxBytes) return rejected('oversized', `larger than ${maxBytes} bytes`);
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    return rejected('malformed', 'not JSON');
  }
  if (!isObject(event) || !isObject(event.detail)) return rejected('malformed', 'not an EventBridge event with a detail object');
  const { detail } = event;
  const source = event.source;
  const detailType = event['detail-type'];
  if (source === PROBE_SOURCE && detailType === PROBE_DETAIL_TYPE) {
    if (typeof detail.instanceId !== 'string' || typeof detail.probeId !== 'string') return rejected('malformed', 'a probe without instanceId and probeId');
    return { kind: 'probe', instanceId: detail.instanceId, probeId: detail.probeId };
  }
  if (detailType !== CLOUDTRAIL_DETAIL_TYPE || (source !== 'aws.s3' && source !== 'aws.iam')) {
    return rejected('unwatched', `${text(detailType)} from ${text(source)} is not a CloudTrail record of an S3 or IAM call`);
  }
  for (const [field, value] of [['account', event.account], ['recipientAccountId', detail.recipientAccountId]] as const) {
    if (value !== undefined && value !== accountId) return rejected('foreign-account', `its ${field} is ${text(value)}, not ${accountId}`);
  }
  const catalogue = source === 'aws.s3' ? S3_EVENTS : IAM_EVENTS;
  const expectedSource = source === 'aws.s3' ? 's3.amazonaws.com' : 'iam.amazonaws.com';
  const eventName = detail.eventName;
  if (detail.eventSource !== expectedSource || typeof eventName !== 'string') return rejected('malformed', `eventSource ${text(detail.eventSource)} or eventName ${text(eventName)} does not fit source ${source}`);
  const part = Object.hasOwn(catalogue, eventName) ? catalogue[eventName]! : null;
  if (part === null) return rejected('unwatched', `${eventName} is not a call this controller watches`);
  const params = isObject(detail.requestParameters) ? detail.requestParameters : {};
  const name = source === 'aws.s3' ? params.bucketName : params.userName;
  if (name === undefined || name === null) return rejected('unwatched', `${eventName} names no ${source === 'aws.s3' ? 'bucket' : 'user'}`);
  const resource = source === 'aws.s3' ? (isBucketName(name) ? { bucket: name } : null) : isUserName(name) ? { user: name } : null;
  if (resource === null) return rejected('malformed', `${eventName} names ${source === 'aws.s3' ? 'a bucket' : 'a user'} AWS would not allow`);
  const eventId = typeof event.id === 'string' ? event.id : typeof detail.eventID === 'string' ? detail.eventID : null;
  if (eventId === null) return rejected('malformed', 'an event without an id');
  const identity = isObject(detail.userIdentity) ? detail.userIdentity : {};
  return {
    kind: 'change',
    eventId,
    eventName,
    part,
    resource,
    changedAt: time(detail.eventTime),
    actor: typeof identity.arn === 'string' ? identity.arn : null,
    failed: detail.errorCode !== undefined && detail.errorCode !== null,
  };
}

function rejected(as: RejectedAs, why: string): QueueEvent {
  return { kind: 'rejected', as, why };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A name S3 allows a bucket (3-63 lowercase letters, digits, dots and dashes): nothing else reaches the store. */
function isBucketName(value: unknown): value is string {
  return typeof value === 'string' && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value);
}

/** A name IAM allows a user (1-64 of letters, digits and `+=,.@_-`). */
function isUserName(value: unknown): value is string {
  return typeof value === 'string' && /^[\w+=,.@-]{1,64}$/.test(value);
}

function time(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at;
}

/** A value as it may be shown in a log line: short, and only ever a name or a type. */
function text(value: unknown): string {
  if (typeof value !== 'string') return value === undefined ? 'nothing' : typeof value;
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

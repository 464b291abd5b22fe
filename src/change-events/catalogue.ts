/**
 * Which AWS API calls on this instance's buckets and users are change events (issue 17), as
 * CloudTrail records them and EventBridge forwards them (`detail-type` "AWS API Call via
 * CloudTrail"), and the EventBridge rules that send them, with the controller's own probe, to
 * one SQS queue per linked account and region. `events setup` makes what is named here; the
 * poller reads what it makes. Pure: no AWS call.
 *
 * Why CloudTrail through EventBridge to SQS: the calls that matter (Block Public Access switched
 * off, a policy written, a key made) are control-plane calls CloudTrail records as management
 * events, which EventBridge receives without a trail's S3 delivery delay (about 5 minutes) and
 * without AWS Config's per-item cost; the queue keeps them while the controller restarts or
 * fails over, and the link's own credentials read it. EventBridge receives them only while the
 * account has a CloudTrail trail with logging on (AWS, "Receiving CloudTrail events"), as almost
 * every production account has; `events setup` does not make one.
 */

/** The detail-type EventBridge gives CloudTrail's management events. */
export const CLOUDTRAIL_DETAIL_TYPE = 'AWS API Call via CloudTrail';

/** The probe's event: the controller puts it on the bus and waits for it in the queue. */
export const PROBE_SOURCE = 'heroku-s3-controller';
export const PROBE_DETAIL_TYPE = 'Change-event path probe';

/** What an event can have changed: which part of a resource the reconcile it starts must read again. */
export type ChangedPart = 'exposure' | 'settings' | 'tags' | 'existence' | 'keys' | 'permissions';

/**
 * The S3 calls on a bucket, by CloudTrail's event name (it names some calls differently from the
 * SDK: `DeleteBucketPublicAccessBlock` for DeletePublicAccessBlock, `PutBucketLifecycle` for
 * PutBucketLifecycleConfiguration).
 */
export const S3_EVENTS: Readonly<Record<string, ChangedPart>> = {
  PutBucketPublicAccessBlock: 'exposure',
  DeleteBucketPublicAccessBlock: 'exposure',
  PutBucketPolicy: 'exposure',
  DeleteBucketPolicy: 'exposure',
  PutBucketAcl: 'exposure',
  PutBucketOwnershipControls: 'exposure',
  DeleteBucketOwnershipControls: 'exposure',
  PutBucketEncryption: 'settings',
  DeleteBucketEncryption: 'settings',
  PutBucketLifecycle: 'settings',
  DeleteBucketLifecycle: 'settings',
  PutBucketVersioning: 'settings',
  PutBucketCors: 'settings',
  DeleteBucketCors: 'settings',
  PutBucketTagging: 'tags',
  DeleteBucketTagging: 'tags',
  CreateBucket: 'existence',
  DeleteBucket: 'existence',
};

/** The IAM calls on a user, by event name. */
export const IAM_EVENTS: Readonly<Record<string, ChangedPart>> = {
  CreateAccessKey: 'keys',
  UpdateAccessKey: 'keys',
  DeleteAccessKey: 'keys',
  PutUserPolicy: 'permissions',
  DeleteUserPolicy: 'permissions',
  AttachUserPolicy: 'permissions',
  DetachUserPolicy: 'permissions',
  PutUserPermissionsBoundary: 'permissions',
  DeleteUserPermissionsBoundary: 'permissions',
  AddUserToGroup: 'permissions',
  CreateLoginProfile: 'permissions',
  TagUser: 'tags',
  UntagUser: 'tags',
  UpdateUser: 'existence',
  DeleteUser: 'existence',
};

/**
 * IAM is a global service: CloudTrail delivers its events to EventBridge in us-east-1 only (in
 * the aws partition), whatever region the link works in. S3's bucket calls arrive in the bucket's
 * own region.
 */
export const IAM_EVENTS_REGION = 'us-east-1';

/** The regions an account needs a queue and rules in: IAM's, and where its buckets are. */
export function eventRegions(bucketRegions: Iterable<string>): string[] {
  return [...new Set([IAM_EVENTS_REGION, ...bucketRegions])].sort();
}

export interface EventNaming {
  instanceId: string;
  bucketPrefix: string;
  iamUserPrefix: string;
}

/** The names `events setup` gives the queue and the rules (the instance id keeps two deployments apart). */
export function eventResourceNames(instanceId: string): { queue: string; changesRule: string; probeRule: string } {
  return { queue: `${instanceId}-changes`, changesRule: `${instanceId}-changes`, probeRule: `${instanceId}-probe` };
}

/**
 * The rule for changes: CloudTrail's record of the calls above, narrowed to names with this
 * instance's prefixes, so the queue does not fill with the rest of the account's activity.
 */
export function changesEventPattern(naming: EventNaming): Record<string, unknown> {
  return {
    source: ['aws.s3', 'aws.iam'],
    'detail-type': [CLOUDTRAIL_DETAIL_TYPE],
    detail: {
      eventSource: ['s3.amazonaws.com', 'iam.amazonaws.com'],
      eventName: [...Object.keys(S3_EVENTS), ...Object.keys(IAM_EVENTS)],
      $or: [{ requestParameters: { bucketName: [{ prefix: naming.bucketPrefix }] } }, { requestParameters: { userName: [{ prefix: naming.iamUserPrefix }] } }],
    },
  };
}

/** The rule for the controller's own probe, from this instance only. */
export function probeEventPattern(instanceId: string): Record<string, unknown> {
  return { source: [PROBE_SOURCE], 'detail-type': [PROBE_DETAIL_TYPE], detail: { instanceId: [instanceId] } };
}

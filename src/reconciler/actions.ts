/**
 * The typed actions `plan()` returns and the executor applies. Every action names the add-on and
 * account it belongs to and the reason it exists; none carries a secret value.
 */
import type { ResourceInput } from '../store/resource-store.js';
import type { BlockedReason, DriftKind } from './reasons.js';

/** What differs, for the drift report: never a secret value. */
export interface DriftDetail {
  field: string;
  expected: string | null;
  actual: string | null;
}

interface Base {
  addonId: string;
  accountId: string;
  reason: DriftKind | BlockedReason;
  detail?: DriftDetail;
}

/** Writes the deterministic names (and so the intent) to the store before any cloud call. */
export interface RecordResource extends Base {
  kind: 'record-resource';
  record: ResourceInput;
}

export interface CreateBucket extends Base {
  kind: 'create-bucket';
  bucket: string;
  region: string;
  tags: Record<string, string>;
}

export interface BucketSetting extends Base {
  kind:
    | 'put-bucket-tags'
    | 'put-public-access-block'
    | 'put-bucket-ownership-controls'
    | 'put-bucket-encryption'
    | 'put-bucket-lifecycle'
    | 'put-bucket-policy';
  bucket: string;
  region: string;
}

export interface PutBucketTags extends BucketSetting {
  kind: 'put-bucket-tags';
  /** The complete tag set to write: ours merged over whatever else is on the bucket. */
  tags: Record<string, string>;
}

export interface PutBucketLifecycle extends BucketSetting {
  kind: 'put-bucket-lifecycle';
  /** Rules that are not ours, kept as they are. */
  otherRules: unknown[];
}

export interface CreateUser extends Base {
  kind: 'create-user';
  userName: string;
  path: string;
  tags: Record<string, string>;
}

export interface TagUser extends Base {
  kind: 'tag-user';
  userName: string;
  tags: Record<string, string>;
}

export interface PutUserPolicy extends Base {
  kind: 'put-user-policy';
  userName: string;
  policyName: string;
  document: string;
}

export interface DeleteUserPolicy extends Base {
  kind: 'delete-user-policy';
  userName: string;
  policyName: string;
}

export interface CreateAccessKey extends Base {
  kind: 'create-access-key';
  userName: string;
}

export interface DeleteAccessKey extends Base {
  kind: 'delete-access-key';
  userName: string;
  accessKeyId: string;
}

/** Sets the credentials on one attachment's app; values are read from the store when applied. */
export interface DeliverConfigVars extends Base {
  kind: 'deliver-config-vars';
  attachmentId: string;
  attachmentName: string;
  appId: string;
  appName: string;
}

/** Work that cannot go ahead, with a plain explanation; reported, never guessed around. */
export interface Blocked extends Base {
  kind: 'blocked';
  resource: string;
  message: string;
  /** For a repair held back by the drift-loop breaker: the drift it would have repaired. */
  flapping?: { kind: DriftKind; action: ActionKind };
}

export type Action =
  | RecordResource
  | CreateBucket
  | PutBucketTags
  | PutBucketLifecycle
  | (BucketSetting & {
      kind: 'put-public-access-block' | 'put-bucket-ownership-controls' | 'put-bucket-encryption' | 'put-bucket-policy';
    })
  | CreateUser
  | TagUser
  | PutUserPolicy
  | DeleteUserPolicy
  | CreateAccessKey
  | DeleteAccessKey
  | DeliverConfigVars
  | Blocked;

export type ActionKind = Action['kind'];

/** The resource an action touches, for logs and the journal (never a secret). */
export function actionResource(action: Action): string {
  switch (action.kind) {
    case 'record-resource':
      return action.record.bucketName;
    case 'create-bucket':
    case 'put-bucket-tags':
    case 'put-bucket-lifecycle':
    case 'put-public-access-block':
    case 'put-bucket-ownership-controls':
    case 'put-bucket-encryption':
    case 'put-bucket-policy':
      return action.bucket;
    case 'create-user':
    case 'tag-user':
    case 'put-user-policy':
    case 'delete-user-policy':
    case 'create-access-key':
      return action.userName;
    case 'delete-access-key':
      return action.accessKeyId;
    case 'deliver-config-vars':
      return action.appName;
    case 'blocked':
      return action.resource;
  }
}

/**
 * The typed actions `plan()` returns and the executor applies. Every action names the add-on and
 * account it belongs to and the reason it exists; none carries a secret value.
 */
import type { ResourceInput } from '../store/resource-store.js';
import type { OrphanMark, ResourceRecord } from '../store/types.js';
import type { BucketSettingKind, BucketSettingValues } from './kinds/bucket/attributes.js';
import { BlockedReason, GcReason, type DriftKind, type RecordReason, type RotationReason } from '../reasons.js';
import type { RotationTrigger } from '../store/types.js';

/** What differs, for the drift report: never a secret value. */
export interface DriftDetail {
  field: string;
  expected: string | null;
  actual: string | null;
}

export interface ActionBase {
  addonId: string;
  accountId: string;
  reason: DriftKind | BlockedReason | GcReason | RecordReason | RotationReason;
  detail?: DriftDetail;
}

/** Writes the deterministic names (and so the intent) to the store before any cloud call. */
export interface RecordResource extends ActionBase {
  kind: 'record-resource';
  record: ResourceInput;
}

/** Makes the stored record follow what Heroku says of the add-on now (a store write, no cloud call). */
export interface UpdateRecord extends ActionBase {
  kind: 'update-record';
  changes: Partial<Pick<ResourceRecord, 'addonName' | 'teamId' | 'appId' | 'plan'>>;
}

export interface CreateBucket extends ActionBase {
  kind: 'create-bucket';
  bucket: string;
  region: string;
  tags: Record<string, string>;
}

/** Writes one managed setting of the bucket: the value, through its row of {@link BUCKET_ATTRIBUTES}. */
export type BucketSettingAction = {
  [K in BucketSettingKind]: ActionBase & { kind: K; bucket: string; region: string; desired: BucketSettingValues[K] };
}[BucketSettingKind];

export interface PutBucketTags extends ActionBase {
  kind: 'put-bucket-tags';
  bucket: string;
  region: string;
  /**
   * Our ownership tags. They are merged over the bucket's tags as read right before the write
   * (never over an older observation, which would erase newer tags), and only onto a bucket that
   * carries no ownership tag or ours.
   */
  tags: Record<string, string>;
}

export interface CreateUser extends ActionBase {
  kind: 'create-user';
  userName: string;
  path: string;
  tags: Record<string, string>;
}

export interface TagUser extends ActionBase {
  kind: 'tag-user';
  userName: string;
  tags: Record<string, string>;
}

export interface PutUserPolicy extends ActionBase {
  kind: 'put-user-policy';
  userName: string;
  policyName: string;
  document: string;
}

export interface DeleteUserPolicy extends ActionBase {
  kind: 'delete-user-policy';
  userName: string;
  policyName: string;
}

export interface CreateAccessKey extends ActionBase {
  kind: 'create-access-key';
  userName: string;
}

/** Deletes a key of the add-on's user; planned only once no attached app needs it (see planKeys). */
export interface DeleteAccessKey extends ActionBase {
  kind: 'delete-access-key';
  userName: string;
  accessKeyId: string;
  /**
   * A rotated-out key at the end of its grace: deleted only if IAM says it was not used since its
   * deactivation (else it is switched back on, unless the key was compromised), then the rotation ends.
   */
  rotation?: { deactivatedAt: Date; emergency: boolean };
  /**
   * The record's own key, inactive, deleted to free one of the two slots for its replacement (the
   * action after it): deleted only if it is still not active right before.
   */
  freesSlotOfRecorded?: true;
}

/**
 * Starts a rotation (its row is written first: the intent) and makes the new key, which becomes
 * the record's key at once; the deliveries planned after it give it to every attachment. Made only
 * into a free slot: the user holds the old key alone.
 */
export interface CreateRotationKey extends ActionBase {
  kind: 'create-rotation-key';
  userName: string;
  oldAccessKeyId: string;
  trigger: RotationTrigger;
  requestedBy: string;
}

/**
 * Every attachment holds the new key (the deliveries before it landed): the overlap starts. The
 * new key is the record's (it may be made in this very pass, so the plan cannot name it).
 */
export interface MarkRotationDelivered extends ActionBase {
  kind: 'mark-rotation-delivered';
  userName: string;
  oldAccessKeyId: string;
}

/**
 * Switches the rotated-out key off, after checking right before that the record's key (the new
 * one) is another and active, and that no attached app still holds the old one (a delivery that
 * did not land).
 */
export interface DeactivateAccessKey extends ActionBase {
  kind: 'deactivate-access-key';
  userName: string;
  accessKeyId: string;
  /** An operator asked for it: the rotation breaker does not count it. */
  approved: boolean;
  /**
   * IAM's last use of the old key must not be later than this (the overlap's second half): a
   * client the delivery did not reach still uses it, so it stays active and the rotation stops.
   * Absent for a compromised key, which goes whatever uses it.
   */
  unusedSince?: Date;
  attachments: { attachmentId: string; appId: string; appName: string; attachmentName: string }[];
}

/** Switches a rotated-out key back on: it was still used after its deactivation. */
export interface ReactivateAccessKey extends ActionBase {
  kind: 'reactivate-access-key';
  userName: string;
  accessKeyId: string;
}

/** The rotated-out key is gone: the rotation's row is removed. */
export interface FinishRotation extends ActionBase {
  kind: 'finish-rotation';
  userName: string;
  oldAccessKeyId: string;
}

/**
 * Takes a key the store does not know back into the record, with the secret an attached app
 * already holds (after a store loss or a restore from an older backup): no new key, no restart.
 * The secret is read from that app's config vars when applied and checked with STS first.
 */
export interface AdoptAccessKey extends ActionBase {
  kind: 'adopt-access-key';
  userName: string;
  accessKeyId: string;
  /** The app and attachment the secret is read from. */
  appId: string;
  appName: string;
  attachmentName: string;
  /**
   * Every attachment whose app holds the key (this one first): what each holds is recorded as
   * delivered, so that a teardown before the next delivery check still removes it.
   */
  heldBy: { attachmentId: string; attachmentName: string; appId: string }[];
}

/** Sets the credentials on one attachment's app; values are read from the store when applied. */
export interface DeliverConfigVars extends ActionBase {
  kind: 'deliver-config-vars';
  attachmentId: string;
  attachmentName: string;
  appId: string;
  appName: string;
  /**
   * The app already holds exactly these values (read this pass): only the delivery is recorded,
   * without a PATCH that would restart the app for nothing.
   */
  alreadyOnApp?: boolean;
}

/** Starts (or, with null, ends) an orphan's grace period, in the store and on the resources. */
export interface MarkOrphan extends ActionBase {
  kind: 'mark-orphan';
  orphan: OrphanMark | null;
  /** The add-on's bucket; null for a kind without one. */
  bucket: string | null;
  /** Tag the bucket / user too: only when observed to carry our ownership tags (invariant 1). */
  tagBucket: boolean;
  tagUser: boolean;
}

/**
 * Removes the config vars delivered to one app, and only those that still hold what this add-on
 * delivered there (checked on the app right before the PATCH): a name another add-on's attachment
 * has taken over since is never removed.
 */
export interface RemoveConfigVars extends ActionBase {
  kind: 'remove-config-vars';
  attachmentId: string;
  appId: string;
  varNames: string[];
  /**
   * The bucket this add-on delivered: its `*_BUCKET_NAME` on the app says whether the vars are
   * still ours. Null for a kind without a bucket: then its `*_AWS_ACCESS_KEY_ID` does, by the hash
   * of what was delivered.
   */
  bucket: string | null;
  /** sha256 of each delivered value, by name (null for deliveries recorded before they were kept). */
  valueHashes: Record<string, string> | null;
}

/** Teardown steps of an orphan's IAM user, in this order: keys, inline policies, user. */
export interface UserTeardown extends ActionBase {
  kind: 'delete-user-keys' | 'delete-user-policies' | 'delete-user';
  userName: string;
}

/** Teardown steps of an orphan's bucket, in this order: policy, contents (bounded), bucket. */
export interface BucketTeardown extends ActionBase {
  kind: 'delete-bucket-policy' | 'empty-bucket' | 'delete-bucket';
  bucket: string;
  region: string;
}

/** Forgets an add-on whose resources are all gone (or only a retained bucket is left). */
export interface ForgetResource extends ActionBase {
  kind: 'forget-resource';
  bucket: string | null;
  retained: boolean;
}

/** Trips or resets an account's mass-deletion breaker. */
export interface GcBreakerAction extends ActionBase {
  kind: 'trip-gc-breaker' | 'reset-gc-breaker';
  /** The held-back teardowns (trip only). */
  planned: string[];
}

/** Work that cannot go ahead, with a plain explanation; reported, never guessed around. */
export interface Blocked extends ActionBase {
  kind: 'blocked';
  resource: string;
  message: string;
  /** For a repair held back by the drift-loop breaker: the drift it would have repaired. */
  flapping?: { kind: DriftKind; action: ActionKind };
}

export type Action =
  | RecordResource
  | UpdateRecord
  | CreateBucket
  | PutBucketTags
  | BucketSettingAction
  | CreateUser
  | TagUser
  | PutUserPolicy
  | DeleteUserPolicy
  | CreateAccessKey
  | DeleteAccessKey
  | CreateRotationKey
  | MarkRotationDelivered
  | DeactivateAccessKey
  | ReactivateAccessKey
  | FinishRotation
  | AdoptAccessKey
  | DeliverConfigVars
  | MarkOrphan
  | RemoveConfigVars
  | UserTeardown
  | BucketTeardown
  | ForgetResource
  | GcBreakerAction
  | Blocked
  | KindActions[keyof KindActions];

/**
 * What every action of a kind's own resource carries: the resource's name and region. A kind
 * declares its actions from its own folder, by declaration merging, so this file never lists them:
 *
 *     declare module '../../actions.js' {
 *       interface KindActions { queue: CreateQueue | DeleteQueue }
 *     }
 *
 * (The built-in bucket kind's actions predate this and are listed above.) A kind's teardown
 * steps carry the reason `grace-expired`, which makes them destructive ({@link isDestructive}).
 */
export interface KindAction extends ActionBase {
  resource: string;
  region: string;
}

/** The actions of each kind's own resource, by kind (see {@link KindAction}); empty here. */
export interface KindActions {}

/**
 * Actions that destroy something: never run in GC_MODE=dry-run, and counted by the mass-deletion
 * breaker. Deleting an access key is one (safety invariant 10).
 */
export const DESTRUCTIVE_KINDS: ReadonlySet<ActionKind> = new Set([
  'remove-config-vars',
  'delete-access-key',
  'delete-user-keys',
  'delete-user-policies',
  'delete-user',
  'delete-bucket-policy',
  'empty-bucket',
  'delete-bucket',
  'forget-resource',
] as const);

export type ActionKind = Action['kind'];

/**
 * Whether the action destroys something: one of the core's destructive kinds, or any teardown
 * step of an orphan whose grace is over (a kind's own teardown included).
 */
export function isDestructive(action: Action): boolean {
  return DESTRUCTIVE_KINDS.has(action.kind) || action.reason === GcReason.GraceExpired;
}

/** The resource an action touches, for logs and the journal (never a secret). */
export function actionResource(action: Action): string {
  switch (action.kind) {
    case 'record-resource':
      return action.record.resourceName ?? action.record.userName;
    case 'update-record':
      return action.addonId;
    case 'create-bucket':
    case 'put-bucket-tags':
    case 'put-bucket-lifecycle':
    case 'put-public-access-block':
    case 'put-bucket-ownership-controls':
    case 'put-bucket-encryption':
    case 'put-bucket-policy':
    case 'put-bucket-versioning':
    case 'put-bucket-cors':
      return action.bucket;
    case 'mark-orphan':
    case 'forget-resource':
      return action.bucket ?? action.addonId;
    case 'delete-bucket-policy':
    case 'empty-bucket':
    case 'delete-bucket':
      return action.bucket;
    case 'delete-user-keys':
    case 'delete-user-policies':
    case 'delete-user':
      return action.userName;
    case 'remove-config-vars':
      return action.appId;
    case 'trip-gc-breaker':
    case 'reset-gc-breaker':
      return action.accountId;
    case 'create-user':
    case 'tag-user':
    case 'put-user-policy':
    case 'delete-user-policy':
    case 'create-access-key':
      return action.userName;
    case 'create-rotation-key':
    case 'mark-rotation-delivered':
    case 'finish-rotation':
      return action.oldAccessKeyId;
    case 'delete-access-key':
    case 'adopt-access-key':
    case 'deactivate-access-key':
    case 'reactivate-access-key':
      return action.accessKeyId;
    case 'deliver-config-vars':
      return action.appName;
    case 'blocked':
      return action.resource;
    default:
      return (action as KindAction).resource;
  }
}

/** The block of a teardown step whose resource no longer carries this add-on's ownership tags. */
export function notOwnedBlock(record: { accountId: string; addonId: string }, resource: string, what: string): Action {
  return {
    accountId: record.accountId,
    addonId: record.addonId,
    kind: 'blocked',
    reason: BlockedReason.NotOwned,
    resource,
    message: `${what} ${resource} lacks this controller's ownership tags, so it is not deleted; delete it by hand if it is really unwanted`,
  };
}

/**
 * The data `plan()` decides from: what Heroku wants (desired), what AWS has (observed), and what
 * the store remembers (records). Plain data, no I/O, so plan tests need no stand.
 */
import type { DeliveryRecord, GcBreaker, KeyRotation, Link, ResourceKindName, ResourceRecord } from '../store/types.js';
import type { CorsRuleSpec } from './profiles.js';

export interface DesiredAttachment {
  id: string;
  /** The config-var prefix Heroku gave the attachment, e.g. `BUCKET`. */
  name: string;
  appId: string;
  appName: string;
}

/** One add-on of a configured service whose app belongs to a linked team. */
export interface DesiredAddon {
  addonId: string;
  addonName: string;
  service: string;
  /** `service:plan`, as Heroku names plans. */
  plan: string;
  appId: string;
  appName: string;
  teamId: string;
  /** AWS region for the bucket: the link's region if set, else mapped from the app's region. */
  region: string;
  attachments: DesiredAttachment[];
  /** Config var names the add-on owns on its apps; ours must not collide with them. */
  ownedConfigVars: string[];
}

/** What one linked team wants; `complete` is false when any page of its read failed. */
export interface TeamDesiredState {
  teamId: string;
  teamName: string;
  complete: boolean;
  error: string | null;
  addons: DesiredAddon[];
  /** Add-ons of the configured services that Heroku lists as deprovisioned (short grace). */
  deprovisioned: string[];
}

export interface PublicAccessBlock {
  blockPublicAcls: boolean;
  ignorePublicAcls: boolean;
  blockPublicPolicy: boolean;
  restrictPublicBuckets: boolean;
}

export interface LifecycleRule {
  id: string;
  enabled: boolean;
  prefix: string;
  abortIncompleteMultipartUploadDays: number | null;
  /** The rule exactly as S3 returned it, so a repair keeps rules that are not ours. */
  raw: unknown;
}

/** Settings read by a deep check of one bucket; `null` means "not configured". */
export interface BucketSettings {
  publicAccessBlock: PublicAccessBlock | null;
  encryption: { algorithm: string; kmsKeyId: string | null } | null;
  objectOwnership: string | null;
  /** The bucket policy document as JSON text. */
  policy: string | null;
  lifecycleRules: LifecycleRule[];
  /** `Enabled`, `Suspended`, or null for a bucket that was never versioned. */
  versioning: 'Enabled' | 'Suspended' | null;
  /** The bucket's CORS rules, or null when it has none. */
  cors: CorsRuleSpec[] | null;
}

/**
 * One resource a kind makes beyond the user (a bucket), as its kind's adapter observed it. Every
 * kind's resources have a name, a creation time and tags (ownership is read from them); what a
 * deep check reads of it is the kind's own (`Settings`).
 */
export interface ObservedResource<Settings = unknown> {
  name: string;
  creationDate: Date | null;
  tags: Record<string, string>;
  /** Present when the deep check ran this pass. */
  settings: Settings | null;
}

/** The settings that can make a bucket public: what an exposure check reads, on its shorter window. */
export type ExposureSettings = Pick<BucketSettings, 'publicAccessBlock' | 'objectOwnership' | 'policy'>;

/** A bucket, with all its settings (a deep check), its exposure settings alone, or none. */
export type ObservedBucket = ObservedResource<BucketSettings | ExposureSettings>;

export interface ObservedAccessKey {
  accessKeyId: string;
  status: 'Active' | 'Inactive';
  /** When AWS made it (ListAccessKeys' CreateDate); absent or null when it was not said. */
  createdAt?: Date | null;
}

export interface ObservedUser {
  userName: string;
  path: string;
  tags: Record<string, string>;
  /** Inline policies by name, documents as JSON text (already URL-decoded). */
  inlinePolicies: Record<string, string>;
  /** Present when the access keys were listed this pass. */
  accessKeys: ObservedAccessKey[] | null;
}

/** What one linked account holds, found by our naming prefix and read in bulk. */
export interface ObservedAccount {
  accountId: string;
  /** False when the inventory could not be read: then nothing in this account is changed. */
  complete: boolean;
  error: string | null;
  /** Each kind's resources of ours (those with the naming prefix), by kind, then by name. */
  resources: Map<ResourceKindName, Map<string, ObservedResource>>;
  users: Map<string, ObservedUser>;
  /** Every IAM user in the account, ours or not (counted while paging the inventory). */
  iamUsersInAccount: number;
  /**
   * The account's IAM users and its quota of them, as IAM `GetAccountSummary` says (`Users`,
   * `UsersQuota`); null when that was not read: the call failed or was refused, or a targeted
   * read that does not ask. `plan()` makes no IAM user that would go over it; null blocks nothing.
   */
  iamUserQuota: { used: number; quota: number } | null;
  /**
   * Resources, by kind then name, that carry this instance's tag and that no record or add-on
   * names (a store lost mid-teardown, after its user was gone): found again by their tags. Absent
   * in a targeted read; empty where the kind's adapter cannot list them by tag.
   */
  unknownResources?: Map<ResourceKindName, Map<string, UnknownResource>>;
  /** What the read could not tell, without making it incomplete (logged by the caller). */
  warnings?: string[];
}

export interface UnknownResource {
  name: string;
  /** Where it lives (a bucket's GetBucketLocation); null when that could not be read this pass. */
  region: string | null;
  tags: Record<string, string>;
}

/** The resource of this kind at this name, as observed in the account. */
export function observedResource(account: ObservedAccount | undefined, kind: ResourceKindName, name: string | null): ObservedResource | undefined {
  return name === null ? undefined : account?.resources.get(kind)?.get(name);
}

/**
 * What Heroku said about one add-on asked for by id this pass. Garbage collection asks before it
 * marks an orphan and before it starts a teardown (safety invariants 2 and 10): an add-on missing
 * from its old team's listing may have moved to another team, whose read may have failed.
 */
export type AddonWhereabouts =
  /** Heroku's own 404 `not_found` for the add-on. */
  | { status: 'gone' }
  /** Heroku lists it as deprovisioned, or told the Partner API so: the short grace applies. */
  | { status: 'deprovisioned'; plan?: string }
  /** It exists, on an app of this team (null: an app outside any team). */
  | { status: 'alive'; teamId: string | null; appId: string; plan: string; addonName: string }
  /** The read failed: nothing is decided about it this pass. */
  | { status: 'unknown'; error: string };

export interface PlanInput {
  links: Link[];
  desired: TeamDesiredState[];
  observed: Map<string, ObservedAccount>;
  records: Map<string, ResourceRecord>;
  deliveries: DeliveryRecord[];
  /** Config vars of apps read this pass (deep checks), by app id; an app not here is not judged. */
  configVars: Map<string, Record<string, string>>;
  /** Successful mutations within the breaker window, keyed `addonId|action|resource|reason`. */
  recentRepairs: Map<string, number>;
  /** Mass-deletion breakers by account. */
  breakers: Map<string, GcBreaker>;
  /**
   * Add-ons whose credentials go through their own add-on config (CREDENTIAL_DELIVERY=addon-config,
   * provisioned through the Partner API): the config vars Heroku lists as the add-on's are ours.
   */
  addonConfigDelivered?: ReadonlySet<string>;
  /**
   * Orphan candidates confirmed with Heroku this pass (see {@link AddonWhereabouts}); a candidate
   * that is not here, or is `unknown`, is neither marked nor torn down.
   */
  whereabouts?: ReadonlyMap<string, AddonWhereabouts>;
  /** Key rotations in flight, by add-on (reconciler/rotation.ts). */
  rotations?: ReadonlyMap<string, KeyRotation>;
  /**
   * False in a keyed pass: no rotation makes its new key there (pacing needs the whole team), so
   * none is planned, nor the deliveries a new key would bring. Default true.
   */
  startRotations?: boolean;
  now: Date;
}

/**
 * The reconciler's ports: what it needs from the world, as small interfaces it owns. Adapters
 * implement them (`sources/heroku` the desired state, `sinks/aws` the accounts, `sinks/heroku` the
 * apps' config vars) and `runtime.ts` wires them in, so the reconciler imports no AWS or Heroku
 * code and runs on in-memory fakes in its unit tests. Adapters import from the reconciler only
 * this file: the types below are the whole contract between the two sides.
 */
import type { DeliveryStore } from '../store/delivery-store.js';
import type { GcBreakerStore } from '../store/gc-breaker-store.js';
import type { Journal } from '../store/journal.js';
import type { LinkStore } from '../store/link-store.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { RotationStore } from '../store/rotation-store.js';
import type { Link, LinkAuth, ResourceKindName } from '../store/types.js';
import type { AddonWhereabouts, DesiredAddon, ObservedAccessKey, ObservedAccount, TeamDesiredState } from './model.js';

export type {
  AddonWhereabouts,
  BucketSettings,
  DesiredAddon,
  DesiredAttachment,
  LifecycleRule,
  ObservedAccessKey,
  ObservedAccount,
  ObservedBucket,
  ObservedResource,
  ObservedUser,
  PublicAccessBlock,
  TeamDesiredState,
  UnknownResource,
} from './model.js';
export type { CorsRuleSpec } from './profiles.js';
export type { ResourceKindName } from '../store/types.js';

// ---- Desired state (Heroku) ----

/**
 * What one add-on asked for by id is, for a single-key reconcile. Only an answer that settles the
 * question decides anything: `gone` is the platform's own "not found" for the add-on; every other
 * failure is `unknown`, and an unknown read never leads to garbage collection (safety invariant 2).
 */
export type AddonRead =
  | {
      status: 'found';
      /** The add-on as the full pass would see it; null when it is not this controller's to act on. */
      addon: DesiredAddon | null;
      /** Listed as deprovisioned: the short grace applies, as in the full pass. */
      deprovisioned: boolean;
      /** The linked team owning the add-on's app, when there is one. */
      link: Link | null;
      /** Why it is not ours (another service, an app outside every linked team), for logs. */
      notOurs: string | null;
      /** Where it is, as garbage collection needs it ({@link AddonWhereabouts}). */
      whereabouts: AddonWhereabouts;
    }
  | { status: 'gone' }
  | { status: 'unknown'; error: string };

/** Where desired state comes from: the linked teams' add-ons, apps and attachments. */
export interface DesiredStateSource {
  /** Every linked team's add-ons; a team whose read failed comes back `complete: false`. */
  teams(links: Link[]): Promise<TeamDesiredState[]>;
  /** One add-on, asked for by id (a keyed reconcile). */
  addon(addonId: string, links: Link[]): Promise<AddonRead>;
  /** Where an add-on no linked team lists is now (garbage collection asks before it acts). */
  whereabouts(addonId: string): Promise<AddonWhereabouts>;
}

/** The config vars of Heroku apps: read for deep checks, written to deliver credentials. */
export interface AppConfigVars {
  /** The app's vars as they are now; null when the app no longer exists. */
  read(appId: string): Promise<Record<string, string> | null>;
  /** Several apps at once; an app that cannot be read is left out and reported through `onError`. */
  readMany(appIds: readonly string[], onError: (appId: string, err: unknown) => void): Promise<Map<string, Record<string, string>>>;
  /** Sets these vars (idempotent). */
  set(appId: string, vars: Record<string, string>): Promise<void>;
  /** Removes exactly these vars; an app that no longer exists has none to remove. */
  remove(appId: string, names: readonly string[]): Promise<void>;
}

// ---- Cloud accounts (AWS) ----

/** One resource of a kind that an account should hold, marked for a deep check (every setting read) or not. */
export interface ExpectedResource {
  kind: ResourceKindName;
  name: string;
  region: string;
  deep: boolean;
  /** Not deep: its public-exposure settings alone are read (a bucket's public access block, policy and ownership). */
  exposure?: boolean;
}

/** The names one account should hold: every add-on's user, and its kind's resource where it has one. */
export interface ExpectedResources {
  resources: ExpectedResource[];
  users: { name: string; deep: boolean }[];
}

export interface ObserveOptions {
  /** Tag key and value that mark this instance's resources (found in bulk by the tagging API). */
  instanceTag: { key: string; value: string };
  /** Tag key naming a resource's add-on: a bucket of this instance without it is not rediscovered. */
  addonTagKey: string;
  /** The prefix of every resource name this instance gives (BUCKET_PREFIX). */
  namePrefix: string;
  iamPath: string;
  /** Region for account-wide listings (S3 lists every bucket of the account from any region). */
  listRegion: string;
  /** Where resources of this instance no record names are looked for when none is expected. */
  homeRegion?: string;
  /** Parallel per-resource reads in the account. */
  concurrency?: number;
}

/** One add-on's resource and user, read alone (a keyed reconcile). */
export interface ExpectedAddonResources {
  /** Null for an add-on whose kind makes nothing beyond the user. */
  resource: ExpectedResource | null;
  user: { name: string; deep: boolean };
}

/** Reaches linked accounts. Handles are cheap: the adapter keeps one set of clients per account. */
export interface CloudAccounts {
  account(target: { accountId: string; auth: LinkAuth }): CloudAccount;
  /** The ARN an access key acts as in that account, asked with the key itself. */
  keyIdentity(accountId: string, key: { accessKeyId: string; secretAccessKey: string }): Promise<string>;
}

/**
 * One linked account: observation (never mutating) and handles to write through. The users are
 * the core's; each kind's own resources are observed and written by that kind's adapter, wired
 * with the kind (runtime.ts): the account asks it for the kind's resources it is given.
 */
export interface CloudAccount {
  readonly accountId: string;
  /** The bulk read of a full pass: every user and every kind's resources with our prefix, deep reads where asked. */
  observe(expected: ExpectedResources, options: ObserveOptions): Promise<ObservedAccount>;
  /** Targeted reads of one add-on's resource and user. */
  observeAddon(expected: ExpectedAddonResources, options: Pick<ObserveOptions, 'iamPath' | 'listRegion'>): Promise<ObservedAccount>;
  /** One IAM user alone (is an add-on's user in this account?). */
  observeUser(userName: string): Promise<ObservedAccount>;
  /** One resource of a kind, to write through: the handle its kind's adapter gives (a bucket's is `kinds/bucket/ports.ts` BucketHandle). */
  resource(kind: ResourceKindName, name: string, region: string): ResourceHandle;
  user(name: string): UserHandle;
}

/**
 * What the core writes of any kind's resource: its tags (the orphan mark). A kind's adapter gives
 * a handle with this and the kind's own writes; the kind's handlers know its full shape.
 */
export interface ResourceHandle {
  /** The resource's tags as they are now; null when it does not exist. */
  tags(): Promise<Record<string, string> | null>;
  /** Sets and removes some tags, keeping the others; a resource that is gone is left gone. */
  mergeTags(set: Record<string, string>, remove?: readonly string[]): Promise<void>;
}

/** One IAM user. Writes are idempotent; the user's tags are re-read where ownership matters. */
export interface UserHandle {
  /** Creates it with its tags; an existing user that `owns` accepts is success, any other is terminal. */
  create(path: string, tags: Record<string, string>, owns: (tags: Record<string, string>) => boolean): Promise<void>;
  /** Path and tags as they are now; null when the user does not exist. */
  readTags(): Promise<{ path: string; tags: Record<string, string> } | null>;
  /** Adds or overwrites these tags. */
  tag(tags: Record<string, string>): Promise<void>;
  untag(keys: string[]): Promise<void>;
  putPolicy(policyName: string, document: string): Promise<void>;
  deletePolicy(policyName: string): Promise<void>;
  /** The user's access keys; none when the user does not exist. */
  accessKeys(): Promise<ObservedAccessKey[]>;
  /** A new key, with when AWS made it (null when AWS did not say); the secret goes straight to the store, never to a log. */
  createAccessKey(): Promise<{ accessKeyId: string; secretAccessKey: string; createdAt: Date | null }>;
  deleteAccessKey(accessKeyId: string): Promise<void>;
  /** Switches a key on or off (a rotated-out key's deactivation, or its reactivation). */
  setAccessKeyStatus(accessKeyId: string, status: 'Active' | 'Inactive'): Promise<void>;
  /** When AWS last saw the key used; null when never (AWS updates this within hours, not at once). */
  accessKeyLastUsed(accessKeyId: string): Promise<Date | null>;
  // Teardown, in this order: keys, policies, the user.
  deleteAllAccessKeys(): Promise<string[]>;
  deleteAllPolicies(): Promise<{ inline: string[]; detached: string[] }>;
  /** Deletes the (emptied) user; a missing one is success. */
  delete(): Promise<void>;
}

// ---- Change events (AWS) ----

/**
 * Which accounts' change events arrive (issue 17): CloudTrail's record of calls on their buckets
 * and users reaches the controller within about a minute, so their drift is found from the events
 * and their deep checks may come round on the longer windows (fewer reads). An account whose event
 * path is not set up, or not healthy (its queue gone, its probe lost), is read on the usual ones.
 */
export interface ChangeEventWatch {
  watching(accountId: string): boolean;
  /** When the account last started or stopped being watched, as `watching` saw it; null when never. */
  watchingSince(accountId: string): Date | null;
}

// ---- The store (what the reconciler reads and writes of it) ----

/** The records of what was made for each add-on. */
export type ResourceRecords = Pick<
  ResourceStore,
  'get' | 'listAll' | 'upsert' | 'follow' | 'setKey' | 'setKeyCreatedAt' | 'setCreateStarted' | 'setDeepChecked' | 'setOrphan' | 'setTeardownStarted' | 'setState' | 'remove'
>;
/** What was delivered to which attachment (fingerprints and value hashes, never values). */
export type DeliveryRecords = Pick<DeliveryStore, 'listAll' | 'listForAddon' | 'record' | 'remove' | 'removeForAddon'>;
/** The append-only journal: an intent before each mutation, an outcome after. */
export type JournalPort = Pick<Journal, 'append' | 'countSucceededSince'>;
/** Key rotations in flight (reconciler/rotation.ts). */
export type RotationRecords = Pick<RotationStore, 'list' | 'get' | 'start' | 'keyCreated' | 'delivered' | 'deactivated' | 'reactivated' | 'finish'>;
/** The mass-deletion breakers, per account. */
export type GcBreakers = Pick<GcBreakerStore, 'list' | 'get' | 'trip' | 'reset'>;

/** The parts of the store a pass uses; the PostgreSQL/PGlite store implements them. */
export interface StorePorts {
  links: Pick<LinkStore, 'list'>;
  resources: ResourceRecords;
  deliveries: DeliveryRecords;
  journal: JournalPort;
  gcBreakers: GcBreakers;
  rotations: RotationRecords;
}

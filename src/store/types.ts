/**
 * Contracts of the controller's state store. One implementation works on both a PostgreSQL
 * server (`pg`) and embedded PGlite; both speak the same SQL through {@link Db}.
 */
import type { OrphanReason } from '../reasons.js';

/** The smallest SQL surface the store needs; implemented over `pg.Pool` and over PGlite. */
export interface Db {
  readonly kind: 'postgres' | 'pglite';
  /** Runs one parameterised statement (`$1`, `$2`, …) and returns its rows. */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of one or more statements without parameters (migrations, SAVEPOINT, …). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** How the controller reaches one linked AWS account. Secrets are decrypted only in memory. */
export type LinkAuth =
  | { kind: 'keys'; accessKeyId: string; secretAccessKey: string }
  | { kind: 'role'; roleArn: string; externalId: string | null };

/** A Heroku Team linked to an AWS account by an administrator (the out-of-band step). */
export interface Link {
  teamId: string;
  teamName: string;
  accountId: string;
  /** Default AWS region for this team's buckets; null = derive from the Heroku app's region. */
  region: string | null;
  auth: LinkAuth;
  /** For a link by access keys: when AWS made that key, as read when linking; null or absent when not known. */
  accessKeyCreatedAt?: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A kind's name (bucket, credentials, …): checked against the kinds this controller has when it starts. */
export type ResourceKindName = string;

export type ResourceState = 'pending' | 'ready' | 'error' | 'retained';

/**
 * What the controller knows about the resources it made for one add-on. Names are deterministic,
 * so a record can be (re)written before the cloud call that creates the resource.
 */
export interface ResourceRecord {
  addonId: string;
  addonName: string;
  accountId: string;
  teamId: string;
  appId: string;
  plan: string;
  /** Which kind of resources the add-on was made as (a bucket with its user and key, credentials alone, …). */
  kind: ResourceKindName;
  /** The name of the resource its kind makes beyond the user (a bucket's); null for a kind without one. */
  resourceName: string | null;
  /** The region of the add-on's resources (its bucket's), delivered to its apps. */
  region: string;
  userName: string;
  /** The access key the controller delivered; null until one was created and stored. */
  accessKeyId: string | null;
  /** Decrypted in memory only; stored Fernet-encrypted so it can be re-delivered without rotation. */
  secretAccessKey: string | null;
  /** When AWS made that key (its CreateDate); null until known (keys recorded before it was kept). */
  accessKeyCreatedAt: Date | null;
  /**
   * When the controller last sent the create call of `resourceName` (CreateBucket; written before
   * the call). An untagged resource of that name created after this moment is ours, interrupted
   * before tagging.
   */
  resourceCreateStartedAt: Date | null;
  /** When the bucket's settings and the user's keys were last read in full; null = due now. */
  deepCheckedAt: Date | null;
  /** When the resource's public-exposure settings were last read (by a deep check or their own, shorter window); null = due now. */
  exposureCheckedAt: Date | null;
  /** Set while no add-on wants these resources: they are deleted once `deleteAfter` has passed. */
  orphan: OrphanMark | null;
  /** When the first teardown step ran; a teardown under way is resumed, not re-counted. */
  teardownStartedAt: Date | null;
  state: ResourceState;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface OrphanMark {
  since: Date;
  /** `deprovisioned`: Heroku said the add-on was removed (short grace); `orphaned`: seen by diff only (long grace). */
  reason: OrphanReason;
  deleteAfter: Date;
}

/** The mass-deletion breaker of one account (safety invariant 4). */
export interface GcBreaker {
  accountId: string;
  trippedAt: Date;
  /** The add-ons whose teardown it held back; an approval lets exactly these proceed. */
  planned: string[];
  approvedAt: Date | null;
}

/** Credentials delivered to one attachment app: a fingerprint of the values, never the values. */
export interface DeliveryRecord {
  addonId: string;
  attachmentId: string;
  appId: string;
  /** Names of the config vars set on the app (so they can be removed later, and only those). */
  varNames: string[];
  /** Hash of names and values as delivered; a change means "deliver again". */
  fingerprint: string;
  /**
   * sha256 of each delivered value, by var name (never a value): before removing a var, the
   * controller checks it still holds what it delivered. Absent for deliveries recorded earlier.
   */
  valueHashes?: Record<string, string> | null;
  deliveredAt: Date;
}

/** One line of the append-only journal: an intent written before a mutation, an outcome after. */
export interface JournalEntry {
  at?: Date;
  instanceId: string;
  accountId: string | null;
  addonId: string | null;
  /** Typed action, e.g. `create-bucket`, `create-access-key`, `deliver-config-vars`, `link`. */
  action: string;
  /** The resource acted on: bucket name, user name, key id, app id, team id. Never a secret. */
  resource: string;
  phase: 'intent' | 'ok' | 'failed';
  /** Free-form details (JSON). Must never hold a secret value. */
  detail?: Record<string, unknown>;
}

/** What set a key rotation going: the key's age, an operator, or an operator who says it leaked. */
export type RotationTrigger = 'age' | 'on-demand' | 'emergency';

/**
 * Where a rotation is (see migrations/0011_key_rotations.sql): `requested` waits for its turn;
 * `creating` makes and delivers the new key; `delivered` keeps the old key active for the overlap;
 * `deactivated` waits out the grace before the old key is deleted; `reactivated` found the old key
 * still in use after its deactivation and waits for an operator.
 */
export type RotationStep = 'requested' | 'creating' | 'delivered' | 'deactivated' | 'reactivated';

/** One add-on's access-key rotation in flight (key ids only: the new secret is the record's). */
export interface KeyRotation {
  addonId: string;
  accountId: string;
  oldAccessKeyId: string;
  /** The key made to replace it; null until it is made (the record's key says so first). */
  newAccessKeyId: string | null;
  trigger: RotationTrigger;
  step: RotationStep;
  requestedAt: Date;
  /** Who asked (`cli:LOGIN`, `token:NAME`, …), or `controller` for the age trigger. */
  requestedBy: string;
  /** When the rotation reached its step. */
  stepAt: Date;
  deliveredAt: Date | null;
  deactivatedAt: Date | null;
  /** Set: its deactivation is not counted by the rotation breaker (an operator asked for it). */
  approvedAt: Date | null;
}

/**
 * One vocabulary of reasons (STYLE.md #10), shared by plan actions, journal rows, log lines and
 * metric labels. A drift kind names what differs; the other reasons explain blocked work.
 */
export const DriftKind = {
  MissingBucket: 'missing-bucket',
  MissingUser: 'missing-user',
  MissingKey: 'missing-key',
  UnrecordedKey: 'unrecorded-key',
  TagsChanged: 'tags-changed',
  PublicAccessBlockChanged: 'public-access-block-changed',
  EncryptionChanged: 'encryption-changed',
  OwnershipChanged: 'ownership-changed',
  TlsPolicyChanged: 'tls-policy-changed',
  LifecycleChanged: 'lifecycle-changed',
  PolicyChanged: 'policy-changed',
  VersioningChanged: 'versioning-changed',
  CorsChanged: 'cors-changed',
  ConfigVarsMissing: 'config-vars-missing',
  NameTaken: 'name-taken',
  /** No add-on wants this bucket or user any more: it waits out its grace period, then goes. */
  OrphanedBucket: 'orphaned-bucket',
  OrphanedUser: 'orphaned-user',
  /** Config vars left on an app the add-on is no longer attached to. */
  DetachedConfigVars: 'detached-config-vars',
  /** The team was unlinked: its resources stay until an operator decides. */
  TeamUnlinked: 'team-unlinked',
} as const;
export type DriftKind = (typeof DriftKind)[keyof typeof DriftKind];

/** Why work for an add-on cannot go ahead; each is reported, none is guessed around. */
export const BlockedReason = {
  /** A resource with our deterministic name exists but lacks this instance's ownership tags. */
  NotOwned: 'not-owned',
  /** Our config var names collide with config vars another add-on owns on that app. */
  ConfigVarConflict: 'config-var-conflict',
  /** The account's actual state could not be read this pass: nothing is changed blind. */
  ObserveFailed: 'observe-failed',
  /** Repaired too often within the breaker window: another writer is fighting us. */
  Flapping: 'flapping',
  /** One pass would delete too much of an account: nothing is deleted until `gc approve`. */
  GcBreakerTripped: 'gc-breaker-tripped',
  /** The add-on's plan names a kind this controller does not have, or not the kind it was made as. */
  KindChanged: 'kind-changed',
  /** Both access-key slots hold keys that may be in use: no new key until one is known to be free. */
  KeySlotsInUse: 'key-slots-in-use',
  /**
   * The account has as many IAM users as its quota allows (counting those this pass makes): a
   * new add-on gets nothing (no user, and no bucket it has not got yet) until there is room.
   */
  IamUserQuota: 'iam-user-quota',
} as const;
export type BlockedReason = (typeof BlockedReason)[keyof typeof BlockedReason];

/** Why garbage collection does what it does, beyond the drift it reports. */
export const GcReason = {
  /** An orphan's add-on came back within the grace period: it is kept and unmarked. */
  WantedAgain: 'wanted-again',
  /** The grace period is over: the teardown step runs. */
  GraceExpired: 'grace-expired',
  /** The mass-deletion breaker trips, or resets once nothing holds it. */
  Breaker: 'gc-breaker',
} as const;
export type GcReason = (typeof GcReason)[keyof typeof GcReason];

/** Why the store's record of an add-on changes without any cloud call (safety invariant 10). */
export const RecordReason = {
  /**
   * The add-on's plan, team, app or name is not what the record says: the record follows, so
   * retention is judged by the plan it has now and collection by the team that holds it now.
   */
  DesiredChanged: 'desired-changed',
  /**
   * Heroku says the add-on lives on outside every linked team (its app moved to another team or
   * account): not an orphan. Its resources stay, reported as the resources of an unlinked team.
   */
  MovedOut: 'moved-out',
} as const;
export type RecordReason = (typeof RecordReason)[keyof typeof RecordReason];

export type Reason = DriftKind | BlockedReason | GcReason | RecordReason;

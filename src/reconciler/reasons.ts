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
  ConfigVarsMissing: 'config-vars-missing',
  NameTaken: 'name-taken',
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
} as const;
export type BlockedReason = (typeof BlockedReason)[keyof typeof BlockedReason];

export type Reason = DriftKind | BlockedReason;

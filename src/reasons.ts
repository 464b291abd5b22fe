/**
 * One vocabulary of reasons for the whole program (STYLE.md #10), shared by plan actions, journal
 * rows, log lines (their `reason` field), metric labels and Kubernetes events. A drift kind names
 * what differs; blocked, GC and record reasons explain planned work; the event groups below name
 * what the program reports as it runs. Each value is the string logs, dashboards and tests know:
 * renaming one is a breaking change for whoever reads them. Nowhere else in src is a `reason`
 * written as a string literal (test/architecture/reasons.test.ts), and no two constants share a
 * value: a concept that appears in two places uses the same constant.
 */
export const DriftKind = {
  MissingBucket: 'missing-bucket',
  /** A kind's own resource (other than a bucket, which has its own) is missing: it is made. */
  MissingResource: 'missing-resource',
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
  /** A kind's own resource (other than a bucket, which has its own) that no add-on wants. */
  OrphanedResource: 'orphaned-resource',
  /** Config vars left on an app the add-on is no longer attached to. */
  DetachedConfigVars: 'detached-config-vars',
  /**
   * The add-on's plan means another kind of resources than it was made as, or a kind this
   * controller does not have: blocked, nothing of it is changed (also the reason of that block).
   */
  KindChanged: 'kind-changed',
  /** The team was unlinked: its resources stay until an operator decides. */
  TeamUnlinked: 'team-unlinked',
  /** The delivered access key is older than KEY_MAX_AGE: it is rotated (AWS Security Hub IAM.3). */
  KeyPastMaxAge: 'key-past-max-age',
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
  /** Both access-key slots hold keys that may be in use: no new key until one is known to be free. */
  KeySlotsInUse: 'key-slots-in-use',
  /**
   * The account has as many IAM users as its quota allows (counting those this pass makes): a
   * new add-on gets nothing (no user, and no bucket it has not got yet) until there is room.
   */
  IamUserQuota: 'iam-user-quota',
  /**
   * Age rotations would deactivate the old keys of more than ROTATION_MAX_DEACTIVATION_RATIO of
   * an account's add-ons in one pass: none is deactivated until `rotate approve`.
   */
  RotationBreakerTripped: 'rotation-breaker-tripped',
  /** A rotated-out key was still used after its deactivation: switched back on, waiting for an operator. */
  RotatedKeyInUse: 'rotated-key-in-use',
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


/** Why a step of an access-key rotation runs (reconciler/rotation.ts); each is journaled. */
export const RotationReason = {
  /** The key is nearing KEY_MAX_AGE (its turn in the spread before it): a new one is made. */
  AgeDue: 'rotation-due',
  /** An operator asked for it (`rotate`). */
  Requested: 'rotation-requested',
  /** An operator said the key leaked (`rotate --compromised`): no overlap, no reactivation. */
  Compromised: 'key-compromised',
  /** Every attachment holds the new key: the overlap starts. */
  Delivered: 'rotation-delivered',
  /** The overlap is over: the old key is deactivated. */
  OverlapOver: 'rotation-overlap-over',
  /** The deactivated key's grace is over: it is deleted, unless it was used meanwhile. */
  GraceOver: 'rotation-grace-over',
  /** The old key is gone (deleted by the rotation or by someone else): the rotation is over. */
  Finished: 'rotation-finished',
} as const;
export type RotationReason = (typeof RotationReason)[keyof typeof RotationReason];

/** Why an add-on's record is marked orphaned (stored with the mark; it sets the grace period). */
export const OrphanReason = {
  /** Heroku said the add-on was deprovisioned: the short grace period applies. */
  Deprovisioned: 'deprovisioned',
  /** Seen only by difference (no add-on wants it any more): the long grace period applies. */
  Orphaned: 'orphaned',
} as const;
export type OrphanReason = (typeof OrphanReason)[keyof typeof OrphanReason];

/** The scheduled full pass as `serve` runs it. */
export const PassEvent = {
  /** No team is linked yet, so a pass has nothing to read (logged once, before the first pass). */
  NoLinks: 'no-links',
  /** A full pass ended; the line counts its actions and their outcomes. */
  PassFinished: 'pass-finished',
  /** A full pass threw before it could finish. */
  PassFailed: 'pass-failed',
  /** Shutting down, the work in flight did not finish within SHUTDOWN_TIMEOUT: it is abandoned. */
  PassAbandoned: 'pass-abandoned',
  /** A link's own access key is older than KEY_MAX_AGE (logged when the set of such links changes). */
  LinkKeyPastMaxAge: 'link-key-past-max-age',
} as const;
export type PassEvent = (typeof PassEvent)[keyof typeof PassEvent];

/**
 * What a pass (full or for one add-on) reports while reading and applying, beyond planned actions.
 * An account that cannot be read at all is logged as {@link BlockedReason.ObserveFailed}.
 */
export const ReconcileEvent = {
  /** An AWS account was read, but some of it only partly (each warning is logged). */
  ObservePartial: 'observe-partial',
  /** An app's config vars could not be read: its config-var work waits for a later pass. */
  ConfigVarsUnread: 'config-vars-unread',
  /** An add-on's grace period is over in a single-add-on pass: its teardown waits for the full pass. */
  TeardownLeftToFullPass: 'teardown-left-to-full-pass',
  /** A single-add-on pass found an add-on that is not this controller's (or already forgotten). */
  AddonNotOurs: 'addon-not-ours',
  /** A rebuilt record's config-var deliveries could not be found on any app. */
  DeliveriesNotFound: 'deliveries-not-found',
} as const;
export type ReconcileEvent = (typeof ReconcileEvent)[keyof typeof ReconcileEvent];

/** Reading Heroku and keeping within its request budget. */
export const HerokuEvent = {
  /** A team's or an add-on's desired state could not be read from Heroku: nothing is decided on it. */
  ReadIncomplete: 'heroku-read-incomplete',
  /** Heroku answered 429 (rate limit): the request is retried after a delay. */
  RateLimited: 'heroku-rate-limited',
  /** A full pass is deferred: the account's estimated request budget is under HEROKU_BUDGET_FLOOR. */
  BudgetBelowFloor: 'heroku-budget-below-floor',
  /** A full pass is deferred: this controller's hourly share (HEROKU_BUDGET_MAX_SHARE) has no room for it. */
  BudgetShareUsed: 'heroku-budget-share-used',
  /** The request budget has recovered after a deferral: full passes resume. */
  BudgetRecovered: 'heroku-budget-recovered',
} as const;
export type HerokuEvent = (typeof HerokuEvent)[keyof typeof HerokuEvent];

/** Why one Heroku request waits before it is sent (the budget's admission, heard by `waitForToken`'s `onWait`). */
export const BudgetWait = {
  /** This controller's own hourly share is used up: wait until the oldest request of the hour ages out. */
  ShareUsed: 'share-used',
  /** The account's request bucket is estimated empty: wait until it refills by one. */
  AccountEmpty: 'account-empty',
} as const;
export type BudgetWait = (typeof BudgetWait)[keyof typeof BudgetWait];

/** The fast lane: the keyed work queue that reconciles one add-on at a time. */
export const FastLaneEvent = {
  /** A key was refused or dropped: this replica does not lead (the leader's resync covers it). */
  NotLeader: 'not-leader',
  /** A keyed reconcile threw: retried with backoff (the line names the failure kind). */
  AddonReconcileFailed: 'addon-reconcile-failed',
  /** A keyed reconcile ran but its read was incomplete or an action failed: retried with backoff. */
  AddonReconcileIncomplete: 'addon-reconcile-incomplete',
} as const;
export type FastLaneEvent = (typeof FastLaneEvent)[keyof typeof FastLaneEvent];

/** What became of a Heroku app webhook delivery at `/webhooks/heroku`. */
export const WebhookDelivery = {
  /** A delivery came without a signature header: refused. */
  Unsigned: 'webhook-unsigned',
  /** A delivery's body is over the size limit: refused. */
  TooLarge: 'webhook-too-large',
  /** A delivery's signature matches none of WEBHOOK_SECRETS: refused. */
  BadSignature: 'webhook-bad-signature',
  /** A delivery's body is not JSON, or not a webhook event: refused. */
  Malformed: 'webhook-malformed',
  /** A delivery that is not about an add-on: accepted and ignored. */
  Ignored: 'webhook-ignored',
  /** A delivery id already accepted (Heroku retried it): answered, not queued again. */
  Duplicate: 'webhook-duplicate',
  /** A delivery could not be queued (not the leader, or shutting down): answered 503. */
  EnqueueFailed: 'webhook-enqueue-failed',
  /** A delivery's add-on was queued for a keyed reconcile. */
  Queued: 'webhook-queued',
} as const;
export type WebhookDelivery = (typeof WebhookDelivery)[keyof typeof WebhookDelivery];

/** The Partner API (Heroku's add-on provider calls) and what the controller tells Heroku back. */
export const PartnerEvent = {
  /** A provisioning request was received and its add-on recorded. */
  ProvisionReceived: 'partner-provision-received',
  /** The same provisioning request was received again: answered as before. */
  ProvisionDuplicate: 'partner-provision-duplicate',
  /** A provisioning request could not be parsed: refused. */
  RequestMalformed: 'partner-request-malformed',
  /** Heroku changed an add-on's plan. */
  PlanChanged: 'partner-plan-changed',
  /** Heroku deprovisioned an add-on. */
  DeprovisionReceived: 'partner-deprovision-received',
  /** A Partner API call came with missing or wrong Basic credentials: refused. */
  Unauthorized: 'partner-unauthorized',
  /** A Partner API call failed inside the controller. */
  RequestFailed: 'partner-request-failed',
  /** A provisioned add-on could not be queued: the next resync picks it up. */
  EnqueueFailed: 'partner-enqueue-failed',
  /** An add-on's OAuth grant was exchanged for tokens. */
  TokenExchanged: 'partner-token-exchanged',
  /** Exchanging an add-on's OAuth grant failed (retried unless it was the last attempt). */
  TokenExchangeFailed: 'partner-token-exchange-failed',
  /** An add-on's access token was refreshed. */
  TokenRefreshed: 'partner-token-refreshed',
  /** Heroku refused an add-on's access token: it is refreshed once and the call tried again. */
  TokenRefused: 'partner-token-refused',
  /** Heroku was told an add-on is provisioned. */
  MarkedProvisioned: 'partner-marked-provisioned',
  /** Heroku was told an add-on's provisioning failed. */
  MarkedFailed: 'partner-marked-failed',
  /** An add-on's config vars were delivered to Heroku through the Partner API. */
  ConfigDelivered: 'partner-config-delivered',
  /** Heroku could not be told the outcome of an add-on's reconcile yet: tried again after the next full pass. */
  AnswerFailed: 'partner-answer-failed',
} as const;
export type PartnerEvent = (typeof PartnerEvent)[keyof typeof PartnerEvent];

/** Leader election (a Kubernetes Lease or a Postgres advisory lock). */
export const LeaderEvent = {
  /** The elector took leadership (logged by the elector, with the lease or lock it holds). */
  BecameLeader: 'became-leader',
  /** The elector lost or gave up leadership (logged by the elector, with why). */
  StoppedLeading: 'stopped-leading',
  /** `serve` heard it now leads: it starts a pass and takes keys. */
  Elected: 'leader-elected',
  /** `serve` heard it no longer leads: it stops mutating and clears the per-pass gauges. */
  Lost: 'leader-lost',
  /** A leadership listener threw. */
  ListenerFailed: 'leader-listener-failed',
  /** A request to the Kubernetes Lease failed: retried on the next tick. */
  LeaseRequestFailed: 'lease-request-failed',
  /** The Lease is held by another live holder: this replica stands by. */
  LeaseHeld: 'lease-held',
  /** The Lease had expired and was taken over from its previous holder. */
  LeaseTakenOver: 'lease-taken-over',
  /** The Lease was released on shutdown. */
  LeaseReleased: 'lease-released',
  /** Releasing the Lease on shutdown failed: it expires instead. */
  LeaseReleaseFailed: 'lease-release-failed',
  /** A Kubernetes Event about the Lease could not be recorded (best effort). */
  LeaseEventFailed: 'lease-event-failed',
  /** Taking or checking the Postgres advisory lock failed: leadership is dropped. */
  LockFailed: 'leader-lock-failed',
  /** The advisory lock's database connection failed: leadership is lost. */
  ConnectionLost: 'leader-connection-lost',
} as const;
export type LeaderEvent = (typeof LeaderEvent)[keyof typeof LeaderEvent];

/** The `reason` of the Kubernetes Events the controller records (Kubernetes' own CamelCase style). */
export const KubeEventReason = {
  /** Recorded on the Lease when this replica becomes or stops being the leader. */
  LeaderElection: 'LeaderElection',
} as const;
export type KubeEventReason = (typeof KubeEventReason)[keyof typeof KubeEventReason];

/** The `serve` process itself. */
export const ServeEvent = {
  /** The HTTP server listens and the schedule is set. */
  Serving: 'serving',
  /** SIGTERM or SIGINT: no more work is taken and the pass in flight gets SHUTDOWN_TIMEOUT to finish. */
  Shutdown: 'shutdown',
  /** A second signal: exit at once, without releasing the lease. */
  ShutdownForced: 'shutdown-forced',
  /** An HTTP request failed inside the controller; it was answered 500 without the error's text. */
  RequestFailed: 'request-failed',
  /** FERNET_KEYS is not set (embedded database): a key was generated in the data directory. */
  GeneratedFernetKey: 'generated-fernet-key',
} as const;
export type ServeEvent = (typeof ServeEvent)[keyof typeof ServeEvent];

/** What the change-event lane (issue 17) logs of an account's event path. */
export const ChangeEventsEvent = {
  /** A queue or the bus could not be used (deleted, permission taken away): deep checks find drift meanwhile. */
  QueueFailed: 'change-events-queue-failed',
  /** A queue that failed is read again. */
  QueueRecovered: 'change-events-queue-recovered',
  /** The store's list of queues could not be read: the loops already running go on. */
  SourcesUnread: 'change-events-sources-unread',
  /** A change event could not be matched to an add-on (the store did not answer): read again later. */
  EventUnmatched: 'change-event-unmatched',
  /** A change event named an add-on: it is reconciled with a deep check. */
  ChangeAccepted: 'change-event-accepted',
} as const;
export type ChangeEventsEvent = (typeof ChangeEventsEvent)[keyof typeof ChangeEventsEvent];

/** Every reason the program writes. */
export type Reason =
  | DriftKind
  | BlockedReason
  | GcReason
  | RecordReason
  | RotationReason
  | OrphanReason
  | PassEvent
  | ReconcileEvent
  | HerokuEvent
  | BudgetWait
  | FastLaneEvent
  | WebhookDelivery
  | PartnerEvent
  | LeaderEvent
  | KubeEventReason
  | ChangeEventsEvent
  | ServeEvent;

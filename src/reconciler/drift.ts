/**
 * Drift: one attribute of one resource that differs from what it should be. The same items feed
 * the `plan` output, the `/drift` report, the drift metrics and the log lines. Values are shown
 * for settings and names only; a secret is never an `expected` or `actual` value.
 */
import type { DriftKind } from '../reasons.js';

export type DriftStatus =
  /** The next pass repairs it. */
  | 'repairable'
  /** Cannot be repaired safely (not ours, name taken, no access); reported until a person acts. */
  | 'blocked'
  /** Repaired too often in a short time: another writer is fighting us; no longer repaired. */
  | 'flapping'
  /** An orphan inside its grace period: deleted after it unless its add-on comes back. */
  | 'waiting'
  /** An orphan's bucket kept by its retain tag. */
  | 'retained';

/**
 * How a drift was found: a change event named its resource (`event`), a deep check read every
 * setting and key (`deep-check`), an exposure check read the public-exposure settings alone
 * (`exposure-check`), or the bulk inventory every pass reads showed it (`bulk-read`).
 */
export type FoundBy = 'event' | 'deep-check' | 'exposure-check' | 'bulk-read';

export interface DriftItem {
  kind: DriftKind;
  status: DriftStatus;
  accountId: string;
  addonId: string;
  /** Bucket name, IAM user name, access key id or app name. */
  resource: string;
  /** The attribute that differs, e.g. `publicAccessBlock.blockPublicPolicy`, `config var BUCKET_URL`. */
  field: string;
  expected: string | null;
  actual: string | null;
  /** How it was found (absent where the report was built without knowing what the pass read). */
  foundBy?: FoundBy;
  /** When it was changed, as the change event said; absent when no event did. */
  changedAt?: string;
  /** How long it stood before it was found: detected-at minus changed-at, where an event says when. */
  stoodSeconds?: number;
}

export interface DriftSummary {
  /** Add-ons the controller manages (desired add-ons of linked teams). */
  managed: number;
  inSync: number;
  drifted: number;
  /** Add-ons whose bucket or user does not exist (yet). */
  missing: number;
  orphaned: number;
  flapping: number;
}

export interface DriftReport {
  generatedAt: string;
  summary: DriftSummary;
  items: DriftItem[];
  /**
   * Added by `serve`: each linked account's change-event path (set up or not, healthy or not,
   * what arrived), in the change-event lane's words. Not the reconciler's to build.
   */
  changeEvents?: unknown[];
  /** Added by `serve`: the latest drifts that change events found and keyed reconciles repaired, between passes. */
  foundByEvents?: DriftItem[];
}

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
}

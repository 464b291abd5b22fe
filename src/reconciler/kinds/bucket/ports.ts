/**
 * The bucket kind's port: what its handlers write through, one bucket at a time. The AWS adapter
 * (`sinks/aws/bucket-kind.ts`) implements it and observes buckets for the core; like
 * `reconciler/ports.ts`, this file is the whole contract between the kind and its adapter.
 */
import type { BucketSettings, PublicAccessBlock } from '../../model.js';
import type { CorsRuleSpec } from '../../profiles.js';
import type { ResourceHandle } from '../../ports.js';

export type { BucketSettings, ExposureSettings, LifecycleRule, ObservedBucket, PublicAccessBlock } from '../../model.js';
export type { CorsRuleSpec } from '../../profiles.js';

/** One lifecycle configuration to write: our rule, beside the bucket's other rules as they were read. */
export interface LifecycleSpec {
  ours: { id: string; abortIncompleteMultipartUploadDays: number };
  /** Rules that are not ours, exactly as S3 returned them. */
  otherRules: unknown[];
}

/** What the teardown of a big bucket asks S3 to expire on its own. */
export interface ExpireEverythingSpec {
  /** Ids of the two rules (expire everything; remove lone delete markers). */
  ruleIds: readonly [string, string];
}

/** Progress of one bounded step of emptying a bucket. */
export interface EmptyStep {
  done: boolean;
  deletedObjects: number;
  deleteMarkers: number;
  deletedBytes: number;
}

/**
 * One bucket. Every write is one call, idempotent, carrying the value to write (the reconciler
 * decides values; the adapter only speaks the API). A write to a bucket that another account
 * owns fails with a terminal error.
 */
export interface BucketHandle extends ResourceHandle {
  create(tags: Record<string, string>, objectOwnership: string): Promise<void>;
  /**
   * Merges `ours` over the tags read right before the write, only when `mayTag` accepts them
   * (otherwise a terminal `not-owned` error and no write).
   */
  tag(ours: Record<string, string>, mayTag: (current: Record<string, string>) => boolean): Promise<void>;
  settings(): Promise<BucketSettings>;
  putPublicAccessBlock(block: PublicAccessBlock): Promise<void>;
  putObjectOwnership(ownership: string): Promise<void>;
  putEncryption(algorithm: string): Promise<void>;
  putLifecycle(spec: LifecycleSpec): Promise<void>;
  putVersioning(enabled: boolean): Promise<void>;
  /** Exactly these rules; null removes CORS. */
  putCors(rules: CorsRuleSpec[] | null): Promise<void>;
  putPolicy(document: string): Promise<void>;
  // Teardown, in this order: policy, contents (bounded steps), the bucket.
  deletePolicy(): Promise<void>;
  emptyStep(maxKeys: number): Promise<EmptyStep>;
  expiresEverything(spec: ExpireEverythingSpec): Promise<boolean>;
  expireEverything(spec: ExpireEverythingSpec): Promise<void>;
  /** Deletes the empty bucket; a missing one is success. */
  delete(): Promise<void>;
}

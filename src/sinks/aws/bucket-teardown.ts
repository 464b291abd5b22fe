/**
 * Bucket teardown (issue #4): small steps the executor runs as separate actions, so a crash
 * between any two leaves a state the next pass resumes from (safety invariant 6). Each step is
 * idempotent and treats a bucket that is already gone as done.
 *
 * Order for one orphaned bucket (the caller has checked ownership tags and retention first —
 * invariant 1 is the planner's job; these steps only take a name):
 *   1. `deleteBucketPolicy`   — the TLS-only deny policy would block object deletes on a plain-HTTP
 *                               endpoint (moto); on AWS it is harmless but goes anyway.
 *   2. `countObjectVersionsUpTo` — cheap estimate: beyond a threshold, `putExpireEverythingLifecycle`
 *                               and come back in a day or two instead of deleting key by key.
 *   3. `emptyBucketStep` once per pass until `done` (bounded work per call: invariant 5).
 *   4. `deleteBucket`         — `BucketNotEmptyError` means "empty again next pass" (someone wrote).
 *
 * IAM permissions these need on the linked role, beyond the ones the README lists:
 * s3:DeleteBucketPolicy, s3:ListBucketVersions, s3:DeleteObject, s3:DeleteObjectVersion,
 * s3:ListBucketMultipartUploads, s3:AbortMultipartUpload, s3:DeleteBucket.
 */
import {
  AbortMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectsCommand,
  GetBucketLifecycleConfigurationCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  type LifecycleRule,
  type ObjectIdentifier,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ExpireEverythingSpec } from '../../reconciler/kinds/bucket/ports.js';
import { mapLimit } from '../../util/map-limit.js';
import { hasCode } from './aws-errors.js';

/** S3's limit for one DeleteObjects call. */
export const DELETE_OBJECTS_BATCH = 1000;
const ABORT_CONCURRENCY = 8;

/** DeleteBucket refused: versions, delete markers (or on some S3s, uploads) remain. Retry emptying. */
export class BucketNotEmptyError extends Error {
  override readonly name = 'BucketNotEmptyError';
  constructor(readonly bucket: string) {
    super(`bucket ${bucket} is not empty yet; empty it (all versions and delete markers) and delete it again`);
  }
}

export interface EmptyBucketProgress {
  /** Object versions deleted (current and noncurrent; "null" versions of unversioned buckets too). */
  deletedObjects: number;
  /** Sum of the listed `Size` of the deleted versions. */
  deletedBytes: number;
  /** Delete markers deleted. */
  deleteMarkers: number;
  /** Incomplete multipart uploads aborted. */
  abortedUploads: number;
  /** Nothing left: no version, no delete marker, no incomplete upload (or no bucket at all). */
  done: boolean;
}

export interface FailedKey {
  key: string;
  versionId: string | null;
  code: string;
  message: string;
}

/**
 * DeleteObjects answered 200 but refused some keys (its per-key `Errors`, listed in `failed`).
 * `progress` counts what this step did delete before and beside the failures (`done` is false).
 */
export class EmptyBucketError extends Error {
  override readonly name = 'EmptyBucketError';
  constructor(
    readonly bucket: string,
    readonly failed: FailedKey[],
    readonly attempted: number,
    readonly progress: EmptyBucketProgress,
  ) {
    // Codes and counts only: object keys are the customer's data and stay out of log lines.
    const codes = new Map<string, number>();
    for (const f of failed) codes.set(f.code, (codes.get(f.code) ?? 0) + 1);
    const summary = [...codes].map(([code, count]) => `${code} ×${count}`).join(', ');
    const hint = codes.has('AccessDenied')
      ? '. A bucket policy may deny deletes (delete the bucket policy first) or the role lacks s3:DeleteObjectVersion'
      : '';
    super(`could not delete ${failed.length} of ${attempted} object versions in bucket ${bucket} (${summary})${hint}`);
  }
}

/** Removes the bucket policy. No policy, or no bucket, is success. */
export async function deleteBucketPolicy(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
  } catch (err) {
    if (!hasCode(err, 'NoSuchBucket', 'NoSuchBucketPolicy')) throw err;
  }
}

/**
 * One bounded slice of emptying a bucket: deletes up to `maxKeys` object versions and delete
 * markers (DeleteObjects, 1,000 a call, `Quiet`), then with what is left of the budget aborts
 * incomplete multipart uploads. Call it again (next pass) until `done`.
 *
 * It always lists from the start of the bucket: what it deleted is gone, so no marker has to
 * survive a crash. Per-key failures of DeleteObjects throw `EmptyBucketError`; other S3 errors
 * are thrown unchanged. A bucket that does not exist (or vanishes meanwhile) is `done`.
 */
export async function emptyBucketStep(s3: S3Client, bucket: string, options: { maxKeys: number }): Promise<EmptyBucketProgress> {
  const { maxKeys } = options;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be a positive integer, not ${maxKeys}`);
  const progress: EmptyBucketProgress = { deletedObjects: 0, deletedBytes: 0, deleteMarkers: 0, abortedUploads: 0, done: false };
  try {
    let budget = maxKeys;
    let versionsLeft = true;
    while (budget > 0) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: Math.min(DELETE_OBJECTS_BATCH, budget) }));
      const listed = [
        ...(page.Versions ?? []).map((v) => ({ key: v.Key, versionId: v.VersionId, size: v.Size ?? 0, marker: false })),
        ...(page.DeleteMarkers ?? []).map((m) => ({ key: m.Key, versionId: m.VersionId, size: 0, marker: true })),
      ].flatMap((e) => (e.key === undefined ? [] : [{ ...e, key: e.key, versionId: e.versionId ?? 'null' }]));
      if (listed.length === 0) {
        versionsLeft = false;
        break;
      }
      const entries = listed.slice(0, budget); // in case a server returns more than MaxKeys
      for (let i = 0; i < entries.length; i += DELETE_OBJECTS_BATCH) {
        const batch = entries.slice(i, i + DELETE_OBJECTS_BATCH);
        const out = await s3.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Quiet: true, Objects: batch.map((e): ObjectIdentifier => ({ Key: e.key, VersionId: e.versionId })) },
          }),
        );
        const failed: FailedKey[] = (out.Errors ?? []).map((e) => ({
          key: e.Key ?? '',
          versionId: e.VersionId ?? null,
          code: e.Code ?? 'Unknown',
          message: e.Message ?? '',
        }));
        // moto names only the key of a failed entry; AWS adds the version id.
        const isFailed = (e: { key: string; versionId: string }) =>
          failed.some((f) => f.key === e.key && (f.versionId === null || f.versionId === e.versionId));
        for (const e of batch) {
          if (isFailed(e)) continue;
          if (e.marker) progress.deleteMarkers += 1;
          else {
            progress.deletedObjects += 1;
            progress.deletedBytes += e.size;
          }
        }
        if (failed.length > 0) throw new EmptyBucketError(bucket, failed, batch.length, { ...progress });
      }
      budget -= entries.length;
      if (!page.IsTruncated && entries.length === listed.length) {
        versionsLeft = false;
        break;
      }
    }
    if (versionsLeft) return progress;

    let uploadsLeft = true;
    if (budget === 0) {
      // Budget spent on versions: only look, so `done` is exact without doing more work.
      const probe = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, MaxUploads: 1 }));
      uploadsLeft = (probe.Uploads ?? []).length > 0;
    }
    while (budget > 0) {
      const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, MaxUploads: Math.min(1000, budget) }));
      const listed = (page.Uploads ?? []).flatMap((u) => (u.Key !== undefined && u.UploadId ? [{ key: u.Key, uploadId: u.UploadId }] : []));
      if (listed.length === 0) {
        uploadsLeft = false;
        break;
      }
      // moto ignores MaxUploads: keep the bound here.
      const uploads = listed.slice(0, budget);
      await mapLimit(uploads, ABORT_CONCURRENCY, async (u) => {
        try {
          await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.key, UploadId: u.uploadId }));
        } catch (err) {
          if (!hasCode(err, 'NoSuchUpload')) throw err;
        }
        progress.abortedUploads += 1;
      });
      budget -= uploads.length;
      if (!page.IsTruncated && uploads.length === listed.length) {
        uploadsLeft = false;
        break;
      }
    }
    progress.done = !uploadsLeft;
    return progress;
  } catch (err) {
    if (hasCode(err, 'NoSuchBucket')) return { ...progress, done: true };
    throw err;
  }
}

export interface ObjectVersionCount {
  versions: number;
  deleteMarkers: number;
  /** Sum of the counted versions' sizes. */
  bytes: number;
  /** False when `limit` was reached with more left: the bucket holds at least this much. */
  complete: boolean;
}

/**
 * Counts object versions and delete markers, stopping at `limit` entries (⌈limit / 1000⌉ list
 * calls at most): enough to decide "beyond a threshold, use the lifecycle expiry rule". Does not
 * count incomplete multipart uploads. A missing bucket counts as empty.
 */
export async function countObjectVersionsUpTo(s3: S3Client, bucket: string, limit: number): Promise<ObjectVersionCount> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, not ${limit}`);
  const count: ObjectVersionCount = { versions: 0, deleteMarkers: 0, bytes: 0, complete: false };
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  try {
    for (;;) {
      const left = limit - count.versions - count.deleteMarkers;
      const page = await s3.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          MaxKeys: Math.min(1000, left),
          KeyMarker: keyMarker,
          VersionIdMarker: versionIdMarker,
        }),
      );
      for (const v of page.Versions ?? []) {
        count.versions += 1;
        count.bytes += v.Size ?? 0;
      }
      count.deleteMarkers += (page.DeleteMarkers ?? []).length;
      if (!page.IsTruncated) {
        count.complete = true;
        return count;
      }
      if (count.versions + count.deleteMarkers >= limit) return count;
      // Send both markers back: moto mis-skips with a key marker alone.
      keyMarker = page.NextKeyMarker;
      versionIdMarker = page.NextVersionIdMarker;
      if (keyMarker === undefined) throw new Error(`ListObjectVersions of ${bucket} was truncated without a NextKeyMarker`);
    }
  } catch (err) {
    if (hasCode(err, 'NoSuchBucket')) return { versions: 0, deleteMarkers: 0, bytes: 0, complete: true };
    throw err;
  }
}

/**
 * The teardown lifecycle configuration, under the rule ids the caller names. Two rules, because
 * S3 refuses `ExpiredObjectDeleteMarker` beside `Days` or `Date` in one `Expiration`
 * (MalformedXML): the first expires current versions (a delete marker in a versioned bucket),
 * noncurrent versions and incomplete uploads after a day; the second removes the delete markers
 * left with no versions behind them.
 */
export function expireEverythingRules([expireId, markersId]: ExpireEverythingSpec['ruleIds']): LifecycleRule[] {
  return [
    {
      ID: expireId,
      Status: 'Enabled',
      Filter: { Prefix: '' },
      Expiration: { Days: 1 },
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    },
    {
      ID: markersId,
      Status: 'Enabled',
      Filter: { Prefix: '' },
      Expiration: { ExpiredObjectDeleteMarker: true },
    },
  ];
}

/**
 * Replaces the bucket's whole lifecycle configuration with {@link expireEverythingRules} (other
 * rules, ours included, are dropped: the bucket is going away). S3 then empties it within a few
 * days; `emptyBucketStep` and `deleteBucket` finish later. Idempotent; a missing bucket is success.
 */
export async function putExpireEverythingLifecycle(s3: S3Client, bucket: string, spec: ExpireEverythingSpec): Promise<void> {
  try {
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: expireEverythingRules(spec.ruleIds) },
      }),
    );
  } catch (err) {
    if (!hasCode(err, 'NoSuchBucket')) throw err;
  }
}

/** True when both teardown rules are in place and enabled (so a pass need not put them again). */
export async function hasExpireEverythingLifecycle(s3: S3Client, bucket: string, spec: ExpireEverythingSpec): Promise<boolean> {
  let rules: LifecycleRule[];
  try {
    rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? [];
  } catch (err) {
    if (hasCode(err, 'NoSuchLifecycleConfiguration', 'NoSuchBucket')) return false;
    throw err;
  }
  const byId = new Map(rules.map((r) => [r.ID, r]));
  const expire = byId.get(spec.ruleIds[0]);
  const markers = byId.get(spec.ruleIds[1]);
  const everything = (r: LifecycleRule | undefined) =>
    r?.Status === 'Enabled' && (r.Filter?.Prefix ?? r.Prefix ?? '') === '' && !r.Filter?.Tag && !r.Filter?.And;
  return (
    everything(expire) &&
    expire?.Expiration?.Days === 1 &&
    expire.NoncurrentVersionExpiration?.NoncurrentDays === 1 &&
    expire.AbortIncompleteMultipartUpload?.DaysAfterInitiation === 1 &&
    everything(markers) &&
    markers?.Expiration?.ExpiredObjectDeleteMarker === true
  );
}

/**
 * Deletes the (empty) bucket. A missing bucket is success; `BucketNotEmpty` becomes
 * `BucketNotEmptyError` so the executor empties again next pass. The client must be the bucket's
 * region's.
 */
export async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (hasCode(err, 'NoSuchBucket')) return;
    if (hasCode(err, 'BucketNotEmpty')) throw new BucketNotEmptyError(bucket);
    throw err;
  }
}

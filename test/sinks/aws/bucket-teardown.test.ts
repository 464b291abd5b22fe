/**
 * Bucket teardown steps against moto, through `AwsConnector` (AssumeRole into a random account).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { AwsConnector } from '../../../src/sinks/aws/connect.js';
import {
  BucketNotEmptyError,
  EmptyBucketError,
  countObjectVersionsUpTo,
  deleteBucket,
  deleteBucketPolicy,
  emptyBucketStep,
  hasExpireEverythingLifecycle,
  putExpireEverythingLifecycle,
  type EmptyBucketProgress,
} from '../../../src/sinks/aws/bucket-teardown.js';
import { getBucketSettings, putLifecycle, putBucketPolicy } from '../../../src/sinks/aws/s3-bucket.js';
import { errorCode } from '../../../src/sinks/aws/aws-errors.js';
import { httpStatusOf } from '../../../src/util/error-class.js';
import { ABORT_INCOMPLETE_MULTIPART_DAYS, isRetained, LIFECYCLE_RULE_ID, TAG, TEARDOWN_RULE_IDS, tlsOnlyBucketPolicy } from '../../../src/reconciler/spec.js';
import { mapLimit } from '../../../src/util/map-limit.js';
import { bucketName, newConnector, randomAccountId, rawClients, roleTarget } from './support.js';

let connector: AwsConnector;
let s3: S3Client;
let raw: S3Client;

beforeAll(async () => {
  connector = newConnector();
  const accountId = randomAccountId();
  s3 = connector.connect(roleTarget(accountId)).s3('us-east-1');
  raw = (await rawClients(accountId)).s3();
});

afterAll(() => connector.destroy());

const EMPTY_DONE: EmptyBucketProgress = { deletedObjects: 0, deletedBytes: 0, deleteMarkers: 0, abortedUploads: 0, done: true };

async function newBucket(versioned: boolean): Promise<string> {
  const name = bucketName();
  await raw.send(new CreateBucketCommand({ Bucket: name }));
  if (versioned) await raw.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
  return name;
}

async function bucketExists(name: string): Promise<boolean> {
  try {
    await raw.send(new HeadBucketCommand({ Bucket: name }));
    return true;
  } catch (err) {
    if (httpStatusOf(err) === 404) return false;
    throw err;
  }
}

/** Everything left in the bucket, read with the raw client. */
async function leftovers(name: string): Promise<{ entries: number; uploads: number }> {
  const versions = await raw.send(new ListObjectVersionsCommand({ Bucket: name }));
  const uploads = await raw.send(new ListMultipartUploadsCommand({ Bucket: name }));
  return {
    entries: (versions.Versions ?? []).length + (versions.DeleteMarkers ?? []).length,
    uploads: (uploads.Uploads ?? []).length,
  };
}

async function startUpload(name: string, key: string): Promise<string> {
  const up = await raw.send(new CreateMultipartUploadCommand({ Bucket: name, Key: key }));
  await raw.send(new UploadPartCommand({ Bucket: name, Key: key, UploadId: up.UploadId, PartNumber: 1, Body: 'part one' }));
  return up.UploadId!;
}

/** Runs `emptyBucketStep` until done (at most `maxSteps`), returning every step's result. */
async function emptyFully(name: string, maxKeys: number, maxSteps = 20): Promise<EmptyBucketProgress[]> {
  const steps: EmptyBucketProgress[] = [];
  for (let i = 0; i < maxSteps; i++) {
    const step = await emptyBucketStep(s3, name, { maxKeys });
    steps.push(step);
    if (step.done) return steps;
  }
  throw new Error(`bucket ${name} not empty after ${maxSteps} steps`);
}

function sum(steps: EmptyBucketProgress[]) {
  return steps.reduce(
    (a, s) => ({
      deletedObjects: a.deletedObjects + s.deletedObjects,
      deletedBytes: a.deletedBytes + s.deletedBytes,
      deleteMarkers: a.deleteMarkers + s.deleteMarkers,
      abortedUploads: a.abortedUploads + s.abortedUploads,
    }),
    { deletedObjects: 0, deletedBytes: 0, deleteMarkers: 0, abortedUploads: 0 },
  );
}

describe('emptyBucketStep on a large versioned bucket', () => {
  const KEYS = 2_500;
  let name: string;
  const written = { versions: 0, bytes: 0, deleteMarkers: 0 };

  beforeAll(async () => {
    name = await newBucket(true);
    const started = Date.now();
    // 2,500 keys; every 20th gets two more versions; every 25th ends with a delete marker.
    // moto takes about 8 ms a write whatever the concurrency (it serializes them): about 25 s.
    await mapLimit(
      Array.from({ length: KEYS }, (_, i) => i),
      16,
      async (i) => {
        const key = `obj/${String(i).padStart(5, '0')}`;
        const versions = i % 20 === 0 ? 3 : 1;
        for (let v = 0; v < versions; v++) {
          const body = 'x'.repeat(1 + ((i + v) % 13));
          await raw.send(new PutObjectCommand({ Bucket: name, Key: key, Body: body }));
          written.versions += 1;
          written.bytes += body.length;
        }
        if (i % 25 === 0) {
          await raw.send(new DeleteObjectCommand({ Bucket: name, Key: key }));
          written.deleteMarkers += 1;
        }
      },
    );
    await startUpload(name, 'big/upload.bin');
    console.info(`bucket-teardown: wrote ${written.versions} versions and ${written.deleteMarkers} delete markers in ${Date.now() - started} ms`);
  }, 120_000);

  it('wrote what the test expects', () => {
    expect(written).toEqual({ versions: 2_750, bytes: expect.any(Number), deleteMarkers: 100 });
  });

  it('countObjectVersionsUpTo counts everything under a high limit, and stops at a low one', async () => {
    // Each ListObjectVersions of this bucket takes moto about 1.5 s (it copies every version).
    expect(await countObjectVersionsUpTo(s3, name, 10_000)).toEqual({
      versions: written.versions,
      deleteMarkers: written.deleteMarkers,
      bytes: written.bytes,
      complete: true,
    });
    const low = await countObjectVersionsUpTo(s3, name, 1_500);
    expect(low.versions + low.deleteMarkers).toBe(1_500);
    expect(low.complete).toBe(false);
  });

  it('deleteBucket on the full bucket raises BucketNotEmptyError and leaves it', async () => {
    const err = await deleteBucket(s3, name).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BucketNotEmptyError);
    expect(err).toMatchObject({ bucket: name });
    expect((err as Error).message).toContain(name);
    expect(await bucketExists(name)).toBe(true);
  });

  it('repeated steps of 1,000 delete every version, delete marker and upload; counts add up; done only at the end', async () => {
    const started = Date.now();
    const steps = await emptyFully(name, 1_000);
    console.info(`bucket-teardown: emptied in ${steps.length} steps, ${Date.now() - started} ms`);

    const total = written.versions + written.deleteMarkers;
    expect(steps.length).toBe(Math.ceil(total / 1_000));
    expect(steps.length).toBeGreaterThanOrEqual(3);
    expect(steps.map((s) => s.done)).toEqual([...steps.slice(1).map(() => false), true]);
    for (const step of steps.slice(0, -1)) expect(step.deletedObjects + step.deleteMarkers).toBe(1_000);
    expect(sum(steps)).toEqual({
      deletedObjects: written.versions,
      deletedBytes: written.bytes,
      deleteMarkers: written.deleteMarkers,
      abortedUploads: 1,
    });
    expect(await leftovers(name)).toEqual({ entries: 0, uploads: 0 });

    // Idempotent: another step finds nothing and is done.
    expect(await emptyBucketStep(s3, name, { maxKeys: 1_000 })).toEqual(EMPTY_DONE);

    await deleteBucket(s3, name);
    expect(await bucketExists(name)).toBe(false);
    await deleteBucket(s3, name); // gone: success
    expect(await emptyBucketStep(s3, name, { maxKeys: 1_000 })).toEqual(EMPTY_DONE);
    expect(await countObjectVersionsUpTo(s3, name, 10)).toEqual({ versions: 0, deleteMarkers: 0, bytes: 0, complete: true });
  });
});

describe('emptyBucketStep', () => {
  it('small steps: versions first, uploads with the budget left; done is exact when the budget runs out on the last version', async () => {
    const name = await newBucket(true);
    for (const key of ['a', 'b', 'c']) await raw.send(new PutObjectCommand({ Bucket: name, Key: key, Body: key.repeat(10) }));
    await raw.send(new DeleteObjectCommand({ Bucket: name, Key: 'a' })); // 3 versions + 1 marker
    await startUpload(name, 'u1');
    await startUpload(name, 'u2');

    const s1 = await emptyBucketStep(s3, name, { maxKeys: 2 });
    expect(s1).toMatchObject({ deletedObjects: expect.any(Number), abortedUploads: 0, done: false });
    expect(s1.deletedObjects + s1.deleteMarkers).toBe(2);
    // Exactly the last two entries: versions are gone, uploads remain, so not done.
    const s2 = await emptyBucketStep(s3, name, { maxKeys: 2 });
    expect(s2.deletedObjects + s2.deleteMarkers).toBe(2);
    expect(s2).toMatchObject({ abortedUploads: 0, done: false });
    const s3step = await emptyBucketStep(s3, name, { maxKeys: 1 });
    expect(s3step).toEqual({ deletedObjects: 0, deletedBytes: 0, deleteMarkers: 0, abortedUploads: 1, done: false });
    const s4 = await emptyBucketStep(s3, name, { maxKeys: 5 });
    expect(s4).toEqual({ deletedObjects: 0, deletedBytes: 0, deleteMarkers: 0, abortedUploads: 1, done: true });
    expect(sum([s1, s2, s3step, s4])).toEqual({ deletedObjects: 3, deletedBytes: 30, deleteMarkers: 1, abortedUploads: 2 });

    // The budget spent exactly on the last versions with nothing else left: done at once.
    const other = await newBucket(true);
    await raw.send(new PutObjectCommand({ Bucket: other, Key: 'k', Body: 'kk' }));
    expect(await emptyBucketStep(s3, other, { maxKeys: 1 })).toEqual({ deletedObjects: 1, deletedBytes: 2, deleteMarkers: 0, abortedUploads: 0, done: true });
  });

  it('countObjectVersionsUpTo on a small bucket: a limit of exactly everything is complete, one less is not', async () => {
    const name = await newBucket(true);
    for (const key of ['a', 'b', 'c']) {
      await raw.send(new PutObjectCommand({ Bucket: name, Key: key, Body: 'v1' }));
      await raw.send(new PutObjectCommand({ Bucket: name, Key: key, Body: 'v22' }));
    }
    await raw.send(new DeleteObjectCommand({ Bucket: name, Key: 'b' })); // 6 versions, 1 marker, 15 bytes
    expect(await countObjectVersionsUpTo(s3, name, 100)).toEqual({ versions: 6, deleteMarkers: 1, bytes: 15, complete: true });
    expect(await countObjectVersionsUpTo(s3, name, 7)).toMatchObject({ complete: true });
    const six = await countObjectVersionsUpTo(s3, name, 6);
    expect(six.versions + six.deleteMarkers).toBe(6);
    expect(six.complete).toBe(false);
    const one = await countObjectVersionsUpTo(s3, name, 1);
    expect(one.versions + one.deleteMarkers).toBe(1);
    expect(one.complete).toBe(false);
  });

  it('an unversioned bucket: "null" versions are deleted for good', async () => {
    const name = await newBucket(false);
    for (const key of ['k1', 'k2', 'k3', 'k4', 'k5']) await raw.send(new PutObjectCommand({ Bucket: name, Key: key, Body: 'abc' }));
    const steps = await emptyFully(name, 2);
    expect(steps.map((s) => s.done)).toEqual([false, false, true]);
    expect(sum(steps)).toEqual({ deletedObjects: 5, deletedBytes: 15, deleteMarkers: 0, abortedUploads: 0 });
    expect(await leftovers(name)).toEqual({ entries: 0, uploads: 0 });
    await deleteBucket(s3, name);
    expect(await bucketExists(name)).toBe(false);
  });

  it('an empty bucket is done at once, twice; a missing bucket too', async () => {
    const name = await newBucket(true);
    expect(await emptyBucketStep(s3, name, { maxKeys: 10 })).toEqual(EMPTY_DONE);
    expect(await emptyBucketStep(s3, name, { maxKeys: 10 })).toEqual(EMPTY_DONE);
    expect(await emptyBucketStep(s3, bucketName(), { maxKeys: 10 })).toEqual(EMPTY_DONE);
  });

  it('refuses a maxKeys that is not a positive integer', async () => {
    const name = bucketName();
    for (const maxKeys of [0, -1, 1.5, Number.NaN]) {
      await expect(emptyBucketStep(s3, name, { maxKeys })).rejects.toBeInstanceOf(RangeError);
    }
    await expect(countObjectVersionsUpTo(s3, name, 0)).rejects.toBeInstanceOf(RangeError);
  });
});

describe('deleteBucket', () => {
  it('a bucket holding only a delete marker is not empty; emptying removes the marker', async () => {
    const name = await newBucket(true);
    await raw.send(new PutObjectCommand({ Bucket: name, Key: 'gone', Body: 'x' }));
    const versionId = (await raw.send(new ListObjectVersionsCommand({ Bucket: name }))).Versions?.[0]?.VersionId;
    await raw.send(new DeleteObjectCommand({ Bucket: name, Key: 'gone' })); // marker
    await raw.send(new DeleteObjectCommand({ Bucket: name, Key: 'gone', VersionId: versionId })); // only the marker stays
    expect(await leftovers(name)).toEqual({ entries: 1, uploads: 0 });

    await expect(deleteBucket(s3, name)).rejects.toBeInstanceOf(BucketNotEmptyError);
    expect(await emptyBucketStep(s3, name, { maxKeys: 100 })).toEqual({ ...EMPTY_DONE, deleteMarkers: 1 });
    await deleteBucket(s3, name);
    await deleteBucket(s3, name);
    expect(await bucketExists(name)).toBe(false);
  });

  it('moto deletes a bucket that still has an incomplete multipart upload (emptyBucketStep aborts it anyway)', async () => {
    const name = await newBucket(false);
    await startUpload(name, 'pending');
    await deleteBucket(s3, name);
    expect(await bucketExists(name)).toBe(false);
  });
});

describe('the TLS-only bucket policy', () => {
  it('blocks emptying over plain HTTP in moto: per-key AccessDenied in DeleteObjects → EmptyBucketError; deleteBucketPolicy first fixes it', async () => {
    const name = await newBucket(true);
    for (const key of ['p1', 'p2', 'p3']) await raw.send(new PutObjectCommand({ Bucket: name, Key: key, Body: 'data' }));
    await putBucketPolicy(s3, name, tlsOnlyBucketPolicy(name));

    const err = await emptyBucketStep(s3, name, { maxKeys: 100 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EmptyBucketError);
    const e = err as EmptyBucketError;
    expect(e.bucket).toBe(name);
    expect(e.attempted).toBe(3);
    expect(e.failed).toHaveLength(3);
    expect(e.failed.every((f) => f.code === 'AccessDenied')).toBe(true);
    expect(e.progress).toMatchObject({ deletedObjects: 0, deleteMarkers: 0, done: false });
    expect(e.message).toBe(
      `could not delete 3 of 3 object versions in bucket ${name} (AccessDenied ×3). A bucket policy may deny deletes (delete the bucket policy first) or the role lacks s3:DeleteObjectVersion`,
    );
    expect(await leftovers(name)).toEqual({ entries: 3, uploads: 0 });

    await deleteBucketPolicy(s3, name);
    await deleteBucketPolicy(s3, name); // no policy: success
    await expect(raw.send(new GetBucketPolicyCommand({ Bucket: name }))).rejects.toSatisfy((x: unknown) => errorCode(x) === 'NoSuchBucketPolicy');
    expect(await emptyBucketStep(s3, name, { maxKeys: 100 })).toEqual({ ...EMPTY_DONE, deletedObjects: 3, deletedBytes: 12 });
    await deleteBucket(s3, name);
    await deleteBucketPolicy(s3, name); // no bucket: success
  });

  it('also blocks aborting uploads in moto (HTTP 403 without a code); the SDK error passes through', async () => {
    const name = await newBucket(false);
    await startUpload(name, 'pending');
    await putBucketPolicy(s3, name, tlsOnlyBucketPolicy(name));
    const err = await emptyBucketStep(s3, name, { maxKeys: 100 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).not.toBeNull();
    expect(err).not.toBeInstanceOf(EmptyBucketError);
    expect(httpStatusOf(err)).toBe(403);
    await deleteBucketPolicy(s3, name);
    expect(await emptyBucketStep(s3, name, { maxKeys: 100 })).toEqual({ ...EMPTY_DONE, abortedUploads: 1 });
  });
});

describe('putExpireEverythingLifecycle', () => {
  it('replaces the lifecycle configuration with the two teardown rules, read back exactly; twice is the same', async () => {
    const name = await newBucket(true);
    await putLifecycle(s3, name, { ours: { id: LIFECYCLE_RULE_ID, abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_MULTIPART_DAYS }, otherRules: [] });
    expect((await getBucketSettings(s3, name)).lifecycleRules.map((r) => r.id)).toEqual([LIFECYCLE_RULE_ID]);
    expect(await hasExpireEverythingLifecycle(s3, name, { ruleIds: TEARDOWN_RULE_IDS as [string, string] })).toBe(false);

    await putExpireEverythingLifecycle(s3, name, { ruleIds: TEARDOWN_RULE_IDS as [string, string] });
    const first = (await raw.send(new GetBucketLifecycleConfigurationCommand({ Bucket: name }))).Rules ?? [];
    expect(first).toHaveLength(2);
    expect(first.find((r) => r.ID === TEARDOWN_RULE_IDS[0])).toEqual({
      ID: TEARDOWN_RULE_IDS[0],
      Status: 'Enabled',
      Filter: { Prefix: '' },
      Expiration: { Days: 1 },
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    });
    expect(first.find((r) => r.ID === TEARDOWN_RULE_IDS[1])).toEqual({
      ID: TEARDOWN_RULE_IDS[1],
      Status: 'Enabled',
      Filter: { Prefix: '' },
      Expiration: { ExpiredObjectDeleteMarker: true },
    });
    expect(await hasExpireEverythingLifecycle(s3, name, { ruleIds: TEARDOWN_RULE_IDS as [string, string] })).toBe(true);

    await putExpireEverythingLifecycle(s3, name, { ruleIds: TEARDOWN_RULE_IDS as [string, string] });
    expect((await raw.send(new GetBucketLifecycleConfigurationCommand({ Bucket: name }))).Rules).toEqual(first);
  });

  it('S3 refuses ExpiredObjectDeleteMarker beside Days in one rule (why there are two rules)', async () => {
    const name = await newBucket(true);
    const err = await raw
      .send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: name,
          LifecycleConfiguration: {
            Rules: [{ ID: 'both', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1, ExpiredObjectDeleteMarker: true } }],
          },
        }),
      )
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(errorCode(err)).toBe('MalformedXML');
  });

  it('a missing bucket is success; hasExpireEverythingLifecycle is false without a configuration or a bucket', async () => {
    const missing = bucketName();
    await putExpireEverythingLifecycle(s3, missing, { ruleIds: TEARDOWN_RULE_IDS as [string, string] });
    expect(await hasExpireEverythingLifecycle(s3, missing, { ruleIds: TEARDOWN_RULE_IDS as [string, string] })).toBe(false);
    expect(await hasExpireEverythingLifecycle(s3, await newBucket(false), { ruleIds: TEARDOWN_RULE_IDS as [string, string] })).toBe(false);
  });
});

describe('isRetained (the tag teardown reads)', () => {
  const owned = { [TAG.instance]: 'test', [TAG.addonId]: 'addon-1' };
  it.each([
    ['true', true],
    ['TRUE', true],
    [' true ', true],
    ['false', false],
    ['', false],
    ['yes', false],
  ])('retain=%j → %s', (value, want) => {
    expect(isRetained({ ...owned, [TAG.retain]: value })).toBe(want);
  });

  it('no retain tag → false; the key is under the controller prefix', () => {
    expect(isRetained(owned)).toBe(false);
    expect(isRetained({})).toBe(false);
    expect(TAG.retain).toBe('heroku-s3-controller:retain');
  });
});

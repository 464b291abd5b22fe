/**
 * The S3 bucket sink (STYLE.md #3): observe never mutates; create treats "already ours" as
 * success; every setting is written on its own so a crash between two leaves a repairable state.
 */
import {
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  GetBucketCorsCommand,
  GetBucketVersioningCommand,
  PutBucketCorsCommand,
  PutBucketVersioningCommand,
  GetBucketEncryptionCommand,
  GetBucketLocationCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetPublicAccessBlockCommand,
  ListBucketsCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutPublicAccessBlockCommand,
  type BucketLocationConstraint,
  type LifecycleRule as S3LifecycleRule,
  type ObjectOwnership,
  type ServerSideEncryption,
  type S3Client,
} from '@aws-sdk/client-s3';
import { TerminalError } from '../../util/errors.js';
import type { BucketSettings, CorsRuleSpec, ExposureSettings, LifecycleRule, LifecycleSpec, PublicAccessBlock } from '../../reconciler/kinds/bucket/ports.js';
import { hasCode } from './aws-errors.js';

export interface BucketListing {
  name: string;
  creationDate: Date | null;
}

/** Every bucket of the account whose name starts with `prefix`, paginated. */
export async function listBuckets(s3: S3Client, prefix: string): Promise<BucketListing[]> {
  const out: BucketListing[] = [];
  let token: string | undefined;
  do {
    // 10,000 a page, S3's maximum (and its default bucket quota): one call for most accounts. It
    // also keeps endpoints that cut the list at MaxBuckets without a ContinuationToken (moto) from
    // hiding buckets from the first thousand on, which made them look missing.
    const page = await s3.send(new ListBucketsCommand({ Prefix: prefix, MaxBuckets: 10_000, ContinuationToken: token }));
    for (const bucket of page.Buckets ?? []) {
      if (bucket.Name?.startsWith(prefix)) out.push({ name: bucket.Name, creationDate: bucket.CreationDate ?? null });
    }
    token = page.ContinuationToken;
  } while (token);
  return out;
}

/**
 * The region a bucket lives in (GetBucketLocation, answered from any region). S3 answers no
 * constraint for us-east-1 and the legacy `EU` for eu-west-1. Null when the bucket is gone.
 */
export async function getBucketRegion(s3: S3Client, bucket: string): Promise<string | null> {
  try {
    const { LocationConstraint: where } = await s3.send(new GetBucketLocationCommand({ Bucket: bucket }));
    if (!where) return 'us-east-1';
    return where === 'EU' ? 'eu-west-1' : where;
  } catch (err) {
    if (hasCode(err, 'NoSuchBucket')) return null;
    throw err;
  }
}

export async function getBucketTags(s3: S3Client, bucket: string): Promise<Record<string, string>> {
  try {
    const out = await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }));
    return Object.fromEntries((out.TagSet ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
  } catch (err) {
    if (hasCode(err, 'NoSuchTagSet')) return {};
    throw err;
  }
}

/** A deep check: every setting the resource model manages, read one call each. */
export async function getBucketSettings(s3: S3Client, bucket: string): Promise<BucketSettings> {
  const [exposure, encryption, lifecycleRules, versioning, cors] = await Promise.all([
    getExposureSettings(s3, bucket),
    orNull(
      async () => {
        const out = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
        const rule = out.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault;
        return rule?.SSEAlgorithm ? { algorithm: rule.SSEAlgorithm, kmsKeyId: rule.KMSMasterKeyID ?? null } : null;
      },
      'ServerSideEncryptionConfigurationNotFoundError',
    ),
    orNull(async () => {
      const out = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
      return (out.Rules ?? []).map(toLifecycleRule);
    }, 'NoSuchLifecycleConfiguration'),
    s3.send(new GetBucketVersioningCommand({ Bucket: bucket })).then((out) => (out.Status === 'Enabled' || out.Status === 'Suspended' ? out.Status : null)),
    orNull(async () => {
      const out = await s3.send(new GetBucketCorsCommand({ Bucket: bucket }));
      return (out.CORSRules ?? []).map((rule) => ({
        allowedOrigins: rule.AllowedOrigins ?? [],
        allowedMethods: rule.AllowedMethods ?? [],
        allowedHeaders: rule.AllowedHeaders ?? [],
        exposeHeaders: rule.ExposeHeaders ?? [],
        maxAgeSeconds: rule.MaxAgeSeconds ?? 0,
      }));
    }, 'NoSuchCORSConfiguration'),
  ]);
  return { ...exposure, encryption, lifecycleRules: lifecycleRules ?? [], versioning, cors };
}

/** An exposure check: the settings that can make a bucket public, three calls. */
export async function getExposureSettings(s3: S3Client, bucket: string): Promise<ExposureSettings> {
  const [publicAccessBlock, objectOwnership, policy] = await Promise.all([
    orNull(
      async () => {
        const out = await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
        const c = out.PublicAccessBlockConfiguration ?? {};
        return {
          blockPublicAcls: c.BlockPublicAcls === true,
          ignorePublicAcls: c.IgnorePublicAcls === true,
          blockPublicPolicy: c.BlockPublicPolicy === true,
          restrictPublicBuckets: c.RestrictPublicBuckets === true,
        };
      },
      'NoSuchPublicAccessBlockConfiguration',
    ),
    orNull(
      async () => {
        const out = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket }));
        return out.OwnershipControls?.Rules?.[0]?.ObjectOwnership ?? null;
      },
      'OwnershipControlsNotFoundError',
    ),
    orNull(async () => (await s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy ?? null, 'NoSuchBucketPolicy'),
  ]);
  return { publicAccessBlock, objectOwnership, policy };
}

function toLifecycleRule(rule: S3LifecycleRule): LifecycleRule {
  return {
    id: rule.ID ?? '',
    enabled: rule.Status === 'Enabled',
    prefix: rule.Filter?.Prefix ?? rule.Prefix ?? '',
    abortIncompleteMultipartUploadDays: rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation ?? null,
    raw: rule,
  };
}

async function orNull<T>(read: () => Promise<T>, notFoundCode: string): Promise<T | null> {
  try {
    return await read();
  } catch (err) {
    if (hasCode(err, notFoundCode)) return null;
    throw err;
  }
}

/**
 * Creates the bucket with its ownership tags. "Already owned by you" is success; a name owned by
 * another account is a terminal `name-taken` error: such a bucket is reported, never adopted.
 */
export async function createBucket(s3: S3Client, bucket: string, region: string, tags: Record<string, string>, objectOwnership: string): Promise<void> {
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ObjectOwnership: objectOwnership as ObjectOwnership,
        CreateBucketConfiguration: {
          ...(region === 'us-east-1' ? {} : { LocationConstraint: region as BucketLocationConstraint }),
          Tags: toTagSet(tags),
        },
      }),
    );
  } catch (err) {
    if (hasCode(err, 'BucketAlreadyOwnedByYou')) return;
    if (hasCode(err, 'BucketAlreadyExists')) {
      throw new TerminalError(
        `bucket name ${bucket} belongs to another AWS account; the controller will not adopt it. Change BUCKET_PREFIX or remove that bucket`,
        'name-taken',
      );
    }
    throw err;
  }
}

export async function putBucketTags(s3: S3Client, bucket: string, tags: Record<string, string>): Promise<void> {
  await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: toTagSet(tags) } }));
}

/**
 * Merges `ours` over the bucket's tags as S3 has them right now (PutBucketTagging replaces the
 * whole set: writing over an older read would erase tags set since). `mayTag` judges the tags
 * read: a bucket it refuses (one that carries another owner's tags) gets a terminal `not-owned`
 * error and no write.
 */
export async function tagBucket(
  s3: S3Client,
  bucket: string,
  ours: Record<string, string>,
  mayTag: (current: Record<string, string>) => boolean,
): Promise<void> {
  const current = await getBucketTags(s3, bucket);
  if (!mayTag(current)) {
    throw new TerminalError(`bucket ${bucket} carries another owner's ownership tags; it is left untouched. Delete or rename it, or set INSTANCE_ID to the instance that owns it`, 'not-owned');
  }
  await putBucketTags(s3, bucket, { ...current, ...ours });
}

/**
 * Sets and removes some tags, keeping the others (PutBucketTagging replaces the whole set). A
 * bucket that is gone is left gone.
 */
export async function mergeBucketTags(s3: S3Client, bucket: string, set: Record<string, string>, remove: readonly string[] = []): Promise<void> {
  try {
    const tags = { ...(await getBucketTags(s3, bucket)), ...set };
    for (const key of remove) delete tags[key];
    await putBucketTags(s3, bucket, tags);
  } catch (err) {
    if (!hasCode(err, 'NoSuchBucket')) throw err;
  }
}

export async function putPublicAccessBlock(s3: S3Client, bucket: string, b: PublicAccessBlock): Promise<void> {
  await s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: bucket,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: b.blockPublicAcls,
        IgnorePublicAcls: b.ignorePublicAcls,
        BlockPublicPolicy: b.blockPublicPolicy,
        RestrictPublicBuckets: b.restrictPublicBuckets,
      },
    }),
  );
}

export async function putOwnershipControls(s3: S3Client, bucket: string, ownership: string): Promise<void> {
  await s3.send(
    new PutBucketOwnershipControlsCommand({
      Bucket: bucket,
      OwnershipControls: { Rules: [{ ObjectOwnership: ownership as ObjectOwnership }] },
    }),
  );
}

export async function putEncryption(s3: S3Client, bucket: string, algorithm: string): Promise<void> {
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: bucket,
      ServerSideEncryptionConfiguration: {
        Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: algorithm as ServerSideEncryption } }],
      },
    }),
  );
}

/** Writes our rule beside the bucket's other rules (the API replaces the whole configuration). */
export async function putLifecycle(s3: S3Client, bucket: string, spec: LifecycleSpec): Promise<void> {
  const ours: S3LifecycleRule = {
    ID: spec.ours.id,
    Status: 'Enabled',
    Filter: { Prefix: '' },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: spec.ours.abortIncompleteMultipartUploadDays },
  };
  await s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: bucket,
      LifecycleConfiguration: { Rules: [...(spec.otherRules as S3LifecycleRule[]), ours] },
    }),
  );
}

/** Turns versioning on, or suspends it (a versioned bucket can never be unversioned again). */
export async function putVersioning(s3: S3Client, bucket: string, enabled: boolean): Promise<void> {
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: enabled ? 'Enabled' : 'Suspended' } }));
}

/** Writes exactly these CORS rules, or removes CORS with none. */
export async function putCors(s3: S3Client, bucket: string, rules: CorsRuleSpec[] | null): Promise<void> {
  if (!rules || rules.length === 0) {
    await s3.send(new DeleteBucketCorsCommand({ Bucket: bucket }));
    return;
  }
  await s3.send(
    new PutBucketCorsCommand({
      Bucket: bucket,
      CORSConfiguration: {
        CORSRules: rules.map((r) => ({
          AllowedOrigins: r.allowedOrigins,
          AllowedMethods: r.allowedMethods,
          AllowedHeaders: r.allowedHeaders,
          ExposeHeaders: r.exposeHeaders,
          MaxAgeSeconds: r.maxAgeSeconds,
        })),
      },
    }),
  );
}

/** Writes the bucket policy, replacing whatever was there. */
export async function putBucketPolicy(s3: S3Client, bucket: string, document: string): Promise<void> {
  await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: document }));
}

function toTagSet(tags: Record<string, string>) {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/**
 * The bucket kind's AWS adapter: its buckets observed (ListBuckets for existence, the tagging API
 * for the ownership tags, 100 a page, settings only where a deep check is due) and one bucket's
 * handle to write through ({@link BucketHandle}). Never mutates while observing.
 */
import type { BucketHandle } from '../../reconciler/kinds/bucket/ports.js';
import type { ExpectedResource, ObservedBucket, UnknownResource } from '../../reconciler/ports.js';
import { errorMessage } from '../../util/errors.js';
import { mapLimit } from '../../util/map-limit.js';
import { errorCode, hasCode } from './aws-errors.js';
import { listInstanceBucketTags } from './bucket-tags.js';
import * as teardown from './bucket-teardown.js';
import type { AccountClients } from './connect.js';
import type { AwsKindAdapter } from './kind-adapter.js';
import * as s3 from './s3-bucket.js';
import type { BucketListing } from './s3-bucket.js';

export const awsBucketKind: AwsKindAdapter = {
  async observe(clients, expected, options) {
    const warnings: string[] = [];
    const listed = new Map((await s3.listBuckets(clients.s3(options.listRegion), options.namePrefix)).map((bucket) => [bucket.name, bucket]));
    const present = expected.filter((bucket) => listed.has(bucket.name));
    const regions = new Set(present.map((bucket) => bucket.region));
    // Not on top of those: a region with none of our buckets would cost a call every pass.
    if (regions.size === 0 && options.homeRegion) regions.add(options.homeRegion);
    const tagged = new Map<string, Record<string, string>>();
    for (const region of regions) {
      try {
        for (const [name, tags] of await listInstanceBucketTags(clients.tagging(region), options.instanceTag)) tagged.set(name, tags);
      } catch {
        // No tagging API here (an S3-compatible endpoint, or no tag:GetResources permission):
        // every bucket's tags are read one by one below instead. Slower, never less correct.
      }
    }
    const unknown = await unknownBuckets(clients, options.listRegion, options.addonTagKey, listed, tagged, new Set(expected.map((b) => b.name)), warnings);
    const found = new Map<string, ObservedBucket>();
    const buckets = await mapLimit(present, options.concurrency ?? 8, (bucket) => readBucket(clients, bucket, listed.get(bucket.name)!, tagged.get(bucket.name)));
    for (const bucket of buckets) if (bucket) found.set(bucket.name, bucket);
    return { found, unknown, warnings };
  },

  /** `ListBuckets` narrowed by `Prefix` to the bucket's own name (only among this account's buckets, as the full pass sees them), then the same read. */
  async observeOne(clients, expected, options) {
    const listing = (await s3.listBuckets(clients.s3(options.listRegion), expected.name)).find((b) => b.name === expected.name);
    return listing ? readBucket(clients, expected, listing, undefined) : null;
  },

  handle: (clients, name, region) => bucketHandle(clients, name, region),
};

/**
 * Listed buckets the tagging API says are this instance's and nothing expected names, each with
 * its region (the tagging API is regional, but not every implementation filters S3 by region).
 * Rare (a store lost mid-teardown), so one GetBucketLocation each. One whose region cannot be
 * read comes with none, and a warning: the rest of the account's read stands.
 */
async function unknownBuckets(
  clients: AccountClients,
  listRegion: string,
  addonTagKey: string,
  listed: Map<string, BucketListing>,
  tagged: Map<string, Record<string, string>>,
  expected: Set<string>,
  warnings: string[],
): Promise<Map<string, UnknownResource>> {
  const found = new Map<string, UnknownResource>();
  for (const [name, tags] of tagged) {
    // Without an add-on id it could never be recorded again: not worth a call every pass.
    if (!listed.has(name) || expected.has(name) || !tags[addonTagKey]) continue;
    try {
      const region = await s3.getBucketRegion(clients.s3(listRegion), name);
      if (region) found.set(name, { name, region, tags });
    } catch (err) {
      found.set(name, { name, region: null, tags });
      warnings.push(
        `bucket ${name} carries this instance's tag but no record names it, and its region could not be read (${errorCode(err)}: ${errorMessage(err)}); its add-on is recorded again once it can be (does the policy allow s3:GetBucketLocation?)`,
      );
    }
  }
  return found;
}

/**
 * The bucket's tags (from the bulk tagging read when it had them) and, when `deep`, its settings,
 * or when `exposure`, its public-exposure settings alone; null when it was deleted since the
 * listing (then it is missing, not broken).
 */
async function readBucket(
  clients: AccountClients,
  { name, region, deep, exposure }: ExpectedResource,
  listing: BucketListing,
  bulkTags: Record<string, string> | undefined,
): Promise<ObservedBucket | null> {
  const client = clients.s3(region);
  try {
    const tags = bulkTags ?? (await s3.getBucketTags(client, name));
    const settings = deep ? await s3.getBucketSettings(client, name) : exposure ? await s3.getExposureSettings(client, name) : null;
    return { name, creationDate: listing.creationDate, tags, settings };
  } catch (err) {
    if (hasCode(err, 'NoSuchBucket')) return null;
    throw err;
  }
}

function bucketHandle(clients: AccountClients, bucket: string, region: string): BucketHandle {
  const client = clients.s3(region);
  return {
    create: (tags, objectOwnership) => s3.createBucket(client, bucket, region, tags, objectOwnership),
    tags: async () => {
      try {
        return await s3.getBucketTags(client, bucket);
      } catch (err) {
        if (hasCode(err, 'NoSuchBucket')) return null;
        throw err;
      }
    },
    tag: (ours, mayTag) => s3.tagBucket(client, bucket, ours, mayTag),
    mergeTags: (set, remove) => s3.mergeBucketTags(client, bucket, set, remove),
    settings: () => s3.getBucketSettings(client, bucket),
    putPublicAccessBlock: (block) => s3.putPublicAccessBlock(client, bucket, block),
    putObjectOwnership: (ownership) => s3.putOwnershipControls(client, bucket, ownership),
    putEncryption: (algorithm) => s3.putEncryption(client, bucket, algorithm),
    putLifecycle: (spec) => s3.putLifecycle(client, bucket, spec),
    putVersioning: (enabled) => s3.putVersioning(client, bucket, enabled),
    putCors: (rules) => s3.putCors(client, bucket, rules),
    putPolicy: (document) => s3.putBucketPolicy(client, bucket, document),
    deletePolicy: () => teardown.deleteBucketPolicy(client, bucket),
    emptyStep: (maxKeys) => teardown.emptyBucketStep(client, bucket, { maxKeys }),
    expiresEverything: (spec) => teardown.hasExpireEverythingLifecycle(client, bucket, spec),
    expireEverything: (spec) => teardown.putExpireEverythingLifecycle(client, bucket, spec),
    delete: () => teardown.deleteBucket(client, bucket),
  };
}

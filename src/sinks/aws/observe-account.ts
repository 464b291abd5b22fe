/**
 * Observes one linked account, never mutating. Every pass reads the inventory in bulk: ListBuckets
 * (existence), the tagging API (bucket ownership tags, 100 a page) and GetAccountAuthorizationDetails
 * (users with their tags and inline policies, 1,000 a page). The per-resource deep checks (bucket
 * settings, access keys) run only for the resources the caller marks `deep`, so they can be spread
 * over a window (DESIGN.md "Efficiency").
 */
import type { ObservedAccount, ObservedBucket } from '../../reconciler/model.js';
import { errorMessage } from '../../util/errors.js';
import { mapLimit } from '../../util/map-limit.js';
import { errorCode, hasCode } from './aws-errors.js';
import { listInstanceBucketTags } from './bucket-tags.js';
import type { AccountClients } from './connect.js';
import { getBucketSettings, getBucketTags, listBuckets } from './s3-bucket.js';
import { listAccessKeys, listUsers } from './iam-user.js';

export interface ExpectedResources {
  /** `deep`: read every setting of this bucket this pass. */
  buckets: { name: string; region: string; deep: boolean }[];
  /** `deep`: list this user's access keys this pass. */
  users: { name: string; deep: boolean }[];
}

export interface ObserveOptions {
  instanceId: string;
  bucketPrefix: string;
  iamPath: string;
  /** Region for ListBuckets, which lists the whole account from any region. */
  listRegion: string;
  /** Parallel per-resource reads in this account. */
  concurrency?: number;
}

export async function observeAccount(
  clients: AccountClients,
  expected: ExpectedResources,
  options: ObserveOptions,
): Promise<ObservedAccount> {
  const observed: ObservedAccount = {
    accountId: clients.accountId,
    complete: true,
    error: null,
    buckets: new Map(),
    users: new Map(),
    iamUsersInAccount: 0,
  };
  const tally = { accountUsers: 0 };
  const concurrency = options.concurrency ?? 8;
  try {
    const [listing, users] = await Promise.all([
      listBuckets(clients.s3(options.listRegion), options.bucketPrefix),
      listUsers(clients.iam, options.iamPath, tally),
    ]);
    observed.iamUsersInAccount = tally.accountUsers;
    const listed = new Map(listing.map((bucket) => [bucket.name, bucket]));
    const present = expected.buckets.filter((bucket) => listed.has(bucket.name));
    const regions = [...new Set(present.map((bucket) => bucket.region))];
    const tagged = new Map<string, Record<string, string>>();
    for (const region of regions) {
      try {
        for (const [name, tags] of await listInstanceBucketTags(clients.tagging(region), options.instanceId)) tagged.set(name, tags);
      } catch {
        // No tagging API here (an S3-compatible endpoint, or no tag:GetResources permission):
        // every bucket's tags are read one by one below instead. Slower, never less correct.
      }
    }
    const buckets = await mapLimit(present, concurrency, async ({ name, region, deep }): Promise<ObservedBucket | null> => {
      const s3 = clients.s3(region);
      try {
        const tags = tagged.get(name) ?? (await getBucketTags(s3, name));
        const settings = deep ? await getBucketSettings(s3, name) : null;
        return { name, creationDate: listed.get(name)!.creationDate, tags, settings };
      } catch (err) {
        if (hasCode(err, 'NoSuchBucket')) return null; // deleted since the listing: missing
        throw err;
      }
    });
    for (const bucket of buckets) if (bucket) observed.buckets.set(bucket.name, bucket);

    const deepUsers = expected.users.filter((user) => user.deep && users.has(user.name));
    await mapLimit(deepUsers, concurrency, async ({ name }) => {
      try {
        users.get(name)!.accessKeys = await listAccessKeys(clients.iam, name);
      } catch (err) {
        if (!hasCode(err, 'NoSuchEntity')) throw err;
        users.delete(name);
      }
    });
    observed.users = users;
  } catch (err) {
    observed.complete = false;
    observed.error = `${errorCode(err)}: ${errorMessage(err)}`;
  }
  return observed;
}

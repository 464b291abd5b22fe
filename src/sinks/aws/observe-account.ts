/**
 * Observes one linked account: the inventory in bulk (ListBuckets, GetAccountAuthorizationDetails),
 * then tags, settings and access keys of the resources the controller expects there. Never mutates.
 */
import type { ObservedAccount, ObservedBucket } from '../../reconciler/model.js';
import { errorMessage } from '../../util/errors.js';
import { mapLimit } from '../../util/map-limit.js';
import { errorCode, hasCode } from './aws-errors.js';
import type { AccountClients } from './connect.js';
import { getBucketSettings, getBucketTags, listBuckets } from './s3-bucket.js';
import { listAccessKeys, listUsers } from './iam-user.js';

export interface ExpectedResources {
  buckets: { name: string; region: string }[];
  users: string[];
}

export interface ObserveOptions {
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
  };
  const concurrency = options.concurrency ?? 8;
  try {
    const [listing, users] = await Promise.all([
      listBuckets(clients.s3(options.listRegion), options.bucketPrefix),
      listUsers(clients.iam, options.iamPath),
    ]);
    const listed = new Map(listing.map((bucket) => [bucket.name, bucket]));
    const present = expected.buckets.filter((bucket) => listed.has(bucket.name));
    const buckets = await mapLimit(present, concurrency, async ({ name, region }): Promise<ObservedBucket | null> => {
      const s3 = clients.s3(region);
      try {
        const tags = await getBucketTags(s3, name);
        return { name, creationDate: listed.get(name)!.creationDate, tags, settings: await getBucketSettings(s3, name) };
      } catch (err) {
        if (hasCode(err, 'NoSuchBucket')) return null; // deleted since the listing: missing
        throw err;
      }
    });
    for (const bucket of buckets) if (bucket) observed.buckets.set(bucket.name, bucket);

    const presentUsers = expected.users.filter((name) => users.has(name));
    await mapLimit(presentUsers, concurrency, async (name) => {
      const user = users.get(name)!;
      try {
        user.accessKeys = await listAccessKeys(clients.iam, name);
      } catch (err) {
        if (hasCode(err, 'NoSuchEntity')) {
          users.delete(name);
          return;
        }
        throw err;
      }
    });
    observed.users = users;
  } catch (err) {
    observed.complete = false;
    observed.error = `${errorCode(err)}: ${errorMessage(err)}`;
  }
  return observed;
}

/**
 * Observes one linked account, never mutating. Every pass reads the inventory in bulk: ListBuckets
 * (existence), the tagging API (bucket ownership tags, 100 a page), GetAccountAuthorizationDetails
 * (users with their tags and inline policies, 1,000 a page) and GetAccountSummary (the account's
 * IAM users and their quota). The per-resource deep checks (bucket settings, access keys) run only
 * for the resources the caller marks `deep`, so they can be spread over a window (DESIGN.md
 * "Efficiency").
 */
import { GetAccountSummaryCommand, GetUserCommand, GetUserPolicyCommand, ListUserPoliciesCommand } from '@aws-sdk/client-iam';
import type { ExpectedAddonResources, ExpectedResources, ObserveOptions, ObservedAccount, ObservedBucket, ObservedUser, UnknownBucket } from '../../reconciler/ports.js';
import { errorMessage } from '../../util/errors.js';
import { mapLimit } from '../../util/map-limit.js';
import { errorCode, hasCode } from './aws-errors.js';
import { listInstanceBucketTags } from './bucket-tags.js';
import type { AccountClients } from './connect.js';
import { getBucketRegion, getBucketSettings, getBucketTags, listBuckets, type BucketListing } from './s3-bucket.js';
import { decodePolicy, listAccessKeys, listUsers } from './iam-user.js';

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
    iamUserQuota: null,
  };
  const tally = { accountUsers: 0 };
  const concurrency = options.concurrency ?? 8;
  try {
    const [listing, users, quota] = await Promise.all([
      listBuckets(clients.s3(options.listRegion), options.bucketPrefix),
      listUsers(clients.iam, options.iamPath, tally, new Set(expected.users.map((user) => user.name))),
      readIamUserQuota(clients.iam),
    ]);
    observed.iamUsersInAccount = tally.accountUsers;
    observed.iamUserQuota = quota.quota;
    if (quota.warning) (observed.warnings ??= []).push(quota.warning);
    const listed = new Map(listing.map((bucket) => [bucket.name, bucket]));
    const present = expected.buckets.filter((bucket) => listed.has(bucket.name));
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
    observed.unknownBuckets = await unknownBuckets(clients, options.listRegion, options.addonTagKey, listed, tagged, new Set(expected.buckets.map((b) => b.name)), observed);
    const buckets = await mapLimit(present, concurrency, (bucket) => readBucket(clients, bucket, listed.get(bucket.name)!, tagged.get(bucket.name)));
    for (const bucket of buckets) if (bucket) observed.buckets.set(bucket.name, bucket);

    const deepUsers = expected.users.filter((user) => user.deep && users.has(user.name));
    await mapLimit(deepUsers, concurrency, ({ name }) => readKeys(clients, users, name));
    observed.users = users;
  } catch (err) {
    observed.complete = false;
    observed.error = `${errorCode(err)}: ${errorMessage(err)}`;
  }
  return observed;
}

/**
 * The account's IAM users and their quota, from one `GetAccountSummary` (a quota AWS raises on
 * request, so never a constant). Never throws: when it cannot be read (the link's policy lacks
 * iam:GetAccountSummary, or the call failed) the quota is unknown, with a warning, and the rest of
 * the account's read stands; plan() then holds no add-on back for it. moto (5.2) answers both
 * fields, `UsersQuota` at AWS's default 5,000; an endpoint that leaves either out counts as not read.
 */
async function readIamUserQuota(iam: AccountClients['iam']): Promise<{ quota: ObservedAccount['iamUserQuota']; warning?: string }> {
  try {
    const { SummaryMap: summary } = await iam.send(new GetAccountSummaryCommand({}));
    const used = summary?.Users;
    const quota = summary?.UsersQuota;
    if (used !== undefined && quota !== undefined) return { quota: { used, quota } };
    return { quota: null, warning: 'GetAccountSummary answered without Users or UsersQuota, so the IAM user quota is unknown and new add-ons are not held back before it is reached' };
  } catch (err) {
    return {
      quota: null,
      warning: `the IAM user quota could not be read (${errorCode(err)}: ${errorMessage(err)}), so new add-ons are not held back before it is reached (does the policy allow iam:GetAccountSummary?)`,
    };
  }
}

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
  observed: ObservedAccount,
): Promise<Map<string, UnknownBucket>> {
  const found = new Map<string, UnknownBucket>();
  for (const [name, tags] of tagged) {
    // Without an add-on id it could never be recorded again: not worth a call every pass.
    if (!listed.has(name) || expected.has(name) || !tags[addonTagKey]) continue;
    try {
      const region = await getBucketRegion(clients.s3(listRegion), name);
      if (region) found.set(name, { name, region, tags });
    } catch (err) {
      found.set(name, { name, region: null, tags });
      (observed.warnings ??= []).push(
        `bucket ${name} carries this instance's tag but no record names it, and its region could not be read (${errorCode(err)}: ${errorMessage(err)}); its add-on is recorded again once it can be (does the policy allow s3:GetBucketLocation?)`,
      );
    }
  }
  return found;
}

/**
 * The bucket's tags (from the bulk tagging read when it had them) and, when `deep`, its settings;
 * null when it was deleted since the listing (then it is missing, not broken).
 */
async function readBucket(
  clients: AccountClients,
  { name, region, deep }: { name: string; region: string; deep: boolean },
  listing: BucketListing,
  bulkTags: Record<string, string> | undefined,
): Promise<ObservedBucket | null> {
  const s3 = clients.s3(region);
  try {
    const tags = bulkTags ?? (await getBucketTags(s3, name));
    const settings = deep ? await getBucketSettings(s3, name) : null;
    return { name, creationDate: listing.creationDate, tags, settings };
  } catch (err) {
    if (hasCode(err, 'NoSuchBucket')) return null;
    throw err;
  }
}

/** Lists the user's access keys into `users`; a user deleted since the inventory is dropped (missing). */
async function readKeys(clients: AccountClients, users: Map<string, ObservedUser>, name: string): Promise<void> {
  try {
    users.get(name)!.accessKeys = await listAccessKeys(clients.iam, name);
  } catch (err) {
    if (!hasCode(err, 'NoSuchEntity')) throw err;
    users.delete(name);
  }
}


/**
 * Observes the resources of ONE add-on, never mutating, with targeted reads instead of the
 * account-wide inventory: `ListBuckets` narrowed by `Prefix` to the bucket's own name (existence
 * and creation date, only among this account's buckets, as the full pass sees them), then the
 * same per-bucket read as {@link observeAccount}; `GetUser` (tags, path), `ListUserPolicies` and
 * `GetUserPolicy` for the inline policies `GetAccountAuthorizationDetails` would have returned,
 * and the same access-key read. The answer has the shape of {@link observeAccount}'s, holding
 * only these two resources, so `plan()` decides from it exactly as it does in a full pass.
 * The user is observed wherever its path is, as the full inventory does for the names it expects:
 * a user at our name outside `iamPath` is someone else's until its tags say otherwise.
 */
export async function observeAddonResources(
  clients: AccountClients,
  expected: ExpectedAddonResources,
  options: Pick<ObserveOptions, 'iamPath' | 'listRegion'>,
): Promise<ObservedAccount> {
  const observed: ObservedAccount = {
    accountId: clients.accountId,
    complete: true,
    error: null,
    buckets: new Map(),
    users: new Map(),
    // Not counted by a targeted read; only the full pass reports the account's user count.
    iamUsersInAccount: 0,
    // Read below only when the user is missing (one GetAccountSummary): then plan() holds a new
    // add-on back in a full account, as in a full pass, instead of making its bucket first.
    iamUserQuota: null,
  };
  try {
    const [listing, user] = await Promise.all([
      expected.bucket === null ? undefined : listBuckets(clients.s3(options.listRegion), expected.bucket.name).then((all) => all.find((b) => b.name === expected.bucket!.name)),
      getUser(clients.iam, expected.user.name),
    ]);
    const bucket = listing && expected.bucket ? await readBucket(clients, expected.bucket, listing, undefined) : null;
    if (bucket) observed.buckets.set(bucket.name, bucket);
    if (user) {
      observed.users.set(user.userName, user);
      if (expected.user.deep) await readKeys(clients, observed.users, user.userName);
    } else {
      const quota = await readIamUserQuota(clients.iam);
      observed.iamUserQuota = quota.quota;
      if (quota.warning) (observed.warnings ??= []).push(quota.warning);
    }
  } catch (err) {
    observed.complete = false;
    observed.error = `${errorCode(err)}: ${errorMessage(err)}`;
  }
  return observed;
}

/**
 * One IAM user of an account, alone (GetUser and its inline policies): the answer has the shape of
 * {@link observeAccount}'s, holding that user if it exists and no bucket. Never mutates.
 */
export async function observeUser(clients: AccountClients, userName: string): Promise<ObservedAccount> {
  const observed: ObservedAccount = { accountId: clients.accountId, complete: true, error: null, buckets: new Map(), users: new Map(), iamUsersInAccount: 0, iamUserQuota: null };
  try {
    const user = await getUser(clients.iam, userName);
    if (user) observed.users.set(user.userName, user);
  } catch (err) {
    observed.complete = false;
    observed.error = `${errorCode(err)}: ${errorMessage(err)}`;
  }
  return observed;
}

/** One user with its tags and inline policies, as `GetAccountAuthorizationDetails` gives them; null when absent. */
async function getUser(iam: AccountClients['iam'], userName: string): Promise<ObservedUser | null> {
  try {
    const { User: user } = await iam.send(new GetUserCommand({ UserName: userName }));
    if (!user?.UserName) return null;
    const names: string[] = [];
    let marker: string | undefined;
    do {
      const page = await iam.send(new ListUserPoliciesCommand({ UserName: userName, Marker: marker }));
      names.push(...(page.PolicyNames ?? []));
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    const policies = await Promise.all(
      names.map(async (name) => {
        const out = await iam.send(new GetUserPolicyCommand({ UserName: userName, PolicyName: name }));
        return [name, decodePolicy(out.PolicyDocument ?? '')] as const;
      }),
    );
    return {
      userName: user.UserName,
      path: user.Path ?? '/',
      tags: Object.fromEntries((user.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])),
      inlinePolicies: Object.fromEntries(policies),
      accessKeys: null,
    };
  } catch (err) {
    if (hasCode(err, 'NoSuchEntity', 'NoSuchEntityException')) return null;
    throw err;
  }
}

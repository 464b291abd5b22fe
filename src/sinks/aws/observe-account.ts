/**
 * Observes one linked account, never mutating. Every pass reads the inventory in bulk:
 * GetAccountAuthorizationDetails (users with their tags and inline policies, 1,000 a page),
 * GetAccountSummary (the account's IAM users and their quota), and each kind's resources through
 * its adapter (the bucket kind's: ListBuckets and the tagging API, see bucket-kind.ts). The
 * per-resource deep checks (a bucket's settings, a user's access keys) run only for the resources
 * the caller marks `deep`, so they can be spread over a window (DESIGN.md "Efficiency").
 */
import { GetAccountSummaryCommand, GetUserCommand, GetUserPolicyCommand, ListUserPoliciesCommand } from '@aws-sdk/client-iam';
import type { ExpectedAddonResources, ExpectedResources, ObserveOptions, ObservedAccount, ObservedUser, ResourceKindName } from '../../reconciler/ports.js';
import { errorMessage } from '../../util/errors.js';
import { mapLimit } from '../../util/map-limit.js';
import { errorCode, hasCode } from './aws-errors.js';
import type { AccountClients } from './connect.js';
import { decodePolicy, listAccessKeys, listUsers } from './iam-user.js';
import type { AwsKindAdapter } from './kind-adapter.js';

/** The kinds' adapters, by kind; a kind that makes nothing beyond the user has none. */
export type KindAdapters = ReadonlyMap<ResourceKindName, AwsKindAdapter>;

export async function observeAccount(
  clients: AccountClients,
  expected: ExpectedResources,
  options: ObserveOptions,
  kinds: KindAdapters,
): Promise<ObservedAccount> {
  const observed = emptyObservation(clients.accountId);
  observed.unknownResources = new Map();
  const tally = { accountUsers: 0 };
  const concurrency = options.concurrency ?? 8;
  try {
    // A resource no adapter can see is not absent: the read is incomplete, and nothing is decided.
    const unobservable = [...new Set(expected.resources.map((r) => r.kind))].filter((kind) => !kinds.has(kind));
    if (unobservable.length > 0) throw new Error(`no adapter observes resources of kind ${unobservable.join(', ')}`);
    const [users, quota, ...byKind] = await Promise.all([
      listUsers(clients.iam, options.iamPath, tally, new Set(expected.users.map((user) => user.name))),
      readIamUserQuota(clients.iam),
      ...[...kinds].map(async ([kind, adapter]) => ({ kind, ...(await adapter.observe(clients, expected.resources.filter((r) => r.kind === kind), options)) })),
    ]);
    observed.iamUsersInAccount = tally.accountUsers;
    observed.iamUserQuota = quota.quota;
    if (quota.warning) (observed.warnings ??= []).push(quota.warning);
    for (const { kind, found, unknown, warnings } of byKind) {
      observed.resources.set(kind, found);
      observed.unknownResources.set(kind, unknown);
      if (warnings.length > 0) (observed.warnings ??= []).push(...warnings);
    }
    const deepUsers = expected.users.filter((user) => user.deep && users.has(user.name));
    await mapLimit(deepUsers, concurrency, ({ name }) => readKeys(clients, users, name));
    observed.users = users;
  } catch (err) {
    observed.complete = false;
    observed.error = `${errorCode(err)}: ${errorMessage(err)}`;
  }
  return observed;
}

/** A complete observation holding nothing yet (a targeted read fills in what it reads). */
function emptyObservation(accountId: string): ObservedAccount {
  return { accountId, complete: true, error: null, resources: new Map(), users: new Map(), iamUsersInAccount: 0, iamUserQuota: null };
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
 * account-wide inventory: its kind's resource through the kind's adapter (a bucket: `ListBuckets`
 * narrowed to its name, then the same per-bucket read as the full pass); `GetUser` (tags, path),
 * `ListUserPolicies` and `GetUserPolicy` for the inline policies `GetAccountAuthorizationDetails`
 * would have returned, and the same access-key read. The answer has the shape of
 * {@link observeAccount}'s, holding only these two resources, so `plan()` decides from it exactly
 * as it does in a full pass. The user is observed wherever its path is, as the full inventory does
 * for the names it expects: a user at our name outside `iamPath` is someone else's until its tags
 * say otherwise.
 */
export async function observeAddonResources(
  clients: AccountClients,
  expected: ExpectedAddonResources,
  options: Pick<ObserveOptions, 'iamPath' | 'listRegion'>,
  kinds: KindAdapters,
): Promise<ObservedAccount> {
  // Neither the account's user count nor its quota is read here, but for a missing user (one
  // GetAccountSummary): then plan() holds a new add-on back in a full account, as in a full pass,
  // instead of making its bucket first.
  const observed = emptyObservation(clients.accountId);
  try {
    const wanted = expected.resource;
    const adapter = wanted && kinds.get(wanted.kind);
    if (wanted && !adapter) throw new Error(`no adapter observes resources of kind "${wanted.kind}"`);
    const [resource, user] = await Promise.all([wanted && adapter ? adapter.observeOne(clients, wanted, options) : null, getUser(clients.iam, expected.user.name)]);
    if (wanted) observed.resources.set(wanted.kind, new Map(resource ? [[resource.name, resource]] : []));
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
 * {@link observeAccount}'s, holding that user if it exists and nothing else. Never mutates.
 */
export async function observeUser(clients: AccountClients, userName: string): Promise<ObservedAccount> {
  const observed = emptyObservation(clients.accountId);
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

/**
 * The IAM user sink: the user under the controller's path, its inline policy and its access key.
 * Users are read in bulk (GetAccountAuthorizationDetails: tags and inline policies, 1,000 a page);
 * only access keys need a call per user.
 */
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  UpdateAccessKeyCommand,
  DeleteUserPolicyCommand,
  GetAccountAuthorizationDetailsCommand,
  GetUserCommand,
  ListAccessKeysCommand,
  PutUserPolicyCommand,
  TagUserCommand,
  UntagUserCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import type { ObservedAccessKey, ObservedUser } from '../../reconciler/ports.js';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { TerminalError } from '../../util/errors.js';
import { hasCode, retryWhilePropagating, type Sleep } from './aws-errors.js';

/**
 * Users under `path`, and users named in `alsoNamed` wherever they are (a user at one of our
 * deterministic names outside the path is someone else's, or ours from another IAM_PATH: either
 * way plan() must see it), with tags and inline policy documents, in O(users / 1000) calls.
 * `tally` receives the number of users in the whole account (the 5,000-user quota counts them all).
 */
export async function listUsers(
  iam: IAMClient,
  path: string,
  tally?: { accountUsers: number },
  alsoNamed: ReadonlySet<string> = new Set(),
): Promise<Map<string, ObservedUser>> {
  const users = new Map<string, ObservedUser>();
  let marker: string | undefined;
  do {
    const page = await iam.send(
      new GetAccountAuthorizationDetailsCommand({ Filter: ['User'], MaxItems: 1000, Marker: marker }),
    );
    if (tally) tally.accountUsers += page.UserDetailList?.length ?? 0;
    for (const user of page.UserDetailList ?? []) {
      if (!user.UserName || !(user.Path?.startsWith(path) || alsoNamed.has(user.UserName))) continue;
      users.set(user.UserName, {
        userName: user.UserName,
        path: user.Path ?? '/',
        tags: Object.fromEntries((user.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])),
        inlinePolicies: Object.fromEntries(
          (user.UserPolicyList ?? []).map((p) => [p.PolicyName ?? '', decodePolicy(p.PolicyDocument ?? '')]),
        ),
        accessKeys: null,
      });
    }
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return users;
}

/** IAM returns policy documents URL-encoded (RFC 3986). */
export function decodePolicy(document: string): string {
  if (document.trimStart().startsWith('{')) return document;
  try {
    return decodeURIComponent(document);
  } catch {
    return document;
  }
}

export async function listAccessKeys(iam: IAMClient, userName: string): Promise<ObservedAccessKey[]> {
  const out = await iam.send(new ListAccessKeysCommand({ UserName: userName }));
  return (out.AccessKeyMetadata ?? []).map((key) => ({
    accessKeyId: key.AccessKeyId ?? '',
    status: key.Status === 'Active' ? 'Active' : 'Inactive',
    createdAt: key.CreateDate ?? null,
  }));
}

/** The user's path and tags as IAM has them now; null when there is no such user. */
export async function readUserTags(iam: IAMClient, userName: string): Promise<{ path: string; tags: Record<string, string> } | null> {
  try {
    const { User: user } = await iam.send(new GetUserCommand({ UserName: userName }));
    return { path: user?.Path ?? '/', tags: Object.fromEntries((user?.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])) };
  } catch (err) {
    if (hasCode(err, 'NoSuchEntity', 'NoSuchEntityException')) return null;
    throw err;
  }
}

/**
 * Creates the user with its ownership tags in one call. "Already exists" is success only for a
 * user `isOurs` accepts by its tags as IAM has them now (default: it carries every tag of `tags`;
 * safety invariant 10): any other user at this name (another deployment's, one outside IAM_PATH,
 * anybody's) is a terminal `not-owned` error, and nothing is written to it.
 */
export async function createUser(
  iam: IAMClient,
  userName: string,
  path: string,
  tags: Record<string, string>,
  isOurs: (tags: Record<string, string>) => boolean = (current) => Object.entries(tags).every(([key, value]) => current[key] === value),
): Promise<void> {
  try {
    await iam.send(new CreateUserCommand({ UserName: userName, Path: path, Tags: toTags(tags) }));
  } catch (err) {
    if (!hasCode(err, 'EntityAlreadyExists')) throw err;
    const existing = await readUserTags(iam, userName);
    if (existing && isOurs(existing.tags)) return;
    throw new TerminalError(
      `IAM user ${userName} already exists${existing ? ` (under ${existing.path})` : ''} without this controller's ownership tags; no policy or key is put on it. Delete or rename that user, or set INSTANCE_ID to the instance that owns it`,
      'not-owned',
    );
  }
}

/** The ARN a key acts as (STS GetCallerIdentity with that key): proof a secret belongs to a key. */
export async function callerArn(sts: STSClient): Promise<string> {
  const out = await sts.send(new GetCallerIdentityCommand({}));
  if (!out.Arn) throw new Error('STS GetCallerIdentity answered without an ARN');
  return out.Arn;
}

export async function tagUser(iam: IAMClient, userName: string, tags: Record<string, string>): Promise<void> {
  await iam.send(new TagUserCommand({ UserName: userName, Tags: toTags(tags) }));
}

/** Removes tags from a user; a user that is gone is left gone. */
export async function untagUser(iam: IAMClient, userName: string, keys: string[]): Promise<void> {
  try {
    await iam.send(new UntagUserCommand({ UserName: userName, TagKeys: keys }));
  } catch (err) {
    if (!hasCode(err, 'NoSuchEntity', 'NoSuchEntityException')) throw err;
  }
}

export async function putUserPolicy(
  iam: IAMClient,
  userName: string,
  policyName: string,
  document: string,
  sleep?: Sleep,
): Promise<void> {
  await retryWhilePropagating(
    () => iam.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: policyName, PolicyDocument: document })),
    ['NoSuchEntity', 'NoSuchEntityException'],
    sleep ? { sleep } : {},
  );
}

export async function deleteUserPolicy(iam: IAMClient, userName: string, policyName: string): Promise<void> {
  try {
    await iam.send(new DeleteUserPolicyCommand({ UserName: userName, PolicyName: policyName }));
  } catch (err) {
    if (!hasCode(err, 'NoSuchEntity', 'NoSuchEntityException')) throw err;
  }
}

export interface NewAccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  /** AWS's CreateDate of the key; null when it did not say. */
  createdAt: Date | null;
}

export async function createAccessKey(iam: IAMClient, userName: string, sleep?: Sleep): Promise<NewAccessKey> {
  const out = await retryWhilePropagating(
    () => iam.send(new CreateAccessKeyCommand({ UserName: userName })),
    ['NoSuchEntity', 'NoSuchEntityException'],
    sleep ? { sleep } : {},
  );
  const key = out.AccessKey;
  if (!key?.AccessKeyId || !key.SecretAccessKey) throw new Error(`CreateAccessKey for ${userName} returned no key`);
  return { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey, createdAt: key.CreateDate ?? null };
}

/** Switches a key on or off (UpdateAccessKey); a key or user that is gone is an error. */
export async function setAccessKeyStatus(iam: IAMClient, userName: string, accessKeyId: string, status: 'Active' | 'Inactive'): Promise<void> {
  await iam.send(new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId, Status: status }));
}

/** When IAM last saw the key used (GetAccessKeyLastUsed's LastUsedDate); null when never (or not yet known). */
export async function accessKeyLastUsed(iam: IAMClient, accessKeyId: string): Promise<Date | null> {
  const out = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: accessKeyId }));
  return out.AccessKeyLastUsed?.LastUsedDate ?? null;
}

export async function deleteAccessKey(iam: IAMClient, userName: string, accessKeyId: string): Promise<void> {
  try {
    await iam.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId }));
  } catch (err) {
    if (!hasCode(err, 'NoSuchEntity', 'NoSuchEntityException')) throw err;
  }
}

function toTags(tags: Record<string, string>) {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

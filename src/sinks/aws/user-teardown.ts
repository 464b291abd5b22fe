/**
 * IAM user teardown (issue #4): steps the executor runs as separate actions, each idempotent and
 * each treating a user that is already gone as done. The caller has checked ownership first
 * (invariant 1).
 *
 * Order: `deleteAllAccessKeys` → `deleteInlinePolicies` → `detachManagedPolicies` → `deleteUser`.
 * The order is what makes teardown safe, not the IAM service: AWS refuses DeleteUser while keys,
 * policies and other attachments remain (`DeleteConflict` → `UserNotEmptyError`), but moto deletes
 * a user that still has access keys. Deleting the keys first also cuts the add-on's access before
 * its bucket goes.
 *
 * IAM permissions these need on the linked role, beyond the ones the README lists:
 * iam:ListUserPolicies, iam:ListAttachedUserPolicies, iam:DetachUserPolicy, iam:DeleteUser; for a
 * fuller `UserNotEmptyError` (optional, best effort): iam:ListGroupsForUser, iam:GetLoginProfile,
 * iam:ListMFADevices, iam:ListSigningCertificates, iam:ListSSHPublicKeys,
 * iam:ListServiceSpecificCredentials.
 */
import {
  DeleteUserCommand,
  DetachUserPolicyCommand,
  GetLoginProfileCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsForUserCommand,
  ListMFADevicesCommand,
  ListServiceSpecificCredentialsCommand,
  ListSigningCertificatesCommand,
  ListSSHPublicKeysCommand,
  ListUserPoliciesCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { hasCode } from './aws-errors.js';
import { deleteAccessKey, deleteUserPolicy, listAccessKeys } from './iam-user.js';

const NOT_FOUND = ['NoSuchEntity', 'NoSuchEntityException'];

/** What still hangs on a user. Every list is empty for a deletable user. */
export interface UserLeftovers {
  accessKeys: string[];
  inlinePolicies: string[];
  attachedPolicies: string[];
  groups: string[];
  loginProfile: boolean;
  mfaDevices: string[];
  signingCertificates: string[];
  sshPublicKeys: string[];
  serviceSpecificCredentials: string[];
  /** Kinds that could not be read (no permission, unsupported): they may hold something too. */
  unchecked: string[];
}

/** DeleteUser refused (`DeleteConflict`): `left` names what remains, as far as it could be read. */
export class UserNotEmptyError extends Error {
  override readonly name = 'UserNotEmptyError';
  constructor(
    readonly userName: string,
    readonly left: UserLeftovers,
  ) {
    super(`IAM user ${userName} cannot be deleted yet: ${describeLeftovers(left)}; remove them and delete the user again`);
  }
}

function describeLeftovers(left: UserLeftovers): string {
  const parts: string[] = [];
  const list = (label: string, items: string[]) => {
    if (items.length > 0) parts.push(`${label} ${items.join(', ')}`);
  };
  list('access keys', left.accessKeys);
  list('inline policies', left.inlinePolicies);
  list('attached policies', left.attachedPolicies);
  list('groups', left.groups);
  if (left.loginProfile) parts.push('a console password (login profile)');
  list('MFA devices', left.mfaDevices);
  list('signing certificates', left.signingCertificates);
  list('SSH public keys', left.sshPublicKeys);
  list('service-specific credentials', left.serviceSpecificCredentials);
  const found = parts.length > 0 ? `${parts.join('; ')} remain` : 'nothing found that remains';
  return left.unchecked.length > 0 ? `${found} (could not check: ${left.unchecked.join(', ')})` : found;
}

/** Names of the user's inline policies, paginated; a missing user has none. */
export async function listInlinePolicyNames(iam: IAMClient, userName: string): Promise<string[]> {
  const names: string[] = [];
  let marker: string | undefined;
  try {
    do {
      const page = await iam.send(new ListUserPoliciesCommand({ UserName: userName, Marker: marker }));
      names.push(...(page.PolicyNames ?? []));
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
  } catch (err) {
    if (hasCode(err, ...NOT_FOUND)) return [];
    throw err;
  }
  return names;
}

/** ARNs of the managed policies attached to the user, paginated; a missing user has none. */
export async function listAttachedPolicyArns(iam: IAMClient, userName: string): Promise<string[]> {
  const arns: string[] = [];
  let marker: string | undefined;
  try {
    do {
      const page = await iam.send(new ListAttachedUserPoliciesCommand({ UserName: userName, Marker: marker }));
      for (const p of page.AttachedPolicies ?? []) if (p.PolicyArn) arns.push(p.PolicyArn);
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
  } catch (err) {
    if (hasCode(err, ...NOT_FOUND)) return [];
    throw err;
  }
  return arns;
}

async function accessKeyIds(iam: IAMClient, userName: string): Promise<string[]> {
  try {
    return (await listAccessKeys(iam, userName)).map((k) => k.accessKeyId).filter((id) => id !== '');
  } catch (err) {
    if (hasCode(err, ...NOT_FOUND)) return [];
    throw err;
  }
}

/** Deletes every access key of the user; returns the ids it deleted. A missing user: `[]`. */
export async function deleteAllAccessKeys(iam: IAMClient, userName: string): Promise<string[]> {
  const ids = await accessKeyIds(iam, userName);
  for (const id of ids) await deleteAccessKey(iam, userName, id);
  return ids;
}

/** Deletes every inline policy of the user; returns their names. A missing user: `[]`. */
export async function deleteInlinePolicies(iam: IAMClient, userName: string): Promise<string[]> {
  const names = await listInlinePolicyNames(iam, userName);
  for (const name of names) await deleteUserPolicy(iam, userName, name);
  return names;
}

/**
 * Detaches every managed policy from the user (AWS refuses to delete a user with attached
 * policies); the policies themselves are left alone. Returns the detached ARNs. A missing user: `[]`.
 */
export async function detachManagedPolicies(iam: IAMClient, userName: string): Promise<string[]> {
  const arns = await listAttachedPolicyArns(iam, userName);
  for (const arn of arns) {
    try {
      await iam.send(new DetachUserPolicyCommand({ UserName: userName, PolicyArn: arn }));
    } catch (err) {
      if (!hasCode(err, ...NOT_FOUND)) throw err;
    }
  }
  return arns;
}

/**
 * Deletes the user. A missing user is success. `DeleteConflict` becomes `UserNotEmptyError`
 * naming what is left. Does not rely on that refusal: call it only after the other steps.
 */
export async function deleteUser(iam: IAMClient, userName: string): Promise<void> {
  try {
    await iam.send(new DeleteUserCommand({ UserName: userName }));
  } catch (err) {
    if (hasCode(err, ...NOT_FOUND)) return;
    if (hasCode(err, 'DeleteConflict', 'DeleteConflictException')) {
      throw new UserNotEmptyError(userName, await userLeftovers(iam, userName));
    }
    throw err;
  }
}

/**
 * Everything that blocks DeleteUser on AWS, read best effort: a kind that cannot be read is named
 * in `unchecked` instead of failing (these reads exist to explain an error, not to decide).
 */
export async function userLeftovers(iam: IAMClient, userName: string): Promise<UserLeftovers> {
  const unchecked: string[] = [];
  const read = async <T>(kind: string, fallback: T, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (hasCode(err, ...NOT_FOUND)) return fallback;
      unchecked.push(kind);
      return fallback;
    }
  };
  const [accessKeys, inlinePolicies, attachedPolicies, groups, loginProfile, mfaDevices, signingCertificates, sshPublicKeys, serviceSpecificCredentials] =
    await Promise.all([
      read('access keys', [] as string[], () => accessKeyIds(iam, userName)),
      read('inline policies', [] as string[], () => listInlinePolicyNames(iam, userName)),
      read('attached policies', [] as string[], () => listAttachedPolicyArns(iam, userName)),
      read('groups', [] as string[], async () =>
        ((await iam.send(new ListGroupsForUserCommand({ UserName: userName }))).Groups ?? []).map((g) => g.GroupName ?? ''),
      ),
      read('login profile', false, async () => {
        await iam.send(new GetLoginProfileCommand({ UserName: userName }));
        return true;
      }),
      read('MFA devices', [] as string[], async () =>
        ((await iam.send(new ListMFADevicesCommand({ UserName: userName }))).MFADevices ?? []).map((d) => d.SerialNumber ?? ''),
      ),
      read('signing certificates', [] as string[], async () =>
        ((await iam.send(new ListSigningCertificatesCommand({ UserName: userName }))).Certificates ?? []).map((c) => c.CertificateId ?? ''),
      ),
      read('SSH public keys', [] as string[], async () =>
        ((await iam.send(new ListSSHPublicKeysCommand({ UserName: userName }))).SSHPublicKeys ?? []).map((k) => k.SSHPublicKeyId ?? ''),
      ),
      read('service-specific credentials', [] as string[], async () =>
        ((await iam.send(new ListServiceSpecificCredentialsCommand({ UserName: userName }))).ServiceSpecificCredentials ?? []).map(
          (c) => c.ServiceSpecificCredentialId ?? '',
        ),
      ),
    ]);
  return {
    accessKeys,
    inlinePolicies,
    attachedPolicies,
    groups,
    loginProfile,
    mfaDevices,
    signingCertificates,
    sshPublicKeys,
    serviceSpecificCredentials,
    unchecked,
  };
}

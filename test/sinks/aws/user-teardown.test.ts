/**
 * IAM user teardown steps against moto, through `AwsConnector` (AssumeRole into a random account),
 * plus a stand-in IAM client for what moto does not do (refusing DeleteUser while keys remain).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreateUserCommand,
  DeleteUserCommand,
  GetPolicyCommand,
  GetUserCommand,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListUserPoliciesCommand,
  PutUserPolicyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import type { AwsConnector } from '../../../src/sinks/aws/connect.js';
import {
  UserNotEmptyError,
  deleteAllAccessKeys,
  deleteInlinePolicies,
  deleteUser,
  detachManagedPolicies,
  listInlinePolicyNames,
  userLeftovers,
  type UserLeftovers,
} from '../../../src/sinks/aws/user-teardown.js';
import { errorCode } from '../../../src/sinks/aws/aws-errors.js';
import { newConnector, randomAccountId, rawClients, roleTarget } from './support.js';

const PATH = '/heroku-s3-controller/';
const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*' }] });

let connector: AwsConnector;
let iam: IAMClient;
let raw: IAMClient;
let n = 0;
const userName = () => `hsc-teardown-${++n}-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  connector = newConnector();
  const accountId = randomAccountId();
  iam = connector.connect(roleTarget(accountId)).iam;
  raw = (await rawClients(accountId)).iam;
});

afterAll(() => connector.destroy());

const NOTHING_LEFT: UserLeftovers = {
  accessKeys: [],
  inlinePolicies: [],
  attachedPolicies: [],
  groups: [],
  loginProfile: false,
  mfaDevices: [],
  signingCertificates: [],
  sshPublicKeys: [],
  serviceSpecificCredentials: [],
  unchecked: [],
};

/**
 * `userLeftovers` read by moto: everything empty. moto 5.2.1 does not implement
 * ListServiceSpecificCredentials (HTTP 500), so that kind may show up as unchecked.
 */
function expectNothingLeft(left: UserLeftovers): void {
  expect({ ...left, unchecked: [] }).toEqual(NOTHING_LEFT);
  expect(['service-specific credentials']).toEqual(expect.arrayContaining(left.unchecked));
}

/** A user with 2 access keys, 2 inline policies and 1 attached managed policy. */
async function loadedUser(): Promise<{ name: string; keyIds: string[]; policyArn: string }> {
  const name = userName();
  await raw.send(new CreateUserCommand({ UserName: name, Path: PATH }));
  const keyIds: string[] = [];
  for (let i = 0; i < 2; i++) keyIds.push((await raw.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!.AccessKeyId!);
  for (const policy of ['inline-a', 'inline-b']) {
    await raw.send(new PutUserPolicyCommand({ UserName: name, PolicyName: policy, PolicyDocument: POLICY }));
  }
  const created = await raw.send(new CreatePolicyCommand({ PolicyName: `managed-${name}`, PolicyDocument: POLICY }));
  const policyArn = created.Policy!.Arn!;
  await raw.send(new AttachUserPolicyCommand({ UserName: name, PolicyArn: policyArn }));
  return { name, keyIds, policyArn };
}

async function userExists(name: string): Promise<boolean> {
  try {
    await raw.send(new GetUserCommand({ UserName: name }));
    return true;
  } catch (err) {
    if (errorCode(err) === 'NoSuchEntity') return false;
    throw err;
  }
}

describe('user teardown', () => {
  it('keys → inline policies → managed policies → user: each step twice is fine; the user is gone', async () => {
    const { name, keyIds, policyArn } = await loadedUser();
    expect(await listInlinePolicyNames(iam, name)).toEqual(['inline-a', 'inline-b']);

    expect((await deleteAllAccessKeys(iam, name)).sort()).toEqual([...keyIds].sort());
    expect(await deleteAllAccessKeys(iam, name)).toEqual([]);
    expect((await raw.send(new ListAccessKeysCommand({ UserName: name }))).AccessKeyMetadata).toEqual([]);

    expect((await deleteInlinePolicies(iam, name)).sort()).toEqual(['inline-a', 'inline-b']);
    expect(await deleteInlinePolicies(iam, name)).toEqual([]);
    expect((await raw.send(new ListUserPoliciesCommand({ UserName: name }))).PolicyNames).toEqual([]);

    expect(await detachManagedPolicies(iam, name)).toEqual([policyArn]);
    expect(await detachManagedPolicies(iam, name)).toEqual([]);
    expect((await raw.send(new ListAttachedUserPoliciesCommand({ UserName: name }))).AttachedPolicies).toEqual([]);
    // Detached, not deleted: the managed policy is not ours to remove.
    expect((await raw.send(new GetPolicyCommand({ PolicyArn: policyArn }))).Policy?.Arn).toBe(policyArn);

    expectNothingLeft(await userLeftovers(iam, name));
    await deleteUser(iam, name);
    expect(await userExists(name)).toBe(false);
    await deleteUser(iam, name);
  });

  it('every step on a user that does not exist succeeds with nothing done', async () => {
    const name = userName();
    expect(await listInlinePolicyNames(iam, name)).toEqual([]);
    expect(await deleteAllAccessKeys(iam, name)).toEqual([]);
    expect(await deleteInlinePolicies(iam, name)).toEqual([]);
    expect(await detachManagedPolicies(iam, name)).toEqual([]);
    await deleteUser(iam, name);
    expectNothingLeft(await userLeftovers(iam, name));
  });

  it('deleteUser while policies remain: moto refuses (DeleteConflict) → UserNotEmptyError naming what is left', async () => {
    const { name, keyIds, policyArn } = await loadedUser();
    const err = await deleteUser(iam, name).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserNotEmptyError);
    const e = err as UserNotEmptyError;
    expect(e.userName).toBe(name);
    expect(e.left.accessKeys.sort()).toEqual([...keyIds].sort());
    expect(e.left.inlinePolicies).toEqual(['inline-a', 'inline-b']);
    expect(e.left.attachedPolicies).toEqual([policyArn]);
    expect(e.message).toContain(name);
    expect(e.message).toContain('inline-a');
    expect(e.message).toContain(policyArn);
    expect(await userExists(name)).toBe(true);
  });

  it('moto quirk: deleteUser succeeds while access keys remain (AWS refuses) — only the step order protects', async () => {
    const name = userName();
    await raw.send(new CreateUserCommand({ UserName: name, Path: PATH }));
    await raw.send(new CreateAccessKeyCommand({ UserName: name }));
    await deleteUser(iam, name);
    expect(await userExists(name)).toBe(false);
    // The keys went with the user in moto; nothing is left to list.
    await expect(raw.send(new ListAccessKeysCommand({ UserName: name }))).rejects.toSatisfy((x: unknown) => errorCode(x) === 'NoSuchEntity');
  });
});

/** An IAM client that answers like AWS for a user whose key is still there. */
function awsLikeIam(user: string, keyId: string, opts: { deny?: string[] } = {}): { client: IAMClient; calls: string[] } {
  const calls: string[] = [];
  const fail = (name: string, message = name) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 409 } });
  const client = {
    async send(command: { constructor: { name: string }; input: { UserName?: string } }) {
      const op = command.constructor.name.replace(/Command$/, '');
      calls.push(op);
      if (command.input.UserName !== user) throw fail('NoSuchEntity');
      if (opts.deny?.includes(op)) throw fail('AccessDenied');
      switch (op) {
        case 'DeleteUser':
          throw fail('DeleteConflict', 'Cannot delete entity, must delete access keys first.');
        case 'ListAccessKeys':
          return { AccessKeyMetadata: [{ AccessKeyId: keyId, Status: 'Active', UserName: user }] };
        case 'GetLoginProfile':
          throw fail('NoSuchEntity');
        default:
          return {};
      }
    },
  };
  return { client: client as unknown as IAMClient, calls };
}

describe('deleteUser against an AWS-like refusal', () => {
  it('DeleteConflict for a remaining access key → UserNotEmptyError naming the key', async () => {
    const { client } = awsLikeIam('u1', 'AKIAEXAMPLE1');
    const err = await deleteUser(client, 'u1').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserNotEmptyError);
    expect((err as UserNotEmptyError).left).toEqual({ ...NOTHING_LEFT, accessKeys: ['AKIAEXAMPLE1'] });
    expect((err as Error).message).toBe(
      'IAM user u1 cannot be deleted yet: access keys AKIAEXAMPLE1 remain; remove them and delete the user again',
    );
  });

  it('kinds it may not read are named as unchecked, not thrown', async () => {
    const { client } = awsLikeIam('u1', 'AKIAEXAMPLE1', { deny: ['ListGroupsForUser', 'ListSSHPublicKeys'] });
    const err = (await deleteUser(client, 'u1').catch((e: unknown) => e)) as UserNotEmptyError;
    expect(err.left.unchecked.sort()).toEqual(['SSH public keys', 'groups']);
    expect(err.message).toContain('could not check: ');
  });

  it('other errors pass through unchanged', async () => {
    const { client } = awsLikeIam('u1', 'AKIAEXAMPLE1', { deny: ['DeleteUser'] });
    await expect(deleteUser(client, 'u1')).rejects.toSatisfy((e: unknown) => errorCode(e) === 'AccessDenied');
  });
});

describe('the moto DeleteUser check itself', () => {
  it('refuses with DeleteConflict while an inline policy remains (the raw error the sink translates)', async () => {
    const name = userName();
    await raw.send(new CreateUserCommand({ UserName: name, Path: PATH }));
    await raw.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: POLICY }));
    await expect(raw.send(new DeleteUserCommand({ UserName: name }))).rejects.toSatisfy((e: unknown) => errorCode(e) === 'DeleteConflict');
  });
});

/**
 * The AUTHENTICATING moto server (`motoAuthUrl`): real signature and IAM policy checks, for
 * bad-credential and bad-role tests (e.g. the link command's bad-input tests).
 *
 * How moto authenticates (moto 5.2.1, moto/core/authorization.py + moto/iam/access_control.py):
 * - Every request counts against INITIAL_NO_AUTH_ACTION_COUNT (env, default infinite). While the
 *   count is below it, nothing is checked. `POST /moto-api/reset-auth` with a number as body sets
 *   a new budget and zeroes the count; `0` switches checks on for good.
 * - The account of a request is the account owning its access key (IAM user keys and AssumeRole
 *   temporary keys alike); unknown keys fall back to 123456789012 and then fail.
 * - Errors (STS/IAM; S3 uses the same codes):
 *     unknown access key id            -> InvalidClientTokenId (403)
 *     right key id, wrong secret       -> SignatureDoesNotMatch (403)
 *     temporary key, wrong session token -> InvalidClientTokenId (403)
 *     action not allowed by policies   -> AccessDenied (403), message
 *       "User: arn:aws:iam::<acct>:user/<name> is not authorized to perform: sts:AssumeRole"
 * - sts:GetCallerIdentity is always allowed for a valid key (no policy needed).
 * - sts:AssumeRole is checked against the caller's identity policies with Resource = RoleArn
 *   (wildcards `*` work). The role's trust policy is checked ONLY for a role in the caller's own
 *   account; for a cross-account role it is not looked at. AssumeRole of a role that does not
 *   exist is allowed if the caller's policy allows the ARN; the resulting credentials then fail
 *   with HTTP 500 on every call (moto looks up the role's policies), so assumable roles must exist.
 * - Assumed-role credentials carry the role's own policies (inline + attached).
 *
 * Isolation: the unauthenticated phase happens exactly once, in global setup
 * (`bootstrapMotoAuth` then `enableMotoAuth`), before any test file runs. Test files never
 * reset moto or change the auth budget. They either share the read-only bootstrap principal
 * (`motoAuthPrincipal()` in stand.ts) or make principals of their own with `createMotoAuthPrincipal`
 * (random names, signed by the bootstrap admins), so files running side by side cannot interfere.
 */
import { randomBytes } from 'node:crypto';
import { IAMClient, CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, PutRolePolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';

export interface AwsKey {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** An IAM user (access key) in `accountId` that may call sts:GetCallerIdentity and
 * sts:AssumeRole on `assumableRoleArn` only. Both roles exist in `roleAccountId`, trust
 * `accountId`, and have an allow-everything policy; only the user's own policy makes the
 * difference (AssumeRole of `forbiddenRoleArn` -> AccessDenied). */
export interface MotoAuthPrincipal {
  accessKeyId: string;
  secretAccessKey: string;
  accountId: string;
  userName: string;
  userArn: string;
  roleAccountId: string;
  assumableRoleArn: string;
  forbiddenRoleArn: string;
}

/** Allow-everything principals made in the unauthenticated phase, able to create more principals:
 * an IAM user in `accountId` and an existing role `adminRoleArn` in `roleAccountId`
 * (reach it with `assumeRoleOnAuthServer(url, admin, admin.adminRoleArn)`). */
export interface MotoAuthAdmin {
  accessKeyId: string;
  secretAccessKey: string;
  accountId: string;
  roleAccountId: string;
  adminRoleArn: string;
}

export interface MotoAuthBootstrap {
  admin: MotoAuthAdmin;
  principal: MotoAuthPrincipal;
}

const REGION = 'us-east-1';
const ALLOW_ALL = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });

function trustPolicy(accountId: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' }],
  });
}

function allowAssumeRole(roleArn: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: roleArn }],
  });
}

function clientConfig(url: string, credentials: AwsKey) {
  return { endpoint: url, region: REGION, credentials, maxAttempts: 1 };
}

function suffix(): string {
  return randomBytes(4).toString('hex');
}

/** 12 digits, never moto's default 123456789012. */
function randomAccount(): string {
  for (;;) {
    const id = String(100_000_000_000 + (randomBytes(6).readUIntBE(0, 6) % 900_000_000_000));
    if (id !== '123456789012') return id;
  }
}

/** sts:AssumeRole on the auth server with `key`; returns the temporary credentials. */
export async function assumeRoleOnAuthServer(url: string, key: AwsKey, roleArn: string, sessionName = 'stand'): Promise<Required<AwsKey>> {
  const sts = new STSClient(clientConfig(url, key));
  try {
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error(`AssumeRole ${roleArn}: no credentials in answer`);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
  } finally {
    sts.destroy();
  }
}

async function createUserWithKey(iam: IAMClient, userName: string, policy: string): Promise<{ arn: string; key: AwsKey }> {
  const user = await iam.send(new CreateUserCommand({ UserName: userName }));
  await iam.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: 'stand', PolicyDocument: policy }));
  const ak = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey;
  if (!user.User?.Arn || !ak?.AccessKeyId || !ak.SecretAccessKey) throw new Error(`CreateUser/CreateAccessKey ${userName}: incomplete answer`);
  return { arn: user.User.Arn, key: { accessKeyId: ak.AccessKeyId, secretAccessKey: ak.SecretAccessKey } };
}

async function createRole(iam: IAMClient, roleName: string, trustedAccountId: string): Promise<string> {
  const role = await iam.send(new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: trustPolicy(trustedAccountId) }));
  await iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: 'stand', PolicyDocument: ALLOW_ALL }));
  if (!role.Role?.Arn) throw new Error(`CreateRole ${roleName}: no ARN in answer`);
  return role.Role.Arn;
}

async function makePrincipal(iamUser: IAMClient, iamRole: IAMClient, accountId: string, roleAccountId: string, tag: string): Promise<MotoAuthPrincipal> {
  const assumableRoleArn = await createRole(iamRole, `stand-assumable-${tag}`, accountId);
  const forbiddenRoleArn = await createRole(iamRole, `stand-forbidden-${tag}`, accountId);
  const userName = `stand-linker-${tag}`;
  const user = await createUserWithKey(iamUser, userName, allowAssumeRole(assumableRoleArn));
  return {
    accessKeyId: user.key.accessKeyId,
    secretAccessKey: user.key.secretAccessKey,
    accountId,
    userName,
    userArn: user.arn,
    roleAccountId,
    assumableRoleArn,
    forbiddenRoleArn,
  };
}

/**
 * Global setup only, while the auth server is still unauthenticated (started without
 * INITIAL_NO_AUTH_ACTION_COUNT, i.e. an infinite budget). Creates, in two random accounts,
 * the admins and the shared principal. Call `enableMotoAuth` right after.
 */
export async function bootstrapMotoAuth(url: string): Promise<MotoAuthBootstrap> {
  const accountId = randomAccount();
  let roleAccountId = randomAccount();
  while (roleAccountId === accountId) roleAccountId = randomAccount();
  // Unauthenticated: AssumeRole into any ARN gives credentials acting in that account.
  const anyKey = { accessKeyId: 'bootstrap', secretAccessKey: 'bootstrap' };
  const inUserAccount = await assumeRoleOnAuthServer(url, anyKey, `arn:aws:iam::${accountId}:role/bootstrap`);
  const inRoleAccount = await assumeRoleOnAuthServer(url, anyKey, `arn:aws:iam::${roleAccountId}:role/bootstrap`);
  const iamUser = new IAMClient(clientConfig(url, inUserAccount));
  const iamRole = new IAMClient(clientConfig(url, inRoleAccount));
  try {
    const adminUser = await createUserWithKey(iamUser, 'stand-admin', ALLOW_ALL);
    const adminRoleArn = await createRole(iamRole, 'stand-admin', accountId);
    const principal = await makePrincipal(iamUser, iamRole, accountId, roleAccountId, 'shared');
    return {
      admin: { accessKeyId: adminUser.key.accessKeyId, secretAccessKey: adminUser.key.secretAccessKey, accountId, roleAccountId, adminRoleArn },
      principal,
    };
  } finally {
    iamUser.destroy();
    iamRole.destroy();
  }
}

/** Switches authentication on for good (global setup only). */
export async function enableMotoAuth(url: string): Promise<void> {
  const res = await fetch(`${url}/moto-api/reset-auth`, { method: 'POST', body: '0' });
  if (!res.ok) throw new Error(`POST ${url}/moto-api/reset-auth: HTTP ${res.status} ${await res.text()}`);
}

/**
 * A fresh principal of your own on the (already authenticating) auth server, made with the
 * bootstrap admins: user in `admin.accountId`, its two roles in `admin.roleAccountId`, random names.
 */
export async function createMotoAuthPrincipal(url: string, admin: MotoAuthAdmin): Promise<MotoAuthPrincipal> {
  const adminKey = { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey };
  const roleKey = await assumeRoleOnAuthServer(url, adminKey, admin.adminRoleArn);
  const iamUser = new IAMClient(clientConfig(url, adminKey));
  const iamRole = new IAMClient(clientConfig(url, roleKey));
  try {
    return await makePrincipal(iamUser, iamRole, admin.accountId, admin.roleAccountId, suffix());
  } finally {
    iamUser.destroy();
    iamRole.destroy();
  }
}
